/* http.c: libmicrohttpd server.
 *
 * DESIGN: MHD runs its own thread pool with TLS (GnuTLS underneath). For each request the
 * access handler is called first with the headers (we build an rp_request and ask the
 * application what to do with the body), then once per body piece, then once with no data:
 * that is when the application replies. Per-request memory hangs off rp_request and is
 * freed in the completion callback, where the access log line is written too. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/parse.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

struct rp_http_server {
        struct MHD_Daemon *mhd;
        rp_http_app app;
        size_t max_body;
        char *cert;
        char *key;
};

struct stream_ctx {
        rp_http_reader reader;
        void *ctx;
        void (*ctx_free)(void *);
};

static void request_free(rp_request *req)
{
        if (!req)
                return;
        if (req->app_ctx && req->app_ctx_free)
                req->app_ctx_free(req->app_ctx);
        if (req->held)
                MHD_destroy_response(req->held);
        rp_buf_done(&req->body);
        rp_buf_done(&req->extra_headers);
        rp_free(req->correlation_id);
        rp_free(req);
}

static rp_request *request_new(struct MHD_Connection *conn, const char *method, const char *url,
                               size_t max_body)
{
        rp_request *req = rp_calloc(1, sizeof *req);
        if (!req)
                return NULL;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->start = rp_now_monotonic();
        rp_buf_init(&req->body, max_body);
        rp_buf_init(&req->extra_headers, RP_MAX_HEADER_BYTES);
        if (rp_uuid4(req->request_id) < 0) {
                request_free(req);
                return NULL;
        }
        const char *corr =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-ms-correlation-request-id");
        /* A client-chosen correlation id is echoed only when it is printable and short. */
        bool ok = corr && *corr && strlen(corr) <= 128;
        for (const char *p = corr; ok && *p; p++)
                if (*p < 0x21 || *p > 0x7e)
                        ok = false;
        req->correlation_id = rp_strdup(ok ? corr : req->request_id);
        if (!req->correlation_id) {
                request_free(req);
                return NULL;
        }
        return req;
}

const char *rp_http_header(rp_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct query_find {
        const char *name;
        const char *value;
};

static MHD_Result_t query_find_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
        struct query_find *q = cls;
        if (key && strcasecmp(key, q->name) == 0) {
                q->value = value ? value : "";
                return MHD_NO;
        }
        return MHD_YES;
}

const char *rp_http_query(rp_request *req, const char *name)
{
        struct query_find q = { .name = name };
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_find_cb, &q);
        return q.value;
}

struct query_each {
        void (*fn)(void *ud, const char *k, const char *v);
        void *ud;
};

static MHD_Result_t query_each_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
        struct query_each *q = cls;
        q->fn(q->ud, key, value ? value : "");
        return MHD_YES;
}

void rp_http_query_foreach(rp_request *req, void (*fn)(void *ud, const char *k, const char *v),
                           void *ud)
{
        struct query_each q = { .fn = fn, .ud = ud };
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_each_cb, &q);
}

const char *rp_http_host(rp_request *req)
{
        const char *h = rp_http_header(req, "Host");
        return h && *h ? h : "127.0.0.1";
}

int rp_http_add_header(rp_request *req, const char *name, const char *value)
{
        if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
                return -EINVAL;
        return rp_buf_printf(&req->extra_headers, "%s: %s\n", name, value);
}

static int response_add_headers(rp_request *req, struct MHD_Response *resp,
                                const char *content_type)
{
        MHD_add_response_header(resp, "x-ms-request-id", req->request_id);
        MHD_add_response_header(resp, "x-ms-correlation-request-id", req->correlation_id);
        const char *client_id = rp_http_header(req, "x-ms-client-request-id");
        if (client_id && strlen(client_id) <= 128 && !strpbrk(client_id, "\r\n"))
                MHD_add_response_header(resp, "x-ms-client-request-id", client_id);
        if (content_type)
                MHD_add_response_header(resp, "Content-Type", content_type);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        if (req->extra_headers.len == 0)
                return 0;
        /* extra_headers holds validated "Name: value\n" lines */
        char *line = req->extra_headers.ptr;
        while (line && *line) {
                char *nl = strchr(line, '\n');
                char *colon = strchr(line, ':');
                if (!nl || !colon || colon > nl)
                        break;
                *nl = '\0';
                *colon = '\0';
                MHD_add_response_header(resp, line, colon + 2);
                *colon = ':';
                *nl = '\n';
                line = nl + 1;
        }
        return 0;
}

static int queue(rp_request *req, unsigned status, struct MHD_Response *resp,
                 const char *content_type)
{
        if (!resp)
                return -ENOMEM;
        if (req->replied) {
                MHD_destroy_response(resp);
                log_error("second reply to one request (status %u) dropped", status);
                return -EALREADY;
        }
        response_add_headers(req, resp, content_type);
        req->replied = true;
        req->status = status;
        if (req->hold_reply) {
                /* queued by access_handler() once the body is in */
                req->held = resp;
                return 0;
        }
        MHD_Result_t r = MHD_queue_response(req->conn, status, resp);
        MHD_destroy_response(resp);
        return r == MHD_YES ? 0 : -EIO;
}

/* Whether a reply made when the headers are in should wait for the end of the body. MHD
 * sends an early reply and then closes the connection without reading the body; a client
 * that is still sending it (most do not wait for a reply before sending: requests,
 * azure-core) then sees a broken connection instead of the error. So the body is read and
 * dropped first, unless the client asked for "Expect: 100-continue" (it then sends no body
 * at all) or announced more than the cap (a 413 needs no body). */
static bool hold_early_reply(rp_request *req, size_t cap)
{
        const char *cl = rp_http_header(req, "Content-Length");
        const char *te = rp_http_header(req, "Transfer-Encoding");
        const char *expect = rp_http_header(req, "Expect");
        uint64_t len = 0;
        if (expect && strcasecmp(expect, "100-continue") == 0)
                return false;
        if (cl) {
                if (rp_parse_u64(cl, &len) < 0)
                        return false;
                return len > 0 && len <= cap;
        }
        return te != NULL; /* chunked: read until the end */
}

static void queue_held(rp_request *req)
{
        struct MHD_Response *resp = req->held;
        req->held = NULL;
        req->hold_reply = false;
        if (resp && MHD_queue_response(req->conn, req->status, resp) != MHD_YES)
                log_error("cannot queue the reply (status %u)", req->status);
        if (resp)
                MHD_destroy_response(resp);
}

int rp_http_reply(rp_request *req, unsigned status, const char *content_type, const void *data,
                  size_t len)
{
        struct MHD_Response *resp = MHD_create_response_from_buffer(
                len, (void *)(data ? data : ""), MHD_RESPMEM_MUST_COPY);
        return queue(req, status, resp, len || status != 204 ? content_type : NULL);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct stream_ctx *s = cls;
        ssize_t n = s->reader(s->ctx, pos, buf, max);
        return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void stream_free(void *cls)
{
        struct stream_ctx *s = cls;
        if (s->ctx_free)
                s->ctx_free(s->ctx);
        rp_free(s);
}

int rp_http_reply_stream(rp_request *req, unsigned status, const char *content_type, uint64_t size,
                         rp_http_reader reader, void *ctx, void (*ctx_free)(void *))
{
        struct stream_ctx *s = rp_malloc(sizeof *s);
        if (!s) {
                if (ctx_free)
                        ctx_free(ctx);
                return -ENOMEM;
        }
        *s = (struct stream_ctx){ .reader = reader, .ctx = ctx, .ctx_free = ctx_free };
        struct MHD_Response *resp =
                MHD_create_response_from_callback(size, 256 * 1024, stream_reader, s, stream_free);
        if (!resp) {
                stream_free(s);
                return -ENOMEM;
        }
        return queue(req, status, resp, content_type);
}

static MHD_Result_t access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
        rp_http_server *s = cls;
        rp_request *req = *con_cls;

        if (!req) {
                req = request_new(conn, method, url, s->max_body);
                if (!req)
                        return MHD_NO;
                *con_cls = req;
                req->hold_reply = hold_early_reply(req, s->max_body);
                rp_log_set_request(req->request_id, req->correlation_id);
                int mode = s->app.on_headers(s->app.userdata, req);
                rp_log_clear_request();
                if (!req->replied)
                        req->hold_reply = false;
                if (mode < 0 && !req->replied)
                        return MHD_NO;
                req->streaming = mode == RP_HTTP_BODY_STREAM;
                return MHD_YES;
        }

        bool streaming = req->streaming;
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                *upload_data_size = 0;
                req->bytes_in += n;
                if (req->replied)
                        return MHD_YES; /* discard what follows an early reply */
                /* MHD takes no reply while the body comes in: one made now waits */
                req->hold_reply = true;
                if (streaming) {
                        rp_log_set_request(req->request_id, req->correlation_id);
                        s->app.on_body(s->app.userdata, req, upload_data, n);
                        rp_log_clear_request();
                        return MHD_YES;
                }
                if (!req->body_overflow && rp_buf_append(&req->body, upload_data, n) < 0) {
                        req->body_overflow = true;
                        rp_buf_done(&req->body);
                }
                return MHD_YES;
        }

        if (req->held) {
                queue_held(req);
                return MHD_YES;
        }
        req->hold_reply = false;
        if (!req->replied) {
                rp_log_set_request(req->request_id, req->correlation_id);
                s->app.on_complete(s->app.userdata, req);
                rp_log_clear_request();
                if (!req->replied) {
                        log_error("handler for %s %s did not reply", method, url);
                        static const char none[] = "{\"error\":{\"code\":"
                                                   "\"InternalExecutionError\",\"message\":"
                                                   "\"No reply.\"}}";
                        rp_http_reply(req, 500, "application/json", none, sizeof none - 1);
                }
        }
        return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
        rp_request *req = *con_cls;
        if (!req)
                return;
        rp_log_set_request(req->request_id, req->correlation_id);
        log_info("http method=%s path='%s' status=%u in=%llu ms=%.1f route=%s%s", req->method,
                 req->path, req->status, (unsigned long long)req->bytes_in,
                 (double)(rp_now_monotonic() - req->start) / 1000.0,
                 req->route_name ? req->route_name : "-",
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
        rp_log_clear_request();
        request_free(req);
        *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                msg[--n] = '\0';
        log_debug("mhd: %s", msg);
}

int rp_http_server_start(const rp_http_config *cfg, const rp_http_app *app, rp_http_server **ret,
                         uint16_t *ret_port, char **ret_error)
{
        _cleanup_free_ rp_http_server *s = rp_calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->app = *app;
        s->max_body = cfg->max_body ? cfg->max_body : RP_MAX_JSON_BODY;
        s->cert = rp_strdup(cfg->cert_pem);
        s->key = rp_strdup(cfg->key_pem);
        if (!s->cert || !s->key) {
                rp_free(s->cert);
                rp_free(s->key);
                return -ENOMEM;
        }

        struct sockaddr_storage ss = { 0 };
        socklen_t sslen;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG |
                         MHD_USE_EPOLL;
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, cfg->listen_addr, &sin->sin_addr) == 1) {
                sin->sin_family = AF_INET;
                sin->sin_port = htons(cfg->port);
                sslen = sizeof *sin;
        } else if (inet_pton(AF_INET6, cfg->listen_addr, &sin6->sin6_addr) == 1) {
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(cfg->port);
                sslen = sizeof *sin6;
                flags |= MHD_USE_IPv6;
        } else {
                *ret_error = rp_asprintf("listen address '%s' is not an IP literal",
                                         cfg->listen_addr);
                rp_free(s->cert);
                rp_free(s->key);
                return -EINVAL;
        }
        (void)sslen;

        s->mhd = MHD_start_daemon(
                flags, cfg->port, NULL, NULL, access_handler, s, MHD_OPTION_SOCK_ADDR, &ss,
                MHD_OPTION_HTTPS_MEM_CERT, s->cert, MHD_OPTION_HTTPS_MEM_KEY, s->key,
                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads ? cfg->threads : 8),
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->conn_timeout_s ? cfg->conn_timeout_s : 120),
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)RP_MAX_HEADER_BYTES * 2,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_NOTIFY_COMPLETED,
                completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
        if (!s->mhd) {
                *ret_error = rp_asprintf("cannot listen on %s:%u (address in use, or bad TLS "
                                         "certificate)",
                                         cfg->listen_addr, cfg->port);
                rp_free(s->cert);
                rp_free(s->key);
                return -EADDRINUSE;
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
        *ret_port = info ? info->port : cfg->port;
        *ret = TAKE_PTR(s);
        return 0;
}

rp_http_server *rp_http_server_stop(rp_http_server *s)
{
        if (!s)
                return NULL;
        MHD_stop_daemon(s->mhd);
        rp_free(s->cert);
        rp_free(s->key);
        rp_free(s);
        return NULL;
}
