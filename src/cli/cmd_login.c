/* cmd_login.c: rpctl login: remember how to reach an rpd in the config file. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"
#include "util/parse.h"
#include "util/time.h"

#define DEFAULT_LIFETIME_SEC (7u * 86400u)
#define MAX_LIFETIME_SEC (365u * 86400u)
#define API_SUBSCRIPTIONS "2022-12-01"

static const char help[] =
        "Usage: rpctl login --data DIR [--subscription ID] [--lifetime SECONDS]\n"
        "                   [--config FILE]\n"
        "\n"
        "Check that the rpd serving data directory DIR answers, then write its URL, its CA\n"
        "certificate and a bearer token for the subscription (signed with the key in DIR/auth)\n"
        "to the config file (mode 0600). Later commands then need no connection options;\n"
        "flags and RPD_URL, RPD_CA, RPD_TOKEN, RPD_SUBSCRIPTION still take precedence.\n"
        "\n"
        "Options:\n"
        "      --data DIR          the data directory of a running rpd (required)\n"
        "      --subscription ID   subscription the token grants and commands use\n"
        "                          (default " RP_CLIENT_DEFAULT_SUBSCRIPTION ")\n"
        "      --lifetime SECONDS  token lifetime (default 604800: 7 days)\n"
        "      --config FILE       the file to write (default: RPCTL_CONFIG, else\n"
        "                          ~/.config/rpctl/config)\n"
        "  -o, --output FORMAT     json (default), table, tsv or none\n"
        "\n"
        "Examples:\n"
        "  rpctl login --data ./data\n"
        "  rpctl login --data ./data --subscription 11111111-2222-3333-4444-555555555555\n"
        "  rpctl group list -o table\n";

typedef struct login_args {
        uint64_t lifetime;
        bool lifetime_given;
} login_args;

static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("lifetime", 0, RP_CLI_ARG_U64, offsetof(login_args, lifetime), .min = 1,
                   .max = MAX_LIFETIME_SEC, .given = offsetof(login_args, lifetime_given)),
        {},
};

static int login(rp_cli *cli, int argc, char **argv)
{
        login_args a = { .lifetime = DEFAULT_LIFETIME_SEC };
        int k = rp_cli_parse_args(cli, argc, argv, args_table, "lifetime", &a);
        if (k != 0)
                return k;
        if (!cli->data)
                return rp_cli_usage_error(cli, "the following arguments are required: --data");
        if (cli->flags.url || cli->flags.token || cli->flags.ca)
                return rp_cli_usage_error(cli, "--url, --ca and --token do not go with login: "
                                               "it takes them from --data");
        _cleanup_free_ char *msg = NULL, *path = NULL;
        rp_client_settings s = {};
        k = rp_client_settings_from_data_dir(cli->data, cli->flags.subscription, a.lifetime, &s,
                                             &msg);
        if (k < 0) {
                fprintf(stderr, "ERROR: %s\n", msg ? msg : strerror(-k));
                return k == -EINVAL ? RP_CLI_EXIT_USAGE : RP_CLI_EXIT_ERROR;
        }
        k = rp_client_new(&s, &cli->client);
        if (k < 0) {
                rp_client_settings_done(&s);
                fprintf(stderr, "ERROR: bad URL in %s/rpd.url: %s\n", cli->data, strerror(-k));
                return RP_CLI_EXIT_ERROR;
        }
        rp_client_set_cancel(cli->client, &rp_cli_cancel);
        rp_client_set_verbose(cli->client, cli->verbose);

        /* az login also proves the credentials before it stores them */
        _cleanup_free_ char *sub_path = rp_cli_path("/subscriptions/%s", s.subscription);
        rp_client_response r = {};
        k = sub_path ? rp_client_request(cli->client, "GET", sub_path, API_SUBSCRIPTIONS, NULL, &r)
                     : -ENOMEM;
        if (k < 0) {
                rp_client_settings_done(&s);
                return rp_cli_fail_errno(cli, k, "cannot reach rpd");
        }
        if (!rp_client_response_ok(&r)) {
                rp_client_settings_done(&s);
                k = rp_cli_fail_response(cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        rp_client_response_done(&r);

        k = cli->config ? ((path = rp_strdup(cli->config)) ? 0 : -ENOMEM)
                        : rp_client_config_path(&path);
        if (k >= 0)
                k = rp_client_config_save(path, &s);
        if (k < 0) {
                fprintf(stderr, "ERROR: cannot write the config file '%s': %s\n", rp_strempty(path),
                        strerror(-k));
                rp_client_settings_done(&s);
                return RP_CLI_EXIT_ERROR;
        }
        char expires[RP_RFC3339_LEN];
        rp_time_format(rp_now_realtime() + a.lifetime * RP_USEC_PER_SEC, expires);
        _cleanup_json_ json_t *out =
                json_pack("{s:s, s:s, s:s, s:s}", "subscription", s.subscription, "url", s.url,
                          "configFile", path, "tokenExpiresOn", expires);
        rp_client_settings_done(&s);
        rp_cli_print(cli, out, NULL);
        return RP_CLI_EXIT_OK;
}

int rp_cmd_login(int argc, char **argv)
{
        rp_cli cli = { .prog = "rpctl login", .help = help, .help_complete = true };
        int k = login(&cli, argc, argv);
        rp_cli_done(&cli);
        return k < 0 ? RP_CLI_EXIT_OK : k;
}
