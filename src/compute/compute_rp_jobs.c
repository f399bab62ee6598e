/* compute_rp_jobs.c: deleting restore points and collections (region worker jobs).
 * Idempotent: a rerun after a crash finds less to delete and finishes the rest. The chunks
 * the deleted manifests referenced are reclaimed by the region's garbage collection. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "compute.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"

char *rp_region_manifest_path(rp_region *reg, const char *drp_uuid)
{
        return rp_asprintf("%s/manifests/%s.manifest", reg->dir, drp_uuid);
}

/* Delete one restore point: its disk restore points (records and manifests), then itself. */
static int rp_remove(rp_region *reg, const char *rp_key)
{
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DRP, .parent_key = rp_key };
        int k = rp_db_res_list(reg->db, &f, &list, &n);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n && k >= 0; i++) {
                const char *uuid = json_string_value(json_object_get(list[i]->internal, "uuid"));
                k = rp_db_res_delete(reg->db, list[i]->key);
                if (k >= 0 && uuid)
                        k = rp_compute_drp_index(reg->db, uuid, NULL);
                if (k >= 0 && uuid) {
                        _cleanup_free_ char *path = rp_region_manifest_path(reg, uuid);
                        if (path && unlink(path) < 0 && errno != ENOENT)
                                k = -errno;
                }
        }
        rp_resource_list_free(list, n);
        if (k < 0)
                return k;
        /* a point pulled from another region lets its hold there go */
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        if (rp_db_res_get(reg->db, rp_key, &rp) == 0) {
                k = rp_compute_pull_forget(reg, rp);
                if (k < 0)
                        return k;
        }
        k = rp_db_res_delete(reg->db, rp_key);
        return k < 0 ? k : 0;
}

int rp_job_rp_delete(rp_service *svc, rp_region *reg, rp_operation *op)
{
        {
                /* the records go under the model lock (a grant must not write a disk restore
                 * point back); the space is reclaimed outside it */
                RP_COMPUTE_MODEL_LOCK();
                int k = rp_remove(reg, op->resource_key);
                if (k < 0)
                        return k;
        }
        rp_region_gc(reg);
        return rp_arm_op_finish(reg, op, "Succeeded", 200, NULL, RP_EC_NONE, NULL);
}

int rp_compute_rpc_remove(rp_region *reg, const char *rpc_key)
{
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_RP, .parent_key = rpc_key };
        int k = rp_db_res_list(reg->db, &f, &list, &n);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n && k >= 0; i++)
                k = rp_remove(reg, list[i]->key);
        rp_resource_list_free(list, n);
        if (k >= 0)
                k = rp_db_res_delete(reg->db, rpc_key);
        return k < 0 ? k : 0;
}

int rp_job_rpc_delete(rp_service *svc, rp_region *reg, rp_operation *op)
{
        {
                RP_COMPUTE_MODEL_LOCK();
                int k = rp_compute_rpc_remove(reg, op->resource_key);
                if (k < 0)
                        return k;
        }
        rp_region_gc(reg);
        return rp_arm_op_finish(reg, op, "Succeeded", 200, NULL, RP_EC_NONE, NULL);
}
