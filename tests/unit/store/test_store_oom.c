/* test_store_oom.c: OOM torture: fail the Nth allocation, N = 1, 2, ... over open, put, flush,
 * get, gc, scrub and manifest decode. Every failure must be -ENOMEM, leave no leak (ASan) and
 * leave the store usable. */
#include "store/manifest.h"
#include "store_test.h"

#define MAX_N 2000

/* One pass of the store workload. Stops at the first error. @return 0 or that error. */
static int workload(store_fixture *f, const char *sub, rp_store **ret_s)
{
        _cleanup_free_ char *chunks = rp_asprintf("%s/%s", f->dir, sub);
        _cleanup_free_ char *db = rp_asprintf("%s/%s.db", f->dir, sub);
        _cleanup_free_ uint8_t *b = rp_malloc(CHUNK), *got = rp_malloc(CHUNK);
        if (!chunks || !db || !b || !got)
                return -ENOMEM;
        int r = rp_store_open(chunks, db, f->id_key, f->enc_key, ret_s);
        if (r < 0)
                return r;
        rp_store *s = *ret_s;
        uint8_t ids[3][32];
        st_fill_random(b, CHUNK, 1);
        r = rp_store_put(s, b, CHUNK, ids[0], NULL);
        if (r < 0)
                return r;
        st_fill_text(b, CHUNK, 2);
        r = rp_store_put(s, b, CHUNK, ids[1], NULL);
        if (r < 0)
                return r;
        r = rp_store_put(s, b, CHUNK, ids[2], NULL); /* dedup */
        if (r < 0)
                return r;
        r = rp_store_flush(s);
        if (r < 0)
                return r;
        size_t n;
        for (int i = 0; i < 2; i++) {
                r = rp_store_get(s, ids[i], got, CHUNK, &n);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* After an injected failure the store (if it opened) must still work fully. */
static void check_usable(rp_store *s)
{
        _cleanup_free_ uint8_t *b = st_chunk(), *got = st_chunk();
        for (uint64_t seed = 1; seed <= 2; seed++) {
                if (seed == 1)
                        st_fill_random(b, CHUNK, seed);
                else
                        st_fill_text(b, CHUNK, seed);
                uint8_t id[32];
                assert_int_equal(rp_store_put(s, b, CHUNK, id, NULL), 0);
                assert_int_equal(rp_store_flush(s), 0);
                size_t n = 0;
                assert_int_equal(rp_store_get(s, id, got, CHUNK, &n), 0);
                assert_memory_equal(got, b, CHUNK);
        }
}

static void test_store_oom__put_get_flush_open(void **state)
{
        store_fixture *f = *state;
        unsigned long n;
        for (n = 1; n < MAX_N; n++) {
                char sub[32];
                snprintf(sub, sizeof sub, "it%lu", n);
                rp_store *s = NULL;
                rp_alloc_fail_at(n);
                int r = workload(f, sub, &s);
                rp_alloc_fail_at(0);
                if (r != 0 && r != -ENOMEM)
                        fail_msg("allocation %lu: %d", n, r);
                if (s)
                        check_usable(s);
                rp_store_free(s);
                if (r == 0)
                        break;
        }
        assert_true(n > 5 && n < MAX_N);
}

static int live_half(void *ud, const uint8_t id[32])
{
        return id[0] % 2;
}

static void test_store_oom__gc_and_scrub(void **state)
{
        store_fixture *f = *state;
        uint8_t ids[80][32];
        for (int i = 0; i < 80; i++)
                st_put_random(f->s, (uint64_t)i, CHUNK, ids[i]);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f);
        unsigned long n;
        for (n = 1; n < MAX_N; n++) {
                rp_store_gc_result res;
                rp_alloc_fail_at(n);
                int r = rp_store_gc(f->s, live_half, NULL, &res);
                rp_alloc_fail_at(0);
                if (r != 0 && r != -ENOMEM)
                        fail_msg("allocation %lu: %d", n, r);
                /* Whatever happened, the live chunks are all there and intact. */
                for (int i = 0; i < 80; i++)
                        if (ids[i][0] % 2)
                                st_check_random(f->s, ids[i], (uint64_t)i, CHUNK);
                if (r == 0)
                        break;
        }
        assert_true(n > 1 && n < MAX_N);
        for (n = 1; n < MAX_N; n++) {
                rp_store_scrub_result sr;
                rp_alloc_fail_at(n);
                int r = rp_store_scrub(f->s, NULL, NULL, &sr);
                rp_alloc_fail_at(0);
                if (r != 0 && r != -ENOMEM)
                        fail_msg("allocation %lu: %d", n, r);
                if (r == 0) {
                        assert_int_equal(sr.bad, 0);
                        break;
                }
        }
        st_reopen(f);
        for (int i = 0; i < 80; i++)
                if (ids[i][0] % 2)
                        st_check_random(f->s, ids[i], (uint64_t)i, CHUNK);
}

static void test_store_oom__manifest(void **state)
{
        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        assert_int_equal(rp_manifest_new(1ull << 30, &m), 0);
        for (uint64_t i = 0; i < 4096; i += 7) {
                uint8_t id[32];
                st_fill_random(id, 32, i + 1);
                assert_int_equal(rp_manifest_set(m, i, id), 0);
        }
        _cleanup_free_ uint8_t *d = NULL;
        size_t len = 0;
        assert_int_equal(rp_manifest_encode(m, &d, &len), 0);
        unsigned long n;
        for (n = 1; n < MAX_N; n++) {
                rp_manifest *m2 = NULL, *m3 = NULL;
                uint8_t *d2 = NULL;
                size_t len2 = 0;
                rp_manifest_entry ch = { .index = 3, .id = { 1 } };
                rp_alloc_fail_at(n);
                int r = rp_manifest_decode(d, len, &m2);
                if (r == 0)
                        r = rp_manifest_encode(m2, &d2, &len2);
                if (r == 0)
                        r = rp_manifest_merge(m2, 1ull << 30, &ch, 1, &m3);
                if (r == 0)
                        r = rp_manifest_set(m3, 4095, ch.id);
                rp_alloc_fail_at(0);
                if (r != 0 && r != -ENOMEM)
                        fail_msg("allocation %lu: %d", n, r);
                if (r == 0) {
                        assert_true(rp_manifest_equal(m, m2));
                        assert_int_equal(len2, len);
                }
                rp_manifest_free(m2);
                rp_manifest_free(m3);
                rp_free(d2);
                if (r == 0)
                        break;
        }
        assert_true(n > 3 && n < MAX_N);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_store_oom__put_get_flush_open, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_oom__gc_and_scrub, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_oom__manifest, st_setup, st_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
