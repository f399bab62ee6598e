/* compute.h: the providers (Microsoft.Resources, Microsoft.Compute) and the disk data plane:
 * the route table, the job kinds, and the helpers the handlers share. */
#pragma once
#include <jansson.h>

#include "arm/arm.h"
#include "json/json.h"

/** Route table of every operation rpd serves. */
extern const rp_route rp_compute_routes[];
extern const size_t rp_compute_n_routes;
/** Long-running work kinds, run by the region workers. */
extern const rp_job_kind rp_compute_job_kinds[];
extern const size_t rp_compute_n_job_kinds;

/** Streaming begin hook for the data plane (rp_service.stream_begin). */
int rp_dataplane_stream_begin(rp_arm_req *r);
/** Streaming body hook for the data plane (rp_service.stream_body). */
int rp_dataplane_stream_body(rp_arm_req *r, const char *data, size_t len);

/* ---------------------------------------------------------------- shared helpers */

/** Type strings (lower-cased, as stored). */
#define RP_TYPE_RG "microsoft.resources/resourcegroups"
#define RP_TYPE_DISK "microsoft.compute/disks"
#define RP_TYPE_VM "microsoft.compute/virtualmachines"
#define RP_TYPE_RPC "microsoft.compute/restorepointcollections"
#define RP_TYPE_RP "microsoft.compute/restorepointcollections/restorepoints"
#define RP_TYPE_DRP "microsoft.compute/restorepointcollections/restorepoints/diskrestorepoints"

/**
 * The model lock: held by every handler and job that reads resource records, checks them and
 * writes them back (create if the name is free, attach if the disk is not attached elsewhere,
 * bump the SAS generation...), so that two requests cannot both pass a check and then both
 * write. One lock for the process: groups span regions, and these sections are short (the
 * data plane and long copies run outside it). Recursive: a region answering another region
 * of this process (compute_source.c) takes it again inside the caller's section.
 * @return a token for rp_compute_model_unlockp(), never NULL.
 */
void *rp_compute_model_lock(void);
/** Release the model lock taken by rp_compute_model_lock() (a cleanup function). */
void rp_compute_model_unlockp(void **token);
/** Hold the model lock until the end of the enclosing block. */
#define RP_COMPUTE_MODEL_LOCK()                                                                    \
        _cleanup_(rp_compute_model_unlockp) _unused_ void *rp__model = rp_compute_model_lock()

/** Parse @p specs over the body; on failure replies 400 naming the field. @return 0 or <0. */
int rp_compute_parse(rp_arm_req *r, const rp_json_spec *specs);
/** Check a resource name for @p full_type; replies InvalidResourceName on failure. */
int rp_compute_check_name(rp_arm_req *r, const char *full_type, const char *name);
/** Check body tags; replies InvalidTag on failure. */
int rp_compute_check_tags(rp_arm_req *r, const json_t *tags);
/** Load the resource group (any region holds a copy); replies ResourceGroupNotFound. */
int rp_compute_require_group(rp_arm_req *r, const char *sub, const char *rg, rp_resource **ret);
/** Resolve the body location to a hosted region; replies LocationNotAvailable... on failure. */
int rp_compute_require_region(rp_arm_req *r, const char *location, rp_region **ret);
/** Reply ResourceNotFound for @p type_display/@p name in @p rg. */
void rp_compute_reply_not_found(rp_arm_req *r, const char *type_display, const char *name,
                                const char *rg);
/** A new rp_resource for @p id in the given region. */
rp_resource *rp_compute_resource_new(const char *id, const char *type, const char *sub,
                                     const char *rg);
/** List resources of @p type under a subscription (and group), across regions, paged. */
void rp_compute_list(rp_arm_req *r, const char *type, const char *sub, const char *rg,
                     bool first_region_only, json_t *(*present)(rp_arm_req *r, rp_resource *res));
/** ETag checks (If-Match / If-None-Match) for a PUT/PATCH/DELETE on @p cur (may be NULL).
 *  Replies 412 on failure. */
int rp_compute_check_etag(rp_arm_req *r, const rp_resource *cur);
/** Reply @p status with @p body (stolen) and the ETag header of @p res. */
void rp_compute_reply_resource(rp_arm_req *r, unsigned status, json_t *body,
                               const rp_resource *res);
/** Finish beginGetAccess / endGetAccess: store @p res (its access state already set), record
 *  a finished operation whose result is {"accessSAS": sas_url} (or nothing for a revoke), and
 *  reply 202 with its LRO headers. */
void rp_compute_reply_access(rp_arm_req *r, rp_region *reg, rp_resource *res, const char *kind,
                             const char *sas_url);
/** Record (or, with @p key NULL, forget) the uuid → key mapping of a disk restore point. */
int rp_compute_drp_index(rp_db *db, const char *uuid, const char *key);
/** The disk restore point whose data-plane uuid is @p uuid. @return 0, -ENOENT or <0. */
int rp_compute_drp_by_uuid(rp_region *reg, const char *uuid, rp_resource **ret);
/** An InstanceViewStatus {code, level, displayStatus[, message][, time]}. New reference;
 *  @p message and @p time may be NULL. */
json_t *rp_compute_status(const char *code, const char *level, const char *display,
                          const char *message, json_t *time);
/** Current UTC time in ARM format into a new JSON string. */
json_t *rp_compute_now(void);
/** Unique id (GUID) into a new JSON string. */
json_t *rp_compute_guid(void);

/* Data-plane URL of a disk, signed for @p perms until @p expiry_sec. rp_free() it. */
char *rp_dataplane_sas_url(rp_arm_req *r, rp_region *reg, const char *disk_uuid, const char *perms,
                           uint64_t expiry_sec, uint64_t generation);
/* Data-plane URL of a disk restore point (read only). rp_free() it. */
char *rp_dataplane_drp_sas_url(rp_arm_req *r, rp_region *reg, const char *drp_uuid,
                               uint64_t expiry_sec, uint64_t generation);
/* Path of the manifest of a disk restore point. rp_free() it. */
char *rp_region_manifest_path(rp_region *reg, const char *drp_uuid);
/* Reclaim chunks no manifest references (runs on the region worker). Logs its outcome. */
void rp_region_gc(rp_region *reg);
/* Path of the image file of a disk. rp_free() it. */
char *rp_region_disk_path(rp_region *reg, const char *disk_uuid);

/* Job functions (compute_jobs.c). */
int rp_job_disk_delete(rp_service *svc, rp_region *reg, rp_operation *op);
int rp_job_disk_copy(rp_service *svc, rp_region *reg, rp_operation *op);
int rp_job_vm_delete(rp_service *svc, rp_region *reg, rp_operation *op);
int rp_job_group_delete(rp_service *svc, rp_region *reg, rp_operation *op);

/* Restore points (compute_rp.c, compute_rpc.c, compute_drp.c). */
/** Load the collection named by cap[0..2]; replies on failure. */
int rp_compute_rpc_load(rp_arm_req *r, rp_region **ret_reg, rp_resource **ret);
/** The served document of a restore point (with its instance view if asked). New ref. */
json_t *rp_compute_rp_present(const char *api_version, rp_resource *rp, bool instance_view);
/** Refuse (DiskRestorePointUsedByCustomer) if a disk restore point under @p parent_key (a
 *  collection, or with @p rp_key a restore point) has an active SAS. Replies on failure. */
int rp_compute_rps_check_no_sas(rp_arm_req *r, rp_region *reg, const char *rpc_key,
                                const char *rp_key);
int rp_job_rpc_delete(rp_service *svc, rp_region *reg, rp_operation *op);
/** Delete a collection with its restore points (records and manifests); the caller holds the
 *  model lock and has the region's garbage collection run afterwards. */
int rp_compute_rpc_remove(rp_region *reg, const char *rpc_key);
int rp_job_rp_delete(rp_service *svc, rp_region *reg, rp_operation *op);
int rp_job_rp_capture(rp_service *svc, rp_region *reg, rp_operation *op);
/** PUT of a restore point that copies @p source_rp_id into collection @p rpc (whose source is
 *  the source point's collection). Replies. */
void rp_compute_rp_copy_create(rp_arm_req *r, rp_region *reg, rp_resource *rpc, const char *id,
                               const char *source_rp_id, json_t *shape);
int rp_job_rp_copy(rp_service *svc, rp_region *reg, rp_operation *op);
/** The instance view of a copied restore point: replication state and percent per disk. */
json_t *rp_compute_copy_instance_view(rp_region *reg, rp_resource *rp);
int rp_job_drp_replicate(rp_service *svc, rp_region *reg, rp_operation *op);

/* Restore points created in one region from a VM in another (compute_source.c: the VM's
 * region; compute_pull.c: the collection's region). */
/** Answer a call from another region: @p op is vm.get, hold.create, hold.get or hold.release.
 *  @return 0 with rep->body, -EREMOTE with rep->ec/message, or another negative errno. */
int rp_source_handle(rp_service *svc, const char *op, const json_t *req, rp_source_reply *rep);
/** Call @p region (hosted here, or a peer's). Same returns, plus -EHOSTUNREACH (unknown). */
int rp_source_call(rp_service *svc, const char *region, const char *op, const json_t *req,
                   rp_source_reply *rep);
/** Free what a reply holds. */
void rp_source_reply_done(rp_source_reply *rep);
int rp_job_hold_release(rp_service *svc, rp_region *reg, rp_operation *op);
/** Path of the baseline manifest a released hold left for its disk. rp_free() it. */
char *rp_region_baseline_path(rp_region *reg, const char *drp_uuid);
/** Count the restore points of a VM in @p reg, and whether one is being created. */
int rp_compute_vm_points(rp_region *reg, const char *sub, const char *vm_key, size_t *ret_total,
                         bool *ret_creating);
/** PUT of a restore point in a collection whose source VM is in another region. Replies. */
void rp_compute_rp_pull_create(rp_arm_req *r, rp_region *reg, rp_resource *rpc, const char *id,
                               const char *vm_id, json_t *exclude, const char *mode, json_t *shape);
int rp_job_rp_pull(rp_service *svc, rp_region *reg, rp_operation *op);
/** After a copy of a pulled point ends: release its hold at the source once every disk is
 *  done. Failures are retried by rp_compute_pull_idle(). Worker only; not under the lock. */
void rp_compute_pull_settle(rp_service *svc, rp_region *reg, const char *rp_key);
/** A pulled point is being deleted: release its hold (later). Caller holds the lock. */
int rp_compute_pull_forget(rp_region *reg, rp_resource *rp);
/** The manifest and metadata of a committed disk restore point hosted here (for peers).
 *  @return 0, -ENOENT, <0. */
int rp_compute_local_manifest(rp_service *svc, const char *drp_id, uint8_t **ret_data,
                              size_t *ret_len, json_t **ret_meta);

/** Limit the copies from @p source into this host's regions (bytes/s and copies at once; 0:
 *  none). Before the workers start. @return 0, -E2BIG, -ENOMEM. */
int rp_compute_copy_limits(const char *source, uint64_t bytes_per_sec, unsigned max_copies);
/** A copy running longer than this fails (TimeLimitExceeded). 0: the engine's default. */
void rp_compute_copy_time_limit(uint64_t seconds);
void rp_compute_copy_limits_free(void);

/* Regions hosted by other rpd processes (compute_peer.c). */
/** One [peer NAME] of the config. */
typedef struct rp_compute_peer_config {
        const char *region;  /**< the region the peer hosts */
        const char *url;     /**< its HTTPS base URL */
        const char *ca_file; /**< CA its certificate chains to, or NULL (system store) */
        const uint8_t *key;  /**< the pair key */
        size_t key_len;
} rp_compute_peer_config;
/** The canonical name of @p location if this host or a peer hosts it ("East US" -> "eastus"),
 *  else NULL. Borrowed. */
const char *rp_compute_region_name(rp_service *svc, const char *location);
/** The regions the peers host (borrowed, valid until the next call on this thread). */
size_t rp_compute_peer_regions(rp_service *svc, const char ***ret);
/** Set the service's peers (remote_call, remote_peer). @return 0 or -ENOMEM. */
int rp_compute_peers_init(rp_service *svc, const rp_compute_peer_config *cfg, size_t n);
void rp_compute_peers_free(rp_service *svc);
/** Forward @p r to the peer that hosts what it names. @return true if it was answered. */
bool rp_compute_forward(rp_arm_req *r);
/** Add the peers' items to a list's first page. */
void rp_compute_list_more(rp_arm_req *r, json_t *items);
void rp_h_peer_manifest(rp_arm_req *r);
void rp_h_peer_chunks(rp_arm_req *r);
void rp_h_peer_source(rp_arm_req *r);

/** Rewrite the diskRestorePoint ids of a copied sourceMetadata: @p map is source key -> id. */
void rp_compute_rewrite_drp_ids(json_t *meta, const json_t *map);
/** Worker idle hook: retry hold releases the source could not take yet. */
void rp_compute_pull_idle(rp_service *svc, rp_region *reg);
/** A new disk restore point record in @p rp_id that receives a copy of a source disk restore
 *  point (@p name, @p size, @p props: the source's properties). New resource or NULL. */
rp_resource *rp_compute_copy_drp_new(const char *rp_id, const char *sub, const char *rg,
                                     const char *name, json_t *size, json_t *props,
                                     const char *source_drp_id, const char *source_resource_id,
                                     const char *source_region);
/** Store the disk restore points @p drps (with their uuid index) and @p rp in one
 *  transaction. */
int rp_compute_copy_commit(rp_region *reg, rp_resource *rp, rp_resource **drps, size_t n);
int rp_job_disk_restore(rp_service *svc, rp_region *reg, rp_operation *op);
/** Write a new image at @p path (of at least @p size bytes) from disk restore point @p drp,
 *  every chunk verified. @return 0, -EBADMSG (corrupt data), -ENOENT, -errno. */
int rp_compute_restore_image(rp_region *reg, rp_resource *drp, const char *path, uint64_t size);
void rp_h_rpc_put(rp_arm_req *r);
void rp_h_rpc_get(rp_arm_req *r);
void rp_h_rpc_patch(rp_arm_req *r);
void rp_h_rpc_delete(rp_arm_req *r);
void rp_h_rpc_list_group(rp_arm_req *r);
void rp_h_rpc_list_sub(rp_arm_req *r);
void rp_h_rp_put(rp_arm_req *r);
void rp_h_rp_get(rp_arm_req *r);
void rp_h_rp_delete(rp_arm_req *r);
void rp_h_drp_get(rp_arm_req *r);
void rp_h_drp_list(rp_arm_req *r);
void rp_h_drp_grant(rp_arm_req *r);
void rp_h_drp_revoke(rp_arm_req *r);

/* Handlers, one per operation. */
void rp_h_subscriptions_list(rp_arm_req *r);
void rp_h_subscription_get(rp_arm_req *r);
void rp_h_locations_list(rp_arm_req *r);
void rp_h_group_put(rp_arm_req *r);
void rp_h_group_get(rp_arm_req *r);
void rp_h_group_head(rp_arm_req *r);
void rp_h_group_patch(rp_arm_req *r);
void rp_h_group_delete(rp_arm_req *r);
void rp_h_group_list(rp_arm_req *r);
void rp_h_group_opresult(rp_arm_req *r);
void rp_h_disk_put(rp_arm_req *r);
void rp_h_disk_get(rp_arm_req *r);
void rp_h_disk_patch(rp_arm_req *r);
void rp_h_disk_delete(rp_arm_req *r);
void rp_h_disk_list_group(rp_arm_req *r);
void rp_h_disk_list_sub(rp_arm_req *r);
void rp_h_disk_grant(rp_arm_req *r);
void rp_h_disk_revoke(rp_arm_req *r);
void rp_h_vm_put(rp_arm_req *r);
void rp_h_vm_get(rp_arm_req *r);
void rp_h_vm_delete(rp_arm_req *r);
void rp_h_vm_list_group(rp_arm_req *r);
void rp_h_vm_list_sub(rp_arm_req *r);
void rp_h_operation_get(rp_arm_req *r);
void rp_h_data_get(rp_arm_req *r);
void rp_h_data_put(rp_arm_req *r);
void rp_h_data_drp_get(rp_arm_req *r);
void rp_h_health(rp_arm_req *r);
void rp_h_admin_scrub(rp_arm_req *r);
void rp_h_admin_gc(rp_arm_req *r);
void rp_h_admin_regions_list(rp_arm_req *r);
void rp_h_admin_region_get(rp_arm_req *r);
int rp_job_region_gc(rp_service *svc, rp_region *reg, rp_operation *op);
