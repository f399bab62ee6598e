/* compute_jobs.c: long-running work run by the region workers (resumable: each job is
 * idempotent, so a restart that runs it again does no harm). */
#include <string.h>

#include "compute.h"
#include "deployments.h"
#include "disk/disk_image.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"

static const char *arg_str(const rp_operation *op, const char *k)
{
        return json_string_value(json_object_get(op->args, k));
}

/* Remove a disk's record, its uuid mapping and its image. Idempotent. */
static int disk_remove(rp_region *reg, const char *key, const char *uuid)
{
        if (uuid) {
                _cleanup_free_ char *path = rp_region_disk_path(reg, uuid);
                _cleanup_free_ char *map = rp_asprintf("diskfile/%s", uuid);
                if (!path || !map)
                        return -ENOMEM;
                int k = rp_disk_image_remove(path);
                if (k < 0 && k != -ENOENT)
                        return k;
                rp_db_kv_put(reg->db, map, "");
        }
        int k = rp_db_res_delete(reg->db, key);
        return k < 0 ? k : 0;
}

int rp_job_disk_delete(rp_service *svc, rp_region *reg, rp_operation *op)
{
        RP_COMPUTE_MODEL_LOCK();
        int k = disk_remove(reg, op->resource_key, arg_str(op, "uuid"));
        if (k < 0)
                return k;
        return rp_arm_op_finish(reg, op, "Succeeded", 200, NULL, RP_EC_NONE, NULL);
}

int rp_job_disk_copy(rp_service *svc, rp_region *reg, rp_operation *op)
{
        json_t *body = json_object_get(op->args, "body");
        json_t *internal = json_object_get(op->args, "internal");
        const char *uuid = json_string_value(json_object_get(internal, "uuid"));
        const char *src_uuid = arg_str(op, "source_uuid");
        _cleanup_free_ char *dst = uuid ? rp_region_disk_path(reg, uuid) : NULL;
        _cleanup_free_ char *src = src_uuid ? rp_region_disk_path(reg, src_uuid) : NULL;
        if (!dst || !src || !body)
                return rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_INTERNAL,
                                        "The copy job is missing its arguments.");
        /* A rerun after a crash starts the copy over. */
        (void)rp_disk_image_remove(dst);
        /* Writes to the source wait while it is copied, so the copy is one point in time. The
         * copy runs outside the model lock: it may take long. */
        rp_disk_image *simg = NULL;
        int k = rp_disk_image_open(src, &simg);
        if (k >= 0) {
                k = rp_disk_image_hold(simg);
                if (k >= 0) {
                        k = rp_disk_image_copy(src, dst);
                        rp_disk_image_release(simg);
                }
                rp_disk_image_unref(simg);
        }

        RP_COMPUTE_MODEL_LOCK();
        /* The placeholder the handler wrote (provisioningState Updating) must still be there
         * and ours: the disk may have gone with its group meanwhile. */
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        int c = rp_db_res_get(reg->db, op->resource_key, &res);
        if (c < 0 && c != -ENOENT)
                return c;
        bool ours =
                c == 0 && rp_streq(json_string_value(json_object_get(res->internal, "uuid")), uuid);
        if (k == -ENOENT || !ours) {
                (void)rp_disk_image_remove(dst);
                if (ours) {
                        c = rp_db_res_delete(reg->db, op->resource_key);
                        if (c < 0)
                                return c;
                }
                return rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_RESOURCE_NOT_FOUND,
                                        k == -ENOENT ? "The source disk was deleted before the "
                                                       "copy finished."
                                                     : "The disk was deleted before the copy "
                                                       "finished.");
        }
        if (k < 0)
                return k;
        json_decref(res->body);
        res->body = json_deep_copy(body);
        if (res->internal)
                json_decref(res->internal);
        res->internal = json_deep_copy(internal);
        _cleanup_free_ char *map = rp_asprintf("diskfile/%s", uuid);
        if (!res->body || !res->internal || !map)
                return -ENOMEM;
        k = rp_db_kv_put(reg->db, map, res->key);
        if (k >= 0)
                k = rp_db_res_put(reg->db, res);
        if (k < 0)
                return k;
        return rp_arm_op_finish(reg, op, "Succeeded", 200, json_deep_copy(res->body), RP_EC_NONE,
                                NULL);
}

/* Detach every disk of a VM; delete those whose deleteOption is Delete. */
static int vm_release_disks(rp_region *reg, const json_t *vm)
{
        json_t *sp = rp_json_get_path(vm, "properties.storageProfile");
        json_t *list = json_array();
        if (!list)
                return -ENOMEM;
        json_t *os = json_object_get(sp, "osDisk");
        if (os)
                json_array_append(list, os);
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(sp, "dataDisks"), i, d)
                json_array_append(list, d);
        int r = 0;
        json_array_foreach(list, i, d) {
                const char *id = json_string_value(rp_json_get_path(d, "managedDisk.id"));
                const char *opt = json_string_value(json_object_get(d, "deleteOption"));
                _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
                _cleanup_(rp_resource_freep) rp_resource *disk = NULL;
                if (!key || rp_db_res_get(reg->db, key, &disk) < 0)
                        continue;
                if (opt && strcasecmp(opt, "Delete") == 0) {
                        int k = disk_remove(
                                reg, disk->key,
                                json_string_value(json_object_get(disk->internal, "uuid")));
                        if (k < 0)
                                r = k;
                        continue;
                }
                json_object_del(disk->body, "managedBy");
                json_t *props = json_object_get(disk->body, "properties");
                const char *st = json_string_value(json_object_get(props, "diskState"));
                if (rp_streq(st, "Attached"))
                        json_object_set_new(props, "diskState", json_string("Unattached"));
                int k = rp_db_res_put(reg->db, disk);
                if (k < 0)
                        r = k;
        }
        json_decref(list);
        return r;
}

int rp_job_vm_delete(rp_service *svc, rp_region *reg, rp_operation *op)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *vm = NULL;
        int k = rp_db_res_get(reg->db, op->resource_key, &vm);
        if (k == 0) {
                k = vm_release_disks(reg, vm->body);
                if (k < 0)
                        return k;
                k = rp_db_res_delete(reg->db, vm->key);
        }
        if (k < 0 && k != -ENOENT)
                return k;
        return rp_arm_op_finish(reg, op, "Succeeded", 200, NULL, RP_EC_NONE, NULL);
}

/* Delete everything in a group, region by region: VMs first (releasing their disks), then
 * disks, then the group's copies. */
int rp_job_group_delete(rp_service *svc, rp_region *home, rp_operation *op)
{
        RP_COMPUTE_MODEL_LOCK();
        const char *sub = arg_str(op, "sub"), *rg = arg_str(op, "rg");
        static const char *const order[] = { RP_TYPE_VM, RP_TYPE_DISK };
        for (size_t i = 0; i < svc->n_regions; i++) {
                rp_region *reg = svc->regions[i];
                /* restore point collections first; their chunks go at the region's next gc,
                 * which runs on that region's own worker (never beside its captures) */
                rp_resource **rpcs = NULL;
                size_t n_rpcs = 0;
                rp_db_filter cf = { .type = RP_TYPE_RPC, .sub = sub, .rg = rg };
                int r = rp_db_res_list(reg->db, &cf, &rpcs, &n_rpcs);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < n_rpcs && r >= 0; j++)
                        r = rp_compute_rpc_remove(reg, rpcs[j]->key);
                rp_resource_list_free(rpcs, n_rpcs);
                if (r < 0)
                        return r;
                if (n_rpcs > 0) {
                        _cleanup_(rp_operation_freep) rp_operation *gc = NULL;
                        r = rp_arm_op_create(svc, reg, "admin", "region.gc", NULL, NULL, true, &gc);
                        if (r < 0)
                                return r;
                }
                for (size_t t = 0; t < ELEMENTSOF(order); t++) {
                        rp_resource **list = NULL;
                        size_t n = 0;
                        rp_db_filter f = { .type = order[t], .sub = sub, .rg = rg };
                        int k = rp_db_res_list(reg->db, &f, &list, &n);
                        if (k < 0)
                                return k;
                        for (size_t j = 0; j < n && k >= 0; j++) {
                                if (t == 0) {
                                        k = vm_release_disks(reg, list[j]->body);
                                        if (k >= 0)
                                                k = rp_db_res_delete(reg->db, list[j]->key);
                                } else {
                                        k = disk_remove(reg, list[j]->key,
                                                        json_string_value(json_object_get(
                                                                list[j]->internal, "uuid")));
                                }
                        }
                        rp_resource_list_free(list, n);
                        if (k < 0)
                                return k;
                }
        }
        int d = rp_deploy_remove_group(svc, sub, rg);
        if (d < 0)
                return d;
        for (size_t i = 0; i < svc->n_regions; i++) {
                int k = rp_db_res_delete(svc->regions[i]->db, op->resource_key);
                if (k < 0)
                        return k;
        }
        log_info("resource group '%s' deleted", rg);
        return rp_arm_op_finish(home, op, "Succeeded", 200, NULL, RP_EC_NONE, NULL);
}
