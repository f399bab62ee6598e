/* cmd_restore_point.c: rpctl restore-point create|show|list|delete|wait and rpctl
 * restore-point collection create|show|list|list-all|update|delete|wait, with the subcommand
 * and argument names of `az restore-point` and `az restore-point collection`.
 *
 * DESIGN: both levels share one argument struct and one option handler; each verb lists the
 * options it takes and checks what it needs before connecting, so that usage errors come
 * first (exit 2) and never cost a request. Creating a restore point waits for its operation
 * by default, drawing its percentComplete through rp_cli_ops (a bar on a terminal, plain
 * lines elsewhere); the result printed is then a fresh GET of the point, as az prints it.
 * `restore-point list` is the collection's GET with $expand=restorePoints: ARM has no list
 * operation for the points of a collection. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

enum {
        OPT_TAGS = 0x200,
        OPT_NO_WAIT,
        OPT_COLLECTION,
        OPT_SOURCE_ID,
        OPT_EXCLUDE,
        OPT_MODE,
        OPT_SOURCE_RP,
        OPT_INSTANCE_VIEW,
        OPT_RESTORE_POINTS,
        OPT_NO_PROGRESS,
};

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
                                     "ApplicationConsistent" };

typedef struct rp_args {
        rp_cli *cli;
        const char *group, *collection, *name, *location, *source_id, *mode, *source_rp;
        json_t *tags, *exclude;
        bool no_wait, instance_view, restore_points, no_progress;
        rp_cli_wait_opts wait;
} rp_args;

static void rp_args_done(rp_args *a)
{
        if (a->tags)
                json_decref(a->tags);
        if (a->exclude)
                json_decref(a->exclude);
}

static int on_opt(void *userdata, int c, char *arg, int argc, char **argv)
{
        rp_args *a = userdata;
        int k = rp_cli_wait_opt(a->cli, &a->wait, c, arg);
        if (k != 0)
                return k > 0 ? 0 : -k;
        switch (c) {
        case 'g':
                a->group = arg;
                return 0;
        case 'n':
                a->name = arg;
                return 0;
        case 'l':
                a->location = arg;
                return 0;
        case 'y':
                return 0; /* az asks before deleting; rpctl never prompts */
        case OPT_COLLECTION:
                a->collection = arg;
                return 0;
        case OPT_TAGS:
                return rp_cli_parse_tags(a->cli, arg, argc, argv, &a->tags);
        case OPT_NO_WAIT:
                a->no_wait = true;
                return 0;
        case OPT_SOURCE_ID:
                a->source_id = arg;
                return 0;
        case OPT_EXCLUDE:
                return rp_cli_parse_list(a->cli, arg, argc, argv, &a->exclude);
        case OPT_MODE:
                for (size_t i = 0; i < ELEMENTSOF(modes); i++)
                        if (rp_strcaseeq(arg, modes[i])) {
                                a->mode = modes[i];
                                return 0;
                        }
                return rp_cli_usage_error(a->cli,
                                          "argument --consistency-mode: invalid choice '%s' "
                                          "(choose from CrashConsistent, FileSystemConsistent, "
                                          "ApplicationConsistent)",
                                          arg);
        case OPT_SOURCE_RP:
                a->source_rp = arg;
                return 0;
        case OPT_INSTANCE_VIEW:
                a->instance_view = true;
                return 0;
        case OPT_RESTORE_POINTS:
                a->restore_points = true;
                return 0;
        case OPT_NO_PROGRESS:
                a->no_progress = true;
                return 0;
        default:
                return rp_cli_usage_error(a->cli, "unrecognized argument: %s", argv[optind - 1]);
        }
}

/* What a verb needs. */
enum {
        NEED_GROUP = 1 << 0,
        NEED_COLLECTION = 1 << 1,
        NEED_NAME = 1 << 2,
};

/* Parse, check the required arguments (reported together, as az does), then connect unless
 * @p more_checks (the caller checks more, then connects). */
static int setup(rp_args *a, int argc, char **argv, const struct option *opts, unsigned need,
                 bool more_checks)
{
        rp_cli_wait_opts_init(&a->wait);
        int k = rp_cli_parse(a->cli, argc, argv, "+:g:n:l:y" RP_CLI_COMMON_SHORT, opts, on_opt, a);
        if (k != 0)
                return k;
        const char *missing[3];
        size_t n = 0;
        if ((need & NEED_GROUP) && !a->group)
                missing[n++] = "--resource-group/-g";
        if ((need & NEED_COLLECTION) && !a->collection)
                missing[n++] = "--collection-name";
        if ((need & NEED_NAME) && !a->name)
                missing[n++] = "--name/-n";
        if (n > 0)
                return rp_cli_usage_error(a->cli,
                                          "the following arguments are required: %s%s%s%s%s",
                                          missing[0], n > 1 ? ", " : "", n > 1 ? missing[1] : "",
                                          n > 2 ? ", " : "", n > 2 ? missing[2] : "");
        return more_checks ? 0 : rp_cli_connect(a->cli);
}

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

/* Send a request, fail on an error reply, print the final body with @p cols (unless NULL). */
static int call_and_print(rp_args *a, const char *method, const char *path, const json_t *body,
                          bool no_wait, const rp_cli_column *cols)
{
        rp_client_response r = {};
        int k = rp_cli_call(a->cli, method, path, RP_CLI_API_COMPUTE, body, no_wait, &r);
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r))
                k = rp_cli_fail_response(a->cli, &r);
        else if (cols && !(no_wait && r.status == 202))
                rp_cli_print(a->cli, r.body, cols);
        rp_client_response_done(&r);
        return k;
}

/* GET @p path and print it. */
static int show(rp_args *a, const char *path, const rp_cli_column *cols)
{
        _cleanup_json_ json_t *o = NULL;
        int k = rp_cli_get(a->cli, path, RP_CLI_API_COMPUTE, &o);
        if (k != 0)
                return k;
        rp_cli_print(a->cli, o, cols);
        return RP_CLI_EXIT_OK;
}

/* show() of @p base (NULL: out of memory), with $expand=@p expand when it is not NULL. */
static int show_expanded(rp_args *a, const char *base, const char *expand,
                         const rp_cli_column *cols)
{
        _cleanup_free_ char *path =
                base && expand ? rp_asprintf("%s?$expand=%s", base, expand) : NULL;
        if (!base || (expand && !path))
                return RP_CLI_EXIT_ERROR;
        return show(a, path ? path : base, cols);
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "source-id", required_argument, NULL, OPT_SOURCE_ID },
                { "location", required_argument, NULL, 'l' },
                { "tags", required_argument, NULL, OPT_TAGS },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION, true);
        if (k != 0)
                return k;
        if (!a.source_id)
                return rp_cli_usage_error(cli, "the following arguments are required: "
                                               "--source-id");
        k = rp_cli_connect(cli);
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
        if (!body || !path || (a.tags && json_object_set(body, "tags", a.tags) < 0))
                return RP_CLI_EXIT_ERROR;
        return call_and_print(&a, "PUT", path, body, false, rpc_columns);
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-points", no_argument, NULL, OPT_RESTORE_POINTS },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION, false);
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                {},
        };
        static const struct option opts_all[] = {
                {},
        };
        bool all = strcmp(argv[0], "list-all") == 0;
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, all ? opts_all : opts, 0, false);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rpc_path(&a, false);
        _cleanup_json_ json_t *items = NULL;
        rp_client_response r = {};
        k = path ? rp_client_list(cli->client, path, RP_CLI_API_COMPUTE, &items, &r) : -ENOMEM;
        if (k < 0)
                return rp_cli_fail_errno(cli, k, "list");
        if (!items)
                k = rp_cli_fail_response(cli, &r);
        else
                rp_cli_print(cli, items, rpc_columns);
        rp_client_response_done(&r);
        return k;
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "tags", required_argument, NULL, OPT_TAGS },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION, true);
        if (k != 0)
                return k;
        if (!a.tags)
                return rp_cli_usage_error(cli, "the following arguments are required: --tags");
        k = rp_cli_connect(cli);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *body = json_pack("{s:O}", "tags", a.tags);
        _cleanup_free_ char *path = rpc_path(&a, false);
        if (!body || !path)
                return RP_CLI_EXIT_ERROR;
        return call_and_print(&a, "PATCH", path, body, false, rpc_columns);
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "no-wait", no_argument, NULL, OPT_NO_WAIT },
                { "yes", no_argument, NULL, 'y' },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION, false);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rpc_path(&a, false);
        return path ? call_and_print(&a, "DELETE", path, NULL, a.no_wait, NULL) : RP_CLI_EXIT_ERROR;
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
        "      --collection-name NAME  the collection name\n";

static const char rpc_wait_examples[] =
        "\n"
        "Examples:\n"
        "  rpctl restore-point collection delete -g rg1 --collection-name c1 --no-wait\n"
        "  rpctl restore-point collection wait -g rg1 --collection-name c1 --deleted\n";

/* The wait verbs: the help text takes the wait options in. */
static int wait_verb(rp_args *a, int argc, char **argv, const struct option *opts, unsigned need,
                     const char *usage, const char *examples, bool point)
{
        _cleanup_free_ char *help = rp_asprintf("%s%s%s", usage, rp_cli_wait_help, examples);
        if (!help)
                return RP_CLI_EXIT_ERROR;
        a->cli->help = help;
        int k = setup(a, argc, argv, opts, need, true);
        a->cli->help = NULL;
        if (k != 0)
                return k;
        if (a->wait.cond == RP_CLI_WAIT_NONE)
                return rp_cli_usage_error(a->cli, "give one of --created, --updated, --deleted, "
                                                  "--exists");
        k = rp_cli_connect(a->cli);
        if (k != 0)
                return k;
        _cleanup_free_ char *base = rpc_path(a, point);
        _cleanup_free_ char *path =
                base && point ? rp_asprintf("%s?$expand=instanceView", base) : NULL;
        _cleanup_free_ char *what =
                point ? rp_asprintf("Restore point '%s' of collection '%s'", a->name, a->collection)
                      : rp_asprintf("Restore point collection '%s'", a->collection);
        if (!base || (point && !path) || !what)
                return RP_CLI_EXIT_ERROR;
        return rp_cli_wait_resource(a->cli, path ? path : base, RP_CLI_API_COMPUTE, what, &a->wait);
}

static int rpc_wait(rp_cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "created", no_argument, NULL, RP_CLI_OPT_WAIT_CREATED },
                { "updated", no_argument, NULL, RP_CLI_OPT_WAIT_UPDATED },
                { "deleted", no_argument, NULL, RP_CLI_OPT_WAIT_DELETED },
                { "exists", no_argument, NULL, RP_CLI_OPT_WAIT_EXISTS },
                { "interval", required_argument, NULL, RP_CLI_OPT_WAIT_INTERVAL },
                { "timeout", required_argument, NULL, RP_CLI_OPT_WAIT_TIMEOUT },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        return wait_verb(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION, rpc_wait_help,
                         rpc_wait_examples, false);
}

static const rp_cli_verb rpc_verbs[] = {
        { "create", "create a restore point collection", rpc_create_help, rpc_create },
        { "show", "show a restore point collection", rpc_show_help, rpc_show },
        { "list", "list restore point collections", rpc_list_help, rpc_list },
        { "list-all", "list the collections of the subscription", rpc_list_all_help, rpc_list },
        { "update", "change the tags of a collection", rpc_update_help, rpc_update },
        { "delete", "delete a collection and its restore points", rpc_delete_help, rpc_delete },
        { "wait", "wait for a condition on a collection", NULL, rpc_wait },
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "name", required_argument, NULL, 'n' },
                { "exclude-disks", required_argument, NULL, OPT_EXCLUDE },
                { "consistency-mode", required_argument, NULL, OPT_MODE },
                { "source-restore-point", required_argument, NULL, OPT_SOURCE_RP },
                { "no-wait", no_argument, NULL, OPT_NO_WAIT },
                { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION | NEED_NAME, false);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *body = json_pack("{s:{}}", "properties");
        json_t *props = json_object_get(body, "properties");
        _cleanup_free_ char *path = rpc_path(&a, true);
        if (!body || !path)
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
        if (!rp_client_response_ok(&r)) {
                k = rp_cli_fail_response(cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        if (a.no_wait) {
                rp_client_response_done(&r);
                return RP_CLI_EXIT_OK; /* az prints nothing either */
        }
        _cleanup_free_ char *label = rp_asprintf("restore point '%s'", a.name);
        _cleanup_(rp_cli_ops_done) rp_cli_ops ops;
        rp_cli_ops_init(&ops, "create", !a.no_progress);
        k = label ? rp_cli_ops_add(&ops, label, "PUT", path, RP_CLI_API_COMPUTE, &r) : -ENOMEM;
        if (k < 0) {
                rp_client_response_done(&r);
                return RP_CLI_EXIT_ERROR;
        }
        k = rp_cli_ops_wait(cli, &ops);
        if (k == -ECANCELED) {
                rp_cli_fail_errno(cli, k, "create");
                fprintf(stderr,
                        "The restore point is still being created; wait for it with: rpctl "
                        "restore-point wait -g %s --collection-name %s -n %s --created\n",
                        a.group, a.collection, a.name);
                return RP_CLI_EXIT_CANCELED;
        }
        if (k < 0)
                return rp_cli_fail_wait(cli, k);
        rp_client_response *fin = rp_cli_ops_response(&ops, 0);
        if (!rp_client_response_ok(fin))
                return rp_cli_fail_response(cli, fin);
        return show(&a, path, rp_columns);
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "name", required_argument, NULL, 'n' },
                { "instance-view", no_argument, NULL, OPT_INSTANCE_VIEW },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION | NEED_NAME, false);
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION, false);
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
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "name", required_argument, NULL, 'n' },
                { "no-wait", no_argument, NULL, OPT_NO_WAIT },
                { "yes", no_argument, NULL, 'y' },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION | NEED_NAME, false);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = rpc_path(&a, true);
        return path ? call_and_print(&a, "DELETE", path, NULL, a.no_wait, NULL) : RP_CLI_EXIT_ERROR;
}

static const char rp_wait_help[] =
        "Usage: rpctl restore-point wait -g GROUP --collection-name C -n NAME\n"
        "                                --created|--updated|--deleted|--exists\n"
        "                                [--interval SECONDS] [--timeout SECONDS]\n"
        "\n"
        "Wait until a condition holds for a restore point. --created ends when its\n"
        "provisioningState is Succeeded, and fails (exit 1, with the reason) when it is\n"
        "Failed.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP  the resource group of the collection\n"
        "      --collection-name C     the collection\n"
        "  -n, --name NAME             the restore point name\n";

static const char rp_wait_examples[] =
        "\n"
        "Examples:\n"
        "  rpctl restore-point wait -g rg1 --collection-name c1 -n rp1 --created\n"
        "  rpctl restore-point wait -g rg1 --collection-name c1 -n rp1 --deleted --timeout 600\n";

static int rp_wait(rp_cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                { "resource-group", required_argument, NULL, 'g' },
                { "collection-name", required_argument, NULL, OPT_COLLECTION },
                { "restore-point-collection-name", required_argument, NULL, OPT_COLLECTION },
                { "name", required_argument, NULL, 'n' },
                { "created", no_argument, NULL, RP_CLI_OPT_WAIT_CREATED },
                { "updated", no_argument, NULL, RP_CLI_OPT_WAIT_UPDATED },
                { "deleted", no_argument, NULL, RP_CLI_OPT_WAIT_DELETED },
                { "exists", no_argument, NULL, RP_CLI_OPT_WAIT_EXISTS },
                { "interval", required_argument, NULL, RP_CLI_OPT_WAIT_INTERVAL },
                { "timeout", required_argument, NULL, RP_CLI_OPT_WAIT_TIMEOUT },
                {},
        };
        _cleanup_(rp_args_done) rp_args a = { .cli = cli };
        return wait_verb(&a, argc, argv, opts, NEED_GROUP | NEED_COLLECTION | NEED_NAME,
                         rp_wait_help, rp_wait_examples, true);
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
        { "wait", "wait for a condition on a restore point", NULL, rp_wait },
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
