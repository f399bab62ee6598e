/* compute_common.c: helpers shared by the handlers (validation replies, groups, regions,
 * paged lists across regions, ETags). */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arm/arm_names.h"
#include "compute.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/parse.h"

static char *lower_dup(const char *s)
{
        char *d = rp_strdup(s);
        for (char *p = d; p && *p; p++)
                *p = (char)tolower((unsigned char)*p);
        return d;
}

int rp_compute_parse(rp_arm_req *r, const rp_json_spec *specs)
{
        const char *path = NULL;
        int k = rp_json_parse(r->body, specs, &path);
        if (k == -ENOENT) {
                if (rp_streq(path, "location"))
                        rp_arm_reply_error(r, RP_EC_MISSING_LOCATION, "location",
                                           "The location property is required for this "
                                           "definition.");
                else
                        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, path,
                                           "Required parameter '%s' is missing (null).", path);
                return k;
        }
        if (k < 0) {
                const rp_json_spec *s = specs;
                while (s->path && !rp_streq(s->path, path))
                        s++;
                rp_arm_reply_error(r, RP_EC_INVALID_REQUEST_CONTENT, path,
                                   "The request content was invalid and could not be "
                                   "deserialized: the property '%s' must be of type %s.",
                                   path, rp_json_kind_to_string(s->path ? s->kind : RP_JSON_ANY));
                return k;
        }
        return 0;
}

int rp_compute_check_name(rp_arm_req *r, const char *full_type, const char *name)
{
        _cleanup_free_ char *msg = NULL;
        if (rp_arm_name_check(full_type, name, &msg) >= 0)
                return 0;
        rp_arm_reply_error(r, RP_EC_INVALID_RESOURCE_NAME, "name", "%s",
                           msg ? msg : "The resource name is invalid.");
        return -EINVAL;
}

int rp_compute_check_tags(rp_arm_req *r, const json_t *tags)
{
        _cleanup_free_ char *msg = NULL;
        const char *target = "tags";
        if (!tags)
                return 0;
        if (rp_arm_tags_check(tags, &msg, &target) >= 0)
                return 0;
        rp_arm_reply_error(r, RP_EC_INVALID_TAG, target ? target : "tags", "%s",
                           msg ? msg : "The tags are invalid.");
        return -EINVAL;
}

int rp_compute_require_group(rp_arm_req *r, const char *sub, const char *rg, rp_resource **ret)
{
        _cleanup_free_ char *id = rp_arm_id_make(sub, rg, NULL, NULL);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        if (!key) {
                rp_arm_reply_error(r, RP_EC_RESOURCE_GROUP_NOT_FOUND, NULL,
                                   "Resource group '%s' could not be found.", rg);
                return -ENOENT;
        }
        rp_resource *g = NULL;
        int k = rp_service_find(r->svc, key, NULL, &g);
        if (k == -ENOENT) {
                rp_arm_reply_error(r, RP_EC_RESOURCE_GROUP_NOT_FOUND, NULL,
                                   "Resource group '%s' could not be found.", rg);
                return k;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "resource group lookup");
                return k;
        }
        /* Nothing new goes into a group that is being deleted (ARM's answer); reads go on. */
        const char *st =
                json_string_value(rp_json_get_path(g->body, "properties.provisioningState"));
        if (rp_streq(st, "Deleting") && !rp_streq(r->http->method, "GET") &&
            !rp_streq(r->http->method, "HEAD")) {
                rp_arm_reply_error(r, RP_EC_GROUP_BEING_DELETED, NULL,
                                   "The resource group '%s' is in deprovisioning state and "
                                   "cannot perform this operation.",
                                   rg);
                rp_resource_free(g);
                return -EBUSY;
        }
        if (ret)
                *ret = g;
        else
                rp_resource_free(g);
        return 0;
}

int rp_compute_require_region(rp_arm_req *r, const char *location, rp_region **ret)
{
        rp_region *reg = rp_service_region(r->svc, location);
        if (!reg) {
                _cleanup_free_ char *names = NULL;
                rp_buf b;
                rp_buf_init(&b, 4096);
                for (size_t i = 0; i < r->svc->n_regions; i++)
                        rp_buf_printf(&b, "%s%s", i ? "," : "", r->svc->regions[i]->name);
                names = rp_buf_detach(&b);
                rp_arm_reply_error(r, RP_EC_LOCATION_NOT_AVAILABLE, "location",
                                   "The provided location '%s' is not available for this "
                                   "resource type. List of available regions is '%s'.",
                                   location, names ? names : "");
                return -ENOENT;
        }
        *ret = reg;
        return 0;
}

void rp_compute_reply_not_found(rp_arm_req *r, const char *type_display, const char *name,
                                const char *rg)
{
        rp_arm_reply_error(r, RP_EC_RESOURCE_NOT_FOUND, NULL,
                           "The Resource '%s/%s' under resource group '%s' was not found. For "
                           "more details please go to https://aka.ms/ARMResourceNotFoundFix",
                           type_display, name, rg);
}

rp_resource *rp_compute_resource_new(const char *id, const char *type, const char *sub,
                                     const char *rg)
{
        _cleanup_(rp_resource_freep) rp_resource *res = rp_calloc(1, sizeof *res);
        _cleanup_(rp_arm_id_freep) rp_arm_id *parsed = NULL;
        if (!res || rp_arm_id_parse(id, &parsed) < 0)
                return NULL;
        res->id = rp_strdup(id);
        res->key = rp_arm_id_key(id);
        res->type = lower_dup(type);
        char *parent = rp_arm_id_parent(parsed);
        res->parent_key = parent ? rp_arm_id_key(parent) : NULL;
        rp_free(parent);
        res->sub = lower_dup(sub);
        res->rg = rg ? lower_dup(rg) : NULL;
        if (!res->id || !res->key || !res->type || !res->parent_key || !res->sub ||
            (rg && !res->rg))
                return NULL;
        return TAKE_PTR(res);
}

/* Module-private on purpose: the lock protects the records the compute handlers and jobs
 * own, not the service (see rp_compute_model_lock() in compute.h). */
static pthread_mutex_t model_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void *rp_compute_model_lock(void)
{
        pthread_mutex_lock(&model_lock);
        return &model_lock;
}

void rp_compute_model_unlockp(void **token)
{
        if (*token)
                pthread_mutex_unlock(*token);
}

json_t *rp_compute_now(void)
{
        char t[RP_RFC3339_LEN];
        return json_string(rp_time_format(rp_now_realtime(), t));
}

json_t *rp_compute_guid(void)
{
        char u[RP_UUID_STR_LEN + 1];
        if (rp_uuid4(u) < 0)
                return NULL;
        return json_string(u);
}

int rp_compute_check_etag(rp_arm_req *r, const rp_resource *cur)
{
        const char *im = rp_http_header(r->http, "If-Match");
        const char *inm = rp_http_header(r->http, "If-None-Match");
        if (im && *im) {
                if (!cur || (strcmp(im, "*") != 0 && !rp_streq(im, cur->etag))) {
                        rp_arm_reply_error(r, RP_EC_PRECONDITION_FAILED, NULL,
                                           "The condition specified using HTTP conditional "
                                           "header(s) is not met (If-Match '%s').",
                                           im);
                        return -EEXIST;
                }
        }
        if (inm && *inm && cur) {
                if (strcmp(inm, "*") == 0 || rp_streq(inm, cur->etag)) {
                        rp_arm_reply_error(r, RP_EC_PRECONDITION_FAILED, NULL,
                                           "The condition specified using HTTP conditional "
                                           "header(s) is not met (If-None-Match '%s').",
                                           inm);
                        return -EEXIST;
                }
        }
        return 0;
}

/* Paging token: "<region index>.<seq>": the next page starts after seq in that region. */
void rp_compute_list(rp_arm_req *r, const char *type, const char *sub, const char *rg,
                     bool first_region_only, json_t *(*present)(rp_arm_req *r, rp_resource *res))
{
        _cleanup_free_ char *lsub = lower_dup(sub), *lrg = rg ? lower_dup(rg) : NULL;
        size_t region = 0;
        int64_t after = 0;
        const char *tok = rp_http_query(r->http, "$skiptoken");
        if (tok) {
                const char *dot = strchr(tok, '.');
                uint64_t a, b;
                char first[24];
                size_t fl = dot ? (size_t)(dot - tok) : 0;
                if (!dot || fl == 0 || fl >= sizeof first) {
                        rp_arm_reply_error(r, RP_EC_LIST_TOKEN_INVALID, "$skiptoken", NULL);
                        return;
                }
                memcpy(first, tok, fl);
                first[fl] = '\0';
                if (rp_parse_u64(first, &a) < 0 || rp_parse_u64(dot + 1, &b) < 0 ||
                    a >= r->svc->n_regions || b > INT64_MAX) {
                        rp_arm_reply_error(r, RP_EC_LIST_TOKEN_INVALID, "$skiptoken", NULL);
                        return;
                }
                region = a;
                after = (int64_t)b;
        }
        json_t *items = json_array();
        if (!items) {
                rp_arm_reply_internal(r, -ENOMEM, "list");
                return;
        }
        size_t want = RP_LIST_PAGE_SIZE;
        size_t n_regions = first_region_only ? 1 : r->svc->n_regions;
        char next[48] = "";
        for (; region < n_regions; region++, after = 0) {
                rp_resource **list = NULL;
                size_t n = 0;
                rp_db_filter f = { .type = type,
                                   .sub = lsub,
                                   .rg = lrg,
                                   .after_seq = after,
                                   .limit = want - json_array_size(items) + 1 };
                int k = rp_db_res_list(r->svc->regions[region]->db, &f, &list, &n);
                if (k < 0) {
                        json_decref(items);
                        rp_arm_reply_internal(r, k, "list");
                        return;
                }
                for (size_t i = 0; i < n; i++) {
                        if (json_array_size(items) == want) {
                                /* one more exists: the page ends at the previous item */
                                snprintf(next, sizeof next, "%zu.%" PRId64, region,
                                         list[i - 1]->seq);
                                break;
                        }
                        json_t *v = present(r, list[i]);
                        if (v)
                                json_array_append_new(items, v);
                }
                rp_resource_list_free(list, n);
                if (*next)
                        break;
                if (json_array_size(items) == want && region + 1 < n_regions) {
                        /* page full at a region boundary: continue in the next region */
                        snprintf(next, sizeof next, "%zu.0", region + 1);
                        break;
                }
        }
        rp_arm_reply_list(r, items, *next ? next : NULL);
}

void rp_compute_reply_resource(rp_arm_req *r, unsigned status, json_t *body, const rp_resource *res)
{
        if (res && res->etag)
                rp_http_add_header(r->http, "ETag", res->etag);
        rp_arm_reply_json(r, status, body);
}

void rp_compute_reply_access(rp_arm_req *r, rp_region *reg, rp_resource *res, const char *kind,
                             const char *sas_url)
{
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        int k = rp_db_res_put(reg->db, res);
        if (k >= 0)
                k = rp_arm_op_create(r->svc, reg, res->sub, kind, res->key, NULL, false, &op);
        if (k >= 0)
                k = rp_arm_op_finish(reg, op, "Succeeded", 200,
                                     sas_url ? json_pack("{s:s}", "accessSAS", sas_url) : NULL,
                                     RP_EC_NONE, NULL);
        if (k < 0) {
                rp_arm_reply_internal(r, k, kind);
                return;
        }
        rp_arm_lro_headers(r, reg, op, false);
        rp_arm_reply_empty(r, 202);
}

json_t *rp_compute_status(const char *code, const char *level, const char *display,
                          const char *message, json_t *time)
{
        json_t *o = json_pack("{s:s, s:s, s:s}", "code", code, "level", level, "displayStatus",
                              display);
        if (o && message)
                json_object_set_new(o, "message", json_string(message));
        if (o && time)
                json_object_set(o, "time", time);
        return o;
}

/* A disk restore point's data-plane name (its manifest uuid) maps to its record, as a disk's
 * image uuid does ("diskfile/"), so a SAS read finds it without a scan. */
int rp_compute_drp_index(rp_db *db, const char *uuid, const char *key)
{
        _cleanup_free_ char *k = rp_asprintf("drpfile/%s", uuid);
        return k ? rp_db_kv_put(db, k, key ? key : "") : -ENOMEM;
}

int rp_compute_drp_by_uuid(rp_region *reg, const char *uuid, rp_resource **ret)
{
        _cleanup_free_ char *k = rp_asprintf("drpfile/%s", uuid);
        _cleanup_free_ char *key = NULL;
        int r = k ? rp_db_kv_get(reg->db, k, &key) : -ENOMEM;
        if (r < 0)
                return r;
        if (!*key)
                return -ENOENT;
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        r = rp_db_res_get(reg->db, key, &res);
        if (r < 0)
                return r;
        if (!rp_streq(json_string_value(json_object_get(res->internal, "uuid")), uuid))
                return -ENOENT;
        *ret = TAKE_PTR(res);
        return 0;
}
