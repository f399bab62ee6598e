/* test_util_buf.c: rp_buf caps, growth, failure atomicity; the allocator's counters and
 * fail-Nth hook. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

/* A copy of a buffer's visible state, to show a failed call left it alone. */
typedef struct snap {
        char *ptr;
        size_t len, cap, max;
        char text[256];
} snap;

static snap take(const rp_buf *b)
{
        snap s = { .ptr = b->ptr, .len = b->len, .cap = b->cap, .max = b->max };
        if (b->ptr)
                memcpy(s.text, b->ptr, RP_MIN(b->len + 1, sizeof s.text));
        return s;
}

static void assert_unchanged(const rp_buf *b, const snap *s)
{
        assert_ptr_equal(b->ptr, s->ptr);
        assert_int_equal(b->len, s->len);
        assert_int_equal(b->cap, s->cap);
        assert_int_equal(b->max, s->max);
        if (b->ptr)
                assert_memory_equal(b->ptr, s->text, RP_MIN(b->len + 1, sizeof s->text));
}

static void test_util_buf__init_allocates_nothing(void **state)
{
        rp_buf b;
        unsigned long before = rp_alloc_count();
        rp_buf_init(&b, 100);
        assert_null(b.ptr);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.cap, 0);
        assert_int_equal(b.max, 100);
        assert_int_equal(rp_alloc_count(), before);
        rp_buf_done(&b); /* done on a never-used buffer is fine */
        assert_null(b.ptr);
}

static void test_util_buf__append_grows_and_terminates(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 1 << 20);
        size_t last_cap = 0;
        for (int i = 0; i < 1000; i++) {
                assert_int_equal(rp_buf_append(&b, "abc", 3), 0);
                assert_int_equal(b.len, 3u * (unsigned)(i + 1));
                assert_int_equal(b.ptr[b.len], '\0');
                assert_true(b.cap > b.len);
                assert_true(b.cap >= last_cap); /* never shrinks */
                last_cap = b.cap;
        }
        assert_int_equal(strlen(b.ptr), 3000);
        assert_memory_equal(b.ptr + 2997, "abc", 4);
        /* Growth is geometric: 64, 128, ... so 3001 bytes fit in 4096. */
        assert_int_equal(b.cap, 4096);
        rp_buf_done(&b);
        assert_null(b.ptr);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.cap, 0);
}

static void test_util_buf__append_keeps_embedded_nul(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 16);
        assert_int_equal(rp_buf_append(&b, "a\0b", 3), 0);
        assert_int_equal(b.len, 3);
        assert_memory_equal(b.ptr, "a\0b\0", 4);
        rp_buf_done(&b);
}

static void test_util_buf__zero_length_append_terminates(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 0);
        /* Even a zero-byte append (with a NULL source) leaves a valid empty string. */
        assert_int_equal(rp_buf_append(&b, NULL, 0), 0);
        assert_non_null(b.ptr);
        assert_string_equal(b.ptr, "");
        assert_int_equal(rp_buf_puts(&b, ""), 0);
        rp_buf_done(&b);
}

static void test_util_buf__cap_is_exact(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 10);
        assert_int_equal(rp_buf_append(&b, "0123456789", 10), 0);
        assert_int_equal(b.len, 10);
        snap s = take(&b);
        assert_int_equal(rp_buf_append(&b, "x", 1), -E2BIG);
        assert_unchanged(&b, &s);
        assert_int_equal(rp_buf_puts(&b, "x"), -E2BIG);
        assert_unchanged(&b, &s);
        assert_int_equal(rp_buf_printf(&b, "%d", 1), -E2BIG);
        assert_unchanged(&b, &s);
        /* Zero bytes still fit at the cap. */
        assert_int_equal(rp_buf_append(&b, "", 0), 0);
        assert_unchanged(&b, &s);
        rp_buf_done(&b);
}

static void test_util_buf__e2big_leaves_buffer_unchanged(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 100);
        assert_int_equal(rp_buf_puts(&b, "hello"), 0);
        snap s = take(&b);
        char big[101];
        memset(big, 'x', sizeof big);
        assert_int_equal(rp_buf_append(&b, big, 96), -E2BIG);
        assert_unchanged(&b, &s);
        assert_int_equal(rp_buf_append(&b, big, sizeof big), -E2BIG);
        assert_unchanged(&b, &s);
        assert_int_equal(rp_buf_printf(&b, "%0200d", 7), -E2BIG);
        assert_unchanged(&b, &s);
        /* Sizes that would wrap size_t are refused, not wrapped. */
        assert_int_equal(rp_buf_append(&b, big, SIZE_MAX), -E2BIG);
        assert_unchanged(&b, &s);
        assert_int_equal(rp_buf_append(&b, big, SIZE_MAX - 3), -E2BIG);
        assert_unchanged(&b, &s);
        /* And the buffer is still usable up to the cap. */
        assert_int_equal(rp_buf_append(&b, big, 95), 0);
        assert_int_equal(b.len, 100);
        rp_buf_done(&b);
}

static void test_util_buf__huge_cap_does_not_wrap(void **state)
{
        rp_buf b;
        rp_buf_init(&b, SIZE_MAX);
        assert_int_equal(rp_buf_puts(&b, "ab"), 0);
        /* len + extra + 1 would wrap: must fail cleanly rather than under-allocate. */
        int r = rp_buf_append(&b, "x", SIZE_MAX - 2);
        assert_true(r == -E2BIG || r == -ENOMEM);
        assert_string_equal(b.ptr, "ab");
        rp_buf_done(&b);
}

static void test_util_buf__printf_formats_and_appends(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 1024);
        assert_int_equal(rp_buf_printf(&b, "%s=%d", "a", 1), 0);
        assert_int_equal(rp_buf_printf(&b, ",%s=%05.1f", "b", 2.25), 0);
        assert_int_equal(rp_buf_printf(&b, "%s", ""), 0);
        assert_string_equal(b.ptr, "a=1,b=002.2");
        assert_int_equal(b.len, strlen("a=1,b=002.2"));
        /* A long formatted string forces growth in the middle of printf. */
        assert_int_equal(rp_buf_printf(&b, "%0500d", 0), 0);
        assert_int_equal(b.len, 11 + 500);
        assert_int_equal(b.ptr[b.len], '\0');
        rp_buf_done(&b);
}

static void test_util_buf__clear_keeps_memory(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 100);
        rp_buf_clear(&b); /* before any allocation */
        assert_null(b.ptr);
        assert_int_equal(rp_buf_puts(&b, "abc"), 0);
        char *p = b.ptr;
        size_t cap = b.cap;
        rp_buf_clear(&b);
        assert_ptr_equal(b.ptr, p);
        assert_int_equal(b.cap, cap);
        assert_int_equal(b.len, 0);
        assert_string_equal(b.ptr, "");
        assert_int_equal(rp_buf_puts(&b, "de"), 0);
        assert_string_equal(b.ptr, "de");
        rp_buf_done(&b);
}

static void test_util_buf__detach_hands_over(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 100);
        assert_int_equal(rp_buf_puts(&b, "abc"), 0);
        _cleanup_free_ char *s = rp_buf_detach(&b);
        assert_string_equal(s, "abc");
        assert_null(b.ptr);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.cap, 0);
        assert_int_equal(b.max, 100); /* still usable with the same cap */
        assert_int_equal(rp_buf_puts(&b, "x"), 0);
        rp_buf_done(&b);

        /* Detaching an unused buffer gives "" rather than NULL. */
        rp_buf_init(&b, 5);
        _cleanup_free_ char *e = rp_buf_detach(&b);
        assert_non_null(e);
        assert_string_equal(e, "");
}

static void test_util_buf__oom_leaves_buffer_unchanged(void **state)
{
        rp_buf b;
        rp_buf_init(&b, 1 << 20);
        /* First allocation fails. */
        rp_alloc_fail_at(1);
        assert_int_equal(rp_buf_puts(&b, "abc"), -ENOMEM);
        assert_null(b.ptr);
        assert_int_equal(b.len, 0);
        assert_int_equal(b.cap, 0);
        assert_int_equal(rp_buf_puts(&b, "abc"), 0);

        /* Growth fails: contents, length and capacity are kept. */
        char fill[64];
        memset(fill, 'y', sizeof fill);
        assert_int_equal(rp_buf_append(&b, fill, 60), 0);
        assert_int_equal(b.cap, 64);
        snap s = take(&b);
        rp_alloc_fail_at(1);
        assert_int_equal(rp_buf_append(&b, fill, 10), -ENOMEM);
        assert_unchanged(&b, &s);
        rp_alloc_fail_at(1);
        assert_int_equal(rp_buf_printf(&b, "%s", "0123456789"), -ENOMEM);
        assert_unchanged(&b, &s);
        assert_int_equal(rp_buf_append(&b, fill, 10), 0);
        assert_int_equal(b.len, 73);
        rp_buf_done(&b);
        rp_alloc_fail_at(0);
}

/* ---------------------------------------------------------------- allocator */

static void test_util_alloc__fail_at_fails_only_the_nth(void **state)
{
        rp_alloc_fail_at(3);
        void *a = rp_malloc(8), *b = rp_malloc(8), *c = rp_malloc(8), *d = rp_malloc(8);
        assert_non_null(a);
        assert_non_null(b);
        assert_null(c);
        assert_non_null(d);
        rp_free(a);
        rp_free(b);
        rp_free(d);

        /* fail_at(1) fails the very next one of any kind. */
        rp_alloc_fail_at(1);
        assert_null(rp_calloc(1, 8));
        rp_alloc_fail_at(1);
        assert_null(rp_strdup("x"));
        rp_alloc_fail_at(1);
        assert_null(rp_asprintf("%d", 1));
        rp_alloc_fail_at(1);
        assert_null(rp_strndup("abc", 2));
        void *p = rp_malloc(4);
        assert_non_null(p);
        rp_alloc_fail_at(1);
        assert_null(rp_realloc(p, 4096)); /* p is untouched and still ours */
        void *q = rp_realloc(p, 4096);
        assert_non_null(q);
        rp_free(q);

        /* 0 disables the hook. */
        rp_alloc_fail_at(2);
        rp_alloc_fail_at(0);
        for (int i = 0; i < 5; i++) {
                void *x = rp_malloc(1);
                assert_non_null(x);
                rp_free(x);
        }
}

static void test_util_alloc__count_counts_successes(void **state)
{
        unsigned long c0 = rp_alloc_count();
        void *a = rp_malloc(0); /* zero-size still gives a unique pointer */
        assert_non_null(a);
        assert_int_equal(rp_alloc_count(), c0 + 1);
        void *b = rp_realloc(a, 100); /* resizing is not a new allocation */
        assert_non_null(b);
        assert_int_equal(rp_alloc_count(), c0 + 1);
        void *c = rp_realloc(NULL, 10); /* but realloc(NULL) is */
        assert_int_equal(rp_alloc_count(), c0 + 2);
        rp_alloc_fail_at(1);
        assert_null(rp_malloc(1));
        assert_int_equal(rp_alloc_count(), c0 + 2);
        rp_free(b);
        rp_free(c);
}

static void test_util_alloc__calloc_zeroes_and_checks_overflow(void **state)
{
        unsigned char *p = rp_calloc(16, 4);
        assert_non_null(p);
        for (int i = 0; i < 64; i++)
                assert_int_equal(p[i], 0);
        rp_free(p);
        assert_null(rp_calloc(SIZE_MAX / 2 + 2, 2));
        assert_null(rp_calloc(2, SIZE_MAX / 2 + 2));
        void *z = rp_calloc(0, 0);
        assert_non_null(z);
        rp_free(z);
}

static void test_util_alloc__string_helpers(void **state)
{
        assert_null(rp_strdup(NULL));
        assert_null(rp_strndup(NULL, 3));
        assert_null(rp_free(NULL));
        _cleanup_free_ char *a = rp_strdup("hello");
        _cleanup_free_ char *b = rp_strndup("hello", 3);
        _cleanup_free_ char *c = rp_strndup("hi", 10);
        _cleanup_free_ char *d = rp_asprintf("%s-%d-%c", "x", 42, 'z');
        _cleanup_free_ char *e = rp_asprintf("%s", "");
        assert_string_equal(a, "hello");
        assert_string_equal(b, "hel");
        assert_string_equal(c, "hi");
        assert_string_equal(d, "x-42-z");
        assert_string_equal(e, "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_util_buf__init_allocates_nothing),
                cmocka_unit_test(test_util_buf__append_grows_and_terminates),
                cmocka_unit_test(test_util_buf__append_keeps_embedded_nul),
                cmocka_unit_test(test_util_buf__zero_length_append_terminates),
                cmocka_unit_test(test_util_buf__cap_is_exact),
                cmocka_unit_test(test_util_buf__e2big_leaves_buffer_unchanged),
                cmocka_unit_test(test_util_buf__huge_cap_does_not_wrap),
                cmocka_unit_test(test_util_buf__printf_formats_and_appends),
                cmocka_unit_test(test_util_buf__clear_keeps_memory),
                cmocka_unit_test(test_util_buf__detach_hands_over),
                cmocka_unit_test(test_util_buf__oom_leaves_buffer_unchanged),
                cmocka_unit_test(test_util_alloc__fail_at_fails_only_the_nth),
                cmocka_unit_test(test_util_alloc__count_counts_successes),
                cmocka_unit_test(test_util_alloc__calloc_zeroes_and_checks_overflow),
                cmocka_unit_test(test_util_alloc__string_helpers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
