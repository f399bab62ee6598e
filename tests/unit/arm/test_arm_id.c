/* test_arm_id.c: resource id parsing, canonical form, key, parent, make. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arm/arm_id.h"
#include "arm/arm_names.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

#define SUB "6b1e3e2f-0d3c-4b8a-9f51-2c7d8e9a0b1c"
#define SUBID "/subscriptions/" SUB
#define RGID SUBID "/resourceGroups/myRG"
#define CP RGID "/providers/Microsoft.Compute"
#define RPC CP "/restorePointCollections/myRpc"
#define RP RPC "/restorePoints/rp1"
#define DRP RP "/diskRestorePoints/osdisk_0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"

static rp_arm_id *parse_ok(const char *s)
{
        rp_arm_id *id = NULL;
        int r = rp_arm_id_parse(s, &id);
        if (r != 0)
                print_error("expected '%s' to parse, got %d\n", s, r);
        assert_int_equal(r, 0);
        assert_non_null(id);
        return id;
}

static void expect_reject(const char *s)
{
        rp_arm_id *id = (rp_arm_id *)0x1; /* must stay untouched */
        int r = rp_arm_id_parse(s, &id);
        if (r != -EINVAL)
                print_error("expected '%s' to be rejected, got %d\n", s ? s : "(null)", r);
        assert_int_equal(r, -EINVAL);
        assert_true(id == (rp_arm_id *)0x1);
}

/* A string of @p n copies of @p c, to rp_free(). */
static char *rep(char c, size_t n)
{
        char *s = rp_malloc(n + 1);
        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static void test_arm_id__parse_subscription(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *id = parse_ok(SUBID);
        _cleanup_free_ char *t = rp_arm_id_type(id);

        assert_string_equal(id->subscription, SUB);
        assert_null(id->resource_group);
        assert_null(id->provider);
        assert_int_equal(id->n_levels, 0);
        assert_string_equal(t, "Microsoft.Resources/subscriptions");
        assert_string_equal(rp_arm_id_name(id), SUB);
}

static void test_arm_id__parse_resource_group(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *id = parse_ok(RGID);
        _cleanup_free_ char *t = rp_arm_id_type(id);

        assert_string_equal(id->resource_group, "myRG");
        assert_null(id->provider);
        assert_int_equal(id->n_levels, 0);
        assert_string_equal(t, "Microsoft.Resources/resourceGroups");
        assert_string_equal(rp_arm_id_name(id), "myRG");
}

static void test_arm_id__parse_top_level(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *id = parse_ok(CP "/disks/myDisk");
        _cleanup_free_ char *t = rp_arm_id_type(id);

        assert_string_equal(id->provider, "Microsoft.Compute");
        assert_int_equal(id->n_levels, 1);
        assert_string_equal(id->levels[0].type, "disks");
        assert_string_equal(id->levels[0].name, "myDisk");
        assert_string_equal(t, "Microsoft.Compute/disks");
        assert_string_equal(rp_arm_id_name(id), "myDisk");
}

static void test_arm_id__parse_nested(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *id = parse_ok(DRP);
        _cleanup_free_ char *t = rp_arm_id_type(id);

        assert_int_equal(id->n_levels, 3);
        assert_string_equal(id->levels[0].name, "myRpc");
        assert_string_equal(id->levels[1].type, "restorePoints");
        assert_string_equal(id->levels[1].name, "rp1");
        assert_string_equal(id->levels[2].type, "diskRestorePoints");
        assert_string_equal(t, "Microsoft.Compute/restorePointCollections/restorePoints/"
                               "diskRestorePoints");
        assert_string_equal(rp_arm_id_name(id), "osdisk_0a1b2c3d-aaaa-bbbb-cccc-0123456789ab");
}

static void test_arm_id__parse_four_levels_max(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *id = parse_ok(CP "/a/1/b/2/c/3/d/4");

        assert_int_equal(id->n_levels, 4);
        assert_string_equal(id->levels[3].type, "d");
        expect_reject(CP "/a/1/b/2/c/3/d/4/e/5");
}

static void test_arm_id__parse_subscription_scope(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *id =
                parse_ok(SUBID "/providers/Microsoft.Compute/locations/westus/operations/op1");
        _cleanup_free_ char *t = rp_arm_id_type(id);

        assert_null(id->resource_group);
        assert_string_equal(id->provider, "Microsoft.Compute");
        assert_int_equal(id->n_levels, 2);
        assert_string_equal(id->levels[0].type, "locations");
        assert_string_equal(id->levels[0].name, "westus");
        assert_string_equal(t, "Microsoft.Compute/locations/operations");
}

static void test_arm_id__parse_literals_case_insensitive(_unused_ void **state)
{
        static const char *const variants[] = {
                "/SUBSCRIPTIONS/" SUB "/RESOURCEGROUPS/myRG/PROVIDERS/Microsoft.Compute/disks/d1",
                "/subscriptions/" SUB "/resourcegroups/myRG/providers/Microsoft.Compute/disks/d1",
                "/Subscriptions/" SUB "/ResourceGroups/myRG/Providers/Microsoft.Compute/disks/d1",
        };
        for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
                _cleanup_arm_id_ rp_arm_id *id = parse_ok(variants[i]);
                _cleanup_free_ char *f = rp_arm_id_format(id);
                assert_string_equal(f, CP "/disks/d1");
        }
}

static void test_arm_id__parse_keeps_name_case(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *id = parse_ok("/subscriptions/6B1E3E2F-0D3C-4B8A-9F51-"
                                                  "2C7D8E9A0B1C/resourceGroups/MyRg/providers/"
                                                  "MICROSOFT.COMPUTE/DISKS/MyDisk");
        _cleanup_free_ char *f = rp_arm_id_format(id);

        assert_string_equal(id->subscription, "6B1E3E2F-0D3C-4B8A-9F51-2C7D8E9A0B1C");
        assert_string_equal(id->resource_group, "MyRg");
        assert_string_equal(id->provider, "MICROSOFT.COMPUTE");
        assert_string_equal(id->levels[0].type, "DISKS");
        assert_string_equal(id->levels[0].name, "MyDisk");
        assert_string_equal(f, "/subscriptions/6B1E3E2F-0D3C-4B8A-9F51-2C7D8E9A0B1C/"
                               "resourceGroups/MyRg/providers/MICROSOFT.COMPUTE/DISKS/MyDisk");
}

static void test_arm_id__parse_unicode_names(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *id =
                parse_ok(SUBID "/resourceGroups/\xe8\xb3\x87\xe6\xba\x90(1)-grupo.\xc3\xb1");

        assert_string_equal(id->resource_group, "\xe8\xb3\x87\xe6\xba\x90(1)-grupo.\xc3\xb1");
}

static void test_arm_id__parse_rejects_structure(_unused_ void **state)
{
        static const char *const bad[] = {
                "",
                "/",
                "//",
                "subscriptions/" SUB,
                "/subscriptions",
                "/subscriptions/",
                "/subscriptions/" SUB "/",
                "//subscriptions/" SUB,
                "/subscriptions//" SUB,
                "/tenants/" SUB,
                "/subscriptions/" SUB "/resourceGroups",
                "/subscriptions/" SUB "/resourceGroups/",
                RGID "/",
                RGID "//providers/Microsoft.Compute/disks/d",
                RGID "/providers",
                RGID "/providers/",
                RGID "/providers/Microsoft.Compute",
                RGID "/providers/Microsoft.Compute/",
                CP "/disks",
                CP "/disks/",
                CP "/disks/d/",
                CP "/disks/d/extra",
                CP "//d",
                SUBID "/providers",
                SUBID "/providers/Microsoft.Compute",
                SUBID "/providers/Microsoft.Compute/locations",
                SUBID "/locations/westus",
                SUBID "/foo/bar",
                RGID "/foo/bar",
                RGID "/resourceGroups/rg2",
                CP "/disks/d/providers/Microsoft.Insights/diagnosticSettings/x",
                CP "/disks/d/PROVIDERS/Microsoft.Insights",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_reject(bad[i]);
        expect_reject(NULL);
}

static void test_arm_id__parse_rejects_bad_subscription(_unused_ void **state)
{
        expect_reject("/subscriptions/mysub");
        expect_reject("/subscriptions/{" SUB "}");
        expect_reject("/subscriptions/6b1e3e2f0d3c4b8a9f512c7d8e9a0b1c");
        expect_reject("/subscriptions/6b1e3e2f-0d3c-4b8a-9f51-2c7d8e9a0b1");
        expect_reject("/subscriptions/6b1e3e2f-0d3c-4b8a-9f51-2c7d8e9a0b1cc");
        expect_reject("/subscriptions/6b1e3e2g-0d3c-4b8a-9f51-2c7d8e9a0b1c");
        expect_reject("/subscriptions/6b1e3e2f-0d3c4-b8a-9f51-2c7d8e9a0b1c");
}

static void test_arm_id__parse_rejects_bad_characters(_unused_ void **state)
{
        static const char *const bad[] = {
                CP "/disks/d?api-version=2024-11-01",
                CP "/disks/d#frag",
                CP "/disks/d%2Fe",
                CP "/disks/d%",
                CP "/disks/d\te",
                CP "/disks/d\ne",
                CP "/disks/d\x7f",
                CP "/disks/d\x01",
                CP "/disks/d\xc2\x85",     /* U+0085, a C1 control */
                CP "/disks/d\xff",         /* not UTF-8 */
                CP "/disks/d\xc3",         /* truncated */
                CP "/disks/d\xc0\xaf",     /* overlong '/' */
                CP "/disks/d\xed\xa0\x80", /* surrogate */
                CP "/disks/d\xf4\x90\x80\x80", /* above U+10FFFF */
                CP "/disks/.",
                CP "/disks/..",
                SUBID "/resourceGroups/..",
                RGID "/providers/Microsoft Compute/disks/d",
                RGID "/providers/Microsoft.Compute/dis!ks/d",
                RGID "/providers/Micro\xc3\xa9soft/disks/d",
                RGID "/providers/Microsoft.Compute/disks\xc3\xa9/d",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_reject(bad[i]);
}

static void test_arm_id__parse_length_limit(_unused_ void **state)
{
        size_t prefix = strlen(CP "/disks/");
        _cleanup_free_ char *name_ok = rep('a', RP_ARM_ID_MAX_LEN - prefix);
        _cleanup_free_ char *name_long = rep('a', RP_ARM_ID_MAX_LEN - prefix + 1);
        _cleanup_free_ char *ok = rp_asprintf(CP "/disks/%s", name_ok);
        _cleanup_free_ char *toolong = rp_asprintf(CP "/disks/%s", name_long);

        assert_int_equal(strlen(ok), RP_ARM_ID_MAX_LEN);
        rp_arm_id_free(parse_ok(ok));
        expect_reject(toolong);
}

static void test_arm_id__format_round_trip(_unused_ void **state)
{
        static const char *const ids[] = {
                SUBID,
                RGID,
                CP "/disks/d1",
                RPC,
                RP,
                DRP,
                SUBID "/providers/Microsoft.Compute/locations/westus/operations/op1",
                SUBID "/providers/Microsoft.Resources/deployments/dep(1)",
        };
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                _cleanup_arm_id_ rp_arm_id *id = parse_ok(ids[i]);
                _cleanup_free_ char *f = rp_arm_id_format(id);
                assert_string_equal(f, ids[i]);
        }
}

static void test_arm_id__is_type(_unused_ void **state)
{
        _cleanup_arm_id_ rp_arm_id *rp = parse_ok(RP);
        _cleanup_arm_id_ rp_arm_id *rg = parse_ok(RGID);
        _cleanup_arm_id_ rp_arm_id *sub = parse_ok(SUBID);

        assert_true(rp_arm_id_is_type(rp, "Microsoft.Compute/restorePointCollections/"
                                          "restorePoints"));
        assert_true(rp_arm_id_is_type(rp, "microsoft.compute/RESTOREPOINTCOLLECTIONS/"
                                          "restorepoints"));
        assert_false(rp_arm_id_is_type(rp, "Microsoft.Compute/restorePointCollections"));
        assert_false(rp_arm_id_is_type(rp, "Microsoft.Compute/restorePointCollections/"
                                           "restorePoints/diskRestorePoints"));
        assert_false(rp_arm_id_is_type(rp, "Microsoft.Compute/restorePointCollections/"
                                           "restorePoint"));
        assert_false(rp_arm_id_is_type(rp, "Microsoft.Compute/restorePointCollections/"
                                           "restorePoints/"));
        assert_false(rp_arm_id_is_type(rp, "Microsoft.Compute"));
        assert_false(rp_arm_id_is_type(rp, ""));
        assert_false(rp_arm_id_is_type(rp, NULL));
        assert_true(rp_arm_id_is_type(rg, "microsoft.resources/resourcegroups"));
        assert_false(rp_arm_id_is_type(rg, "Microsoft.Resources/subscriptions"));
        assert_true(rp_arm_id_is_type(sub, "Microsoft.Resources/subscriptions"));
        assert_false(rp_arm_id_is_type(sub, "Microsoft.Resources/resourceGroups"));
}

static void test_arm_id__equal_case_insensitive(_unused_ void **state)
{
        assert_true(rp_arm_id_equal(RP, RP));
        assert_true(rp_arm_id_equal(RP, "/SUBSCRIPTIONS/6B1E3E2F-0D3C-4B8A-9F51-2C7D8E9A0B1C/"
                                        "resourcegroups/MYRG/providers/microsoft.compute/"
                                        "RESTOREPOINTCOLLECTIONS/MYRPC/restorepoints/RP1"));
        assert_false(rp_arm_id_equal(RP, RPC));
        assert_false(rp_arm_id_equal(RP, RPC "/restorePoints/rp2"));
        assert_false(rp_arm_id_equal(RGID, SUBID));
}

static void test_arm_id__equal_fallback(_unused_ void **state)
{
        /* Unparsable: plain case-insensitive comparison. */
        assert_true(rp_arm_id_equal("/not/an/id", "/NOT/AN/ID"));
        assert_false(rp_arm_id_equal("/not/an/id", "/not/an/id2"));
        assert_false(rp_arm_id_equal(RP, "/not/an/id"));
        assert_false(rp_arm_id_equal(RP "/", RP)); /* trailing '/' is not an id */
        assert_true(rp_arm_id_equal(NULL, NULL));
        assert_false(rp_arm_id_equal(RP, NULL));
        assert_false(rp_arm_id_equal(NULL, RP));
}

static void test_arm_id__key(_unused_ void **state)
{
        _cleanup_free_ char *k1 = rp_arm_id_key(RP);
        _cleanup_free_ char *k2 = rp_arm_id_key("/SUBSCRIPTIONS/6B1E3E2F-0D3C-4B8A-9F51-"
                                                "2C7D8E9A0B1C/RESOURCEGROUPS/MYRG/PROVIDERS/"
                                                "MICROSOFT.COMPUTE/RESTOREPOINTCOLLECTIONS/MYRPC/"
                                                "RESTOREPOINTS/RP1");
        _cleanup_free_ char *k3 = rp_arm_id_key(SUBID "/resourceGroups/\xc3\x89t\xc3\xa9");

        assert_string_equal(k1, "/subscriptions/" SUB "/resourcegroups/myrg/providers/"
                                "microsoft.compute/restorepointcollections/myrpc/restorepoints/"
                                "rp1");
        assert_string_equal(k1, k2);
        /* Only ASCII letters fold. */
        assert_string_equal(k3, "/subscriptions/" SUB "/resourcegroups/\xc3\x89t\xc3\xa9");
        assert_null(rp_arm_id_key("/not/an/id"));
        assert_null(rp_arm_id_key(RP "/"));
        assert_null(rp_arm_id_key(NULL));
}

static void test_arm_id__parent(_unused_ void **state)
{
        static const struct {
                const char *id, *parent;
        } cases[] = {
                { DRP, RP },
                { RP, RPC },
                { RPC, RGID },
                { RGID, SUBID },
                { SUBID "/providers/Microsoft.Compute/locations/westus/operations/op1",
                  SUBID "/providers/Microsoft.Compute/locations/westus" },
                { SUBID "/providers/Microsoft.Compute/locations/westus", SUBID },
                { "/SUBSCRIPTIONS/" SUB "/RESOURCEGROUPS/myRG/PROVIDERS/Microsoft.Compute/disks/d",
                  RGID },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_arm_id_ rp_arm_id *id = parse_ok(cases[i].id);
                _cleanup_free_ char *p = rp_arm_id_parent(id);
                assert_non_null(p);
                assert_string_equal(p, cases[i].parent);
        }
        _cleanup_arm_id_ rp_arm_id *sub = parse_ok(SUBID);
        assert_null(rp_arm_id_parent(sub));
}

static void test_arm_id__make(_unused_ void **state)
{
        _cleanup_free_ char *sub = rp_arm_id_make(SUB, NULL, NULL, NULL);
        _cleanup_free_ char *rg = rp_arm_id_make(SUB, "myRG", NULL, NULL);
        _cleanup_free_ char *disk = rp_arm_id_make(SUB, "myRG", "Microsoft.Compute", "disks",
                                                   "d1", NULL);
        _cleanup_free_ char *drp = rp_arm_id_make(SUB, "myRG", "Microsoft.Compute",
                                                  "restorePointCollections", "myRpc",
                                                  "restorePoints", "rp1", "diskRestorePoints",
                                                  "osdisk_0a1b2c3d-aaaa-bbbb-cccc-0123456789ab",
                                                  NULL);
        _cleanup_free_ char *op = rp_arm_id_make(SUB, NULL, "Microsoft.Compute", "locations",
                                                 "westus", "operations", "op1", NULL);

        assert_string_equal(sub, SUBID);
        assert_string_equal(rg, RGID);
        assert_string_equal(disk, CP "/disks/d1");
        assert_string_equal(drp, DRP);
        assert_string_equal(op, SUBID "/providers/Microsoft.Compute/locations/westus/operations/"
                                      "op1");
}

static void test_arm_id__make_rejects(_unused_ void **state)
{
        assert_null(rp_arm_id_make(NULL, "rg", NULL, NULL));
        assert_null(rp_arm_id_make("not-a-guid", "rg", NULL, NULL));
        assert_null(rp_arm_id_make(SUB, "", NULL, NULL));
        assert_null(rp_arm_id_make(SUB, "rg/providers/X", NULL, NULL));
        assert_null(rp_arm_id_make(SUB, "rg", "Microsoft.Compute", NULL)); /* no level */
        assert_null(rp_arm_id_make(SUB, "rg", "Microsoft.Compute", "disks", NULL));
        assert_null(rp_arm_id_make(SUB, "rg", NULL, "disks", "d", NULL)); /* no provider */
        assert_null(rp_arm_id_make(SUB, "rg", "Microsoft.Compute", "disks", "a/b", NULL));
        assert_null(rp_arm_id_make(SUB, "rg", "Microsoft.Compute", "disks", "", NULL));
        assert_null(rp_arm_id_make(SUB, "rg", "Microsoft.Compute", "disks", "d?x", NULL));
        assert_null(rp_arm_id_make(SUB, "rg", "Microsoft.Compute", "a", "1", "b", "2", "c", "3",
                                   "d", "4", "e", "5", NULL));
}

static void test_arm_id__oom(_unused_ void **state)
{
        /* Fail each allocation in turn: every call must fail cleanly (ASan checks leaks). */
        for (unsigned long n = 1;; n++) {
                rp_arm_id *id = NULL;
                rp_alloc_fail_at(n);
                int r = rp_arm_id_parse(DRP, &id);
                rp_alloc_fail_at(0);
                if (r == 0) {
                        rp_arm_id_free(id);
                        break;
                }
                assert_int_equal(r, -ENOMEM);
                assert_null(id);
                assert_true(n < 100);
        }
        for (unsigned long n = 1;; n++) {
                rp_alloc_fail_at(n);
                char *k = rp_arm_id_key(DRP);
                char *m = rp_arm_id_make(SUB, "rg", "Microsoft.Compute", "disks", "d", NULL);
                rp_alloc_fail_at(0);
                bool done = k && m;
                rp_free(k);
                rp_free(m);
                if (done)
                        break;
                assert_true(n < 200);
        }
        {
                _cleanup_arm_id_ rp_arm_id *id = parse_ok(DRP);
                for (unsigned long n = 1; n < 4; n++) {
                        rp_alloc_fail_at(n);
                        char *f = rp_arm_id_format(id);
                        char *t = rp_arm_id_type(id);
                        char *p = rp_arm_id_parent(id);
                        rp_alloc_fail_at(0);
                        rp_free(f);
                        rp_free(t);
                        rp_free(p);
                }
                /* is_type never allocates. */
                rp_alloc_fail_at(1);
                bool ok = rp_arm_id_is_type(id, "Microsoft.Compute/restorePointCollections/"
                                                "restorePoints/diskRestorePoints");
                rp_alloc_fail_at(0);
                assert_true(ok);
        }
        /* equal under OOM falls back to strcasecmp. */
        rp_alloc_fail_at(1);
        bool eq = rp_arm_id_equal(RP, RP);
        rp_alloc_fail_at(0);
        assert_true(eq);
}

static void test_arm_id__free_null(_unused_ void **state)
{
        assert_null(rp_arm_id_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_arm_id__parse_subscription),
                cmocka_unit_test(test_arm_id__parse_resource_group),
                cmocka_unit_test(test_arm_id__parse_top_level),
                cmocka_unit_test(test_arm_id__parse_nested),
                cmocka_unit_test(test_arm_id__parse_four_levels_max),
                cmocka_unit_test(test_arm_id__parse_subscription_scope),
                cmocka_unit_test(test_arm_id__parse_literals_case_insensitive),
                cmocka_unit_test(test_arm_id__parse_keeps_name_case),
                cmocka_unit_test(test_arm_id__parse_unicode_names),
                cmocka_unit_test(test_arm_id__parse_rejects_structure),
                cmocka_unit_test(test_arm_id__parse_rejects_bad_subscription),
                cmocka_unit_test(test_arm_id__parse_rejects_bad_characters),
                cmocka_unit_test(test_arm_id__parse_length_limit),
                cmocka_unit_test(test_arm_id__format_round_trip),
                cmocka_unit_test(test_arm_id__is_type),
                cmocka_unit_test(test_arm_id__equal_case_insensitive),
                cmocka_unit_test(test_arm_id__equal_fallback),
                cmocka_unit_test(test_arm_id__key),
                cmocka_unit_test(test_arm_id__parent),
                cmocka_unit_test(test_arm_id__make),
                cmocka_unit_test(test_arm_id__make_rejects),
                cmocka_unit_test(test_arm_id__oom),
                cmocka_unit_test(test_arm_id__free_null),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
