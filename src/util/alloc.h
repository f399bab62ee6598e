/* alloc.h: the only allocator of rpd. Counts allocations and can be told to fail the Nth one. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

/** Allocate @p n bytes. @return memory the caller frees with rp_free(), or NULL on OOM. */
void *rp_malloc(size_t n);
/** Allocate zeroed memory for @p count * @p size bytes (overflow-checked). Free with rp_free(). */
void *rp_calloc(size_t count, size_t size);
/** Resize @p p. @return the new block (free with rp_free()), or NULL with @p p untouched. */
void *rp_realloc(void *p, size_t n);
/** Release memory from any rp_ allocator. rp_free(NULL) is a no-op. @return NULL. */
void *rp_free(void *p);
/** Duplicate a string. @return a copy to rp_free(), or NULL on OOM or if @p s is NULL. */
char *rp_strdup(const char *s);
/** Duplicate at most @p n bytes of @p s, NUL-terminated. Free with rp_free(). */
char *rp_strndup(const char *s, size_t n);
/** printf into fresh memory. @return the string to rp_free(), or NULL on OOM. */
char *rp_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** vprintf into fresh memory. @return the string to rp_free(), or NULL on OOM. */
char *rp_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/** Adopt a string that libc allocated (realpath, getline...): copy it into rp_ memory and
 *  free the original with libc's free(). @return the copy to rp_free(), NULL on OOM or NULL in. */
char *rp_adopt_libc_string(char *s);

/** Number of successful allocations so far (for leak and torture tests). */
unsigned long rp_alloc_count(void);
/** Make the @p n th allocation from now fail (0 disables). Used by OOM torture tests. */
void rp_alloc_fail_at(unsigned long n);
