/* cmd_restore_point.c: rpctl restore-point create|show|list|delete|wait and rpctl
 * restore-point collection create|show|list|list-all|update|delete|wait, with the subcommand
 * and argument names of `az restore-point` and `az restore-point collection`.
 *
 * DESIGN: both levels share one argument table; each verb names the arguments it takes in its
 * spec, so that usage errors come first (exit 2) and never cost a request. Creating a restore
 * point waits for its operation by default, drawing its percentComplete through rp_cli_ops (a
 * bar on a terminal, plain lines elsewhere); when the point is a copy from another region,
 * its operation ends once the copy has started, and the command then follows the copy of
 * every disk (rp_cli_follow_copy(): bytes, rate and time left, from the instance view). The
 * result printed is a fresh GET of the point, as az prints it.
 * `restore-point list` is the collection's GET with $expand=restorePoints: ARM has no list
 * operation for the points of a collection. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

static const rp_cli_column rpc_columns[] = {
        { "Name", "name" },
        { "ResourceGroup", "@resourceGroup" },
        { "Location", "location" },
        { "ProvisioningState", "properties.provisioningState" },
        { "RestorePointCollectionId", "properties.restorePointCollectionId" },
        {},
};

static const rp_cli_column rp_columns[] = {
        { "Name", "name" },
        { "ResourceGroup", "@resourceGroup" },
        { "ConsistencyMode", "properties.consistencyMode" },
        { "ProvisioningState", "properties.provisioningState" },
        { "TimeCreated", "properties.timeCreated" },
        {},
};

/* The consistency modes of the API, as az offers them. */
static const char *const modes[] = { "CrashConsistent", "FileSystemConsistent",
                                     "ApplicationConsistent", NULL };

typedef struct rp_args {
        rp_cli *cli;
        const char *group, *collection, *name, *location, *source_id, *mode, *source_rp;
        json_t *tags, *exclude;
        bool no_wait, instance_view, restore_points, no_progress;
} rp_args;

#define OFF(f) offsetof(rp_args, f)
static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("resource-group", 'g', RP_CLI_ARG_STRING, OFF(group)),
        RP_CLI_ARG("collection-name", 0, RP_CLI_ARG_STRING, OFF(collection),
                   .alias = "restore-point-collection-name"),
        RP_CLI_ARG("name", 'n', RP_CLI_ARG_STRING, OFF(name), .alias = "restore-point-name"),
        RP_CLI_ARG("location", 'l', RP_CLI_ARG_STRING, OFF(location)),
        RP_CLI_ARG("source-id", 0, RP_CLI_ARG_STRING, OFF(source_id)),
        RP_CLI_ARG("exclude-disks", 0, RP_CLI_ARG_LIST, OFF(exclude)),
        RP_CLI_ARG("consistency-mode", 0, RP_CLI_ARG_CHOICE, OFF(mode), .choices = modes),
        RP_CLI_ARG("source-restore-point", 0, RP_CLI_ARG_STRING, OFF(source_rp)),
        RP_CLI_ARG("instance-view", 0, RP_CLI_ARG_FLAG, OFF(instance_view)),
        RP_CLI_ARG("restore-points", 0, RP_CLI_ARG_FLAG, OFF(restore_points)),
        RP_CLI_ARG("tags", 0, RP_CLI_ARG_TAGS, OFF(tags)),
        RP_CLI_ARG("no-wait", 0, RP_CLI_ARG_FLAG, OFF(no_wait)),
        RP_CLI_ARG("no-progress", 0, RP_CLI_ARG_FLAG, OFF(no_progress)),
        RP_CLI_ARG("yes", 'y', RP_CLI_ARG_IGNORE, 0),
        {},
};

static void rp_args_done(rp_args *a)
{
        rp_cli_args_done(args_table, a);
}

/* The arguments that name a collection, and a point of it. */
#define RPC_SPEC "resource-group! collection-name! "
#define RP_SPEC RPC_SPEC "name! "

/* The path of the collection (or, without -g, of all collections of the subscription), with
 * "/restorePoints/NAME" when @p point. */
static char *rpc_path(rp_args *a, bool point)
{
        const char *sub = a->cli->subscription;
        if (!a->group)
                return rp_cli_path("/subscriptions/%s/providers/Microsoft.Compute/"
                                   "restorePointCollections",
                                   sub);
        if (!a->collection)
                return rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                                   "Microsoft.Compute/restorePointCollections",
                                   sub, a->group);
        if (point)
                return rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/"
                                   "Microsoft.Compute/restorePointCollections/%s/restorePoints/%s",
                                   sub, a->group, a->collection, a->name);
        return rp_cli_path("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                           "restorePointCollections/%s",
                           sub, a->group, a->collection);
}

/* rp_cli_show() of @p base (NULL: out of memory), with $expand=@p expand when not NULL. */
static int show_expanded(rp_args *a, const char *base, const char *expand,
                         const rp_cli_column *cols)
{
        _cleanup_free_ char *path =
                base && expand ? rp_asprintf("%s?$expand=%s", base, expand) : NULL;
        if (!base || (expand && !path))
                return RP_CLI_EXIT_ERROR;
        return rp_cli_show(a->cli, path ? path : base, RP_CLI_API_COMPUTE, cols);
}

/* ================================================================ collections */

static const char rpc_create_help[] =
        "Usage: rpctl restore-point collection create -g GROUP --collection-name NAME\n"
        "                                             --source-id VM_ID [-l LOCATION]\n"
        "                                             [--tags KEY=VALUE ...]\n"
        "\n"
        "Create a restore point collection for a virtual machine, or update its tags. Only the\n"
        "tags of an existing collection may change.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP     the resource group\n"
        "      --collection-name NAME     the collection name (also\n"
        "                                 --restore-point-collection-name)\n"
        "      --source-id VM_ID          id of the source virtual machine\n"
        "  -l, --location LOCATION        region (default: the resource group's)\n"
        "      --tags KEY=VALUE ...       space-separated tags\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point collection create -g rg1 --collection-name c1 \\\n"
        "      --source-id /subscriptions/$SUB/resourceGroups/rg1/providers/"
        "Microsoft.Compute/virtualMachines/vm1\n"
        "  rpctl restore-point collection create -g rg1 --collection-name c1 \\\n"
        "      --source-id \"$VM_ID\" -l eastus --tags env=prod\n";

static int rpc_create(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, RPC_SPEC "source-id! location tags", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *location = NULL;
        if (a.location)
                location = rp_strdup(a.location);
        else
                k = rp_cli_group_location(cli, a.group, &location);
        if (k != 0 || !location)
                return k ? k : RP_CLI_EXIT_ERROR;
        _cleanup_json_ json_t *body = json_pack("{s:s, s:{s:{s:s}}}", "location", location,
                                                "properties", "source", "id", a.source_id);
        _cleanup_free_ char *path = rpc_path(&a, false);
        if (!body || (a.tags && json_object_set(body, "tags", a.tags) < 0))
                return RP_CLI_EXIT_ERROR;
        return rp_cli_send(cli, "PUT", path, RP_CLI_API_COMPUTE, body, false, rpc_columns);
}

static const char rpc_show_help[] =
        "Usage: rpctl restore-point collection show -g GROUP --collection-name NAME\n"
        "                                           [--restore-points]\n"
        "\n"
        "Show a restore point collection.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "      --collection-name NAME  the collection name\n"
        "      --restore-points        list its restore points too ($expand=restorePoints)\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point collection show -g rg1 --collection-name c1\n"
        "  rpctl restore-point collection show -g rg1 --collection-name c1 --restore-points\n";

static int rpc_show(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, RPC_SPEC "restore-points", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *base = rpc_path(&a, false);
        return show_expanded(&a, base, a.restore_points ? "restorePoints" : NULL, rpc_columns);
}

static const char rpc_list_help[] =
        "Usage: rpctl restore-point collection list [-g GROUP]\n"
        "\n"
        "List the restore point collections of a resource group, or (without -g) of the\n"
        "whole subscription.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group (default: all)\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point collection list -g rg1\n"
        "  rpctl restore-point collection list -o table\n";

static const char rpc_list_all_help[] =
        "Usage: rpctl restore-point collection list-all\n"
        "\n"
        "List the restore point collections of the subscription (as az's list-all; the same\n"
        "as 'list' without -g).\n"
        "\n"
        "Example:\n"
        "  rpctl restore-point collection list-all -o table\n";

static int rpc_list(rp_cli *cli, int argc, char **argv)
{
        bool all = strcmp(argv[0], "list-all") == 0;
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, all ? "" : "resource-group", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rpc_path(&a, false);
        return rp_cli_list(cli, path, RP_CLI_API_COMPUTE, rpc_columns);
}

static const char rpc_update_help[] =
        "Usage: rpctl restore-point collection update -g GROUP --collection-name NAME\n"
        "                                             --tags KEY=VALUE ...\n"
        "\n"
        "Change the tags of a restore point collection (PATCH: the tags given replace the\n"
        "old ones; --tags \"\" removes them all).\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "      --collection-name NAME  the collection name\n"
        "      --tags KEY=VALUE ...    space-separated tags\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point collection update -g rg1 --collection-name c1 --tags env=test\n"
        "  rpctl restore-point collection update -g rg1 --collection-name c1 --tags \"\"\n";

static int rpc_update(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, RPC_SPEC "tags!", &a);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *body = json_pack("{s:O}", "tags", a.tags);
        _cleanup_free_ char *path = rpc_path(&a, false);
        if (!body)
                return RP_CLI_EXIT_ERROR;
        return rp_cli_send(cli, "PATCH", path, RP_CLI_API_COMPUTE, body, false, rpc_columns);
}

static const char rpc_delete_help[] =
        "Usage: rpctl restore-point collection delete -g GROUP --collection-name NAME\n"
        "                                             [--no-wait] [--yes]\n"
        "\n"
        "Delete a restore point collection and all its restore points; the space they alone\n"
        "use is reclaimed by garbage collection. Deleting a collection that does not exist\n"
        "succeeds.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "      --collection-name NAME  the collection name\n"
        "      --no-wait               return once the deletion is accepted\n"
        "  -y, --yes                   accepted for az compatibility (rpctl never asks)\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point collection delete -g rg1 --collection-name c1\n"
        "  rpctl restore-point collection delete -g rg1 --collection-name c1 --no-wait\n";

static int rpc_delete(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, RPC_SPEC "no-wait yes", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rpc_path(&a, false);
        rp_cli_set_resume(cli, (const char *[]){ "rpctl", "restore-point", "collection", "wait",
                                                 "-g", a.group, "--collection-name", a.collection,
                                                 "--deleted", NULL });
        return rp_cli_send(cli, "DELETE", path, RP_CLI_API_COMPUTE, NULL, a.no_wait, NULL);
}

static const char rpc_wait_help[] =
        "Usage: rpctl restore-point collection wait -g GROUP --collection-name NAME\n"
        "                                           --created|--updated|--deleted|--exists\n"
        "                                           [--interval SECONDS] [--timeout SECONDS]\n"
        "\n"
        "Wait until a condition holds for a restore point collection.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group\n"
        "      --collection-name NAME  the collection name\n" RP_CLI_WAIT_HELP "\n"
        "Examples:\n"
        "  rpctl restore-point collection delete -g rg1 --collection-name c1 --no-wait\n"
        "  rpctl restore-point collection wait -g rg1 --collection-name c1 --deleted\n";

static int rpc_wait(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, RPC_SPEC RP_CLI_WAIT_SPEC, &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rpc_path(&a, false);
        _cleanup_free_ char *what = rp_asprintf("Restore point collection '%s'", a.collection);
        return what ? rp_cli_wait_resource(cli, path, RP_CLI_API_COMPUTE, what) : RP_CLI_EXIT_ERROR;
}

static const rp_cli_verb rpc_verbs[] = {
        { "create", "create a restore point collection", rpc_create_help, rpc_create },
        { "show", "show a restore point collection", rpc_show_help, rpc_show },
        { "list", "list restore point collections", rpc_list_help, rpc_list },
        { "list-all", "list the collections of the subscription", rpc_list_all_help, rpc_list },
        { "update", "change the tags of a collection", rpc_update_help, rpc_update },
        { "delete", "delete a collection and its restore points", rpc_delete_help, rpc_delete },
        { "wait", "wait for a condition on a collection", rpc_wait_help, rpc_wait },
};

/* ================================================================ restore points */

static const char rp_create_help[] =
        "Usage: rpctl restore-point create -g GROUP --collection-name C -n NAME\n"
        "                                  [--exclude-disks DISK ...] [--consistency-mode MODE]\n"
        "                                  [--source-restore-point ID] [--no-wait]\n"
        "                                  [--no-progress]\n"
        "\n"
        "Create a restore point of the collection's virtual machine: one crash-consistent\n"
        "cut of all its disks (application-consistent when the VM has a freeze hook), stored\n"
        "incrementally. Waits for the capture and shows its progress on stderr: a bar on a\n"
        "terminal, else a line every 10%. Ctrl-C stops waiting; the capture goes on (see\n"
        "'rpctl restore-point wait').\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP        the resource group of the collection\n"
        "      --collection-name C           the collection\n"
        "  -n, --name NAME                   the restore point name\n"
        "      --exclude-disks DISK ...      space-separated ids of disks to leave out (a\n"
        "                                    bare name means a disk of GROUP)\n"
        "      --consistency-mode MODE       CrashConsistent, FileSystemConsistent or\n"
        "                                    ApplicationConsistent (default: application-\n"
        "                                    consistent when possible)\n"
        "      --source-restore-point ID     copy this restore point instead\n"
        "      --no-wait                     return once the capture is accepted\n"
        "      --no-progress                 print no progress\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point create -g rg1 --collection-name c1 -n rp1\n"
        "  rpctl restore-point create -g rg1 --collection-name c1 -n rp2 \\\n"
        "      --consistency-mode CrashConsistent --exclude-disks scratch1\n"
        "  rpctl restore-point create -g rg1 --collection-name c1 -n rp3 --no-wait && \\\n"
        "      rpctl restore-point wait -g rg1 --collection-name c1 -n rp3 --created\n";

/* excludeDisks: [{id}], a bare disk name taken as a disk of -g. */
static json_t *exclude_list(rp_args *a)
{
        json_t *arr = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(a->exclude, i, v) {
                const char *s = json_string_value(v);
                _cleanup_free_ char *id =
                        strchr(s, '/') ? rp_strdup(s)
                                       : rp_cli_path("/subscriptions/%s/resourceGroups/%s/"
                                                     "providers/Microsoft.Compute/disks/%s",
                                                     a->cli->subscription, a->group, s);
                if (!arr || !id || json_array_append_new(arr, json_pack("{s:s}", "id", id)) < 0) {
                        if (arr)
                                json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

static int rp_create(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table,
                             RP_SPEC "exclude-disks consistency-mode source-restore-point no-wait "
                                     "no-progress",
                             &a);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *body = json_pack("{s:{}}", "properties");
        json_t *props = json_object_get(body, "properties");
        _cleanup_free_ char *path = rpc_path(&a, true);
        _cleanup_free_ char *label = rp_asprintf("restore point '%s'", a.name);
        if (!body || !path || !label)
                return RP_CLI_EXIT_ERROR;
        if (a.exclude) {
                json_t *ex = exclude_list(&a);
                if (!ex || json_object_set_new(props, "excludeDisks", ex) < 0)
                        return RP_CLI_EXIT_ERROR;
        }
        if (a.mode)
                json_object_set_new(props, "consistencyMode", json_string(a.mode));
        if (a.source_rp)
                json_object_set_new(props, "sourceRestorePoint",
                                    json_pack("{s:s}", "id", a.source_rp));
        rp_client_response r = {};
        k = rp_client_request(cli->client, "PUT", path, RP_CLI_API_COMPUTE, body, &r);
        if (k < 0)
                return rp_cli_fail_errno(cli, k, "PUT");
        if (!rp_client_response_ok(&r) || a.no_wait) { /* az prints nothing with --no-wait */
                k = rp_client_response_ok(&r) ? RP_CLI_EXIT_OK : rp_cli_fail_response(cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        rp_cli_set_resume(cli, (const char *[]){ "rpctl", "restore-point", "wait", "-g", a.group,
                                                 "--collection-name", a.collection, "-n", a.name,
                                                 "--replicated", NULL });
        /* the capture (or, for a copy, its start) is the operation; a copy then moves its
         * data in the background, which its instance view reports */
        _cleanup_(rp_cli_ops_done) rp_cli_ops ops;
        rp_cli_ops_init(&ops, "create", !a.no_progress);
        k = rp_cli_ops_add(&ops, label, "PUT", path, RP_CLI_API_COMPUTE, &r);
        if (k < 0) {
                rp_client_response_done(&r);
                return RP_CLI_EXIT_ERROR;
        }
        k = rp_cli_ops_wait(cli, &ops);
        if (k < 0)
                return rp_cli_fail_wait(cli, k);
        rp_client_response *fin = rp_cli_ops_response(&ops, 0);
        if (!rp_client_response_ok(fin))
                return rp_cli_fail_response(cli, fin);
        _cleanup_json_ json_t *point = NULL;
        k = rp_cli_follow_copy(cli, path, label, !a.no_progress, 0, &point);
        if (k != 0)
                return k;
        json_object_del(json_object_get(point, "properties"), "instanceView");
        rp_cli_print(cli, point, rp_columns); /* a fresh GET, as az prints it */
        return RP_CLI_EXIT_OK;
}

static const char rp_show_help[] =
        "Usage: rpctl restore-point show -g GROUP --collection-name C -n NAME [--instance-view]\n"
        "\n"
        "Show a restore point: its source VM's model at the cut (sourceMetadata) with the\n"
        "disk restore point of every captured disk.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group of the collection\n"
        "      --collection-name C     the collection\n"
        "  -n, --name NAME             the restore point name\n"
        "      --instance-view         add the status of the point and of its disk restore\n"
        "                              points ($expand=instanceView)\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point show -g rg1 --collection-name c1 -n rp1\n"
        "  rpctl restore-point show -g rg1 --collection-name c1 -n rp1 --instance-view\n";

static int rp_show(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, RP_SPEC "instance-view", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *base = rpc_path(&a, true);
        return show_expanded(&a, base, a.instance_view ? "instanceView" : NULL, rp_columns);
}

static const char rp_list_help[] =
        "Usage: rpctl restore-point list -g GROUP --collection-name C\n"
        "\n"
        "List the restore points of a collection.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group of the collection\n"
        "      --collection-name C     the collection\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point list -g rg1 --collection-name c1\n"
        "  rpctl restore-point list -g rg1 --collection-name c1 -o table\n";

static int rp_list(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, RPC_SPEC, &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *base = rpc_path(&a, false);
        _cleanup_free_ char *path = base ? rp_asprintf("%s?$expand=restorePoints", base) : NULL;
        _cleanup_json_ json_t *rpc = NULL;
        k = path ? rp_cli_get(cli, path, RP_CLI_API_COMPUTE, &rpc) : RP_CLI_EXIT_ERROR;
        if (k != 0)
                return k;
        json_t *points = rp_json_get_path(rpc, "properties.restorePoints");
        _cleanup_json_ json_t *empty = json_array();
        rp_cli_print(cli, json_is_array(points) ? points : empty, rp_columns);
        return RP_CLI_EXIT_OK;
}

static const char rp_delete_help[] =
        "Usage: rpctl restore-point delete -g GROUP --collection-name C -n NAME [--no-wait]\n"
        "                                  [--yes]\n"
        "\n"
        "Delete a restore point; the space no other point uses is reclaimed by garbage\n"
        "collection. Refused while one of its disk restore points has an active SAS.\n"
        "Deleting a restore point that does not exist succeeds.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group of the collection\n"
        "      --collection-name C     the collection\n"
        "  -n, --name NAME             the restore point name\n"
        "      --no-wait               return once the deletion is accepted\n"
        "  -y, --yes                   accepted for az compatibility (rpctl never asks)\n"
        "\n"
        "Examples:\n"
        "  rpctl restore-point delete -g rg1 --collection-name c1 -n rp1\n"
        "  rpctl restore-point delete -g rg1 --collection-name c1 -n rp1 --no-wait\n";

static int rp_delete(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, RP_SPEC "no-wait yes", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rpc_path(&a, true);
        rp_cli_set_resume(cli, (const char *[]){ "rpctl", "restore-point", "wait", "-g", a.group,
                                                 "--collection-name", a.collection, "-n", a.name,
                                                 "--deleted", NULL });
        return rp_cli_send(cli, "DELETE", path, RP_CLI_API_COMPUTE, NULL, a.no_wait, NULL);
}

static const char rp_wait_help[] =
        "Usage: rpctl restore-point wait -g GROUP --collection-name C -n NAME\n"
        "                                --created|--updated|--deleted|--exists|--replicated\n"
        "                                [--interval SECONDS] [--timeout SECONDS]\n"
        "                                [--no-progress]\n"
        "\n"
        "Wait until a condition holds for a restore point. --created ends when its\n"
        "provisioningState is Succeeded, and fails (exit 1, with the reason) when it is\n"
        "Failed. --replicated (rpd's own) waits for the point and, for a copy from another\n"
        "region, for every disk's copy to end, with its progress on stderr (fails with\n"
        "ReplicationFailed when a copy failed).\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group of the collection\n"
        "      --collection-name C     the collection\n"
        "  -n, --name NAME             the restore point name\n"
        "      --replicated            until its copy ended (points that are not copies: as\n"
        "                              --created)\n"
        "      --no-progress           print no progress (--replicated)\n" RP_CLI_WAIT_HELP "\n"
        "Examples:\n"
        "  rpctl restore-point wait -g rg1 --collection-name c1 -n rp1 --created\n"
        "  rpctl restore-point wait -g rg1 --collection-name west1 -n rp1 --replicated\n"
        "  rpctl restore-point wait -g rg1 --collection-name c1 -n rp1 --deleted --timeout 600\n";

static int rp_wait(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table,
                             RP_SPEC "no-progress replicated" RP_CLI_WAIT_SPEC, &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rpc_path(&a, true);
        _cleanup_free_ char *base = path ? rp_asprintf("%s?$expand=instanceView", path) : NULL;
        _cleanup_free_ char *what =
                rp_asprintf("Restore point '%s' of collection '%s'", a.name, a.collection);
        if (!base || !what)
                return RP_CLI_EXIT_ERROR;
        bool replicated = cli->wait.cond == RP_CLI_WAIT_REPLICATED;
        if (replicated)
                cli->wait.cond = RP_CLI_WAIT_CREATED;
        k = rp_cli_wait_resource(cli, base, RP_CLI_API_COMPUTE, what);
        if (k != 0 || !replicated)
                return k;
        _cleanup_free_ char *label = rp_asprintf("restore point '%s'", a.name);
        _cleanup_json_ json_t *point = NULL;
        return label ? rp_cli_follow_copy(cli, path, label, !a.no_progress, cli->wait.timeout_sec,
                                          &point)
                     : RP_CLI_EXIT_ERROR;
}

/* ================================================================ dispatch */

static int collection(rp_cli *cli, int argc, char **argv)
{
        return rp_cli_dispatch("restore-point collection",
                               "Manage restore point collections: the restore points of one "
                               "virtual machine.",
                               rpc_verbs, ELEMENTSOF(rpc_verbs), argc, argv);
}

static const rp_cli_verb rp_verbs[] = {
        { "create", "create a restore point of a VM, with progress", rp_create_help, rp_create },
        { "show", "show a restore point", rp_show_help, rp_show },
        { "list", "list the restore points of a collection", rp_list_help, rp_list },
        { "delete", "delete a restore point", rp_delete_help, rp_delete },
        { "wait", "wait for a condition on a restore point", rp_wait_help, rp_wait },
        { "collection", "manage restore point collections ('collection --help')", NULL,
          collection },
};

int rp_cmd_restore_point(int argc, char **argv)
{
        return rp_cli_dispatch("restore-point",
                               "Manage restore points: point-in-time copies of a virtual "
                               "machine's disks.",
                               rp_verbs, ELEMENTSOF(rp_verbs), argc, argv);
}
