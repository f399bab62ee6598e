/* disk_capture.c: point-in-time capture of a disk image with copy-before-write.
 *
 * DESIGN
 *
 * The cut. rp_disk_capture_begin() runs while writes on the image are held (the caller holds
 * every disk of a VM, begins a capture on each, then releases them: one crash-consistent
 * instant across the disks). Under the hold it does no I/O that matters: it copies the live
 * dirty bitmap (the cut's bits: an incremental capture's set), clears it in memory so that new
 * writes mark the next point's chunks, opens the side file and attaches itself to the image.
 *
 * Dirty-map handoff without a durable write under the hold. The map FILE always has at least
 * the bits memory has (disk_image.c). From the cut until the capture ends, every write of the
 * map file also ORs in the cut's bits (img->cut_bits), so the file holds (the cut's bits) +
 * (writes since the cut). A crash at any point before commit therefore loses nothing: the next
 * open loads the union, and the next point reads those chunks again. Commit (the point is
 * durable) rewrites the file from memory, dropping the cut's bits; abort puts them back in
 * memory, which needs no I/O since the file has them. (A separate durable "pending" record
 * would cost a file fsync plus a directory fsync under the hold: 5-30 ms on the disks here.)
 *
 * Per-chunk state, for the chunks of the disk at the cut:
 *   done   set: the image holds nothing this capture still needs (read, preserved, known
 *          all-zero, or outside an incremental set). Writers test it without a lock (atomic
 *          byte loads): a set bit means no extra cost. Only ever goes 0 -> 1, under lock.
 *   busy   someone (a reader, or a writer preserving it) is reading the chunk from the image;
 *          others wait on cond. Under lock.
 *   saved  the point-in-time bytes are in the side file, at the chunk's own offset.
 *   zero   the point-in-time chunk is all zeros (a hole, or zero data).
 *   visit  the chunks next_chunk hands out: the dirty bits of the cut for an incremental
 *          capture; for a full one, the chunks holding data at the cut, found by a lazy scan.
 * A chunk the capture needs and has not taken yet (done clear) is unchanged since the cut,
 * because every write to it first takes the lock, marks it busy, copies it to the side file
 * (or notes that it is a hole) and sets done, and only then writes. A reader marks the chunk
 * busy while it reads it from the image, so writers of that chunk wait for the read: a reader
 * sees exactly the point-in-time bytes, never a mix.
 *
 * Full captures. For copy-before-write purposes the set is every chunk: a chunk that was a
 * hole at the cut is preserved cheaply (SEEK_DATA says hole; nothing is copied, zero is set).
 * The holes are found after the cut, on the first read call, by a SEEK_DATA/SEEK_HOLE scan in
 * steps under the lock: a chunk whose done bit is clear is unchanged since the cut, so what the
 * scan sees of it is what was there at the cut; chunks already preserved have their answer in
 * saved/zero. Holes found by the scan get done set, so later writes to them are free.
 *
 * Failures. A write is never failed for the sake of a capture: if preserving a chunk fails
 * (ENOSPC in the side file, say) the capture is broken (sticky error), writers stop preserving
 * and every reader call returns the error; the capture can only be aborted. A reader checks the
 * error after its read, so it never returns bytes a writer changed under it.
 *
 * Ending. Commit and abort handle the bits (above) and detach: detaching takes the exclusive
 * hold briefly, so that no writer is inside the copy-before-write hook.
 *
 * The side file is an O_TMPFILE next to the image (a named file unlinked at once where
 * O_TMPFILE is unsupported), made by the first copy: nothing to clean up after a crash. Reading
 * a preserved chunk punches it out again, so the side file holds at most the chunks preserved
 * and not yet read.
 *
 * Locks: writers take cap->lock under the shared img->hold; readers take no hold, so a writer
 * waiting for a reader's busy chunk always gets it. cap->lock and img->lock are never held
 * together.
 */
#include "disk_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk_internal.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

/* Chunk buffers kept for preserving writers, so that copy-before-write does not mmap/munmap. */
#define CAPTURE_SPARE_BUFS 4
/* Scan steps (each at most two lseeks) per hold of the capture lock. */
#define CAPTURE_SCAN_STEPS 64
/* Longest run of chunks one scan step decides (64 GiB of disk; a millisecond at most). */
#define CAPTURE_SCAN_RUN (256u * 1024u)

enum capture_state {
        CAPTURE_ACTIVE,
        CAPTURE_COMMITTED,
        CAPTURE_ABORTED,
};

struct rp_disk_capture {
        rp_disk_image *img; /* a reference */
        bool full;
        uint64_t size;    /* disk size at the cut */
        uint64_t nchunks; /* chunks at the cut */
        size_t bytes;     /* bytes of each bitmap */
        int cow_fd;       /* the side file, made on the first copy; under lock until then */
        bool no_cfr;      /* atomic; copy_file_range does not work here */
        bool attached;    /* img->cap == this */

        uint8_t *cut;  /* dirty bits at the cut (img->cut_bits); read-only after begin */
        uint8_t *done; /* atomic bytes; see DESIGN */

        pthread_mutex_t lock;
        pthread_cond_t cond; /* a busy bit cleared, or the scan finished */
        /* Under lock. */
        uint8_t *busy;
        uint8_t *saved;
        uint8_t *zero;
        uint8_t *visit; /* == cut for incremental captures */
        bool scanned;   /* visit and total are final */
        bool scanning;  /* a thread runs the scan; others wait on cond */
        uint64_t total;
        uint64_t cursor; /* next chunk next_chunk looks at */
        uint64_t preserved;
        enum capture_state state;
        uint8_t *spare[CAPTURE_SPARE_BUFS];
        unsigned n_spare;

        int error; /* atomic; sticky: the capture is broken */
};

/* ---------------------------------------------------------------------------------------------
 * Bits
 */

static bool bit_get(const uint8_t *b, uint64_t i)
{
        return b[i / 8] & (1u << (i % 8));
}

static void bit_set(uint8_t *b, uint64_t i)
{
        b[i / 8] |= (uint8_t)(1u << (i % 8));
}

static void bit_clear(uint8_t *b, uint64_t i)
{
        b[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

static bool done_get(rp_disk_capture *cap, uint64_t c)
{
        return __atomic_load_n(&cap->done[c / 8], __ATOMIC_ACQUIRE) & (1u << (c % 8));
}

/* Under cap->lock: only lock holders set done bits, writers read them without the lock. */
static void done_set(rp_disk_capture *cap, uint64_t c)
{
        __atomic_fetch_or(&cap->done[c / 8], (uint8_t)(1u << (c % 8)), __ATOMIC_RELEASE);
}

static int error_get(rp_disk_capture *cap)
{
        return __atomic_load_n(&cap->error, __ATOMIC_ACQUIRE);
}

/* Under cap->lock. The first error sticks. */
static int error_set(rp_disk_capture *cap, int r)
{
        int expected = 0;
        (void)__atomic_compare_exchange_n(&cap->error, &expected, r, false, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED);
        pthread_cond_broadcast(&cap->cond);
        return error_get(cap);
}

static size_t chunk_len(rp_disk_capture *cap, uint64_t c)
{
        return (size_t)RP_MIN((uint64_t)RP_CHUNK_SIZE, cap->size - c * RP_CHUNK_SIZE);
}

static bool all_zero(const uint8_t *p, size_t len)
{
        if (len == 0)
                return true;
        return p[0] == 0 && memcmp(p, p + 1, len - 1) == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Reading one chunk of the image as it is now
 */

/* Whether [off, off + len) of @p fd holds no data. lseek with SEEK_DATA moves the shared file
 * offset, which nothing relies on (all I/O is pread/pwrite); its result is ours alone. */
static int range_is_hole(int fd, uint64_t off, size_t len, bool *ret_hole)
{
        off_t d = lseek(fd, (off_t)off, SEEK_DATA);
        if (d < 0) {
                if (errno != ENXIO)
                        return -errno;
                *ret_hole = true; /* no data from off to the end of the file */
                return 0;
        }
        *ret_hole = (uint64_t)d >= off + len;
        return 0;
}

/* Read chunk @p c of the image into @p buf. @return 1 data, 0 all zeros (buf zeroed), -errno. */
static int image_read_chunk(rp_disk_capture *cap, uint64_t c, uint8_t *buf, size_t len)
{
        bool hole = false;
        int r = range_is_hole(cap->img->fd, c * RP_CHUNK_SIZE, len, &hole);
        if (r < 0)
                return r;
        if (hole) {
                memset(buf, 0, len);
                return 0;
        }
        r = rp_pread_full(cap->img->fd, buf, len, (off_t)(c * RP_CHUNK_SIZE));
        if (r < 0)
                return r;
        return all_zero(buf, len) ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------------
 * Copy-before-write
 */

/* An unnamed file next to the image for copy-before-write. */
static int side_file_open(rp_disk_image *img)
{
        const char *slash = strrchr(img->path, '/');
        _cleanup_free_ char *dir = !slash ? rp_strdup(".")
                                   : slash == img->path
                                           ? rp_strdup("/")
                                           : rp_strndup(img->path, (size_t)(slash - img->path));
        if (!dir)
                return -ENOMEM;
        int fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
        if (fd >= 0)
                return fd;
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
                return -errno;
        /* No O_TMPFILE here: a named file, unlinked at once. */
        static unsigned long counter;
        _cleanup_free_ char *name = rp_asprintf("%s.cow.%d.%lu", img->path, (int)getpid(),
                                                __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        if (!name)
                return -ENOMEM;
        fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        (void)unlink(name);
        return fd;
}

static uint8_t *spare_take(rp_disk_capture *cap)
{
        if (cap->n_spare > 0)
                return cap->spare[--cap->n_spare];
        return NULL;
}

static void spare_put(rp_disk_capture *cap, uint8_t *buf)
{
        if (buf && cap->n_spare < CAPTURE_SPARE_BUFS)
                cap->spare[cap->n_spare++] = buf;
        else
                rp_free(buf);
}

/* Copy chunk @p c (@p len bytes) of the image to the same offset of the side file: in the
 * kernel where it can (copy_file_range: a reflink on XFS or btrfs, no user-space copy on
 * ext4), else through @p *buf (allocated here if NULL, left to the caller).
 * @return 1 copied, 0 all zeros at the cut (a hole: nothing copied), or -errno. */
static int copy_chunk(rp_disk_capture *cap, uint64_t c, size_t len, uint8_t **buf)
{
        uint64_t pos = c * RP_CHUNK_SIZE, end = pos + len;
        bool hole = false;
        int r = range_is_hole(cap->img->fd, pos, len, &hole);
        if (r < 0)
                return r;
        if (hole)
                return 0;
        while (pos < end && !__atomic_load_n(&cap->no_cfr, __ATOMIC_RELAXED)) {
                loff_t in = (loff_t)pos, out = (loff_t)pos;
                ssize_t n = copy_file_range(cap->img->fd, &in, cap->cow_fd, &out,
                                            (size_t)(end - pos), 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP &&
                            errno != EINVAL)
                                return -errno;
                        __atomic_store_n(&cap->no_cfr, true, __ATOMIC_RELAXED);
                        break;
                }
                if (n == 0)
                        return -EIO; /* the image is never shorter than the cut */
                pos += (uint64_t)n;
        }
        if (pos == end)
                return 1;
        if (!*buf)
                *buf = rp_malloc(RP_CHUNK_SIZE);
        if (!*buf)
                return -ENOMEM;
        r = rp_pread_full(cap->img->fd, *buf, (size_t)(end - pos), (off_t)pos);
        if (r < 0)
                return r;
        if (pos == c * RP_CHUNK_SIZE && all_zero(*buf, len))
                return 0;
        r = rp_pwrite_all(cap->cow_fd, *buf, (size_t)(end - pos), (off_t)pos);
        return r < 0 ? r : 1;
}

static void preserve_one(rp_disk_capture *cap, uint64_t c)
{
        pthread_mutex_lock(&cap->lock);
        while (bit_get(cap->busy, c) && error_get(cap) == 0)
                pthread_cond_wait(&cap->cond, &cap->lock);
        if (error_get(cap) != 0 || done_get(cap, c) || cap->state != CAPTURE_ACTIVE) {
                pthread_mutex_unlock(&cap->lock);
                return;
        }
        bit_set(cap->busy, c);
        uint8_t *buf = spare_take(cap);
        int r = 0;
        if (cap->cow_fd < 0) {
                /* The first copy: made here rather than at the cut, to keep the hold short. */
                r = side_file_open(cap->img);
                if (r >= 0) {
                        cap->cow_fd = r;
                        r = 0;
                }
        }
        pthread_mutex_unlock(&cap->lock);

        bool zero = false;
        if (r == 0) {
                r = copy_chunk(cap, c, chunk_len(cap, c), &buf);
                zero = r == 0; /* nothing copied */
        }

        pthread_mutex_lock(&cap->lock);
        bit_clear(cap->busy, c);
        if (r < 0) {
                error_set(cap, r);
                log_debug("disk: capture of '%s' broken, chunk %llu not preserved: %s",
                          cap->img->path, (unsigned long long)c, strerror(-r));
        } else {
                if (zero) {
                        bit_set(cap->zero, c);
                } else {
                        bit_set(cap->saved, c);
                        cap->preserved++;
                }
                done_set(cap, c);
        }
        spare_put(cap, buf);
        pthread_cond_broadcast(&cap->cond);
        pthread_mutex_unlock(&cap->lock);
}

void rp_disk__capture_preserve(rp_disk_capture *cap, uint64_t off, uint64_t len)
{
        if (len == 0 || off / RP_CHUNK_SIZE >= cap->nchunks)
                return;
        uint64_t first = off / RP_CHUNK_SIZE;
        uint64_t last = RP_MIN((off + len - 1) / RP_CHUNK_SIZE, cap->nchunks - 1);
        for (uint64_t c = first; c <= last; c++) {
                if (done_get(cap, c))
                        continue;
                if (error_get(cap) != 0)
                        return; /* broken: nobody will read the bytes */
                preserve_one(cap, c);
        }
}

/* ---------------------------------------------------------------------------------------------
 * The scan of a full capture
 */

/* Decide chunk @p c, which the scan saw with (@p data) or without data. Under cap->lock. */
static void scan_decide(rp_disk_capture *cap, uint64_t c, bool data)
{
        if (bit_get(cap->busy, c)) {
                /* A writer is preserving it; the read finds out whether it is all zeros. */
                bit_set(cap->visit, c);
        } else if (done_get(cap, c)) {
                /* Preserved before the scan: its bytes are saved, or it is all zeros. */
                if (bit_get(cap->saved, c))
                        bit_set(cap->visit, c);
        } else if (data) {
                bit_set(cap->visit, c);
        } else {
                /* Unchanged since the cut, and a hole: nothing to read, nothing to preserve. */
                bit_set(cap->zero, c);
                done_set(cap, c);
        }
}

/* Decide chunks [c, end) that the scan saw without data, eight at a time where it can. */
static void scan_holes(rp_disk_capture *cap, uint64_t c, uint64_t end)
{
        for (; c < end && c % 8 != 0; c++)
                scan_decide(cap, c, false);
        for (; c + 8 <= end; c += 8) {
                size_t i = (size_t)(c / 8);
                if (cap->busy[i] == 0 && __atomic_load_n(&cap->done[i], __ATOMIC_RELAXED) == 0) {
                        cap->zero[i] = 0xff; /* none preserved or being preserved: all holes */
                        __atomic_store_n(&cap->done[i], 0xff, __ATOMIC_RELEASE);
                } else {
                        for (uint64_t x = c; x < c + 8; x++)
                                scan_decide(cap, x, false);
                }
        }
        for (; c < end; c++)
                scan_decide(cap, c, false);
}

/* One step from chunk *cursor: a run of hole chunks and the run of data chunks after it (each
 * at most CAPTURE_SCAN_RUN long, so that the lock is not held for long). Under cap->lock, so no
 * writer changes an undecided chunk between the lseek and the decision. */
static int scan_step(rp_disk_capture *cap, uint64_t *cursor)
{
        int fd = cap->img->fd;
        uint64_t c = *cursor, off = c * RP_CHUNK_SIZE;
        off_t d = lseek(fd, (off_t)off, SEEK_DATA);
        if (d < 0 && errno != ENXIO)
                return -errno;
        uint64_t data = d < 0 ? cap->size : RP_MIN((uint64_t)d, cap->size);
        /* No data in [off, data): those whole chunks are holes; the one holding data is not. */
        uint64_t first_data = data / RP_CHUNK_SIZE;
        if (data >= cap->size)
                first_data = cap->nchunks;
        if (first_data - c > CAPTURE_SCAN_RUN) {
                scan_holes(cap, c, c + CAPTURE_SCAN_RUN);
                *cursor = c + CAPTURE_SCAN_RUN;
                return 0;
        }
        scan_holes(cap, c, first_data);
        c = first_data;
        if (c >= cap->nchunks) {
                *cursor = cap->nchunks;
                return 0;
        }
        off_t h = lseek(fd, (off_t)data, SEEK_HOLE);
        if (h < 0)
                return -errno;
        uint64_t hole = RP_MIN((uint64_t)h, cap->size);
        uint64_t last = hole > data ? (hole - 1) / RP_CHUNK_SIZE : first_data;
        last = RP_MIN(last, c + CAPTURE_SCAN_RUN - 1); /* the next step goes on from there */
        for (; c <= last; c++)
                scan_decide(cap, c, true);
        *cursor = c;
        return 0;
}

/* Make visit and total final. Called with cap->lock held; may drop it between steps. */
static int ensure_scanned(rp_disk_capture *cap)
{
        while (cap->scanning && error_get(cap) == 0)
                pthread_cond_wait(&cap->cond, &cap->lock);
        int r = error_get(cap);
        if (r < 0 || cap->scanned)
                return r;
        if (!cap->full) {
                cap->total = rp_disk__popcount(cap->visit, cap->bytes);
                cap->scanned = true;
                return 0;
        }
        cap->scanning = true;
        uint64_t cursor = 0;
        while (r == 0 && cursor < cap->nchunks) {
                uint64_t start = cursor;
                for (unsigned i = 0; r == 0 && i < CAPTURE_SCAN_STEPS && cursor < cap->nchunks &&
                                     cursor - start < CAPTURE_SCAN_RUN;
                     i++)
                        r = scan_step(cap, &cursor);
                if (r == 0 && error_get(cap) != 0)
                        r = error_get(cap);
                if (r == 0 && cursor < cap->nchunks) {
                        /* Let preserving writers in. */
                        pthread_mutex_unlock(&cap->lock);
                        sched_yield();
                        pthread_mutex_lock(&cap->lock);
                }
        }
        cap->scanning = false;
        if (r < 0) {
                r = error_set(cap, r);
                return r;
        }
        cap->total = rp_disk__popcount(cap->visit, cap->bytes);
        cap->scanned = true;
        pthread_cond_broadcast(&cap->cond);
        log_debug("disk: capture of '%s': %llu of %llu chunks hold data", cap->img->path,
                  (unsigned long long)cap->total, (unsigned long long)cap->nchunks);
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Reading
 */

uint64_t rp_disk_capture_total(rp_disk_capture *cap)
{
        pthread_mutex_lock(&cap->lock);
        int r = ensure_scanned(cap);
        uint64_t total = r < 0 ? 0 : cap->total;
        pthread_mutex_unlock(&cap->lock);
        return total;
}

/* The first visit bit at or after @p c, or nchunks. */
static uint64_t visit_next(rp_disk_capture *cap, uint64_t c)
{
        while (c < cap->nchunks) {
                if (c % 64 == 0 && c / 8 + 8 <= cap->bytes) {
                        uint64_t w;
                        memcpy(&w, cap->visit + c / 8, 8);
                        if (w == 0) {
                                c += 64;
                                continue;
                        }
                }
                if (c % 8 == 0 && cap->visit[c / 8] == 0) {
                        c += 8;
                        continue;
                }
                if (bit_get(cap->visit, c))
                        return c;
                c++;
        }
        return cap->nchunks;
}

int rp_disk_capture_next_chunk(rp_disk_capture *cap, uint64_t *ret_chunk)
{
        pthread_mutex_lock(&cap->lock);
        int r = cap->state != CAPTURE_ACTIVE ? -ESTALE : ensure_scanned(cap);
        if (r == 0) {
                uint64_t c = visit_next(cap, cap->cursor);
                if (c < cap->nchunks) {
                        cap->cursor = c + 1;
                        *ret_chunk = c;
                        r = 1;
                } else {
                        cap->cursor = cap->nchunks;
                }
        }
        pthread_mutex_unlock(&cap->lock);
        return r;
}

int rp_disk_capture_read_chunk(rp_disk_capture *cap, uint64_t chunk, void *buf, size_t *ret_len)
{
        if (chunk >= cap->nchunks)
                return -ERANGE;
        size_t len = chunk_len(cap, chunk);
        int r;
        pthread_mutex_lock(&cap->lock);
        r = cap->state != CAPTURE_ACTIVE ? -ESTALE : ensure_scanned(cap);
        if (r == 0 && !cap->full && !bit_get(cap->cut, chunk))
                r = -ENOENT;
        while (r == 0 && bit_get(cap->busy, chunk)) {
                pthread_cond_wait(&cap->cond, &cap->lock);
                r = error_get(cap);
        }
        if (r < 0)
                goto out;

        bool from_side;
        if (bit_get(cap->zero, chunk)) {
                memset(buf, 0, len);
                *ret_len = len;
                r = 0;
                goto out;
        } else if (bit_get(cap->saved, chunk)) {
                from_side = true;
        } else if (!done_get(cap, chunk)) {
                from_side = false;
        } else {
                r = -ESTALE; /* read before */
                goto out;
        }

        bit_set(cap->busy, chunk);
        pthread_mutex_unlock(&cap->lock);
        if (from_side) {
                r = rp_pread_full(cap->cow_fd, buf, len, (off_t)(chunk * RP_CHUNK_SIZE));
                if (r == 0)
                        r = all_zero(buf, len) ? 0 : 1;
        } else {
                r = image_read_chunk(cap, chunk, buf, len);
        }
        pthread_mutex_lock(&cap->lock);
        bit_clear(cap->busy, chunk);
        pthread_cond_broadcast(&cap->cond);
        if (r < 0) {
                r = error_set(cap, r);
                goto out;
        }
        /* A writer that found the capture broken may have changed the chunk during our read. */
        if (error_get(cap) != 0) {
                r = error_get(cap);
                goto out;
        }
        if (r == 0)
                bit_set(cap->zero, chunk); /* read again as zeros, for free */
        done_set(cap, chunk);
        if (from_side)
                bit_clear(cap->saved, chunk);
        pthread_mutex_unlock(&cap->lock);
        if (from_side) /* give the space back; a failure only costs space */
                (void)fallocate(cap->cow_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                (off_t)(chunk * RP_CHUNK_SIZE), (off_t)len);
        *ret_len = len;
        return r;
out:
        pthread_mutex_unlock(&cap->lock);
        if (r >= 0)
                *ret_len = len;
        return r;
}

int rp_disk_capture_next(rp_disk_capture *cap, uint64_t *ret_chunk, void *buf, size_t *ret_len)
{
        for (;;) {
                uint64_t c;
                size_t len;
                int r = rp_disk_capture_next_chunk(cap, &c);
                if (r <= 0)
                        return r;
                r = rp_disk_capture_read_chunk(cap, c, buf, &len);
                if (r < 0)
                        return r;
                if (r == 0 && cap->full)
                        continue;
                *ret_chunk = c;
                *ret_len = len;
                return 1;
        }
}

uint64_t rp_disk_capture_size(rp_disk_capture *cap)
{
        return cap->size;
}

bool rp_disk_capture_is_full(rp_disk_capture *cap)
{
        return cap->full;
}

uint64_t rp_disk_capture_preserved(rp_disk_capture *cap)
{
        pthread_mutex_lock(&cap->lock);
        uint64_t n = cap->preserved;
        pthread_mutex_unlock(&cap->lock);
        return n;
}

/* ---------------------------------------------------------------------------------------------
 * Begin and end
 */

static rp_disk_capture *capture_new(rp_disk_image *img, bool full)
{
        rp_disk_capture *cap = rp_calloc(1, sizeof *cap);
        if (!cap)
                return NULL;
        cap->cow_fd = -1;
        cap->full = full;
        cap->size = img->size;
        cap->nchunks = img->nchunks;
        cap->bytes = RP_MAX(img->bitmap_bytes, 1u);
        pthread_mutex_init(&cap->lock, NULL);
        pthread_cond_init(&cap->cond, NULL);
        cap->cut = rp_malloc(cap->bytes);
        cap->done = rp_calloc(cap->bytes, 1);
        cap->busy = rp_calloc(cap->bytes, 1);
        cap->saved = rp_calloc(cap->bytes, 1);
        cap->zero = rp_calloc(cap->bytes, 1);
        cap->visit = full ? rp_calloc(cap->bytes, 1) : cap->cut;
        if (!cap->cut || !cap->done || !cap->busy || !cap->saved || !cap->zero || !cap->visit) {
                if (cap->visit != cap->cut)
                        rp_free(cap->visit);
                rp_free(cap->cut);
                rp_free(cap->done);
                rp_free(cap->busy);
                rp_free(cap->saved);
                rp_free(cap->zero);
                pthread_cond_destroy(&cap->cond);
                pthread_mutex_destroy(&cap->lock);
                return rp_free(cap);
        }
        return cap;
}

int rp_disk_capture_begin(rp_disk_image *img, bool full, rp_disk_capture **ret)
{
        bool own;
        int r = rp_disk__hold_if_needed(img, &own);
        if (r < 0)
                return r;
        rp_disk_capture *cap = NULL;
        if (img->cap) {
                r = -EBUSY;
                goto out;
        }
        cap = capture_new(img, full);
        if (!cap) {
                r = -ENOMEM;
                goto out;
        }

        /* The cut. Writes are held, so nobody reads the bitmap without the lock right now. The
         * map file is not touched: it has every bit memory has, and keeps them (cut_bits). */
        pthread_mutex_lock(&img->lock);
        memcpy(cap->cut, img->bitmap, img->bitmap_bytes);
        img->cut_bits = cap->cut;
        img->cut_bytes = img->bitmap_bytes;
        memset(img->bitmap, 0, img->bitmap_bytes);
        img->ndirty = 0;
        pthread_mutex_unlock(&img->lock);
        if (!full) {
                /* Chunks outside an incremental set are not needed: writes to them are free. */
                size_t i = 0;
                for (; i + 8 <= cap->bytes; i += 8) {
                        uint64_t w;
                        memcpy(&w, cap->cut + i, 8);
                        w = ~w;
                        memcpy(cap->done + i, &w, 8);
                }
                for (; i < cap->bytes; i++)
                        cap->done[i] = (uint8_t)~cap->cut[i];
        }
        cap->img = rp_disk_image_ref(img);
        cap->attached = true;
        img->cap = cap;
        *ret = TAKE_PTR(cap);
        r = 0;
out:
        rp_disk_capture_free(cap);
        if (own)
                rp_disk_image_release(img);
        return r;
}

/* Stop copy-before-write. @return 0 or -errno (the hold failed: still attached). */
static int detach(rp_disk_capture *cap)
{
        bool own;
        if (!cap->attached)
                return 0;
        int r = rp_disk__hold_if_needed(cap->img, &own);
        if (r < 0)
                return r;
        cap->img->cap = NULL;
        cap->attached = false;
        if (own)
                rp_disk_image_release(cap->img);
        return 0;
}

/* Mark the capture ended, so that readers stop. */
static void end_state(rp_disk_capture *cap, enum capture_state state)
{
        pthread_mutex_lock(&cap->lock);
        cap->state = state;
        pthread_cond_broadcast(&cap->cond);
        pthread_mutex_unlock(&cap->lock);
}

int rp_disk_capture_commit(rp_disk_capture *cap)
{
        if (cap->state != CAPTURE_ACTIVE)
                return -ESTALE;
        int r = error_get(cap);
        if (r < 0)
                return r;
        rp_disk_image *img = cap->img;
        end_state(cap, CAPTURE_COMMITTED);

        /* The point is durable: the cut's bits may leave the map file, which then says exactly
         * what changed since the cut. A failure only leaves extra bits, hence extra chunks in
         * the next point; map_stale makes the next writer rewrite the file. */
        pthread_mutex_lock(&img->lock);
        img->cut_bits = NULL;
        img->cut_bytes = 0;
        uint8_t *copy = rp_malloc(RP_MAX(img->bitmap_bytes, 1u));
        if (copy) {
                memcpy(copy, img->bitmap, img->bitmap_bytes);
                r = rp_disk__map_write(img, copy, 0, img->bitmap_bytes);
                rp_free(copy);
        } else {
                r = -ENOMEM;
                __atomic_store_n(&img->map_stale, true, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&img->lock);
        if (r < 0)
                log_debug("disk: dirty map of '%s' not rewritten at commit, it keeps extra bits: "
                          "%s",
                          img->path, strerror(-r));
        return detach(cap);
}

int rp_disk_capture_abort(rp_disk_capture *cap)
{
        if (cap->state != CAPTURE_ACTIVE)
                return -ESTALE;
        rp_disk_image *img = cap->img;
        end_state(cap, CAPTURE_ABORTED);

        /* The cut's bits go back to memory. They are durable already: the map file kept them. */
        pthread_mutex_lock(&img->lock);
        for (size_t i = 0; i < img->cut_bytes; i++) {
                uint8_t add = img->cut_bits[i] & (uint8_t)~img->bitmap[i];
                if (!add)
                        continue;
                img->ndirty += (uint64_t)__builtin_popcount(add);
                __atomic_fetch_or(&img->bitmap[i], add, __ATOMIC_RELEASE);
        }
        img->cut_bits = NULL;
        img->cut_bytes = 0;
        pthread_mutex_unlock(&img->lock);
        return detach(cap);
}

rp_disk_capture *rp_disk_capture_free(rp_disk_capture *cap)
{
        if (!cap)
                return NULL;
        if (cap->img && cap->state == CAPTURE_ACTIVE)
                (void)rp_disk_capture_abort(cap);
        if (cap->img && cap->attached && detach(cap) < 0)
                return NULL; /* still reachable by writers: leak rather than free under them */
        if (cap->cow_fd >= 0)
                (void)close(cap->cow_fd);
        for (unsigned i = 0; i < cap->n_spare; i++)
                rp_free(cap->spare[i]);
        if (cap->visit != cap->cut)
                rp_free(cap->visit);
        rp_free(cap->cut);
        rp_free(cap->done);
        rp_free(cap->busy);
        rp_free(cap->saved);
        rp_free(cap->zero);
        pthread_cond_destroy(&cap->cond);
        pthread_mutex_destroy(&cap->lock);
        rp_disk_image_unref(cap->img);
        return rp_free(cap);
}
