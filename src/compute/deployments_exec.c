/* deployments_exec.c: the executor of template deployments.
 *
 * DESIGN: RP_DEPLOY_THREADS threads take accepted deployments from a queue, one deployment per
 * thread at a time. They are not the region workers: a region worker runs its jobs one after
 * another, and a deployment waits for jobs (captures, restores, copies) that run there.
 *
 * A deployment creates each resource exactly as a client would: it mints a bearer token for
 * the deployment's subscription with the service's token key and PUTs the resource's body
 * (evaluated by the template library just before, so reference() sees what is deployed) over
 * HTTPS to rpd's own address with the libcurl client, then follows the long-running operation
 * (Azure-AsyncOperation, then Location) and finally GETs the resource until its
 * provisioningState is terminal (a restore point is done when it is Succeeded; a cross-region
 * copy is Succeeded once its copy has started). So a resource of a template gets the same
 * validation and the same errors as a direct PUT, and the path still works when requests are
 * forwarded between hosts.
 *
 * Resources start in plan order once every dependency has Succeeded, at most
 * RP_DEPLOY_MAX_IN_FLIGHT at once; the thread steps each in-flight operation in turn with one
 * client (rp_client_lro_step), sleeping until the earliest poll is due. A failed resource
 * fails the deployment (DeploymentFailed, its ARM error in details[]); resources that depend
 * on it never start, independent ones go on, as in ARM.
 *
 * Durability: every state change of a resource is written to the deployment's record (under
 * the model lock, re-read first so that a cancel or a deletion is seen). After a restart the
 * deployments left Accepted or Running are queued again: resources that Succeeded stay done;
 * one that was Running is first read back: still provisioning, it is followed by GET; absent
 * or settled, it is PUT again (PUTs are idempotent). Shutdown cancels in-flight requests and
 * leaves the deployment Running for the next start.
 */
#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

#include "client/client.h"
#include "deployments.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"

/* Token lifetime, and the age at which a run mints a new one. */
#define TOKEN_LIFETIME_SEC (4u * 3600u)
#define TOKEN_RENEW_SEC (3600u)
/* Poll period of a resource followed by GET (its provisioningState). */
#define GET_POLL_MS 500L
/* Transport failures of one resource tolerated (a second apart) before it fails. */
#define MAX_TRANSPORT_ERRORS 5u

struct rp_deployer {
        rp_service *svc;
        char *url;
        char *ca;
        pthread_t threads[RP_DEPLOY_THREADS];
        size_t n_threads;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stop;
        volatile sig_atomic_t cancel_io; /* set at stop: requests in flight end at once */
        char **queue;                    /* keys waiting, oldest first */
        size_t n_queue;
        char *running[RP_DEPLOY_THREADS]; /* the key each thread runs, or NULL */
};

/* ---------------------------------------------------------------- one run */

enum follow_mode {
        FOLLOW_LRO, /* stepping the resource's long-running operation */
        FOLLOW_GET, /* reading the resource until its provisioningState is terminal */
};

typedef struct slot {
        size_t idx; /* entry of internal.resources */
        enum follow_mode mode;
        rp_client_lro *lro;
        rp_usec_t due; /* monotonic */
        unsigned errors;
} slot;

typedef struct run {
        rp_deployer *d;
        rp_region *home;
        char *key;
        char *op_id;
        rp_resource *rec; /* our copy of the record: written back by run_save() */
        json_t *entries;  /* rec->internal.resources (borrowed) */
        rp_tpl_plan *plan;
        rp_client *client;
        rp_usec_t token_at; /* monotonic time of the client's token */
        bool resumed;       /* a previous process ran it */
        bool canceled;      /* a cancel was asked */
        slot slots[RP_DEPLOY_MAX_IN_FLIGHT];
        size_t n_slots;
} run;

static json_t *entry(run *x, size_t i)
{
        return json_array_get(x->entries, i);
}

static const char *entry_str(run *x, size_t i, const char *k)
{
        return json_string_value(json_object_get(entry(x, i), k));
}

static void entry_set_state(run *x, size_t i, const char *state)
{
        json_t *e = entry(x, i);
        json_object_set_new(e, "state", json_string(state));
        if (rp_deploy__terminal(state) || rp_streq(state, "Canceled"))
                json_object_set_new(e, "end", json_integer((json_int_t)rp_now_realtime()));
}

static bool stopping(rp_deployer *d)
{
        pthread_mutex_lock(&d->lock);
        bool stop = d->stop;
        pthread_mutex_unlock(&d->lock);
        return stop;
}

/* Read the stored record: gone or replaced by another deployment (-ESTALE), the run must
 * stop; a cancel asked meanwhile is taken in. */
static int run_check_stored(run *x)
{
        _cleanup_(rp_resource_freep) rp_resource *cur = NULL;
        int k = rp_db_res_get(x->home->db, x->key, &cur);
        if (k == -ENOENT)
                return -ESTALE;
        if (k < 0)
                return k;
        if (!rp_streq(json_string_value(json_object_get(cur->internal, "op")), x->op_id))
                return -ESTALE;
        if (json_is_true(json_object_get(cur->internal, "cancel"))) {
                x->canceled = true;
                json_object_set_new(x->rec->internal, "cancel", json_true());
        }
        return 0;
}

/* Write our copy of the record back, checked against the stored one under the model lock. */
static int run_save(run *x)
{
        RP_COMPUTE_MODEL_LOCK();
        int k = run_check_stored(x);
        if (k < 0)
                return k;
        json_t *p = json_object_get(x->rec->body, "properties");
        json_object_set_new(p, "timestamp", rp_compute_now());
        return rp_db_res_put(x->home->db, x->rec);
}

/* A client with a fresh token for the deployment's subscription. */
static int run_client(run *x)
{
        const char *sub = x->rec->sub;
        _cleanup_free_ char *jwt = NULL;
        int k = rp_token_issue(x->d->svc->token_key, &sub, 1, TOKEN_LIFETIME_SEC, &jwt);
        if (k < 0)
                return k;
        rp_client_settings s = {
                .url = x->d->url, .ca = x->d->ca, .token = jwt, .subscription = (char *)sub
        };
        rp_client *c = NULL;
        k = rp_client_new(&s, &c);
        if (k < 0)
                return k;
        rp_client_set_cancel(c, &x->d->cancel_io);
        rp_client_free(x->client);
        x->client = c;
        x->token_at = rp_now_monotonic();
        return 0;
}

/* The ARM error of a failed response: the body's "error" object when there is one (so its
 * target and details travel), else what the client parsed. New reference. */
static json_t *response_error(const rp_client_response *resp)
{
        json_t *e = json_object_get(resp->body, "error");
        if (json_is_object(e) && json_is_string(json_object_get(e, "code")))
                return json_deep_copy(e);
        json_t *o = json_pack("{s:s, s:s}", "code",
                              resp->error.code ? resp->error.code
                                               : rp_client_status_code_name(resp->status),
                              "message", resp->error.message ? resp->error.message : "");
        if (o && resp->error.target)
                json_object_set_new(o, "target", json_string(resp->error.target));
        return o;
}

/* Resource @p i ended: Succeeded (@p err NULL) or Failed with @p err (stolen). */
static int entry_end(run *x, size_t i, json_t *err)
{
        if (err)
                json_object_set_new(entry(x, i), "error", err);
        entry_set_state(x, i, err ? "Failed" : "Succeeded");
        if (err)
                log_notice("deployment '%s': resource '%s' failed: %s", x->rec->id,
                           entry_str(x, i, "id"),
                           json_string_value(json_object_get(err, "code")) ?: "?");
        else
                log_info("deployment '%s': resource '%s' succeeded", x->rec->id,
                         entry_str(x, i, "id"));
        return run_save(x);
}

static int entry_fail(run *x, size_t i, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int entry_fail(run *x, size_t i, const char *code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = rp_vasprintf(fmt, ap);
        va_end(ap);
        return entry_end(x, i,
                         json_pack("{s:s, s:s}", "code", code, "message",
                                   msg ? msg : "The resource deployment failed."));
}

/* The api-version to GET @p id with: the template's when the deployment deploys it, else the
 * newest of its family. */
static const char *api_version_for(run *x, const char *id)
{
        json_t *e;
        size_t i;
        json_array_foreach(x->entries, i, e) {
                if (rp_arm_id_equal(json_string_value(json_object_get(e, "id")), id))
                        return json_string_value(json_object_get(e, "api_version"));
        }
        _cleanup_(rp_arm_id_freep) rp_arm_id *pid = NULL;
        _cleanup_free_ char *type = rp_arm_id_parse(id, &pid) >= 0 ? rp_arm_id_type(pid) : NULL;
        return rp_arm_apiver_latest(rp_arm_apiver_family_of_type(type));
}

/* rp_tpl_ctx.reference: GET the resource through the API. */
static json_t *reference_get(void *arg, const char *id, const char *api_version, char **ret_err)
{
        run *x = arg;
        _cleanup_(rp_client_response_done) rp_client_response resp = {};
        const char *v = api_version ? api_version : api_version_for(x, id);
        int k = rp_client_request(x->client, "GET", id, v, NULL, &resp);
        if (k < 0) {
                *ret_err = rp_asprintf("reading '%s' failed: %s", id,
                                       rp_client_last_error(x->client) ?: strerror(-k));
                return NULL;
        }
        if (resp.status != 200 || !json_is_object(resp.body)) {
                *ret_err =
                        rp_asprintf("The Resource '%s' was not found (%s: %s).", id,
                                    rp_strempty(resp.error.code), rp_strempty(resp.error.message));
                return NULL;
        }
        return TAKE_PTR(resp.body);
}

/* What a resource's provisioningState says: 1 Succeeded (or none), -1 Failed or Canceled, 0
 * still going. */
static int settled(const json_t *body)
{
        const char *st = json_string_value(rp_json_get_path(body, "properties.provisioningState"));
        if (!st || strcasecmp(st, "Succeeded") == 0)
                return 1;
        if (strcasecmp(st, "Failed") == 0 || strcasecmp(st, "Canceled") == 0)
                return -1;
        return 0;
}

static slot *slot_add(run *x, size_t i, enum follow_mode mode, rp_client_lro *lro)
{
        slot *s = &x->slots[x->n_slots++];
        *s = (slot){ .idx = i, .mode = mode, .lro = lro, .due = rp_now_monotonic() };
        return s;
}

static void slot_remove(run *x, slot *s)
{
        rp_client_lro_free(s->lro);
        *s = x->slots[--x->n_slots];
}

/* The resource body ended up in a terminal state (or not) after its PUT or LRO. */
static int after_settled(run *x, size_t i, const json_t *body, bool *ret_follow)
{
        int st = settled(body);
        *ret_follow = st == 0;
        if (st > 0)
                return entry_end(x, i, NULL);
        if (st < 0)
                return entry_fail(
                        x, i, rp_ec_code(RP_EC_RESOURCE_DEPLOYMENT_FAILURE),
                        "The resource write operation failed to complete successfully, because "
                        "it reached terminal provisioning state '%s'.",
                        json_string_value(rp_json_get_path(body, "properties.provisioningState")));
        return 0;
}

/* A request to our own API failed without a response. -ECANCELED (shutdown) is passed up;
 * other failures are tolerated MAX_TRANSPORT_ERRORS times. */
static int transport_error(run *x, size_t i, unsigned *errors, int k)
{
        if (k == -ECANCELED)
                return k;
        if (++*errors < MAX_TRANSPORT_ERRORS) {
                log_warning_errno(k, "deployment '%s': request for '%s' failed (%s), retrying",
                                  x->rec->id, entry_str(x, i, "id"),
                                  rp_strempty(rp_client_last_error(x->client)));
                return 0;
        }
        return entry_fail(x, i, rp_ec_code(RP_EC_INTERNAL),
                          "The request to deploy the resource failed: %s.",
                          rp_client_last_error(x->client) ?: strerror(-k));
}

/* The polling URLs of a resource another host serves name that host; the client sends the
 * token only to its own origin, and this rpd forwards what the peer serves, so follow them
 * here: keep the path and query of each, drop the origin. */
static void localize_lro_urls(rp_client_response *resp)
{
        static const char *const names[] = { "azure-asyncoperation", "location" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const char *v = json_string_value(json_object_get(resp->headers, names[i]));
                const char *scheme = v ? strstr(v, "://") : NULL;
                const char *path = scheme ? strchr(scheme + 3, '/') : NULL;
                if (path)
                        json_object_set_new(resp->headers, names[i], json_string(path));
        }
}

/* Start resource @p i: evaluate its body, PUT it, and follow it in a slot if it is not done
 * at once. @return 0, -ECANCELED (shutdown), -ESTALE (the record is gone), or <0. */
static int start_one(run *x, size_t i)
{
        const char *id = entry_str(x, i, "id"), *v = entry_str(x, i, "api_version");
        bool was_running = rp_streq(entry_str(x, i, "state"), "Running");
        _cleanup_json_ json_t *body = NULL;
        rp_tpl_error te = {};
        int k = rp_tpl_plan_body(x->plan, i, &body, &te);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                json_t *err = json_pack("{s:s, s:s}", "code",
                                        *te.code ? te.code : RP_TPL_EC_INVALID_TEMPLATE, "message",
                                        *te.message ? te.message : "Bad template.");
                if (err && *te.target)
                        json_object_set_new(err, "target", json_string(te.target));
                return entry_end(x, i, err);
        }
        if (!was_running) {
                entry_set_state(x, i, "Running");
                json_object_set_new(entry(x, i), "start",
                                    json_integer((json_int_t)rp_now_realtime()));
                k = run_save(x);
                if (k < 0)
                        return k;
        } else {
                /* Resumed: a resource still provisioning is followed, not PUT again (a disk
                 * being restored refuses a PUT until it is done). */
                _cleanup_(rp_client_response_done) rp_client_response cur = {};
                k = rp_client_request(x->client, "GET", id, v, NULL, &cur);
                if (k == -ECANCELED)
                        return k;
                /* (a failed read: the PUT below, with its retries, settles it) */
                if (k >= 0 && cur.status == 200 && settled(cur.body) == 0) {
                        log_info("deployment '%s': following '%s' again", x->rec->id, id);
                        slot_add(x, i, FOLLOW_GET, NULL);
                        return 0;
                }
        }
        _cleanup_(rp_client_response_done) rp_client_response resp = {};
        unsigned errors = 0;
        for (;;) {
                k = rp_client_request(x->client, "PUT", id, v, body, &resp);
                if (k >= 0)
                        break;
                k = transport_error(x, i, &errors, k);
                if (k < 0 || rp_streq(entry_str(x, i, "state"), "Failed"))
                        return k;
                struct timespec ts = { 1, 0 };
                nanosleep(&ts, NULL);
        }
        json_object_set_new(entry(x, i), "status", json_integer(resp.status));
        if (!rp_client_response_ok(&resp))
                return entry_end(x, i, response_error(&resp));
        if (rp_client_response_header(&resp, "Azure-AsyncOperation") ||
            rp_client_response_header(&resp, "Location")) {
                rp_client_lro *lro = NULL;
                localize_lro_urls(&resp);
                k = rp_client_lro_new("PUT", id, v, &resp, &lro);
                if (k < 0)
                        return k;
                slot_add(x, i, FOLLOW_LRO, lro);
                return run_save(x);
        }
        bool follow;
        k = after_settled(x, i, resp.body, &follow);
        if (k >= 0 && follow)
                slot_add(x, i, FOLLOW_GET, NULL);
        return k;
}

/* Poll the resource of slot @p s once. @return 0, or <0 as start_one(). */
static int step_slot(run *x, slot *s)
{
        size_t i = s->idx;
        const char *id = entry_str(x, i, "id"), *v = entry_str(x, i, "api_version");
        rp_usec_t now = rp_now_monotonic();
        _cleanup_(rp_client_response_done) rp_client_response got = {};
        rp_client_response *resp = &got;
        bool follow;
        int k;
        if (s->mode == FOLLOW_LRO) {
                long delay = 0;
                k = rp_client_lro_step(x->client, s->lro, &delay);
                if (k == 0) {
                        s->due = now + (rp_usec_t)delay * 1000;
                        return 0;
                }
                if (k > 0) {
                        resp = rp_client_lro_response(s->lro);
                        if (!rp_client_response_ok(resp)) {
                                k = entry_end(x, i, response_error(resp));
                                goto drop;
                        }
                        /* the operation is over: the resource's own state says if it is done */
                        s->lro = rp_client_lro_free(s->lro);
                        s->mode = FOLLOW_GET;
                        s->due = now;
                        return 0;
                }
        } else {
                k = rp_client_request(x->client, "GET", id, v, NULL, &got);
        }
        if (k < 0) {
                k = transport_error(x, i, &s->errors, k);
                s->due = now + RP_USEC_PER_SEC;
                if (k < 0 || rp_streq(entry_str(x, i, "state"), "Failed"))
                        goto drop;
                return 0;
        }
        if (!rp_client_response_ok(resp)) {
                k = entry_end(x, i, response_error(resp));
                goto drop;
        }
        k = after_settled(x, i, resp->body, &follow);
        if (k >= 0 && follow) {
                s->due = now + GET_POLL_MS * 1000;
                return 0;
        }
drop:
        slot_remove(x, s);
        return k;
}

/* State of the dependencies of resource @p i: 1 all Succeeded, 0 some still to come, -1 one
 * failed or was canceled (then @p i never starts). */
static int deps_state(run *x, size_t i)
{
        json_t *d;
        size_t j;
        int r = 1;
        json_array_foreach(json_object_get(entry(x, i), "deps"), j, d) {
                const char *st = entry_str(x, (size_t)json_integer_value(d), "state");
                if (rp_streq(st, "Failed") || rp_streq(st, "Canceled"))
                        return -1;
                if (!rp_streq(st, "Succeeded"))
                        r = 0;
        }
        return r;
}

static bool in_slot(run *x, size_t i)
{
        for (size_t s = 0; s < x->n_slots; s++)
                if (x->slots[s].idx == i)
                        return true;
        return false;
}

/* Start what may start. A resource may end as soon as it starts (a synchronous PUT) and so
 * free one that precedes it in plan order (dependsOn may name a later resource): passes go on
 * until one starts nothing. @return 0 or <0 as start_one(). */
static int start_ready(run *x)
{
        size_t n = json_array_size(x->entries);
        bool started = true;
        while (started) {
                started = false;
                for (size_t i = 0; i < n && x->n_slots < RP_DEPLOY_MAX_IN_FLIGHT && !x->canceled;
                     i++) {
                        const char *st = entry_str(x, i, "state");
                        bool resume = rp_streq(st, "Running") && !in_slot(x, i);
                        if (!(rp_streq(st, "NotStarted") || resume) || deps_state(x, i) <= 0)
                                continue;
                        int k = start_one(x, i);
                        if (k < 0)
                                return k;
                        started = true;
                }
        }
        return 0;
}

/* Sleep until @p until (monotonic) or a stop. */
static void run_sleep(rp_deployer *d, rp_usec_t until)
{
        rp_usec_t now = rp_now_monotonic();
        if (until <= now)
                return;
        (void)rp_cond_wait_usec(&d->wake, &d->lock, &d->stop,
                                RP_MIN(until - now, (rp_usec_t)RP_USEC_PER_SEC));
}

/* ---------------------------------------------------------------- the end of a run */

/* Record the end of the deployment and of its operation. @p error (stolen) is NULL on
 * success. */
static int run_finish(run *x, const char *state, json_t *error, json_t *outputs)
{
        json_t *p = json_object_get(x->rec->body, "properties");
        rp_usec_t now = rp_now_realtime();
        rp_usec_t start = (rp_usec_t)json_integer_value(json_object_get(x->rec->internal, "start"));
        char dur[48];
        json_object_set_new(p, "provisioningState", json_string(state));
        json_object_set_new(p, "duration", json_string(rp_deploy__duration(start, now, dur)));
        json_object_set_new(x->rec->internal, "end", json_integer((json_int_t)now));
        if (outputs)
                json_object_set_new(p, "outputs", outputs);
        json_t *res = json_array(), *e;
        size_t i;
        json_array_foreach(x->entries, i, e) {
                if (rp_streq(json_string_value(json_object_get(e, "state")), "Succeeded"))
                        json_array_append_new(res,
                                              json_pack("{s:O}", "id", json_object_get(e, "id")));
        }
        json_object_set_new(p, "outputResources", res);
        if (error)
                json_object_set(p, "error", error);
        int k = run_save(x);
        if (k < 0) {
                /* -ESTALE: deleted with its group, which ended the operation already */
                json_decref(error);
                return k;
        }
        log_info("deployment '%s' ended: %s", x->rec->id, state);

        _cleanup_(rp_operation_freep) rp_operation *op = NULL;
        k = rp_db_op_get(x->home->db, x->op_id, &op);
        if (k < 0) {
                json_decref(error);
                return k == -ENOENT ? 0 : k;
        }
        if (!error)
                return rp_arm_op_finish(x->home, op, state, 200, json_deep_copy(x->rec->body),
                                        RP_EC_NONE, NULL);
        enum rp_ec ec =
                rp_streq(state, "Canceled") ? RP_EC_DEPLOYMENT_CANCELED : RP_EC_DEPLOYMENT_FAILED;
        k = rp_arm_op_finish(x->home, op, state, 0, NULL, ec,
                             json_string_value(json_object_get(error, "message")));
        if (k >= 0 && op->error) {
                /* the error with its details, as the deployment shows it */
                json_decref(op->error);
                op->error = json_incref(error);
                k = rp_db_op_put(x->home->db, op);
        }
        json_decref(error);
        return k;
}

static int run_end(run *x)
{
        if (x->canceled) {
                json_t *e;
                size_t i;
                json_array_foreach(x->entries, i, e) {
                        if (rp_streq(json_string_value(json_object_get(e, "state")), "Running"))
                                entry_set_state(x, i, "Canceled");
                }
                return run_finish(x, "Canceled",
                                  json_pack("{s:s, s:s}", "code",
                                            rp_ec_code(RP_EC_DEPLOYMENT_CANCELED), "message",
                                            rp_ec_message(RP_EC_DEPLOYMENT_CANCELED)),
                                  NULL);
        }
        json_t *details = json_array(), *e;
        size_t i;
        json_array_foreach(x->entries, i, e) {
                json_t *err = json_object_get(e, "error");
                if (err)
                        json_array_append(details, err);
        }
        if (json_array_size(details) > 0)
                return run_finish(x, "Failed",
                                  json_pack("{s:s, s:s, s:o}", "code",
                                            rp_ec_code(RP_EC_DEPLOYMENT_FAILED), "message",
                                            rp_ec_message(RP_EC_DEPLOYMENT_FAILED), "details",
                                            details),
                                  NULL);
        json_decref(details);
        json_t *outputs = NULL;
        rp_tpl_error te = {};
        int k = rp_tpl_plan_outputs(x->plan, &outputs, &te);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return run_finish(x, "Failed",
                                  json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "code",
                                            rp_ec_code(RP_EC_DEPLOYMENT_OUTPUT_FAILED), "message",
                                            rp_ec_message(RP_EC_DEPLOYMENT_OUTPUT_FAILED),
                                            "details", "code",
                                            *te.code ? te.code : RP_TPL_EC_INVALID_TEMPLATE,
                                            "message", te.message),
                                  NULL);
        return run_finish(x, "Succeeded", NULL, outputs);
}

/* ---------------------------------------------------------------- running a deployment */

static void run_done(run *x)
{
        for (size_t s = 0; s < x->n_slots; s++)
                rp_client_lro_free(x->slots[s].lro);
        rp_client_free(x->client);
        rp_tpl_plan_free(x->plan);
        rp_resource_free(x->rec);
        rp_free(x->op_id);
}

/* Build the plan again from what was accepted; it must name the same resources. */
static int run_plan(run *x, rp_tpl_ctx *ctx)
{
        rp_tpl_error te = {};
        int k = rp_tpl_plan_new(json_object_get(x->rec->internal, "template"),
                                json_object_get(x->rec->internal, "parameters"), ctx, &x->plan,
                                &te);
        if (k == -ENOMEM)
                return k;
        bool same = k >= 0 && rp_tpl_plan_count(x->plan) == json_array_size(x->entries);
        for (size_t i = 0; same && i < json_array_size(x->entries); i++)
                same = rp_arm_id_equal(rp_tpl_plan_resource(x->plan, i)->id, entry_str(x, i, "id"));
        if (same)
                return 0;
        return run_finish(x, "Failed",
                          json_pack("{s:s, s:s+}", "code", rp_ec_code(RP_EC_INVALID_TEMPLATE),
                                    "message",
                                    "The template no longer evaluates to the resources it was "
                                    "accepted with: ",
                                    k < 0 ? te.message : "the plan changed."),
                          NULL) < 0
                       ? -EIO
                       : 1;
}

static int run_loop(run *x)
{
        for (;;) {
                if (stopping(x->d))
                        return -ECANCELED;
                int k = run_check_stored(x);
                if (k < 0)
                        return k;
                if (x->canceled)
                        break;
                if (rp_now_monotonic() - x->token_at > TOKEN_RENEW_SEC * RP_USEC_PER_SEC) {
                        k = run_client(x);
                        if (k < 0)
                                return k;
                }
                k = start_ready(x);
                if (k < 0)
                        return k;
                if (x->n_slots == 0)
                        break; /* nothing in flight and nothing can start: the end */
                rp_usec_t next = UINT64_MAX;
                for (size_t s = 0; s < x->n_slots;) {
                        slot *sl = &x->slots[s];
                        if (sl->due > rp_now_monotonic()) {
                                next = RP_MIN(next, sl->due);
                                s++;
                                continue;
                        }
                        size_t before = x->n_slots;
                        k = step_slot(x, sl);
                        if (k < 0)
                                return k;
                        if (x->n_slots == before) {
                                next = RP_MIN(next, sl->due);
                                s++;
                        }
                }
                run_sleep(x->d, next);
        }
        return run_end(x);
}

static void run_deployment(rp_deployer *d, const char *key)
{
        run x = { .d = d, .home = rp_deploy__home(d->svc), .key = (char *)key };
        int k = rp_db_res_get(x.home->db, key, &x.rec);
        if (k < 0) {
                if (k != -ENOENT)
                        log_error_errno(k, "deployment '%s' cannot be read", key);
                return;
        }
        const char *state =
                json_string_value(rp_json_get_path(x.rec->body, "properties.provisioningState"));
        x.op_id = rp_strdup(json_string_value(json_object_get(x.rec->internal, "op")));
        x.entries = json_object_get(x.rec->internal, "resources");
        if (rp_deploy__terminal(state) || !x.op_id || !json_is_array(x.entries)) {
                run_done(&x);
                return;
        }
        rp_log_set_request(x.op_id, NULL);
        x.resumed = rp_streq(state, "Running");
        log_info("deployment '%s' %s", x.rec->id, x.resumed ? "resumed" : "started");
        rp_tpl_ctx ctx;
        rp_deploy__ctx(x.rec, &ctx);
        ctx.reference = reference_get;
        ctx.reference_arg = &x;
        k = run_client(&x);
        if (k >= 0)
                k = run_plan(&x, &ctx);
        if (k == 0) {
                json_object_set_new(json_object_get(x.rec->body, "properties"), "provisioningState",
                                    json_string("Running"));
                if (!x.resumed)
                        json_object_set_new(x.rec->internal, "start",
                                            json_integer((json_int_t)rp_now_realtime()));
                k = run_save(&x);
                if (k >= 0)
                        k = run_loop(&x);
        }
        if (k == -ECANCELED)
                log_info("deployment '%s' interrupted by shutdown; it resumes at the next start",
                         x.rec->id);
        else if (k == -ESTALE)
                log_info("deployment '%s' was deleted or replaced while it ran", x.rec->id);
        else if (k < 0)
                log_error_errno(k, "deployment '%s' stopped; it resumes at the next start",
                                x.rec->id);
        rp_log_clear_request();
        run_done(&x);
}

/* ---------------------------------------------------------------- the executor */

static bool key_running(rp_deployer *d, const char *key)
{
        for (size_t i = 0; i < RP_DEPLOY_THREADS; i++)
                if (rp_streq(d->running[i], key))
                        return true;
        return false;
}

/* The index in the queue of the first deployment no thread runs, or n_queue. A deployment
 * queued again while a thread still finishes its previous run (a PUT after the end was
 * written) waits for that thread. */
static size_t next_runnable(rp_deployer *d)
{
        size_t i = 0;
        while (i < d->n_queue && key_running(d, d->queue[i]))
                i++;
        return i;
}

static void *deployer_main(void *p)
{
        rp_deployer *d = p;
        size_t me;
        pthread_mutex_lock(&d->lock);
        for (me = 0; me < RP_DEPLOY_THREADS && !pthread_equal(d->threads[me], pthread_self()); me++)
                ;
        assert(me < RP_DEPLOY_THREADS);
        for (;;) {
                size_t q;
                while (!d->stop && (q = next_runnable(d)) == d->n_queue)
                        pthread_cond_wait(&d->wake, &d->lock);
                if (d->stop)
                        break;
                char *key = d->queue[q];
                memmove(d->queue + q, d->queue + q + 1, (d->n_queue - q - 1) * sizeof *d->queue);
                d->n_queue--;
                d->running[me] = key;
                pthread_mutex_unlock(&d->lock);
                run_deployment(d, key);
                pthread_mutex_lock(&d->lock);
                d->running[me] = NULL;
                rp_free(key);
                pthread_cond_broadcast(&d->wake); /* a queued run of the same key may go */
        }
        pthread_mutex_unlock(&d->lock);
        return NULL;
}

int rp_deployer_submit(rp_deployer *d, const char *key)
{
        if (!d)
                return 0;
        pthread_mutex_lock(&d->lock);
        bool queued = false;
        for (size_t i = 0; i < d->n_queue; i++)
                queued = queued || strcmp(d->queue[i], key) == 0;
        int k = 0;
        if (!queued) {
                char **q = rp_realloc(d->queue, (d->n_queue + 1) * sizeof *q);
                char *copy = rp_strdup(key);
                if (q)
                        d->queue = q;
                if (!q || !copy) {
                        rp_free(copy);
                        k = -ENOMEM;
                } else {
                        d->queue[d->n_queue++] = copy;
                        pthread_cond_broadcast(&d->wake);
                }
        }
        pthread_mutex_unlock(&d->lock);
        return k;
}

/* Queue every deployment a previous run left Accepted or Running. */
static int deployer_resume(rp_deployer *d)
{
        rp_resource **list = NULL;
        size_t n = 0;
        rp_db_filter f = { .type = RP_TYPE_DEPLOYMENT };
        int k = rp_db_res_list(rp_deploy__home(d->svc)->db, &f, &list, &n);
        for (size_t i = 0; k >= 0 && i < n; i++) {
                const char *st = json_string_value(
                        rp_json_get_path(list[i]->body, "properties.provisioningState"));
                if (!rp_deploy__terminal(st))
                        k = rp_deployer_submit(d, list[i]->key);
        }
        rp_resource_list_free(list, n);
        return k < 0 ? k : 0;
}

int rp_deployer_start(rp_service *svc, const char *url, const char *ca_file, rp_deployer **ret)
{
        rp_deployer *d = rp_calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->svc = svc;
        d->url = rp_strdup(url);
        d->ca = rp_strdup(ca_file);
        pthread_mutex_init(&d->lock, NULL);
        pthread_cond_init(&d->wake, NULL);
        int k = d->url && d->ca ? deployer_resume(d) : -ENOMEM;
        pthread_mutex_lock(&d->lock);
        /* the lock is held until every thread id is stored: a thread looks its own up */
        for (size_t i = 0; k >= 0 && i < RP_DEPLOY_THREADS; i++) {
                k = -pthread_create(&d->threads[i], NULL, deployer_main, d);
                if (k >= 0)
                        d->n_threads++;
        }
        pthread_mutex_unlock(&d->lock);
        if (k < 0) {
                rp_deployer_stop(d);
                return k;
        }
        svc->deployer = d;
        *ret = d;
        return 0;
}

void rp_deployer_stop(rp_deployer *d)
{
        if (!d)
                return;
        pthread_mutex_lock(&d->lock);
        d->stop = true;
        d->cancel_io = 1;
        pthread_cond_broadcast(&d->wake);
        pthread_mutex_unlock(&d->lock);
        for (size_t i = 0; i < d->n_threads; i++)
                pthread_join(d->threads[i], NULL);
        if (d->svc->deployer == d)
                d->svc->deployer = NULL;
        for (size_t i = 0; i < d->n_queue; i++)
                rp_free(d->queue[i]);
        rp_free(d->queue);
        pthread_mutex_destroy(&d->lock);
        pthread_cond_destroy(&d->wake);
        rp_free(d->url);
        rp_free(d->ca);
        rp_free(d);
}
