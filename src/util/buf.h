/* buf.h: rp_buf, the one growable buffer: always NUL-terminated, with a hard cap. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

/** A growable byte buffer. ptr is NULL or NUL-terminated; len excludes the NUL. */
typedef struct rp_buf {
        char *ptr;  /**< contents, owned; NUL-terminated when not NULL */
        size_t len; /**< bytes used, excluding the trailing NUL */
        size_t cap; /**< bytes allocated */
        size_t max; /**< hard cap on len; appends beyond it fail with -E2BIG */
} rp_buf;

/** Start an empty buffer that may grow to @p max bytes. No allocation happens yet. */
void rp_buf_init(rp_buf *b, size_t max);
/** Append @p n bytes. @return 0, -E2BIG past the cap, -ENOMEM. On failure b is unchanged. */
int rp_buf_append(rp_buf *b, const void *data, size_t n);
/** Append a C string. Same returns as rp_buf_append(). */
int rp_buf_puts(rp_buf *b, const char *s);
/** Append formatted text. Same returns as rp_buf_append(). */
int rp_buf_printf(rp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Make len 0, keeping the memory. */
void rp_buf_clear(rp_buf *b);
/** Free the contents; the buffer may be reused after rp_buf_init(). */
void rp_buf_done(rp_buf *b);
/** Hand the contents to the caller (rp_free() it; never NULL unless OOM) and empty b. */
char *rp_buf_detach(rp_buf *b);
