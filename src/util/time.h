/* time.h: wall and monotonic clocks in microseconds, RFC 3339 formatting. */
#pragma once
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
