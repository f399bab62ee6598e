/* arm.c: the ARM request pipeline.
 *
 * DESIGN: on_headers matches the route, checks the api-version and the bearer token (so a
 * bad request is refused before its body is read), and picks the body mode. on_complete
 * parses a JSON body when the route takes one and calls the handler, which replies exactly
 * once through rp_arm_reply_*. Errors always use the registry in arm_errors.def. */
#include "arm.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm/arm_names.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/parse.h"

static void arm_req_free(void *p)
{
        rp_arm_req *r = p;
        for (size_t i = 0; i < r->n_cap; i++)
                rp_free(r->cap[i]);
        if (r->have_claims)
                rp_token_claims_done(&r->claims);
        if (r->body)
                json_decref(r->body);
        if (r->data && r->data_free)
                r->data_free(r->data);
        rp_free(r);
}

/* ---------------------------------------------------------------- replies */

void rp_arm_reply_json(rp_arm_req *r, unsigned status, json_t *v)
{
        _cleanup_free_ char *s = v ? rp_json_dumps(v) : NULL;
        if (v)
                json_decref(v);
        if (!s) {
                static const char oom[] = "{\"error\":{\"code\":\"InternalExecutionError\","
                                          "\"message\":\"Out of memory.\"}}";
                rp_http_reply(r->http, 500, "application/json; charset=utf-8", oom, sizeof oom - 1);
                return;
        }
        rp_http_reply(r->http, status, "application/json; charset=utf-8", s, strlen(s));
}

void rp_arm_reply_empty(rp_arm_req *r, unsigned status)
{
        rp_http_reply(r->http, status, NULL, NULL, 0);
}

/* Replace every byte that is not part of valid UTF-8 with '?', in place: messages quote user
 * input (names from the path, header values), and jansson refuses invalid UTF-8, which would
 * turn a 4xx into a 500. */
static void utf8_sanitize(char *s)
{
        size_t len = strlen(s);
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                int n = rp_arm__utf8_next(s + i, len - i, &cp);
                if (n < 0) {
                        s[i++] = '?';
                        continue;
                }
                i += (size_t)n;
        }
}

void rp_arm_reply_error(rp_arm_req *r, enum rp_ec ec, const char *target, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                msg = rp_vasprintf(fmt, ap);
                va_end(ap);
                if (msg)
                        utf8_sanitize(msg);
        }
        json_t *err = json_pack("{s:s, s:s}", "code", rp_ec_code(ec), "message",
                                msg ? msg : rp_ec_message(ec));
        if (err && target)
                json_object_set_new(err, "target", json_string(target));
        /* Never Retry-After on an error: azure-core would retry it. */
        rp_buf_clear(&r->http->extra_headers);
        /* Blob clients (azure-storage-blob, AzCopy) read the error code from this header. */
        if (strncmp(r->http->path, "/data/", 6) == 0)
                (void)rp_http_add_header(r->http, "x-ms-error-code", rp_ec_code(ec));
        log_info("arm error code=%s status=%u message='%s'", rp_ec_code(ec), rp_ec_status(ec),
                 msg ? msg : rp_ec_message(ec));
        rp_arm_reply_json(r, rp_ec_status(ec), err ? json_pack("{s:o}", "error", err) : NULL);
}

void rp_arm_reply_internal(rp_arm_req *r, int error, const char *what)
{
        log_error_errno(error, "%s failed", what);
        rp_arm_reply_error(r, RP_EC_INTERNAL, NULL, NULL);
}

/* ---------------------------------------------------------------- routing */

static int route_match(const rp_route *rt, const char *path, char **caps, size_t *ret_n)
{
        const char *p = path, *q = rt->pattern;
        size_t n = 0;
        while (*p == '/' && *q == '/') {
                p++;
                q++;
                const char *pe = strchrnul(p, '/');
                const char *qe = strchrnul(q, '/');
                size_t pl = (size_t)(pe - p), ql = (size_t)(qe - q);
                if (pl == 0)
                        goto nomatch;
                if (ql == 2 && q[0] == '{' && q[1] == '}') {
                        if (n == RP_ROUTE_MAX_CAPTURES)
                                goto nomatch;
                        caps[n] = rp_strndup(p, pl);
                        if (!caps[n])
                                goto nomatch;
                        n++;
                } else if (pl != ql || strncasecmp(p, q, pl) != 0) {
                        goto nomatch;
                }
                p = pe;
                q = qe;
        }
        /* a trailing slash is the same path (the Python SDK lists deployments at ".../") */
        if (p[0] == '/' && p[1] == '\0' && p != path + 1)
                p++;
        if (*p || *q)
                goto nomatch;
        *ret_n = n;
        return 1;
nomatch:
        for (size_t i = 0; i < n; i++)
                caps[i] = rp_free(caps[i]);
        return 0;
}

static bool is_guid(const char *s)
{
        if (!s || strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!isxdigit((unsigned char)s[i])) {
                        return false;
                }
        }
        return true;
}

#define RP_MAX_KNOWN_SUBS 1024

/* Record @p sub in every region's store the first time this process sees it. */
static void record_subscription(rp_service *svc, const char *sub)
{
        pthread_mutex_lock(&svc->subs_lock);
        for (size_t i = 0; i < svc->n_known_subs; i++)
                if (strcasecmp(svc->known_subs[i], sub) == 0) {
                        pthread_mutex_unlock(&svc->subs_lock);
                        return;
                }
        for (size_t i = 0; i < svc->n_regions; i++) {
                _cleanup_free_ char *key = rp_asprintf("subscription/%s", sub);
                _cleanup_free_ char *v = NULL;
                if (key && rp_db_kv_get(svc->regions[i]->db, key, &v) == -ENOENT)
                        (void)rp_db_kv_put(svc->regions[i]->db, key, sub);
        }
        if (!svc->known_subs)
                svc->known_subs = rp_calloc(RP_MAX_KNOWN_SUBS, sizeof *svc->known_subs);
        if (svc->known_subs && svc->n_known_subs < RP_MAX_KNOWN_SUBS)
                snprintf(svc->known_subs[svc->n_known_subs++], sizeof svc->known_subs[0], "%s",
                         sub);
        pthread_mutex_unlock(&svc->subs_lock);
}

static int check_auth(rp_arm_req *r)
{
        const char *h = rp_http_header(r->http, "Authorization");
        if (!h || !*h) {
                rp_arm_reply_error(r, RP_EC_AUTH_MISSING, NULL, NULL);
                return -EACCES;
        }
        if (strncasecmp(h, "Bearer ", 7) != 0) {
                rp_arm_reply_error(r, RP_EC_AUTH_INVALID, NULL,
                                   "The authentication scheme of the 'Authorization' header is "
                                   "not supported: use 'Bearer <token>'.");
                return -EACCES;
        }
        int k = rp_token_verify(r->svc->token_key, h + 7, rp_now_realtime() / RP_USEC_PER_SEC,
                                &r->claims);
        if (k == -ETIME) {
                rp_arm_reply_error(r, RP_EC_AUTH_EXPIRED, NULL, NULL);
                return -EACCES;
        }
        if (k < 0) {
                rp_arm_reply_error(r, RP_EC_AUTH_INVALID, NULL,
                                   k == -EKEYREJECTED
                                           ? "The access token signature is invalid."
                                           : "The access token is malformed or was not issued "
                                             "by this service.");
                return -EACCES;
        }
        r->have_claims = true;
        /* Routes under /subscriptions/{id} capture the subscription first. */
        if (r->n_cap > 0 && strncasecmp(r->route->pattern, "/subscriptions/{}", 17) == 0) {
                const char *sub = r->cap[0];
                if (!is_guid(sub)) {
                        rp_arm_reply_error(r, RP_EC_INVALID_SUBSCRIPTION_ID, NULL,
                                           "The provided subscription identifier '%s' is "
                                           "malformed or invalid.",
                                           sub);
                        return -EINVAL;
                }
                if (!rp_token_claims_allows(&r->claims, sub)) {
                        rp_arm_reply_error(
                                r, RP_EC_AUTH_FORBIDDEN, NULL,
                                "The client '%s' with object id '%s' does not have authorization "
                                "to perform action '%s' over scope '/subscriptions/%s' or the "
                                "scope is invalid.",
                                r->claims.object_id ? r->claims.object_id : "?",
                                r->claims.object_id ? r->claims.object_id : "?", r->route->name,
                                sub);
                        return -EACCES;
                }
                /* A subscription comes into being on its first authorised use. */
                record_subscription(r->svc, sub);
        }
        return 0;
}

static int check_api_version(rp_arm_req *r)
{
        if (r->route->flags & RP_ROUTE_NOAPIVER || (int)r->route->family < 0)
                return 0;
        const char *v = rp_http_query(r->http, "api-version");
        if (!v || !*v) {
                rp_arm_reply_error(r, RP_EC_MISSING_API_VERSION, NULL, NULL);
                return -EINVAL;
        }
        if (rp_arm_apiver_check(r->route->family, v) < 0) {
                rp_arm_reply_error(r, RP_EC_INVALID_API_VERSION, NULL,
                                   "The api-version '%s' is invalid. The supported versions are "
                                   "'%s'.",
                                   v, rp_arm_apiver_supported(r->route->family));
                return -EINVAL;
        }
        r->api_version = v;
        return 0;
}

static int on_headers(void *userdata, rp_request *http)
{
        rp_service *svc = userdata;
        rp_arm_req *r = rp_calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->http = http;
        r->svc = svc;
        http->app_ctx = r;
        http->app_ctx_free = arm_req_free;

        bool path_matched = false;
        for (size_t i = 0; i < svc->n_routes; i++) {
                const rp_route *rt = &svc->routes[i];
                size_t n = 0;
                if (!route_match(rt, http->path, r->cap, &n))
                        continue;
                if (strcmp(rt->method, http->method) != 0 &&
                    !(strcmp(http->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0 &&
                      rt->flags & RP_ROUTE_NOAUTH)) {
                        path_matched = true;
                        for (size_t j = 0; j < n; j++)
                                r->cap[j] = rp_free(r->cap[j]);
                        continue;
                }
                r->route = rt;
                r->n_cap = n;
                break;
        }
        if (!r->route) {
                if (path_matched)
                        rp_arm_reply_error(r, RP_EC_METHOD_NOT_ALLOWED, NULL,
                                           "The requested resource does not support http method "
                                           "'%s'.",
                                           http->method);
                else
                        rp_arm_reply_error(r, RP_EC_NOT_FOUND, NULL,
                                           "The requested path '%s' does not exist.", http->path);
                return RP_HTTP_BODY_BUFFER;
        }
        http->route_name = r->route->name;

        if (check_api_version(r) < 0)
                return RP_HTTP_BODY_BUFFER;
        if (!(r->route->flags & RP_ROUTE_NOAUTH) && check_auth(r) < 0)
                return RP_HTTP_BODY_BUFFER;

        if (r->route->flags & RP_ROUTE_STREAM) {
                /* Refuse before "100 Continue" and before the first body byte. */
                if (svc->stream_begin && svc->stream_begin(r) < 0)
                        return RP_HTTP_BODY_BUFFER;
                return RP_HTTP_BODY_STREAM;
        }
        const char *cl = rp_http_header(http, "Content-Length");
        uint64_t len;
        if (cl && rp_parse_u64(cl, &len) == 0 && len > RP_MAX_JSON_BODY) {
                rp_arm_reply_error(r, RP_EC_BODY_TOO_LARGE, NULL, NULL);
                return RP_HTTP_BODY_BUFFER;
        }
        return RP_HTTP_BODY_BUFFER;
}

static int on_body(void *userdata, rp_request *http, const char *data, size_t len)
{
        rp_service *svc = userdata;
        rp_arm_req *r = http->app_ctx;
        if (!r || !r->route || !svc->stream_body)
                return -EINVAL;
        return svc->stream_body(r, data, len);
}

static void on_complete(void *userdata, rp_request *http)
{
        rp_arm_req *r = http->app_ctx;
        if (!r || !r->route)
                return;
        if (http->body_overflow) {
                rp_arm_reply_error(r, RP_EC_BODY_TOO_LARGE, NULL, NULL);
                return;
        }
        if (r->route->flags & RP_ROUTE_JSON_BODY) {
                if (http->body.len == 0) {
                        rp_arm_reply_error(r, RP_EC_INVALID_REQUEST_CONTENT, NULL,
                                           "The request content was invalid and could not be "
                                           "deserialized: the body is empty.");
                        return;
                }
                _cleanup_free_ char *err = NULL;
                r->body = rp_json_loads_object(http->body.ptr, http->body.len, &err);
                if (!r->body) {
                        rp_arm_reply_error(r, RP_EC_INVALID_REQUEST_CONTENT, NULL,
                                           "The request content was invalid and could not be "
                                           "deserialized: %s",
                                           err ? err : "out of memory");
                        return;
                }
        }
        if (r->svc->forward && r->svc->forward(r))
                return;
        r->route->handler(r);
}

void rp_arm_http_app(rp_service *svc, rp_http_app *ret)
{
        *ret = (rp_http_app){
                .userdata = svc,
                .on_headers = on_headers,
                .on_body = on_body,
                .on_complete = on_complete,
        };
}

/* ---------------------------------------------------------------- helpers */

rp_region *rp_service_region(rp_service *svc, const char *name)
{
        char norm[64];
        size_t n = 0;
        if (!name)
                return NULL;
        for (const char *p = name; *p && n + 1 < sizeof norm; p++)
                if (*p != ' ')
                        norm[n++] = (char)tolower((unsigned char)*p);
        norm[n] = '\0';
        for (size_t i = 0; i < svc->n_regions; i++)
                if (strcasecmp(svc->regions[i]->name, norm) == 0)
                        return svc->regions[i];
        return NULL;
}

int rp_service_find(rp_service *svc, const char *key, rp_region **ret_region, rp_resource **ret)
{
        for (size_t i = 0; i < svc->n_regions; i++) {
                int k = rp_db_res_get(svc->regions[i]->db, key, ret);
                if (k == -ENOENT)
                        continue;
                if (k < 0)
                        return k;
                if (ret_region)
                        *ret_region = svc->regions[i];
                return 0;
        }
        return -ENOENT;
}

char *rp_arm_base_url(rp_arm_req *r)
{
        const char *proto = rp_http_header(r->http, "X-Forwarded-Proto");
        const char *host = rp_http_header(r->http, "X-Forwarded-Host");
        return rp_asprintf("%s://%s", proto && rp_streq(proto, "http") ? "http" : "https",
                           host && *host ? host : rp_http_host(r->http));
}

void rp_arm_reply_list(rp_arm_req *r, json_t *items, const char *next_token)
{
        if (items && r->svc->list_more)
                r->svc->list_more(r, items);
        json_t *o = json_pack("{s:o}", "value", items);
        if (o && next_token) {
                _cleanup_free_ char *base = rp_arm_base_url(r);
                _cleanup_free_ char *link =
                        rp_asprintf("%s%s?api-version=%s&%%24skiptoken=%s", base, r->http->path,
                                    r->api_version ? r->api_version : "", next_token);
                if (link)
                        json_object_set_new(o, "nextLink", json_string(link));
        }
        rp_arm_reply_json(r, 200, o);
}

/* ---------------------------------------------------------------- operations */

int rp_arm_op_create(rp_service *svc, rp_region *reg, const char *sub, const char *kind,
                     const char *resource_key, json_t *args, bool job, rp_operation **ret_op)
{
        char id[RP_UUID_STR_LEN + 1];
        if (rp_uuid4(id) < 0) {
                json_decref(args);
                return -EIO;
        }
        rp_operation *op = rp_calloc(1, sizeof *op);
        if (!op) {
                json_decref(args);
                return -ENOMEM;
        }
        op->id = rp_strdup(id);
        op->sub = rp_strdup(sub);
        op->kind = rp_strdup(kind);
        op->resource_key = rp_strdup(resource_key);
        op->status = rp_strdup("InProgress");
        op->start = rp_now_realtime();
        op->args = args;
        op->job_pending = job;
        if (!op->id || !op->sub || !op->kind || !op->status) {
                rp_operation_free(op);
                return -ENOMEM;
        }
        int k = rp_db_op_put(reg->db, op);
        if (k < 0) {
                rp_operation_free(op);
                return k;
        }
        if (job)
                rp_region_kick(reg);
        *ret_op = op;
        return 0;
}

int rp_arm_op_finish(rp_region *reg, rp_operation *op, const char *status, unsigned result_status,
                     json_t *result, enum rp_ec ec, const char *message)
{
        char *st = rp_strdup(status);
        if (!st) {
                json_decref(result);
                return -ENOMEM;
        }
        rp_free(op->status);
        op->status = st;
        op->end = rp_now_realtime();
        op->job_pending = false;
        if (rp_streq(status, "Succeeded"))
                op->percent = 100.0;
        if (op->result)
                json_decref(op->result);
        op->result = result;
        op->result_status = result_status;
        if (ec != RP_EC_NONE) {
                if (op->error)
                        json_decref(op->error);
                op->error = json_pack("{s:s, s:s}", "code", rp_ec_code(ec), "message",
                                      message ? message : rp_ec_message(ec));
                op->result_status = rp_ec_status(ec);
        }
        return rp_db_op_put(reg->db, op);
}

int rp_arm_lro_headers(rp_arm_req *r, rp_region *reg, const rp_operation *op, bool resources)
{
        _cleanup_free_ char *base = rp_arm_base_url(r);
        _cleanup_free_ char *async = NULL, *loc = NULL;
        const char *v = r->api_version ? r->api_version : "";
        if (resources) {
                async = rp_asprintf("%s/subscriptions/%s/providers/Microsoft.Resources/"
                                    "operations/%s?api-version=%s",
                                    base, op->sub, op->id, v);
                loc = rp_asprintf("%s/subscriptions/%s/operationresults/%s?api-version=%s", base,
                                  op->sub, op->id, v);
        } else {
                async = rp_asprintf("%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/"
                                    "operations/%s?api-version=%s",
                                    base, op->sub, reg->name, op->id, v);
                loc = rp_asprintf("%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/"
                                  "operations/%s?monitor=true&api-version=%s",
                                  base, op->sub, reg->name, op->id, v);
        }
        if (!async || !loc)
                return -ENOMEM;
        int k = rp_http_add_header(r->http, "Azure-AsyncOperation", async);
        if (k >= 0)
                k = rp_http_add_header(r->http, "Location", loc);
        if (k >= 0)
                k = rp_http_add_header(r->http, "Retry-After", "1");
        return k;
}

/* ---------------------------------------------------------------- workers */

void rp_region_kick(rp_region *reg)
{
        pthread_mutex_lock(&reg->lock);
        pthread_cond_signal(&reg->wake);
        pthread_mutex_unlock(&reg->lock);
}

static rp_job_fn job_lookup(rp_service *svc, const char *kind)
{
        for (size_t i = 0; i < svc->n_job_kinds; i++)
                if (strcmp(svc->job_kinds[i].kind, kind) == 0)
                        return svc->job_kinds[i].fn;
        return NULL;
}

/* Sleep up to @ms or until kicked. @return whether the worker must stop. */
static bool worker_wait(rp_region *reg, unsigned ms)
{
        return rp_cond_wait_usec(&reg->wake, &reg->lock, &reg->stop, (rp_usec_t)ms * 1000);
}

#ifdef RP_TEST_HOOKS
/* Test hook: RPD_TEST_JOB_DELAY_MS holds every job back that long before it runs, so that an
 * end-to-end test can kill rpd while an accepted operation is still pending and check that
 * it completes after the restart. */
static unsigned test_job_delay_ms(void)
{
        const char *v = getenv("RPD_TEST_JOB_DELAY_MS");
        uint64_t ms;
        if (!v || rp_parse_u64(v, &ms) < 0 || ms > 600000)
                return 0;
        return (unsigned)ms;
}

/* @return whether the worker must stop (the job then stays pending). */
static bool test_job_delay(rp_region *reg)
{
        unsigned ms = test_job_delay_ms();
        if (!ms)
                return false;
        rp_usec_t until = rp_now_monotonic() + (rp_usec_t)ms * 1000;
        for (rp_usec_t now; (now = rp_now_monotonic()) < until;)
                if (worker_wait(reg, (unsigned)((until - now + 999) / 1000)))
                        return true;
        return false;
}
#else
static bool test_job_delay(rp_region *reg)
{
        return false;
}
#endif

static void *worker_main(void *p)
{
        rp_region *reg = p;
        unsigned backoff_ms = 0;
        for (;;) {
                pthread_mutex_lock(&reg->lock);
                bool stop = reg->stop;
                pthread_mutex_unlock(&reg->lock);
                if (stop)
                        break;
                _cleanup_(rp_operation_freep) rp_operation *op = NULL;
                int k = rp_db_op_next_job(reg->db, &op);
                if (k > 0) {
                        if (test_job_delay(reg))
                                break;
                        rp_log_set_request(op->id, NULL);
                        rp_job_fn fn = job_lookup(reg->svc, op->kind);
                        int r = fn ? fn(reg->svc, reg, op) : -EOPNOTSUPP;
                        if (!fn)
                                rp_arm_op_finish(reg, op, "Failed", 0, NULL, RP_EC_INTERNAL,
                                                 "Unknown operation kind.");
                        if (r < 0 && fn) {
                                log_warning_errno(r, "job %s of region %s will be retried",
                                                  op->kind, reg->name);
                                backoff_ms = backoff_ms ? RP_MIN(backoff_ms * 2, 5000) : 100;
                        } else {
                                log_info("job %s on '%s' ended: %s", op->kind,
                                         rp_strempty(op->resource_key), op->status);
                                backoff_ms = 0;
                        }
                        rp_log_clear_request();
                        if (!backoff_ms)
                                continue;
                }
                if (k == 0 && !backoff_ms && reg->svc->idle)
                        reg->svc->idle(reg->svc, reg);
                /* Nothing to do (or a retry is due later): sleep until kicked. */
                if (worker_wait(reg, backoff_ms ? backoff_ms : 1000))
                        break;
        }
        return NULL;
}

int rp_service_start_workers(rp_service *svc)
{
        for (size_t i = 0; i < svc->n_regions; i++) {
                rp_region *reg = svc->regions[i];
                int k = -pthread_create(&reg->worker, NULL, worker_main, reg);
                if (k < 0)
                        return k;
                reg->worker_started = true;
        }
        return 0;
}

void rp_service_stop_workers(rp_service *svc)
{
        for (size_t i = 0; i < svc->n_regions; i++) {
                rp_region *reg = svc->regions[i];
                if (!reg->worker_started)
                        continue;
                pthread_mutex_lock(&reg->lock);
                reg->stop = true;
                pthread_cond_signal(&reg->wake);
                pthread_mutex_unlock(&reg->lock);
                pthread_join(reg->worker, NULL);
                reg->worker_started = false;
        }
}
