/* buf.c: growable capped buffer. */
#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

void rp_buf_init(rp_buf *b, size_t max)
{
        *b = (rp_buf){ .max = max };
}

static int buf_reserve(rp_buf *b, size_t extra)
{
        /* len + extra <= max <= SIZE_MAX; the "+ 1" for the NUL must not wrap either. */
        if (extra > b->max || b->len > b->max - extra || b->len + extra == SIZE_MAX)
                return -E2BIG;
        size_t need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < need)
                ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
        char *p = rp_realloc(b->ptr, ncap);
        if (!p)
                return -ENOMEM;
        b->ptr = p;
        b->cap = ncap;
        return 0;
}

int rp_buf_append(rp_buf *b, const void *data, size_t n)
{
        int r = buf_reserve(b, n);
        if (r < 0)
                return r;
        if (n)
                memcpy(b->ptr + b->len, data, n);
        b->len += n;
        b->ptr[b->len] = '\0';
        return 0;
}

int rp_buf_puts(rp_buf *b, const char *s)
{
        return rp_buf_append(b, s, strlen(s));
}

int rp_buf_printf(rp_buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        int r = buf_reserve(b, (size_t)n);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
        return 0;
}

void rp_buf_clear(rp_buf *b)
{
        b->len = 0;
        if (b->ptr)
                b->ptr[0] = '\0';
}

void rp_buf_done(rp_buf *b)
{
        rp_free(b->ptr);
        b->ptr = NULL;
        b->len = b->cap = 0;
}

char *rp_buf_detach(rp_buf *b)
{
        char *p = b->ptr ? b->ptr : rp_strdup("");
        b->ptr = NULL;
        b->len = b->cap = 0;
        return p;
}
