/* test_repl_auth.c: request and response signatures of the peer protocol: golden vectors
 * (tests/data/repl/auth.json, computed independently by gen_golden.py), round trips, every
 * field bound by the signature, the clock window, malformed headers, keys. */
#include "repl_test.h"
#include "util/fs.h"

#ifndef RP_REPL_TEST_DATA
#define RP_REPL_TEST_DATA "tests/data/repl"
#endif

#define NOW_S 1700000000ull
#define NOW (NOW_S * RP_USEC_PER_SEC)

static json_t *vectors;
static uint8_t gkey[32];

static int load_vectors(void **state)
{
        rp_json_init();
        _cleanup_free_ char *path = rp_asprintf("%s/auth.json", RP_REPL_TEST_DATA);
        vectors = json_load_file(path, 0, NULL);
        if (!vectors)
                return -1;
        const char *k = json_string_value(json_object_get(vectors, "key"));
        return k && rp_hex_decode(k, gkey, 32) == 0 ? 0 : -1;
}

static int free_vectors(void **state)
{
        json_decref(vectors);
        return 0;
}

static const char *vs(const char *obj, const char *field)
{
        const char *s = json_string_value(json_object_get(json_object_get(vectors, obj), field));
        assert_non_null(s);
        return s;
}

static rp_peer_auth_request golden_request(void)
{
        rp_peer_auth_request r = {
                .method = vs("request", "method"),
                .path = vs("request", "path"),
                .query_id = vs("request", "query_id"),
                .region = vs("request", "region"),
                .date = vs("request", "date"),
                .nonce = vs("request", "nonce"),
                .signature = vs("request", "signature"),
        };
        assert_int_equal(rp_hex_decode(vs("request", "body_sha256"), r.body_sha256, 32), 0);
        return r;
}

static void test_repl_auth__golden_request(void **state)
{
        rp_peer_auth_request r = golden_request();
        assert_int_equal(rp_peer_auth_verify(gkey, 32, &r, NOW, 300), 0);
        /* the date is seconds; any microseconds of the verifier's clock do not matter */
        assert_int_equal(rp_peer_auth_verify(gkey, 32, &r, NOW + 999999, 0), 0);
}

static void test_repl_auth__golden_response(void **state)
{
        uint8_t body[32];
        assert_int_equal(rp_hex_decode(vs("response", "body_sha256"), body, 32), 0);
        json_int_t status =
                json_integer_value(json_object_get(json_object_get(vectors, "response"), "status"));
        rp_peer_auth a;
        assert_int_equal(rp_peer_sign_response(gkey, 32, vs("response", "region"),
                                               vs("response", "request_signature"),
                                               (unsigned)status, body,
                                               (NOW_S + 1) * RP_USEC_PER_SEC + 123, &a),
                         0);
        assert_string_equal(a.date, vs("response", "date"));
        assert_string_equal(a.signature, vs("response", "signature"));
        assert_string_equal(a.nonce, "");
        assert_int_equal(rp_peer_auth_verify_response(gkey, 32, vs("response", "request_signature"),
                                                      (unsigned)status, vs("response", "region"),
                                                      vs("response", "date"),
                                                      vs("response", "signature"), body),
                         0);
}

/* ------------------------------------------------------------------------- round trips */

static uint8_t key[48];

static void sign(const char *method, const char *path, const char *qid, const char *region,
                 const uint8_t body[32], rp_peer_auth *a)
{
        assert_int_equal(
                rp_peer_sign_request(key, sizeof key, method, path, qid, region, body, NOW, a), 0);
}

static rp_peer_auth_request as_request(const char *method, const char *path, const char *qid,
                                       const char *region, const uint8_t body[32],
                                       const rp_peer_auth *a)
{
        rp_peer_auth_request r = { .method = method,
                                   .path = path,
                                   .query_id = qid,
                                   .region = region,
                                   .date = a->date,
                                   .nonce = a->nonce,
                                   .signature = a->signature };
        memcpy(r.body_sha256, body, 32);
        return r;
}

static void test_repl_auth__roundtrip_and_binding(void **state)
{
        memset(key, 0x42, sizeof key);
        uint8_t body[32], other[32];
        rp_sha256("ids", 3, body);
        rp_sha256("idz", 3, other);
        rp_peer_auth a, b;
        sign("POST", "/peer/v1/chunks", NULL, "westus", body, &a);
        sign("POST", "/peer/v1/chunks", NULL, "westus", body, &b);
        assert_int_equal(strlen(a.nonce), RP_PEER_NONCE_LEN);
        assert_int_equal(strlen(a.signature), RP_PEER_SIG_LEN);
        assert_string_equal(a.date, "1700000000");
        assert_string_not_equal(a.nonce, b.nonce); /* fresh nonces */
        assert_string_not_equal(a.signature, b.signature);

        rp_peer_auth_request r = as_request("POST", "/peer/v1/chunks", NULL, "westus", body, &a);
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &r, NOW, 300), 0);

        /* every field is bound */
        rp_peer_auth_request t;
        t = r, t.method = "GET";
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        t = r, t.path = "/peer/v1/chunkz";
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        t = r, t.query_id = "x";
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        t = r, t.region = "eastus";
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        t = r, t.date = "1700000001";
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        t = r, t.nonce = b.nonce;
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        t = r, memcpy(t.body_sha256, other, 32);
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        t = r, t.signature = b.signature;
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        uint8_t wrong[48];
        memset(wrong, 0x43, sizeof wrong);
        assert_int_equal(rp_peer_auth_verify(wrong, sizeof wrong, &r, NOW, 300), -EKEYREJECTED);
        assert_int_equal(rp_peer_auth_verify(key, 47, &r, NOW, 300), -EKEYREJECTED);

        /* every hex digit of the signature */
        char sig[RP_PEER_SIG_LEN + 1];
        for (size_t i = 0; i < RP_PEER_SIG_LEN; i++) {
                memcpy(sig, a.signature, sizeof sig);
                sig[i] = sig[i] == '0' ? '1' : '0';
                t = r, t.signature = sig;
                assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        }

        /* with an id parameter: present, absent and changed are three different requests */
        const char *id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/"
                         "restorePointCollections/c/restorePoints/p/diskRestorePoints/d d";
        uint8_t empty[32];
        rp_sha256("", 0, empty);
        sign("GET", "/peer/v1/diskRestorePoints/manifest", id, "westus", empty, &a);
        r = as_request("GET", "/peer/v1/diskRestorePoints/manifest", id, "westus", empty, &a);
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &r, NOW, 300), 0);
        t = r, t.query_id = NULL;
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
        t = r, t.query_id = "/subscriptions/s";
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &t, NOW, 300), -EKEYREJECTED);
}

static void test_repl_auth__clock_window(void **state)
{
        memset(key, 0x42, sizeof key);
        uint8_t body[32] = { 0 };
        rp_peer_auth a;
        sign("POST", "/peer/v1/chunks", NULL, "westus", body, &a);
        rp_peer_auth_request r = as_request("POST", "/peer/v1/chunks", NULL, "westus", body, &a);
        const rp_usec_t s = RP_USEC_PER_SEC;
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &r, NOW + 300 * s, 300), 0);
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &r, NOW - 300 * s, 300), 0);
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &r, NOW + 301 * s, 300), -ESTALE);
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &r, NOW - 301 * s, 300), -ESTALE);
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &r, 0, 300), -ESTALE);
        assert_int_equal(rp_peer_auth_verify(key, sizeof key, &r, NOW, 0), 0);
}

static void test_repl_auth__malformed_headers(void **state)
{
        memset(key, 0x42, sizeof key);
        uint8_t body[32] = { 0 };
        rp_peer_auth a;
        sign("POST", "/peer/v1/chunks", NULL, "westus", body, &a);
        rp_peer_auth_request r = as_request("POST", "/peer/v1/chunks", NULL, "westus", body, &a);
        char upper[RP_PEER_SIG_LEN + 1];
        memcpy(upper, a.signature, sizeof upper);
        for (char *p = upper; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char)(*p - 'a' + 'A');
        const struct {
                size_t off; /* offsetof the field in rp_peer_auth_request */
                const char *v;
        } bad[] = {
                { offsetof(rp_peer_auth_request, method), NULL },
                { offsetof(rp_peer_auth_request, method), "post" },
                { offsetof(rp_peer_auth_request, method), "" },
                { offsetof(rp_peer_auth_request, path), NULL },
                { offsetof(rp_peer_auth_request, path), "peer/v1/chunks" },
                { offsetof(rp_peer_auth_request, path), "/peer/v1/chunks\n" },
                { offsetof(rp_peer_auth_request, path), "/peer v1" },
                { offsetof(rp_peer_auth_request, query_id), "" },
                { offsetof(rp_peer_auth_request, query_id), "a\nb" },
                { offsetof(rp_peer_auth_request, query_id), "a\x7f" },
                { offsetof(rp_peer_auth_request, region), NULL },
                { offsetof(rp_peer_auth_request, region), "WestUS" },
                { offsetof(rp_peer_auth_request, region), "west us" },
                { offsetof(rp_peer_auth_request, region),
                  "a1234567890123456789012345678901234567890123456789012345678901234" },
                { offsetof(rp_peer_auth_request, date), NULL },
                { offsetof(rp_peer_auth_request, date), "" },
                { offsetof(rp_peer_auth_request, date), "01700000000" },
                { offsetof(rp_peer_auth_request, date), "+1700000000" },
                { offsetof(rp_peer_auth_request, date), " 1700000000" },
                { offsetof(rp_peer_auth_request, date), "1700000000.5" },
                { offsetof(rp_peer_auth_request, date), "99999999999999999999" },
                { offsetof(rp_peer_auth_request, date), "170000000000000000000" },
                { offsetof(rp_peer_auth_request, nonce), NULL },
                { offsetof(rp_peer_auth_request, nonce), "0011" },
                { offsetof(rp_peer_auth_request, nonce), "00112233445566778899AABBCCDDEEFF" },
                { offsetof(rp_peer_auth_request, nonce), "00112233445566778899aabbccddeefg" },
                { offsetof(rp_peer_auth_request, signature), NULL },
                { offsetof(rp_peer_auth_request, signature), "" },
                { offsetof(rp_peer_auth_request, signature), upper },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                rp_peer_auth_request t = r;
                memcpy((char *)&t + bad[i].off, &bad[i].v, sizeof(const char *));
                int got = rp_peer_auth_verify(key, sizeof key, &t, NOW, 300);
                if (got != -EBADMSG)
                        fail_msg("case %zu ('%s'): got %d", i, bad[i].v ? bad[i].v : "(null)", got);
        }
        /* The signer refuses what the verifier would. */
        rp_peer_auth x;
        assert_int_equal(
                rp_peer_sign_request(key, sizeof key, "get", "/p", NULL, "westus", body, NOW, &x),
                -EINVAL);
        assert_int_equal(
                rp_peer_sign_request(key, sizeof key, "GET", "/p\r", NULL, "westus", body, NOW, &x),
                -EINVAL);
        assert_int_equal(
                rp_peer_sign_request(key, sizeof key, "GET", "/p", "a\n", "westus", body, NOW, &x),
                -EINVAL);
        assert_int_equal(
                rp_peer_sign_request(key, sizeof key, "GET", "/p", NULL, "West", body, NOW, &x),
                -EINVAL);
}

static void test_repl_auth__key_lengths(void **state)
{
        uint8_t k[RP_PEER_MAX_KEY_LEN + 1];
        memset(k, 1, sizeof k);
        uint8_t body[32] = { 0 };
        rp_peer_auth a;
        assert_int_equal(rp_peer_sign_request(k, RP_PEER_MIN_KEY_LEN - 1, "GET", "/p", NULL, "r",
                                              body, NOW, &a),
                         -EINVAL);
        assert_int_equal(rp_peer_sign_request(k, RP_PEER_MAX_KEY_LEN + 1, "GET", "/p", NULL, "r",
                                              body, NOW, &a),
                         -EINVAL);
        assert_int_equal(rp_peer_sign_request(NULL, 32, "GET", "/p", NULL, "r", body, NOW, &a),
                         -EINVAL);
        assert_int_equal(
                rp_peer_sign_request(k, RP_PEER_MAX_KEY_LEN, "GET", "/p", NULL, "r", body, NOW, &a),
                0);
        rp_peer_auth_request r = as_request("GET", "/p", NULL, "r", body, &a);
        assert_int_equal(rp_peer_auth_verify(k, RP_PEER_MAX_KEY_LEN, &r, NOW, 1), 0);
        assert_int_equal(rp_peer_auth_verify(k, 16, &r, NOW, 1), -EINVAL);
        assert_int_equal(rp_peer_sign_response(k, 8, "r", "", 200, body, NOW, &a), -EINVAL);
        assert_int_equal(
                rp_peer_auth_verify_response(k, 8, a.signature, 200, "r", "1", a.signature, body),
                -EINVAL);
}

static void test_repl_auth__response_binding(void **state)
{
        memset(key, 0x42, sizeof key);
        uint8_t body[32], other[32];
        rp_sha256("stream", 6, body);
        rp_sha256("streaM", 6, other);
        rp_peer_auth req, req2, resp;
        sign("POST", "/peer/v1/chunks", NULL, "westus", body, &req);
        sign("POST", "/peer/v1/chunks", NULL, "westus", body, &req2);
        assert_int_equal(rp_peer_sign_response(key, sizeof key, "eastus", req.signature, 200, body,
                                               NOW, &resp),
                         0);
#define V(rs, st, rg, dt, sg, bd)                                                                  \
        rp_peer_auth_verify_response(key, sizeof key, rs, st, rg, dt, sg, bd)
        assert_int_equal(V(req.signature, 200, "eastus", resp.date, resp.signature, body), 0);
        /* a response to another request, another status, region, date, body */
        assert_int_equal(V(req2.signature, 200, "eastus", resp.date, resp.signature, body),
                         -EKEYREJECTED);
        assert_int_equal(V(req.signature, 404, "eastus", resp.date, resp.signature, body),
                         -EKEYREJECTED);
        assert_int_equal(V(req.signature, 200, "westus", resp.date, resp.signature, body),
                         -EKEYREJECTED);
        assert_int_equal(V(req.signature, 200, "eastus", "1700000001", resp.signature, body),
                         -EKEYREJECTED);
        assert_int_equal(V(req.signature, 200, "eastus", resp.date, resp.signature, other),
                         -EKEYREJECTED);
        /* missing or malformed headers */
        assert_int_equal(V(req.signature, 200, NULL, resp.date, resp.signature, body), -EBADMSG);
        assert_int_equal(V(req.signature, 200, "eastus", NULL, resp.signature, body), -EBADMSG);
        assert_int_equal(V(req.signature, 200, "eastus", resp.date, NULL, body), -EBADMSG);
        assert_int_equal(V(req.signature, 200, "eastus", "x", resp.signature, body), -EBADMSG);
        assert_int_equal(V(req.signature, 200, "eastus", resp.date, "abc", body), -EBADMSG);
        assert_int_equal(V(req.signature, 99, "eastus", resp.date, resp.signature, body), -EBADMSG);
        assert_int_equal(V("nothex", 200, "eastus", resp.date, resp.signature, body), -EINVAL);
#undef V
        /* a response to a request whose signature was unusable signs "" */
        assert_int_equal(
                rp_peer_sign_response(key, sizeof key, "eastus", NULL, 401, body, NOW, &resp), 0);
        assert_int_equal(
                rp_peer_sign_response(key, sizeof key, "eastus", "zz", 401, body, NOW, &resp),
                -EINVAL);
        assert_int_equal(
                rp_peer_sign_response(key, sizeof key, "eastus", "", 600, body, NOW, &resp),
                -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_repl_auth__golden_request),
                cmocka_unit_test(test_repl_auth__golden_response),
                cmocka_unit_test(test_repl_auth__roundtrip_and_binding),
                cmocka_unit_test(test_repl_auth__clock_window),
                cmocka_unit_test(test_repl_auth__malformed_headers),
                cmocka_unit_test(test_repl_auth__key_lengths),
                cmocka_unit_test(test_repl_auth__response_binding),
        };
        return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
