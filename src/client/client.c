/* client.c: management requests over one keep-alive CURL handle, ARM errors, LRO polling.
 *
 * DESIGN: rp_client_request() is the only place that talks to libcurl for the management
 * plane. The handle is reset (which keeps its connection and TLS session caches) and set up
 * anew for every request, so no option leaks from one request into the next. Bodies are
 * capped at RP_MAX_JSON_BODY. The bearer token is only sent to the origin of the base URL:
 * absolute URLs (LRO status, nextLink) on another origin are refused, and data-plane (SAS)
 * requests in client_blob.c never carry it.
 *
 * LRO polling follows the Go SDK's order: poll at once, then sleep the Retry-After of the
 * last reply (1 s when absent, 60 s at most), since rpd finishes many operations (grant and
 * revoke access) before it even answers the initial request. The polling is a small state
 * machine (rp_client_lro: Azure-AsyncOperation, then Location, then done) stepped one poll
 * at a time, so that rpctl can follow the disks of a VM restore together on this one handle;
 * rp_client_lro_wait() is the loop that steps one of them and sleeps. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client_internal.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/macro.h"
#include "util/parse.h"
#include "util/time.h"

#define CONNECT_TIMEOUT_SEC 15L
#define MAX_LIST_PAGES 10000
#define MAX_ERROR_TEXT 300
#define POLL_DEFAULT_MS 1000L
#define POLL_MAX_MS 60000L

struct rp_client {
        rp_client_settings s;
        char *origin; /* "https://host:port" of s.url */
        CURL *curl;
        char errbuf[CURL_ERROR_SIZE];
        char *last_error;
        volatile sig_atomic_t *cancel;
        bool verbose;
        unsigned idle_timeout_sec;
};

/* ---------------------------------------------------------------- errors, responses */

void rp_client_error_done(rp_client_error *e)
{
        rp_free(e->code);
        rp_free(e->message);
        rp_free(e->target);
        *e = (rp_client_error){};
}

int rp_client_error_set(rp_client_error *e, const char *code, const char *fmt, ...)
{
        rp_client_error_done(e);
        va_list ap;
        va_start(ap, fmt);
        e->message = rp_vasprintf(fmt, ap);
        va_end(ap);
        e->code = rp_strdup(code);
        if (!e->code || !e->message) {
                rp_client_error_done(e);
                return -ENOMEM;
        }
        return 0;
}

const char *rp_client_status_code_name(long status)
{
        static const struct {
                long status;
                const char *name;
        } names[] = {
                { 400, "BadRequest" },
                { 401, "Unauthorized" },
                { 403, "Forbidden" },
                { 404, "NotFound" },
                { 405, "MethodNotAllowed" },
                { 408, "RequestTimeout" },
                { 409, "Conflict" },
                { 412, "PreconditionFailed" },
                { 413, "RequestEntityTooLarge" },
                { 416, "InvalidRange" },
                { 429, "TooManyRequests" },
                { 500, "InternalServerError" },
                { 502, "BadGateway" },
                { 503, "ServiceUnavailable" },
                { 504, "GatewayTimeout" },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i].status == status)
                        return names[i].name;
        return "HttpError";
}

/* The body as a one-line message: printable ASCII, at most MAX_ERROR_TEXT bytes. */
static char *body_text(const char *body, size_t len)
{
        while (len > 0 && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
                len--;
        size_t n = RP_MIN(len, (size_t)MAX_ERROR_TEXT);
        char *s = rp_malloc(n + 4);
        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)body[i];
                s[i] = ch >= ' ' && ch < 0x7f ? (char)ch : ' ';
        }
        memcpy(s + n, n < len ? "..." : "", n < len ? 4 : 1);
        return s;
}

int rp_client_error_parse(long status, const char *body, size_t len, rp_client_error *ret)
{
        rp_client_error e = {};
        _cleanup_json_ json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
        json_t *err = json_object_get(j, "error");
        if (!json_is_object(err))
                err = json_is_object(j) && json_object_get(j, "code") ? j : NULL;
        const char *code = json_string_value(json_object_get(err, "code"));
        const char *msg = json_string_value(json_object_get(err ? err : j, "message"));
        const char *target = json_string_value(json_object_get(err, "target"));
        if (code && *code) {
                e.code = rp_strdup(code);
                e.message = msg ? rp_strdup(msg) : rp_strdup("(no message)");
                if (target && !(e.target = rp_strdup(target)))
                        goto oom;
        } else {
                e.code = rp_strdup(rp_client_status_code_name(status));
                if (msg && *msg)
                        e.message = rp_strdup(msg);
                else if (len && !j)
                        e.message = body_text(body, len);
                else
                        e.message = rp_asprintf("The server answered HTTP %ld.", status);
        }
        if (!e.code || !e.message)
                goto oom;
        *ret = e;
        return 0;
oom:
        rp_client_error_done(&e);
        return -ENOMEM;
}

void rp_client_response_done(rp_client_response *r)
{
        if (r->body)
                json_decref(r->body);
        if (r->headers)
                json_decref(r->headers);
        rp_client_error_done(&r->error);
        *r = (rp_client_response){};
}

const char *rp_client_response_header(const rp_client_response *r, const char *name)
{
        return json_string_value(rp_json_object_get_ci(r->headers, name));
}

bool rp_client_response_ok(const rp_client_response *r)
{
        return !r->error.code && r->status >= 200 && r->status < 300;
}

long rp_client_retry_after_ms(const char *v)
{
        uint64_t sec;
        if (!v)
                return -1;
        while (*v == ' ')
                v++;
        if (rp_parse_u64(v, &sec) < 0 || sec == 0)
                return -1;
        if (sec > 24 * 3600)
                sec = 24 * 3600;
        return (long)sec * 1000L;
}

/* ---------------------------------------------------------------- the handle */

static int xferinfo(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
        volatile sig_atomic_t *cancel = p;
        return cancel && *cancel ? 1 : 0;
}

void rp_client__setup_easy(rp_client *c, void *easy)
{
        CURL *h = easy;
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        if (c->s.ca)
                curl_easy_setopt(h, CURLOPT_CAINFO, c->s.ca);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SEC);
        /* A transfer that moves nothing for two minutes is dead (unless the caller raised
         * the limit for a request that rpd answers only when done). */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(
                h, CURLOPT_LOW_SPEED_TIME,
                (long)(c->idle_timeout_sec ? c->idle_timeout_sec : RP_CLIENT_IDLE_TIMEOUT_SEC));
        curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "rpctl/0.1");
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->cancel);
}

volatile sig_atomic_t *rp_client__cancel_flag(const rp_client *c)
{
        return c->cancel;
}

int rp_client_new(const rp_client_settings *s, rp_client **ret)
{
        if (!s->url || !s->token)
                return -EINVAL;
        rp_client *c = rp_calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        const rp_client_settings *layers[] = { s };
        int k = rp_client_settings_merge(layers, 1, &c->s);
        if (k < 0) {
                rp_free(c);
                return k;
        }
        const char *host = c->s.url + strlen("https://");
        c->origin = rp_strndup(c->s.url, (size_t)(host - c->s.url) + strcspn(host, "/"));
        c->curl = curl_easy_init();
        if (!c->origin || !c->curl) {
                rp_client_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

rp_client *rp_client_free(rp_client *c)
{
        if (!c)
                return NULL;
        if (c->curl)
                curl_easy_cleanup(c->curl);
        rp_client_settings_done(&c->s);
        rp_free(c->origin);
        rp_free(c->last_error);
        return rp_free(c);
}

void rp_client_set_cancel(rp_client *c, volatile sig_atomic_t *flag)
{
        c->cancel = flag;
}

void rp_client_set_verbose(rp_client *c, bool verbose)
{
        c->verbose = verbose;
}

void rp_client_set_idle_timeout(rp_client *c, unsigned sec)
{
        c->idle_timeout_sec = sec;
}

const rp_client_settings *rp_client_settings_get(const rp_client *c)
{
        return &c->s;
}

const char *rp_client_last_error(const rp_client *c)
{
        return c->last_error ? c->last_error : "no error";
}

static void set_last_error(rp_client *c, const char *fmt, ...) _printf_(2, 3);
static void set_last_error(rp_client *c, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = rp_vasprintf(fmt, ap);
        va_end(ap);
        rp_free(c->last_error);
        c->last_error = s;
}

/* ---------------------------------------------------------------- one request */

typedef struct collect {
        rp_buf body;
        json_t *headers;
        bool too_large;
} collect;

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
        collect *col = p;
        if (rp_buf_append(&col->body, data, size * n) < 0) {
                col->too_large = true;
                return 0;
        }
        return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *p)
{
        collect *col = p;
        size_t len = size * n;
        if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                /* a new status line (after 100 Continue): forget earlier headers */
                json_object_clear(col->headers);
                return len;
        }
        const char *colon = memchr(data, ':', len);
        if (!colon || colon == data)
                return len;
        char name[128];
        size_t nlen = (size_t)(colon - data);
        if (nlen >= sizeof name)
                return len;
        for (size_t i = 0; i < nlen; i++)
                name[i] = (char)tolower((unsigned char)data[i]);
        name[nlen] = '\0';
        const char *v = colon + 1, *end = data + len;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        json_t *s = json_stringn(v, (size_t)(end - v));
        if (s)
                json_object_set_new(col->headers, name, s);
        return len;
}

static int map_curl_error(CURLcode rc)
{
        switch (rc) {
        case CURLE_ABORTED_BY_CALLBACK:
                return -ECANCELED;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTONOSUPPORT;
        default:
                return -EIO;
        }
}

/* Is @p url on the origin of the base URL (so that it may receive the token)? */
static bool same_origin(const rp_client *c, const char *url)
{
        size_t n = strlen(c->origin);
        return strncasecmp(url, c->origin, n) == 0 &&
               (url[n] == '\0' || url[n] == '/' || url[n] == '?');
}

/* Perform one request on @p h. @p auth sends the bearer token. */
static int perform(rp_client *c, const char *method, const char *url, bool auth, const char *body,
                   size_t body_len, rp_client_response *ret)
{
        CURL *h = c->curl;
        _cleanup_free_ char *authz =
                auth ? rp_asprintf("Authorization: Bearer %s", c->s.token) : NULL;
        char reqid[RP_UUID_STR_LEN + 1], reqid_h[64 + RP_UUID_STR_LEN];
        if ((auth && !authz) || rp_uuid4(reqid) < 0)
                return -ENOMEM;
        snprintf(reqid_h, sizeof reqid_h, "x-ms-client-request-id: %s", reqid);
        struct curl_slist *hdrs = NULL, *t;
        const char *lines[] = { "Accept: application/json", reqid_h,
                                body ? "Content-Type: application/json" : "Content-Type:",
                                "Expect:", authz };
        for (size_t i = 0; i < ELEMENTSOF(lines) && lines[i]; i++) {
                t = curl_slist_append(hdrs, lines[i]);
                if (!t) {
                        curl_slist_free_all(hdrs);
                        return -ENOMEM;
                }
                hdrs = t;
        }
        collect col = { .headers = json_object() };
        rp_buf_init(&col.body, RP_MAX_JSON_BODY);
        if (!col.headers) {
                curl_slist_free_all(hdrs);
                return -ENOMEM;
        }
        curl_easy_reset(h);
        rp_client__setup_easy(c, h);
        c->errbuf[0] = '\0';
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &col);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &col);
        if (strcmp(method, "HEAD") == 0) {
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (strcmp(method, "GET") != 0) {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
                if (body || strcmp(method, "DELETE") != 0) {
                        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
                        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                         (curl_off_t)(body ? body_len : 0));
                }
        }
        rp_usec_t t0 = rp_now_monotonic();
        if (c->verbose) /* a SAS URL is a credential: its query stays out of logs */
                fprintf(stderr, "> %s %.*s%s\n", method,
                        auth ? (int)strlen(url) : (int)strcspn(url, "?"), url,
                        auth || !strchr(url, '?') ? "" : "?<sas>");
        CURLcode rc = curl_easy_perform(h);
        curl_slist_free_all(hdrs);
        if (rc != CURLE_OK) {
                int k = col.too_large ? -EBADMSG : map_curl_error(rc);
                if (col.too_large)
                        set_last_error(c, "the reply to %s %s is over %u bytes", method, url,
                                       RP_MAX_JSON_BODY);
                else
                        set_last_error(c, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
                rp_buf_done(&col.body);
                json_decref(col.headers);
                if (c->verbose)
                        fprintf(stderr, "< failed: %s\n", rp_client_last_error(c));
                return k;
        }
        rp_client_response r = { .headers = col.headers };
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
        if (c->verbose)
                fprintf(stderr, "< %ld (%.1f ms)\n", r.status,
                        (double)(rp_now_monotonic() - t0) / 1000.0);
        if (col.body.len > 0)
                r.body = json_loadb(col.body.ptr, col.body.len, 0, NULL);
        int k = 0;
        if (r.status >= 400)
                k = rp_client_error_parse(r.status, col.body.ptr, col.body.len, &r.error);
        rp_buf_done(&col.body);
        if (k < 0) {
                rp_client_response_done(&r);
                return k;
        }
        *ret = r;
        return 0;
}

int rp_client_request(rp_client *c, const char *method, const char *path, const char *api_version,
                      const json_t *body, rp_client_response *ret)
{
        _cleanup_free_ char *url = NULL;
        int k = rp_client_url_build(c->s.url, path, api_version, &url);
        if (k < 0) {
                set_last_error(c, "bad URL '%s'", path);
                return k;
        }
        if (!same_origin(c, url)) {
                set_last_error(c, "refusing to send the token to '%s': not on %s", url, c->origin);
                return -EPERM;
        }
        _cleanup_free_ char *text = body ? rp_json_dumps(body) : NULL;
        if (body && !text)
                return -ENOMEM;
        return perform(c, method, url, true, text, text ? strlen(text) : 0, ret);
}

/* ---------------------------------------------------------------- LRO */

/* Sleep @p ms, waking early when cancelled. @return 0 or -ECANCELED. */
static int sleep_ms(rp_client *c, long ms)
{
        while (ms > 0) {
                if (c->cancel && *c->cancel)
                        return -ECANCELED;
                long step = RP_MIN(ms, 50L);
                struct timespec ts = { 0, step * 1000000L };
                nanosleep(&ts, NULL);
                ms -= step;
        }
        return c->cancel && *c->cancel ? -ECANCELED : 0;
}

static long poll_delay(const rp_client_response *r)
{
        long ms = rp_client_retry_after_ms(rp_client_response_header(r, "retry-after"));
        if (ms < 0)
                return POLL_DEFAULT_MS;
        return RP_MIN(ms, POLL_MAX_MS);
}

static void replace(rp_client_response *dst, rp_client_response *src)
{
        rp_client_response_done(dst);
        *dst = *src;
        *src = (rp_client_response){};
}

enum lro_state {
        LRO_ASYNC,    /* polling Azure-AsyncOperation */
        LRO_LOCATION, /* polling Location until it stops answering 202 */
        LRO_DONE,
};

struct rp_client_lro {
        enum lro_state state;
        char *method, *path, *api_version; /* the request that started it */
        char *async, *loc;                 /* the polling URLs (owned, may be NULL) */
        char *status;
        double percent;
        rp_client_response resp; /* the initial reply, then the final one */
};

static int set_status(rp_client_lro *op, const char *status)
{
        char *s = rp_strdup(status);
        if (!s)
                return -ENOMEM;
        rp_free(op->status);
        op->status = s;
        return 0;
}

int rp_client_lro_new(const char *method, const char *path, const char *api_version,
                      rp_client_response *resp, rp_client_lro **ret)
{
        rp_client_lro *op = rp_calloc(1, sizeof *op);
        if (!op)
                return -ENOMEM;
        op->percent = -1;
        const char *async = rp_client_response_header(resp, "azure-asyncoperation");
        const char *loc = rp_client_response_header(resp, "location");
        bool ok = rp_client_response_ok(resp);
        op->state = !ok || (!async && !loc) ? LRO_DONE : async ? LRO_ASYNC : LRO_LOCATION;
        op->method = rp_strdup(method);
        op->path = rp_strdup(path);
        op->api_version = api_version ? rp_strdup(api_version) : NULL;
        op->async = async ? rp_strdup(async) : NULL;
        op->loc = loc ? rp_strdup(loc) : NULL;
        if (!op->method || !op->path || (api_version && !op->api_version) ||
            (async && !op->async) || (loc && !op->loc) ||
            set_status(op, op->state != LRO_DONE ? "InProgress"
                           : ok                  ? "Succeeded"
                                                 : "Failed") < 0) {
                rp_client_lro_free(op);
                return -ENOMEM;
        }
        op->resp = *resp;
        *resp = (rp_client_response){};
        *ret = op;
        return 0;
}

rp_client_lro *rp_client_lro_free(rp_client_lro *op)
{
        if (!op)
                return NULL;
        rp_free(op->method);
        rp_free(op->path);
        rp_free(op->api_version);
        rp_free(op->async);
        rp_free(op->loc);
        rp_free(op->status);
        rp_client_response_done(&op->resp);
        return rp_free(op);
}

bool rp_client_lro_done(const rp_client_lro *op)
{
        return op->state == LRO_DONE;
}

const char *rp_client_lro_status(const rp_client_lro *op)
{
        return op->status;
}

double rp_client_lro_percent(const rp_client_lro *op)
{
        return op->percent;
}

rp_client_response *rp_client_lro_response(rp_client_lro *op)
{
        return &op->resp;
}

/* One GET of the Location URL: 202 keeps polling, anything else is the final response. */
static int step_location(rp_client *c, rp_client_lro *op, long *ret_delay_ms)
{
        _cleanup_(rp_client_response_done) rp_client_response r = {};
        int k = rp_client_request(c, "GET", op->loc, NULL, NULL, &r);
        if (k < 0)
                return k;
        if (r.status == 202) {
                op->state = LRO_LOCATION;
                *ret_delay_ms = poll_delay(&r);
                return set_status(op, "InProgress");
        }
        k = set_status(op, rp_client_response_ok(&r) ? "Succeeded" : "Failed");
        if (k < 0)
                return k;
        replace(&op->resp, &r);
        op->state = LRO_DONE;
        return 1;
}

/* The operation succeeded: the result is at Location, or (PUT, PATCH) the resource itself. */
static int step_succeeded(rp_client *c, rp_client_lro *op, long *ret_delay_ms)
{
        if (op->loc)
                return step_location(c, op, ret_delay_ms);
        if (strcasecmp(op->method, "PUT") == 0 || strcasecmp(op->method, "PATCH") == 0) {
                _cleanup_(rp_client_response_done) rp_client_response r = {};
                int k = rp_client_request(c, "GET", op->path, op->api_version, NULL, &r);
                if (k < 0)
                        return k;
                replace(&op->resp, &r);
        }
        op->state = LRO_DONE;
        return 1;
}

int rp_client_lro_step(rp_client *c, rp_client_lro *op, long *ret_delay_ms)
{
        long delay_dummy;
        if (!ret_delay_ms)
                ret_delay_ms = &delay_dummy;
        *ret_delay_ms = POLL_DEFAULT_MS;
        if (op->state == LRO_DONE)
                return 1;
        if (op->state == LRO_LOCATION)
                return step_location(c, op, ret_delay_ms);
        _cleanup_(rp_client_response_done) rp_client_response r = {};
        int k = rp_client_request(c, "GET", op->async, NULL, NULL, &r);
        if (k < 0)
                return k;
        if (!rp_client_response_ok(&r)) {
                k = set_status(op, "Failed");
                if (k < 0)
                        return k;
                replace(&op->resp, &r);
                op->state = LRO_DONE;
                return 1;
        }
        const char *st = json_string_value(json_object_get(r.body, "status"));
        if (!st) {
                set_last_error(c, "the operation status at '%s' has no 'status'", op->async);
                return -EBADMSG;
        }
        k = set_status(op, st);
        if (k < 0)
                return k;
        json_t *pc = json_object_get(r.body, "percentComplete");
        if (json_is_number(pc))
                op->percent = json_number_value(pc);
        if (strcasecmp(st, "Succeeded") == 0) {
                op->percent = 100;
                return step_succeeded(c, op, ret_delay_ms);
        }
        if (strcasecmp(st, "Failed") == 0 || strcasecmp(st, "Canceled") == 0) {
                json_t *e = json_object_get(r.body, "error");
                const char *code = json_string_value(json_object_get(e, "code"));
                const char *msg = json_string_value(json_object_get(e, "message"));
                k = rp_client_error_set(
                        &r.error,
                        code ? code
                             : (strcasecmp(st, "Failed") == 0 ? "OperationFailed"
                                                              : "OperationCanceled"),
                        "%s", msg ? msg : "The long-running operation did not succeed.");
                replace(&op->resp, &r);
                op->state = LRO_DONE;
                return k < 0 ? k : 1;
        }
        *ret_delay_ms = poll_delay(&r);
        return 0;
}

int rp_client_lro_wait(rp_client *c, const char *method, const char *path, const char *api_version,
                       unsigned timeout_sec, rp_client_lro_fn progress, void *userdata,
                       rp_client_response *resp)
{
        if (!rp_client_response_ok(resp))
                return 0;
        rp_client_lro *op = NULL;
        int k = rp_client_lro_new(method, path, api_version, resp, &op);
        if (k < 0)
                return k;
        rp_usec_t deadline = rp_now_monotonic() + (rp_usec_t)timeout_sec * RP_USEC_PER_SEC;
        while (!rp_client_lro_done(op)) {
                long delay = 0;
                k = rp_client_lro_step(c, op, &delay);
                if (k < 0)
                        break;
                if (progress)
                        progress(op->status, op->percent, userdata);
                if (k > 0)
                        break;
                if (rp_now_monotonic() > deadline) {
                        k = -ETIMEDOUT;
                        break;
                }
                k = sleep_ms(c, delay);
                if (k < 0)
                        break;
        }
        *resp = op->resp;
        op->resp = (rp_client_response){};
        rp_client_lro_free(op);
        return k < 0 ? k : 0;
}

/* ---------------------------------------------------------------- lists */

int rp_client_list(rp_client *c, const char *path, const char *api_version, json_t **ret_items,
                   rp_client_response *ret_resp)
{
        _cleanup_json_ json_t *items = json_array();
        _cleanup_free_ char *next = rp_strdup(path);
        rp_client_response r = {};
        if (!items || !next)
                return -ENOMEM;
        for (unsigned page = 0; next; page++) {
                if (page == MAX_LIST_PAGES)
                        return -ELOOP;
                rp_client_response_done(&r);
                int k = rp_client_request(c, "GET", next, api_version, NULL, &r);
                if (k < 0)
                        return k;
                if (r.status != 200 || r.error.code) {
                        *ret_items = NULL;
                        *ret_resp = r;
                        return 0;
                }
                json_t *value = json_object_get(r.body, "value");
                if (!json_is_array(value)) {
                        rp_client_response_done(&r);
                        set_last_error(c, "the list at '%s' has no 'value' array", next);
                        return -EBADMSG;
                }
                if (json_array_extend(items, value) < 0) {
                        rp_client_response_done(&r);
                        return -ENOMEM;
                }
                const char *nl = json_string_value(json_object_get(r.body, "nextLink"));
                rp_free(next);
                next = NULL;
                if (nl && *nl && !(next = rp_strdup(nl))) {
                        rp_client_response_done(&r);
                        return -ENOMEM;
                }
        }
        *ret_items = TAKE_PTR(items);
        *ret_resp = r;
        return 0;
}

/* ---------------------------------------------------------------- data plane helpers */

int rp_client_blob_size(rp_client *c, const char *sas_url, uint64_t *ret_size,
                        rp_client_error *reterr)
{
        _cleanup_free_ char *url = NULL;
        int k = rp_client_url_build(NULL, sas_url, NULL, &url);
        if (k < 0)
                return k;
        _cleanup_(rp_client_response_done) rp_client_response r = {};
        k = perform(c, "HEAD", url, false, NULL, 0, &r);
        if (k < 0)
                return k;
        if (r.status != 200) {
                /* HEAD has no body: the status is all there is */
                k = rp_client_error_set(reterr, rp_client_status_code_name(r.status),
                                        "HEAD of the SAS URL answered HTTP %ld.", r.status);
                return k < 0 ? k : -EREMOTEIO;
        }
        const char *len = rp_client_response_header(&r, "x-ms-blob-content-length");
        if (!len)
                len = rp_client_response_header(&r, "content-length");
        uint64_t n;
        if (!len || rp_parse_u64(len, &n) < 0)
                return -EBADMSG;
        *ret_size = n;
        return 0;
}
