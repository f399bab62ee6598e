/* compute_vm.c: Microsoft.Compute/virtualMachines: create/update, get, delete, list.
 *
 * rpd runs no guests: a VM is its model (hardware, OS profile, ...) and the set of managed
 * disks attached to it, which is what a restore point captures. Creating or updating a VM
 * attaches (or creates, for createOption Empty) its disks and detaches the ones it dropped,
 * all in one transaction of the VM's region. Secrets (adminPassword, customData) are never
 * stored in the served document; userData is served only with $expand=userData. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "compute.h"
#include "disk/disk_image.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/macro.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define MAX_DATA_DISKS 64

/* One disk of the VM model being applied. */
typedef struct vm_disk {
        json_t *entry;      /* the model entry (borrowed from the body) */
        const char *target; /* "storageProfile.dataDisks[i]" for messages */
        int64_t lun;        /* -1 for the OS disk */
        bool create_empty;
        rp_resource *restore_from; /* createOption Restore: the disk restore point */
        rp_resource *disk;         /* existing disk (Attach), or the new one (Empty) */
        char *image_path;          /* image created for an Empty disk (removed on failure) */
} vm_disk;

static void vm_disks_free(vm_disk *d, size_t n, bool remove_images)
{
        for (size_t i = 0; i < n; i++) {
                if (remove_images && d[i].image_path)
                        rp_disk_image_remove(d[i].image_path);
                rp_free(d[i].image_path);
                rp_resource_free(d[i].disk);
                rp_resource_free(d[i].restore_from);
                rp_free((char *)d[i].target);
        }
}

static char *vm_id(rp_arm_req *r)
{
        return rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute", "virtualMachines",
                              r->cap[2], NULL);
}

static json_t *vm_present(rp_arm_req *r, rp_resource *res)
{
        json_t *o = json_deep_copy(res->body);
        if (!o)
                return NULL;
        const char *expand = rp_http_query(r->http, "$expand");
        json_t *props = json_object_get(o, "properties");
        if (expand && strcasecmp(expand, "userData") == 0) {
                json_t *ud = json_object_get(res->internal, "userData");
                if (ud)
                        json_object_set(props, "userData", ud);
        }
        if (expand && strcasecmp(expand, "instanceView") == 0) {
                json_t *now = rp_compute_now();
                json_t *disks = json_array();
                json_t *sp = json_object_get(props, "storageProfile");
                json_t *os = json_object_get(sp, "osDisk");
                json_t *all = json_array();
                if (os)
                        json_array_append(all, os);
                json_array_extend(all, json_object_get(sp, "dataDisks"));
                size_t i;
                json_t *d;
                json_array_foreach(all, i, d)
                        json_array_append_new(disks,
                                              json_pack("{s:O?, s:[{s:s, s:s, s:s, s:O}]}", "name",
                                                        json_object_get(d, "name"), "statuses",
                                                        "code", "ProvisioningState/succeeded",
                                                        "level", "Info", "displayStatus",
                                                        "Provisioning succeeded", "time", now));
                json_decref(all);
                json_object_set_new(
                        props, "instanceView",
                        json_pack("{s:O?, s:o, s:[{s:s, s:s, s:s, s:O}, {s:s, s:s, s:s}]}",
                                  "computerName", rp_json_get_path(props, "osProfile.computerName"),
                                  "disks", disks, "statuses", "code", "ProvisioningState/succeeded",
                                  "level", "Info", "displayStatus", "Provisioning succeeded",
                                  "time", now, "code", "PowerState/stopped", "level", "Info",
                                  "displayStatus", "VM stopped"));
                json_decref(now);
        }
        return o;
}

static int check_expand(rp_arm_req *r)
{
        const char *expand = rp_http_query(r->http, "$expand");
        if (expand && strcasecmp(expand, "instanceView") != 0 &&
            strcasecmp(expand, "userData") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "$expand",
                                   "The value '%s' of parameter '$expand' is invalid: use "
                                   "instanceView or userData.",
                                   expand);
                return -EINVAL;
        }
        return 0;
}

/* Validate one disk entry of the model and load (or plan) its disk. Replies on failure. */
static int vm_disk_prepare(rp_arm_req *r, rp_region *reg, const char *vm_key, vm_disk *d,
                           bool is_os)
{
        const char *create = NULL, *id = NULL, *name = NULL, *del = NULL, *caching = NULL;
        int64_t lun = -1, size_gb = 0;
        const rp_json_spec spec[] = {
                { "createOption", RP_JSON_STRING, true, &create },
                { "lun", RP_JSON_INT, !is_os, &lun },
                { "managedDisk", RP_JSON_OBJECT, false, NULL },
                { "managedDisk.id", RP_JSON_STRING, false, &id },
                { "name", RP_JSON_STRING, false, &name },
                { "diskSizeGB", RP_JSON_INT, false, &size_gb },
                { "deleteOption", RP_JSON_STRING, false, &del },
                { "caching", RP_JSON_STRING, false, &caching },
                RP_JSON_SPEC_END,
        };
        const char *path = NULL;
        int k = rp_json_parse(d->entry, spec, &path);
        if (k < 0) {
                rp_arm_reply_error(
                        r, k == -ENOENT ? RP_EC_INVALID_PARAMETER : RP_EC_INVALID_REQUEST_CONTENT,
                        d->target, "%s '%s.%s' of the disk.",
                        k == -ENOENT ? "Required parameter is missing:" : "Wrong type for",
                        d->target, path);
                return k;
        }
        if (!is_os && (lun < 0 || lun >= MAX_DATA_DISKS)) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, d->target,
                                   "The LUN %" PRId64 " is out of range (0 to %d).", lun,
                                   MAX_DATA_DISKS - 1);
                return -EINVAL;
        }
        d->lun = is_os ? -1 : lun;
        if (del && strcasecmp(del, "Delete") != 0 && strcasecmp(del, "Detach") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, d->target,
                                   "deleteOption must be Delete or Detach, got '%s'.", del);
                return -EINVAL;
        }
        if (caching && strcasecmp(caching, "None") != 0 && strcasecmp(caching, "ReadOnly") != 0 &&
            strcasecmp(caching, "ReadWrite") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, d->target,
                                   "caching must be None, ReadOnly or ReadWrite, got '%s'.",
                                   caching);
                return -EINVAL;
        }
        if (strcasecmp(create, "Attach") == 0) {
                _cleanup_(rp_arm_id_freep) rp_arm_id *pid = NULL;
                if (!id || rp_arm_id_parse(id, &pid) < 0 ||
                    !rp_arm_id_is_type(pid, "Microsoft.Compute/disks")) {
                        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, d->target,
                                           "createOption Attach needs managedDisk.id naming a "
                                           "managed disk, got '%s'.",
                                           rp_strempty(id));
                        return -EINVAL;
                }
                _cleanup_free_ char *key = rp_arm_id_key(id);
                rp_region *dreg = NULL;
                k = key ? rp_service_find(r->svc, key, &dreg, &d->disk) : -ENOMEM;
                if (k == -ENOENT) {
                        rp_arm_reply_error(r, RP_EC_RESOURCE_NOT_FOUND, d->target,
                                           "The managed disk '%s' was not found.", id);
                        return k;
                }
                if (k < 0) {
                        rp_arm_reply_internal(r, k, "disk lookup");
                        return k;
                }
                if (dreg != reg) {
                        rp_arm_reply_error(r, RP_EC_CONFLICT, d->target,
                                           "The managed disk '%s' is in region '%s'; the VM is "
                                           "in '%s'.",
                                           id, dreg->name, reg->name);
                        return -EINVAL;
                }
                const char *owner = json_string_value(json_object_get(d->disk->body, "managedBy"));
                _cleanup_free_ char *owner_key = owner ? rp_arm_id_key(owner) : NULL;
                if (owner && !rp_streq(owner_key, vm_key)) {
                        rp_arm_reply_error(r, RP_EC_CONFLICT, d->target,
                                           "The managed disk '%s' is already attached to VM "
                                           "'%s'.",
                                           id, owner);
                        return -EBUSY;
                }
                json_t *dp = json_object_get(d->disk->body, "properties");
                const char *st = json_string_value(json_object_get(dp, "diskState"));
                const char *prov = json_string_value(json_object_get(dp, "provisioningState"));
                bool busy = rp_streq(prov, "Deleting") || rp_streq(prov, "Updating");
                if (busy || rp_streq(st, "ReadyToUpload") || rp_streq(st, "ActiveUpload")) {
                        rp_arm_reply_error(r, RP_EC_CONFLICT, d->target,
                                           "The managed disk '%s' cannot be attached in state "
                                           "'%s'.",
                                           id, busy ? prov : st);
                        return -EBUSY;
                }
                return 0;
        }
        if (strcasecmp(create, "Empty") == 0) {
                if (size_gb <= 0 || size_gb > 32767) {
                        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, d->target,
                                           "createOption Empty needs diskSizeGB between 1 and "
                                           "32767.");
                        return -EINVAL;
                }
                d->create_empty = true;
                return 0;
        }
        if (strcasecmp(create, "Restore") == 0 && !is_os) {
                const char *src =
                        json_string_value(rp_json_get_path(d->entry, "sourceResource.id"));
                _cleanup_(rp_arm_id_freep) rp_arm_id *sid = NULL;
                if (!src || rp_arm_id_parse(src, &sid) < 0 ||
                    !rp_arm_id_is_type(sid, "Microsoft.Compute/restorePointCollections/"
                                            "restorePoints/diskRestorePoints")) {
                        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, d->target,
                                           "createOption Restore needs sourceResource.id naming "
                                           "a disk restore point, got '%s'.",
                                           rp_strempty(src));
                        return -EINVAL;
                }
                _cleanup_free_ char *skey = rp_arm_id_key(src);
                rp_region *sreg = NULL;
                k = skey ? rp_service_find(r->svc, skey, &sreg, &d->restore_from) : -ENOMEM;
                if (k == -ENOENT) {
                        rp_arm_reply_error(r, RP_EC_RESOURCE_NOT_FOUND, d->target,
                                           "The disk restore point '%s' was not found.", src);
                        return k;
                }
                if (k < 0) {
                        rp_arm_reply_internal(r, k, "disk restore point lookup");
                        return k;
                }
                if (sreg != reg) {
                        rp_arm_reply_error(r, RP_EC_BAD_REQUEST, d->target,
                                           "The disk restore point is in region '%s'; the VM is "
                                           "in '%s'.",
                                           sreg->name, reg->name);
                        return -EINVAL;
                }
                if (!json_is_true(json_object_get(d->restore_from->internal, "committed"))) {
                        rp_arm_reply_error(r, RP_EC_RP_NOT_READY, d->target,
                                           "The disk restore point '%s' is not complete: it "
                                           "cannot be restored yet.",
                                           src);
                        return -EBUSY;
                }
                d->create_empty = true; /* a new disk, filled from the point */
                return 0;
        }
        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, d->target,
                           "createOption '%s' is not supported for this disk: use Attach, Empty "
                           "or (data disks) Restore.",
                           create);
        return -EINVAL;
}

/* Create the disk of an Empty entry (image now, record in the transaction). */
static int vm_disk_create(rp_arm_req *r, rp_region *reg, const char *vm_name, vm_disk *d)
{
        const char *name = json_string_value(json_object_get(d->entry, "name"));
        char gen[128];
        if (!name) {
                uint8_t rnd[4];
                char hex[9];
                if (rp_random_bytes(rnd, sizeof rnd) < 0)
                        return -EIO;
                rp_hex_encode(rnd, sizeof rnd, hex);
                if (d->lun < 0)
                        snprintf(gen, sizeof gen, "%.40s_OsDisk_%s", vm_name, hex);
                else
                        snprintf(gen, sizeof gen, "%.40s_disk%" PRId64 "_%s", vm_name, d->lun, hex);
                name = gen;
        }
        _cleanup_free_ char *id =
                rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute", "disks", name, NULL);
        if (!id)
                return -EINVAL;
        uint64_t bytes =
                (uint64_t)json_integer_value(json_object_get(d->entry, "diskSizeGB")) * GIB;
        if (d->restore_from) {
                uint64_t drp_size = (uint64_t)json_integer_value(
                        json_object_get(d->restore_from->internal, "size"));
                if (drp_size > bytes)
                        bytes = drp_size;
        }
        json_t *uuid = rp_compute_guid();
        d->disk = rp_compute_resource_new(id, RP_TYPE_DISK, r->cap[0], r->cap[1]);
        if (!d->disk || !uuid) {
                json_decref(uuid);
                return -ENOMEM;
        }
        const char *u = json_string_value(uuid);
        d->disk->body = json_pack(
                "{s:s, s:s, s:s, s:s, s:{}, s:{s:s, s:s}, s:{s:{s:s}, s:s, s:s, s:o, s:o, s:{s:s},"
                " s:I, s:I}}",
                "id", id, "name", name, "type", "Microsoft.Compute/disks", "location", reg->name,
                "tags", "sku", "name", "Standard_LRS", "tier", "Standard", "properties",
                "creationData", "createOption", "Empty", "provisioningState", "Succeeded",
                "diskState", "Unattached", "uniqueId", uuid, "timeCreated", rp_compute_now(),
                "encryption", "type", "EncryptionAtRestWithPlatformKey", "diskSizeGB",
                (json_int_t)(bytes / GIB), "diskSizeBytes", (json_int_t)bytes);
        d->disk->internal = json_pack("{s:s, s:I, s:s}", "uuid", u, "generation", (json_int_t)0,
                                      "access", "None");
        d->image_path = rp_region_disk_path(reg, u);
        if (!d->disk->body || !d->disk->internal || !d->image_path)
                return -ENOMEM;
        int k;
        if (d->restore_from) {
                json_t *cd = rp_json_get_path(d->disk->body, "properties.creationData");
                json_object_set_new(cd, "createOption", json_string("Restore"));
                json_object_set_new(cd, "sourceResourceId", json_string(d->restore_from->id));
                k = rp_compute_restore_image(reg, d->restore_from, d->image_path, bytes);
        } else {
                k = rp_disk_image_create(d->image_path, bytes, 0600);
        }
        if (k < 0) {
                if (d->restore_from)
                        (void)rp_disk_image_remove(d->image_path);
                d->image_path = rp_free(d->image_path);
                return k;
        }
        _cleanup_free_ char *map = rp_asprintf("diskfile/%s", u);
        return map ? rp_db_kv_put(reg->db, map, d->disk->key) : -ENOMEM;
}

/* The model entry as served: normalised, pointing at the disk. */
static json_t *vm_disk_entry(const vm_disk *d)
{
        json_t *e = json_deep_copy(d->entry);
        json_t *dp = json_object_get(d->disk->body, "properties");
        const char *create = json_string_value(json_object_get(e, "createOption"));
        json_object_set_new(e, "createOption",
                            json_string(strcasecmp(create, "Empty") == 0     ? "Empty"
                                        : strcasecmp(create, "Restore") == 0 ? "Restore"
                                                                             : "Attach"));
        json_object_set_new(e, "name",
                            json_string(json_string_value(json_object_get(d->disk->body, "name"))));
        json_t *md = json_object_get(e, "managedDisk");
        if (!json_is_object(md)) {
                md = json_object();
                json_object_set_new(e, "managedDisk", md);
        }
        json_object_set_new(md, "id", json_string(d->disk->id));
        json_object_set(md, "storageAccountType", rp_json_get_path(d->disk->body, "sku.name"));
        json_object_set(e, "diskSizeGB", json_object_get(dp, "diskSizeGB"));
        if (!json_object_get(e, "caching"))
                json_object_set_new(e, "caching", json_string("None"));
        if (!json_object_get(e, "deleteOption"))
                json_object_set_new(e, "deleteOption", json_string("Detach"));
        if (d->lun < 0 && json_object_get(dp, "osType"))
                json_object_set(e, "osType", json_object_get(dp, "osType"));
        return e;
}

struct vm_apply {
        rp_region *reg;
        rp_resource *vm;
        vm_disk *disks;
        size_t n;
        json_t *old_storage; /* previous storageProfile, for detaching dropped disks */
};

static bool model_has_disk(const struct vm_apply *a, const char *key)
{
        for (size_t i = 0; i < a->n; i++)
                if (rp_streq(a->disks[i].disk->key, key))
                        return true;
        return false;
}

static int vm_apply_tx(rp_db *db, void *ud)
{
        struct vm_apply *a = ud;
        /* detach what the new model dropped */
        json_t *old = json_array();
        json_t *os = json_object_get(a->old_storage, "osDisk");
        if (os)
                json_array_append(old, os);
        json_array_extend(old, json_object_get(a->old_storage, "dataDisks"));
        size_t i;
        json_t *e;
        int k = 0;
        json_array_foreach(old, i, e) {
                const char *id = json_string_value(rp_json_get_path(e, "managedDisk.id"));
                _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
                _cleanup_(rp_resource_freep) rp_resource *disk = NULL;
                if (!key || model_has_disk(a, key) || rp_db_res_get(db, key, &disk) < 0)
                        continue;
                json_object_del(disk->body, "managedBy");
                json_object_set_new(json_object_get(disk->body, "properties"), "diskState",
                                    json_string("Unattached"));
                k = rp_db_res_put(db, disk);
                if (k < 0)
                        break;
        }
        json_decref(old);
        if (k < 0)
                return k;
        for (size_t j = 0; j < a->n; j++) {
                rp_resource *disk = a->disks[j].disk;
                json_object_set_new(disk->body, "managedBy", json_string(a->vm->id));
                json_t *dp = json_object_get(disk->body, "properties");
                const char *st = json_string_value(json_object_get(dp, "diskState"));
                if (!rp_streq(st, "ActiveSAS"))
                        json_object_set_new(dp, "diskState", json_string("Attached"));
                k = rp_db_res_put(db, disk);
                if (k < 0)
                        return k;
        }
        return rp_db_res_put(db, a->vm);
}

void rp_h_vm_put(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        const char *location = NULL, *user_data = NULL, *license = NULL, *vm_size = NULL;
        json_t *tags = NULL, *props = NULL, *os_disk = NULL, *data_disks = NULL;
        const rp_json_spec spec[] = {
                { "location", RP_JSON_STRING, true, &location },
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "properties", RP_JSON_OBJECT, true, &props },
                { "properties.hardwareProfile", RP_JSON_OBJECT, false, NULL },
                { "properties.hardwareProfile.vmSize", RP_JSON_STRING, false, &vm_size },
                { "properties.storageProfile", RP_JSON_OBJECT, true, NULL },
                { "properties.storageProfile.osDisk", RP_JSON_OBJECT, false, &os_disk },
                { "properties.storageProfile.dataDisks", RP_JSON_ARRAY, false, &data_disks },
                { "properties.osProfile", RP_JSON_OBJECT, false, NULL },
                { "properties.diagnosticsProfile", RP_JSON_OBJECT, false, NULL },
                { "properties.securityProfile", RP_JSON_OBJECT, false, NULL },
                { "properties.networkProfile", RP_JSON_OBJECT, false, NULL },
                { "properties.userData", RP_JSON_STRING, false, &user_data },
                { "properties.licenseType", RP_JSON_STRING, false, &license },
                { "zones", RP_JSON_ARRAY, false, NULL },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_check_name(r, "Microsoft.Compute/virtualMachines", r->cap[2]) < 0 ||
            rp_compute_parse(r, spec) < 0 || rp_compute_check_tags(r, tags) < 0 ||
            rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) < 0)
                return;
        rp_region *reg;
        if (rp_compute_require_region(r, location, &reg) < 0)
                return;
        if (!os_disk) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "storageProfile.osDisk",
                                   "Required parameter 'osDisk' is missing (null).");
                return;
        }
        size_t n_data = json_array_size(data_disks);
        if (n_data > MAX_DATA_DISKS) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "storageProfile.dataDisks",
                                   "A VM has at most %d data disks.", MAX_DATA_DISKS);
                return;
        }
        _cleanup_free_ char *id = vm_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        if (!key) {
                rp_arm_reply_internal(r, -ENOMEM, "vm id");
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *cur = NULL;
        rp_region *cur_reg = NULL;
        int k = rp_service_find(r->svc, key, &cur_reg, &cur);
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "vm lookup");
                return;
        }
        if (rp_compute_check_etag(r, cur) < 0)
                return;
        if (cur && cur_reg != reg) {
                /* ARM's answer to a PUT that moves a tracked resource. */
                rp_arm_reply_error(r, RP_EC_INVALID_RESOURCE_LOCATION, "location",
                                   "The resource '%s' already exists in location '%s' in "
                                   "resource group '%s'. A resource with the same name cannot "
                                   "be created in location '%s'. Please select a new resource "
                                   "name.",
                                   r->cap[2], cur_reg->name, r->cap[1], reg->name);
                return;
        }
        if (cur &&
            rp_streq(json_string_value(rp_json_get_path(cur->body, "properties.provisioningState")),
                     "Deleting")) {
                rp_arm_reply_error(r, RP_EC_CONFLICT, NULL, "The VM '%s' is being deleted.",
                                   r->cap[2]);
                return;
        }

        vm_disk disks[MAX_DATA_DISKS + 1] = { 0 };
        size_t n = 0;
        bool ok = true;
        disks[n].entry = os_disk;
        disks[n].target = rp_strdup("storageProfile.osDisk");
        ok = vm_disk_prepare(r, reg, key, &disks[n++], true) >= 0;
        for (size_t i = 0; ok && i < n_data; i++) {
                json_t *e = json_array_get(data_disks, i);
                disks[n].target = rp_asprintf("storageProfile.dataDisks[%zu]", i);
                if (!json_is_object(e)) {
                        rp_arm_reply_error(r, RP_EC_INVALID_REQUEST_CONTENT, disks[n].target,
                                           "Each data disk must be an object.");
                        n++;
                        ok = false;
                        break;
                }
                disks[n].entry = e;
                ok = vm_disk_prepare(r, reg, key, &disks[n++], false) >= 0;
        }
        /* unique LUNs, and no disk twice */
        for (size_t i = 0; ok && i < n; i++)
                for (size_t j = i + 1; ok && j < n; j++) {
                        if (disks[i].lun >= 0 && disks[i].lun == disks[j].lun) {
                                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, disks[j].target,
                                                   "Duplicate LUN %" PRId64 ": LUNs must be "
                                                   "unique.",
                                                   disks[j].lun);
                                ok = false;
                        } else if (disks[i].disk && disks[j].disk &&
                                   rp_streq(disks[i].disk->key, disks[j].disk->key)) {
                                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, disks[j].target,
                                                   "The disk '%s' is listed twice.",
                                                   disks[j].disk->id);
                                ok = false;
                        }
                }
        for (size_t i = 0; ok && i < n; i++)
                if (disks[i].create_empty) {
                        k = vm_disk_create(r, reg, r->cap[2], &disks[i]);
                        if (k < 0) {
                                rp_arm_reply_internal(r, k, "create VM disk");
                                ok = false;
                        }
                }
        if (!ok) {
                vm_disks_free(disks, n, true);
                return;
        }

        /* the served document */
        json_t *p = json_deep_copy(props);
        json_t *sp = json_object_get(p, "storageProfile");
        json_object_set_new(sp, "osDisk", vm_disk_entry(&disks[0]));
        json_t *dd = json_array();
        for (size_t i = 1; i < n; i++)
                json_array_append_new(dd, vm_disk_entry(&disks[i]));
        json_object_set_new(sp, "dataDisks", dd);
        json_t *osp = json_object_get(p, "osProfile");
        if (osp) {
                json_object_del(osp, "adminPassword");
                json_object_del(osp, "customData");
        }
        json_object_del(p, "userData");
        json_object_del(p, "instanceView");
        json_object_set_new(p, "provisioningState", json_string("Succeeded"));
        json_t *vmid = cur ? json_incref(rp_json_get_path(cur->body, "properties.vmId"))
                           : rp_compute_guid();
        json_object_set_new(p, "vmId", vmid);
        json_t *created = cur ? json_incref(rp_json_get_path(cur->body, "properties.timeCreated"))
                              : rp_compute_now();
        json_object_set_new(p, "timeCreated", created);

        _cleanup_(rp_resource_freep) rp_resource *vm =
                cur ? TAKE_PTR(cur) : rp_compute_resource_new(id, RP_TYPE_VM, r->cap[0], r->cap[1]);
        json_t *old_storage =
                vm && vm->body
                        ? json_incref(rp_json_get_path(vm->body, "properties.storageProfile"))
                        : NULL;
        bool is_new = !vm || !vm->body;
        if (vm) {
                json_t *body = json_pack(
                        "{s:s, s:s, s:s, s:s, s:o, s:o}", "id", vm->id, "name", r->cap[2], "type",
                        "Microsoft.Compute/virtualMachines", "location", reg->name, "tags",
                        tags ? json_deep_copy(tags) : json_object(), "properties", p);
                p = NULL;
                if (body && json_object_get(r->body, "zones"))
                        json_object_set(body, "zones", json_object_get(r->body, "zones"));
                if (vm->body)
                        json_decref(vm->body);
                vm->body = body;
                if (!vm->internal)
                        vm->internal = json_object();
                if (user_data)
                        json_object_set_new(vm->internal, "userData", json_string(user_data));
        }
        if (p)
                json_decref(p);
        if (!vm || !vm->body || !vm->internal) {
                json_decref(old_storage);
                vm_disks_free(disks, n, true);
                rp_arm_reply_internal(r, -ENOMEM, "vm");
                return;
        }
        struct vm_apply a = {
                .reg = reg, .vm = vm, .disks = disks, .n = n, .old_storage = old_storage
        };
        k = rp_db_run_tx(reg->db, vm_apply_tx, &a);
        json_decref(old_storage);
        vm_disks_free(disks, n, k < 0);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "vm write");
                return;
        }
        log_info("vm '%s' %s in %s with %zu disk(s)", vm->id, is_new ? "created" : "updated",
                 reg->name, n);
        rp_compute_reply_resource(r, is_new ? 201 : 200, vm_present(r, vm), vm);
}

static int vm_load(rp_arm_req *r, rp_region **ret_reg, rp_resource **ret)
{
        _cleanup_free_ char *id = vm_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        int k = key ? rp_service_find(r->svc, key, ret_reg, ret) : -ENOENT;
        if (k == -ENOENT) {
                if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) == 0)
                        rp_compute_reply_not_found(r, "Microsoft.Compute/virtualMachines",
                                                   r->cap[2], r->cap[1]);
        } else if (k < 0) {
                rp_arm_reply_internal(r, k, "vm lookup");
        }
        return k;
}

void rp_h_vm_get(rp_arm_req *r)
{
        if (check_expand(r) < 0)
                return;
        _cleanup_(rp_resource_freep) rp_resource *vm = NULL;
        if (vm_load(r, NULL, &vm) < 0)
                return;
        rp_compute_reply_resource(r, 200, vm_present(r, vm), vm);
}

void rp_h_vm_delete(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *vm = NULL;
        rp_region *reg;
        _cleanup_free_ char *id = vm_id(r);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        int k = key ? rp_service_find(r->svc, key, &reg, &vm) : -ENOENT;
        if (k == -ENOENT) {
                rp_arm_reply_empty(r, 204);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "vm lookup");
                return;
        }
        if (rp_compute_check_etag(r, vm) < 0)
                return;
        json_object_set_new(json_object_get(vm->body, "properties"), "provisioningState",
                            json_string("Deleting"));
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = rp_db_res_put(reg->db, vm);
        if (k >= 0)
                k = rp_arm_op_create(r->svc, reg, vm->sub, "vm.delete", vm->key, NULL, true, &op);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "vm delete");
                return;
        }
        rp_arm_lro_headers(r, reg, op, false);
        rp_arm_reply_empty(r, 202);
}

void rp_h_vm_list_group(rp_arm_req *r)
{
        if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) < 0)
                return;
        rp_compute_list(r, RP_TYPE_VM, r->cap[0], r->cap[1], false, vm_present);
}

void rp_h_vm_list_sub(rp_arm_req *r)
{
        rp_compute_list(r, RP_TYPE_VM, r->cap[0], NULL, false, vm_present);
}
