/* test_util_parse.c: strict decimal parsing (u64, i64, ranges). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util/macro.h"
#include "util/parse.h"

#define POISON_U 0xdeadbeefcafef00dull
#define POISON_I ((int64_t)-424242)

static void u64_ok(const char *s, uint64_t want)
{
        uint64_t v = POISON_U;
        int r = rp_parse_u64(s, &v);
        if (r != 0)
                print_error("u64 '%s': %d\n", s, r);
        assert_int_equal(r, 0);
        assert_true(v == want);
}

static void u64_bad(const char *s, int want)
{
        uint64_t v = POISON_U;
        int r = rp_parse_u64(s, &v);
        if (r != want)
                print_error("u64 '%s': got %d, want %d\n", s ? s : "(null)", r, want);
        assert_int_equal(r, want);
        assert_true(v == POISON_U); /* never clobbered on failure */
}

static void i64_ok(const char *s, int64_t want)
{
        int64_t v = POISON_I;
        int r = rp_parse_i64(s, &v);
        if (r != 0)
                print_error("i64 '%s': %d\n", s, r);
        assert_int_equal(r, 0);
        assert_true(v == want);
}

static void i64_bad(const char *s, int want)
{
        int64_t v = POISON_I;
        int r = rp_parse_i64(s, &v);
        if (r != want)
                print_error("i64 '%s': got %d, want %d\n", s ? s : "(null)", r, want);
        assert_int_equal(r, want);
        assert_true(v == POISON_I);
}

static void test_util_parse__u64_accepts_plain_decimals(void **state)
{
        u64_ok("0", 0);
        u64_ok("1", 1);
        u64_ok("007", 7);
        u64_ok("4294967296", 4294967296ull);
        u64_ok("18446744073709551615", UINT64_MAX);
        u64_ok("018446744073709551615", UINT64_MAX); /* leading zeros do not overflow */
        u64_ok("18446744073709551609", UINT64_MAX - 6);
}

static void test_util_parse__u64_overflow_is_erange(void **state)
{
        u64_bad("18446744073709551616", -ERANGE);
        u64_bad("18446744073709551619", -ERANGE);
        u64_bad("18446744073709551620", -ERANGE);
        u64_bad("99999999999999999999", -ERANGE);
        u64_bad("184467440737095516150", -ERANGE);
        u64_bad("100000000000000000000000000000", -ERANGE);
}

static void test_util_parse__u64_rejects_junk(void **state)
{
        static const char *const junk[] = {
                "",   "-1",  "+1",  " 1", "1 ", "1\n", "0x10",  "1a",
                "a1", "1.0", "1e3", "-0", "--", "١",   "1,000", "\t7",
        };
        for (size_t i = 0; i < ELEMENTSOF(junk); i++)
                u64_bad(junk[i], -EINVAL);
        u64_bad(NULL, -EINVAL);
}

static void test_util_parse__i64_limits(void **state)
{
        i64_ok("0", 0);
        i64_ok("-0", 0);
        i64_ok("-1", -1);
        i64_ok("42", 42);
        i64_ok("9223372036854775807", INT64_MAX);
        i64_ok("-9223372036854775808", INT64_MIN);
        i64_ok("-9223372036854775807", INT64_MIN + 1);
        i64_bad("9223372036854775808", -ERANGE);
        i64_bad("-9223372036854775809", -ERANGE);
        i64_bad("18446744073709551615", -ERANGE);
        i64_bad("-18446744073709551616", -ERANGE);
}

static void test_util_parse__i64_rejects_signs_and_junk(void **state)
{
        static const char *const junk[] = {
                "", "-", "+", "+1", "--1", "-+1", "+-1", " -1", "- 1", "-1 ", "1-", "0x1", "-a",
        };
        for (size_t i = 0; i < ELEMENTSOF(junk); i++)
                i64_bad(junk[i], -EINVAL);
        i64_bad(NULL, -EINVAL);
}

static void range_ok(const char *s, uint64_t f, uint64_t l)
{
        uint64_t a = POISON_U, b = POISON_U;
        int r = rp_parse_range(s, &a, &b);
        if (r != 0)
                print_error("range '%s': %d\n", s, r);
        assert_int_equal(r, 0);
        assert_true(a == f);
        assert_true(b == l);
}

static void range_bad(const char *s)
{
        uint64_t a = POISON_U, b = POISON_U;
        int r = rp_parse_range(s, &a, &b);
        if (r != -EINVAL)
                print_error("range '%s': got %d\n", s ? s : "(null)", r);
        assert_int_equal(r, -EINVAL);
        assert_true(a == POISON_U && b == POISON_U);
}

static void test_util_parse__range_accepts_first_last(void **state)
{
        range_ok("0-0", 0, 0);
        range_ok("0-511", 0, 511);
        range_ok("512-1023", 512, 1023);
        range_ok("18446744073709551615-18446744073709551615", UINT64_MAX, UINT64_MAX);
        range_ok("00000000000000000000001-2", 1, 2); /* 23 digits: still fits */
}

static void test_util_parse__range_rejects_bad(void **state)
{
        static const char *const bad[] = {
                "",
                "-",
                "5",
                "-5",
                "5-",
                "5-4",
                "a-b",
                "1-b",
                "1-2-3",
                " 1-2",
                "1 -2",
                "1- 2",
                "1-2 ",
                "+1-2",
                "1-+2",
                "0x1-0x2",
                "18446744073709551616-18446744073709551617", /* overflow */
                "000000000000000000000001-2",                /* 24 chars before the dash */
                "1-000000000000000000000002",                /* 24 chars after it */
                "--1",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                range_bad(bad[i]);
        range_bad(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_util_parse__u64_accepts_plain_decimals),
                cmocka_unit_test(test_util_parse__u64_overflow_is_erange),
                cmocka_unit_test(test_util_parse__u64_rejects_junk),
                cmocka_unit_test(test_util_parse__i64_limits),
                cmocka_unit_test(test_util_parse__i64_rejects_signs_and_junk),
                cmocka_unit_test(test_util_parse__range_accepts_first_last),
                cmocka_unit_test(test_util_parse__range_rejects_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
