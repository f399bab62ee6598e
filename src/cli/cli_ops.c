/* cli_ops.c: following several long-running operations at once (the disks of a VM restore,
 * one restore point, the disks of a copy between regions), with a progress display on stderr.
 *
 * DESIGN: the client is one keep-alive handle and not thread-safe, so the operations are
 * polled in turn from one loop: each has its own next-poll time (its Retry-After), the loop
 * steps the ones that are due and sleeps until the next one is, in 50 ms slices so that
 * Ctrl-C ends the wait at once. Ctrl-C only stops the waiting: the operations go on in rpd.
 *
 * A row is either an LRO (its status and percentComplete come from the follower) or fed by
 * its caller through rp_cli_ops_update() (the copy of a disk restore point, whose progress
 * rpd reports in the restore point's instance view). Both draw the same way: the percent,
 * and when the bytes are known (a disk's size, or what the copy reports) the bytes, the rate
 * and the time left; otherwise the time left at the rate so far.
 *
 * The terminal display is one row per operation, redrawn in place by moving the cursor up
 * over the rows drawn before; every row is cut to the terminal width, since a wrapped row
 * would break that count. */
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

#define PLAIN_PERIOD_USEC (5 * RP_USEC_PER_SEC)
#define SLICE_MS 50L
#define BAR_WIDTH 20
#define NAME_MAX_WIDTH 40
#define MAX_OPS 256
#define COPY_POLL_USEC (RP_USEC_PER_SEC / 2) /* rpd updates a copy's progress every second */

void rp_cli_ops_init(rp_cli_ops *o, const char *label, bool enabled)
{
        *o = (rp_cli_ops){
                .label = label,
                .enabled = enabled,
                .tty = isatty(STDERR_FILENO) == 1,
        };
}

static void op_done(rp_cli_op *op)
{
        rp_free(op->name);
        rp_free(op->last_status);
        rp_free(op->status);
        rp_free(op->error);
        rp_client_lro_free(op->lro);
}

void rp_cli_ops_done(rp_cli_ops *o)
{
        for (size_t i = 0; i < o->n; i++)
                op_done(&o->ops[i]);
        rp_free(o->ops);
        *o = (rp_cli_ops){ .label = o->label };
}

rp_client_response *rp_cli_ops_response(rp_cli_ops *o, size_t i)
{
        return rp_client_lro_response(o->ops[i].lro);
}

/* A new row, not yet counted in o->n. @return it, or NULL (-E2BIG or -ENOMEM in @p ret_k). */
static rp_cli_op *new_row(rp_cli_ops *o, const char *name, int *ret_k)
{
        if (o->n == MAX_OPS) {
                *ret_k = -E2BIG;
                return NULL;
        }
        rp_cli_op *ops = rp_realloc(o->ops, (o->n + 1) * sizeof *ops);
        if (!ops) {
                *ret_k = -ENOMEM;
                return NULL;
        }
        o->ops = ops;
        rp_cli_op *op = &o->ops[o->n];
        *op = (rp_cli_op){
                .start = rp_now_monotonic(),
                .last_step = -1,
                .percent = -1,
                .done = -1,
                .rate = -1,
                .left = -1,
        };
        op->next_poll = op->start;
        op->name = rp_strdup(name);
        if (!op->name) {
                *ret_k = -ENOMEM;
                return NULL;
        }
        return op;
}

static void started_line(rp_cli_ops *o, const rp_cli_op *op)
{
        if (o->enabled && !o->tty) {
                fprintf(stderr, "%s: %s: started\n", o->label, op->name);
                fflush(stderr);
        }
}

int rp_cli_ops_add(rp_cli_ops *o, const char *name, const char *method, const char *path,
                   const char *api_version, rp_client_response *resp)
{
        int k = 0;
        rp_cli_op *op = new_row(o, name, &k);
        if (!op)
                return k;
        k = rp_client_lro_new(method, path, api_version, resp, &op->lro);
        if (k < 0) {
                op->name = rp_free(op->name);
                return k;
        }
        if (rp_client_lro_done(op->lro))
                op->end = op->start;
        started_line(o, op);
        return (int)o->n++;
}

int rp_cli_ops_add_row(rp_cli_ops *o, const char *name)
{
        int k = 0;
        rp_cli_op *op = new_row(o, name, &k);
        if (!op)
                return k;
        op->status = rp_strdup("InProgress");
        if (!op->status) {
                op->name = rp_free(op->name);
                return -ENOMEM;
        }
        started_line(o, op);
        return (int)o->n++;
}

void rp_cli_ops_set_total(rp_cli_ops *o, size_t i, uint64_t bytes)
{
        o->ops[i].total = bytes;
}

/* ---------------------------------------------------------------- one row's state */

static const char *op_status(const rp_cli_op *op)
{
        return op->lro ? rp_client_lro_status(op->lro) : rp_strempty(op->status);
}

static double op_percent(const rp_cli_op *op)
{
        return op->lro ? rp_client_lro_percent(op->lro) : op->percent;
}

static bool op_failed(const rp_cli_op *op)
{
        return op->lro ? !rp_client_response_ok(rp_client_lro_response(op->lro)) : op->failed;
}

/* The error of a failed operation as ": (Code) message", or "". */
static const char *failure(const rp_cli_op *op, char *buf, size_t size)
{
        buf[0] = '\0';
        if (!op->lro) {
                if (op->error)
                        snprintf(buf, size, ": %s", op->error);
                return buf;
        }
        const rp_client_response *r = rp_client_lro_response(op->lro);
        if (r->error.code)
                snprintf(buf, size, ": (%s) %s", r->error.code, rp_strempty(r->error.message));
        return buf;
}

/* What a row shows: times, bytes and rate, from what was reported or from the percent. */
typedef struct row_figures {
        double elapsed, left, percent, rate; /* left, rate: -1 unknown */
        int64_t done;                        /* -1 unknown */
} row_figures;

static row_figures figures(const rp_cli_op *op, rp_usec_t now)
{
        rp_usec_t end = op->end ? op->end : now;
        row_figures f = { .elapsed = (double)(end - op->start) / RP_USEC_PER_SEC,
                          .left = op->left,
                          .percent = op->end && !op_failed(op) ? 100 : op_percent(op),
                          .rate = op->rate,
                          .done = op->done };
        if (op->end && !op_failed(op) && op->total)
                f.done = (int64_t)op->total;
        else if (f.done < 0 && op->total && f.percent >= 0)
                f.done = (int64_t)((double)op->total * f.percent / 100.0);
        if (op->end && f.done >= 0 && f.elapsed > 0)
                f.rate = (double)f.done / f.elapsed; /* the mean, at the end */
        if (f.rate < 0 && f.done >= 0 && f.elapsed > 0)
                f.rate = (double)f.done / f.elapsed;
        if (op->end)
                f.left = 0;
        else if (f.left < 0 && f.percent > 0 && f.percent < 100)
                f.left = f.elapsed * (100 - f.percent) / f.percent;
        return f;
}

/* "12.0 MiB / 24.0 MiB  30.1 MB/s" (@p sep " / ", "  ") or "" when the bytes are unknown. */
static const char *bytes_text(const rp_cli_op *op, const row_figures *f, const char *of,
                              const char *sep, char *buf, size_t size)
{
        char done[32], total[32];
        buf[0] = '\0';
        if (f->done < 0)
                return buf;
        rp_cli_format_bytes((uint64_t)f->done, done, sizeof done);
        if (op->total)
                snprintf(buf, size, "%s%s%s%s%.1f MB/s", done, of,
                         rp_cli_format_bytes(op->total, total, sizeof total), sep,
                         f->rate < 0 ? 0.0 : f->rate / 1e6);
        else
                snprintf(buf, size, "%s%s%.1f MB/s", done, sep, f->rate < 0 ? 0.0 : f->rate / 1e6);
        return buf;
}

/* ---------------------------------------------------------------- drawing */

static int term_width(void)
{
        struct winsize ws;
        if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 80;
}

static void draw_row(const rp_cli_ops *o, const rp_cli_op *op, int name_width, rp_usec_t now)
{
        char line[512], el[32], eta[32], why[300], bytes[96];
        row_figures f = figures(op, now);
        rp_cli_format_duration(f.elapsed, el, sizeof el);
        int n = snprintf(line, sizeof line, "%s: %-*.*s ", o->label, name_width, name_width,
                         op->name);
        if (op->end && op_failed(op)) {
                snprintf(line + n, sizeof line - (size_t)n, " %s after %s%s", op_status(op), el,
                         failure(op, why, sizeof why));
        } else {
                double frac = f.percent < 0 ? 0.0 : f.percent / 100.0;
                int fill = (int)(frac * BAR_WIDTH + 0.5);
                line[n++] = '[';
                for (int i = 0; i < BAR_WIDTH; i++)
                        line[n++] = i < fill ? '#' : '.';
                line[n++] = ']';
                line[n] = '\0';
                rp_cli_format_duration(f.left, eta, sizeof eta);
                bytes_text(op, &f, " / ", "  ", bytes, sizeof bytes);
                if (op->end)
                        snprintf(line + n, sizeof line - (size_t)n, " 100%%  %s%s%s  done", bytes,
                                 *bytes ? "  " : "", el);
                else
                        snprintf(line + n, sizeof line - (size_t)n, " %3.0f%%  %s%s%s  %s left",
                                 f.percent < 0 ? 0.0 : f.percent, bytes, *bytes ? "  " : "", el,
                                 eta);
        }
        /* a row never wraps: the redraw counts rows */
        int width = term_width() - 1;
        if (width > 0 && (size_t)width < sizeof line)
                line[width] = '\0';
        fprintf(stderr, "%s\033[K\n", line);
}

void rp_cli_ops_draw(rp_cli_ops *o)
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
                draw_row(o, &o->ops[i], name_width, now);
        o->drawn_rows = o->n;
        fflush(stderr);
}

/* A plain line for @p op when its 10% step or status changed, it ended, or 5 s passed. */
static void plain_line(rp_cli_ops *o, rp_cli_op *op)
{
        if (!o->enabled || o->tty)
                return;
        rp_usec_t now = rp_now_monotonic();
        const char *st = op_status(op);
        row_figures f = figures(op, now);
        int step = f.percent < 0 ? 0 : (int)(f.percent / 10);
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
        char el[32], eta[32], why[300], bytes[96];
        bytes_text(op, &f, " of ", ", ", bytes, sizeof bytes);
        if (op->end && !op->lro && !op->updated) { /* it had ended before we looked */
                fprintf(stderr, "%s: %s: %s%s\n", o->label, op->name, st,
                        failure(op, why, sizeof why));
        } else if (op->end) {
                fprintf(stderr, "%s: %s: %s in %.2f s%s%s%s\n", o->label, op->name, st, f.elapsed,
                        *bytes && !op_failed(op) ? ", " : "", op_failed(op) ? "" : bytes,
                        failure(op, why, sizeof why));
        } else {
                rp_cli_format_duration(f.elapsed, el, sizeof el);
                rp_cli_format_duration(f.left, eta, sizeof eta);
                fprintf(stderr, "%s: %s: %.0f%% (%s), %s%s%s elapsed, %s left\n", o->label,
                        op->name, f.percent < 0 ? 0.0 : f.percent, st, bytes, *bytes ? ", " : "",
                        el, eta);
        }
        fflush(stderr);
}

void rp_cli_ops_update(rp_cli_ops *o, size_t i, const rp_cli_row_update *u)
{
        rp_cli_op *op = &o->ops[i];
        if (op->end)
                return;
        char *st = rp_strdup(u->status);
        if (st) {
                rp_free(op->status);
                op->status = st;
        }
        op->percent = u->percent;
        op->done = u->done;
        op->rate = u->rate;
        op->left = u->left;
        if (u->total)
                op->total = u->total;
        if (u->ended) {
                op->end = rp_now_monotonic();
                op->failed = u->failed;
                op->error = u->error ? rp_strdup(u->error) : NULL;
        }
        plain_line(o, op);
        op->updated = true;
}

/* ---------------------------------------------------------------- the loop */

int rp_cli_sleep_until(rp_usec_t t)
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
        rp_cli_ops_draw(o);
        for (;;) {
                rp_usec_t now = rp_now_monotonic(), next = 0;
                bool running = false;
                for (size_t i = 0; i < o->n && k >= 0; i++) {
                        rp_cli_op *op = &o->ops[i];
                        if (op->end || !op->lro)
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
                rp_cli_ops_draw(o);
                if (k < 0 || !running)
                        break;
                if (rp_now_monotonic() > deadline) {
                        k = -ETIMEDOUT;
                        break;
                }
                k = rp_cli_sleep_until(next);
                if (k < 0)
                        break;
        }
        return k < 0 ? k : 0;
}

/* ---------------------------------------------------------------- copies between regions */

/* The copy state of the restore point @p rp (GET with $expand=instanceView): its
 * "ReplicationState/..." status code, or NULL when it is not a copy. */
static const char *copy_state(const json_t *rp)
{
        size_t i;
        json_t *st;
        json_array_foreach(rp_json_get_path(rp, "properties.instanceView.statuses"), i, st) {
                const char *code = json_string_value(json_object_get(st, "code"));
                if (code && strncmp(code, "ReplicationState/", 17) == 0)
                        return code;
        }
        return NULL;
}

/* The name of the source disk whose disk restore point is @p drp_id, from sourceMetadata;
 * else the last segment of the id. Borrowed from @p rp. */
static const char *copy_disk_name(const json_t *rp, const char *drp_id)
{
        const json_t *sp = rp_json_get_path(rp, "properties.sourceMetadata.storageProfile");
        const json_t *entries[65];
        size_t n = 0;
        if (json_object_get(sp, "osDisk"))
                entries[n++] = json_object_get(sp, "osDisk");
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(sp, "dataDisks"), i, e) {
                if (n < ELEMENTSOF(entries))
                        entries[n++] = e;
        }
        for (i = 0; i < n; i++) {
                const char *id =
                        json_string_value(rp_json_get_path(entries[i], "diskRestorePoint.id"));
                const char *name = json_string_value(json_object_get(entries[i], "name"));
                if (name && rp_strcaseeq(id, drp_id))
                        return name;
        }
        const char *slash = strrchr(drp_id, '/');
        return slash ? slash + 1 : drp_id;
}

int rp_cli_copy_message_parse(const char *msg, rp_cli_row_update *u)
{
        uint64_t done = 0, needed = 0;
        double mbps = 0;
        int64_t left = 0;
        if (!msg ||
            sscanf(msg, "%" SCNu64 " of %" SCNu64 " bytes copied, %lf MB/s, %" SCNd64 " s left",
                   &done, &needed, &mbps, &left) != 4 ||
            needed == 0 || done > needed || mbps < 0) /* 0 needed: not known yet */
                return -EBADMSG;
        u->done = (int64_t)done;
        u->total = needed;
        u->rate = mbps * 1e6;
        u->left = left < 0 ? -1 : (double)left;
        return 0;
}

/* Feed the rows of @p o from one GET of the restore point; add them on the first call. */
static int copy_rows(rp_cli_ops *o, const json_t *rp, bool first)
{
        size_t i, row = 0;
        json_t *d;
        json_array_foreach(rp_json_get_path(rp, "properties.instanceView.diskRestorePoints"), i,
                           d) {
                const char *id = json_string_value(json_object_get(d, "id"));
                if (!id)
                        continue;
                if (first) {
                        _cleanup_free_ char *name =
                                rp_asprintf("disk '%s'", copy_disk_name(rp, id));
                        int k = name ? rp_cli_ops_add_row(o, name) : -ENOMEM;
                        if (k < 0)
                                return k;
                }
                if (row >= o->n)
                        break;
                const json_t *rs = json_object_get(d, "replicationStatus");
                const char *code = json_string_value(rp_json_get_path(rs, "status.code"));
                const char *msg = json_string_value(rp_json_get_path(rs, "status.message"));
                json_t *pct = json_object_get(rs, "completionPercent");
                bool ok = rp_streq(code, "ReplicationState/succeeded");
                bool bad = rp_streq(code, "ReplicationState/failed");
                rp_cli_row_update u = {
                        .status = ok    ? "Succeeded"
                                  : bad ? "Failed"
                                        : "InProgress",
                        .percent = json_is_number(pct) ? json_number_value(pct) : -1,
                        .done = -1,
                        .rate = -1,
                        .left = -1,
                        .ended = ok || bad,
                        .failed = bad,
                };
                _cleanup_free_ char *why =
                        bad ? rp_asprintf("(ReplicationFailed) %s", msg ? msg : "The copy failed.")
                            : NULL;
                u.error = why;
                if (!ok && !bad)
                        (void)rp_cli_copy_message_parse(msg, &u);
                rp_cli_ops_update(o, row++, &u);
        }
        return 0;
}

int rp_cli_follow_copy(rp_cli *cli, const char *path, const char *name, bool progress,
                       uint64_t timeout_sec, json_t **ret)
{
        _cleanup_free_ char *url = rp_asprintf("%s?$expand=instanceView", path);
        if (!url)
                return RP_CLI_EXIT_ERROR;
        _cleanup_(rp_cli_ops_done) rp_cli_ops ops;
        rp_cli_ops_init(&ops, "copy", progress);
        rp_usec_t deadline = timeout_sec ? rp_now_monotonic() + timeout_sec * RP_USEC_PER_SEC : 0;
        bool first = true;
        for (;;) {
                _cleanup_json_ json_t *rp = NULL;
                int k = rp_cli_get(cli, url, RP_CLI_API_COMPUTE, &rp);
                if (k != 0)
                        return k;
                const char *state = copy_state(rp);
                if (first && (!state || rp_streq(state, "ReplicationState/succeeded"))) {
                        *ret = TAKE_PTR(rp); /* not a copy, or one already done */
                        return 0;
                }
                k = copy_rows(&ops, rp, first);
                if (k < 0)
                        return RP_CLI_EXIT_ERROR;
                first = false;
                rp_cli_ops_draw(&ops);
                if (!rp_streq(state, "ReplicationState/inProgress")) {
                        if (rp_streq(state, "ReplicationState/succeeded")) {
                                *ret = TAKE_PTR(rp);
                                return 0;
                        }
                        const char *msg = NULL;
                        size_t i;
                        json_t *st;
                        json_array_foreach(rp_json_get_path(rp, "properties.instanceView.statuses"),
                                           i, st)
                                if (!msg)
                                        msg = json_string_value(json_object_get(st, "message"));
                        fprintf(stderr, "ERROR: (ReplicationFailed) The copy of %s failed: %s\n",
                                name, msg ? msg : "no reason given.");
                        return RP_CLI_EXIT_ERROR;
                }
                if (deadline && rp_now_monotonic() > deadline) {
                        fprintf(stderr,
                                "ERROR: (OperationTimeout) the copy of %s did not finish within "
                                "%" PRIu64 " s\n",
                                name, timeout_sec);
                        return RP_CLI_EXIT_ERROR;
                }
                k = rp_cli_sleep_until(rp_now_monotonic() + COPY_POLL_USEC);
                if (k < 0)
                        return rp_cli_fail_wait(cli, k);
        }
}

/* ---------------------------------------------------------------- az-style wait */

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

int rp_cli_wait_resource(rp_cli *cli, const char *path, const char *api_version, const char *what)
{
        const rp_cli_wait_opts *w = &cli->wait;
        if (!path)
                return RP_CLI_EXIT_ERROR;
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
                if (rp_cli_sleep_until(RP_MIN(next, deadline + 1)) < 0)
                        return rp_cli_fail_wait(cli, -ECANCELED);
        }
}
