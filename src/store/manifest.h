/* manifest.h: the manifest of a disk restore point: the chunk id at every chunk offset. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "util/limits.h"
#include "util/macro.h"

/** Magic at the start of an encoded manifest. */
#define RP_MANIFEST_MAGIC "RPMANIF1"
/** Version of the manifest format. Bump on any incompatible change. */
#define RP_MANIFEST_VERSION 1u
/** Size of the encoded header (magic .. entry count). */
#define RP_MANIFEST_HEADER_SIZE 40u
/** Size of one encoded entry (u64 chunk index, 32-byte id). */
#define RP_MANIFEST_ENTRY_SIZE 40u
/** Size of the trailing SHA-256. */
#define RP_MANIFEST_TRAILER_SIZE 32u
/** Chunks of the largest disk. */
#define RP_MANIFEST_MAX_CHUNKS ((RP_MAX_DISK_BYTES + RP_CHUNK_SIZE - 1) / RP_CHUNK_SIZE)
/** Largest encoded manifest: every chunk of the largest disk present (about 5.4 GB). */
#define RP_MANIFEST_MAX_BYTES                                                                      \
        (RP_MANIFEST_HEADER_SIZE + RP_MANIFEST_MAX_CHUNKS * RP_MANIFEST_ENTRY_SIZE +               \
         RP_MANIFEST_TRAILER_SIZE)

/**
 * A manifest in memory: a disk size and the sorted list of its non-hole chunks, each an index
 * (offset / RP_CHUNK_SIZE) and a chunk id. Every chunk not listed is a hole (zeros). Region
 * independent: chunk ids are the same in every region, and nothing says where a chunk is kept.
 * Not thread-safe for writing; concurrent readers are fine.
 */
typedef struct rp_manifest rp_manifest;

/** One non-hole chunk of a manifest. */
typedef struct rp_manifest_entry {
        uint64_t index; /**< chunk index: the chunk covers [index * chunk size, + chunk size) */
        uint8_t id[32]; /**< chunk id, never all zero */
} rp_manifest_entry;

/**
 * A new manifest of an all-hole disk.
 * @param disk_size bytes: > 0, a multiple of 512, at most RP_MAX_DISK_BYTES.
 * @param[out] ret the manifest, to free with rp_manifest_free().
 * @return 0, -EINVAL, -ENOMEM.
 */
int rp_manifest_new(uint64_t disk_size, rp_manifest **ret);

/** Free a manifest (NULL-safe). @return NULL. */
rp_manifest *rp_manifest_free(rp_manifest *m);

RP_DEFINE_CLEANUP(rp_manifest, rp_manifest_free)

/** @return the disk size in bytes. */
uint64_t rp_manifest_disk_size(const rp_manifest *m);

/** @return the chunk size (RP_CHUNK_SIZE). */
uint32_t rp_manifest_chunk_size(const rp_manifest *m);

/** @return the number of chunks of the disk, holes included (disk size / chunk size, rounded
 *  up). */
uint64_t rp_manifest_chunk_count(const rp_manifest *m);

/** @return the length of chunk @p index: the chunk size, less for the last chunk of a disk whose
 *  size is not a multiple of it; 0 if @p index is beyond the disk. */
uint32_t rp_manifest_chunk_len(const rp_manifest *m, uint64_t index);

/**
 * Set the id of chunk @p index. The all-zero id makes the chunk a hole (removes its entry).
 * Setting indexes in ascending order appends in O(1); other orders insert in O(n).
 * @return 0, -ERANGE (index beyond the disk), -ENOMEM (the manifest is unchanged).
 */
int rp_manifest_set(rp_manifest *m, uint64_t index, const uint8_t id[32]);

/**
 * Look chunk @p index up (binary search).
 * @param[out] ret_id its id, all zero for a hole. May be NULL.
 * @return 1 (stored chunk), 0 (hole), -ERANGE (beyond the disk).
 */
int rp_manifest_get(const rp_manifest *m, uint64_t index, uint8_t ret_id[32]);

/**
 * The entries, in ascending index order.
 * @param[out] ret_n how many. May be NULL.
 * @return the array, borrowed: valid until the manifest changes or is freed.
 */
const rp_manifest_entry *rp_manifest_entries(const rp_manifest *m, size_t *ret_n);

/**
 * Call @p cb for each entry in ascending index order. A negative return stops the walk.
 * @return 0 or what @p cb returned.
 */
int rp_manifest_foreach(const rp_manifest *m, int (*cb)(void *ud, const rp_manifest_entry *e),
                        void *ud);

/**
 * Encode: magic "RPMANIF1", u32 version, u32 flags (0), u64 disk size, u32 chunk size,
 * u32 reserved (0), u64 entry count, then the entries (u64 index, 32-byte id) in ascending
 * index order, then the SHA-256 of all the bytes before it. Integers little-endian.
 * @param[out] ret_data the bytes, to rp_free().
 * @param[out] ret_len their length.
 * @return 0, -ENOMEM.
 */
int rp_manifest_encode(const rp_manifest *m, uint8_t **ret_data, size_t *ret_len);

/**
 * Decode, strictly: any bad magic, version, flags, reserved field, chunk size (only
 * RP_CHUNK_SIZE), disk size, entry count, checksum, unsorted or duplicate index, index beyond
 * the disk, all-zero id, missing or trailing byte is refused. So decode(encode(m)) == m and
 * encode(decode(b)) == b for every b that decodes.
 * @param[out] ret the manifest, to rp_manifest_free().
 * @return 0, -EBADMSG, -E2BIG (more than RP_MANIFEST_MAX_BYTES), -ENOMEM.
 */
int rp_manifest_decode(const void *data, size_t len, rp_manifest **ret);

/**
 * Write the encoded manifest to @p path atomically and durably (temp file, fsync, rename, fsync
 * of the directory; mode 0600). This is the commit point of a disk restore point: flush the
 * chunk store first.
 * @return 0, -ENOMEM or -errno.
 */
int rp_manifest_write_file(const rp_manifest *m, const char *path);

/**
 * Read and decode the manifest at @p path.
 * @param[out] ret the manifest, to rp_manifest_free().
 * @return 0, -ENOENT, -EBADMSG, -E2BIG, -ENOMEM or -errno.
 */
int rp_manifest_read_file(const char *path, rp_manifest **ret);

/**
 * The manifest of an incremental point: @p prev with @p changes applied, for a disk now
 * @p disk_size bytes. Entries of @p prev beyond the new size are dropped; chunks past the old
 * size that are not in @p changes are holes.
 * @param prev the previous point's manifest, or NULL (a full point from changes alone).
 * @param changes the chunks that changed, in strictly ascending index order; an all-zero id
 *        means the chunk became a hole.
 * @param[out] ret the new manifest, to rp_manifest_free().
 * @return 0, -EINVAL (bad size, unsorted or duplicate changes), -ERANGE (a change beyond the
 *         disk), -ENOMEM.
 */
int rp_manifest_merge(const rp_manifest *prev, uint64_t disk_size, const rp_manifest_entry *changes,
                      size_t n_changes, rp_manifest **ret);

/**
 * Whether two manifests describe the same disk image (same size and entries).
 * @return 1 if equal, 0 if not.
 */
int rp_manifest_equal(const rp_manifest *a, const rp_manifest *b);
