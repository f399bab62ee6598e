/* cli.h: rpctl, the command-line client: the command table and shared helpers. */
#pragma once
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"
#include "util/time.h"

/** One subcommand: rpctl NAME ... */
typedef struct rp_cli_cmd {
        const char *name;
        const char *summary;
        int (*run)(int argc, char **argv); /**< argv[0] is the command name */
} rp_cli_cmd;

/** rpctl token --data DIR --subscription ID [--lifetime SECONDS] */
int rp_cmd_token(int argc, char **argv);
/** rpctl login --data DIR [--subscription ID]: write the config file. */
int rp_cmd_login(int argc, char **argv);
/** rpctl group create|show|list|exists|delete */
int rp_cmd_group(int argc, char **argv);
/** rpctl disk create|show|list|delete|grant-access|revoke-access|import|export */
int rp_cmd_disk(int argc, char **argv);

/* ---------------------------------------------------------------- exit codes */

#define RP_CLI_EXIT_OK 0
#define RP_CLI_EXIT_ERROR 1      /**< the API or the transport failed */
#define RP_CLI_EXIT_USAGE 2      /**< bad arguments */
#define RP_CLI_EXIT_CANCELED 130 /**< SIGINT or SIGTERM */

/** api-versions rpctl sends. */
#define RP_CLI_API_RESOURCES "2022-09-01"
#define RP_CLI_API_DISK "2024-03-02"

/** Set by SIGINT/SIGTERM (see rp_cli_signals_install()); requests and transfers stop. */
extern volatile sig_atomic_t rp_cli_cancel;

/** Catch SIGINT and SIGTERM once (a second signal kills), ignore SIGPIPE. */
void rp_cli_signals_install(void);

/* ---------------------------------------------------------------- output */

enum rp_cli_output {
        RP_CLI_OUTPUT_JSON,
        RP_CLI_OUTPUT_TABLE,
        RP_CLI_OUTPUT_TSV,
        RP_CLI_OUTPUT_NONE,
        _RP_CLI_OUTPUT_MAX,
        _RP_CLI_OUTPUT_INVALID = -EINVAL,
};

/** The name of @p o ("json", ...). */
const char *rp_cli_output_to_string(enum rp_cli_output o);
/** Parse an output format name. @return the format or _RP_CLI_OUTPUT_INVALID. */
enum rp_cli_output rp_cli_output_from_string(const char *s);

/** A column of table and tsv output: a header and a dotted JSON path ("properties.diskState").
 *  The path "@resourceGroup" is the resource group named in "id". A list ends with a NULL
 *  header. */
typedef struct rp_cli_column {
        const char *header;
        const char *path;
} rp_cli_column;

/* ---------------------------------------------------------------- one command run */

/** Option values of the options every API command takes (struct option.val). */
enum {
        RP_CLI_OPT_URL = 0x100,
        RP_CLI_OPT_CA,
        RP_CLI_OPT_TOKEN,
        RP_CLI_OPT_DATA,
        RP_CLI_OPT_SUBSCRIPTION,
        RP_CLI_OPT_CONFIG,
        RP_CLI_OPT_DEBUG,
        RP_CLI_OPT_HELP,
        RP_CLI_OPT_OUTPUT = 'o',
};

/** Short options of the common options (-h is RP_CLI_OPT_HELP too), to append to a command's
 *  optstring. */
#define RP_CLI_COMMON_SHORT "o:h"
/** Most long options of one command, the common ones included. */
#define RP_CLI_MAX_OPTIONS 48

/** The help text of the common options. */
extern const char rp_cli_common_help[];

/** The state of one API command: the connection flags, the output format and the client. */
typedef struct rp_cli {
        const char *prog;          /**< "rpctl disk create", for messages */
        const char *help;          /**< the verb's help text */
        bool help_complete;        /**< help already lists every option it takes */
        rp_client_settings flags;  /**< --url, --ca, --token, --subscription (owned) */
        const char *data;          /**< --data DIR */
        const char *config;        /**< --config FILE */
        enum rp_cli_output output; /**< -o */
        bool verbose;              /**< --debug */
        bool help_requested;       /**< --help seen */
        rp_client *client;         /**< after rp_cli_connect() */
        const char *subscription;  /**< the subscription in use, owned by client */
} rp_cli;

/** Empty @p cli (frees the client and flags). */
void rp_cli_done(rp_cli *cli);

/**
 * Handle a common option. @return 1 if @p c was one (stored in @p cli), 0 if not, or
 * RP_CLI_EXIT_USAGE negated after printing why a value is bad.
 */
int rp_cli_common_opt(rp_cli *cli, int c, const char *arg);

/**
 * Parse a command's argv with getopt_long (optstring must start with "+:"). @p longopts are
 * the command's own options (ending with an all-zero entry); the common options are added
 * and handled here, unknown or incomplete options are reported. @p on_opt handles the rest and
 * returns 0 or an exit code (> 0).
 * @return 0 to go on, -1 when --help was printed (exit 0), or an exit code.
 */
int rp_cli_parse(rp_cli *cli, int argc, char **argv, const char *shortopts,
                 const struct option *longopts,
                 int (*on_opt)(void *userdata, int c, char *arg, int argc, char **argv),
                 void *userdata);

/** Resolve the settings and create the client. @return 0 or an exit code (message printed). */
int rp_cli_connect(rp_cli *cli);

/** Print "ERROR: message" for a usage error, with a hint at --help. @return RP_CLI_EXIT_USAGE. */
int rp_cli_usage_error(rp_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Print "ERROR: (Code) message" of an API error. @return RP_CLI_EXIT_ERROR. */
int rp_cli_fail_error(rp_cli *cli, const rp_client_error *e);

/** rp_cli_fail_error() of a response's error (or its status when it has none). */
int rp_cli_fail_response(rp_cli *cli, const rp_client_response *r);

/** Report a failed call (a negative errno from rp_client_*): cancellation, transport error
 *  (with rp_client_last_error()) or another failure of @p what.
 *  @return RP_CLI_EXIT_CANCELED or RP_CLI_EXIT_ERROR. */
int rp_cli_fail_errno(rp_cli *cli, int k, const char *what);

/**
 * Send a request and, unless @p no_wait, follow its long-running operation to the end (with a
 * spinner on a terminal). @p ret holds the final response, whatever its status.
 * @return 0 when a response is in @p ret (check rp_client_response_ok()), or an exit code
 *         (already reported).
 */
int rp_cli_call(rp_cli *cli, const char *method, const char *path, const char *api_version,
                const json_t *body, bool no_wait, rp_client_response *ret);

/** Print @p v (an object or an array of objects) in the chosen format; NULL prints nothing.
 *  @p columns is for table and tsv (NULL: the scalar fields of the first object). */
void rp_cli_print(rp_cli *cli, const json_t *v, const rp_cli_column *columns);

/** An ARM path built from printf arguments, each %s a name (percent-encoded).
 *  @return the path, to rp_free(), or NULL on OOM. */
char *rp_cli_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * Take the tag arguments of --tags: @p arg and the following argv entries that do not start
 * with '-' (advancing optind), as az does: k=v (or k for an empty value); "" alone means no
 * tags.
 * @param[in,out] tags the object to add to (created when NULL).
 * @return 0 or RP_CLI_EXIT_USAGE (message printed).
 */
int rp_cli_parse_tags(rp_cli *cli, const char *arg, int argc, char **argv, json_t **tags);

/* ---------------------------------------------------------------- verbs */

/** One verb of a command group (rpctl disk create). */
typedef struct rp_cli_verb {
        const char *name;
        const char *summary;
        const char *help; /**< usage, options and examples; the common options are appended */
        int (*run)(rp_cli *cli, int argc, char **argv); /**< argv[0] is the verb */
} rp_cli_verb;

/** Run the verb named by argv[1] of the group argv[0]. @return the exit code. */
int rp_cli_dispatch(const char *group, const char *summary, const rp_cli_verb *verbs,
                    size_t n_verbs, int argc, char **argv);

/* ---------------------------------------------------------------- progress */

/** A progress display for a data transfer on stderr: a bar on a terminal, else lines. */
typedef struct rp_cli_progress {
        const char *label;   /**< "import" or "export" */
        bool enabled;        /**< false: print nothing */
        bool tty;            /**< stderr is a terminal */
        rp_usec_t start;     /**< monotonic start time */
        rp_usec_t last_line; /**< when the last plain line was printed */
        int last_step;       /**< last 10% step printed as a plain line */
        bool drawn;          /**< the bar is on screen */
} rp_cli_progress;

/** Start a display. */
void rp_cli_progress_init(rp_cli_progress *p, const char *label, bool enabled);
/** Print "label: message" on its own line (unless disabled). */
void rp_cli_progress_note(rp_cli_progress *p, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/** An rp_client_xfer_fn: @p userdata is the rp_cli_progress. */
void rp_cli_progress_update(const rp_client_xfer_stats *st, void *userdata);
/** Close the display: the final line with time, rate and skipped zeros (when @p ok). */
void rp_cli_progress_finish(rp_cli_progress *p, const rp_client_xfer_stats *st, bool ok);
/** Format @p n bytes with a binary unit ("64.0 MiB") into @p buf. @return buf. */
char *rp_cli_format_bytes(uint64_t n, char *buf, size_t size);
