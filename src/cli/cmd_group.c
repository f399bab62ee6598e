/* cmd_group.c: rpctl group create|show|list|exists|delete|wait (Microsoft.Resources groups). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

static const rp_cli_column group_columns[] = {
        { "Name", "name" },
        { "Location", "location" },
        { "ProvisioningState", "properties.provisioningState" },
        {},
};

typedef struct group_args {
        const char *name;
        const char *location;
        json_t *tags;
        bool no_wait;
} group_args;

#define OFF(f) offsetof(group_args, f)
static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("name", 'n', RP_CLI_ARG_STRING, OFF(name), .alias = "resource-group",
                   .alias_short = 'g'),
        RP_CLI_ARG("location", 'l', RP_CLI_ARG_STRING, OFF(location)),
        RP_CLI_ARG("tags", 0, RP_CLI_ARG_TAGS, OFF(tags)),
        RP_CLI_ARG("no-wait", 0, RP_CLI_ARG_FLAG, OFF(no_wait)),
        RP_CLI_ARG("yes", 'y', RP_CLI_ARG_IGNORE, 0),
        {},
};

static void group_args_done(group_args *a)
{
        rp_cli_args_done(args_table, a);
}

static char *group_path(rp_cli *cli, const group_args *a)
{
        return a->name ? rp_cli_path("/subscriptions/%s/resourcegroups/%s", cli->subscription,
                                     a->name)
                       : rp_cli_path("/subscriptions/%s/resourcegroups", cli->subscription);
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
        _cleanup_(group_args_done) group_args a = {};
        int k = rp_cli_setup(cli, argc, argv, args_table, "name! location! tags", &a);
        if (k != 0)
                return k;
        _cleanup_json_ json_t *body = json_pack("{s:s}", "location", a.location);
        _cleanup_free_ char *path = group_path(cli, &a);
        if (!body || (a.tags && json_object_set(body, "tags", a.tags) < 0))
                return RP_CLI_EXIT_ERROR;
        return rp_cli_send(cli, "PUT", path, RP_CLI_API_RESOURCES, body, false, group_columns);
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
        _cleanup_(group_args_done) group_args a = {};
        int k = rp_cli_setup(cli, argc, argv, args_table, "name!", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = group_path(cli, &a);
        return rp_cli_show(cli, path, RP_CLI_API_RESOURCES, group_columns);
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
        _cleanup_(group_args_done) group_args a = {};
        int k = rp_cli_setup(cli, argc, argv, args_table, "name!", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = group_path(cli, &a);
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
        _cleanup_(group_args_done) group_args a = {};
        int k = rp_cli_setup(cli, argc, argv, args_table, "", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = group_path(cli, &a);
        return rp_cli_list(cli, path, RP_CLI_API_RESOURCES, group_columns);
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
        _cleanup_(group_args_done) group_args a = {};
        int k = rp_cli_setup(cli, argc, argv, args_table, "name! no-wait yes", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = group_path(cli, &a);
        rp_cli_set_resume(
                cli, (const char *[]){ "rpctl", "group", "wait", "-n", a.name, "--deleted", NULL });
        return rp_cli_send(cli, "DELETE", path, RP_CLI_API_RESOURCES, NULL, a.no_wait, NULL);
}

static const char wait_help[] =
        "Usage: rpctl group wait --name NAME --created|--updated|--deleted|--exists\n"
        "                        [--interval SECONDS] [--timeout SECONDS]\n"
        "\n"
        "Wait until a condition holds for a resource group.\n"
        "\n"
        "Options:\n"
        "  -n, -g, --name, --resource-group NAME  the group name\n" RP_CLI_WAIT_HELP "\n"
        "Examples:\n"
        "  rpctl group delete -n rg1 --no-wait\n"
        "  rpctl group wait -n rg1 --deleted\n";

static int group_wait(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(group_args_done) group_args a = {};
        int k = rp_cli_setup(cli, argc, argv, args_table, "name!" RP_CLI_WAIT_SPEC, &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = group_path(cli, &a);
        _cleanup_free_ char *what = rp_asprintf("Resource group '%s'", a.name);
        return what ? rp_cli_wait_resource(cli, path, RP_CLI_API_RESOURCES, what)
                    : RP_CLI_EXIT_ERROR;
}

static const rp_cli_verb verbs[] = {
        { "create", "create a resource group", create_help, group_create },
        { "show", "show a resource group", show_help, group_show },
        { "list", "list the resource groups", list_help, group_list },
        { "exists", "check whether a resource group exists", exists_help, group_exists },
        { "delete", "delete a resource group and its contents", delete_help, group_delete },
        { "wait", "wait for a condition on a resource group", wait_help, group_wait },
};

int rp_cmd_group(int argc, char **argv)
{
        return rp_cli_dispatch("group", "Manage resource groups.", verbs, ELEMENTSOF(verbs), argc,
                               argv);
}
