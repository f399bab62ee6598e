/* main.c: rpctl, the command-line client of rpd. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "util/macro.h"

int rp_cmd_deployment(int argc, char **argv); /* cmd_deployment.c */

static const rp_cli_cmd commands[] = {
        { "login", "remember an rpd (URL, CA, token) in the config file", rp_cmd_login },
        { "group", "manage resource groups", rp_cmd_group },
        { "disk", "manage disks; import and export raw images", rp_cmd_disk },
        { "vm", "manage virtual machines (a model and its disks)", rp_cmd_vm },
        { "restore-point", "manage restore points and their collections", rp_cmd_restore_point },
        { "restore", "restore a disk or a whole VM from a restore point", rp_cmd_restore },
        { "region", "list the regions; show the state of each", rp_cmd_region },
        { "deployment", "deploy ARM templates into resource groups", rp_cmd_deployment },
        { "scrub", "verify every stored chunk of a region", rp_cmd_scrub },
        { "gc", "reclaim the store space no restore point uses", rp_cmd_gc },
        { "token", "print a bearer token for a subscription", rp_cmd_token },
};

static void usage(FILE *f)
{
        fputs("Usage: rpctl COMMAND [ARGS...]\n"
              "\n"
              "The command-line client of rpd, the Azure restore point service. Subcommands\n"
              "and arguments follow az (az restore-point, az disk, az group); output is JSON\n"
              "by default (-o table|tsv|none); errors print \"ERROR: (Code) message\" and\n"
              "exit non-zero.\n"
              "\n"
              "Commands:\n",
              f);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
        fputs("\n"
              "Examples:\n"
              "  rpctl login --data /var/lib/rpd\n"
              "  rpctl disk import -g rg1 -n vm1-os -f os.raw --os-type Linux\n"
              "  rpctl vm create -g rg1 -n vm1 --os-disk vm1-os --data-disk-sizes-gb 64\n"
              "  rpctl restore-point collection create -g rg1 --collection-name c1 -l westus \\\n"
              "      --source-id $(rpctl vm show -g rg1 -n vm1 --query id -o tsv)\n"
              "  rpctl restore-point create -g rg1 --collection-name c1 -n rp1\n"
              "  rpctl restore vm -g rg1 --collection-name c1 --restore-point rp1 -n vm1-restored\n"
              "  rpctl region status -o table\n"
              "\n"
              "'rpctl COMMAND --help' shows the verbs or options of a command, with examples.\n"
              "\n"
              "Long operations (creating restore points, restores, imports) wait by default and\n"
              "draw their progress on stderr: bars on a terminal, plain lines otherwise, nothing\n"
              "with --no-wait or --no-progress. Ctrl-C stops waiting, not the operation: rpctl\n"
              "says how to wait for it again, and exits 130.\n"
              "\n"
              "Environment:\n"
              "  RPD_URL           https URL of rpd\n"
              "  RPD_TOKEN         bearer token\n"
              "  RPD_CA            CA certificate file to trust\n"
              "  RPD_SUBSCRIPTION  subscription to use\n"
              "  RPCTL_CONFIG      the config file (default ~/.config/rpctl/config, written by\n"
              "                    'rpctl login')\n"
              "Flags win over the environment, which wins over the config file; --data DIR\n"
              "takes the URL and CA from DIR and signs a token with its key.\n"
              "\n"
              "Exit status: 0 ok, 1 the request or operation failed (\"ERROR: (Code) message\"\n"
              "on stderr), 2 usage, 3 corrupt data found (scrub), 130 interrupted.\n",
              f);
}

int main(int argc, char **argv)
{
        rp_json_init();
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fputs("ERROR: cannot initialise libcurl\n", stderr);
                return 1;
        }
        rp_cli_signals_install();
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                usage(stdout);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                if (strcmp(argv[1], commands[i].name) == 0) {
                        int k = commands[i].run(argc - 1, argv + 1);
                        curl_global_cleanup();
                        return k;
                }
        }
        fprintf(stderr, "rpctl: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
}
