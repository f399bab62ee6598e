/* cmd_admin.c: the commands of regions: rpctl scrub and rpctl gc, the operator commands of a
 * region's chunk store (POST /admin/regions/{region}/scrub and /gc; any valid token of the
 * deployment), and rpctl region list|status.
 *
 * `region list` is what ARM offers every client (GET /subscriptions/{id}/locations, as
 * `az account list-locations`); `region status` is the operator's view of the regions the
 * process hosts (GET /admin/regions[/{region}]): worker and job queue, resource counts,
 * copies in progress, chunk store and filesystem figures.
 *
 * DESIGN: scrub and gc are one request that rpd answers when the work is done, so the idle
 * timeout of the client is raised for them: a scrub re-hashes every chunk before it says a
 * word, and gc waits up to two minutes for the region worker before answering 202. A scrub
 * that finds corrupt chunks prints its report like any other and exits with
 * RP_CLI_EXIT_CORRUPT (3), distinct from a failed request (1), so that a cron job can alert
 * on it. All of them share the one argument these commands take, --region. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

/* A scrub of a large store may take hours without a byte on the wire. */
#define SCRUB_IDLE_TIMEOUT_SEC (24u * 3600u)
/* gc answers within about two minutes (then 202). */
#define GC_IDLE_TIMEOUT_SEC 600u

static const rp_cli_column scrub_columns[] = {
        { "Region", "region" },
        { "CheckedChunks", "checkedChunks" },
        { "CheckedBytes", "checkedBytes" },
        { "BadChunks", "badChunks" },
        { "Seconds", "seconds" },
        {},
};

static const rp_cli_column gc_columns[] = {
        { "Status", "status" },
        { "ChunksBefore", "chunksBefore" },
        { "ChunksAfter", "chunksAfter" },
        { "PacksBefore", "packsBefore" },
        { "PacksAfter", "packsAfter" },
        { "StoredBytesBefore", "storedBytesBefore" },
        { "StoredBytesAfter", "storedBytesAfter" },
        {},
};

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

typedef struct admin_args {
        const char *region;
} admin_args;

static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("region", 'r', RP_CLI_ARG_STRING, offsetof(admin_args, region)),
        {},
};

/* Parse --region, connect, POST .../{what} (saying so on a terminal, as the answer may take
 * long). @return 0 with the reply in @p ret (any status), or an exit code. */
static int admin_post(rp_cli *cli, admin_args *a, int argc, char **argv, const char *what,
                      const char *doing, unsigned idle_sec, rp_client_response *ret)
{
        int k = rp_cli_setup(cli, argc, argv, args_table, "region!", a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rp_cli_path("/admin/regions/%s/%s", a->region, what);
        if (!path)
                return RP_CLI_EXIT_ERROR;
        rp_client_set_idle_timeout(cli->client, idle_sec);
        if (isatty(STDERR_FILENO)) {
                fprintf(stderr, "%s: %s of region '%s' ...\n", what, doing, a->region);
                fflush(stderr);
        }
        k = rp_client_request(cli->client, "POST", path, NULL, NULL, ret);
        if (k < 0)
                return rp_cli_fail_errno(cli, k, what);
        return 0;
}

/* ---------------------------------------------------------------- scrub */

static const char scrub_help[] =
        "Usage: rpctl scrub --region REGION\n"
        "\n"
        "Verify the chunk store of a region: re-read and re-hash every stored chunk, and\n"
        "report the corrupt ones and the disk restore points they hurt (restoring those\n"
        "fails). Prints the report; exits with 3 when a chunk is corrupt, 1 when the scrub\n"
        "itself failed, 0 when all is well.\n"
        "\n"
        "Options:\n"
        "      --region REGION  the region (eastus, westus, ...)\n"
        "\n"
        "Examples:\n"
        "  rpctl scrub --region eastus\n"
        "  rpctl scrub --region eastus -o none || mail -s 'rpd: corrupt chunks' ops@example.com\n";

static int scrub(rp_cli *cli, int argc, char **argv)
{
        admin_args a = {};
        rp_client_response r = {};
        int k = admin_post(cli, &a, argc, argv, "scrub", "verifying every stored chunk",
                           SCRUB_IDLE_TIMEOUT_SEC, &r);
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r) || !json_is_object(r.body)) {
                k = rp_cli_fail_response(cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        rp_cli_print(cli, r.body, scrub_columns);
        json_int_t bad = json_integer_value(json_object_get(r.body, "badChunks"));
        json_int_t checked = json_integer_value(json_object_get(r.body, "checkedChunks"));
        json_t *hurt = json_object_get(r.body, "affectedDiskRestorePoints");
        if (bad > 0) {
                fprintf(stderr,
                        "ERROR: (DataCorrupted) %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
                        " chunk(s) of region '%s' failed verification; %zu disk restore "
                        "point(s) affected%s\n",
                        bad, checked, a.region, json_array_size(hurt),
                        json_array_size(hurt) ? ":" : ".");
                size_t i;
                json_t *id;
                json_array_foreach(hurt, i, id)
                        fprintf(stderr, "  %s\n", rp_strempty(json_string_value(id)));
                k = RP_CLI_EXIT_CORRUPT;
        }
        rp_client_response_done(&r);
        return k;
}

int rp_cmd_scrub(int argc, char **argv)
{
        return rp_cli_run("scrub", scrub_help, scrub, argc, argv);
}

/* ---------------------------------------------------------------- gc */

static const char gc_help[] =
        "Usage: rpctl gc --region REGION\n"
        "\n"
        "Reclaim the space of a region's chunk store that no disk restore point uses any more\n"
        "(after restore points are deleted). Runs as a job of the region, never beside a\n"
        "capture; prints the store's counters before and after. When the job takes over two\n"
        "minutes, prints its operation id and status InProgress: it goes on in rpd.\n"
        "\n"
        "Options:\n"
        "      --region REGION  the region (eastus, westus, ...)\n"
        "\n"
        "Examples:\n"
        "  rpctl gc --region eastus\n"
        "  rpctl gc --region westus -o table\n";

static int gc(rp_cli *cli, int argc, char **argv)
{
        admin_args a = {};
        rp_client_response r = {};
        int k = admin_post(cli, &a, argc, argv, "gc", "reclaiming unused chunks",
                           GC_IDLE_TIMEOUT_SEC, &r);
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r) || !json_is_object(r.body)) {
                k = rp_cli_fail_response(cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        const char *st = json_string_value(json_object_get(r.body, "status"));
        rp_cli_print(cli, r.body, gc_columns);
        if (r.status == 202)
                fprintf(stderr, "gc: still running in rpd as operation '%s'\n",
                        rp_strempty(json_string_value(json_object_get(r.body, "operation"))));
        else if (st && !rp_streq(st, "Succeeded")) {
                fprintf(stderr,
                        "ERROR: (OperationFailed) gc of region '%s' ended with status "
                        "'%s'\n",
                        a.region, st);
                k = RP_CLI_EXIT_ERROR;
        }
        rp_client_response_done(&r);
        return k;
}

int rp_cmd_gc(int argc, char **argv)
{
        return rp_cli_run("gc", gc_help, gc, argc, argv);
}

/* ---------------------------------------------------------------- region list, status */

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
        admin_args a = {};
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
        admin_args a = {};
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
