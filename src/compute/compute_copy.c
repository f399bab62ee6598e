/* compute_copy.c: copying a restore point into another region's collection (the successor
 * API: a collection whose source is a collection, and a restore point with
 * sourceRestorePoint.id), in one process through the in-process peer (src/repl).
 *
 * DESIGN: the PUT creates the point and its disk restore points in the target region, not yet
 * usable (committed false). Job rp.copy marks the point Succeeded (the copy has started, as
 * Azure reports it) and queues one drp.replicate job per disk. Each runs the resumable copy
 * engine on the region worker: the engine's cursor is saved in the job's arguments after
 * every step, so a restart resumes; progress (integer percent, bytes/s, time left) is written
 * to the disk restore point at most once a second; once the manifest is in place the disk
 * restore point becomes usable. Restore and SAS refuse it before that. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compute.h"
#include "repl/peer.h"
#include "repl/repl.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

#define RP_DISPLAY "Microsoft.Compute/restorePointCollections/restorePoints"

/* Rewrite the diskRestorePoint ids of a copied sourceMetadata to the target's. */
void rp_compute_rewrite_drp_ids(json_t *meta, const json_t *map)
{
        json_t *sp = json_object_get(meta, "storageProfile");
        json_t *all = json_array();
        if (!all)
                return;
        if (json_object_get(sp, "osDisk"))
                json_array_append(all, json_object_get(sp, "osDisk"));
        json_array_extend(all, json_object_get(sp, "dataDisks"));
        size_t i;
        json_t *d;
        json_array_foreach(all, i, d) {
                json_t *drp = json_object_get(d, "diskRestorePoint");
                const char *old = json_string_value(json_object_get(drp, "id"));
                _cleanup_free_ char *k = old ? rp_arm_id_key(old) : NULL;
                json_t *neu = k ? json_object_get(map, k) : NULL;
                if (neu)
                        json_object_set(drp, "id", neu);
        }
        json_decref(all);
}

struct copy_tx {
        rp_resource *rp;
        rp_resource **drps;
        size_t n;
};

static int copy_tx(rp_db *db, void *ud)
{
        struct copy_tx *x = ud;
        for (size_t i = 0; i < x->n; i++) {
                int k = rp_db_res_put(db, x->drps[i]);
                if (k >= 0)
                        k = rp_compute_drp_index(
                                db,
                                json_string_value(json_object_get(x->drps[i]->internal, "uuid")),
                                x->drps[i]->key);
                if (k < 0)
                        return k;
        }
        return rp_db_res_put(db, x->rp);
}

int rp_compute_copy_commit(rp_region *reg, rp_resource *rp, rp_resource **drps, size_t n)
{
        struct copy_tx x = { .rp = rp, .drps = drps, .n = n };
        return rp_db_run_tx(reg->db, copy_tx, &x);
}

rp_resource *rp_compute_copy_drp_new(const char *rp_id, const char *sub, const char *rg,
                                     const char *name, json_t *size, json_t *props,
                                     const char *source_drp_id, const char *source_resource_id,
                                     const char *source_region)
{
        _cleanup_free_ char *did = rp_asprintf("%s/diskRestorePoints/%s", rp_id, name);
        char uuid[RP_UUID_STR_LEN + 1];
        _cleanup_(rp_resource_freep) rp_resource *drp = NULL;
        if (!did || rp_uuid4(uuid) < 0 ||
            !(drp = rp_compute_resource_new(did, RP_TYPE_DRP, sub, rg)))
                return NULL;
        json_t *p = json_deep_copy(props);
        drp->body = json_pack("{s:s, s:s, s:s, s:o}", "id", did, "name", name, "type",
                              "Microsoft.Compute/restorePointCollections/restorePoints/"
                              "diskRestorePoints",
                              "properties", p ? p : json_object());
        if (!drp->body)
                return NULL;
        p = json_object_get(drp->body, "properties");
        json_object_set_new(p, "sourceResourceId", json_string(source_resource_id));
        json_object_set_new(p, "sourceResourceLocation", json_string(source_region));
        json_object_set_new(p, "replicationState", json_string("Replicating"));
        json_object_set_new(p, "completionPercent", json_real(0.0));
        /* what arrives is encrypted under this region's platform key, whatever the source
         * disk's encryption */
        json_object_set_new(p, "encryption",
                            json_pack("{s:s}", "type", "EncryptionAtRestWithPlatformKey"));
        json_object_del(p, "diskAccessId");
        drp->internal = json_pack("{s:s, s:b, s:O?, s:s, s:I, s:s, s:s, s:s, s:i}", "uuid", uuid,
                                  "committed", 0, "size", size, "access", "None", "generation",
                                  (json_int_t)0, "source_drp_id", source_drp_id, "source_region",
                                  source_region, "state", "inProgress", "percent", 0);
        return drp->internal ? TAKE_PTR(drp) : NULL;
}

void rp_compute_rp_copy_create(rp_arm_req *r, rp_region *reg, rp_resource *rpc, const char *id,
                               const char *source_rp_id, json_t *shape)
{
        _cleanup_(rp_arm_id_freep) rp_arm_id *sid = NULL;
        if (rp_arm_id_parse(source_rp_id, &sid) < 0 || !rp_arm_id_is_type(sid, RP_DISPLAY)) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.sourceRestorePoint.id",
                                   "'%s' is not a restore point id.", source_rp_id);
                return;
        }
        /* the source region answers, hosted here or by a peer */
        const char *sregion =
                json_string_value(rp_json_get_path(rpc->body, "properties.source.location"));
        _cleanup_json_ json_t *req = json_pack("{s:s}", "id", source_rp_id);
        rp_source_reply rep;
        int k = req && sregion ? rp_source_call(r->svc, sregion, "rp.get", req, &rep) : -ENOMEM;
        _cleanup_json_ json_t *src = k == 0 ? TAKE_PTR(rep.body) : NULL;
        if (k == -EREMOTE && rep.ec == RP_EC_RESOURCE_NOT_FOUND) {
                rp_source_reply_done(&rep);
                rp_arm_reply_error(r, RP_EC_RESOURCE_NOT_FOUND, "properties.sourceRestorePoint.id",
                                   "The source restore point '%s' was not found.", source_rp_id);
                return;
        }
        if (k < 0) {
                if (k == -EREMOTE)
                        rp_arm_reply_error(r, rep.ec, "properties.sourceRestorePoint.id", "%s",
                                           rp_strempty(rep.message));
                else
                        rp_arm_reply_error(r, RP_EC_SERVICE_UNAVAILABLE,
                                           "properties.sourceRestorePoint.id",
                                           "The source region '%s' could not be reached: %s.",
                                           rp_strempty(sregion), strerror(-k));
                rp_source_reply_done(&rep);
                return;
        }
        const char *src_id = json_string_value(json_object_get(src, "id"));
        const char *rpc_src =
                json_string_value(rp_json_get_path(rpc->body, "properties.source.id"));
        _cleanup_free_ char *rpc_src_key = rpc_src ? rp_arm_id_key(rpc_src) : NULL;
        if (!rp_streq(json_string_value(json_object_get(src, "parentKey")), rpc_src_key)) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.sourceRestorePoint.id",
                                   "The source restore point must belong to the collection '%s', "
                                   "the source of this collection.",
                                   rp_strempty(rpc_src));
                return;
        }
        json_t *sp = json_object_get(src, "properties");
        if (!rp_streq(json_string_value(json_object_get(sp, "provisioningState")), "Succeeded")) {
                rp_arm_reply_error(
                        r, RP_EC_OPERATION_NOT_ALLOWED, "properties.sourceRestorePoint.id",
                        "The source restore point '%s' is not in state Succeeded.", source_rp_id);
                return;
        }
        json_t *sdrps = json_object_get(src, "disks");
        size_t n = json_array_size(sdrps);
        for (size_t i = 0; i < n; i++) {
                json_t *d = json_array_get(sdrps, i);
                if (!json_is_true(json_object_get(d, "committed"))) {
                        rp_arm_reply_error(r, RP_EC_RP_NOT_READY,
                                           "properties.sourceRestorePoint.id",
                                           "The disk restore point '%s' of the source is not "
                                           "complete yet: copy it once its own copy is done.",
                                           json_string_value(json_object_get(d, "id")));
                        return;
                }
        }

        _cleanup_(rp_resource_freep) rp_resource *res =
                rp_compute_resource_new(id, RP_TYPE_RP, rpc->sub, rpc->rg);
        rp_resource **drps = rp_calloc(n + 1, sizeof *drps);
        json_t *map = json_object(), *disks = json_array();
        k = res && drps && map && disks && src_id ? 0 : -ENOMEM;
        for (size_t i = 0; k >= 0 && i < n; i++) {
                json_t *d = json_array_get(sdrps, i);
                const char *did = json_string_value(json_object_get(d, "id"));
                _cleanup_free_ char *dkey = did ? rp_arm_id_key(did) : NULL;
                drps[i] = dkey ? rp_compute_copy_drp_new(
                                         id, rpc->sub, rpc->rg,
                                         json_string_value(json_object_get(d, "name")),
                                         json_object_get(d, "size"),
                                         json_object_get(d, "properties"), did, did, sregion)
                               : NULL;
                if (!drps[i]) {
                        k = -ENOMEM;
                        break;
                }
                json_object_set(map, dkey, json_object_get(drps[i]->body, "id"));
                json_array_append_new(disks, json_pack("{s:O, s:s}", "drp_id",
                                                       json_object_get(drps[i]->body, "id"),
                                                       "drp_key", drps[i]->key));
        }
        if (k >= 0) {
                json_t *meta = json_deep_copy(json_object_get(sp, "sourceMetadata"));
                if (meta) {
                        rp_compute_rewrite_drp_ids(meta, map);
                        json_object_set_new(meta, "location", json_string(sregion));
                }
                _cleanup_free_ char *skey = rp_arm_id_key(src_id);
                res->body = json_pack("{s:s, s:s, s:s, s:{s:{s:s}, s:O?, s:O?, s:s, s:O?, s:o?}}",
                                      "id", id, "name", r->cap[3], "type", RP_DISPLAY, "properties",
                                      "sourceRestorePoint", "id", src_id, "excludeDisks",
                                      json_object_get(sp, "excludeDisks"), "consistencyMode",
                                      json_object_get(sp, "consistencyMode"), "provisioningState",
                                      "Creating", "timeCreated", json_object_get(sp, "timeCreated"),
                                      "sourceMetadata", meta);
                res->internal = json_pack("{s:O, s:b, s:s?, s:s, s:I, s:O}", "request", shape,
                                          "copy", 1, "source_rp_key", skey, "source_region",
                                          sregion, "added_bytes", (json_int_t)0, "disks", disks);
                if (!res->body || !res->internal)
                        k = -ENOMEM;
        }
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        if (k >= 0)
                k = rp_compute_copy_commit(reg, res, drps, n);
        if (k >= 0)
                k = rp_arm_op_create(
                        r->svc, reg, res->sub, "rp.copy", res->key,
                        json_pack("{s:s}", "api_version", r->api_version ? r->api_version : ""),
                        true, &op);
        for (size_t i = 0; drps && i < n; i++)
                rp_resource_free(drps[i]);
        rp_free(drps);
        json_decref(map);
        json_decref(disks);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "restore point copy");
                return;
        }
        log_info("restore point '%s' copies '%s' from %s into %s (%zu disk(s))", id, src_id,
                 sregion, reg->name, n);
        rp_arm_lro_headers(r, reg, op, false);
        rp_arm_reply_json(r, 201, rp_compute_rp_present(r->api_version, res, false));
}

int rp_job_rp_copy(rp_service *svc, rp_region *reg, rp_operation *op)
{
        const char *api = json_string_value(json_object_get(op->args, "api_version"));
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        {
                RP_COMPUTE_MODEL_LOCK();
                int k = rp_db_res_get(reg->db, op->resource_key, &rp);
                if (k == -ENOENT)
                        return rp_arm_op_finish(reg, op, "Failed", 0, NULL,
                                                RP_EC_RESOURCE_NOT_FOUND,
                                                "The restore point was deleted before its copy "
                                                "started.");
                if (k < 0)
                        return k;
                json_t *props = json_object_get(rp->body, "properties");
                if (rp_streq(json_string_value(json_object_get(props, "provisioningState")),
                             "Creating")) {
                        /* As Azure: Succeeded once the copy has started; the copy's progress and
                         * outcome are the instance view's. */
                        json_object_set_new(props, "provisioningState", json_string("Succeeded"));
                        k = rp_db_res_put(reg->db, rp);
                        if (k < 0)
                                return k;
                        size_t i;
                        json_t *d;
                        json_array_foreach(json_object_get(rp->internal, "disks"), i, d) {
                                _cleanup_(rp_operation_freep) rp_operation *job = NULL;
                                k = rp_arm_op_create(
                                        svc, reg, rp->sub, "drp.replicate",
                                        json_string_value(json_object_get(d, "drp_key")), NULL,
                                        true, &job);
                                if (k < 0)
                                        return k;
                        }
                }
        }
        return rp_arm_op_finish(reg, op, "Succeeded", 200, rp_compute_rp_present(api, rp, false),
                                RP_EC_NONE, NULL);
}

int rp_compute_local_manifest(rp_service *svc, const char *drp_id, uint8_t **ret_data,
                              size_t *ret_len, json_t **ret_meta)
{
        _cleanup_free_ char *key = rp_arm_id_key(drp_id);
        _cleanup_(rp_resource_freep) rp_resource *drp = NULL;
        rp_region *sreg = NULL;
        int k = key ? rp_service_find(svc, key, &sreg, &drp) : -ENOMEM;
        if (k < 0)
                return k;
        if (!json_is_true(json_object_get(drp->internal, "committed")))
                return -ENOENT;
        const char *uuid = json_string_value(json_object_get(drp->internal, "uuid"));
        _cleanup_free_ char *path = uuid ? rp_region_manifest_path(sreg, uuid) : NULL;
        char *data = NULL;
        long n = path ? rp_read_file(path, (size_t)8 << 30, &data) : -ENOMEM;
        if (n < 0)
                return (int)n;
        *ret_data = (uint8_t *)data;
        *ret_len = (size_t)n;
        *ret_meta = json_pack("{s:s, s:s, s:O?}", "sourceId", drp->id, "location", sreg->name,
                              "diskSizeBytes", json_object_get(drp->internal, "size"));
        return 0;
}

/* Record a copy's progress on its disk restore point. @return 0, or -ENOENT if it is gone. */
static int record(rp_region *reg, const char *key, const char *state, unsigned percent,
                  const char *message, bool committed)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *drp = NULL;
        int k = rp_db_res_get(reg->db, key, &drp);
        if (k < 0)
                return k;
        json_t *p = json_object_get(drp->body, "properties");
        json_object_set_new(drp->internal, "state", json_string(state));
        json_object_set_new(drp->internal, "percent", json_integer(percent));
        if (message)
                json_object_set_new(drp->internal, "message", json_string(message));
        if (committed)
                json_object_set_new(drp->internal, "committed", json_true());
        json_object_set_new(p, "completionPercent", json_real((double)percent));
        json_object_set_new(p, "replicationState",
                            json_string(rp_streq(state, "succeeded") ? "Succeeded"
                                        : rp_streq(state, "failed")  ? "Failed"
                                                                     : "Replicating"));
        return rp_db_res_put(reg->db, drp);
}

/* Limits of the copies from each source region (config: copy_bandwidth, copy_max). Set once
 * at start, before the workers run; read by them. */
typedef struct copy_pair {
        char *source;
        rp_repl_limiter *limiter;
        rp_repl_sem *sem;
} copy_pair;
static copy_pair copy_pairs[48];
static size_t n_copy_pairs;
static uint64_t copy_time_limit_sec;

int rp_compute_copy_limits(const char *source, uint64_t bytes_per_sec, unsigned max_copies)
{
        if (n_copy_pairs == ELEMENTSOF(copy_pairs))
                return -E2BIG;
        copy_pair *p = &copy_pairs[n_copy_pairs];
        p->source = rp_strdup(source);
        p->limiter = bytes_per_sec ? rp_repl_limiter_new(bytes_per_sec) : NULL;
        p->sem = max_copies ? rp_repl_sem_new(max_copies) : NULL;
        if (!p->source || (bytes_per_sec && !p->limiter) || (max_copies && !p->sem)) {
                rp_free(p->source);
                rp_repl_limiter_unref(p->limiter);
                rp_repl_sem_unref(p->sem);
                return -ENOMEM;
        }
        n_copy_pairs++;
        return 0;
}

void rp_compute_copy_time_limit(uint64_t seconds)
{
        copy_time_limit_sec = seconds;
}

void rp_compute_copy_limits_free(void)
{
        for (size_t i = 0; i < n_copy_pairs; i++) {
                rp_free(copy_pairs[i].source);
                rp_repl_limiter_unref(copy_pairs[i].limiter);
                rp_repl_sem_unref(copy_pairs[i].sem);
        }
        n_copy_pairs = 0;
}

static void copy_config(const char *source, rp_repl_config *cfg)
{
        *cfg = (rp_repl_config){ .time_limit = copy_time_limit_sec * RP_USEC_PER_SEC };
        for (size_t i = 0; i < n_copy_pairs; i++)
                if (rp_streq(copy_pairs[i].source, source)) {
                        cfg->limiter = copy_pairs[i].limiter;
                        cfg->sem = copy_pairs[i].sem;
                }
}

/* rp_peer_local_new lookup: the manifest of a disk restore point hosted by this process. */
static int local_manifest(void *ud, const char *drp_id, uint8_t **ret_data, size_t *ret_len,
                          json_t **ret_meta)
{
        return rp_compute_local_manifest(ud, drp_id, ret_data, ret_len, ret_meta);
}

/* Count what a finished copy added to this region in its restore point's totals (the chunks
 * it lacked: one figure, this region's). */
static void add_bytes(rp_region *reg, const char *rp_key, uint64_t n)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        if (rp_db_res_get(reg->db, rp_key, &rp) < 0)
                return;
        json_int_t cur = json_integer_value(json_object_get(rp->internal, "added_bytes"));
        json_object_set_new(rp->internal, "added_bytes", json_integer(cur + (json_int_t)n));
        (void)rp_db_res_put(reg->db, rp);
}

int rp_job_drp_replicate(rp_service *svc, rp_region *reg, rp_operation *op)
{
        _cleanup_(rp_resource_freep) rp_resource *drp = NULL;
        int k = rp_db_res_get(reg->db, op->resource_key, &drp);
        if (k == -ENOENT)
                return rp_arm_op_finish(reg, op, "Canceled", 0, NULL, RP_EC_NONE, NULL);
        if (k < 0)
                return k;
        const char *src_id = json_string_value(json_object_get(drp->internal, "source_drp_id"));
        const char *uuid = json_string_value(json_object_get(drp->internal, "uuid"));
        _cleanup_free_ char *mpath = uuid ? rp_region_manifest_path(reg, uuid) : NULL;
        const char *src_region = json_string_value(json_object_get(drp->internal, "source_region"));
        rp_region *sreg = src_region ? rp_service_region(svc, src_region) : NULL;
        if (!src_id || !mpath || (!sreg && !svc->remote_peer)) {
                record(reg, op->resource_key, "failed", 0, "The copy's source is unknown.", false);
                return rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_INTERNAL,
                                        "The copy's source is unknown.");
        }
        rp_peer *peer = NULL;
        if (sreg)
                k = rp_peer_local_new(sreg->store, local_manifest, svc, &peer);
        else
                k = svc->remote_peer(svc, src_region, (void **)&peer);
        if (k < 0)
                return k;
        rp_repl_copy *c = NULL;
        rp_repl_config cfg;
        copy_config(src_region, &cfg);
        k = rp_repl_copy_new(&cfg, peer, reg->store, src_id, mpath,
                             json_object_get(op->args, "cursor"), &c);
        if (k < 0) {
                rp_peer_free(peer);
                return k;
        }
        rp_usec_t last = 0;
        bool retrying = false;
        int st;
        for (;;) {
                st = rp_repl_copy_step(c);
                if (st < 0 || st == RP_REPL_STEP_DONE || st == RP_REPL_STEP_FAILED)
                        break;
                rp_repl_progress pr;
                rp_repl_copy_progress(c, &pr);
                if (st == RP_REPL_STEP_CONTINUE) {
                        json_t *cur = rp_repl_copy_cursor(c);
                        if (!op->args)
                                op->args = json_object();
                        if (cur)
                                json_object_set_new(op->args, "cursor", cur);
                        op->percent = pr.percent;
                        (void)rp_db_op_put(reg->db, op);
                }
                if (pr.retrying && !retrying)
                        log_warning("copy of '%s' from %s: %s; retrying", drp->id, src_region,
                                    rp_strempty(rp_peer_last_error(peer)));
                retrying = pr.retrying;
                rp_usec_t now = rp_now_monotonic();
                if (now - last >= RP_USEC_PER_SEC) {
                        last = now;
                        char msg[160 + RP_PEER_MAX_ERROR_TEXT];
                        snprintf(msg, sizeof msg,
                                 "%" PRIu64 " of %" PRIu64 " bytes copied, %.1f MB/s, %" PRId64
                                 " s left%s%s",
                                 pr.bytes_done, pr.bytes_needed, (double)pr.bytes_per_sec / 1e6,
                                 pr.eta_sec, pr.retrying ? "; retrying after: " : "",
                                 pr.retrying ? rp_strempty(rp_peer_last_error(peer)) : "");
                        if (record(reg, op->resource_key, "inProgress", pr.percent, msg, false) ==
                            -ENOENT)
                                rp_repl_copy_cancel(c); /* deleted meanwhile */
                }
                if (st == RP_REPL_STEP_WAIT) {
                        rp_usec_t w = RP_MIN(rp_repl_copy_wait_usec(c), 200000ull);
                        struct timespec ts = { (time_t)(w / RP_USEC_PER_SEC),
                                               (long)(w % RP_USEC_PER_SEC) * 1000 };
                        nanosleep(&ts, NULL);
                }
        }
        const char *code = NULL, *msg = NULL;
        if (st == RP_REPL_STEP_FAILED)
                rp_repl_copy_error(c, &code, &msg);
        rp_repl_progress final;
        rp_repl_copy_progress(c, &final);
        _cleanup_free_ char *msg_copy = rp_strdup(msg ? msg : "The copy failed.");
        _cleanup_free_ char *code_copy = rp_strdup(code ? code : "ReplicationFailed");
        rp_repl_copy_free(c);
        rp_peer_free(peer);
        if (st < 0)
                return st; /* retried by the worker; the cursor resumes it */
        if (st == RP_REPL_STEP_DONE) {
                /* (a rerun after a crash between these two counts the bytes again: it finds
                 * nothing needed, 0) */
                add_bytes(reg, drp->parent_key, final.bytes_needed);
                k = record(reg, op->resource_key, "succeeded", 100, "Replication succeeded.", true);
                if (k == -ENOENT)
                        return rp_arm_op_finish(reg, op, "Canceled", 0, NULL, RP_EC_NONE, NULL);
                if (k < 0)
                        return k;
                log_info("disk restore point '%s' copied from %s", drp->id, src_region);
                k = rp_arm_op_finish(reg, op, "Succeeded", 200, NULL, RP_EC_NONE, NULL);
                rp_compute_pull_settle(svc, reg, drp->parent_key);
                return k;
        }
        (void)record(reg, op->resource_key, "failed", 0, msg_copy, false);
        log_warning("copy of '%s' failed: %s: %s", drp->id, code_copy, msg_copy);
        k = rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_CAPTURE_FAILED, msg_copy);
        rp_compute_pull_settle(svc, reg, drp->parent_key);
        return k;
}

json_t *rp_compute_copy_instance_view(rp_region *reg, rp_resource *rp)
{
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DRP, .parent_key = rp->key };
        json_t *disks = json_array();
        bool failed = false, all_ok = true;
        _cleanup_free_ char *first_msg = NULL;
        if (rp_db_res_list(reg->db, &f, &list, &n) < 0)
                n = 0;
        for (size_t i = 0; i < n; i++) {
                const char *st = json_string_value(json_object_get(list[i]->internal, "state"));
                const char *msg = json_string_value(json_object_get(list[i]->internal, "message"));
                json_int_t pct = json_integer_value(json_object_get(list[i]->internal, "percent"));
                bool ok = rp_streq(st, "succeeded"), bad = rp_streq(st, "failed");
                all_ok = all_ok && ok;
                if (bad && !failed) {
                        failed = true;
                        rp_free(first_msg);
                        first_msg = rp_strdup(msg);
                }
                if (!ok && !bad && !first_msg && msg)
                        first_msg = rp_strdup(msg);
                json_array_append_new(
                        disks,
                        json_pack("{s:s, s:{s:o, s:I}}", "id", list[i]->id, "replicationStatus",
                                  "status",
                                  ok    ? rp_compute_status("ReplicationState/succeeded", "Info",
                                                            "Succeeded", NULL, NULL)
                                  : bad ? rp_compute_status("ReplicationState/failed", "Error",
                                                            "Failed", msg, NULL)
                                        : rp_compute_status("ReplicationState/inProgress", "Info",
                                                            "In progress", msg, NULL),
                                  "completionPercent", ok ? (json_int_t)100 : pct));
        }
        rp_resource_list_free(list, n);
        const char *rp_state =
                json_string_value(rp_json_get_path(rp->body, "properties.provisioningState"));
        if (rp_streq(rp_state, "Failed")) {
                failed = true;
                rp_free(first_msg);
                first_msg = rp_strdup(
                        json_string_value(rp_json_get_path(rp->internal, "error.message")));
        } else if (n == 0 && rp_streq(rp_state, "Creating")) {
                all_ok = false;
                rp_free(first_msg);
                first_msg = rp_strdup("The source region is capturing the VM.");
        }
        json_t *s = failed   ? rp_compute_status("ReplicationState/failed", "Error", "Failed",
                                                 first_msg, NULL)
                    : all_ok ? rp_compute_status("ReplicationState/succeeded", "Info", "Succeeded",
                                                 NULL, NULL)
                             : rp_compute_status("ReplicationState/inProgress", "Info",
                                                 "In progress", first_msg, NULL);
        return json_pack("{s:o, s:[o]}", "diskRestorePoints", disks, "statuses", s);
}
