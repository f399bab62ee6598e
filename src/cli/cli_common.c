/* cli_common.c: what every rpctl API command shares: common options, connecting, error
 * reports ("ERROR: (Code) message", as az prints them), output formats, LRO waits, tags and
 * verb dispatch.
 *
 * DESIGN: a command verb is a function that parses its own options through rp_cli_parse()
 * (which takes the common ones), builds a path and a body, and calls rp_cli_call(); printing
 * goes through rp_cli_print() with a column table for -o table/tsv. Exit codes: 0 ok, 1 the
 * API or transport failed, 2 usage, 3 corrupt data found (scrub), 130 interrupted. */
#include <assert.h>
#include <signal.h>
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

/* ---------------------------------------------------------------- options */

void rp_cli_done(rp_cli *cli)
{
        cli->client = rp_client_free(cli->client);
        rp_client_settings_done(&cli->flags);
        cli->subscription = NULL;
}

static int set_flag(char **field, const char *arg)
{
        char *s = rp_strdup(arg);
        if (!s)
                return -ENOMEM;
        rp_free(*field);
        *field = s;
        return 1;
}

int rp_cli_common_opt(rp_cli *cli, int c, const char *arg)
{
        switch (c) {
        case RP_CLI_OPT_URL:
                return set_flag(&cli->flags.url, arg) < 0 ? -RP_CLI_EXIT_ERROR : 1;
        case RP_CLI_OPT_CA:
                return set_flag(&cli->flags.ca, arg) < 0 ? -RP_CLI_EXIT_ERROR : 1;
        case RP_CLI_OPT_TOKEN:
                return set_flag(&cli->flags.token, arg) < 0 ? -RP_CLI_EXIT_ERROR : 1;
        case RP_CLI_OPT_SUBSCRIPTION:
                return set_flag(&cli->flags.subscription, arg) < 0 ? -RP_CLI_EXIT_ERROR : 1;
        case RP_CLI_OPT_DATA:
                cli->data = arg;
                return 1;
        case RP_CLI_OPT_CONFIG:
                cli->config = arg;
                return 1;
        case RP_CLI_OPT_DEBUG:
                cli->verbose = true;
                return 1;
        case RP_CLI_OPT_OUTPUT: {
                enum rp_cli_output o = rp_cli_output_from_string(arg);
                if (o < 0)
                        return -rp_cli_usage_error(cli,
                                                   "argument --output/-o: invalid choice '%s' "
                                                   "(choose from json, table, tsv, none)",
                                                   arg);
                cli->output = o;
                return 1;
        }
        case RP_CLI_OPT_HELP:
        case 'h':
                cli->help_requested = true;
                return 1;
        default:
                return 0;
        }
}

int rp_cli_parse(rp_cli *cli, int argc, char **argv, const char *shortopts,
                 const struct option *longopts,
                 int (*on_opt)(void *userdata, int c, char *arg, int argc, char **argv),
                 void *userdata)
{
        static const struct option common[] = {
                { "url", required_argument, NULL, RP_CLI_OPT_URL },
                { "ca", required_argument, NULL, RP_CLI_OPT_CA },
                { "token", required_argument, NULL, RP_CLI_OPT_TOKEN },
                { "data", required_argument, NULL, RP_CLI_OPT_DATA },
                { "subscription", required_argument, NULL, RP_CLI_OPT_SUBSCRIPTION },
                { "config", required_argument, NULL, RP_CLI_OPT_CONFIG },
                { "debug", no_argument, NULL, RP_CLI_OPT_DEBUG },
                { "output", required_argument, NULL, RP_CLI_OPT_OUTPUT },
                { "help", no_argument, NULL, RP_CLI_OPT_HELP },
        };
        struct option all[RP_CLI_MAX_OPTIONS + 1] = {};
        size_t n = 0;
        for (; longopts[n].name; n++) {
                assert(n + ELEMENTSOF(common) < RP_CLI_MAX_OPTIONS);
                all[n] = longopts[n];
        }
        memcpy(all + n, common, sizeof common);
        int c;
        optind = 0; /* full re-initialisation of GNU getopt */
        opterr = 0;
        while ((c = getopt_long(argc, argv, shortopts, all, NULL)) != -1) {
                if (c == '?')
                        return rp_cli_usage_error(cli, "unrecognized argument: %s",
                                                  argv[optind - 1]);
                if (c == ':')
                        return rp_cli_usage_error(cli, "argument %s: expected one argument",
                                                  argv[optind - 1]);
                int k = rp_cli_common_opt(cli, c, optarg);
                if (k < 0)
                        return -k;
                if (cli->help_requested) {
                        fputs(cli->help, stdout);
                        if (!cli->help_complete)
                                fputs(rp_cli_common_help, stdout);
                        return -1;
                }
                if (k > 0)
                        continue;
                k = on_opt(userdata, c, optarg, argc, argv);
                if (k != 0)
                        return k;
        }
        if (optind < argc)
                return rp_cli_usage_error(cli, "unrecognized arguments: %s", argv[optind]);
        return 0;
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
        return rp_cli_fail_errno(cli, k, "waiting for the operation");
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

static char *cell_text(const json_t *row, const rp_cli_column *col, bool derived)
{
        json_t *v = column_value(row, col, derived);
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
        if (!derived && strcmp(col->path, "@resourceGroup") == 0 && v)
                json_decref(v);
        /* a cell is one line: tabs and newlines would break tsv and table alike */
        for (char *p = s; p && *p; p++)
                if (*p == '\t' || *p == '\n' || *p == '\r')
                        *p = ' ';
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

void rp_cli_print(rp_cli *cli, const json_t *v, const rp_cli_column *columns)
{
        if (!v || cli->output == RP_CLI_OUTPUT_NONE)
                return;
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

/* ---------------------------------------------------------------- paths, tags */

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
        json_object_set_new(tags, key, json_string(eq ? eq + 1 : ""));
        return 0;
}

int rp_cli_parse_list(rp_cli *cli, const char *arg, int argc, char **argv, json_t **list)
{
        if (!*list && !(*list = json_array()))
                return RP_CLI_EXIT_ERROR;
        if (*arg && json_array_append_new(*list, json_string(arg)) < 0)
                return RP_CLI_EXIT_ERROR;
        while (optind < argc && argv[optind][0] != '-')
                if (json_array_append_new(*list, json_string(argv[optind++])) < 0)
                        return RP_CLI_EXIT_ERROR;
        return 0;
}

int rp_cli_parse_tags(rp_cli *cli, const char *arg, int argc, char **argv, json_t **tags)
{
        if (!*tags && !(*tags = json_object()))
                return RP_CLI_EXIT_ERROR;
        int k = add_tag(cli, *tags, arg);
        while (k == 0 && optind < argc && argv[optind][0] != '-')
                k = add_tag(cli, *tags, argv[optind++]);
        return k;
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
