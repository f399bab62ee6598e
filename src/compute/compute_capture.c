/* compute_capture.c: the capture job of a restore point (region worker).
 *
 * DESIGN: 1. Load the point, its VM and the VM's disks (less excludeDisks). 2. Freeze hook
 * (application consistency) if the VM has one, else the point is crash-consistent. 3. The
 * cut: hold writes on every disk, begin a capture on each (full for a disk without a usable
 * previous point, else incremental over the dirty map), release: writes are held only for
 * that. 4. Per disk, worker threads claim chunks, read their point-in-time bytes
 * (copy-before-write keeps them while the VM writes on) and put them in the chunk store. 5.
 * Flush the store, write each manifest (durable), then in one transaction create the disk
 * restore points and mark the point Succeeded: that is the commit. 6. Commit the captures
 * (drop the pending dirty bits). Any failure aborts the captures (the dirty bits go back, so
 * the next point misses nothing) and fails the point with a reason. A crash mid-way leaves
 * the point Creating; the job runs again after the restart and captures anew. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "compute.h"
#include "disk/disk_capture.h"
#include "disk/disk_image.h"
#include "store/manifest.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

#define CAPTURE_THREADS 2
#define MAX_CAPTURE_DISKS 65

typedef struct cap_disk {
        rp_resource *disk; /* the managed disk */
        json_t *model;     /* its entry in the VM's storageProfile (borrowed) */
        int64_t lun;       /* -1 for the OS disk */
        rp_disk_image *img;
        rp_disk_capture *cap;
        rp_manifest *prev;          /* manifest of the previous point, or NULL (full) */
        rp_manifest *manifest;      /* the new one */
        rp_manifest_entry *changes; /* captured chunks (index, id), any order until sorted */
        size_t n_changes;
        uint64_t added_bytes;
        char drp_uuid[RP_UUID_STR_LEN + 1];
        char *drp_id;
        char *drp_name;
} cap_disk;

typedef struct capture {
        rp_region *reg;
        rp_operation *op;
        cap_disk disks[MAX_CAPTURE_DISKS];
        size_t n;
        pthread_mutex_t lock;
        uint64_t done_chunks, total_chunks;
        rp_usec_t last_progress;
        int error;
        char *error_msg;
} capture;

static void cap_disk_done(cap_disk *d)
{
        rp_disk_capture_free(d->cap);
        rp_disk_image_unref(d->img);
        rp_manifest_free(d->prev);
        rp_manifest_free(d->manifest);
        rp_free(d->changes);
        rp_free(d->drp_id);
        rp_free(d->drp_name);
        rp_resource_free(d->disk);
}

static int fail_point(rp_region *reg, rp_operation *op, rp_resource *rp, enum rp_ec ec,
                      const char *msg)
{
        log_warning("restore point '%s' failed: %s", rp ? rp->id : op->resource_key, msg);
        if (rp) {
                RP_COMPUTE_MODEL_LOCK();
                /* a DELETE accepted meanwhile stays visible (Deleting) until its job runs */
                _cleanup_(rp_resource_freep) rp_resource *cur = NULL;
                bool deleting = rp_db_res_get(reg->db, rp->key, &cur) == 0 &&
                                rp_streq(json_string_value(rp_json_get_path(
                                                 cur->body, "properties.provisioningState")),
                                         "Deleting");
                json_object_set_new(json_object_get(rp->body, "properties"), "provisioningState",
                                    json_string(deleting ? "Deleting" : "Failed"));
                json_object_set_new(
                        rp->internal, "error",
                        json_pack("{s:s, s:s}", "code", rp_ec_code(ec), "message", msg));
                int k = rp_db_res_put(reg->db, rp);
                if (k < 0)
                        return k;
        }
        return rp_arm_op_finish(reg, op, "Failed", 0, NULL, ec, msg);
}

/* The previous point of a disk, if still there and committed: its manifest. Else, for a hold
 * (compute_source.c), the baseline a released hold left, if the target says it still has that
 * copy (internal.bases): its chunks are there, so the hold only needs what changed since. */
static int load_base(rp_region *reg, rp_resource *disk, rp_resource *rp, rp_manifest **ret)
{
        const char *base = json_string_value(json_object_get(disk->internal, "base_drp"));
        if (!base) {
                const char *hk =
                        json_string_value(rp_json_get_path(disk->internal, "base_hold.key"));
                const char *hu =
                        json_string_value(rp_json_get_path(disk->internal, "base_hold.uuid"));
                size_t i;
                json_t *b;
                json_array_foreach(json_object_get(rp->internal, "bases"), i, b) {
                        if (hk && hu && rp_streq(json_string_value(b), hk)) {
                                _cleanup_free_ char *path = rp_region_baseline_path(reg, hu);
                                return path ? rp_manifest_read_file(path, ret) : -ENOMEM;
                        }
                }
                return -ENOENT;
        }
        _cleanup_(rp_resource_freep) rp_resource *drp = NULL;
        int k = rp_db_res_get(reg->db, base, &drp);
        if (k < 0)
                return k;
        const char *uuid = json_string_value(json_object_get(drp->internal, "uuid"));
        if (!json_is_true(json_object_get(drp->internal, "committed")) || !uuid)
                return -ENOENT;
        _cleanup_free_ char *path = rp_region_manifest_path(reg, uuid);
        return path ? rp_manifest_read_file(path, ret) : -ENOMEM;
}

static void progress(capture *c, uint64_t n)
{
        pthread_mutex_lock(&c->lock);
        c->done_chunks += n;
        rp_usec_t now = rp_now_monotonic();
        if (now - c->last_progress >= RP_USEC_PER_SEC && c->total_chunks) {
                c->last_progress = now;
                c->op->percent = 100.0 * (double)c->done_chunks / (double)c->total_chunks;
                if (c->op->percent > 99.0)
                        c->op->percent = 99.0;
                (void)rp_db_op_put(c->reg->db, c->op);
        }
        pthread_mutex_unlock(&c->lock);
}

struct worker_arg {
        capture *c;
        cap_disk *d;
};

static void *capture_worker(void *p)
{
        struct worker_arg *a = p;
        capture *c = a->c;
        cap_disk *d = a->d;
        _cleanup_free_ uint8_t *buf = rp_malloc(RP_CHUNK_SIZE);
        int k = buf ? 0 : -ENOMEM;
        while (k >= 0) {
                uint64_t chunk;
                k = rp_disk_capture_next_chunk(d->cap, &chunk);
                if (k <= 0)
                        break;
                size_t len = 0;
                k = rp_disk_capture_read_chunk(d->cap, chunk, buf, &len);
                if (k < 0)
                        break;
                rp_manifest_entry e = { .index = chunk };
                uint64_t added = 0;
                if (k == 1) {
                        k = rp_store_put(c->reg->store, buf, len, e.id, &added);
                        if (k < 0)
                                break;
                }
                /* k == 0: zeros at the cut; the all-zero id marks a hole */
                pthread_mutex_lock(&c->lock);
                d->changes[d->n_changes++] = e;
                d->added_bytes += added;
                pthread_mutex_unlock(&c->lock);
                progress(c, 1);
                k = 0;
        }
        if (k < 0) {
                pthread_mutex_lock(&c->lock);
                if (c->error == 0)
                        c->error = k;
                pthread_mutex_unlock(&c->lock);
        }
        return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
        const rp_manifest_entry *x = a, *y = b;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Read every chunk of the capture set of @p d into the store; build its manifest. */
static int capture_disk(capture *c, cap_disk *d)
{
        uint64_t total = rp_disk_capture_total(d->cap);
        uint64_t size = rp_disk_capture_size(d->cap);
        uint64_t max_chunks = (size + RP_CHUNK_SIZE - 1) / RP_CHUNK_SIZE;
        d->changes = rp_calloc(RP_MAX(total, max_chunks) + 1, sizeof *d->changes);
        if (!d->changes)
                return -ENOMEM;
        pthread_t th[CAPTURE_THREADS];
        struct worker_arg a = { .c = c, .d = d };
        size_t started = 0;
        for (; started < CAPTURE_THREADS; started++)
                if (pthread_create(&th[started], NULL, capture_worker, &a) != 0)
                        break;
        if (started == 0)
                capture_worker(&a);
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        if (c->error < 0)
                return c->error;
        qsort(d->changes, d->n_changes, sizeof *d->changes, cmp_entry);
        return rp_manifest_merge(d->prev, size, d->changes, d->n_changes, &d->manifest);
}

/* The VM model at the cut, as sourceMetadata (no secrets). */
static json_t *source_metadata(rp_region *reg, const rp_resource *vm, capture *c)
{
        json_t *p = json_object_get(vm->body, "properties");
        /* O*: a field the VM does not have is left out, not null */
        json_t *m = json_pack("{s:O*, s:O*, s:O*, s:O*, s:O*, s:O*, s:s}", "hardwareProfile",
                              json_object_get(p, "hardwareProfile"), "osProfile",
                              json_object_get(p, "osProfile"), "diagnosticsProfile",
                              json_object_get(p, "diagnosticsProfile"), "securityProfile",
                              json_object_get(p, "securityProfile"), "licenseType",
                              json_object_get(p, "licenseType"), "vmId", json_object_get(p, "vmId"),
                              "location", reg->name);
        if (!m)
                return NULL;
        json_t *ud = json_object_get(vm->internal, "userData");
        if (ud)
                json_object_set(m, "userData", ud);
        json_t *os = NULL, *data = json_array();
        for (size_t i = 0; i < c->n; i++) {
                cap_disk *d = &c->disks[i];
                json_t *dp = json_object_get(d->disk->body, "properties");
                json_t *e = json_pack("{s:O*, s:O*, s:O*, s:{s:s, s:O*}, s:{s:s}}", "name",
                                      json_object_get(d->disk->body, "name"), "caching",
                                      json_object_get(d->model, "caching"), "diskSizeGB",
                                      json_object_get(dp, "diskSizeGB"), "managedDisk", "id",
                                      d->disk->id, "storageAccountType",
                                      rp_json_get_path(d->disk->body, "sku.name"),
                                      "diskRestorePoint", "id", d->drp_id);
                if (!e)
                        continue;
                if (d->lun < 0) {
                        json_object_set(e, "osType", json_object_get(dp, "osType"));
                        if (!json_object_get(e, "osType"))
                                json_object_del(e, "osType");
                        os = e;
                } else {
                        json_object_set_new(e, "lun", json_integer(d->lun));
                        json_array_append_new(data, e);
                }
        }
        json_object_set_new(m, "storageProfile",
                            json_pack("{s:o?, s:o}", "osDisk", os, "dataDisks", data));
        json_t *hv =
                json_object_get(json_object_get(c->n ? c->disks[0].disk->body : NULL, "properties"),
                                "hyperVGeneration");
        if (hv)
                json_object_set(m, "hyperVGeneration", hv);
        return m;
}

static json_t *drp_body(rp_region *reg, cap_disk *d, json_t *time)
{
        json_t *dp = json_object_get(d->disk->body, "properties");
        json_t *enc = json_object_get(dp, "encryption");
        json_t *b = json_pack(
                "{s:s, s:s, s:s, s:{s:O, s:s, s:O*, s:O*, s:O*, s:O*, s:o, s:s, s:s, s:i, "
                "s:b}}",
                "id", d->drp_id, "name", d->drp_name, "type",
                "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints",
                "properties", "timeCreated", time, "sourceResourceId", d->disk->id, "osType",
                json_object_get(dp, "osType"), "hyperVGeneration",
                json_object_get(dp, "hyperVGeneration"), "sourceUniqueId",
                json_object_get(dp, "uniqueId"), "familyId", json_object_get(dp, "uniqueId"),
                "encryption",
                enc ? json_deep_copy(enc)
                    : json_pack("{s:s}", "type", "EncryptionAtRestWithPlatformKey"),
                "networkAccessPolicy", "AllowAll", "publicNetworkAccess", "Enabled",
                "logicalSectorSize", 512, "supportsHibernation", 0);
        return b;
}

struct commit_ctx {
        capture *c;
        rp_resource *rp;
};

static int commit_tx(rp_db *db, void *ud)
{
        struct commit_ctx *x = ud;
        capture *c = x->c;
        json_t *time = rp_json_get_path(x->rp->body, "properties.timeCreated");
        /* a DELETE accepted during the capture stays visible (Deleting) until its job runs */
        _cleanup_(rp_resource_freep) rp_resource *cur = NULL;
        if (rp_db_res_get(db, x->rp->key, &cur) == 0 &&
            rp_streq(json_string_value(rp_json_get_path(cur->body, "properties.provisioningState")),
                     "Deleting"))
                json_object_set_new(json_object_get(x->rp->body, "properties"), "provisioningState",
                                    json_string("Deleting"));
        for (size_t i = 0; i < c->n; i++) {
                cap_disk *d = &c->disks[i];
                _cleanup_(rp_resource_freep) rp_resource *drp =
                        rp_compute_resource_new(d->drp_id, RP_TYPE_DRP, x->rp->sub, x->rp->rg);
                if (!drp)
                        return -ENOMEM;
                drp->body = drp_body(c->reg, d, time);
                drp->internal = json_pack("{s:s, s:b, s:I, s:s, s:I, s:I, s:s}", "uuid",
                                          d->drp_uuid, "committed", 1, "size",
                                          (json_int_t)rp_manifest_disk_size(d->manifest), "access",
                                          "None", "generation", (json_int_t)0, "added_bytes",
                                          (json_int_t)d->added_bytes, "disk_key", d->disk->key);
                if (!drp->body || !drp->internal)
                        return -ENOMEM;
                int k = rp_db_res_put(db, drp);
                if (k >= 0)
                        k = rp_compute_drp_index(db, d->drp_uuid, drp->key);
                if (k < 0)
                        return k;
                /* the next point of this disk is incremental over this one */
                _cleanup_(rp_resource_freep) rp_resource *disk = NULL;
                if (rp_db_res_get(db, d->disk->key, &disk) == 0) {
                        json_object_set_new(disk->internal, "base_drp", json_string(drp->key));
                        k = rp_db_res_put(db, disk);
                        if (k < 0)
                                return k;
                }
        }
        return rp_db_res_put(db, x->rp);
}

/* Collect the disks of @p vm that the point includes. */
static int plan_disks(rp_region *reg, rp_resource *vm, rp_resource *rp, capture *c,
                      const char **ret_msg)
{
        json_t *sp = rp_json_get_path(vm->body, "properties.storageProfile");
        json_t *exclude = rp_json_get_path(rp->body, "properties.excludeDisks");
        json_t *all = json_array();
        if (!all)
                return -ENOMEM;
        if (json_object_get(sp, "osDisk"))
                json_array_append(all, json_object_get(sp, "osDisk"));
        json_array_extend(all, json_object_get(sp, "dataDisks"));
        size_t i;
        json_t *e;
        int k = 0;
        json_array_foreach(all, i, e) {
                const char *id = json_string_value(rp_json_get_path(e, "managedDisk.id"));
                _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
                if (!key)
                        continue;
                bool skip = false;
                size_t j;
                json_t *x;
                json_array_foreach(exclude, j, x) {
                        _cleanup_free_ char *xk =
                                rp_arm_id_key(json_string_value(json_object_get(x, "id")));
                        if (rp_streq(xk, key))
                                skip = true;
                }
                if (skip || c->n == MAX_CAPTURE_DISKS)
                        continue;
                cap_disk *d = &c->disks[c->n];
                k = rp_db_res_get(reg->db, key, &d->disk);
                if (k == -ENOENT) {
                        k = 0; /* a disk removed meanwhile is simply not captured */
                        continue;
                }
                if (k < 0)
                        break;
                d->model = e;
                d->lun = i == 0 && json_object_get(sp, "osDisk")
                                 ? -1
                                 : json_integer_value(json_object_get(e, "lun"));
                c->n++;
                const char *st =
                        json_string_value(rp_json_get_path(d->disk->body, "properties.diskState"));
                if (rp_streq(st, "ReadyToUpload") || rp_streq(st, "ActiveUpload")) {
                        *ret_msg = "A disk of the VM is waiting for its upload; exclude it with "
                                   "excludeDisks.";
                        k = -EBUSY;
                        break;
                }
        }
        json_decref(all);
        return k;
}

/* Run the VM's freeze hook, if configured. @return true if the cut is application-consistent. */
static bool freeze_hook(rp_service *svc, rp_resource *vm, const char *phase)
{
        if (!svc->freeze_hook)
                return false;
        return svc->freeze_hook(svc, vm->id, phase) == 0;
}

int rp_job_rp_capture(rp_service *svc, rp_region *reg, rp_operation *op)
{
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        const char *api = json_string_value(json_object_get(op->args, "api_version"));
        int k = rp_db_res_get(reg->db, op->resource_key, &rp);
        if (k == -ENOENT)
                return rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_RESOURCE_NOT_FOUND,
                                        "The restore point was deleted before its capture.");
        if (k < 0)
                return k;
        const char *state =
                json_string_value(rp_json_get_path(rp->body, "properties.provisioningState"));
        if (rp_streq(state, "Succeeded"))
                return rp_arm_op_finish(reg, op, "Succeeded", 200,
                                        rp_compute_rp_present(api, rp, false), RP_EC_NONE, NULL);
        if (rp_streq(state, "Failed"))
                return rp_arm_op_finish(
                        reg, op, "Failed", 0, NULL, RP_EC_CAPTURE_FAILED,
                        json_string_value(rp_json_get_path(rp->internal, "error.message")));
        if (rp_streq(state, "Deleting"))
                return rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_RESOURCE_NOT_FOUND,
                                        "The restore point was deleted before its capture.");

        const char *vm_key = json_string_value(json_object_get(rp->internal, "vm_key"));
        _cleanup_(rp_resource_freep) rp_resource *vm = NULL;
        if (!vm_key || rp_db_res_get(reg->db, vm_key, &vm) < 0)
                return fail_point(reg, op, rp, RP_EC_OPERATION_NOT_ALLOWED,
                                  "The source VM no longer exists.");

        capture c = { .reg = reg, .op = op };
        pthread_mutex_init(&c.lock, NULL);
        const char *msg = "The capture failed.";
        enum rp_ec ec = RP_EC_CAPTURE_FAILED;
        k = plan_disks(reg, vm, rp, &c, &msg);
        if (k < 0)
                goto fail;

        /* names and images */
        for (size_t i = 0; i < c.n && k >= 0; i++) {
                cap_disk *d = &c.disks[i];
                k = rp_uuid4(d->drp_uuid);
                if (k < 0)
                        break;
                const char *dname = json_string_value(json_object_get(d->disk->body, "name"));
                d->drp_name = rp_asprintf("%s_%s", dname, d->drp_uuid);
                d->drp_id = d->drp_name
                                    ? rp_asprintf("%s/diskRestorePoints/%s", rp->id, d->drp_name)
                                    : NULL;
                const char *uuid = json_string_value(json_object_get(d->disk->internal, "uuid"));
                _cleanup_free_ char *path = uuid ? rp_region_disk_path(reg, uuid) : NULL;
                if (!d->drp_id || !path) {
                        k = -ENOMEM;
                        break;
                }
                k = rp_disk_image_open(path, &d->img);
                if (k >= 0 && load_base(reg, d->disk, rp, &d->prev) < 0)
                        d->prev = NULL;
        }
        if (k < 0)
                goto fail;

        /* consistency: the freeze hook brackets the cut */
        const char *asked =
                json_string_value(rp_json_get_path(rp->body, "properties.consistencyMode"));
        bool app = !rp_streq(asked, "CrashConsistent") && freeze_hook(svc, vm, "freeze");

        /* the cut: writes held on every disk at once, for as long as beginning takes */
        rp_usec_t t0 = rp_now_monotonic();
        size_t held = 0;
        for (; held < c.n; held++) {
                k = rp_disk_image_hold(c.disks[held].img);
                if (k < 0)
                        break;
        }
        for (size_t i = 0; k >= 0 && i < c.n; i++)
                k = rp_disk_capture_begin(c.disks[i].img, c.disks[i].prev == NULL, &c.disks[i].cap);
        for (size_t i = 0; i < held; i++)
                rp_disk_image_release(c.disks[i].img);
        rp_usec_t cut_us = rp_now_monotonic() - t0;
        if (app)
                freeze_hook(svc, vm, "thaw");
        if (k < 0) {
                msg = k == -EBUSY ? "Another capture of a disk of this VM is in progress."
                                  : "The cut could not be taken.";
                goto fail;
        }
        log_info("restore point '%s': cut %zu disk(s) in %.3f ms (%s)", rp->id, c.n,
                 (double)cut_us / 1000.0, app ? "ApplicationConsistent" : "CrashConsistent");
        json_t *props = json_object_get(rp->body, "properties");
        json_object_set_new(props, "consistencyMode",
                            json_string(app ? "ApplicationConsistent" : "CrashConsistent"));
        json_object_set_new(props, "sourceMetadata", source_metadata(reg, vm, &c));

        for (size_t i = 0; i < c.n; i++)
                c.total_chunks += rp_disk_capture_total(c.disks[i].cap);
        uint64_t added = 0;
        for (size_t i = 0; i < c.n && k >= 0; i++) {
                k = capture_disk(&c, &c.disks[i]);
                added += c.disks[i].added_bytes;
        }
        if (k < 0) {
                msg = k == -EIO ? "Reading a disk failed (I/O error)." : "Capturing a disk failed.";
                goto fail;
        }
        /* durability: chunks, then manifests, then the records (the commit) */
        k = rp_store_flush(reg->store);
        for (size_t i = 0; i < c.n && k >= 0; i++) {
                _cleanup_free_ char *path = rp_region_manifest_path(reg, c.disks[i].drp_uuid);
                k = path ? rp_manifest_write_file(c.disks[i].manifest, path) : -ENOMEM;
        }
        if (k < 0) {
                msg = "Writing the restore point's data failed.";
                goto fail;
        }
        json_object_set_new(props, "provisioningState", json_string("Succeeded"));
        json_object_set_new(rp->internal, "added_bytes", json_integer((json_int_t)added));
        json_t *disks = json_array();
        for (size_t i = 0; i < c.n; i++)
                json_array_append_new(disks,
                                      json_pack("{s:s, s:s}", "disk_key", c.disks[i].disk->key,
                                                "drp_id", c.disks[i].drp_id));
        json_object_set_new(rp->internal, "disks", disks);
        struct commit_ctx x = { .c = &c, .rp = rp };
        {
                /* the disks' records are read and written back (base_drp) */
                RP_COMPUTE_MODEL_LOCK();
                k = rp_db_run_tx(reg->db, commit_tx, &x);
        }
        if (k < 0) {
                msg = "Recording the restore point failed.";
                json_object_set_new(props, "provisioningState", json_string("Creating"));
                goto fail;
        }
        for (size_t i = 0; i < c.n; i++)
                if (rp_disk_capture_commit(c.disks[i].cap) < 0)
                        log_warning("restore point '%s': dropping the captured dirty bits of "
                                    "disk '%s' failed, ignoring: the next point reads more",
                                    rp->id, c.disks[i].disk->id);
        log_info("restore point '%s' captured: %zu disk(s), %" PRIu64 " chunk(s) read, "
                 "%" PRIu64 " bytes added",
                 rp->id, c.n, c.done_chunks, added);
        for (size_t i = 0; i < c.n; i++)
                cap_disk_done(&c.disks[i]);
        pthread_mutex_destroy(&c.lock);
        return rp_arm_op_finish(reg, op, "Succeeded", 200, rp_compute_rp_present(api, rp, false),
                                RP_EC_NONE, NULL);

fail:
        for (size_t i = 0; i < c.n; i++) {
                if (c.disks[i].cap)
                        (void)rp_disk_capture_abort(c.disks[i].cap);
                cap_disk_done(&c.disks[i]);
        }
        pthread_mutex_destroy(&c.lock);
        for (size_t i = 0; i < c.n; i++) {
                _cleanup_free_ char *path = rp_region_manifest_path(reg, c.disks[i].drp_uuid);
                if (path)
                        unlink(path);
        }
        log_warning_errno(k, "restore point '%s': %s", rp->id, msg);
        return fail_point(reg, op, rp, ec, msg);
}
