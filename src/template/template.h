/* template.h: the ARM template language (Microsoft.Resources/deployments), as a pure library.
 *
 * A template plus its parameters becomes a plan: an ordered list of concrete resources (copy loops
 * expanded, nested children flattened, conditions applied) with their dependencies resolved to
 * indices. The executor (the deployments resource) walks the plan in dependency order, asks for
 * each resource's PUT body just before it deploys it (so reference() sees what is already
 * deployed), and asks for the outputs at the end. No I/O happens here: reference() goes through
 * a callback in rp_tpl_ctx, and the clock is rp_tpl_ctx.now.
 */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/macro.h"

/** Most resources a plan may hold after copy expansion (ARM's limit is 800). */
#define RP_TPL_MAX_RESOURCES 800
/** Largest copy count of one loop (ARM's limit). */
#define RP_TPL_MAX_COPY 800
/** Longest expression string accepted, in bytes (ARM: 24576 characters). */
#define RP_TPL_MAX_EXPR 24576
/** Deepest expression nesting (calls, indexes) accepted. */
#define RP_TPL_MAX_DEPTH 64
/** Largest string an expression may produce, in bytes. */
#define RP_TPL_MAX_STRING (1u * 1024u * 1024u)

/** ARM error code of template errors (syntax, unknown function, arity, types, cycles). */
#define RP_TPL_EC_INVALID_TEMPLATE "InvalidTemplate"
/** ARM error code of parameter errors (wrong type, constraint, unknown parameter given). */
#define RP_TPL_EC_INVALID_DEPLOYMENT "InvalidTemplateDeployment"
/** ARM error code of a required parameter with no value and no default. */
#define RP_TPL_EC_MISSING_PARAMETER "MissingDeploymentParameter"
/** ARM error code of a reference() that the callback could not satisfy. */
#define RP_TPL_EC_RESOURCE_NOT_FOUND "ResourceNotFound"

/**
 * An error from template processing, in the shape of an ARM error body
 * {"error":{"code","message","target"}}. Fields are NUL-terminated (empty when unset); the
 * message is cut to fit.
 */
typedef struct rp_tpl_error {
        char code[64];      /**< ARM code: one of the RP_TPL_EC_* strings */
        char message[1024]; /**< Azure-like message, naming the expression, offset and path */
        char target[256];   /**< JSON path in the template ("resources[1].properties.source.id") */
} rp_tpl_error;

/**
 * Callback that fetches a deployed resource for reference().
 * @param arg rp_tpl_ctx.reference_arg.
 * @param resource_id the full resource id (always a full id: names were resolved).
 * @param api_version the api-version asked for, or NULL (the resource's own in the template).
 * @param[out] ret_err on failure, a message to rp_free() (may stay NULL).
 * @return the resource's current document (a full GET body, with "properties"): a new reference,
 *         or NULL on failure.
 */
typedef json_t *(*rp_tpl_reference_fn)(void *arg, const char *resource_id, const char *api_version,
                                       char **ret_err);

/** What a template may read about where it is deployed. Strings are borrowed for the plan's life.
 */
typedef struct rp_tpl_ctx {
        const char *subscription_id;   /**< subscription GUID */
        const char *tenant_id;         /**< tenant GUID, for subscription().tenantId */
        const char *resource_group;    /**< target resource group name */
        const char *rg_location;       /**< its location, for resourceGroup().location */
        const char *deployment_name;   /**< for deployment().name */
        rp_tpl_reference_fn reference; /**< reference() backend; NULL makes reference() an error */
        void *reference_arg;           /**< passed to @ref reference */
        time_t now;                    /**< the clock of utcNow() (tests make it deterministic) */
        const char *subscription_name; /**< subscription().displayName; NULL: the id */
} rp_tpl_ctx;

/** A plan: the evaluated template. Opaque. */
typedef struct rp_tpl_plan rp_tpl_plan;

/** One concrete resource of a plan. Every pointer is owned by the plan. */
typedef struct rp_tpl_resource {
        char *id;   /**< full ARM id: /subscriptions/../resourceGroups/../providers/NS/t/n[/t/n] */
        char *type; /**< full type: "Microsoft.Compute/restorePointCollections/restorePoints" */
        char *name; /**< ARM full name: "coll/rp1" */
        char *api_version; /**< apiVersion as written in the template */
        char *symbolic;    /**< the copy loop name or the template name, for messages */
        char *path;        /**< JSON path of its declaration ("resources[0].resources[1]") */
        size_t *deps;      /**< indices (into the plan) of resources this one waits for */
        size_t n_deps;     /**< number of entries in @ref deps */
        int copy_index;    /**< copyIndex() here (a nested child: its parent's), -1 outside loops */
} rp_tpl_resource;

/**
 * Build a plan: validate parameters against their declarations, evaluate variables (cycles are
 * errors), expand copy loops and nested child resources, evaluate names, types and conditions,
 * drop resources whose condition is false, resolve dependsOn (by id, by name, by copy-loop
 * name; dependencies on dropped resources are ignored, as ARM does) and reject cycles.
 * Resources are in template order (children after their parent); deps always lists the parent
 * of a nested child and, for a serial copy loop, the element batchSize before.
 * @param tpl the template document (a JSON object); borrowed for the plan's life (a ref is taken).
 * @param parameters {"name":{"value":...}} or NULL; not kept.
 * @param ctx deployment context, copied; its strings are borrowed for the plan's life.
 * @param[out] ret the plan, to free with rp_tpl_plan_free(); untouched on failure.
 * @param[out] reterr filled on failure (may be NULL).
 * @return 0, -EINVAL (template or parameter error, see @p reterr), -ENOMEM, -E2BIG (a limit).
 */
int rp_tpl_plan_new(const json_t *tpl, const json_t *parameters, const rp_tpl_ctx *ctx,
                    rp_tpl_plan **ret, rp_tpl_error *reterr);

/** Number of resources in @p p (after conditions and copy expansion). */
size_t rp_tpl_plan_count(const rp_tpl_plan *p);

/** Resource @p i of @p p, borrowed from the plan; NULL if @p i is out of range. */
const rp_tpl_resource *rp_tpl_plan_resource(const rp_tpl_plan *p, size_t i);

/**
 * The PUT body of resource @p i: every key of its declaration evaluated (location, tags, sku,
 * properties, zones, kind, plan, identity, ...), minus the template-only keys (type, apiVersion,
 * name, dependsOn, condition, copy, resources, comments). Property-level copy loops
 * ("copy": [{name,count,input}] inside properties) are expanded. reference() is allowed here,
 * so call this after the resource's dependencies are deployed.
 * @param[out] ret a new reference; untouched on failure.
 * @return 0, -EINVAL (see @p reterr), -ENOENT (@p i out of range), -ENOMEM, -E2BIG.
 */
int rp_tpl_plan_body(rp_tpl_plan *p, size_t i, json_t **ret, rp_tpl_error *reterr);

/**
 * The deployment outputs: {"name":{"type":"String","value":...}} for each output whose condition
 * holds, with the type in ARM's response casing (String, Int, Bool, Object, Array, SecureString,
 * SecureObject). Call after every resource is deployed.
 * @param[out] ret a new reference; untouched on failure.
 * @return 0, -EINVAL (see @p reterr), -ENOMEM, -E2BIG.
 */
int rp_tpl_plan_outputs(rp_tpl_plan *p, json_t **ret, rp_tpl_error *reterr);

/**
 * The parameters as used: {"name":{"type":"String","value":...}} with defaults applied, as the
 * deployment's properties.parameters shows them (secure values are left out, as ARM does).
 * @param[out] ret a new reference; untouched on failure.
 * @return 0, -ENOMEM.
 */
int rp_tpl_plan_parameters(const rp_tpl_plan *p, json_t **ret);

/** Free @p p. NULL-safe. @return NULL. */
rp_tpl_plan *rp_tpl_plan_free(rp_tpl_plan *p);

RP_DEFINE_CLEANUP(rp_tpl_plan, rp_tpl_plan_free)
/** Declare a local rp_tpl_plan * freed at scope exit. */
#define _cleanup_tpl_plan_ _cleanup_(rp_tpl_plan_freep)

/**
 * Evaluate one template string in @p p's scope (parameters, variables, context; copyIndex() is
 * an error; reference() is allowed). "[...]" is an expression, "[[..." the literal with one '['
 * dropped, anything else the string itself. For tests and tools.
 * @param[out] ret a new reference; untouched on failure.
 * @return 0, -EINVAL (see @p reterr), -ENOMEM, -E2BIG.
 */
int rp_tpl_eval_string(rp_tpl_plan *p, const char *s, json_t **ret, rp_tpl_error *reterr);
