/* store_test.h: fixtures and data generators shared by the store unit tests. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_internal.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/macro.h"

#define CHUNK ((size_t)RP_CHUNK_SIZE)

typedef struct store_fixture {
        char dir[64];
        char *chunks;
        char *db;
        uint8_t id_key[32];
        uint8_t enc_key[32];
        rp_store *s;
} store_fixture;

static inline int st_rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
        return remove(p);
}

static inline int st_setup(void **state)
{
        store_fixture *f = rp_calloc(1, sizeof *f);
        if (!f)
                return -1;
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/rpstoreXXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(f->dir))
                return -1;
        f->chunks = rp_asprintf("%s/chunks", f->dir);
        f->db = rp_asprintf("%s/meta.db", f->dir);
        for (int i = 0; i < 32; i++) {
                f->id_key[i] = (uint8_t)(i * 7 + 1);
                f->enc_key[i] = (uint8_t)(i * 13 + 5);
        }
        if (rp_store_open(f->chunks, f->db, f->id_key, f->enc_key, &f->s) < 0)
                return -1;
        *state = f;
        return 0;
}

static inline int st_teardown(void **state)
{
        store_fixture *f = *state;
        rp_store_free(f->s);
        nftw(f->dir, st_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        rp_free(f->chunks);
        rp_free(f->db);
        rp_free(f);
        return 0;
}

/* Close and reopen the fixture's store (dropping what was not flushed, as a crash would). */
static inline void st_reopen(store_fixture *f)
{
        f->s = rp_store_free(f->s);
        assert_int_equal(rp_store_open(f->chunks, f->db, f->id_key, f->enc_key, &f->s), 0);
}

/* xorshift64*: reproducible pseudo-random bytes. */
static inline uint64_t st_rand(uint64_t *x)
{
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        return *x * 2685821657736338717ull;
}

/* Incompressible bytes from @p seed. */
static inline void st_fill_random(void *buf, size_t len, uint64_t seed)
{
        uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
        uint8_t *p = buf;
        for (size_t i = 0; i < len; i += 8) {
                uint64_t v = st_rand(&x);
                memcpy(p + i, &v, RP_MIN(len - i, (size_t)8));
        }
}

/* Text-like, compressible bytes from @p seed. */
static inline void st_fill_text(void *buf, size_t len, uint64_t seed)
{
        static const char *words[] = { "restore ", "point ", "region ", "chunk ", "disk ",
                                       "copy ",    "the ",   "of ",     "azure ", "manifest ",
                                       "eastus ",  "west ",  "a ",      "pack\n", "42 " };
        uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;
        char *p = buf;
        size_t i = 0;
        while (i < len) {
                const char *w = words[st_rand(&x) % ELEMENTSOF(words)];
                size_t n = RP_MIN(strlen(w), len - i);
                memcpy(p + i, w, n);
                i += n;
        }
}

/* A fresh chunk buffer, to rp_free(). */
static inline uint8_t *st_chunk(void)
{
        uint8_t *b = rp_malloc(CHUNK);
        assert_non_null(b);
        return b;
}

/* Put @p len random bytes of @p seed. */
static inline void st_put_random(rp_store *s, uint64_t seed, size_t len, uint8_t id[32])
{
        _cleanup_free_ uint8_t *b = st_chunk();
        st_fill_random(b, len, seed);
        assert_int_equal(rp_store_put(s, b, len, id, NULL), 0);
}

/* Check that @p id reads back as the random bytes of @p seed. */
static inline void st_check_random(rp_store *s, const uint8_t id[32], uint64_t seed, size_t len)
{
        _cleanup_free_ uint8_t *want = st_chunk(), *got = st_chunk();
        st_fill_random(want, len, seed);
        size_t n = 0;
        assert_int_equal(rp_store_get(s, id, got, CHUNK, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(got, want, len);
}

/* Path of pack @p n of the fixture, to rp_free(). */
static inline char *st_pack(store_fixture *f, uint32_t n)
{
        char *p = rp_store__pack_path(f->chunks, n);
        assert_non_null(p);
        return p;
}

/* Size of a file, or -1 if missing. */
static inline long long st_file_size(const char *path)
{
        struct stat st;
        return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

/* XOR @p mask into the byte at @p off of @p path. */
static inline void st_flip(const char *path, off_t off, uint8_t mask)
{
        int fd = open(path, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, off), 1);
        b ^= mask;
        assert_int_equal(pwrite(fd, &b, 1, off), 1);
        close(fd);
}
