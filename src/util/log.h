/* log.h: structured log lines (key=value) to stderr, with the request ids of the current thread. */
#pragma once
#include <errno.h>

enum rp_log_level {
        RP_LOG_DEBUG,
        RP_LOG_INFO,
        RP_LOG_NOTICE,
        RP_LOG_WARNING,
        RP_LOG_ERROR,
        _RP_LOG_LEVEL_MAX,
        _RP_LOG_LEVEL_INVALID = -EINVAL,
};

/** The current threshold; lines below it are not formatted at all. */
extern int rp_log_max_level;

/** The level named @p s (debug, info, notice, warning, error). @return it, or -EINVAL. */
int rp_log_level_from_string(const char *s);
/** Set the threshold from a name (debug, info, notice, warning, error). @return 0 or -EINVAL. */
int rp_log_set_level_from_string(const char *s);
/** Attach request ids to every line this thread logs until rp_log_clear_request(). Not copied. */
void rp_log_set_request(const char *request_id, const char *correlation_id);
/** Detach the request ids from this thread. */
void rp_log_clear_request(void);

/** Write one line. @p error (a positive errno, or 0) adds err=. @return -error. */
int rp_log_internal(int level, int error, const char *file, int line, const char *func,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define rp_log_full(level, error, ...)                                                             \
        ({                                                                                         \
                int _l = (level), _e = (error);                                                    \
                _e = _e < 0 ? -_e : _e;                                                            \
                _l >= rp_log_max_level                                                             \
                        ? rp_log_internal(_l, _e, __FILE__, __LINE__, __func__, __VA_ARGS__)       \
                        : -_e;                                                                     \
        })

#define log_debug(...) rp_log_full(RP_LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) rp_log_full(RP_LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) rp_log_full(RP_LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) rp_log_full(RP_LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) rp_log_full(RP_LOG_ERROR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) rp_log_full(RP_LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) rp_log_full(RP_LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) rp_log_full(RP_LOG_ERROR, e, __VA_ARGS__)

/** Log our own bug at file:line and go on. */
#define RP_BREAK(cond)                                                                             \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        log_error("internal check failed: %s", #cond);                             \
        } while (0)
/** Log a protocol violation by a client or peer and go on. */
#define RP_BREAK_OP(cond)                                                                          \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        log_warning("protocol violation: %s", #cond);                              \
        } while (0)
