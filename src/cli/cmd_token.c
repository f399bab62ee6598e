/* cmd_token.c: rpctl token: print a bearer token signed with the daemon's key. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token.h"
#include "cli.h"
#include "util/alloc.h"
#include "util/macro.h"
#include "util/parse.h"

#define MAX_SUBS 16

static const char usage[] =
        "Usage: rpctl token --data DIR --subscription ID [--subscription ID ...]\n"
        "                   [--lifetime SECONDS]\n"
        "\n"
        "Print a bearer token (JWT) that rpd accepts for the given subscriptions. The token is\n"
        "signed with the key in DIR/auth, so run it on the machine that holds the data dir.\n"
        "A subscription comes into being on its first authorised use.\n"
        "\n"
        "Example:\n"
        "  export RPD_TOKEN=$(rpctl token --data ./data \\\n"
        "          --subscription 00000000-0000-0000-0000-000000000001)\n";

int rp_cmd_token(int argc, char **argv)
{
        static const struct option opts[] = {
                { "data", required_argument, NULL, 'd' },
                { "subscription", required_argument, NULL, 's' },
                { "lifetime", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *data = NULL, *subs[MAX_SUBS];
        size_t n = 0;
        uint64_t lifetime = 24 * 3600;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "d:s:t:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        data = optarg;
                        break;
                case 's':
                        if (n == MAX_SUBS) {
                                fprintf(stderr, "rpctl token: at most %d subscriptions\n",
                                        MAX_SUBS);
                                return 2;
                        }
                        subs[n++] = optarg;
                        break;
                case 't':
                        if (rp_parse_u64(optarg, &lifetime) < 0 || lifetime == 0 ||
                            lifetime > 365ull * 86400) {
                                fprintf(stderr, "rpctl token: bad --lifetime '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        }
        if (!data || n == 0) {
                fputs(usage, stderr);
                return 2;
        }
        _cleanup_free_ char *dir = rp_asprintf("%s/auth", data);
        rp_token_key *key = NULL;
        int k = dir ? rp_token_key_load_or_create(dir, &key) : -ENOMEM;
        if (k < 0) {
                fprintf(stderr, "rpctl token: cannot load the signing key in '%s': %s\n",
                        dir ? dir : data, strerror(-k));
                return 1;
        }
        _cleanup_free_ char *jwt = NULL;
        k = rp_token_issue(key, subs, n, lifetime, &jwt);
        rp_token_key_free(key);
        if (k == -EINVAL) {
                fprintf(stderr, "rpctl token: a subscription id must be a GUID\n");
                return 2;
        }
        if (k < 0) {
                fprintf(stderr, "rpctl token: %s\n", strerror(-k));
                return 1;
        }
        printf("%s\n", jwt);
        return 0;
}
