/* test_store_manifest.c: manifests: build, lookup, merge, encode/decode, strict rejection of
 * every inconsistency, files. */
#include "store/manifest.h"
#include "store_test.h"
#include "util/crypto.h"
#include "util/fs.h"

#define GiB (1024ull * 1024ull * 1024ull)

static void make_id(uint8_t id[32], uint64_t seed)
{
        st_fill_random(id, 32, seed + 1);
        id[0] |= 1; /* never all zero */
}

/* A 1 GiB manifest with every third chunk present. */
static rp_manifest *sample(void)
{
        rp_manifest *m = NULL;
        assert_int_equal(rp_manifest_new(GiB, &m), 0);
        for (uint64_t i = 0; i < rp_manifest_chunk_count(m); i += 3) {
                uint8_t id[32];
                make_id(id, i);
                assert_int_equal(rp_manifest_set(m, i, id), 0);
        }
        return m;
}

static void test_store_manifest__new_refuses_bad_sizes(void **state)
{
        rp_manifest *m = NULL;
        assert_int_equal(rp_manifest_new(0, &m), -EINVAL);
        assert_int_equal(rp_manifest_new(1000, &m), -EINVAL);
        assert_int_equal(rp_manifest_new(RP_MAX_DISK_BYTES + 512, &m), -EINVAL);
        assert_null(m);
        assert_int_equal(rp_manifest_new(RP_MAX_DISK_BYTES, &m), 0);
        assert_int_equal(rp_manifest_chunk_count(m), RP_MANIFEST_MAX_CHUNKS);
        rp_manifest_free(m);
        assert_null(rp_manifest_free(NULL));
}

static void test_store_manifest__set_and_lookup(void **state)
{
        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        /* 10 chunks and a half: the last chunk is 128 KiB + 512. */
        uint64_t size = 10 * (uint64_t)CHUNK + CHUNK / 2 + 512;
        assert_int_equal(rp_manifest_new(size, &m), 0);
        assert_int_equal(rp_manifest_disk_size(m), size);
        assert_int_equal(rp_manifest_chunk_size(m), RP_CHUNK_SIZE);
        assert_int_equal(rp_manifest_chunk_count(m), 11);
        assert_int_equal(rp_manifest_chunk_len(m, 0), CHUNK);
        assert_int_equal(rp_manifest_chunk_len(m, 10), CHUNK / 2 + 512);
        assert_int_equal(rp_manifest_chunk_len(m, 11), 0);

        uint8_t a[32], b[32], c[32], got[32], zero[32] = { 0 };
        make_id(a, 1);
        make_id(b, 2);
        make_id(c, 3);
        /* Out of order inserts, a replacement, a removal. */
        assert_int_equal(rp_manifest_set(m, 7, a), 0);
        assert_int_equal(rp_manifest_set(m, 2, b), 0);
        assert_int_equal(rp_manifest_set(m, 10, c), 0);
        assert_int_equal(rp_manifest_set(m, 4, c), 0);
        assert_int_equal(rp_manifest_set(m, 4, a), 0);
        assert_int_equal(rp_manifest_set(m, 11, a), -ERANGE);
        assert_int_equal(rp_manifest_set(m, 2, zero), 0);
        assert_int_equal(rp_manifest_set(m, 3, zero), 0); /* hole to hole: nothing */

        size_t n = 0;
        const rp_manifest_entry *e = rp_manifest_entries(m, &n);
        assert_int_equal(n, 3);
        assert_int_equal(e[0].index, 4);
        assert_int_equal(e[1].index, 7);
        assert_int_equal(e[2].index, 10);

        assert_int_equal(rp_manifest_get(m, 4, got), 1);
        assert_memory_equal(got, a, 32);
        assert_int_equal(rp_manifest_get(m, 10, got), 1);
        assert_memory_equal(got, c, 32);
        assert_int_equal(rp_manifest_get(m, 2, got), 0);
        assert_memory_equal(got, zero, 32);
        assert_int_equal(rp_manifest_get(m, 0, NULL), 0);
        assert_int_equal(rp_manifest_get(m, 11, got), -ERANGE);
}

static int count_cb(void *ud, const rp_manifest_entry *e)
{
        uint64_t *last = ud;
        if (e->index % 3 != 0 || (last[1] && e->index <= last[0]))
                return -EINVAL;
        last[0] = e->index;
        last[1]++;
        return last[1] == 100 ? -ECANCELED : 0;
}

static void test_store_manifest__foreach_in_order(void **state)
{
        _cleanup_(rp_manifest_freep) rp_manifest *m = sample();
        uint64_t st[2] = { 0, 0 };
        assert_int_equal(rp_manifest_foreach(m, count_cb, st), -ECANCELED);
        assert_int_equal(st[1], 100);
}

static void test_store_manifest__lookup_all(void **state)
{
        _cleanup_(rp_manifest_freep) rp_manifest *m = sample();
        for (uint64_t i = 0; i < rp_manifest_chunk_count(m); i++) {
                uint8_t got[32], want[32];
                int r = rp_manifest_get(m, i, got);
                if (i % 3 == 0) {
                        make_id(want, i);
                        assert_int_equal(r, 1);
                        assert_memory_equal(got, want, 32);
                } else {
                        assert_int_equal(r, 0);
                }
        }
}

static void test_store_manifest__encode_decode_roundtrip(void **state)
{
        _cleanup_(rp_manifest_freep) rp_manifest *m = sample(), *m2 = NULL, *empty = NULL,
                                                 *e2 = NULL;
        _cleanup_free_ uint8_t *d = NULL, *d2 = NULL, *de = NULL;
        size_t len = 0, len2 = 0, lene = 0;
        assert_int_equal(rp_manifest_encode(m, &d, &len), 0);
        size_t n = 0;
        rp_manifest_entries(m, &n);
        assert_int_equal(len, RP_MANIFEST_HEADER_SIZE + n * RP_MANIFEST_ENTRY_SIZE +
                                      RP_MANIFEST_TRAILER_SIZE);
        assert_memory_equal(d, "RPMANIF1", 8);
        assert_int_equal(rp_manifest_decode(d, len, &m2), 0);
        assert_true(rp_manifest_equal(m, m2));
        assert_int_equal(rp_manifest_encode(m2, &d2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(d, d2, len);

        /* An all-hole disk. */
        assert_int_equal(rp_manifest_new(512, &empty), 0);
        assert_int_equal(rp_manifest_encode(empty, &de, &lene), 0);
        assert_int_equal(lene, RP_MANIFEST_HEADER_SIZE + RP_MANIFEST_TRAILER_SIZE);
        assert_int_equal(rp_manifest_decode(de, lene, &e2), 0);
        assert_true(rp_manifest_equal(empty, e2));
        assert_false(rp_manifest_equal(empty, m));
}

/* Re-seal @p d (recompute the checksum) after a deliberate change. */
static void reseal(uint8_t *d, size_t len)
{
        rp_sha256(d, len - RP_MANIFEST_TRAILER_SIZE, d + len - RP_MANIFEST_TRAILER_SIZE);
}

static void put64le(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void put32le(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

typedef void (*mutator)(uint8_t *d, size_t *len);

static void m_magic(uint8_t *d, size_t *len)
{
        d[7] = '2';
}
static void m_version(uint8_t *d, size_t *len)
{
        put32le(d + 8, 2);
}
static void m_flags(uint8_t *d, size_t *len)
{
        put32le(d + 12, 1);
}
static void m_disk_zero(uint8_t *d, size_t *len)
{
        put64le(d + 16, 0);
}
static void m_disk_unaligned(uint8_t *d, size_t *len)
{
        put64le(d + 16, 5 * CHUNK + 100);
}
static void m_disk_huge(uint8_t *d, size_t *len)
{
        put64le(d + 16, RP_MAX_DISK_BYTES + 512);
}
static void m_disk_too_small(uint8_t *d, size_t *len)
{
        put64le(d + 16, 4 * CHUNK); /* entry 4 is then beyond the disk */
}
static void m_chunk_size(uint8_t *d, size_t *len)
{
        put32le(d + 24, 4u << 20);
}
static void m_reserved(uint8_t *d, size_t *len)
{
        put32le(d + 28, 1);
}
static void m_count_more(uint8_t *d, size_t *len)
{
        put64le(d + 32, 4);
}
static void m_count_less(uint8_t *d, size_t *len)
{
        put64le(d + 32, 2);
}
static void m_count_huge(uint8_t *d, size_t *len)
{
        put64le(d + 32, UINT64_MAX / 40 + 1); /* would overflow n * 40 */
}
static void m_unsorted(uint8_t *d, size_t *len)
{
        put64le(d + 40 + 40, 0); /* entries 1, 0, 4 */
        put64le(d + 40, 1);
}
static void m_duplicate(uint8_t *d, size_t *len)
{
        put64le(d + 40 + 40, 1); /* entries 1, 1, 4 */
}
static void m_beyond(uint8_t *d, size_t *len)
{
        put64le(d + 40 + 80, 10); /* disk has 10 chunks: index 10 is past it */
}
static void m_zero_id(uint8_t *d, size_t *len)
{
        memset(d + 40 + 8, 0, 32);
}
static void m_trailing(uint8_t *d, size_t *len)
{
        d[*len] = 0;
        (*len)++;
}
static void m_truncated(uint8_t *d, size_t *len)
{
        memmove(d + *len - 33, d + *len - 32, 32);
        (*len)--;
}

static void test_store_manifest__every_corruption_rejected(void **state)
{
        /* 10 chunks, entries 1, 2, 4. */
        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        assert_int_equal(rp_manifest_new(10 * CHUNK, &m), 0);
        uint64_t idx[] = { 1, 2, 4 };
        for (size_t i = 0; i < 3; i++) {
                uint8_t id[32];
                make_id(id, idx[i]);
                assert_int_equal(rp_manifest_set(m, idx[i], id), 0);
        }
        _cleanup_free_ uint8_t *good = NULL;
        size_t good_len = 0;
        assert_int_equal(rp_manifest_encode(m, &good, &good_len), 0);

        static const mutator muts[] = { m_magic,          m_version,        m_flags,
                                        m_disk_zero,      m_disk_unaligned, m_disk_huge,
                                        m_disk_too_small, m_chunk_size,     m_reserved,
                                        m_count_more,     m_count_less,     m_count_huge,
                                        m_unsorted,       m_duplicate,      m_beyond,
                                        m_zero_id,        m_trailing,       m_truncated };
        _cleanup_free_ uint8_t *d = rp_malloc(good_len + 1);
        for (size_t k = 0; k < ELEMENTSOF(muts); k++) {
                size_t len = good_len;
                memcpy(d, good, good_len);
                muts[k](d, &len);
                reseal(d, len); /* so the structural check, not the checksum, must refuse it */
                rp_manifest *bad = NULL;
                int r = rp_manifest_decode(d, len, &bad);
                if (r != -EBADMSG)
                        fail_msg("mutation %zu: decode returned %d", k, r);
                assert_null(bad);
        }

        /* Any single bit flip anywhere (checksum not recomputed). */
        for (size_t i = 0; i < good_len; i++) {
                memcpy(d, good, good_len);
                d[i] ^= (uint8_t)(1u << (i % 8));
                rp_manifest *bad = NULL;
                assert_int_equal(rp_manifest_decode(d, good_len, &bad), -EBADMSG);
        }
        /* Every truncation. */
        for (size_t len = 0; len < good_len; len++) {
                rp_manifest *bad = NULL;
                assert_int_equal(rp_manifest_decode(good, len, &bad), -EBADMSG);
        }
        rp_manifest *bad = NULL;
        assert_int_equal(rp_manifest_decode(good, (size_t)RP_MANIFEST_MAX_BYTES + 1, &bad), -E2BIG);
}

static void test_store_manifest__merge(void **state)
{
        _cleanup_(rp_manifest_freep) rp_manifest *prev = NULL, *next = NULL, *grown = NULL,
                                                 *shrunk = NULL, *full = NULL;
        assert_int_equal(rp_manifest_new(8 * CHUNK, &prev), 0);
        uint8_t ids[16][32], zero[32] = { 0 };
        for (int i = 0; i < 16; i++)
                make_id(ids[i], 1000 + (uint64_t)i);
        for (uint64_t i = 0; i < 8; i += 2)
                assert_int_equal(rp_manifest_set(prev, i, ids[i]), 0); /* 0 2 4 6 */

        /* 1 new, 2 changed, 4 became a hole, 7 new. */
        rp_manifest_entry ch[4] = {
                { .index = 1 }, { .index = 2 }, { .index = 4 }, { .index = 7 }
        };
        memcpy(ch[0].id, ids[9], 32);
        memcpy(ch[1].id, ids[10], 32);
        memcpy(ch[2].id, zero, 32);
        memcpy(ch[3].id, ids[11], 32);
        assert_int_equal(rp_manifest_merge(prev, 8 * CHUNK, ch, 4, &next), 0);
        uint8_t got[32];
        assert_int_equal(rp_manifest_get(next, 0, got), 1);
        assert_memory_equal(got, ids[0], 32);
        assert_int_equal(rp_manifest_get(next, 1, got), 1);
        assert_memory_equal(got, ids[9], 32);
        assert_int_equal(rp_manifest_get(next, 2, got), 1);
        assert_memory_equal(got, ids[10], 32);
        assert_int_equal(rp_manifest_get(next, 3, got), 0);
        assert_int_equal(rp_manifest_get(next, 4, got), 0);
        assert_int_equal(rp_manifest_get(next, 6, got), 1);
        assert_memory_equal(got, ids[6], 32);
        assert_int_equal(rp_manifest_get(next, 7, got), 1);
        size_t n;
        rp_manifest_entries(next, &n);
        assert_int_equal(n, 5);
        /* prev is untouched */
        assert_int_equal(rp_manifest_get(prev, 4, got), 1);

        /* The disk grew: new chunks are holes unless changed. */
        rp_manifest_entry g = { .index = 12 };
        memcpy(g.id, ids[12], 32);
        assert_int_equal(rp_manifest_merge(prev, 16 * CHUNK, &g, 1, &grown), 0);
        assert_int_equal(rp_manifest_chunk_count(grown), 16);
        rp_manifest_entries(grown, &n);
        assert_int_equal(n, 5);
        assert_int_equal(rp_manifest_get(grown, 12, got), 1);
        assert_int_equal(rp_manifest_get(grown, 10, got), 0);

        /* Shrunk: entries past the end are dropped. */
        assert_int_equal(rp_manifest_merge(prev, 3 * CHUNK, NULL, 0, &shrunk), 0);
        rp_manifest_entries(shrunk, &n);
        assert_int_equal(n, 2);

        /* No previous point: a full one. */
        assert_int_equal(rp_manifest_merge(NULL, 8 * CHUNK, ch, 4, &full), 0);
        rp_manifest_entries(full, &n);
        assert_int_equal(n, 3);

        /* Bad change lists. */
        rp_manifest *bad = NULL;
        rp_manifest_entry unsorted[2] = { ch[2], ch[1] };
        assert_int_equal(rp_manifest_merge(prev, 8 * CHUNK, unsorted, 2, &bad), -EINVAL);
        rp_manifest_entry dup[2] = { ch[1], ch[1] };
        assert_int_equal(rp_manifest_merge(prev, 8 * CHUNK, dup, 2, &bad), -EINVAL);
        assert_int_equal(rp_manifest_merge(prev, 4 * CHUNK, &ch[3], 1, &bad), -ERANGE);
        assert_int_equal(rp_manifest_merge(prev, 100, NULL, 0, &bad), -EINVAL);
        assert_null(bad);
}

static void test_store_manifest__file_roundtrip(void **state)
{
        char dir[] = "/tmp/rpmanifXXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_free_ char *path = rp_asprintf("%s/disk0.manifest", dir);
        _cleanup_(rp_manifest_freep) rp_manifest *m = sample(), *m2 = NULL;
        assert_int_equal(rp_manifest_write_file(m, path), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(rp_manifest_read_file(path, &m2), 0);
        assert_true(rp_manifest_equal(m, m2));

        /* Overwrite is atomic: the new one, whole. */
        uint8_t id[32];
        make_id(id, 77);
        assert_int_equal(rp_manifest_set(m, 1, id), 0);
        assert_int_equal(rp_manifest_write_file(m, path), 0);
        m2 = rp_manifest_free(m2);
        assert_int_equal(rp_manifest_read_file(path, &m2), 0);
        assert_true(rp_manifest_equal(m, m2));

        /* A damaged file. */
        st_flip(path, 100, 4);
        rp_manifest *bad = NULL;
        assert_int_equal(rp_manifest_read_file(path, &bad), -EBADMSG);
        unlink(path);
        assert_int_equal(rp_manifest_read_file(path, &bad), -ENOENT);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_store_manifest__new_refuses_bad_sizes),
                cmocka_unit_test(test_store_manifest__set_and_lookup),
                cmocka_unit_test(test_store_manifest__foreach_in_order),
                cmocka_unit_test(test_store_manifest__lookup_all),
                cmocka_unit_test(test_store_manifest__encode_decode_roundtrip),
                cmocka_unit_test(test_store_manifest__every_corruption_rejected),
                cmocka_unit_test(test_store_manifest__merge),
                cmocka_unit_test(test_store_manifest__file_roundtrip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
