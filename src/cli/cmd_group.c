/* cmd_group.c: rpctl group create|show|list|exists|delete (Microsoft.Resources groups). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

enum {
        OPT_TAGS = 0x200,
        OPT_NO_WAIT,
};

static const rp_cli_column group_columns[] = {
        { "Name", "name" },
        { "Location", "location" },
        { "ProvisioningState", "properties.provisioningState" },
        {},
};

typedef struct group_args {
        rp_cli *cli;
        const char *name;
        const char *location;
        json_t *tags;
        bool no_wait;
} group_args;

static void group_args_done(group_args *a)
{
        if (a->tags)
                json_decref(a->tags);
}

static int on_opt(void *userdata, int c, char *arg, int argc, char **argv)
{
        group_args *a = userdata;
        switch (c) {
        case 'n':
        case 'g':
                a->name = arg;
                return 0;
        case 'l':
                a->location = arg;
                return 0;
        case OPT_TAGS:
                return rp_cli_parse_tags(a->cli, arg, argc, argv, &a->tags);
        case OPT_NO_WAIT:
                a->no_wait = true;
                return 0;
        case 'y':
                return 0; /* az asks before deleting; rpctl never prompts */
        default:
                return rp_cli_usage_error(a->cli, "unrecognized argument: %s", argv[optind - 1]);
        }
}

/* Parse, check that a name was given when @p need_name and, unless @p more_checks, connect.
 * Every argument is checked before connecting, so usage errors come first. */
static int setup(group_args *a, int argc, char **argv, const struct option *opts, bool need_name,
                 bool more_checks)
{
        int k = rp_cli_parse(a->cli, argc, argv, "+:n:g:l:y" RP_CLI_COMMON_SHORT, opts, on_opt, a);
        if (k != 0)
                return k;
        if (need_name && !a->name)
                return rp_cli_usage_error(a->cli, "the following arguments are required: "
                                                  "--name/-n");
        return more_checks ? 0 : rp_cli_connect(a->cli);
}

static char *group_path(group_args *a)
{
        return a->name ? rp_cli_path("/subscriptions/%s/resourcegroups/%s", a->cli->subscription,
                                     a->name)
                       : rp_cli_path("/subscriptions/%s/resourcegroups", a->cli->subscription);
}

/* Run a simple request and print its final body. */
static int call_and_print(group_args *a, const char *method, const json_t *body, bool print)
{
        _cleanup_free_ char *path = group_path(a);
        if (!path)
                return RP_CLI_EXIT_ERROR;
        rp_client_response r = {};
        int k = rp_cli_call(a->cli, method, path, RP_CLI_API_RESOURCES, body, a->no_wait, &r);
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r))
                k = rp_cli_fail_response(a->cli, &r);
        else if (print)
                rp_cli_print(a->cli, r.body, group_columns);
        rp_client_response_done(&r);
        return k;
}

/* ---------------------------------------------------------------- verbs */

static const char create_help[] =
        "Usage: rpctl group create --name NAME --location LOCATION [--tags KEY=VALUE ...]\n"
        "\n"
        "Create a resource group, or update the tags of an existing one.\n"
        "\n"
        "Options:\n"
        "  -n, -g, --name, --resource-group NAME  the group name\n"
        "  -l, --location LOCATION                region (eastus, westus, ...)\n"
        "      --tags KEY=VALUE ...               space-separated tags; \"\" clears them\n"
        "\n"
        "Examples:\n"
        "  rpctl group create -n rg1 -l eastus\n"
        "  rpctl group create -n rg1 -l eastus --tags env=test owner=me\n";

static int group_create(rp_cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                { "name", required_argument, NULL, 'n' },
                { "resource-group", required_argument, NULL, 'g' },
                { "location", required_argument, NULL, 'l' },
                { "tags", required_argument, NULL, OPT_TAGS },
                {},
        };
        _cleanup_(group_args_done) group_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, true, true);
        if (k != 0)
                return k;
        if (!a.location)
                return rp_cli_usage_error(cli, "the following arguments are required: "
                                               "--location/-l");
        k = rp_cli_connect(cli);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *body = json_pack("{s:s}", "location", a.location);
        if (!body || (a.tags && json_object_set(body, "tags", a.tags) < 0))
                return RP_CLI_EXIT_ERROR;
        return call_and_print(&a, "PUT", body, true);
}

static const char show_help[] = "Usage: rpctl group show --name NAME\n"
                                "\n"
                                "Show a resource group.\n"
                                "\n"
                                "Options:\n"
                                "  -n, -g, --name, --resource-group NAME  the group name\n"
                                "\n"
                                "Examples:\n"
                                "  rpctl group show -n rg1\n"
                                "  rpctl group show -n rg1 -o tsv\n";

static int group_show(rp_cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                { "name", required_argument, NULL, 'n' },
                { "resource-group", required_argument, NULL, 'g' },
                {},
        };
        _cleanup_(group_args_done) group_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, true, false);
        if (k != 0)
                return k;
        return call_and_print(&a, "GET", NULL, true);
}

static const char exists_help[] = "Usage: rpctl group exists --name NAME\n"
                                  "\n"
                                  "Print true if the resource group exists, else false.\n"
                                  "\n"
                                  "Options:\n"
                                  "  -n, -g, --name, --resource-group NAME  the group name\n"
                                  "\n"
                                  "Example:\n"
                                  "  rpctl group exists -n rg1\n";

static int group_exists(rp_cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                { "name", required_argument, NULL, 'n' },
                { "resource-group", required_argument, NULL, 'g' },
                {},
        };
        _cleanup_(group_args_done) group_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, true, false);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = group_path(&a);
        rp_client_response r = {};
        k = path ? rp_client_request(cli->client, "HEAD", path, RP_CLI_API_RESOURCES, NULL, &r)
                 : -ENOMEM;
        if (k < 0)
                return rp_cli_fail_errno(cli, k, "HEAD");
        if (r.status == 204 || r.status == 200 || r.status == 404) {
                puts(r.status == 404 ? "false" : "true");
                k = RP_CLI_EXIT_OK;
        } else {
                k = rp_cli_fail_response(cli, &r);
        }
        rp_client_response_done(&r);
        return k;
}

static const char list_help[] = "Usage: rpctl group list\n"
                                "\n"
                                "List the resource groups of the subscription.\n"
                                "\n"
                                "Examples:\n"
                                "  rpctl group list\n"
                                "  rpctl group list -o table\n";

static int group_list(rp_cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                {},
        };
        _cleanup_(group_args_done) group_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, false, false);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = group_path(&a);
        _cleanup_json_ json_t *items = NULL;
        rp_client_response r = {};
        k = path ? rp_client_list(cli->client, path, RP_CLI_API_RESOURCES, &items, &r) : -ENOMEM;
        if (k < 0)
                return rp_cli_fail_errno(cli, k, "list");
        if (!items)
                k = rp_cli_fail_response(cli, &r);
        else
                rp_cli_print(cli, items, group_columns);
        rp_client_response_done(&r);
        return k;
}

static const char delete_help[] =
        "Usage: rpctl group delete --name NAME [--no-wait] [--yes]\n"
        "\n"
        "Delete a resource group and every resource in it. Deleting a group that does not\n"
        "exist succeeds.\n"
        "\n"
        "Options:\n"
        "  -n, -g, --name, --resource-group NAME  the group name\n"
        "      --no-wait                          return once the deletion is accepted\n"
        "  -y, --yes                              accepted for az compatibility (rpctl never\n"
        "                                         asks)\n"
        "\n"
        "Examples:\n"
        "  rpctl group delete -n rg1\n"
        "  rpctl group delete -n rg1 --no-wait\n";

static int group_delete(rp_cli *cli, int argc, char **argv)
{
        static const struct option opts[] = {
                { "name", required_argument, NULL, 'n' },
                { "resource-group", required_argument, NULL, 'g' },
                { "no-wait", no_argument, NULL, OPT_NO_WAIT },
                { "yes", no_argument, NULL, 'y' },
                {},
        };
        _cleanup_(group_args_done) group_args a = { .cli = cli };
        int k = setup(&a, argc, argv, opts, true, false);
        if (k != 0)
                return k;
        return call_and_print(&a, "DELETE", NULL, false);
}

static const rp_cli_verb verbs[] = {
        { "create", "create a resource group", create_help, group_create },
        { "show", "show a resource group", show_help, group_show },
        { "list", "list the resource groups", list_help, group_list },
        { "exists", "check whether a resource group exists", exists_help, group_exists },
        { "delete", "delete a resource group and its contents", delete_help, group_delete },
};

int rp_cmd_group(int argc, char **argv)
{
        return rp_cli_dispatch("group", "Manage resource groups.", verbs, ELEMENTSOF(verbs), argc,
                               argv);
}
