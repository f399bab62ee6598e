/* peer_http.c: the HTTPS peer, on the libcurl multi interface.
 *
 * DESIGN
 *
 * One CURLM per peer and a small pool of easy handles (one per request in flight). Easy handles
 * and the multi handle live as long as the peer, so connections and TLS sessions are kept
 * alive and reused from batch to batch (HTTP/1.1, no pipelining: parallelism comes from
 * several connections). get_chunks splits a batch into requests of ids_per_request ids and
 * runs up to `connections` of them at once; as each completes, its body is checked (status,
 * response signature over the body digest, strict stream decode, every id answered exactly
 * once and nothing else) and only then are its chunks handed to the caller, on the calling
 * thread. A request that fails does not stop the others: what arrived intact is delivered and
 * the first failure is returned, so a retry fetches only what is still missing.
 *
 * Response bodies are buffered (at most ~4 MiB per request with the defaults): the signature
 * covers the whole body, and nothing is delivered before it is verified.
 *
 * Errors map to negative errnos the engine classifies: -EACCES (401/403: the pair key or
 * region is wrong; not worth retrying), -ENOENT (a signed 404, or MISSING records), -EPROTO
 * (unsigned or malformed answers), and transport errors (-ETIMEDOUT, -ECONNREFUSED,
 * -ECONNRESET, -EHOSTUNREACH, -EREMOTEIO for 5xx, -EIO), which are worth retrying. The text of
 * the last failure is kept for rp_peer_last_error().
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <strings.h>

#include "repl/peer.h"
#include "repl/peer_proto.h"
#include "store/manifest.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/macro.h"

/* A manifest answer: fixed part, metadata, the largest manifest. */
#define MAX_MANIFEST_BODY (32u + RP_PEER_MAX_META + RP_MANIFEST_MAX_BYTES)
/* Bytes of an error body quoted in a reason. */
#define MAX_QUOTE 200u
#define POLL_MS 1000

typedef struct http_peer {
        char *base;   /* "https://host:port[/prefix]", no trailing slash */
        char *prefix; /* "[/prefix]" as the server sees it, maybe "" */
        char *ca_file;
        uint8_t *key;
        size_t key_len;
        char *region;
        rp_peer_http_options opt;
        CURLM *multi;
        CURL **pool; /* opt.connections handles, made on first use */
        bool *busy;
        size_t pool_n;
        pthread_mutex_t lock;
        char last_error[RP_PEER_MAX_ERROR_TEXT];
        _Atomic uint64_t wire_bytes; /* chunk answer bytes received */
} http_peer;

typedef struct http_req {
        size_t slot;
        struct curl_slist *headers;
        rp_peer_auth auth;
        uint8_t *body; /* request body, or NULL for GET */
        size_t body_len;
        rp_buf resp;
        bool resp_overflow;
        char resp_region[RP_PEER_MAX_REGION + 1];
        char resp_date[RP_PEER_DATE_MAX + 1];
        char resp_sig[RP_PEER_SIG_LEN + 1];
        size_t first, n;   /* ids of a chunk request */
        const char *ctype; /* Content-Type of the body (NULL: an id list) */
        char errbuf[CURL_ERROR_SIZE];
        bool started, done;
} http_req;

static const rp_peer_ops http_ops;

static void set_error(http_peer *hp, const char *fmt, ...) _printf_(2, 3);
static void set_error(http_peer *hp, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(hp->last_error, sizeof hp->last_error, fmt, ap);
        va_end(ap);
}

/* ------------------------------------------------------------------------- curl callbacks */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
        http_req *q = ud;
        size_t n = size * nmemb;
        if (rp_buf_append(&q->resp, ptr, n) < 0) {
                q->resp_overflow = true;
                return 0; /* CURLE_WRITE_ERROR */
        }
        return n;
}

static void copy_header(char *dst, size_t dst_size, const char *v, size_t n)
{
        if (n >= dst_size) { /* too long to be valid: leave it empty, verification fails */
                dst[0] = '\0';
                return;
        }
        memcpy(dst, v, n);
        dst[n] = '\0';
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
        http_req *q = ud;
        size_t n = size * nitems;
        if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
                /* A new response (after a 1xx): forget the previous one's headers. */
                q->resp_region[0] = q->resp_date[0] = q->resp_sig[0] = '\0';
                return n;
        }
        const char *colon = memchr(buf, ':', n);
        if (!colon)
                return n;
        size_t name_len = (size_t)(colon - buf);
        const char *v = colon + 1;
        size_t vlen = n - name_len - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
                v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' ||
                            v[vlen - 1] == '\t'))
                vlen--;
        static const struct {
                const char *name;
                size_t off, size;
        } want[] = {
                { RP_PEER_HDR_REGION, offsetof(http_req, resp_region), RP_PEER_MAX_REGION + 1 },
                { RP_PEER_HDR_DATE, offsetof(http_req, resp_date), RP_PEER_DATE_MAX + 1 },
                { RP_PEER_HDR_SIGNATURE, offsetof(http_req, resp_sig), RP_PEER_SIG_LEN + 1 },
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                if (strlen(want[i].name) == name_len &&
                    strncasecmp(buf, want[i].name, name_len) == 0)
                        copy_header((char *)q + want[i].off, want[i].size, v, vlen);
        return n;
}

/* ------------------------------------------------------------------------- requests */

static void req_done(http_req *q)
{
        curl_slist_free_all(q->headers);
        q->headers = NULL;
        q->body = rp_free(q->body);
        rp_buf_done(&q->resp);
}

static int add_header(struct curl_slist **l, const char *name, const char *value)
{
        _cleanup_free_ char *line = rp_asprintf("%s: %s", name, value);
        if (!line)
                return -ENOMEM;
        struct curl_slist *n = curl_slist_append(*l, line);
        if (!n)
                return -ENOMEM;
        *l = n;
        return 0;
}

static int pool_get(http_peer *hp, size_t *ret_slot)
{
        for (size_t i = 0; i < hp->pool_n; i++) {
                if (hp->busy[i])
                        continue;
                if (!hp->pool[i]) {
                        hp->pool[i] = curl_easy_init();
                        if (!hp->pool[i])
                                return -ENOMEM;
                }
                hp->busy[i] = true;
                *ret_slot = i;
                return 0;
        }
        return -EBUSY;
}

/* Sign and set up @p q on a pooled handle, and add it to the multi handle. The request takes
 * ownership of @p body. */
static int req_setup(http_peer *hp, http_req *q, const char *method, const char *endpoint,
                     const char *query_id, uint8_t *body, size_t body_len, size_t resp_max)
{
        q->body = body;
        q->body_len = body_len;
        rp_buf_init(&q->resp, resp_max);
        _cleanup_free_ char *path = rp_asprintf("%s%s", hp->prefix, endpoint);
        _cleanup_free_ char *url = NULL;
        if (!path)
                return -ENOMEM;
        uint8_t sum[32];
        rp_sha256(body ? (const void *)body : "", body_len, sum);
        int r = rp_peer_sign_request(hp->key, hp->key_len, method, path, query_id, hp->region, sum,
                                     rp_now_realtime(), &q->auth);
        if (r < 0)
                return r;
        CURL *e = hp->pool[q->slot];
        if (query_id) {
                char *esc = curl_easy_escape(e, query_id, 0);
                if (!esc)
                        return -ENOMEM;
                url = rp_asprintf("%s%s?id=%s", hp->base, endpoint, esc);
                curl_free(esc);
        } else
                url = rp_asprintf("%s%s", hp->base, endpoint);
        if (!url)
                return -ENOMEM;
        if (add_header(&q->headers, RP_PEER_HDR_REGION, hp->region) < 0 ||
            add_header(&q->headers, RP_PEER_HDR_DATE, q->auth.date) < 0 ||
            add_header(&q->headers, RP_PEER_HDR_NONCE, q->auth.nonce) < 0 ||
            add_header(&q->headers, RP_PEER_HDR_SIGNATURE, q->auth.signature) < 0 ||
            (body &&
             add_header(&q->headers, "Content-Type", q->ctype ? q->ctype : RP_PEER_CT_IDS) < 0))
                return -ENOMEM;
        /* chunks may come zstd-compressed (CHUNK_ZSTD records): fewer bytes on the link */
        if (strcmp(endpoint, RP_PEER_PATH_CHUNKS) == 0 &&
            add_header(&q->headers, RP_PEER_HDR_ACCEPT, "zstd") < 0)
                return -ENOMEM;
        struct curl_slist *n = curl_slist_append(q->headers, "Expect:"); /* no 100-continue */
        if (!n)
                return -ENOMEM;
        q->headers = n;

        curl_easy_reset(e); /* keeps the connection and TLS session caches */
        q->errbuf[0] = '\0';
        bool ok =
                curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) ==
                        CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
                (!hp->ca_file || curl_easy_setopt(e, CURLOPT_CAINFO, hp->ca_file) == CURLE_OK) &&
                curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)hp->opt.connect_timeout_s) ==
                        CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)hp->opt.request_timeout_s) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)hp->opt.low_speed_time_s) ==
                        CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_WRITEDATA, q) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_HEADERDATA, q) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf) == CURLE_OK &&
                curl_easy_setopt(e, CURLOPT_PRIVATE, q) == CURLE_OK;
        if (ok && body)
                ok = curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
                     curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) ==
                             CURLE_OK &&
                     curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body) == CURLE_OK;
        else if (ok)
                ok = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
        if (!ok || curl_multi_add_handle(hp->multi, e) != CURLM_OK)
                return -ENOMEM;
        return 0;
}

static int req_start(http_peer *hp, http_req *q, const char *method, const char *endpoint,
                     const char *query_id, uint8_t *body, size_t body_len, size_t resp_max)
{
        int r = pool_get(hp, &q->slot);
        if (r < 0) {
                rp_free(body);
                return r;
        }
        r = req_setup(hp, q, method, endpoint, query_id, body, body_len, resp_max);
        if (r < 0) {
                hp->busy[q->slot] = false;
                return r;
        }
        q->started = true;
        return 0;
}

static int curl_errno(CURLcode c)
{
        switch (c) {
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_WRITE_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_WEIRD_SERVER_REPLY:
                return -EPROTO;
        default:
                return -EIO;
        }
}

/* The message of an error body ({"error":{"code","message"}}), or its text, made printable. */
static void quote_body(const rp_buf *b, char *out, size_t out_size)
{
        const char *text = b->ptr ? b->ptr : "";
        size_t len = b->len;
        json_t *j = b->len ? json_loadb(b->ptr, b->len, 0, NULL) : NULL;
        _cleanup_free_ char *msg = NULL;
        if (j) {
                json_t *e = json_object_get(j, "error");
                const char *code = json_string_value(json_object_get(e, "code"));
                const char *m = json_string_value(json_object_get(e, "message"));
                if (code || m)
                        msg = rp_asprintf("%s%s%s", code ? code : "", code && m ? ": " : "",
                                          m ? m : "");
                json_decref(j);
                if (msg) {
                        text = msg;
                        len = strlen(msg);
                }
        }
        size_t n = RP_MIN(len, (size_t)MAX_QUOTE);
        n = RP_MIN(n, out_size - 1);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)text[i];
                out[i] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
        }
        out[n] = '\0';
}

/* Check a completed request: transport, status, response signature. @return 0 (a signed 2xx),
 * or a negative errno with hp->last_error set. */
static int req_check(http_peer *hp, http_req *q, CURLcode res, const char *what)
{
        CURL *e = hp->pool[q->slot];
        if (res != CURLE_OK) {
                if (q->resp_overflow) {
                        set_error(hp, "%s: the answer is larger than the protocol allows", what);
                        return -EPROTO;
                }
                set_error(hp, "%s: %s", what, q->errbuf[0] ? q->errbuf : curl_easy_strerror(res));
                return curl_errno(res);
        }
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        uint8_t sum[32];
        rp_sha256(q->resp.ptr ? q->resp.ptr : "", q->resp.len, sum);
        bool signed_ok = rp_peer_auth_verify_response(hp->key, hp->key_len, q->auth.signature,
                                                      (unsigned)status, q->resp_region,
                                                      q->resp_date, q->resp_sig, sum) == 0;
        if (status == 200) {
                if (signed_ok)
                        return 0;
                set_error(hp, "%s: the answer is not signed with the pair key", what);
                return -EPROTO;
        }
        char quote[MAX_QUOTE + 1];
        quote_body(&q->resp, quote, sizeof quote);
        set_error(hp, "%s: HTTP %ld%s%s%s", what, status, signed_ok ? "" : " (unsigned)",
                  quote[0] ? ": " : "", quote);
        switch (status) {
        case 401:
        case 403:
                /* Also unsigned: with a wrong pair key the peer's signature cannot verify. */
                return -EACCES;
        case 404:
                return signed_ok ? -ENOENT : -EPROTO;
        case 400:
        case 413:
                return signed_ok ? -EINVAL : -EPROTO;
        case 408:
        case 504:
                return -ETIMEDOUT;
        default:
                return status >= 500 ? -EREMOTEIO : -EPROTO;
        }
}

/* Run @p reqs, at most pool_n at a time: @p start sets one up and adds it to the multi handle,
 * @p finish consumes a completed one. A request's own failure is recorded by @p finish in its
 * context (the others go on); a negative return of @p finish (the caller said stop) or of
 * @p start aborts the requests in flight. @return 0, or the error that stopped the run. */
typedef int (*req_start_fn)(http_peer *hp, http_req *q, void *ud);
typedef int (*req_finish_fn)(http_peer *hp, http_req *q, CURLcode res, void *ud);

static int run(http_peer *hp, http_req *reqs, size_t nreq, req_start_fn start, req_finish_fn finish,
               void *ud)
{
        size_t next = 0, active = 0;
        int stop = 0;
        while ((next < nreq && stop == 0) || active > 0) {
                while (stop == 0 && next < nreq && active < hp->pool_n) {
                        int r = start(hp, &reqs[next], ud);
                        if (r < 0) {
                                set_error(hp, "cannot start a request: %s", strerror(-r));
                                stop = r;
                                break;
                        }
                        next++;
                        active++;
                }
                if (stop < 0 && active > 0) {
                        for (size_t i = 0; i < nreq; i++) {
                                http_req *q = &reqs[i];
                                if (q->started && !q->done) {
                                        curl_multi_remove_handle(hp->multi, hp->pool[q->slot]);
                                        hp->busy[q->slot] = false;
                                        q->done = true;
                                }
                        }
                        active = 0;
                }
                if (active == 0)
                        break;
                int still = 0;
                CURLMcode mc = curl_multi_perform(hp->multi, &still);
                if (mc != CURLM_OK) {
                        set_error(hp, "libcurl: %s", curl_multi_strerror(mc));
                        stop = mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
                        continue;
                }
                CURLMsg *m;
                int left;
                while ((m = curl_multi_info_read(hp->multi, &left))) {
                        if (m->msg != CURLMSG_DONE)
                                continue;
                        http_req *q = NULL;
                        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
                        CURLcode res = m->data.result;
                        curl_multi_remove_handle(hp->multi, m->easy_handle);
                        hp->busy[q->slot] = false;
                        q->done = true;
                        active--;
                        int r = finish(hp, q, res, ud);
                        req_done(q);
                        if (r < 0 && stop == 0)
                                stop = r;
                }
                if (active > 0 && still > 0) {
                        mc = curl_multi_poll(hp->multi, NULL, 0, POLL_MS, NULL);
                        if (mc != CURLM_OK) {
                                set_error(hp, "libcurl: %s", curl_multi_strerror(mc));
                                stop = -EIO;
                        }
                }
        }
        for (size_t i = 0; i < nreq; i++)
                req_done(&reqs[i]);
        return stop;
}

/* ------------------------------------------------------------------------- get_manifest */

typedef struct manifest_ctx {
        const char *drp_id;
        int result;
        uint8_t *data;
        size_t len;
        json_t *meta;
} manifest_ctx;

static int manifest_start(http_peer *hp, http_req *q, void *ud)
{
        manifest_ctx *c = ud;
        return req_start(hp, q, "GET", RP_PEER_PATH_MANIFEST, c->drp_id, NULL, 0,
                         MAX_MANIFEST_BODY);
}

static int manifest_finish(http_peer *hp, http_req *q, CURLcode res, void *ud)
{
        manifest_ctx *c = ud;
        int r = req_check(hp, q, res, "fetching the manifest");
        if (r >= 0) {
                r = rp_peer_decode_manifest(q->resp.ptr, q->resp.len, &c->data, &c->len, &c->meta);
                if (r < 0) {
                        set_error(hp, "fetching the manifest: malformed answer (%s)", strerror(-r));
                        r = r == -ENOMEM ? r : -EPROTO;
                }
        }
        c->result = r;
        return 0;
}

static int http_get_manifest(rp_peer *peer, const char *drp_id, uint8_t **ret_data, size_t *ret_len,
                             json_t **ret_meta)
{
        http_peer *hp = rp_peer_impl(peer);
        manifest_ctx c = { .drp_id = drp_id };
        http_req q = {};
        pthread_mutex_lock(&hp->lock);
        hp->last_error[0] = '\0';
        int r = run(hp, &q, 1, manifest_start, manifest_finish, &c);
        pthread_mutex_unlock(&hp->lock);
        if (r >= 0)
                r = c.result;
        if (r < 0) {
                rp_free(c.data);
                if (c.meta)
                        json_decref(c.meta);
                return r;
        }
        *ret_data = c.data;
        *ret_len = c.len;
        *ret_meta = c.meta;
        return 0;
}

/* ------------------------------------------------------------------------- JSON calls */

typedef struct call_ctx {
        const char *endpoint;
        uint8_t *body;
        size_t body_len;
        int result;
        unsigned status;
        json_t *answer;
} call_ctx;

static int call_start(http_peer *hp, http_req *q, void *ud)
{
        call_ctx *c = ud;
        q->ctype = "application/json";
        uint8_t *b = TAKE_PTR(c->body);
        return req_start(hp, q, "POST", c->endpoint, NULL, b, c->body_len, RP_PEER_MAX_META);
}

static int call_finish(http_peer *hp, http_req *q, CURLcode res, void *ud)
{
        call_ctx *c = ud;
        if (res != CURLE_OK) {
                set_error(hp, "%s: %s", c->endpoint,
                          q->resp_overflow ? "the answer is too large"
                          : q->errbuf[0]   ? q->errbuf
                                           : curl_easy_strerror(res));
                c->result = q->resp_overflow ? -EPROTO : curl_errno(res);
                return 0;
        }
        long status = 0;
        curl_easy_getinfo(hp->pool[q->slot], CURLINFO_RESPONSE_CODE, &status);
        uint8_t sum[32];
        rp_sha256(q->resp.ptr ? q->resp.ptr : "", q->resp.len, sum);
        if (rp_peer_auth_verify_response(hp->key, hp->key_len, q->auth.signature, (unsigned)status,
                                         q->resp_region, q->resp_date, q->resp_sig, sum) < 0) {
                set_error(hp, "%s: HTTP %ld, not signed with the pair key", c->endpoint, status);
                c->result = status == 401 || status == 403 ? -EACCES : -EPROTO;
                return 0;
        }
        c->answer = q->resp.len ? json_loadb(q->resp.ptr, q->resp.len, 0, NULL) : json_object();
        if (!json_is_object(c->answer)) {
                set_error(hp, "%s: HTTP %ld with a body that is not a JSON object", c->endpoint,
                          status);
                c->result = -EPROTO;
                return 0;
        }
        c->status = (unsigned)status;
        c->result = 0;
        return 0;
}

int rp_peer_http_call(rp_peer *peer, const char *endpoint, const json_t *req, unsigned *ret_status,
                      json_t **ret_answer)
{
        if (!rp_peer_is(peer, &http_ops) || !endpoint || !json_is_object(req))
                return -EINVAL;
        http_peer *hp = rp_peer_impl(peer);
        char *text = rp_adopt_libc_string(json_dumps(req, JSON_COMPACT));
        if (!text)
                return -ENOMEM;
        call_ctx c = { .endpoint = endpoint, .body_len = strlen(text), .body = (uint8_t *)text };
        http_req q = {};
        pthread_mutex_lock(&hp->lock);
        hp->last_error[0] = '\0';
        int r = run(hp, &q, 1, call_start, call_finish, &c);
        pthread_mutex_unlock(&hp->lock);
        rp_free(c.body);
        if (r >= 0)
                r = c.result;
        if (r < 0) {
                json_decref(c.answer);
                return r;
        }
        *ret_status = c.status;
        *ret_answer = c.answer;
        return 0;
}

/* ------------------------------------------------------------------------- get_chunks */

typedef struct chunks_ctx {
        const uint8_t (*ids)[32];
        size_t n, per;
        rp_peer_chunk_cb on_chunk;
        void *ud;
        int transport;  /* first failure of a request */
        bool not_found; /* a MISSING NOT_FOUND record */
        bool unreadable;
        /* per request being delivered */
        http_req *q;
        bool seen[RP_PEER_MAX_IDS];
        int user; /* what on_chunk returned, when negative */
} chunks_ctx;

static int chunks_start(http_peer *hp, http_req *q, void *ud)
{
        chunks_ctx *c = ud;
        uint8_t *body = NULL;
        size_t len = 0;
        int r = rp_peer_encode_ids(c->ids + q->first, q->n, &body, &len);
        if (r < 0)
                return r;
        size_t max = RP_PEER_WIRE_HEADER_SIZE +
                     q->n * (RP_PEER_CHUNK_RECORD_HEADER + (size_t)RP_CHUNK_SIZE) +
                     RP_PEER_END_RECORD_SIZE;
        return req_start(hp, q, "POST", RP_PEER_PATH_CHUNKS, NULL, body, len, max);
}

/* Index of @p id among the ids of the request being delivered, or -1. */
static ssize_t find_id(chunks_ctx *c, const uint8_t id[32])
{
        for (size_t i = 0; i < c->q->n; i++)
                if (memcmp(c->ids[c->q->first + i], id, 32) == 0)
                        return (ssize_t)i;
        return -1;
}

/* Every id answered was asked for, and is answered once (before anything is delivered). */
static int check_id(void *ud, const uint8_t id[32])
{
        chunks_ctx *c = ud;
        ssize_t i = find_id(c, id);
        if (i < 0 || c->seen[i])
                return -EPROTO;
        c->seen[i] = true;
        return 0;
}

static int deliver_chunk(void *ud, const uint8_t id[32], const void *plain, size_t len)
{
        chunks_ctx *c = ud;
        int r = c->on_chunk(c->ud, id, plain, len);
        if (r < 0)
                c->user = r;
        return r;
}

static int deliver_missing(void *ud, const uint8_t id[32], int reason)
{
        chunks_ctx *c = ud;
        if (reason == RP_PEER_MISSING_NOT_FOUND)
                c->not_found = true;
        else
                c->unreadable = true;
        return 0;
}

static int chunks_finish(http_peer *hp, http_req *q, CURLcode res, void *ud)
{
        chunks_ctx *c = ud;
        atomic_fetch_add(&hp->wire_bytes, (uint64_t)q->resp.len);
        int r = req_check(hp, q, res, "fetching chunks");
        if (r >= 0) {
                /* one decode: validated, ids checked against the request, then delivered */
                c->q = q;
                memset(c->seen, 0, sizeof c->seen);
                r = rp_peer_decode_chunks_checked(q->resp.ptr, q->resp.len, q->n, check_id,
                                                  deliver_chunk, deliver_missing, c);
                if (r < 0 && c->user < 0)
                        return c->user; /* the caller said stop */
                if (r >= 0 && (size_t)r != q->n)
                        r = -EPROTO;
                if (r < 0) {
                        set_error(hp, "fetching chunks: malformed answer (%s)", strerror(-r));
                        r = r == -ENOMEM ? r : -EPROTO;
                }
        }
        if (r < 0 && c->transport == 0)
                c->transport = r;
        return 0;
}

static int http_get_chunks(rp_peer *peer, const uint8_t (*ids)[32], size_t n,
                           rp_peer_chunk_cb on_chunk, void *ud)
{
        http_peer *hp = rp_peer_impl(peer);
        chunks_ctx c = {
                .ids = ids, .n = n, .per = hp->opt.ids_per_request, .on_chunk = on_chunk, .ud = ud
        };
        size_t nreq = (n + c.per - 1) / c.per;
        _cleanup_free_ http_req *reqs = rp_calloc(nreq, sizeof *reqs);
        if (!reqs)
                return -ENOMEM;
        for (size_t i = 0; i < nreq; i++) {
                reqs[i].first = i * c.per;
                reqs[i].n = RP_MIN(c.per, n - i * c.per);
        }
        pthread_mutex_lock(&hp->lock);
        hp->last_error[0] = '\0';
        int r = run(hp, reqs, nreq, chunks_start, chunks_finish, &c);
        if (r >= 0 && c.not_found)
                set_error(hp, "the source region does not have some of the chunks");
        else if (r >= 0 && c.transport == 0 && c.unreadable)
                set_error(hp, "the source region cannot read some chunks back intact");
        pthread_mutex_unlock(&hp->lock);
        if (r < 0)
                return r;
        if (c.not_found)
                return -ENOENT;
        if (c.transport < 0)
                return c.transport;
        return c.unreadable ? -EREMOTEIO : 0;
}

/* ------------------------------------------------------------------------- the peer */

static void http_destroy(http_peer *hp)
{
        if (!hp)
                return;
        for (size_t i = 0; i < hp->pool_n; i++)
                if (hp->pool[i])
                        curl_easy_cleanup(hp->pool[i]);
        if (hp->multi)
                curl_multi_cleanup(hp->multi);
        rp_free(hp->pool);
        rp_free(hp->busy);
        rp_free(hp->base);
        rp_free(hp->prefix);
        rp_free(hp->ca_file);
        if (hp->key)
                explicit_bzero(hp->key, hp->key_len);
        rp_free(hp->key);
        rp_free(hp->region);
        pthread_mutex_destroy(&hp->lock);
        rp_free(hp);
}

static void http_free(rp_peer *peer)
{
        http_destroy(rp_peer_impl(peer));
}

static const char *http_last_error(rp_peer *peer)
{
        http_peer *hp = rp_peer_impl(peer);
        return hp->last_error[0] ? hp->last_error : NULL;
}

static uint64_t http_wire_bytes(rp_peer *peer)
{
        http_peer *hp = rp_peer_impl(peer);
        return atomic_load(&hp->wire_bytes);
}

static const rp_peer_ops http_ops = {
        .version = RP_PEER_OPS_VERSION,
        .get_manifest = http_get_manifest,
        .get_chunks = http_get_chunks,
        .free = http_free,
        .last_error = http_last_error,
        .wire_bytes = http_wire_bytes,
};

/* Split "https://host[:port][/path]" into base (no trailing slash) and path prefix. */
static int parse_base(const char *url, char **ret_base, char **ret_prefix)
{
        if (!url || strncasecmp(url, "https://", 8) != 0)
                return -EINVAL;
        const char *host = url + 8;
        size_t hlen = strcspn(host, "/");
        if (hlen == 0 || memchr(host, '@', hlen) || strcspn(host, "?#") < hlen)
                return -EINVAL;
        const char *path = host + hlen;
        size_t plen = strlen(path);
        while (plen > 0 && path[plen - 1] == '/')
                plen--;
        for (size_t i = 0; i < plen; i++) {
                char ch = path[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '/' || ch == '.' || ch == '_' || ch == '-'))
                        return -EINVAL;
        }
        _cleanup_free_ char *base = rp_strndup(url, 8 + hlen + plen);
        char *prefix = rp_strndup(path, plen);
        if (!base || !prefix) {
                rp_free(prefix);
                return -ENOMEM;
        }
        *ret_base = TAKE_PTR(base);
        *ret_prefix = prefix;
        return 0;
}

static bool region_name_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > RP_PEER_MAX_REGION)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

static void options_fill(rp_peer_http_options *o)
{
        if (!o->connections)
                o->connections = RP_PEER_HTTP_DEFAULT_CONNECTIONS;
        if (!o->ids_per_request)
                o->ids_per_request = RP_PEER_HTTP_DEFAULT_IDS_PER_REQUEST;
        if (!o->connect_timeout_s)
                o->connect_timeout_s = RP_PEER_HTTP_DEFAULT_CONNECT_TIMEOUT_S;
        if (!o->request_timeout_s)
                o->request_timeout_s = RP_PEER_HTTP_DEFAULT_REQUEST_TIMEOUT_S;
        if (!o->low_speed_time_s)
                o->low_speed_time_s = RP_PEER_HTTP_DEFAULT_LOW_SPEED_TIME_S;
}

/* Size the handle pool to @p o->connections (only while no request runs). */
static int pool_resize(http_peer *hp, size_t n)
{
        if (n == hp->pool_n)
                return 0;
        CURL **pool = rp_calloc(n, sizeof *pool);
        bool *busy = rp_calloc(n, sizeof *busy);
        if (!pool || !busy) {
                rp_free(pool);
                rp_free(busy);
                return -ENOMEM;
        }
        for (size_t i = 0; i < hp->pool_n; i++) {
                if (i < n)
                        pool[i] = hp->pool[i];
                else if (hp->pool[i])
                        curl_easy_cleanup(hp->pool[i]);
        }
        rp_free(hp->pool);
        rp_free(hp->busy);
        hp->pool = pool;
        hp->busy = busy;
        hp->pool_n = n;
        return 0;
}

int rp_peer_http_new(const char *base_url, const char *ca_file, const uint8_t *pair_key,
                     size_t key_len, const char *self_region, rp_peer **ret)
{
        if (!ret || !pair_key || key_len < RP_PEER_MIN_KEY_LEN || key_len > RP_PEER_MAX_KEY_LEN ||
            !region_name_ok(self_region))
                return -EINVAL;
        http_peer *hp = rp_calloc(1, sizeof *hp);
        if (!hp)
                return -ENOMEM;
        pthread_mutex_init(&hp->lock, NULL);
        int r = parse_base(base_url, &hp->base, &hp->prefix);
        if (r < 0)
                goto fail;
        hp->key = rp_malloc(key_len);
        hp->region = rp_strdup(self_region);
        hp->ca_file = ca_file ? rp_strdup(ca_file) : NULL;
        if (!hp->key || !hp->region || (ca_file && !hp->ca_file)) {
                r = -ENOMEM;
                goto fail;
        }
        memcpy(hp->key, pair_key, key_len);
        hp->key_len = key_len;
        options_fill(&hp->opt);
        r = pool_resize(hp, hp->opt.connections);
        if (r < 0)
                goto fail;
        hp->multi = curl_multi_init();
        if (!hp->multi) {
                r = -EIO;
                goto fail;
        }
        curl_multi_setopt(hp->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)hp->opt.connections);
        r = rp_peer_new(&http_ops, hp, ret);
        if (r < 0)
                goto fail;
        return 0;
fail:
        http_destroy(hp);
        return r;
}

int rp_peer_http_set_options(rp_peer *peer, const rp_peer_http_options *opt)
{
        if (!peer || !opt || opt->ids_per_request > RP_PEER_MAX_IDS)
                return -EINVAL;
        /* Only our own table says the implementation state is an http_peer. */
        if (!rp_peer_is(peer, &http_ops))
                return -EINVAL;
        http_peer *hp = rp_peer_impl(peer);
        rp_peer_http_options o = *opt;
        options_fill(&o);
        pthread_mutex_lock(&hp->lock);
        int r = pool_resize(hp, o.connections);
        if (r >= 0) {
                hp->opt = o;
                curl_multi_setopt(hp->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o.connections);
        }
        pthread_mutex_unlock(&hp->lock);
        return r;
}
