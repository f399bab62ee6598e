/* fuzz_json_request.c: libFuzzer target for request bodies: rp_json_loads_object, then
 * rp_json_parse with the spec tables of the handlers, then rp_arm_tags_check.
 *
 * The handlers keep their spec tables as locals (they point at the handler's own variables),
 * so they are replicated here field for field: disk PUT/PATCH and grant-access
 * (compute_disk.c), VM PUT and its per-disk entries (compute_vm.c), resource group PUT/PATCH
 * (resources_groups.c). Keep them in sync when a handler's table changes.
 *
 * Invariants checked (abort() on violation):
 * - loads returns an object with no error, or NULL with an error message;
 * - rp_json_parse returns 0, -ENOENT or -EINVAL; on failure the path is the path of one entry
 *   of the table (the handlers look the kind up by pointer or by name) and that entry's field
 *   is absent/null (-ENOENT, required) or of the wrong type (-EINVAL);
 * - on success every required field is present and every output has the declared type and,
 *   for borrowed values, is the very value rp_json_get_path() finds;
 * - rp_arm_tags_check keeps its contract and its message is printable UTF-8;
 * - the body survives rp_json_dumps() and reloading unchanged (what the store does);
 * - rp_json_object_get_ci finds every key.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arm/arm_names.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DATA_DISKS 64 /* compute_vm.c's cap; bounds the work per input */

static void check_message(const char *m)
{
        if (!m)
                return;
        size_t len = strlen(m);
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                int n = rp_arm__utf8_next(m + i, len - i, &cp);
                if (n < 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                        abort();
                i += (size_t)n;
        }
}

static bool kind_matches(const json_t *v, enum rp_json_kind k)
{
        switch (k) {
        case RP_JSON_STRING:
                return json_is_string(v);
        case RP_JSON_INT:
                return json_is_integer(v);
        case RP_JSON_BOOL:
                return json_is_boolean(v);
        case RP_JSON_OBJECT:
                return json_is_object(v);
        case RP_JSON_ARRAY:
                return json_is_array(v);
        case RP_JSON_ANY:
                return true;
        default:
                return false;
        }
}

/* Poison every output, run the table, and check the result against the document. */
static int check_spec(const json_t *root, rp_json_spec *spec)
{
        static const char poison_str[] = "poison";
        for (rp_json_spec *s = spec; s->path; s++) {
                if (!s->ret)
                        continue;
                switch (s->kind) {
                case RP_JSON_STRING:
                        *(const char **)s->ret = poison_str;
                        break;
                case RP_JSON_INT:
                        *(int64_t *)s->ret = INT64_MIN + 7;
                        break;
                case RP_JSON_BOOL:
                        memset(s->ret, 0x5a, 1); /* neither true nor false as written */
                        break;
                default:
                        *(json_t **)s->ret = (json_t *)(uintptr_t)0x5a5a;
                }
        }

        const char *path = NULL;
        int r = rp_json_parse(root, spec, &path);
        if (r != 0 && r != -ENOENT && r != -EINVAL)
                abort();
        if (r < 0) {
                const rp_json_spec *bad = NULL;
                for (const rp_json_spec *s = spec; s->path; s++)
                        if (s->path == path)
                                bad = s;
                if (!bad)
                        abort(); /* the path must point into the table */
                if (strcmp(rp_json_kind_to_string(bad->kind), "?") == 0)
                        abort();
                json_t *v = rp_json_get_path(root, bad->path);
                bool absent = !v || json_is_null(v);
                if (r == -ENOENT && !(absent && bad->required))
                        abort();
                if (r == -EINVAL && (absent || kind_matches(v, bad->kind)))
                        abort();
                /* Entries before the failing one passed. */
                for (const rp_json_spec *s = spec; s != bad; s++) {
                        json_t *w = rp_json_get_path(root, s->path);
                        if ((!w || json_is_null(w)) ? s->required : !kind_matches(w, s->kind))
                                abort();
                }
                return r;
        }
        for (const rp_json_spec *s = spec; s->path; s++) {
                json_t *v = rp_json_get_path(root, s->path);
                bool absent = !v || json_is_null(v);
                if (absent) {
                        if (s->required)
                                abort();
                        continue;
                }
                if (!kind_matches(v, s->kind))
                        abort();
                if (!s->ret)
                        continue;
                switch (s->kind) {
                case RP_JSON_STRING:
                        if (*(const char **)s->ret != json_string_value(v))
                                abort();
                        break;
                case RP_JSON_INT:
                        if (*(int64_t *)s->ret != (int64_t)json_integer_value(v))
                                abort();
                        break;
                case RP_JSON_BOOL:
                        if (*(bool *)s->ret != json_is_true(v))
                                abort();
                        break;
                default:
                        if (*(json_t **)s->ret != v)
                                abort();
                }
        }
        return 0;
}

static void check_tags(const json_t *tags)
{
        _cleanup_free_ char *m = NULL;
        const char *target = NULL;
        int r = rp_arm_tags_check(tags, &m, &target);
        if (r == 0 ? m != NULL || target != NULL : r != -EINVAL || !m || !target)
                abort();
        check_message(m);
        if (target)
                check_message(target);
}

/* ---------------------------------------------------------------- the handlers' tables */

static void disk_put(const json_t *body)
{
        const char *location = NULL, *sku = NULL, *create = NULL, *source = NULL, *os = NULL,
                   *hyperv = NULL;
        json_t *tags = NULL, *creation = NULL;
        int64_t size_gb = 0, upload = 0;
        rp_json_spec spec[] = {
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
                RP_JSON_SPEC_END,
        };
        if (check_spec(body, spec) < 0)
                return;
        /* What the handler relies on after a successful parse. */
        if (!location || !create || !creation || !json_is_object(creation))
                abort();
        if (tags == (json_t *)(uintptr_t)0x5a5a)
                tags = NULL;
        check_tags(tags);
}

static void disk_patch(const json_t *body)
{
        json_t *tags = NULL;
        const char *sku = NULL;
        int64_t size_gb = 0;
        rp_json_spec spec[] = {
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "sku.name", RP_JSON_STRING, false, &sku },
                { "properties", RP_JSON_OBJECT, false, NULL },
                { "properties.diskSizeGB", RP_JSON_INT, false, &size_gb },
                RP_JSON_SPEC_END,
        };
        if (check_spec(body, spec) < 0)
                return;
        if (tags == (json_t *)(uintptr_t)0x5a5a)
                tags = NULL;
        check_tags(tags);
}

static void disk_grant(const json_t *body)
{
        const char *access = NULL;
        int64_t duration = 0;
        rp_json_spec spec[] = {
                { "access", RP_JSON_STRING, true, &access },
                { "durationInSeconds", RP_JSON_INT, true, &duration },
                RP_JSON_SPEC_END,
        };
        if (check_spec(body, spec) < 0)
                return;
        if (!access)
                abort();
}

static void vm_disk(const json_t *entry, bool is_os)
{
        const char *create = NULL, *id = NULL, *name = NULL, *del = NULL, *caching = NULL;
        int64_t lun = -1, size_gb = 0;
        rp_json_spec spec[] = {
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
        if (check_spec(entry, spec) < 0)
                return;
        if (!create)
                abort();
}

static void vm_put(const json_t *body)
{
        const char *location = NULL, *user_data = NULL, *license = NULL, *vm_size = NULL;
        json_t *tags = NULL, *props = NULL, *os_disk = NULL, *data_disks = NULL;
        rp_json_spec spec[] = {
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
        if (check_spec(body, spec) < 0)
                return;
        if (tags == (json_t *)(uintptr_t)0x5a5a)
                tags = NULL;
        if (os_disk == (json_t *)(uintptr_t)0x5a5a)
                os_disk = NULL;
        if (data_disks == (json_t *)(uintptr_t)0x5a5a)
                data_disks = NULL;
        check_tags(tags);
        if (os_disk)
                vm_disk(os_disk, true);
        size_t n = json_array_size(data_disks);
        for (size_t i = 0; i < n && i < MAX_DATA_DISKS; i++) {
                json_t *e = json_array_get(data_disks, i);
                if (json_is_object(e))
                        vm_disk(e, false);
        }
}

static void group_put(const json_t *body)
{
        const char *location = NULL, *managed_by = NULL;
        json_t *tags = NULL, *props = NULL;
        rp_json_spec spec[] = {
                { "location", RP_JSON_STRING, true, &location },
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "managedBy", RP_JSON_STRING, false, &managed_by },
                { "properties", RP_JSON_OBJECT, false, &props },
                RP_JSON_SPEC_END,
        };
        if (check_spec(body, spec) < 0)
                return;
        if (tags == (json_t *)(uintptr_t)0x5a5a)
                tags = NULL;
        check_tags(tags);
}

static void group_patch(const json_t *body)
{
        const char *managed_by = NULL;
        json_t *tags = NULL;
        rp_json_spec spec[] = {
                { "tags", RP_JSON_OBJECT, false, &tags },
                { "managedBy", RP_JSON_STRING, false, &managed_by },
                RP_JSON_SPEC_END,
        };
        if (check_spec(body, spec) < 0)
                return;
        if (tags == (json_t *)(uintptr_t)0x5a5a)
                tags = NULL;
        check_tags(tags);
}

/* ---------------------------------------------------------------- generic properties */

static void check_round_trip(const json_t *body)
{
        _cleanup_free_ char *text = rp_json_dumps(body);
        if (!text)
                abort(); /* no OOM while fuzzing: a NULL is a bug */
        _cleanup_free_ char *err = NULL;
        _cleanup_json_ json_t *again = rp_json_loads_object(text, strlen(text), &err);
        if (!again || err || !json_equal(body, again))
                abort();
}

static void check_get_ci(const json_t *body)
{
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)body, k, v) {
                if (rp_json_object_get_ci(body, k) != v)
                        abort(); /* an exact match wins */
                char up[64];
                size_t n = strlen(k);
                if (n >= sizeof up)
                        continue;
                for (size_t i = 0; i <= n; i++)
                        up[i] = (char)toupper((unsigned char)k[i]);
                json_t *f = rp_json_object_get_ci(body, up);
                if (!f)
                        abort();
                /* Whatever it found has a key equal to up, ignoring ASCII case. */
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        rp_json_init();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *err = NULL;
        _cleanup_json_ json_t *body = rp_json_loads_object((const char *)data, size, &err);
        if (!body) {
                if (!err)
                        abort();
                if (strncmp(err, "invalid JSON at line ", 21) != 0 &&
                    strcmp(err, "the request body must be a JSON object") != 0)
                        abort();
                return 0;
        }
        if (err || !json_is_object(body))
                abort();

        disk_put(body);
        disk_patch(body);
        disk_grant(body);
        vm_put(body);
        group_put(body);
        group_patch(body);
        /* A body may also be a VM disk entry or a bare tags object. */
        vm_disk(body, true);
        vm_disk(body, false);
        check_tags(body);
        check_get_ci(body);
        check_round_trip(body);
        return 0;
}
