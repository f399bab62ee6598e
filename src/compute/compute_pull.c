/* compute_pull.c: a restore point created in one region (the target, B) from a VM in another
 * (the source, A): flow 1 of DESIGN.md, the collection's region side.
 *
 * DESIGN: the PUT asks A for a hold (compute_source.c): A cuts the VM now, under its own
 * one-creation-at-a-time rule, and answers at once; a refusal (409, VM gone) is the PUT's
 * answer. B records the point, Creating, and job rp.pull waits for A's capture. Once it is
 * captured, B creates its disk restore points (not usable yet), marks the point Succeeded
 * (the copy has started, as Azure reports it) and queues one drp.replicate job per disk:
 * the same resumable copy as for copied points (compute_copy.c), pulling from A's hold. When
 * every disk's copy has ended, or the point is deleted, B releases the hold; a release A
 * cannot take yet (A unreachable) is kept in B's store and retried when B's worker is idle,
 * so nothing is left in A once A is back. B tells A which earlier holds it still has copies
 * of (bases), so A's capture is incremental over them. */
#include <string.h>
#include <time.h>

#include "compute.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/time.h"

#define RP_DISPLAY "Microsoft.Compute/restorePointCollections/restorePoints"
#define RELEASES_KEY "pull/releases"
/* how long a capture at the source may take before the point fails */
#define CAPTURE_WAIT_USEC (2ull * 3600 * RP_USEC_PER_SEC)
/* how long the source may stay unreachable while the point waits for its capture */
#define UNREACHABLE_USEC (10ull * 60 * RP_USEC_PER_SEC)

static void sleep_usec(rp_usec_t us)
{
        struct timespec ts = { (time_t)(us / RP_USEC_PER_SEC),
                               (long)(us % RP_USEC_PER_SEC) * 1000 };
        nanosleep(&ts, NULL);
}

/* Keys of the source disk restore points this region holds complete copies of, for the VM. */
static json_t *collect_bases(rp_region *reg, const char *sub, const char *vm_key)
{
        json_t *bases = json_array();
        rp_resource **rps = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_RP, .sub = sub };
        if (!bases || rp_db_res_list(reg->db, &f, &rps, &n) < 0)
                return bases;
        for (size_t i = 0; i < n; i++) {
                if (!rp_streq(json_string_value(rp_json_get_path(rps[i]->internal, "pull.vm_key")),
                              vm_key))
                        continue;
                rp_resource **drps = NULL;
                size_t m = 0;
                rp_db_filter g = { .type = RP_TYPE_DRP, .parent_key = rps[i]->key };
                if (rp_db_res_list(reg->db, &g, &drps, &m) < 0)
                        continue;
                for (size_t j = 0; j < m; j++) {
                        if (!json_is_true(json_object_get(drps[j]->internal, "committed")))
                                continue;
                        char *k = rp_arm_id_key(json_string_value(
                                json_object_get(drps[j]->internal, "source_drp_id")));
                        if (k)
                                json_array_append_new(bases, json_string(k));
                        rp_free(k);
                }
                rp_resource_list_free(drps, m);
        }
        rp_resource_list_free(rps, n);
        return bases;
}

/* Reply for a failed call to the source region. */
static void reply_source_error(rp_arm_req *r, const char *region, int k, rp_source_reply *rep)
{
        if (k == -EREMOTE)
                rp_arm_reply_error(r, rep->ec, NULL, "%s", rp_strempty(rep->message));
        else
                rp_arm_reply_error(r, RP_EC_SERVICE_UNAVAILABLE, NULL,
                                   "The source region '%s' could not be reached: %s.", region,
                                   strerror(-k));
}

/* Remember that the hold @p hold_id of @p region is to be released. Caller holds the lock. */
static int release_later(rp_region *reg, const char *region, const char *hold_id)
{
        _cleanup_free_ char *cur = NULL;
        int k = rp_db_kv_get(reg->db, RELEASES_KEY, &cur);
        if (k < 0 && k != -ENOENT)
                return k;
        _cleanup_json_ json_t *list = cur ? json_loads(cur, 0, NULL) : json_array();
        if (!json_is_array(list))
                list = (json_decref(list), json_array());
        if (!list || json_array_append_new(
                             list, json_pack("{s:s, s:s}", "region", region, "hold", hold_id)) < 0)
                return -ENOMEM;
        _cleanup_free_ char *s = rp_json_dumps(list);
        return s ? rp_db_kv_put(reg->db, RELEASES_KEY, s) : -ENOMEM;
}

void rp_compute_rp_pull_create(rp_arm_req *r, rp_region *reg, rp_resource *rpc, const char *id,
                               const char *vm_id, json_t *exclude, const char *mode, json_t *shape)
{
        const char *src =
                json_string_value(rp_json_get_path(rpc->body, "properties.source.location"));
        _cleanup_free_ char *vm_key = rp_arm_id_key(vm_id);
        _cleanup_json_ json_t *bases = vm_key ? collect_bases(reg, rpc->sub, vm_key) : NULL;
        _cleanup_json_ json_t *req = json_pack(
                "{s:s, s:O?, s:s?, s:O?, s:s, s:s}", "vmId", vm_id, "excludeDisks", exclude,
                "consistencyMode", mode, "bases", bases, "targetId", id, "targetRegion", reg->name);
        if (!req || !vm_key || !src) {
                rp_arm_reply_internal(r, -ENOMEM, "hold request");
                return;
        }
        rp_source_reply rep;
        int k = rp_source_call(r->svc, src, "hold.create", req, &rep);
        if (k < 0) {
                reply_source_error(r, src, k, &rep);
                rp_source_reply_done(&rep);
                return;
        }
        const char *hold_id = json_string_value(json_object_get(rep.body, "id"));
        _cleanup_(rp_resource_freep) rp_resource *res =
                rp_compute_resource_new(id, RP_TYPE_RP, rpc->sub, rpc->rg);
        if (res) {
                res->body =
                        json_pack("{s:s, s:s, s:s, s:{s:o, s:s, s:s, s:o}}", "id", id, "name",
                                  r->cap[3], "type", RP_DISPLAY, "properties", "excludeDisks",
                                  exclude ? json_deep_copy(exclude) : json_array(),
                                  "consistencyMode", mode ? mode : "ApplicationConsistent",
                                  "provisioningState", "Creating", "timeCreated", rp_compute_now());
                res->internal =
                        json_pack("{s:O, s:{s:s, s:s?, s:s, s:s}, s:I, s:[]}", "request", shape,
                                  "pull", "region", src, "hold_id", hold_id, "vm_id", vm_id,
                                  "vm_key", vm_key, "added_bytes", (json_int_t)0, "disks");
        }
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = res && res->body && res->internal && hold_id ? rp_db_res_put(reg->db, res) : -ENOMEM;
        if (k >= 0)
                k = rp_arm_op_create(
                        r->svc, reg, res->sub, "rp.pull", res->key,
                        json_pack("{s:s}", "api_version", r->api_version ? r->api_version : ""),
                        true, &op);
        if (k < 0) {
                if (hold_id)
                        (void)release_later(reg, src, hold_id);
                rp_source_reply_done(&rep);
                rp_arm_reply_internal(r, k, "restore point create");
                return;
        }
        log_info("restore point '%s' of VM '%s' in %s: the source cuts it (hold '%s')", id, vm_id,
                 src, hold_id);
        rp_source_reply_done(&rep);
        rp_arm_lro_headers(r, reg, op, false);
        rp_arm_reply_json(r, 201, rp_compute_rp_present(r->api_version, res, false));
}

/* Fail a pulled point that could not start its copy, and let its hold go. */
static int pull_fail(rp_region *reg, rp_operation *op, const char *msg)
{
        {
                RP_COMPUTE_MODEL_LOCK();
                _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
                if (rp_db_res_get(reg->db, op->resource_key, &rp) == 0) {
                        json_t *p = json_object_get(rp->body, "properties");
                        if (rp_streq(json_string_value(json_object_get(p, "provisioningState")),
                                     "Creating"))
                                json_object_set_new(p, "provisioningState", json_string("Failed"));
                        json_object_set_new(rp->internal, "error",
                                            json_pack("{s:s}", "message", msg));
                        json_object_set_new(json_object_get(rp->internal, "pull"), "released",
                                            json_true());
                        (void)rp_db_res_put(reg->db, rp);
                        (void)release_later(
                                reg,
                                json_string_value(rp_json_get_path(rp->internal, "pull.region")),
                                json_string_value(rp_json_get_path(rp->internal, "pull.hold_id")));
                }
        }
        log_warning("restore point '%s' failed: %s", op->resource_key, msg);
        return rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_CAPTURE_FAILED, msg);
}

/* The hold is captured: create this region's disk restore points and start their copies. */
static int pull_start(rp_service *svc, rp_region *reg, rp_operation *op, const json_t *hold,
                      const char *region, json_t **ret_present)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        int k = rp_db_res_get(reg->db, op->resource_key, &rp);
        if (k < 0)
                return k;
        json_t *props = json_object_get(rp->body, "properties");
        if (!rp_streq(json_string_value(json_object_get(props, "provisioningState")), "Creating"))
                return -ESTALE;
        json_t *list = json_object_get(hold, "disks");
        size_t n = json_array_size(list);
        rp_resource **drps = rp_calloc(n + 1, sizeof *drps);
        _cleanup_json_ json_t *map = json_object();
        json_t *disks = json_array();
        k = drps && map && disks ? 0 : -ENOMEM;
        for (size_t i = 0; k >= 0 && i < n; i++) {
                json_t *d = json_array_get(list, i);
                const char *sid = json_string_value(json_object_get(d, "id"));
                json_t *sp = json_object_get(d, "properties");
                drps[i] = sid ? rp_compute_copy_drp_new(
                                        rp->id, rp->sub, rp->rg,
                                        json_string_value(json_object_get(d, "name")),
                                        json_object_get(d, "size"), sp, sid,
                                        json_string_value(json_object_get(sp, "sourceResourceId")),
                                        region)
                              : NULL;
                _cleanup_free_ char *skey = sid ? rp_arm_id_key(sid) : NULL;
                if (!drps[i] || !skey) {
                        k = -ENOMEM;
                        break;
                }
                json_object_set(map, skey, json_object_get(drps[i]->body, "id"));
                json_array_append_new(disks, json_pack("{s:O, s:s}", "drp_id",
                                                       json_object_get(drps[i]->body, "id"),
                                                       "drp_key", drps[i]->key));
        }
        if (k >= 0) {
                json_t *meta = json_deep_copy(json_object_get(hold, "sourceMetadata"));
                if (meta) {
                        rp_compute_rewrite_drp_ids(meta, map);
                        json_object_set_new(meta, "location", json_string(region));
                        json_object_set_new(props, "sourceMetadata", meta);
                }
                json_t *mode = json_object_get(hold, "consistencyMode");
                if (mode)
                        json_object_set(props, "consistencyMode", mode);
                json_object_set_new(props, "provisioningState", json_string("Succeeded"));
                json_object_set_new(rp->internal, "disks", disks);
                disks = NULL;
                k = rp_compute_copy_commit(reg, rp, drps, n);
        }
        for (size_t i = 0; k >= 0 && i < n; i++) {
                _cleanup_(rp_operation_freep) rp_operation *job = NULL;
                k = rp_arm_op_create(svc, reg, rp->sub, "drp.replicate", drps[i]->key, NULL, true,
                                     &job);
        }
        for (size_t i = 0; drps && i < n; i++)
                rp_resource_free(drps[i]);
        rp_free(drps);
        json_decref(disks);
        if (k >= 0 && n == 0)
                rp_compute_pull_settle(svc, reg, rp->key);
        if (k >= 0)
                *ret_present = rp_compute_rp_present(
                        json_string_value(json_object_get(op->args, "api_version")), rp, false);
        return k;
}

int rp_job_rp_pull(rp_service *svc, rp_region *reg, rp_operation *op)
{
        rp_usec_t start = rp_now_monotonic(), failing_since = 0, backoff = 0;
        _cleanup_free_ char *region = NULL, *hold_id = NULL;
        for (;;) {
                {
                        RP_COMPUTE_MODEL_LOCK();
                        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
                        int k = rp_db_res_get(reg->db, op->resource_key, &rp);
                        if (k == -ENOENT)
                                return rp_arm_op_finish(reg, op, "Canceled", 0, NULL, RP_EC_NONE,
                                                        NULL);
                        if (k < 0)
                                return k;
                        const char *st = json_string_value(
                                rp_json_get_path(rp->body, "properties.provisioningState"));
                        if (rp_streq(st, "Deleting"))
                                return rp_arm_op_finish(reg, op, "Failed", 0, NULL,
                                                        RP_EC_RESOURCE_NOT_FOUND,
                                                        "The restore point was deleted before "
                                                        "its copy started.");
                        if (!rp_streq(st, "Creating"))
                                return rp_arm_op_finish(
                                        reg, op, rp_streq(st, "Failed") ? "Failed" : "Succeeded",
                                        200,
                                        rp_compute_rp_present(json_string_value(json_object_get(
                                                                      op->args, "api_version")),
                                                              rp, false),
                                        RP_EC_NONE, NULL);
                        if (!region) {
                                region = rp_strdup(json_string_value(
                                        rp_json_get_path(rp->internal, "pull.region")));
                                hold_id = rp_strdup(json_string_value(
                                        rp_json_get_path(rp->internal, "pull.hold_id")));
                                if (!region || !hold_id)
                                        return -ENOMEM;
                        }
                }
                _cleanup_json_ json_t *req = json_pack("{s:s}", "id", hold_id);
                rp_source_reply rep;
                int k = req ? rp_source_call(svc, region, "hold.get", req, &rep) : -ENOMEM;
                if (k == -EREMOTE) {
                        _cleanup_free_ char *m =
                                rp_asprintf("The source region '%s' no longer has the capture: %s",
                                            region, rp_strempty(rep.message));
                        rp_source_reply_done(&rep);
                        return pull_fail(reg, op, m ? m : "The source lost the capture.");
                }
                rp_usec_t now = rp_now_monotonic();
                if (k < 0) {
                        rp_source_reply_done(&rep);
                        if (!failing_since)
                                failing_since = now;
                        if (now - failing_since > UNREACHABLE_USEC) {
                                _cleanup_free_ char *m = rp_asprintf(
                                        "The source region '%s' was unreachable for too long "
                                        "(%s).",
                                        region, strerror(-k));
                                return pull_fail(reg, op, m ? m : "The source is unreachable.");
                        }
                        backoff = backoff ? RP_MIN(backoff * 2, 5 * RP_USEC_PER_SEC) : 200 * 1000;
                        sleep_usec(backoff);
                        continue;
                }
                failing_since = 0;
                backoff = 0;
                const char *st = json_string_value(json_object_get(rep.body, "state"));
                if (rp_streq(st, "Succeeded")) {
                        json_t *present = NULL;
                        k = pull_start(svc, reg, op, rep.body, region, &present);
                        rp_source_reply_done(&rep);
                        if (k == -ESTALE)
                                continue; /* deleted or failed meanwhile: decided above */
                        if (k < 0)
                                return k;
                        log_info("restore point '%s': captured in %s, copy started",
                                 op->resource_key, region);
                        return rp_arm_op_finish(reg, op, "Succeeded", 200, present, RP_EC_NONE,
                                                NULL);
                }
                if (!rp_streq(st, "Creating") || now - start > CAPTURE_WAIT_USEC) {
                        _cleanup_free_ char *m = rp_asprintf(
                                "The source region '%s' could not capture the VM: %s", region,
                                rp_streq(st, "Creating")
                                        ? "the capture took too long."
                                        : rp_strempty(json_string_value(
                                                  json_object_get(rep.body, "message"))));
                        rp_source_reply_done(&rep);
                        return pull_fail(reg, op, m ? m : "The capture failed.");
                }
                rp_source_reply_done(&rep);
                sleep_usec(200 * 1000);
        }
}

void rp_compute_pull_settle(rp_service *svc, rp_region *reg, const char *rp_key)
{
        {
                RP_COMPUTE_MODEL_LOCK();
                _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
                if (rp_db_res_get(reg->db, rp_key, &rp) < 0)
                        return;
                json_t *pull = json_object_get(rp->internal, "pull");
                if (!pull || json_is_true(json_object_get(pull, "released")))
                        return;
                size_t i;
                json_t *d;
                json_array_foreach(json_object_get(rp->internal, "disks"), i, d) {
                        _cleanup_(rp_resource_freep) rp_resource *drp = NULL;
                        const char *dk = json_string_value(json_object_get(d, "drp_key"));
                        if (dk && rp_db_res_get(reg->db, dk, &drp) == 0) {
                                const char *st =
                                        json_string_value(json_object_get(drp->internal, "state"));
                                if (!rp_streq(st, "succeeded") && !rp_streq(st, "failed"))
                                        return; /* a copy still runs */
                        }
                }
                json_object_set_new(pull, "released", json_true());
                if (rp_db_res_put(reg->db, rp) < 0 ||
                    release_later(reg, json_string_value(json_object_get(pull, "region")),
                                  json_string_value(json_object_get(pull, "hold_id"))) < 0)
                        return;
        }
        rp_compute_pull_idle(svc, reg);
}

int rp_compute_pull_forget(rp_region *reg, rp_resource *rp)
{
        json_t *pull = json_object_get(rp->internal, "pull");
        if (!pull || json_is_true(json_object_get(pull, "released")))
                return 0;
        return release_later(reg, json_string_value(json_object_get(pull, "region")),
                             json_string_value(json_object_get(pull, "hold_id")));
}

void rp_compute_pull_idle(rp_service *svc, rp_region *reg)
{
        static _Thread_local rp_usec_t next_try, backoff;
        rp_usec_t now = rp_now_monotonic();
        if (now < next_try)
                return;
        _cleanup_free_ char *cur = NULL;
        {
                RP_COMPUTE_MODEL_LOCK();
                if (rp_db_kv_get(reg->db, RELEASES_KEY, &cur) < 0)
                        return;
        }
        _cleanup_json_ json_t *list = json_loads(cur, 0, NULL);
        if (!json_array_size(list))
                return;
        _cleanup_json_ json_t *done = json_array();
        bool failed = false;
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) {
                const char *region = json_string_value(json_object_get(e, "region"));
                _cleanup_json_ json_t *req = json_pack("{s:O}", "id", json_object_get(e, "hold"));
                rp_source_reply rep;
                int k = req && region ? rp_source_call(svc, region, "hold.release", req, &rep)
                                      : -EINVAL;
                rp_source_reply_done(&rep);
                if (k >= 0 || k == -EREMOTE || k == -EINVAL)
                        json_array_append(done, e);
                else {
                        failed = true;
                        log_warning("releasing hold '%s' in %s failed (%s): will retry",
                                    rp_strempty(json_string_value(json_object_get(e, "hold"))),
                                    rp_strempty(region), strerror(-k));
                }
        }
        backoff =
                failed ? RP_MIN(backoff ? backoff * 2 : RP_USEC_PER_SEC, 60 * RP_USEC_PER_SEC) : 0;
        next_try = now + backoff;
        if (!json_array_size(done))
                return;
        /* drop what was released from the current list (others may have been added) */
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_free_ char *again = NULL;
        if (rp_db_kv_get(reg->db, RELEASES_KEY, &again) < 0)
                return;
        _cleanup_json_ json_t *now_list = json_loads(again, 0, NULL);
        _cleanup_json_ json_t *keep = json_array();
        json_array_foreach(now_list, i, e) {
                bool gone = false;
                size_t j;
                json_t *x;
                json_array_foreach(done, j, x)
                        gone = gone || json_equal(x, e);
                if (!gone)
                        json_array_append(keep, e);
        }
        _cleanup_free_ char *s = rp_json_dumps(keep);
        if (s)
                (void)rp_db_kv_put(reg->db, RELEASES_KEY, s);
}
