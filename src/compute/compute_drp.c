/* compute_drp.c: disk restore points (DiskRP api-versions): get, list, beginGetAccess (Read
 * SAS of the point's image, served from the chunk store) and endGetAccess. */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "compute.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"

#define DRP_DISPLAY "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints"

static char *rp_key_of(rp_arm_req *r)
{
        _cleanup_free_ char *id =
                rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute", "restorePointCollections",
                               r->cap[2], "restorePoints", r->cap[3], NULL);
        return id ? rp_arm_id_key(id) : NULL;
}

/* Load the restore point of the path (cap[0..3]); replies on failure. */
static bool being_deleted(const rp_resource *res)
{
        return rp_streq(
                json_string_value(rp_json_get_path(res->body, "properties.provisioningState")),
                "Deleting");
}

static int parent_load(rp_arm_req *r, rp_region **ret_reg, rp_resource **ret_rp, bool *ret_deleting)
{
        _cleanup_(rp_resource_freep) rp_resource *rpc = NULL;
        rp_region *reg;
        if (rp_compute_rpc_load(r, &reg, &rpc) < 0)
                return -ENOENT;
        if (ret_deleting)
                *ret_deleting = being_deleted(rpc);
        _cleanup_free_ char *key = rp_key_of(r);
        int k = key ? rp_db_res_get(reg->db, key, ret_rp) : -ENOENT;
        if (k == -ENOENT) {
                _cleanup_free_ char *name = rp_asprintf("%s/%s", r->cap[2], r->cap[3]);
                rp_compute_reply_not_found(r,
                                           "Microsoft.Compute/restorePointCollections/"
                                           "restorePoints",
                                           name ? name : r->cap[3], r->cap[1]);
                return k;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "restore point lookup");
                return k;
        }
        *ret_reg = reg;
        return 0;
}

/* Load the disk restore point of the path; replies on failure. @p ret_deleting (may be NULL):
 * whether its restore point or collection is being deleted. */
static int drp_load(rp_arm_req *r, rp_region **ret_reg, rp_resource **ret, bool *ret_deleting)
{
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        rp_region *reg;
        bool deleting = false;
        if (parent_load(r, &reg, &rp, &deleting) < 0)
                return -ENOENT;
        if (ret_deleting)
                *ret_deleting = deleting || being_deleted(rp);
        _cleanup_free_ char *id = rp_arm_id_make(
                r->cap[0], r->cap[1], "Microsoft.Compute", "restorePointCollections", r->cap[2],
                "restorePoints", r->cap[3], "diskRestorePoints", r->cap[4], NULL);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        int k = key ? rp_db_res_get(reg->db, key, ret) : -ENOENT;
        if (k == -ENOENT) {
                _cleanup_free_ char *name =
                        rp_asprintf("%s/%s/%s", r->cap[2], r->cap[3], r->cap[4]);
                rp_compute_reply_not_found(r, DRP_DISPLAY, name ? name : r->cap[4], r->cap[1]);
        } else if (k < 0) {
                rp_arm_reply_internal(r, k, "disk restore point lookup");
        }
        if (k == 0)
                *ret_reg = reg;
        return k;
}

static json_t *drp_present(rp_arm_req *r, rp_resource *res)
{
        return json_deep_copy(res->body);
}

void rp_h_drp_get(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        if (drp_load(r, &reg, &res, NULL) < 0)
                return;
        rp_arm_reply_json(r, 200, drp_present(r, res));
}

void rp_h_drp_list(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *rp = NULL;
        rp_region *reg;
        if (parent_load(r, &reg, &rp, NULL) < 0)
                return;
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DRP, .parent_key = rp->key };
        int k = rp_db_res_list(reg->db, &f, &list, &n);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "disk restore point list");
                return;
        }
        json_t *items = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(items, drp_present(r, list[i]));
        rp_resource_list_free(list, n);
        rp_arm_reply_list(r, items, NULL);
}

void rp_h_drp_grant(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        const char *access = NULL;
        int64_t duration = 0;
        const rp_json_spec spec[] = {
                { "access", RP_JSON_STRING, true, &access },
                { "durationInSeconds", RP_JSON_INT, true, &duration },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_parse(r, spec) < 0)
                return;
        if (strcasecmp(access, "Read") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "access",
                                   "A disk restore point can only be read: access must be "
                                   "Read, got '%s'.",
                                   access);
                return;
        }
        if (duration <= 0 || duration > 30 * 86400) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "durationInSeconds",
                                   "durationInSeconds must be between 1 and 2592000, got "
                                   "%" PRId64 ".",
                                   duration);
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        bool deleting = false;
        if (drp_load(r, &reg, &res, &deleting) < 0)
                return;
        if (deleting) {
                rp_arm_reply_error(r, RP_EC_CONFLICT, NULL,
                                   "The restore point of disk restore point '%s' is being "
                                   "deleted.",
                                   r->cap[4]);
                return;
        }
        if (!json_is_true(json_object_get(res->internal, "committed"))) {
                rp_arm_reply_error(r, RP_EC_RP_NOT_READY, NULL,
                                   "The disk restore point '%s' is not complete: its data is "
                                   "not readable yet.",
                                   r->cap[4]);
                return;
        }
        uint64_t gen = (uint64_t)json_integer_value(json_object_get(res->internal, "generation"));
        uint64_t expiry = rp_now_realtime() / RP_USEC_PER_SEC + (uint64_t)duration;
        const char *uuid = json_string_value(json_object_get(res->internal, "uuid"));
        _cleanup_free_ char *url = rp_dataplane_drp_sas_url(r, reg, uuid, expiry, gen);
        if (!url) {
                rp_arm_reply_internal(r, -ENOMEM, "sas");
                return;
        }
        json_object_set_new(res->internal, "access", json_string("Read"));
        rp_compute_reply_access(r, reg, res, "drp.grant", url);
}

void rp_h_drp_revoke(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        if (drp_load(r, &reg, &res, NULL) < 0)
                return;
        json_int_t gen = json_integer_value(json_object_get(res->internal, "generation"));
        json_object_set_new(res->internal, "generation", json_integer(gen + 1));
        json_object_set_new(res->internal, "access", json_string("None"));
        rp_compute_reply_access(r, reg, res, "drp.revoke", NULL);
}
