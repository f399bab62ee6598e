/* disk_image.h: managed disk images (sparse raw files) with a persistent per-chunk dirty map. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/macro.h"

/** Magic at the start of every "<image>.dirty" file. */
#define RP_DISK_DIRTY_MAGIC "RPDIRTY1"
/** Version of the dirty map format. Bump on any incompatible change. */
#define RP_DISK_DIRTY_VERSION 1u
/** Size of the dirty map header; the bitmap starts right after it. */
#define RP_DISK_DIRTY_HEADER_SIZE 64u
/** Suffix appended to the image path to name its dirty map. */
#define RP_DISK_DIRTY_SUFFIX ".dirty"

/**
 * An open managed disk image. Shared: every opener of the same file gets the same object (one
 * mutex, one in-memory dirty bitmap), so request threads writing one disk cooperate.
 */
typedef struct rp_disk_image rp_disk_image;

/**
 * Create a new, empty (all-hole) image at @p path and its dirty map, durably (file and
 * directory fsynced). The dirty map starts clean.
 * @param path image path; the map is "<path>.dirty".
 * @param size_bytes disk size: > 0, a multiple of 512, at most RP_MAX_DISK_BYTES.
 * @param mode permission bits of both files.
 * @return 0, -EINVAL (bad size), -EEXIST (image present), or -errno.
 */
int rp_disk_image_create(const char *path, uint64_t size_bytes, mode_t mode);

/**
 * Remove the image at @p path and its dirty map, durably. Open references keep working on the
 * unlinked file until they are dropped; a later open of the same path sees the new file, if any.
 * @return 0, -ENOENT (no image; a stray dirty map is still removed), or -errno.
 */
int rp_disk_image_remove(const char *path);

/**
 * Sparse copy of the image @p src_path to the new image @p dst_path: only the data extents of
 * the source are visited (SEEK_DATA/SEEK_HOLE) and copied (copy_file_range, which may reflink).
 * The destination's dirty map marks every chunk that holds data dirty, since the new disk has
 * no restore point yet. The destination appears atomically and durably. The caller keeps the
 * source quiet (not written) during the copy, or holds it with rp_disk_image_hold().
 * @return 0, -EEXIST (destination present), -ENOENT (no source), -EBADMSG (source size not a
 *         multiple of 512), or -errno.
 */
int rp_disk_image_copy(const char *src_path, const char *dst_path);

/**
 * Open the image at @p path, or take one more reference on the object already open for that
 * file (the process-wide registry is keyed by the file's identity, device and inode, so two
 * spellings of one path share an object and a re-created path does not). A missing or stale
 * dirty map (left by a crash, or deleted by an operator) is rebuilt conservatively: every chunk
 * that holds data is marked dirty.
 * @param[out] ret a reference, to drop with rp_disk_image_unref().
 * @return 0, -ENOENT, -EBADMSG (the dirty map has another magic or an unknown version, or the
 *         image size is not a multiple of 512), -EINVAL (not a regular file), -ENOMEM or -errno.
 */
int rp_disk_image_open(const char *path, rp_disk_image **ret);

/** Take one more reference. @return @p img. */
rp_disk_image *rp_disk_image_ref(rp_disk_image *img);

/** Drop a reference (NULL-safe); the last one closes the image. @return NULL. */
rp_disk_image *rp_disk_image_unref(rp_disk_image *img);

RP_DEFINE_CLEANUP(rp_disk_image, rp_disk_image_unref)

/** The path the image was first opened with. Borrowed, valid while the reference is held. */
const char *rp_disk_image_path(rp_disk_image *img);

/** The disk size in bytes. */
uint64_t rp_disk_image_size(rp_disk_image *img);

/**
 * Grow the disk to @p new_size bytes, durably; the dirty map grows with it. The new range reads
 * as zeros and its chunks are not marked dirty (the capture treats chunks past the previous
 * restore point's size as holes unless they are dirty); a partial last chunk of the old size is
 * marked dirty. Holds writes for its duration (see rp_disk_image_hold(); it reuses the caller's
 * hold if the calling thread has one).
 * @return 0 (also when the size is unchanged), -EINVAL (shrink, not a multiple of 512, above
 *         RP_MAX_DISK_BYTES) or -errno.
 */
int rp_disk_image_resize(rp_disk_image *img, uint64_t new_size);

/**
 * Write @p len bytes at @p off. Both must be multiples of 512. When this returns 0 the data and
 * the dirty bits of every chunk touched are on stable storage; the bits are persisted before
 * the data is written. While a capture is active (disk_capture.h), the point-in-time bytes of
 * the chunks it still needs are copied aside first. Every chunk touched becomes dirty, even if
 * its bytes did not change. An all-zero buffer punches a hole over the whole 4 KiB blocks it
 * covers instead of writing.
 * Writes to different ranges run in parallel. Blocks while writes are held (-EDEADLK if the
 * calling thread is the holder).
 * @return 0, -EINVAL (misaligned), -ERANGE (beyond the disk size), -EIO or -errno. After an
 *         error the range holds old data, new data or a mix, and may be marked dirty.
 */
int rp_disk_image_write(rp_disk_image *img, uint64_t off, const void *data, size_t len);

/**
 * Like rp_disk_image_write() but without the final fdatasync of the image: the caller makes
 * the data durable with rp_disk_image_sync() before acknowledging it. The dirty bits are
 * still durable when this returns. Used by streamed page writes (one sync per request).
 * @return 0, -EINVAL (alignment), -ERANGE, or -errno.
 */
int rp_disk_image_write_nosync(rp_disk_image *img, uint64_t off, const void *data, size_t len);

/**
 * Mark the chunks under [off, off + len) dirty, durably, without writing data. A streamed
 * write calls it once for its whole range before the first byte lands, so the pieces that
 * follow never touch the map. @return 0, -EINVAL, -ERANGE, or -errno.
 */
int rp_disk_image_mark_dirty(rp_disk_image *img, uint64_t off, uint64_t len);

/**
 * Start writing back [off, off + len) now, without waiting (sync_file_range). Bulk writers
 * (restore) call it as they go, so that the final rp_disk_image_sync() waits for little.
 * Durability still comes only from rp_disk_image_sync(). @return 0 or -errno.
 */
int rp_disk_image_start_writeback(rp_disk_image *img, uint64_t off, uint64_t len);

/** fdatasync the image. @return 0 or -errno. */
int rp_disk_image_sync(rp_disk_image *img);

/**
 * Zero @p len bytes at @p off (x-ms-page-write: clear) by punching a hole. Alignment, range,
 * dirty map, capture and durability rules are those of rp_disk_image_write().
 * @return 0, -EINVAL, -ERANGE or -errno.
 */
int rp_disk_image_clear(rp_disk_image *img, uint64_t off, uint64_t len);

/**
 * Read @p len bytes at @p off into @p buf; any offset and length inside the disk. Holes read
 * as zeros. Does not wait for held writes.
 * @return 0, -ERANGE (beyond the disk size) or -errno.
 */
int rp_disk_image_read(rp_disk_image *img, uint64_t off, void *buf, size_t len);

/**
 * Bytes really allocated to the image file (st_blocks * 512), for usage reports.
 * @param[out] ret_bytes the allocation.
 * @return 0 or -errno.
 */
int rp_disk_image_allocated(rp_disk_image *img, uint64_t *ret_bytes);

/**
 * Take the dirty map at the restore point cut: return a copy of the bitmap and clear the map in
 * memory and on disk (durably), atomically with respect to writes (it holds writes, or reuses
 * the calling thread's hold). Bit i (byte i / 8, bit i % 8, least significant first) covers
 * bytes [i * RP_CHUNK_SIZE, (i + 1) * RP_CHUNK_SIZE) of the disk.
 * A restore point uses rp_disk_capture_begin() instead, which also hands the bits over
 * crash-safely; this is the bare map operation.
 * @param[out] ret_bitmap (ret_nchunks + 7) / 8 bytes, to rp_free().
 * @param[out] ret_nchunks number of chunks of the disk.
 * @return 0, -EBUSY (a capture is in progress: it owns the cut), -ENOMEM or -errno (the map is
 *         then unchanged in memory and rewritten in full by the next write).
 */
int rp_disk_image_dirty_snapshot(rp_disk_image *img, uint8_t **ret_bitmap, uint64_t *ret_nchunks);

/** Number of dirty chunks right now. */
uint64_t rp_disk_image_dirty_count(rp_disk_image *img);

/** Whether chunk @p chunk is dirty right now (false past the end of the disk). */
bool rp_disk_image_chunk_is_dirty(rp_disk_image *img, uint64_t chunk);

/**
 * Hold writes: wait for the writes in flight to finish and block new ones (write, clear) until
 * rp_disk_image_release(). Reads go on. Used by the capture to cut a restore point; a waiting
 * hold has priority over new writes. Not recursive: the same thread must not hold twice, but
 * may call rp_disk_image_dirty_snapshot() and rp_disk_image_resize() while holding.
 * @return 0 or -errno (-EDEADLK if this thread already holds).
 */
int rp_disk_image_hold(rp_disk_image *img);

/** Let writes go on after rp_disk_image_hold(); only the holding thread calls it. */
void rp_disk_image_release(rp_disk_image *img);

/**
 * Test only: forget every registry entry without closing anything, as a crash would. Objects
 * already handed out stay valid until unref'd; the next open of any path builds a fresh object
 * from what is on disk.
 */
void rp_disk_image__registry_drop_all(void);
