/* compute_operations.c: the status and result URLs of long-running operations.
 *
 * Azure-AsyncOperation: .../locations/{region}/operations/{id} answers 200 with the status
 * resource {id,name,status,startTime,endTime,percentComplete,error}. Location: the same URL
 * with monitor=true answers 202 while running, then the final response of the operation
 * (stored with the record). Resource group deletion answers only at its Location URL. */
#include <string.h>

#include "compute.h"
#include "util/alloc.h"
#include "util/macro.h"

static bool version_ok(rp_arm_req *r, enum rp_arm_family a, enum rp_arm_family b)
{
        const char *v = rp_http_query(r->http, "api-version");
        if (!v || !*v) {
                rp_arm_reply_error(r, RP_EC_MISSING_API_VERSION, NULL, NULL);
                return false;
        }
        if (rp_arm_apiver_check(a, v) < 0 && rp_arm_apiver_check(b, v) < 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_API_VERSION, NULL,
                                   "The api-version '%s' is invalid. The supported versions are "
                                   "'%s'.",
                                   v, rp_arm_apiver_supported(a));
                return false;
        }
        r->api_version = v;
        return true;
}

static json_t *status_json(rp_arm_req *r, const rp_operation *op)
{
        char t[RP_RFC3339_LEN];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:f}", "id", r->http->path, "name", op->id,
                              "status", op->status, "startTime", rp_time_format(op->start, t),
                              "percentComplete", op->percent);
        if (!o)
                return NULL;
        if (op->end)
                json_object_set_new(o, "endTime", json_string(rp_time_format(op->end, t)));
        if (op->error)
                json_object_set(o, "error", op->error);
        if (rp_streq(op->status, "Succeeded") && op->result && json_is_object(op->result))
                json_object_set_new(o, "properties", json_pack("{s:O}", "output", op->result));
        return o;
}

/* The Location semantics: 202 while running, the stored final reply when done. */
static void reply_result(rp_arm_req *r, rp_region *reg, const rp_operation *op, bool resources)
{
        if (rp_streq(op->status, "InProgress")) {
                rp_arm_lro_headers(r, reg, op, resources);
                rp_arm_reply_empty(r, 202);
                return;
        }
        if (op->error) {
                json_t *err = json_deep_copy(op->error);
                rp_arm_reply_json(r, op->result_status >= 400 ? op->result_status : 500,
                                  json_pack("{s:o}", "error", err));
                return;
        }
        unsigned st = op->result_status ? op->result_status : 200;
        if (op->result && st != 204)
                rp_arm_reply_json(r, st, json_deep_copy(op->result));
        else
                rp_arm_reply_empty(r, st);
}

static int load_op(rp_arm_req *r, rp_region *reg, const char *id, rp_operation **ret)
{
        int k = rp_db_op_get(reg->db, id, ret);
        if (k == 0 && strcasecmp((*ret)->sub, r->cap[0]) != 0) {
                *ret = rp_operation_free(*ret);
                k = -ENOENT;
        }
        if (k == -ENOENT)
                rp_arm_reply_error(r, RP_EC_NOT_FOUND, NULL, "The operation '%s' was not found.",
                                   id);
        else if (k < 0)
                rp_arm_reply_internal(r, k, "operation lookup");
        return k;
}

void rp_h_operation_get(rp_arm_req *r)
{
        /* /subscriptions/{0}/providers/Microsoft.Compute/locations/{1}/operations/{2} */
        if (!version_ok(r, RP_ARM_FAMILY_COMPUTE, RP_ARM_FAMILY_DISK))
                return;
        rp_region *reg = rp_service_region(r->svc, r->cap[1]);
        if (!reg) {
                rp_arm_reply_error(r, RP_EC_NOT_FOUND, NULL, "The location '%s' is not served.",
                                   r->cap[1]);
                return;
        }
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        if (load_op(r, reg, r->cap[2], &op) < 0)
                return;
        const char *monitor = rp_http_query(r->http, "monitor");
        if (monitor && strcasecmp(monitor, "true") == 0) {
                reply_result(r, reg, op, false);
                return;
        }
        if (rp_streq(op->status, "InProgress"))
                rp_http_add_header(r->http, "Retry-After", "1");
        rp_arm_reply_json(r, 200, status_json(r, op));
}

void rp_h_group_opresult(rp_arm_req *r)
{
        /* /subscriptions/{0}/operationresults/{1} and
         * /subscriptions/{0}/providers/Microsoft.Resources/operations/{1} */
        if (!version_ok(r, RP_ARM_FAMILY_RESOURCES, RP_ARM_FAMILY_SUBSCRIPTIONS))
                return;
        rp_region *home = r->svc->regions[0];
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        if (load_op(r, home, r->cap[1], &op) < 0)
                return;
        if (strcasecmp(r->route->name, "Operations_Get") == 0) {
                if (rp_streq(op->status, "InProgress"))
                        rp_http_add_header(r->http, "Retry-After", "1");
                rp_arm_reply_json(r, 200, status_json(r, op));
                return;
        }
        reply_result(r, home, op, true);
}
