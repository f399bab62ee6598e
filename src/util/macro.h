/* macro.h: cleanup attributes, ownership transfer and small helpers (systemd style). */
#pragma once
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

static inline void rp_freep(void *p)
{
        rp_free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(rp_freep)

static inline void rp_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(rp_closep)

/** Define a cleanup function name##p for pointers to type freed by func (which takes NULL). */
#define RP_DEFINE_CLEANUP(type, func)                                                              \
        static inline void func##p(type **p)                                                       \
        {                                                                                          \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _tp = (p);                                                           \
                (p) = NULL;                                                                        \
                _tp;                                                                               \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _tf = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _tf;                                                                               \
        })

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define RP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RP_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline int rp_streq(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}
static inline int rp_strcaseeq(const char *a, const char *b)
{
        return a && b && strcasecmp(a, b) == 0;
}
static inline const char *rp_strempty(const char *s)
{
        return s ? s : "";
}
