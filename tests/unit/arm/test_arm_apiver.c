/* test_arm_apiver.c: api-version tables, messages, ordering and family lookup. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arm/arm_apiver.h"
#include "util/alloc.h"
#include "util/macro.h"

static void accept(enum rp_arm_family f, const char *v)
{
        int r = rp_arm_apiver_check(f, v);
        if (r != 0)
                print_error("family %d: expected '%s' to be supported, got %d\n", f, v, r);
        assert_int_equal(r, 0);
}

static void reject(enum rp_arm_family f, const char *v)
{
        int r = rp_arm_apiver_check(f, v);
        if (r != -EINVAL)
                print_error("family %d: expected '%s' to be rejected, got %d\n", f, v, r);
        assert_int_equal(r, -EINVAL);
}

/* The versions the real clients send must all be accepted (see the DESIGN comment). */
static void test_arm_apiver__client_versions(_unused_ void **state)
{
        /* Debian python3-azure (azure-mgmt-compute 29, azure-mgmt-resource 21), az 2.45 */
        accept(RP_ARM_FAMILY_COMPUTE, "2022-08-01");
        accept(RP_ARM_FAMILY_COMPUTE, "2022-11-01");
        accept(RP_ARM_FAMILY_DISK, "2022-07-02");
        accept(RP_ARM_FAMILY_RESOURCES, "2022-09-01");
        accept(RP_ARM_FAMILY_RESOURCES, "2021-04-01");
        accept(RP_ARM_FAMILY_SUBSCRIPTIONS, "2021-01-01");
        accept(RP_ARM_FAMILY_SUBSCRIPTIONS, "2019-11-01");
        accept(RP_ARM_FAMILY_SUBSCRIPTIONS, "2016-06-01");
        accept(RP_ARM_FAMILY_SUBSCRIPTIONS, "2018-06-01");
        accept(RP_ARM_FAMILY_SUBSCRIPTIONS, "2019-06-01");
        /* newer azure-mgmt-compute, the spec's version */
        accept(RP_ARM_FAMILY_COMPUTE, "2024-11-01");
        accept(RP_ARM_FAMILY_COMPUTE, "2025-04-01");
        accept(RP_ARM_FAMILY_DISK, "2025-01-02");
        /* @azure/arm-compute 24.x and 25.1.1, @azure/arm-resources 8.0.0,
         * @azure/arm-resources-subscriptions 3.0.0 */
        accept(RP_ARM_FAMILY_COMPUTE, "2026-03-01");
        accept(RP_ARM_FAMILY_COMPUTE, "2026-04-01");
        accept(RP_ARM_FAMILY_DISK, "2026-03-02");
        accept(RP_ARM_FAMILY_RESOURCES, "2025-04-01");
        accept(RP_ARM_FAMILY_SUBSCRIPTIONS, "2022-12-01");
        /* restore points exist since 2021-03-01; crash-consistent since 2021-07-01 */
        accept(RP_ARM_FAMILY_COMPUTE, "2021-03-01");
        accept(RP_ARM_FAMILY_COMPUTE, "2021-07-01");
}

static void test_arm_apiver__rejects(_unused_ void **state)
{
        reject(RP_ARM_FAMILY_COMPUTE, "2020-12-01"); /* before restore points */
        reject(RP_ARM_FAMILY_COMPUTE, "2099-01-01");
        reject(RP_ARM_FAMILY_COMPUTE, "2021-03-01-preview");
        reject(RP_ARM_FAMILY_COMPUTE, "2021-3-1");
        reject(RP_ARM_FAMILY_COMPUTE, "2021-03-01 ");
        reject(RP_ARM_FAMILY_COMPUTE, " 2021-03-01");
        reject(RP_ARM_FAMILY_COMPUTE, "2021-03-0");
        reject(RP_ARM_FAMILY_COMPUTE, "latest");
        reject(RP_ARM_FAMILY_COMPUTE, "2022-07-02"); /* a DiskRP version */
        reject(RP_ARM_FAMILY_DISK, "2024-11-01");    /* a ComputeRP version */
        reject(RP_ARM_FAMILY_DISK, "2020-12-01");
        reject(RP_ARM_FAMILY_RESOURCES, "2019-05-10");
        reject(RP_ARM_FAMILY_RESOURCES, "2022-12-01"); /* a subscriptions version */
        reject(RP_ARM_FAMILY_SUBSCRIPTIONS, "2022-09-01");
        reject(_RP_ARM_FAMILY_INVALID, "2024-11-01");
        reject(_RP_ARM_FAMILY_MAX, "2024-11-01");
        reject((enum rp_arm_family)99, "2024-11-01");
}

static void test_arm_apiver__missing(_unused_ void **state)
{
        for (int f = 0; f < _RP_ARM_FAMILY_MAX; f++) {
                assert_int_equal(rp_arm_apiver_check(f, NULL), -ENOENT);
                assert_int_equal(rp_arm_apiver_check(f, ""), -ENOENT);
        }
}

static void test_arm_apiver__supported_lists(_unused_ void **state)
{
        assert_string_equal(rp_arm_apiver_supported(RP_ARM_FAMILY_COMPUTE),
                            "2021-03-01, 2021-04-01, 2021-07-01, 2021-11-01, 2022-03-01, "
                            "2022-08-01, 2022-11-01, 2023-03-01, 2023-07-01, 2023-09-01, "
                            "2024-03-01, 2024-07-01, 2024-11-01, 2025-04-01, 2025-11-01, "
                            "2026-03-01, 2026-04-01");
        assert_string_equal(rp_arm_apiver_supported(RP_ARM_FAMILY_DISK),
                            "2021-04-01, 2021-08-01, 2021-12-01, 2022-03-02, 2022-07-02, "
                            "2023-01-02, 2023-04-02, 2023-10-02, 2024-03-02, 2025-01-02, "
                            "2026-03-02");
        assert_string_equal(rp_arm_apiver_supported(RP_ARM_FAMILY_RESOURCES),
                            "2019-07-01, 2019-08-01, 2019-10-01, 2020-06-01, 2020-08-01, "
                            "2020-10-01, 2021-01-01, 2021-04-01, 2022-09-01, 2023-07-01, "
                            "2024-03-01, 2024-07-01, 2024-11-01, 2025-03-01, 2025-04-01");
        assert_string_equal(rp_arm_apiver_supported(RP_ARM_FAMILY_SUBSCRIPTIONS),
                            "2015-11-01, 2016-06-01, 2018-06-01, 2019-06-01, 2019-11-01, "
                            "2020-01-01, 2021-01-01, 2022-12-01");
        assert_string_equal(rp_arm_apiver_supported(_RP_ARM_FAMILY_INVALID), "");
}

/* Every listed version is accepted, the list is strictly ascending and ends with the latest. */
static void test_arm_apiver__list_matches_check(_unused_ void **state)
{
        for (int f = 0; f < _RP_ARM_FAMILY_MAX; f++) {
                const char *p = rp_arm_apiver_supported(f);
                char prev[32] = "";
                size_t n = 0;

                for (;;) {
                        const char *sep = strstr(p, ", ");
                        size_t len = sep ? (size_t)(sep - p) : strlen(p);
                        char v[32];

                        assert_true(len > 0 && len < sizeof(v));
                        memcpy(v, p, len);
                        v[len] = '\0';
                        accept(f, v);
                        assert_true(rp_arm_apiver_cmp(prev, v) < 0);
                        memcpy(prev, v, len + 1);
                        n++;
                        if (!sep)
                                break;
                        p = sep + 2;
                }
                assert_true(n > 1);
                assert_string_equal(prev, rp_arm_apiver_latest(f));
        }
}

static void test_arm_apiver__latest(_unused_ void **state)
{
        assert_string_equal(rp_arm_apiver_latest(RP_ARM_FAMILY_COMPUTE), "2026-04-01");
        assert_string_equal(rp_arm_apiver_latest(RP_ARM_FAMILY_DISK), "2026-03-02");
        assert_string_equal(rp_arm_apiver_latest(RP_ARM_FAMILY_RESOURCES), "2025-04-01");
        assert_string_equal(rp_arm_apiver_latest(RP_ARM_FAMILY_SUBSCRIPTIONS), "2022-12-01");
        assert_null(rp_arm_apiver_latest(_RP_ARM_FAMILY_INVALID));
        assert_null(rp_arm_apiver_latest(_RP_ARM_FAMILY_MAX));
}

static void test_arm_apiver__message(_unused_ void **state)
{
        _cleanup_free_ char *m = rp_arm_apiver_message(RP_ARM_FAMILY_SUBSCRIPTIONS, "2099-01-01");
        _cleanup_free_ char *ctl = rp_arm_apiver_message(RP_ARM_FAMILY_DISK, "a\x01\xc3\xa9\"b");
        _cleanup_free_ char *empty = rp_arm_apiver_message(RP_ARM_FAMILY_DISK, NULL);
        char longv[100];
        memset(longv, '9', sizeof(longv) - 1);
        longv[sizeof(longv) - 1] = '\0';
        _cleanup_free_ char *lm = rp_arm_apiver_message(RP_ARM_FAMILY_COMPUTE, longv);

        assert_string_equal(m, "The api-version '2099-01-01' is invalid. The supported versions "
                               "are '2015-11-01, 2016-06-01, 2018-06-01, 2019-06-01, 2019-11-01, "
                               "2020-01-01, 2021-01-01, 2022-12-01'.");
        assert_true(strncmp(ctl, "The api-version 'a???\"b' is invalid.", 36) == 0);
        assert_true(strncmp(empty, "The api-version '' is invalid.", 30) == 0);
        assert_true(strncmp(lm, "The api-version '", 17) == 0);
        assert_true(strncmp(lm + 17 + 64, "...' is invalid.", 16) == 0);
        assert_true(strspn(lm + 17, "9") == 64);
}

static void test_arm_apiver__message_oom(_unused_ void **state)
{
        for (unsigned long n = 1; n < 4; n++) {
                rp_alloc_fail_at(n);
                char *m = rp_arm_apiver_message(RP_ARM_FAMILY_COMPUTE, "x");
                rp_alloc_fail_at(0);
                rp_free(m);
        }
}

static void test_arm_apiver__cmp(_unused_ void **state)
{
        assert_int_equal(rp_arm_apiver_cmp("2021-11-01", "2021-11-01"), 0);
        assert_true(rp_arm_apiver_cmp("2021-07-01", "2021-11-01") < 0);
        assert_true(rp_arm_apiver_cmp("2022-01-01", "2021-11-01") > 0);
        assert_true(rp_arm_apiver_cmp("2021-11-01", "2021-11-02") < 0);
        /* provisioningDetails is gone from 2021-11-01 on */
        assert_true(rp_arm_apiver_cmp("2021-07-01", "2021-11-01") < 0);
        /* a preview sorts before the GA version of the same date, after the day before */
        assert_true(rp_arm_apiver_cmp("2021-11-01-preview", "2021-11-01") < 0);
        assert_true(rp_arm_apiver_cmp("2021-11-01", "2021-11-01-preview") > 0);
        assert_true(rp_arm_apiver_cmp("2021-11-01-preview", "2021-10-31") > 0);
        assert_int_equal(rp_arm_apiver_cmp("2021-11-01-PREVIEW", "2021-11-01-preview"), 0);
        assert_true(rp_arm_apiver_cmp("2021-11-01-alpha", "2021-11-01-beta") < 0);
        /* malformed sorts before everything valid */
        assert_true(rp_arm_apiver_cmp("garbage", "2015-01-01") < 0);
        assert_true(rp_arm_apiver_cmp("2015-01-01", "garbage") > 0);
        assert_true(rp_arm_apiver_cmp("2021-11-01-", "2015-01-01") < 0);
        assert_true(rp_arm_apiver_cmp("2021-11-1", "2015-01-01") < 0);
        assert_true(rp_arm_apiver_cmp("2021-11-01x", "2015-01-01") < 0);
        assert_true(rp_arm_apiver_cmp(NULL, "2015-01-01") < 0);
        assert_true(rp_arm_apiver_cmp("", "2015-01-01") < 0);
        assert_int_equal(rp_arm_apiver_cmp(NULL, NULL), 0);
        assert_true(rp_arm_apiver_cmp(NULL, "x") < 0);
        assert_true(rp_arm_apiver_cmp("x", NULL) > 0);
        assert_int_equal(rp_arm_apiver_cmp("ABC", "abc"), 0);
}

static void test_arm_apiver__family_of_type(_unused_ void **state)
{
        static const struct {
                const char *type;
                enum rp_arm_family f;
        } cases[] = {
                { "Microsoft.Resources/resourceGroups", RP_ARM_FAMILY_RESOURCES },
                { "microsoft.resources/RESOURCEGROUPS", RP_ARM_FAMILY_RESOURCES },
                { "Microsoft.Resources/deployments", RP_ARM_FAMILY_RESOURCES },
                { "Microsoft.Resources/deployments/operations", RP_ARM_FAMILY_RESOURCES },
                { "Microsoft.Resources/subscriptions", RP_ARM_FAMILY_SUBSCRIPTIONS },
                { "Microsoft.Resources/subscriptions/locations", RP_ARM_FAMILY_SUBSCRIPTIONS },
                { "Microsoft.Resources/subscriptionsX", RP_ARM_FAMILY_RESOURCES },
                { "Microsoft.Compute/virtualMachines", RP_ARM_FAMILY_COMPUTE },
                { "Microsoft.Compute/restorePointCollections", RP_ARM_FAMILY_COMPUTE },
                { "Microsoft.Compute/restorePointCollections/restorePoints",
                  RP_ARM_FAMILY_COMPUTE },
                { "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints",
                  RP_ARM_FAMILY_DISK },
                { "microsoft.compute/restorepointcollections/restorepoints/DISKRESTOREPOINTS",
                  RP_ARM_FAMILY_DISK },
                { "Microsoft.Compute/locations/operations", RP_ARM_FAMILY_COMPUTE },
                { "Microsoft.Compute/locations/DiskOperations", RP_ARM_FAMILY_DISK },
                { "Microsoft.Compute/disks", RP_ARM_FAMILY_DISK },
                { "Microsoft.Compute/DISKS", RP_ARM_FAMILY_DISK },
                { "Microsoft.Compute/disksX", RP_ARM_FAMILY_COMPUTE },
                { "Microsoft.Compute/snapshots", RP_ARM_FAMILY_DISK },
                { "Microsoft.Compute/diskAccesses", RP_ARM_FAMILY_DISK },
                { "Microsoft.Compute/diskEncryptionSets", RP_ARM_FAMILY_DISK },
                { "Microsoft.Compute/", _RP_ARM_FAMILY_INVALID },
                { "Microsoft.Compute", _RP_ARM_FAMILY_INVALID },
                { "Microsoft.Resources/", _RP_ARM_FAMILY_INVALID },
                { "Microsoft.Network/virtualNetworks", _RP_ARM_FAMILY_INVALID },
                { "", _RP_ARM_FAMILY_INVALID },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                enum rp_arm_family f = rp_arm_apiver_family_of_type(cases[i].type);
                if (f != cases[i].f)
                        print_error("'%s': got %d, want %d\n", cases[i].type, f, cases[i].f);
                assert_int_equal(f, cases[i].f);
        }
        assert_int_equal(rp_arm_apiver_family_of_type(NULL), _RP_ARM_FAMILY_INVALID);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_arm_apiver__client_versions),
                cmocka_unit_test(test_arm_apiver__rejects),
                cmocka_unit_test(test_arm_apiver__missing),
                cmocka_unit_test(test_arm_apiver__supported_lists),
                cmocka_unit_test(test_arm_apiver__list_matches_check),
                cmocka_unit_test(test_arm_apiver__latest),
                cmocka_unit_test(test_arm_apiver__message),
                cmocka_unit_test(test_arm_apiver__message_oom),
                cmocka_unit_test(test_arm_apiver__cmp),
                cmocka_unit_test(test_arm_apiver__family_of_type),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
