/* compute_peer.c: regions hosted by other rpd processes ([peer NAME] in rpd.conf).
 *
 * Server side: the /peer/v1/ endpoints a peer calls (docs/PEER-PROTOCOL.md): manifests and
 * chunks of disk restore points (the copy engine's reads) and the source operations of
 * compute_source.c (JSON). Every request must carry a valid signature with the pair key of the
 * region it names; every answer is signed, errors included.
 *
 * Client side: the service's remote_call (source operations) and remote_peer (the copy
 * engine's HTTPS peer) for regions a peer hosts, and the forwarding of ARM requests: a request
 * for a resource this process does not host goes to the peer that does, unchanged (the bearer
 * token is checked there too: hosts of one deployment share its identity, see
 * docs/OPERATIONS.md), and the answer goes back as it came. Lists add the peers' items. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compute.h"
#include "repl/peer.h"
#include "repl/peer_proto.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/parse.h"

#define FORWARD_HEADER "x-rpd-forwarded"
#define MAX_FORWARD_ANSWER ((size_t)64 << 20)
#define SOURCE_PREFIX "/peer/v1/source/"

typedef struct peer_entry {
        char *region;
        char *url;
        char *ca_file;
        uint8_t *key;
        size_t key_len;
} peer_entry;

typedef struct peer_set {
        peer_entry *v;
        size_t n;
        char *self; /* the region this process names itself by (its first) */
} peer_set;

static peer_set *peers_of(rp_service *svc)
{
        return svc->remote_data;
}

static peer_entry *peer_by_region(rp_service *svc, const char *region)
{
        peer_set *ps = peers_of(svc);
        for (size_t i = 0; ps && region && i < ps->n; i++)
                if (strcasecmp(ps->v[i].region, region) == 0)
                        return &ps->v[i];
        return NULL;
}

const char *rp_compute_region_name(rp_service *svc, const char *location)
{
        rp_region *reg = rp_service_region(svc, location);
        if (reg)
                return reg->name;
        char norm[64];
        size_t n = 0;
        for (const char *p = location; p && *p && n + 1 < sizeof norm; p++)
                if (*p != ' ')
                        norm[n++] = *p;
        norm[n] = '\0';
        peer_entry *p = peer_by_region(svc, norm);
        return p ? p->region : NULL;
}

size_t rp_compute_peer_regions(rp_service *svc, const char ***ret)
{
        peer_set *ps = peers_of(svc);
        if (!ps) {
                *ret = NULL;
                return 0;
        }
        static _Thread_local const char *names[64];
        size_t n = 0;
        for (; n < ps->n && n < ELEMENTSOF(names); n++)
                names[n] = ps->v[n].region;
        *ret = names;
        return n;
}

/* ---------------------------------------------------------------- client side */

static int make_http_peer(rp_service *svc, peer_entry *p, rp_peer **ret)
{
        return rp_peer_http_new(p->url, p->ca_file, p->key, p->key_len, peers_of(svc)->self, ret);
}

static int remote_peer(rp_service *svc, const char *region, void **ret_peer)
{
        peer_entry *p = peer_by_region(svc, region);
        if (!p)
                return -EHOSTUNREACH;
        rp_peer *peer = NULL;
        int k = make_http_peer(svc, p, &peer);
        if (k < 0)
                return k;
        *ret_peer = peer;
        return 0;
}

static int call_one(rp_service *svc, peer_entry *p, const char *op, const json_t *req,
                    rp_source_reply *rep)
{
        _cleanup_(rp_peer_freep) rp_peer *peer = NULL;
        int k = make_http_peer(svc, p, &peer);
        if (k < 0)
                return k;
        /* control calls are short: do not wait long for a peer that is gone */
        rp_peer_http_options o = { .connect_timeout_s = 3, .request_timeout_s = 60 };
        (void)rp_peer_http_set_options(peer, &o);
        _cleanup_free_ char *endpoint = rp_asprintf(SOURCE_PREFIX "%s", op);
        unsigned status = 0;
        json_t *answer = NULL;
        k = endpoint ? rp_peer_http_call(peer, endpoint, req, &status, &answer) : -ENOMEM;
        if (k < 0) {
                log_debug("peer %s: %s: %s", p->region, op, rp_strempty(rp_peer_last_error(peer)));
                return k;
        }
        if (status == 200) {
                rep->body = answer;
                return 0;
        }
        json_t *e = json_object_get(answer, "error");
        json_int_t num = json_integer_value(json_object_get(e, "number"));
        rep->ec = num > 0 && num < _RP_EC_MAX ? (enum rp_ec)num : RP_EC_INTERNAL;
        rep->message = rp_strdup(json_string_value(json_object_get(e, "message")));
        json_decref(answer);
        return -EREMOTE;
}

static int remote_call(rp_service *svc, const char *region, const char *op, const json_t *req,
                       rp_source_reply *rep)
{
        if (region) {
                peer_entry *p = peer_by_region(svc, region);
                return p ? call_one(svc, p, op, req, rep) : -EHOSTUNREACH;
        }
        /* any peer: the first that does not answer "not found" */
        peer_set *ps = peers_of(svc);
        int k = -EHOSTUNREACH;
        for (size_t i = 0; i < ps->n; i++) {
                rp_source_reply_done(rep);
                k = call_one(svc, &ps->v[i], op, req, rep);
                if (k != -EREMOTE || rep->ec != RP_EC_RESOURCE_NOT_FOUND)
                        return k;
        }
        return k;
}

int rp_compute_peers_init(rp_service *svc, const rp_compute_peer_config *cfg, size_t n)
{
        if (n == 0)
                return 0;
        peer_set *ps = rp_calloc(1, sizeof *ps);
        if (!ps || !(ps->v = rp_calloc(n, sizeof *ps->v)) ||
            !(ps->self = rp_strdup(svc->regions[0]->name))) {
                if (ps)
                        rp_free(ps->v);
                rp_free(ps);
                return -ENOMEM;
        }
        svc->remote_data = ps;
        for (size_t i = 0; i < n; i++) {
                peer_entry *p = &ps->v[ps->n++];
                p->region = rp_strdup(cfg[i].region);
                p->url = rp_strdup(cfg[i].url);
                p->ca_file = cfg[i].ca_file ? rp_strdup(cfg[i].ca_file) : NULL;
                p->key = rp_malloc(cfg[i].key_len ? cfg[i].key_len : 1);
                if (p->key)
                        memcpy(p->key, cfg[i].key, cfg[i].key_len);
                p->key_len = cfg[i].key_len;
                if (!p->region || !p->url || !p->key || (cfg[i].ca_file && !p->ca_file))
                        return -ENOMEM;
        }
        svc->remote_call = remote_call;
        svc->remote_peer = remote_peer;
        return 0;
}

void rp_compute_peers_free(rp_service *svc)
{
        peer_set *ps = peers_of(svc);
        if (!ps)
                return;
        for (size_t i = 0; i < ps->n; i++) {
                rp_free(ps->v[i].region);
                rp_free(ps->v[i].url);
                rp_free(ps->v[i].ca_file);
                if (ps->v[i].key)
                        explicit_bzero(ps->v[i].key, ps->v[i].key_len);
                rp_free(ps->v[i].key);
        }
        rp_free(ps->v);
        rp_free(ps->self);
        rp_free(ps);
        svc->remote_data = NULL;
}

/* ---------------------------------------------------------------- server side */

/* Reply @p status with @p body signed with @p p's key (unsigned when the caller is unknown). */
static void peer_reply(rp_arm_req *r, peer_entry *p, unsigned status, const char *ctype,
                       const void *body, size_t len)
{
        if (p) {
                uint8_t sum[32];
                rp_sha256(body ? body : "", len, sum);
                const char *sig = rp_http_header(r->http, RP_PEER_HDR_SIGNATURE);
                if (!sig || strlen(sig) != RP_PEER_SIG_LEN)
                        sig = "";
                rp_peer_auth a;
                if (rp_peer_sign_response(p->key, p->key_len, peers_of(r->svc)->self, sig, status,
                                          sum, rp_now_realtime(), &a) == 0) {
                        (void)rp_http_add_header(r->http, RP_PEER_HDR_REGION,
                                                 peers_of(r->svc)->self);
                        (void)rp_http_add_header(r->http, RP_PEER_HDR_DATE, a.date);
                        (void)rp_http_add_header(r->http, RP_PEER_HDR_SIGNATURE, a.signature);
                }
        }
        (void)rp_http_reply(r->http, status, ctype, body, len);
}

static void peer_reply_json(rp_arm_req *r, peer_entry *p, unsigned status, json_t *v)
{
        _cleanup_free_ char *s = v ? rp_json_dumps(v) : NULL;
        json_decref(v);
        if (!s) {
                peer_reply(r, p, 500, "application/json", "{}", 2);
                return;
        }
        peer_reply(r, p, status, "application/json", s, strlen(s));
}

static void peer_reply_error(rp_arm_req *r, peer_entry *p, enum rp_ec ec, const char *msg)
{
        peer_reply_json(r, p, rp_ec_status(ec),
                        json_pack("{s:{s:s, s:s, s:i}}", "error", "code", rp_ec_code(ec), "message",
                                  msg ? msg : rp_ec_message(ec), "number", (int)ec));
}

/* Check the request's signature. Replies 401 on failure. @return the caller's entry or NULL. */
static peer_entry *peer_verify(rp_arm_req *r)
{
        const char *region = rp_http_header(r->http, RP_PEER_HDR_REGION);
        peer_entry *p = peer_by_region(r->svc, region);
        if (!p) {
                peer_reply_error(r, NULL, RP_EC_PEER_AUTH,
                                 "The calling region is not a configured peer.");
                return NULL;
        }
        rp_peer_auth_request q = {
                .method = r->http->method,
                .path = r->http->path,
                .query_id = rp_http_query(r->http, "id"),
                .region = region,
                .date = rp_http_header(r->http, RP_PEER_HDR_DATE),
                .nonce = rp_http_header(r->http, RP_PEER_HDR_NONCE),
                .signature = rp_http_header(r->http, RP_PEER_HDR_SIGNATURE),
        };
        rp_sha256(r->http->body.ptr ? r->http->body.ptr : "", r->http->body.len, q.body_sha256);
        int k = rp_peer_auth_verify(p->key, p->key_len, &q, rp_now_realtime(),
                                    RP_PEER_DEFAULT_MAX_SKEW_SEC);
        if (k < 0) {
                log_warning("peer request from '%s' refused: %s", region,
                            k == -ESTALE ? "clock skew" : "bad signature");
                peer_reply_error(r, p, RP_EC_PEER_AUTH,
                                 k == -ESTALE ? "The request's date is out of the window."
                                              : "The request's signature does not verify.");
                return NULL;
        }
        return p;
}

void rp_h_peer_manifest(rp_arm_req *r)
{
        peer_entry *p = peer_verify(r);
        if (!p)
                return;
        const char *id = rp_http_query(r->http, "id");
        uint8_t *data = NULL, *env = NULL;
        size_t len = 0, env_len = 0;
        json_t *meta = NULL;
        int k = id && strlen(id) <= RP_PEER_MAX_DRP_ID
                        ? rp_compute_local_manifest(r->svc, id, &data, &len, &meta)
                        : -EINVAL;
        if (k >= 0)
                k = rp_peer_encode_manifest(data, len, meta, &env, &env_len);
        rp_free(data);
        json_decref(meta);
        if (k == -ENOENT || k == -EINVAL) {
                peer_reply_error(r, p, RP_EC_NOT_FOUND,
                                 "No committed disk restore point has that id here.");
                return;
        }
        if (k < 0) {
                peer_reply_error(r, p, RP_EC_INTERNAL, NULL);
                return;
        }
        peer_reply(r, p, 200, RP_PEER_CT_MANIFEST, env, env_len);
        rp_free(env);
}

#ifdef RP_TEST_HOOKS
/* Test hook: RPD_TEST_CORRUPT_CHUNKS=N sends the first N chunks of this process with one
 * byte flipped (a well-formed stream whose chunk does not match its id: corruption in
 * transit that only the target's digest check can catch). @return whether it answered. */
static bool test_corrupt_chunks(rp_store *store, uint8_t (*ids)[32], size_t n, uint8_t **ret,
                                size_t *ret_len)
{
        static int left = -1;
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&lock);
        if (left < 0) {
                const char *v = getenv("RPD_TEST_CORRUPT_CHUNKS");
                uint64_t count = 0;
                left = v && rp_parse_u64(v, &count) == 0 && count < 1000 ? (int)count : 0;
        }
        bool on = left > 0;
        pthread_mutex_unlock(&lock);
        if (!on)
                return false;
        uint8_t *buf = rp_malloc(RP_CHUNK_SIZE);
        if (!buf)
                return false;
        rp_peer_chunk_writer w;
        rp_peer_chunk_writer_init(&w);
        for (size_t i = 0; i < n; i++) {
                size_t len = 0;
                if (rp_store_get(store, ids[i], buf, RP_CHUNK_SIZE, &len) < 0) {
                        rp_peer_chunk_writer_missing(&w, ids[i], RP_PEER_MISSING_NOT_FOUND);
                        continue;
                }
                pthread_mutex_lock(&lock);
                if (left > 0) {
                        left--;
                        buf[len / 2] ^= 0x5a;
                        log_warning("test hook: chunk sent corrupted (%d more)", left);
                }
                pthread_mutex_unlock(&lock);
                rp_peer_chunk_writer_add(&w, ids[i], buf, len);
        }
        rp_free(buf);
        return rp_peer_chunk_writer_end(&w, ret, ret_len) == 0;
}
#endif

void rp_h_peer_chunks(rp_arm_req *r)
{
        peer_entry *p = peer_verify(r);
        if (!p)
                return;
        if (r->http->body.len > RP_PEER_MAX_IDS_BODY) {
                peer_reply_error(r, p, RP_EC_BODY_TOO_LARGE, NULL);
                return;
        }
        uint8_t(*ids)[32] = NULL;
        size_t n = 0;
        int k = rp_peer_decode_ids(r->http->body.ptr, r->http->body.len, &ids, &n);
        if (k < 0) {
                peer_reply_error(r, p, RP_EC_PEER_BAD_REQUEST, "Not an id list.");
                return;
        }
        /* the region whose store has the first id answers (one region per host, usually) */
        rp_region *reg = r->svc->regions[0];
        for (size_t i = 0; i < r->svc->n_regions; i++)
                if (rp_store_has(r->svc->regions[i]->store, ids[0]) > 0) {
                        reg = r->svc->regions[i];
                        break;
                }
        uint8_t *out = NULL;
        size_t out_len = 0;
#ifdef RP_TEST_HOOKS
        if (test_corrupt_chunks(reg->store, ids, n, &out, &out_len)) {
                rp_free(ids);
                peer_reply(r, p, 200, RP_PEER_CT_CHUNKS, out, out_len);
                rp_free(out);
                return;
        }
#endif
        const char *accept = rp_http_header(r->http, RP_PEER_HDR_ACCEPT);
        uint32_t flags = accept && strstr(accept, "zstd") ? RP_PEER_STREAM_ZSTD : 0;
        k = rp_peer_encode_chunks_flags(reg->store, (const uint8_t(*)[32])ids, n, flags, &out,
                                        &out_len);
        rp_free(ids);
        if (k < 0) {
                peer_reply_error(r, p, RP_EC_INTERNAL, NULL);
                return;
        }
        peer_reply(r, p, 200, RP_PEER_CT_CHUNKS, out, out_len);
        rp_free(out);
}

void rp_h_peer_source(rp_arm_req *r)
{
        peer_entry *p = peer_verify(r);
        if (!p)
                return;
        _cleanup_free_ char *err = NULL;
        _cleanup_json_ json_t *req =
                r->http->body.len ? rp_json_loads_object(r->http->body.ptr, r->http->body.len, &err)
                                  : NULL;
        rp_source_reply rep;
        int k = req ? rp_source_handle(r->svc, r->cap[0], req, &rep) : -EBADMSG;
        if (k == 0) {
                peer_reply_json(r, p, 200, TAKE_PTR(rep.body));
        } else if (k == -EREMOTE) {
                peer_reply_error(r, p, rep.ec, rep.message);
        } else if (k == -EBADMSG) {
                peer_reply_error(r, p, RP_EC_PEER_BAD_REQUEST,
                                 err ? err : "A JSON object is needed.");
                return;
        } else {
                log_warning_errno(k, "peer source operation '%s' failed", r->cap[0]);
                peer_reply_error(r, p, RP_EC_INTERNAL, NULL);
        }
        rp_source_reply_done(&rep);
}

/* ---------------------------------------------------------------- forwarding */

typedef struct fwd_answer {
        rp_buf body;
        rp_buf headers; /* "Name: value\n" of the headers worth relaying */
} fwd_answer;

static size_t fwd_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
        fwd_answer *a = ud;
        return rp_buf_append(&a->body, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

static const char *const relayed[] = {
        "content-type", "location",        "azure-asyncoperation",        "retry-after",
        "etag",         "x-ms-request-id", "x-ms-correlation-request-id", "x-ms-client-request-id",
};

static size_t fwd_header(char *buf, size_t size, size_t nitems, void *ud)
{
        fwd_answer *a = ud;
        size_t n = size * nitems;
        const char *colon = memchr(buf, ':', n);
        if (!colon)
                return n;
        size_t nl = (size_t)(colon - buf);
        for (size_t i = 0; i < ELEMENTSOF(relayed); i++)
                if (nl == strlen(relayed[i]) && strncasecmp(buf, relayed[i], nl) == 0) {
                        if (strncasecmp(buf, "x-ms-request-id", nl) == 0)
                                return n; /* the local pipeline sets its own */
                        (void)rp_buf_append(&a->headers, buf, n);
                        break;
                }
        return n;
}

struct query_ctx {
        rp_buf *b;
        CURL *e;
        size_t first; /* length of @c b before the query */
};

static void add_query(void *ud, const char *k, const char *v)
{
        struct query_ctx *q = ud;
        char *ek = curl_easy_escape(q->e, k, 0), *ev = curl_easy_escape(q->e, v ? v : "", 0);
        if (ek && ev)
                (void)rp_buf_printf(q->b, "%s%s=%s", q->b->len > q->first ? "&" : "?", ek, ev);
        curl_free(ek);
        curl_free(ev);
}

/* Send @p method @p url to @p p with the client's headers (and, with @p body, its body),
 * marked as forwarded. @return the answer's status, or <0 (not reached). */
static int fwd_send(rp_arm_req *r, peer_entry *p, const char *method, const char *url, bool body,
                    fwd_answer *a)
{
        CURL *e = curl_easy_init();
        if (!e)
                return -ENOMEM;
        struct curl_slist *h = NULL;
        static const char *const passed[] = {
                "Authorization", "Content-Type",           "If-Match",
                "If-None-Match", "x-ms-client-request-id", "x-ms-correlation-request-id",
                "User-Agent"
        };
        for (size_t i = 0; i < ELEMENTSOF(passed); i++) {
                const char *v = rp_http_header(r->http, passed[i]);
                _cleanup_free_ char *line = v ? rp_asprintf("%s: %s", passed[i], v) : NULL;
                if (line)
                        h = curl_slist_append(h, line);
        }
        _cleanup_free_ char *fl = rp_asprintf("%s: %s", FORWARD_HEADER, peers_of(r->svc)->self);
        if (fl)
                h = curl_slist_append(h, fl);
        h = curl_slist_append(h, "Expect:");
        rp_buf_init(&a->body, MAX_FORWARD_ANSWER);
        rp_buf_init(&a->headers, 65536);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        if (body && r->http->body.len) {
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->http->body.len);
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->http->body.ptr);
        }
        if (p->ca_file)
                curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 3L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwd_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, fwd_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
        CURLcode c = curl_easy_perform(e);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        if (c != CURLE_OK) {
                log_warning("forwarding %s %s to %s failed: %s", method, r->http->path, p->region,
                            curl_easy_strerror(c));
                rp_buf_done(&a->body);
                rp_buf_done(&a->headers);
                return c == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
        }
        return (int)status;
}

/* Send the request to @p p as it came (same path, query and body). */
static int forward_to(rp_arm_req *r, peer_entry *p, fwd_answer *a)
{
        CURL *e = curl_easy_init();
        if (!e)
                return -ENOMEM;
        rp_buf url;
        rp_buf_init(&url, 16384);
        struct query_ctx qc = { .b = &url, .e = e };
        char *path = curl_easy_escape(e, r->http->path, 0);
        /* keep the slashes of the path */
        rp_buf_printf(&url, "%s", p->url);
        for (const char *s = path; s && *s; s++) {
                if (strncmp(s, "%2F", 3) == 0) {
                        rp_buf_append(&url, "/", 1);
                        s += 2;
                } else
                        rp_buf_append(&url, s, 1);
        }
        curl_free(path);
        qc.first = url.len;
        rp_http_query_foreach(r->http, add_query, &qc);
        curl_easy_cleanup(e);
        int k = url.ptr ? fwd_send(r, p, r->http->method, url.ptr, true, a) : -ENOMEM;
        rp_buf_done(&url);
        return k;
}

static void fwd_done(fwd_answer *a)
{
        rp_buf_done(&a->body);
        rp_buf_done(&a->headers);
}

/* Relay an answer to the client. */
static void relay(rp_arm_req *r, int status, fwd_answer *a)
{
        const char *ctype = NULL;
        char *s = a->headers.ptr;
        while (s && *s) {
                char *end = strchr(s, '\n');
                if (end)
                        *end = '\0';
                char *colon = strchr(s, ':');
                if (colon) {
                        *colon = '\0';
                        char *v = colon + 1;
                        while (*v == ' ')
                                v++;
                        size_t vl = strlen(v);
                        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                                v[--vl] = '\0';
                        if (strcasecmp(s, "content-type") == 0)
                                ctype = v;
                        else
                                (void)rp_http_add_header(r->http, s, v);
                }
                s = end ? end + 1 : NULL;
        }
        (void)rp_http_reply(r->http, (unsigned)status, ctype, a->body.ptr, a->body.len);
}

/* The region a top-level resource PUT names in its body, if any. */
static const char *body_location(rp_arm_req *r)
{
        return json_string_value(json_object_get(r->body, "location"));
}

bool rp_compute_forward(rp_arm_req *r)
{
        peer_set *ps = peers_of(r->svc);
        if (!ps || rp_http_header(r->http, FORWARD_HEADER))
                return false;
        const char *name = r->route->name;
        const char *path = r->http->path;
        if (strncmp(path, "/subscriptions/", 15) != 0)
                return false; /* /peer, /data, /admin, /health: this host's own */
        fwd_answer a;
        if (rp_streq(name, "Operations_Get") && r->n_cap >= 2) {
                /* .../locations/{loc}/operations/{id} */
                peer_entry *p = rp_service_region(r->svc, r->cap[1])
                                        ? NULL
                                        : peer_by_region(r->svc, r->cap[1]);
                if (!p)
                        return false;
                int st = forward_to(r, p, &a);
                if (st < 0)
                        return false;
                relay(r, st, &a);
                fwd_done(&a);
                return true;
        }
        if (rp_streq(name, "ResourceGroups_CreateOrUpdate") ||
            rp_streq(name, "ResourceGroups_Update") || rp_streq(name, "ResourceGroups_Delete")) {
                /* groups exist in every region: every host gets the write, this one answers */
                for (size_t i = 0; i < ps->n; i++) {
                        int st = forward_to(r, &ps->v[i], &a);
                        if (st >= 0)
                                fwd_done(&a);
                        if (st < 0 || st >= 400)
                                log_warning("group write %s %s on peer %s: %s %d", r->http->method,
                                            path, ps->v[i].region, st < 0 ? "unreachable" : "HTTP",
                                            st);
                }
                return false;
        }
        /* resources under a group: /subscriptions/s/resourceGroups/g/providers/NS/type/name */
        char top[2048];
        const char *segs[9] = { 0 };
        size_t ns = 0;
        _cleanup_free_ char *copy = rp_strdup(path);
        for (char *t = copy, *next = copy ? copy + 1 : NULL; next && ns < 9;) {
                t = strsep(&next, "/");
                segs[ns++] = t;
        }
        /* (a list in a group, 7 segments, is this host's, the peers' items added by
         * rp_compute_list_more) */
        if (ns < 8 || strcasecmp(segs[2], "resourceGroups") != 0 ||
            strcasecmp(segs[4], "providers") != 0 || strcasecmp(segs[5], "Microsoft.Compute") != 0)
                return false;
        snprintf(top, sizeof top, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s", segs[1],
                 segs[3], segs[5], segs[6], segs[7]);
        _cleanup_free_ char *key = rp_arm_id_key(top);
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        if (!key || rp_service_find(r->svc, key, NULL, &res) == 0)
                return false; /* hosted here */
        const char *loc =
                strcmp(r->http->method, "PUT") == 0 && r->n_cap == 3 ? body_location(r) : NULL;
        if (loc) {
                peer_entry *p = rp_service_region(r->svc, loc) ? NULL : peer_by_region(r->svc, loc);
                if (!p)
                        return false; /* here, or no such region: the handler answers */
                int st = forward_to(r, p, &a);
                if (st < 0) {
                        rp_arm_reply_error(r, RP_EC_SERVICE_UNAVAILABLE, NULL,
                                           "The region '%s' is not reachable.", p->region);
                        return true;
                }
                relay(r, st, &a);
                fwd_done(&a);
                return true;
        }
        /* an existing resource (or a child of one) a peer may host */
        for (size_t i = 0; i < ps->n; i++) {
                int st = forward_to(r, &ps->v[i], &a);
                if (st < 0)
                        continue;
                if (st == 404 && i + 1 < ps->n) {
                        fwd_done(&a);
                        continue;
                }
                if (st == 404) {
                        fwd_done(&a);
                        return false; /* nobody has it: answer the local 404 */
                }
                relay(r, st, &a);
                fwd_done(&a);
                return true;
        }
        return false;
}

/* The items of every page of a list a peer serves. */
static int peer_list(rp_arm_req *r, peer_entry *p, json_t *items)
{
        fwd_answer a;
        int st = forward_to(r, p, &a);
        if (st != 200) {
                if (st >= 0)
                        fwd_done(&a);
                return st < 0 ? st : -EREMOTEIO;
        }
        _cleanup_json_ json_t *v = json_loadb(a.body.ptr ? a.body.ptr : "", a.body.len, 0, NULL);
        fwd_done(&a);
        json_array_extend(items, json_object_get(v, "value"));
        /* rpd pages by 100 with $skiptoken: follow the peer's own nextLinks */
        const char *next = json_string_value(json_object_get(v, "nextLink"));
        int guard = 0;
        while (next && guard++ < 1000) {
                _cleanup_free_ char *url = rp_strdup(next);
                json_decref(v);
                st = url ? fwd_send(r, p, "GET", url, false, &a) : -ENOMEM;
                v = st == 200 ? json_loadb(a.body.ptr ? a.body.ptr : "", a.body.len, 0, NULL)
                              : NULL;
                if (st >= 0)
                        fwd_done(&a);
                if (!v)
                        return st < 0 ? st : -EREMOTEIO;
                json_array_extend(items, json_object_get(v, "value"));
                next = json_string_value(json_object_get(v, "nextLink"));
        }
        return 0;
}

void rp_compute_list_more(rp_arm_req *r, json_t *items)
{
        peer_set *ps = peers_of(r->svc);
        if (!ps || rp_http_header(r->http, FORWARD_HEADER) || rp_http_query(r->http, "$skiptoken"))
                return;
        /* only lists of compute resources by group or subscription: groups are everywhere */
        size_t ns = 0;
        for (const char *c = r->http->path; *c; c++)
                ns += *c == '/';
        const char *prov = strcasestr(r->http->path, "/providers/Microsoft.Compute/");
        if (!prov || strcasestr(r->http->path, "/locations/") || (ns != 5 && ns != 7))
                return;
        for (size_t i = 0; i < ps->n; i++) {
                int k = peer_list(r, &ps->v[i], items);
                if (k < 0)
                        log_warning("list %s: peer %s left out (%s)", r->http->path,
                                    ps->v[i].region, strerror(-k));
        }
}
