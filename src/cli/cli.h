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
/** rpctl vm create|show|list|delete|wait */
int rp_cmd_vm(int argc, char **argv);
/** rpctl region list|status */
int rp_cmd_region(int argc, char **argv);
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

/** What `rpctl ... wait` waits for (az's --created, --updated, --deleted, --exists). */
enum rp_cli_wait_for {
        RP_CLI_WAIT_NONE,
        RP_CLI_WAIT_CREATED,    /**< provisioningState ends: Succeeded is success, Failed fails */
        RP_CLI_WAIT_UPDATED,    /**< the same as created */
        RP_CLI_WAIT_DELETED,    /**< a GET answers 404 */
        RP_CLI_WAIT_EXISTS,     /**< a GET answers 200 */
        RP_CLI_WAIT_REPLICATED, /**< a restore point's copy ended (rpd's own condition) */
        _RP_CLI_WAIT_MAX,
        _RP_CLI_WAIT_INVALID = -EINVAL,
};

/** Options of a wait verb (--created ... --interval, --timeout), kept in rp_cli. */
typedef struct rp_cli_wait_opts {
        enum rp_cli_wait_for cond; /**< what to wait for (RP_CLI_WAIT_NONE: not given) */
        uint64_t interval_sec;     /**< between polls (--interval, default 2) */
        uint64_t timeout_sec;      /**< give up after (--timeout, default 3600) */
        bool interval_given;       /**< --interval was given */
        bool timeout_given;        /**< --timeout was given */
} rp_cli_wait_opts;

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
        const char *query;         /**< --query PATH: print only that field */
        bool verbose;              /**< --debug */
        bool help_requested;       /**< --help seen */
        rp_cli_wait_opts wait;     /**< the wait options, for the verbs that take them */
        char *resume;              /**< the command that waits again after Ctrl-C (owned) */
        rp_client *client;         /**< after rp_cli_connect() */
        const char *subscription;  /**< the subscription in use, owned by client */
} rp_cli;

/** Empty @p cli (frees the client, flags and resume). */
void rp_cli_done(rp_cli *cli);

/* ---------------------------------------------------------------- arguments */

/** How a command argument is stored in the command's argument struct (see rp_cli_arg). */
enum rp_cli_arg_kind {
        RP_CLI_ARG_STRING, /**< const char *: the argv string */
        RP_CLI_ARG_FLAG,   /**< bool: set to true; takes no value */
        RP_CLI_ARG_SET,    /**< int (or enum): set to .value; takes no value (--created) */
        RP_CLI_ARG_IGNORE, /**< nothing; takes no value (az's --yes: rpctl never asks) */
        RP_CLI_ARG_CHOICE, /**< const char *: one of .choices in any case, stored as spelled
                                there */
        RP_CLI_ARG_U64,    /**< uint64_t from .min to .max; the bool at .given is set */
        RP_CLI_ARG_LIST,   /**< json_t * array of strings: the value and the following argv
                                entries that do not start with '-' (az's space-separated lists) */
        RP_CLI_ARG_TAGS,   /**< json_t * object: KEY=VALUE (or KEY) values taken as LIST does;
                                "" alone means no tags */
        _RP_CLI_ARG_KIND_MAX,
        _RP_CLI_ARG_KIND_INVALID = -EINVAL,
};

/**
 * One argument a command group takes. A group lists all its arguments in one table (ending
 * with an entry whose name is NULL) over one argument struct; each verb names the ones it
 * takes in a spec string (see rp_cli_parse_args()).
 */
typedef struct rp_cli_arg {
        const char *name;           /**< long name without "--": "resource-group" */
        char short_name;            /**< 'g', or 0 */
        enum rp_cli_arg_kind kind;  /**< how the value is stored */
        size_t offset;              /**< of the value in the argument struct */
        const char *alias;          /**< another long name ("restore-point-collection-name"), or
                                         NULL */
        char alias_short;           /**< another short name, or 0 */
        uint64_t min, max;          /**< RP_CLI_ARG_U64: the range */
        size_t given;               /**< RP_CLI_ARG_U64: offset of its bool "given" */
        int value;                  /**< RP_CLI_ARG_SET: the value stored */
        const char *const *choices; /**< RP_CLI_ARG_CHOICE: NULL-terminated */
} rp_cli_arg;

/** An rp_cli_arg: long name, short name (or 0), kind, offset of the value, then designated
 *  initializers of the other fields (.alias = "...", .min = 1, ...). */
#define RP_CLI_ARG(name_, short_, kind_, offset_, ...)                                             \
        {                                                                                          \
                .name = (name_), .short_name = (short_), .kind = (kind_), .offset = (offset_),     \
                __VA_ARGS__                                                                        \
        }

/** The names of the wait options, to append to the spec of a wait verb. */
#define RP_CLI_WAIT_SPEC " created updated deleted exists interval timeout"

/** The help text of the wait options, for the help of a wait verb. */
#define RP_CLI_WAIT_HELP                                                                           \
        "\n"                                                                                       \
        "Wait options (give one of --created, --updated, --deleted, --exists):\n"                  \
        "      --created           until provisioningState is Succeeded (exit 1 if Failed)\n"      \
        "      --updated           the same as --created\n"                                        \
        "      --deleted           until the resource is gone\n"                                   \
        "      --exists            until the resource exists\n"                                    \
        "      --interval SECONDS  between polls (default 2)\n"                                    \
        "      --timeout SECONDS   give up after this long (default 3600)\n"

/**
 * Parse a verb's argv (argv[0] is the verb) with getopt_long. @p spec names, separated by
 * spaces, the arguments of @p table the verb takes (or the wait options, RP_CLI_WAIT_SPEC,
 * which go to cli->wait); a name ending in '!' is required. The common options (--output,
 * --subscription, --data, ..., --help) are always taken. Unknown or incomplete options and
 * bad values are reported, then the missing required arguments, all together, as az does;
 * a spec with the wait options also requires one condition (--created, ...). On --help the
 * verb's help is printed.
 * LIST and TAGS values are created in @p args: empty them with rp_cli_args_done().
 * @return 0 to go on, -1 when --help was printed (exit 0), or an exit code (reported).
 */
int rp_cli_parse_args(rp_cli *cli, int argc, char **argv, const rp_cli_arg *table, const char *spec,
                      void *args);

/** Release the LIST and TAGS values that rp_cli_parse_args() stored in @p args. */
void rp_cli_args_done(const rp_cli_arg *table, void *args);

/** Resolve the settings and create the client. @return 0 or an exit code (message printed). */
int rp_cli_connect(rp_cli *cli);

/** rp_cli_parse_args(), then rp_cli_connect(). @return as rp_cli_parse_args(). */
int rp_cli_setup(rp_cli *cli, int argc, char **argv, const rp_cli_arg *table, const char *spec,
                 void *args);

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
 * Set the command that waits again for what this run started, printed when Ctrl-C stops the
 * wait (the operation goes on in rpd): @p words (NULL-terminated, quoted for the shell where
 * needed) and the connection flags of this run. Out of memory leaves no hint.
 */
void rp_cli_set_resume(rp_cli *cli, const char *const *words);

/**
 * Report a failed wait for operations (see rp_cli_ops_wait()) or request: -ETIMEDOUT as
 * OperationTimeout; -ECANCELED (Ctrl-C) as Canceled, saying that the operation goes on and
 * how to wait for it again (rp_cli_set_resume()); else as rp_cli_fail_errno().
 * @return the exit code.
 */
int rp_cli_fail_wait(rp_cli *cli, int k);

/**
 * Send a request and, unless @p no_wait, follow its long-running operation to the end (with a
 * spinner on a terminal). @p ret holds the final response, whatever its status.
 * @return 0 when a response is in @p ret (check rp_client_response_ok()), or an exit code
 *         (already reported).
 */
int rp_cli_call(rp_cli *cli, const char *method, const char *path, const char *api_version,
                const json_t *body, bool no_wait, rp_client_response *ret);

/**
 * rp_cli_call(), then fail on an error reply or print the final body with @p cols (nothing
 * when @p cols is NULL, or when @p no_wait left the operation running).
 * @return an exit code (reported).
 */
int rp_cli_send(rp_cli *cli, const char *method, const char *path, const char *api_version,
                const json_t *body, bool no_wait, const rp_cli_column *cols);

/** GET @p path and print it with @p cols. @return an exit code (reported). */
int rp_cli_show(rp_cli *cli, const char *path, const char *api_version, const rp_cli_column *cols);

/** GET the list at @p path (following nextLink) and print it with @p cols. @return an exit
 *  code (reported). */
int rp_cli_list(rp_cli *cli, const char *path, const char *api_version, const rp_cli_column *cols);

/** Print @p v (an object or an array of objects) in the chosen format; NULL prints nothing.
 *  @p columns is for table and tsv (NULL: the scalar fields of the first object). */
void rp_cli_print(rp_cli *cli, const json_t *v, const rp_cli_column *columns);

/** An ARM path built from printf arguments, each %s a name (percent-encoded).
 *  @return the path, to rp_free(), or NULL on OOM. */
char *rp_cli_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
 * Fail unless the resource at @p path is absent: "ERROR: (ResourceExists) The KIND 'NAME'
 * already exists in resource group 'GROUP'. WHY: delete it first or pick another name."
 * @return 0 when absent, or an exit code (reported).
 */
int rp_cli_require_absent(rp_cli *cli, const char *path, const char *api_version, const char *kind,
                          const char *name, const char *group, const char *why);

/**
 * The location of resource group @p group (the default location of what is created in it, as
 * in az). @param[out] ret the name, to rp_free(). @return 0 or an exit code (reported).
 */
int rp_cli_group_location(rp_cli *cli, const char *group, char **ret);

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

/** One row of an rp_cli_ops display: a long-running operation, or a row its caller feeds
 *  (rp_cli_ops_add_row()). Fields are read-only for callers. */
typedef struct rp_cli_op {
        char *name;           /**< "disk 'vm2_os'" (owned) */
        rp_client_lro *lro;   /**< the follower (owned), or NULL for a fed row */
        rp_usec_t start, end; /**< monotonic times; end is 0 while running */
        rp_usec_t next_poll;  /**< when to step it next */
        rp_usec_t last_line;  /**< when its last plain line was printed */
        int last_step;        /**< its last 10% step printed as a plain line */
        char *last_status;    /**< the status of its last plain line (owned) */
        char *status;         /**< fed rows: the status (owned) */
        double percent;       /**< fed rows: 0 to 100, -1 unknown */
        bool failed;          /**< fed rows: ended with an error */
        char *error;          /**< fed rows: "(Code) message" of the failure (owned) */
        uint64_t total;       /**< bytes to move, 0 when unknown */
        int64_t done;         /**< bytes moved as reported, -1: the percent of total */
        double rate;          /**< bytes/s as reported, -1: from done and the time so far */
        double left;          /**< seconds left as reported, -1: from the percent */
        bool updated;         /**< fed rows: rp_cli_ops_update() ran before */
} rp_cli_op;

/**
 * Several long-running operations followed together on one client, with progress on stderr:
 * on a terminal one row per operation redrawn in place,
 *   restore: disk 'vm2_os' (1.00 GiB) [#####.....]  50%  512 MiB / 1.00 GiB  98.1 MB/s  0:04  0:04
 * left (the bytes and rate when they are known), elsewhere plain lines "label: NAME: 50%
 * (InProgress), 512 MiB of 1.00 GiB, 98.1 MB/s, 0:04 elapsed, 0:04 left" at every 10% step, on a
 * change of status and at least every 5 s, and "label: NAME: Succeeded in 1.2 s" at the end. A
 * zeroed struct after rp_cli_ops_init() is empty.
 */
typedef struct rp_cli_ops {
        const char *label; /**< "create", "restore", "copy" */
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

/** Add a row that the caller feeds with rp_cli_ops_update() (status InProgress). A plain
 *  "label: NAME: started" line is printed. @return its index, -E2BIG or -ENOMEM. */
int rp_cli_ops_add_row(rp_cli_ops *o, const char *name);

/** Set the bytes row @p i moves in all (its disk's size), to show bytes and rate. */
void rp_cli_ops_set_total(rp_cli_ops *o, size_t i, uint64_t bytes);

/** What rp_cli_ops_update() sets on a fed row. Unknown figures are -1 (total: 0). */
typedef struct rp_cli_row_update {
        const char *status; /**< "InProgress", "Succeeded", "Failed" */
        double percent;     /**< 0 to 100 */
        int64_t done;       /**< bytes moved */
        uint64_t total;     /**< bytes to move */
        double rate;        /**< bytes/s */
        double left;        /**< seconds */
        bool ended, failed; /**< the row ends (failed: with @p error) */
        const char *error;  /**< "(Code) message" */
} rp_cli_row_update;

/** Update fed row @p i (nothing once it ended); prints its plain line when one is due. */
void rp_cli_ops_update(rp_cli_ops *o, size_t i, const rp_cli_row_update *u);

/** Redraw the rows on a terminal (nothing elsewhere). */
void rp_cli_ops_draw(rp_cli_ops *o);

/**
 * Follow every LRO row to its end (at most RP_CLI_LRO_TIMEOUT_SEC), polling each when its
 * Retry-After says, drawing the progress. Fed rows are only drawn.
 * @return 0 when all have ended (check each one's rp_client_lro_response()), or a negative
 *         errno: -ECANCELED (Ctrl-C), -ETIMEDOUT, or a transport error. Nothing is reported.
 */
int rp_cli_ops_wait(rp_cli *cli, rp_cli_ops *o);

/** The final response of operation @p i, owned by @p o. */
rp_client_response *rp_cli_ops_response(rp_cli_ops *o, size_t i);

/** Sleep until monotonic time @p t in short slices. @return 0, or -ECANCELED on Ctrl-C. */
int rp_cli_sleep_until(rp_usec_t t);

/**
 * Parse the progress message rpd puts in a copying disk restore point's replicationStatus
 * ("X of Y bytes copied, Z MB/s, N s left") into @p u (done, total, rate, left).
 * @return 0, or -EBADMSG when @p msg (may be NULL) has another form (@p u untouched).
 */
int rp_cli_copy_message_parse(const char *msg, rp_cli_row_update *u);

/**
 * Follow the copy of the restore point at @p path from another region, if it is one: poll its
 * instance view every second and show a progress row per disk ("copy: disk 'os': ..."), until
 * every disk's copy succeeded (0) or one failed (reported as ReplicationFailed, exit 1).
 * @param name "restore point 'rp1'", for messages.
 * @param timeout_sec give up after this long (0: never).
 * @param[out] ret the last GET of the point (with its instance view), to json_decref().
 * @return 0, or an exit code (reported; Ctrl-C: RP_CLI_EXIT_CANCELED with cli->resume).
 */
int rp_cli_follow_copy(rp_cli *cli, const char *path, const char *name, bool progress,
                       uint64_t timeout_sec, json_t **ret);

/* ---------------------------------------------------------------- az-style wait */

/**
 * Poll @p path (a GET with @p api_version) every cli->wait.interval_sec until cli->wait.cond
 * holds. A provisioningState Failed ends a --created/--updated wait with an error naming
 * @p what and the message of an Error status of properties.instanceView, if any.
 * @return 0, or an exit code (reported): a failed GET, Failed, OperationTimeout, Ctrl-C.
 */
int rp_cli_wait_resource(rp_cli *cli, const char *path, const char *api_version, const char *what);
