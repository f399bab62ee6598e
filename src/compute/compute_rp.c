/* compute_rp.c: restore points: create (LRO: the capture job does the work), get (with
 * $expand=instanceView), delete (LRO), and the presentation shared with collections.
 *
 * A restore point records what was asked (internal.request) so that an identical re-PUT
 * answers 201 with the existing point and a different one is refused. The capture itself is
 * compute_capture.c. */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "compute.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"

#define RP_DISPLAY "Microsoft.Compute/restorePointCollections/restorePoints"
#define MAX_POINTS_PER_VM 500

static char *rp_id(rp_arm_req *r)
{
        return rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute", "restorePointCollections",
                              r->cap[2], "restorePoints", r->cap[3], NULL);
}

static json_t *instance_view(rp_resource *rp)
{
        const char *state =
                json_string_value(rp_json_get_path(rp->body, "properties.provisioningState"));
        json_t *time = rp_json_get_path(rp->body, "properties.timeCreated");
        json_t *statuses = json_array();
        const char *msg = json_string_value(rp_json_get_path(rp->internal, "error.message"));
        if (rp_streq(state, "Succeeded"))
                json_array_append_new(statuses,
                                      rp_compute_status("ProvisioningState/succeeded", "Info",
                                                        "Provisioning succeeded", NULL, time));
        else if (rp_streq(state, "Failed"))
                json_array_append_new(statuses,
                                      rp_compute_status("ProvisioningState/failed", "Error",
                                                        "Provisioning failed", msg, time));
        else if (rp_streq(state, "Deleting"))
                json_array_append_new(statuses, rp_compute_status("ProvisioningState/deleting",
                                                                  "Info", "Deleting", NULL, time));
        else
                json_array_append_new(statuses, rp_compute_status("ProvisioningState/creating",
                                                                  "Info", "Creating", NULL, time));
        json_t *disks = json_array();
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(rp->internal, "disks"), i, d) {
                const char *drp = json_string_value(json_object_get(d, "drp_id"));
                if (!drp)
                        continue;
                bool ok = rp_streq(state, "Succeeded");
                json_array_append_new(
                        disks,
                        json_pack("{s:s, s:{s:o, s:i}}", "id", drp, "replicationStatus", "status",
                                  ok ? rp_compute_status("ReplicationState/succeeded", "Info",
                                                         "Succeeded", NULL, NULL)
                                     : rp_compute_status(
                                               rp_streq(state, "Failed")
                                                       ? "ReplicationState/failed"
                                                       : "ReplicationState/inProgress",
                                               rp_streq(state, "Failed") ? "Error" : "Info",
                                               rp_streq(state, "Failed") ? "Failed" : "In progress",
                                               rp_streq(state, "Failed") ? msg : NULL, NULL),
                                  "completionPercent", ok ? 100 : 0));
        }
        return json_pack("{s:o, s:o}", "diskRestorePoints", disks, "statuses", statuses);
}

json_t *rp_compute_rp_present(const char *api_version, rp_resource *rp, bool with_instance_view)
{
        json_t *o = json_deep_copy(rp->body);
        json_t *p = json_object_get(o, "properties");
        if (!o || !p)
                return o;
        const char *v = api_version && *api_version ? api_version : "2021-11-01";
        if (rp_arm_apiver_cmp(v, "2021-11-01") < 0) {
                /* Before 2021-11-01 the document had provisioningDetails, no timeCreated. */
                json_t *t = json_object_get(p, "timeCreated");
                const char *state = json_string_value(json_object_get(p, "provisioningState"));
                json_t *det = json_pack(
                        "{s:O?, s:I, s:s, s:s?}", "creationTime", t, "totalUsedSizeInBytes",
                        (json_int_t)json_integer_value(
                                json_object_get(rp->internal, "added_bytes")),
                        "statusCode", rp_streq(state, "Failed") ? "Failed" : "OK", "statusMessage",
                        json_string_value(rp_json_get_path(rp->internal, "error.message")));
                json_object_set_new(p, "provisioningDetails", det);
                json_object_del(p, "timeCreated");
                json_object_del(p, "instanceView");
                return o;
        }
        if (with_instance_view)
                json_object_set_new(p, "instanceView", instance_view(rp));
        return o;
}

/* A canonical form of what a PUT asked, for the idempotency check. */
static json_t *request_shape(const json_t *exclude, const char *mode, const char *source_rp)
{
        json_t *ids = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(exclude, i, e) {
                char *k = rp_arm_id_key(json_string_value(json_object_get(e, "id")));
                json_array_append_new(ids, json_string(k ? k : "?"));
                rp_free(k);
        }
        /* order-free: sort the keys */
        size_t n = json_array_size(ids);
        for (size_t a = 1; a < n; a++)
                for (size_t b = a; b > 0; b--) {
                        const char *x = json_string_value(json_array_get(ids, b - 1));
                        const char *y = json_string_value(json_array_get(ids, b));
                        if (strcmp(x, y) <= 0)
                                break;
                        json_t *t = json_incref(json_array_get(ids, b - 1));
                        json_array_set(ids, b - 1, json_array_get(ids, b));
                        json_array_set_new(ids, b, t);
                }
        return json_pack("{s:o, s:s?, s:s?}", "exclude", ids, "mode", mode, "source", source_rp);
}

int rp_compute_vm_points(rp_region *reg, const char *sub, const char *vm_key, size_t *ret_total,
                         bool *ret_creating)
{
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_RP, .sub = sub };
        int k = rp_db_res_list(reg->db, &f, &list, &n);
        if (k < 0)
                return k;
        *ret_total = 0;
        *ret_creating = false;
        for (size_t i = 0; i < n; i++) {
                const char *vk = json_string_value(json_object_get(list[i]->internal, "vm_key"));
                if (!rp_streq(vk, vm_key))
                        continue;
                (*ret_total)++;
                const char *st = json_string_value(
                        rp_json_get_path(list[i]->body, "properties.provisioningState"));
                if (rp_streq(st, "Creating"))
                        *ret_creating = true;
        }
        rp_resource_list_free(list, n);
        return 0;
}

void rp_h_rp_put(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        json_t *exclude = NULL;
        const char *mode = NULL, *source_rp = NULL;
        const rp_json_spec spec[] = {
                { "properties", RP_JSON_OBJECT, false, NULL },
                { "properties.excludeDisks", RP_JSON_ARRAY, false, &exclude },
                { "properties.consistencyMode", RP_JSON_STRING, false, &mode },
                { "properties.sourceRestorePoint", RP_JSON_OBJECT, false, NULL },
                { "properties.sourceRestorePoint.id", RP_JSON_STRING, false, &source_rp },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_check_name(r, RP_DISPLAY, r->cap[3]) < 0 || rp_compute_parse(r, spec) < 0)
                return;
        size_t i;
        json_t *e;
        json_array_foreach(exclude, i, e) {
                const char *id = json_string_value(json_object_get(e, "id"));
                _cleanup_(rp_arm_id_freep) rp_arm_id *pid = NULL;
                if (!json_is_object(e) || !id || rp_arm_id_parse(id, &pid) < 0 ||
                    !rp_arm_id_is_type(pid, "Microsoft.Compute/disks")) {
                        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.excludeDisks",
                                           "excludeDisks[%zu] must be {\"id\": <managed disk "
                                           "id>}.",
                                           i);
                        return;
                }
        }
        if (mode && strcmp(mode, "CrashConsistent") != 0 &&
            strcmp(mode, "FileSystemConsistent") != 0 &&
            strcmp(mode, "ApplicationConsistent") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.consistencyMode",
                                   "consistencyMode must be CrashConsistent, "
                                   "FileSystemConsistent or ApplicationConsistent, got '%s'.",
                                   mode);
                return;
        }
        if (rp_streq(mode, "CrashConsistent") && r->api_version &&
            rp_arm_apiver_cmp(r->api_version, "2021-07-01") < 0) {
                rp_arm_reply_error(r, RP_EC_BAD_REQUEST, "properties.consistencyMode",
                                   "This request can be made with api-version '2021-07-01' or "
                                   "newer.");
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *rpc = NULL;
        rp_region *reg;
        if (rp_compute_rpc_load(r, &reg, &rpc) < 0)
                return;
        const char *rpc_state =
                json_string_value(rp_json_get_path(rpc->body, "properties.provisioningState"));
        if (rp_streq(rpc_state, "Deleting")) {
                rp_arm_reply_error(r, RP_EC_CONFLICT, NULL,
                                   "The restore point collection '%s' is being deleted.",
                                   r->cap[2]);
                return;
        }
        _cleanup_free_ char *id = rp_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        _cleanup_json_ json_t *shape = request_shape(exclude, mode, source_rp);
        if (!key || !shape) {
                rp_arm_reply_internal(r, -ENOMEM, "restore point id");
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *cur = NULL;
        int k = rp_db_res_get(reg->db, key, &cur);
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "restore point lookup");
                return;
        }
        if (cur) {
                const char *st = json_string_value(
                        rp_json_get_path(cur->body, "properties.provisioningState"));
                if (rp_streq(st, "Deleting")) {
                        rp_arm_reply_error(r, RP_EC_CONFLICT, NULL,
                                           "The restore point '%s' is being deleted.", r->cap[3]);
                        return;
                }
                if (!json_equal(shape, json_object_get(cur->internal, "request"))) {
                        rp_arm_reply_error(r, RP_EC_OPERATION_NOT_ALLOWED, NULL,
                                           "Restore point '%s' already exists with other "
                                           "properties; a restore point cannot be updated.",
                                           r->cap[3]);
                        return;
                }
                rp_arm_reply_json(r, 201, rp_compute_rp_present(r->api_version, cur, false));
                return;
        }
        const char *vm_id = json_string_value(rp_json_get_path(rpc->body, "properties.source.id"));
        _cleanup_(rp_arm_id_freep) rp_arm_id *src_id = NULL;
        bool copy = vm_id && rp_arm_id_parse(vm_id, &src_id) >= 0 &&
                    rp_arm_id_is_type(src_id, "Microsoft.Compute/restorePointCollections");
        if (copy != (source_rp != NULL)) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.sourceRestorePoint.id",
                                   copy ? "The collection's source is a collection: a restore "
                                          "point in it is a copy and needs "
                                          "sourceRestorePoint.id."
                                        : "sourceRestorePoint.id is only allowed in a collection "
                                          "whose source is another collection.");
                return;
        }
        if (copy) {
                rp_compute_rp_copy_create(r, reg, rpc, id, source_rp, shape);
                return;
        }
        const char *vm_loc =
                json_string_value(rp_json_get_path(rpc->body, "properties.source.location"));
        if (vm_loc && !rp_streq(vm_loc, reg->name)) {
                /* the VM is in another region: it cuts there, this region pulls */
                rp_compute_rp_pull_create(r, reg, rpc, id, vm_id, exclude, mode, shape);
                return;
        }
        _cleanup_free_ char *vm_key = vm_id ? rp_arm_id_key(vm_id) : NULL;
        _cleanup_(rp_resource_freep) rp_resource *vm = NULL;
        if (!vm_key || rp_db_res_get(reg->db, vm_key, &vm) < 0) {
                rp_arm_reply_error(r, RP_EC_OPERATION_NOT_ALLOWED, NULL,
                                   "The source VM '%s' of the collection does not exist.",
                                   rp_strempty(vm_id));
                return;
        }
        size_t total = 0;
        bool creating = false;
        k = rp_compute_vm_points(reg, rpc->sub, vm_key, &total, &creating);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "restore point count");
                return;
        }
        if (creating) {
                rp_arm_reply_error(r, RP_EC_VM_RP_CONCURRENT, NULL, NULL);
                return;
        }
        if (total >= MAX_POINTS_PER_VM) {
                rp_arm_reply_error(r, RP_EC_OPERATION_NOT_ALLOWED, NULL,
                                   "The VM '%s' already has %d restore points, the most "
                                   "allowed. Delete some first.",
                                   vm_id, MAX_POINTS_PER_VM);
                return;
        }

        _cleanup_(rp_resource_freep) rp_resource *res =
                rp_compute_resource_new(id, RP_TYPE_RP, r->cap[0], r->cap[1]);
        if (!res) {
                rp_arm_reply_internal(r, -ENOMEM, "restore point");
                return;
        }
        res->body = json_pack("{s:s, s:s, s:s, s:{s:o, s:s, s:s, s:o}}", "id", id, "name",
                              r->cap[3], "type", RP_DISPLAY, "properties", "excludeDisks",
                              exclude ? json_deep_copy(exclude) : json_array(), "consistencyMode",
                              mode ? mode : "ApplicationConsistent", "provisioningState",
                              "Creating", "timeCreated", rp_compute_now());
        res->internal = json_pack("{s:s, s:s, s:O, s:I, s:[]}", "vm_key", vm_key, "vm_id", vm_id,
                                  "request", shape, "added_bytes", (json_int_t)0, "disks");
        if (!res->body || !res->internal) {
                rp_arm_reply_internal(r, -ENOMEM, "restore point");
                return;
        }
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = rp_db_res_put(reg->db, res);
        if (k >= 0)
                k = rp_arm_op_create(
                        r->svc, reg, res->sub, "rp.capture", res->key,
                        json_pack("{s:s}", "api_version", r->api_version ? r->api_version : ""),
                        true, &op);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "restore point create");
                return;
        }
        log_info("restore point '%s' of VM '%s' requested (%s)", id, vm_id,
                 mode ? mode : "ApplicationConsistent");
        rp_arm_lro_headers(r, reg, op, false);
        rp_arm_reply_json(r, 201, rp_compute_rp_present(r->api_version, res, false));
}

static int rp_load(rp_arm_req *r, rp_region **ret_reg, rp_resource **ret)
{
        _cleanup_(rp_resource_freep) rp_resource *rpc = NULL;
        rp_region *reg;
        if (rp_compute_rpc_load(r, &reg, &rpc) < 0)
                return -ENOENT;
        _cleanup_free_ char *id = rp_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        int k = key ? rp_db_res_get(reg->db, key, ret) : -ENOENT;
        if (k == -ENOENT) {
                _cleanup_free_ char *name = rp_asprintf("%s/%s", r->cap[2], r->cap[3]);
                rp_compute_reply_not_found(r, RP_DISPLAY, name ? name : r->cap[3], r->cap[1]);
        } else if (k < 0) {
                rp_arm_reply_internal(r, k, "restore point lookup");
        }
        if (k == 0 && ret_reg)
                *ret_reg = reg;
        return k;
}

void rp_h_rp_get(rp_arm_req *r)
{
        const char *expand = rp_http_query(r->http, "$expand");
        if (expand && strcasecmp(expand, "instanceView") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "$expand",
                                   "The value '%s' of parameter '$expand' is invalid: use "
                                   "instanceView.",
                                   expand);
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        rp_region *reg = NULL;
        if (rp_load(r, &reg, &rp) < 0)
                return;
        json_t *o = rp_compute_rp_present(r->api_version, rp, expand != NULL);
        /* a copy's instance view is its replication progress, from its disk restore points */
        if (o && expand &&
            (json_is_true(json_object_get(rp->internal, "copy")) ||
             json_object_get(rp->internal, "pull")))
                json_object_set_new(json_object_get(o, "properties"), "instanceView",
                                    rp_compute_copy_instance_view(reg, rp));
        rp_arm_reply_json(r, 200, o);
}

int rp_compute_rps_check_no_sas(rp_arm_req *r, rp_region *reg, const char *rpc_key,
                                const char *rp_key)
{
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DRP, .parent_key = rp_key };
        int k = rp_db_res_list(reg->db, &f, &list, &n);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "disk restore point list");
                return k;
        }
        size_t pl = strlen(rpc_key);
        for (size_t i = 0; i < n; i++) {
                const char *access =
                        json_string_value(json_object_get(list[i]->internal, "access"));
                if (strncmp(list[i]->key, rpc_key, pl) != 0 || !access || rp_streq(access, "None"))
                        continue;
                rp_arm_reply_error(r, RP_EC_DRP_USED_BY_CUSTOMER, NULL,
                                   "The disk restore point '%s' has an active SAS: call "
                                   "endGetAccess on it before deleting.",
                                   list[i]->id);
                rp_resource_list_free(list, n);
                return -EBUSY;
        }
        rp_resource_list_free(list, n);
        return 0;
}

void rp_h_rp_delete(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *rpc = NULL;
        rp_region *reg;
        _cleanup_free_ char *cid = rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute",
                                                  "restorePointCollections", r->cap[2], NULL);
        _cleanup_free_ char *ckey = cid ? rp_arm_id_key(cid) : NULL;
        _cleanup_free_ char *id = rp_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        int k = ckey ? rp_service_find(r->svc, ckey, &reg, &rpc) : -ENOENT;
        if (k == 0)
                k = key ? rp_db_res_get(reg->db, key, &rp) : -ENOENT;
        if (k == -ENOENT) {
                rp_arm_reply_empty(r, 204);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "restore point lookup");
                return;
        }
        if (rp_compute_rps_check_no_sas(r, reg, rpc->key, rp->key) < 0)
                return;
        /* Deleting from now on: no new SAS on its disk restore points, no re-PUT. */
        json_object_set_new(json_object_get(rp->body, "properties"), "provisioningState",
                            json_string("Deleting"));
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = rp_db_res_put(reg->db, rp);
        if (k >= 0)
                k = rp_arm_op_create(r->svc, reg, rp->sub, "rp.delete", rp->key, NULL, true, &op);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "restore point delete");
                return;
        }
        rp_arm_lro_headers(r, reg, op, false);
        rp_arm_reply_empty(r, 202);
}
