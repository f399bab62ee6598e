/* test_util_crypto.c: digests, MACs, hex and base64url round trips, strict decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "util/alloc.h"
#include "util/crypto.h"
#include "util/macro.h"

static void test_util_crypto__sha256_known_vectors(void **state)
{
        uint8_t d[RP_SHA256_LEN];
        char hex[2 * RP_SHA256_LEN + 1];
        rp_sha256("abc", 3, d);
        rp_hex_encode(d, sizeof d, hex);
        assert_string_equal(hex,
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        rp_sha256("", 0, d);
        rp_hex_encode(d, sizeof d, hex);
        assert_string_equal(hex,
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_util_crypto__hmac_rfc4231_case2(void **state)
{
        uint8_t mac[RP_SHA256_LEN];
        char hex[2 * RP_SHA256_LEN + 1];
        const char *data = "what do ya want for nothing?";
        assert_int_equal(rp_hmac_sha256("Jefe", 4, data, strlen(data), mac), 0);
        rp_hex_encode(mac, sizeof mac, hex);
        assert_string_equal(hex,
                            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_util_crypto__hex_round_trip(void **state)
{
        uint8_t all[256], back[256];
        char hex[2 * sizeof all + 1];
        for (int i = 0; i < 256; i++)
                all[i] = (uint8_t)i;
        rp_hex_encode(all, sizeof all, hex);
        assert_int_equal(strlen(hex), 512);
        assert_memory_equal(hex, "000102", 6);
        assert_string_equal(hex + 506, "fdfeff");
        for (const char *p = hex; *p; p++)
                assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
        assert_int_equal(rp_hex_decode(hex, back, sizeof back), 0);
        assert_memory_equal(all, back, sizeof all);

        /* Upper case decodes too. */
        uint8_t two[2];
        assert_int_equal(rp_hex_decode("ABcd", two, 2), 0);
        assert_int_equal(two[0], 0xab);
        assert_int_equal(two[1], 0xcd);

        /* Empty in, empty out. */
        char e[1];
        rp_hex_encode("", 0, e);
        assert_string_equal(e, "");
        assert_int_equal(rp_hex_decode("", two, 0), 0);
}

static void test_util_crypto__hex_rejects_bad_input(void **state)
{
        uint8_t out[4] = { 0x11, 0x22, 0x33, 0x44 };
        assert_int_equal(rp_hex_decode("abc", out, 2), -EINVAL);    /* odd / short */
        assert_int_equal(rp_hex_decode("abcdef", out, 2), -EINVAL); /* long */
        assert_int_equal(rp_hex_decode("abcg", out, 2), -EINVAL);   /* not a digit */
        assert_int_equal(rp_hex_decode("ab c", out, 2), -EINVAL);
        assert_int_equal(rp_hex_decode("0x12", out, 2), -EINVAL);
        assert_int_equal(rp_hex_decode("-1", out, 1), -EINVAL);
        assert_int_equal(rp_hex_decode("", out, 1), -EINVAL);
}

static void test_util_crypto__base64url_known_vectors(void **state)
{
        static const struct {
                const char *in, *out;
        } v[] = {
                { "", "" },
                { "f", "Zg" },
                { "fo", "Zm8" },
                { "foo", "Zm9v" },
                { "foob", "Zm9vYg" },
                { "fooba", "Zm9vYmE" },
                { "foobar", "Zm9vYmFy" },
                { "\xfb\xff", "-_8" },
                { "\xff\xfe\xfd", "__79" },
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                _cleanup_free_ char *e = rp_base64url_encode(v[i].in, strlen(v[i].in));
                assert_non_null(e);
                assert_string_equal(e, v[i].out);
                _cleanup_free_ uint8_t *d = NULL;
                long n = rp_base64url_decode(v[i].out, strlen(v[i].out), &d);
                assert_int_equal(n, (long)strlen(v[i].in));
                assert_memory_equal(d, v[i].in, (size_t)n);
        }
        _cleanup_free_ char *std = rp_base64_encode("\xfb\xff", 2);
        assert_string_equal(std, "+/8=");
        _cleanup_free_ char *std2 = rp_base64_encode("fo", 2);
        assert_string_equal(std2, "Zm8=");
}

static void test_util_crypto__base64url_round_trip(void **state)
{
        uint8_t buf[300];
        for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (uint8_t)(i * 37 + 11);
        for (size_t len = 0; len <= sizeof buf; len++) {
                _cleanup_free_ char *e = rp_base64url_encode(buf, len);
                assert_non_null(e);
                assert_int_equal(strlen(e), (len * 4 + 2) / 3);
                assert_null(strpbrk(e, "+/="));
                _cleanup_free_ uint8_t *d = NULL;
                long n = rp_base64url_decode(e, strlen(e), &d);
                assert_int_equal(n, (long)len);
                assert_memory_equal(d, buf, len);
        }
}

static void test_util_crypto__base64url_accepts_padding(void **state)
{
        _cleanup_free_ uint8_t *a = NULL, *b = NULL;
        assert_int_equal(rp_base64url_decode("Zg==", 4, &a), 1);
        assert_int_equal(a[0], 'f');
        assert_int_equal(rp_base64url_decode("Zm8=", 4, &b), 2);
        assert_memory_equal(b, "fo", 2);
        /* slen bounds the input: bytes after it are not read. */
        _cleanup_free_ uint8_t *c = NULL;
        assert_int_equal(rp_base64url_decode("Zm9vYmFy", 4, &c), 3);
        assert_memory_equal(c, "foo", 3);
}

static void test_util_crypto__base64url_rejects_bad_input(void **state)
{
        static const char *const bad[] = {
                "Z",     /* one leftover char cannot encode a byte */
                "Zm9vY", /* 5 = 4 + 1 */
                "Zm+v",  /* standard alphabet is not base64url */
                "Zm/v",  "Zm 9v", "Zm\n9v", "Z=g=", "Zg=A", "Zm9v!", "\xc3\xa9\xc3\xa9", "Zm9v\x01",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                uint8_t *d = (uint8_t *)0x1; /* must stay untouched */
                long n = rp_base64url_decode(bad[i], strlen(bad[i]), &d);
                if (n != -EINVAL)
                        print_error("'%s' decoded to %ld\n", bad[i], n);
                assert_int_equal(n, -EINVAL);
                assert_ptr_equal(d, (uint8_t *)0x1);
        }
        /* An embedded NUL inside slen is junk, too. */
        uint8_t *d = NULL;
        assert_int_equal(rp_base64url_decode("Zm\0v", 4, &d), -EINVAL);
        assert_null(d);
}

static void test_util_crypto__base64url_oom(void **state)
{
        for (unsigned long n = 1; n <= 2; n++) {
                uint8_t *d = (uint8_t *)0x1;
                rp_alloc_fail_at(n);
                assert_int_equal(rp_base64url_decode("Zm9vYmFy", 8, &d), -ENOMEM);
                assert_ptr_equal(d, (uint8_t *)0x1);
        }
        rp_alloc_fail_at(1);
        assert_null(rp_base64url_encode("abc", 3));
        rp_alloc_fail_at(0);
}

static void test_util_crypto__uuid4_format(void **state)
{
        char a[RP_UUID_STR_LEN + 1], b[RP_UUID_STR_LEN + 1];
        assert_int_equal(rp_uuid4(a), 0);
        assert_int_equal(rp_uuid4(b), 0);
        assert_int_equal(strlen(a), RP_UUID_STR_LEN);
        assert_string_not_equal(a, b);
        for (int i = 0; i < RP_UUID_STR_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23)
                        assert_int_equal(a[i], '-');
                else
                        assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
        }
        assert_int_equal(a[14], '4');           /* version */
        assert_non_null(strchr("89ab", a[19])); /* variant */
}

static void test_util_crypto__memeq_and_random(void **state)
{
        assert_true(rp_memeq_consttime("abc", "abc", 3));
        assert_false(rp_memeq_consttime("abc", "abd", 3));
        assert_true(rp_memeq_consttime("a", "b", 0));
        uint8_t r1[32] = { 0 }, r2[32] = { 0 };
        assert_int_equal(rp_random_bytes(r1, sizeof r1), 0);
        assert_int_equal(rp_random_bytes(r2, sizeof r2), 0);
        assert_memory_not_equal(r1, r2, sizeof r1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_util_crypto__sha256_known_vectors),
                cmocka_unit_test(test_util_crypto__hmac_rfc4231_case2),
                cmocka_unit_test(test_util_crypto__hex_round_trip),
                cmocka_unit_test(test_util_crypto__hex_rejects_bad_input),
                cmocka_unit_test(test_util_crypto__base64url_known_vectors),
                cmocka_unit_test(test_util_crypto__base64url_round_trip),
                cmocka_unit_test(test_util_crypto__base64url_accepts_padding),
                cmocka_unit_test(test_util_crypto__base64url_rejects_bad_input),
                cmocka_unit_test(test_util_crypto__base64url_oom),
                cmocka_unit_test(test_util_crypto__uuid4_format),
                cmocka_unit_test(test_util_crypto__memeq_and_random),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
