/* time.h: wall and monotonic clocks in microseconds, RFC 3339 formatting. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t rp_usec_t;
#define RP_USEC_PER_SEC 1000000ull
#define RP_RFC3339_LEN 40

/** Wall clock, microseconds since the epoch. */
rp_usec_t rp_now_realtime(void);
/** Monotonic clock, microseconds. */
rp_usec_t rp_now_monotonic(void);
/** Format @p t as RFC 3339 UTC with 7 fractional digits, as ARM does, into @p out. @return out. */
char *rp_time_format(rp_usec_t t, char out[RP_RFC3339_LEN]);
/** Format @p t as an HTTP date (RFC 7231) into @p out. @return out. */
char *rp_time_format_http(rp_usec_t t, char out[RP_RFC3339_LEN]);
/** Wait on @p cond (with @p lock, not held by the caller) for at most @p usec, unless *@p stop
 *  is already set. @return *@p stop after the wait (read under the lock). */
bool rp_cond_wait_usec(pthread_cond_t *cond, pthread_mutex_t *lock, const bool *stop,
                       rp_usec_t usec);
