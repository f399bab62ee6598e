/* compute_admin_regions.c: the read-only status of the regions this process hosts, for
 * operators (outside ARM; any valid rpd token, like the other /admin endpoints).
 *
 *   GET /admin/regions           {"value": [status, ...]}
 *   GET /admin/regions/{region}  status
 *
 * A status holds only what rpd knows for certain about the region: its names, whether its
 * worker runs and how many jobs wait for it (the one running included), how many resources
 * of each kind it holds and how many disk restore points are being copied into it (or failed
 * to be), its chunk store's counters, and the space of the filesystem under its directory.
 * Counting walks the region's records in pages of COUNT_PAGE, so memory stays bounded. */
#include <sys/statvfs.h>

#include "compute.h"
#include "util/macro.h"

#define COUNT_PAGE 1000

/* The resource kinds counted, with their names in the status. */
static const struct {
        const char *type;
        const char *name;
} counted[] = {
        { RP_TYPE_DISK, "disks" },
        { RP_TYPE_VM, "virtualMachines" },
        { RP_TYPE_RPC, "restorePointCollections" },
        { RP_TYPE_RP, "restorePoints" },
        { RP_TYPE_DRP, "diskRestorePoints" },
};

typedef struct region_counts {
        json_int_t n;
        json_int_t copying, copy_failed; /* disk restore points only */
} region_counts;

/* Count the resources of @p type in @p reg. @return 0 or <0. */
static int count_type(rp_region *reg, const char *type, region_counts *ret)
{
        rp_db_filter f = { .type = type, .limit = COUNT_PAGE };
        region_counts c = { 0 };
        for (;;) {
                rp_resource **list = NULL;
                size_t n = 0;
                int k = rp_db_res_list(reg->db, &f, &list, &n);
                if (k < 0)
                        return k;
                for (size_t i = 0; i < n; i++) {
                        const char *st =
                                json_string_value(json_object_get(list[i]->internal, "state"));
                        /* a copy's state; a captured point has none */
                        c.copying += rp_streq(st, "inProgress");
                        c.copy_failed += rp_streq(st, "failed");
                }
                c.n += (json_int_t)n;
                if (n > 0)
                        f.after_seq = list[n - 1]->seq;
                rp_resource_list_free(list, n);
                if (n < f.limit)
                        break;
        }
        *ret = c;
        return 0;
}

/* The status of @p reg. @return a new object, or NULL with the error in @p ret_error. */
static json_t *region_status(rp_region *reg, int *ret_error)
{
        json_t *resources = json_object();
        region_counts copies = { 0 };
        for (size_t i = 0; resources && i < ELEMENTSOF(counted); i++) {
                region_counts c;
                int k = count_type(reg, counted[i].type, &c);
                if (k < 0) {
                        json_decref(resources);
                        *ret_error = k;
                        return NULL;
                }
                json_object_set_new(resources, counted[i].name, json_integer(c.n));
                if (rp_streq(counted[i].type, RP_TYPE_DRP))
                        copies = c;
        }
        if (!resources) {
                *ret_error = -ENOMEM;
                return NULL;
        }
        int jobs = rp_db_job_count(reg->db);
        if (jobs < 0 && jobs != -EOPNOTSUPP) {
                json_decref(resources);
                *ret_error = jobs;
                return NULL;
        }
        pthread_mutex_lock(&reg->lock);
        bool running = reg->worker_started && !reg->stop;
        pthread_mutex_unlock(&reg->lock);

        rp_store_stats_result st = { 0 };
        (void)rp_store_stats(reg->store, &st);
        struct statvfs fs;
        json_t *disk = NULL;
        if (statvfs(reg->dir, &fs) == 0)
                disk = json_pack("{s:I, s:I}", "totalBytes",
                                 (json_int_t)((uint64_t)fs.f_blocks * fs.f_frsize), "freeBytes",
                                 (json_int_t)((uint64_t)fs.f_bavail * fs.f_frsize));
        json_t *o = json_pack(
                "{s:s, s:s, s:{s:b, s:o}, s:o, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I}, "
                "s:o}",
                "name", reg->name, "displayName", reg->display, "worker", "running", running,
                "jobsPending", jobs < 0 ? json_null() : json_integer(jobs), "resources", resources,
                "copiesIn", "inProgress", copies.copying, "failed", copies.copy_failed, "store",
                "chunks", (json_int_t)st.chunks, "storedBytes", (json_int_t)st.stored_bytes,
                "rawBytes", (json_int_t)st.raw_bytes, "packs", (json_int_t)st.packs, "packBytes",
                (json_int_t)st.pack_bytes, "pendingChunks", (json_int_t)st.pending, "filesystem",
                disk ? disk : json_null());
        if (!o)
                *ret_error = -ENOMEM;
        return o;
}

void rp_h_admin_regions_list(rp_arm_req *r)
{
        json_t *items = json_array();
        for (size_t i = 0; items && i < r->svc->n_regions; i++) {
                int k = 0;
                json_t *s = region_status(r->svc->regions[i], &k);
                if (!s) {
                        json_decref(items);
                        rp_arm_reply_internal(r, k, "region status");
                        return;
                }
                json_array_append_new(items, s);
        }
        if (!items) {
                rp_arm_reply_internal(r, -ENOMEM, "region status");
                return;
        }
        rp_arm_reply_json(r, 200, json_pack("{s:o}", "value", items));
}

void rp_h_admin_region_get(rp_arm_req *r)
{
        rp_region *reg = rp_service_region(r->svc, r->cap[0]);
        if (!reg) {
                rp_arm_reply_error(r, RP_EC_NOT_FOUND, NULL, "No region '%s' here.", r->cap[0]);
                return;
        }
        int k = 0;
        json_t *s = region_status(reg, &k);
        if (!s) {
                rp_arm_reply_internal(r, k, "region status");
                return;
        }
        rp_arm_reply_json(r, 200, s);
}
