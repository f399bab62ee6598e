/* http.h: libmicrohttpd glue: TLS server, per-request context, capped bodies, reply helpers.
 *
 * The layer knows nothing of ARM: it hands every request to the application through three
 * callbacks (headers in, body piece, body complete) and offers reply helpers. The
 * application decides, when the headers are in, whether the body is buffered (capped) or
 * streamed to it piece by piece (the disk data plane). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/time.h"

typedef struct rp_http_server rp_http_server;
typedef struct rp_request rp_request;

/** What the application wants done with a request body. */
enum rp_http_body_mode {
        RP_HTTP_BODY_BUFFER, /**< collect into req->body up to the cap, then on_complete */
        RP_HTTP_BODY_STREAM, /**< hand each piece to on_body, then on_complete */
};

/** Application callbacks. All run on MHD worker threads, concurrently for different requests. */
typedef struct rp_http_app {
        void *userdata;
        /** Headers are in. Return an rp_http_body_mode. May reply already (body then discarded). */
        int (*on_headers)(void *userdata, rp_request *req);
        /** A piece of a streamed body. Return 0, or <0 after replying to stop reading. */
        int (*on_body)(void *userdata, rp_request *req, const char *data, size_t len);
        /** The body is complete (or overflowed). Must reply unless already replied. */
        void (*on_complete)(void *userdata, rp_request *req);
} rp_http_app;

/** Server settings. */
typedef struct rp_http_config {
        const char *listen_addr;  /**< IPv4 or IPv6 literal */
        uint16_t port;            /**< 0 picks a free port */
        const char *cert_pem;     /**< server certificate chain (PEM, in memory) */
        const char *key_pem;      /**< server key (PEM, in memory) */
        unsigned threads;         /**< worker thread pool size */
        unsigned conn_timeout_s;  /**< idle connection timeout */
        size_t max_body;          /**< cap of a buffered body */
} rp_http_config;

/** One request. Fields are read-only for the application unless said otherwise. */
struct rp_request {
        const char *method;   /**< "GET", ... */
        const char *path;     /**< URL path, percent-decoded by MHD */
        char request_id[40];  /**< x-ms-request-id we answer with */
        char *correlation_id; /**< x-ms-correlation-request-id (client's or ours) */
        rp_buf body;          /**< buffered body (BODY_BUFFER mode) */
        bool body_overflow;   /**< the body exceeded the cap; body is truncated */
        bool replied;         /**< a reply was queued */
        bool streaming;       /**< the body goes to on_body, not to body */
        unsigned status;      /**< status replied with (for logs) */
        uint64_t bytes_in;    /**< body bytes received */
        rp_usec_t start;      /**< monotonic start time */
        void *app_ctx;        /**< application state, freed with app_ctx_free at completion */
        void (*app_ctx_free)(void *ctx);
        void *conn;           /**< the MHD connection (opaque) */
        rp_buf extra_headers; /**< "Name: value\n" lines added to the reply */
        const char *route_name; /**< for logs, set by the application */
        bool hold_reply;      /**< internal: a reply now waits for the end of the body */
        void *held;           /**< internal: that reply (struct MHD_Response), queued at the end */
};

/** Start serving. @param[out] ret_port the bound port. @return 0 or -errno; *ret_error explains. */
int rp_http_server_start(const rp_http_config *cfg, const rp_http_app *app, rp_http_server **ret,
                         uint16_t *ret_port, char **ret_error);
/** Stop accepting, finish running requests, free. NULL-safe. @return NULL. */
rp_http_server *rp_http_server_stop(rp_http_server *s);

/** A request header (case-insensitive name). Borrowed, valid for the request. NULL if absent. */
const char *rp_http_header(rp_request *req, const char *name);
/** A query parameter by decoded name, case-insensitive ("$expand" matches "%24expand"). */
const char *rp_http_query(rp_request *req, const char *name);
/** Call @p fn for every query parameter (decoded). */
void rp_http_query_foreach(rp_request *req, void (*fn)(void *ud, const char *k, const char *v),
                           void *ud);
/** The Host header, or "127.0.0.1" when missing. Borrowed. */
const char *rp_http_host(rp_request *req);

/** Add a header to the reply of @p req. @return 0 or -ENOMEM / -EINVAL (CR/LF in value). */
int rp_http_add_header(rp_request *req, const char *name, const char *value);
/** Reply with a body copied from @p data (may be NULL with len 0). @return 0 or -errno. */
int rp_http_reply(rp_request *req, unsigned status, const char *content_type, const void *data,
                  size_t len);
/** Reader for streamed replies: fill up to @p max bytes at @p pos. @return bytes, or -1 on error. */
typedef ssize_t (*rp_http_reader)(void *ctx, uint64_t pos, char *buf, size_t max);
/** Reply with @p size bytes produced by @p reader (ctx freed with @p ctx_free). */
int rp_http_reply_stream(rp_request *req, unsigned status, const char *content_type, uint64_t size,
                         rp_http_reader reader, void *ctx, void (*ctx_free)(void *));
