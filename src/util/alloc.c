/* alloc.c: allocation wrappers. Raw malloc/free appear only here. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong alloc_count;
static atomic_ulong fail_countdown;

static int should_fail(void)
{
        unsigned long c = atomic_load(&fail_countdown);
        while (c > 0) {
                if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1))
                        return c == 1;
        }
        return 0;
}

void *rp_malloc(size_t n)
{
        if (should_fail())
                return NULL;
        void *p = malloc(n ? n : 1);
        if (p)
                atomic_fetch_add(&alloc_count, 1);
        return p;
}

void *rp_calloc(size_t count, size_t size)
{
        /* Check here rather than rely on libc: sanitizer allocators abort on overflow. */
        if (size && count > SIZE_MAX / size)
                return NULL;
        if (should_fail())
                return NULL;
        void *p = calloc(count ? count : 1, size ? size : 1);
        if (p)
                atomic_fetch_add(&alloc_count, 1);
        return p;
}

void *rp_realloc(void *p, size_t n)
{
        if (should_fail())
                return NULL;
        void *q = realloc(p, n ? n : 1);
        if (q && !p)
                atomic_fetch_add(&alloc_count, 1);
        return q;
}

void *rp_free(void *p)
{
        free(p);
        return NULL;
}

char *rp_strdup(const char *s)
{
        if (!s)
                return NULL;
        return rp_strndup(s, strlen(s));
}

char *rp_strndup(const char *s, size_t n)
{
        if (!s)
                return NULL;
        size_t l = strnlen(s, n);
        char *d = rp_malloc(l + 1);
        if (!d)
                return NULL;
        memcpy(d, s, l);
        d[l] = '\0';
        return d;
}

char *rp_vasprintf(const char *fmt, va_list ap)
{
        va_list aq;
        va_copy(aq, ap);
        int n = vsnprintf(NULL, 0, fmt, aq);
        va_end(aq);
        if (n < 0)
                return NULL;
        char *s = rp_malloc((size_t)n + 1);
        if (!s)
                return NULL;
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        return s;
}

char *rp_asprintf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = rp_vasprintf(fmt, ap);
        va_end(ap);
        return s;
}

unsigned long rp_alloc_count(void)
{
        return atomic_load(&alloc_count);
}

void rp_alloc_fail_at(unsigned long n)
{
        atomic_store(&fail_countdown, n);
}

char *rp_adopt_libc_string(char *s)
{
        if (!s)
                return NULL;
        char *copy = rp_strdup(s);
        free(s);
        return copy;
}
