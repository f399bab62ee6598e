/* template_funcs_arm.c: functions that read the deployment: parameters(), variables(),
 * copyIndex(), resourceId() and friends, resourceGroup(), subscription(), deployment(),
 * reference().
 *
 * DESIGN: resource ids are built as strings, the way ARM's resourceId() does it: no check that
 * the names are valid resource names (the resource provider checks those when the id is used),
 * only that the type has a namespace and that the number of name segments matches the type.
 * A name argument may hold several segments ("coll/rp1"). The target scope of the deployment
 * comes from rp_tpl_ctx. reference() resolves a name declared in the template to its id (a
 * full id passes through) and asks the ctx callback for the deployed resource; it is allowed
 * only in resource bodies and outputs, as in ARM.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "template_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

/* ------------------------------------------------------------------------------------------ */
/* parameters(), variables(), copyIndex()                                                      */

/* parameters() (variant 1) and variables() (variant 0). */
static int fn_named(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        json_t *v = NULL;
        int r;

        if (!ev->variant && (ev->sc->flags & RP_TPL__DENY_VARIABLES))
                return rp_tpl__fail(ev, call->pos,
                                    "The template function 'variables' is not expected at this "
                                    "location: a parameter's default value can't use variables.");
        if (!json_is_string(args[0]))
                return rp_tpl__type_fail(ev, call, 0, "String", args[0]);
        r = rp_tpl__named_get(ev, call, json_string_value(args[0]), ev->variant, &v);
        if (r < 0)
                return r;
        return rp_tpl__ret(json_incref(v), ret);
}

static int fn_copy_index(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                         json_t **ret)
{
        const rp_tpl__scope *sc = ev->sc;
        const char *name = NULL;
        int64_t offset = 0, v;
        size_t i;

        if (n >= 1 && json_is_string(args[0]))
                name = json_string_value(args[0]);
        else if (n == 2)
                return rp_tpl__type_fail(ev, call, 0, "String", args[0]);
        if (n >= 1 && !name) {
                if (!json_is_integer(args[0]))
                        return rp_tpl__type_fail(ev, call, 0, "String or Integer", args[0]);
                offset = json_integer_value(args[0]);
        }
        if (n == 2) {
                if (!json_is_integer(args[1]))
                        return rp_tpl__type_fail(ev, call, 1, "Integer", args[1]);
                offset = json_integer_value(args[1]);
        }
        for (i = sc->n_loops; i-- > 0;) {
                if (name ? strcasecmp(sc->loops[i].name, name) == 0 : sc->loops[i].dflt)
                        break;
        }
        if (i == SIZE_MAX) {
                if (name)
                        return rp_tpl__fail(ev, call->pos,
                                            "The template function 'copyIndex' refers to the copy "
                                            "loop '%.100s', which is not in scope here.",
                                            name);
                return rp_tpl__fail(ev, call->pos,
                                    "The template function 'copyIndex' is not expected at this "
                                    "location. It can only be used in a resource, property, "
                                    "variable or output with a copy loop.");
        }
        if (__builtin_add_overflow(sc->loops[i].index, offset, &v))
                return rp_tpl__fn_fail(ev, call, "the offset is out of range.");
        return rp_tpl__ret(json_integer(v), ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Resource ids                                                                                */

enum id_scope {
        ID_RG,
        ID_SUB,
        ID_TENANT
};

/* Most type (or name) segments an id may have below its namespace. */
#define ID_MAX_SEGS 16

typedef struct id_seg {
        const char *p;
        size_t n;
} id_seg;

/* Append the '/'-separated segments of @p s to @p segs. @return -EINVAL on an empty segment,
 * -E2BIG past ID_MAX_SEGS. */
static int split_segs(const char *s, id_seg *segs, size_t *n)
{
        for (;;) {
                const char *e = strchrnul(s, '/');
                if (e == s)
                        return -EINVAL;
                if (*n >= ID_MAX_SEGS)
                        return -E2BIG;
                segs[(*n)++] = (id_seg){ s, (size_t)(e - s) };
                if (!*e)
                        return 0;
                s = e + 1;
        }
}

/*
 * resourceId(), subscriptionResourceId(), tenantResourceId() (the variant is the scope): an id
 * from args [scope args...] type name... where the type is the first argument containing '/'.
 * The scope says how many scope arguments may come before the type (resourceId:
 * subscriptionId and resourceGroupName; subscriptionResourceId: subscriptionId; none for
 * tenantResourceId).
 */
static int fn_resource_id(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                          json_t **ret)
{
        enum id_scope scope = ev->variant;
        const rp_tpl_ctx *ctx = rp_tpl__ctx(ev->sc->plan);
        const char *sub = rp_strempty(ctx->subscription_id), *rg = rp_strempty(ctx->resource_group);
        size_t t = SIZE_MAX, max_scope = scope == ID_RG ? 2 : scope == ID_SUB ? 1 : 0;
        id_seg types[ID_MAX_SEGS], names[ID_MAX_SEGS];
        size_t n_types = 0, n_names = 0;
        rp_buf b;
        int r = 0;

        for (size_t i = 0; i < n; i++) {
                if (!json_is_string(args[i]))
                        return rp_tpl__type_fail(ev, call, i, "String", args[i]);
                if (t == SIZE_MAX && strchr(json_string_value(args[i]), '/'))
                        t = i;
        }
        if (t == SIZE_MAX || t > max_scope)
                return rp_tpl__fn_fail(ev, call,
                                       "the function requires exactly one multi-segmented "
                                       "argument, the resource type including its namespace "
                                       "('Microsoft.Compute/disks'), after at most %zu scope "
                                       "argument(s).",
                                       max_scope);
        if (t == 1 && scope == ID_RG)
                rg = json_string_value(args[0]);
        else if (t == 1)
                sub = json_string_value(args[0]);
        else if (t == 2) {
                sub = json_string_value(args[0]);
                rg = json_string_value(args[1]);
        }

        const char *type = json_string_value(args[t]);
        r = split_segs(type, types, &n_types);
        for (size_t i = t + 1; i < n && r >= 0; i++)
                r = split_segs(json_string_value(args[i]), names, &n_names);
        if (r == -EINVAL)
                return rp_tpl__fn_fail(ev, call,
                                       "the resource type and names must not have empty "
                                       "segments.");
        if (r < 0)
                return rp_tpl__fn_fail(ev, call,
                                       "the resource type or names have more than %d "
                                       "segments.",
                                       ID_MAX_SEGS);
        if (n_types - 1 != n_names)
                return rp_tpl__fn_fail(ev, call,
                                       "the type '%.200s' requires %zu resource name "
                                       "segment(s), found %zu.",
                                       type, n_types - 1, n_names);

        rp_buf_init(&b, RP_TPL_MAX_STRING);
        if (scope != ID_TENANT)
                r = rp_buf_printf(&b, "/subscriptions/%s", sub);
        if (r >= 0 && scope == ID_RG)
                r = rp_buf_printf(&b, "/resourceGroups/%s", rg);
        if (r >= 0)
                r = rp_buf_printf(&b, "/providers/%.*s", (int)types[0].n, types[0].p);
        for (size_t i = 0; i < n_names && r >= 0; i++)
                r = rp_buf_printf(&b, "/%.*s/%.*s", (int)types[i + 1].n, types[i + 1].p,
                                  (int)names[i].n, names[i].p);
        if (r >= 0)
                r = rp_tpl__string(ev, call, b.ptr, b.len, ret);
        else if (r == -E2BIG)
                r = rp_tpl__fn_fail(ev, call, "the id is too long.");
        rp_buf_done(&b);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Deployment context                                                                          */

static int fn_resource_group(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                             json_t **ret)
{
        const rp_tpl_ctx *ctx = rp_tpl__ctx(ev->sc->plan);
        _cleanup_free_ char *id =
                rp_asprintf("/subscriptions/%s/resourceGroups/%s",
                            rp_strempty(ctx->subscription_id), rp_strempty(ctx->resource_group));

        if (!id)
                return -ENOMEM;
        return rp_tpl__ret(json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "id", id, "name",
                                     rp_strempty(ctx->resource_group), "type",
                                     "Microsoft.Resources/resourceGroups", "location",
                                     rp_strempty(ctx->rg_location), "properties",
                                     "provisioningState", "Succeeded"),
                           ret);
}

static int fn_subscription(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                           json_t **ret)
{
        const rp_tpl_ctx *ctx = rp_tpl__ctx(ev->sc->plan);
        const char *sub = rp_strempty(ctx->subscription_id);
        _cleanup_free_ char *id = rp_asprintf("/subscriptions/%s", sub);

        if (!id)
                return -ENOMEM;
        return rp_tpl__ret(json_pack("{s:s, s:s, s:s, s:s}", "id", id, "subscriptionId", sub,
                                     "tenantId", rp_strempty(ctx->tenant_id), "displayName",
                                     ctx->subscription_name ? ctx->subscription_name : sub),
                           ret);
}

static int fn_deployment(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                         json_t **ret)
{
        const rp_tpl_ctx *ctx = rp_tpl__ctx(ev->sc->plan);
        const json_t *tpl = rp_tpl__template(ev->sc->plan);
        _cleanup_json_ json_t *t = json_object();
        static const char *const keep[] = { "$schema", "contentVersion", "metadata" };

        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(keep); i++) {
                json_t *v = json_object_get(tpl, keep[i]);
                if (v && json_object_set(t, keep[i], v) < 0)
                        return -ENOMEM;
        }
        return rp_tpl__ret(json_pack("{s:s, s:{s:O, s:s, s:s}}", "name",
                                     rp_strempty(ctx->deployment_name), "properties", "template", t,
                                     "mode", "Incremental", "provisioningState", "Accepted"),
                           ret);
}

static int fn_reference(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                        json_t **ret)
{
        const rp_tpl_ctx *ctx = rp_tpl__ctx(ev->sc->plan);
        const char *target, *id, *api = NULL;
        bool full = false;
        _cleanup_free_ char *cb_err = NULL;
        _cleanup_json_ json_t *doc = NULL;

        if (!(ev->sc->flags & RP_TPL__ALLOW_REFERENCE))
                return rp_tpl__fail(ev, call->pos,
                                    "The template function 'reference' is not expected at this "
                                    "location. It can only be used in resource properties and "
                                    "outputs.");
        for (size_t i = 0; i < n; i++)
                if (!json_is_string(args[i]))
                        return rp_tpl__type_fail(ev, call, i, "String", args[i]);
        target = json_string_value(args[0]);
        if (n >= 2)
                api = json_string_value(args[1]);
        if (n >= 3) {
                if (strcasecmp(json_string_value(args[2]), "full") != 0)
                        return rp_tpl__fn_fail(ev, call,
                                               "the third argument must be 'Full', found '%.50s'.",
                                               json_string_value(args[2]));
                full = true;
        }
        if (target[0] == '/') {
                id = target;
        } else {
                const char *own_api = NULL;
                id = rp_tpl__resolve_name(ev->sc->plan, target, &own_api);
                if (!id)
                        return rp_tpl__fail(ev, call->pos,
                                            "The template reference '%.200s' is not valid: could "
                                            "not find template resource or resource copy with "
                                            "this name.",
                                            target);
                if (!api)
                        api = own_api;
        }
        if (!ctx->reference)
                return rp_tpl__fail(ev, call->pos,
                                    "The template function 'reference' is not available here.");
        doc = ctx->reference(ctx->reference_arg, id, api, &cb_err);
        if (!doc) {
                ev->code = RP_TPL_EC_RESOURCE_NOT_FOUND;
                return rp_tpl__fail(ev, call->pos, "%.300s",
                                    cb_err ? cb_err : "The referenced resource was not found.");
        }
        if (full)
                return rp_tpl__ret(json_incref(doc), ret);
        json_t *props = json_object_get(doc, "properties");
        return rp_tpl__ret(props ? json_incref(props) : json_object(), ret);
}

/* ------------------------------------------------------------------------------------------ */
/* The table                                                                                   */

const rp_tpl__func rp_tpl__funcs_arm[] = {
        { "parameters", 1, 1, fn_named, NULL, 1 },
        { "variables", 1, 1, fn_named, NULL, 0 },
        { "copyIndex", 0, 2, fn_copy_index, NULL, 0 },
        { "resourceId", 2, UINT_MAX, fn_resource_id, NULL, ID_RG },
        { "subscriptionResourceId", 2, UINT_MAX, fn_resource_id, NULL, ID_SUB },
        { "tenantResourceId", 2, UINT_MAX, fn_resource_id, NULL, ID_TENANT },
        { "resourceGroup", 0, 0, fn_resource_group, NULL, 0 },
        { "subscription", 0, 0, fn_subscription, NULL, 0 },
        { "deployment", 0, 0, fn_deployment, NULL, 0 },
        { "reference", 1, 3, fn_reference, NULL, 0 },
};
const size_t rp_tpl__n_funcs_arm = ELEMENTSOF(rp_tpl__funcs_arm);
