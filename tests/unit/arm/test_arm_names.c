/* test_arm_names.c: per-type resource name rules, tags, GUIDs, UTF-8 decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arm/arm_names.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/macro.h"

#define T_RG "Microsoft.Resources/resourceGroups"
#define T_DEPLOY "Microsoft.Resources/deployments"
#define T_SUB "Microsoft.Resources/subscriptions"
#define T_DISK "Microsoft.Compute/disks"
#define T_VM "Microsoft.Compute/virtualMachines"
#define T_RPC "Microsoft.Compute/restorePointCollections"
#define T_RP T_RPC "/restorePoints"
#define T_DRP T_RP "/diskRestorePoints"

#define E_ACUTE "\xc3\xa9"          /* U+00E9, 2 bytes */
#define CJK "\xe8\xb3\x87"          /* U+8CC7, 3 bytes */
#define NBSP "\xc2\xa0"             /* U+00A0 */
#define EMOJI "\xf0\x9f\x98\x80"    /* U+1F600 */
#define COMBINING_ACUTE "\xcc\x81"  /* U+0301 */

/* @p n copies of @p unit, to rp_free(). */
static char *rep(const char *unit, size_t n)
{
        size_t ul = strlen(unit);
        char *s = rp_malloc(ul * n + 1);
        assert_non_null(s);
        for (size_t i = 0; i < n; i++)
                memcpy(s + i * ul, unit, ul);
        s[ul * n] = '\0';
        return s;
}

static void ok(const char *type, const char *name)
{
        char *m = NULL;
        int r = rp_arm_name_check(type, name, &m);
        if (r != 0)
                print_error("%s: expected '%s' to pass: %s\n", type, name, rp_strempty(m));
        assert_int_equal(r, 0);
        assert_null(m);
}

/* Expect rejection; return the message (to rp_free). */
static char *bad(const char *type, const char *name)
{
        char *m = NULL;
        int r = rp_arm_name_check(type, name, &m);
        if (r != -EINVAL)
                print_error("%s: expected '%s' to fail, got %d\n", type, name ? name : "(null)", r);
        assert_int_equal(r, -EINVAL);
        assert_non_null(m);
        /* Without a message pointer the verdict is the same. */
        assert_int_equal(rp_arm_name_check(type, name, NULL), -EINVAL);
        return m;
}

static void bad_(const char *type, const char *name)
{
        rp_free(bad(type, name));
}

/* Check lengths min-1 (when >0) .. max+1 with @p unit repeated. */
static void check_lengths(const char *type, const char *unit, size_t max)
{
        _cleanup_free_ char *one = rep(unit, 1);
        _cleanup_free_ char *at_max = rep(unit, max);
        _cleanup_free_ char *over = rep(unit, max + 1);

        bad_(type, "");
        ok(type, one);
        ok(type, at_max);
        bad_(type, over);
}

/* Every printable ASCII character outside @p allowed, in the middle of a name, is rejected. */
static void check_ascii_set(const char *type, const char *allowed)
{
        for (int c = 0x20; c < 0x7f; c++) {
                char name[4] = { 'a', (char)c, 'b', '\0' };
                bool is_alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9');
                if (is_alnum || strchr(allowed, c))
                        ok(type, name);
                else
                        bad_(type, name);
        }
}

static void check_common_rejects(const char *type)
{
        bad_(type, NULL);
        bad_(type, "a\tb");
        bad_(type, "a\x01");
        bad_(type, "a\x7f");
        bad_(type, "a\xc2\x85");        /* C1 control */
        bad_(type, "a\xff");            /* invalid byte */
        bad_(type, "a\xc3");            /* truncated */
        bad_(type, "a\xc0\xaf");        /* overlong */
        bad_(type, "a\xed\xa0\x80");    /* surrogate */
        bad_(type, "a\xf4\x90\x80\x80"); /* > U+10FFFF */
}

static void test_arm_names__resource_group(_unused_ void **state)
{
        check_lengths(T_RG, "a", 90);
        check_ascii_set(T_RG, "_()-.");
        check_common_rejects(T_RG);
        ok(T_RG, "my-rg_(1).x");
        ok(T_RG, ".starts-with-period");
        ok(T_RG, "_");
        ok(T_RG, "(");
        bad_(T_RG, "ends-with-period.");
        bad_(T_RG, ".");
        bad_(T_RG, "a b");
}

static void test_arm_names__resource_group_unicode(_unused_ void **state)
{
        ok(T_RG, CJK "-" E_ACUTE);
        ok(T_RG, "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac"); /* Greek */
        ok(T_RG, "\xd7\xa2\xd7\x91\xd7\xa8\xd7\x99\xd7\xaa"); /* Hebrew */
        ok(T_RG, "\xd9\xa0\xd9\xa1");                 /* Arabic-Indic digits */
        ok(T_RG, "e" COMBINING_ACUTE);
        ok(T_RG, "a\xe2\x80\xbf" "b"); /* U+203F undertie, connector punctuation */
        bad_(T_RG, "a" NBSP "b");
        bad_(T_RG, "a\xe3\x80\x80" "b"); /* ideographic space */
        bad_(T_RG, "a" EMOJI);
        bad_(T_RG, "a\xc3\x97" "b"); /* multiplication sign */
        bad_(T_RG, "a\xef\xbc\x81"); /* fullwidth '!' */

        /* Length counts characters, not bytes. */
        check_lengths(T_RG, E_ACUTE, 90);
        check_lengths(T_RG, CJK, 90);
}

static void test_arm_names__resource_group_message(_unused_ void **state)
{
        _cleanup_free_ char *m = bad(T_RG, "bad!");
        assert_string_equal(m, "Resource group names only allow up to 90 characters and can only "
                               "include alphanumeric, underscore, parentheses, hyphen, period "
                               "(except at end), and Unicode characters that match the allowed "
                               "characters.");
}

static void test_arm_names__disk(_unused_ void **state)
{
        check_lengths(T_DISK, "a", 80);
        check_ascii_set(T_DISK, "_.-");
        check_common_rejects(T_DISK);
        ok(T_DISK, "Disk_1.os-data_");
        ok(T_DISK, "0");
        bad_(T_DISK, "_disk");
        bad_(T_DISK, "-disk");
        bad_(T_DISK, ".disk");
        bad_(T_DISK, "disk-");
        bad_(T_DISK, "disk.");
        bad_(T_DISK, "_");
        bad_(T_DISK, "disk" E_ACUTE);
}

static void test_arm_names__disk_message(_unused_ void **state)
{
        _cleanup_free_ char *m = bad(T_DISK, "bad disk");
        _cleanup_free_ char *m2 = bad(T_DISK, "bad\x01");
        _cleanup_free_ char *long_name = rep("a", 300);
        _cleanup_free_ char *m3 = bad(T_DISK, long_name);

        assert_string_equal(m, "The disk name 'bad disk' is invalid. Disk names can be 1 to 80 "
                               "characters long, must start with a letter or number, end with a "
                               "letter, number or underscore, and may contain only letters, "
                               "numbers, underscores, periods, or hyphens.");
        /* Names with control characters or very long ones are not quoted back. */
        assert_true(strncmp(m2, "The disk name is invalid. ", 26) == 0);
        assert_true(strncmp(m3, "The disk name is invalid. ", 26) == 0);
}

static void test_arm_names__virtual_machine(_unused_ void **state)
{
        check_lengths(T_VM, "a", 64);
        check_ascii_set(T_VM, "-_.`");
        check_common_rejects(T_VM);
        ok(T_VM, "my-vm_1.prod");
        ok(T_VM, "1vm");
        ok(T_VM, "vm" E_ACUTE);
        bad_(T_VM, "_vm");
        bad_(T_VM, "vm.");
        bad_(T_VM, "vm-");
        bad_(T_VM, " vm");
        bad_(T_VM, "vm" NBSP "1");
        ok(T_VM, "vm_");
        ok(T_VM, ".vm");
        ok(T_VM, "-vm");
}

static void test_arm_names__virtual_machine_message(_unused_ void **state)
{
        _cleanup_free_ char *m = bad(T_VM, "vm@1");
        assert_true(strncmp(m, "The virtual machine name 'vm@1' is invalid. ", 44) == 0);
}

static void test_arm_names__restore_point_collection(_unused_ void **state)
{
        check_lengths(T_RPC, "a", 80);
        check_ascii_set(T_RPC, "_.-");
        check_common_rejects(T_RPC);
        ok(T_RPC, "_rpc");
        ok(T_RPC, "-rpc");
        ok(T_RPC, "rpc_");
        bad_(T_RPC, "rpc.");
        bad_(T_RPC, "rpc-");
        bad_(T_RPC, "rpc" E_ACUTE);

        _cleanup_free_ char *m = bad(T_RPC, "rpc.");
        assert_true(strncmp(m, "The restore point collection name 'rpc.' is invalid. ", 53) == 0);
}

static void test_arm_names__restore_point(_unused_ void **state)
{
        check_lengths(T_RP, "a", 80);
        check_ascii_set(T_RP, "_.-");
        check_common_rejects(T_RP);
        ok(T_RP, "rp-2024.01.01_1");
        bad_(T_RP, "rp.");
        bad_(T_RP, "rp-");

        _cleanup_free_ char *m = bad(T_RP, "a/b");
        assert_true(strncmp(m, "The restore point name 'a/b' is invalid. ", 41) == 0);
}

static void test_arm_names__disk_restore_point(_unused_ void **state)
{
        check_lengths(T_DRP, "a", 260);
        check_ascii_set(T_DRP, "_.-");
        check_common_rejects(T_DRP);
        ok(T_DRP, "osdisk_6b1e3e2f-0d3c-4b8a-9f51-2c7d8e9a0b1c");
        ok(T_DRP, "d_");
        bad_(T_DRP, "_d");
        bad_(T_DRP, "-d");
        bad_(T_DRP, ".d");
        bad_(T_DRP, "d.");
        bad_(T_DRP, "d-");
        bad_(T_DRP, E_ACUTE);
}

static void test_arm_names__deployment(_unused_ void **state)
{
        check_lengths(T_DEPLOY, "a", 64);
        check_ascii_set(T_DEPLOY, "-_.()");
        check_common_rejects(T_DEPLOY);
        ok(T_DEPLOY, "(deploy)-1_2.3");
        ok(T_DEPLOY, "_");
        ok(T_DEPLOY, ".");
}

static void test_arm_names__subscription(_unused_ void **state)
{
        ok(T_SUB, "6b1e3e2f-0d3c-4b8a-9f51-2c7d8e9a0b1c");
        ok(T_SUB, "6B1E3E2F-0D3C-4B8A-9F51-2C7D8E9A0B1C");
        bad_(T_SUB, "");
        bad_(T_SUB, "6b1e3e2f-0d3c-4b8a-9f51-2c7d8e9a0b1");
        bad_(T_SUB, "{6b1e3e2f-0d3c-4b8a-9f51-2c7d8e9a0b1c}");

        _cleanup_free_ char *m = bad(T_SUB, "mysub");
        assert_string_equal(m, "The provided subscription identifier 'mysub' is malformed or "
                               "invalid.");
}

static void test_arm_names__default_rule(_unused_ void **state)
{
        check_lengths("Microsoft.Compute/snapshots", "a", 260);
        check_lengths(NULL, "a", 260);
        check_common_rejects("Contoso.Widgets/widgets");
        ok("Contoso.Widgets/widgets", "any name (with) spaces & symbols!");
        ok("Contoso.Widgets/widgets", CJK EMOJI);
        bad_("Contoso.Widgets/widgets", "a/b");

        _cleanup_free_ char *m = bad("Contoso.Widgets/widgets", "a/b");
        assert_true(strncmp(m, "The resource name 'a/b' is invalid. ", 36) == 0);
}

static void test_arm_names__type_case_insensitive(_unused_ void **state)
{
        bad_("microsoft.compute/DISKS", "_disk");
        bad_("MICROSOFT.RESOURCES/RESOURCEGROUPS", "rg.");
        ok("microsoft.compute/restorepointcollections/restorepoints/DISKRESTOREPOINTS", "d1");
}

static void test_arm_names__oom(_unused_ void **state)
{
        char *m = (char *)0x1;
        rp_alloc_fail_at(1);
        int r = rp_arm_name_check(T_DISK, "_bad", &m);
        rp_alloc_fail_at(0);
        assert_int_equal(r, -ENOMEM);
        assert_true(m == (char *)0x1);
}

/* -------------------------------------------------------------------------------------------- */

static json_t *tags_of(size_t n)
{
        json_t *o = json_object();
        assert_non_null(o);
        for (size_t i = 0; i < n; i++) {
                char k[32];
                snprintf(k, sizeof(k), "tag%zu", i);
                assert_int_equal(json_object_set_new(o, k, json_string("v")), 0);
        }
        return o;
}

static void tags_ok(const json_t *tags)
{
        char *m = NULL;
        const char *target = NULL;
        int r = rp_arm_tags_check(tags, &m, &target);
        if (r != 0)
                print_error("expected tags to pass: %s\n", rp_strempty(m));
        assert_int_equal(r, 0);
        assert_null(m);
        assert_null(target);
}

static char *tags_bad(const json_t *tags)
{
        char *m = NULL;
        const char *target = NULL;
        assert_int_equal(rp_arm_tags_check(tags, &m, &target), -EINVAL);
        assert_non_null(m);
        assert_string_equal(target, "tags");
        assert_int_equal(rp_arm_tags_check(tags, NULL, NULL), -EINVAL);
        return m;
}

static void tag_name_bad(const char *name)
{
        _cleanup_json_ json_t *o = json_object();
        json_object_set_new(o, name, json_string("v"));
        rp_free(tags_bad(o));
}

static void test_arm_names__tags_absent_and_empty(_unused_ void **state)
{
        _cleanup_json_ json_t *null = json_null();
        _cleanup_json_ json_t *empty = json_object();

        tags_ok(NULL);
        tags_ok(null);
        tags_ok(empty);
}

static void test_arm_names__tags_not_object(_unused_ void **state)
{
        _cleanup_json_ json_t *arr = json_array();
        _cleanup_json_ json_t *str = json_string("a=b");
        _cleanup_free_ char *m = tags_bad(arr);

        rp_free(tags_bad(str));
        assert_string_equal(m, "The value of 'tags' must be an object that maps tag names to "
                               "string values.");
}

static void test_arm_names__tags_count(_unused_ void **state)
{
        _cleanup_json_ json_t *fifty = tags_of(RP_MAX_TAGS);
        _cleanup_json_ json_t *fifty_one = tags_of(RP_MAX_TAGS + 1);
        _cleanup_free_ char *m = NULL;

        tags_ok(fifty);
        m = tags_bad(fifty_one);
        assert_string_equal(m, "The resource has 51 tags, but at most 50 tags are allowed per "
                               "resource.");
}

static void test_arm_names__tags_name_length(_unused_ void **state)
{
        _cleanup_free_ char *n512 = rep("k", RP_MAX_TAG_NAME);
        _cleanup_free_ char *n513 = rep("k", RP_MAX_TAG_NAME + 1);
        _cleanup_free_ char *u512 = rep(CJK, RP_MAX_TAG_NAME);
        _cleanup_json_ json_t *o = json_object();

        json_object_set_new(o, n512, json_string("v"));
        json_object_set_new(o, u512, json_string("v"));
        tags_ok(o);
        tag_name_bad(n513);
        tag_name_bad("");
}

static void test_arm_names__tags_name_characters(_unused_ void **state)
{
        static const char *const forbidden[] = { "a<b", "a>b", "a%b", "a&b", "a\\b", "a?b", "a/b",
                                                 "a\tb", "a\x01", "<" };
        for (size_t i = 0; i < ELEMENTSOF(forbidden); i++)
                tag_name_bad(forbidden[i]);

        _cleanup_json_ json_t *o = json_object();
        json_object_set_new(o, "env:prod-1_(x).y=z #1 " E_ACUTE, json_string("v"));
        tags_ok(o);

        _cleanup_json_ json_t *o2 = json_object();
        json_object_set_new(o2, "a<b", json_string("v"));
        _cleanup_free_ char *m = tags_bad(o2);
        assert_string_equal(m, "The tag name 'a<b' has invalid characters '<,>,%,&,\\,?,/' or "
                               "control characters.");
}

static void test_arm_names__tags_value(_unused_ void **state)
{
        _cleanup_free_ char *v256 = rep("v", RP_MAX_TAG_VALUE);
        _cleanup_free_ char *v257 = rep("v", RP_MAX_TAG_VALUE + 1);
        _cleanup_free_ char *u256 = rep(E_ACUTE, RP_MAX_TAG_VALUE);
        _cleanup_json_ json_t *o = json_object();
        _cleanup_json_ json_t *long_value = json_object();
        _cleanup_json_ json_t *number = json_object();
        _cleanup_json_ json_t *nul = json_object();
        _cleanup_json_ json_t *obj = json_object();
        _cleanup_free_ char *m = NULL;

        json_object_set_new(o, "a", json_string(v256));
        json_object_set_new(o, "b", json_string(u256));
        json_object_set_new(o, "c", json_string(""));
        json_object_set_new(o, "d", json_string("<>%&\\?/ any value"));
        tags_ok(o);

        json_object_set_new(long_value, "a", json_string(v257));
        m = tags_bad(long_value);
        assert_string_equal(m, "The value of tag 'a' exceeds the maximum length of 256 "
                               "characters.");
        json_object_set_new(number, "a", json_integer(1));
        rp_free(tags_bad(number));
        json_object_set_new(nul, "a", json_null());
        rp_free(tags_bad(nul));
        json_object_set_new(obj, "a", json_object());
        rp_free(tags_bad(obj));
}

static void test_arm_names__tags_oom(_unused_ void **state)
{
        _cleanup_json_ json_t *o = tags_of(RP_MAX_TAGS + 1);
        char *m = (char *)0x1;

        rp_alloc_fail_at(1);
        int r = rp_arm_tags_check(o, &m, NULL);
        rp_alloc_fail_at(0);
        assert_int_equal(r, -ENOMEM);
        assert_true(m == (char *)0x1);
}

/* -------------------------------------------------------------------------------------------- */

static void test_arm_names__guid(_unused_ void **state)
{
        assert_true(rp_arm_is_guid("00000000-0000-0000-0000-000000000000"));
        assert_true(rp_arm_is_guid("abcdefAB-CDEF-0123-4567-89abcdefABCD"));
        assert_false(rp_arm_is_guid(NULL));
        assert_false(rp_arm_is_guid(""));
        assert_false(rp_arm_is_guid("00000000-0000-0000-0000-00000000000"));
        assert_false(rp_arm_is_guid("00000000-0000-0000-0000-0000000000000"));
        assert_false(rp_arm_is_guid("00000000-0000-0000-0000_000000000000"));
        assert_false(rp_arm_is_guid("0000000-00000-0000-0000-000000000000"));
        assert_false(rp_arm_is_guid("g0000000-0000-0000-0000-000000000000"));
        assert_false(rp_arm_is_guid(" 00000000-0000-0000-0000-000000000000"));
        assert_false(rp_arm_is_guid("000000000000000000000000000000000000"));
}

static void test_arm_names__utf8_next(_unused_ void **state)
{
        uint32_t cp;

        assert_int_equal(rp_arm__utf8_next("A", 1, &cp), 1);
        assert_int_equal(cp, 'A');
        assert_int_equal(rp_arm__utf8_next(E_ACUTE, 2, &cp), 2);
        assert_int_equal(cp, 0xe9);
        assert_int_equal(rp_arm__utf8_next(CJK, 3, &cp), 3);
        assert_int_equal(cp, 0x8cc7);
        assert_int_equal(rp_arm__utf8_next(EMOJI, 4, &cp), 4);
        assert_int_equal(cp, 0x1f600);
        assert_int_equal(rp_arm__utf8_next("\xf4\x8f\xbf\xbf", 4, &cp), 4);
        assert_int_equal(cp, 0x10ffff);
        assert_int_equal(rp_arm__utf8_next(CJK, 2, &cp), -EINVAL); /* cut by len */
        assert_int_equal(rp_arm__utf8_next("", 0, &cp), -EINVAL);
        assert_int_equal(rp_arm__utf8_next("\x80", 1, &cp), -EINVAL);
        assert_int_equal(rp_arm__utf8_next("\xf8\x88\x80\x80\x80", 5, &cp), -EINVAL);
        assert_int_equal(rp_arm__utf8_next("\xe0\x80\xaf", 3, &cp), -EINVAL);
        assert_int_equal(rp_arm__utf8_next("\xf0\x80\x80\xaf", 4, &cp), -EINVAL);
        assert_int_equal(rp_arm__utf8_next("\xc3\x28", 2, &cp), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_arm_names__resource_group),
                cmocka_unit_test(test_arm_names__resource_group_unicode),
                cmocka_unit_test(test_arm_names__resource_group_message),
                cmocka_unit_test(test_arm_names__disk),
                cmocka_unit_test(test_arm_names__disk_message),
                cmocka_unit_test(test_arm_names__virtual_machine),
                cmocka_unit_test(test_arm_names__virtual_machine_message),
                cmocka_unit_test(test_arm_names__restore_point_collection),
                cmocka_unit_test(test_arm_names__restore_point),
                cmocka_unit_test(test_arm_names__disk_restore_point),
                cmocka_unit_test(test_arm_names__deployment),
                cmocka_unit_test(test_arm_names__subscription),
                cmocka_unit_test(test_arm_names__default_rule),
                cmocka_unit_test(test_arm_names__type_case_insensitive),
                cmocka_unit_test(test_arm_names__oom),
                cmocka_unit_test(test_arm_names__tags_absent_and_empty),
                cmocka_unit_test(test_arm_names__tags_not_object),
                cmocka_unit_test(test_arm_names__tags_count),
                cmocka_unit_test(test_arm_names__tags_name_length),
                cmocka_unit_test(test_arm_names__tags_name_characters),
                cmocka_unit_test(test_arm_names__tags_value),
                cmocka_unit_test(test_arm_names__tags_oom),
                cmocka_unit_test(test_arm_names__guid),
                cmocka_unit_test(test_arm_names__utf8_next),
        };
        rp_json_init();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
