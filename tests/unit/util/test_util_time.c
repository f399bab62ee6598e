/* test_util_time.c: RFC 3339 and HTTP date formatting, clocks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/time.h"

static void test_util_time__format_rfc3339_seven_digits(void **state)
{
        char out[RP_RFC3339_LEN];
        assert_ptr_equal(rp_time_format(0, out), out);
        assert_string_equal(out, "1970-01-01T00:00:00.0000000Z");
        rp_time_format(1700000000123456ull, out);
        assert_string_equal(out, "2023-11-14T22:13:20.1234560Z");
        rp_time_format(951782400000001ull, out); /* leap day, 1 microsecond */
        assert_string_equal(out, "2000-02-29T00:00:00.0000010Z");
        rp_time_format(253402300799999999ull, out); /* the last microsecond of 9999 */
        assert_string_equal(out, "9999-12-31T23:59:59.9999990Z");
}

static void test_util_time__format_http_date(void **state)
{
        char out[RP_RFC3339_LEN];
        assert_ptr_equal(rp_time_format_http(0, out), out);
        assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
        rp_time_format_http(1700000000999999ull, out);
        assert_string_equal(out, "Tue, 14 Nov 2023 22:13:20 GMT");
}

static void test_util_time__clocks_move_forward(void **state)
{
        rp_usec_t m1 = rp_now_monotonic(), r = rp_now_realtime(), m2 = rp_now_monotonic();
        assert_true(m2 >= m1);
        assert_true(r > 1577836800ull * RP_USEC_PER_SEC); /* after 2020 */
}

/* A set stop flag returns at once; otherwise the wait ends (by its time-out) and says so. */
static void test_util_time__cond_wait(void **state)
{
        (void)state;
        pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
        bool stop = true;
        rp_usec_t t0 = rp_now_monotonic();
        assert_true(rp_cond_wait_usec(&cond, &lock, &stop, 10 * RP_USEC_PER_SEC));
        assert_true(rp_now_monotonic() - t0 < 5 * RP_USEC_PER_SEC);
        stop = false;
        assert_false(rp_cond_wait_usec(&cond, &lock, &stop, 20000));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_util_time__format_rfc3339_seven_digits),
                cmocka_unit_test(test_util_time__format_http_date),
                cmocka_unit_test(test_util_time__clocks_move_forward),
                cmocka_unit_test(test_util_time__cond_wait),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
