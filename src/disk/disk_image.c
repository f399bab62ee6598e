/* disk_image.c: managed disk images with a persistent per-chunk dirty map.
 *
 * DESIGN
 *
 * Files. A disk is "<path>", a sparse raw image whose size is the disk size, and
 * "<path>.dirty", its dirty map: a 64-byte header (struct dirty_header_disk) and one bit per
 * RP_CHUNK_SIZE chunk, set when the chunk was written since the last restore point cut. The
 * header is stamped with the inode of the image it belongs to, so a map left behind by a crash
 * in remove/create, or copied around apart from its image, is recognised as stale.
 *
 * Invariant: every chunk written since the last cut has its bit set ON DISK before the write is
 * acknowledged. Hence the order in write/clear: persist the bits (pwrite + fdatasync of the map,
 * only when a bit changes), then write the data and fdatasync the image. A crash in between
 * leaves an extra bit, which only costs a chunk read at the next capture. A map that cannot be
 * trusted (missing, torn header, other image, other chunk size) is rebuilt conservatively from
 * the image's allocation: every chunk holding data is dirty, which is always safe.
 *
 * Sharing. A process-wide registry keyed by (st_dev, st_ino) hands out one object per image
 * file, so all request threads writing one disk share one mutex and one in-memory bitmap.
 * Creation, copy and removal publish or unlink files under the registry lock, so an open that
 * races with them sees either no image or the image with its final map.
 *
 * Locks, per image:
 *  - hold (rwlock, writer-preferring): write and clear take it shared; rp_disk_image_hold(),
 *    resize and the dirty snapshot take it exclusively, so the cut sees no write in flight.
 *  - lock (mutex): serialises changes to the bitmap and the map file. The bits are set in
 *    memory only AFTER they are durable, so a writer that finds all its bits set (atomic byte
 *    loads, no mutex) may skip the map entirely: the common case of rewriting a dirty chunk
 *    never waits for another writer's map fdatasync.
 *  - map_stale: after a failed map write the file may lack bits that memory has; until a full
 *    rewrite succeeds every writer takes the slow path and rewrites the whole map.
 *
 * Captures (disk_capture.c) hook in at two places: at the cut the bitmap moves to the capture
 * and its bits stay in the file (cut_bits, ORed into every map write until commit), and
 * image_modify() calls the copy-before-write hook before changing data.
 *
 * Limits: the registry is a list (a process has at most a few thousand disks open, and open is
 * once per request, not per byte). The last unref of a removed image closes its fd, which frees
 * the blocks of a large file on the calling thread; callers that care drop it off the request
 * path.
 */
#include "disk_image.h"
#include "disk_internal.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

/* Granularity of zero-write hole punching (the usual file system block size). */
#define DISK_PUNCH_BLOCK 4096u
/* Buffer for the read/write fallbacks of copy and clear. */
#define DISK_COPY_BUF (1024u * 1024u)

/* ---------------------------------------------------------------------------------------------
 * The dirty map file format
 */

/* On-disk header, every integer little-endian. */
struct dirty_header_disk {
        char magic[8];        /* RP_DISK_DIRTY_MAGIC, not NUL-terminated */
        uint32_t version;     /* RP_DISK_DIRTY_VERSION */
        uint32_t header_size; /* RP_DISK_DIRTY_HEADER_SIZE: the bitmap starts here */
        uint32_t chunk_size;  /* bytes covered by one bit (RP_CHUNK_SIZE) */
        uint32_t flags;       /* none defined, 0 */
        uint64_t disk_size;   /* image size the map covers, bytes */
        uint64_t nchunks;     /* bits in the bitmap: disk_size / chunk_size rounded up */
        uint64_t image_ino;   /* inode of the image the map belongs to */
        uint8_t check[8];     /* first 8 bytes of SHA-256 of the 48 bytes above */
        uint8_t reserved[8];  /* zero */
} __attribute__((packed));
_Static_assert(sizeof(struct dirty_header_disk) == RP_DISK_DIRTY_HEADER_SIZE, "header size");

/* The header in host form. */
typedef struct dirty_header {
        uint32_t chunk_size;
        uint64_t disk_size;
        uint64_t nchunks;
        uint64_t image_ino;
} dirty_header;

static uint64_t nchunks_for(uint64_t size)
{
        return (size + RP_CHUNK_SIZE - 1) / RP_CHUNK_SIZE;
}

static size_t bitmap_bytes_for(uint64_t nchunks)
{
        return (size_t)((nchunks + 7) / 8);
}

static void header_init(dirty_header *h, uint64_t disk_size, uint64_t ino)
{
        *h = (dirty_header){
                .chunk_size = RP_CHUNK_SIZE,
                .disk_size = disk_size,
                .nchunks = nchunks_for(disk_size),
                .image_ino = ino,
        };
}

static void header_check(const struct dirty_header_disk *d, uint8_t out[8])
{
        uint8_t digest[RP_SHA256_LEN];
        rp_sha256(d, offsetof(struct dirty_header_disk, check), digest);
        memcpy(out, digest, 8);
}

static void header_encode(const dirty_header *h, struct dirty_header_disk *d)
{
        memset(d, 0, sizeof *d);
        memcpy(d->magic, RP_DISK_DIRTY_MAGIC, sizeof d->magic);
        d->version = htole32(RP_DISK_DIRTY_VERSION);
        d->header_size = htole32(RP_DISK_DIRTY_HEADER_SIZE);
        d->chunk_size = htole32(h->chunk_size);
        d->flags = 0;
        d->disk_size = htole64(h->disk_size);
        d->nchunks = htole64(h->nchunks);
        d->image_ino = htole64(h->image_ino);
        header_check(d, d->check);
}

/* @return 0; -EBADMSG for a file that is not ours to touch (magic, version); -ESTALE for a map
 * of ours that cannot be trusted and is rebuilt. */
static int header_decode(const struct dirty_header_disk *d, dirty_header *ret)
{
        uint8_t check[8];
        if (memcmp(d->magic, RP_DISK_DIRTY_MAGIC, sizeof d->magic) != 0)
                return -EBADMSG;
        if (le32toh(d->version) != RP_DISK_DIRTY_VERSION ||
            le32toh(d->header_size) != RP_DISK_DIRTY_HEADER_SIZE)
                return -EBADMSG;
        header_check(d, check);
        if (memcmp(check, d->check, sizeof check) != 0 || le32toh(d->flags) != 0)
                return -ESTALE;
        *ret = (dirty_header){
                .chunk_size = le32toh(d->chunk_size),
                .disk_size = le64toh(d->disk_size),
                .nchunks = le64toh(d->nchunks),
                .image_ino = le64toh(d->image_ino),
        };
        return 0;
}

static void bitmap_mark_range(uint8_t *bitmap, uint64_t start, uint64_t end)
{
        if (end <= start)
                return;
        for (uint64_t c = start / RP_CHUNK_SIZE; c <= (end - 1) / RP_CHUNK_SIZE; c++)
                bitmap[c / 8] |= (uint8_t)(1u << (c % 8));
}

uint64_t rp_disk__popcount(const uint8_t *bitmap, size_t n)
{
        uint64_t count = 0;
        for (size_t i = 0; i < n; i++)
                count += (uint64_t)__builtin_popcount(bitmap[i]);
        return count;
}

/* Write a complete map file at @p path (which must not exist), fsynced. */
static int map_file_write(const char *path, const dirty_header *h, const uint8_t *bitmap,
                          mode_t mode)
{
        struct dirty_header_disk d;
        size_t bytes = bitmap_bytes_for(h->nchunks);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        header_encode(h, &d);
        int r = rp_pwrite_all(fd, &d, sizeof d, 0);
        if (r < 0)
                return r;
        if (bitmap && bytes > 0)
                r = rp_pwrite_all(fd, bitmap, bytes, RP_DISK_DIRTY_HEADER_SIZE);
        else if (ftruncate(fd, (off_t)(RP_DISK_DIRTY_HEADER_SIZE + bytes)) < 0)
                r = -errno;
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

static char *tmp_name(const char *path)
{
        static unsigned long counter;
        return rp_asprintf("%s.tmp.%d.%lu", path, (int)getpid(),
                           __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
}

/* Atomically replace the map file @p path: temp file, fsync, rename, fsync dir. */
static int map_file_replace(const char *path, const dirty_header *h, const uint8_t *bitmap,
                            mode_t mode)
{
        _cleanup_free_ char *tmp = tmp_name(path);
        if (!tmp)
                return -ENOMEM;
        int r = map_file_write(tmp, h, bitmap, mode);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp);
                return r;
        }
        return rp_fsync_parent(path);
}

/* ---------------------------------------------------------------------------------------------
 * Data extents
 */

typedef int (*extent_cb)(uint64_t start, uint64_t end, void *userdata);

/* Call @p cb for each data extent of the first @p size bytes of @p fd (holes skipped). Uses
 * the file offset of @p fd, which nothing else here relies on (all I/O is pread/pwrite). */
static int foreach_data_extent(int fd, uint64_t size, extent_cb cb, void *userdata)
{
        uint64_t pos = 0;
        while (pos < size) {
                off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
                if (data < 0) {
                        if (errno == ENXIO)
                                return 0;
                        return -errno;
                }
                if ((uint64_t)data >= size)
                        return 0;
                off_t hole = lseek(fd, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                uint64_t end = RP_MIN((uint64_t)hole, size);
                int r = cb((uint64_t)data, end, userdata);
                if (r < 0)
                        return r;
                pos = end;
        }
        return 0;
}

static int mark_extent_cb(uint64_t start, uint64_t end, void *userdata)
{
        bitmap_mark_range(userdata, start, end);
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The image object and the registry
 */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static rp_disk_image *registry_head;

static void registry_unlink(rp_disk_image *img)
{
        if (img->prev)
                img->prev->next = img->next;
        else
                registry_head = img->next;
        if (img->next)
                img->next->prev = img->prev;
        img->prev = img->next = NULL;
        img->in_registry = false;
}

static rp_disk_image *image_free(rp_disk_image *img)
{
        if (!img)
                return NULL;
        assert(!img->cap); /* a capture holds a reference */
        if (img->fd >= 0)
                (void)close(img->fd);
        if (img->dirty_fd >= 0)
                (void)close(img->dirty_fd);
        pthread_rwlock_destroy(&img->hold);
        pthread_mutex_destroy(&img->lock);
        rp_free(img->bitmap);
        rp_free(img->dirty_path);
        rp_free(img->path);
        return rp_free(img);
}
RP_DEFINE_CLEANUP(rp_disk_image, image_free)

bool rp_disk__held_by_me(rp_disk_image *img)
{
        return __atomic_load_n(&img->held, __ATOMIC_ACQUIRE) &&
               pthread_equal(__atomic_load_n(&img->holder, __ATOMIC_RELAXED), pthread_self());
}

int rp_disk__hold_if_needed(rp_disk_image *img, bool *ret_own)
{
        *ret_own = false;
        if (rp_disk__held_by_me(img))
                return 0;
        int r = rp_disk_image_hold(img);
        if (r < 0)
                return r;
        *ret_own = true;
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Dirty map: load, rebuild, mark, grow
 */

static int map_write_header(rp_disk_image *img, uint64_t disk_size)
{
        dirty_header h;
        struct dirty_header_disk d;
        header_init(&h, disk_size, (uint64_t)img->ino);
        header_encode(&h, &d);
        int r = rp_pwrite_all(img->dirty_fd, &d, sizeof d, 0);
        if (r < 0)
                return r;
        if (fdatasync(img->dirty_fd) < 0)
                return -errno;
        return 0;
}

/* Build a map from the image's allocation and install it in the file and in memory. */
static int map_rebuild(rp_disk_image *img, uint64_t size)
{
        dirty_header h;
        header_init(&h, size, (uint64_t)img->ino);
        size_t bytes = bitmap_bytes_for(h.nchunks);
        _cleanup_free_ uint8_t *bitmap = rp_calloc(RP_MAX(bytes, 1u), 1);
        if (!bitmap)
                return -ENOMEM;
        int r = foreach_data_extent(img->fd, size, mark_extent_cb, bitmap);
        if (r < 0)
                return r;
        r = map_file_replace(img->dirty_path, &h, bitmap, img->mode);
        if (r < 0)
                return r;
        int fd = open(img->dirty_path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (img->dirty_fd >= 0)
                (void)close(img->dirty_fd);
        img->dirty_fd = fd;
        rp_free(img->bitmap);
        img->size = size;
        img->nchunks = h.nchunks;
        img->bitmap_bytes = bytes;
        img->ndirty = rp_disk__popcount(bitmap, bytes);
        img->bitmap = TAKE_PTR(bitmap);
        log_debug("disk: rebuilt dirty map of '%s': %llu of %llu chunks dirty", img->path,
                  (unsigned long long)img->ndirty, (unsigned long long)img->nchunks);
        return 0;
}

/* Read the map file into memory. @return 0, -ESTALE (rebuild it), -EBADMSG, -errno. A map
 * covering less than @p file_size (a resize interrupted by a crash) is loaded as it is. */
static int map_load(rp_disk_image *img, int fd, uint64_t file_size)
{
        struct dirty_header_disk d;
        dirty_header h;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size < RP_DISK_DIRTY_HEADER_SIZE)
                return -ESTALE;
        int r = rp_pread_full(fd, &d, sizeof d, 0);
        if (r < 0)
                return r;
        r = header_decode(&d, &h);
        if (r < 0)
                return r;
        if (h.chunk_size != RP_CHUNK_SIZE || h.image_ino != (uint64_t)img->ino ||
            h.disk_size == 0 || h.disk_size % RP_SECTOR_SIZE != 0 || h.disk_size > file_size ||
            h.nchunks != nchunks_for(h.disk_size))
                return -ESTALE;
        size_t bytes = bitmap_bytes_for(h.nchunks);
        if ((uint64_t)st.st_size < RP_DISK_DIRTY_HEADER_SIZE + (uint64_t)bytes)
                return -ESTALE;
        _cleanup_free_ uint8_t *bitmap = rp_calloc(bytes, 1);
        if (!bitmap)
                return -ENOMEM;
        r = rp_pread_full(fd, bitmap, bytes, RP_DISK_DIRTY_HEADER_SIZE);
        if (r < 0)
                return r;
        if (h.nchunks % 8 != 0) /* bits past the last chunk mean nothing */
                bitmap[bytes - 1] &= (uint8_t)((1u << (h.nchunks % 8)) - 1);
        img->size = h.disk_size;
        img->nchunks = h.nchunks;
        img->bitmap_bytes = bytes;
        img->ndirty = rp_disk__popcount(bitmap, bytes);
        img->bitmap = TAKE_PTR(bitmap);
        return 0;
}

static bool bits_all_set(rp_disk_image *img, uint64_t first, uint64_t last)
{
        for (uint64_t c = first; c <= last; c++) {
                uint8_t b = __atomic_load_n(&img->bitmap[c / 8], __ATOMIC_ACQUIRE);
                if (!(b & (1u << (c % 8))))
                        return false;
        }
        return true;
}

/* Make chunks [first, last] dirty on disk, then in memory. Caller holds img->lock. */
static int dirty_mark_locked(rp_disk_image *img, uint64_t first, uint64_t last)
{
        bool stale = __atomic_load_n(&img->map_stale, __ATOMIC_RELAXED);
        if (!stale && bits_all_set(img, first, last))
                return 0;

        /* The bytes to write: the whole map if the file may be behind, else the changed span. */
        size_t b0 = stale ? 0 : (size_t)(first / 8);
        size_t b1 = stale ? img->bitmap_bytes - 1 : (size_t)(last / 8);
        size_t n = b1 - b0 + 1;
        _cleanup_free_ uint8_t *scratch = rp_malloc(n);
        if (!scratch)
                return -ENOMEM;
        memcpy(scratch, img->bitmap + b0, n); /* only lock holders change the bitmap */
        for (uint64_t c = first; c <= last; c++)
                scratch[c / 8 - b0] |= (uint8_t)(1u << (c % 8));

        /* The file keeps the bits of an active capture's cut (see disk_capture.c). */
        int r = rp_disk__map_write(img, scratch, b0, n);
        if (r < 0)
                return r;

        /* Durable: publish the bits, so that writers of these chunks may skip the map. */
        for (uint64_t c = first; c <= last; c++) {
                uint8_t bit = (uint8_t)(1u << (c % 8));
                if (img->bitmap[c / 8] & bit)
                        continue;
                img->ndirty++;
                __atomic_fetch_or(&img->bitmap[c / 8], bit, __ATOMIC_RELEASE);
        }
        if (stale)
                __atomic_store_n(&img->map_stale, false, __ATOMIC_RELEASE);
        return 0;
}

int rp_disk__map_write(rp_disk_image *img, uint8_t *bytes, size_t b0, size_t n)
{
        for (size_t i = b0; i < b0 + n && i < img->cut_bytes; i++)
                bytes[i - b0] |= img->cut_bits[i];
        int r = rp_pwrite_all(img->dirty_fd, bytes, n, (off_t)(RP_DISK_DIRTY_HEADER_SIZE + b0));
        if (r == 0 && fdatasync(img->dirty_fd) < 0)
                r = -errno;
        if (r < 0)
                /* A failed fdatasync may have dropped pages written earlier, too. */
                __atomic_store_n(&img->map_stale, true, __ATOMIC_RELEASE);
        return r;
}

/* Make the chunks under [off, off + len) dirty, durably. Caller holds writes shared. */
static int dirty_mark(rp_disk_image *img, uint64_t off, uint64_t len)
{
        uint64_t first = off / RP_CHUNK_SIZE, last = (off + len - 1) / RP_CHUNK_SIZE;
        if (!__atomic_load_n(&img->map_stale, __ATOMIC_ACQUIRE) && bits_all_set(img, first, last))
                return 0;
        pthread_mutex_lock(&img->lock);
        int r = dirty_mark_locked(img, first, last);
        pthread_mutex_unlock(&img->lock);
        return r;
}

/* Grow the disk from img->size to @p new_size. Caller holds img->lock and writes exclusively.
 * Crash-safe order: the map file grows first (new bits zero, old partial tail chunk dirty),
 * then the image, then the header records the new size. An open that finds the image larger
 * than the header redoes this (see image_load). */
static int resize_locked(rp_disk_image *img, uint64_t new_size)
{
        uint64_t old_size = img->size, new_nchunks = nchunks_for(new_size);
        size_t old_bytes = img->bitmap_bytes, new_bytes = bitmap_bytes_for(new_nchunks);

        uint8_t *bitmap = rp_realloc(img->bitmap, new_bytes);
        if (!bitmap)
                return -ENOMEM;
        memset(bitmap + old_bytes, 0, new_bytes - old_bytes);
        img->bitmap = bitmap; /* bitmap_bytes stays old until the end: spare zeros are harmless */

        /* Drop whatever an interrupted resize left past the old map, then extend with zeros. */
        if (ftruncate(img->dirty_fd, (off_t)(RP_DISK_DIRTY_HEADER_SIZE + old_bytes)) < 0 ||
            ftruncate(img->dirty_fd, (off_t)(RP_DISK_DIRTY_HEADER_SIZE + new_bytes)) < 0)
                return -errno;
        int r;
        if (old_size % RP_CHUNK_SIZE != 0)
                /* The old last chunk now extends past the old end: it changed. */
                r = dirty_mark_locked(img, img->nchunks - 1, img->nchunks - 1);
        else
                r = fdatasync(img->dirty_fd) < 0 ? -errno : 0;
        if (r < 0)
                return r;

        struct stat st;
        if (fstat(img->fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size != new_size && ftruncate(img->fd, (off_t)new_size) < 0)
                return -errno;
        if (fsync(img->fd) < 0)
                return -errno;

        r = map_write_header(img, new_size);
        if (r < 0)
                return r;
        img->nchunks = new_nchunks;
        img->bitmap_bytes = new_bytes;
        __atomic_store_n(&img->size, new_size, __ATOMIC_RELEASE);
        return 0;
}

/* Load or rebuild the map of a new object whose image is @p file_size bytes long. */
static int image_load(rp_disk_image *img, uint64_t file_size)
{
        int r, fd = open(img->dirty_path, O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
                return -errno;
        if (fd < 0) {
                r = -ESTALE;
        } else {
                img->dirty_fd = fd;
                r = map_load(img, fd, file_size);
        }
        if (r == -ESTALE)
                return map_rebuild(img, file_size);
        if (r < 0)
                return r;
        if (img->size < file_size) {
                /* A resize was cut short by a crash after the image grew. */
                log_debug("disk: completing the resize of '%s' to %llu bytes", img->path,
                          (unsigned long long)file_size);
                return resize_locked(img, file_size);
        }
        return 0;
}

static int image_new(const char *path, int fd, const struct stat *st, rp_disk_image **ret)
{
        _cleanup_(image_freep) rp_disk_image *img = rp_calloc(1, sizeof *img);
        if (!img) {
                (void)close(fd);
                return -ENOMEM;
        }
        img->fd = fd;
        img->dirty_fd = -1;
        img->n_ref = 1;
        img->dev = st->st_dev;
        img->ino = st->st_ino;
        img->mode = st->st_mode & 0777;

        pthread_rwlockattr_t attr;
        pthread_rwlockattr_init(&attr);
        /* A waiting hold (the restore point cut) must not starve behind a stream of writes. */
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        int r = pthread_rwlock_init(&img->hold, &attr);
        pthread_rwlockattr_destroy(&attr);
        if (r != 0) {
                img = rp_free(img); /* nothing else to undo yet */
                (void)close(fd);
                return -r;
        }
        pthread_mutex_init(&img->lock, NULL);

        img->path = rp_strdup(path);
        img->dirty_path = rp_asprintf("%s%s", path, RP_DISK_DIRTY_SUFFIX);
        if (!img->path || !img->dirty_path)
                return -ENOMEM;
        r = image_load(img, (uint64_t)st->st_size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}

int rp_disk_image_open(const char *path, rp_disk_image **ret)
{
        struct stat st;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size == 0 || st.st_size % RP_SECTOR_SIZE != 0)
                return -EBADMSG;

        pthread_mutex_lock(&registry_lock);
        for (rp_disk_image *i = registry_head; i; i = i->next)
                if (i->dev == st.st_dev && i->ino == st.st_ino) {
                        i->n_ref++;
                        pthread_mutex_unlock(&registry_lock);
                        *ret = i;
                        return 0;
                }
        /* Removed between our open() and the lock: do not resurrect its map. */
        int r = fstat(fd, &st) < 0 ? -errno : 0;
        if (r == 0 && st.st_nlink == 0)
                r = -ENOENT;
        rp_disk_image *img = NULL;
        if (r == 0)
                r = image_new(path, TAKE_FD(fd), &st, &img);
        if (r == 0) {
                img->in_registry = true;
                img->next = registry_head;
                if (registry_head)
                        registry_head->prev = img;
                registry_head = img;
        }
        pthread_mutex_unlock(&registry_lock);
        if (r < 0)
                return r;
        *ret = img;
        return 0;
}

rp_disk_image *rp_disk_image_ref(rp_disk_image *img)
{
        pthread_mutex_lock(&registry_lock);
        assert(img->n_ref > 0);
        img->n_ref++;
        pthread_mutex_unlock(&registry_lock);
        return img;
}

rp_disk_image *rp_disk_image_unref(rp_disk_image *img)
{
        if (!img)
                return NULL;
        pthread_mutex_lock(&registry_lock);
        assert(img->n_ref > 0);
        bool last = --img->n_ref == 0;
        if (last && img->in_registry)
                registry_unlink(img);
        pthread_mutex_unlock(&registry_lock);
        if (last)
                image_free(img);
        return NULL;
}

void rp_disk_image__registry_drop_all(void)
{
        pthread_mutex_lock(&registry_lock);
        while (registry_head)
                registry_unlink(registry_head);
        pthread_mutex_unlock(&registry_lock);
}

/* ---------------------------------------------------------------------------------------------
 * Create, copy, remove
 */

/* Move a finished temp image and its temp map into place, under the registry lock so that a
 * racing open sees both or neither. The image must not exist: -EEXIST. */
static int publish(const char *tmp_image, const char *tmp_map, const char *path)
{
        _cleanup_free_ char *map_path = rp_asprintf("%s%s", path, RP_DISK_DIRTY_SUFFIX);
        if (!map_path)
                return -ENOMEM;
        int r = 0;
        pthread_mutex_lock(&registry_lock);
        if (renameat2(AT_FDCWD, tmp_image, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EINVAL || r == -ENOSYS) {
                        /* The file system cannot rename without replacing; link can. */
                        r = link(tmp_image, path) < 0 ? -errno : 0;
                        if (r == 0)
                                (void)unlink(tmp_image);
                }
        }
        /* A crash right here leaves the image with no map or a stale one: open rebuilds it
         * from the allocation, which gives the same map for a new or copied image. */
        if (r == 0 && rename(tmp_map, map_path) < 0)
                r = -errno;
        pthread_mutex_unlock(&registry_lock);
        if (r < 0)
                return r;
        return rp_fsync_parent(path);
}

static int check_absent(const char *path)
{
        struct stat st;
        if (lstat(path, &st) == 0)
                return -EEXIST;
        return errno == ENOENT ? 0 : -errno;
}

int rp_disk_image_create(const char *path, uint64_t size_bytes, mode_t mode)
{
        struct stat st;
        if (size_bytes == 0 || size_bytes % RP_SECTOR_SIZE != 0 || size_bytes > RP_MAX_DISK_BYTES)
                return -EINVAL;
        int r = check_absent(path);
        if (r < 0)
                return r;
        _cleanup_free_ char *tmp = tmp_name(path);
        _cleanup_free_ char *tmp_map = tmp_name(path);
        if (!tmp || !tmp_map)
                return -ENOMEM;

        _cleanup_close_ int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)size_bytes) < 0 || fsync(fd) < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                goto fail;
        }
        dirty_header h;
        header_init(&h, size_bytes, (uint64_t)st.st_ino);
        r = map_file_write(tmp_map, &h, NULL, mode);
        if (r < 0)
                goto fail;
        r = publish(tmp, tmp_map, path);
        if (r < 0)
                goto fail;
        return 0;
fail:
        (void)unlink(tmp);
        (void)unlink(tmp_map);
        return r;
}

int rp_disk_image_remove(const char *path)
{
        _cleanup_free_ char *map_path = rp_asprintf("%s%s", path, RP_DISK_DIRTY_SUFFIX);
        if (!map_path)
                return -ENOMEM;
        pthread_mutex_lock(&registry_lock);
        int r = unlink(path) < 0 ? -errno : 0;
        /* The map goes too even when the image is already gone (a crash between the two). */
        int q = unlink(map_path) < 0 ? -errno : 0;
        pthread_mutex_unlock(&registry_lock);
        if (r < 0 && r != -ENOENT)
                return r;
        if (q < 0 && q != -ENOENT)
                return q;
        int s = rp_fsync_parent(path);
        if (r < 0)
                return r;
        return s;
}

typedef struct copy_ctx {
        int src, dst;
        uint8_t *bitmap;
        uint8_t *buf; /* the read/write fallback's buffer, allocated on first use */
        bool no_cfr;  /* copy_file_range does not work between these files */
} copy_ctx;

static int copy_rw(copy_ctx *c, uint64_t pos, uint64_t end)
{
        if (!c->buf) {
                c->buf = rp_malloc(DISK_COPY_BUF);
                if (!c->buf)
                        return -ENOMEM;
        }
        while (pos < end) {
                size_t n = (size_t)RP_MIN((uint64_t)DISK_COPY_BUF, end - pos);
                int r = rp_pread_full(c->src, c->buf, n, (off_t)pos);
                if (r < 0)
                        return r;
                r = rp_pwrite_all(c->dst, c->buf, n, (off_t)pos);
                if (r < 0)
                        return r;
                pos += n;
        }
        return 0;
}

static int copy_extent_cb(uint64_t start, uint64_t end, void *userdata)
{
        copy_ctx *c = userdata;
        uint64_t pos = start;
        bitmap_mark_range(c->bitmap, start, end);
        while (pos < end && !c->no_cfr) {
                loff_t in = (loff_t)pos, out = (loff_t)pos;
                ssize_t n = copy_file_range(c->src, &in, c->dst, &out, (size_t)(end - pos), 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP &&
                            errno != EINVAL)
                                return -errno;
                        c->no_cfr = true;
                        break;
                }
                if (n == 0) /* the source shrank under us */
                        return -EIO;
                pos += (uint64_t)n;
        }
        return pos < end ? copy_rw(c, pos, end) : 0;
}

int rp_disk_image_copy(const char *src_path, const char *dst_path)
{
        struct stat st, dst_st;
        _cleanup_close_ int src = open(src_path, O_RDONLY | O_CLOEXEC);
        if (src < 0)
                return -errno;
        if (fstat(src, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size == 0 || st.st_size % RP_SECTOR_SIZE != 0)
                return -EBADMSG;
        uint64_t size = (uint64_t)st.st_size;
        mode_t mode = st.st_mode & 0777;
        int r = check_absent(dst_path);
        if (r < 0)
                return r;
        _cleanup_free_ char *tmp = tmp_name(dst_path);
        _cleanup_free_ char *tmp_map = tmp_name(dst_path);
        if (!tmp || !tmp_map)
                return -ENOMEM;
        _cleanup_free_ uint8_t *bitmap = rp_calloc(bitmap_bytes_for(nchunks_for(size)), 1);
        if (!bitmap)
                return -ENOMEM;

        _cleanup_close_ int dst = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (dst < 0)
                return -errno;
        copy_ctx c = { .src = src, .dst = dst, .bitmap = bitmap };
        if (ftruncate(dst, (off_t)size) < 0) {
                r = -errno;
                goto fail;
        }
        r = foreach_data_extent(src, size, copy_extent_cb, &c);
        c.buf = rp_free(c.buf);
        if (r < 0)
                goto fail;
        if (fsync(dst) < 0 || fstat(dst, &dst_st) < 0) {
                r = -errno;
                goto fail;
        }
        dirty_header h;
        header_init(&h, size, (uint64_t)dst_st.st_ino);
        r = map_file_write(tmp_map, &h, bitmap, mode);
        if (r < 0)
                goto fail;
        r = publish(tmp, tmp_map, dst_path);
        if (r < 0)
                goto fail;
        return 0;
fail:
        (void)unlink(tmp);
        (void)unlink(tmp_map);
        return r;
}

/* ---------------------------------------------------------------------------------------------
 * I/O
 */

const char *rp_disk_image_path(rp_disk_image *img)
{
        return img->path;
}

uint64_t rp_disk_image_size(rp_disk_image *img)
{
        return __atomic_load_n(&img->size, __ATOMIC_ACQUIRE);
}

static bool range_ok(uint64_t size, uint64_t off, uint64_t len)
{
        return off <= size && len <= size - off;
}

static bool is_zero(const void *data, size_t len)
{
        const uint8_t *p = data;
        if (len < 16) {
                for (size_t i = 0; i < len; i++)
                        if (p[i])
                                return false;
                return true;
        }
        for (size_t i = 0; i < 16; i++)
                if (p[i])
                        return false;
        /* p[i] == p[i + 16] for all i, and the first 16 are zero. */
        return memcmp(p, p + 16, len - 16) == 0;
}

/* Zero [off, off + len) by punching a hole; where the file system cannot, write zeros. */
static int punch_or_zero(int fd, uint64_t off, uint64_t len)
{
        if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
                return 0;
        if (errno != EOPNOTSUPP && errno != ENOSYS)
                return -errno;
        _cleanup_free_ uint8_t *zeros = rp_calloc(DISK_COPY_BUF, 1);
        if (!zeros)
                return -ENOMEM;
        while (len > 0) {
                size_t n = (size_t)RP_MIN((uint64_t)DISK_COPY_BUF, len);
                int r = rp_pwrite_all(fd, zeros, n, (off_t)off);
                if (r < 0)
                        return r;
                off += n;
                len -= n;
        }
        return 0;
}

/* Write @p data; an all-zero buffer becomes a hole over the whole blocks it covers. */
static int image_pwrite(rp_disk_image *img, uint64_t off, const void *data, size_t len)
{
        const uint8_t *p = data;
        uint64_t end = off + len;
        uint64_t a = (off + DISK_PUNCH_BLOCK - 1) / DISK_PUNCH_BLOCK * DISK_PUNCH_BLOCK;
        uint64_t b = end / DISK_PUNCH_BLOCK * DISK_PUNCH_BLOCK;
        if (b <= a || !is_zero(data, len))
                return rp_pwrite_all(img->fd, data, len, (off_t)off);
        int r = 0;
        if (a > off)
                r = rp_pwrite_all(img->fd, p, (size_t)(a - off), (off_t)off);
        if (r == 0)
                r = punch_or_zero(img->fd, a, b - a);
        if (r == 0 && end > b)
                r = rp_pwrite_all(img->fd, p + (b - off), (size_t)(end - b), (off_t)b);
        return r;
}

/* Common frame of write and clear: alignment, hold shared, range, dirty bits, op, fdatasync.
 * The shared hold covers the fdatasync too, so a cut never sees an unacknowledged write. */
static int image_modify(rp_disk_image *img, uint64_t off, uint64_t len, const void *data,
                        bool sync)
{
        if (off % RP_SECTOR_SIZE != 0 || len % RP_SECTOR_SIZE != 0)
                return -EINVAL;
        int r = pthread_rwlock_rdlock(&img->hold);
        if (r != 0)
                return -r;
        if (!range_ok(img->size, off, len))
                r = -ERANGE;
        else if (len > 0)
                r = dirty_mark(img, off, len);
        if (r == 0 && len > 0 && img->cap)
                /* Copy-before-write: the capture's point-in-time bytes leave first. */
                rp_disk__capture_preserve(img->cap, off, len);
        if (r == 0 && len > 0)
                r = data ? image_pwrite(img, off, data, (size_t)len)
                         : punch_or_zero(img->fd, off, len);
        if (r == 0 && len > 0 && sync && fdatasync(img->fd) < 0)
                r = -errno;
        pthread_rwlock_unlock(&img->hold);
        return r;
}

int rp_disk_image_write(rp_disk_image *img, uint64_t off, const void *data, size_t len)
{
        return image_modify(img, off, len, data, true);
}

int rp_disk_image_write_nosync(rp_disk_image *img, uint64_t off, const void *data, size_t len)
{
        return image_modify(img, off, len, data, false);
}

int rp_disk_image_mark_dirty(rp_disk_image *img, uint64_t off, uint64_t len)
{
        if (off % RP_SECTOR_SIZE != 0 || len % RP_SECTOR_SIZE != 0)
                return -EINVAL;
        int r = pthread_rwlock_rdlock(&img->hold);
        if (r != 0)
                return -r;
        if (!range_ok(img->size, off, len))
                r = -ERANGE;
        else if (len > 0)
                r = dirty_mark(img, off, len);
        pthread_rwlock_unlock(&img->hold);
        return r;
}

int rp_disk_image_start_writeback(rp_disk_image *img, uint64_t off, uint64_t len)
{
        /* Only starts writeback of dirty pages; durability still needs rp_disk_image_sync(). */
        if (sync_file_range(img->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE) < 0)
                return -errno;
        return 0;
}

int rp_disk_image_sync(rp_disk_image *img)
{
        return fdatasync(img->fd) < 0 ? -errno : 0;
}

int rp_disk_image_clear(rp_disk_image *img, uint64_t off, uint64_t len)
{
        return image_modify(img, off, len, NULL, true);
}

int rp_disk_image_read(rp_disk_image *img, uint64_t off, void *buf, size_t len)
{
        if (!range_ok(rp_disk_image_size(img), off, len))
                return -ERANGE;
        return rp_pread_full(img->fd, buf, len, (off_t)off);
}

int rp_disk_image_allocated(rp_disk_image *img, uint64_t *ret_bytes)
{
        struct stat st;
        if (fstat(img->fd, &st) < 0)
                return -errno;
        *ret_bytes = (uint64_t)st.st_blocks * 512u;
        return 0;
}

int rp_disk_image_resize(rp_disk_image *img, uint64_t new_size)
{
        bool own;
        if (new_size % RP_SECTOR_SIZE != 0 || new_size > RP_MAX_DISK_BYTES)
                return -EINVAL;
        int r = rp_disk__hold_if_needed(img, &own);
        if (r < 0)
                return r;
        pthread_mutex_lock(&img->lock);
        if (new_size < img->size)
                r = -EINVAL;
        else if (new_size > img->size)
                r = resize_locked(img, new_size);
        pthread_mutex_unlock(&img->lock);
        if (own)
                rp_disk_image_release(img);
        return r;
}

/* ---------------------------------------------------------------------------------------------
 * Dirty map API and holds
 */

static int snapshot_locked(rp_disk_image *img, uint8_t **ret_bitmap, uint64_t *ret_nchunks)
{
        size_t bytes = img->bitmap_bytes;
        if (img->cap)
                return -EBUSY; /* the capture owns the cut; it would lose its bits */
        _cleanup_free_ uint8_t *copy = rp_malloc(bytes);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, img->bitmap, bytes);
        if (img->ndirty > 0 || __atomic_load_n(&img->map_stale, __ATOMIC_RELAXED)) {
                _cleanup_free_ uint8_t *zeros = rp_calloc(bytes, 1);
                if (!zeros)
                        return -ENOMEM;
                int r = rp_pwrite_all(img->dirty_fd, zeros, bytes, RP_DISK_DIRTY_HEADER_SIZE);
                if (r == 0 && fdatasync(img->dirty_fd) < 0)
                        r = -errno;
                if (r < 0) {
                        /* The file may now lack bits memory still has. */
                        __atomic_store_n(&img->map_stale, true, __ATOMIC_RELEASE);
                        return r;
                }
        }
        /* Writes are held: nobody reads the bitmap without the lock right now. */
        memset(img->bitmap, 0, bytes);
        img->ndirty = 0;
        __atomic_store_n(&img->map_stale, false, __ATOMIC_RELEASE);
        *ret_bitmap = TAKE_PTR(copy);
        *ret_nchunks = img->nchunks;
        return 0;
}

int rp_disk_image_dirty_snapshot(rp_disk_image *img, uint8_t **ret_bitmap, uint64_t *ret_nchunks)
{
        bool own;
        int r = rp_disk__hold_if_needed(img, &own);
        if (r < 0)
                return r;
        pthread_mutex_lock(&img->lock);
        r = snapshot_locked(img, ret_bitmap, ret_nchunks);
        pthread_mutex_unlock(&img->lock);
        if (own)
                rp_disk_image_release(img);
        return r;
}

uint64_t rp_disk_image_dirty_count(rp_disk_image *img)
{
        pthread_mutex_lock(&img->lock);
        uint64_t n = img->ndirty;
        pthread_mutex_unlock(&img->lock);
        return n;
}

bool rp_disk_image_chunk_is_dirty(rp_disk_image *img, uint64_t chunk)
{
        bool dirty = false;
        pthread_mutex_lock(&img->lock);
        if (chunk < img->nchunks)
                dirty = img->bitmap[chunk / 8] & (1u << (chunk % 8));
        pthread_mutex_unlock(&img->lock);
        return dirty;
}

int rp_disk_image_hold(rp_disk_image *img)
{
        if (rp_disk__held_by_me(img))
                return -EDEADLK;
        int r = pthread_rwlock_wrlock(&img->hold);
        if (r != 0)
                return -r;
        __atomic_store_n(&img->holder, pthread_self(), __ATOMIC_RELAXED);
        __atomic_store_n(&img->held, true, __ATOMIC_RELEASE);
        return 0;
}

void rp_disk_image_release(rp_disk_image *img)
{
        assert(rp_disk__held_by_me(img));
        if (!rp_disk__held_by_me(img))
                return;
        __atomic_store_n(&img->held, false, __ATOMIC_RELEASE);
        pthread_rwlock_unlock(&img->hold);
}
