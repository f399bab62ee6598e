/* cmd_vm.c: rpctl vm create|show|list|delete|wait (Microsoft.Compute/virtualMachines).
 *
 * DESIGN: rpd runs no guests: a VM is its model and the managed disks attached to it, which is
 * what a restore point captures. So `vm create` builds a VM from disks: an existing OS disk
 * (--os-disk, az's --attach-os-disk), existing data disks (--data-disks, az's
 * --attach-data-disks) at LUNs 0, 1, ... and new empty data disks (--data-disk-sizes-gb, as
 * az) at the LUNs after them. A bare disk name means a disk of the VM's resource group. The
 * request is one PUT: rpd checks every disk (it exists, is in the VM's region and is attached
 * nowhere else) and makes the new ones in the same transaction. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"
#include "util/parse.h"

#define MAX_DATA_DISKS 64
#define MAX_DISK_GB 32767u
#define DEFAULT_VM_SIZE "Standard_DS1_v2" /* az's default */

static const rp_cli_column vm_columns[] = {
        { "Name", "name" },
        { "ResourceGroup", "@resourceGroup" },
        { "Location", "location" },
        { "VmSize", "properties.hardwareProfile.vmSize" },
        { "OsDisk", "properties.storageProfile.osDisk.name" },
        { "ProvisioningState", "properties.provisioningState" },
        {},
};

static const char *const os_types[] = { "Linux", "Windows", NULL };
static const char *const delete_options[] = { "Delete", "Detach", NULL };

typedef struct vm_args {
        rp_cli *cli;
        const char *group, *name, *location, *os_disk, *size, *os_type, *os_delete, *data_delete;
        json_t *data_disks, *data_sizes, *tags;
        bool no_wait, instance_view;
} vm_args;

#define OFF(f) offsetof(vm_args, f)
static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("resource-group", 'g', RP_CLI_ARG_STRING, OFF(group)),
        RP_CLI_ARG("name", 'n', RP_CLI_ARG_STRING, OFF(name)),
        RP_CLI_ARG("location", 'l', RP_CLI_ARG_STRING, OFF(location)),
        RP_CLI_ARG("os-disk", 0, RP_CLI_ARG_STRING, OFF(os_disk), .alias = "attach-os-disk"),
        RP_CLI_ARG("data-disks", 0, RP_CLI_ARG_LIST, OFF(data_disks), .alias = "attach-data-disks"),
        RP_CLI_ARG("data-disk-sizes-gb", 0, RP_CLI_ARG_LIST, OFF(data_sizes)),
        RP_CLI_ARG("size", 0, RP_CLI_ARG_STRING, OFF(size)),
        RP_CLI_ARG("os-type", 0, RP_CLI_ARG_CHOICE, OFF(os_type), .choices = os_types),
        RP_CLI_ARG("os-disk-delete-option", 0, RP_CLI_ARG_CHOICE, OFF(os_delete),
                   .choices = delete_options),
        RP_CLI_ARG("data-disk-delete-option", 0, RP_CLI_ARG_CHOICE, OFF(data_delete),
                   .choices = delete_options),
        RP_CLI_ARG("instance-view", 0, RP_CLI_ARG_FLAG, OFF(instance_view)),
        RP_CLI_ARG("tags", 0, RP_CLI_ARG_TAGS, OFF(tags)),
        RP_CLI_ARG("no-wait", 0, RP_CLI_ARG_FLAG, OFF(no_wait)),
        RP_CLI_ARG("yes", 'y', RP_CLI_ARG_IGNORE, 0),
        {},
};

static void vm_args_done(vm_args *a)
{
        rp_cli_args_done(args_table, a);
}

/* The VM's path (or, without -g, the subscription's VMs; without -n, the group's). */
static char *vm_path(const vm_args *a)
{
        const char *sub = a->cli->subscription;
        if (!a->group)
                return rp_cli_path("/subscriptions/%s/providers/Microsoft.Compute/virtualMachines",
                                   sub);
        if (!a->name)
                return rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                                   "Microsoft.Compute/virtualMachines",
                                   sub, a->group);
        return rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                           "virtualMachines/%s",
                           sub, a->group, a->name);
}

/* A disk id: @p s itself when it is one, else the disk named @p s in the VM's group. */
static char *disk_id(const vm_args *a, const char *s)
{
        return strchr(s, '/') ? rp_strdup(s)
                              : rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                                            "Microsoft.Compute/disks/%s",
                                            a->cli->subscription, a->group, s);
}

/* ---------------------------------------------------------------- create */

static const char create_help[] =
        "Usage: rpctl vm create -g GROUP -n NAME --os-disk DISK [--data-disks DISK ...]\n"
        "                       [--data-disk-sizes-gb N ...] [-l LOCATION] [--size VMSIZE]\n"
        "                       [--os-type Linux|Windows] [--tags KEY=VALUE ...] [--no-wait]\n"
        "\n"
        "Create (or update) a virtual machine from managed disks. rpd runs no guests: a VM is\n"
        "its model and its disks, which is what a restore point captures; its disks change\n"
        "through their SAS data plane (rpctl disk grant-access --access-level Write).\n"
        "Existing data disks are attached at LUNs 0, 1, ...; new empty ones (named by rpd)\n"
        "after them. Every disk must be in the VM's region and attached to no other VM.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP          the resource group\n"
        "  -n, --name NAME                     the VM name\n"
        "      --os-disk DISK                  the OS disk to attach: a disk id, or a disk\n"
        "                                      name in GROUP (also --attach-os-disk)\n"
        "      --data-disks DISK ...           data disks to attach, space-separated (also\n"
        "                                      --attach-data-disks)\n"
        "      --data-disk-sizes-gb N ...      new empty data disks of N GiB (1 to 32767)\n"
        "  -l, --location LOCATION             region (default: the resource group's)\n"
        "      --size VMSIZE                   hardwareProfile.vmSize (default\n"
        "                                      " DEFAULT_VM_SIZE ")\n"
        "      --os-type Linux|Windows         osType of the OS disk\n"
        "      --os-disk-delete-option Delete|Detach\n"
        "                                      what deleting the VM does to the OS disk\n"
        "                                      (default Detach)\n"
        "      --data-disk-delete-option Delete|Detach\n"
        "                                      the same for the data disks\n"
        "      --tags KEY=VALUE ...            space-separated tags\n"
        "      --no-wait                       do not wait for a long-running create\n"
        "\n"
        "Examples:\n"
        "  rpctl disk import -g rg1 -n vm1-os -f os.raw --os-type Linux\n"
        "  rpctl vm create -g rg1 -n vm1 --os-disk vm1-os --data-disks data1 data2\n"
        "  rpctl vm create -g rg1 -n vm2 --os-disk vm2-os --data-disk-sizes-gb 64 128 \\\n"
        "      --size Standard_D4s_v3 --data-disk-delete-option Delete -o table\n";

/* Check the counts and sizes of the data disks (before connecting: usage errors come
 * first). @return 0 or RP_CLI_EXIT_USAGE (reported). */
static int check_data_disks(vm_args *a)
{
        if (json_array_size(a->data_disks) + json_array_size(a->data_sizes) > MAX_DATA_DISKS)
                return rp_cli_usage_error(a->cli, "a VM has at most %d data disks", MAX_DATA_DISKS);
        size_t i;
        json_t *v;
        json_array_foreach(a->data_sizes, i, v) {
                uint64_t gb = 0;
                const char *s = json_string_value(v);
                if (rp_parse_u64(s, &gb) < 0 || gb < 1 || gb > MAX_DISK_GB)
                        return rp_cli_usage_error(a->cli,
                                                  "argument --data-disk-sizes-gb: '%s' is not a "
                                                  "number from 1 to %u",
                                                  s, MAX_DISK_GB);
        }
        return 0;
}

/* The dataDisks of the PUT body (checked by check_data_disks()), or NULL on OOM. */
static json_t *data_disks(vm_args *a)
{
        _cleanup_json_ json_t *disks = json_array();
        size_t i, n = json_array_size(a->data_disks);
        json_t *v;
        json_array_foreach(a->data_disks, i, v) {
                _cleanup_free_ char *id = disk_id(a, json_string_value(v));
                json_t *e = id ? json_pack("{s:I, s:s, s:{s:s}}", "lun", (json_int_t)i,
                                           "createOption", "Attach", "managedDisk", "id", id)
                               : NULL;
                if (!disks || !e || json_array_append_new(disks, e) < 0)
                        return NULL;
        }
        json_array_foreach(a->data_sizes, i, v) {
                uint64_t gb = 0;
                (void)rp_parse_u64(json_string_value(v), &gb);
                json_t *e = json_pack("{s:I, s:s, s:I}", "lun", (json_int_t)(n + i), "createOption",
                                      "Empty", "diskSizeGB", (json_int_t)gb);
                if (!disks || !e || json_array_append_new(disks, e) < 0)
                        return NULL;
        }
        json_array_foreach(disks, i, v) {
                if (a->data_delete)
                        json_object_set_new(v, "deleteOption", json_string(a->data_delete));
        }
        return TAKE_PTR(disks);
}

static int vm_create(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(vm_args_done) vm_args a = { .cli = cli, .size = DEFAULT_VM_SIZE };
        int k = rp_cli_parse_args(cli, argc, argv, args_table,
                                  "resource-group! name! os-disk! data-disks data-disk-sizes-gb "
                                  "location size os-type os-disk-delete-option "
                                  "data-disk-delete-option tags no-wait",
                                  &a);
        if (k == 0)
                k = check_data_disks(&a);
        if (k == 0)
                k = rp_cli_connect(cli);
        _cleanup_free_ char *location = NULL;
        if (k == 0)
                k = a.location ? ((location = rp_strdup(a.location)) ? 0 : RP_CLI_EXIT_ERROR)
                               : rp_cli_group_location(cli, a.group, &location);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *data = data_disks(&a);
        _cleanup_free_ char *os_id = disk_id(&a, a.os_disk);
        _cleanup_free_ char *path = vm_path(&a);
        _cleanup_json_ json_t *os = os_id ? json_pack("{s:s, s:{s:s}}", "createOption", "Attach",
                                                      "managedDisk", "id", os_id)
                                          : NULL;
        if (!os || !path || !data)
                return RP_CLI_EXIT_ERROR;
        if (a.os_type)
                json_object_set_new(os, "osType", json_string(a.os_type));
        if (a.os_delete)
                json_object_set_new(os, "deleteOption", json_string(a.os_delete));
        _cleanup_json_ json_t *body =
                json_pack("{s:s, s:{s:{s:s}, s:{s:O, s:O}}}", "location", location, "properties",
                          "hardwareProfile", "vmSize", a.size, "storageProfile", "osDisk", os,
                          "dataDisks", data);
        if (!body || (a.tags && json_object_set(body, "tags", a.tags) < 0))
                return RP_CLI_EXIT_ERROR;
        rp_cli_set_resume(cli, (const char *[]){ "rpctl", "vm", "wait", "-g", a.group, "-n", a.name,
                                                 "--created", NULL });
        return rp_cli_send(cli, "PUT", path, RP_CLI_API_COMPUTE, body, a.no_wait, vm_columns);
}

/* ---------------------------------------------------------------- show, list */

static const char show_help[] =
        "Usage: rpctl vm show -g GROUP -n NAME [--instance-view]\n"
        "\n"
        "Show a virtual machine.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "  -n, --name NAME             the VM name\n"
        "      --instance-view         add its status and its disks' ($expand=instanceView)\n"
        "\n"
        "Examples:\n"
        "  rpctl vm show -g rg1 -n vm1\n"
        "  rpctl vm show -g rg1 -n vm1 --instance-view -o json\n";

static int vm_show(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(vm_args_done) vm_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group! name! instance-view",
                             &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *base = vm_path(&a);
        _cleanup_free_ char *path =
                base && a.instance_view ? rp_asprintf("%s?$expand=instanceView", base) : NULL;
        if (!base || (a.instance_view && !path))
                return RP_CLI_EXIT_ERROR;
        return rp_cli_show(cli, path ? path : base, RP_CLI_API_COMPUTE, vm_columns);
}

static const char list_help[] = "Usage: rpctl vm list [-g GROUP]\n"
                                "\n"
                                "List the virtual machines of a resource group, or of the whole\n"
                                "subscription.\n"
                                "\n"
                                "Options:\n"
                                "  -g, --resource-group GROUP  the resource group (default: all)\n"
                                "\n"
                                "Examples:\n"
                                "  rpctl vm list -g rg1\n"
                                "  rpctl vm list -o table\n";

static int vm_list(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(vm_args_done) vm_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = vm_path(&a);
        return rp_cli_list(cli, path, RP_CLI_API_COMPUTE, vm_columns);
}

/* ---------------------------------------------------------------- delete, wait */

static const char delete_help[] =
        "Usage: rpctl vm delete -g GROUP -n NAME [--no-wait] [--yes]\n"
        "\n"
        "Delete a virtual machine. Its disks are detached, and deleted only where their\n"
        "deleteOption is Delete (see 'rpctl vm create --os-disk-delete-option'). Its restore\n"
        "point collections stay. Deleting a VM that does not exist succeeds.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "  -n, --name NAME             the VM name\n"
        "      --no-wait               return once the deletion is accepted\n"
        "  -y, --yes                   accepted for az compatibility (rpctl never asks)\n"
        "\n"
        "Examples:\n"
        "  rpctl vm delete -g rg1 -n vm1 --yes\n"
        "  rpctl vm delete -g rg1 -n vm1 --no-wait && rpctl vm wait -g rg1 -n vm1 --deleted\n";

static int vm_delete(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(vm_args_done) vm_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group! name! no-wait yes", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = vm_path(&a);
        rp_cli_set_resume(cli, (const char *[]){ "rpctl", "vm", "wait", "-g", a.group, "-n", a.name,
                                                 "--deleted", NULL });
        return rp_cli_send(cli, "DELETE", path, RP_CLI_API_COMPUTE, NULL, a.no_wait, NULL);
}

static const char wait_help[] =
        "Usage: rpctl vm wait -g GROUP -n NAME --created|--updated|--deleted|--exists\n"
        "                     [--interval SECONDS] [--timeout SECONDS]\n"
        "\n"
        "Wait until a condition holds for a virtual machine.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "  -n, --name NAME             the VM name\n" RP_CLI_WAIT_HELP "\n"
        "Examples:\n"
        "  rpctl vm wait -g rg1 -n vm1 --created\n"
        "  rpctl vm wait -g rg1 -n vm1 --deleted --timeout 600\n";

static int vm_wait(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(vm_args_done) vm_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group! name!" RP_CLI_WAIT_SPEC,
                             &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = vm_path(&a);
        _cleanup_free_ char *what = rp_asprintf("Virtual machine '%s'", a.name);
        return what ? rp_cli_wait_resource(cli, path, RP_CLI_API_COMPUTE, what) : RP_CLI_EXIT_ERROR;
}

static const rp_cli_verb verbs[] = {
        { "create", "create a VM from managed disks", create_help, vm_create },
        { "show", "show a VM", show_help, vm_show },
        { "list", "list VMs", list_help, vm_list },
        { "delete", "delete a VM (its disks per deleteOption)", delete_help, vm_delete },
        { "wait", "wait for a condition on a VM", wait_help, vm_wait },
};

int rp_cmd_vm(int argc, char **argv)
{
        return rp_cli_dispatch("vm", "Manage virtual machines: a model and its managed disks.",
                               verbs, ELEMENTSOF(verbs), argc, argv);
}
