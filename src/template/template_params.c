/* template_params.c: template parameters and variables.
 *
 * DESIGN: parameters and variables are tables of at most ARM's 256 entries each, looked up
 * case-insensitively by a linear scan. Both are evaluated lazily with a three-state mark (not
 * evaluated, in progress, done) so that a default value or a variable may refer to another one
 * declared later; meeting an "in progress" entry is a cycle, reported with the chain of names
 * (p->stack). rp_tpl_plan_new() then forces every entry in declaration order, so every error
 * surfaces at validation time. Chains are capped at RP_TPL__MAX_REF_DEPTH so a long chain cannot
 * exhaust the stack.
 *
 * Parameter values: a value given with the deployment wins over defaultValue; a default is an
 * ordinary template value in which utcNow() is allowed and variables() is not (ARM's rules).
 * Each final value is checked against the declaration: type, allowedValues (each element, for
 * arrays), minValue/maxValue, minLength/maxLength. Given-value errors are
 * InvalidTemplateDeployment, a missing value MissingDeploymentParameter, and declaration
 * errors InvalidTemplate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json/json.h"
#include "template_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

enum param_type {
        P_STRING,
        P_SECURE_STRING,
        P_INT,
        P_BOOL,
        P_OBJECT,
        P_SECURE_OBJECT,
        P_ARRAY,
        _P_MAX,
};

/* Declared spelling (matched case-insensitively) and the casing responses use. */
static const char *const param_type_names[_P_MAX] = {
        [P_STRING] = "String", [P_SECURE_STRING] = "SecureString",
        [P_INT] = "Int",       [P_BOOL] = "Bool",
        [P_OBJECT] = "Object", [P_SECURE_OBJECT] = "SecureObject",
        [P_ARRAY] = "Array",
};

static int param_type_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _P_MAX; i++)
                if (strcasecmp(s, param_type_names[i]) == 0)
                        return i;
        return -EINVAL;
}

static bool param_type_matches(int t, const json_t *v)
{
        switch (t) {
        case P_STRING:
        case P_SECURE_STRING:
                return json_is_string(v);
        case P_INT:
                return json_is_integer(v);
        case P_BOOL:
                return json_is_boolean(v);
        case P_OBJECT:
        case P_SECURE_OBJECT:
                return json_is_object(v);
        case P_ARRAY:
                return json_is_array(v);
        default:
                return false;
        }
}

static bool param_secure(int t)
{
        return t == P_SECURE_STRING || t == P_SECURE_OBJECT;
}

int rp_tpl__value_type(const char *s)
{
        return param_type_from_string(s);
}

const char *rp_tpl__value_type_name(int t)
{
        return t >= 0 && t < _P_MAX ? param_type_names[t] : "?";
}

bool rp_tpl__value_type_matches(int t, const json_t *v)
{
        return param_type_matches(t, v);
}

bool rp_tpl__value_type_secure(int t)
{
        return param_secure(t);
}

static rp_tpl__named *find_named(rp_tpl__named *tab, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(tab[i].name, name) == 0)
                        return &tab[i];
        return NULL;
}

/* "'a', 'b'" of the names in a table, cut to fit. */
static void name_list(const rp_tpl__named *tab, size_t n, char *out, size_t size)
{
        size_t len = 0;

        out[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                int w = snprintf(out + len, size - len, "%s%s", len ? ", " : "", tab[i].name);
                if (w < 0 || (size_t)w >= size - len) {
                        out[len] = '\0';
                        return;
                }
                len += (size_t)w;
        }
}

/* Refuse to enter @p name if it is already being evaluated (a cycle) or the chain is too long. */
static int enter(rp_tpl_plan *p, rp_tpl__named *n, const char *what, rp_tpl_error *err,
                 const char *target)
{
        if (n->state == 1) {
                char chain[512];
                size_t len = 0, from = 0;

                for (size_t i = 0; i < p->depth; i++)
                        if (p->stack[i] == n->name)
                                from = i;
                chain[0] = '\0';
                for (size_t i = from; i <= p->depth; i++) {
                        const char *nm = i < p->depth ? p->stack[i] : n->name;
                        int w = snprintf(chain + len, sizeof(chain) - len, "%s'%s'",
                                         len ? " -> " : "", nm);
                        if (w < 0 || (size_t)w >= sizeof(chain) - len)
                                break;
                        len += (size_t)w;
                }
                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                                     "Deployment template validation failed: 'The template %s "
                                     "'%s' is not valid: circular reference detected: %s.'",
                                     what, n->name, chain);
        }
        if (p->depth >= RP_TPL__MAX_REF_DEPTH)
                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                                     "Deployment template validation failed: 'The template %s "
                                     "'%s' is not valid: %ss refer to each other more than %d "
                                     "levels deep.'",
                                     what, n->name, what, RP_TPL__MAX_REF_DEPTH);
        n->state = 1;
        p->stack[p->depth++] = n->name;
        return 0;
}

static void leave(rp_tpl_plan *p, rp_tpl__named *n, int r)
{
        n->state = r < 0 ? 0 : 2;
        p->depth--;
}

/* ------------------------------------------------------------------------------------------ */
/* Parameters                                                                                  */

/* Message text for a value: secure values are never shown. */
static void value_text(const rp_tpl__named *n, const json_t *v, char *out, size_t size)
{
        _cleanup_free_ char *s = NULL;

        if (param_secure(n->type)) {
                snprintf(out, size, "(secure value)");
                return;
        }
        s = rp_tpl__to_text(v);
        snprintf(out, size, "%.200s%s", s ? s : "?", s && strlen(s) > 200 ? "..." : "");
}

static int constraint_int(rp_tpl_plan *p, const rp_tpl__named *n, const char *key, int64_t *ret,
                          rp_tpl_error *err, const char *target)
{
        const json_t *v = json_object_get(n->decl, key);

        if (!v)
                return 0;
        if (!json_is_integer(v))
                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                                     "Deployment template validation failed: 'The template "
                                     "parameter '%s' is not valid: '%s' must be an Integer.'",
                                     n->name, key);
        *ret = json_integer_value(v);
        return 1;
}

static int param_validate(rp_tpl_plan *p, const rp_tpl__named *n, const json_t *v,
                          rp_tpl_error *err)
{
        _cleanup_free_ char *target = rp_asprintf("parameters.%s", n->name);
        const json_t *allowed = json_object_get(n->decl, "allowedValues");
        char text[256];
        int64_t lim = 0;
        int r;

        if (!target)
                return -ENOMEM;
        if (!param_type_matches(n->type, v))
                return rp_tpl__error(err, RP_TPL_EC_INVALID_DEPLOYMENT, target,
                                     "The provided value for the template parameter '%s' is not "
                                     "valid. Expected a value of type '%s', but received a value "
                                     "of type '%s'.",
                                     n->name, param_type_names[n->type], rp_tpl__type_name(v));
        if (allowed) {
                if (!json_is_array(allowed))
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                                             "Deployment template validation failed: 'The "
                                             "template parameter '%s' is not valid: "
                                             "'allowedValues' must be an Array.'",
                                             n->name);
                size_t n_items = json_is_array(v) && n->type == P_ARRAY ? json_array_size(v) : 1;
                for (size_t i = 0; i < n_items; i++) {
                        const json_t *item = n->type == P_ARRAY ? json_array_get(v, i) : v;
                        bool ok = false;
                        size_t k;
                        json_t *a;
                        json_array_foreach(allowed, k, a)
                                ok = ok || rp_tpl__equal(a, item);
                        if (ok)
                                continue;
                        _cleanup_free_ char *list = rp_json_dumps(allowed);
                        value_text(n, item, text, sizeof(text));
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_DEPLOYMENT, target,
                                             "The provided value for the template parameter '%s' "
                                             "is not valid. The value '%s' is not part of the "
                                             "allowed value(s): '%.300s'.",
                                             n->name, text, list ? list : "?");
                }
        }
        /* minValue/maxValue bound an Int; minLength/maxLength a String's or an Array's length */
        static const struct {
                const char *key;
                bool length;
                bool min;
        } limits[] = {
                { "minValue", false, true },
                { "maxValue", false, false },
                { "minLength", true, true },
                { "maxLength", true, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
                int64_t x;
                if (limits[i].length && json_is_string(v))
                        x = (int64_t)rp_tpl__utf8_len(json_string_value(v), json_string_length(v));
                else if (limits[i].length && json_is_array(v))
                        x = (int64_t)json_array_size(v);
                else if (!limits[i].length && json_is_integer(v))
                        x = json_integer_value(v);
                else
                        continue;
                r = constraint_int(p, n, limits[i].key, &lim, err, target);
                if (r < 0)
                        return r;
                if (r > 0 && (limits[i].min ? x < lim : x > lim))
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_DEPLOYMENT, target,
                                             "The provided value for the template parameter '%s' "
                                             "is not valid. The %s '%" PRId64
                                             "' is %s than the %s %s of '%" PRId64 "'.",
                                             n->name, limits[i].length ? "length" : "value", x,
                                             limits[i].min ? "less" : "greater",
                                             limits[i].min ? "minimum" : "maximum",
                                             limits[i].length ? "length" : "value", lim);
        }
        return 0;
}

static int param_eval(rp_tpl_plan *p, rp_tpl__named *n, rp_tpl_error *err)
{
        _cleanup_free_ char *target = NULL;
        _cleanup_json_ json_t *v = NULL;
        int r;

        if (n->state == 2)
                return 0;
        target = rp_asprintf("parameters.%s", n->name);
        if (!target)
                return -ENOMEM;
        r = enter(p, n, "parameter", err, target);
        if (r < 0)
                return r;
        if (n->given) {
                v = json_incref(n->value);
        } else {
                const json_t *dv = json_object_get(n->decl, "defaultValue");
                if (!dv) {
                        r = rp_tpl__error(err, RP_TPL_EC_MISSING_PARAMETER, target,
                                          "The value for the template parameter '%s' is not "
                                          "provided. Please see "
                                          "https://aka.ms/arm-create-parameter-file for usage "
                                          "details.",
                                          n->name);
                        goto out;
                }
                rp_buf path;
                rp_buf_init(&path, 4096);
                r = rp_buf_printf(&path, "parameters.%s.defaultValue", n->name);
                if (r >= 0) {
                        rp_tpl__scope sc = {
                                .plan = p,
                                .flags = RP_TPL__ALLOW_UTCNOW | RP_TPL__DENY_VARIABLES,
                                .what = "parameter",
                                .who = n->name,
                                .path = &path,
                        };
                        r = rp_tpl__eval_value(&sc, dv, &v, err);
                }
                rp_buf_done(&path);
                if (r < 0)
                        goto out;
        }
        r = param_validate(p, n, v, err);
        if (r < 0)
                goto out;
        json_decref(n->value);
        n->value = TAKE_PTR(v);
out:
        leave(p, n, r);
        return r;
}

int rp_tpl__params_init(rp_tpl_plan *p, const json_t *given, rp_tpl_error *err)
{
        const json_t *decls = json_object_get(p->tpl, "parameters");
        const char *k;
        json_t *d;
        int r;

        if (decls && !json_is_object(decls))
                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, "parameters",
                                     "Deployment template validation failed: 'The template "
                                     "'parameters' must be an Object.'");
        if (json_object_size(decls) > RP_TPL__MAX_PARAMETERS)
                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, "parameters",
                                     "Deployment template validation failed: 'The template has "
                                     "%zu parameters, more than the limit of %d.'",
                                     json_object_size(decls), RP_TPL__MAX_PARAMETERS);
        json_object_foreach((json_t *)decls, k, d) {
                const char *type = json_string_value(json_object_get(d, "type"));
                int t = type ? param_type_from_string(type) : -EINVAL;
                char target[300];

                snprintf(target, sizeof(target), "parameters.%s", k);
                if (find_named(p->params, p->n_params, k))
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                                             "Deployment template validation failed: 'The "
                                             "template parameter '%s' is declared more than "
                                             "once.'",
                                             k);
                if (!json_is_object(d) || t < 0)
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                                             "Deployment template validation failed: 'The "
                                             "template parameter '%s' is not valid: its 'type' "
                                             "must be one of String, SecureString, Int, Bool, "
                                             "Object, SecureObject, Array, found '%.50s'.'",
                                             k, type ? type : "(none)");
                p->params[p->n_params++] = (rp_tpl__named){ .name = k, .decl = d, .type = t };
        }

        if (given && !json_is_object(given))
                return rp_tpl__error(err, RP_TPL_EC_INVALID_DEPLOYMENT, "parameters",
                                     "The deployment parameters must be an Object of "
                                     "{\"name\": {\"value\": ...}}.");
        json_object_foreach((json_t *)given, k, d) {
                rp_tpl__named *n = find_named(p->params, p->n_params, k);
                char target[300];

                snprintf(target, sizeof(target), "parameters.%s", k);
                if (!n) {
                        char names[400];
                        name_list(p->params, p->n_params, names, sizeof(names));
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_DEPLOYMENT, target,
                                             "The template parameters '%s' in the parameters "
                                             "file are not valid; they are not present in the "
                                             "original template and can therefore not be "
                                             "provided at deployment time. The only supported "
                                             "parameters for this template are '%s'.",
                                             k, names);
                }
                if (json_is_object(d) && json_object_get(d, "reference"))
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_DEPLOYMENT, target,
                                             "The template parameter '%s' is a Key Vault "
                                             "reference; Key Vault references are not supported.",
                                             k);
                if (!json_is_object(d) || !json_object_get(d, "value"))
                        return rp_tpl__error(err, RP_TPL_EC_INVALID_DEPLOYMENT, target,
                                             "The deployment parameter '%s' must be an Object "
                                             "with a 'value'.",
                                             k);
                n->value = json_incref(json_object_get(d, "value"));
                n->given = true;
        }

        for (size_t i = 0; i < p->n_params; i++) {
                r = param_eval(p, &p->params[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int rp_tpl_plan_parameters(const rp_tpl_plan *p, json_t **ret)
{
        _cleanup_json_ json_t *out = json_object();

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_params; i++) {
                const rp_tpl__named *n = &p->params[i];
                json_t *e = json_pack("{s:s}", "type", param_type_names[n->type]);
                if (!e || json_object_set_new(out, n->name, e) < 0)
                        return -ENOMEM;
                if (!param_secure(n->type) && n->value && json_object_set(e, "value", n->value) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Variables                                                                                   */

static int var_eval(rp_tpl_plan *p, rp_tpl__named *n, rp_tpl_error *err)
{
        _cleanup_json_ json_t *v = NULL;
        rp_buf path;
        rp_tpl__scope sc = { .plan = p, .what = "variable", .who = n->name, .path = &path };
        int r;

        if (n->state == 2)
                return 0;
        rp_buf_init(&path, 4096);
        if (n->is_copy)
                r = rp_buf_printf(&path, "variables.copy[%zu]", n->copy_idx);
        else
                r = rp_buf_printf(&path, "variables.%s", n->name);
        if (r < 0)
                return r;
        r = enter(p, n, "variable", err, path.ptr);
        if (r < 0) {
                rp_buf_done(&path);
                return r;
        }
        if (n->is_copy) {
                int64_t count = 0;
                size_t saved = rp_tpl__path_push(&sc, "count");
                r = rp_tpl__eval_count(&sc, json_object_get(n->decl, "count"), &count, err);
                rp_tpl__path_pop(&sc, saved);
                v = r >= 0 ? json_array() : NULL;
                if (r >= 0 && !v)
                        r = -ENOMEM;
                saved = rp_tpl__path_push(&sc, "input");
                for (int64_t k = 0; k < count && r >= 0; k++) {
                        rp_tpl__scope inner = sc;
                        json_t *item = NULL;
                        r = rp_tpl__scope_push_loop(&inner, err, n->name, k, false);
                        if (r >= 0)
                                r = rp_tpl__eval_value(&inner, json_object_get(n->decl, "input"),
                                                       &item, err);
                        if (r >= 0 && json_array_append_new(v, item) < 0)
                                r = -ENOMEM;
                }
                rp_tpl__path_pop(&sc, saved);
        } else {
                r = rp_tpl__eval_value(&sc, n->decl, &v, err);
        }
        if (r >= 0)
                n->value = TAKE_PTR(v);
        leave(p, n, r);
        rp_buf_done(&path);
        return r;
}

static int var_add(rp_tpl_plan *p, const char *name, const json_t *decl, bool is_copy,
                   size_t copy_idx, rp_tpl_error *err)
{
        char target[300];

        snprintf(target, sizeof(target), "variables.%s", name);
        if (find_named(p->vars, p->n_vars, name))
                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                                     "Deployment template validation failed: 'The template "
                                     "variable '%s' is declared more than once.'",
                                     name);
        if (p->n_vars >= RP_TPL__MAX_VARIABLES)
                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, "variables",
                                     "Deployment template validation failed: 'The template has "
                                     "more than %d variables.'",
                                     RP_TPL__MAX_VARIABLES);
        p->vars[p->n_vars++] = (rp_tpl__named){
                .name = name, .decl = decl, .is_copy = is_copy, .copy_idx = copy_idx
        };
        return 0;
}

int rp_tpl__vars_init(rp_tpl_plan *p, rp_tpl_error *err)
{
        const json_t *decls = json_object_get(p->tpl, "variables");
        const char *k;
        json_t *d;
        int r;

        if (decls && !json_is_object(decls))
                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, "variables",
                                     "Deployment template validation failed: 'The template "
                                     "'variables' must be an Object.'");
        json_object_foreach((json_t *)decls, k, d) {
                if (strcasecmp(k, "copy") != 0 || !json_is_array(d)) {
                        r = var_add(p, k, d, false, 0, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                size_t i;
                json_t *e;
                json_array_foreach(d, i, e) {
                        const char *name = json_string_value(json_object_get(e, "name"));
                        if (!name || !*name || !json_object_get(e, "input")) {
                                char target[64];
                                snprintf(target, sizeof(target), "variables.copy[%zu]", i);
                                return rp_tpl__error(err, RP_TPL_EC_INVALID_TEMPLATE, target,
                                                     "Deployment template validation failed: "
                                                     "'A variable copy loop must be an object "
                                                     "with 'name', 'count' and 'input'.'");
                        }
                        r = var_add(p, name, e, true, i, err);
                        if (r < 0)
                                return r;
                }
        }
        for (size_t i = 0; i < p->n_vars; i++) {
                r = var_eval(p, &p->vars[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int rp_tpl__named_get(rp_tpl__ev *ev, const rp_tpl__node *call, const char *name, bool param,
                      json_t **ret)
{
        rp_tpl_plan *p = ev->sc->plan;
        rp_tpl__named *n = param ? find_named(p->params, p->n_params, name)
                                 : find_named(p->vars, p->n_vars, name);
        int r;

        if (!n)
                return rp_tpl__fail(ev, call->pos,
                                    "The template %s '%.200s' is not found. Please see %s for "
                                    "usage details.",
                                    param ? "parameter" : "variable", name,
                                    param ? "https://aka.ms/arm-create-parameter-file"
                                          : "https://aka.ms/arm-template/#variables");
        r = param ? param_eval(p, n, ev->err) : var_eval(p, n, ev->err);
        if (r < 0) {
                ev->final = true;
                return r;
        }
        *ret = n->value;
        return 0;
}

void rp_tpl__named_done(rp_tpl_plan *p)
{
        for (size_t i = 0; i < p->n_params; i++)
                json_decref(TAKE_PTR(p->params[i].value));
        for (size_t i = 0; i < p->n_vars; i++)
                json_decref(TAKE_PTR(p->vars[i].value));
}
