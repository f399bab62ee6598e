/* compute_restore.c: restoring a disk from a disk restore point (region worker job), the
 * region's garbage collection, and reading a disk restore point through the data plane.
 *
 * DESIGN: a restore writes a new sparse image from the manifest: worker threads claim
 * entries, read and verify each chunk from the store (a chunk that fails verification fails
 * the restore loudly, naming the offset), and write it without a sync; holes stay holes. One
 * fdatasync, then the disk record appears (that is the commit). A rerun after a crash starts
 * the image over. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "compute.h"
#include "disk/disk_image.h"
#include "disk/disk_sas.h"
#include "store/manifest.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

#define RESTORE_THREADS 2

typedef struct restore {
        rp_region *reg;
        rp_operation *op;
        const rp_manifest_entry *entries;
        size_t n, next, done;
        rp_disk_image *img;
        pthread_mutex_t lock;
        rp_usec_t last_progress;
        int error;
        uint64_t bad_index;
} restore;

static void *restore_worker(void *p)
{
        restore *x = p;
        _cleanup_free_ uint8_t *buf = rp_malloc(RP_CHUNK_SIZE);
        int k = buf ? 0 : -ENOMEM;
        while (k >= 0) {
                pthread_mutex_lock(&x->lock);
                bool stop = x->error < 0 || x->next >= x->n;
                size_t i = stop ? 0 : x->next++;
                pthread_mutex_unlock(&x->lock);
                if (stop)
                        break;
                const rp_manifest_entry *e = &x->entries[i];
                size_t len = 0;
                k = rp_store_get(x->reg->store, e->id, buf, RP_CHUNK_SIZE, &len);
                if (k >= 0)
                        k = rp_disk_image_write_nosync(x->img, e->index * RP_CHUNK_SIZE, buf, len);
                /* every 64 chunks, start writing back what is dirty so far: writeback then
                 * overlaps with the work on the next chunks and the final sync waits for the
                 * tail only (best effort) */
                if (k >= 0 && i % 64 == 63)
                        (void)rp_disk_image_start_writeback(x->img, 0, 0);
                pthread_mutex_lock(&x->lock);
                if (k < 0 && x->error == 0) {
                        x->error = k;
                        x->bad_index = e->index;
                }
                x->done++;
                rp_usec_t now = rp_now_monotonic();
                if (x->op && now - x->last_progress >= RP_USEC_PER_SEC) {
                        x->last_progress = now;
                        x->op->percent = 99.0 * (double)x->done / (double)x->n;
                        (void)rp_db_op_put(x->reg->db, x->op);
                }
                pthread_mutex_unlock(&x->lock);
        }
        return NULL;
}

/* Write the image at @p path from @p m. @return 0, or <0 with *ret_bad the failing chunk. */
static int restore_image(rp_region *reg, rp_operation *op, const rp_manifest *m, const char *path,
                         uint64_t *ret_bad)
{
        (void)rp_disk_image_remove(path);
        int k = rp_disk_image_create(path, rp_manifest_disk_size(m), 0600);
        if (k < 0)
                return k;
        restore x = { .reg = reg, .op = op, .bad_index = UINT64_MAX };
        x.entries = rp_manifest_entries(m, &x.n);
        k = rp_disk_image_open(path, &x.img);
        if (k < 0)
                return k;
        /* Mark the whole disk dirty once (one sync of the map), so that the chunk writes
         * below never touch the map: otherwise each one syncs it, under the image lock. The
         * bits cost nothing: a new disk has no restore point, so its first one is full. */
        uint64_t size = rp_manifest_disk_size(m);
        k = size ? rp_disk_image_mark_dirty(x.img, 0, size - size % RP_SECTOR_SIZE) : 0;
        if (k < 0) {
                rp_disk_image_unref(x.img);
                return k;
        }
        pthread_mutex_init(&x.lock, NULL);
        pthread_t th[RESTORE_THREADS];
        size_t started = 0;
        for (; started < RESTORE_THREADS; started++)
                if (pthread_create(&th[started], NULL, restore_worker, &x) != 0)
                        break;
        if (started == 0)
                restore_worker(&x);
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        k = x.error;
        if (k >= 0)
                k = rp_disk_image_sync(x.img);
        rp_disk_image_unref(x.img);
        pthread_mutex_destroy(&x.lock);
        *ret_bad = x.bad_index;
        return k;
}

int rp_compute_restore_image(rp_region *reg, rp_resource *drp, const char *path, uint64_t size)
{
        const char *muuid = json_string_value(json_object_get(drp->internal, "uuid"));
        _cleanup_free_ char *mpath = muuid ? rp_region_manifest_path(reg, muuid) : NULL;
        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        int k = mpath ? rp_manifest_read_file(mpath, &m) : -ENOMEM;
        if (k < 0)
                return k;
        uint64_t bad;
        k = restore_image(reg, NULL, m, path, &bad);
        if (k >= 0 && size > rp_manifest_disk_size(m)) {
                rp_disk_image *img = NULL;
                k = rp_disk_image_open(path, &img);
                if (k >= 0)
                        k = rp_disk_image_resize(img, size);
                rp_disk_image_unref(img);
        }
        if (k < 0)
                log_warning_errno(k, "restoring '%s' into '%s' failed at chunk %" PRIu64, drp->id,
                                  path, bad);
        return k;
}

/* Whether the placeholder record of the disk being restored (provisioningState Updating,
 * written by the handler) is still there and ours: the disk may have gone with its group
 * meanwhile, and a new disk of the same name must not be touched. Caller holds the model
 * lock. @return 1, 0, or <0. */
static int placeholder_ours(rp_region *reg, const char *key, const char *uuid)
{
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        int k = rp_db_res_get(reg->db, key, &res);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return k;
        return rp_streq(json_string_value(json_object_get(res->internal, "uuid")), uuid);
}

/* Drop the placeholder of a failed restore (if still ours). */
static void drop_placeholder(rp_region *reg, const char *key, const char *uuid)
{
        RP_COMPUTE_MODEL_LOCK();
        if (uuid && placeholder_ours(reg, key, uuid) > 0)
                (void)rp_db_res_delete(reg->db, key);
}

int rp_job_disk_restore(rp_service *svc, rp_region *reg, rp_operation *op)
{
        json_t *body = json_object_get(op->args, "body");
        json_t *internal = json_object_get(op->args, "internal");
        const char *uuid = json_string_value(json_object_get(internal, "uuid"));
        const char *drp_key = json_string_value(json_object_get(op->args, "drp_key"));
        _cleanup_(rp_resource_freep) rp_resource *drp = NULL;
        if (!uuid || !drp_key || rp_db_res_get(reg->db, drp_key, &drp) < 0) {
                drop_placeholder(reg, op->resource_key, uuid);
                return rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_RESOURCE_NOT_FOUND,
                                        "The disk restore point was deleted before the restore "
                                        "finished.");
        }
        const char *muuid = json_string_value(json_object_get(drp->internal, "uuid"));
        _cleanup_free_ char *mpath = muuid ? rp_region_manifest_path(reg, muuid) : NULL;
        _cleanup_free_ char *path = rp_region_disk_path(reg, uuid);
        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        int k = mpath && path ? rp_manifest_read_file(mpath, &m) : -ENOMEM;
        if (k < 0) {
                drop_placeholder(reg, op->resource_key, uuid);
                return rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_RESTORE_FAILED,
                                        "The manifest of the disk restore point cannot be read.");
        }
        uint64_t bad = UINT64_MAX;
        rp_usec_t t0 = rp_now_monotonic();
        k = restore_image(reg, op, m, path, &bad);
        if (k < 0) {
                /* nothing of the failed disk stays: not its image, not its record */
                (void)rp_disk_image_remove(path);
                drop_placeholder(reg, op->resource_key, uuid);
                char msg[256];
                if (k == -EBADMSG)
                        snprintf(msg, sizeof msg,
                                 "Stored data failed verification at disk offset %" PRIu64
                                 ": the restore point is damaged (run a scrub).",
                                 bad * (uint64_t)RP_CHUNK_SIZE);
                else if (k == -ENOENT)
                        snprintf(msg, sizeof msg,
                                 "A chunk of the restore point is missing at disk offset %" PRIu64
                                 ".",
                                 bad * (uint64_t)RP_CHUNK_SIZE);
                else
                        snprintf(msg, sizeof msg, "Writing the restored disk failed: %s.",
                                 strerror(-k));
                log_error("restore of '%s' failed: %s",
                          json_string_value(json_object_get(body, "id")), msg);
                return rp_arm_op_finish(reg, op, "Failed", 0, NULL,
                                        k == -EBADMSG || k == -ENOENT ? RP_EC_DATA_CORRUPT
                                                                      : RP_EC_RESTORE_FAILED,
                                        msg);
        }
        _cleanup_(rp_resource_freep) rp_resource *res = rp_compute_resource_new(
                json_string_value(json_object_get(body, "id")), RP_TYPE_DISK, op->sub,
                json_string_value(json_object_get(op->args, "rg")));
        _cleanup_free_ char *map = rp_asprintf("diskfile/%s", uuid);
        if (!res || !map)
                return -ENOMEM;
        res->body = json_deep_copy(body);
        res->internal = json_deep_copy(internal);
        json_object_set_new(json_object_get(res->body, "properties"), "provisioningState",
                            json_string("Succeeded"));
        {
                RP_COMPUTE_MODEL_LOCK();
                k = placeholder_ours(reg, op->resource_key, uuid);
                if (k < 0)
                        return k;
                if (k == 0) {
                        (void)rp_disk_image_remove(path);
                        return rp_arm_op_finish(reg, op, "Failed", 0, NULL,
                                                RP_EC_RESOURCE_NOT_FOUND,
                                                "The disk was deleted before its restore "
                                                "finished.");
                }
                k = rp_db_kv_put(reg->db, map, res->key);
                if (k >= 0)
                        k = rp_db_res_put(reg->db, res);
                if (k < 0)
                        return k;
        }
        size_t n = 0;
        rp_manifest_entries(m, &n);
        log_info("disk '%s' restored: %zu chunk(s) in %.1f ms", res->id, n,
                 (double)(rp_now_monotonic() - t0) / 1000.0);
        return rp_arm_op_finish(reg, op, "Succeeded", 200, json_deep_copy(res->body), RP_EC_NONE,
                                NULL);
}

/* ---------------------------------------------------------------- garbage collection */

/* A set of chunk ids (open addressing). */
typedef struct idset {
        uint8_t (*slots)[32];
        size_t cap, n;
} idset;

static uint64_t id_hash(const uint8_t id[32])
{
        uint64_t h;
        memcpy(&h, id, sizeof h); /* ids are keyed hashes: any 8 bytes are uniform */
        return h;
}

static int idset_add(idset *s, const uint8_t id[32])
{
        static const uint8_t zero[32];
        if (memcmp(id, zero, 32) == 0)
                return 0;
        if ((s->n + 1) * 2 > s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 1024;
                uint8_t(*ns)[32] = rp_calloc(ncap, 32);
                if (!ns)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++) {
                        if (memcmp(s->slots[i], zero, 32) == 0)
                                continue;
                        size_t j = id_hash(s->slots[i]) & (ncap - 1);
                        while (memcmp(ns[j], zero, 32) != 0)
                                j = (j + 1) & (ncap - 1);
                        memcpy(ns[j], s->slots[i], 32);
                }
                rp_free(s->slots);
                s->slots = ns;
                s->cap = ncap;
        }
        size_t j = id_hash(id) & (s->cap - 1);
        while (memcmp(s->slots[j], zero, 32) != 0) {
                if (memcmp(s->slots[j], id, 32) == 0)
                        return 0;
                j = (j + 1) & (s->cap - 1);
        }
        memcpy(s->slots[j], id, 32);
        s->n++;
        return 1;
}

static int idset_live(void *ud, const uint8_t id[32])
{
        idset *s = ud;
        if (!s->cap)
                return 0;
        static const uint8_t zero[32];
        size_t j = id_hash(id) & (s->cap - 1);
        while (memcmp(s->slots[j], zero, 32) != 0) {
                if (memcmp(s->slots[j], id, 32) == 0)
                        return 1;
                j = (j + 1) & (s->cap - 1);
        }
        return 0;
}

static int add_manifest(void *ud, const rp_manifest_entry *e)
{
        return idset_add(ud, e->id) < 0 ? -ENOMEM : 0;
}

/* The live set: every chunk of every manifest of a disk restore point in the region. Runs on
 * the region worker, which also runs every capture and copy, so no point is half-written
 * while it looks. */
void rp_region_gc(rp_region *reg)
{
        idset live = { 0 };
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DRP };
        int k = rp_db_res_list(reg->db, &f, &list, &n);
        for (size_t i = 0; k >= 0 && i < n; i++) {
                const char *uuid = json_string_value(json_object_get(list[i]->internal, "uuid"));
                _cleanup_free_ char *path = uuid ? rp_region_manifest_path(reg, uuid) : NULL;
                _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
                if (!path)
                        continue;
                k = rp_manifest_read_file(path, &m);
                if (k == -ENOENT) {
                        k = 0;
                        continue;
                }
                if (k >= 0)
                        k = rp_manifest_foreach(m, add_manifest, &live);
        }
        rp_resource_list_free(list, n);
        if (k < 0) {
                /* Without the full live set nothing may be deleted. */
                log_warning_errno(k, "gc of region %s skipped: cannot read every manifest",
                                  reg->name);
                rp_free(live.slots);
                return;
        }
        rp_store_gc_result res = { 0 };
        k = rp_store_gc(reg->store, idset_live, &live, &res);
        rp_free(live.slots);
        if (k < 0) {
                log_warning_errno(k, "gc of region %s failed, ignoring", reg->name);
                return;
        }
        log_info("gc of region %s: %" PRIu64 " live, %" PRIu64 " removed, %" PRIu64
                 " pack(s) removed, %" PRIu64 " rewritten, %" PRIu64 " bytes freed",
                 reg->name, (uint64_t)live.n, res.removed, res.packs_removed, res.packs_rewritten,
                 res.bytes_freed);
}
