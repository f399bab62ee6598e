/* test_store_concurrency.c: several threads putting, getting and flushing one store. */
#include <pthread.h>
#include <stdatomic.h>

#include "store_test.h"

#define THREADS 4
#define PER_THREAD 120
#define SHARED 40 /* seeds every thread puts: races on the dedup path */

typedef struct worker {
        rp_store *s;
        int no;
        atomic_int *errors;
        uint8_t ids[PER_THREAD][32];
        uint64_t seeds[PER_THREAD];
        uint64_t added;
} worker;

static void fill(uint8_t *b, uint64_t seed)
{
        if (seed % 2)
                st_fill_text(b, CHUNK, seed);
        else
                st_fill_random(b, CHUNK, seed);
}

static void *work(void *ud)
{
        worker *w = ud;
        uint8_t *b = rp_malloc(CHUNK), *got = rp_malloc(CHUNK);
        if (!b || !got) {
                atomic_fetch_add(w->errors, 1);
                goto out;
        }
        uint64_t x = (uint64_t)w->no + 1;
        for (int j = 0; j < PER_THREAD; j++) {
                w->seeds[j] = j < SHARED ? (uint64_t)j : 100000u * (uint64_t)(w->no + 1) + j;
                fill(b, w->seeds[j]);
                uint64_t added = 0;
                if (rp_store_put(w->s, b, CHUNK, w->ids[j], &added) < 0)
                        atomic_fetch_add(w->errors, 1);
                w->added += added;
                /* Read back one of ours, old or new. */
                int k = (int)(st_rand(&x) % (uint64_t)(j + 1));
                size_t n = 0;
                fill(b, w->seeds[k]);
                if (rp_store_get(w->s, w->ids[k], got, CHUNK, &n) < 0 || n != CHUNK ||
                    memcmp(got, b, CHUNK) != 0)
                        atomic_fetch_add(w->errors, 1);
                if (j % 37 == 36 && rp_store_flush(w->s) < 0)
                        atomic_fetch_add(w->errors, 1);
        }
out:
        rp_free(b);
        rp_free(got);
        return NULL;
}

static void test_store_concurrency__puts_and_gets_from_4_threads(void **state)
{
        store_fixture *f = *state;
        atomic_int errors = 0;
        worker *w = rp_calloc(THREADS, sizeof *w);
        assert_non_null(w);
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) {
                w[i] = (worker){ .s = f->s, .no = i, .errors = &errors };
                assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
        assert_int_equal(atomic_load(&errors), 0);
        assert_int_equal(rp_store_flush(f->s), 0);

        /* Every shared chunk was stored once, whoever won the race. */
        size_t unique = SHARED + THREADS * (PER_THREAD - SHARED);
        uint64_t added = 0;
        for (int i = 0; i < THREADS; i++)
                added += w[i].added;
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, unique);
        assert_int_equal(st.stored_bytes, added);
        for (int i = 1; i < THREADS; i++)
                assert_memory_equal(w[i].ids[0], w[0].ids[0], 32);

        st_reopen(f);
        _cleanup_free_ uint8_t *b = st_chunk(), *got = st_chunk();
        for (int i = 0; i < THREADS; i++) {
                for (int j = 0; j < PER_THREAD; j++) {
                        size_t n = 0;
                        fill(b, w[i].seeds[j]);
                        assert_int_equal(rp_store_get(f->s, w[i].ids[j], got, CHUNK, &n), 0);
                        assert_memory_equal(got, b, CHUNK);
                }
        }
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, NULL, NULL, &sr), 0);
        assert_int_equal(sr.checked, unique);
        assert_int_equal(sr.bad, 0);
        rp_free(w);
}

typedef struct reader {
        rp_store *s;
        uint8_t (*ids)[32];
        int n;
        atomic_int *errors;
        atomic_int *stop;
        long reads;
} reader;

static void *read_loop(void *ud)
{
        reader *r = ud;
        uint8_t *b = rp_malloc(CHUNK), *got = rp_malloc(CHUNK);
        uint64_t x = 99;
        while (b && got && !atomic_load(r->stop)) {
                int k = (int)(st_rand(&x) % (uint64_t)r->n);
                size_t n = 0;
                st_fill_random(b, CHUNK, (uint64_t)k);
                if (rp_store_get(r->s, r->ids[k], got, CHUNK, &n) < 0 || memcmp(got, b, CHUNK) != 0)
                        atomic_fetch_add(r->errors, 1);
                r->reads++;
        }
        rp_free(b);
        rp_free(got);
        return NULL;
}

static void test_store_concurrency__parallel_readers_while_writing(void **state)
{
        store_fixture *f = *state;
        enum {
                N = 32
        };
        uint8_t ids[N][32];
        for (int i = 0; i < N; i++)
                st_put_random(f->s, (uint64_t)i, CHUNK, ids[i]);
        assert_int_equal(rp_store_flush(f->s), 0);
        atomic_int errors = 0, stop = 0;
        reader rd[3];
        pthread_t t[3];
        for (int i = 0; i < 3; i++) {
                rd[i] = (reader){ .s = f->s, .ids = ids, .n = N, .errors = &errors, .stop = &stop };
                assert_int_equal(pthread_create(&t[i], NULL, read_loop, &rd[i]), 0);
        }
        /* Meanwhile, enough writes to rotate a pack. */
        for (int i = 0; i < 80; i++) {
                uint8_t id[32];
                st_put_random(f->s, 5000 + (uint64_t)i, CHUNK, id);
        }
        assert_int_equal(rp_store_flush(f->s), 0);
        atomic_store(&stop, 1);
        for (int i = 0; i < 3; i++) {
                pthread_join(t[i], NULL);
                assert_true(rd[i].reads > 0);
        }
        assert_int_equal(atomic_load(&errors), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(
                        test_store_concurrency__puts_and_gets_from_4_threads, st_setup,
                        st_teardown),
                cmocka_unit_test_setup_teardown(
                        test_store_concurrency__parallel_readers_while_writing, st_setup,
                        st_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
