/* arm_names.h: per-type resource name rules, tag rules, GUIDs and UTF-8 scanning. Pure, no I/O. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest name accepted for a type without its own rule, in characters. */
#define RP_ARM_NAME_MAX_DEFAULT 260

/**
 * Check @p name against the naming rule of @p full_type (matched case-insensitively):
 * - Microsoft.Resources/resourceGroups: 1-90 characters; letters (Unicode too), digits, '_', '(',
 *   ')', '-', '.'; not ending in '.'.
 * - Microsoft.Resources/deployments: 1-64 of [A-Za-z0-9-_.()].
 * - Microsoft.Resources/subscriptions: a GUID.
 * - Microsoft.Compute/disks: 1-80 of [A-Za-z0-9_.-], starting alphanumeric, ending alphanumeric
 *   or '_'.
 * - Microsoft.Compute/virtualMachines: 1-64; no whitespace, control characters or
 *   ~ ! @ # $ % ^ & * ( ) = + [ ] { } \ | ; : ' " , < > / ?; not starting with '_', not ending in
 *   '.' or '-'.
 * - Microsoft.Compute/restorePointCollections and .../restorePoints: 1-80 of [A-Za-z0-9_.-], not
 *   ending in '.' or '-'.
 * - .../restorePoints/diskRestorePoints: ^[^_\W][\w-._]{0,259}(?<![-.])$ (ASCII \w).
 * - any other type: 1-RP_ARM_NAME_MAX_DEFAULT characters, no '/', no control characters.
 * Every rule also rejects invalid UTF-8.
 * @param full_type full resource type ("Microsoft.Compute/disks"); NULL means "any other type".
 * @param name the name to check.
 * @param[out] ret_message on -EINVAL (if not NULL), an ARM-style message to rp_free().
 * @return 0, -EINVAL (bad name), -ENOMEM (only when the message could not be allocated).
 */
int rp_arm_name_check(const char *full_type, const char *name, char **ret_message);

/**
 * Check a "tags" value: absent (NULL or JSON null) is fine; otherwise an object of at most
 * RP_MAX_TAGS string values, names of 1-RP_MAX_TAG_NAME characters without < > % & \ ? / or
 * control characters, values of 0-RP_MAX_TAG_VALUE characters.
 * @param tags the value of the "tags" member, or NULL.
 * @param[out] ret_message on -EINVAL (if not NULL), an ARM InvalidTag-style message to rp_free().
 * @param[out] ret_target on -EINVAL (if not NULL), the static string "tags".
 * @return 0, -EINVAL, -ENOMEM (only when the message could not be allocated).
 */
int rp_arm_tags_check(const json_t *tags, char **ret_message, const char **ret_target);

/** Whether @p s is a GUID: 8-4-4-4-12 hex digits, either case, no braces. NULL is not. */
bool rp_arm_is_guid(const char *s);

/**
 * Decode one UTF-8 sequence from @p s (at most @p len bytes). Rejects overlong forms, surrogates,
 * code points above U+10FFFF and truncated sequences. Module-private to src/arm/.
 * @param[out] ret_cp the code point.
 * @return the sequence length (1-4), or -EINVAL.
 */
int rp_arm__utf8_next(const char *s, size_t len, uint32_t *ret_cp);
