/* main.c: rpctl, the command-line client of rpd. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "util/macro.h"

static const rp_cli_cmd commands[] = {
        { "login", "remember an rpd (URL, CA, token) in the config file", rp_cmd_login },
        { "group", "manage resource groups", rp_cmd_group },
        { "disk", "manage disks; import and export raw images", rp_cmd_disk },
        { "token", "print a bearer token for a subscription", rp_cmd_token },
};

static void usage(FILE *f)
{
        fputs("Usage: rpctl COMMAND [ARGS...]\n\nCommands:\n", f);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
        fputs("\nrpctl COMMAND --help shows the options of a command.\n", f);
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
