/* repl_limiter.c: the per region pair token bucket and concurrency semaphore.
 *
 * DESIGN
 *
 * The bucket starts empty and fills at the rate, capped at max(rate / 4, largest take seen), so
 * over any window the bytes granted are at most rate * window + one burst cap: a copy that
 * asks for a whole batch waits until the batch is paid for, then sends it at link speed while
 * the bucket refills for the next one. No debt is allowed, so a long measurement is accurate
 * and the first window is not inflated by a full bucket. Time comes from the caller (the
 * engine's clock), so tests can drive it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "repl/repl.h"
#include "util/alloc.h"

struct rp_repl_limiter {
        atomic_uint refs;
        pthread_mutex_t lock;
        uint64_t rate;  /* bytes per second, 0 = unlimited */
        double tokens;  /* bytes available */
        double cap;     /* most tokens kept */
        rp_usec_t last; /* monotonic time of the last refill */
        bool primed;    /* last is set */
};

rp_repl_limiter *rp_repl_limiter_new(uint64_t bytes_per_sec)
{
        rp_repl_limiter *l = rp_calloc(1, sizeof *l);
        if (!l)
                return NULL;
        atomic_init(&l->refs, 1);
        pthread_mutex_init(&l->lock, NULL);
        l->rate = bytes_per_sec;
        l->cap = (double)bytes_per_sec / 4.0;
        return l;
}

rp_repl_limiter *rp_repl_limiter_ref(rp_repl_limiter *l)
{
        if (l)
                atomic_fetch_add(&l->refs, 1);
        return l;
}

rp_repl_limiter *rp_repl_limiter_unref(rp_repl_limiter *l)
{
        if (l && atomic_fetch_sub(&l->refs, 1) == 1) {
                pthread_mutex_destroy(&l->lock);
                rp_free(l);
        }
        return NULL;
}

void rp_repl_limiter_set_rate(rp_repl_limiter *l, uint64_t bytes_per_sec)
{
        pthread_mutex_lock(&l->lock);
        l->rate = bytes_per_sec;
        if (l->cap < (double)bytes_per_sec / 4.0)
                l->cap = (double)bytes_per_sec / 4.0;
        pthread_mutex_unlock(&l->lock);
}

uint64_t rp_repl_limiter_rate(rp_repl_limiter *l)
{
        pthread_mutex_lock(&l->lock);
        uint64_t r = l->rate;
        pthread_mutex_unlock(&l->lock);
        return r;
}

int rp_repl_limiter_take(rp_repl_limiter *l, uint64_t bytes, rp_usec_t now, rp_usec_t *ret_wait)
{
        pthread_mutex_lock(&l->lock);
        if (l->rate == 0) {
                /* Unlimited: nothing accrues; a later rate starts from an empty bucket. */
                l->tokens = 0;
                l->primed = false;
                pthread_mutex_unlock(&l->lock);
                return 1;
        }
        if ((double)bytes > l->cap)
                l->cap = (double)bytes;
        if (l->primed && now > l->last)
                l->tokens += (double)(now - l->last) * (double)l->rate / (double)RP_USEC_PER_SEC;
        if (!l->primed || now > l->last)
                l->last = now;
        l->primed = true;
        if (l->tokens > l->cap)
                l->tokens = l->cap;
        int granted = l->tokens >= (double)bytes;
        if (granted)
                l->tokens -= (double)bytes;
        else if (ret_wait) {
                double missing = (double)bytes - l->tokens;
                rp_usec_t w = (rp_usec_t)(missing * (double)RP_USEC_PER_SEC / (double)l->rate);
                *ret_wait = w > 0 ? w : 1;
        }
        pthread_mutex_unlock(&l->lock);
        return granted;
}

void rp_repl_limiter_give(rp_repl_limiter *l, uint64_t bytes)
{
        pthread_mutex_lock(&l->lock);
        if (l->rate > 0) {
                l->tokens += (double)bytes;
                if (l->tokens > l->cap)
                        l->tokens = l->cap;
        }
        pthread_mutex_unlock(&l->lock);
}

void rp_repl_limiter_take_wait(rp_repl_limiter *l, uint64_t bytes)
{
        for (;;) {
                rp_usec_t wait = 0;
                if (rp_repl_limiter_take(l, bytes, rp_now_monotonic(), &wait))
                        return;
                struct timespec ts = { .tv_sec = (time_t)(wait / RP_USEC_PER_SEC),
                                       .tv_nsec = (long)(wait % RP_USEC_PER_SEC) * 1000 };
                nanosleep(&ts, NULL);
        }
}

/* ------------------------------------------------------------------------- semaphore */

struct rp_repl_sem {
        atomic_uint refs;
        pthread_mutex_t lock;
        unsigned max, used;
};

rp_repl_sem *rp_repl_sem_new(unsigned max)
{
        rp_repl_sem *s = rp_calloc(1, sizeof *s);
        if (!s)
                return NULL;
        atomic_init(&s->refs, 1);
        pthread_mutex_init(&s->lock, NULL);
        s->max = max;
        return s;
}

rp_repl_sem *rp_repl_sem_ref(rp_repl_sem *s)
{
        if (s)
                atomic_fetch_add(&s->refs, 1);
        return s;
}

rp_repl_sem *rp_repl_sem_unref(rp_repl_sem *s)
{
        if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
                pthread_mutex_destroy(&s->lock);
                rp_free(s);
        }
        return NULL;
}

int rp_repl_sem_try_acquire(rp_repl_sem *s)
{
        pthread_mutex_lock(&s->lock);
        int ok = s->max == 0 || s->used < s->max;
        if (ok)
                s->used++;
        pthread_mutex_unlock(&s->lock);
        return ok;
}

void rp_repl_sem_release(rp_repl_sem *s)
{
        pthread_mutex_lock(&s->lock);
        if (s->used > 0)
                s->used--;
        pthread_mutex_unlock(&s->lock);
}

void rp_repl_sem_set_max(rp_repl_sem *s, unsigned max)
{
        pthread_mutex_lock(&s->lock);
        s->max = max;
        pthread_mutex_unlock(&s->lock);
}

unsigned rp_repl_sem_in_use(rp_repl_sem *s)
{
        pthread_mutex_lock(&s->lock);
        unsigned n = s->used;
        pthread_mutex_unlock(&s->lock);
        return n;
}
