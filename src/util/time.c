#include "time.h"

#include <stdio.h>
#include <time.h>

static rp_usec_t clock_usec(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (rp_usec_t)ts.tv_sec * RP_USEC_PER_SEC + (rp_usec_t)ts.tv_nsec / 1000;
}

rp_usec_t rp_now_realtime(void)
{
        return clock_usec(CLOCK_REALTIME);
}

rp_usec_t rp_now_monotonic(void)
{
        return clock_usec(CLOCK_MONOTONIC);
}

char *rp_time_format(rp_usec_t t, char out[RP_RFC3339_LEN])
{
        time_t s = (time_t)(t / RP_USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&s, &tm);
        size_t n = strftime(out, RP_RFC3339_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out + n, RP_RFC3339_LEN - n, ".%07lluZ",
                 (unsigned long long)(t % RP_USEC_PER_SEC) * 10ull);
        return out;
}

char *rp_time_format_http(rp_usec_t t, char out[RP_RFC3339_LEN])
{
        time_t s = (time_t)(t / RP_USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&s, &tm);
        strftime(out, RP_RFC3339_LEN, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        return out;
}
