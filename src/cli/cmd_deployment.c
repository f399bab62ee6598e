/* cmd_deployment.c: rpctl deployment create|validate|show|list|delete|cancel and
 * rpctl deployment operation list: ARM template deployments at resource-group scope, with the
 * arguments of `az deployment group`.
 *
 * DESIGN: create sends the template and parameters inline, then follows the deployment's
 * operation while polling its deployment operations (one per resource) every second: on a
 * terminal the resources are rows redrawn in place, elsewhere each change of a resource's state
 * is one line. Parameters are given as az takes them: @file.json (a parameters file or a bare
 * {"name":{"value":...}} object), inline JSON, or name=value, whose value is converted to the
 * type the template declares for it (int, bool, object, array). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/parse.h"

/* Largest template or parameters file read (ARM's limit on a template is 4 MB). */
#define MAX_FILE (4u * 1024u * 1024u)
#define POLL_USEC (RP_USEC_PER_SEC)
#define SLICE_NS 50000000L

static const rp_cli_column deployment_columns[] = {
        { "Name", "name" },
        { "State", "properties.provisioningState" },
        { "Timestamp", "properties.timestamp" },
        { "Mode", "properties.mode" },
        {},
};

static const rp_cli_column operation_columns[] = {
        { "Resource", "properties.targetResource.resourceName" },
        { "Type", "properties.targetResource.resourceType" },
        { "State", "properties.provisioningState" },
        { "Status", "properties.statusCode" },
        { "Duration", "properties.duration" },
        {},
};

typedef struct dep_args {
        rp_cli *cli;
        const char *group, *name, *template_file, *mode;
        json_t *params; /* strings as given to --parameters */
        bool no_wait;
} dep_args;

#define OFF(f) offsetof(dep_args, f)
static const rp_cli_arg args_table[] = {
        RP_CLI_ARG("resource-group", 'g', RP_CLI_ARG_STRING, OFF(group)),
        RP_CLI_ARG("name", 'n', RP_CLI_ARG_STRING, OFF(name)),
        RP_CLI_ARG("template-file", 'f', RP_CLI_ARG_STRING, OFF(template_file)),
        RP_CLI_ARG("parameters", 'p', RP_CLI_ARG_LIST, OFF(params)),
        RP_CLI_ARG("mode", 0, RP_CLI_ARG_STRING, OFF(mode)),
        RP_CLI_ARG("no-wait", 0, RP_CLI_ARG_FLAG, OFF(no_wait)),
        RP_CLI_ARG("yes", 'y', RP_CLI_ARG_IGNORE, 0),
        {},
};

static void dep_args_done(dep_args *a)
{
        rp_cli_args_done(args_table, a);
}

static char *dep_path(dep_args *a, const char *suffix)
{
        const char *sub = a->cli->subscription;
        if (!a->name)
                return rp_cli_path("/subscriptions/%s/resourcegroups/%s/providers/"
                                   "Microsoft.Resources/deployments",
                                   sub, a->group);
        _cleanup_free_ char *p = rp_cli_path("/subscriptions/%s/resourcegroups/%s/providers/"
                                             "Microsoft.Resources/deployments/%s",
                                             sub, a->group, a->name);
        return p ? rp_asprintf("%s%s", p, suffix ? suffix : "") : NULL;
}

/* ---------------------------------------------------------------- template and parameters */

static int load_json(rp_cli *cli, const char *path, const char *what, json_t **ret)
{
        _cleanup_free_ char *text = NULL;
        long n = rp_read_file(path, MAX_FILE, &text);
        if (n < 0) {
                fprintf(stderr, "ERROR: cannot read the %s '%s': %s\n", what, path,
                        n == -E2BIG ? "larger than 4 MiB" : strerror((int)-n));
                return RP_CLI_EXIT_USAGE;
        }
        _cleanup_free_ char *err = NULL;
        *ret = rp_json_loads_object(text, (size_t)n, &err);
        if (!*ret) {
                fprintf(stderr, "ERROR: the %s '%s' is not a JSON object: %s\n", what, path,
                        err ? err : "out of memory");
                return RP_CLI_EXIT_USAGE;
        }
        return 0;
}

/* A parameters document: a parameters file ({"$schema", "contentVersion", "parameters"}) or
 * the bare {"name": {"value": ...}} object; its entries go into @p out. */
static int merge_params(rp_cli *cli, json_t *doc, json_t *out)
{
        json_t *inner = json_object_get(doc, "parameters");
        if (json_is_object(inner) &&
            (json_object_get(doc, "$schema") || json_object_get(doc, "contentVersion")))
                doc = inner;
        const char *k;
        json_t *v;
        json_object_foreach(doc, k, v) {
                if (!json_is_object(v))
                        return rp_cli_usage_error(cli,
                                                  "parameter '%s' must be an object with a "
                                                  "\"value\"",
                                                  k);
                if (json_object_set(out, k, v) < 0)
                        return RP_CLI_EXIT_ERROR;
        }
        return 0;
}

/* The value of name=value, typed as the template declares parameter @p name. */
static int typed_value(rp_cli *cli, const json_t *tpl, const char *name, const char *text,
                       json_t **ret)
{
        json_t *decl = rp_json_object_get_ci(json_object_get(tpl, "parameters"), name);
        const char *type = json_string_value(rp_json_object_get_ci(decl, "type"));
        if (type && strcasecmp(type, "int") == 0) {
                int64_t v;
                if (rp_parse_i64(text, &v) < 0)
                        return rp_cli_usage_error(cli, "parameter '%s' is an int: '%s' is not",
                                                  name, text);
                *ret = json_integer(v);
        } else if (type && strcasecmp(type, "bool") == 0) {
                if (strcasecmp(text, "true") != 0 && strcasecmp(text, "false") != 0)
                        return rp_cli_usage_error(cli,
                                                  "parameter '%s' is a bool: use true or "
                                                  "false",
                                                  name);
                *ret = json_boolean(strcasecmp(text, "true") == 0);
        } else if (type && (strcasecmp(type, "object") == 0 || strcasecmp(type, "array") == 0 ||
                            strcasecmp(type, "secureObject") == 0)) {
                json_error_t e;
                *ret = json_loads(text, JSON_DECODE_ANY, &e);
                if (!*ret)
                        return rp_cli_usage_error(cli, "parameter '%s' is JSON (%s): %s", name,
                                                  type, e.text);
        } else {
                *ret = json_string(text);
        }
        return *ret ? 0 : RP_CLI_EXIT_ERROR;
}

/* The "parameters" of the request from every --parameters argument, in order (later ones
 * win, as in az). */
static int build_params(dep_args *a, const json_t *tpl, json_t **ret)
{
        _cleanup_json_ json_t *out = json_object();
        if (!out)
                return RP_CLI_EXIT_ERROR;
        size_t i;
        json_t *s;
        json_array_foreach(a->params, i, s) {
                const char *arg = json_string_value(s);
                _cleanup_json_ json_t *doc = NULL;
                int k = 0;
                if (arg[0] == '@') {
                        k = load_json(a->cli, arg + 1, "parameters file", &doc);
                } else if (arg[0] == '{') {
                        _cleanup_free_ char *err = NULL;
                        doc = rp_json_loads_object(arg, strlen(arg), &err);
                        if (!doc)
                                k = rp_cli_usage_error(a->cli, "--parameters: bad JSON: %s",
                                                       err ? err : "out of memory");
                } else {
                        const char *eq = strchr(arg, '=');
                        if (!eq || eq == arg)
                                return rp_cli_usage_error(a->cli,
                                                          "--parameters: '%s' is neither "
                                                          "@FILE, JSON nor NAME=VALUE",
                                                          arg);
                        _cleanup_free_ char *name = rp_strndup(arg, (size_t)(eq - arg));
                        json_t *v = NULL;
                        k = name ? typed_value(a->cli, tpl, name, eq + 1, &v) : RP_CLI_EXIT_ERROR;
                        if (k == 0 &&
                            json_object_set_new(out, name, json_pack("{s:o}", "value", v)) < 0)
                                k = RP_CLI_EXIT_ERROR;
                }
                if (k == 0 && doc)
                        k = merge_params(a->cli, doc, out);
                if (k != 0)
                        return k;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* The request body of create and validate. */
static int build_body(dep_args *a, json_t **ret)
{
        _cleanup_json_ json_t *tpl = NULL, *params = NULL;
        int k = load_json(a->cli, a->template_file, "template file", &tpl);
        if (k == 0)
                k = build_params(a, tpl, &params);
        if (k != 0)
                return k;
        *ret = json_pack("{s:{s:O, s:O, s:s}}", "properties", "template", tpl, "parameters", params,
                         "mode", a->mode ? a->mode : "Incremental");
        return *ret ? 0 : RP_CLI_EXIT_ERROR;
}

/* The deployment name az picks: the template file's name without directory and extension. */
static char *default_name(const char *file)
{
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        const char *dot = strrchr(base, '.');
        size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        char *s = rp_strndup(base, n);
        for (char *p = s; p && *p; p++)
                if (!(strchr("-_.()", *p) || (*p >= '0' && *p <= '9') ||
                      ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
                        *p = '_';
        return s;
}

/* Print the details of a deployment error (the resources' own errors). */
static void print_details(const json_t *body)
{
        json_t *e = json_object_get(body, "error");
        if (!e)
                e = rp_json_get_path(body, "properties.error");
        json_t *d;
        size_t i;
        json_array_foreach(json_object_get(e, "details"), i, d) {
                fprintf(stderr, "  (%s) %s\n",
                        json_string_value(json_object_get(d, "code")) ?: "Error",
                        json_string_value(json_object_get(d, "message")) ?: "");
                const char *t = json_string_value(json_object_get(d, "target"));
                if (t)
                        fprintf(stderr, "  Target: %s\n", t);
        }
}

/* ---------------------------------------------------------------- progress of create */

typedef struct watch {
        bool tty;
        json_t *states; /* resource id -> last state shown */
        json_t *rows;   /* the last operations list, for the terminal */
        size_t drawn;
} watch;

static void watch_draw(watch *w)
{
        if (w->drawn > 0)
                fprintf(stderr, "\033[%zuA", w->drawn);
        json_t *op;
        size_t i;
        json_array_foreach(w->rows, i, op) {
                json_t *p = json_object_get(op, "properties");
                fprintf(stderr, "%-60.60s %-10s %s\033[K\n",
                        json_string_value(rp_json_get_path(p, "targetResource.id")) ?: "?",
                        json_string_value(json_object_get(p, "provisioningState")) ?: "?",
                        json_string_value(json_object_get(p, "duration")) ?: "");
        }
        w->drawn = json_array_size(w->rows);
        fflush(stderr);
}

/* Read the deployment operations; print what changed. */
static void watch_poll(rp_cli *cli, watch *w, const char *ops_path)
{
        _cleanup_json_ json_t *items = NULL;
        rp_client_response r = {};
        int k = rp_client_list(cli->client, ops_path, RP_CLI_API_RESOURCES, &items, &r);
        rp_client_response_done(&r);
        if (k < 0 || !items)
                return; /* progress is best effort: the operation's own end decides */
        json_t *op;
        size_t i;
        json_array_foreach(items, i, op) {
                json_t *p = json_object_get(op, "properties");
                const char *id = json_string_value(rp_json_get_path(p, "targetResource.id"));
                const char *st = json_string_value(json_object_get(p, "provisioningState"));
                if (!id || !st || rp_streq(json_string_value(json_object_get(w->states, id)), st))
                        continue;
                json_object_set_new(w->states, id, json_string(st));
                if (w->tty)
                        continue;
                const char *code =
                        json_string_value(rp_json_get_path(p, "statusMessage.error.code"));
                fprintf(stderr, "deployment: %s '%s': %s%s%s%s\n",
                        json_string_value(rp_json_get_path(p, "targetResource.resourceType")),
                        json_string_value(rp_json_get_path(p, "targetResource.resourceName")), st,
                        code ? " (" : "", code ? code : "", code ? ")" : "");
                fflush(stderr);
        }
        if (w->tty) {
                json_decref(w->rows);
                w->rows = json_incref(items);
                watch_draw(w);
        }
}

static int sleep_until(rp_usec_t t)
{
        while (rp_now_monotonic() < t) {
                if (rp_cli_cancel)
                        return -ECANCELED;
                struct timespec ts = { 0, SLICE_NS };
                nanosleep(&ts, NULL);
        }
        return rp_cli_cancel ? -ECANCELED : 0;
}

/* Follow the deployment that @p resp started to its end, showing its resources. @p resp is
 * replaced by the final response. @return 0 or a negative errno. */
static int follow(dep_args *a, const char *path, rp_client_response *resp)
{
        _cleanup_free_ char *ops_path = dep_path(a, "/operations");
        rp_client_lro *lro = NULL;
        int k = ops_path ? rp_client_lro_new("PUT", path, RP_CLI_API_RESOURCES, resp, &lro)
                         : -ENOMEM;
        if (k < 0)
                return k;
        watch w = { .tty = isatty(STDERR_FILENO) == 1 && a->cli->output != RP_CLI_OUTPUT_NONE,
                    .states = json_object() };
        rp_usec_t deadline =
                rp_now_monotonic() + (rp_usec_t)RP_CLI_LRO_TIMEOUT_SEC * RP_USEC_PER_SEC;
        while (k >= 0 && !rp_client_lro_done(lro)) {
                rp_usec_t next = rp_now_monotonic() + POLL_USEC;
                watch_poll(a->cli, &w, ops_path);
                k = rp_client_lro_step(a->cli->client, lro, NULL);
                if (k != 0)
                        break;
                if (rp_now_monotonic() > deadline)
                        k = -ETIMEDOUT;
                else
                        k = sleep_until(next);
        }
        if (k >= 0)
                watch_poll(a->cli, &w, ops_path);
        json_decref(w.states);
        json_decref(w.rows);
        rp_client_response *fin = rp_client_lro_response(lro);
        *resp = *fin;
        *fin = (rp_client_response){};
        rp_client_lro_free(lro);
        return k < 0 ? k : 0;
}

/* create and validate: parse, default the name to the template file's, build the body. */
static int template_args(dep_args *a, int argc, char **argv, char **ret_name, json_t **ret_body)
{
        int k = rp_cli_setup(a->cli, argc, argv, args_table,
                             "resource-group! template-file! name parameters mode no-wait", a);
        if (k != 0)
                return k;
        if (!a->name) {
                *ret_name = default_name(a->template_file);
                if (!*ret_name)
                        return RP_CLI_EXIT_ERROR;
                a->name = *ret_name;
        }
        return build_body(a, ret_body);
}

/* ---------------------------------------------------------------- verbs */

static const char create_help[] =
        "Usage: rpctl deployment create -g GROUP --template-file FILE\n"
        "                               [--parameters @FILE | JSON | NAME=VALUE ...]\n"
        "                               [--name NAME] [--mode Incremental] [--no-wait]\n"
        "\n"
        "Deploy an ARM template into a resource group, showing each resource as it is\n"
        "deployed, then print the deployment. Fails (exit 1) with each failed resource's\n"
        "error when the deployment fails.\n"
        "\n"
        "Options:\n"
        "  -g, --resource-group GROUP      the resource group to deploy into\n"
        "  -f, --template-file FILE        the template (JSON)\n"
        "  -p, --parameters ARG ...        @params.json (a parameters file or a\n"
        "                                  {\"name\":{\"value\":...}} object), inline JSON, or\n"
        "                                  NAME=VALUE (typed as the template declares NAME);\n"
        "                                  repeatable, later values win\n"
        "  -n, --name NAME                 the deployment name (default: the template file's\n"
        "                                  name without extension)\n"
        "      --mode MODE                 Incremental (the only mode rpd supports)\n"
        "      --no-wait                   return once the deployment is accepted\n"
        "\n"
        "Examples:\n"
        "  rpctl deployment create -g rg1 -f rp.json -p vmId=$VM_ID collectionName=c1\n"
        "  rpctl deployment create -g rg1 -f restore.json -p @restore.parameters.json -n r1\n";

static int dep_create(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(dep_args_done) dep_args a = { .cli = cli };
        _cleanup_free_ char *name = NULL;
        _cleanup_json_ json_t *body = NULL;
        int k = template_args(&a, argc, argv, &name, &body);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = dep_path(&a, NULL);
        _cleanup_(rp_client_response_done) rp_client_response r = {};
        k = path ? rp_client_request(cli->client, "PUT", path, RP_CLI_API_RESOURCES, body, &r)
                 : -ENOMEM;
        if (k < 0)
                return rp_cli_fail_errno(cli, k, "PUT");
        if (!rp_client_response_ok(&r) || a.no_wait) {
                if (!rp_client_response_ok(&r))
                        return rp_cli_fail_response(cli, &r);
                rp_cli_print(cli, r.body, deployment_columns);
                return 0;
        }
        k = follow(&a, path, &r);
        if (k < 0)
                return rp_cli_fail_wait(cli, k);
        if (!rp_client_response_ok(&r)) {
                k = rp_cli_fail_response(cli, &r);
                print_details(r.body);
                return k;
        }
        /* the final answer (Location) is the deployment; read it again to be sure */
        _cleanup_json_ json_t *dep = NULL;
        k = rp_cli_get(cli, path, RP_CLI_API_RESOURCES, &dep);
        if (k != 0)
                return k;
        rp_cli_print(cli, dep, deployment_columns);
        return 0;
}

static const char validate_help[] =
        "Usage: rpctl deployment validate -g GROUP --template-file FILE\n"
        "                                 [--parameters ...] [--name NAME]\n"
        "\n"
        "Check a template and its parameters as create would, without deploying anything.\n"
        "\n"
        "Options: as for 'rpctl deployment create'.\n"
        "\n"
        "Example:\n"
        "  rpctl deployment validate -g rg1 -f rp.json -p vmId=$VM_ID\n";

static int dep_validate(rp_cli *cli, int argc, char **argv)
{
        _cleanup_(dep_args_done) dep_args a = { .cli = cli };
        _cleanup_free_ char *name = NULL;
        _cleanup_json_ json_t *body = NULL;
        int k = template_args(&a, argc, argv, &name, &body);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = dep_path(&a, "/validate");
        _cleanup_(rp_client_response_done) rp_client_response r = {};
        k = path ? rp_cli_call(cli, "POST", path, RP_CLI_API_RESOURCES, body, false, &r)
                 : RP_CLI_EXIT_ERROR;
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r))
                return rp_cli_fail_response(cli, &r);
        rp_cli_print(cli, r.body, deployment_columns);
        return 0;
}

/* show, delete, cancel: one request on the named deployment. */
static int simple(rp_cli *cli, int argc, char **argv, const char *method, const char *suffix,
                  bool print)
{
        _cleanup_(dep_args_done) dep_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, "resource-group! name! no-wait yes", &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = dep_path(&a, suffix);
        _cleanup_(rp_client_response_done) rp_client_response r = {};
        k = path ? rp_cli_call(cli, method, path, RP_CLI_API_RESOURCES, NULL, a.no_wait, &r)
                 : RP_CLI_EXIT_ERROR;
        if (k != 0)
                return k;
        if (!rp_client_response_ok(&r))
                return rp_cli_fail_response(cli, &r);
        if (print)
                rp_cli_print(cli, r.body, deployment_columns);
        return 0;
}

static const char show_help[] = "Usage: rpctl deployment show -g GROUP --name NAME\n"
                                "\n"
                                "Show a deployment: its state, outputs and output resources,\n"
                                "or the error of a failed one.\n"
                                "\n"
                                "Example:\n"
                                "  rpctl deployment show -g rg1 -n rp\n";

static int dep_show(rp_cli *cli, int argc, char **argv)
{
        return simple(cli, argc, argv, "GET", NULL, true);
}

static const char delete_help[] =
        "Usage: rpctl deployment delete -g GROUP --name NAME [--no-wait]\n"
        "\n"
        "Delete a deployment's record (never the resources it deployed). A running deployment\n"
        "must be canceled first.\n"
        "\n"
        "Example:\n"
        "  rpctl deployment delete -g rg1 -n rp\n";

static int dep_delete(rp_cli *cli, int argc, char **argv)
{
        return simple(cli, argc, argv, "DELETE", NULL, false);
}

static const char cancel_help[] = "Usage: rpctl deployment cancel -g GROUP --name NAME\n"
                                  "\n"
                                  "Cancel a running deployment: resources not yet started are\n"
                                  "not deployed; those already deployed stay.\n"
                                  "\n"
                                  "Example:\n"
                                  "  rpctl deployment cancel -g rg1 -n rp\n";

static int dep_cancel(rp_cli *cli, int argc, char **argv)
{
        return simple(cli, argc, argv, "POST", "/cancel", false);
}

/* list, operation list: a list reply. */
static int list(rp_cli *cli, int argc, char **argv, const char *spec, const char *suffix,
                const rp_cli_column *columns)
{
        _cleanup_(dep_args_done) dep_args a = { .cli = cli };
        int k = rp_cli_setup(cli, argc, argv, args_table, spec, &a);
        if (k != 0)
                return k;
        _cleanup_free_ char *path = dep_path(&a, suffix);
        _cleanup_json_ json_t *items = NULL;
        _cleanup_(rp_client_response_done) rp_client_response r = {};
        k = path ? rp_client_list(cli->client, path, RP_CLI_API_RESOURCES, &items, &r) : -ENOMEM;
        if (k < 0)
                return rp_cli_fail_errno(cli, k, "list");
        if (!items)
                return rp_cli_fail_response(cli, &r);
        rp_cli_print(cli, items, columns);
        return 0;
}

static const char list_help[] = "Usage: rpctl deployment list -g GROUP\n"
                                "\n"
                                "List the deployments of a resource group.\n"
                                "\n"
                                "Example:\n"
                                "  rpctl deployment list -g rg1 -o table\n";

static int dep_list(rp_cli *cli, int argc, char **argv)
{
        return list(cli, argc, argv, "resource-group!", NULL, deployment_columns);
}

static const char op_list_help[] =
        "Usage: rpctl deployment operation list -g GROUP --name NAME\n"
        "\n"
        "List the operations of a deployment: one per resource it started, with its state,\n"
        "HTTP status and, for a failed one, its error.\n"
        "\n"
        "Example:\n"
        "  rpctl deployment operation list -g rg1 -n rp -o table\n";

static int op_list(rp_cli *cli, int argc, char **argv)
{
        return list(cli, argc, argv, "resource-group! name!", "/operations", operation_columns);
}

static const rp_cli_verb op_verbs[] = {
        { "list", "list the operations of a deployment", op_list_help, op_list },
};

static int dep_operation(rp_cli *cli, int argc, char **argv)
{
        return rp_cli_dispatch("deployment operation",
                               "Deployment operations: one per resource of a deployment.", op_verbs,
                               ELEMENTSOF(op_verbs), argc, argv);
}

static const rp_cli_verb verbs[] = {
        { "create", "deploy a template into a resource group, with progress", create_help,
          dep_create },
        { "validate", "check a template and parameters without deploying", validate_help,
          dep_validate },
        { "show", "show a deployment", show_help, dep_show },
        { "list", "list the deployments of a resource group", list_help, dep_list },
        { "delete", "delete a deployment record", delete_help, dep_delete },
        { "cancel", "cancel a running deployment", cancel_help, dep_cancel },
        { "operation", "list deployment operations ('operation --help')", NULL, dep_operation },
};

int rp_cmd_deployment(int argc, char **argv)
{
        return rp_cli_dispatch("deployment",
                               "Deploy ARM templates into resource groups (az deployment group).",
                               verbs, ELEMENTSOF(verbs), argc, argv);
}
