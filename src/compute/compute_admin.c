/* compute_admin.c: operator endpoints outside ARM (any valid rpd token; tokens are minted only
 * by whoever holds the data directory's signing key).
 *
 *   POST /admin/regions/{region}/scrub  re-hash every stored chunk of the region; report the
 *                                       corrupt ones and the restore points they hurt
 *   POST /admin/regions/{region}/gc     reclaim chunks that no disk restore point references;
 *                                       waits for the region worker's job (at most 2 min)
 *                                       and answers 200 with the store's counters before and
 *                                       after, else 202 with the operation id
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "compute.h"
#include "store/manifest.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/macro.h"

struct scrub_ctx {
        json_t *bad; /* array of hex ids */
        uint8_t (*ids)[32];
        size_t n, cap;
};

static int on_bad(void *ud, const uint8_t id[32], int error)
{
        struct scrub_ctx *c = ud;
        char hex[65];
        rp_hex_encode(id, 32, hex);
        json_array_append_new(
                c->bad, json_pack("{s:s, s:s}", "chunk", hex, "error",
                                  error == -EBADMSG ? "verification failed" : strerror(-error)));
        if (c->n == c->cap) {
                size_t ncap = c->cap ? c->cap * 2 : 16;
                uint8_t(*n)[32] = rp_realloc(c->ids, ncap * 32);
                if (!n)
                        return -ENOMEM;
                c->ids = n;
                c->cap = ncap;
        }
        memcpy(c->ids[c->n++], id, 32);
        return 0;
}

struct hurt_ctx {
        struct scrub_ctx *c;
        bool hit;
};

static int check_entry(void *ud, const rp_manifest_entry *e)
{
        struct hurt_ctx *h = ud;
        for (size_t i = 0; i < h->c->n && !h->hit; i++)
                if (memcmp(h->c->ids[i], e->id, 32) == 0)
                        h->hit = true;
        return 0;
}

void rp_h_admin_scrub(rp_arm_req *r)
{
        rp_region *reg = rp_service_region(r->svc, r->cap[0]);
        if (!reg) {
                rp_arm_reply_error(r, RP_EC_NOT_FOUND, NULL, "No region '%s' here.", r->cap[0]);
                return;
        }
        struct scrub_ctx c = { .bad = json_array() };
        rp_store_scrub_result res = { 0 };
        rp_usec_t t0 = rp_now_monotonic();
        int k = c.bad ? rp_store_scrub(reg->store, on_bad, &c, &res) : -ENOMEM;
        if (k < 0) {
                json_decref(c.bad);
                rp_free(c.ids);
                rp_arm_reply_internal(r, k, "scrub");
                return;
        }
        /* which restore points hold a bad chunk */
        json_t *hurt = json_array();
        if (c.n > 0) {
                rp_resource **list = NULL;
                size_t n = 0;
                rp_db_filter f = { .type = RP_TYPE_DRP };
                if (rp_db_res_list(reg->db, &f, &list, &n) >= 0) {
                        for (size_t i = 0; i < n; i++) {
                                const char *uuid = json_string_value(
                                        json_object_get(list[i]->internal, "uuid"));
                                _cleanup_free_ char *path =
                                        uuid ? rp_region_manifest_path(reg, uuid) : NULL;
                                _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
                                if (!path || rp_manifest_read_file(path, &m) < 0)
                                        continue;
                                struct hurt_ctx h = { .c = &c };
                                rp_manifest_foreach(m, check_entry, &h);
                                if (h.hit)
                                        json_array_append_new(hurt, json_string(list[i]->id));
                        }
                        rp_resource_list_free(list, n);
                }
        }
        rp_free(c.ids);
        double secs = (double)(rp_now_monotonic() - t0) / 1e6;
        if (res.bad)
                log_error("scrub of region %s: %" PRIu64 " of %" PRIu64 " chunk(s) corrupt, "
                          "%zu disk restore point(s) hurt",
                          reg->name, res.bad, res.checked, json_array_size(hurt));
        else
                log_info("scrub of region %s: %" PRIu64 " chunk(s) verified in %.1f s", reg->name,
                         res.checked, secs);
        rp_arm_reply_json(r, 200,
                          json_pack("{s:s, s:I, s:I, s:I, s:f, s:o, s:o}", "region", reg->name,
                                    "checkedChunks", (json_int_t)res.checked, "checkedBytes",
                                    (json_int_t)res.checked_bytes, "badChunks", (json_int_t)res.bad,
                                    "seconds", secs, "corrupt", c.bad, "affectedDiskRestorePoints",
                                    hurt));
}

/* How long POST .../gc waits for its job before answering 202 with the operation id. */
#define GC_WAIT_USEC (120 * RP_USEC_PER_SEC)

void rp_h_admin_gc(rp_arm_req *r)
{
        rp_region *reg = rp_service_region(r->svc, r->cap[0]);
        if (!reg) {
                rp_arm_reply_error(r, RP_EC_NOT_FOUND, NULL, "No region '%s' here.", r->cap[0]);
                return;
        }
        /* GC must not run beside a capture: hand it to the region worker as a job, and wait
         * for it (an operator, or a test, wants to know when the space is free; the "admin"
         * operation cannot be polled through ARM). */
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        int k = rp_arm_op_create(r->svc, reg, "admin", "region.gc", NULL, NULL, true, &op);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "gc");
                return;
        }
        rp_usec_t deadline = rp_now_monotonic() + GC_WAIT_USEC;
        while (rp_now_monotonic() < deadline) {
                _cleanup_(rp_operation_freep) rp_operation *cur = NULL;
                k = rp_db_op_get(reg->db, op->id, &cur);
                if (k < 0) {
                        rp_arm_reply_internal(r, k, "gc status");
                        return;
                }
                if (!rp_streq(cur->status, "InProgress")) {
                        json_t *o = cur->result ? json_deep_copy(cur->result) : json_object();
                        json_object_set_new(o, "operation", json_string(cur->id));
                        json_object_set_new(o, "status", json_string(cur->status));
                        rp_arm_reply_json(r, 200, o);
                        return;
                }
                struct timespec ts = { 0, 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        rp_arm_reply_json(r, 202,
                          json_pack("{s:s, s:s}", "operation", op->id, "status", "InProgress"));
}

int rp_job_region_gc(rp_service *svc, rp_region *reg, rp_operation *op)
{
        rp_store_stats_result before = { 0 }, after = { 0 };
        (void)rp_store_stats(reg->store, &before);
        rp_region_gc(reg);
        (void)rp_store_stats(reg->store, &after);
        return rp_arm_op_finish(
                reg, op, "Succeeded", 200,
                json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "chunksBefore",
                          (json_int_t)before.chunks, "chunksAfter", (json_int_t)after.chunks,
                          "packsBefore", (json_int_t)before.packs, "packsAfter",
                          (json_int_t)after.packs, "packBytesBefore", (json_int_t)before.pack_bytes,
                          "packBytesAfter", (json_int_t)after.pack_bytes, "storedBytesBefore",
                          (json_int_t)before.stored_bytes, "storedBytesAfter",
                          (json_int_t)after.stored_bytes),
                RP_EC_NONE, NULL);
}
