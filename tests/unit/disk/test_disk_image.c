/* test_disk_image.c: managed disk images and their dirty map. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "disk/disk_image.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"
#include "util/time.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)
#define CHUNK ((uint64_t)RP_CHUNK_SIZE)

typedef struct fixture {
        char dir[64];
} fixture;

static int setup(void **state)
{
        fixture *f = rp_calloc(1, sizeof *f);
        if (!f)
                return -1;
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/rpdiskXXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(f->dir)) {
                rp_free(f);
                return -1;
        }
        *state = f;
        return 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int teardown(void **state)
{
        fixture *f = *state;
        rp_disk_image__registry_drop_all();
        nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        rp_free(f);
        return 0;
}

/* A path inside the fixture's directory, to rp_free(). */
static char *tpath(void **state, const char *name)
{
        fixture *f = *state;
        char *p = rp_asprintf("%s/%s", f->dir, name);
        assert_non_null(p);
        return p;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
        for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 9));
}

static bool all_zero(const uint8_t *buf, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (buf[i])
                        return false;
        return true;
}

static uint64_t file_alloc(const char *path)
{
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        return (uint64_t)st.st_blocks * 512u;
}

static rp_disk_image *create_open(const char *path, uint64_t size)
{
        rp_disk_image *img = NULL;
        assert_int_equal(rp_disk_image_create(path, size, 0600), 0);
        assert_int_equal(rp_disk_image_open(path, &img), 0);
        return img;
}

static void test_disk_image__round_trip(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *data = rp_malloc(9 * 512);
        _cleanup_free_ uint8_t *back = rp_malloc(64 * 1024);
        assert_non_null(data);
        assert_non_null(back);
        fill(data, 9 * 512, 1);

        rp_disk_image *img = create_open(path, 8 * MiB);
        assert_int_equal(rp_disk_image_size(img), 8 * MiB);
        assert_string_equal(rp_disk_image_path(img), path);
        assert_int_equal(rp_disk_image_dirty_count(img), 0);
        assert_int_equal(rp_disk_image_write(img, 3 * 512, data, 9 * 512), 0);
        assert_int_equal(rp_disk_image_read(img, 3 * 512, back, 9 * 512), 0);
        assert_memory_equal(back, data, 9 * 512);
        /* Unaligned reads are fine; unwritten bytes read as zeros. */
        assert_int_equal(rp_disk_image_read(img, 3 * 512 + 7, back, 100), 0);
        assert_memory_equal(back, data + 7, 100);
        assert_int_equal(rp_disk_image_read(img, 4 * MiB, back, 64 * 1024), 0);
        assert_true(all_zero(back, 64 * 1024));
        img = rp_disk_image_unref(img);
        assert_null(img);

        assert_int_equal(rp_disk_image_open(path, &img), 0);
        assert_int_equal(rp_disk_image_read(img, 3 * 512, back, 9 * 512), 0);
        assert_memory_equal(back, data, 9 * 512);
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        rp_disk_image_unref(img);
        assert_null(rp_disk_image_unref(NULL));
}

static void test_disk_image__create_errors(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ char *nope = tpath(state, "nope.img");
        rp_disk_image *img = NULL;
        assert_int_equal(rp_disk_image_create(path, 0, 0600), -EINVAL);
        assert_int_equal(rp_disk_image_create(path, 1000, 0600), -EINVAL);
        assert_int_equal(rp_disk_image_create(path, RP_MAX_DISK_BYTES + 512, 0600), -EINVAL);
        assert_int_equal(rp_disk_image_create(path, MiB, 0600), 0);
        assert_int_equal(rp_disk_image_create(path, MiB, 0600), -EEXIST);
        assert_int_equal(rp_disk_image_open(nope, &img), -ENOENT);
        assert_null(img);
        /* No temp files are left behind. */
        fixture *f = *state;
        DIR *d = opendir(f->dir);
        assert_non_null(d);
        for (struct dirent *de = readdir(d); de; de = readdir(d))
                assert_null(strstr(de->d_name, ".tmp."));
        closedir(d);
}

static void test_disk_image__alignment_and_range(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        uint8_t buf[2048] = { 1 };
        rp_disk_image *img = create_open(path, MiB);
        assert_int_equal(rp_disk_image_write(img, 1, buf, 512), -EINVAL);
        assert_int_equal(rp_disk_image_write(img, 0, buf, 100), -EINVAL);
        assert_int_equal(rp_disk_image_write(img, MiB - 512, buf, 1024), -ERANGE);
        assert_int_equal(rp_disk_image_write(img, MiB, buf, 512), -ERANGE);
        assert_int_equal(rp_disk_image_write(img, UINT64_MAX - 511, buf, 1024), -ERANGE);
        assert_int_equal(rp_disk_image_write(img, MiB - 512, buf, 512), 0);
        assert_int_equal(rp_disk_image_write(img, 512, buf, 0), 0);
        assert_int_equal(rp_disk_image_read(img, MiB - 10, buf, 11), -ERANGE);
        assert_int_equal(rp_disk_image_read(img, UINT64_MAX, buf, 2), -ERANGE);
        assert_int_equal(rp_disk_image_read(img, MiB - 10, buf, 10), 0);
        assert_int_equal(rp_disk_image_clear(img, 100, 512), -EINVAL);
        assert_int_equal(rp_disk_image_clear(img, 0, 100), -EINVAL);
        assert_int_equal(rp_disk_image_clear(img, 512, MiB), -ERANGE);
        /* Only the one good write dirtied anything. */
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        assert_true(rp_disk_image_chunk_is_dirty(img, MiB / CHUNK - 1));
        assert_false(rp_disk_image_chunk_is_dirty(img, MiB / CHUNK));
        rp_disk_image_unref(img);
}

static void snapshot_discard(rp_disk_image *img)
{
        uint8_t *bm = NULL;
        uint64_t n = 0;
        assert_int_equal(rp_disk_image_dirty_snapshot(img, &bm, &n), 0);
        rp_free(bm);
        assert_int_equal(rp_disk_image_dirty_count(img), 0);
}

static void test_disk_image__clear_zeroes_and_dirties(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *data = rp_malloc(MiB);
        _cleanup_free_ uint8_t *back = rp_malloc(MiB);
        assert_non_null(data);
        assert_non_null(back);
        fill(data, MiB, 2);
        rp_disk_image *img = create_open(path, 4 * MiB);
        assert_int_equal(rp_disk_image_write(img, 0, data, MiB), 0);
        snapshot_discard(img);
        uint64_t before, after;
        assert_int_equal(rp_disk_image_allocated(img, &before), 0);
        assert_true(before >= MiB);

        /* Clear [512, 600 KiB): chunks 0..2 become dirty, chunk 3 does not. */
        assert_int_equal(rp_disk_image_clear(img, 512, 600 * 1024 - 512), 0);
        assert_int_equal(rp_disk_image_read(img, 0, back, MiB), 0);
        assert_memory_equal(back, data, 512);
        assert_true(all_zero(back + 512, 600 * 1024 - 512));
        assert_memory_equal(back + 600 * 1024, data + 600 * 1024, MiB - 600 * 1024);
        assert_int_equal(rp_disk_image_dirty_count(img), 3);
        assert_true(rp_disk_image_chunk_is_dirty(img, 2));
        assert_false(rp_disk_image_chunk_is_dirty(img, 3));
        assert_int_equal(rp_disk_image_allocated(img, &after), 0);
        assert_true(after < before);
        rp_disk_image_unref(img);
}

static void test_disk_image__zero_write_punches_hole(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *data = rp_malloc(MiB);
        _cleanup_free_ uint8_t *zeros = rp_calloc(MiB, 1);
        _cleanup_free_ uint8_t *back = rp_malloc(MiB);
        assert_non_null(data);
        assert_non_null(zeros);
        assert_non_null(back);
        fill(data, MiB, 3);
        rp_disk_image *img = create_open(path, 4 * MiB);
        assert_int_equal(rp_disk_image_write(img, 0, data, MiB), 0);
        snapshot_discard(img);
        /* Zeros over [512, MiB - 512): the 4 KiB blocks inside become a hole. */
        assert_int_equal(rp_disk_image_write(img, 512, zeros, MiB - 1024), 0);
        uint64_t alloc;
        assert_int_equal(rp_disk_image_allocated(img, &alloc), 0);
        assert_true(alloc <= 64 * 1024);
        assert_int_equal(rp_disk_image_read(img, 0, back, MiB), 0);
        assert_memory_equal(back, data, 512);
        assert_true(all_zero(back + 512, MiB - 1024));
        assert_memory_equal(back + MiB - 512, data + MiB - 512, 512);
        /* Writing zeros is a change like any other. */
        assert_int_equal(rp_disk_image_dirty_count(img), MiB / CHUNK);
        rp_disk_image_unref(img);
}

static void test_disk_image__sparse_1tib_and_fast_copy(void **state)
{
        _cleanup_free_ char *src = tpath(state, "big.img");
        _cleanup_free_ char *dst = tpath(state, "copy.img");
        _cleanup_free_ char *src_map = tpath(state, "big.img.dirty");
        uint8_t data[4096], back[4096];
        fill(data, sizeof data, 4);

        rp_disk_image *img = create_open(src, TiB);
        assert_true(file_alloc(src) <= 64 * 1024);
        assert_true(file_alloc(src_map) <= 64 * 1024);
        assert_int_equal(rp_disk_image_write(img, 512 * GiB, data, sizeof data), 0);
        assert_int_equal(rp_disk_image_write(img, TiB - 4096, data, sizeof data), 0);
        img = rp_disk_image_unref(img);

        rp_usec_t t0 = rp_now_monotonic();
        assert_int_equal(rp_disk_image_copy(src, dst), 0);
        rp_usec_t dt = rp_now_monotonic() - t0;
        assert_true(dt < 5 * RP_USEC_PER_SEC);
        assert_true(file_alloc(dst) <= 256 * 1024);

        assert_int_equal(rp_disk_image_open(dst, &img), 0);
        assert_int_equal(rp_disk_image_size(img), TiB);
        assert_int_equal(rp_disk_image_read(img, 512 * GiB, back, sizeof back), 0);
        assert_memory_equal(back, data, sizeof data);
        assert_int_equal(rp_disk_image_read(img, 100 * GiB, back, sizeof back), 0);
        assert_true(all_zero(back, sizeof back));
        /* A copy has no restore point yet: every chunk with data is dirty, holes are not. */
        assert_int_equal(rp_disk_image_dirty_count(img), 2);
        assert_true(rp_disk_image_chunk_is_dirty(img, 512 * GiB / CHUNK));
        assert_true(rp_disk_image_chunk_is_dirty(img, TiB / CHUNK - 1));
        rp_disk_image_unref(img);
        assert_int_equal(rp_disk_image_copy(src, dst), -EEXIST);
}

static void test_disk_image__copy_errors(void **state)
{
        _cleanup_free_ char *src = tpath(state, "a.img");
        _cleanup_free_ char *dst = tpath(state, "b.img");
        _cleanup_free_ char *nope = tpath(state, "nope.img");
        _cleanup_free_ char *odd = tpath(state, "odd.img");
        assert_int_equal(rp_disk_image_copy(nope, dst), -ENOENT);
        assert_int_equal(rp_write_file_atomic(odd, "abc", 3, 0600), 0);
        assert_int_equal(rp_disk_image_copy(odd, dst), -EBADMSG);
        assert_int_equal(rp_disk_image_create(src, MiB, 0600), 0);
        assert_int_equal(rp_disk_image_create(dst, MiB, 0600), 0);
        assert_int_equal(rp_disk_image_copy(src, dst), -EEXIST);
}

static void test_disk_image__dirty_persists_across_crash(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        uint8_t data[512] = { 7 };
        rp_disk_image *a = create_open(path, 16 * MiB);
        assert_int_equal(rp_disk_image_write(a, 0, data, sizeof data), 0);
        assert_int_equal(rp_disk_image_write(a, 5 * CHUNK + 512, data, sizeof data), 0);
        assert_int_equal(rp_disk_image_write(a, 10 * CHUNK - 512, data, sizeof data), 0);
        assert_int_equal(rp_disk_image_dirty_count(a), 3);

        /* "Crash": forget the object without closing it, and load again from disk. */
        rp_disk_image__registry_drop_all();
        rp_disk_image *b = NULL;
        assert_int_equal(rp_disk_image_open(path, &b), 0);
        assert_ptr_not_equal(a, b);
        assert_int_equal(rp_disk_image_dirty_count(b), 3);
        assert_true(rp_disk_image_chunk_is_dirty(b, 0));
        assert_true(rp_disk_image_chunk_is_dirty(b, 5));
        assert_true(rp_disk_image_chunk_is_dirty(b, 9));
        assert_false(rp_disk_image_chunk_is_dirty(b, 10));
        rp_disk_image_unref(a);
        rp_disk_image_unref(b);
}

static void test_disk_image__snapshot_returns_and_clears(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        uint8_t data[1024] = { 9 };
        uint8_t *bm = NULL;
        uint64_t n = 0;
        rp_disk_image *img = create_open(path, 20 * CHUNK + 512);
        assert_int_equal(rp_disk_image_write(img, 1 * CHUNK, data, sizeof data), 0);
        assert_int_equal(rp_disk_image_write(img, 3 * CHUNK, data, sizeof data), 0);
        assert_int_equal(rp_disk_image_write(img, 20 * CHUNK, data, 512), 0);
        assert_int_equal(rp_disk_image_dirty_snapshot(img, &bm, &n), 0);
        assert_int_equal(n, 21);
        assert_int_equal(bm[0], 0x0a);
        assert_int_equal(bm[1], 0x00);
        assert_int_equal(bm[2], 0x10);
        rp_free(bm);
        assert_int_equal(rp_disk_image_dirty_count(img), 0);

        /* The clear is on disk too. */
        rp_disk_image__registry_drop_all();
        rp_disk_image *again = NULL;
        assert_int_equal(rp_disk_image_open(path, &again), 0);
        assert_int_equal(rp_disk_image_dirty_count(again), 0);
        /* And writes after the cut dirty their chunk again, even with identical bytes. */
        assert_int_equal(rp_disk_image_write(again, 3 * CHUNK, data, sizeof data), 0);
        assert_int_equal(rp_disk_image_dirty_count(again), 1);
        assert_int_equal(rp_disk_image_dirty_snapshot(again, &bm, &n), 0);
        assert_int_equal(bm[0], 0x08);
        rp_free(bm);
        rp_disk_image_unref(again);
        rp_disk_image_unref(img);
}

static void test_disk_image__resize_grows_map(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        uint8_t data[512] = { 5 }, back[512];
        uint64_t old = 3 * CHUNK + 4 * 512, big = 10 * MiB;
        rp_disk_image *img = create_open(path, old);
        assert_int_equal(rp_disk_image_resize(img, old - 512), -EINVAL);
        assert_int_equal(rp_disk_image_resize(img, big + 1), -EINVAL);
        assert_int_equal(rp_disk_image_resize(img, RP_MAX_DISK_BYTES + 512), -EINVAL);
        assert_int_equal(rp_disk_image_resize(img, old), 0);
        assert_int_equal(rp_disk_image_write(img, big - 512, data, 512), -ERANGE);
        assert_int_equal(rp_disk_image_resize(img, big), 0);
        assert_int_equal(rp_disk_image_size(img), big);
        /* The old partial last chunk changed (it is longer now); the new range did not. */
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        assert_true(rp_disk_image_chunk_is_dirty(img, 3));
        assert_int_equal(rp_disk_image_write(img, big - 512, data, 512), 0);
        assert_true(rp_disk_image_chunk_is_dirty(img, big / CHUNK - 1));
        assert_int_equal(rp_disk_image_read(img, old, back, sizeof back), 0);
        assert_true(all_zero(back, sizeof back));

        rp_disk_image__registry_drop_all();
        rp_disk_image *again = NULL;
        assert_int_equal(rp_disk_image_open(path, &again), 0);
        assert_int_equal(rp_disk_image_size(again), big);
        assert_int_equal(rp_disk_image_dirty_count(again), 2);
        assert_true(rp_disk_image_chunk_is_dirty(again, big / CHUNK - 1));
        assert_int_equal(rp_disk_image_read(again, big - 512, back, sizeof back), 0);
        assert_memory_equal(back, data, sizeof data);
        rp_disk_image_unref(again);
        rp_disk_image_unref(img);
}

static void test_disk_image__interrupted_resize_completes_on_open(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        rp_disk_image *img = create_open(path, CHUNK + 512);
        img = rp_disk_image_unref(img);
        /* A crash after the image grew but before the map header said so. */
        assert_int_equal(truncate(path, (off_t)(4 * CHUNK)), 0);
        assert_int_equal(rp_disk_image_open(path, &img), 0);
        assert_int_equal(rp_disk_image_size(img), 4 * CHUNK);
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        assert_true(rp_disk_image_chunk_is_dirty(img, 1));
        rp_disk_image_unref(img);
}

static void test_disk_image__missing_or_stale_map_rebuilt(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ char *map = tpath(state, "d.img.dirty");
        _cleanup_free_ char *other = tpath(state, "o.img");
        _cleanup_free_ char *other_map = tpath(state, "o.img.dirty");
        uint8_t data[4096];
        fill(data, sizeof data, 6);
        rp_disk_image *img = create_open(path, 4 * MiB);
        assert_int_equal(rp_disk_image_write(img, 2 * CHUNK, data, sizeof data), 0);
        snapshot_discard(img);
        img = rp_disk_image_unref(img);

        /* Missing: every chunk holding data is dirty again (safe, if pessimistic). */
        assert_int_equal(unlink(map), 0);
        assert_int_equal(rp_disk_image_open(path, &img), 0);
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        assert_true(rp_disk_image_chunk_is_dirty(img, 2));
        snapshot_discard(img);
        img = rp_disk_image_unref(img);

        /* Stale: the map of another image (another inode) put in its place. */
        assert_int_equal(rp_disk_image_create(other, 4 * MiB, 0600), 0);
        assert_int_equal(rename(other_map, map), 0);
        assert_int_equal(rp_disk_image_open(path, &img), 0);
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        img = rp_disk_image_unref(img);

        /* Torn header: checksum mismatch. */
        int fd = open(map, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "\xff", 1, 30), 1);
        close(fd);
        assert_int_equal(rp_disk_image_open(path, &img), 0);
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        img = rp_disk_image_unref(img);

        /* Not our format: refused rather than overwritten. */
        fd = open(map, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "RPDIRTY9", 8, 0), 8);
        close(fd);
        assert_int_equal(rp_disk_image_open(path, &img), -EBADMSG);
        assert_null(img);
}

static void test_disk_image__registry_shares_object(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ char *alias = rp_asprintf("%s/./d.img", f->dir);
        uint8_t data[512] = { 1 }, back[512];
        rp_disk_image *a = create_open(path, MiB), *b = NULL, *c = NULL;
        assert_int_equal(rp_disk_image_open(alias, &b), 0);
        assert_ptr_equal(a, b);
        assert_ptr_equal(rp_disk_image_ref(a), a);
        rp_disk_image_unref(a);
        rp_disk_image_unref(b);

        /* Removed while open: the reference still works on the old file, and a new disk at
         * the same path is a new object. */
        assert_int_equal(rp_disk_image_write(a, 0, data, sizeof data), 0);
        assert_int_equal(rp_disk_image_remove(path), 0);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(rp_disk_image_remove(path), -ENOENT);
        assert_int_equal(rp_disk_image_open(path, &c), -ENOENT);
        assert_int_equal(rp_disk_image_read(a, 0, back, sizeof back), 0);
        assert_memory_equal(back, data, sizeof data);
        c = create_open(path, MiB);
        assert_ptr_not_equal(a, c);
        assert_int_equal(rp_disk_image_read(c, 0, back, sizeof back), 0);
        assert_true(all_zero(back, sizeof back));
        assert_int_equal(rp_disk_image_dirty_count(c), 0);
        rp_disk_image_unref(c);
        rp_disk_image_unref(a);
}

typedef struct writer_arg {
        rp_disk_image *img;
        unsigned id;
        int result;
        bool done;
} writer_arg;

#define NTHREADS 4
#define PER_THREAD 16
#define WRITE_LEN (64u * 1024u)

static void *writer_thread(void *userdata)
{
        writer_arg *w = userdata;
        uint8_t *buf = rp_malloc(WRITE_LEN);
        w->result = buf ? 0 : -ENOMEM;
        for (unsigned i = 0; i < PER_THREAD && w->result == 0; i++) {
                uint64_t chunk = (uint64_t)i * NTHREADS + w->id;
                for (uint64_t off = 0; off < CHUNK && w->result == 0; off += WRITE_LEN) {
                        fill(buf, WRITE_LEN, (unsigned)(chunk * 100 + off / WRITE_LEN));
                        w->result = rp_disk_image_write(w->img, chunk * CHUNK * 2 + off, buf,
                                                        WRITE_LEN);
                }
        }
        rp_free(buf);
        __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
        return NULL;
}

static void test_disk_image__concurrent_writes(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        /* Thread t writes chunks 2k (k = i * 4 + t), whole; odd chunks stay untouched. */
        uint64_t nchunks = 2 * NTHREADS * PER_THREAD;
        rp_disk_image *img = create_open(path, nchunks * CHUNK);
        pthread_t th[NTHREADS];
        writer_arg args[NTHREADS];
        for (unsigned t = 0; t < NTHREADS; t++) {
                args[t] = (writer_arg){ .img = img, .id = t };
                assert_int_equal(pthread_create(&th[t], NULL, writer_thread, &args[t]), 0);
        }
        for (unsigned t = 0; t < NTHREADS; t++) {
                assert_int_equal(pthread_join(th[t], NULL), 0);
                assert_int_equal(args[t].result, 0);
        }
        _cleanup_free_ uint8_t *want = rp_malloc(WRITE_LEN);
        _cleanup_free_ uint8_t *back = rp_malloc(WRITE_LEN);
        assert_non_null(want);
        assert_non_null(back);
        for (uint64_t k = 0; k < NTHREADS * PER_THREAD; k++)
                for (uint64_t off = 0; off < CHUNK; off += WRITE_LEN) {
                        fill(want, WRITE_LEN, (unsigned)(k * 100 + off / WRITE_LEN));
                        assert_int_equal(
                                rp_disk_image_read(img, k * 2 * CHUNK + off, back, WRITE_LEN), 0);
                        assert_memory_equal(back, want, WRITE_LEN);
                }
        assert_int_equal(rp_disk_image_dirty_count(img), NTHREADS * PER_THREAD);
        for (uint64_t c = 0; c < nchunks; c++)
                assert_int_equal(rp_disk_image_chunk_is_dirty(img, c), c % 2 == 0);

        /* And the same bits are on disk. */
        rp_disk_image__registry_drop_all();
        rp_disk_image *again = NULL;
        assert_int_equal(rp_disk_image_open(path, &again), 0);
        for (uint64_t c = 0; c < nchunks; c++)
                assert_int_equal(rp_disk_image_chunk_is_dirty(again, c), c % 2 == 0);
        rp_disk_image_unref(again);
        rp_disk_image_unref(img);
}

static void *one_write_thread(void *userdata)
{
        writer_arg *w = userdata;
        uint8_t buf[512] = { 3 };
        w->result = rp_disk_image_write(w->img, CHUNK, buf, sizeof buf);
        __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
        return NULL;
}

static void test_disk_image__hold_blocks_writers(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        uint8_t buf[512] = { 1 };
        uint8_t *bm = NULL;
        uint64_t n;
        rp_disk_image *img = create_open(path, MiB);
        assert_int_equal(rp_disk_image_write(img, 0, buf, sizeof buf), 0);

        assert_int_equal(rp_disk_image_hold(img), 0);
        assert_int_equal(rp_disk_image_hold(img), -EDEADLK);
        assert_int_equal(rp_disk_image_write(img, 0, buf, sizeof buf), -EDEADLK);
        writer_arg w = { .img = img };
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, one_write_thread, &w), 0);
        usleep(200 * 1000);
        assert_false(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
        /* Reads go on, and the cut happens under the caller's hold. */
        assert_int_equal(rp_disk_image_read(img, 0, buf, sizeof buf), 0);
        assert_int_equal(rp_disk_image_dirty_snapshot(img, &bm, &n), 0);
        assert_int_equal(bm[0], 0x01);
        rp_free(bm);
        assert_int_equal(rp_disk_image_resize(img, 2 * MiB), 0);
        rp_disk_image_release(img);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_true(w.done);
        assert_int_equal(w.result, 0);
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        assert_true(rp_disk_image_chunk_is_dirty(img, 1));
        rp_disk_image_unref(img);
}

static void test_disk_image__oom_no_crash_no_leak(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ char *copy = tpath(state, "c.img");
        uint8_t data[4096] = { 1 };
        unsigned long n;
        for (n = 1; n < 200; n++) {
                (void)rp_disk_image_remove(path);
                (void)rp_disk_image_remove(copy);
                rp_disk_image__registry_drop_all();
                rp_alloc_fail_at(n);
                rp_disk_image *img = NULL;
                uint8_t *bm = NULL;
                uint64_t nc;
                int r = rp_disk_image_create(path, 4 * MiB, 0600);
                if (r == 0)
                        r = rp_disk_image_open(path, &img);
                if (r == 0)
                        r = rp_disk_image_write(img, CHUNK, data, sizeof data);
                if (r == 0)
                        r = rp_disk_image_dirty_snapshot(img, &bm, &nc);
                rp_free(bm);
                if (r == 0)
                        r = rp_disk_image_resize(img, 8 * MiB + 512);
                if (r == 0)
                        r = rp_disk_image_copy(path, copy);
                rp_disk_image_unref(img);
                rp_alloc_fail_at(0);
                if (r == 0)
                        break;
                assert_int_equal(r, -ENOMEM);
        }
        assert_true(n < 200);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_disk_image__round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__create_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__alignment_and_range, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__clear_zeroes_and_dirties, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__zero_write_punches_hole, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__sparse_1tib_and_fast_copy, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__copy_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__dirty_persists_across_crash, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__snapshot_returns_and_clears, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__resize_grows_map, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_disk_image__interrupted_resize_completes_on_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__missing_or_stale_map_rebuilt,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__registry_shares_object, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__concurrent_writes, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__hold_blocks_writers, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_image__oom_no_crash_no_leak, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
