/* arm_id.h: ARM resource ids: parse, canonical form, lookup key, parent, type. Pure, no I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "util/macro.h"

/** Most type/name levels below a provider namespace (rpc/rp/diskRestorePoints is 3). */
#define RP_ARM_ID_MAX_LEVELS 4
/** Longest resource id accepted, in bytes. */
#define RP_ARM_ID_MAX_LEN 4096

/**
 * A parsed resource id. Every string is owned by the struct and freed by rp_arm_id_free().
 * Names keep the case they were given in; literal segments are not stored.
 */
typedef struct rp_arm_id {
        /** Subscription GUID, as given (never NULL). */
        char *subscription;
        /** Resource group name, or NULL for a subscription or a subscription-scoped resource. */
        char *resource_group;
        /** Provider namespace ("Microsoft.Compute"), or NULL for a bare group or subscription. */
        char *provider;
        /** Number of used entries in @ref levels (0 when @ref provider is NULL, else 1..4). */
        size_t n_levels;
        /** Type/name pairs below the provider, outermost first. */
        struct {
                char *type; /**< resource type segment ("restorePointCollections") */
                char *name; /**< resource name ("myRpc") */
        } levels[RP_ARM_ID_MAX_LEVELS];
} rp_arm_id;

/**
 * Parse a resource id:
 * /subscriptions/{guid}[/resourceGroups/{rg}][/providers/{ns}/{type}/{name}[/{type}/{name}]...].
 * Literal segments match case-insensitively; names keep their case. Rejected: empty segments
 * (so also "//" and a trailing "/"), an odd number of type/name segments, more than
 * RP_ARM_ID_MAX_LEVELS levels, a provider without a level, ids longer than RP_ARM_ID_MAX_LEN,
 * '?' and '#', control characters, '%', invalid UTF-8, names "." and "..", a type segment
 * "providers" (extension resources are not supported), namespaces and types outside
 * [A-Za-z0-9._-], and a subscription that is not a GUID.
 * @param s the id (NUL-terminated).
 * @param[out] ret the parsed id, to free with rp_arm_id_free(); untouched on failure.
 * @return 0, -EINVAL (not a valid id), -ENOMEM.
 */
int rp_arm_id_parse(const char *s, rp_arm_id **ret);

/** Free @p id and its strings. NULL-safe. @return NULL. */
rp_arm_id *rp_arm_id_free(rp_arm_id *id);

RP_DEFINE_CLEANUP(rp_arm_id, rp_arm_id_free)
/** Declare a local rp_arm_id * freed at scope exit. */
#define _cleanup_arm_id_ _cleanup_(rp_arm_id_freep)

/**
 * The canonical string: "/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{t}/{n}...",
 * literals in canonical case, names, namespace and types as stored.
 * @return a string to rp_free(), or NULL on OOM (or if the fields exceed 16 * RP_ARM_ID_MAX_LEN).
 */
char *rp_arm_id_format(const rp_arm_id *id);

/**
 * The full resource type: "{ns}/{type1}/{type2}..." ("Microsoft.Compute/restorePointCollections/
 * restorePoints"), "Microsoft.Resources/resourceGroups" for a bare group,
 * "Microsoft.Resources/subscriptions" for a subscription.
 * @return a string to rp_free(), or NULL on OOM.
 */
char *rp_arm_id_type(const rp_arm_id *id);

/** Whether the full type of @p id is @p full_type (case-insensitive). False on OOM. */
bool rp_arm_id_is_type(const rp_arm_id *id, const char *full_type);

/**
 * The name of the resource @p id names: the last level's name, else the group, else the
 * subscription. @return a string borrowed from @p id.
 */
const char *rp_arm_id_name(const rp_arm_id *id);

/**
 * Compare two id strings as ARM does: parse both, format, compare case-insensitively. If either
 * does not parse (or on OOM), fall back to strcasecmp() of the raw strings. NULL equals only NULL.
 */
bool rp_arm_id_equal(const char *a, const char *b);

/**
 * The lookup key of an id: its canonical form in lower case (ASCII letters only; other bytes are
 * kept). Stores use it as the primary key so lookups are case-insensitive while the stored id
 * keeps the caller's case.
 * @return a string to rp_free(), or NULL if @p id does not parse or on OOM.
 */
char *rp_arm_id_key(const char *id);

/**
 * The id one level up: the previous level, the resource group for a top-level resource, the
 * subscription for a group or a subscription-scoped top-level resource.
 * @return a canonical id to rp_free(), or NULL for a subscription (it has no parent) or on OOM.
 */
char *rp_arm_id_parent(const rp_arm_id *id);

/**
 * Build a canonical id from pieces: @p provider may be NULL (then no pairs may follow), @p rg may
 * be NULL (subscription scope). The variadic arguments are type/name pairs ending with NULL:
 * rp_arm_id_make(sub, rg, "Microsoft.Compute", "disks", "d1", NULL), or
 * rp_arm_id_make(sub, rg, NULL, NULL) for a group. The result is checked with rp_arm_id_parse().
 * @return a canonical id to rp_free(), or NULL if the pieces do not form a valid id, or on OOM.
 */
char *rp_arm_id_make(const char *subscription, const char *rg, const char *provider, ...)
        __attribute__((sentinel));
