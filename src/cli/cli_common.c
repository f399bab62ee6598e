/* cli_common.c: what every rpctl API command shares: arguments, connecting, error reports
 * ("ERROR: (Code) message", as az prints them), output formats, LRO waits and verb dispatch.
 *
 * DESIGN: a command group declares every argument it takes once, in a table (rp_cli_arg:
 * name, short name, kind, where the value goes in the group's argument struct); each verb
 * names the ones it takes, and which are required, in a spec string ("resource-group! name!
 * tags no-wait"). rp_cli_parse_args() builds the getopt tables from that, adds the common
 * options, stores and checks every value, and reports usage errors before any request is
 * made. A verb then builds a path and a body and calls rp_cli_call()/rp_cli_send(); printing
 * goes through rp_cli_print() with a column table for -o table/tsv. Exit codes: 0 ok, 1 the
 * API or transport failed, 2 usage, 3 corrupt data found (scrub), 130 interrupted. */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"
#include "util/parse.h"

#define MAX_DERIVED_COLUMNS 32

volatile sig_atomic_t rp_cli_cancel;

static void on_signal(int sig)
{
        rp_cli_cancel = 1;
}

void rp_cli_signals_install(void)
{
        struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND | SA_RESTART };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
}

const char rp_cli_common_help[] =
        "\n"
        "Global options:\n"
        "      --subscription ID  subscription to use (else RPD_SUBSCRIPTION, the config file,\n"
        "                         or the first one the token grants)\n"
        "  -o, --output FORMAT    json (default), table, tsv or none\n"
        "      --query PATH       print only the field at PATH (dotted: id, properties.\n"
        "                         provisioningState), of every item of a list; a simple\n"
        "                         form of az's JMESPath --query\n"
        "      --data DIR         talk to the rpd of data directory DIR: reads DIR/rpd.url and\n"
        "                         DIR/tls/ca.pem, signs a token with the key in DIR/auth\n"
        "      --url URL          https URL of rpd (else RPD_URL, then the config file)\n"
        "      --ca FILE          CA certificate to trust (else RPD_CA, then the config file)\n"
        "      --token JWT        bearer token (else RPD_TOKEN, then the config file)\n"
        "      --config FILE      config file (else RPCTL_CONFIG, ~/.config/rpctl/config)\n"
        "      --debug            print every request and its status on stderr\n"
        "  -h, --help             show this help\n";

/* ---------------------------------------------------------------- output names */

static const char *const output_names[_RP_CLI_OUTPUT_MAX] = {
        [RP_CLI_OUTPUT_JSON] = "json",
        [RP_CLI_OUTPUT_TABLE] = "table",
        [RP_CLI_OUTPUT_TSV] = "tsv",
        [RP_CLI_OUTPUT_NONE] = "none",
};

const char *rp_cli_output_to_string(enum rp_cli_output o)
{
        return o >= 0 && o < _RP_CLI_OUTPUT_MAX ? output_names[o] : NULL;
}

enum rp_cli_output rp_cli_output_from_string(const char *s)
{
        for (int i = 0; i < _RP_CLI_OUTPUT_MAX; i++)
                if (rp_strcaseeq(s, output_names[i]))
                        return (enum rp_cli_output)i;
        return _RP_CLI_OUTPUT_INVALID;
}

/* ---------------------------------------------------------------- arguments */

/* getopt values: the common options, then OPT_TABLE + the index of an entry of the command's
 * table, then OPT_WAIT + the index of an entry of the wait table. */
enum {
        OPT_URL = 0x100,
        OPT_CA,
        OPT_TOKEN,
        OPT_DATA,
        OPT_SUBSCRIPTION,
        OPT_CONFIG,
        OPT_DEBUG,
        OPT_HELP,
        OPT_QUERY,
        OPT_OUTPUT = 'o',
        OPT_TABLE = 0x1000,
        OPT_WAIT = 0x2000,
};

#define WAIT_DEFAULT_INTERVAL_SEC 2u
#define WAIT_MAX_SEC (7u * 86400u)
#define MAX_ARGS 48 /* arguments one verb takes, aliases included */

static const struct option common_options[] = {
        { "url", required_argument, NULL, OPT_URL },
        { "ca", required_argument, NULL, OPT_CA },
        { "token", required_argument, NULL, OPT_TOKEN },
        { "data", required_argument, NULL, OPT_DATA },
        { "subscription", required_argument, NULL, OPT_SUBSCRIPTION },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "debug", no_argument, NULL, OPT_DEBUG },
        { "output", required_argument, NULL, OPT_OUTPUT },
        { "query", required_argument, NULL, OPT_QUERY },
        { "help", no_argument, NULL, OPT_HELP },
};

/* The wait options: their values live in rp_cli.wait. */
#define WAIT_OFF(f) offsetof(rp_cli, wait.f)
static const rp_cli_arg wait_table[] = {
        RP_CLI_ARG("created", 0, RP_CLI_ARG_SET, WAIT_OFF(cond), .value = RP_CLI_WAIT_CREATED),
        RP_CLI_ARG("updated", 0, RP_CLI_ARG_SET, WAIT_OFF(cond), .value = RP_CLI_WAIT_UPDATED),
        RP_CLI_ARG("deleted", 0, RP_CLI_ARG_SET, WAIT_OFF(cond), .value = RP_CLI_WAIT_DELETED),
        RP_CLI_ARG("exists", 0, RP_CLI_ARG_SET, WAIT_OFF(cond), .value = RP_CLI_WAIT_EXISTS),
        RP_CLI_ARG("replicated", 0, RP_CLI_ARG_SET, WAIT_OFF(cond),
                   .value = RP_CLI_WAIT_REPLICATED),
        RP_CLI_ARG("interval", 0, RP_CLI_ARG_U64, WAIT_OFF(interval_sec), .min = 1,
                   .max = WAIT_MAX_SEC, .given = WAIT_OFF(interval_given)),
        RP_CLI_ARG("timeout", 0, RP_CLI_ARG_U64, WAIT_OFF(timeout_sec), .min = 1,
                   .max = WAIT_MAX_SEC, .given = WAIT_OFF(timeout_given)),
        {},
};

void rp_cli_done(rp_cli *cli)
{
        cli->client = rp_client_free(cli->client);
        rp_client_settings_done(&cli->flags);
        cli->resume = rp_free(cli->resume);
        cli->subscription = NULL;
}

static int set_flag(char **field, const char *arg)
{
        char *s = rp_strdup(arg);
        if (!s)
                return -ENOMEM;
        rp_free(*field);
        *field = s;
        return 0;
}

/* Handle a common option. @return 0 or an exit code (reported). */
static int common_opt(rp_cli *cli, int c, const char *arg)
{
        int k = 0;
        switch (c) {
        case OPT_URL:
                k = set_flag(&cli->flags.url, arg);
                break;
        case OPT_CA:
                k = set_flag(&cli->flags.ca, arg);
                break;
        case OPT_TOKEN:
                k = set_flag(&cli->flags.token, arg);
                break;
        case OPT_SUBSCRIPTION:
                k = set_flag(&cli->flags.subscription, arg);
                break;
        case OPT_DATA:
                cli->data = arg;
                break;
        case OPT_CONFIG:
                cli->config = arg;
                break;
        case OPT_DEBUG:
                cli->verbose = true;
                break;
        case OPT_QUERY:
                cli->query = arg;
                break;
        case OPT_OUTPUT: {
                enum rp_cli_output o = rp_cli_output_from_string(arg);
                if (o < 0)
                        return rp_cli_usage_error(cli,
                                                  "argument --output/-o: invalid choice '%s' "
                                                  "(choose from json, table, tsv, none)",
                                                  arg);
                cli->output = o;
                break;
        }
        default: /* OPT_HELP, 'h' */
                cli->help_requested = true;
                break;
        }
        return k < 0 ? RP_CLI_EXIT_ERROR : 0;
}

/* "--resource-group/-g" into @p buf. */
static const char *arg_display(const rp_cli_arg *a, char *buf, size_t size)
{
        if (a->short_name)
                snprintf(buf, size, "--%s/-%c", a->name, a->short_name);
        else
                snprintf(buf, size, "--%s", a->name);
        return buf;
}

static bool takes_value(const rp_cli_arg *a)
{
        return a->kind != RP_CLI_ARG_FLAG && a->kind != RP_CLI_ARG_SET &&
               a->kind != RP_CLI_ARG_IGNORE;
}

static int add_tag(rp_cli *cli, json_t *tags, const char *s)
{
        if (*s == '\0')
                return 0;
        const char *eq = strchr(s, '=');
        _cleanup_free_ char *key = eq ? rp_strndup(s, (size_t)(eq - s)) : rp_strdup(s);
        if (!key)
                return RP_CLI_EXIT_ERROR;
        if (!*key)
                return rp_cli_usage_error(cli, "argument --tags: '%s' has no name (use key=value)",
                                          s);
        return json_object_set_new(tags, key, json_string(eq ? eq + 1 : "")) < 0 ? RP_CLI_EXIT_ERROR
                                                                                 : 0;
}

/* "a, b, c" of a NULL-terminated list, to rp_free(), or NULL on OOM. */
static char *join_choices(const char *const *choices)
{
        rp_buf b;
        rp_buf_init(&b, 4096);
        int k = 0;
        for (const char *const *c = choices; *c && k >= 0; c++)
                k = rp_buf_printf(&b, "%s%s", c == choices ? "" : ", ", *c);
        if (k < 0) {
                rp_buf_done(&b);
                return NULL;
        }
        return rp_buf_detach(&b);
}

/* Store the value of @p a in the struct at @p base. @return 0 or an exit code (reported). */
static int store_arg(rp_cli *cli, const rp_cli_arg *a, void *base, char *arg, int argc, char **argv)
{
        void *field = (char *)base + a->offset;
        char name[64];
        switch (a->kind) {
        case RP_CLI_ARG_STRING:
                *(const char **)field = arg;
                return 0;
        case RP_CLI_ARG_FLAG:
                *(bool *)field = true;
                return 0;
        case RP_CLI_ARG_SET:
                *(int *)field = a->value;
                return 0;
        case RP_CLI_ARG_IGNORE:
                return 0;
        case RP_CLI_ARG_CHOICE: {
                for (const char *const *c = a->choices; *c; c++)
                        if (rp_strcaseeq(arg, *c)) {
                                *(const char **)field = *c;
                                return 0;
                        }
                _cleanup_free_ char *list = join_choices(a->choices);
                return rp_cli_usage_error(cli, "argument %s: invalid choice '%s' (choose from %s)",
                                          arg_display(a, name, sizeof name), arg,
                                          rp_strempty(list));
        }
        case RP_CLI_ARG_U64: {
                uint64_t v = 0;
                if (rp_parse_u64(arg, &v) < 0 || v < a->min || v > a->max)
                        return rp_cli_usage_error(cli,
                                                  "argument %s: '%s' is not a number from "
                                                  "%" PRIu64 " to %" PRIu64,
                                                  arg_display(a, name, sizeof name), arg, a->min,
                                                  a->max);
                *(uint64_t *)field = v;
                *(bool *)((char *)base + a->given) = true;
                return 0;
        }
        case RP_CLI_ARG_LIST: {
                json_t **list = field;
                if (!*list && !(*list = json_array()))
                        return RP_CLI_EXIT_ERROR;
                if (*arg && json_array_append_new(*list, json_string(arg)) < 0)
                        return RP_CLI_EXIT_ERROR;
                while (optind < argc && argv[optind][0] != '-')
                        if (json_array_append_new(*list, json_string(argv[optind++])) < 0)
                                return RP_CLI_EXIT_ERROR;
                return 0;
        }
        case RP_CLI_ARG_TAGS: {
                json_t **tags = field;
                if (!*tags && !(*tags = json_object()))
                        return RP_CLI_EXIT_ERROR;
                int k = add_tag(cli, *tags, arg);
                while (k == 0 && optind < argc && argv[optind][0] != '-')
                        k = add_tag(cli, *tags, argv[optind++]);
                return k;
        }
        default:
                assert(!"unknown argument kind");
                return RP_CLI_EXIT_ERROR;
        }
}

/* One argument a verb takes: its entry, where its value goes, its getopt value. */
typedef struct verb_arg {
        const rp_cli_arg *arg;
        void *base;
        int val;
        bool required, seen;
} verb_arg;

/* Find @p name (@p len bytes) in @p table (NULL-safe). */
static const rp_cli_arg *table_find(const rp_cli_arg *table, const char *name, size_t len)
{
        for (const rp_cli_arg *a = table; a && a->name; a++)
                if (strlen(a->name) == len && memcmp(a->name, name, len) == 0)
                        return a;
        return NULL;
}

/* Add a long option, and its short option if any, to the getopt tables. */
static void add_option(struct option *opts, size_t *n, char *shortopts, size_t *ns,
                       const char *name, char short_name, bool value, int val)
{
        assert(*n < 2 * MAX_ARGS);
        opts[(*n)++] = (struct option){ name, value ? required_argument : no_argument, NULL, val };
        if (short_name) {
                shortopts[(*ns)++] = short_name;
                if (value)
                        shortopts[(*ns)++] = ':';
        }
}

/* Parse @p spec into @p va and the getopt tables. @return the number of arguments. */
static size_t parse_spec(rp_cli *cli, const rp_cli_arg *table, const char *spec, void *args,
                         verb_arg *va, struct option *opts, size_t *nopts, char *shortopts,
                         size_t *ns)
{
        size_t nva = 0;
        for (const char *p = spec ? spec : ""; *p;) {
                p += strspn(p, " ");
                size_t len = strcspn(p, " ");
                if (len == 0)
                        break;
                bool required = p[len - 1] == '!';
                size_t nlen = required ? len - 1 : len;
                const rp_cli_arg *a = table_find(table, p, nlen);
                verb_arg v = { .arg = a, .base = args, .required = required };
                if (a) {
                        v.val = OPT_TABLE + (int)(a - table);
                } else {
                        a = table_find(wait_table, p, nlen);
                        v = (verb_arg){ .arg = a, .base = cli, .required = required };
                        v.val = OPT_WAIT + (int)(a - wait_table);
                }
                assert(a && nva < MAX_ARGS); /* a spec names only what its tables hold */
                va[nva++] = v;
                add_option(opts, nopts, shortopts, ns, a->name, a->short_name, takes_value(a),
                           v.val);
                if (a->alias || a->alias_short)
                        add_option(opts, nopts, shortopts, ns, a->alias ? a->alias : a->name,
                                   a->alias_short, takes_value(a), v.val);
                p += len;
        }
        return nva;
}

/* The verb argument getopt answered @p c for, or NULL (a common option). */
static verb_arg *find_verb_arg(verb_arg *va, size_t nva, int c)
{
        for (size_t i = 0; i < nva; i++) {
                const rp_cli_arg *a = va[i].arg;
                if (c == va[i].val ||
                    (c > 0 && c < 0x80 && (c == a->short_name || c == a->alias_short)))
                        return &va[i];
        }
        return NULL;
}

int rp_cli_parse_args(rp_cli *cli, int argc, char **argv, const rp_cli_arg *table, const char *spec,
                      void *args)
{
        verb_arg va[MAX_ARGS];
        struct option opts[2 * MAX_ARGS + ELEMENTSOF(common_options) + 1] = {};
        char shortopts[4 * MAX_ARGS + 8] = "+:";
        size_t nopts = 0, ns = 2;
        size_t nva = parse_spec(cli, table, spec, args, va, opts, &nopts, shortopts, &ns);
        memcpy(opts + nopts, common_options, sizeof common_options);
        memcpy(shortopts + ns, "o:h", 4);
        bool wait_verb = false;
        for (size_t i = 0; i < nva; i++)
                wait_verb = wait_verb || va[i].arg->kind == RP_CLI_ARG_SET;
        if (wait_verb)
                cli->wait = (rp_cli_wait_opts){ .interval_sec = WAIT_DEFAULT_INTERVAL_SEC,
                                                .timeout_sec = RP_CLI_LRO_TIMEOUT_SEC };

        int c;
        optind = 0; /* full re-initialisation of GNU getopt */
        opterr = 0;
        while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
                if (c == '?')
                        return rp_cli_usage_error(cli, "unrecognized argument: %s",
                                                  argv[optind - 1]);
                if (c == ':')
                        return rp_cli_usage_error(cli, "argument %s: expected one argument",
                                                  argv[optind - 1]);
                verb_arg *v = find_verb_arg(va, nva, c);
                int k;
                if (v) {
                        v->seen = true;
                        k = store_arg(cli, v->arg, v->base, optarg, argc, argv);
                } else {
                        k = common_opt(cli, c, optarg);
                }
                if (k != 0)
                        return k;
                if (cli->help_requested) {
                        fputs(rp_strempty(cli->help), stdout);
                        if (!cli->help_complete)
                                fputs(rp_cli_common_help, stdout);
                        return -1;
                }
        }
        if (optind < argc)
                return rp_cli_usage_error(cli, "unrecognized arguments: %s", argv[optind]);

        /* the missing required arguments, all in one message */
        rp_buf missing;
        rp_buf_init(&missing, 4096);
        int k = 0;
        for (size_t i = 0; i < nva && k >= 0; i++) {
                char name[64];
                if (va[i].required && !va[i].seen)
                        k = rp_buf_printf(&missing, "%s%s", missing.len ? ", " : "",
                                          arg_display(va[i].arg, name, sizeof name));
        }
        if (k >= 0 && missing.len)
                k = rp_cli_usage_error(cli, "the following arguments are required: %s",
                                       missing.ptr);
        rp_buf_done(&missing);
        if (k == 0 && wait_verb && cli->wait.cond == RP_CLI_WAIT_NONE) {
                rp_buf conds; /* the conditions this verb takes */
                rp_buf_init(&conds, 4096);
                for (size_t i = 0; i < nva && k >= 0; i++)
                        if (va[i].arg->kind == RP_CLI_ARG_SET)
                                k = rp_buf_printf(&conds, "%s--%s", conds.len ? ", " : "",
                                                  va[i].arg->name);
                if (k >= 0)
                        k = rp_cli_usage_error(cli, "give one of %s", conds.ptr);
                rp_buf_done(&conds);
        }
        return k < 0 ? RP_CLI_EXIT_ERROR : k;
}

void rp_cli_args_done(const rp_cli_arg *table, void *args)
{
        for (const rp_cli_arg *a = table; a->name; a++) {
                if (a->kind != RP_CLI_ARG_LIST && a->kind != RP_CLI_ARG_TAGS)
                        continue;
                json_t **v = (json_t **)((char *)args + a->offset);
                if (*v)
                        json_decref(*v);
                *v = NULL;
        }
}

int rp_cli_setup(rp_cli *cli, int argc, char **argv, const rp_cli_arg *table, const char *spec,
                 void *args)
{
        int k = rp_cli_parse_args(cli, argc, argv, table, spec, args);
        return k != 0 ? k : rp_cli_connect(cli);
}

/* ---------------------------------------------------------------- reports */

int rp_cli_usage_error(rp_cli *cli, const char *fmt, ...)
{
        va_list ap;
        fputs("ERROR: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help' for more information.\n", cli->prog);
        return RP_CLI_EXIT_USAGE;
}

int rp_cli_fail_error(rp_cli *cli, const rp_client_error *e)
{
        fprintf(stderr, "ERROR: (%s) %s\n", e->code ? e->code : "Error",
                e->message ? e->message : "(no message)");
        if (e->target)
                fprintf(stderr, "Target: %s\n", e->target);
        return RP_CLI_EXIT_ERROR;
}

int rp_cli_fail_response(rp_cli *cli, const rp_client_response *r)
{
        if (r->error.code)
                return rp_cli_fail_error(cli, &r->error);
        fprintf(stderr, "ERROR: (%s) The server answered HTTP %ld.\n",
                rp_client_status_code_name(r->status), r->status);
        return RP_CLI_EXIT_ERROR;
}

int rp_cli_fail_errno(rp_cli *cli, int k, const char *what)
{
        switch (k) {
        case -ECANCELED:
                fputs("ERROR: (Canceled) interrupted\n", stderr);
                return RP_CLI_EXIT_CANCELED;
        case -ECONNREFUSED:
        case -ETIMEDOUT:
        case -EIO:
        case -EPERM:
        case -EPROTONOSUPPORT:
        case -EBADMSG:
                fprintf(stderr, "ERROR: (ConnectionError) %s: %s\n", what,
                        cli->client ? rp_client_last_error(cli->client) : strerror(-k));
                return RP_CLI_EXIT_ERROR;
        default:
                fprintf(stderr, "ERROR: %s: %s\n", what, strerror(-k));
                return RP_CLI_EXIT_ERROR;
        }
}

int rp_cli_fail_wait(rp_cli *cli, int k)
{
        if (k == -ETIMEDOUT) {
                fprintf(stderr,
                        "ERROR: (OperationTimeout) the operation did not finish within %u s\n",
                        RP_CLI_LRO_TIMEOUT_SEC);
                return RP_CLI_EXIT_ERROR;
        }
        if (k != -ECANCELED)
                return rp_cli_fail_errno(cli, k, "waiting for the operation");
        fputs("ERROR: (Canceled) interrupted: stopped waiting; the operation goes on in rpd.\n",
              stderr);
        if (cli->resume)
                fprintf(stderr, "To wait for it again: %s\n", cli->resume);
        return RP_CLI_EXIT_CANCELED;
}

/* Does @p s need quotes in a POSIX shell? */
static bool needs_quotes(const char *s)
{
        if (!*s)
                return true;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("-_./=:@%+,", *p))
                        return true;
        return false;
}

/* Append @p s to @p b, single-quoted when needed. */
static int append_word(rp_buf *b, const char *s)
{
        int k = rp_buf_puts(b, b->len ? " " : "");
        if (k < 0 || !needs_quotes(s))
                return k < 0 ? k : rp_buf_puts(b, s);
        k = rp_buf_puts(b, "'");
        for (const char *p = s; *p && k >= 0; p++)
                k = *p == '\'' ? rp_buf_puts(b, "'\\''") : rp_buf_append(b, p, 1);
        return k < 0 ? k : rp_buf_puts(b, "'");
}

void rp_cli_set_resume(rp_cli *cli, const char *const *words)
{
        /* the connection flags of this run, so that the command reaches the same rpd */
        const char *const conn[][2] = {
                { "--data", cli->data },
                { "--config", cli->config },
                { "--url", cli->flags.url },
                { "--ca", cli->flags.ca },
                { "--subscription", cli->flags.subscription },
                { "--token", cli->flags.token ? "TOKEN" : NULL },
        };
        rp_buf b;
        rp_buf_init(&b, 64 * 1024);
        int k = 0;
        for (const char *const *w = words; *w && k >= 0; w++)
                k = append_word(&b, *w);
        for (size_t i = 0; i < ELEMENTSOF(conn) && k >= 0; i++)
                if (conn[i][1]) {
                        k = append_word(&b, conn[i][0]);
                        if (k >= 0)
                                k = append_word(&b, conn[i][1]);
                }
        rp_free(cli->resume);
        cli->resume = k < 0 ? NULL : rp_buf_detach(&b);
        if (k < 0)
                rp_buf_done(&b);
}

/* ---------------------------------------------------------------- connecting, calls */

int rp_cli_connect(rp_cli *cli)
{
        _cleanup_free_ char *msg = NULL;
        rp_client_settings s = {};
        int k = rp_client_settings_resolve(&cli->flags, cli->data, cli->config, &s, &msg);
        if (k < 0) {
                fprintf(stderr, "ERROR: %s\n", msg ? msg : strerror(-k));
                return k == -ENOMEM ? RP_CLI_EXIT_ERROR : RP_CLI_EXIT_USAGE;
        }
        if (!s.subscription) {
                rp_client_settings_done(&s);
                fputs("ERROR: no subscription: pass --subscription ID or set "
                      "RPD_SUBSCRIPTION\n",
                      stderr);
                return RP_CLI_EXIT_USAGE;
        }
        k = rp_client_new(&s, &cli->client);
        rp_client_settings_done(&s);
        if (k < 0) {
                fprintf(stderr, "ERROR: cannot set up the client: %s\n", strerror(-k));
                return RP_CLI_EXIT_ERROR;
        }
        rp_client_set_cancel(cli->client, &rp_cli_cancel);
        rp_client_set_verbose(cli->client, cli->verbose);
        cli->subscription = rp_client_settings_get(cli->client)->subscription;
        return 0;
}

static void spinner(const char *status, double percent, void *userdata)
{
        static const char frames[] = "|/-\\";
        unsigned *n = userdata;
        if (strcasecmp(status, "Succeeded") == 0 || strcasecmp(status, "Failed") == 0 ||
            strcasecmp(status, "Canceled") == 0)
                return; /* done: nothing to spin for */
        if (percent >= 0)
                fprintf(stderr, "\r%c Running (%s, %.0f%%) ..", frames[*n % 4], status, percent);
        else
                fprintf(stderr, "\r%c Running (%s) ..", frames[*n % 4], status);
        fflush(stderr);
        (*n)++;
}

int rp_cli_call(rp_cli *cli, const char *method, const char *path, const char *api_version,
                const json_t *body, bool no_wait, rp_client_response *ret)
{
        rp_client_response r = {};
        int k = rp_client_request(cli->client, method, path, api_version, body, &r);
        if (k < 0)
                return rp_cli_fail_errno(cli, k, method);
        if (!no_wait) {
                unsigned frames = 0;
                bool tty = isatty(STDERR_FILENO);
                k = rp_client_lro_wait(cli->client, method, path, api_version,
                                       RP_CLI_LRO_TIMEOUT_SEC, tty ? spinner : NULL, &frames, &r);
                if (tty && frames > 0)
                        fputs("\r\033[K", stderr);
                if (k < 0) {
                        rp_client_response_done(&r);
                        return rp_cli_fail_wait(cli, k);
                }
        }
        *ret = r;
        return 0;
}

int rp_cli_send(rp_cli *cli, const char *method, const char *path, const char *api_version,
                const json_t *body, bool no_wait, const rp_cli_column *cols)
{
        if (!path)
                return RP_CLI_EXIT_ERROR;
        rp_client_response r = {};
        int k = rp_cli_call(cli, method, path, api_version, body, no_wait, &r);
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r))
                k = rp_cli_fail_response(cli, &r);
        else if (cols && !(no_wait && r.status == 202))
                rp_cli_print(cli, r.body, cols);
        rp_client_response_done(&r);
        return k;
}

int rp_cli_show(rp_cli *cli, const char *path, const char *api_version, const rp_cli_column *cols)
{
        _cleanup_json_ json_t *o = NULL;
        int k = path ? rp_cli_get(cli, path, api_version, &o) : RP_CLI_EXIT_ERROR;
        if (k != 0)
                return k;
        rp_cli_print(cli, o, cols);
        return RP_CLI_EXIT_OK;
}

int rp_cli_list(rp_cli *cli, const char *path, const char *api_version, const rp_cli_column *cols)
{
        if (!path)
                return RP_CLI_EXIT_ERROR;
        _cleanup_json_ json_t *items = NULL;
        rp_client_response r = {};
        int k = rp_client_list(cli->client, path, api_version, &items, &r);
        if (k < 0)
                return rp_cli_fail_errno(cli, k, "list");
        if (!items)
                k = rp_cli_fail_response(cli, &r);
        else
                rp_cli_print(cli, items, cols);
        rp_client_response_done(&r);
        return k;
}

int rp_cli_get(rp_cli *cli, const char *path, const char *api_version, json_t **ret)
{
        rp_client_response r = {};
        int k = rp_cli_call(cli, "GET", path, api_version, NULL, true, &r);
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r) || !json_is_object(r.body)) {
                k = rp_cli_fail_response(cli, &r);
                rp_client_response_done(&r);
                return k;
        }
        *ret = TAKE_PTR(r.body);
        rp_client_response_done(&r);
        return 0;
}

int rp_cli_check_absent(rp_cli *cli, const char *path, const char *api_version)
{
        rp_client_response r = {};
        int k = rp_cli_call(cli, "GET", path, api_version, NULL, true, &r);
        if (k != 0)
                return k;
        if (rp_client_response_ok(&r))
                k = 1;
        else if (r.status != 404 || !rp_streq(r.error.code, "ResourceNotFound"))
                k = rp_cli_fail_response(cli, &r); /* a missing group, a bad token, ... */
        rp_client_response_done(&r);
        return k;
}

int rp_cli_require_absent(rp_cli *cli, const char *path, const char *api_version, const char *kind,
                          const char *name, const char *group, const char *why)
{
        int k = rp_cli_check_absent(cli, path, api_version);
        if (k != 1)
                return k;
        fprintf(stderr,
                "ERROR: (ResourceExists) The %s '%s' already exists in resource group '%s'. %s: "
                "delete it first or pick another name.\n",
                kind, name, group, why);
        return RP_CLI_EXIT_ERROR;
}

int rp_cli_group_location(rp_cli *cli, const char *group, char **ret)
{
        _cleanup_free_ char *path =
                rp_cli_path("/subscriptions/%s/resourcegroups/%s", cli->subscription, group);
        _cleanup_json_ json_t *g = NULL;
        int k = path ? rp_cli_get(cli, path, RP_CLI_API_RESOURCES, &g) : RP_CLI_EXIT_ERROR;
        if (k != 0)
                return k;
        const char *loc = json_string_value(json_object_get(g, "location"));
        if (!loc) {
                fprintf(stderr, "ERROR: (InvalidResponse) resource group '%s' has no location\n",
                        group);
                return RP_CLI_EXIT_ERROR;
        }
        *ret = rp_strdup(loc);
        return *ret ? 0 : RP_CLI_EXIT_ERROR;
}

/* ---------------------------------------------------------------- output */

static json_t *column_value(const json_t *row, const rp_cli_column *col, bool derived)
{
        if (derived)
                return json_object_get(row, col->path);
        if (strcmp(col->path, "@resourceGroup") == 0) {
                const char *id = json_string_value(json_object_get(row, "id"));
                const char *p = id ? strcasestr(id, "/resourceGroups/") : NULL;
                if (!p)
                        return NULL;
                p += strlen("/resourceGroups/");
                return json_stringn(p, strcspn(p, "/")); /* a new reference: see cell_text */
        }
        return rp_json_get_path(row, col->path);
}

/* @p v as one line of text (strings without quotes; null and absent: ""), to rp_free(). */
static char *value_text(const json_t *v)
{
        char *s;
        if (!v || json_is_null(v))
                s = rp_strdup("");
        else if (json_is_string(v))
                s = rp_strdup(json_string_value(v));
        else if (json_is_integer(v))
                s = rp_asprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
                s = rp_asprintf("%g", json_real_value(v));
        else if (json_is_boolean(v))
                s = rp_strdup(json_is_true(v) ? "True" : "False");
        else
                s = rp_json_dumps(v);
        /* one line: tabs and newlines would break tsv and table alike */
        for (char *p = s; p && *p; p++)
                if (*p == '\t' || *p == '\n' || *p == '\r')
                        *p = ' ';
        return s;
}

static char *cell_text(const json_t *row, const rp_cli_column *col, bool derived)
{
        json_t *v = column_value(row, col, derived);
        char *s = value_text(v);
        if (!derived && strcmp(col->path, "@resourceGroup") == 0 && v)
                json_decref(v);
        return s;
}

static void print_rows(rp_cli *cli, const json_t *rows, const rp_cli_column *cols, size_t ncols,
                       bool derived)
{
        size_t nrows = json_array_size(rows);
        _cleanup_free_ char **cells = rp_calloc(nrows * ncols + 1, sizeof(char *));
        _cleanup_free_ size_t *width = rp_calloc(ncols + 1, sizeof(size_t));
        if (!cells || !width) {
                fputs("ERROR: out of memory\n", stderr);
                return;
        }
        for (size_t c = 0; c < ncols; c++)
                width[c] = strlen(cols[c].header);
        for (size_t r = 0; r < nrows; r++)
                for (size_t c = 0; c < ncols; c++) {
                        char *s = cell_text(json_array_get(rows, r), &cols[c], derived);
                        cells[r * ncols + c] = s;
                        if (s && strlen(s) > width[c])
                                width[c] = strlen(s);
                }
        bool table = cli->output == RP_CLI_OUTPUT_TABLE;
        if (table && nrows > 0) {
                for (size_t c = 0; c < ncols; c++)
                        printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cols[c].header,
                               c + 1 < ncols ? "  " : "\n");
                for (size_t c = 0; c < ncols; c++) {
                        for (size_t i = 0; i < width[c]; i++)
                                putchar('-');
                        fputs(c + 1 < ncols ? "  " : "\n", stdout);
                }
        }
        for (size_t r = 0; r < nrows; r++)
                for (size_t c = 0; c < ncols; c++) {
                        const char *s = rp_strempty(cells[r * ncols + c]);
                        if (table)
                                printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, s,
                                       c + 1 < ncols ? "  " : "\n");
                        else
                                printf("%s%s", s, c + 1 < ncols ? "\t" : "\n");
                }
        for (size_t i = 0; i < nrows * ncols; i++)
                rp_free(cells[i]);
}

/* --query PATH of @p v: the value at the dotted path of an object, or an array of those of
 * the elements of an array. New reference, or NULL on OOM. */
static json_t *query(const json_t *v, const char *path)
{
        if (!json_is_array(v)) {
                json_t *x = json_is_object(v) ? rp_json_get_path(v, path) : NULL;
                return x ? json_incref(x) : json_null();
        }
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
                json_t *x = json_is_object(e) ? rp_json_get_path(e, path) : NULL;
                if (!out || json_array_append(out, x ? x : json_null()) < 0) {
                        if (out)
                                json_decref(out);
                        return NULL;
                }
        }
        return out;
}

/* Print the scalars of @p v (a scalar, or an array of scalars) a line each. @return false
 * when @p v holds anything else. */
static bool print_scalars(const json_t *v)
{
        if (json_is_object(v))
                return false;
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n; i++) {
                const json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
                if (json_is_object(x) || json_is_array(x))
                        return false;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *s = value_text(json_is_array(v) ? json_array_get(v, i) : v);
                puts(rp_strempty(s));
        }
        return true;
}

void rp_cli_print(rp_cli *cli, const json_t *v, const rp_cli_column *columns)
{
        if (!v || cli->output == RP_CLI_OUTPUT_NONE)
                return;
        _cleanup_json_ json_t *selected = cli->query ? query(v, cli->query) : NULL;
        if (cli->query) {
                /* what --query selects has no known columns: its own scalars, else its fields */
                if (!selected || (cli->output != RP_CLI_OUTPUT_JSON && print_scalars(selected)))
                        return;
                v = selected;
                columns = NULL;
        }
        if (cli->output == RP_CLI_OUTPUT_JSON || (!json_is_object(v) && !json_is_array(v))) {
                json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
                putchar('\n');
                return;
        }
        _cleanup_json_ json_t *rows = json_is_array(v) ? json_incref((json_t *)v) : json_array();
        if (!rows)
                return;
        if (json_is_object(v))
                json_array_append(rows, (json_t *)v);
        size_t ncols = 0;
        bool derived = !columns;
        rp_cli_column dyn[MAX_DERIVED_COLUMNS];
        if (columns) {
                while (columns[ncols].header)
                        ncols++;
        } else {
                const char *key;
                json_t *val;
                json_object_foreach(json_array_get(rows, 0), key, val) {
                        if (ncols == MAX_DERIVED_COLUMNS)
                                break;
                        if (json_is_object(val) || json_is_array(val))
                                continue;
                        dyn[ncols++] = (rp_cli_column){ key, key };
                }
                columns = dyn;
        }
        print_rows(cli, rows, columns, ncols, derived);
}

/* ---------------------------------------------------------------- paths */

static bool unreserved(unsigned char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               strchr("-._~()", ch);
}

char *rp_cli_path(const char *fmt, ...)
{
        rp_buf b;
        rp_buf_init(&b, 64 * 1024);
        va_list ap;
        va_start(ap, fmt);
        int k = 0;
        for (const char *p = fmt; *p && k >= 0; p++) {
                if (p[0] == '%' && p[1] == 's') {
                        const char *arg = va_arg(ap, const char *);
                        for (const unsigned char *a = (const unsigned char *)rp_strempty(arg);
                             *a && k >= 0; a++)
                                k = unreserved(*a) ? rp_buf_append(&b, a, 1)
                                                   : rp_buf_printf(&b, "%%%02X", *a);
                        p++;
                } else {
                        k = rp_buf_append(&b, p, 1);
                }
        }
        va_end(ap);
        if (k < 0) {
                rp_buf_done(&b);
                return NULL;
        }
        return rp_buf_detach(&b);
}

/* ---------------------------------------------------------------- verbs */

static void group_usage(FILE *f, const char *group, const char *summary, const rp_cli_verb *verbs,
                        size_t n)
{
        fprintf(f, "Usage: rpctl %s VERB [OPTIONS]\n\n%s\n\nVerbs:\n", group, summary);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "  %-14s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f, "\n'rpctl %s VERB --help' shows the options and examples of a verb.\n", group);
}

int rp_cli_dispatch(const char *group, const char *summary, const rp_cli_verb *verbs,
                    size_t n_verbs, int argc, char **argv)
{
        if (argc < 2) {
                group_usage(stderr, group, summary, verbs, n_verbs);
                return RP_CLI_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                group_usage(stdout, group, summary, verbs, n_verbs);
                return RP_CLI_EXIT_OK;
        }
        for (size_t i = 0; i < n_verbs; i++) {
                if (strcmp(argv[1], verbs[i].name) != 0)
                        continue;
                _cleanup_free_ char *prog = rp_asprintf("rpctl %s %s", group, verbs[i].name);
                if (!prog)
                        return RP_CLI_EXIT_ERROR;
                rp_cli cli = { .prog = prog, .help = verbs[i].help };
                int k = verbs[i].run(&cli, argc - 1, argv + 1);
                rp_cli_done(&cli);
                fflush(stdout);
                return k < 0 ? RP_CLI_EXIT_OK : k;
        }
        fprintf(stderr, "ERROR: '%s' is not an rpctl %s command. See 'rpctl %s --help'.\n", argv[1],
                group, group);
        return RP_CLI_EXIT_USAGE;
}

int rp_cli_run(const char *name, const char *help, int (*run)(rp_cli *cli, int argc, char **argv),
               int argc, char **argv)
{
        _cleanup_free_ char *prog = rp_asprintf("rpctl %s", name);
        if (!prog)
                return RP_CLI_EXIT_ERROR;
        rp_cli cli = { .prog = prog, .help = help };
        int k = run(&cli, argc, argv);
        rp_cli_done(&cli);
        fflush(stdout);
        return k < 0 ? RP_CLI_EXIT_OK : k;
}
