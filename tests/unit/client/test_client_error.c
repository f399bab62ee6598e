/* test_client_error.c: the pure parts of the client's replies: ARM error parsing, status
 * names, Retry-After, and the zero detection that lets transfers skip holes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "client/client_internal.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/macro.h"

static void parse(long status, const char *body, rp_client_error *e)
{
        assert_int_equal(rp_client_error_parse(status, body, body ? strlen(body) : 0, e), 0);
        assert_non_null(e->code);
        assert_non_null(e->message);
}

static void test_client_error__arm_envelope(void **state)
{
        _cleanup_(rp_client_error_done) rp_client_error e = {};
        parse(404,
              "{\"error\":{\"code\":\"ResourceGroupNotFound\",\"message\":\"Resource group 'x' "
              "could not be found.\",\"target\":\"name\",\"details\":[]}}",
              &e);
        assert_string_equal(e.code, "ResourceGroupNotFound");
        assert_string_equal(e.message, "Resource group 'x' could not be found.");
        assert_string_equal(e.target, "name");
}

static void test_client_error__bare_and_missing_message(void **state)
{
        _cleanup_(rp_client_error_done) rp_client_error a = {}, b = {};
        /* the shape of an async-operation status "error" and of some storage replies */
        parse(400, "{\"code\":\"InvalidPageRange\",\"message\":\"not aligned\"}", &a);
        assert_string_equal(a.code, "InvalidPageRange");
        assert_string_equal(a.message, "not aligned");
        assert_null(a.target);
        parse(409, "{\"error\":{\"code\":\"Conflict\"}}", &b);
        assert_string_equal(b.code, "Conflict");
        assert_string_equal(b.message, "(no message)");
}

static void test_client_error__not_arm(void **state)
{
        _cleanup_(rp_client_error_done) rp_client_error a = {}, b = {}, c = {}, d = {};
        /* no body: the status decides */
        parse(503, NULL, &a);
        assert_string_equal(a.code, "ServiceUnavailable");
        assert_string_equal(a.message, "The server answered HTTP 503.");
        /* a text body becomes the message, on one line */
        parse(502, "Bad gateway\r\nfrom proxy\n", &b);
        assert_string_equal(b.code, "BadGateway");
        assert_string_equal(b.message, "Bad gateway  from proxy");
        /* JSON that is not an error: the status decides, a "message" is still used */
        parse(418, "{\"message\":\"short and stout\"}", &c);
        assert_string_equal(c.code, "HttpError");
        assert_string_equal(c.message, "short and stout");
        parse(400, "[1,2]", &d);
        assert_string_equal(d.code, "BadRequest");
        assert_string_equal(d.message, "The server answered HTTP 400.");
}

static void test_client_error__long_text_is_cut(void **state)
{
        char body[1000];
        memset(body, 'x', sizeof body - 1);
        body[sizeof body - 1] = '\0';
        body[10] = '\x01';
        _cleanup_(rp_client_error_done) rp_client_error e = {};
        parse(500, body, &e);
        assert_int_equal(strlen(e.message), 303);
        assert_string_equal(e.message + 300, "...");
        assert_int_equal(e.message[10], ' ');
}

static void test_client_error__set(void **state)
{
        _cleanup_(rp_client_error_done) rp_client_error e = {};
        assert_int_equal(rp_client_error_set(&e, "A", "one %d", 1), 0);
        assert_int_equal(rp_client_error_set(&e, "B", "two %s", "x"), 0);
        assert_string_equal(e.code, "B");
        assert_string_equal(e.message, "two x");
}

static void test_client_error__status_names(void **state)
{
        assert_string_equal(rp_client_status_code_name(404), "NotFound");
        assert_string_equal(rp_client_status_code_name(409), "Conflict");
        assert_string_equal(rp_client_status_code_name(429), "TooManyRequests");
        assert_string_equal(rp_client_status_code_name(299), "HttpError");
}

static void test_client_error__retry_after(void **state)
{
        assert_int_equal(rp_client_retry_after_ms("1"), 1000);
        assert_int_equal(rp_client_retry_after_ms(" 30"), 30000);
        assert_int_equal(rp_client_retry_after_ms("0"), -1); /* 0 counts as absent */
        assert_int_equal(rp_client_retry_after_ms(NULL), -1);
        assert_int_equal(rp_client_retry_after_ms("soon"), -1);
        assert_int_equal(rp_client_retry_after_ms("-5"), -1);
        assert_int_equal(rp_client_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
        assert_int_equal(rp_client_retry_after_ms("99999999"), 24L * 3600 * 1000);
}

static void test_client_error__response_ok(void **state)
{
        rp_client_response r = { .status = 200 };
        assert_true(rp_client_response_ok(&r));
        r.status = 204;
        assert_true(rp_client_response_ok(&r));
        r.status = 302;
        assert_false(rp_client_response_ok(&r));
        r.status = 200;
        r.error.code = (char *)"OperationFailed"; /* a failed LRO behind a 200 status body */
        assert_false(rp_client_response_ok(&r));
        r.error.code = NULL;
        r.headers = json_pack("{s:s}", "retry-after", "3");
        assert_string_equal(rp_client_response_header(&r, "Retry-After"), "3");
        assert_null(rp_client_response_header(&r, "location"));
        rp_client_response_done(&r);
        assert_null(r.headers);
}

static void test_client_error__zero_detection(void **state)
{
        enum {
                N = 8 * RP_SECTOR_SIZE
        };
        static char buf[N];
        size_t first = 99, len = 99;
        memset(buf, 0, sizeof buf);
        assert_true(rp_client__is_zero(buf, N));
        assert_true(rp_client__is_zero(buf, 0));
        assert_false(rp_client__trim_zero(buf, N, &first, &len));
        assert_int_equal(first, 0);
        assert_int_equal(len, 0);

        buf[3 * RP_SECTOR_SIZE + 7] = 1; /* sector 3 only */
        assert_false(rp_client__is_zero(buf, N));
        assert_true(rp_client__trim_zero(buf, N, &first, &len));
        assert_int_equal(first, 3 * RP_SECTOR_SIZE);
        assert_int_equal(len, RP_SECTOR_SIZE);

        buf[5 * RP_SECTOR_SIZE] = 1; /* sectors 3 to 5, with a zero sector 4 inside */
        assert_true(rp_client__trim_zero(buf, N, &first, &len));
        assert_int_equal(first, 3 * RP_SECTOR_SIZE);
        assert_int_equal(len, 3 * RP_SECTOR_SIZE);

        buf[0] = 1;
        buf[N - 1] = 1; /* first and last byte: nothing to trim */
        assert_true(rp_client__trim_zero(buf, N, &first, &len));
        assert_int_equal(first, 0);
        assert_int_equal(len, N);
}

int main(void)
{
        rp_json_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_client_error__arm_envelope),
                cmocka_unit_test(test_client_error__bare_and_missing_message),
                cmocka_unit_test(test_client_error__not_arm),
                cmocka_unit_test(test_client_error__long_text_is_cut),
                cmocka_unit_test(test_client_error__set),
                cmocka_unit_test(test_client_error__status_names),
                cmocka_unit_test(test_client_error__retry_after),
                cmocka_unit_test(test_client_error__response_ok),
                cmocka_unit_test(test_client_error__zero_detection),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
