/* compute_source.c: what a target region asks of the region that hosts a VM, for restore
 * points created in the target from that VM (flow 1 of DESIGN.md):
 *
 *   vm.get        does the VM exist, and where                {id} -> {id, location}
 *   hold.create   cut the VM now and hold what is captured     -> {id, location}
 *   hold.get      the hold's state and, once captured, its disk restore points
 *   hold.release  the target has it all (or gave up): free it
 *   rpc.get       a collection (the source of a collection of copies)
 *   rp.get        a restore point and its disk restore points (what a copy needs)
 *
 * A hold is a restore point of the VM in its own region that no collection lists: its id
 * names the collection "rpd~holds", which no user can create (the name check refuses "~"),
 * so ARM requests never reach it. It is captured by the ordinary capture job (so the
 * one-creation-at-a-time rule and incremental captures apply to it), read by the target
 * through the peer interface like any disk restore point, and released by job hold.release:
 * its records and manifests go, and garbage collection frees its chunks. What stays is one
 * manifest per disk (chunk ids only, no data): the baseline that keeps the next hold of the
 * disk incremental, used only when the target says it still has that baseline's copy.
 *
 * The operations take and return JSON so that the same code answers in-process calls and the
 * peer protocol's /peer/v1/source/ requests (compute_peer.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "compute.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"

#define HOLD_COLLECTION "rpd~holds"

/* Set an error answer. @return -EREMOTE (an answer that is an ARM error). */
static int src_error(rp_source_reply *rep, enum rp_ec ec, const char *fmt, ...) _printf_(3, 4);
static int src_error(rp_source_reply *rep, enum rp_ec ec, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        rep->ec = ec;
        rep->message = fmt ? rp_vasprintf(fmt, ap) : rp_strdup(rp_ec_message(ec));
        va_end(ap);
        return -EREMOTE;
}

void rp_source_reply_done(rp_source_reply *rep)
{
        json_decref(rep->body);
        rp_free(rep->message);
        *rep = (rp_source_reply){ 0 };
}

/* The hosted resource of @p type named by @p id (-ENOENT for another type). Holds are found
 * only when @p holds. */
static int find_typed(rp_service *svc, const char *id, const char *type, bool holds,
                      rp_region **ret_reg, rp_resource **ret)
{
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        if (!key || holds != (strstr(key, "/restorepointcollections/" HOLD_COLLECTION "/") != NULL))
                return -ENOENT;
        int k = rp_service_find(svc, key, ret_reg, ret);
        if (k == 0 && !rp_streq((*ret)->type, type)) {
                *ret = rp_resource_free(*ret);
                return -ENOENT;
        }
        return k;
}

/* The hosted VM named by @p vm_id. */
static int find_vm(rp_service *svc, const char *vm_id, rp_region **ret_reg, rp_resource **ret)
{
        return find_typed(svc, vm_id, RP_TYPE_VM, false, ret_reg, ret);
}

static int op_vm_get(rp_service *svc, const json_t *req, rp_source_reply *rep)
{
        const char *vm_id = json_string_value(json_object_get(req, "id"));
        _cleanup_(rp_resource_freep) rp_resource *vm = NULL;
        rp_region *reg = NULL;
        int k = find_vm(svc, vm_id, &reg, &vm);
        if (k == -ENOENT)
                return src_error(rep, RP_EC_RESOURCE_NOT_FOUND,
                                 "The Resource 'Microsoft.Compute/virtualMachines/%s' was not "
                                 "found.",
                                 rp_strempty(vm_id));
        if (k < 0)
                return k;
        rep->body = json_pack("{s:s, s:s}", "id", vm->id, "location", reg->name);
        return rep->body ? 0 : -ENOMEM;
}

static int op_hold_create(rp_service *svc, const json_t *req, rp_source_reply *rep)
{
        RP_COMPUTE_MODEL_LOCK();
        const char *vm_id = json_string_value(json_object_get(req, "vmId"));
        const char *mode = json_string_value(json_object_get(req, "consistencyMode"));
        json_t *exclude = json_object_get(req, "excludeDisks");
        json_t *bases = json_object_get(req, "bases");
        if (json_is_null(exclude))
                exclude = NULL;
        if (json_is_null(bases))
                bases = NULL;
        if (!vm_id || (exclude && !json_is_array(exclude)) || (bases && !json_is_array(bases)))
                return src_error(rep, RP_EC_INVALID_PARAMETER, "A hold needs vmId.");
        _cleanup_(rp_resource_freep) rp_resource *vm = NULL;
        rp_region *reg = NULL;
        int k = find_vm(svc, vm_id, &reg, &vm);
        if (k == -ENOENT)
                return src_error(rep, RP_EC_OPERATION_NOT_ALLOWED,
                                 "The source VM '%s' of the collection does not exist.", vm_id);
        if (k < 0)
                return k;
        bool creating = false;
        size_t total = 0;
        k = rp_compute_vm_points(reg, vm->sub, vm->key, &total, &creating);
        if (k < 0)
                return k;
        if (creating)
                return src_error(rep, RP_EC_VM_RP_CONCURRENT, NULL);
        char uuid[RP_UUID_STR_LEN + 1];
        k = rp_uuid4(uuid);
        if (k < 0)
                return k;
        _cleanup_free_ char *id =
                rp_arm_id_make(vm->sub, vm->rg, "Microsoft.Compute", "restorePointCollections",
                               HOLD_COLLECTION, "restorePoints", uuid, NULL);
        _cleanup_(rp_resource_freep) rp_resource *res =
                id ? rp_compute_resource_new(id, RP_TYPE_RP, vm->sub, vm->rg) : NULL;
        if (!res)
                return -ENOMEM;
        res->body = json_pack("{s:s, s:s, s:s, s:{s:O?, s:s, s:s, s:o}}", "id", id, "name", uuid,
                              "type", "Microsoft.Compute/restorePointCollections/restorePoints",
                              "properties", "excludeDisks", exclude, "consistencyMode",
                              mode ? mode : "ApplicationConsistent", "provisioningState",
                              "Creating", "timeCreated", rp_compute_now());
        res->internal = json_pack("{s:s, s:s, s:I, s:[], s:O?, s:{s:O?, s:O?}}", "vm_key", vm->key,
                                  "vm_id", vm->id, "added_bytes", (json_int_t)0, "disks", "bases",
                                  bases, "hold", "target_id", json_object_get(req, "targetId"),
                                  "target_region", json_object_get(req, "targetRegion"));
        if (!res->body || !res->internal)
                return -ENOMEM;
        if (!json_object_get(json_object_get(res->body, "properties"), "excludeDisks"))
                json_object_set_new(json_object_get(res->body, "properties"), "excludeDisks",
                                    json_array());
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = rp_db_res_put(reg->db, res);
        if (k >= 0)
                k = rp_arm_op_create(svc, reg, res->sub, "rp.capture", res->key,
                                     json_pack("{s:s}", "api_version", "2023-03-01"), true, &op);
        if (k < 0)
                return k;
        log_info("hold '%s' of VM '%s' for %s", id, vm->id,
                 rp_strempty(json_string_value(json_object_get(req, "targetId"))));
        rep->body = json_pack("{s:s, s:s}", "id", id, "location", reg->name);
        return rep->body ? 0 : -ENOMEM;
}

/* The hosted hold named by @p id. */
static int find_hold(rp_service *svc, const char *id, rp_region **ret_reg, rp_resource **ret)
{
        return find_typed(svc, id, RP_TYPE_RP, true, ret_reg, ret);
}

static int op_hold_get(rp_service *svc, const json_t *req, rp_source_reply *rep)
{
        const char *id = json_string_value(json_object_get(req, "id"));
        _cleanup_(rp_resource_freep) rp_resource *hold = NULL;
        rp_region *reg = NULL;
        int k = find_hold(svc, id, &reg, &hold);
        if (k == -ENOENT)
                return src_error(rep, RP_EC_RESOURCE_NOT_FOUND, "The hold '%s' does not exist.",
                                 rp_strempty(id));
        if (k < 0)
                return k;
        json_t *p = json_object_get(hold->body, "properties");
        json_t *disks = json_array();
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DRP, .parent_key = hold->key };
        k = disks ? rp_db_res_list(reg->db, &f, &list, &n) : -ENOMEM;
        for (size_t i = 0; k >= 0 && i < n; i++)
                if (json_array_append_new(
                            disks,
                            json_pack("{s:s, s:O, s:O, s:O}", "id", list[i]->id, "name",
                                      json_object_get(list[i]->body, "name"), "size",
                                      json_object_get(list[i]->internal, "size"), "properties",
                                      json_object_get(list[i]->body, "properties"))) < 0)
                        k = -ENOMEM;
        rp_resource_list_free(list, n);
        if (k < 0) {
                json_decref(disks);
                return k;
        }
        rep->body = json_pack("{s:O, s:O?, s:O?, s:O?, s:O?, s:o}", "state",
                              json_object_get(p, "provisioningState"), "message",
                              rp_json_get_path(hold->internal, "error.message"), "consistencyMode",
                              json_object_get(p, "consistencyMode"), "timeCreated",
                              json_object_get(p, "timeCreated"), "sourceMetadata",
                              json_object_get(p, "sourceMetadata"), "disks", disks);
        return rep->body ? 0 : -ENOMEM;
}

static int op_hold_release(rp_service *svc, const json_t *req, rp_source_reply *rep)
{
        RP_COMPUTE_MODEL_LOCK();
        const char *id = json_string_value(json_object_get(req, "id"));
        _cleanup_(rp_resource_freep) rp_resource *hold = NULL;
        rp_region *reg = NULL;
        int k = find_hold(svc, id, &reg, &hold);
        if (k == -ENOENT) {
                rep->body = json_pack("{s:s}", "state", "Released");
                return rep->body ? 0 : -ENOMEM;
        }
        if (k < 0)
                return k;
        json_t *p = json_object_get(hold->body, "properties");
        if (!rp_streq(json_string_value(json_object_get(p, "provisioningState")), "Deleting")) {
                /* a capture still running sees Deleting and stops; the job then removes it */
                json_object_set_new(p, "provisioningState", json_string("Deleting"));
                _cleanup_(rp_operation_freep) rp_operation *op = NULL;
                k = rp_db_res_put(reg->db, hold);
                if (k >= 0)
                        k = rp_arm_op_create(svc, reg, hold->sub, "hold.release", hold->key, NULL,
                                             true, &op);
                if (k < 0)
                        return k;
        }
        rep->body = json_pack("{s:s}", "state", "Releasing");
        return rep->body ? 0 : -ENOMEM;
}

/* A restore point collection hosted here: {id, location}. */
static int op_rpc_get(rp_service *svc, const json_t *req, rp_source_reply *rep)
{
        const char *id = json_string_value(json_object_get(req, "id"));
        _cleanup_(rp_resource_freep) rp_resource *rpc = NULL;
        rp_region *reg = NULL;
        int k = find_typed(svc, id, RP_TYPE_RPC, false, &reg, &rpc);
        if (k == -ENOENT)
                return src_error(rep, RP_EC_RESOURCE_NOT_FOUND,
                                 "The restore point collection '%s' was not found.",
                                 rp_strempty(id));
        if (k < 0)
                return k;
        rep->body = json_pack("{s:s, s:s}", "id", rpc->id, "location", reg->name);
        return rep->body ? 0 : -ENOMEM;
}

/* A restore point hosted here, with its disk restore points (what a copy needs). */
static int op_rp_get(rp_service *svc, const json_t *req, rp_source_reply *rep)
{
        const char *id = json_string_value(json_object_get(req, "id"));
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        rp_region *reg = NULL;
        int k = find_typed(svc, id, RP_TYPE_RP, false, &reg, &rp);
        if (k == -ENOENT)
                return src_error(rep, RP_EC_RESOURCE_NOT_FOUND,
                                 "The restore point '%s' was not found.", rp_strempty(id));
        if (k < 0)
                return k;
        json_t *disks = json_array();
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DRP, .parent_key = rp->key };
        k = disks ? rp_db_res_list(reg->db, &f, &list, &n) : -ENOMEM;
        for (size_t i = 0; k >= 0 && i < n; i++)
                if (json_array_append_new(
                            disks,
                            json_pack("{s:s, s:O, s:O?, s:O, s:b}", "id", list[i]->id, "name",
                                      json_object_get(list[i]->body, "name"), "size",
                                      json_object_get(list[i]->internal, "size"), "properties",
                                      json_object_get(list[i]->body, "properties"), "committed",
                                      json_is_true(json_object_get(list[i]->internal,
                                                                   "committed")))) < 0)
                        k = -ENOMEM;
        rp_resource_list_free(list, n);
        if (k < 0) {
                json_decref(disks);
                return k;
        }
        rep->body = json_pack("{s:s, s:s, s:s, s:O, s:o}", "id", rp->id, "location", reg->name,
                              "parentKey", rp->parent_key, "properties",
                              json_object_get(rp->body, "properties"), "disks", disks);
        return rep->body ? 0 : -ENOMEM;
}

int rp_source_handle(rp_service *svc, const char *op, const json_t *req, rp_source_reply *rep)
{
        *rep = (rp_source_reply){ 0 };
        if (!json_is_object(req))
                return src_error(rep, RP_EC_INVALID_REQUEST_CONTENT, "A JSON object is needed.");
        if (rp_streq(op, "vm.get"))
                return op_vm_get(svc, req, rep);
        if (rp_streq(op, "rpc.get"))
                return op_rpc_get(svc, req, rep);
        if (rp_streq(op, "rp.get"))
                return op_rp_get(svc, req, rep);
        if (rp_streq(op, "hold.create"))
                return op_hold_create(svc, req, rep);
        if (rp_streq(op, "hold.get"))
                return op_hold_get(svc, req, rep);
        if (rp_streq(op, "hold.release"))
                return op_hold_release(svc, req, rep);
        return src_error(rep, RP_EC_NOT_FOUND, "Unknown source operation '%s'.", rp_strempty(op));
}

/* Keep the manifest of @p drp as its disk's baseline if the disk's next capture would build on
 * it; otherwise drop it. */
static int keep_baseline(rp_region *reg, rp_resource *drp)
{
        const char *uuid = json_string_value(json_object_get(drp->internal, "uuid"));
        const char *disk_key = json_string_value(json_object_get(drp->internal, "disk_key"));
        _cleanup_free_ char *path = uuid ? rp_region_manifest_path(reg, uuid) : NULL;
        if (!path)
                return 0;
        _cleanup_(rp_resource_freep) rp_resource *disk = NULL;
        if (!disk_key || rp_db_res_get(reg->db, disk_key, &disk) < 0 ||
            !rp_streq(json_string_value(json_object_get(disk->internal, "base_drp")), drp->key)) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        _cleanup_free_ char *base = rp_region_baseline_path(reg, uuid);
        if (!base)
                return -ENOMEM;
        if (rename(path, base) < 0 && errno != ENOENT)
                return -errno;
        _cleanup_free_ char *dir = rp_asprintf("%s/manifests", reg->dir);
        if (dir)
                (void)rp_fsync_dir(dir);
        const char *old = json_string_value(rp_json_get_path(disk->internal, "base_hold.uuid"));
        if (old && !rp_streq(old, uuid)) {
                _cleanup_free_ char *oldp = rp_region_baseline_path(reg, old);
                if (oldp)
                        (void)unlink(oldp);
        }
        json_object_del(disk->internal, "base_drp");
        json_object_set_new(disk->internal, "base_hold",
                            json_pack("{s:s, s:s}", "key", drp->key, "uuid", uuid));
        return rp_db_res_put(reg->db, disk);
}

int rp_job_hold_release(rp_service *svc, rp_region *reg, rp_operation *op)
{
        {
                RP_COMPUTE_MODEL_LOCK();
                rp_resource **list = NULL;
                size_t n = 0;
                rp_db_filter f = { .type = RP_TYPE_DRP, .parent_key = op->resource_key };
                int k = rp_db_res_list(reg->db, &f, &list, &n);
                for (size_t i = 0; k >= 0 && i < n; i++) {
                        const char *uuid =
                                json_string_value(json_object_get(list[i]->internal, "uuid"));
                        k = keep_baseline(reg, list[i]);
                        if (k >= 0)
                                k = rp_db_res_delete(reg->db, list[i]->key);
                        if (k >= 0 && uuid)
                                k = rp_compute_drp_index(reg->db, uuid, NULL);
                }
                rp_resource_list_free(list, n);
                if (k >= 0) {
                        k = rp_db_res_delete(reg->db, op->resource_key);
                        if (k == -ENOENT)
                                k = 0;
                }
                if (k < 0)
                        return k;
        }
        rp_region_gc(reg);
        log_info("hold '%s' released", op->resource_key);
        return rp_arm_op_finish(reg, op, "Succeeded", 200, NULL, RP_EC_NONE, NULL);
}

char *rp_region_baseline_path(rp_region *reg, const char *drp_uuid)
{
        return rp_asprintf("%s/manifests/baseline-%s.manifest", reg->dir, drp_uuid);
}

int rp_source_call(rp_service *svc, const char *region, const char *op, const json_t *req,
                   rp_source_reply *rep)
{
        *rep = (rp_source_reply){ 0 };
        if (region && rp_service_region(svc, region))
                return rp_source_handle(svc, op, req, rep);
        if (svc->remote_call)
                return svc->remote_call(svc, region, op, req, rep);
        return -EHOSTUNREACH;
}
