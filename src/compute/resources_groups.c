/* resources_groups.c: Microsoft.Resources: subscriptions, locations and resource groups.
 * Resource groups are global: every region keeps a copy, written together. */
#include <string.h>

#include "compute.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"

/* ---------------------------------------------------------------- subscriptions */

static json_t *subscription_json(rp_arm_req *r, const char *sub)
{
        return json_pack("{s:s+, s:s, s:s, s:s+, s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:[]}", "id",
                         "/subscriptions/", sub, "subscriptionId", sub, "tenantId",
                         r->claims.tenant_id ? r->claims.tenant_id : "", "displayName",
                         "rpd subscription ", sub, "state", "Enabled", "authorizationSource",
                         "RoleBased", "subscriptionPolicies", "locationPlacementId",
                         "Public_2014-09-01", "quotaId", "PayAsYouGo_2014-09-01", "spendingLimit",
                         "Off", "homeTenantId", r->claims.tenant_id ? r->claims.tenant_id : "",
                         "managedByTenants");
}

void rp_h_subscriptions_list(rp_arm_req *r)
{
        json_t *items = json_array();
        for (size_t i = 0; items && i < r->claims.n_subscriptions; i++)
                json_array_append_new(items, subscription_json(r, r->claims.subscriptions[i]));
        if (!items) {
                rp_arm_reply_internal(r, -ENOMEM, "subscriptions");
                return;
        }
        rp_arm_reply_json(r, 200, json_pack("{s:o}", "value", items));
}

void rp_h_subscription_get(rp_arm_req *r)
{
        rp_arm_reply_json(r, 200, subscription_json(r, r->cap[0]));
}

static json_t *location_entry(const char *sub, const char *name, const char *display)
{
        return json_pack("{s:s+, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "id", "/subscriptions/",
                         sub, "name", name, "type", "Region", "displayName", display,
                         "regionalDisplayName", display, "metadata", "regionType", "Physical",
                         "regionCategory", "Recommended", "physicalLocation", display);
}

void rp_h_locations_list(rp_arm_req *r)
{
        json_t *items = json_array();
        for (size_t i = 0; items && i < r->svc->n_regions; i++)
                json_array_append_new(items, location_entry(r->cap[0], r->svc->regions[i]->name,
                                                            r->svc->regions[i]->display));
        const char **peers = NULL;
        size_t np = rp_compute_peer_regions(r->svc, &peers);
        for (size_t i = 0; items && i < np; i++)
                json_array_append_new(items, location_entry(r->cap[0], peers[i], peers[i]));
        if (!items) {
                rp_arm_reply_internal(r, -ENOMEM, "locations");
                return;
        }
        rp_arm_reply_json(r, 200, json_pack("{s:o}", "value", items));
}

/* ---------------------------------------------------------------- resource groups */

static json_t *group_present(rp_arm_req *r, rp_resource *res)
{
        return json_deep_copy(res->body);
}

static int group_key(rp_arm_req *r, char **ret_id, char **ret_key)
{
        char *id = rp_arm_id_make(r->cap[0], r->cap[1], NULL, NULL);
        char *key = id ? rp_arm_id_key(id) : NULL;
        if (!key) {
                rp_free(id);
                return -EINVAL;
        }
        *ret_id = id;
        *ret_key = key;
        return 0;
}

struct group_write {
        rp_service *svc;
        rp_resource *res;
};

/* Write the group's copy into every region. */
static int group_write_all(rp_service *svc, rp_resource *res)
{
        for (size_t i = 0; i < svc->n_regions; i++) {
                int k = rp_db_res_put(svc->regions[i]->db, res);
                if (k < 0)
                        return k;
        }
        return 0;
}

void rp_h_group_put(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        const char *location = NULL, *managed_by = NULL;
        json_t *tags = NULL, *props = NULL;
        const rp_json_spec spec[] = {
                { "location", RP_JSON_STRING, true, &location },
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "managedBy", RP_JSON_STRING, false, &managed_by },
                { "properties", RP_JSON_OBJECT, false, &props },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_check_name(r, "Microsoft.Resources/resourceGroups", r->cap[1]) < 0 ||
            rp_compute_parse(r, spec) < 0 || rp_compute_check_tags(r, tags) < 0)
                return;
        /* a group may be in any region of the deployment, this host's or a peer's */
        const char *region = rp_compute_region_name(r->svc, location);
        rp_region *reg;
        if (!region && rp_compute_require_region(r, location, &reg) < 0)
                return;
        _cleanup_free_ char *id = NULL, *key = NULL;
        if (group_key(r, &id, &key) < 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_RESOURCE_NAME, "name", NULL);
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *cur = NULL;
        int k = rp_service_find(r->svc, key, NULL, &cur);
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "group lookup");
                return;
        }
        if (cur) {
                const char *curloc = json_string_value(json_object_get(cur->body, "location"));
                if (!rp_streq(region, rp_compute_region_name(r->svc, curloc))) {
                        /* Azure: 409 InvalidResourceGroupLocation, this message. */
                        rp_arm_reply_error(r, RP_EC_INVALID_RG_LOCATION, "location",
                                           "Invalid resource group location '%s'. The Resource "
                                           "group already exists in location '%s'.",
                                           location, curloc);
                        return;
                }
                const char *st = json_string_value(
                        rp_json_get_path(cur->body, "properties.provisioningState"));
                if (rp_streq(st, "Deleting")) {
                        rp_arm_reply_error(r, RP_EC_GROUP_BEING_DELETED, NULL,
                                           "The resource group '%s' is in deprovisioning state "
                                           "and cannot perform this operation.",
                                           r->cap[1]);
                        return;
                }
        }
        _cleanup_(rp_resource_freep) rp_resource *res =
                cur ? TAKE_PTR(cur) : rp_compute_resource_new(id, RP_TYPE_RG, r->cap[0], r->cap[1]);
        if (!res) {
                rp_arm_reply_internal(r, -ENOMEM, "group");
                return;
        }
        json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:o, s:{s:s}}", "id", res->id, "name",
                                 json_string_value(json_object_get(res->body, "name")) ?: r->cap[1],
                                 "type", "Microsoft.Resources/resourceGroups", "location", region,
                                 "tags", tags ? json_deep_copy(tags) : json_object(), "properties",
                                 "provisioningState", "Succeeded");
        if (!body) {
                rp_arm_reply_internal(r, -ENOMEM, "group");
                return;
        }
        if (managed_by)
                json_object_set_new(body, "managedBy", json_string(managed_by));
        bool created = res->body == NULL;
        if (res->body)
                json_decref(res->body);
        res->body = body;
        k = group_write_all(r->svc, res);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "group write");
                return;
        }
        rp_arm_reply_json(r, created ? 201 : 200, json_deep_copy(res->body));
}

static int group_load(rp_arm_req *r, rp_resource **ret)
{
        _cleanup_free_ char *id = NULL, *key = NULL;
        if (group_key(r, &id, &key) < 0)
                return -ENOENT;
        return rp_service_find(r->svc, key, NULL, ret);
}

void rp_h_group_get(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *g = NULL;
        int k = group_load(r, &g);
        if (k == -ENOENT) {
                rp_arm_reply_error(r, RP_EC_RESOURCE_GROUP_NOT_FOUND, NULL,
                                   "Resource group '%s' could not be found.", r->cap[1]);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "group lookup");
                return;
        }
        rp_arm_reply_json(r, 200, json_deep_copy(g->body));
}

void rp_h_group_head(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *g = NULL;
        int k = group_load(r, &g);
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "group lookup");
                return;
        }
        rp_arm_reply_empty(r, k == 0 ? 204 : 404);
}

void rp_h_group_patch(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        json_t *tags = NULL;
        const char *managed_by = NULL;
        const rp_json_spec spec[] = {
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "managedBy", RP_JSON_STRING, false, &managed_by },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_parse(r, spec) < 0 || rp_compute_check_tags(r, tags) < 0)
                return;
        _cleanup_(rp_resource_freep) rp_resource *g = NULL;
        int k = group_load(r, &g);
        if (k == -ENOENT) {
                rp_arm_reply_error(r, RP_EC_RESOURCE_GROUP_NOT_FOUND, NULL,
                                   "Resource group '%s' could not be found.", r->cap[1]);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "group lookup");
                return;
        }
        if (tags)
                json_object_set(g->body, "tags", tags);
        if (managed_by)
                json_object_set_new(g->body, "managedBy", json_string(managed_by));
        k = group_write_all(r->svc, g);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "group write");
                return;
        }
        rp_arm_reply_json(r, 200, json_deep_copy(g->body));
}

void rp_h_group_delete(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *g = NULL;
        int k = group_load(r, &g);
        if (k == -ENOENT) {
                rp_arm_reply_empty(r, 204);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "group lookup");
                return;
        }
        /* The group's deletion runs in the first region's worker; every region's copy stays
         * visible as Deleting until its contents are gone. */
        json_object_set_new(json_object_get(g->body, "properties"), "provisioningState",
                            json_string("Deleting"));
        k = group_write_all(r->svc, g);
        rp_region *home = r->svc->regions[0];
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        if (k >= 0)
                k = rp_arm_op_create(r->svc, home, g->sub, "group.delete", g->key,
                                     json_pack("{s:s, s:s}", "sub", g->sub, "rg", g->rg), true,
                                     &op);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "group delete");
                return;
        }
        rp_arm_lro_headers(r, home, op, true);
        rp_arm_reply_empty(r, 202);
}

void rp_h_group_list(rp_arm_req *r)
{
        rp_compute_list(r, RP_TYPE_RG, r->cap[0], NULL, true, group_present);
}
