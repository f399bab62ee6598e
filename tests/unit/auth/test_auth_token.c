/* test_auth_token.c: RS256 bearer tokens: issue, verify and every way to get rejected. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/token.h"
#include "auth_test.h"
#include "json/json.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/macro.h"
#include "util/time.h"

#define SUB1 "11111111-2222-3333-4444-555555555555"
#define SUB2 "AAAAAAAA-bbbb-CCCC-dddd-EEEEEEEEEEEE"
#define SUB3 "99999999-9999-9999-9999-999999999999"

/* Shared by the whole group: two deployments, A and B, with their keys. */
static struct {
        char *base;
        char *dir_a, *dir_b;
        rp_token_key *a, *b;
        EVP_PKEY *pkey_a, *pkey_b; /* the raw signing keys, for forging tokens */
} g;

static uint64_t now_sec(void)
{
        return rp_now_realtime() / RP_USEC_PER_SEC;
}

static EVP_PKEY *signing_key_load(const char *dir)
{
        _cleanup_free_ char *pem = auth_test_read(dir, RP_TOKEN_KEY_FILE);
        assert_non_null(pem);
        BIO *bio = BIO_new_mem_buf(pem, -1);
        EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_non_null(k);
        return k;
}

static int group_setup(void **state)
{
        rp_json_init(); /* jansson allocates through rp_malloc, so the torture test covers it */
        g.base = auth_test_mkdtemp();
        assert_non_null(g.base);
        g.dir_a = auth_test_path(g.base, "a/auth");
        g.dir_b = auth_test_path(g.base, "b/auth");
        assert_int_equal(rp_token_key_load_or_create(g.dir_a, &g.a), 0);
        assert_int_equal(rp_token_key_load_or_create(g.dir_b, &g.b), 0);
        g.pkey_a = signing_key_load(g.dir_a);
        g.pkey_b = signing_key_load(g.dir_b);
        return 0;
}

static int group_teardown(void **state)
{
        EVP_PKEY_free(g.pkey_a);
        EVP_PKEY_free(g.pkey_b);
        rp_token_key_free(g.a);
        rp_token_key_free(g.b);
        auth_test_rm_rf(g.base);
        rp_free(g.dir_a);
        rp_free(g.dir_b);
        rp_free(g.base);
        return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static char *issue(rp_token_key *k, uint64_t lifetime)
{
        const char *const subs[] = { SUB1, SUB2 };
        char *jwt = NULL;
        assert_int_equal(rp_token_issue(k, subs, ELEMENTSOF(subs), lifetime, &jwt), 0);
        assert_non_null(jwt);
        return jwt;
}

static int verify_at(rp_token_key *k, const char *jwt, uint64_t now)
{
        rp_token_claims c = { 0 };
        int r = rp_token_verify(k, jwt, now, &c);
        rp_token_claims_done(&c);
        return r;
}

/* Decode one base64url part of a token into a string. */
static char *part_decode(const char *s, size_t len)
{
        uint8_t *raw = NULL;
        long n = rp_base64url_decode(s, len, &raw);
        assert_true(n >= 0);
        char *t = rp_strndup((const char *)raw, (size_t)n);
        rp_free(raw);
        return t;
}

/* Build header.payload.signature: RS256 with @key, HS256 with @hmac_secret, or no signature. */
static char *forge(const char *header, const char *payload, EVP_PKEY *key, const char *hmac_secret)
{
        _cleanup_free_ char *h = rp_base64url_encode(header, strlen(header));
        _cleanup_free_ char *p = rp_base64url_encode(payload, strlen(payload));
        _cleanup_free_ char *input = rp_asprintf("%s.%s", h, p);
        assert_non_null(input);
        _cleanup_free_ char *sig64 = NULL;
        if (key) {
                EVP_MD_CTX *md = EVP_MD_CTX_new();
                uint8_t sig[512];
                size_t n = sizeof sig;
                assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
                assert_int_equal(EVP_DigestSign(md, sig, &n, (const uint8_t *)input, strlen(input)),
                                 1);
                EVP_MD_CTX_free(md);
                sig64 = rp_base64url_encode(sig, n);
        } else if (hmac_secret) {
                uint8_t mac[RP_SHA256_LEN];
                assert_int_equal(
                        rp_hmac_sha256(hmac_secret, strlen(hmac_secret), input, strlen(input), mac),
                        0);
                sig64 = rp_base64url_encode(mac, sizeof mac);
        } else {
                sig64 = rp_strdup("");
        }
        return rp_asprintf("%s.%s", input, sig64);
}

static char *header_for(const rp_token_key *k)
{
        return rp_asprintf("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                           rp_token_key_id(k));
}

/* A payload that A accepts, with @extra appended inside the object and @skip naming one claim
 * to leave out (or NULL). */
static char *payload_for(const rp_token_key *k, const char *skip, const char *extra)
{
        uint64_t t = now_sec();
        rp_buf b;
        rp_buf_init(&b, 4 * RP_MAX_TOKEN_LEN); /* test_auth_token__too_long goes past the cap */
        rp_buf_puts(&b, "{\"ver\":\"1.0\"");
        if (!rp_streq(skip, "aud"))
                rp_buf_printf(&b, ",\"aud\":\"%s\"", RP_TOKEN_AUDIENCE);
        if (!rp_streq(skip, "iss"))
                rp_buf_printf(&b, ",\"iss\":\"https://sts.windows.net/%s/\"",
                              rp_token_key_tenant(k));
        if (!rp_streq(skip, "tid"))
                rp_buf_printf(&b, ",\"tid\":\"%s\"", rp_token_key_tenant(k));
        if (!rp_streq(skip, "oid"))
                rp_buf_puts(&b, ",\"oid\":\"" SUB3 "\"");
        if (!rp_streq(skip, "nbf"))
                rp_buf_printf(&b, ",\"nbf\":%llu", (unsigned long long)t);
        if (!rp_streq(skip, "exp"))
                rp_buf_printf(&b, ",\"exp\":%llu", (unsigned long long)t + 3600);
        if (!rp_streq(skip, "xms_rpd_subs"))
                rp_buf_puts(&b, ",\"xms_rpd_subs\":[\"" SUB1 "\"]");
        if (extra)
                rp_buf_printf(&b, ",%s", extra);
        rp_buf_puts(&b, "}");
        return rp_buf_detach(&b);
}

static int verify_forged(const char *header, const char *payload, EVP_PKEY *key)
{
        _cleanup_free_ char *jwt = forge(header, payload, key, NULL);
        return verify_at(g.a, jwt, now_sec());
}

/* ---- keys ------------------------------------------------------------------------------- */

static void test_auth_token__key_files_created(void **state)
{
        struct stat st;
        assert_int_equal(stat(g.dir_a, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        _cleanup_free_ char *key_path = auth_test_path(g.dir_a, RP_TOKEN_KEY_FILE);
        assert_int_equal(stat(key_path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        _cleanup_free_ char *pem = auth_test_read(g.dir_a, RP_TOKEN_KEY_FILE);
        assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
        assert_true(EVP_PKEY_is_a(g.pkey_a, "RSA"));
        assert_int_equal(EVP_PKEY_get_bits(g.pkey_a), 2048);

        _cleanup_free_ char *tenant = auth_test_read(g.dir_a, RP_TOKEN_TENANT_FILE);
        assert_int_equal(strlen(tenant), RP_UUID_STR_LEN + 1);
        assert_int_equal(tenant[RP_UUID_STR_LEN], '\n');
        assert_memory_equal(tenant, rp_token_key_tenant(g.a), RP_UUID_STR_LEN);
        assert_string_not_equal(rp_token_key_tenant(g.a), rp_token_key_tenant(g.b));
        assert_int_equal(strlen(rp_token_key_id(g.a)), 22); /* 16 bytes in base64url */
        assert_string_not_equal(rp_token_key_id(g.a), rp_token_key_id(g.b));
}

static void test_auth_token__key_reload_is_stable(void **state)
{
        _cleanup_free_ char *pem = auth_test_read(g.dir_a, RP_TOKEN_KEY_FILE);
        rp_token_key *again = NULL;
        assert_int_equal(rp_token_key_load_or_create(g.dir_a, &again), 0);
        assert_string_equal(rp_token_key_tenant(again), rp_token_key_tenant(g.a));
        assert_string_equal(rp_token_key_id(again), rp_token_key_id(g.a));
        _cleanup_free_ char *pem2 = auth_test_read(g.dir_a, RP_TOKEN_KEY_FILE);
        assert_string_equal(pem, pem2);

        _cleanup_free_ char *jwt = issue(g.a, 600);
        assert_int_equal(verify_at(again, jwt, now_sec()), 0);
        _cleanup_free_ char *jwt2 = issue(again, 600);
        assert_int_equal(verify_at(g.a, jwt2, now_sec()), 0);
        assert_null(rp_token_key_free(again));
        assert_null(rp_token_key_free(NULL));
}

static void test_auth_token__bad_key_files_rejected(void **state)
{
        _cleanup_free_ char *dir = auth_test_path(g.base, "bad");
        rp_token_key *k = NULL;
        assert_int_equal(rp_token_key_load_or_create(dir, &k), 0);
        k = rp_token_key_free(k);

        /* tenant: not a GUID; surrounding white space is fine */
        assert_int_equal(auth_test_write(dir, RP_TOKEN_TENANT_FILE, "not-a-guid\n"), 0);
        assert_int_equal(rp_token_key_load_or_create(dir, &k), -EBADMSG);
        assert_null(k);
        assert_int_equal(auth_test_write(dir, RP_TOKEN_TENANT_FILE, "  " SUB2 " \r\n"), 0);
        assert_int_equal(rp_token_key_load_or_create(dir, &k), 0);
        assert_string_equal(rp_token_key_tenant(k), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        k = rp_token_key_free(k);

        /* signing key: garbage, an EC key, a weak RSA key */
        assert_int_equal(auth_test_write(dir, RP_TOKEN_KEY_FILE, "junk"), 0);
        assert_int_equal(rp_token_key_load_or_create(dir, &k), -EBADMSG);
        EVP_PKEY *weak[] = { EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
                             EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024) };
        for (size_t i = 0; i < ELEMENTSOF(weak); i++) {
                assert_non_null(weak[i]);
                BIO *bio = BIO_new(BIO_s_mem());
                assert_int_equal(PEM_write_bio_PrivateKey(bio, weak[i], NULL, NULL, 0, NULL, NULL),
                                 1);
                char *data = NULL;
                long n = BIO_get_mem_data(bio, &data);
                _cleanup_free_ char *text = rp_strndup(data, (size_t)n);
                assert_int_equal(auth_test_write(dir, RP_TOKEN_KEY_FILE, text), 0);
                assert_int_equal(rp_token_key_load_or_create(dir, &k), -EBADMSG);
                assert_null(k);
                BIO_free(bio);
                EVP_PKEY_free(weak[i]);
        }
}

/* ---- issue and verify ------------------------------------------------------------------- */

static void test_auth_token__round_trip(void **state)
{
        _cleanup_free_ char *jwt = issue(g.a, 3600);
        rp_token_claims c = { 0 };
        assert_int_equal(rp_token_verify(g.a, jwt, now_sec(), &c), 0);
        assert_string_equal(c.tenant_id, rp_token_key_tenant(g.a));
        assert_non_null(c.object_id);
        assert_int_equal(c.n_subscriptions, 2);
        assert_string_equal(c.subscriptions[0], SUB1);
        assert_string_equal(c.subscriptions[1], "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        assert_true(c.expires_sec >= now_sec() + 3590 && c.expires_sec <= now_sec() + 3600);
        rp_token_claims_done(&c);
        assert_null(c.subscriptions);
        assert_int_equal(c.n_subscriptions, 0);
        rp_token_claims_done(&c); /* twice is fine */
}

static void test_auth_token__claims_shape(void **state)
{
        _cleanup_free_ char *jwt = issue(g.a, 1000);
        const char *d1 = strchr(jwt, '.'), *d2 = strrchr(jwt, '.');
        _cleanup_free_ char *h = part_decode(jwt, (size_t)(d1 - jwt));
        _cleanup_free_ char *p = part_decode(d1 + 1, (size_t)(d2 - d1 - 1));
        json_t *hj = json_loads(h, 0, NULL), *pj = json_loads(p, 0, NULL);
        assert_non_null(hj);
        assert_non_null(pj);
        assert_string_equal(json_string_value(json_object_get(hj, "alg")), "RS256");
        assert_string_equal(json_string_value(json_object_get(hj, "typ")), "JWT");
        assert_string_equal(json_string_value(json_object_get(hj, "kid")), rp_token_key_id(g.a));

        _cleanup_free_ char *iss =
                rp_asprintf("https://sts.windows.net/%s/", rp_token_key_tenant(g.a));
        assert_string_equal(json_string_value(json_object_get(pj, "aud")),
                            "https://management.core.windows.net/");
        assert_string_equal(json_string_value(json_object_get(pj, "iss")), iss);
        assert_string_equal(json_string_value(json_object_get(pj, "tid")),
                            rp_token_key_tenant(g.a));
        assert_string_equal(json_string_value(json_object_get(pj, "idtyp")), "app");
        assert_string_equal(json_string_value(json_object_get(pj, "ver")), "1.0");
        const char *oid = json_string_value(json_object_get(pj, "oid"));
        assert_string_equal(json_string_value(json_object_get(pj, "sub")), oid);
        assert_int_equal(strlen(oid), RP_UUID_STR_LEN);
        assert_int_equal(strlen(json_string_value(json_object_get(pj, "appid"))), RP_UUID_STR_LEN);
        json_int_t iat = json_integer_value(json_object_get(pj, "iat"));
        assert_int_equal(json_integer_value(json_object_get(pj, "nbf")), iat);
        assert_int_equal(json_integer_value(json_object_get(pj, "exp")), iat + 1000);
        assert_int_equal(json_array_size(json_object_get(pj, "xms_rpd_subs")), 2);
        json_decref(hj);
        json_decref(pj);

        /* the object id is stable for a deployment and differs between deployments */
        _cleanup_free_ char *jwt2 = issue(g.a, 10);
        _cleanup_free_ char *jwt_b = issue(g.b, 10);
        rp_token_claims c1 = { 0 }, c2 = { 0 }, cb = { 0 };
        assert_int_equal(rp_token_verify(g.a, jwt, now_sec(), &c1), 0);
        assert_int_equal(rp_token_verify(g.a, jwt2, now_sec(), &c2), 0);
        assert_int_equal(rp_token_verify(g.b, jwt_b, now_sec(), &cb), 0);
        assert_string_equal(c1.object_id, c2.object_id);
        assert_string_not_equal(c1.object_id, cb.object_id);
        rp_token_claims_done(&c1);
        rp_token_claims_done(&c2);
        rp_token_claims_done(&cb);
}

static void test_auth_token__tampered_payload(void **state)
{
        _cleanup_free_ char *jwt = issue(g.a, 3600);
        char *d1 = strchr(jwt, '.'), *d2 = strrchr(jwt, '.');

        /* grant one more subscription, keep the signature */
        _cleanup_free_ char *p = part_decode(d1 + 1, (size_t)(d2 - d1 - 1));
        json_t *pj = json_loads(p, 0, NULL);
        json_array_append_new(json_object_get(pj, "xms_rpd_subs"), json_string(SUB3));
        _cleanup_free_ char *p2 = rp_json_dumps(pj);
        json_decref(pj);
        _cleanup_free_ char *p64 = rp_base64url_encode(p2, strlen(p2));
        _cleanup_free_ char *forged = rp_asprintf("%.*s.%s%s", (int)(d1 - jwt), jwt, p64, d2);
        assert_int_equal(verify_at(g.a, forged, now_sec()), -EKEYREJECTED);

        /* one character of the payload changed */
        d1[5] = d1[5] == 'A' ? 'B' : 'A';
        assert_int_equal(verify_at(g.a, jwt, now_sec()), -EKEYREJECTED);
}

static void test_auth_token__tampered_signature(void **state)
{
        _cleanup_free_ char *jwt = issue(g.a, 3600);
        char *sig = strrchr(jwt, '.') + 1;
        size_t n = strlen(sig);
        sig[n / 2] = sig[n / 2] == 'A' ? 'B' : 'A';
        assert_int_equal(verify_at(g.a, jwt, now_sec()), -EKEYREJECTED);
        sig[n / 2] = '\0'; /* truncated */
        assert_int_equal(verify_at(g.a, jwt, now_sec()), -EKEYREJECTED);
        sig[0] = '*'; /* not base64url */
        assert_int_equal(verify_at(g.a, jwt, now_sec()), -EBADMSG);
}

static void test_auth_token__alg_none_and_others_refused(void **state)
{
        _cleanup_free_ char *payload = payload_for(g.a, NULL, NULL);
        /* "none" with an empty signature, and with some signature */
        _cleanup_free_ char *none =
                forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL, NULL);
        assert_int_equal(verify_at(g.a, none, now_sec()), -EBADMSG);
        _cleanup_free_ char *none2 = forge("{\"alg\":\"none\"}", payload, g.pkey_a, NULL);
        assert_int_equal(verify_at(g.a, none2, now_sec()), -EBADMSG);

        /* HS256 keyed with the public key (the classic algorithm confusion) */
        BIO *bio = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PUBKEY(bio, g.pkey_a), 1);
        char *pub = NULL;
        long n = BIO_get_mem_data(bio, &pub);
        _cleanup_free_ char *pub_pem = rp_strndup(pub, (size_t)n);
        BIO_free(bio);
        _cleanup_free_ char *hs =
                forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, NULL, pub_pem);
        assert_int_equal(verify_at(g.a, hs, now_sec()), -EBADMSG);

        /* properly RS256-signed, but the header lies or asks too much */
        static const char *const bad_headers[] = {
                "{\"alg\":\"rs256\"}",
                "{\"alg\":\"RS512\"}",
                "{\"alg\":\"PS256\"}",
                "{\"typ\":\"JWT\"}",
                "{\"alg\":[\"RS256\"]}",
                "{\"alg\":\"RS256\",\"typ\":\"JWE\"}",
                "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}",
                "{\"alg\":\"RS256\",\"alg\":\"RS256\"}", /* duplicate key */
                "[\"RS256\"]",
                "\"RS256\"",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_headers); i++)
                assert_int_equal(verify_forged(bad_headers[i], payload, g.pkey_a), -EBADMSG);
        /* the minimal good header */
        assert_int_equal(verify_forged("{\"alg\":\"RS256\"}", payload, g.pkey_a), 0);
}

static void test_auth_token__expired(void **state)
{
        uint64_t t = now_sec();
        _cleanup_free_ char *jwt = issue(g.a, 60);
        /* exp = t0 + 60 with t0 in [t, t+1]: within the skew, still accepted */
        assert_int_equal(verify_at(g.a, jwt, t + 60 + RP_TOKEN_CLOCK_SKEW_SEC - 2), 0);
        assert_int_equal(verify_at(g.a, jwt, t + 60 + RP_TOKEN_CLOCK_SKEW_SEC + 2), -ETIME);
        assert_int_equal(verify_at(g.a, jwt, UINT64_MAX), -ETIME);
        /* a zero lifetime token is usable for the skew only */
        _cleanup_free_ char *zero = issue(g.a, 0);
        assert_int_equal(verify_at(g.a, zero, t + RP_TOKEN_CLOCK_SKEW_SEC + 2), -ETIME);
}

static void test_auth_token__not_yet_valid(void **state)
{
        uint64_t t = now_sec();
        _cleanup_free_ char *jwt = issue(g.a, 3600);
        assert_int_equal(verify_at(g.a, jwt, t - RP_TOKEN_CLOCK_SKEW_SEC + 2), 0);
        assert_int_equal(verify_at(g.a, jwt, t - RP_TOKEN_CLOCK_SKEW_SEC - 2), -ETIME);
        assert_int_equal(verify_at(g.a, jwt, 0), -ETIME);
}

static void test_auth_token__wrong_key(void **state)
{
        _cleanup_free_ char *jwt_b = issue(g.b, 3600);
        assert_int_equal(verify_at(g.a, jwt_b, now_sec()), -EKEYREJECTED);
        assert_int_equal(verify_at(g.b, jwt_b, now_sec()), 0);

        /* B's key with A's kid and claims: the signature still gives it away */
        _cleanup_free_ char *h = header_for(g.a);
        _cleanup_free_ char *p = payload_for(g.a, NULL, NULL);
        assert_int_equal(verify_forged(h, p, g.pkey_b), -EKEYREJECTED);
        assert_int_equal(verify_forged("{\"alg\":\"RS256\"}", p, g.pkey_b), -EKEYREJECTED);
        assert_int_equal(verify_forged(h, p, g.pkey_a), 0);
}

static void test_auth_token__wrong_audience_or_issuer(void **state)
{
        _cleanup_free_ char *h = header_for(g.a);
        static const char *const bad[][2] = {
                { "aud", "\"aud\":\"https://management.azure.com/\"" },
                { "aud", "\"aud\":\"https://management.core.windows.net\"" },
                { "iss", "\"iss\":\"https://sts.windows.net/" SUB1 "/\"" },
                { "iss", "\"iss\":\"https://evil.example/\"" },
                { "tid", "\"tid\":\"" SUB1 "\"" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *p = payload_for(g.a, bad[i][0], bad[i][1]);
                assert_int_equal(verify_forged(h, p, g.pkey_a), -EACCES);
        }
        /* B's own token carries B's issuer: valid signature, wrong tenant */
        _cleanup_free_ char *pb = payload_for(g.b, NULL, NULL);
        assert_int_equal(verify_forged(h, pb, g.pkey_a), -EACCES);
}

static void test_auth_token__missing_or_mistyped_claims(void **state)
{
        _cleanup_free_ char *h = header_for(g.a);
        static const char *const required[] = { "aud", "iss", "tid",         "oid",
                                                "nbf", "exp", "xms_rpd_subs" };
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                _cleanup_free_ char *p = payload_for(g.a, required[i], NULL);
                assert_int_equal(verify_forged(h, p, g.pkey_a), -EBADMSG);
        }
        static const char *const mistyped[][2] = {
                { "exp", "\"exp\":\"99999999999\"" },
                { "exp", "\"exp\":1.5e12" },
                { "exp", "\"exp\":-1" },
                { "nbf", "\"nbf\":null" },
                { "aud", "\"aud\":[\"https://management.core.windows.net/\"]" },
                { "xms_rpd_subs", "\"xms_rpd_subs\":\"" SUB1 "\"" },
                { "xms_rpd_subs", "\"xms_rpd_subs\":[\"" SUB1 "\",\"not-a-guid\"]" },
                { "xms_rpd_subs", "\"xms_rpd_subs\":[\"" SUB1 "\",7]" },
                { "xms_rpd_subs", "\"xms_rpd_subs\":[\"{" SUB1 "}\"]" },
                { NULL, "\"aud\":\"https://management.core.windows.net/\"" }, /* duplicate */
                { "exp", "\"exp\":123456789012345678901234567890" },
        };
        for (size_t i = 0; i < ELEMENTSOF(mistyped); i++) {
                _cleanup_free_ char *p = payload_for(g.a, mistyped[i][0], mistyped[i][1]);
                assert_int_equal(verify_forged(h, p, g.pkey_a), -EBADMSG);
        }
        /* not an object at all, but signed */
        assert_int_equal(verify_forged(h, "[1,2]", g.pkey_a), -EBADMSG);
        assert_int_equal(verify_forged(h, "{", g.pkey_a), -EBADMSG);
        /* an empty grant is valid and grants nothing */
        _cleanup_free_ char *p = payload_for(g.a, "xms_rpd_subs", "\"xms_rpd_subs\":[]");
        _cleanup_free_ char *jwt = forge(h, p, g.pkey_a, NULL);
        rp_token_claims c = { 0 };
        assert_int_equal(rp_token_verify(g.a, jwt, now_sec(), &c), 0);
        assert_int_equal(c.n_subscriptions, 0);
        assert_false(rp_token_claims_allows(&c, SUB1));
        rp_token_claims_done(&c);
}

static void test_auth_token__garbage_inputs(void **state)
{
        _cleanup_free_ char *good = issue(g.a, 3600);
        _cleanup_free_ char *four = rp_asprintf("%s.x", good);
        _cleanup_free_ char *lead_dot = rp_asprintf(".%s", good);
        _cleanup_free_ char *no_sig = rp_strndup(good, (size_t)(strrchr(good, '.') - good + 1));
        _cleanup_free_ char *bearer = rp_asprintf("Bearer %s", good);
        const char *const garbage[] = {
                "",
                ".",
                "..",
                "...",
                "a",
                "a.b",
                "a.b.c",
                "a..c",
                ".b.c",
                "a.b.",
                "!!!.e30.e30",
                "e30.e30.!!!",
                "e30.e30.e30",
                "eyJ.e30.AAAA",
                "e30\n.e30.AAAA",
                "%00.e30.AAAA",
                four,
                lead_dot,
                no_sig,
                bearer,
        };
        for (size_t i = 0; i < ELEMENTSOF(garbage); i++) {
                rp_token_claims c = { .n_subscriptions = 42 };
                assert_int_equal(rp_token_verify(g.a, garbage[i], now_sec(), &c), -EBADMSG);
                assert_int_equal(c.n_subscriptions, 42); /* untouched on failure */
        }
        rp_token_claims c = { 0 };
        assert_int_equal(rp_token_verify(g.a, NULL, now_sec(), &c), -EINVAL);
        assert_int_equal(rp_token_verify(NULL, good, now_sec(), &c), -EINVAL);
        assert_int_equal(rp_token_verify(g.a, good, now_sec(), NULL), -EINVAL);
        /* random bytes */
        for (int i = 0; i < 200; i++) {
                uint8_t raw[96];
                assert_int_equal(rp_random_bytes(raw, sizeof raw), 0);
                for (size_t j = 0; j < sizeof raw - 1; j++)
                        raw[j] = raw[j] ? raw[j] : '.';
                raw[sizeof raw - 1] = '\0';
                assert_true(verify_at(g.a, (const char *)raw, now_sec()) < 0);
        }
}

static void test_auth_token__too_long(void **state)
{
        char *big = rp_malloc(RP_MAX_TOKEN_LEN + 2);
        assert_non_null(big);
        memset(big, 'a', RP_MAX_TOKEN_LEN + 1);
        big[RP_MAX_TOKEN_LEN + 1] = '\0';
        assert_int_equal(verify_at(g.a, big, now_sec()), -E2BIG);
        big[RP_MAX_TOKEN_LEN] = '\0'; /* exactly at the cap: parsed, and malformed */
        assert_int_equal(verify_at(g.a, big, now_sec()), -EBADMSG);
        rp_free(big);

        /* a valid token padded past the cap with a huge claim */
        _cleanup_free_ char *h = header_for(g.a);
        char *pad = rp_malloc(RP_MAX_TOKEN_LEN);
        memset(pad, 'x', RP_MAX_TOKEN_LEN - 1);
        pad[RP_MAX_TOKEN_LEN - 1] = '\0';
        _cleanup_free_ char *extra = rp_asprintf("\"pad\":\"%s\"", pad);
        rp_free(pad);
        _cleanup_free_ char *p = payload_for(g.a, NULL, extra);
        assert_int_equal(verify_forged(h, p, g.pkey_a), -E2BIG);
}

static void test_auth_token__subscription_allow_check(void **state)
{
        _cleanup_free_ char *jwt = issue(g.a, 3600);
        rp_token_claims c = { 0 };
        assert_int_equal(rp_token_verify(g.a, jwt, now_sec(), &c), 0);
        assert_true(rp_token_claims_allows(&c, SUB1));
        assert_true(rp_token_claims_allows(&c, SUB2));
        assert_true(rp_token_claims_allows(&c, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"));
        assert_true(rp_token_claims_allows(&c, "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"));
        assert_false(rp_token_claims_allows(&c, SUB3));
        assert_false(rp_token_claims_allows(&c, "11111111-2222-3333-4444-55555555555"));
        assert_false(rp_token_claims_allows(&c, ""));
        assert_false(rp_token_claims_allows(&c, NULL));
        assert_false(rp_token_claims_allows(NULL, SUB1));
        rp_token_claims_done(&c);
        assert_false(rp_token_claims_allows(&c, SUB1));
}

static void test_auth_token__issue_rejects_bad_input(void **state)
{
        const char *const bad[] = { SUB1, "not-a-guid" };
        char *jwt = NULL;
        assert_int_equal(rp_token_issue(g.a, bad, 2, 60, &jwt), -EINVAL);
        assert_null(jwt);
        const char *const braces[] = { "{" SUB1 "}" };
        assert_int_equal(rp_token_issue(g.a, braces, 1, 60, &jwt), -EINVAL);
        const char *const null_item[] = { NULL };
        assert_int_equal(rp_token_issue(g.a, null_item, 1, 60, &jwt), -EINVAL);
        assert_int_equal(rp_token_issue(g.a, NULL, 1, 60, &jwt), -EINVAL);
        assert_int_equal(rp_token_issue(g.a, NULL, 0, UINT64_MAX, &jwt), -EINVAL);
        assert_null(jwt);

        /* no subscriptions: a valid token that grants nothing */
        assert_int_equal(rp_token_issue(g.a, NULL, 0, 60, &jwt), 0);
        assert_int_equal(verify_at(g.a, jwt, now_sec()), 0);
        jwt = rp_free(jwt);

        /* more subscriptions than fit in RP_MAX_TOKEN_LEN */
        enum { MANY = 400 };
        char ids[MANY][RP_UUID_STR_LEN + 1];
        const char *many[MANY];
        for (size_t i = 0; i < MANY; i++) {
                assert_int_equal(rp_uuid4(ids[i]), 0);
                many[i] = ids[i];
        }
        assert_int_equal(rp_token_issue(g.a, many, MANY, 60, &jwt), -E2BIG);
        assert_null(jwt);
        assert_int_equal(rp_token_issue(g.a, many, 100, 60, &jwt), 0);
        rp_token_claims c = { 0 };
        assert_int_equal(rp_token_verify(g.a, jwt, now_sec(), &c), 0);
        assert_int_equal(c.n_subscriptions, 100);
        assert_true(rp_token_claims_allows(&c, ids[99]));
        rp_token_claims_done(&c);
        rp_free(jwt);
}

/* ---- threads and allocation failures ----------------------------------------------------- */

#define N_THREADS 8
#define N_ROUNDS 40

static void *verify_thread(void *arg)
{
        const char *const *jwts = arg;
        intptr_t bad = 0;
        for (int i = 0; i < N_ROUNDS; i++) {
                rp_token_claims c = { 0 };
                bad += rp_token_verify(g.a, jwts[0], now_sec(), &c) != 0;
                bad += !rp_token_claims_allows(&c, SUB1);
                rp_token_claims_done(&c);
                bad += rp_token_verify(g.a, jwts[1], now_sec(), &c) != -EKEYREJECTED;
                char *mine = NULL;
                const char *const subs[] = { SUB3 };
                bad += rp_token_issue(g.a, subs, 1, 60, &mine) != 0;
                bad += rp_token_verify(g.a, mine, now_sec(), &c) != 0;
                bad += !rp_token_claims_allows(&c, SUB3);
                rp_token_claims_done(&c);
                rp_free(mine);
        }
        return (void *)bad;
}

static void test_auth_token__concurrent_verify(void **state)
{
        _cleanup_free_ char *good = issue(g.a, 3600);
        _cleanup_free_ char *foreign = issue(g.b, 3600);
        const char *jwts[] = { good, foreign };
        pthread_t t[N_THREADS];
        for (size_t i = 0; i < N_THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, verify_thread, jwts), 0);
        for (size_t i = 0; i < N_THREADS; i++) {
                void *bad = NULL;
                assert_int_equal(pthread_join(t[i], &bad), 0);
                assert_int_equal((intptr_t)bad, 0);
        }
}

/* Fail each allocation in turn: never a crash, a leak (ASan) or a false success. jansson's lexer
 * reports some allocation failures as syntax errors and silently truncates strings on others, so
 * any refusal is fine; what matters is that a success carries exactly the right claims. */
static void test_auth_token__allocation_failures(void **state)
{
        _cleanup_free_ char *jwt = issue(g.a, 3600);
        rp_token_claims want = { 0 };
        assert_int_equal(rp_token_verify(g.a, jwt, now_sec(), &want), 0);
        const char *const subs[] = { SUB1, SUB2 };
        bool verify_done = false, issue_done = false;
        for (unsigned long n = 1; n < 500 && !(verify_done && issue_done); n++) {
                rp_token_claims c = { 0 };
                rp_alloc_fail_at(n);
                int r = rp_token_verify(g.a, jwt, now_sec(), &c);
                rp_alloc_fail_at(0);
                assert_true(r <= 0);
                if (r == 0) {
                        assert_string_equal(c.tenant_id, want.tenant_id);
                        assert_string_equal(c.object_id, want.object_id);
                        assert_int_equal(c.n_subscriptions, 2);
                        assert_string_equal(c.subscriptions[0], want.subscriptions[0]);
                        assert_string_equal(c.subscriptions[1], want.subscriptions[1]);
                        assert_int_equal(c.expires_sec, want.expires_sec);
                        verify_done = true;
                } else {
                        assert_null(c.subscriptions);
                }
                rp_token_claims_done(&c);

                char *out = NULL;
                rp_alloc_fail_at(n);
                r = rp_token_issue(g.a, subs, 2, 60, &out);
                rp_alloc_fail_at(0);
                /* issuing only builds JSON, it never parses: failures are plain -ENOMEM */
                assert_true(r == 0 || r == -ENOMEM);
                if (r == 0) {
                        assert_int_equal(verify_at(g.a, out, now_sec()), 0);
                        issue_done = true;
                } else {
                        assert_null(out);
                }
                rp_free(out);
        }
        assert_true(verify_done && issue_done);
        rp_token_claims_done(&want);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_auth_token__key_files_created),
                cmocka_unit_test(test_auth_token__key_reload_is_stable),
                cmocka_unit_test(test_auth_token__bad_key_files_rejected),
                cmocka_unit_test(test_auth_token__round_trip),
                cmocka_unit_test(test_auth_token__claims_shape),
                cmocka_unit_test(test_auth_token__tampered_payload),
                cmocka_unit_test(test_auth_token__tampered_signature),
                cmocka_unit_test(test_auth_token__alg_none_and_others_refused),
                cmocka_unit_test(test_auth_token__expired),
                cmocka_unit_test(test_auth_token__not_yet_valid),
                cmocka_unit_test(test_auth_token__wrong_key),
                cmocka_unit_test(test_auth_token__wrong_audience_or_issuer),
                cmocka_unit_test(test_auth_token__missing_or_mistyped_claims),
                cmocka_unit_test(test_auth_token__garbage_inputs),
                cmocka_unit_test(test_auth_token__too_long),
                cmocka_unit_test(test_auth_token__subscription_allow_check),
                cmocka_unit_test(test_auth_token__issue_rejects_bad_input),
                cmocka_unit_test(test_auth_token__concurrent_verify),
                cmocka_unit_test(test_auth_token__allocation_failures),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
