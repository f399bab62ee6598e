/* cli.h: rpctl, the command-line client: the command table and shared helpers. */
#pragma once

/** One subcommand: rpctl NAME ... */
typedef struct rp_cli_cmd {
        const char *name;
        const char *summary;
        int (*run)(int argc, char **argv); /**< argv[0] is the command name */
} rp_cli_cmd;

/** rpctl token --data DIR --subscription ID [--lifetime SECONDS] */
int rp_cmd_token(int argc, char **argv);
