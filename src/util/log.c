/* log.c: one structured line per event: ts= level= req= corr= msg="..." [err=] src=. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "limits.h"

int rp_log_max_level = RP_LOG_INFO;

static const char *const level_names[_RP_LOG_LEVEL_MAX] = {
        [RP_LOG_DEBUG] = "debug",     [RP_LOG_INFO] = "info",   [RP_LOG_NOTICE] = "notice",
        [RP_LOG_WARNING] = "warning", [RP_LOG_ERROR] = "error",
};

static _Thread_local const char *tl_request_id;
static _Thread_local const char *tl_correlation_id;

int rp_log_level_from_string(const char *s)
{
        for (int i = 0; i < _RP_LOG_LEVEL_MAX; i++)
                if (s && strcmp(s, level_names[i]) == 0)
                        return i;
        return -EINVAL;
}

int rp_log_set_level_from_string(const char *s)
{
        int l = rp_log_level_from_string(s);
        if (l < 0)
                return l;
        rp_log_max_level = l;
        return 0;
}

void rp_log_set_request(const char *request_id, const char *correlation_id)
{
        tl_request_id = request_id;
        tl_correlation_id = correlation_id;
}

void rp_log_clear_request(void)
{
        tl_request_id = tl_correlation_id = NULL;
}

int rp_log_internal(int level, int error, const char *file, int line, const char *func,
                    const char *fmt, ...)
{
        char msg[RP_MAX_LOG_LINE];
        char ts[40];
        struct timeval tv;
        struct tm tm;
        int saved = errno;

        errno = error;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        /* Keep the line one line and the quoting unambiguous. */
        for (char *p = msg; *p; p++)
                if (*p == '\n' || *p == '"')
                        *p = *p == '"' ? '\'' : ' ';

        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        const char *base = strrchr(file, '/');

        flockfile(stderr);
        fprintf(stderr, "ts=%s.%03ldZ level=%s", ts, (long)(tv.tv_usec / 1000),
                level >= 0 && level < _RP_LOG_LEVEL_MAX ? level_names[level] : "?");
        if (tl_request_id)
                fprintf(stderr, " req=%s", tl_request_id);
        if (tl_correlation_id)
                fprintf(stderr, " corr=%s", tl_correlation_id);
        fprintf(stderr, " msg=\"%s\"", msg);
        if (error)
                fprintf(stderr, " err=\"%s\"", strerror(error));
        fprintf(stderr, " src=%s:%d\n", base ? base + 1 : file, line);
        funlockfile(stderr);
        (void)func;
        errno = saved;
        return -error;
}
