/* cmd_restore.c: rpctl restore disk|vm: a managed disk, or a whole virtual machine, from a
 * restore point, in one command and with progress per disk (what az needs a script for).
 *
 * DESIGN: `restore vm` reads the restore point's sourceMetadata (the VM's model at the cut,
 * without secrets), then
 *   1. checks, before creating anything, that the VM and every disk it will create are
 *      absent (a PUT on an existing disk would update it, and the cleanup below would then
 *      delete a disk this command did not make);
 *   2. starts one disk PUT (createOption Restore, sourceResourceId = the disk restore point)
 *      per captured disk, named "<vm>_<original disk name>", all in flight together, and
 *      follows them with rp_cli_ops (a row per disk);
 *   3. PUTs the VM with those disks attached at the LUNs and caching of the source, the OS
 *      disk with its osType.
 * When a disk restore or the VM PUT fails, the disks this command made are deleted (rpd
 * itself drops a disk whose restore failed) and the first ARM error is reported. Ctrl-C
 * stops waiting and deletes nothing: the restores go on in rpd, and the disks are named so
 * that they can be attached or deleted by hand. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define MAX_VM_DISKS 65 /* the OS disk and 64 data disks */

static const rp_cli_column disk_columns[] = {
        { "Name", "name" },
        { "ResourceGroup", "@resourceGroup" },
        { "Location", "location" },
        { "SizeGb", "properties.diskSizeGB" },
        { "CreateOption", "properties.creationData.createOption" },
        { "ProvisioningState", "properties.provisioningState" },
        {},
};

static const rp_cli_column vm_columns[] = {
        { "Name", "name" },
        { "ResourceGroup", "@resourceGroup" },
        { "Location", "location" },
        { "VmSize", "properties.hardwareProfile.vmSize" },
        { "ProvisioningState", "properties.provisioningState" },
        {},
};

typedef struct restore_args {
        rp_cli *cli;
        const char *group, *collection, *point, *name, *drp, *source_disk, *target_group, *location,
                *sku;
        json_t *tags;
        bool no_wait, no_progress;
} restore_args;

#define OFF(f) offsetof(restore_args, f)
static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("resource-group", 'g', RP_CLI_ARG_STRING, OFF(group)),
        RP_CLI_ARG("collection-name", 0, RP_CLI_ARG_STRING, OFF(collection),
                   .alias = "restore-point-collection-name"),
        RP_CLI_ARG("restore-point", 0, RP_CLI_ARG_STRING, OFF(point)),
        RP_CLI_ARG("name", 'n', RP_CLI_ARG_STRING, OFF(name)),
        RP_CLI_ARG("disk-restore-point", 0, RP_CLI_ARG_STRING, OFF(drp)),
        RP_CLI_ARG("source-disk", 0, RP_CLI_ARG_STRING, OFF(source_disk)),
        RP_CLI_ARG("target-group", 0, RP_CLI_ARG_STRING, OFF(target_group)),
        RP_CLI_ARG("location", 'l', RP_CLI_ARG_STRING, OFF(location)),
        RP_CLI_ARG("sku", 0, RP_CLI_ARG_STRING, OFF(sku)),
        RP_CLI_ARG("tags", 0, RP_CLI_ARG_TAGS, OFF(tags)),
        RP_CLI_ARG("no-wait", 0, RP_CLI_ARG_FLAG, OFF(no_wait)),
        RP_CLI_ARG("no-progress", 0, RP_CLI_ARG_FLAG, OFF(no_progress)),
        {},
};

/* What both verbs need, then what each takes. */
#define POINT_SPEC "resource-group! collection-name! restore-point! name! "

static void restore_args_done(restore_args *a)
{
        rp_cli_args_done(args_table, a);
}

static const char *target_group(const restore_args *a)
{
        return a->target_group ? a->target_group : a->group;
}

static char *disk_path(restore_args *a, const char *name)
{
        return rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                           "disks/%s",
                           a->cli->subscription, target_group(a), name);
}

/* GET the restore point and check that it can be restored; when it is a copy from another
 * region still in progress, wait for the copy first (with its progress: rpd refuses to restore
 * an incomplete copy). Also GET its collection: the point, its disk restore points and so the
 * disks restored from them are in the collection's region (not in sourceMetadata.location,
 * which is the source VM's region).
 * @param[out] ret the point, @param[out] ret_location the region (to rp_free). Untouched on
 *             failure.
 * @return 0, or an exit code (reported: a missing collection or point is ResourceNotFound). */
static int get_point(restore_args *a, json_t **ret, char **ret_location)
{
        _cleanup_free_ char *rpc_path = rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                                                    "Microsoft.Compute/restorePointCollections/%s",
                                                    a->cli->subscription, a->group, a->collection);
        _cleanup_free_ char *full =
                rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                            "Microsoft.Compute/restorePointCollections/%s/restorePoints/%s",
                            a->cli->subscription, a->group, a->collection, a->point);
        _cleanup_free_ char *label = rp_asprintf("restore point '%s'", a->point);
        _cleanup_json_ json_t *rpc = NULL, *rp = NULL;
        if (!rpc_path || !full || !label)
                return RP_CLI_EXIT_ERROR;
        int k = rp_cli_get(a->cli, full, RP_CLI_API_COMPUTE, &rp);
        if (k != 0)
                return k;
        const char *st = json_string_value(rp_json_get_path(rp, "properties.provisioningState"));
        if (!rp_streq(st, "Succeeded")) {
                fprintf(stderr,
                        "ERROR: (OperationNotAllowed) The restore point '%s' is in state '%s': "
                        "only a restore point that Succeeded can be restored.\n",
                        a->point, rp_strempty(st));
                return RP_CLI_EXIT_ERROR;
        }
        json_decref(TAKE_PTR(rp));
        rp_cli_set_resume(a->cli, (const char *[]){ "rpctl", "restore-point", "wait", "-g",
                                                    a->group, "--collection-name", a->collection,
                                                    "-n", a->point, "--replicated", NULL });
        k = rp_cli_follow_copy(a->cli, full, label, !a->no_progress, 0, &rp);
        if (k == 0)
                k = rp_cli_get(a->cli, rpc_path, RP_CLI_API_COMPUTE, &rpc);
        if (k != 0)
                return k;
        if (!json_is_object(rp_json_get_path(rp, "properties.sourceMetadata.storageProfile"))) {
                fprintf(stderr,
                        "ERROR: (InvalidResponse) The restore point '%s' has no "
                        "sourceMetadata.storageProfile.\n",
                        a->point);
                return RP_CLI_EXIT_ERROR;
        }
        const char *loc = json_string_value(json_object_get(rpc, "location"));
        _cleanup_free_ char *location = loc ? rp_strdup(loc) : NULL;
        if (!location) {
                fputs("ERROR: (InvalidResponse) The restore point collection has no location.\n",
                      stderr);
                return RP_CLI_EXIT_ERROR;
        }
        *ret = TAKE_PTR(rp);
        *ret_location = TAKE_PTR(location);
        return 0;
}

/* The name of a disk of sourceMetadata: "name", else the last segment of managedDisk.id. */
static const char *entry_disk_name(const json_t *e)
{
        const char *name = json_string_value(json_object_get(e, "name"));
        if (name && *name)
                return name;
        const char *id = json_string_value(rp_json_get_path(e, "managedDisk.id"));
        const char *slash = id ? strrchr(id, '/') : NULL;
        return slash ? slash + 1 : id;
}

/* Fail (ResourceExists) unless the @p kind @p name at @p path is absent. @return 0 when
 * absent, or an exit code (reported). */
static int require_absent(restore_args *a, const char *path, const char *api, const char *kind,
                          const char *name)
{
        return rp_cli_require_absent(a->cli, path, api, kind, name, target_group(a),
                                     "A restore creates a new one");
}

/* The PUT body of a disk restored from @p drp_id. */
static json_t *restore_body(restore_args *a, const char *location, const char *drp_id,
                            const char *os_type, const char *hyperv, const char *sku)
{
        json_t *body =
                json_pack("{s:s, s:{s:{s:s, s:s}}}", "location", location, "properties",
                          "creationData", "createOption", "Restore", "sourceResourceId", drp_id);
        if (!body)
                return NULL;
        json_t *props = json_object_get(body, "properties");
        if (os_type)
                json_object_set_new(props, "osType", json_string(os_type));
        if (hyperv)
                json_object_set_new(props, "hyperVGeneration", json_string(hyperv));
        if (sku)
                json_object_set_new(body, "sku", json_pack("{s:s}", "name", sku));
        if (a->tags)
                json_object_set(body, "tags", a->tags);
        return body;
}

/* Follow the restore of disk @p name that @p r (the reply to its PUT, taken over) started, in
 * a row "disk 'NAME' (4.00 GiB)" that shows bytes and rate from the disk's size.
 * @return the row's index, or <0 (then @p r is untouched). */
static int add_row(rp_cli_ops *ops, const char *name, const char *path, rp_client_response *r)
{
        json_t *bytes = rp_json_get_path(r->body, "properties.diskSizeBytes");
        json_t *gb = rp_json_get_path(r->body, "properties.diskSizeGB");
        uint64_t n = json_is_integer(bytes) ? (uint64_t)json_integer_value(bytes)
                     : json_is_integer(gb)  ? (uint64_t)json_integer_value(gb) * GIB
                                            : 0;
        char sz[32];
        _cleanup_free_ char *row =
                n ? rp_asprintf("disk '%s' (%s)", name, rp_cli_format_bytes(n, sz, sizeof sz))
                  : rp_asprintf("disk '%s'", name);
        int k = row ? rp_cli_ops_add(ops, row, "PUT", path, RP_CLI_API_DISK, r) : -ENOMEM;
        if (k >= 0)
                rp_cli_ops_set_total(ops, (size_t)k, n);
        return k;
}

/* ================================================================ restore disk */

static const char disk_help[] =
        "Usage: rpctl restore disk -g GROUP --collection-name C --restore-point RP\n"
        "                          --disk-restore-point NAME|--source-disk DISK -n NEWDISK\n"
        "                          [--target-group GROUP2] [-l LOCATION] [--sku SKU]\n"
        "                          [--tags KEY=VALUE ...] [--no-wait] [--no-progress]\n"
        "\n"
        "Create a managed disk from one disk restore point of a restore point (createOption\n"
        "Restore) and wait for it, with progress on stderr: a bar on a terminal, else a line\n"
        "every 10%. The disk must not exist yet. Ctrl-C stops waiting; the restore goes on.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP      the resource group of the collection\n"
        "      --collection-name C         the restore point collection\n"
        "      --restore-point RP          the restore point\n"
        "      --disk-restore-point NAME   the disk restore point (a name or an id)\n"
        "      --source-disk DISK          or: the disk restore point of this disk of the\n"
        "                                  source VM (its name or id)\n"
        "  -n, --name NEWDISK              the new disk\n"
        "      --target-group GROUP2       resource group of the new disk (default: GROUP)\n"
        "  -l, --location LOCATION         region (default: the restore point's, the only\n"
        "                                  one rpd restores into)\n"
        "      --sku SKU                   disk sku (default Standard_LRS)\n"
        "      --tags KEY=VALUE ...        space-separated tags\n"
        "      --no-wait                   return once the restore is accepted\n"
        "      --no-progress               print no progress\n"
        "\n"
        "Examples:\n"
        "  rpctl restore disk -g rg1 --collection-name c1 --restore-point rp1 \\\n"
        "      --source-disk data1 -n data1-restored\n"
        "  rpctl restore disk -g rg1 --collection-name c1 --restore-point rp1 \\\n"
        "      --disk-restore-point \"$DRP_NAME\" -n d2 --target-group rg2 --no-wait\n";

/* The disk restore point id that --disk-restore-point or --source-disk names. @return 0 with
 * the id in @p ret (to rp_free), or an exit code (reported). */
static int find_drp(restore_args *a, const json_t *rp, char **ret)
{
        if (a->drp) {
                const char *rp_id = json_string_value(json_object_get(rp, "id"));
                *ret = strchr(a->drp, '/') ? rp_strdup(a->drp)
                       : rp_id             ? rp_asprintf("%s/diskRestorePoints/%s", rp_id, a->drp)
                                           : NULL;
                return *ret ? 0 : RP_CLI_EXIT_ERROR;
        }
        json_t *sp = rp_json_get_path(rp, "properties.sourceMetadata.storageProfile");
        _cleanup_json_ json_t *all = json_array();
        if (!all)
                return RP_CLI_EXIT_ERROR;
        if (json_object_get(sp, "osDisk"))
                json_array_append(all, json_object_get(sp, "osDisk"));
        json_array_extend(all, json_object_get(sp, "dataDisks"));
        size_t i;
        json_t *e;
        json_array_foreach(all, i, e) {
                const char *id = json_string_value(rp_json_get_path(e, "managedDisk.id"));
                if (!rp_strcaseeq(entry_disk_name(e), a->source_disk) &&
                    !rp_strcaseeq(id, a->source_disk))
                        continue;
                const char *drp = json_string_value(rp_json_get_path(e, "diskRestorePoint.id"));
                if (!drp)
                        break;
                *ret = rp_strdup(drp);
                return *ret ? 0 : RP_CLI_EXIT_ERROR;
        }
        fprintf(stderr, "ERROR: (ResourceNotFound) The restore point '%s' holds no disk '%s'.",
                a->point, a->source_disk);
        json_array_foreach(all, i, e)
                fprintf(stderr, "%s'%s'", i == 0 ? " Its disks: " : ", ",
                        rp_strempty(entry_disk_name(e)));
        fputc('\n', stderr);
        return RP_CLI_EXIT_ERROR;
}

static int restore_disk(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(restore_args_done) restore_args a = { .cli = cli };
        int k = rp_cli_parse_args(cli, argc, argv, args_table,
                                  POINT_SPEC "disk-restore-point source-disk target-group location "
                                             "sku tags no-wait no-progress",
                                  &a);
        if (k != 0)
                return k;
        if (!a.drp == !a.source_disk)
                return rp_cli_usage_error(cli, "give exactly one of --disk-restore-point and "
                                               "--source-disk");
        k = rp_cli_connect(cli);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *rp = NULL;
        _cleanup_free_ char *drp_id = NULL;
        _cleanup_free_ char *point_location = NULL;
        k = get_point(&a, &rp, &point_location);
        if (k == 0)
                k = find_drp(&a, rp, &drp_id);
        if (k != 0)
                return k;
        /* the disk restore point: it must exist, and it knows the OS type and generation */
        _cleanup_json_ json_t *drp = NULL;
        k = rp_cli_get(cli, drp_id, RP_CLI_API_DISK, &drp);
        if (k != 0)
                return k;
        const char *location = a.location ? a.location : point_location;
        _cleanup_free_ char *path = disk_path(&a, a.name);
        if (!path || !location)
                return RP_CLI_EXIT_ERROR;
        k = require_absent(&a, path, RP_CLI_API_DISK, "disk", a.name);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *body = restore_body(
                &a, location, drp_id, json_string_value(rp_json_get_path(drp, "properties.osType")),
                json_string_value(rp_json_get_path(drp, "properties.hyperVGeneration")), a.sku);
        if (!body)
                return RP_CLI_EXIT_ERROR;
        rp_client_response r = {};
        k = rp_client_request(cli->client, "PUT", path, RP_CLI_API_DISK, body, &r);
        if (k < 0)
                return rp_cli_fail_errno(cli, k, "PUT");
        if (!rp_client_response_ok(&r) || a.no_wait) {
                k = rp_client_response_ok(&r) ? RP_CLI_EXIT_OK : rp_cli_fail_response(cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        _cleanup_(rp_cli_ops_done) rp_cli_ops ops;
        rp_cli_ops_init(&ops, "restore", !a.no_progress);
        k = add_row(&ops, a.name, path, &r);
        if (k < 0) {
                rp_client_response_done(&r);
                return RP_CLI_EXIT_ERROR;
        }
        rp_cli_set_resume(cli, (const char *[]){ "rpctl", "disk", "wait", "-g", target_group(&a),
                                                 "-n", a.name, "--created", NULL });
        k = rp_cli_ops_wait(cli, &ops);
        if (k < 0)
                return rp_cli_fail_wait(cli, k);
        rp_client_response *fin = rp_cli_ops_response(&ops, 0);
        if (!rp_client_response_ok(fin))
                return rp_cli_fail_response(cli, fin);
        _cleanup_json_ json_t *disk = NULL;
        k = rp_cli_get(cli, path, RP_CLI_API_DISK, &disk);
        if (k != 0)
                return k;
        rp_cli_print(cli, disk, disk_columns);
        return RP_CLI_EXIT_OK;
}

/* ================================================================ restore vm */

/* One disk of the VM being restored. */
typedef struct vm_disk {
        const json_t *entry; /* its sourceMetadata entry (borrowed) */
        bool os;
        char *name;   /* the new disk: "<vm>_<source name>" */
        char *path;   /* its ARM path */
        bool created; /* this command's PUT made it */
        int op;       /* index in the rp_cli_ops, or -1 */
} vm_disk;

typedef struct vm_restore {
        restore_args *a;
        const json_t *meta; /* sourceMetadata (borrowed) */
        const char *location;
        vm_disk disks[MAX_VM_DISKS];
        size_t n;
        rp_cli_ops ops;
} vm_restore;

static void vm_restore_done(vm_restore *v)
{
        for (size_t i = 0; i < v->n; i++) {
                rp_free(v->disks[i].name);
                rp_free(v->disks[i].path);
        }
        rp_cli_ops_done(&v->ops);
}

static const char vm_help[] =
        "Usage: rpctl restore vm -g GROUP --collection-name C --restore-point RP -n NEWVM\n"
        "                        [--target-group GROUP2] [--tags KEY=VALUE ...]\n"
        "                        [--no-progress]\n"
        "\n"
        "Restore a whole virtual machine from a restore point: every disk restore point of\n"
        "the point becomes a new disk named NEWVM_<original disk name> (all restored\n"
        "together, with a progress row per disk on stderr, or plain lines when stderr is\n"
        "not a terminal), then the VM is created from the point's sourceMetadata (hardware,\n"
        "OS profile without secrets, diagnostics and security profiles, license type, user\n"
        "data) with those disks attached at the same LUNs. The VM and its disks land in the\n"
        "region of the restore point. Prints the new VM.\n"
        "If a disk restore or the VM creation fails, the disks made by this command are\n"
        "deleted and the ARM error is reported (exit 1). Ctrl-C stops waiting (exit 130);\n"
        "the disk restores go on and their disks stay.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group of the collection\n"
        "      --collection-name C     the restore point collection\n"
        "      --restore-point RP      the restore point\n"
        "  -n, --name NEWVM            the new VM (must not exist)\n"
        "      --target-group GROUP2   resource group of the VM and its disks (default:\n"
        "                              GROUP)\n"
        "      --tags KEY=VALUE ...    tags of the VM and its disks\n"
        "      --no-progress           print no progress\n"
        "\n"
        "Examples:\n"
        "  rpctl restore vm -g rg1 --collection-name c1 --restore-point rp1 -n vm1-restored\n"
        "  rpctl restore vm -g rg1 --collection-name c1 --restore-point rp1 -n vm1 \\\n"
        "      --target-group rg-recovery -o table\n";

/* Plan the disks from sourceMetadata.storageProfile. @return 0 or an exit code. */
static int plan(vm_restore *v)
{
        const json_t *sp = json_object_get(v->meta, "storageProfile");
        json_t *os = json_object_get(sp, "osDisk");
        json_t *data = json_object_get(sp, "dataDisks");
        if (!json_is_object(os)) {
                fprintf(stderr,
                        "ERROR: (OperationNotAllowed) The restore point '%s' holds no OS disk "
                        "(it was excluded), so no VM can be made from it: restore its disks "
                        "with 'rpctl restore disk'.\n",
                        v->a->point);
                return RP_CLI_EXIT_ERROR;
        }
        if (json_array_size(data) + 1 > MAX_VM_DISKS) {
                fprintf(stderr, "ERROR: (InvalidResponse) The restore point has %zu data disks.\n",
                        json_array_size(data));
                return RP_CLI_EXIT_ERROR;
        }
        for (size_t i = 0; i <= json_array_size(data); i++) {
                const json_t *e = i == 0 ? os : json_array_get(data, i - 1);
                vm_disk *d = &v->disks[v->n++];
                *d = (vm_disk){ .entry = e, .os = i == 0, .op = -1 };
                const char *src = entry_disk_name(e);
                if (!json_string_value(rp_json_get_path(e, "diskRestorePoint.id")) || !src) {
                        fprintf(stderr,
                                "ERROR: (InvalidResponse) Disk %zu of the restore point "
                                "has no name or no diskRestorePoint.id.\n",
                                i);
                        return RP_CLI_EXIT_ERROR;
                }
                d->name = rp_asprintf("%s_%s", v->a->name, src);
                d->path = d->name ? disk_path(v->a, d->name) : NULL;
                if (!d->path)
                        return RP_CLI_EXIT_ERROR;
        }
        return 0;
}

/* Start the restore of every disk. A refused PUT stops the starting and is reported at once.
 * @return 0 or an exit code. */
static int start_disks(vm_restore *v)
{
        rp_cli *cli = v->a->cli;
        const char *hyperv = json_string_value(json_object_get(v->meta, "hyperVGeneration"));
        for (size_t i = 0; i < v->n; i++) {
                vm_disk *d = &v->disks[i];
                const char *drp =
                        json_string_value(rp_json_get_path(d->entry, "diskRestorePoint.id"));
                const char *sku =
                        json_string_value(rp_json_get_path(d->entry, "managedDisk."
                                                                     "storageAccountType"));
                _cleanup_json_ json_t *body = restore_body(
                        v->a, v->location, drp,
                        d->os ? json_string_value(json_object_get(d->entry, "osType")) : NULL,
                        d->os ? hyperv : NULL, sku);
                if (!body)
                        return RP_CLI_EXIT_ERROR;
                rp_client_response r = {};
                int k = rp_client_request(cli->client, "PUT", d->path, RP_CLI_API_DISK, body, &r);
                if (k < 0)
                        return rp_cli_fail_errno(cli, k, "PUT");
                if (!rp_client_response_ok(&r)) {
                        k = rp_cli_fail_response(cli, &r);
                        rp_client_response_done(&r);
                        return k;
                }
                d->created = true;
                k = add_row(&v->ops, d->name, d->path, &r);
                if (k < 0) {
                        rp_client_response_done(&r);
                        return RP_CLI_EXIT_ERROR;
                }
                d->op = k;
        }
        return 0;
}

/* Delete the disks this command made (after a failure; Ctrl-C does not stop it). */
static void cleanup(vm_restore *v)
{
        rp_cli *cli = v->a->cli;
        rp_client_set_cancel(cli->client, NULL);
        for (size_t i = 0; i < v->n; i++) {
                vm_disk *d = &v->disks[i];
                if (!d->created)
                        continue;
                rp_client_response r = {};
                int k = rp_cli_call(cli, "DELETE", d->path, RP_CLI_API_DISK, NULL, false, &r);
                if (k == 0 && rp_client_response_ok(&r)) {
                        if (r.status != 204)
                                fprintf(stderr,
                                        "restore: deleted disk '%s' (made by this "
                                        "command)\n",
                                        d->name);
                } else if (k == 0) {
                        fprintf(stderr, "restore: cannot delete disk '%s': (%s) %s\n", d->name,
                                rp_strempty(r.error.code), rp_strempty(r.error.message));
                }
                rp_client_response_done(&r);
        }
        rp_client_set_cancel(cli->client, &rp_cli_cancel);
}

/* The PUT body of the VM, from sourceMetadata, with the restored disks attached. */
static json_t *vm_body(vm_restore *v)
{
        static const char *const copied[] = { "hardwareProfile",    "osProfile",
                                              "diagnosticsProfile", "securityProfile",
                                              "licenseType",        "userData" };
        _cleanup_json_ json_t *body =
                json_pack("{s:s, s:{}}", "location", v->location, "properties");
        json_t *props = json_object_get(body, "properties");
        json_t *data = json_array();
        if (!props || !data) {
                if (data)
                        json_decref(data);
                return NULL;
        }
        for (size_t i = 0; i < ELEMENTSOF(copied); i++) {
                json_t *x = json_object_get(v->meta, copied[i]);
                if (x && !json_is_null(x))
                        json_object_set_new(props, copied[i], json_deep_copy(x));
        }
        /* never send a secret back, even if a server left one in the metadata */
        json_t *osp = json_object_get(props, "osProfile");
        json_object_del(osp, "adminPassword");
        json_object_del(osp, "customData");
        json_t *os = NULL;
        for (size_t i = 0; i < v->n; i++) {
                vm_disk *d = &v->disks[i];
                _cleanup_free_ char *id =
                        rp_cli_path("/subscriptions/%s/resourceGroups/%s/"
                                    "providers/Microsoft.Compute/disks/%s",
                                    v->a->cli->subscription, target_group(v->a), d->name);
                json_t *e = json_pack("{s:s, s:s, s:{s:s}}", "name", d->name, "createOption",
                                      "Attach", "managedDisk", "id", id);
                json_t *caching = json_object_get(d->entry, "caching");
                if (e && caching)
                        json_object_set(e, "caching", caching);
                if (e && d->os && json_object_get(d->entry, "osType"))
                        json_object_set(e, "osType", json_object_get(d->entry, "osType"));
                if (e && !d->os)
                        json_object_set(e, "lun", json_object_get(d->entry, "lun"));
                if (!e || !id) {
                        if (e)
                                json_decref(e);
                        json_decref(data);
                        return NULL;
                }
                if (d->os)
                        os = e;
                else
                        json_array_append_new(data, e);
        }
        json_object_set_new(props, "storageProfile",
                            json_pack("{s:o, s:o}", "osDisk", os, "dataDisks", data));
        if (v->a->tags)
                json_object_set(body, "tags", v->a->tags);
        return TAKE_PTR(body);
}

/* The first failed disk restore, reported. @return an exit code, 0 when none failed. */
static int disk_failures(vm_restore *v)
{
        for (size_t i = 0; i < v->n; i++) {
                if (v->disks[i].op < 0)
                        continue;
                rp_client_response *r = rp_cli_ops_response(&v->ops, (size_t)v->disks[i].op);
                if (!rp_client_response_ok(r)) {
                        fprintf(stderr, "restore: the restore of disk '%s' failed\n",
                                v->disks[i].name);
                        return rp_cli_fail_response(v->a->cli, r);
                }
        }
        return 0;
}

static int restore_vm(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(restore_args_done) restore_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table,
                             POINT_SPEC "target-group tags no-progress", &a);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *rp = NULL;
        _cleanup_free_ char *location = NULL;
        k = get_point(&a, &rp, &location);
        if (k != 0)
                return k;
        _cleanup_(vm_restore_done) vm_restore v = {
                .a = &a,
                .meta = rp_json_get_path(rp, "properties.sourceMetadata"),
                .location = location,
        };
        rp_cli_ops_init(&v.ops, "restore", !a.no_progress);
        k = plan(&v);
        if (k != 0)
                return k;
        /* nothing is created before everything is known to be absent */
        _cleanup_free_ char *vm_path = rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                                                   "Microsoft.Compute/virtualMachines/%s",
                                                   cli->subscription, target_group(&a), a.name);
        k = vm_path ? require_absent(&a, vm_path, RP_CLI_API_COMPUTE, "virtual machine", a.name)
                    : RP_CLI_EXIT_ERROR;
        for (size_t i = 0; k == 0 && i < v.n; i++)
                k = require_absent(&a, v.disks[i].path, RP_CLI_API_DISK, "disk", v.disks[i].name);
        if (k != 0)
                return k;

        k = start_disks(&v);
        int w = rp_cli_ops_wait(cli, &v.ops); /* also after a refused PUT: the others run */
        if (w < 0) {
                int rc = rp_cli_fail_wait(cli, w);
                fputs("The disks being restored stay:", stderr);
                for (size_t i = 0; i < v.n; i++)
                        if (v.disks[i].created)
                                fprintf(stderr, " '%s'", v.disks[i].name);
                fprintf(stderr, " (in resource group '%s'); rerun after deleting them.\n",
                        target_group(&a));
                return rc;
        }
        if (k == 0)
                k = disk_failures(&v);
        if (k != 0) {
                cleanup(&v);
                return k;
        }

        _cleanup_json_ json_t *body = vm_body(&v);
        if (!body) {
                cleanup(&v);
                return RP_CLI_EXIT_ERROR;
        }
        rp_client_response r = {};
        k = rp_cli_call(cli, "PUT", vm_path, RP_CLI_API_COMPUTE, body, false, &r);
        if (k == 0 && !rp_client_response_ok(&r))
                k = rp_cli_fail_response(cli, &r);
        if (k != 0) {
                rp_client_response_done(&r);
                cleanup(&v);
                return k;
        }
        rp_client_response_done(&r);
        _cleanup_json_ json_t *vm = NULL;
        k = rp_cli_get(cli, vm_path, RP_CLI_API_COMPUTE, &vm);
        if (k != 0)
                return k;
        rp_cli_print(cli, vm, vm_columns);
        return RP_CLI_EXIT_OK;
}

/* ================================================================ table */

static const rp_cli_verb verbs[] = {
        { "disk", "restore a managed disk from a disk restore point", disk_help, restore_disk },
        { "vm", "restore a whole VM (all its disks) from a restore point", vm_help, restore_vm },
};

int rp_cmd_restore(int argc, char **argv)
{
        return rp_cli_dispatch("restore", "Restore disks and virtual machines from restore points.",
                               verbs, ELEMENTSOF(verbs), argc, argv);
}
