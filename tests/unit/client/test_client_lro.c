/* test_client_lro.c: the start of an rp_client_lro follower, which decides from the first
 * reply alone whether there is anything to poll (the polling itself talks to rpd and is
 * covered end to end by tests/e2e/test_rpctl_*.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "client/client.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

/* A reply with @p status, a body {"name": "x"} and the headers name/value pairs. */
static rp_client_response reply(long status, const char *h1, const char *v1, const char *h2,
                                const char *v2)
{
        rp_client_response r = { .status = status,
                                 .headers = json_object(),
                                 .body = json_pack("{s:s}", "name", "x") };
        assert_non_null(r.headers);
        if (h1)
                json_object_set_new(r.headers, h1, json_string(v1));
        if (h2)
                json_object_set_new(r.headers, h2, json_string(v2));
        return r;
}

static void test_client_lro__final_at_once(void **state)
{
        rp_client_response r = reply(200, NULL, NULL, NULL, NULL);
        rp_client_lro *op = NULL;
        assert_int_equal(rp_client_lro_new("PUT", "/a", "2024-11-01", &r, &op), 0);
        assert_null(r.body); /* taken over */
        assert_null(r.headers);
        assert_true(rp_client_lro_done(op));
        assert_string_equal(rp_client_lro_status(op), "Succeeded");
        assert_true(rp_client_lro_percent(op) < 0);
        /* a follower that is done is stepped without a request (the client is not used) */
        long delay = 0;
        assert_int_equal(rp_client_lro_step(NULL, op, &delay), 1);
        rp_client_response *fin = rp_client_lro_response(op);
        assert_int_equal(fin->status, 200);
        assert_string_equal(json_string_value(json_object_get(fin->body, "name")), "x");
        assert_null(rp_client_lro_free(op));
        assert_null(rp_client_lro_free(NULL));
}

static void test_client_lro__error_reply_is_final(void **state)
{
        /* an error reply with polling headers is still final: nothing was started */
        rp_client_response r = reply(409, "azure-asyncoperation", "https://h/op", NULL, NULL);
        assert_int_equal(rp_client_error_set(&r.error, "Conflict", "busy"), 0);
        rp_client_lro *op = NULL;
        assert_int_equal(rp_client_lro_new("PUT", "/a", NULL, &r, &op), 0);
        assert_true(rp_client_lro_done(op));
        assert_string_equal(rp_client_lro_status(op), "Failed");
        assert_false(rp_client_response_ok(rp_client_lro_response(op)));
        assert_string_equal(rp_client_lro_response(op)->error.code, "Conflict");
        rp_client_lro_free(op);
}

static void test_client_lro__polling_headers_start_it(void **state)
{
        rp_client_response a = reply(201, "azure-asyncoperation", "https://h/op/1", "location",
                                     "https://h/op/1?monitor=true");
        rp_client_response b = reply(202, "location", "https://h/op/2", NULL, NULL);
        rp_client_lro *x = NULL, *y = NULL;
        assert_int_equal(rp_client_lro_new("PUT", "/a", "2024-11-01", &a, &x), 0);
        assert_int_equal(rp_client_lro_new("DELETE", "/b", NULL, &b, &y), 0);
        assert_false(rp_client_lro_done(x));
        assert_false(rp_client_lro_done(y));
        assert_string_equal(rp_client_lro_status(x), "InProgress");
        assert_string_equal(rp_client_lro_status(y), "InProgress");
        /* until it ends, the response is the initial reply */
        assert_int_equal(rp_client_lro_response(x)->status, 201);
        rp_client_lro_free(x);
        rp_client_lro_free(y);
}

int main(void)
{
        rp_json_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_client_lro__final_at_once),
                cmocka_unit_test(test_client_lro__error_reply_is_final),
                cmocka_unit_test(test_client_lro__polling_headers_start_it),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
