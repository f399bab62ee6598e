/* store.h: the content-addressed, encrypted, deduplicating chunk store of a region. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

/** Length of a chunk id (HMAC-SHA-256) and of the keys the store takes. */
#define RP_STORE_ID_LEN 32u
/** Length of the id key and of the encryption key (AES-256). */
#define RP_STORE_KEY_LEN 32u
/** A pack file is closed (fsynced, indexed) and a new one started once it passes this size. */
#define RP_STORE_PACK_TARGET (16u * 1024u * 1024u)

/**
 * A chunk store. Chunks are at most RP_CHUNK_SIZE bytes of plaintext, named by
 * HMAC-SHA-256(id_key, plaintext), stored once (deduplicated), compressed when that helps and
 * encrypted with AES-256-GCM under the region's key. Thread-safe: any number of threads may
 * put, get, check and flush at once; puts serialise only around the append itself and gets run
 * in parallel. The embedded backend keeps pack files under the chunks directory and an index in
 * the region's SQLite database (tables store_*).
 */
typedef struct rp_store rp_store;

/** Counters of a store, from rp_store_stats(). */
typedef struct rp_store_stats_result {
        uint64_t chunks;       /**< chunks stored (flushed or not) */
        uint64_t stored_bytes; /**< bytes their records take in packs (headers included) */
        uint64_t raw_bytes;    /**< plaintext bytes of those chunks */
        uint64_t packs;        /**< pack files */
        uint64_t pack_bytes;   /**< bytes of all pack files, dead records and headers included */
        uint64_t pending;      /**< chunks written but not yet made durable by rp_store_flush() */
} rp_store_stats_result;

/** Outcome of rp_store_scrub(). */
typedef struct rp_store_scrub_result {
        uint64_t checked;       /**< chunks read and verified */
        uint64_t bad;           /**< chunks that failed (each reported to on_bad) */
        uint64_t checked_bytes; /**< plaintext bytes verified */
} rp_store_scrub_result;

/** Outcome of rp_store_gc(). */
typedef struct rp_store_gc_result {
        uint64_t checked;         /**< chunks offered to is_live */
        uint64_t dead;            /**< chunks is_live declared dead */
        uint64_t pinned;          /**< dead chunks kept: a put or has touched them during gc */
        uint64_t removed;         /**< chunks removed from the index */
        uint64_t packs_removed;   /**< pack files deleted (no live chunk left) */
        uint64_t packs_rewritten; /**< mostly-dead pack files whose live chunks were copied out */
        uint64_t packs_skipped;   /**< packs that could not be rewritten (unreadable record) */
        uint64_t chunks_moved;    /**< live chunks copied by rewrites */
        uint64_t bytes_freed;     /**< pack bytes released, net of the bytes copied */
} rp_store_gc_result;

/**
 * Open (creating it if needed) the store of a region.
 * @param chunks_dir directory of the pack files (packs/ is created beneath it, mode 0700).
 * @param index_db_path the region's SQLite database (meta.db); the store uses its own
 *        connection (WAL, synchronous=FULL, busy_timeout) and only tables named store_*.
 * @param id_key key of the chunk ids, the same in every region of a deployment.
 * @param enc_key the region's AES-256 key for the chunks. Both keys are copied.
 * @param[out] ret the store, to free with rp_store_free().
 * @return 0, -EKEYREJECTED (the index was made with another id or encryption key),
 *         -EPROTONOSUPPORT (index of an unknown format version), -EBADMSG (corrupt index row),
 *         -ENOMEM, -EIO (SQLite) or -errno.
 */
int rp_store_open(const char *chunks_dir, const char *index_db_path, const uint8_t id_key[32],
                  const uint8_t enc_key[32], rp_store **ret);

/**
 * Close the store. Chunks put since the last rp_store_flush() are dropped, exactly as a crash
 * would drop them (their bytes stay in the pack as garbage that gc reclaims): flush first to
 * keep them. NULL-safe. @return NULL.
 */
rp_store *rp_store_free(rp_store *s);

RP_DEFINE_CLEANUP(rp_store, rp_store_free)

/**
 * The id a chunk of plaintext gets: HMAC-SHA-256(id_key, plain). The all-zero chunk (a hole)
 * gets the all-zero id instead, since it is never stored.
 * @param len at most RP_CHUNK_SIZE.
 * @param[out] ret_id the id.
 * @return 0, -EINVAL (len) or -EIO.
 */
int rp_store_chunk_id(const rp_store *s, const void *plain, size_t len, uint8_t ret_id[32]);

/**
 * Store a chunk unless a chunk with its id is already there (dedup). Idempotent: a second put of
 * the same bytes writes nothing. The chunk is readable at once, and durable after the next
 * rp_store_flush() returns 0.
 *
 * A chunk of zeros only (a hole) is never stored: put returns 0 with @p ret_id all zero and
 * @p ret_added_bytes 0. Callers record a hole, not an id (rp_manifest_set() treats the zero id
 * as "hole").
 *
 * @param plain the plaintext; @p len is > 0, a multiple of 512 and at most RP_CHUNK_SIZE (the
 *        last chunk of a disk may be shorter than RP_CHUNK_SIZE).
 * @param[out] ret_id the chunk id (all zero for a hole).
 * @param[out] ret_added_bytes bytes this put added to the store (record size in the pack), 0
 *        when the chunk was already stored or is a hole. May be NULL.
 * @return 0, -EINVAL (len), -ENOMEM, -EIO (crypto) or -errno (pack write; nothing is
 *         recorded then).
 */
int rp_store_put(rp_store *s, const void *plain, size_t len, uint8_t ret_id[32],
                 uint64_t *ret_added_bytes);

/**
 * rp_store_put() for a chunk that arrives with its id (replication): the id of @p plain is
 * computed and must equal @p id, else nothing is stored.
 * @param[out] ret_added_bytes as for rp_store_put(); may be NULL.
 * @return 0, -EBADMSG (the plaintext does not have this id: corrupt in transit), or the errors
 *         of rp_store_put(). The all-zero @p id with zero plaintext is accepted (a hole).
 */
int rp_store_put_verified(rp_store *s, const uint8_t id[32], const void *plain, size_t len,
                          uint64_t *ret_added_bytes);

/**
 * Whether the chunk @p id is stored (flushed or not). Cheap: one in-memory lookup. The all-zero
 * id (a hole) is always "stored". While rp_store_gc() runs, an id this returns 1 for is pinned:
 * that gc will not remove it.
 * @return 1, 0, or -ENOMEM (only while a gc runs: the pin could not be recorded).
 */
int rp_store_has(rp_store *s, const uint8_t id[32]);

/**
 * Read a chunk: decrypt (GCM tag checked), decompress, and verify that the plaintext has the id
 * @p id. Bytes that fail any check are never returned (the buffer is wiped).
 * @param buf room for the plaintext (RP_CHUNK_SIZE always suffices).
 * @param[out] ret_len plaintext length.
 * @return 0, -ENOENT (unknown id), -EINVAL (the all-zero id: holes are not stored),
 *         -ENOBUFS (@p buf_len too small), -EBADMSG (corrupt, truncated or missing data:
 *         bit rot is detected, never returned), -ENOMEM or -errno.
 */
int rp_store_get(rp_store *s, const uint8_t id[32], void *buf, size_t buf_len, size_t *ret_len);

/**
 * Make every chunk put so far durable: fsync the open pack once, then commit the index rows of
 * the new chunks in one transaction (so no index row ever names bytes that are not on stable
 * storage). Callers flush before writing a manifest that names the chunks. After a failure the
 * chunks put since the last successful flush are forgotten (put them again).
 * @return 0, -EIO or -errno.
 */
int rp_store_flush(rp_store *s);

/** Fill @p ret with the store's counters. @return 0. */
int rp_store_stats(rp_store *s, rp_store_stats_result *ret);

/**
 * Read and verify every stored chunk, in pack order. Each chunk that cannot be read back intact
 * (bit rot, truncated pack, missing pack, index row past the end of its pack) is reported to
 * @p on_bad with its id and error (-EBADMSG, or -errno for I/O errors). Chunks put while the
 * scrub runs may or may not be visited.
 * @param on_bad called once per bad chunk; a negative return stops the scrub with that code.
 *        May be NULL.
 * @param[out] ret counters; may be NULL.
 * @return 0 (also when bad chunks were found: see ret->bad), -ENOMEM, or what on_bad returned.
 */
int rp_store_scrub(rp_store *s, int (*on_bad)(void *ud, const uint8_t id[32], int error), void *ud,
                   rp_store_scrub_result *ret);

/**
 * Garbage collection. Asks @p is_live about every stored chunk; the index rows of dead chunks
 * are deleted, packs without a live chunk are deleted, and packs more than half dead (by bytes)
 * are rewritten: their live chunks are copied into the current pack, flushed, re-indexed, and
 * then the old pack is deleted. Pending chunks are flushed first. Runs beside puts and gets.
 *
 * The rule that keeps concurrent writers safe: an id for which rp_store_put(),
 * rp_store_put_verified() or rp_store_has() succeeded after this gc started is pinned and not
 * removed by it, even if is_live said dead (the dead set is applied under the lock that those
 * calls take, so each of them happens entirely before or entirely after it). Ids a writer
 * obtained before the gc started and has not yet recorded in a durable manifest must be
 * reported live by @p is_live (the caller's in-progress restore points and copies).
 *
 * @param is_live returns 1 (keep), 0 (dead) or a negative errno that stops the gc before
 *        anything is removed. Called without store locks held.
 * @param[out] ret counters; may be NULL.
 * @return 0, -EBUSY (another gc is running), -ENOMEM, -errno, or what is_live returned.
 */
int rp_store_gc(rp_store *s, int (*is_live)(void *ud, const uint8_t id[32]), void *ud,
                rp_store_gc_result *ret);

/** @return true if @p id is the all-zero id (a hole). */
bool rp_store_id_is_zero(const uint8_t id[32]);

/**
 * Whether @p len bytes are all zero (a hole), as put decides. @return true if all zero.
 */
bool rp_store_is_zero(const void *data, size_t len);
