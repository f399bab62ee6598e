/* arm_apiver.h: supported api-versions per resource family. Pure, no I/O. */
#pragma once
#include <errno.h>

/** Which table of api-versions a request is checked against. */
enum rp_arm_family {
        RP_ARM_FAMILY_RESOURCES,     /**< Microsoft.Resources: resourceGroups, deployments */
        RP_ARM_FAMILY_SUBSCRIPTIONS, /**< Microsoft.Resources: /subscriptions, locations */
        RP_ARM_FAMILY_COMPUTE,       /**< ComputeRP: VMs, restore point collections/points, ops */
        RP_ARM_FAMILY_DISK,          /**< DiskRP: disks, diskRestorePoints, disk operations */
        _RP_ARM_FAMILY_MAX,
        _RP_ARM_FAMILY_INVALID = -EINVAL,
};

/**
 * Check an api-version against the published versions of @p f (exact, case-insensitive match).
 * @return 0 if supported, -ENOENT if @p version is NULL or empty (MissingApiVersionParameter),
 *         -EINVAL if it is not supported or @p f is not a family (InvalidApiVersionParameter).
 */
int rp_arm_apiver_check(enum rp_arm_family f, const char *version);

/**
 * The supported versions of @p f, oldest first, separated by ", " ("2021-03-01, 2021-04-01, ...");
 * the list part of "The supported versions are '{list}'.".
 * @return a static string ("" for an invalid family).
 */
const char *rp_arm_apiver_supported(enum rp_arm_family f);

/** The newest supported version of @p f. @return a static string, NULL for an invalid family. */
const char *rp_arm_apiver_latest(enum rp_arm_family f);

/**
 * The InvalidApiVersionParameter message: "The api-version '{v}' is invalid. The supported
 * versions are '{list}'.". Bytes of @p version outside printable ASCII are shown as '?' and a
 * version longer than 64 bytes is cut (with "..."), so the message is always safe to send.
 * @return a string to rp_free(), or NULL on OOM.
 */
char *rp_arm_apiver_message(enum rp_arm_family f, const char *version);

/**
 * Order two api-versions "YYYY-MM-DD[-suffix]" by date; on the same date a suffixed version
 * ("-preview") sorts before the plain one, and suffixes compare case-insensitively. Strings that
 * are not of that form (and NULL) sort before every valid version.
 * @return < 0, 0 or > 0 as @p a is older than, the same as or newer than @p b.
 */
int rp_arm_apiver_cmp(const char *a, const char *b);

/**
 * The family serving a full resource type (case-insensitive): Microsoft.Resources/subscriptions
 * -> SUBSCRIPTIONS, other Microsoft.Resources/... -> RESOURCES, Microsoft.Compute/disks,
 * snapshots, diskAccesses, diskEncryptionSets, locations/DiskOperations and any type ending in
 * /diskRestorePoints -> DISK, other Microsoft.Compute/... -> COMPUTE.
 * @return the family, or _RP_ARM_FAMILY_INVALID for any other type or NULL.
 */
enum rp_arm_family rp_arm_apiver_family_of_type(const char *full_type);
