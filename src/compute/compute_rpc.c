/* compute_rpc.c: Microsoft.Compute/restorePointCollections: create/update, get (with
 * $expand=restorePoints), update (tags), delete (LRO, with its restore points), list.
 *
 * A collection lives in the region of its location. Its source is a VM; only tags may change
 * after creation. */
#include <string.h>
#include <strings.h>

#include "compute.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"

#define RPC_DISPLAY "Microsoft.Compute/restorePointCollections"

static char *rpc_id(rp_arm_req *r)
{
        return rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute", "restorePointCollections",
                              r->cap[2], NULL);
}

int rp_compute_rpc_load(rp_arm_req *r, rp_region **ret_reg, rp_resource **ret)
{
        _cleanup_free_ char *id = rpc_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        int k = key ? rp_service_find(r->svc, key, ret_reg, ret) : -ENOENT;
        if (k == -ENOENT) {
                if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) == 0)
                        rp_compute_reply_not_found(r, RPC_DISPLAY, r->cap[2], r->cap[1]);
        } else if (k < 0) {
                rp_arm_reply_internal(r, k, "collection lookup");
        }
        return k;
}

static json_t *rpc_present(rp_arm_req *r, rp_resource *res)
{
        return json_deep_copy(res->body);
}

/* Resolve and check the source of a collection. Replies on failure. */
static int rpc_source(rp_arm_req *r, const char *source_id, rp_region *reg, json_t **ret_source)
{
        _cleanup_(rp_arm_id_freep) rp_arm_id *sid = NULL;
        bool is_rpc = false;
        if (rp_arm_id_parse(source_id, &sid) < 0 ||
            !(rp_arm_id_is_type(sid, "Microsoft.Compute/virtualMachines") ||
              (is_rpc = rp_arm_id_is_type(sid, RPC_DISPLAY)))) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.source.id",
                                   "The source '%s' is neither a virtual machine nor a restore "
                                   "point collection id.",
                                   source_id);
                return -EINVAL;
        }
        const char *op = is_rpc ? "rpc.get" : "vm.get";
        /* the VM may be in this region, another one of this process, or a peer's: its
         * region answers */
        _cleanup_json_ json_t *req = json_pack("{s:s}", "id", source_id);
        rp_source_reply rep;
        /* hosted here (any of this process's regions answers for all of them) */
        int k = req ? rp_source_handle(r->svc, op, req, &rep) : -ENOMEM;
        if (k == -EREMOTE && rep.ec == RP_EC_RESOURCE_NOT_FOUND && r->svc->remote_call) {
                rp_source_reply_done(&rep);
                k = rp_source_call(r->svc, NULL, op, req, &rep);
        }
        if (k == -EREMOTE && rep.ec == RP_EC_RESOURCE_NOT_FOUND) {
                rp_source_reply_done(&rep);
                rp_arm_reply_error(r, RP_EC_RESOURCE_NOT_FOUND, "properties.source.id",
                                   "The Resource '%s/%s' under resource group '%s' was not "
                                   "found.",
                                   is_rpc ? RPC_DISPLAY : "Microsoft.Compute/virtualMachines",
                                   rp_arm_id_name(sid), rp_strempty(sid->resource_group));
                return -ENOENT;
        }
        if (k < 0) {
                if (k == -EREMOTE)
                        rp_arm_reply_error(r, rep.ec, "properties.source.id", "%s",
                                           rp_strempty(rep.message));
                else
                        rp_arm_reply_error(r, RP_EC_SERVICE_UNAVAILABLE, "properties.source.id",
                                           "The region of the source VM could not be reached: "
                                           "%s.",
                                           strerror(-k));
                rp_source_reply_done(&rep);
                return k;
        }
        (void)reg;
        *ret_source = json_pack("{s:O, s:O}", "id", json_object_get(rep.body, "id"), "location",
                                json_object_get(rep.body, "location"));
        rp_source_reply_done(&rep);
        return *ret_source ? 0 : -ENOMEM;
}

void rp_h_rpc_put(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        const char *location = NULL, *source_id = NULL;
        json_t *tags = NULL;
        const rp_json_spec spec[] = {
                { "location", RP_JSON_STRING, true, &location },
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "properties", RP_JSON_OBJECT, false, NULL },
                { "properties.source", RP_JSON_OBJECT, false, NULL },
                { "properties.source.id", RP_JSON_STRING, false, &source_id },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_check_name(r, RPC_DISPLAY, r->cap[2]) < 0 || rp_compute_parse(r, spec) < 0 ||
            rp_compute_check_tags(r, tags) < 0 ||
            rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) < 0)
                return;
        rp_region *reg;
        if (rp_compute_require_region(r, location, &reg) < 0)
                return;
        _cleanup_free_ char *id = rpc_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        if (!key) {
                rp_arm_reply_internal(r, -ENOMEM, "collection id");
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *cur = NULL;
        rp_region *cur_reg = NULL;
        int k = rp_service_find(r->svc, key, &cur_reg, &cur);
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "collection lookup");
                return;
        }
        if (cur) {
                const char *cur_src =
                        json_string_value(rp_json_get_path(cur->body, "properties.source.id"));
                if (cur_reg != reg) {
                        rp_arm_reply_error(r, RP_EC_OPERATION_NOT_ALLOWED, "location",
                                           "Changing property 'location' is not allowed: the "
                                           "collection is in '%s'.",
                                           cur_reg->name);
                        return;
                }
                if (source_id && !rp_arm_id_equal(source_id, rp_strempty(cur_src))) {
                        rp_arm_reply_error(r, RP_EC_OPERATION_NOT_ALLOWED, "properties.source.id",
                                           "Changing property 'source.id' of a restore point "
                                           "collection is not allowed: only tags may change.");
                        return;
                }
                json_object_set_new(cur->body, "tags", tags ? json_deep_copy(tags) : json_object());
                k = rp_db_res_put(reg->db, cur);
                if (k < 0) {
                        rp_arm_reply_internal(r, k, "collection write");
                        return;
                }
                rp_compute_reply_resource(r, 200, rpc_present(r, cur), cur);
                return;
        }
        if (!source_id) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.source.id",
                                   "Required parameter 'properties.source.id' is missing "
                                   "(null).");
                return;
        }
        json_t *source = NULL;
        if (rpc_source(r, source_id, reg, &source) < 0)
                return;
        _cleanup_(rp_resource_freep) rp_resource *res = rp_compute_resource_new(
                id, "microsoft.compute/restorepointcollections", r->cap[0], r->cap[1]);
        if (res)
                res->body = json_pack("{s:s, s:s, s:s, s:s, s:o, s:{s:o, s:o, s:s}}", "id", id,
                                      "name", r->cap[2], "type", RPC_DISPLAY, "location", reg->name,
                                      "tags", tags ? json_deep_copy(tags) : json_object(),
                                      "properties", "source", source, "restorePointCollectionId",
                                      rp_compute_guid(), "provisioningState", "Succeeded");
        else
                json_decref(source);
        if (!res || !res->body) {
                rp_arm_reply_internal(r, -ENOMEM, "collection");
                return;
        }
        k = rp_db_res_put(reg->db, res);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "collection write");
                return;
        }
        rp_compute_reply_resource(r, 201, rpc_present(r, res), res);
}

void rp_h_rpc_get(rp_arm_req *r)
{
        const char *expand = rp_http_query(r->http, "$expand");
        if (expand && strcasecmp(expand, "restorePoints") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "$expand",
                                   "The value '%s' of parameter '$expand' is invalid: use "
                                   "restorePoints.",
                                   expand);
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        if (rp_compute_rpc_load(r, &reg, &res) < 0)
                return;
        json_t *o = rpc_present(r, res);
        if (o && expand) {
                rp_resource **list = NULL;
                size_t n = 0;
                rp_db_filter f = { .type = RP_TYPE_RP, .parent_key = res->key };
                int k = rp_db_res_list(reg->db, &f, &list, &n);
                if (k < 0) {
                        json_decref(o);
                        rp_arm_reply_internal(r, k, "restore point list");
                        return;
                }
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(
                                arr, rp_compute_rp_present(r->api_version, list[i], false));
                rp_resource_list_free(list, n);
                json_object_set_new(json_object_get(o, "properties"), "restorePoints", arr);
        }
        rp_compute_reply_resource(r, 200, o, res);
}

void rp_h_rpc_patch(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        json_t *tags = NULL;
        const char *source_id = NULL;
        const rp_json_spec spec[] = {
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "properties", RP_JSON_OBJECT, false, NULL },
                { "properties.source.id", RP_JSON_STRING, false, &source_id },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_parse(r, spec) < 0 || rp_compute_check_tags(r, tags) < 0)
                return;
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        if (rp_compute_rpc_load(r, &reg, &res) < 0)
                return;
        const char *cur_src =
                json_string_value(rp_json_get_path(res->body, "properties.source.id"));
        if (source_id && !rp_arm_id_equal(source_id, rp_strempty(cur_src))) {
                rp_arm_reply_error(r, RP_EC_OPERATION_NOT_ALLOWED, "properties.source.id",
                                   "Changing property 'source.id' of a restore point collection "
                                   "is not allowed: only tags may change.");
                return;
        }
        if (tags)
                json_object_set(res->body, "tags", tags);
        int k = rp_db_res_put(reg->db, res);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "collection write");
                return;
        }
        rp_compute_reply_resource(r, 200, rpc_present(r, res), res);
}

void rp_h_rpc_delete(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        _cleanup_free_ char *id = rpc_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        int k = key ? rp_service_find(r->svc, key, &reg, &res) : -ENOENT;
        if (k == -ENOENT) {
                rp_arm_reply_empty(r, 204);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "collection lookup");
                return;
        }
        k = rp_compute_rps_check_no_sas(r, reg, res->key, NULL);
        if (k < 0)
                return;
        json_object_set_new(json_object_get(res->body, "properties"), "provisioningState",
                            json_string("Deleting"));
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = rp_db_res_put(reg->db, res);
        if (k >= 0)
                k = rp_arm_op_create(r->svc, reg, res->sub, "rpc.delete", res->key, NULL, true,
                                     &op);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "collection delete");
                return;
        }
        rp_arm_lro_headers(r, reg, op, false);
        rp_arm_reply_empty(r, 202);
}

void rp_h_rpc_list_group(rp_arm_req *r)
{
        if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) < 0)
                return;
        rp_compute_list(r, RP_TYPE_RPC, r->cap[0], r->cap[1], false, rpc_present);
}

void rp_h_rpc_list_sub(rp_arm_req *r)
{
        rp_compute_list(r, RP_TYPE_RPC, r->cap[0], NULL, false, rpc_present);
}
