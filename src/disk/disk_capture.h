/* disk_capture.h: point-in-time capture of a disk image (the data side of a restore point). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk_image.h"
#include "util/macro.h"

/**
 * A capture of one disk image: the point-in-time content of the disk at the moment
 * rp_disk_capture_begin() ran (the cut), readable while the disk keeps being written.
 *
 * The capture set is, for a full capture, every chunk that holds data at the cut (holes are
 * skipped), and for an incremental one, every chunk the dirty map marked at the cut (chunks
 * that are holes at the cut are yielded too, as zeros, since they may have held data at the
 * previous point). A write to a chunk of the set that the capture has not read yet first
 * copies the chunk's point-in-time bytes to a side file (copy-before-write); other writes cost
 * nothing extra.
 *
 * At the cut the live dirty map starts over (new writes mark the chunks of the next point);
 * the cut's bits stay in the map file until rp_disk_capture_commit(), called once the point is
 * durable, drops them. rp_disk_capture_abort() (or rp_disk_capture_free() of an uncommitted
 * capture) puts them back in the live map, and so does the next open after a crash: no change
 * is ever lost from the next incremental point.
 *
 * Thread safety: rp_disk_capture_next_chunk(), rp_disk_capture_read_chunk(),
 * rp_disk_capture_next() and the getters may be called from several threads at once (for
 * parallel hashing). Commit, abort and free must not run concurrently with any other call on
 * the same capture.
 */
typedef struct rp_disk_capture rp_disk_capture;

/**
 * Cut: start a capture of @p img. Call it while holding writes on the image
 * (rp_disk_image_hold()): a VM's disks are held together, a capture is begun on each, then all
 * are released, which makes one crash-consistent cut across them. Without a hold by the calling
 * thread, begin holds writes for its own duration. Begin costs a copy of the dirty bitmap and
 * the creation of an unnamed side file: no fsync, nothing that grows with the data on the disk.
 * @param full true: capture every chunk that holds data; false: only the chunks dirty at the cut.
 * @param[out] ret the capture, to end with rp_disk_capture_commit() or rp_disk_capture_abort()
 *             and to free with rp_disk_capture_free(). It holds a reference on @p img.
 * @return 0, -EBUSY (a capture of this image is in progress), -ENOMEM or -errno (nothing
 *         changed then).
 */
int rp_disk_capture_begin(rp_disk_image *img, bool full, rp_disk_capture **ret);

/**
 * Claim the next chunk of the capture set, in ascending order. Each chunk is handed out once,
 * even to concurrent callers, so that several threads can each claim a chunk and read it with
 * rp_disk_capture_read_chunk(). The first call of a full capture finds the holes of the cut
 * (SEEK_DATA/SEEK_HOLE over the image, cost proportional to its extents).
 * @param[out] ret_chunk the chunk index (bytes [chunk * RP_CHUNK_SIZE, ...) of the disk).
 * @return 1 with a chunk, 0 when the set is exhausted, or the capture's error (see
 *         rp_disk_capture_read_chunk()).
 */
int rp_disk_capture_next_chunk(rp_disk_capture *cap, uint64_t *ret_chunk);

/**
 * Read the point-in-time bytes of chunk @p chunk. Each chunk with data can be read once: the
 * read releases it, so later writes to it cost nothing (a second read is -ESTALE). Safe to call
 * concurrently for different chunks.
 * @param buf at least RP_CHUNK_SIZE bytes.
 * @param[out] ret_len the chunk's length: RP_CHUNK_SIZE, or less for the last chunk of a disk
 *             whose size (at the cut) is not a multiple of it.
 * @return 1 (data in @p buf), 0 (the chunk is all zeros at the cut, a hole or zero data:
 *         @p buf is zero-filled), -ERANGE (past the cut's end), -ENOENT (an incremental
 *         capture's chunk that is not in its set), -ESTALE (already read, or the capture
 *         ended), or -errno. An I/O error or a failure to preserve a chunk breaks the capture:
 *         every later call returns that error, and the capture can only be aborted.
 */
int rp_disk_capture_read_chunk(rp_disk_capture *cap, uint64_t chunk, void *buf, size_t *ret_len);

/**
 * Claim and read the next chunk: rp_disk_capture_next_chunk() then
 * rp_disk_capture_read_chunk(). A full capture skips chunks that are all zeros at the cut; an
 * incremental one yields them (zero-filled), since the previous point may hold data there.
 * @param buf at least RP_CHUNK_SIZE bytes.
 * @param[out] ret_chunk the chunk index.
 * @param[out] ret_len bytes of the chunk in @p buf.
 * @return 1 with a chunk, 0 at the end, or a negative errno as rp_disk_capture_read_chunk().
 */
int rp_disk_capture_next(rp_disk_capture *cap, uint64_t *ret_chunk, void *buf, size_t *ret_len);

/**
 * Number of chunks rp_disk_capture_next_chunk() hands out in all, for progress. A full capture
 * finds its holes first (see rp_disk_capture_next_chunk()). Chunks found to be all zeros when
 * read are counted, though rp_disk_capture_next() of a full capture skips them.
 * @return the count, or 0 if finding the holes failed (the calls that read report the error).
 */
uint64_t rp_disk_capture_total(rp_disk_capture *cap);

/** Disk size in bytes at the cut; a resize during the capture does not change it. */
uint64_t rp_disk_capture_size(rp_disk_capture *cap);

/** Whether the capture is full (true) or incremental (false). */
bool rp_disk_capture_is_full(rp_disk_capture *cap);

/** Number of chunks copied to the side file by copy-before-write so far. */
uint64_t rp_disk_capture_preserved(rp_disk_capture *cap);

/**
 * The restore point is durable: end the capture and drop the cut's bits from the dirty map
 * file (one write and fdatasync of the map; if that fails the bits stay, which only makes the
 * next point read those chunks again). Writes stop paying for copy-before-write. Holds writes
 * briefly (reuses the calling thread's hold).
 * @return 0; -ESTALE (already ended); or the capture's error: a broken capture cannot commit,
 *         it is left to abort.
 */
int rp_disk_capture_commit(rp_disk_capture *cap);

/**
 * Give up the capture: the cut's dirty bits go back into the live map (no I/O: the map file
 * kept them), so the next point reads those chunks. Holds writes briefly (reuses the calling
 * thread's hold).
 * @return 0 or -ESTALE (already ended).
 */
int rp_disk_capture_abort(rp_disk_capture *cap);

/**
 * Free the capture (NULL-safe), aborting it first if it was neither committed nor aborted,
 * and drop its image reference. @return NULL.
 */
rp_disk_capture *rp_disk_capture_free(rp_disk_capture *cap);

RP_DEFINE_CLEANUP(rp_disk_capture, rp_disk_capture_free)
