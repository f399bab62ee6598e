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
/** rpctl restore-point create|show|list|delete|wait, and rpctl restore-point collection
 *  create|show|list|list-all|update|delete|wait (cmd_restore_point.c, cmd_rpc.c) */
int rp_cmd_restore_point(int argc, char **argv);
/** rpctl restore disk|vm: a disk or a whole VM from a restore point */
int rp_cmd_restore(int argc, char **argv);
/** rpctl scrub --region R: verify every stored chunk of a region */
int rp_cmd_scrub(int argc, char **argv);
/** rpctl gc --region R: reclaim unreferenced chunks of a region */
int rp_cmd_gc(int argc, char **argv);

/* ---------------------------------------------------------------- exit codes */

#define RP_CLI_EXIT_OK 0
#define RP_CLI_EXIT_ERROR 1      /**< the API or the transport failed */
#define RP_CLI_EXIT_USAGE 2      /**< bad arguments */
#define RP_CLI_EXIT_CORRUPT 3    /**< rpctl scrub found corrupt data */
#define RP_CLI_EXIT_CANCELED 130 /**< SIGINT or SIGTERM */

/** api-versions rpctl sends. */
#define RP_CLI_API_RESOURCES "2022-09-01"
#define RP_CLI_API_DISK "2025-01-02"    /**< DiskRP: disks, disk restore points */
#define RP_CLI_API_COMPUTE "2024-11-01" /**< restore points, collections, VMs */

/** How long rpctl follows a long-running operation before giving up (seconds). */
#define RP_CLI_LRO_TIMEOUT_SEC 3600u

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

/** Run a command without verbs (rpctl scrub) the way rp_cli_dispatch() runs a verb: argv[0]
 *  is the command, @p help its help text. @return the exit code. */
int rp_cli_run(const char *name, const char *help, int (*run)(rp_cli *cli, int argc, char **argv),
               int argc, char **argv);

/* ---------------------------------------------------------------- shared requests */

/**
 * Take a space-separated list argument, as az does (--exclude-disks ID1 ID2): @p arg and the
 * following argv entries that do not start with '-' (advancing optind) are appended to
 * *@p list as strings.
 * @param[in,out] list the array to add to (created when NULL).
 * @return 0 or RP_CLI_EXIT_ERROR (out of memory).
 */
int rp_cli_parse_list(rp_cli *cli, const char *arg, int argc, char **argv, json_t **list);

/**
 * GET @p path and check that it answered a JSON object.
 * @param[out] ret the body, to json_decref(); untouched on failure.
 * @return 0 or an exit code (reported: the ARM error, e.g. "ERROR: (ResourceNotFound) ...").
 */
int rp_cli_get(rp_cli *cli, const char *path, const char *api_version, json_t **ret);

/**
 * Is the resource at @p path absent? A GET answering 404 says so; any other failure is
 * reported. @return 0 absent, 1 present (nothing printed), or an exit code (reported).
 */
int rp_cli_check_absent(rp_cli *cli, const char *path, const char *api_version);

/**
 * The location of resource group @p group (the default location of what is created in it, as
 * in az). @param[out] ret the name, to rp_free(). @return 0 or an exit code (reported).
 */
int rp_cli_group_location(rp_cli *cli, const char *group, char **ret);

/**
 * Report a failed wait for operations (see rp_cli_ops_wait()) or request: -ETIMEDOUT as
 * OperationTimeout, else as rp_cli_fail_errno(). @return the exit code.
 */
int rp_cli_fail_wait(rp_cli *cli, int k);

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
/** Format @p sec as "m:ss" or "h:mm:ss" ("--:--" when negative or huge) into @p buf. */
void rp_cli_format_duration(double sec, char *buf, size_t size);

/* ---------------------------------------------------------------- several operations */

/** One long-running operation of an rp_cli_ops display. Fields are read-only for callers. */
typedef struct rp_cli_op {
        char *name;           /**< "disk 'vm2_os'" (owned) */
        rp_client_lro *lro;   /**< the follower (owned) */
        rp_usec_t start, end; /**< monotonic times; end is 0 while running */
        rp_usec_t next_poll;  /**< when to step it next */
        rp_usec_t last_line;  /**< when its last plain line was printed */
        int last_step;        /**< its last 10% step printed as a plain line */
        char *last_status;    /**< the status of its last plain line (owned) */
} rp_cli_op;

/**
 * Several long-running operations followed together on one client, with progress on stderr:
 * on a terminal one row per operation redrawn in place,
 *   disk 'vm2_os'     [##########..........]  50%  0:04  0:04 left
 * elsewhere plain lines "label: NAME: 50% (InProgress), 0:04 elapsed, 0:04 left" at every
 * 10% step, on a change of status and at least every 5 s, and "label: NAME: Succeeded in
 * 1.2 s" at the end. A zeroed struct after rp_cli_ops_init() is empty.
 */
typedef struct rp_cli_ops {
        const char *label; /**< "create", "restore" */
        bool enabled;      /**< false: print nothing */
        bool tty;          /**< stderr is a terminal */
        size_t n;          /**< operations */
        rp_cli_op *ops;    /**< owned */
        size_t drawn_rows; /**< rows on screen (terminal) */
} rp_cli_ops;

/** Start an empty display. */
void rp_cli_ops_init(rp_cli_ops *o, const char *label, bool enabled);
/** Free what @p o holds. */
void rp_cli_ops_done(rp_cli_ops *o);

/**
 * Add an operation started by @p resp (the reply to @p method @p path), which is taken over
 * (zeroed). A plain "label: NAME: started" line is printed.
 * @return its index, or -E2BIG (over 256 operations) or -ENOMEM (then @p resp is untouched).
 */
int rp_cli_ops_add(rp_cli_ops *o, const char *name, const char *method, const char *path,
                   const char *api_version, rp_client_response *resp);

/**
 * Follow every operation to its end (at most RP_CLI_LRO_TIMEOUT_SEC), polling each when its
 * Retry-After says, drawing the progress.
 * @return 0 when all have ended (check each one's rp_client_lro_response()), or a negative
 *         errno: -ECANCELED (Ctrl-C), -ETIMEDOUT, or a transport error. Nothing is reported.
 */
int rp_cli_ops_wait(rp_cli *cli, rp_cli_ops *o);

/** The final response of operation @p i, owned by @p o. */
rp_client_response *rp_cli_ops_response(rp_cli_ops *o, size_t i);

/* ---------------------------------------------------------------- az-style wait */

/** What `rpctl ... wait` waits for (az's --created, --updated, --deleted, --exists). */
enum rp_cli_wait_for {
        RP_CLI_WAIT_NONE,
        RP_CLI_WAIT_CREATED, /**< provisioningState ends: Succeeded is success, Failed fails */
        RP_CLI_WAIT_UPDATED, /**< the same as created */
        RP_CLI_WAIT_DELETED, /**< a GET answers 404 */
        RP_CLI_WAIT_EXISTS,  /**< a GET answers 200 */
        _RP_CLI_WAIT_MAX,
        _RP_CLI_WAIT_INVALID = -EINVAL,
};

/** Options of a wait verb. */
typedef struct rp_cli_wait_opts {
        enum rp_cli_wait_for cond; /**< what to wait for (RP_CLI_WAIT_NONE: not given) */
        uint64_t interval_sec;     /**< between polls (--interval, default 2) */
        uint64_t timeout_sec;      /**< give up after (--timeout, default 3600) */
} rp_cli_wait_opts;

/** Option values of the wait options: a wait verb lists { "created", no_argument, NULL,
 *  RP_CLI_OPT_WAIT_CREATED } and the others in its option table. */
enum {
        RP_CLI_OPT_WAIT_CREATED = 0x180,
        RP_CLI_OPT_WAIT_UPDATED,
        RP_CLI_OPT_WAIT_DELETED,
        RP_CLI_OPT_WAIT_EXISTS,
        RP_CLI_OPT_WAIT_INTERVAL,
        RP_CLI_OPT_WAIT_TIMEOUT,
};

/** The help text of the wait options. */
extern const char rp_cli_wait_help[];

/** Default rp_cli_wait_opts. */
void rp_cli_wait_opts_init(rp_cli_wait_opts *w);

/** Handle a wait option. @return 1 if @p c was one, 0 if not, or -RP_CLI_EXIT_USAGE after
 *  printing why its value is bad (as rp_cli_common_opt()). */
int rp_cli_wait_opt(rp_cli *cli, rp_cli_wait_opts *w, int c, const char *arg);

/**
 * Poll @p path (a GET with @p api_version) every w->interval_sec until w->cond holds. A
 * provisioningState Failed ends a --created/--updated wait with an error naming @p what and
 * the message of an Error status of properties.instanceView, if any.
 * @return 0, or an exit code (reported): a failed GET, Failed, OperationTimeout, Ctrl-C.
 */
int rp_cli_wait_resource(rp_cli *cli, const char *path, const char *api_version, const char *what,
                         const rp_cli_wait_opts *w);
