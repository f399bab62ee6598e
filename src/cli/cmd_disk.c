/* cmd_disk.c: rpctl disk create|show|list|delete|wait|grant-access|revoke-access|import|export
 * (Microsoft.Compute/disks and their SAS data plane).
 *
 * DESIGN: import and export are the az recipe for moving a disk image (create an Upload disk,
 * grant-access, copy, revoke-access) in one command, with the copy done by
 * rp_client_blob_upload()/rp_client_blob_download(): 4 MiB blocks, several in flight, zeros
 * never moved. Access is always revoked once granted, also after a failure or Ctrl-C (the
 * revoke runs with cancellation switched off), so the disk is never left with a live SAS. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/macro.h"
#include "util/parse.h"

#define GIB (1024ull * 1024ull * 1024ull)
#define MAX_DISK_GB 32767u
#define MAX_SAS_DURATION_SEC (30u * 86400u)
#define TRANSFER_SAS_DURATION_SEC 86400u
#define GRANT_DEFAULT_DURATION_SEC 3600u

static const rp_cli_column disk_columns[] = {
        { "Name", "name" },
        { "ResourceGroup", "@resourceGroup" },
        { "Location", "location" },
        { "Sku", "sku.name" },
        { "SizeGb", "properties.diskSizeGB" },
        { "DiskState", "properties.diskState" },
        { "ProvisioningState", "properties.provisioningState" },
        {},
};

/* sku, os-type and hyper-v-generation go to rpd as given: it checks them (InvalidParameter). */
static const char *const access_levels[] = { "Read", "Write", NULL };
static const char *const upload_types[] = { "Upload", NULL };

typedef struct disk_args {
        rp_cli *cli;
        const char *group, *name, *location, *sku, *os_type, *hyperv, *file, *access, *upload_type;
        json_t *tags;
        uint64_t size_gb, upload_bytes, duration, parallel;
        bool size_gb_given, upload_bytes_given, duration_given, parallel_given;
        bool no_wait, overwrite, no_progress;
} disk_args;

#define OFF(f) offsetof(disk_args, f)
static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("resource-group", 'g', RP_CLI_ARG_STRING, OFF(group)),
        RP_CLI_ARG("name", 'n', RP_CLI_ARG_STRING, OFF(name)),
        RP_CLI_ARG("location", 'l', RP_CLI_ARG_STRING, OFF(location)),
        RP_CLI_ARG("file", 'f', RP_CLI_ARG_STRING, OFF(file)),
        RP_CLI_ARG("size-gb", 0, RP_CLI_ARG_U64, OFF(size_gb), .min = 1, .max = MAX_DISK_GB,
                   .given = OFF(size_gb_given)),
        RP_CLI_ARG("upload-size-bytes", 0, RP_CLI_ARG_U64, OFF(upload_bytes),
                   .min = RP_MIN_UPLOAD_BYTES, .max = RP_MAX_DISK_BYTES,
                   .given = OFF(upload_bytes_given)),
        RP_CLI_ARG("upload-type", 0, RP_CLI_ARG_CHOICE, OFF(upload_type), .choices = upload_types),
        RP_CLI_ARG("sku", 0, RP_CLI_ARG_STRING, OFF(sku)),
        RP_CLI_ARG("os-type", 0, RP_CLI_ARG_STRING, OFF(os_type)),
        RP_CLI_ARG("hyper-v-generation", 0, RP_CLI_ARG_STRING, OFF(hyperv)),
        RP_CLI_ARG("access-level", 0, RP_CLI_ARG_CHOICE, OFF(access), .choices = access_levels),
        RP_CLI_ARG("duration-in-seconds", 0, RP_CLI_ARG_U64, OFF(duration), .min = 1,
                   .max = MAX_SAS_DURATION_SEC, .given = OFF(duration_given)),
        RP_CLI_ARG("parallel", 0, RP_CLI_ARG_U64, OFF(parallel), .min = 1,
                   .max = RP_CLIENT_MAX_PARALLEL, .given = OFF(parallel_given)),
        RP_CLI_ARG("tags", 0, RP_CLI_ARG_TAGS, OFF(tags)),
        RP_CLI_ARG("no-wait", 0, RP_CLI_ARG_FLAG, OFF(no_wait)),
        RP_CLI_ARG("overwrite", 0, RP_CLI_ARG_FLAG, OFF(overwrite)),
        RP_CLI_ARG("no-progress", 0, RP_CLI_ARG_FLAG, OFF(no_progress)),
        RP_CLI_ARG("yes", 'y', RP_CLI_ARG_IGNORE, 0),
        {},
};

static void disk_args_done(disk_args *a)
{
        rp_cli_args_done(args_table, a);
}

/* Parse the arguments @p spec names. */
static int parse(disk_args *a, int argc, char **argv, const char *spec)
{
        return rp_cli_parse_args(a->cli, argc, argv, args_table, spec, a);
}

static char *disk_path(disk_args *a, const char *suffix)
{
        if (!a->group)
                return rp_cli_path("/subscriptions/%s/providers/Microsoft.Compute/disks",
                                   a->cli->subscription);
        if (!a->name)
                return rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                                   "Microsoft.Compute/disks",
                                   a->cli->subscription, a->group);
        _cleanup_free_ char *p = rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                                             "Microsoft.Compute/disks/%s",
                                             a->cli->subscription, a->group, a->name);
        return p && suffix ? rp_asprintf("%s/%s", p, suffix) : TAKE_PTR(p);
}

/* GET the disk. @return 0 with the body in @p ret, or an exit code (reported). */
static int disk_get(disk_args *a, json_t **ret)
{
        _cleanup_free_ char *path = disk_path(a, NULL);
        return path ? rp_cli_get(a->cli, path, RP_CLI_API_DISK, ret) : RP_CLI_EXIT_ERROR;
}

/* The location of the disk: --location, else the resource group's, as az does. */
static int resolve_location(disk_args *a, char **ret)
{
        if (!a->location)
                return rp_cli_group_location(a->cli, a->group, ret);
        *ret = rp_strdup(a->location);
        return *ret ? 0 : RP_CLI_EXIT_ERROR;
}

/* The PUT body of a new disk. */
static json_t *create_body(disk_args *a, const char *location)
{
        json_t *cd = a->upload_bytes_given
                             ? json_pack("{s:s, s:I}", "createOption", "Upload", "uploadSizeBytes",
                                         (json_int_t)a->upload_bytes)
                             : json_pack("{s:s}", "createOption", "Empty");
        json_t *body =
                json_pack("{s:s, s:{s:o}}", "location", location, "properties", "creationData", cd);
        if (!body)
                return NULL;
        json_t *props = json_object_get(body, "properties");
        if (a->size_gb_given)
                json_object_set_new(props, "diskSizeGB", json_integer((json_int_t)a->size_gb));
        if (a->os_type)
                json_object_set_new(props, "osType", json_string(a->os_type));
        if (a->hyperv)
                json_object_set_new(props, "hyperVGeneration", json_string(a->hyperv));
        if (a->sku)
                json_object_set_new(body, "sku", json_pack("{s:s}", "name", a->sku));
        if (a->tags)
                json_object_set(body, "tags", a->tags);
        return body;
}

/* PUT the disk and wait for it. @return 0 with the final body in @p ret (may be NULL with
 * --no-wait), or an exit code. */
static int create_disk(disk_args *a, json_t **ret)
{
        _cleanup_free_ char *location = NULL;
        int k = resolve_location(a, &location);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *body = create_body(a, location);
        _cleanup_free_ char *path = disk_path(a, NULL);
        if (!body || !path)
                return RP_CLI_EXIT_ERROR;
        rp_client_response r = {};
        k = rp_cli_call(a->cli, "PUT", path, RP_CLI_API_DISK, body, a->no_wait, &r);
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r)) {
                k = rp_cli_fail_response(a->cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        *ret = a->no_wait && r.status == 202 ? NULL : TAKE_PTR(r.body);
        rp_client_response_done(&r);
        return 0;
}

/* beginGetAccess and wait for the SAS URL. @return 0 with it in @p ret, or an exit code. */
static int grant_access(disk_args *a, const char *access, uint64_t duration, char **ret)
{
        _cleanup_free_ char *path = disk_path(a, "beginGetAccess");
        _cleanup_json_ json_t *body = json_pack("{s:s, s:I}", "access", access, "durationInSeconds",
                                                (json_int_t)duration);
        if (!path || !body)
                return RP_CLI_EXIT_ERROR;
        rp_client_response r = {};
        int k = rp_cli_call(a->cli, "POST", path, RP_CLI_API_DISK, body, false, &r);
        if (k != 0)
                return k;
        const char *sas = json_string_value(json_object_get(r.body, "accessSAS"));
        if (!sas) /* some servers put the result only in the status body */
                sas = json_string_value(rp_json_get_path(r.body, "properties.output.accessSAS"));
        if (!rp_client_response_ok(&r) || !sas) {
                if (rp_client_response_ok(&r))
                        fputs("ERROR: (InvalidResponse) beginGetAccess returned no accessSAS\n",
                              stderr);
                k = rp_client_response_ok(&r) ? RP_CLI_EXIT_ERROR
                                              : rp_cli_fail_response(a->cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        *ret = rp_strdup(sas);
        rp_client_response_done(&r);
        return *ret ? 0 : RP_CLI_EXIT_ERROR;
}

/* endGetAccess, even after Ctrl-C. @return 0 or an exit code (reported). */
static int revoke_access(disk_args *a)
{
        _cleanup_free_ char *path = disk_path(a, "endGetAccess");
        if (!path)
                return RP_CLI_EXIT_ERROR;
        rp_client_set_cancel(a->cli->client, NULL);
        rp_client_response r = {};
        int k = rp_cli_call(a->cli, "POST", path, RP_CLI_API_DISK, NULL, false, &r);
        rp_client_set_cancel(a->cli->client, &rp_cli_cancel);
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r))
                k = rp_cli_fail_response(a->cli, &r);
        rp_client_response_done(&r);
        return k;
}

/* ---------------------------------------------------------------- create, show, list, delete */

static const char create_help[] =
        "Usage: rpctl disk create -g GROUP -n NAME --size-gb N [-l LOCATION] [--sku SKU]\n"
        "       rpctl disk create -g GROUP -n NAME --upload-size-bytes BYTES [...]\n"
        "\n"
        "Create an empty managed disk of N GiB, or an Upload disk of BYTES bytes waiting for\n"
        "its data (grant-access --access-level Write, page writes, revoke-access; 'rpctl disk\n"
        "import' does all of it).\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP    the resource group\n"
        "  -n, --name NAME               the disk name\n"
        "      --size-gb N               size in GiB (1 to 32767)\n"
        "      --upload-size-bytes BYTES create an Upload disk: a multiple of 512, at least\n"
        "                                20972032 (20 MiB + 512)\n"
        "      --upload-type Upload      accepted for az compatibility\n"
        "  -l, --location LOCATION       region (default: the resource group's)\n"
        "      --sku SKU                 Standard_LRS (default), Premium_LRS, StandardSSD_LRS,\n"
        "                                UltraSSD_LRS, Premium_ZRS, StandardSSD_ZRS,\n"
        "                                PremiumV2_LRS\n"
        "      --os-type Linux|Windows   operating system of an OS disk\n"
        "      --hyper-v-generation V1|V2\n"
        "      --tags KEY=VALUE ...      space-separated tags\n"
        "      --no-wait                 do not wait for a long-running create\n"
        "\n"
        "Examples:\n"
        "  rpctl disk create -g rg1 -n data1 --size-gb 64\n"
        "  rpctl disk create -g rg1 -n data2 --size-gb 128 --sku Premium_LRS --tags env=test\n"
        "  rpctl disk create -g rg1 -n up1 --upload-size-bytes 1073742336\n";

static int disk_create(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli };
        int k = parse(&a, argc, argv,
                      "resource-group! name! location size-gb upload-size-bytes upload-type sku "
                      "os-type hyper-v-generation tags no-wait");
        if (k != 0)
                return k;
        if (a.size_gb_given == a.upload_bytes_given)
                return rp_cli_usage_error(cli, "give exactly one of --size-gb and "
                                               "--upload-size-bytes");
        if (a.upload_bytes_given && a.upload_bytes % RP_SECTOR_SIZE != 0)
                return rp_cli_usage_error(cli, "argument --upload-size-bytes: must be a "
                                               "multiple of 512");
        k = rp_cli_connect(cli);
        if (k != 0)
                return k;
        rp_cli_set_resume(cli, (const char *[]){ "rpctl", "disk", "wait", "-g", a.group, "-n",
                                                 a.name, "--created", NULL });
        _cleanup_json_ json_t *disk = NULL;
        k = create_disk(&a, &disk);
        if (k != 0)
                return k;
        rp_cli_print(cli, disk, disk_columns);
        return RP_CLI_EXIT_OK;
}

static const char show_help[] = "Usage: rpctl disk show -g GROUP -n NAME\n"
                                "\n"
                                "Show a managed disk.\n"
                                "\n"
                                "Options:\n"
                                "  -g, --resource-group GROUP  the resource group\n"
                                "  -n, --name NAME             the disk name\n"
                                "\n"
                                "Examples:\n"
                                "  rpctl disk show -g rg1 -n data1\n"
                                "  rpctl disk show -g rg1 -n data1 -o table\n";

static int disk_show(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group! name!", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = disk_path(&a, NULL);
        return rp_cli_show(cli, path, RP_CLI_API_DISK, disk_columns);
}

static const char list_help[] =
        "Usage: rpctl disk list [-g GROUP]\n"
        "\n"
        "List the managed disks of a resource group, or of the whole subscription.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group (default: all)\n"
        "\n"
        "Examples:\n"
        "  rpctl disk list -g rg1\n"
        "  rpctl disk list -o table\n";

static int disk_list(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = disk_path(&a, NULL);
        return rp_cli_list(cli, path, RP_CLI_API_DISK, disk_columns);
}

static const char delete_help[] =
        "Usage: rpctl disk delete -g GROUP -n NAME [--no-wait] [--yes]\n"
        "\n"
        "Delete a managed disk. Deleting a disk that does not exist succeeds.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "  -n, --name NAME             the disk name\n"
        "      --no-wait               return once the deletion is accepted\n"
        "  -y, --yes                   accepted for az compatibility (rpctl never asks)\n"
        "\n"
        "Example:\n"
        "  rpctl disk delete -g rg1 -n data1\n";

static int disk_delete(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group! name! no-wait yes", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = disk_path(&a, NULL);
        rp_cli_set_resume(cli, (const char *[]){ "rpctl", "disk", "wait", "-g", a.group, "-n",
                                                 a.name, "--deleted", NULL });
        return rp_cli_send(cli, "DELETE", path, RP_CLI_API_DISK, NULL, a.no_wait, NULL);
}

static const char wait_help[] =
        "Usage: rpctl disk wait -g GROUP -n NAME --created|--updated|--deleted|--exists\n"
        "                       [--interval SECONDS] [--timeout SECONDS]\n"
        "\n"
        "Wait until a condition holds for a managed disk (a restore to finish: --created).\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "  -n, --name NAME             the disk name\n" RP_CLI_WAIT_HELP "\n"
        "Examples:\n"
        "  rpctl disk wait -g rg1 -n restored1 --created\n"
        "  rpctl disk wait -g rg1 -n data1 --deleted --timeout 600\n";

static int disk_wait(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group! name!" RP_CLI_WAIT_SPEC,
                             &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = disk_path(&a, NULL);
        _cleanup_free_ char *what = rp_asprintf("Disk '%s'", a.name);
        return what ? rp_cli_wait_resource(cli, path, RP_CLI_API_DISK, what) : RP_CLI_EXIT_ERROR;
}

/* ---------------------------------------------------------------- access */

static const char grant_help[] =
        "Usage: rpctl disk grant-access -g GROUP -n NAME --access-level Read|Write\n"
        "                               [--duration-in-seconds N]\n"
        "\n"
        "Get a SAS URL for the disk's data plane: GET with Range to read, PUT ?comp=page with\n"
        "x-ms-range and x-ms-page-write to write (Write access, e.g. to an Upload disk).\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP     the resource group\n"
        "  -n, --name NAME                the disk name\n"
        "      --access-level Read|Write  access to grant (default Read)\n"
        "      --duration-in-seconds N    lifetime of the SAS (default 3600)\n"
        "\n"
        "Examples:\n"
        "  rpctl disk grant-access -g rg1 -n data1 --access-level Read\n"
        "  rpctl disk grant-access -g rg1 -n up1 --access-level Write "
        "--duration-in-seconds 86400 -o tsv\n";

static int disk_grant(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli,
                                                  .access = "Read",
                                                  .duration = GRANT_DEFAULT_DURATION_SEC };
        int k = rp_cli_setup(cli, argc, argv, args_table,
                             "resource-group! name! access-level duration-in-seconds", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *sas = NULL;
        k = grant_access(&a, a.access, a.duration, &sas);
        if (k != 0)
                return k;
        static const rp_cli_column cols[] = { { "AccessSas", "accessSAS" }, {} };
        _cleanup_json_ json_t *out = json_pack("{s:s}", "accessSAS", sas);
        rp_cli_print(cli, out, cols);
        return RP_CLI_EXIT_OK;
}

static const char revoke_help[] =
        "Usage: rpctl disk revoke-access -g GROUP -n NAME\n"
        "\n"
        "Void every SAS URL of the disk. After an upload this makes the disk usable.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "  -n, --name NAME             the disk name\n"
        "\n"
        "Example:\n"
        "  rpctl disk revoke-access -g rg1 -n up1\n";

static int disk_revoke(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group! name!", &a);
        if (k != 0)
                return k;
        return revoke_access(&a);
}

/* ---------------------------------------------------------------- import, export */

static const char import_help[] =
        "Usage: rpctl disk import -g GROUP -n NAME --file IMAGE [-l LOCATION] [--sku SKU]\n"
        "                         [--tags KEY=VALUE ...] [--parallel N] [--no-progress]\n"
        "\n"
        "Create a managed disk from a raw image file: create an Upload disk of the file's size\n"
        "rounded up to 512 bytes (at least 20972032; the rest reads as zeros), grant Write\n"
        "access, upload with 4 MiB page writes, several in flight, and revoke access. Holes\n"
        "and all-zero blocks of the file are not sent. The disk must not exist yet.\n"
        "Progress goes to stderr: a bar on a terminal, else a line every 10%. Ctrl-C stops\n"
        "(the partial disk stays; delete it or import again under another name).\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP   the resource group\n"
        "  -n, --name NAME              the new disk's name\n"
        "  -f, --file IMAGE             raw image file (or block device) to upload\n"
        "  -l, --location LOCATION      region (default: the resource group's)\n"
        "      --sku SKU                disk sku (default Standard_LRS)\n"
        "      --os-type Linux|Windows  operating system of an OS disk\n"
        "      --hyper-v-generation V1|V2\n"
        "      --tags KEY=VALUE ...     space-separated tags\n"
        "      --parallel N             page writes in flight (1 to 32, default 8)\n"
        "      --no-progress            print no progress\n"
        "\n"
        "Examples:\n"
        "  rpctl disk import -g rg1 -n os1 --file ./disk.raw --os-type Linux\n"
        "  qemu-img convert -O raw disk.qcow2 disk.raw && rpctl disk import -g rg1 -n os1 "
        "-f disk.raw\n";

static int open_image(disk_args *a, int *ret_fd, uint64_t *ret_size)
{
        _cleanup_close_ int fd = open(a->file, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "ERROR: cannot open '%s': %m\n", a->file);
                return RP_CLI_EXIT_ERROR;
        }
        uint64_t size = (uint64_t)st.st_size;
        if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) < 0) {
                fprintf(stderr, "ERROR: cannot get the size of '%s': %m\n", a->file);
                return RP_CLI_EXIT_ERROR;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return rp_cli_usage_error(a->cli, "'%s' is not a regular file or block device",
                                          a->file);
        if (size == 0)
                return rp_cli_usage_error(a->cli, "'%s' is empty", a->file);
        if (size > RP_MAX_DISK_BYTES)
                return rp_cli_usage_error(a->cli, "'%s' is larger than a disk can be (%llu bytes)",
                                          a->file, (unsigned long long)RP_MAX_DISK_BYTES);
        *ret_fd = TAKE_FD(fd);
        *ret_size = size;
        return 0;
}

/* Fail unless the disk is absent (ResourceNotFound); a missing group is reported. */
static int check_absent(disk_args *a)
{
        _cleanup_free_ char *path = disk_path(a, NULL);
        return path ? rp_cli_require_absent(a->cli, path, RP_CLI_API_DISK, "disk", a->name,
                                            a->group, "Import creates a new disk")
                    : RP_CLI_EXIT_ERROR;
}

/* Report a failed transfer. */
static int transfer_failed(disk_args *a, int k, rp_client_error *e, const char *what)
{
        if (k == -EREMOTEIO)
                return rp_cli_fail_error(a->cli, e);
        if (k == -ECANCELED)
                return rp_cli_fail_errno(a->cli, k, what);
        fprintf(stderr, "ERROR: %s: %s\n", what, strerror(-k));
        return RP_CLI_EXIT_ERROR;
}

static int disk_import(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli };
        int k = parse(&a, argc, argv,
                      "resource-group! name! file! location sku os-type hyper-v-generation tags "
                      "parallel no-progress");
        if (k != 0)
                return k;
        _cleanup_close_ int fd = -1;
        uint64_t size = 0;
        k = open_image(&a, &fd, &size);
        if (k != 0)
                return k;
        uint64_t rounded = (size + RP_SECTOR_SIZE - 1) / RP_SECTOR_SIZE * RP_SECTOR_SIZE;
        a.upload_bytes_given = true;
        a.upload_bytes = RP_MAX(rounded, (uint64_t)RP_MIN_UPLOAD_BYTES);
        k = rp_cli_connect(cli);
        if (k == 0)
                k = check_absent(&a);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *created = NULL;
        k = create_disk(&a, &created);
        if (k != 0)
                return k;
        _cleanup_free_ char *sas = NULL;
        k = grant_access(&a, "Write", TRANSFER_SAS_DURATION_SEC, &sas);
        if (k != 0)
                return k;

        rp_cli_progress p;
        rp_cli_progress_init(&p, "import", !a.no_progress);
        char sz[32];
        rp_cli_progress_note(&p, "uploading '%s' (%s) to disk '%s', %u writes in flight", a.file,
                             rp_cli_format_bytes(size, sz, sizeof sz), a.name,
                             a.parallel ? (unsigned)a.parallel : RP_CLIENT_DEFAULT_PARALLEL);
        rp_client_xfer_opts xo = { .parallel = (unsigned)a.parallel,
                                   .progress = rp_cli_progress_update,
                                   .userdata = &p };
        rp_client_xfer_stats st = {};
        rp_client_error e = {};
        int up = rp_client_blob_upload(cli->client, sas, fd, size, &xo, &st, &e);
        rp_cli_progress_finish(&p, &st, up == 0);
        int rv = revoke_access(&a);
        if (up < 0) {
                k = transfer_failed(&a, up, &e, "upload");
                rp_client_error_done(&e);
                fprintf(stderr,
                        "The disk '%s' was created but holds a partial image; delete it "
                        "with: rpctl disk delete -g %s -n %s\n",
                        a.name, a.group, a.name);
                return k;
        }
        if (rv != 0)
                return rv;
        _cleanup_json_ json_t *disk = NULL;
        k = disk_get(&a, &disk);
        if (k != 0)
                return k;
        rp_cli_print(cli, disk, disk_columns);
        return RP_CLI_EXIT_OK;
}

static const char export_help[] =
        "Usage: rpctl disk export -g GROUP -n NAME --file OUT [--overwrite] [--parallel N]\n"
        "                         [--no-progress]\n"
        "\n"
        "Save a managed disk as a raw image: grant Read access, download with ranged reads,\n"
        "several in flight, into a sparse file (all-zero 4 KiB pages are not written, they\n"
        "stay holes), and revoke access. The file is as large as the disk.\n"
        "Progress goes to stderr: a bar on a terminal, else a line every 10%. Ctrl-C stops\n"
        "and removes the partial file.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "  -n, --name NAME             the disk name\n"
        "  -f, --file OUT              the image file to write\n"
        "      --overwrite             replace OUT if it exists\n"
        "      --parallel N            reads in flight (1 to 32, default 8)\n"
        "      --no-progress           print no progress\n"
        "\n"
        "Examples:\n"
        "  rpctl disk export -g rg1 -n os1 --file ./os1.raw\n"
        "  rpctl disk export -g rg1 -n os1 -f os1.raw --overwrite -o table\n";

static int disk_export(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(disk_args_done) disk_args a = { .cli = cli };
        int k = parse(&a, argc, argv, "resource-group! name! file! overwrite parallel no-progress");
        if (k != 0)
                return k;
        struct stat st0;
        if (!a.overwrite && lstat(a.file, &st0) == 0) {
                fprintf(stderr,
                        "ERROR: (FileExists) '%s' exists; pass --overwrite to replace "
                        "it.\n",
                        a.file);
                return RP_CLI_EXIT_ERROR;
        }
        k = rp_cli_connect(cli);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *disk = NULL;
        k = disk_get(&a, &disk); /* a missing disk is reported before any file is made */
        if (k != 0)
                return k;
        _cleanup_free_ char *sas = NULL;
        k = grant_access(&a, "Read", TRANSFER_SAS_DURATION_SEC, &sas);
        if (k != 0)
                return k;
        uint64_t size = 0;
        rp_client_error e = {};
        int x = rp_client_blob_size(cli->client, sas, &size, &e);
        _cleanup_close_ int fd = -1;
        if (x == 0) {
                fd = open(a.file,
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (a.overwrite ? 0 : O_EXCL),
                          0644);
                if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
                        x = -errno;
                        fprintf(stderr, "ERROR: cannot create '%s': %m\n", a.file);
                }
        } else {
                k = transfer_failed(&a, x, &e, "size");
        }
        rp_cli_progress p;
        rp_cli_progress_init(&p, "export", !a.no_progress);
        rp_client_xfer_stats xs = {};
        if (x == 0) {
                char sz[32];
                rp_cli_progress_note(&p, "downloading disk '%s' (%s) to '%s', %u reads in flight",
                                     a.name, rp_cli_format_bytes(size, sz, sizeof sz), a.file,
                                     a.parallel ? (unsigned)a.parallel
                                                : RP_CLIENT_DEFAULT_PARALLEL);
                rp_client_xfer_opts xo = { .parallel = (unsigned)a.parallel,
                                           .progress = rp_cli_progress_update,
                                           .userdata = &p };
                x = rp_client_blob_download(cli->client, sas, fd, size, &xo, &xs, &e);
                if (x == 0 && fsync(fd) < 0)
                        x = -errno;
                rp_cli_progress_finish(&p, &xs, x == 0);
                if (x < 0)
                        k = transfer_failed(&a, x, &e, "download");
        }
        rp_client_error_done(&e);
        int rv = revoke_access(&a);
        if (x < 0) {
                if (fd >= 0)
                        unlink(a.file);
                return k ? k : RP_CLI_EXIT_ERROR;
        }
        if (rv != 0)
                return rv;
        double sec = (double)(rp_now_monotonic() - p.start) / RP_USEC_PER_SEC;
        _cleanup_json_ json_t *out =
                json_pack("{s:s, s:s, s:I, s:I, s:I, s:f}", "name", a.name, "file", a.file,
                          "sizeBytes", (json_int_t)size, "transferredBytes", (json_int_t)xs.wire,
                          "zeroBytesSkipped", (json_int_t)xs.skipped, "seconds", sec);
        rp_cli_print(cli, out, NULL);
        return RP_CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- table */

static const rp_cli_verb verbs[] = {
        { "create", "create an empty or an Upload managed disk", create_help, disk_create },
        { "show", "show a managed disk", show_help, disk_show },
        { "list", "list managed disks", list_help, disk_list },
        { "delete", "delete a managed disk", delete_help, disk_delete },
        { "wait", "wait for a condition on a managed disk", wait_help, disk_wait },
        { "grant-access", "get a SAS URL for the disk's data", grant_help, disk_grant },
        { "revoke-access", "void the disk's SAS URLs", revoke_help, disk_revoke },
        { "import", "create a disk from a raw image file", import_help, disk_import },
        { "export", "save a disk as a sparse raw image file", export_help, disk_export },
};

int rp_cmd_disk(int argc, char **argv)
{
        return rp_cli_dispatch("disk", "Manage managed disks and move their data.", verbs,
                               ELEMENTSOF(verbs), argc, argv);
}
