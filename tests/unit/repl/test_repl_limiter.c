/* test_repl_limiter.c: the per pair token bucket (accuracy on a real clock with concurrent
 * takers, exact arithmetic on a fake one, bursts, unlimited, rate changes) and the concurrency
 * semaphore (cap under contention). */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "repl_test.h"

/* ------------------------------------------------------------------------- bucket */

static void test_repl_limiter__exact_on_fake_clock(void **state)
{
        const rp_usec_t s = RP_USEC_PER_SEC;
        _cleanup_(rp_repl_limiter_unrefp) rp_repl_limiter *l = rp_repl_limiter_new(1000000);
        assert_non_null(l);
        assert_int_equal(rp_repl_limiter_rate(l), 1000000);
        rp_usec_t t = 50 * s, wait = 0;
        /* The bucket starts empty: 500 kB wait half a second. */
        assert_int_equal(rp_repl_limiter_take(l, 500000, t, &wait), 0);
        assert_int_equal(wait, s / 2);
        t += wait - 1000;
        assert_int_equal(rp_repl_limiter_take(l, 500000, t, &wait), 0);
        assert_int_equal(wait, 1000);
        t += wait;
        assert_int_equal(rp_repl_limiter_take(l, 500000, t, &wait), 1);
        /* Then the next 500 kB half a second later, not before. */
        assert_int_equal(rp_repl_limiter_take(l, 500000, t, &wait), 0);
        assert_int_equal(wait, s / 2);
        /* A long idle period gives at most max(rate / 4, largest take) = 500 kB of burst. */
        t += 100 * s;
        assert_int_equal(rp_repl_limiter_take(l, 500000, t, &wait), 1);
        assert_int_equal(rp_repl_limiter_take(l, 1000, t, &wait), 0);
        assert_int_equal(wait, 1000);
        /* A clock that goes backwards adds nothing. */
        assert_int_equal(rp_repl_limiter_take(l, 1000, t - s, &wait), 0);
        /* Zero bytes always pass. */
        assert_int_equal(rp_repl_limiter_take(l, 0, t, NULL), 1);
}

static void test_repl_limiter__unlimited_and_rate_change(void **state)
{
        _cleanup_(rp_repl_limiter_unrefp) rp_repl_limiter *l = rp_repl_limiter_new(0);
        for (int i = 0; i < 1000; i++)
                assert_int_equal(rp_repl_limiter_take(l, 1ull << 40, 7, NULL), 1);
        rp_repl_limiter_set_rate(l, 2000000);
        assert_int_equal(rp_repl_limiter_rate(l), 2000000);
        rp_usec_t wait = 0;
        assert_int_equal(rp_repl_limiter_take(l, 1000000, 10 * RP_USEC_PER_SEC, &wait), 0);
        assert_int_equal(wait, RP_USEC_PER_SEC / 2);
        rp_repl_limiter_set_rate(l, 0);
        assert_int_equal(rp_repl_limiter_take(l, 1000000, 10 * RP_USEC_PER_SEC, &wait), 1);
        /* references */
        rp_repl_limiter *r = rp_repl_limiter_ref(l);
        assert_ptr_equal(r, l);
        assert_null(rp_repl_limiter_unref(r));
        assert_null(rp_repl_limiter_unref(NULL));
}

typedef struct taker {
        rp_repl_limiter *l;
        atomic_uint_fast64_t *total;
        rp_usec_t until;
} taker;

static void *take_loop(void *ud)
{
        taker *t = ud;
        while (rp_now_monotonic() < t->until) {
                rp_repl_limiter_take_wait(t->l, RP_CHUNK_SIZE);
                atomic_fetch_add(t->total, RP_CHUNK_SIZE);
        }
        return NULL;
}

/* 10 MB/s shared by 4 concurrent takers of 256 KiB, measured over 1.5 s of real time: within
 * 10 %. */
static void test_repl_limiter__accuracy_real_clock(void **state)
{
        const uint64_t rate = 10ull * 1000 * 1000;
        _cleanup_(rp_repl_limiter_unrefp) rp_repl_limiter *l = rp_repl_limiter_new(rate);
        atomic_uint_fast64_t total;
        atomic_init(&total, 0);
        rp_usec_t start = rp_now_monotonic();
        taker t = { .l = l, .total = &total, .until = start + 3 * RP_USEC_PER_SEC / 2 };
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
                assert_int_equal(pthread_create(&th[i], NULL, take_loop, &t), 0);
        for (int i = 0; i < 4; i++)
                pthread_join(th[i], NULL);
        double secs = (double)(rp_now_monotonic() - start) / RP_USEC_PER_SEC;
        double got = (double)atomic_load(&total) / secs;
        print_message("limiter: %.2f MB/s over %.2f s (want 10.00)\n", got / 1e6, secs);
        assert_true(got > rate * 0.9 && got < rate * 1.1);
}

/* ------------------------------------------------------------------------- semaphore */

/* Tokens taken for plaintext and not used on the link go back, within the bucket's cap. */
static void test_repl_limiter__give_back(void **state)
{
        (void)state;
        const rp_usec_t s = RP_USEC_PER_SEC;
        _cleanup_(rp_repl_limiter_unrefp) rp_repl_limiter *l = rp_repl_limiter_new(1000000);
        assert_non_null(l);
        rp_usec_t t = 10 * s, wait = 0;
        assert_int_equal(rp_repl_limiter_take(l, 400000, t, &wait), 0);
        t += wait;
        assert_int_equal(rp_repl_limiter_take(l, 400000, t, &wait), 1);
        /* 300 kB of those 400 kB did not cross: the next 300 kB pass at once */
        rp_repl_limiter_give(l, 300000);
        assert_int_equal(rp_repl_limiter_take(l, 300000, t, &wait), 1);
        assert_int_equal(rp_repl_limiter_take(l, 1000, t, &wait), 0);
        /* a give-back never fills the bucket past its cap (here the largest take, 400 kB) */
        rp_repl_limiter_give(l, 10000000);
        assert_int_equal(rp_repl_limiter_take(l, 400000, t, &wait), 1);
        assert_int_equal(rp_repl_limiter_take(l, 1000, t, &wait), 0);
        /* unlimited: nothing accrues */
        rp_repl_limiter_set_rate(l, 0);
        rp_repl_limiter_give(l, 5000);
        assert_int_equal(rp_repl_limiter_take(l, 1 << 30, t, &wait), 1);
}

static void test_repl_limiter__sem_basics(void **state)
{
        _cleanup_(rp_repl_sem_unrefp) rp_repl_sem *s = rp_repl_sem_new(2);
        assert_int_equal(rp_repl_sem_try_acquire(s), 1);
        assert_int_equal(rp_repl_sem_try_acquire(s), 1);
        assert_int_equal(rp_repl_sem_try_acquire(s), 0);
        assert_int_equal(rp_repl_sem_in_use(s), 2);
        rp_repl_sem_release(s);
        assert_int_equal(rp_repl_sem_try_acquire(s), 1);
        rp_repl_sem_set_max(s, 1); /* shrinking keeps what is taken */
        assert_int_equal(rp_repl_sem_in_use(s), 2);
        rp_repl_sem_release(s);
        assert_int_equal(rp_repl_sem_try_acquire(s), 0);
        rp_repl_sem_release(s);
        rp_repl_sem_release(s); /* an extra release does not go below zero */
        assert_int_equal(rp_repl_sem_in_use(s), 0);
        rp_repl_sem_set_max(s, 0); /* no cap */
        for (int i = 0; i < 100; i++)
                assert_int_equal(rp_repl_sem_try_acquire(s), 1);
        assert_int_equal(rp_repl_sem_in_use(s), 100);
        rp_repl_sem *r = rp_repl_sem_ref(s);
        assert_null(rp_repl_sem_unref(r));
}

typedef struct contender {
        rp_repl_sem *s;
        atomic_int *inside;
        atomic_int *peak;
} contender;

static void *contend(void *ud)
{
        contender *c = ud;
        for (int i = 0; i < 2000; i++) {
                if (!rp_repl_sem_try_acquire(c->s))
                        continue;
                int n = atomic_fetch_add(c->inside, 1) + 1;
                int p = atomic_load(c->peak);
                while (n > p && !atomic_compare_exchange_weak(c->peak, &p, n))
                        ;
                atomic_fetch_sub(c->inside, 1);
                rp_repl_sem_release(c->s);
        }
        return NULL;
}

static void test_repl_limiter__sem_cap_under_contention(void **state)
{
        _cleanup_(rp_repl_sem_unrefp) rp_repl_sem *s = rp_repl_sem_new(3);
        atomic_int inside, peak;
        atomic_init(&inside, 0);
        atomic_init(&peak, 0);
        contender c = { .s = s, .inside = &inside, .peak = &peak };
        pthread_t th[8];
        for (int i = 0; i < 8; i++)
                assert_int_equal(pthread_create(&th[i], NULL, contend, &c), 0);
        for (int i = 0; i < 8; i++)
                pthread_join(th[i], NULL);
        assert_true(atomic_load(&peak) >= 1 && atomic_load(&peak) <= 3);
        assert_int_equal(rp_repl_sem_in_use(s), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_repl_limiter__exact_on_fake_clock),
                cmocka_unit_test(test_repl_limiter__unlimited_and_rate_change),
                cmocka_unit_test(test_repl_limiter__accuracy_real_clock),
                cmocka_unit_test(test_repl_limiter__give_back),
                cmocka_unit_test(test_repl_limiter__sem_basics),
                cmocka_unit_test(test_repl_limiter__sem_cap_under_contention),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
