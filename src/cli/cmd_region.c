/* cmd_region.c: rpctl region list|status: the regions of an rpd.
 *
 * `region list` is what ARM offers every client (GET /subscriptions/{id}/locations, as
 * `az account list-locations`); `region status` is the operator's view of the regions the
 * process hosts (GET /admin/regions[/{region}], any valid token): worker and job queue,
 * resource counts, copies in progress, chunk store and filesystem figures. */
#include <stddef.h>
#include <stdio.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

#define API_SUBSCRIPTIONS "2022-12-01"

static const rp_cli_column location_columns[] = {
        { "Name", "name" },
        { "DisplayName", "displayName" },
        { "RegionalDisplayName", "regionalDisplayName" },
        {},
};

static const rp_cli_column status_columns[] = {
        { "Name", "name" },
        { "DisplayName", "displayName" },
        { "WorkerRunning", "worker.running" },
        { "JobsPending", "worker.jobsPending" },
        { "Disks", "resources.disks" },
        { "Vms", "resources.virtualMachines" },
        { "RestorePoints", "resources.restorePoints" },
        { "CopiesInProgress", "copiesIn.inProgress" },
        { "CopiesFailed", "copiesIn.failed" },
        { "StoredBytes", "store.storedBytes" },
        { "FreeBytes", "filesystem.freeBytes" },
        {},
};

typedef struct region_args {
        const char *region;
} region_args;

static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("region", 'r', RP_CLI_ARG_STRING, offsetof(region_args, region)),
        {},
};

static const char list_help[] =
        "Usage: rpctl region list\n"
        "\n"
        "List the regions (ARM locations) the subscription can use: every region of this\n"
        "rpd (GET /subscriptions/{id}/locations, as 'az account list-locations').\n"
        "\n"
        "Examples:\n"
        "  rpctl region list\n"
        "  rpctl region list -o table\n";

static int region_list(rp_cli *cli, int argc, char **argv)
{
        region_args a = {};
        int k = rp_cli_setup(cli, argc, argv, args_table, "", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rp_cli_path("/subscriptions/%s/locations", cli->subscription);
        return rp_cli_list(cli, path, API_SUBSCRIPTIONS, location_columns);
}

static const char status_help[] =
        "Usage: rpctl region status [--region REGION]\n"
        "\n"
        "Show the state of the regions this rpd hosts (or of one): whether the region's\n"
        "worker runs and how many jobs (captures, copies, restores, deletes, gc) wait for it,\n"
        "the number of disks, VMs, restore point collections, restore points and disk restore\n"
        "points, the copies from other regions in progress or failed, the chunk store's\n"
        "chunks, packs and bytes, and the space left on its filesystem.\n"
        "\n"
        "Options:\n"
        "      --region REGION  one region (default: all)\n"
        "\n"
        "Examples:\n"
        "  rpctl region status -o table\n"
        "  rpctl region status --region westus\n";

static int region_status(rp_cli *cli, int argc, char **argv)
{
        region_args a = {};
        int k = rp_cli_setup(cli, argc, argv, args_table, "region", &a);
        if (k != 0)
                return k;
        if (a.region) {
                _cleanup_free_ char *path = rp_cli_path("/admin/regions/%s", a.region);
                return rp_cli_show(cli, path, NULL, status_columns);
        }
        _cleanup_json_ json_t *all = NULL;
        k = rp_cli_get(cli, "/admin/regions", NULL, &all);
        if (k != 0)
                return k;
        rp_cli_print(cli, json_object_get(all, "value"), status_columns);
        return RP_CLI_EXIT_OK;
}

static const rp_cli_verb verbs[] = {
        { "list", "list the regions (ARM locations)", list_help, region_list },
        { "status", "show the state of the regions this rpd hosts", status_help, region_status },
};

int rp_cmd_region(int argc, char **argv)
{
        return rp_cli_dispatch("region", "The regions of rpd.", verbs, ELEMENTSOF(verbs), argc,
                               argv);
}
