/* deployments.c: Microsoft.Resources/deployments at resource-group scope: create (LRO, run by
 * the executor in deployments_exec.c), get, check existence, delete, list, validate, cancel,
 * export template, deployment operations, and the operation status URL.
 *
 * DESIGN: a PUT does all the checking a deployment can have before anything is deployed: the
 * body, the mode (Incremental only: Complete would delete what the template does not name),
 * the template and its parameters (the template library builds the plan: parameters,
 * variables, copy loops, conditions, dependencies, cycles), and every planned resource's type
 * and api-version against what rpd serves. So a bad template is a 400 that creates nothing.
 * Only then is the record written (Accepted, with one entry per planned resource), the
 * operation created and the deployment queued; the executor deploys the resources through the
 * same API the PUT came in by. Validate runs the same checks and stops there.
 *
 * Deployments and their operations live in the home region (the first), like resource-group
 * deletions: a group is global, so there is no better place for what belongs to it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client/client.h"
#include "deployments.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/macro.h"

/* ---------------------------------------------------------------- shared helpers */

rp_region *rp_deploy__home(rp_service *svc)
{
        return svc->regions[0];
}

bool rp_deploy__terminal(const char *state)
{
        return rp_streq(state, "Succeeded") || rp_streq(state, "Failed") ||
               rp_streq(state, "Canceled");
}

char *rp_deploy__duration(rp_usec_t start, rp_usec_t end, char buf[48])
{
        rp_usec_t d = end > start ? end - start : 0;
        snprintf(buf, 48, "PT%" PRIu64 ".%06" PRIu64 "S", (uint64_t)(d / RP_USEC_PER_SEC),
                 (uint64_t)(d % RP_USEC_PER_SEC));
        return buf;
}

static const char *istr(const rp_resource *rec, const char *k)
{
        return json_string_value(json_object_get(rec->internal, k));
}

void rp_deploy__ctx(const rp_resource *rec, rp_tpl_ctx *ret)
{
        *ret = (rp_tpl_ctx){
                .subscription_id = istr(rec, "sub"),
                .tenant_id = istr(rec, "tenant"),
                .resource_group = istr(rec, "rg"),
                .rg_location = istr(rec, "rg_location"),
                .deployment_name = json_string_value(json_object_get(rec->body, "name")),
                .now = (time_t)json_integer_value(json_object_get(rec->internal, "now")),
        };
}

static char *deployment_id(const char *sub, const char *rg, const char *name)
{
        return rp_arm_id_make(sub, rg, "Microsoft.Resources", "deployments", name, NULL);
}

static const char *state_of(const rp_resource *rec)
{
        return json_string_value(rp_json_get_path(rec->body, "properties.provisioningState"));
}

/* The served document: the stored one, with the duration of a running deployment brought up
 * to now. */
static json_t *deployment_present(rp_arm_req *r, rp_resource *rec)
{
        json_t *o = json_deep_copy(rec->body);
        json_t *p = json_object_get(o, "properties");
        json_t *start = json_object_get(rec->internal, "start");
        if (p && json_is_integer(start) && !rp_deploy__terminal(state_of(rec))) {
                char d[48];
                json_object_set_new(
                        p, "duration",
                        json_string(rp_deploy__duration((rp_usec_t)json_integer_value(start),
                                                        rp_now_realtime(), d)));
        }
        return o;
}

/* Load the deployment named by cap[0..2] from the home region (the group must exist). Replies
 * ResourceGroupNotFound or DeploymentNotFound. */
static int deployment_load(rp_arm_req *r, rp_resource **ret)
{
        if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) < 0)
                return -ENOENT;
        _cleanup_free_ char *id = deployment_id(r->cap[0], r->cap[1], r->cap[2]);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        int k = key ? rp_db_res_get(rp_deploy__home(r->svc)->db, key, ret) : -ENOENT;
        if (k == -ENOENT)
                rp_arm_reply_error(r, RP_EC_DEPLOYMENT_NOT_FOUND, NULL,
                                   "Deployment '%s' could not be found.", r->cap[2]);
        else if (k < 0)
                rp_arm_reply_internal(r, k, "deployment lookup");
        return k;
}

/* ---------------------------------------------------------------- checking a deployment */

/* What a PUT or validate asked for, and what checking it produced. */
typedef struct deploy_req {
        const char *mode;
        json_t *tpl;        /* borrowed from the body */
        json_t *parameters; /* borrowed, or NULL */
        json_t *tags;       /* borrowed, or NULL */
        json_t *debug;      /* borrowed, or NULL */
        rp_resource *group;
        const char *rg_location; /* borrowed from group */
        char *id, *key;
        time_t now;
        rp_tpl_plan *plan;
} deploy_req;

static void deploy_req_done(deploy_req *d)
{
        rp_tpl_plan_free(d->plan);
        rp_resource_free(d->group);
        rp_free(d->id);
        rp_free(d->key);
        *d = (deploy_req){};
}

static enum rp_ec tpl_ec(const char *code)
{
        static const struct {
                const char *code;
                enum rp_ec ec;
        } map[] = {
                { RP_TPL_EC_INVALID_TEMPLATE, RP_EC_INVALID_TEMPLATE },
                { RP_TPL_EC_INVALID_DEPLOYMENT, RP_EC_INVALID_TEMPLATE_DEPLOYMENT },
                /* ARM: a missing parameter is an InvalidTemplate (see TEMPLATE-REQUESTS.md) */
                { RP_TPL_EC_MISSING_PARAMETER, RP_EC_INVALID_TEMPLATE },
                { RP_TPL_EC_RESOURCE_NOT_FOUND, RP_EC_RESOURCE_NOT_FOUND },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (rp_streq(code, map[i].code))
                        return map[i].ec;
        return RP_EC_INVALID_TEMPLATE;
}

/* Reply a template error as ARM does: the code and message, the template path as target and
 * as a TemplateViolation in additionalInfo. */
static void reply_tpl_error(rp_arm_req *r, int k, const rp_tpl_error *e)
{
        if (k == -ENOMEM) {
                rp_arm_reply_internal(r, k, "template");
                return;
        }
        enum rp_ec ec = tpl_ec(e->code);
        const char *msg = *e->message   ? e->message
                          : k == -E2BIG ? "The template exceeds a limit of the template language."
                                        : rp_ec_message(ec);
        /* ARM words template errors "Deployment template validation failed: '<why>'." */
        _cleanup_free_ char *wrapped =
                ec == RP_EC_INVALID_TEMPLATE && *e->message &&
                                strncmp(msg, "Deployment template", 19) != 0
                        ? rp_asprintf("Deployment template validation failed: '%s'.", msg)
                        : NULL;
        if (wrapped)
                msg = wrapped;
        json_t *err = json_pack("{s:s, s:s}", "code", rp_ec_code(ec), "message", msg);
        if (err && *e->target) {
                json_object_set_new(err, "target", json_string(e->target));
                json_object_set_new(err, "additionalInfo",
                                    json_pack("[{s:s, s:{s:i, s:i, s:s}}]", "type",
                                              "TemplateViolation", "info", "lineNumber", 0,
                                              "linePosition", 0, "path", e->target));
        }
        log_info("arm error code=%s status=%u message='%s'", rp_ec_code(ec), rp_ec_status(ec), msg);
        rp_arm_reply_json(r, rp_ec_status(ec), err ? json_pack("{s:o}", "error", err) : NULL);
}

/* The resource types a template may deploy: those rpd serves a PUT for. */
static const char *const deployable_types[] = {
        "Microsoft.Compute/disks",
        "Microsoft.Compute/virtualMachines",
        "Microsoft.Compute/restorePointCollections",
        "Microsoft.Compute/restorePointCollections/restorePoints",
};

static bool type_deployable(const char *type)
{
        for (size_t i = 0; i < ELEMENTSOF(deployable_types); i++)
                if (rp_strcaseeq(type, deployable_types[i]))
                        return true;
        return false;
}

/* Every planned resource: a type rpd deploys, an api-version of its family, in this group,
 * and no id twice. Replies on failure. */
static int check_plan(rp_arm_req *r, deploy_req *d)
{
        size_t n = rp_tpl_plan_count(d->plan);
        for (size_t i = 0; i < n; i++) {
                const rp_tpl_resource *res = rp_tpl_plan_resource(d->plan, i);
                if (!type_deployable(res->type)) {
                        rp_arm_reply_error(r, RP_EC_NO_REGISTERED_PROVIDER, res->path,
                                           "No registered resource provider found for location "
                                           "'%s' and API version '%s' for type '%s'. rpd "
                                           "deploys Microsoft.Compute/disks, virtualMachines, "
                                           "restorePointCollections and "
                                           "restorePointCollections/restorePoints.",
                                           d->rg_location, res->api_version, res->type);
                        return -EINVAL;
                }
                enum rp_arm_family f = rp_arm_apiver_family_of_type(res->type);
                if (rp_arm_apiver_check(f, res->api_version) < 0) {
                        rp_arm_reply_error(r, RP_EC_NO_REGISTERED_PROVIDER, res->path,
                                           "No registered resource provider found for location "
                                           "'%s' and API version '%s' for type '%s'. The "
                                           "supported api-versions are '%s'.",
                                           d->rg_location, rp_strempty(res->api_version), res->type,
                                           rp_arm_apiver_supported(f));
                        return -EINVAL;
                }
                _cleanup_(rp_arm_id_freep) rp_arm_id *pid = NULL;
                if (rp_arm_id_parse(res->id, &pid) < 0 || !pid->resource_group ||
                    !rp_strcaseeq(pid->subscription, r->cap[0]) ||
                    !rp_strcaseeq(pid->resource_group, r->cap[1])) {
                        rp_arm_reply_error(r, RP_EC_INVALID_TEMPLATE_DEPLOYMENT, res->path,
                                           "The resource '%s' is not in the resource group "
                                           "'%s' of the deployment: rpd deploys only into the "
                                           "deployment's own group.",
                                           res->id, r->cap[1]);
                        return -EINVAL;
                }
                for (size_t j = 0; j < i; j++)
                        if (rp_arm_id_equal(rp_tpl_plan_resource(d->plan, j)->id, res->id)) {
                                rp_arm_reply_error(r, RP_EC_INVALID_TEMPLATE, res->path,
                                                   "Deployment template validation failed: "
                                                   "'The resource '%s' is defined multiple "
                                                   "times in a template.'.",
                                                   res->id);
                                return -EINVAL;
                        }
        }
        return 0;
}

/* Parse and check the body of a PUT or validate, and build the plan. Replies on failure. */
static int deploy_check(rp_arm_req *r, deploy_req *d)
{
        json_t *link = NULL, *plink = NULL, *on_error = NULL;
        const char *location = NULL;
        const rp_json_spec spec[] = {
                { "properties", RP_JSON_OBJECT, true, NULL },
                { "properties.mode", RP_JSON_STRING, true, &d->mode },
                { "properties.template", RP_JSON_OBJECT, false, &d->tpl },
                { "properties.templateLink", RP_JSON_OBJECT, false, &link },
                { "properties.parameters", RP_JSON_OBJECT, false, &d->parameters },
                { "properties.parametersLink", RP_JSON_OBJECT, false, &plink },
                { "properties.debugSetting", RP_JSON_OBJECT, false, &d->debug },
                { "properties.onErrorDeployment", RP_JSON_OBJECT, false, &on_error },
                { "tags", RP_JSON_OBJECT, false, &d->tags },
                { "location", RP_JSON_STRING, false, &location },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_check_name(r, RP_DEPLOYMENT_DISPLAY, r->cap[2]) < 0 ||
            rp_compute_parse(r, spec) < 0 || rp_compute_check_tags(r, d->tags) < 0 ||
            rp_compute_require_group(r, r->cap[0], r->cap[1], &d->group) < 0)
                return -EINVAL;
        if (strcasecmp(d->mode, "Incremental") != 0) {
                rp_arm_reply_error(r, RP_EC_DEPLOYMENT_MODE_UNSUPPORTED, "properties.mode",
                                   "The deployment mode '%s' is not supported: rpd deploys in "
                                   "'Incremental' mode only (Complete mode would delete every "
                                   "resource of the group that the template does not name).",
                                   d->mode);
                return -EINVAL;
        }
        if (link || plink) {
                rp_arm_reply_error(r, RP_EC_INVALID_TEMPLATE_DEPLOYMENT,
                                   link ? "properties.templateLink" : "properties.parametersLink",
                                   "rpd does not fetch linked templates or parameters: send "
                                   "them inline in properties.template and "
                                   "properties.parameters.");
                return -EINVAL;
        }
        if (on_error) {
                rp_arm_reply_error(r, RP_EC_INVALID_TEMPLATE_DEPLOYMENT,
                                   "properties.onErrorDeployment",
                                   "onErrorDeployment (redeploying an earlier deployment on "
                                   "failure) is not supported by rpd.");
                return -EINVAL;
        }
        if (!d->tpl) {
                rp_arm_reply_error(r, RP_EC_INVALID_REQUEST_CONTENT, "properties.template",
                                   "The request content was invalid and could not be "
                                   "deserialized: 'properties.template' is required.");
                return -EINVAL;
        }
        d->rg_location = json_string_value(json_object_get(d->group->body, "location"));
        d->id = deployment_id(r->cap[0], r->cap[1], r->cap[2]);
        d->key = d->id ? rp_arm_id_key(d->id) : NULL;
        if (!d->key) {
                rp_arm_reply_internal(r, -ENOMEM, "deployment id");
                return -ENOMEM;
        }
        d->now = time(NULL);
        const rp_tpl_ctx ctx = {
                .subscription_id = r->cap[0],
                .tenant_id = rp_token_key_tenant(r->svc->token_key),
                .resource_group = r->cap[1],
                .rg_location = d->rg_location,
                .deployment_name = r->cap[2],
                .now = d->now,
        };
        rp_tpl_error e = {};
        int k = rp_tpl_plan_new(d->tpl, d->parameters, &ctx, &d->plan, &e);
        if (k < 0) {
                reply_tpl_error(r, k, &e);
                return k;
        }
        return check_plan(r, d);
}

/* templateHash: ARM shows a decimal number derived from the template. */
static json_t *template_hash(const json_t *tpl)
{
        _cleanup_free_ char *s = json_dumps(tpl, JSON_COMPACT | JSON_SORT_KEYS);
        uint8_t h[RP_SHA256_LEN];
        uint64_t v = 0;
        char out[24];
        if (!s)
                return NULL;
        rp_sha256(s, strlen(s), h);
        for (int i = 0; i < 8; i++)
                v = v << 8 | h[i];
        snprintf(out, sizeof out, "%" PRIu64, v);
        return json_string(out);
}

/* "Microsoft.Compute/restorePointCollections/restorePoints" -> namespace and the rest. */
static void split_type(const char *type, char *ns, size_t ns_len, const char **rest)
{
        const char *slash = strchr(type, '/');
        size_t n = slash ? (size_t)(slash - type) : strlen(type);
        snprintf(ns, ns_len, "%.*s", (int)n, type);
        *rest = slash ? slash + 1 : "";
}

/* properties.providers: [{namespace, resourceTypes:[{resourceType}]}], one per namespace. */
static json_t *plan_providers(const rp_tpl_plan *plan)
{
        json_t *out = json_array();
        size_t n = rp_tpl_plan_count(plan);
        for (size_t i = 0; out && i < n; i++) {
                const rp_tpl_resource *res = rp_tpl_plan_resource(plan, i);
                char ns[128];
                const char *rest;
                split_type(res->type, ns, sizeof ns, &rest);
                json_t *prov = NULL, *p;
                size_t j;
                json_array_foreach(out, j, p) {
                        if (rp_strcaseeq(json_string_value(json_object_get(p, "namespace")), ns))
                                prov = p;
                }
                if (!prov) {
                        prov = json_pack("{s:s, s:[]}", "namespace", ns, "resourceTypes");
                        json_array_append_new(out, prov);
                }
                json_t *types = json_object_get(prov, "resourceTypes"), *t;
                bool seen = false;
                json_array_foreach(types, j, t) {
                        if (rp_strcaseeq(json_string_value(json_object_get(t, "resourceType")),
                                         rest))
                                seen = true;
                }
                if (!seen)
                        json_array_append_new(types, json_pack("{s:s}", "resourceType", rest));
        }
        return out;
}

static json_t *basic_dependency(const rp_tpl_resource *res)
{
        return json_pack("{s:s, s:s, s:s}", "id", res->id, "resourceType", res->type,
                         "resourceName", res->name);
}

/* properties.dependencies: [{id, resourceType, resourceName, dependsOn:[...]}]. */
static json_t *plan_dependencies(const rp_tpl_plan *plan)
{
        json_t *out = json_array();
        size_t n = rp_tpl_plan_count(plan);
        for (size_t i = 0; out && i < n; i++) {
                const rp_tpl_resource *res = rp_tpl_plan_resource(plan, i);
                if (res->n_deps == 0)
                        continue;
                json_t *on = json_array();
                for (size_t j = 0; j < res->n_deps; j++)
                        json_array_append_new(
                                on, basic_dependency(rp_tpl_plan_resource(plan, res->deps[j])));
                json_t *dep = basic_dependency(res);
                json_object_set_new(dep, "dependsOn", on);
                json_array_append_new(out, dep);
        }
        return out;
}

/* The properties a PUT and a validate answer with. */
static json_t *deploy_properties(rp_arm_req *r, deploy_req *d, const char *state)
{
        json_t *params = NULL;
        if (rp_tpl_plan_parameters(d->plan, &params) < 0)
                return NULL;
        const char *corr = rp_http_header(r->http, "x-ms-correlation-request-id");
        char dur[48];
        json_t *p = json_pack("{s:o, s:o, s:s, s:s, s:o, s:s, s:o*, s:o, s:o}", "templateHash",
                              template_hash(d->tpl), "parameters", params, "mode", "Incremental",
                              "provisioningState", state, "timestamp", rp_compute_now(), "duration",
                              rp_deploy__duration(0, 0, dur), "correlationId",
                              corr && *corr ? json_string(corr) : rp_compute_guid(), "providers",
                              plan_providers(d->plan), "dependencies", plan_dependencies(d->plan));
        if (p && d->debug)
                json_object_set(p, "debugSetting", d->debug);
        return p;
}

/* internal.resources: one entry per planned resource, NotStarted. */
static json_t *plan_entries(const rp_tpl_plan *plan)
{
        json_t *out = json_array();
        size_t n = rp_tpl_plan_count(plan);
        for (size_t i = 0; out && i < n; i++) {
                const rp_tpl_resource *res = rp_tpl_plan_resource(plan, i);
                uint8_t raw[8];
                char opid[17];
                if (rp_random_bytes(raw, sizeof raw) < 0) {
                        json_decref(out);
                        return NULL;
                }
                rp_hex_encode(raw, sizeof raw, opid);
                for (char *c = opid; *c; c++)
                        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
                json_t *deps = json_array();
                for (size_t j = 0; j < res->n_deps; j++)
                        json_array_append_new(deps, json_integer((json_int_t)res->deps[j]));
                json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "id",
                                                     res->id, "type", res->type, "name", res->name,
                                                     "api_version", res->api_version, "deps", deps,
                                                     "state", "NotStarted", "op", opid));
        }
        return out;
}

/* ---------------------------------------------------------------- create, validate */

void rp_h_deployment_put(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(deploy_req_done) deploy_req d = {};
        if (deploy_check(r, &d) < 0)
                return;
        rp_region *home = rp_deploy__home(r->svc);
        _cleanup_(rp_resource_freep) rp_resource *rec = NULL;
        int k = rp_db_res_get(home->db, d.key, &rec);
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "deployment lookup");
                return;
        }
        if (rec && !rp_deploy__terminal(state_of(rec))) {
                rp_arm_reply_error(
                        r, RP_EC_DEPLOYMENT_ACTIVE, NULL,
                        "Unable to edit or replace deployment '%s': previous "
                        "deployment from '%s' is still active. Cancel it or wait "
                        "for it to finish.",
                        r->cap[2],
                        json_string_value(rp_json_get_path(rec->body, "properties.timestamp"))
                                ?: "?");
                return;
        }
        bool created = rec == NULL;
        if (!rec)
                rec = rp_compute_resource_new(d.id, RP_TYPE_DEPLOYMENT, r->cap[0], r->cap[1]);
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        json_t *props = rec ? deploy_properties(r, &d, "Accepted") : NULL;
        json_t *entries = props ? plan_entries(d.plan) : NULL;
        if (!entries) {
                json_decref(props);
                rp_arm_reply_internal(r, -ENOMEM, "deployment");
                return;
        }
        k = rp_arm_op_create(r->svc, home, rec->sub, "deployment", rec->key, NULL, false, &op);
        if (k < 0) {
                json_decref(props);
                json_decref(entries);
                rp_arm_reply_internal(r, k, "deployment operation");
                return;
        }
        json_decref(rec->body);
        json_decref(rec->internal);
        rec->body = json_pack("{s:s, s:s, s:s, s:o}", "id", d.id, "name", r->cap[2], "type",
                              RP_DEPLOYMENT_DISPLAY, "properties", props);
        if (rec->body && d.tags)
                json_object_set(rec->body, "tags", d.tags);
        rec->internal =
                json_pack("{s:s, s:O, s:O?, s:I, s:s, s:s, s:s, s:s, s:o}", "op", op->id,
                          "template", d.tpl, "parameters", d.parameters, "now", (json_int_t)d.now,
                          "tenant", rp_token_key_tenant(r->svc->token_key), "sub", r->cap[0], "rg",
                          r->cap[1], "rg_location", d.rg_location, "resources", entries);
        if (!rec->body || !rec->internal) {
                rp_arm_reply_internal(r, -ENOMEM, "deployment");
                return;
        }
        k = rp_db_res_put(home->db, rec);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "deployment write");
                return;
        }
        log_info("deployment '%s' accepted: %zu resources", d.id, rp_tpl_plan_count(d.plan));
        (void)rp_deployer_submit(r->svc->deployer, rec->key);

        _cleanup_free_ char *base = rp_arm_base_url(r);
        _cleanup_free_ char *async = rp_asprintf(
                "%s/subscriptions/%s/resourcegroups/%s/providers/Microsoft.Resources/deployments/"
                "%s/operationStatuses/%s?api-version=%s",
                base, r->cap[0], r->cap[1], r->cap[2], op->id, r->api_version);
        _cleanup_free_ char *loc = rp_asprintf("%s/subscriptions/%s/operationresults/%s"
                                               "?api-version=%s",
                                               base, r->cap[0], op->id, r->api_version);
        if (async && loc) {
                rp_http_add_header(r->http, "Azure-AsyncOperation", async);
                rp_http_add_header(r->http, "Location", loc);
                rp_http_add_header(r->http, "Retry-After", "1");
        }
        rp_compute_reply_resource(r, created ? 201 : 200, deployment_present(r, rec), rec);
}

void rp_h_deployment_validate(rp_arm_req *r)
{
        _cleanup_(deploy_req_done) deploy_req d = {};
        if (deploy_check(r, &d) < 0)
                return;
        json_t *props = deploy_properties(r, &d, "Succeeded");
        json_t *validated = json_array();
        size_t n = rp_tpl_plan_count(d.plan);
        for (size_t i = 0; validated && i < n; i++)
                json_array_append_new(
                        validated, json_pack("{s:s}", "id", rp_tpl_plan_resource(d.plan, i)->id));
        if (!props || !validated) {
                json_decref(props);
                json_decref(validated);
                rp_arm_reply_internal(r, -ENOMEM, "validate");
                return;
        }
        json_object_set_new(props, "validatedResources", validated);
        rp_arm_reply_json(r, 200,
                          json_pack("{s:s, s:s, s:s, s:o}", "id", d.id, "name", r->cap[2], "type",
                                    RP_DEPLOYMENT_DISPLAY, "properties", props));
}

/* ---------------------------------------------------------------- get, list, delete */

void rp_h_deployment_get(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *rec = NULL;
        if (deployment_load(r, &rec) < 0)
                return;
        rp_compute_reply_resource(r, 200, deployment_present(r, rec), rec);
}

void rp_h_deployment_head(rp_arm_req *r)
{
        _cleanup_free_ char *id = deployment_id(r->cap[0], r->cap[1], r->cap[2]);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        _cleanup_(rp_resource_freep) rp_resource *rec = NULL;
        int k = key ? rp_db_res_get(rp_deploy__home(r->svc)->db, key, &rec) : -ENOENT;
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "deployment lookup");
                return;
        }
        rp_arm_reply_empty(r, k == 0 ? 204 : 404);
}

void rp_h_deployment_list(rp_arm_req *r)
{
        if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) < 0)
                return;
        /* the home region is the first: list only there */
        rp_compute_list(r, RP_TYPE_DEPLOYMENT, r->cap[0], r->cap[1], true, deployment_present);
}

void rp_h_deployment_delete(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        rp_region *home = rp_deploy__home(r->svc);
        _cleanup_free_ char *id = deployment_id(r->cap[0], r->cap[1], r->cap[2]);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        _cleanup_(rp_resource_freep) rp_resource *rec = NULL;
        int k = key ? rp_db_res_get(home->db, key, &rec) : -ENOENT;
        if (k == -ENOENT) {
                rp_arm_reply_empty(r, 204);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "deployment lookup");
                return;
        }
        if (!rp_deploy__terminal(state_of(rec))) {
                rp_arm_reply_error(r, RP_EC_DEPLOYMENT_ACTIVE, NULL,
                                   "The deployment '%s' cannot be deleted while it is %s: "
                                   "cancel it first.",
                                   r->cap[2], rp_strempty(state_of(rec)));
                return;
        }
        /* Deleting a deployment removes its record only, never the resources it deployed. */
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = rp_db_res_delete(home->db, key);
        if (k >= 0)
                k = rp_arm_op_create(r->svc, home, rec->sub, "deployment.delete", key, NULL, false,
                                     &op);
        if (k >= 0)
                k = rp_arm_op_finish(home, op, "Succeeded", 204, NULL, RP_EC_NONE, NULL);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "deployment delete");
                return;
        }
        rp_arm_lro_headers(r, home, op, true);
        rp_arm_reply_empty(r, 202);
}

/* A deployment that goes with its group while it runs: its operation ends Canceled (the
 * executor stops at its next write, finding the record gone). */
static int end_with_group(rp_region *home, const rp_resource *rec)
{
        const char *op_id = json_string_value(json_object_get(rec->internal, "op"));
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        int k = op_id ? rp_db_op_get(home->db, op_id, &op) : -ENOENT;
        if (k == -ENOENT || (k >= 0 && !rp_streq(op->status, "InProgress")))
                return 0;
        if (k < 0)
                return k;
        return rp_arm_op_finish(home, op, "Canceled", 0, NULL, RP_EC_DEPLOYMENT_CANCELED,
                                "The deployment was canceled: its resource group was deleted.");
}

int rp_deploy_remove_group(rp_service *svc, const char *sub, const char *rg)
{
        rp_region *home = rp_deploy__home(svc);
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DEPLOYMENT, .sub = sub, .rg = rg };
        int k = rp_db_res_list(home->db, &f, &list, &n);
        for (size_t i = 0; k >= 0 && i < n; i++) {
                if (!rp_deploy__terminal(state_of(list[i])))
                        k = end_with_group(home, list[i]);
                if (k >= 0)
                        k = rp_db_res_delete(home->db, list[i]->key);
        }
        rp_resource_list_free(list, n);
        return k < 0 ? k : 0;
}

/* ---------------------------------------------------------------- cancel, export */

void rp_h_deployment_cancel(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *rec = NULL;
        if (deployment_load(r, &rec) < 0)
                return;
        if (rp_deploy__terminal(state_of(rec))) {
                rp_arm_reply_error(r, RP_EC_DEPLOYMENT_NOT_ACTIVE, NULL,
                                   "The deployment '%s' cannot be canceled: it is %s.", r->cap[2],
                                   rp_strempty(state_of(rec)));
                return;
        }
        json_object_set_new(rec->internal, "cancel", json_true());
        int k = rp_db_res_put(rp_deploy__home(r->svc)->db, rec);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "deployment cancel");
                return;
        }
        log_info("deployment '%s' cancel requested", rec->id);
        rp_arm_reply_empty(r, 204);
}

void rp_h_deployment_export(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *rec = NULL;
        if (deployment_load(r, &rec) < 0)
                return;
        rp_arm_reply_json(
                r, 200, json_pack("{s:O}", "template", json_object_get(rec->internal, "template")));
}

/* ---------------------------------------------------------------- deployment operations */

static const char *status_name(long status)
{
        switch (status) {
        case 200:
                return "OK";
        case 201:
                return "Created";
        case 202:
                return "Accepted";
        case 204:
                return "NoContent";
        default:
                return rp_client_status_code_name(status);
        }
}

static json_t *time_of(const json_t *e, const char *k)
{
        char t[RP_RFC3339_LEN];
        json_t *v = json_object_get(e, k);
        return json_is_integer(v) ? json_string(rp_time_format((rp_usec_t)json_integer_value(v), t))
                                  : NULL;
}

/* A DeploymentOperation of the entry @p e of deployment @p rec. */
static json_t *operation_present(const rp_resource *rec, const json_t *e)
{
        const char *state = json_string_value(json_object_get(e, "state"));
        json_t *start = json_object_get(e, "start"), *end = json_object_get(e, "end");
        rp_usec_t t0 = (rp_usec_t)json_integer_value(start);
        rp_usec_t t1 =
                json_is_integer(end) ? (rp_usec_t)json_integer_value(end) : rp_now_realtime();
        char dur[48];
        const char *opid = json_string_value(json_object_get(e, "op"));
        json_t *p = json_pack("{s:s, s:s, s:o*, s:s, s:s, s:{s:s, s:s, s:s, s:s}}",
                              "provisioningOperation", "Create", "provisioningState", state,
                              "timestamp", time_of(e, json_is_integer(end) ? "end" : "start"),
                              "duration", rp_deploy__duration(t0, t1, dur), "trackingId", opid,
                              "targetResource", "id", json_string_value(json_object_get(e, "id")),
                              "resourceType", json_string_value(json_object_get(e, "type")),
                              "resourceName", json_string_value(json_object_get(e, "name")),
                              "apiVersion", json_string_value(json_object_get(e, "api_version")));
        json_t *st = json_object_get(e, "status");
        if (p && json_is_integer(st))
                json_object_set_new(p, "statusCode",
                                    json_string(status_name((long)json_integer_value(st))));
        json_t *err = json_object_get(e, "error");
        if (p && err)
                json_object_set_new(p, "statusMessage",
                                    json_pack("{s:s, s:O}", "status", "Failed", "error", err));
        return json_pack("{s:s++, s:s, s:o}", "id", rec->id, "/operations/", opid, "operationId",
                         opid, "properties", p);
}

void rp_h_deployment_ops_list(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *rec = NULL;
        if (deployment_load(r, &rec) < 0)
                return;
        json_t *items = json_array(), *e;
        size_t i;
        json_array_foreach(json_object_get(rec->internal, "resources"), i, e) {
                /* as ARM: only the resources the deployment has started */
                if (!rp_streq(json_string_value(json_object_get(e, "state")), "NotStarted"))
                        json_array_append_new(items, operation_present(rec, e));
        }
        if (!items) {
                rp_arm_reply_internal(r, -ENOMEM, "deployment operations");
                return;
        }
        rp_arm_reply_list(r, items, NULL);
}

void rp_h_deployment_op_get(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *rec = NULL;
        if (deployment_load(r, &rec) < 0)
                return;
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(rec->internal, "resources"), i, e) {
                if (rp_strcaseeq(json_string_value(json_object_get(e, "op")), r->cap[3]) &&
                    !rp_streq(json_string_value(json_object_get(e, "state")), "NotStarted")) {
                        rp_arm_reply_json(r, 200, operation_present(rec, e));
                        return;
                }
        }
        rp_arm_reply_error(r, RP_EC_NOT_FOUND, NULL,
                           "Deployment operation '%s' of deployment '%s' could not be found.",
                           r->cap[3], r->cap[2]);
}

/* GET .../deployments/{name}/operationStatuses/{id}, at group or subscription scope:
 * {"status": Running|Succeeded|Failed|Canceled, "error"}. */
void rp_h_deployment_op_status(rp_arm_req *r)
{
        const char *sub = r->cap[0], *opid = r->cap[r->n_cap - 1];
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        int k = rp_db_op_get(rp_deploy__home(r->svc)->db, opid, &op);
        if (k == 0 && strcasecmp(op->sub, sub) != 0)
                k = -ENOENT;
        if (k == -ENOENT) {
                rp_arm_reply_error(r, RP_EC_NOT_FOUND, NULL, "The operation '%s' was not found.",
                                   opid);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "operation lookup");
                return;
        }
        bool running = rp_streq(op->status, "InProgress");
        json_t *o = json_pack("{s:s}", "status", running ? "Running" : op->status);
        if (o && op->error)
                json_object_set(o, "error", op->error);
        if (running)
                rp_http_add_header(r->http, "Retry-After", "1");
        rp_arm_reply_json(r, 200, o);
}
