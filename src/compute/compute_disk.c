/* compute_disk.c: Microsoft.Compute/disks: create (Empty, Upload, Copy), get, update, delete,
 * list, and beginGetAccess/endGetAccess (SAS URLs for the data plane).
 *
 * The served document lives in rp_resource.body; what clients never see (the image's uuid,
 * the SAS generation, the current access) lives in rp_resource.internal. */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "compute.h"
#include "disk/disk_image.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define MAX_DISK_GB 32767

static const char *const sku_names[] = { "Standard_LRS", "Premium_LRS", "StandardSSD_LRS",
                                         "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS",
                                         "PremiumV2_LRS" };

char *rp_region_disk_path(rp_region *reg, const char *disk_uuid)
{
        return rp_asprintf("%s/disks/%s.img", reg->dir, disk_uuid);
}

static const char *sku_tier(const char *sku)
{
        if (strncasecmp(sku, "Premium", 7) == 0)
                return "Premium";
        if (strncasecmp(sku, "UltraSSD", 8) == 0)
                return "Ultra";
        return "Standard";
}

static const char *canonical_sku(const char *sku)
{
        for (size_t i = 0; i < ELEMENTSOF(sku_names); i++)
                if (strcasecmp(sku, sku_names[i]) == 0)
                        return sku_names[i];
        return NULL;
}

static void set_size(json_t *props, uint64_t bytes)
{
        json_object_set_new(props, "diskSizeGB",
                            json_integer((json_int_t)((bytes + GIB - 1) / GIB)));
        json_object_set_new(props, "diskSizeBytes", json_integer((json_int_t)bytes));
}

/* Look up the disk named by the request path. Replies on failure. */
static int disk_load(rp_arm_req *r, rp_region **ret_reg, rp_resource **ret, char **ret_id)
{
        _cleanup_free_ char *id =
                rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute", "disks", r->cap[2], NULL);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        if (!key) {
                rp_arm_reply_error(r, RP_EC_INVALID_RESOURCE_NAME, "name",
                                   "The disk name '%s' is invalid.", r->cap[2]);
                return -EINVAL;
        }
        int k = rp_service_find(r->svc, key, ret_reg, ret);
        if (k == -ENOENT) {
                if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) == 0)
                        rp_compute_reply_not_found(r, "Microsoft.Compute/disks", r->cap[2],
                                                   r->cap[1]);
                return k;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "disk lookup");
                return k;
        }
        if (ret_id)
                *ret_id = TAKE_PTR(id);
        return 0;
}

static const char *internal_str(const rp_resource *res, const char *k)
{
        return json_string_value(json_object_get(res->internal, k));
}

/* A disk being made by a copy job (provisioningState Updating) takes no other change until
 * the job is done. Replies AnotherOperationInProgress. @return whether it is busy. */
static bool disk_busy(rp_arm_req *r, const rp_resource *res)
{
        const char *prov =
                json_string_value(rp_json_get_path(res->body, "properties.provisioningState"));
        if (!rp_streq(prov, "Updating"))
                return false;
        rp_arm_reply_error(r, RP_EC_ANOTHER_OPERATION, NULL,
                           "An operation is in progress on disk '%s' (it is being created as a "
                           "copy); retry when it has finished.",
                           json_string_value(json_object_get(res->body, "name")));
        return true;
}

static json_t *disk_present(rp_arm_req *r, rp_resource *res)
{
        return json_deep_copy(res->body);
}

void rp_h_disk_get(rp_arm_req *r)
{
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        if (disk_load(r, NULL, &res, NULL) < 0)
                return;
        rp_compute_reply_resource(r, 200, disk_present(r, res), res);
}

void rp_h_disk_list_group(rp_arm_req *r)
{
        if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) < 0)
                return;
        rp_compute_list(r, RP_TYPE_DISK, r->cap[0], r->cap[1], false, disk_present);
}

void rp_h_disk_list_sub(rp_arm_req *r)
{
        rp_compute_list(r, RP_TYPE_DISK, r->cap[0], NULL, false, disk_present);
}

/* Update of an existing disk through PUT or PATCH: tags, sku, grow. */
static int disk_update(rp_arm_req *r, rp_region *reg, rp_resource *res, const json_t *tags,
                       const char *sku, int64_t size_gb, bool have_size)
{
        json_t *props = json_object_get(res->body, "properties");
        if (have_size) {
                int64_t cur = json_integer_value(json_object_get(props, "diskSizeGB"));
                uint64_t cur_bytes =
                        (uint64_t)json_integer_value(json_object_get(props, "diskSizeBytes"));
                if (size_gb <= 0 || size_gb > MAX_DISK_GB) {
                        rp_arm_reply_error(r, RP_EC_INVALID_DISK_SIZE, "properties.diskSizeGB",
                                           "The disk size %" PRId64 " GB is out of range (1 to "
                                           "%d).",
                                           size_gb, MAX_DISK_GB);
                        return -EINVAL;
                }
                if (size_gb < cur) {
                        rp_arm_reply_error(r, RP_EC_BAD_REQUEST, "properties.diskSizeGB",
                                           "Disk size reduction is not supported: the disk is "
                                           "%" PRId64 " GB, asked %" PRId64 " GB.",
                                           cur, size_gb);
                        return -EINVAL;
                }
                uint64_t bytes = (uint64_t)size_gb * GIB;
                if (bytes > cur_bytes) {
                        _cleanup_free_ char *path =
                                rp_region_disk_path(reg, internal_str(res, "uuid"));
                        rp_disk_image *img = NULL;
                        int k = path ? rp_disk_image_open(path, &img) : -ENOMEM;
                        if (k >= 0)
                                k = rp_disk_image_resize(img, bytes);
                        rp_disk_image_unref(img);
                        if (k < 0) {
                                rp_arm_reply_internal(r, k, "disk resize");
                                return k;
                        }
                        set_size(props, bytes);
                }
        }
        if (tags)
                json_object_set(res->body, "tags", (json_t *)tags);
        if (sku) {
                json_object_set_new(res->body, "sku",
                                    json_pack("{s:s, s:s}", "name", sku, "tier", sku_tier(sku)));
        }
        int k = rp_db_res_put(reg->db, res);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "disk write");
                return k;
        }
        return 0;
}

/* encryption.type and diskEncryptionSetId. rpd keeps every chunk encrypted under its region's
 * key; a customer-key type and its disk encryption set are recorded and reported (restore
 * points of the disk say so), and copies to another region arrive under that region's
 * platform key, as Azure documents. Replies on failure. */
static int check_encryption(rp_arm_req *r, const char **type, const char *des)
{
        static const char *const types[] = { "EncryptionAtRestWithPlatformKey",
                                             "EncryptionAtRestWithCustomerKey",
                                             "EncryptionAtRestWithPlatformAndCustomerKeys" };
        if (!*type)
                *type = des ? types[1] : types[0];
        size_t i = 0;
        while (i < ELEMENTSOF(types) && strcmp(types[i], *type) != 0)
                i++;
        if (i == ELEMENTSOF(types)) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.encryption.type",
                                   "The value '%s' is not valid for encryption.type.", *type);
                return -EINVAL;
        }
        _cleanup_(rp_arm_id_freep) rp_arm_id *id = NULL;
        if ((i > 0) != (des != NULL) ||
            (des && (rp_arm_id_parse(des, &id) < 0 ||
                     !rp_arm_id_is_type(id, "Microsoft.Compute/diskEncryptionSets")))) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER,
                                   "properties.encryption.diskEncryptionSetId",
                                   i > 0 ? "Encryption type '%s' needs diskEncryptionSetId, the "
                                           "id of a Microsoft.Compute/diskEncryptionSets "
                                           "resource."
                                         : "Encryption type '%s' takes no diskEncryptionSetId.",
                                   *type);
                return -EINVAL;
        }
        return 0;
}

static const char *check_sku(rp_arm_req *r, const char *sku)
{
        if (!sku)
                return NULL;
        const char *c = canonical_sku(sku);
        if (!c)
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "sku.name",
                                   "The value '%s' is not a valid disk sku. Valid values are "
                                   "Standard_LRS, Premium_LRS, StandardSSD_LRS, UltraSSD_LRS, "
                                   "Premium_ZRS, StandardSSD_ZRS, PremiumV2_LRS.",
                                   sku);
        return c;
}

void rp_h_disk_put(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        const char *location = NULL, *sku = NULL, *create = NULL, *source = NULL, *os = NULL,
                   *hyperv = NULL, *enc_type = NULL, *des = NULL;
        json_t *tags = NULL, *creation = NULL;
        int64_t size_gb = 0, upload = 0;
        const rp_json_spec spec[] = {
                { "location", RP_JSON_STRING, true, &location },
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "sku.name", RP_JSON_STRING, false, &sku },
                { "properties", RP_JSON_OBJECT, true, NULL },
                { "properties.creationData", RP_JSON_OBJECT, true, &creation },
                { "properties.creationData.createOption", RP_JSON_STRING, true, &create },
                { "properties.creationData.sourceResourceId", RP_JSON_STRING, false, &source },
                { "properties.creationData.uploadSizeBytes", RP_JSON_INT, false, &upload },
                { "properties.diskSizeGB", RP_JSON_INT, false, &size_gb },
                { "properties.osType", RP_JSON_STRING, false, &os },
                { "properties.hyperVGeneration", RP_JSON_STRING, false, &hyperv },
                { "properties.encryption", RP_JSON_OBJECT, false, NULL },
                { "properties.encryption.type", RP_JSON_STRING, false, &enc_type },
                { "properties.encryption.diskEncryptionSetId", RP_JSON_STRING, false, &des },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_check_name(r, "Microsoft.Compute/disks", r->cap[2]) < 0 ||
            rp_compute_parse(r, spec) < 0 || rp_compute_check_tags(r, tags) < 0 ||
            check_encryption(r, &enc_type, des) < 0)
                return;
        bool have_size = json_object_get(json_object_get(r->body, "properties"), "diskSizeGB");
        if (sku && !(sku = check_sku(r, sku)))
                return;
        if (os && strcasecmp(os, "Windows") != 0 && strcasecmp(os, "Linux") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.osType",
                                   "The value '%s' is not valid for osType: use Windows or "
                                   "Linux.",
                                   os);
                return;
        }
        if (hyperv && strcasecmp(hyperv, "V1") != 0 && strcasecmp(hyperv, "V2") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.hyperVGeneration",
                                   "The value '%s' is not valid for hyperVGeneration: use V1 or "
                                   "V2.",
                                   hyperv);
                return;
        }
        if (rp_compute_require_group(r, r->cap[0], r->cap[1], NULL) < 0)
                return;
        rp_region *reg;
        if (rp_compute_require_region(r, location, &reg) < 0)
                return;
        _cleanup_free_ char *id =
                rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute", "disks", r->cap[2], NULL);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        if (!key) {
                rp_arm_reply_internal(r, -ENOMEM, "disk id");
                return;
        }
        _cleanup_(rp_resource_freep) rp_resource *cur = NULL;
        rp_region *cur_reg = NULL;
        int k = rp_service_find(r->svc, key, &cur_reg, &cur);
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "disk lookup");
                return;
        }
        if (rp_compute_check_etag(r, cur) < 0 || (cur && disk_busy(r, cur)))
                return;
        if (cur) {
                const char *cur_create = json_string_value(
                        rp_json_get_path(cur->body, "properties.creationData.createOption"));
                if (cur_reg != reg) {
                        /* ARM's answer to a PUT that moves a tracked resource. */
                        rp_arm_reply_error(r, RP_EC_INVALID_RESOURCE_LOCATION, "location",
                                           "The resource '%s' already exists in location '%s' "
                                           "in resource group '%s'. A resource with the same "
                                           "name cannot be created in location '%s'. Please "
                                           "select a new resource name.",
                                           r->cap[2], cur_reg->name, r->cap[1], reg->name);
                        return;
                }
                if (cur_create && strcasecmp(cur_create, create) != 0) {
                        rp_arm_reply_error(r, RP_EC_PROPERTY_CHANGE_NOT_ALLOWED,
                                           "properties.creationData.createOption",
                                           "Changing property 'createOption' is not allowed.");
                        return;
                }
                /* PUT replaces: tags left out of the body are removed (PATCH merges). */
                json_t *no_tags = tags ? NULL : json_object();
                k = disk_update(r, reg, cur, tags ? tags : no_tags, sku, size_gb, have_size);
                if (no_tags)
                        json_decref(no_tags);
                if (k < 0)
                        return;
                rp_compute_reply_resource(r, 200, disk_present(r, cur), cur);
                return;
        }

        uint64_t bytes = 0;
        const char *state = "Unattached";
        _cleanup_(rp_resource_freep) rp_resource *src = NULL;
        if (strcasecmp(create, "Empty") == 0) {
                if (!have_size) {
                        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "properties.diskSizeGB",
                                           "Required parameter 'diskSizeGB' is missing (null): "
                                           "it is mandatory for createOption Empty.");
                        return;
                }
                if (size_gb <= 0 || size_gb > MAX_DISK_GB) {
                        rp_arm_reply_error(r, RP_EC_INVALID_DISK_SIZE, "properties.diskSizeGB",
                                           "The disk size %" PRId64 " GB is out of range (1 to "
                                           "%d).",
                                           size_gb, MAX_DISK_GB);
                        return;
                }
                bytes = (uint64_t)size_gb * GIB;
                create = "Empty";
        } else if (strcasecmp(create, "Upload") == 0) {
                if (upload < (int64_t)RP_MIN_UPLOAD_BYTES || (uint64_t)upload > RP_MAX_DISK_BYTES ||
                    upload % RP_SECTOR_SIZE != 0) {
                        rp_arm_reply_error(
                                r, RP_EC_INVALID_PARAMETER,
                                "properties.creationData.uploadSizeBytes",
                                "uploadSizeBytes must be a multiple of 512 between %llu and "
                                "%llu, got %" PRId64 ".",
                                (unsigned long long)RP_MIN_UPLOAD_BYTES,
                                (unsigned long long)RP_MAX_DISK_BYTES, upload);
                        return;
                }
                bytes = (uint64_t)upload;
                state = "ReadyToUpload";
                create = "Upload";
        } else if (strcasecmp(create, "Copy") == 0) {
                _cleanup_(rp_arm_id_freep) rp_arm_id *sid = NULL;
                if (!source || rp_arm_id_parse(source, &sid) < 0 ||
                    !rp_arm_id_is_type(sid, "Microsoft.Compute/disks")) {
                        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER,
                                           "properties.creationData.sourceResourceId",
                                           "createOption Copy needs sourceResourceId naming a "
                                           "managed disk, got '%s'.",
                                           rp_strempty(source));
                        return;
                }
                _cleanup_free_ char *skey = rp_arm_id_key(source);
                rp_region *sreg = NULL;
                k = skey ? rp_service_find(r->svc, skey, &sreg, &src) : -ENOMEM;
                if (k == -ENOENT) {
                        rp_arm_reply_error(r, RP_EC_RESOURCE_NOT_FOUND,
                                           "properties.creationData.sourceResourceId",
                                           "The source disk '%s' was not found.", source);
                        return;
                }
                if (k < 0) {
                        rp_arm_reply_internal(r, k, "source lookup");
                        return;
                }
                const char *sprov = json_string_value(
                        rp_json_get_path(src->body, "properties.provisioningState"));
                if (rp_streq(sprov, "Deleting") || rp_streq(sprov, "Updating")) {
                        rp_arm_reply_error(r, RP_EC_CONFLICT,
                                           "properties.creationData.sourceResourceId",
                                           "The source disk '%s' cannot be copied in state "
                                           "'%s'.",
                                           source, sprov);
                        return;
                }
                if (sreg != reg) {
                        rp_arm_reply_error(r, RP_EC_BAD_REQUEST,
                                           "properties.creationData.sourceResourceId",
                                           "The source disk is in region '%s'; a copy must be "
                                           "created in the same region.",
                                           sreg->name);
                        return;
                }
                bytes = (uint64_t)json_integer_value(
                        rp_json_get_path(src->body, "properties.diskSizeBytes"));
                if (have_size && (uint64_t)size_gb * GIB > bytes)
                        bytes = (uint64_t)size_gb * GIB;
                create = "Copy";
        } else if (strcasecmp(create, "Restore") == 0) {
                _cleanup_(rp_arm_id_freep) rp_arm_id *sid = NULL;
                if (!source || rp_arm_id_parse(source, &sid) < 0 ||
                    !rp_arm_id_is_type(sid, "Microsoft.Compute/restorePointCollections/"
                                            "restorePoints/diskRestorePoints")) {
                        rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER,
                                           "properties.creationData.sourceResourceId",
                                           "createOption Restore needs sourceResourceId naming "
                                           "a disk restore point, got '%s'.",
                                           rp_strempty(source));
                        return;
                }
                _cleanup_free_ char *skey = rp_arm_id_key(source);
                rp_region *sreg = NULL;
                k = skey ? rp_service_find(r->svc, skey, &sreg, &src) : -ENOMEM;
                if (k == -ENOENT) {
                        rp_arm_reply_error(r, RP_EC_RESOURCE_NOT_FOUND,
                                           "properties.creationData.sourceResourceId",
                                           "The disk restore point '%s' was not found.", source);
                        return;
                }
                if (k < 0) {
                        rp_arm_reply_internal(r, k, "source lookup");
                        return;
                }
                if (sreg != reg) {
                        rp_arm_reply_error(r, RP_EC_BAD_REQUEST,
                                           "properties.creationData.sourceResourceId",
                                           "The disk restore point is in region '%s'; restore "
                                           "it into a disk of that region.",
                                           sreg->name);
                        return;
                }
                if (!json_is_true(json_object_get(src->internal, "committed"))) {
                        rp_arm_reply_error(r, RP_EC_RP_NOT_READY,
                                           "properties.creationData.sourceResourceId",
                                           "The disk restore point '%s' is not complete: it "
                                           "cannot be restored yet.",
                                           source);
                        return;
                }
                bytes = (uint64_t)json_integer_value(json_object_get(src->internal, "size"));
                create = "Restore";
        } else {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER,
                                   "properties.creationData.createOption",
                                   "createOption '%s' is not supported; use Empty, Upload, Copy "
                                   "or Restore.",
                                   create);
                return;
        }

        _cleanup_(rp_resource_freep) rp_resource *res =
                rp_compute_resource_new(id, RP_TYPE_DISK, r->cap[0], r->cap[1]);
        json_t *uuid = rp_compute_guid();
        if (!res || !uuid) {
                json_decref(uuid);
                rp_arm_reply_internal(r, -ENOMEM, "disk");
                return;
        }
        const char *u = json_string_value(uuid);
        json_t *cd = json_pack("{s:s}", "createOption", create);
        if (src) {
                json_object_set_new(cd, "sourceResourceId", json_string(src->id));
                json_object_set(cd, "sourceUniqueId",
                                rp_json_get_path(src->body, "properties.uniqueId"));
        }
        if (upload)
                json_object_set_new(cd, "uploadSizeBytes", json_integer(upload));
        const char *skuname = sku ? sku : "Standard_LRS";
        res->body = json_pack(
                "{s:s, s:s, s:s, s:s, s:o, s:{s:s, s:s}, s:{s:o, s:s, s:s, s:O, s:o, s:{s:s}, "
                "s:s, s:s, s:s}}",
                "id", id, "name", r->cap[2], "type", "Microsoft.Compute/disks", "location",
                reg->name, "tags", tags ? json_deep_copy(tags) : json_object(), "sku", "name",
                skuname, "tier", sku_tier(skuname), "properties", "creationData", cd,
                "provisioningState", "Succeeded", "diskState", state, "uniqueId", uuid,
                "timeCreated", rp_compute_now(), "encryption", "type", enc_type,
                "networkAccessPolicy", "AllowAll", "publicNetworkAccess", "Enabled",
                "dataAccessAuthMode", "None");
        if (des && res->body)
                json_object_set_new(rp_json_get_path(res->body, "properties.encryption"),
                                    "diskEncryptionSetId", json_string(des));
        res->internal = json_pack("{s:s, s:I, s:s}", "uuid", u, "generation", (json_int_t)0,
                                  "access", "None");
        if (!res->body || !res->internal) {
                json_decref(uuid);
                rp_arm_reply_internal(r, -ENOMEM, "disk");
                return;
        }
        json_t *props = json_object_get(res->body, "properties");
        set_size(props, bytes);
        if (os)
                json_object_set_new(
                        props, "osType",
                        json_string(strcasecmp(os, "Windows") == 0 ? "Windows" : "Linux"));
        if (hyperv)
                json_object_set_new(props, "hyperVGeneration",
                                    json_string(strcasecmp(hyperv, "V1") == 0 ? "V1" : "V2"));

        _cleanup_free_ char *map = rp_asprintf("diskfile/%s", u);
        if (!map) {
                json_decref(uuid);
                rp_arm_reply_internal(r, -ENOMEM, "disk");
                return;
        }
        if (src) {
                /* A copy can take long: the worker copies. Meanwhile the disk is listed with
                 * provisioningState Updating (so its name is taken and nothing can attach it,
                 * grant access to it or change it); the job then writes the final record. */
                _cleanup_(rp_operation_freep) rp_operation *op = NULL;
                bool restore = rp_streq(create, "Restore");
                if (restore)
                        json_object_del(cd, "sourceUniqueId");
                json_t *args =
                        restore ? json_pack("{s:O, s:O, s:s, s:s}", "body", res->body, "internal",
                                            res->internal, "drp_key", src->key, "rg", res->rg)
                                : json_pack("{s:O, s:O, s:s, s:I}", "body", res->body, "internal",
                                            res->internal, "source_uuid", internal_str(src, "uuid"),
                                            "seq", (json_int_t)0);
                json_decref(uuid);
                json_t *final = res->body;
                res->body = json_deep_copy(final);
                json_object_set_new(json_object_get(res->body, "properties"), "provisioningState",
                                    json_string("Updating"));
                json_decref(final);
                k = args && res->body ? rp_db_res_put(reg->db, res) : -ENOMEM;
                if (k >= 0)
                        k = rp_arm_op_create(r->svc, reg, res->sub,
                                             restore ? "disk.restore" : "disk.copy", res->key,
                                             TAKE_PTR(args), true, &op);
                if (args)
                        json_decref(args);
                if (k < 0) {
                        (void)rp_db_res_delete(reg->db, res->key);
                        rp_arm_reply_internal(r, k, "disk copy");
                        return;
                }
                rp_arm_lro_headers(r, reg, op, false);
                rp_arm_reply_json(r, 202, disk_present(r, res));
                return;
        }

        _cleanup_free_ char *path = rp_region_disk_path(reg, u);
        json_decref(uuid);
        k = path ? rp_disk_image_create(path, bytes, 0600) : -ENOMEM;
        if (k >= 0)
                k = rp_db_kv_put(reg->db, map, res->key);
        if (k >= 0)
                k = rp_db_res_put(reg->db, res);
        if (k < 0) {
                if (path)
                        rp_disk_image_remove(path);
                rp_arm_reply_internal(r, k, "disk create");
                return;
        }
        log_info("disk '%s' created in %s: %s, %" PRIu64 " bytes", res->id, reg->name, create,
                 bytes);
        rp_compute_reply_resource(r, 200, disk_present(r, res), res);
}

void rp_h_disk_patch(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        json_t *tags = NULL;
        const char *sku = NULL;
        int64_t size_gb = 0;
        const rp_json_spec spec[] = {
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "sku.name", RP_JSON_STRING, false, &sku },
                { "properties", RP_JSON_OBJECT, false, NULL },
                { "properties.diskSizeGB", RP_JSON_INT, false, &size_gb },
                RP_JSON_SPEC_END,
        };
        if (rp_compute_parse(r, spec) < 0 || rp_compute_check_tags(r, tags) < 0)
                return;
        if (sku && !(sku = check_sku(r, sku)))
                return;
        bool have_size = rp_json_get_path(r->body, "properties.diskSizeGB") != NULL;
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        if (disk_load(r, &reg, &res, NULL) < 0 || rp_compute_check_etag(r, res) < 0 ||
            disk_busy(r, res))
                return;
        if (disk_update(r, reg, res, tags, sku, size_gb, have_size) < 0)
                return;
        rp_compute_reply_resource(r, 200, disk_present(r, res), res);
}

void rp_h_disk_delete(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        _cleanup_free_ char *id =
                rp_arm_id_make(r->cap[0], r->cap[1], "Microsoft.Compute", "disks", r->cap[2], NULL);
        _cleanup_free_ char *key = id ? rp_arm_id_key(id) : NULL;
        int k = key ? rp_service_find(r->svc, key, &reg, &res) : -ENOENT;
        if (k == -ENOENT) {
                rp_arm_reply_empty(r, 204);
                return;
        }
        if (k < 0) {
                rp_arm_reply_internal(r, k, "disk lookup");
                return;
        }
        if (rp_compute_check_etag(r, res) < 0 || disk_busy(r, res))
                return;
        const char *vm = json_string_value(json_object_get(res->body, "managedBy"));
        if (vm) {
                rp_arm_reply_error(r, RP_EC_DISK_ATTACHED, NULL,
                                   "Disk '%s' is attached to VM '%s'. Detach it first.", r->cap[2],
                                   vm);
                return;
        }
        const char *access = internal_str(res, "access");
        if (access && !rp_streq(access, "None")) {
                rp_arm_reply_error(r, RP_EC_INVALID_ACCESS, NULL,
                                   "Disk '%s' has an active SAS (access %s). Call endGetAccess "
                                   "before deleting it.",
                                   r->cap[2], access);
                return;
        }
        json_object_set_new(json_object_get(res->body, "properties"), "provisioningState",
                            json_string("Deleting"));
        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = rp_db_res_put(reg->db, res);
        if (k >= 0)
                k = rp_arm_op_create(r->svc, reg, res->sub, "disk.delete", res->key,
                                     json_pack("{s:s}", "uuid", internal_str(res, "uuid")), true,
                                     &op);
        if (k < 0) {
                rp_arm_reply_internal(r, k, "disk delete");
                return;
        }
        rp_arm_lro_headers(r, reg, op, false);
        rp_arm_reply_empty(r, 202);
}

/* ---------------------------------------------------------------- SAS access */

static const char *state_after_revoke(const rp_resource *res)
{
        if (json_object_get(res->body, "managedBy"))
                return "Attached";
        return "Unattached";
}

void rp_h_disk_grant(rp_arm_req *r)
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
        bool write = strcasecmp(access, "Write") == 0;
        if (!write && strcasecmp(access, "Read") != 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_PARAMETER, "access",
                                   "The value '%s' is not valid for access: use Read or Write.",
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
        if (disk_load(r, &reg, &res, NULL) < 0)
                return;
        const char *st = json_string_value(rp_json_get_path(res->body, "properties.diskState"));
        const char *prov =
                json_string_value(rp_json_get_path(res->body, "properties.provisioningState"));
        if (rp_streq(prov, "Deleting")) {
                rp_arm_reply_error(r, RP_EC_INVALID_ACCESS, NULL, "Disk '%s' is being deleted.",
                                   r->cap[2]);
                return;
        }
        if (disk_busy(r, res))
                return;
        bool upload = rp_streq(st, "ReadyToUpload") || rp_streq(st, "ActiveUpload");
        if (upload && !write) {
                rp_arm_reply_error(r, RP_EC_INVALID_ACCESS, NULL,
                                   "Disk '%s' is waiting for its upload: only Write access can "
                                   "be granted.",
                                   r->cap[2]);
                return;
        }
        uint64_t gen = (uint64_t)json_integer_value(json_object_get(res->internal, "generation"));
        uint64_t expiry = rp_now_realtime() / RP_USEC_PER_SEC + (uint64_t)duration;
        _cleanup_free_ char *url = rp_dataplane_sas_url(r, reg, internal_str(res, "uuid"),
                                                        write ? "rw" : "r", expiry, gen);
        if (!url) {
                rp_arm_reply_internal(r, -ENOMEM, "sas");
                return;
        }
        json_object_set_new(res->internal, "access", json_string(write ? "Write" : "Read"));
        json_object_set_new(json_object_get(res->body, "properties"), "diskState",
                            json_string(upload ? "ActiveUpload" : "ActiveSAS"));
        log_info("disk '%s': %s access granted for %" PRId64 " s", res->id, access, duration);
        rp_compute_reply_access(r, reg, res, "disk.grant", url);
}

void rp_h_disk_revoke(rp_arm_req *r)
{
        RP_COMPUTE_MODEL_LOCK();
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        rp_region *reg;
        if (disk_load(r, &reg, &res, NULL) < 0)
                return;
        /* A new generation voids every SAS signed before. */
        json_int_t gen = json_integer_value(json_object_get(res->internal, "generation"));
        json_object_set_new(res->internal, "generation", json_integer(gen + 1));
        json_object_set_new(res->internal, "access", json_string("None"));
        json_object_set_new(json_object_get(res->body, "properties"), "diskState",
                            json_string(state_after_revoke(res)));
        rp_compute_reply_access(r, reg, res, "disk.revoke", NULL);
}
