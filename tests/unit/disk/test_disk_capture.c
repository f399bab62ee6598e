/* test_disk_capture.c: point-in-time capture of disk images, copy-before-write, pending record. */
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "disk/disk_capture.h"
#include "disk/disk_image.h"
#include "disk/disk_internal.h" /* white-box: map_stale */
#include "util/alloc.h"
#include "util/limits.h"
#include "util/macro.h"
#include "util/time.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)
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
        snprintf(f->dir, sizeof f->dir, "%s/rpcapXXXXXX", tmp && *tmp ? tmp : "/tmp");
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

/* A cheap, seed-dependent, never all-zero pattern. */
static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
        uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
        for (size_t i = 0; i < len; i++) {
                if (i % 8 == 0) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                }
                buf[i] = (uint8_t)(x >> (8 * (i % 8)));
        }
        buf[0] |= 1;
}

static bool all_zero(const uint8_t *buf, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (buf[i])
                        return false;
        return true;
}

static rp_disk_image *create_open(const char *path, uint64_t size)
{
        rp_disk_image *img = NULL;
        assert_int_equal(rp_disk_image_create(path, size, 0600), 0);
        assert_int_equal(rp_disk_image_open(path, &img), 0);
        return img;
}

/* Write chunk @p c in full with the pattern of @p seed. */
static void write_chunk(rp_disk_image *img, uint64_t c, uint64_t seed)
{
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        fill(buf, CHUNK, seed);
        assert_int_equal(rp_disk_image_write(img, c * CHUNK, buf, CHUNK), 0);
}

static void expect_chunk(const uint8_t *buf, size_t len, uint64_t seed)
{
        _cleanup_free_ uint8_t *want = rp_malloc(CHUNK);
        assert_non_null(want);
        fill(want, CHUNK, seed);
        assert_memory_equal(buf, want, len);
}

/* Take and drop the dirty map, so the next capture starts from a clean map. */
static void clean_map(rp_disk_image *img)
{
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);
        assert_int_equal(rp_disk_image_dirty_count(img), 0);
}

/* Number of entries in the fixture's directory (no side files left behind). */
static unsigned dir_entries(void **state)
{
        fixture *f = *state;
        DIR *d = opendir(f->dir);
        assert_non_null(d);
        unsigned n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

/* ---------------------------------------------------------------------------------------------
 * Sets
 */

static void test_disk_capture__full_set_skips_holes(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        rp_disk_image *img = create_open(path, 64 * MiB);
        write_chunk(img, 0, 100);
        write_chunk(img, 3, 103);
        write_chunk(img, 200, 300);
        clean_map(img); /* a full capture does not depend on the dirty map */
        uint8_t sector[512];
        fill(sector, sizeof sector, 7);
        assert_int_equal(rp_disk_image_write(img, 77 * CHUNK + 4096, sector, sizeof sector), 0);

        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, true, &cap), 0);
        assert_true(rp_disk_capture_is_full(cap));
        assert_int_equal(rp_disk_capture_size(cap), 64 * MiB);
        assert_int_equal(rp_disk_capture_total(cap), 4);

        uint64_t c;
        size_t len;
        uint64_t want[] = { 0, 3, 77, 200 };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
                assert_int_equal(c, want[i]);
                assert_int_equal(len, CHUNK);
                if (c == 77) {
                        assert_true(all_zero(buf, 4096));
                        assert_memory_equal(buf + 4096, sector, sizeof sector);
                        assert_true(all_zero(buf + 4096 + 512, CHUNK - 4096 - 512));
                } else {
                        expect_chunk(buf, len, c == 200 ? 300 : 100 + c);
                }
        }
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 0);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 0);
        /* Read once: the chunk is released to writers. */
        assert_int_equal(rp_disk_capture_read_chunk(cap, 3, buf, &len), -ESTALE);
        /* A hole reads as zeros, as often as asked. */
        memset(buf, 0xaa, CHUNK);
        assert_int_equal(rp_disk_capture_read_chunk(cap, 5, buf, &len), 0);
        assert_true(all_zero(buf, CHUNK));
        assert_int_equal(rp_disk_capture_read_chunk(cap, 256, buf, &len), -ERANGE);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        assert_int_equal(rp_disk_capture_commit(cap), -ESTALE);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), -ESTALE);
        rp_disk_capture_free(cap);
        rp_disk_image_unref(img);
}

static void test_disk_capture__incremental_set_is_dirty_chunks(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        rp_disk_image *img = create_open(path, 16 * MiB);
        write_chunk(img, 1, 1);
        write_chunk(img, 5, 5);
        write_chunk(img, 9, 9);
        clean_map(img);
        write_chunk(img, 5, 55);                                         /* changed */
        assert_int_equal(rp_disk_image_clear(img, 9 * CHUNK, CHUNK), 0); /* now a hole */
        write_chunk(img, 12, 12);                                        /* new */
        assert_int_equal(rp_disk_image_dirty_count(img), 3);

        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        assert_false(rp_disk_capture_is_full(cap));
        /* The live map starts over for the next point. */
        assert_int_equal(rp_disk_image_dirty_count(img), 0);
        assert_int_equal(rp_disk_capture_total(cap), 3);
        uint64_t c;
        size_t len;
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 5);
        expect_chunk(buf, len, 55);
        /* A chunk cleared since the last point is yielded, as zeros. */
        memset(buf, 0xaa, CHUNK);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 9);
        assert_int_equal(len, CHUNK);
        assert_true(all_zero(buf, CHUNK));
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 12);
        expect_chunk(buf, len, 12);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 0);
        /* Chunk 1 is not in the set. */
        assert_int_equal(rp_disk_capture_read_chunk(cap, 1, buf, &len), -ENOENT);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);
        rp_disk_image_unref(img);
}

static void test_disk_capture__only_set_chunks_pay_for_cow(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        rp_disk_image *img = create_open(path, 16 * MiB);
        write_chunk(img, 2, 2);
        write_chunk(img, 4, 4);
        clean_map(img);
        write_chunk(img, 2, 22);

        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        write_chunk(img, 4, 44); /* not in the set */
        assert_int_equal(rp_disk_capture_preserved(cap), 0);
        write_chunk(img, 2, 222); /* in the set, not read yet */
        assert_int_equal(rp_disk_capture_preserved(cap), 1);
        write_chunk(img, 2, 2222); /* preserved already */
        assert_int_equal(rp_disk_capture_preserved(cap), 1);
        uint64_t c;
        size_t len;
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 2);
        expect_chunk(buf, len, 22);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);

        /* Full: after the scan, writes to chunks that were holes at the cut are free, and a
         * chunk already read is free too. */
        assert_int_equal(rp_disk_capture_begin(img, true, &cap), 0);
        assert_int_equal(rp_disk_capture_total(cap), 2);
        write_chunk(img, 9, 9);
        assert_int_equal(rp_disk_capture_preserved(cap), 0);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 2);
        expect_chunk(buf, len, 2222);
        write_chunk(img, 2, 3);
        assert_int_equal(rp_disk_capture_preserved(cap), 0);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 4);
        expect_chunk(buf, len, 44);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 0);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);
        rp_disk_image_unref(img);
}

/* ---------------------------------------------------------------------------------------------
 * Point in time under concurrent writes
 */

#define RACE_CHUNKS 256u
/* Writes after the cut that the readers wait for before they start, so that the test does not
 * depend on how the machine schedules the threads. */
#define RACE_WRITES_FIRST 16u

/* Writes made after the cut, by all writers. */
static uint64_t race_after_cut;

typedef struct race {
        rp_disk_image *img;
        rp_disk_capture *cap;
        const uint8_t *expect; /* the image at the cut */
        bool stop;             /* atomic */
        bool cut;              /* atomic: the cut is made */
        bool down;             /* writer: after the cut, write chunks from the top down */
        /* per thread results */
        unsigned seed;
        int result;
        uint64_t yielded;
        uint64_t mismatches;
} race;

static void *race_writer(void *userdata)
{
        race *w = userdata;
        _cleanup_free_ uint8_t *buf = rp_malloc(4 * CHUNK);
        unsigned seed = w->seed;
        if (!buf) {
                w->result = -ENOMEM;
                return NULL;
        }
        uint64_t down = RACE_CHUNKS;
        while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) && w->result == 0) {
                uint64_t off = (uint64_t)(rand_r(&seed) % (RACE_CHUNKS * CHUNK / 512)) * 512;
                uint64_t len = (uint64_t)(1 + rand_r(&seed) % 1024) * 512; /* up to 512 KiB */
                bool after = __atomic_load_n(&w->cut, __ATOMIC_ACQUIRE);
                if (w->down && after) {
                        /* After the cut, from the top down: the readers go up, so these writes
                         * meet chunks not read yet. */
                        down = down > 0 ? down - 1 : RACE_CHUNKS - 1;
                        off = down * CHUNK + (uint64_t)(rand_r(&seed) % 256) * 512;
                        len = RP_MIN(len, (down + 1) * CHUNK - off);
                }
                len = RP_MIN(len, RACE_CHUNKS * CHUNK - off);
                unsigned kind = (unsigned)rand_r(&seed) % 10;
                if (kind == 0) {
                        w->result = rp_disk_image_clear(w->img, off, len);
                } else if (kind == 1) {
                        memset(buf, 0, (size_t)len); /* a zero write punches holes */
                        w->result = rp_disk_image_write_nosync(w->img, off, buf, (size_t)len);
                } else {
                        fill(buf, (size_t)len, (uint64_t)rand_r(&seed));
                        w->result = kind == 2 ? rp_disk_image_write(w->img, off, buf, (size_t)len)
                                              : rp_disk_image_write_nosync(w->img, off, buf,
                                                                           (size_t)len);
                }
                if (after)
                        __atomic_fetch_add(&race_after_cut, 1, __ATOMIC_RELAXED);
        }
        return NULL;
}

static void *race_reader(void *userdata)
{
        race *w = userdata;
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        if (!buf) {
                w->result = -ENOMEM;
                return NULL;
        }
        for (int i = 0; i < 30000; i++) { /* at most 30 s */
                if (__atomic_load_n(&race_after_cut, __ATOMIC_RELAXED) >= RACE_WRITES_FIRST)
                        break;
                usleep(1000);
        }
        for (;;) {
                uint64_t c;
                size_t len;
                int r = rp_disk_capture_next_chunk(w->cap, &c);
                if (r <= 0) {
                        w->result = r;
                        return NULL;
                }
                r = rp_disk_capture_read_chunk(w->cap, c, buf, &len);
                if (r < 0) {
                        w->result = r;
                        return NULL;
                }
                w->yielded++;
                if (len != CHUNK || memcmp(buf, w->expect + c * CHUNK, CHUNK) != 0)
                        w->mismatches++;
                usleep(2000); /* hashing and compressing; let the writers overtake */
        }
}

static void race_run(void **state, bool full)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *expect = rp_malloc(RACE_CHUNKS * CHUNK);
        assert_non_null(expect);
        rp_disk_image *img = create_open(path, RACE_CHUNKS * CHUNK);
        for (uint64_t c = 0; c < RACE_CHUNKS; c += 1 + c % 3)
                write_chunk(img, c, c);
        if (!full)
                clean_map(img);

        race writers[2] = { { .img = img, .seed = 1 }, { .img = img, .seed = 2, .down = true } };
        pthread_t wt[2], rt[2];
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&wt[i], NULL, race_writer, &writers[i]), 0);
        /* Until a good part of the disk is dirty (the incremental set), or 3 s. */
        for (int i = 0; i < 300 && rp_disk_image_dirty_count(img) < RACE_CHUNKS / 2; i++)
                usleep(10000);

        /* The cut, with the writers running: hold, note what the disk holds, begin, release. */
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_image_hold(img), 0);
        assert_int_equal(rp_disk_image_read(img, 0, expect, RACE_CHUNKS * CHUNK), 0);
        uint64_t dirty = rp_disk_image_dirty_count(img);
        rp_usec_t t0 = rp_now_monotonic();
        assert_int_equal(rp_disk_capture_begin(img, full, &cap), 0);
        rp_usec_t t1 = rp_now_monotonic();
        rp_disk_image_release(img);
        __atomic_store_n(&race_after_cut, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&writers[0].cut, true, __ATOMIC_RELEASE);
        __atomic_store_n(&writers[1].cut, true, __ATOMIC_RELEASE);
        print_message("        cut with 2 writers running: begin %llu us\n",
                      (unsigned long long)(t1 - t0));

        uint64_t want = 0;
        for (uint64_t c = 0; c < RACE_CHUNKS; c++)
                if (full ? !all_zero(expect + c * CHUNK, CHUNK) : false)
                        want++;
        if (!full)
                want = dirty;

        race readers[2] = { { .cap = cap, .expect = expect }, { .cap = cap, .expect = expect } };
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&rt[i], NULL, race_reader, &readers[i]), 0);
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_join(rt[i], NULL), 0);
        __atomic_store_n(&writers[0].stop, true, __ATOMIC_RELEASE);
        __atomic_store_n(&writers[1].stop, true, __ATOMIC_RELEASE);
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_join(wt[i], NULL), 0);

        uint64_t preserved = rp_disk_capture_preserved(cap);
        print_message("        %s: %llu chunks read by 2 readers, %llu writes during the "
                      "capture, %llu chunks preserved\n",
                      full ? "full" : "incremental",
                      (unsigned long long)(readers[0].yielded + readers[1].yielded),
                      (unsigned long long)__atomic_load_n(&race_after_cut, __ATOMIC_RELAXED),
                      (unsigned long long)preserved);
        for (int i = 0; i < 2; i++) {
                assert_int_equal(writers[i].result, 0);
                assert_int_equal(readers[i].result, 0);
                assert_int_equal(readers[i].mismatches, 0);
        }
        assert_true(preserved > 0);
        /* Every chunk of the set read exactly once (a full capture's total counts chunks with
         * data at the cut; all-zero data chunks are read too, and match). */
        assert_int_equal(readers[0].yielded + readers[1].yielded, rp_disk_capture_total(cap));
        if (full)
                assert_true(rp_disk_capture_total(cap) >= want);
        else
                assert_int_equal(rp_disk_capture_total(cap), want);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);
        rp_disk_image_unref(img);
}

static void test_disk_capture__full_is_point_in_time_under_writes(void **state)
{
        race_run(state, true);
}

static void test_disk_capture__incremental_is_point_in_time_under_writes(void **state)
{
        race_run(state, false);
}

static void test_disk_capture__clear_after_cut_preserved(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        rp_disk_image *img = create_open(path, 8 * MiB);
        for (uint64_t c = 0; c < 8; c++)
                write_chunk(img, c, 10 + c);
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, true, &cap), 0);
        /* Before the scan: a clear over several chunks, and a zero write punching a hole. */
        assert_int_equal(rp_disk_image_clear(img, 1 * CHUNK, 3 * CHUNK), 0);
        memset(buf, 0, CHUNK);
        assert_int_equal(rp_disk_image_write(img, 6 * CHUNK, buf, CHUNK), 0);
        assert_int_equal(rp_disk_capture_preserved(cap), 4);
        assert_int_equal(rp_disk_capture_total(cap), 8);
        /* After the scan, too. */
        assert_int_equal(rp_disk_image_clear(img, 7 * CHUNK, CHUNK), 0);
        for (uint64_t i = 0; i < 8; i++) {
                uint64_t c;
                size_t len;
                assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
                assert_int_equal(c, i);
                expect_chunk(buf, len, 10 + c);
        }
        rp_disk_capture_free(cap); /* aborts */
        rp_disk_image_unref(img);
}

/* ---------------------------------------------------------------------------------------------
 * A cut across two disks
 */

typedef struct stamper {
        rp_disk_image *a, *b;
        bool stop;
        uint64_t n;
        int result;
} stamper;

static void *stamp_thread(void *userdata)
{
        stamper *s = userdata;
        uint8_t sector[512];
        int r = 0;
        while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) && r == 0) {
                uint64_t n = s->n + 1;
                memset(sector, 0, sizeof sector);
                memcpy(sector, &n, sizeof n);
                /* As a VM does: disk A, then disk B, each write acknowledged before the next. */
                r = rp_disk_image_write(s->a, 4096, sector, sizeof sector);
                if (r == 0)
                        r = rp_disk_image_write(s->b, 8192, sector, sizeof sector);
                if (r == 0)
                        __atomic_store_n(&s->n, n, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&s->result, r, __ATOMIC_RELEASE);
        return NULL;
}

static uint64_t captured_stamp(rp_disk_capture *cap, uint64_t off)
{
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        uint64_t c, n;
        size_t len;
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 0);
        memcpy(&n, buf + off, sizeof n);
        return n;
}

static void test_disk_capture__two_disks_cut_together(void **state)
{
        _cleanup_free_ char *pa = tpath(state, "a.img");
        _cleanup_free_ char *pb = tpath(state, "b.img");
        rp_disk_image *a = create_open(pa, 4 * MiB), *b = create_open(pb, 4 * MiB);
        stamper s = { .a = a, .b = b };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, stamp_thread, &s), 0);
        while (__atomic_load_n(&s.n, __ATOMIC_ACQUIRE) == 0 &&
               __atomic_load_n(&s.result, __ATOMIC_ACQUIRE) == 0)
                usleep(1000); /* both disks hold a stamp */
        unsigned same = 0, between = 0;
        uint64_t last = 0;
        for (int round = 0; round < 40; round++) {
                usleep(3000);
                rp_disk_capture *ca = NULL, *cb = NULL;
                assert_int_equal(rp_disk_image_hold(a), 0);
                assert_int_equal(rp_disk_image_hold(b), 0);
                /* Writes are quiet now: what the writer finished is in, nothing else is. */
                uint64_t done = __atomic_load_n(&s.n, __ATOMIC_ACQUIRE);
                assert_int_equal(rp_disk_capture_begin(a, true, &ca), 0);
                assert_int_equal(rp_disk_capture_begin(b, true, &cb), 0);
                rp_disk_image_release(a);
                rp_disk_image_release(b);
                usleep(2000); /* the writer goes on over the captured chunks */
                uint64_t na = captured_stamp(ca, 4096), nb = captured_stamp(cb, 8192);
                /* One instant: B was written after A, so B is A or one behind (the cut fell
                 * between the writer's two writes), never ahead; and nothing after the cut. */
                assert_true(na == nb || na == nb + 1);
                assert_true(nb >= done && na <= done + 1);
                assert_true(na >= last);
                last = na;
                if (na == nb)
                        same++;
                else
                        between++;
                assert_int_equal(rp_disk_capture_commit(ca), 0);
                assert_int_equal(rp_disk_capture_commit(cb), 0);
                rp_disk_capture_free(ca);
                rp_disk_capture_free(cb);
        }
        __atomic_store_n(&s.stop, true, __ATOMIC_RELEASE);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(s.result, 0);
        assert_true(last > 0);
        print_message("        40 cuts: %u with the same stamp on both disks, %u between the "
                      "writer's two writes; %llu stamps written\n",
                      same, between, (unsigned long long)s.n);
        rp_disk_image_unref(a);
        rp_disk_image_unref(b);
}

/* ---------------------------------------------------------------------------------------------
 * The dirty-map handoff: commit, abort, crash
 */

static void test_disk_capture__commit_drops_cut_bits(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        rp_disk_image *img = create_open(path, 16 * MiB);
        write_chunk(img, 1, 1);
        write_chunk(img, 2, 2);
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        assert_int_equal(dir_entries(state), 2); /* image and map: the side file has no name */
        write_chunk(img, 7, 7);                  /* after the cut: for the next point */
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        assert_int_equal(rp_disk_image_dirty_count(img), 1);
        rp_disk_capture_free(cap);
        assert_int_equal(dir_entries(state), 2);

        /* The map on disk says exactly that too. */
        rp_disk_image__registry_drop_all();
        rp_disk_image *again = NULL;
        assert_int_equal(rp_disk_image_open(path, &again), 0);
        assert_ptr_not_equal(again, img);
        assert_int_equal(rp_disk_image_dirty_count(again), 1);
        assert_true(rp_disk_image_chunk_is_dirty(again, 7));
        rp_disk_image_unref(again);
        rp_disk_image_unref(img);
}

static void test_disk_capture__abort_merges_bits_back(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        rp_disk_image *img = create_open(path, 16 * MiB);
        write_chunk(img, 1, 1);
        write_chunk(img, 2, 2);
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        assert_int_equal(rp_disk_image_dirty_count(img), 0);
        write_chunk(img, 3, 3);
        assert_int_equal(rp_disk_capture_abort(cap), 0);
        assert_int_equal(rp_disk_capture_abort(cap), -ESTALE);
        assert_int_equal(rp_disk_capture_commit(cap), -ESTALE);
        assert_int_equal(rp_disk_image_dirty_count(img), 3);
        rp_disk_capture_free(cap);

        /* Free without commit aborts too. */
        assert_int_equal(rp_disk_capture_begin(img, true, &cap), 0);
        write_chunk(img, 4, 4);
        rp_disk_capture_free(cap);
        assert_int_equal(rp_disk_image_dirty_count(img), 4);

        /* Durably. */
        rp_disk_image__registry_drop_all();
        rp_disk_image *again = NULL;
        assert_int_equal(rp_disk_image_open(path, &again), 0);
        assert_int_equal(rp_disk_image_dirty_count(again), 4);
        for (uint64_t c = 1; c <= 4; c++)
                assert_true(rp_disk_image_chunk_is_dirty(again, c));
        rp_disk_image_unref(again);
        rp_disk_image_unref(img);
}

static void test_disk_capture__crash_keeps_cut_bits(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        rp_disk_image *img = create_open(path, 16 * MiB);
        write_chunk(img, 1, 1);
        img = rp_disk_image_unref(img);
        rp_disk_image__registry_drop_all();

        /* A real crash: a child process cuts, writes, and dies without ending the capture. */
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                rp_disk_image *ci = NULL;
                rp_disk_capture *cc = NULL;
                uint8_t sector[512] = { 9 };
                if (rp_disk_image_open(path, &ci) < 0 ||
                    rp_disk_image_write(ci, 2 * CHUNK, sector, sizeof sector) < 0 ||
                    rp_disk_capture_begin(ci, false, &cc) < 0 ||
                    rp_disk_image_write(ci, 6 * CHUNK, sector, sizeof sector) < 0)
                        _exit(1);
                _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(dir_entries(state), 2); /* nothing left behind */

        /* The write after the cut rewrote the byte of the map that held the cut's bits 1 and 2:
         * they are still there, with 6. */
        assert_int_equal(rp_disk_image_open(path, &img), 0);
        assert_int_equal(rp_disk_image_dirty_count(img), 3);
        assert_true(rp_disk_image_chunk_is_dirty(img, 1));
        assert_true(rp_disk_image_chunk_is_dirty(img, 2));
        assert_true(rp_disk_image_chunk_is_dirty(img, 6));
        /* The next point can be taken. */
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        assert_int_equal(rp_disk_capture_total(cap), 3);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);
        rp_disk_image_unref(img);
}

static void test_disk_capture__registry_drop_keeps_cut_bits(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        rp_disk_image *img = create_open(path, 16 * MiB);
        write_chunk(img, 3, 3);
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        write_chunk(img, 5, 5);
        /* As a crash would: the process forgets everything, a new open reads the disk. */
        rp_disk_image__registry_drop_all();
        rp_disk_image *again = NULL;
        assert_int_equal(rp_disk_image_open(path, &again), 0);
        assert_ptr_not_equal(again, img);
        assert_int_equal(rp_disk_image_dirty_count(again), 2);
        assert_true(rp_disk_image_chunk_is_dirty(again, 3));
        assert_true(rp_disk_image_chunk_is_dirty(again, 5));
        rp_disk_image_unref(again);
        rp_disk_capture_free(cap); /* the forgotten object's capture */
        rp_disk_image_unref(img);
}

static void test_disk_capture__map_write_failure_keeps_cut_bits(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        fill(buf, CHUNK, 9);
        rp_disk_image *img = create_open(path, 64 * MiB);
        write_chunk(img, 3, 3);
        write_chunk(img, 200, 200);
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        /* A write that fails before its map write changes nothing. */
        rp_alloc_fail_at(1);
        assert_int_equal(rp_disk_image_write(img, 9 * CHUNK, buf, CHUNK), -ENOMEM);
        rp_alloc_fail_at(0);
        /* After a failed map write (white box: as a failed fdatasync leaves it) the next writer
         * rewrites the whole map file from memory, which no longer has the cut's bits: the
         * rewrite must carry them. */
        __atomic_store_n(&img->map_stale, true, __ATOMIC_RELEASE);
        write_chunk(img, 100, 100);
        rp_disk_image__registry_drop_all();
        rp_disk_image *again = NULL;
        assert_int_equal(rp_disk_image_open(path, &again), 0);
        assert_int_equal(rp_disk_image_dirty_count(again), 3);
        assert_true(rp_disk_image_chunk_is_dirty(again, 3));
        assert_true(rp_disk_image_chunk_is_dirty(again, 100));
        assert_true(rp_disk_image_chunk_is_dirty(again, 200));
        rp_disk_image_unref(again);
        rp_disk_capture_free(cap);

        /* A commit whose map rewrite cannot be made leaves the map stale: the next write
         * rewrites it, without the cut's bits this time. */
        rp_disk_image *img2 = NULL;
        assert_int_equal(rp_disk_image_open(path, &img2), 0);
        assert_int_equal(rp_disk_capture_begin(img2, false, &cap), 0);
        rp_alloc_fail_at(1);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_alloc_fail_at(0);
        assert_true(__atomic_load_n(&img2->map_stale, __ATOMIC_ACQUIRE));
        write_chunk(img2, 7, 7);
        rp_disk_capture_free(cap);
        rp_disk_image__registry_drop_all();
        assert_int_equal(rp_disk_image_open(path, &again), 0);
        assert_int_equal(rp_disk_image_dirty_count(again), 1);
        assert_true(rp_disk_image_chunk_is_dirty(again, 7));
        rp_disk_image_unref(again);
        rp_disk_image_unref(img2);
        rp_disk_image_unref(img);
}

static void test_disk_capture__snapshot_refused_during_capture(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        rp_disk_image *img = create_open(path, 4 * MiB);
        write_chunk(img, 1, 1);
        rp_disk_capture *cap = NULL;
        uint8_t *bitmap = NULL;
        uint64_t n = 0;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        assert_int_equal(rp_disk_image_dirty_snapshot(img, &bitmap, &n), -EBUSY);
        assert_null(bitmap);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);
        assert_int_equal(rp_disk_image_dirty_snapshot(img, &bitmap, &n), 0);
        assert_int_equal(n, 16);
        rp_free(bitmap);
        rp_disk_image_unref(img);
}

static void test_disk_capture__second_capture_busy(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        rp_disk_image *img = create_open(path, 4 * MiB);
        rp_disk_capture *cap = NULL, *other = NULL;
        assert_int_equal(rp_disk_capture_begin(img, true, &cap), 0);
        assert_int_equal(rp_disk_capture_begin(img, false, &other), -EBUSY);
        assert_null(other);
        /* Another opener of the same file shares the object, and the capture. */
        rp_disk_image *img2 = NULL;
        assert_int_equal(rp_disk_image_open(path, &img2), 0);
        assert_int_equal(rp_disk_capture_begin(img2, true, &other), -EBUSY);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);
        assert_int_equal(rp_disk_capture_begin(img2, true, &other), 0);
        rp_disk_capture_free(other);
        rp_disk_image_unref(img2);
        rp_disk_image_unref(img);
}

/* ---------------------------------------------------------------------------------------------
 * Sizes
 */

static void test_disk_capture__short_last_chunk(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        uint64_t size = 3 * CHUNK + 5 * 512;
        rp_disk_image *img = create_open(path, size);
        uint8_t tail[5 * 512];
        fill(tail, sizeof tail, 5);
        assert_int_equal(rp_disk_image_write(img, 3 * CHUNK, tail, sizeof tail), 0);
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, true, &cap), 0);
        /* Overwritten after the cut: the capture still has the old bytes, and only those. */
        uint8_t other[512];
        fill(other, sizeof other, 6);
        assert_int_equal(rp_disk_image_write(img, 3 * CHUNK + 512, other, sizeof other), 0);
        assert_int_equal(rp_disk_capture_preserved(cap), 1);
        assert_int_equal(rp_disk_capture_total(cap), 1);
        uint64_t c;
        size_t len;
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 3);
        assert_int_equal(len, sizeof tail);
        assert_memory_equal(buf, tail, sizeof tail);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 0);
        assert_int_equal(rp_disk_capture_commit(cap), 0);
        rp_disk_capture_free(cap);
        rp_disk_image_unref(img);
}

static void test_disk_capture__resize_during_capture(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        uint64_t size = 2 * CHUNK + 4096;
        rp_disk_image *img = create_open(path, size);
        uint8_t tail[4096];
        fill(tail, sizeof tail, 8);
        assert_int_equal(rp_disk_image_write(img, 2 * CHUNK, tail, sizeof tail), 0);
        rp_disk_capture *cap = NULL;
        assert_int_equal(rp_disk_capture_begin(img, false, &cap), 0);
        assert_int_equal(rp_disk_image_resize(img, 8 * CHUNK), 0);
        assert_int_equal(rp_disk_capture_size(cap), size);
        /* Writes over the old tail, past the old end, and in new chunks. */
        write_chunk(img, 2, 22);
        write_chunk(img, 6, 66);
        assert_int_equal(rp_disk_capture_total(cap), 1);
        uint64_t c;
        size_t len;
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 1);
        assert_int_equal(c, 2);
        assert_int_equal(len, sizeof tail);
        assert_memory_equal(buf, tail, sizeof tail);
        assert_int_equal(rp_disk_capture_next(cap, &c, buf, &len), 0);
        assert_int_equal(rp_disk_capture_read_chunk(cap, 6, buf, &len), -ERANGE);
        /* Aborting merges the cut's bits into the grown map. */
        assert_int_equal(rp_disk_capture_abort(cap), 0);
        assert_true(rp_disk_image_chunk_is_dirty(img, 2));
        assert_true(rp_disk_image_chunk_is_dirty(img, 6));
        rp_disk_capture_free(cap);

        /* A full capture of the grown disk sees it all. */
        assert_int_equal(rp_disk_capture_begin(img, true, &cap), 0);
        assert_int_equal(rp_disk_capture_size(cap), 8 * CHUNK);
        assert_int_equal(rp_disk_capture_total(cap), 2);
        rp_disk_capture_free(cap);
        rp_disk_image_unref(img);
}

/* ---------------------------------------------------------------------------------------------
 * Failures
 */

static void test_disk_capture__oom_no_crash_no_leak(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        _cleanup_free_ uint8_t *data = rp_malloc(CHUNK);
        assert_non_null(buf);
        assert_non_null(data);
        rp_disk_image *img = create_open(path, 4 * MiB);
        write_chunk(img, 1, 1);
        fill(data, CHUNK, 2);
        unsigned long n;
        bool ok = false;
        for (n = 1; n < 200 && !ok; n++) {
                rp_disk_capture *cap = NULL;
                uint64_t c;
                size_t len;
                rp_alloc_fail_at(n);
                int r = rp_disk_capture_begin(img, false, &cap);
                /* The write itself may fail (dirty map); a failed copy-before-write never
                 * fails it, but breaks the capture, whose next read says so. */
                if (r == 0)
                        r = rp_disk_image_write(img, CHUNK, data, CHUNK);
                if (r == 0)
                        r = rp_disk_capture_next(cap, &c, buf, &len);
                rp_alloc_fail_at(0);
                if (r == 1) {
                        ok = true;
                        assert_int_equal(rp_disk_capture_commit(cap), 0);
                } else {
                        assert_int_equal(r, -ENOMEM);
                        assert_null(r < 0 && n == 1 ? cap : NULL);
                }
                rp_disk_capture_free(cap);
                /* Whatever failed, the change is still in the map for the next point. */
                assert_true(rp_disk_image_chunk_is_dirty(img, 1));
        }
        assert_true(ok);
        print_message("        allocation failures 1..%lu survived\n", n - 1);
        rp_disk_image_unref(img);
}

/* ---------------------------------------------------------------------------------------------
 * Performance (printed; the bounds are loose, for a loaded CI machine)
 */

static void test_disk_capture__cut_is_fast_on_64gib(void **state)
{
        _cleanup_free_ char *path = tpath(state, "big.img");
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        rp_disk_image *img = create_open(path, 64 * GiB);
        /* 256 scattered chunks of data, 64 MiB: a dirty map with bits all over. */
        for (uint64_t i = 0; i < 256; i++)
                write_chunk(img, i * 1021 % (64 * GiB / CHUNK), i);
        rp_usec_t worst = 0;
        for (int round = 0; round < 6; round++) {
                bool full = round % 2 == 1;
                rp_disk_capture *cap = NULL;
                rp_usec_t t0 = rp_now_monotonic();
                assert_int_equal(rp_disk_image_hold(img), 0);
                assert_int_equal(rp_disk_capture_begin(img, full, &cap), 0);
                rp_disk_image_release(img);
                rp_usec_t t1 = rp_now_monotonic();
                worst = RP_MAX(worst, t1 - t0);
                print_message("        64 GiB, %s: writes held %llu us\n",
                              full ? "full" : "incremental", (unsigned long long)(t1 - t0));
                if (full) {
                        rp_usec_t s0 = rp_now_monotonic();
                        assert_int_equal(rp_disk_capture_total(cap), 256);
                        print_message("        64 GiB, full: finding the holes took %llu us\n",
                                      (unsigned long long)(rp_now_monotonic() - s0));
                }
                assert_int_equal(rp_disk_capture_commit(cap), 0);
                rp_disk_capture_free(cap);
                write_chunk(img, (uint64_t)round * 1021, 1000 + (uint64_t)round);
        }
        assert_true(worst < 250000); /* milliseconds in practice; fsync bound */
        rp_disk_image_unref(img);
}

static uint64_t time_writes(rp_disk_image *img, uint64_t nchunks, uint64_t seed)
{
        uint8_t *buf = rp_malloc(64 * 1024);
        assert_non_null(buf);
        fill(buf, 64 * 1024, seed);
        rp_usec_t t0 = rp_now_monotonic();
        for (uint64_t c = 0; c < nchunks; c++)
                assert_int_equal(rp_disk_image_write_nosync(img, c * CHUNK + (c % 4) * 64 * 1024,
                                                            buf, 64 * 1024),
                                 0);
        rp_usec_t t = rp_now_monotonic() - t0; /* the sync below is the same in every case */
        assert_int_equal(rp_disk_image_sync(img), 0);
        rp_free(buf);
        return t;
}

static void test_disk_capture__cow_overhead(void **state)
{
        _cleanup_free_ char *path = tpath(state, "d.img");
        const uint64_t n = 512; /* 128 MiB */
        rp_disk_image *img = create_open(path, n * CHUNK);
        for (uint64_t c = 0; c < n; c++)
                write_chunk(img, c, c);
        assert_int_equal(rp_disk_image_sync(img), 0);
        (void)time_writes(img, n, 1); /* warm up */

        /* The first write to a chunk after a cut also sets its dirty bit (a map fdatasync),
         * capture or not; the data plane does that once per request (mark_dirty). Mark them
         * all first, so that what is timed is the data path and the copy. */
        uint64_t base = UINT64_MAX, cow = UINT64_MAX, later = UINT64_MAX;
        for (int round = 0; round < 3; round++) { /* the best of three: a shared machine */
                clean_map(img);
                assert_int_equal(rp_disk_image_mark_dirty(img, 0, n * CHUNK), 0);
                uint64_t t = time_writes(img, n, 2);
                base = RP_MIN(base, t);
                rp_disk_capture *cap = NULL;
                assert_int_equal(rp_disk_capture_begin(img, true, &cap), 0);
                assert_int_equal(rp_disk_image_mark_dirty(img, 0, n * CHUNK), 0);
                t = time_writes(img, n, 3); /* each write copies its chunk first */
                cow = RP_MIN(cow, t);
                assert_int_equal(rp_disk_capture_preserved(cap), n);
                t = time_writes(img, n, 4); /* copied already */
                later = RP_MIN(later, t);
                assert_int_equal(rp_disk_capture_commit(cap), 0);
                rp_disk_capture_free(cap);
        }
        print_message("        64 KiB writes (no fdatasync), one per 256 KiB chunk (us/write): "
                      "%.1f without a capture, %.1f first write with copy-before-write, %.1f "
                      "once copied\n",
                      (double)base / (double)n, (double)cow / (double)n, (double)later / (double)n);
        rp_disk_image_unref(img);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_disk_capture__full_set_skips_holes, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__incremental_set_is_dirty_chunks,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__only_set_chunks_pay_for_cow,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_disk_capture__full_is_point_in_time_under_writes, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_disk_capture__incremental_is_point_in_time_under_writes, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__clear_after_cut_preserved, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__two_disks_cut_together, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__commit_drops_cut_bits, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__abort_merges_bits_back, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__crash_keeps_cut_bits, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__registry_drop_keeps_cut_bits,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__map_write_failure_keeps_cut_bits,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__snapshot_refused_during_capture,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__second_capture_busy, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__short_last_chunk, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__resize_during_capture, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__oom_no_crash_no_leak, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__cut_is_fast_on_64gib, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_disk_capture__cow_overhead, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
