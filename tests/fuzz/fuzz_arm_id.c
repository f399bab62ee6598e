/* fuzz_arm_id.c: libFuzzer target for the resource id parser, name rules, tags and api-versions.
 *
 * Invariants checked (abort() on violation):
 * - an id that parses formats to a string that parses again and formats identically;
 * - the key is the lower-cased canonical form, the id equals its canonical form, its type
 *   matches rp_arm_id_is_type(), and its parent (if any) parses;
 * - every message (name rules, tags, api-version) is valid UTF-8 without control characters,
 *   so it can always go into a JSON error body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/arm_apiver.h"
#include "arm/arm_id.h"
#include "arm/arm_names.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const char *m)
{
        size_t len;

        if (!m)
                return;
        len = strlen(m);
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                int n = rp_arm__utf8_next(m + i, len - i, &cp);
                if (n < 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                        abort();
                i += (size_t)n;
        }
}

static void fuzz_id(const char *s)
{
        _cleanup_arm_id_ rp_arm_id *id = NULL, *again = NULL;
        _cleanup_free_ char *f1 = NULL, *f2 = NULL, *key = NULL, *type = NULL, *parent = NULL;

        if (rp_arm_id_parse(s, &id) < 0)
                return;
        f1 = rp_arm_id_format(id);
        if (!f1 || strlen(f1) != strlen(s))
                abort();
        if (rp_arm_id_parse(f1, &again) < 0)
                abort();
        f2 = rp_arm_id_format(again);
        if (!f2 || strcmp(f1, f2) != 0)
                abort();

        key = rp_arm_id_key(s);
        if (!key || strcasecmp(key, f1) != 0)
                abort();
        for (const char *p = key; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        abort();
        if (!rp_arm_id_equal(s, f1))
                abort();

        type = rp_arm_id_type(id);
        if (!type || !rp_arm_id_is_type(id, type))
                abort();
        if (!rp_arm_id_name(id))
                abort();

        parent = rp_arm_id_parent(id);
        if (parent) {
                _cleanup_arm_id_ rp_arm_id *pid = NULL;
                if (rp_arm_id_parse(parent, &pid) < 0 || strlen(parent) >= strlen(f1))
                        abort();
        } else if (id->resource_group || id->provider) {
                abort();
        }
}

static void fuzz_names(const char *s)
{
        static const char *const types[] = {
                "Microsoft.Resources/resourceGroups",
                "Microsoft.Resources/deployments",
                "Microsoft.Resources/subscriptions",
                "Microsoft.Compute/disks",
                "Microsoft.Compute/virtualMachines",
                "Microsoft.Compute/restorePointCollections",
                "Microsoft.Compute/restorePointCollections/restorePoints",
                "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints",
                NULL,
        };
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                _cleanup_free_ char *m = NULL;
                int r = rp_arm_name_check(types[i], s, &m);
                if (r == 0 ? m != NULL : r != -EINVAL || !m)
                        abort();
                check_message(m);
        }
}

static void fuzz_apiver(const char *s)
{
        for (int f = 0; f < _RP_ARM_FAMILY_MAX; f++) {
                _cleanup_free_ char *m = rp_arm_apiver_message(f, s);
                int r = rp_arm_apiver_check(f, s);
                if (!m || (r != 0 && r != -EINVAL && r != -ENOENT))
                        abort();
                check_message(m);
                /* A supported version compares equal to itself and after garbage. */
                if (r == 0 && (rp_arm_apiver_cmp(s, s) != 0 || rp_arm_apiver_cmp("x", s) >= 0))
                        abort();
        }
        int ab = rp_arm_apiver_cmp(s, "2021-11-01"), ba = rp_arm_apiver_cmp("2021-11-01", s);
        if ((ab > 0) - (ab < 0) != (ba < 0) - (ba > 0)) /* antisymmetric */
                abort();
        (void)rp_arm_apiver_family_of_type(s);
}

static void fuzz_tags(const uint8_t *data, size_t size)
{
        _cleanup_json_ json_t *tags = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
        _cleanup_free_ char *m = NULL;
        const char *target = NULL;
        int r;

        if (!tags)
                return;
        r = rp_arm_tags_check(tags, &m, &target);
        if (r == 0 ? m != NULL || target != NULL : r != -EINVAL || !m || !target)
                abort();
        check_message(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *s = rp_malloc(size + 1);

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        fuzz_id(s);
        fuzz_names(s);
        fuzz_apiver(s);
        fuzz_tags(data, size);
        return 0;
}
