/* template.c: plans: template checks, resource expansion, dependencies, bodies, outputs.
 *
 * DESIGN: rp_tpl_plan_new() runs in passes, each of which can fail with a complete ARM error:
 *   1. the template's shape ($schema, contentVersion, resources; unsupported features refused),
 *      and a static check of every expression in resources and outputs (syntax, function names,
 *      arities), so such errors come out at validation time and not halfway through a
 *      deployment;
 *   2. parameters, then variables (template_params.c);
 *   3. resource expansion: copy loops and nested children are walked depth first; for each
 *      instance the condition, type, name, apiVersion and dependsOn are evaluated (reference()
 *      is not allowed there, as in ARM). Kept instances go to p->res in template order (a child
 *      right after its parent's instance), instances whose condition is false (and their
 *      children) to p->dropped, so a dependsOn that names them can be ignored as ARM does;
 *   4. dependencies: the parent of a nested child, the previous batch of a serial copy loop,
 *      every dependsOn entry (a full id; else a name, "NS/type/name" tail or copy loop name),
 *      and implicit ones: a reference() whose first argument can be computed at plan time and
 *      names a resource of the plan, as ARM infers them;
 *   5. a depth-first search for cycles.
 * Bodies and outputs are evaluated later, on demand, in deployment-time scopes that allow
 * reference(). Resource ids are built as strings in the deployment's resource group.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json/json.h"
#include "template_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

/* Most resource instances (kept or dropped) a template may expand to. */
#define MAX_INSTANCES (4 * RP_TPL_MAX_RESOURCES)
/* Longest JSON path kept for messages. */
#define MAX_PATH 4096

/* Keys of a resource declaration that are not part of its PUT body. */
static const char *const template_only_keys[] = {
        "type", "apiVersion", "name", "dependsOn", "condition", "copy", "resources", "comments",
};

static bool is_template_only(const char *k)
{
        for (size_t i = 0; i < ELEMENTSOF(template_only_keys); i++)
                if (strcasecmp(k, template_only_keys[i]) == 0)
                        return true;
        return false;
}

const rp_tpl_ctx *rp_tpl__ctx(const rp_tpl_plan *p)
{
        return &p->ctx;
}

const json_t *rp_tpl__template(const rp_tpl_plan *p)
{
        return p->tpl;
}

/* ------------------------------------------------------------------------------------------ */
/* Plan lifetime                                                                               */

static void res_done(rp_tpl__res *r)
{
        rp_free(r->pub.id);
        rp_free(r->pub.type);
        rp_free(r->pub.name);
        rp_free(r->pub.api_version);
        rp_free(r->pub.symbolic);
        rp_free(r->pub.path);
        rp_free(r->pub.deps);
        rp_free(r->extra);
        rp_free(r->tail);
        json_decref(r->depends);
        *r = (rp_tpl__res){ 0 };
}

rp_tpl_plan *rp_tpl_plan_free(rp_tpl_plan *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_res; i++)
                res_done(&p->res[i]);
        for (size_t i = 0; i < p->n_dropped; i++)
                res_done(&p->dropped[i]);
        rp_free(p->res);
        rp_free(p->dropped);
        rp_free(p->loops);
        json_decref(p->by_name);
        json_decref(p->by_loop);
        json_decref(p->known);
        rp_tpl__named_done(p);
        json_decref(p->tpl);
        return rp_free(p);
}

size_t rp_tpl_plan_count(const rp_tpl_plan *p)
{
        return p ? p->n_res : 0;
}

const rp_tpl_resource *rp_tpl_plan_resource(const rp_tpl_plan *p, size_t i)
{
        return p && i < p->n_res ? &p->res[i].pub : NULL;
}

/* Append a size_t to a growable array (no duplicates). */
static int idx_add(size_t **arr, size_t *n, size_t v)
{
        size_t *a;

        for (size_t i = 0; i < *n; i++)
                if ((*arr)[i] == v)
                        return 0;
        a = rp_realloc(*arr, (*n + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        a[(*n)++] = v;
        *arr = a;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Pass 1: the template's shape                                                                */

static int template_fail(rp_tpl_error *err, const char *target, const char *msg)
{
        return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                             "Deployment template validation failed: '%s'", msg);
}

static int check_shape(const json_t *tpl, rp_tpl_error *err)
{
        static const char *const known[] = {
                "$schema",   "contentVersion", "apiProfile", "parameters", "variables",
                "functions", "resources",      "outputs",    "metadata",   "definitions",
        };
        const char *k;
        json_t *v;
        const char *cv;

        if (!json_is_object(tpl))
                return template_fail(err, "", "The template must be a JSON object.");
        json_object_foreach((json_t *)tpl, k, v) {
                bool ok = false;
                for (size_t i = 0; i < ELEMENTSOF(known) && !ok; i++)
                        ok = strcasecmp(k, known[i]) == 0;
                if (strcasecmp(k, "languageVersion") == 0)
                        return template_fail(err, k,
                                             "The template 'languageVersion' is not supported: "
                                             "only templates with a 'resources' array are.");
                if (!ok)
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, k,
                                             "Deployment template validation failed: 'Could not "
                                             "find member '%.100s' on the template.'",
                                             k);
        }
        if (!json_is_string(json_object_get(tpl, "$schema")))
                return template_fail(err, "$schema",
                                     "Required property '$schema' not found in the template, or "
                                     "not a String.");
        cv = json_string_value(json_object_get(tpl, "contentVersion"));
        if (!cv)
                return template_fail(err, "contentVersion",
                                     "Required property 'contentVersion' not found in the "
                                     "template, or not a String.");
        unsigned a, b, c, d;
        char tail;
        if (sscanf(cv, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4)
                return template_fail(err, "contentVersion",
                                     "The template 'contentVersion' must have the form "
                                     "'1.0.0.0'.");
        if (!json_is_array(json_object_get(tpl, "resources")))
                return template_fail(err, "resources",
                                     "Required property 'resources' not found in the template, "
                                     "or not an Array.");
        v = json_object_get(tpl, "functions");
        if (v && !(json_is_array(v) && json_array_size(v) == 0))
                return template_fail(err, "functions",
                                     "User-defined template functions are not supported.");
        v = json_object_get(tpl, "outputs");
        if (v && !json_is_object(v))
                return template_fail(err, "outputs", "The template 'outputs' must be an Object.");
        if (json_object_size(v) > RP_TPL__MAX_OUTPUTS)
                return template_fail(err, "outputs", "The template has more than 64 outputs.");
        return 0;
}

/* Static check of resource declarations (recursively, children included) and outputs. */
static int check_resources(rp_tpl_plan *p, const json_t *arr, rp_buf *path, rp_tpl_error *err)
{
        size_t i;
        json_t *decl;

        json_array_foreach(arr, i, decl) {
                rp_tpl__scope sc = { .plan = p, .what = "resource", .path = path };
                size_t saved = rp_tpl__path_push_index(&sc, i);
                const json_t *kids;
                int r;

                sc.who = json_string_value(json_object_get(decl, "name"));
                if (!json_is_object(decl)) {
                        r = rp_tpl__scope_fail(&sc, err, "A resource must be an Object.");
                        rp_tpl__path_pop(&sc, saved);
                        return r;
                }
                r = 0;
                const char *k;
                json_t *v;
                json_object_foreach(decl, k, v) {
                        if (strcasecmp(k, "resources") == 0)
                                continue;
                        if (strcasecmp(k, "scope") == 0 || strcasecmp(k, "resourceGroup") == 0 ||
                            strcasecmp(k, "subscriptionId") == 0) {
                                size_t s2 = rp_tpl__path_push(&sc, k);
                                r = rp_tpl__scope_fail(&sc, err,
                                                       "The resource property '%s' is not "
                                                       "supported: resources deploy to the "
                                                       "deployment's resource group.",
                                                       k);
                                rp_tpl__path_pop(&sc, s2);
                                break;
                        }
                        size_t s2 = rp_tpl__path_push(&sc, k);
                        r = rp_tpl__check_value(&sc, v, err);
                        rp_tpl__path_pop(&sc, s2);
                        if (r < 0)
                                break;
                }
                kids = json_object_get(decl, "resources");
                if (r >= 0 && kids) {
                        size_t s2 = rp_tpl__path_push(&sc, "resources");
                        if (!json_is_array(kids))
                                r = rp_tpl__scope_fail(&sc, err,
                                                       "The nested 'resources' must be an Array.");
                        else
                                r = check_resources(p, kids, path, err);
                        rp_tpl__path_pop(&sc, s2);
                }
                rp_tpl__path_pop(&sc, saved);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_outputs(rp_tpl_plan *p, rp_tpl_error *err)
{
        const json_t *outs = json_object_get(p->tpl, "outputs");
        const char *k;
        json_t *o;

        json_object_foreach((json_t *)outs, k, o) {
                rp_buf path;
                rp_tpl__scope sc = { .plan = p, .what = "output", .who = k, .path = &path };
                const char *type = json_string_value(json_object_get(o, "type"));
                int r;

                rp_buf_init(&path, MAX_PATH);
                r = rp_buf_printf(&path, "outputs.%s", k);
                if (r >= 0 && !json_is_object(o))
                        r = rp_tpl__scope_fail(&sc, err, "An output must be an Object.");
                else if (r >= 0 && (!type || rp_tpl__value_type(type) < 0))
                        r = rp_tpl__scope_fail(&sc, err,
                                               "The output 'type' must be one of String, "
                                               "SecureString, Int, Bool, Object, SecureObject, "
                                               "Array.");
                else if (r >= 0 && !json_object_get(o, "value") && !json_object_get(o, "copy"))
                        r = rp_tpl__scope_fail(&sc, err, "The output has no 'value'.");
                else if (r >= 0)
                        r = rp_tpl__check_value(&sc, o, err);
                rp_buf_done(&path);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Pass 3: resource expansion                                                                  */

/* The parent instance of nested children. */
typedef struct parent_info {
        size_t idx;       /* plan index, SIZE_MAX when dropped or top level */
        const char *type; /* full type, NULL at top level */
        const char *name; /* full name */
} parent_info;

static int expand_list(rp_tpl_plan *p, const json_t *arr, const parent_info *parent,
                       const rp_tpl__scope *outer, bool dropped, rp_tpl_error *err);

/* Evaluate a member of a declaration that must be a non-empty String. */
static int eval_str_member(const rp_tpl__scope *sc, const json_t *decl, const char *key, char **ret,
                           rp_tpl_error *err)
{
        _cleanup_json_ json_t *v = NULL;
        const json_t *raw = json_object_get(decl, key);
        size_t saved = rp_tpl__path_push(sc, key);
        int r = 0;

        if (!raw)
                r = rp_tpl__scope_fail(sc, err, "The resource property '%s' is missing.", key);
        if (r >= 0)
                r = rp_tpl__eval_value(sc, raw, &v, err);
        if (r >= 0 && (!json_is_string(v) || json_string_length(v) == 0 ||
                       strlen(json_string_value(v)) != json_string_length(v)))
                r = rp_tpl__scope_fail(sc, err,
                                       "The resource property '%s' must be a non-empty String, "
                                       "found '%s'.",
                                       key, rp_tpl__type_name(v));
        if (r >= 0) {
                *ret = rp_strdup(json_string_value(v));
                if (!*ret)
                        r = -ENOMEM;
        }
        rp_tpl__path_pop(sc, saved);
        return r;
}

/* Fill id and tail of @p r from its full type and name. */
static int make_id(rp_tpl_plan *p, const rp_tpl__scope *sc, rp_tpl__res *r, rp_tpl_error *err)
{
        const char *type = r->pub.type, *name = r->pub.name;
        const char *slash = strchr(type, '/');
        size_t type_segs = 0, name_segs = 1;
        rp_buf id, tail;
        int rc = 0;

        for (const char *q = type; *q; q++)
                type_segs += *q == '/';
        for (const char *q = name; *q; q++)
                name_segs += *q == '/';
        if (!slash || type_segs != name_segs)
                return rp_tpl__scope_fail(sc, err,
                                          "The template resource '%.200s' for type '%.200s' has "
                                          "incorrect segment lengths. A nested resource type "
                                          "must have identical number of segments as its "
                                          "resource name. A root resource type must have segment "
                                          "length one greater than its resource name.",
                                          name, type);
        rp_buf_init(&id, RP_TPL_MAX_STRING);
        rp_buf_init(&tail, RP_TPL_MAX_STRING);
        rc = rp_buf_printf(&id, "/subscriptions/%s/resourceGroups/%s/providers/%.*s",
                           rp_strempty(p->ctx.subscription_id), rp_strempty(p->ctx.resource_group),
                           (int)(slash - type), type);
        if (rc >= 0)
                rc = rp_buf_printf(&tail, "%.*s", (int)(slash - type), type);
        const char *tp = slash + 1, *np = name;
        while (rc >= 0) {
                const char *te = strchrnul(tp, '/'), *ne = strchrnul(np, '/');
                if (te == tp || ne == np) {
                        rc = rp_tpl__scope_fail(sc, err,
                                                "The resource type '%.200s' or name '%.200s' has "
                                                "an empty segment.",
                                                type, name);
                        break;
                }
                rc = rp_buf_printf(&id, "/%.*s/%.*s", (int)(te - tp), tp, (int)(ne - np), np);
                if (rc >= 0)
                        rc = rp_buf_printf(&tail, "/%.*s/%.*s", (int)(te - tp), tp, (int)(ne - np),
                                           np);
                if (!*te)
                        break;
                tp = te + 1;
                np = ne + 1;
        }
        if (rc >= 0) {
                r->pub.id = rp_buf_detach(&id);
                r->tail = rp_buf_detach(&tail);
                if (!r->pub.id || !r->tail)
                        rc = -ENOMEM;
        }
        rp_buf_done(&id);
        rp_buf_done(&tail);
        return rc;
}

static int push_res(rp_tpl__res **arr, size_t *n, rp_tpl__res *r)
{
        rp_tpl__res *a = rp_realloc(*arr, (*n + 1) * sizeof(*a));

        if (!a)
                return -ENOMEM;
        a[(*n)++] = *r;
        *arr = a;
        *r = (rp_tpl__res){ 0 };
        return 0;
}

/* Expand one instance of a declaration. @param[out] ret_idx its plan index, SIZE_MAX if dropped. */
static int expand_one(rp_tpl_plan *p, const json_t *decl, const parent_info *parent,
                      const rp_tpl__scope *sc, int copy_index, const char *loop_name, bool dropped,
                      size_t *ret_idx, rp_tpl_error *err)
{
        rp_tpl__res r = { .decl = decl, .parent = SIZE_MAX, .loop_name = loop_name };
        _cleanup_free_ char *type = NULL, *name = NULL;
        const json_t *cond = json_object_get(decl, "condition");
        const json_t *deps = json_object_get(decl, "dependsOn");
        const json_t *kids = json_object_get(decl, "resources");
        int rc;

        *ret_idx = SIZE_MAX;
        if (p->n_res + p->n_dropped >= MAX_INSTANCES || p->n_res >= RP_TPL_MAX_RESOURCES) {
                rp_tpl__scope_fail(sc, err, "The template expands to more than %d resources.",
                                   RP_TPL_MAX_RESOURCES);
                return -E2BIG;
        }
        if (cond) {
                _cleanup_json_ json_t *c = NULL;
                size_t saved = rp_tpl__path_push(sc, "condition");
                rc = rp_tpl__eval_value(sc, cond, &c, err);
                if (rc >= 0 && !json_is_boolean(c))
                        rc = rp_tpl__scope_fail(sc, err,
                                                "The resource 'condition' must be a Boolean, found "
                                                "'%s'.",
                                                rp_tpl__type_name(c));
                rp_tpl__path_pop(sc, saved);
                if (rc < 0)
                        return rc;
                dropped = dropped || json_is_false(c);
        }
        rc = eval_str_member(sc, decl, "type", &type, err);
        if (rc >= 0)
                rc = eval_str_member(sc, decl, "name", &name, err);
        if (rc >= 0)
                rc = eval_str_member(sc, decl, "apiVersion", &r.pub.api_version, err);
        if (rc < 0)
                goto fail;
        if (parent->type && !strchr(type, '/')) {
                r.pub.type = rp_asprintf("%s/%s", parent->type, type);
                r.pub.name = rp_asprintf("%s/%s", parent->name, name);
        } else {
                r.pub.type = TAKE_PTR(type);
                r.pub.name = TAKE_PTR(name);
        }
        r.pub.symbolic = rp_strdup(loop_name ? loop_name : r.pub.name);
        r.pub.path = rp_strdup(sc->path->ptr);
        if (!r.pub.type || !r.pub.name || !r.pub.symbolic || !r.pub.path) {
                rc = -ENOMEM;
                goto fail;
        }
        /* copyIndex() of the instance: its own loop's, else the one around it (nested child) */
        for (size_t i = sc->n_loops; copy_index < 0 && i-- > 0;)
                if (sc->loops[i].dflt)
                        copy_index = (int)sc->loops[i].index;
        r.pub.copy_index = copy_index;
        rc = make_id(p, sc, &r, err);
        if (rc < 0)
                goto fail;

        if (deps) {
                size_t saved = rp_tpl__path_push(sc, "dependsOn");
                if (!json_is_array(deps))
                        rc = rp_tpl__scope_fail(sc, err,
                                                "The resource 'dependsOn' must be an "
                                                "Array of Strings.");
                else
                        rc = rp_tpl__eval_value(sc, deps, &r.depends, err);
                for (size_t i = 0; rc >= 0 && i < json_array_size(r.depends); i++) {
                        if (json_is_string(json_array_get(r.depends, i)))
                                continue;
                        size_t s2 = rp_tpl__path_push_index(sc, i);
                        rc = rp_tpl__scope_fail(sc, err, "A 'dependsOn' entry must be a String.");
                        rp_tpl__path_pop(sc, s2);
                }
                rp_tpl__path_pop(sc, saved);
                if (rc < 0)
                        goto fail;
        }
        memcpy(r.loops, sc->loops, sizeof(r.loops));
        r.n_loops = sc->n_loops;

        parent_info me = { .idx = SIZE_MAX };
        if (dropped) {
                rc = push_res(&p->dropped, &p->n_dropped, &r);
                if (rc < 0)
                        goto fail;
                me.type = p->dropped[p->n_dropped - 1].pub.type;
                me.name = p->dropped[p->n_dropped - 1].pub.name;
        } else {
                for (size_t i = 0; i < p->n_res; i++)
                        if (strcasecmp(p->res[i].pub.id, r.pub.id) == 0) {
                                rc = rp_tpl__scope_fail(sc, err,
                                                        "The resource '%.300s' is defined multiple "
                                                        "times in a template.",
                                                        r.pub.id);
                                goto fail;
                        }
                r.parent = parent->idx;
                rc = push_res(&p->res, &p->n_res, &r);
                if (rc < 0)
                        goto fail;
                me.idx = *ret_idx = p->n_res - 1;
                me.type = p->res[me.idx].pub.type;
                me.name = p->res[me.idx].pub.name;
        }

        if (kids) {
                size_t saved = rp_tpl__path_push(sc, "resources");
                rc = expand_list(p, kids, &me, sc, dropped, err);
                rp_tpl__path_pop(sc, saved);
        }
        return rc;
fail:
        res_done(&r);
        return rc;
}

/* Expand a declaration: once, or once per element of its copy loop. */
static int expand_decl(rp_tpl_plan *p, const json_t *decl, const parent_info *parent,
                       const rp_tpl__scope *outer, bool dropped, rp_tpl_error *err)
{
        const json_t *copy = json_object_get(decl, "copy");
        const char *loop;
        const char *mode;
        int64_t count = 0, batch = 1;
        size_t *prev = NULL, *cur = NULL, n_prev = 0, n_cur = 0;
        int64_t cur_batch = -1;
        size_t idx, saved;
        int r;

        if (!copy)
                return expand_one(p, decl, parent, outer, -1, NULL, dropped, &idx, err);

        saved = rp_tpl__path_push(outer, "copy");
        loop = json_string_value(json_object_get(copy, "name"));
        mode = json_string_value(json_object_get(copy, "mode"));
        if (!json_is_object(copy) || !loop || !*loop) {
                r = rp_tpl__scope_fail(outer, err,
                                       "The resource 'copy' must be an Object with a "
                                       "'name' and a 'count'.");
                goto out;
        }
        if (mode && strcasecmp(mode, "serial") != 0 && strcasecmp(mode, "parallel") != 0) {
                r = rp_tpl__scope_fail(outer, err,
                                       "The copy 'mode' must be 'Serial' or 'Parallel', found "
                                       "'%.50s'.",
                                       mode);
                goto out;
        }
        if (json_object_get(copy, "mode") && !mode) {
                r = rp_tpl__scope_fail(outer, err, "The copy 'mode' must be a String.");
                goto out;
        }
        {
                size_t s2 = rp_tpl__path_push(outer, "count");
                r = rp_tpl__eval_count(outer, json_object_get(copy, "count"), &count, err);
                rp_tpl__path_pop(outer, s2);
                if (r < 0)
                        goto out;
        }
        if (json_object_get(copy, "batchSize")) {
                _cleanup_json_ json_t *b = NULL;
                size_t s2 = rp_tpl__path_push(outer, "batchSize");
                r = rp_tpl__eval_value(outer, json_object_get(copy, "batchSize"), &b, err);
                if (r >= 0 && (!json_is_integer(b) || json_integer_value(b) < 1 ||
                               json_integer_value(b) > RP_TPL_MAX_COPY))
                        r = rp_tpl__scope_fail(outer, err,
                                               "The copy 'batchSize' must be an Integer between 1 "
                                               "and %d.",
                                               RP_TPL_MAX_COPY);
                if (r >= 0)
                        batch = json_integer_value(b);
                rp_tpl__path_pop(outer, s2);
                if (r < 0)
                        goto out;
        }
        {
                const char **a = rp_realloc(p->loops, (p->n_loops + 1) * sizeof(*a));
                if (!a) {
                        r = -ENOMEM;
                        goto out;
                }
                a[p->n_loops++] = loop;
                p->loops = a;
        }
        rp_tpl__path_pop(outer, saved);
        saved = SIZE_MAX;

        bool serial = mode && strcasecmp(mode, "serial") == 0;
        for (int64_t k = 0; k < count; k++) {
                rp_tpl__scope sc = *outer;
                r = rp_tpl__scope_push_loop(&sc, err, loop, k, true);
                if (r >= 0)
                        r = expand_one(p, decl, parent, &sc, (int)k, loop, dropped, &idx, err);
                if (r < 0)
                        goto out;
                if (!serial || idx == SIZE_MAX)
                        continue;
                if (k / batch != cur_batch) {
                        if (n_cur > 0) {
                                rp_free(prev);
                                prev = TAKE_PTR(cur);
                                n_prev = n_cur;
                                n_cur = 0;
                        }
                        cur_batch = k / batch;
                }
                for (size_t j = 0; j < n_prev; j++) {
                        r = idx_add(&p->res[idx].extra, &p->res[idx].n_extra, prev[j]);
                        if (r < 0)
                                goto out;
                }
                r = idx_add(&cur, &n_cur, idx);
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        if (saved != SIZE_MAX)
                rp_tpl__path_pop(outer, saved);
        rp_free(prev);
        rp_free(cur);
        return r;
}

static int expand_list(rp_tpl_plan *p, const json_t *arr, const parent_info *parent,
                       const rp_tpl__scope *outer, bool dropped, rp_tpl_error *err)
{
        size_t i;
        json_t *decl;

        json_array_foreach(arr, i, decl) {
                rp_tpl__scope sc = *outer;
                size_t saved = rp_tpl__path_push_index(&sc, i);
                int r;

                sc.who = json_string_value(json_object_get(decl, "name"));
                r = expand_decl(p, decl, parent, &sc, dropped, err);
                rp_tpl__path_pop(&sc, saved);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Pass 4 and 5: dependencies and cycles                                                       */

/*
 * Name lookup for dependsOn and reference(): ARM compares ids and names case-insensitively, so
 * each key is folded to ASCII lower case. p->by_name maps every kept resource's id, full name and
 * "NS/type/name" tail to its plan indices, p->by_loop every copy loop name to its kept instances,
 * p->known everything a dependsOn may name without creating a dependency (resources whose
 * condition is false, loops of count 0). Built once after expansion, so resolving dependencies is
 * linear in their number, not quadratic in the resources.
 */
static char *fold(const char *s)
{
        char *f = rp_strdup(s);

        for (char *c = f; c && *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char)(*c - 'A' + 'a');
        return f;
}

static int index_add(json_t *idx, const char *key, size_t i)
{
        _cleanup_free_ char *k = fold(key);
        json_t *arr;

        if (!k)
                return -ENOMEM;
        arr = json_object_get(idx, k);
        if (!arr) {
                arr = json_array();
                if (!arr || json_object_set_new(idx, k, arr) < 0)
                        return -ENOMEM;
        }
        return json_array_append_new(arr, json_integer((json_int_t)i)) < 0 ? -ENOMEM : 0;
}

/* @param[out] ret the plan indices @p key names in @p idx (borrowed), or NULL. */
static int index_get(const json_t *idx, const char *key, json_t **ret)
{
        _cleanup_free_ char *k = fold(key);

        if (!k)
                return -ENOMEM;
        *ret = json_object_get(idx, k);
        return 0;
}

static int build_index(rp_tpl_plan *p)
{
        int r = 0;

        p->by_name = json_object();
        p->by_loop = json_object();
        p->known = json_object();
        if (!p->by_name || !p->by_loop || !p->known)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_res && r >= 0; i++) {
                const rp_tpl__res *x = &p->res[i];
                r = index_add(p->by_name, x->pub.id, i);
                if (r >= 0)
                        r = index_add(p->by_name, x->pub.name, i);
                if (r >= 0)
                        r = index_add(p->by_name, x->tail, i);
                if (r >= 0 && x->loop_name)
                        r = index_add(p->by_loop, x->loop_name, i);
        }
        for (size_t i = 0; i < p->n_dropped && r >= 0; i++) {
                const rp_tpl__res *x = &p->dropped[i];
                r = index_add(p->known, x->pub.id, 0);
                if (r >= 0)
                        r = index_add(p->known, x->pub.name, 0);
                if (r >= 0)
                        r = index_add(p->known, x->tail, 0);
        }
        for (size_t i = 0; i < p->n_loops && r >= 0; i++)
                r = index_add(p->known, p->loops[i], 0);
        return r;
}

const char *rp_tpl__resolve_name(const rp_tpl_plan *p, const char *name, const char **ret_api)
{
        json_t *hits = NULL;

        if (!p->by_name || index_get(p->by_name, name, &hits) < 0 || !hits)
                return NULL;
        const rp_tpl__res *x = &p->res[json_integer_value(json_array_get(hits, 0))];
        *ret_api = x->pub.api_version;
        return x->pub.id;
}

/* The resource whose dependencies are being resolved, and a mark per plan index (deduplication). */
typedef struct deps_ctx {
        rp_tpl_plan *p;
        size_t i;
        unsigned char *mark;
        size_t cap; /* allocated entries of p->res[i].pub.deps */
} deps_ctx;

static int dep_add(deps_ctx *c, size_t k)
{
        rp_tpl__res *r = &c->p->res[c->i];

        if (c->mark[k])
                return 0;
        if (r->pub.n_deps == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 8;
                size_t *a = rp_realloc(r->pub.deps, cap * sizeof(*a));
                if (!a)
                        return -ENOMEM;
                r->pub.deps = a;
                c->cap = cap;
        }
        r->pub.deps[r->pub.n_deps++] = k;
        c->mark[k] = 1;
        return 0;
}

/* Add every index of @p hits (a JSON array of indices, may be NULL), except the resource itself
 * when @p skip_self (an implicit dependency on itself is no dependency). */
static int dep_add_all(deps_ctx *c, const json_t *hits, bool skip_self)
{
        size_t j;
        json_t *h;

        json_array_foreach(hits, j, h) {
                size_t k = (size_t)json_integer_value(h);
                int r;
                if (skip_self && k == c->i)
                        continue;
                r = dep_add(c, k);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Add the resources a reference() in node @p n names (when computable now) to the deps. */
static int reference_deps(deps_ctx *c, const rp_tpl__scope *sc, const char *src,
                          const rp_tpl__node *n)
{
        _cleanup_json_ json_t *v = NULL;
        json_t *hits = NULL;
        int rc;

        if (n->target) {
                rc = reference_deps(c, sc, src, n->target);
                if (rc < 0)
                        return rc;
        }
        for (size_t a = 0; a < n->n_args; a++) {
                rc = reference_deps(c, sc, src, n->args[a]);
                if (rc < 0)
                        return rc;
        }
        if (n->kind != RP_TPL__N_CALL || strcasecmp(n->str, "reference") != 0 || n->n_args < 1)
                return 0;

        rp_tpl__ev ev = {
                .sc = sc, .src = src, .code = RP_TPL_EC_INVALID_TEMPLATE, .budget = RP_TPL__BUDGET
        };
        rc = rp_tpl__eval_node(&ev, n->args[0], &v);
        if (rc == -ENOMEM)
                return rc;
        if (rc < 0 || !json_is_string(v))
                return 0; /* not computable at plan time: no implicit dependency */
        rc = index_get(c->p->by_name, json_string_value(v), &hits);
        if (rc < 0)
                return rc;
        return dep_add_all(c, hits, true);
}

static int reference_deps_value(deps_ctx *c, const rp_tpl__scope *sc, const json_t *v)
{
        int rc = 0;

        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                _cleanup_(rp_tpl__node_freep) rp_tpl__node *root = NULL;
                rp_tpl__ev ev = { .sc = sc, .src = s };

                if (!rp_tpl__is_expression(s) || strlen(s) != json_string_length(v) ||
                    !strcasestr(s, "reference"))
                        return 0;
                rc = rp_tpl__parse(&ev, s, &root);
                if (rc == -ENOMEM)
                        return rc;
                return rc < 0 ? 0 : reference_deps(c, sc, s, root);
        }
        if (json_is_array(v)) {
                size_t k;
                json_t *e;
                json_array_foreach(v, k, e) {
                        rc = reference_deps_value(c, sc, e);
                        if (rc < 0)
                                return rc;
                }
        } else if (json_is_object(v)) {
                const char *k;
                json_t *e;
                json_object_foreach((json_t *)v, k, e) {
                        rc = reference_deps_value(c, sc, e);
                        if (rc < 0)
                                return rc;
                }
        }
        return rc;
}

static int resolve_deps(deps_ctx *c, rp_tpl_error *err)
{
        rp_tpl_plan *p = c->p;
        rp_tpl__res *r = &p->res[c->i];
        size_t j;
        json_t *d;
        int rc = 0;

        if (r->parent != SIZE_MAX)
                rc = dep_add(c, r->parent);
        for (size_t k = 0; k < r->n_extra && rc >= 0; k++)
                rc = dep_add(c, r->extra[k]);
        if (rc < 0)
                return rc;
        json_array_foreach(r->depends, j, d) {
                const char *s = json_string_value(d);
                json_t *hits = NULL, *loop = NULL, *known = NULL;

                rc = index_get(p->by_name, s, &hits);
                if (rc >= 0)
                        rc = index_get(p->by_loop, s, &loop);
                if (rc >= 0)
                        rc = index_get(p->known, s, &known);
                if (rc >= 0)
                        rc = dep_add_all(c, hits, false);
                if (rc >= 0)
                        rc = dep_add_all(c, loop, false);
                if (rc < 0)
                        return rc;
                if (!hits && !loop && !known)
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, r->pub.path,
                                             "Deployment template validation failed: 'The "
                                             "resource '%.300s' is not defined in the template "
                                             "(dependsOn of '%.200s' at '%.200s.dependsOn[%zu]').'",
                                             s, r->pub.name, r->pub.path, j);
        }

        /* Implicit dependencies of reference() in the body. */
        rp_tpl__scope sc = {
                .plan = p, .what = "resource", .who = r->pub.name, .n_loops = r->n_loops
        };
        const char *k;
        json_t *v;
        memcpy(sc.loops, r->loops, sizeof(sc.loops));
        json_object_foreach((json_t *)r->decl, k, v) {
                if (is_template_only(k))
                        continue;
                rc = reference_deps_value(c, &sc, v);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int find_cycle(rp_tpl_plan *p, size_t i, unsigned char *color, rp_tpl_error *err)
{
        rp_tpl__res *r = &p->res[i];

        color[i] = 1;
        for (size_t k = 0; k < r->pub.n_deps; k++) {
                size_t d = r->pub.deps[k];
                int rc;
                if (color[d] == 1) {
                        rp_tpl__res *c = &p->res[d];
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, c->pub.path,
                                             "Deployment template validation failed: 'Circular "
                                             "dependency detected on resource: '%.300s'. Please "
                                             "see https://aka.ms/arm-template/#resources for "
                                             "usage details.'",
                                             c->pub.id);
                }
                if (color[d] == 2)
                        continue;
                rc = find_cycle(p, d, color, err);
                if (rc < 0)
                        return rc;
        }
        color[i] = 2;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* rp_tpl_plan_new                                                                             */

int rp_tpl_plan_new(const json_t *tpl, const json_t *parameters, const rp_tpl_ctx *ctx,
                    rp_tpl_plan **ret, rp_tpl_error *reterr)
{
        _cleanup_tpl_plan_ rp_tpl_plan *p = NULL;
        _cleanup_free_ unsigned char *color = NULL;
        rp_tpl_error dummy;
        rp_tpl_error *err = reterr ? reterr : &dummy;
        rp_buf path;
        int r;

        *err = (rp_tpl_error){ 0 };
        r = check_shape(tpl, err);
        if (r < 0)
                return r;
        p = rp_calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->tpl = json_incref((json_t *)tpl);
        if (ctx)
                p->ctx = *ctx;

        rp_buf_init(&path, MAX_PATH);
        r = rp_buf_puts(&path, "resources");
        if (r >= 0)
                r = check_resources(p, json_object_get(tpl, "resources"), &path, err);
        rp_buf_done(&path);
        if (r >= 0)
                r = check_outputs(p, err);
        if (r >= 0)
                r = rp_tpl__params_init(p, parameters, err);
        if (r >= 0)
                r = rp_tpl__vars_init(p, err);
        if (r < 0)
                return r;

        rp_buf_init(&path, MAX_PATH);
        r = rp_buf_puts(&path, "resources");
        if (r >= 0) {
                rp_tpl__scope sc = { .plan = p, .what = "resource", .path = &path };
                parent_info top = { .idx = SIZE_MAX };
                r = expand_list(p, json_object_get(tpl, "resources"), &top, &sc, false, err);
        }
        rp_buf_done(&path);
        if (r < 0)
                return r;

        color = rp_calloc(p->n_res + 1, 1);
        if (!color)
                return -ENOMEM;
        r = build_index(p);
        for (size_t i = 0; i < p->n_res && r >= 0; i++) {
                deps_ctx c = { .p = p, .i = i, .mark = color };
                r = resolve_deps(&c, err);
                for (size_t k = 0; k < p->res[i].pub.n_deps; k++)
                        color[p->res[i].pub.deps[k]] = 0;
        }
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_res; i++) {
                if (color[i])
                        continue;
                r = find_cycle(p, i, color, err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Bodies, outputs, single strings                                                             */

int rp_tpl_plan_body(rp_tpl_plan *p, size_t i, json_t **ret, rp_tpl_error *reterr)
{
        _cleanup_json_ json_t *out = NULL;
        rp_tpl__res *r;
        rp_buf path;
        const char *k;
        json_t *v;
        int rc = 0;

        if (!p || i >= p->n_res)
                return -ENOENT;
        r = &p->res[i];
        out = json_object();
        if (!out)
                return -ENOMEM;
        rp_buf_init(&path, MAX_PATH);
        rp_tpl__scope sc = {
                .plan = p,
                .flags = RP_TPL__ALLOW_REFERENCE | RP_TPL__DEPLOY_TIME,
                .n_loops = r->n_loops,
                .what = "resource",
                .who = r->pub.name,
                .resource_id = r->pub.id,
                .path = &path,
        };
        memcpy(sc.loops, r->loops, sizeof(sc.loops));
        (void)rp_buf_puts(&path, r->pub.path);
        json_object_foreach((json_t *)r->decl, k, v) {
                json_t *x = NULL;
                size_t saved;

                if (is_template_only(k))
                        continue;
                saved = rp_tpl__path_push(&sc, k);
                rc = rp_tpl__eval_value(&sc, v, &x, reterr);
                rp_tpl__path_pop(&sc, saved);
                if (rc < 0)
                        break;
                if (json_object_set_new(out, k, x) < 0) {
                        rc = -ENOMEM;
                        break;
                }
        }
        rp_buf_done(&path);
        if (rc < 0)
                return rc;
        *ret = TAKE_PTR(out);
        return 0;
}

static int eval_output(rp_tpl_plan *p, const char *name, const json_t *o, json_t *out,
                       rp_tpl_error *err)
{
        const json_t *cond = json_object_get(o, "condition");
        const json_t *copy = json_object_get(o, "copy");
        int type = rp_tpl__value_type(json_string_value(json_object_get(o, "type")));
        _cleanup_json_ json_t *v = NULL;
        rp_buf path;
        rp_tpl__scope sc = {
                .plan = p,
                .flags = RP_TPL__ALLOW_REFERENCE | RP_TPL__DEPLOY_TIME,
                .what = "output",
                .who = name,
                .path = &path,
        };
        int r;

        rp_buf_init(&path, MAX_PATH);
        r = rp_buf_printf(&path, "outputs.%s", name);
        if (r >= 0 && cond) {
                _cleanup_json_ json_t *c = NULL;
                size_t saved = rp_tpl__path_push(&sc, "condition");
                r = rp_tpl__eval_value(&sc, cond, &c, err);
                if (r >= 0 && !json_is_boolean(c))
                        r = rp_tpl__scope_fail(&sc, err,
                                               "The output 'condition' must be a Boolean, found "
                                               "'%s'.",
                                               rp_tpl__type_name(c));
                rp_tpl__path_pop(&sc, saved);
                if (r >= 0 && json_is_false(c)) {
                        rp_buf_done(&path);
                        return 0;
                }
        }
        if (r >= 0 && copy) {
                int64_t count = 0;
                size_t saved = rp_tpl__path_push(&sc, "copy");
                if (!json_is_object(copy) || !json_object_get(copy, "input")) {
                        r = rp_tpl__scope_fail(&sc, err,
                                               "The output 'copy' must be an Object "
                                               "with 'count' and 'input'.");
                } else {
                        size_t s2 = rp_tpl__path_push(&sc, "count");
                        r = rp_tpl__eval_count(&sc, json_object_get(copy, "count"), &count, err);
                        rp_tpl__path_pop(&sc, s2);
                }
                v = r >= 0 ? json_array() : NULL;
                if (r >= 0 && !v)
                        r = -ENOMEM;
                size_t s3 = rp_tpl__path_push(&sc, "input");
                for (int64_t k = 0; k < count && r >= 0; k++) {
                        rp_tpl__scope inner = sc;
                        json_t *item = NULL;
                        r = rp_tpl__scope_push_loop(&inner, err, name, k, true);
                        if (r >= 0)
                                r = rp_tpl__eval_value(&inner, json_object_get(copy, "input"),
                                                       &item, err);
                        if (r >= 0 && json_array_append_new(v, item) < 0)
                                r = -ENOMEM;
                }
                rp_tpl__path_pop(&sc, s3);
                rp_tpl__path_pop(&sc, saved);
        } else if (r >= 0) {
                size_t saved = rp_tpl__path_push(&sc, "value");
                r = rp_tpl__eval_value(&sc, json_object_get(o, "value"), &v, err);
                rp_tpl__path_pop(&sc, saved);
        }
        if (r >= 0 && !rp_tpl__value_type_matches(type, v))
                r = rp_tpl__scope_fail(&sc, err,
                                       "The template output '%s' is not valid: Template output "
                                       "JToken type is not valid. Expected '%s'. Actual '%s'.",
                                       name, rp_tpl__value_type_name(type), rp_tpl__type_name(v));
        rp_buf_done(&path);
        if (r < 0)
                return r;

        json_t *e = json_pack("{s:s}", "type", rp_tpl__value_type_name(type));
        if (!e || json_object_set_new(out, name, e) < 0)
                return -ENOMEM;
        if (!rp_tpl__value_type_secure(type) && json_object_set(e, "value", v) < 0)
                return -ENOMEM;
        return 0;
}

int rp_tpl_plan_outputs(rp_tpl_plan *p, json_t **ret, rp_tpl_error *reterr)
{
        _cleanup_json_ json_t *out = json_object();
        const char *k;
        json_t *o;

        if (!out)
                return -ENOMEM;
        json_object_foreach(json_object_get(p->tpl, "outputs"), k, o) {
                int r = eval_output(p, k, o, out, reterr);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int rp_tpl_eval_string(rp_tpl_plan *p, const char *s, json_t **ret, rp_tpl_error *reterr)
{
        _cleanup_json_ json_t *str = NULL;
        rp_buf path;
        rp_tpl__scope sc = {
                .plan = p,
                .flags = RP_TPL__ALLOW_REFERENCE,
                .what = "expression",
                .who = "",
                .path = &path,
        };
        int r;

        if (strlen(s) > RP_TPL_MAX_STRING)
                return rp_tpl__error(reterr, RP_TPL_EC_INVALID_TEMPLATE, "",
                                     "The string is longer than %u bytes.", RP_TPL_MAX_STRING);
        str = json_string(s);
        if (!str)
                return rp_tpl__error(reterr, RP_TPL_EC_INVALID_TEMPLATE, "",
                                     "The string is not valid UTF-8.");
        rp_buf_init(&path, MAX_PATH);
        r = rp_tpl__eval_value(&sc, str, ret, reterr);
        rp_buf_done(&path);
        return r;
}
