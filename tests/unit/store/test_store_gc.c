/* test_store_gc.c: garbage collection: removal, pack deletion and rewrite, and safety against
 * concurrent puts, has() and gets. */
#include <pthread.h>
#include <stdatomic.h>

#include "store_test.h"

#define MAX_IDS 160

/* The liveness oracle of a test: the ids it says are live. */
typedef struct oracle {
        uint8_t ids[MAX_IDS][32];
        bool live[MAX_IDS];
        size_t n;
        int fail_at; /* > 0: the fail_at-th call returns -EIO */
        int calls;
        rp_store *s;          /* for hooks */
        uint8_t touch[4][32]; /* ids the hook re-puts or checks */
        uint64_t touch_seed[4];
        int hook_r;
} oracle;

static int is_live(void *ud, const uint8_t id[32])
{
        oracle *o = ud;
        o->calls++;
        if (o->fail_at > 0 && o->calls == o->fail_at)
                return -EIO;
        for (size_t i = 0; i < o->n; i++)
                if (memcmp(o->ids[i], id, 32) == 0)
                        return o->live[i];
        return 0; /* unknown: dead */
}

/* Put @p n random chunks with seeds base + i into o->ids. */
static void put_many(oracle *o, rp_store *s, uint64_t base, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                assert_true(o->n < MAX_IDS);
                st_put_random(s, base + i, CHUNK, o->ids[o->n]);
                o->n++;
        }
}

static void test_store_gc__dead_removed_live_kept(void **state)
{
        store_fixture *f = *state;
        oracle o = { .n = 0 };
        put_many(&o, f->s, 0, 20);
        for (size_t i = 0; i < o.n; i++)
                o.live[i] = i % 2 == 0;
        rp_store_gc_result res;
        assert_int_equal(rp_store_gc(f->s, is_live, &o, &res), 0);
        assert_int_equal(res.checked, 20);
        assert_int_equal(res.dead, 10);
        assert_int_equal(res.removed, 10);
        assert_int_equal(res.pinned, 0);
        /* The only pack is the current one: never compacted. */
        assert_int_equal(res.packs_removed, 0);
        assert_int_equal(res.packs_rewritten, 0);
        _cleanup_free_ uint8_t *b = st_chunk();
        for (size_t i = 0; i < o.n; i++) {
                size_t n;
                if (o.live[i])
                        st_check_random(f->s, o.ids[i], i, CHUNK);
                else
                        assert_int_equal(rp_store_get(f->s, o.ids[i], b, CHUNK, &n), -ENOENT);
        }
        st_reopen(f);
        for (size_t i = 0; i < o.n; i++)
                assert_int_equal(rp_store_has(f->s, o.ids[i]), o.live[i]);
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, 10);
        /* Now that pack 1 is no longer current, it is rewritten (half dead). */
        assert_int_equal(rp_store_gc(f->s, is_live, &o, &res), 0);
        assert_int_equal(res.removed, 0);
        for (size_t i = 0; i < o.n; i++)
                if (o.live[i])
                        st_check_random(f->s, o.ids[i], i, CHUNK);
}

static void test_store_gc__all_dead_pack_deleted(void **state)
{
        store_fixture *f = *state;
        oracle o = { .n = 0 };
        put_many(&o, f->s, 100, 70); /* pack 1: 64 chunks, pack 2: 6 */
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f);
        for (size_t i = 0; i < o.n; i++)
                o.live[i] = i >= 64;
        _cleanup_free_ char *p1 = st_pack(f, 1), *p2 = st_pack(f, 2);
        long long size1 = st_file_size(p1);
        rp_store_gc_result res;
        assert_int_equal(rp_store_gc(f->s, is_live, &o, &res), 0);
        assert_int_equal(res.removed, 64);
        assert_int_equal(res.packs_removed, 1);
        assert_int_equal(res.packs_rewritten, 0);
        assert_int_equal(res.bytes_freed, size1);
        assert_int_equal(st_file_size(p1), -1);
        assert_true(st_file_size(p2) > 0);
        for (size_t i = 64; i < o.n; i++)
                st_check_random(f->s, o.ids[i], 100 + i, CHUNK);
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.packs, 1);
        assert_int_equal(st.chunks, 6);
}

static void test_store_gc__mostly_dead_pack_rewritten(void **state)
{
        store_fixture *f = *state;
        oracle o = { .n = 0 };
        put_many(&o, f->s, 200, 70);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f);
        for (size_t i = 0; i < o.n; i++)
                o.live[i] = i >= 64 || i % 4 == 0; /* pack 1: 16 of 64 live */
        _cleanup_free_ char *p1 = st_pack(f, 1), *p2 = st_pack(f, 2), *p3 = st_pack(f, 3);
        rp_store_gc_result res;
        assert_int_equal(rp_store_gc(f->s, is_live, &o, &res), 0);
        assert_int_equal(res.removed, 48);
        assert_int_equal(res.packs_rewritten, 1);
        assert_int_equal(res.chunks_moved, 16);
        assert_int_equal(res.packs_skipped, 0);
        assert_true(res.bytes_freed >= 48 * CHUNK);
        assert_int_equal(st_file_size(p1), -1); /* gone */
        assert_true(st_file_size(p2) > 0);      /* fully live: kept */
        assert_true(st_file_size(p3) > 0);      /* the new current pack: the moved chunks */
        for (size_t i = 0; i < o.n; i++)
                if (o.live[i])
                        st_check_random(f->s, o.ids[i], 200 + i, CHUNK);
        st_reopen(f);
        for (size_t i = 0; i < o.n; i++) {
                assert_int_equal(rp_store_has(f->s, o.ids[i]), o.live[i]);
                if (o.live[i])
                        st_check_random(f->s, o.ids[i], 200 + i, CHUNK);
        }
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, NULL, NULL, &sr), 0);
        assert_int_equal(sr.checked, 22);
        assert_int_equal(sr.bad, 0);
}

static void test_store_gc__rotten_pack_not_rewritten(void **state)
{
        store_fixture *f = *state;
        oracle o = { .n = 0 };
        put_many(&o, f->s, 300, 10);
        assert_int_equal(rp_store_flush(f->s), 0);
        f->s = rp_store_free(f->s);
        /* Chunk 0 is live and its record header is damaged. */
        _cleanup_free_ char *p1 = st_pack(f, 1);
        st_flip(p1, RP_STORE_PACK_HEADER, 0xff);
        st_reopen(f);
        for (size_t i = 0; i < o.n; i++)
                o.live[i] = i < 2;
        rp_store_gc_result res;
        assert_int_equal(rp_store_gc(f->s, is_live, &o, &res), 0);
        assert_int_equal(res.removed, 8);
        assert_int_equal(res.packs_skipped, 1);
        assert_int_equal(res.packs_rewritten, 0);
        assert_true(st_file_size(p1) > 0); /* kept, so scrub can still report the damage */
        st_check_random(f->s, o.ids[1], 301, CHUNK);
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, NULL, NULL, &sr), 0);
        assert_int_equal(sr.bad, 1);
}

#ifdef RP_TEST_HOOKS
/* The hook runs after is_live judged everything, before the dead set is applied. */
static void touch_hook(void *ud)
{
        oracle *o = ud;
        _cleanup_free_ uint8_t *b = rp_malloc(CHUNK);
        uint8_t id[32];
        st_fill_random(b, CHUNK, o->touch_seed[0]);
        uint64_t added = 99;
        o->hook_r = rp_store_put(o->s, b, CHUNK, id, &added); /* dedup hit on a dead chunk */
        if (o->hook_r == 0 && (added != 0 || memcmp(id, o->touch[0], 32) != 0))
                o->hook_r = -EPROTO;
        if (o->hook_r == 0 && rp_store_has(o->s, o->touch[1]) != 1)
                o->hook_r = -EPROTO;
        st_fill_random(b, CHUNK, o->touch_seed[2]); /* a brand new chunk */
        if (o->hook_r == 0)
                o->hook_r = rp_store_put(o->s, b, CHUNK, o->touch[2], &added);
        if (o->hook_r == 0) {
                rp_store_gc_result res;
                o->hook_r = rp_store_gc(o->s, is_live, o, &res) == -EBUSY ? 0 : -EPROTO;
        }
}
#endif

static void test_store_gc__put_during_gc_survives(void **state)
{
#ifndef RP_TEST_HOOKS
        skip(); /* needs the gc hook; the concurrent test below covers the same without it */
#else
        store_fixture *f = *state;
        oracle o = { .n = 0, .s = f->s };
        put_many(&o, f->s, 400, 12);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f); /* pack 1 is then eligible for rewrite: the pins must be moved */
        o.s = f->s;
        for (size_t i = 0; i < o.n; i++)
                o.live[i] = i == 5;
        memcpy(o.touch[0], o.ids[3], 32);
        o.touch_seed[0] = 403;
        memcpy(o.touch[1], o.ids[7], 32);
        o.touch_seed[2] = 999;
        rp_store__test_gc_hook = touch_hook;
        rp_store_gc_result res;
        int r = rp_store_gc(f->s, is_live, &o, &res);
        rp_store__test_gc_hook = NULL;
        assert_int_equal(r, 0);
        assert_int_equal(o.hook_r, 0);
        assert_int_equal(res.dead, 11);
        assert_int_equal(res.pinned, 2);
        assert_int_equal(res.removed, 9);
        assert_int_equal(res.packs_rewritten, 1);
        assert_int_equal(res.chunks_moved, 3);
        st_check_random(f->s, o.ids[3], 403, CHUNK);
        st_check_random(f->s, o.ids[7], 407, CHUNK);
        st_check_random(f->s, o.ids[5], 405, CHUNK);
        st_check_random(f->s, o.touch[2], 999, CHUNK);
        assert_int_equal(rp_store_has(f->s, o.ids[4]), 0);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f);
        st_check_random(f->s, o.ids[3], 403, CHUNK);
        st_check_random(f->s, o.ids[7], 407, CHUNK);
        st_check_random(f->s, o.touch[2], 999, CHUNK);
        /* The pins lasted only for that gc: the next one removes what is still dead. */
        assert_int_equal(rp_store_gc(f->s, is_live, &o, &res), 0);
        assert_int_equal(res.removed, 3);
        assert_int_equal(rp_store_has(f->s, o.ids[3]), 0);
#endif
}

static void test_store_gc__is_live_error_stops_before_removing(void **state)
{
        store_fixture *f = *state;
        oracle o = { .n = 0, .fail_at = 5 };
        put_many(&o, f->s, 500, 10);
        rp_store_gc_result res = { .checked = 77 };
        assert_int_equal(rp_store_gc(f->s, is_live, &o, &res), -EIO);
        assert_int_equal(res.checked, 77);
        for (size_t i = 0; i < o.n; i++)
                st_check_random(f->s, o.ids[i], 500 + i, CHUNK);
        /* and the store is not stuck in gc mode */
        o.fail_at = 0;
        o.calls = 0;
        assert_int_equal(rp_store_gc(f->s, is_live, &o, &res), 0);
        assert_int_equal(res.removed, 10);
}

/* ---- concurrency: gc against reader and writer threads ---- */

typedef struct churn {
        rp_store *s;
        oracle *o;
        atomic_int *stop, *errors, *started;
        /* writer: ids it put (after the gc started) that must survive */
        uint8_t put_ids[64][32];
        uint64_t put_seeds[64];
        int n_put;
        long reads;
} churn;

static int is_live_slow(void *ud, const uint8_t id[32])
{
        churn *c = ud;
        atomic_store(c->started, 1);
        usleep(200);
        return is_live(c->o, id);
}

static void *reader_main(void *ud)
{
        churn *c = ud;
        _cleanup_free_ uint8_t *b = rp_malloc(CHUNK), *got = rp_malloc(CHUNK);
        uint64_t x = 5;
        while (!atomic_load(c->stop)) {
                size_t k = (size_t)(st_rand(&x) % c->o->n);
                if (!c->o->live[k])
                        continue;
                size_t n = 0;
                st_fill_random(b, CHUNK, 600 + k);
                if (rp_store_get(c->s, c->o->ids[k], got, CHUNK, &n) < 0 ||
                    memcmp(b, got, CHUNK) != 0)
                        atomic_fetch_add(c->errors, 1);
                c->reads++;
        }
        return NULL;
}

static void *writer_main(void *ud)
{
        churn *c = ud;
        _cleanup_free_ uint8_t *b = rp_malloc(CHUNK);
        while (!atomic_load(c->started))
                usleep(100);
        /* Re-put, while gc runs, chunks it judges dead (13 of pack 1's 64: with the 13 live
         * ones the pack stays mostly dead, so it is rewritten under the readers). */
        for (int i = 0; i < 64 && !atomic_load(c->stop); i++) {
                uint64_t k = 1 + 5 * (uint64_t)(i % 13);
                st_fill_random(b, CHUNK, 600 + k);
                if (rp_store_put(c->s, b, CHUNK, c->put_ids[c->n_put], NULL) < 0) {
                        atomic_fetch_add(c->errors, 1);
                        continue;
                }
                c->put_seeds[c->n_put++] = 600 + k;
                usleep(500);
        }
        return NULL;
}

static void test_store_gc__concurrent_gets_and_puts_survive(void **state)
{
        store_fixture *f = *state;
        oracle o = { .n = 0 };
        put_many(&o, f->s, 600, 70);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f);
        for (size_t i = 0; i < o.n; i++)
                o.live[i] = i % 5 == 0; /* pack 1 mostly dead: rewritten under the readers */
        atomic_int stop = 0, errors = 0, started = 0;
        churn rc = { .s = f->s, .o = &o, .stop = &stop, .errors = &errors, .started = &started };
        churn wc = rc, gc_ud = rc; /* copied before the threads start writing to rc */
        pthread_t rt, wt;
        assert_int_equal(pthread_create(&rt, NULL, reader_main, &rc), 0);
        assert_int_equal(pthread_create(&wt, NULL, writer_main, &wc), 0);
        rp_store_gc_result res;
        int r = rp_store_gc(f->s, is_live_slow, &gc_ud, &res);
        atomic_store(&stop, 1);
        pthread_join(rt, NULL);
        pthread_join(wt, NULL);
        assert_int_equal(r, 0);
        assert_int_equal(atomic_load(&errors), 0);
        assert_true(rc.reads > 0);
        assert_true(wc.n_put > 0);
        assert_true(res.packs_rewritten >= 1);
        /* Every id put after the gc started is there, whatever gc thought of it. */
        for (int i = 0; i < wc.n_put; i++)
                st_check_random(f->s, wc.put_ids[i], wc.put_seeds[i], CHUNK);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f);
        for (int i = 0; i < wc.n_put; i++)
                st_check_random(f->s, wc.put_ids[i], wc.put_seeds[i], CHUNK);
        for (size_t i = 0; i < o.n; i++)
                if (o.live[i])
                        st_check_random(f->s, o.ids[i], 600 + i, CHUNK);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_store_gc__dead_removed_live_kept, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_gc__all_dead_pack_deleted, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_gc__mostly_dead_pack_rewritten, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_gc__rotten_pack_not_rewritten, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_gc__put_during_gc_survives, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_gc__is_live_error_stops_before_removing,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_gc__concurrent_gets_and_puts_survive,
                                                st_setup, st_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
