/* arm_apiver.c: api-version tables.
 *
 * DESIGN: each family's versions are one X-macro list, oldest first, expanded twice: into the
 * array rp_arm_apiver_check() searches and, by string-literal concatenation, into the static
 * ", "-joined list of the error message (so the two can never disagree and nothing is built at
 * run time). The newest version is the last entry.
 *
 * Where the lists come from (checked 2025/2026):
 * - COMPUTE: learn.microsoft.com/azure/templates/microsoft.compute/allversions (2021-03-01, the
 *   first version with restore points, through 2025-04-01); azure-rest-api-specs compute readme
 *   tag package-2025-11-01 (ComputeRP 2025-11-01); Compute/stable/2026-03-01 and 2026-04-01
 *   ComputeRP.json; @azure/arm-compute 24.x sends 2026-03-01, 25.1.1 sends 2026-04-01; Debian's
 *   python3-azure (azure-mgmt-compute 29) sends 2022-08-01, az 2.45 asks for 2022-11-01.
 * - DISK: allversions page (2021-04-01 .. 2024-03-02), specs DiskRP/stable/2025-01-02 and the
 *   readme tag package-2026-03-02; python3-azure sends 2022-07-02 for disks and disk restore
 *   points, @azure/arm-compute 24.x 2025-01-02, 25.1.1 2026-03-02.
 * - RESOURCES: learn.microsoft.com/azure/templates/microsoft.resources/allversions,
 *   resourceGroups and deployments, 2019-07-01 .. 2025-04-01; python3-azure's
 *   ResourceManagementClient defaults to 2022-09-01, @azure/arm-resources 8.0.0 sends 2025-04-01.
 * - SUBSCRIPTIONS: azure-rest-api-specs Microsoft.Resources/subscriptions readme (every tag,
 *   2015-11-01 .. 2022-12-01); python3-azure's SubscriptionClient has 2016-06-01 .. 2021-01-01
 *   (default 2021-01-01), az login uses 2019-11-01, @azure/arm-resources-subscriptions 3.0.0
 *   sends 2022-12-01.
 * No preview versions are listed: none of these clients sends one.
 */
#include "arm_apiver.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

#define APIVER_RESOURCES(X)                                                                        \
        X("2019-07-01")                                                                            \
        X("2019-08-01")                                                                            \
        X("2019-10-01")                                                                            \
        X("2020-06-01")                                                                            \
        X("2020-08-01")                                                                            \
        X("2020-10-01")                                                                            \
        X("2021-01-01")                                                                            \
        X("2021-04-01")                                                                            \
        X("2022-09-01")                                                                            \
        X("2023-07-01")                                                                            \
        X("2024-03-01")                                                                            \
        X("2024-07-01")                                                                            \
        X("2024-11-01")                                                                            \
        X("2025-03-01")                                                                            \
        X("2025-04-01")

#define APIVER_SUBSCRIPTIONS(X)                                                                    \
        X("2015-11-01")                                                                            \
        X("2016-06-01")                                                                            \
        X("2018-06-01")                                                                            \
        X("2019-06-01")                                                                            \
        X("2019-11-01")                                                                            \
        X("2020-01-01")                                                                            \
        X("2021-01-01")                                                                            \
        X("2022-12-01")

#define APIVER_COMPUTE(X)                                                                          \
        X("2021-03-01")                                                                            \
        X("2021-04-01")                                                                            \
        X("2021-07-01")                                                                            \
        X("2021-11-01")                                                                            \
        X("2022-03-01")                                                                            \
        X("2022-08-01")                                                                            \
        X("2022-11-01")                                                                            \
        X("2023-03-01")                                                                            \
        X("2023-07-01")                                                                            \
        X("2023-09-01")                                                                            \
        X("2024-03-01")                                                                            \
        X("2024-07-01")                                                                            \
        X("2024-11-01")                                                                            \
        X("2025-04-01")                                                                            \
        X("2025-11-01")                                                                            \
        X("2026-03-01")                                                                            \
        X("2026-04-01")

#define APIVER_DISK(X)                                                                             \
        X("2021-04-01")                                                                            \
        X("2021-08-01")                                                                            \
        X("2021-12-01")                                                                            \
        X("2022-03-02")                                                                            \
        X("2022-07-02")                                                                            \
        X("2023-01-02")                                                                            \
        X("2023-04-02")                                                                            \
        X("2023-10-02")                                                                            \
        X("2024-03-02")                                                                            \
        X("2025-01-02")                                                                            \
        X("2026-03-02")

#define APIVER_ITEM(v) v,
#define APIVER_JOIN(v) ", " v

static const char *const resources_versions[] = { APIVER_RESOURCES(APIVER_ITEM) };
static const char *const subscriptions_versions[] = { APIVER_SUBSCRIPTIONS(APIVER_ITEM) };
static const char *const compute_versions[] = { APIVER_COMPUTE(APIVER_ITEM) };
static const char *const disk_versions[] = { APIVER_DISK(APIVER_ITEM) };

typedef struct apiver_table {
        const char *const *versions;
        size_t n;
        const char *joined; /* starts with ", " */
} apiver_table;

static const apiver_table apiver_tables[_RP_ARM_FAMILY_MAX] = {
        [RP_ARM_FAMILY_RESOURCES] = { resources_versions, ELEMENTSOF(resources_versions),
                                      APIVER_RESOURCES(APIVER_JOIN) },
        [RP_ARM_FAMILY_SUBSCRIPTIONS] = { subscriptions_versions,
                                          ELEMENTSOF(subscriptions_versions),
                                          APIVER_SUBSCRIPTIONS(APIVER_JOIN) },
        [RP_ARM_FAMILY_COMPUTE] = { compute_versions, ELEMENTSOF(compute_versions),
                                    APIVER_COMPUTE(APIVER_JOIN) },
        [RP_ARM_FAMILY_DISK] = { disk_versions, ELEMENTSOF(disk_versions),
                                 APIVER_DISK(APIVER_JOIN) },
};

/* Longest api-version quoted back in a message. */
#define APIVER_QUOTE_MAX 64

static const apiver_table *apiver_table_of(enum rp_arm_family f)
{
        if (f < 0 || f >= _RP_ARM_FAMILY_MAX)
                return NULL;
        return &apiver_tables[f];
}

int rp_arm_apiver_check(enum rp_arm_family f, const char *version)
{
        const apiver_table *t = apiver_table_of(f);

        if (!version || !*version)
                return -ENOENT;
        if (!t)
                return -EINVAL;
        for (size_t i = 0; i < t->n; i++)
                if (strcasecmp(t->versions[i], version) == 0)
                        return 0;
        return -EINVAL;
}

const char *rp_arm_apiver_supported(enum rp_arm_family f)
{
        const apiver_table *t = apiver_table_of(f);
        return t ? t->joined + 2 : "";
}

const char *rp_arm_apiver_latest(enum rp_arm_family f)
{
        const apiver_table *t = apiver_table_of(f);
        return t ? t->versions[t->n - 1] : NULL;
}

char *rp_arm_apiver_message(enum rp_arm_family f, const char *version)
{
        const char *v = rp_strempty(version);
        size_t len = strlen(v);
        rp_buf b;
        int r;

        /* The version is client input: keep only printable ASCII, cut long ones. */
        rp_buf_init(&b, 4096);
        r = rp_buf_puts(&b, "The api-version '");
        for (size_t i = 0; r >= 0 && i < len && i < APIVER_QUOTE_MAX; i++) {
                char c = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
                r = rp_buf_append(&b, &c, 1);
        }
        if (r >= 0 && len > APIVER_QUOTE_MAX)
                r = rp_buf_puts(&b, "...");
        if (r >= 0)
                r = rp_buf_printf(&b, "' is invalid. The supported versions are '%s'.",
                                  rp_arm_apiver_supported(f));
        if (r < 0) {
                rp_buf_done(&b);
                return NULL;
        }
        return rp_buf_detach(&b);
}

/* "YYYY-MM-DD" followed by nothing or "-suffix". @return the suffix ("" if none), NULL if the
 * string has another form. */
static const char *apiver_suffix(const char *s)
{
        static const char shape[] = "dddd-dd-dd";

        if (!s)
                return NULL;
        for (size_t i = 0; i < sizeof(shape) - 1; i++) {
                if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
                        return NULL;
        }
        s += sizeof(shape) - 1;
        if (*s == '\0')
                return s;
        if (*s != '-' || s[1] == '\0')
                return NULL;
        return s + 1;
}

int rp_arm_apiver_cmp(const char *a, const char *b)
{
        const char *sa = apiver_suffix(a), *sb = apiver_suffix(b);
        int r;

        if (!sa || !sb) {
                if (sa || sb)
                        return sa ? 1 : -1; /* the invalid one is older */
                if (!a || !b)
                        return (a != NULL) - (b != NULL);
                return strcasecmp(a, b);
        }
        r = memcmp(a, b, 10); /* same fixed-width digits: byte order is date order */
        if (r != 0)
                return r;
        if (!*sa || !*sb)
                return (*sa == '\0') - (*sb == '\0'); /* plain beats suffixed */
        return strcasecmp(sa, sb);
}

/* Whether @p s starts with @p prefix (case-insensitive); then *rest is what follows. */
static bool has_prefix_ci(const char *s, const char *prefix, const char **rest)
{
        size_t n = strlen(prefix);
        if (strncasecmp(s, prefix, n) != 0)
                return false;
        *rest = s + n;
        return true;
}

/* Whether @p rest (the part after "ns/") is @p type or starts with "type/". */
static bool type_is_or_under(const char *rest, const char *type)
{
        const char *after;
        return has_prefix_ci(rest, type, &after) && (*after == '\0' || *after == '/');
}

enum rp_arm_family rp_arm_apiver_family_of_type(const char *full_type)
{
        static const char *const disk_types[] = {
                "disks", "snapshots", "diskAccesses", "diskEncryptionSets",
                "locations/DiskOperations",
        };
        static const char drp[] = "/diskRestorePoints";
        const char *rest;

        if (!full_type)
                return _RP_ARM_FAMILY_INVALID;
        if (has_prefix_ci(full_type, "Microsoft.Resources/", &rest)) {
                if (type_is_or_under(rest, "subscriptions"))
                        return RP_ARM_FAMILY_SUBSCRIPTIONS;
                return *rest ? RP_ARM_FAMILY_RESOURCES : _RP_ARM_FAMILY_INVALID;
        }
        if (!has_prefix_ci(full_type, "Microsoft.Compute/", &rest) || !*rest)
                return _RP_ARM_FAMILY_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(disk_types); i++)
                if (type_is_or_under(rest, disk_types[i]))
                        return RP_ARM_FAMILY_DISK;
        size_t len = strlen(rest);
        if (len >= sizeof(drp) - 1 && strcasecmp(rest + len - (sizeof(drp) - 1), drp) == 0)
                return RP_ARM_FAMILY_DISK;
        return RP_ARM_FAMILY_COMPUTE;
}
