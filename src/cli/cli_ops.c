/* cli_ops.c: following several long-running operations at once (the disks of a VM restore,
 * one restore point), with a progress display on stderr.
 *
 * DESIGN: the client is one keep-alive handle and not thread-safe, so the operations are
 * polled in turn from one loop: each has its own next-poll time (its Retry-After), the loop
 * steps the ones that are due and sleeps until the next one is, in 50 ms slices so that
 * Ctrl-C ends the wait at once. Ctrl-C only stops the waiting: the operations go on in rpd.
 *
 * The terminal display is one row per operation, redrawn in place by moving the cursor up
 * over the rows drawn before; every row is cut to the terminal width, since a wrapped row
 * would break that count. What rpd reports is percentComplete, so a row shows the percent,
 * the time so far and the time left at the rate so far; the disk sizes go in the names. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"
#include "util/parse.h"

#define PLAIN_PERIOD_USEC (5 * RP_USEC_PER_SEC)
#define SLICE_MS 50L
#define BAR_WIDTH 20
#define NAME_MAX_WIDTH 40
#define MAX_OPS 256

void rp_cli_ops_init(rp_cli_ops *o, const char *label, bool enabled)
{
        *o = (rp_cli_ops){
                .label = label,
                .enabled = enabled,
                .tty = isatty(STDERR_FILENO) == 1,
        };
}

void rp_cli_ops_done(rp_cli_ops *o)
{
        for (size_t i = 0; i < o->n; i++) {
                rp_free(o->ops[i].name);
                rp_free(o->ops[i].last_status);
                rp_client_lro_free(o->ops[i].lro);
        }
        rp_free(o->ops);
        *o = (rp_cli_ops){ .label = o->label };
}

rp_client_response *rp_cli_ops_response(rp_cli_ops *o, size_t i)
{
        return rp_client_lro_response(o->ops[i].lro);
}

int rp_cli_ops_add(rp_cli_ops *o, const char *name, const char *method, const char *path,
                   const char *api_version, rp_client_response *resp)
{
        if (o->n == MAX_OPS)
                return -E2BIG;
        rp_cli_op *ops = rp_realloc(o->ops, (o->n + 1) * sizeof *ops);
        if (!ops)
                return -ENOMEM;
        o->ops = ops;
        rp_cli_op *op = &o->ops[o->n];
        *op = (rp_cli_op){ .start = rp_now_monotonic(), .last_step = -1 };
        op->next_poll = op->start;
        op->name = rp_strdup(name);
        if (!op->name)
                return -ENOMEM;
        int k = rp_client_lro_new(method, path, api_version, resp, &op->lro);
        if (k < 0) {
                op->name = rp_free(op->name);
                return k;
        }
        if (rp_client_lro_done(op->lro))
                op->end = op->start;
        if (o->enabled && !o->tty) {
                fprintf(stderr, "%s: %s: started\n", o->label, op->name);
                fflush(stderr);
        }
        return (int)o->n++;
}

/* ---------------------------------------------------------------- drawing */

static int term_width(void)
{
        struct winsize ws;
        if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 80;
}

/* Seconds since the start of @p op and the estimated seconds left (-1: unknown). */
static void times(const rp_cli_op *op, rp_usec_t now, double *ret_elapsed, double *ret_left)
{
        rp_usec_t end = op->end ? op->end : now;
        double elapsed = (double)(end - op->start) / RP_USEC_PER_SEC;
        double pc = rp_client_lro_percent(op->lro);
        *ret_elapsed = elapsed;
        *ret_left = pc > 0 && pc < 100 ? elapsed * (100 - pc) / pc : -1;
}

/* The error of a failed operation as "(Code) message", or "". */
static const char *failure(const rp_cli_op *op, char *buf, size_t size)
{
        const rp_client_response *r = rp_client_lro_response(op->lro);
        if (!r->error.code) {
                buf[0] = '\0';
                return buf;
        }
        snprintf(buf, size, ": (%s) %s", r->error.code, rp_strempty(r->error.message));
        return buf;
}

static void draw_row(const rp_cli_op *op, int name_width, rp_usec_t now)
{
        char line[512], el[32], eta[32], why[300];
        double elapsed, left, pc = rp_client_lro_percent(op->lro);
        const char *st = rp_client_lro_status(op->lro);
        times(op, now, &elapsed, &left);
        rp_cli_format_duration(elapsed, el, sizeof el);
        int n = snprintf(line, sizeof line, "%-*.*s ", name_width, name_width, op->name);
        if (op->end && !rp_client_response_ok(rp_client_lro_response(op->lro))) {
                snprintf(line + n, sizeof line - (size_t)n, " %s after %s%s", st, el,
                         failure(op, why, sizeof why));
        } else {
                double frac = op->end ? 1.0 : pc < 0 ? 0.0 : pc / 100.0;
                int fill = (int)(frac * BAR_WIDTH + 0.5);
                line[n++] = '[';
                for (int i = 0; i < BAR_WIDTH; i++)
                        line[n++] = i < fill ? '#' : '.';
                line[n++] = ']';
                line[n] = '\0';
                rp_cli_format_duration(left, eta, sizeof eta);
                if (op->end)
                        snprintf(line + n, sizeof line - (size_t)n, " 100%%  %s  done", el);
                else
                        snprintf(line + n, sizeof line - (size_t)n, " %3.0f%%  %s  %s left",
                                 pc < 0 ? 0.0 : pc, el, eta);
        }
        /* a row never wraps: the redraw counts rows */
        int width = term_width() - 1;
        if (width > 0 && (size_t)width < sizeof line)
                line[width] = '\0';
        fprintf(stderr, "%s\033[K\n", line);
}

static void draw(rp_cli_ops *o)
{
        if (!o->enabled || !o->tty)
                return;
        rp_usec_t now = rp_now_monotonic();
        int name_width = 0;
        for (size_t i = 0; i < o->n; i++)
                name_width = RP_MAX(name_width, (int)strlen(o->ops[i].name));
        name_width = RP_MIN(name_width, NAME_MAX_WIDTH);
        if (o->drawn_rows > 0)
                fprintf(stderr, "\033[%zuA", o->drawn_rows);
        for (size_t i = 0; i < o->n; i++)
                draw_row(&o->ops[i], name_width, now);
        o->drawn_rows = o->n;
        fflush(stderr);
}

/* A plain line for @p op when its 10% step or status changed, it ended, or 5 s passed. */
static void plain_line(rp_cli_ops *o, rp_cli_op *op)
{
        if (!o->enabled || o->tty)
                return;
        rp_usec_t now = rp_now_monotonic();
        const char *st = rp_client_lro_status(op->lro);
        double pc = rp_client_lro_percent(op->lro);
        int step = pc < 0 ? 0 : (int)(pc / 10);
        bool changed = !rp_streq(st, op->last_status);
        if (!changed && !op->end && step == op->last_step &&
            now - op->last_line < PLAIN_PERIOD_USEC)
                return;
        if (changed) {
                char *s = rp_strdup(st);
                if (s) {
                        rp_free(op->last_status);
                        op->last_status = s;
                }
        }
        op->last_step = step;
        op->last_line = now;
        char el[32], eta[32], why[300];
        double elapsed, left;
        times(op, now, &elapsed, &left);
        if (op->end) {
                fprintf(stderr, "%s: %s: %s in %.2f s%s\n", o->label, op->name, st, elapsed,
                        failure(op, why, sizeof why));
        } else {
                rp_cli_format_duration(elapsed, el, sizeof el);
                rp_cli_format_duration(left, eta, sizeof eta);
                fprintf(stderr, "%s: %s: %.0f%% (%s), %s elapsed, %s left\n", o->label, op->name,
                        pc < 0 ? 0.0 : pc, st, el, eta);
        }
        fflush(stderr);
}

/* ---------------------------------------------------------------- the loop */

static int sleep_until(rp_usec_t t)
{
        for (;;) {
                if (rp_cli_cancel)
                        return -ECANCELED;
                rp_usec_t now = rp_now_monotonic();
                if (now >= t)
                        return 0;
                long ms = RP_MIN((long)((t - now) / 1000) + 1, SLICE_MS);
                struct timespec ts = { 0, ms * 1000000L };
                nanosleep(&ts, NULL);
        }
}

int rp_cli_ops_wait(rp_cli *cli, rp_cli_ops *o)
{
        rp_usec_t deadline =
                rp_now_monotonic() + (rp_usec_t)RP_CLI_LRO_TIMEOUT_SEC * RP_USEC_PER_SEC;
        int k = 0;
        draw(o);
        for (;;) {
                rp_usec_t now = rp_now_monotonic(), next = 0;
                bool running = false;
                for (size_t i = 0; i < o->n && k >= 0; i++) {
                        rp_cli_op *op = &o->ops[i];
                        if (op->end)
                                continue;
                        if (op->next_poll <= now) {
                                long delay = 0;
                                k = rp_client_lro_step(cli->client, op->lro, &delay);
                                if (k < 0)
                                        break;
                                now = rp_now_monotonic();
                                if (k > 0)
                                        op->end = now;
                                op->next_poll = now + (rp_usec_t)delay * 1000;
                                plain_line(o, op);
                        }
                        if (!op->end) {
                                running = true;
                                next = next && next < op->next_poll ? next : op->next_poll;
                        }
                }
                draw(o);
                if (k < 0 || !running)
                        break;
                if (rp_now_monotonic() > deadline) {
                        k = -ETIMEDOUT;
                        break;
                }
                k = sleep_until(next);
                if (k < 0)
                        break;
        }
        return k < 0 ? k : 0;
}

/* ---------------------------------------------------------------- az-style wait */

#define WAIT_DEFAULT_INTERVAL_SEC 2u
#define WAIT_MAX_SEC (7u * 86400u)

const char rp_cli_wait_help[] =
        "\n"
        "Wait options (give one of --created, --updated, --deleted, --exists):\n"
        "      --created           until provisioningState is Succeeded (exit 1 if Failed)\n"
        "      --updated           the same as --created\n"
        "      --deleted           until the resource is gone\n"
        "      --exists            until the resource exists\n"
        "      --interval SECONDS  between polls (default 2)\n"
        "      --timeout SECONDS   give up after this long (default 3600)\n";

void rp_cli_wait_opts_init(rp_cli_wait_opts *w)
{
        *w = (rp_cli_wait_opts){ .interval_sec = WAIT_DEFAULT_INTERVAL_SEC,
                                 .timeout_sec = RP_CLI_LRO_TIMEOUT_SEC };
}

int rp_cli_wait_opt(rp_cli *cli, rp_cli_wait_opts *w, int c, const char *arg)
{
        uint64_t *v;
        const char *name;
        switch (c) {
        case RP_CLI_OPT_WAIT_CREATED:
                w->cond = RP_CLI_WAIT_CREATED;
                return 1;
        case RP_CLI_OPT_WAIT_UPDATED:
                w->cond = RP_CLI_WAIT_UPDATED;
                return 1;
        case RP_CLI_OPT_WAIT_DELETED:
                w->cond = RP_CLI_WAIT_DELETED;
                return 1;
        case RP_CLI_OPT_WAIT_EXISTS:
                w->cond = RP_CLI_WAIT_EXISTS;
                return 1;
        case RP_CLI_OPT_WAIT_INTERVAL:
                v = &w->interval_sec;
                name = "--interval";
                break;
        case RP_CLI_OPT_WAIT_TIMEOUT:
                v = &w->timeout_sec;
                name = "--timeout";
                break;
        default:
                return 0;
        }
        if (rp_parse_u64(arg, v) < 0 || *v == 0 || *v > WAIT_MAX_SEC)
                return -rp_cli_usage_error(cli,
                                           "argument %s: '%s' is not a number of seconds "
                                           "from 1 to %u",
                                           name, arg, WAIT_MAX_SEC);
        return 1;
}

/* The message of the first Error status of properties.instanceView, or NULL. */
static const char *error_status(const json_t *res)
{
        size_t i;
        json_t *st;
        json_array_foreach(rp_json_get_path(res, "properties.instanceView.statuses"), i, st)
                if (rp_streq(json_string_value(json_object_get(st, "level")), "Error"))
                        return json_string_value(json_object_get(st, "message"));
        return NULL;
}

int rp_cli_wait_resource(rp_cli *cli, const char *path, const char *api_version, const char *what,
                         const rp_cli_wait_opts *w)
{
        rp_usec_t deadline = rp_now_monotonic() + (rp_usec_t)w->timeout_sec * RP_USEC_PER_SEC;
        for (;;) {
                rp_client_response r = {};
                int k = rp_cli_call(cli, "GET", path, api_version, NULL, true, &r);
                if (k != 0)
                        return k;
                bool found = rp_client_response_ok(&r);
                bool gone = r.status == 404;
                if (!found && !gone) {
                        k = rp_cli_fail_response(cli, &r);
                        rp_client_response_done(&r);
                        return k;
                }
                const char *st =
                        json_string_value(rp_json_get_path(r.body, "properties.provisioningState"));
                bool done = false;
                switch (w->cond) {
                case RP_CLI_WAIT_CREATED:
                case RP_CLI_WAIT_UPDATED:
                        if (found && rp_strcaseeq(st, "Failed")) {
                                const char *msg = error_status(r.body);
                                fprintf(stderr,
                                        "ERROR: (ProvisioningFailed) %s ended in state "
                                        "Failed%s%s\n",
                                        what, msg ? ": " : ".", rp_strempty(msg));
                                rp_client_response_done(&r);
                                return RP_CLI_EXIT_ERROR;
                        }
                        done = found && (!st || rp_strcaseeq(st, "Succeeded"));
                        break;
                case RP_CLI_WAIT_DELETED:
                        done = gone;
                        break;
                case RP_CLI_WAIT_EXISTS:
                        done = found;
                        break;
                default:
                        break;
                }
                rp_client_response_done(&r);
                if (done)
                        return RP_CLI_EXIT_OK;
                if (rp_now_monotonic() > deadline) {
                        fprintf(stderr,
                                "ERROR: (OperationTimeout) %s: the condition did not "
                                "hold within %" PRIu64 " s\n",
                                what, w->timeout_sec);
                        return RP_CLI_EXIT_ERROR;
                }
                rp_usec_t next = rp_now_monotonic() + (rp_usec_t)w->interval_sec * RP_USEC_PER_SEC;
                if (sleep_until(RP_MIN(next, deadline + 1)) < 0)
                        return rp_cli_fail_errno(cli, -ECANCELED, "wait");
        }
}
