/* test_disk_sas.c: SAS signing and verification. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "disk/disk_sas.h"
#include "util/alloc.h"
#include "util/macro.h"

static const uint8_t key[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
#define RES "eastus/disks/0b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
#define EXPIRY 1795611600ull /* 2026-11-25T13:00:00Z */
#define NOW (EXPIRY - 3600)

/* The six query fields of a SAS, split out of the query string (owned copy). */
typedef struct sas_fields {
        char *query;
        const char *sv, *sr, *sp, *se, *sk, *sig;
} sas_fields;

static void fields_done(sas_fields *f)
{
        f->query = rp_free(f->query);
}

static void split(char *query, sas_fields *f)
{
        *f = (sas_fields){ .query = query };
        for (char *p = query; p && *p;) {
                char *amp = strchr(p, '&');
                if (amp)
                        *amp = '\0';
                char *eq = strchr(p, '=');
                assert_non_null(eq);
                *eq = '\0';
                const char *v = eq + 1;
                if (strcmp(p, "sv") == 0)
                        f->sv = v;
                else if (strcmp(p, "sr") == 0)
                        f->sr = v;
                else if (strcmp(p, "sp") == 0)
                        f->sp = v;
                else if (strcmp(p, "se") == 0)
                        f->se = v;
                else if (strcmp(p, "sk") == 0)
                        f->sk = v;
                else if (strcmp(p, "sig") == 0)
                        f->sig = v;
                else
                        fail_msg("unexpected field %s", p);
                p = amp ? amp + 1 : NULL;
        }
}

static void sign(const char *perms, uint64_t expiry, uint64_t gen, sas_fields *f)
{
        char *q = NULL;
        assert_int_equal(rp_sas_sign(key, sizeof key, RES, perms, expiry, gen, &q), 0);
        split(q, f);
}

static int verify(const sas_fields *f, const char *resource, uint64_t now, rp_sas_grant *g)
{
        return rp_sas_verify(key, sizeof key, resource, f->sv, f->sr, f->sp, f->se, f->sk, f->sig,
                             now, g);
}

static void test_disk_sas__round_trip(void **state)
{
        char *q = NULL;
        rp_sas_grant g = { 0 };
        assert_int_equal(rp_sas_sign(key, sizeof key, RES, "rw", EXPIRY, 42, &q), 0);
        assert_non_null(strstr(q, "sv=2018-03-28&sr=b&sp=rw&se=2026-11-25T13:00:00Z&sk=42&sig="));
        assert_int_equal(strlen(strstr(q, "sig=") + 4), 43);
        sas_fields f;
        split(q, &f);
        assert_int_equal(verify(&f, RES, NOW, &g), 0);
        assert_true(g.read);
        assert_true(g.write);
        assert_int_equal(g.expiry_sec, EXPIRY);
        assert_int_equal(g.generation, 42);
        fields_done(&f);

        sign("r", EXPIRY, 0, &f);
        assert_int_equal(verify(&f, RES, NOW, &g), 0);
        assert_true(g.read);
        assert_false(g.write);
        assert_int_equal(g.generation, 0);
        fields_done(&f);

        sign("rw", EXPIRY, UINT64_MAX, &f);
        assert_int_equal(verify(&f, RES, NOW, &g), 0);
        assert_int_equal(g.generation, UINT64_MAX);
        fields_done(&f);
}

static void test_disk_sas__tampered_field_rejected(void **state)
{
        sas_fields f;
        rp_sas_grant g = { .generation = 77 };
        sign("r", EXPIRY, 5, &f);

        /* Well-formed but different: the signature no longer matches. */
        sas_fields t = f;
        t.sp = "rw";
        assert_int_equal(verify(&t, RES, NOW, &g), -EKEYREJECTED);
        t = f;
        t.se = "2026-11-25T13:00:01Z";
        assert_int_equal(verify(&t, RES, NOW, &g), -EKEYREJECTED);
        t = f;
        t.se = "2099-01-01T00:00:00Z";
        assert_int_equal(verify(&t, RES, NOW, &g), -EKEYREJECTED);
        t = f;
        t.sk = "6";
        assert_int_equal(verify(&t, RES, NOW, &g), -EKEYREJECTED);
        assert_int_equal(verify(&f, "eastus/disks/0b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5c", NOW, &g),
                         -EKEYREJECTED);
        assert_int_equal(verify(&f, "westus/disks/0b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b", NOW, &g),
                         -EKEYREJECTED);
        char sig[64];
        snprintf(sig, sizeof sig, "%s", f.sig);
        sig[0] = sig[0] == 'A' ? 'B' : 'A';
        t = f;
        t.sig = sig;
        assert_int_equal(verify(&t, RES, NOW, &g), -EKEYREJECTED);
        uint8_t other_key[32] = { 0 };
        assert_int_equal(rp_sas_verify(other_key, sizeof other_key, RES, f.sv, f.sr, f.sp, f.se,
                                       f.sk, f.sig, NOW, &g),
                         -EKEYREJECTED);

        /* Values rpd never issues are malformed, whatever the signature. */
        t = f;
        t.sv = "2020-04-08";
        assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        t = f;
        t.sr = "c";
        assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        t = f;
        t.sp = "w";
        assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        t = f;
        t.sk = "05";
        assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        assert_int_equal(g.generation, 77); /* untouched on failure */
        fields_done(&f);
}

static void test_disk_sas__expired(void **state)
{
        sas_fields f;
        rp_sas_grant g;
        sign("rw", EXPIRY, 1, &f);
        assert_int_equal(verify(&f, RES, EXPIRY - 1, &g), 0);
        assert_int_equal(verify(&f, RES, EXPIRY, &g), -ETIME);
        assert_int_equal(verify(&f, RES, EXPIRY + 86400, &g), -ETIME);
        /* A forged token learns nothing about expiry: the signature is checked first. */
        sas_fields t = f;
        t.sk = "2";
        assert_int_equal(verify(&t, RES, EXPIRY + 86400, &g), -EKEYREJECTED);
        fields_done(&f);
}

static void test_disk_sas__garbage_rejected(void **state)
{
        sas_fields f;
        rp_sas_grant g;
        sign("rw", EXPIRY, 9, &f);
        static const char *const bad_se[] = {
                "",
                "2026-11-25T13:00:00",
                "2026-11-25T13:00:00.000Z",
                "2026-11-25 13:00:00Z",
                "2026-13-01T00:00:00Z",
                "2026-02-29T00:00:00Z",
                "2026-04-31T00:00:00Z",
                "2026-11-25T24:00:00Z",
                "2026-11-25T13:60:00Z",
                "2026-11-25T13:00:60Z",
                "1969-12-31T23:59:59Z",
                "2026-11-25T13:00:00+00:00",
                "+026-11-25T13:00:00Z",
                "2026-1a-25T13:00:00Z",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_se); i++) {
                sas_fields t = f;
                t.se = bad_se[i];
                assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        }
        static const char *const bad_sk[] = {
                "", "-1", "+1", "abc", "1 ", "18446744073709551616", "000000000000000000001"
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_sk); i++) {
                sas_fields t = f;
                t.sk = bad_sk[i];
                assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        }
        char padded[64], odd[64], longer[128];
        snprintf(padded, sizeof padded, "%s=", f.sig);
        snprintf(odd, sizeof odd, "%s", f.sig);
        /* 43 characters carry 258 bits; set one of the two unused ones: same bytes, but not
         * the one spelling rpd accepts. */
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const char *pos = strchr(alphabet, odd[42]);
        assert_non_null(pos);
        odd[42] = alphabet[(pos - alphabet) ^ 1];
        snprintf(longer, sizeof longer, "%s%s", f.sig, f.sig);
        static const char *fixed_bad_sig[] = { "", "!!!!", "abc", "AAAA", "a+b/" };
        const char *bad_sig[] = { padded,           longer,           fixed_bad_sig[0],
                                  fixed_bad_sig[1], fixed_bad_sig[2], fixed_bad_sig[3],
                                  fixed_bad_sig[4] };
        for (size_t i = 0; i < ELEMENTSOF(bad_sig); i++) {
                sas_fields t = f;
                t.sig = bad_sig[i];
                assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        }
        {
                sas_fields t = f;
                t.sig = odd;
                assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        }
        /* Missing fields. */
        static const size_t slots[] = {
                offsetof(sas_fields, sv), offsetof(sas_fields, sr), offsetof(sas_fields, sp),
                offsetof(sas_fields, se), offsetof(sas_fields, sk), offsetof(sas_fields, sig),
        };
        for (size_t i = 0; i < ELEMENTSOF(slots); i++) {
                sas_fields t = f;
                *(const char **)((char *)&t + slots[i]) = NULL;
                assert_int_equal(verify(&t, RES, NOW, &g), -EBADMSG);
        }
        assert_int_equal(verify(&f, NULL, NOW, &g), -EBADMSG);
        assert_int_equal(verify(&f, "", NOW, &g), -EBADMSG);
        assert_int_equal(verify(&f, "eastus/disks/x\n", NOW, &g), -EBADMSG);
        assert_int_equal(rp_sas_verify(NULL, 0, RES, f.sv, f.sr, f.sp, f.se, f.sk, f.sig, NOW, &g),
                         -EINVAL);
        fields_done(&f);
}

static void test_disk_sas__sign_rejects_bad_arguments(void **state)
{
        char *q = NULL;
        assert_int_equal(rp_sas_sign(key, sizeof key, RES, "w", EXPIRY, 1, &q), -EINVAL);
        assert_int_equal(rp_sas_sign(key, sizeof key, RES, "rwd", EXPIRY, 1, &q), -EINVAL);
        assert_int_equal(rp_sas_sign(key, sizeof key, RES, NULL, EXPIRY, 1, &q), -EINVAL);
        assert_int_equal(rp_sas_sign(key, sizeof key, "", "r", EXPIRY, 1, &q), -EINVAL);
        assert_int_equal(rp_sas_sign(key, sizeof key, "a\nb", "r", EXPIRY, 1, &q), -EINVAL);
        assert_int_equal(rp_sas_sign(key, 0, RES, "r", EXPIRY, 1, &q), -EINVAL);
        assert_int_equal(rp_sas_sign(key, sizeof key, RES, "r", 253402300800ull, 1, &q), -EINVAL);
        assert_null(q);
}

static void test_disk_sas__expiry_format_round_trip(void **state)
{
        static const struct {
                uint64_t sec;
                const char *s;
        } cases[] = {
                { 0, "1970-01-01T00:00:00Z" },
                { 951782400, "2000-02-29T00:00:00Z" },
                { 1709164799, "2024-02-28T23:59:59Z" },
                { 1709164800, "2024-02-29T00:00:00Z" },
                { EXPIRY, "2026-11-25T13:00:00Z" },
                { 4102444800, "2100-01-01T00:00:00Z" },
                { 253402300799ull, "9999-12-31T23:59:59Z" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char out[RP_SAS_EXPIRY_LEN + 1];
                uint64_t back;
                assert_int_equal(rp_sas_format_expiry(cases[i].sec, out), 0);
                assert_string_equal(out, cases[i].s);
                assert_int_equal(rp_sas_parse_expiry(cases[i].s, &back), 0);
                assert_int_equal(back, cases[i].sec);
        }
        /* Every day for 400 years (one Gregorian cycle) survives a round trip. */
        for (uint64_t day = 0; day < 146097; day++) {
                char out[RP_SAS_EXPIRY_LEN + 1];
                uint64_t back, sec = day * 86400 + 3723;
                assert_int_equal(rp_sas_format_expiry(sec, out), 0);
                assert_int_equal(rp_sas_parse_expiry(out, &back), 0);
                assert_int_equal(back, sec);
        }
        char out[RP_SAS_EXPIRY_LEN + 1];
        assert_int_equal(rp_sas_format_expiry(253402300800ull, out), -ERANGE);
        uint64_t v;
        assert_int_equal(rp_sas_parse_expiry("2100-02-29T00:00:00Z", &v), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_disk_sas__round_trip),
                cmocka_unit_test(test_disk_sas__tampered_field_rejected),
                cmocka_unit_test(test_disk_sas__expired),
                cmocka_unit_test(test_disk_sas__garbage_rejected),
                cmocka_unit_test(test_disk_sas__sign_rejects_bad_arguments),
                cmocka_unit_test(test_disk_sas__expiry_format_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
