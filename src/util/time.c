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

bool rp_cond_wait_usec(pthread_cond_t *cond, pthread_mutex_t *lock, const bool *stop,
                       rp_usec_t usec)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(usec / RP_USEC_PER_SEC);
        ts.tv_nsec += (long)(usec % RP_USEC_PER_SEC) * 1000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(lock);
        if (!*stop)
                pthread_cond_timedwait(cond, lock, &ts);
        bool r = *stop;
        pthread_mutex_unlock(lock);
        return r;
}
