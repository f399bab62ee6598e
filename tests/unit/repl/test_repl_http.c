/* test_repl_http.c: the HTTPS peer against a tiny HTTPS server in the test (libmicrohttpd, a
 * certificate from rp_tls_ensure). The server implements /peer/v1 with the server-side helpers
 * exactly as the daemon's handlers should (verify, decode ids, encode from the store, sign),
 * plus faults: another pair key, unsigned or tampered answers, 503, a slow answer, a prefix. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <curl/curl.h>

#include "auth/tls.h"
#include "repl_test.h"
#include "util/fs.h"

#define PREFIX "/rpd"

typedef struct srv {
        struct MHD_Daemon *d;
        uint16_t port;
        char dir[64];
        char *ca;        /* CA file the client trusts */
        uint8_t key[32]; /* the server's pair key */
        rp_store *store;
        dataset ds;
        const char *drp_id;
        /* faults */
        bool nosign, tamper, prefix;
        atomic_int fail503;
        unsigned delay_ms;
        /* observations */
        atomic_int connections, active, peak, requests, chunk_requests;
} srv;

typedef struct req_body {
        rp_buf b;
} req_body;

static uint8_t client_key[32];
static srv *the_srv;

static void reply(struct MHD_Connection *c, srv *s, unsigned status, const char *ct,
                  const uint8_t *body, size_t len, const char *req_sig)
{
        uint8_t sum[32];
        rp_sha256(body ? (const void *)body : "", len, sum);
        rp_peer_auth a;
        bool sig_ok = req_sig && strlen(req_sig) == RP_PEER_SIG_LEN;
        int r = rp_peer_sign_response(s->key, sizeof s->key, "eastus", sig_ok ? req_sig : "",
                                      status, sum, rp_now_realtime(), &a);
        assert_int_equal(r, 0);
        _cleanup_free_ uint8_t *copy = rp_malloc(len + 1);
        if (len)
                memcpy(copy, body, len);
        if (s->tamper && len > 100)
                copy[len - 100] ^= 0x01; /* after signing: in transit */
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_COPY);
        MHD_add_response_header(resp, "Content-Type", ct);
        if (!s->nosign) {
                MHD_add_response_header(resp, RP_PEER_HDR_REGION, "eastus");
                MHD_add_response_header(resp, RP_PEER_HDR_DATE, a.date);
                MHD_add_response_header(resp, RP_PEER_HDR_SIGNATURE, a.signature);
        }
        MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
}

static void reply_error(struct MHD_Connection *c, srv *s, unsigned status, const char *code,
                        const char *req_sig)
{
        _cleanup_free_ char *j = rp_asprintf("{\"error\":{\"code\":\"%s\",\"message\":\"%s "
                                             "says no\"}}",
                                             code, code);
        reply(c, s, status, "application/json", (const uint8_t *)j, strlen(j), req_sig);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls)
{
        srv *s = cls;
        req_body *rb = *req_cls;
        if (!rb) {
                rb = rp_calloc(1, sizeof *rb);
                rp_buf_init(&rb->b, RP_PEER_MAX_IDS_BODY);
                *req_cls = rb;
                return MHD_YES;
        }
        if (*upload_size) {
                if (rp_buf_append(&rb->b, upload, *upload_size) < 0)
                        return MHD_NO;
                *upload_size = 0;
                return MHD_YES;
        }
        atomic_fetch_add(&s->requests, 1);
        int n = atomic_fetch_add(&s->active, 1) + 1;
        int p = atomic_load(&s->peak);
        while (n > p && !atomic_compare_exchange_weak(&s->peak, &p, n))
                ;
        struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 + (long)s->delay_ms * 1000000L };
        if (s->delay_ms >= 1000) {
                ts.tv_sec = s->delay_ms / 1000;
                ts.tv_nsec = 0;
        }
        nanosleep(&ts, NULL);

        const char *path = url;
        if (s->prefix) {
                if (strncmp(url, PREFIX, strlen(PREFIX)) != 0) {
                        reply_error(c, s, 404, "NotFound", NULL);
                        goto out;
                }
                path = url + strlen(PREFIX);
        }
        rp_peer_auth_request ar = {
                .method = method,
                .path = url,
                .query_id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id"),
                .region = MHD_lookup_connection_value(c, MHD_HEADER_KIND, RP_PEER_HDR_REGION),
                .date = MHD_lookup_connection_value(c, MHD_HEADER_KIND, RP_PEER_HDR_DATE),
                .nonce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, RP_PEER_HDR_NONCE),
                .signature = MHD_lookup_connection_value(c, MHD_HEADER_KIND, RP_PEER_HDR_SIGNATURE),
        };
        rp_sha256(rb->b.ptr ? rb->b.ptr : "", rb->b.len, ar.body_sha256);
        if (rp_peer_auth_verify(s->key, sizeof s->key, &ar, rp_now_realtime(),
                                RP_PEER_DEFAULT_MAX_SKEW_SEC) < 0) {
                reply_error(c, s, 401, "PeerAuthenticationFailed", ar.signature);
                goto out;
        }
        if (atomic_load(&s->fail503) > 0) {
                atomic_fetch_sub(&s->fail503, 1);
                reply_error(c, s, 503, "ServiceUnavailable", ar.signature);
                goto out;
        }
        if (strcmp(method, "GET") == 0 && strcmp(path, RP_PEER_PATH_MANIFEST) == 0) {
                if (!rp_streq(ar.query_id, s->drp_id)) {
                        reply_error(c, s, 404, "NotFound", ar.signature);
                        goto out;
                }
                _cleanup_json_ json_t *meta =
                        json_pack("{s:s, s:I}", "location", "eastus", "diskSizeBytes",
                                  (json_int_t)s->ds.disk_size);
                _cleanup_free_ uint8_t *env = NULL;
                size_t len = 0;
                assert_int_equal(
                        rp_peer_encode_manifest(s->ds.enc, s->ds.enc_len, meta, &env, &len), 0);
                reply(c, s, 200, RP_PEER_CT_MANIFEST, env, len, ar.signature);
        } else if (strcmp(method, "POST") == 0 && strcmp(path, RP_PEER_PATH_CHUNKS) == 0) {
                atomic_fetch_add(&s->chunk_requests, 1);
                _cleanup_free_ uint8_t(*ids)[32] = NULL;
                size_t nids = 0;
                if (rp_peer_decode_ids(rb->b.ptr, rb->b.len, &ids, &nids) < 0) {
                        reply_error(c, s, 400, "InvalidPeerRequest", ar.signature);
                        goto out;
                }
                _cleanup_free_ uint8_t *stream = NULL;
                size_t len = 0;
                if (rp_peer_encode_chunks(s->store, (const uint8_t(*)[32])ids, nids, &stream,
                                          &len) < 0) {
                        reply_error(c, s, 500, "InternalServerError", ar.signature);
                        goto out;
                }
                reply(c, s, 200, RP_PEER_CT_CHUNKS, stream, len, ar.signature);
        } else
                reply_error(c, s, 404, "NotFound", ar.signature);
out:
        atomic_fetch_sub(&s->active, 1);
        return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
        req_body *rb = *req_cls;
        if (rb) {
                rp_buf_done(&rb->b);
                rp_free(rb);
                *req_cls = NULL;
        }
}

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
        srv *s = cls;
        if (toe == MHD_CONNECTION_NOTIFY_STARTED)
                atomic_fetch_add(&s->connections, 1);
}

static int srv_setup(void **state)
{
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
                print_message("libmicrohttpd without TLS: skipped\n");
                return -1;
        }
        rp_json_init();
        srv *s = rp_calloc(1, sizeof *s);
        const char *tmp = getenv("TMPDIR");
        snprintf(s->dir, sizeof s->dir, "%s/rpreplhttpXXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(s->dir));
        _cleanup_free_ char *tls = rp_asprintf("%s/tls", s->dir);
        char *err = NULL;
        assert_int_equal(rp_tls_ensure(tls, NULL, &err), 0);
        s->ca = rp_asprintf("%s/%s", tls, RP_TLS_CA_CERT);
        _cleanup_free_ char *cert_path = rp_asprintf("%s/%s", tls, RP_TLS_SERVER_CERT);
        _cleanup_free_ char *key_path = rp_asprintf("%s/%s", tls, RP_TLS_SERVER_KEY);
        _cleanup_free_ char *cert = NULL, *key = NULL;
        assert_true(rp_read_file(cert_path, 1 << 20, &cert) > 0);
        assert_true(rp_read_file(key_path, 1 << 20, &key) > 0);

        memset(s->key, 0x2b, sizeof s->key);
        memcpy(client_key, s->key, sizeof client_key);
        _cleanup_free_ char *chunks = rp_asprintf("%s/chunks", s->dir);
        _cleanup_free_ char *db = rp_asprintf("%s/meta.db", s->dir);
        uint8_t enc[32];
        memset(enc, 0x19, sizeof enc);
        assert_int_equal(rp_store_open(chunks, db, rt_id_key(), enc, &s->store), 0);
        ds_make(&s->ds, 40, 9, 10, 7, 0);
        ds_put_some(&s->ds, s->store, 17, 16); /* entries 16 and 33 missing at the source */
        s->drp_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/"
                    "restorePointCollections/c/restorePoints/p/diskRestorePoints/d";

        s->d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS, 0,
                NULL, NULL, handle, s, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT,
                cert, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_NOTIFY_CONNECTION,
                notify_conn, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
        assert_non_null(s->d);
        s->port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
        the_srv = s;
        *state = s;
        return 0;
}

static int srv_teardown(void **state)
{
        srv *s = *state;
        MHD_stop_daemon(s->d);
        rp_store_free(s->store);
        ds_free(&s->ds);
        nftw(s->dir, rt_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        rp_free(s->ca);
        rp_free(s);
        return 0;
}

/* Reset faults and counters between tests. */
static int srv_reset(void **state)
{
        srv *s = *state;
        s->nosign = s->tamper = s->prefix = false;
        s->delay_ms = 0;
        atomic_store(&s->fail503, 0);
        atomic_store(&s->connections, 0);
        atomic_store(&s->peak, 0);
        atomic_store(&s->requests, 0);
        atomic_store(&s->chunk_requests, 0);
        memcpy(client_key, s->key, sizeof client_key);
        return 0;
}

static rp_peer *client(srv *s, const char *path)
{
        _cleanup_free_ char *url = rp_asprintf("https://127.0.0.1:%u%s", s->port, path);
        rp_peer *p = NULL;
        assert_int_equal(rp_peer_http_new(url, s->ca, client_key, sizeof client_key, "westus", &p),
                         0);
        return p;
}

typedef struct got {
        const dataset *ds;
        size_t n;
        uint8_t ids[RP_PEER_MAX_IDS][32];
} got;

static int got_chunk(void *ud, const uint8_t id[32], const void *plain, size_t len)
{
        got *g = ud;
        size_t want_len = 0;
        const uint8_t *want = ds_find(g->ds, id, &want_len);
        assert_non_null(want);
        assert_int_equal(len, want_len);
        assert_memory_equal(plain, want, len);
        for (size_t i = 0; i < g->n; i++)
                assert_memory_not_equal(g->ids[i], id, 32);
        memcpy(g->ids[g->n++], id, 32);
        return 0;
}

/* Up to @p n distinct ids of entries from @p from on, skipping the ones missing at the source
 * unless @p with_missing. */
static size_t pick(const dataset *ds, size_t from, size_t n, bool with_missing, uint8_t (*ids)[32])
{
        size_t cnt, k = 0;
        const rp_manifest_entry *e = rp_manifest_entries(ds->m, &cnt);
        for (size_t i = from; i < cnt && k < n; i++) {
                if (!with_missing && rp_store_has(the_srv->store, e[i].id) == 0)
                        continue;
                bool dup = false;
                for (size_t j = 0; j < k && !dup; j++)
                        dup = memcmp(ids[j], e[i].id, 32) == 0;
                if (!dup)
                        memcpy(ids[k++], e[i].id, 32);
        }
        return k;
}

static size_t pick_ids(const dataset *ds, size_t from, size_t n, uint8_t (*ids)[32])
{
        return pick(ds, from, n, false, ids);
}

/* ------------------------------------------------------------------------- tests */

static void test_repl_http__manifest_and_chunks(void **state)
{
        srv *s = *state;
        _cleanup_(rp_peer_freep) rp_peer *p = client(s, "");
        rp_peer_http_options o = { .connections = 4, .ids_per_request = 4 };
        assert_int_equal(rp_peer_http_set_options(p, &o), 0);
        uint8_t *m = NULL;
        size_t mlen = 0;
        json_t *meta = NULL;
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), 0);
        assert_int_equal(mlen, s->ds.enc_len);
        assert_memory_equal(m, s->ds.enc, mlen);
        assert_string_equal(json_string_value(json_object_get(meta, "location")), "eastus");
        rp_free(m);
        json_decref(meta);

        uint8_t ids[32][32];
        size_t n = pick_ids(&s->ds, 0, 30, ids);
        got g = { .ds = &s->ds };
        assert_int_equal(rp_peer_get_chunks(p, (const uint8_t(*)[32])ids, n, got_chunk, &g), 0);
        assert_int_equal(g.n, n);
        assert_int_equal(atomic_load(&s->chunk_requests), (int)((n + 3) / 4));
        assert_true(atomic_load(&s->peak) > 1 && atomic_load(&s->peak) <= 4);
        /* A second batch reuses the kept-alive connections. */
        int conns = atomic_load(&s->connections);
        assert_true(conns >= 1 && conns <= 4);
        g.n = 0;
        assert_int_equal(rp_peer_get_chunks(p, (const uint8_t(*)[32])ids, n, got_chunk, &g), 0);
        assert_int_equal(g.n, n);
        assert_int_equal(atomic_load(&s->connections), conns);
}

static void test_repl_http__copy_over_https(void **state)
{
        srv *s = *state;
        /* A full copy through the engine (entries missing at the source added first). */
        ds_put_some(&s->ds, s->store, 0, 0);
        repl_fixture *f = rt_setup(1);
        _cleanup_(rp_peer_freep) rp_peer *p = client(s, "");
        rp_repl_config cfg = { .batch_chunks = 16 };
        rp_repl_copy *c = NULL;
        assert_int_equal(rp_repl_copy_new(&cfg, p, f->target, s->drp_id, f->manifest, NULL, &c), 0);
        int r;
        while ((r = rp_repl_copy_step(c)) == RP_REPL_STEP_CONTINUE)
                ;
        assert_int_equal(r, RP_REPL_STEP_DONE);
        ds_check_copy(&s->ds, f->target, f->manifest);
        rp_repl_progress pr;
        rp_repl_copy_progress(c, &pr);
        assert_int_equal(pr.chunks_done, s->ds.unique);
        assert_int_equal(pr.percent, 100);
        rp_repl_copy_free(c);
        rt_teardown(f);
        /* put the gaps back for the other tests */
        rp_store_free(s->store);
        _cleanup_free_ char *chunks = rp_asprintf("%s/chunks", s->dir);
        _cleanup_free_ char *db = rp_asprintf("%s/meta.db", s->dir);
        uint8_t enc[32];
        memset(enc, 0x19, sizeof enc);
        nftw(chunks, rt_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        unlink(db);
        assert_int_equal(rp_store_open(chunks, db, rt_id_key(), enc, &s->store), 0);
        ds_put_some(&s->ds, s->store, 17, 16);
}

static void test_repl_http__missing_chunk(void **state)
{
        srv *s = *state;
        _cleanup_(rp_peer_freep) rp_peer *p = client(s, "");
        uint8_t ids[RP_PEER_MAX_IDS][32];
        size_t n = pick(&s->ds, 0, RP_PEER_MAX_IDS, true, ids); /* every distinct id */
        size_t absent = 0;
        for (size_t i = 0; i < n; i++)
                absent += rp_store_has(s->store, ids[i]) == 0;
        assert_true(absent >= 1);
        got g = { .ds = &s->ds };
        assert_int_equal(rp_peer_get_chunks(p, (const uint8_t(*)[32])ids, n, got_chunk, &g),
                         -ENOENT);
        assert_int_equal(g.n, n - absent); /* all the others arrived */
        assert_non_null(strstr(rp_peer_last_error(p), "does not have"));
}

static void test_repl_http__wrong_pair_key(void **state)
{
        srv *s = *state;
        memset(client_key, 0x2c, sizeof client_key);
        _cleanup_(rp_peer_freep) rp_peer *p = client(s, "");
        uint8_t *m = NULL;
        size_t mlen = 0;
        json_t *meta = NULL;
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), -EACCES);
        const char *e = rp_peer_last_error(p);
        assert_non_null(strstr(e, "HTTP 401"));
        assert_non_null(strstr(e, "PeerAuthenticationFailed"));
}

static void test_repl_http__unsigned_or_tampered_answers(void **state)
{
        srv *s = *state;
        _cleanup_(rp_peer_freep) rp_peer *p = client(s, "");
        uint8_t ids[8][32];
        size_t n = pick_ids(&s->ds, 0, 8, ids);
        got g = { .ds = &s->ds };
        s->nosign = true;
        assert_int_equal(rp_peer_get_chunks(p, (const uint8_t(*)[32])ids, n, got_chunk, &g),
                         -EPROTO);
        assert_int_equal(g.n, 0);
        assert_non_null(strstr(rp_peer_last_error(p), "not signed"));
        uint8_t *m = NULL;
        size_t mlen = 0;
        json_t *meta = NULL;
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), -EPROTO);
        s->nosign = false;
        s->tamper = true;
        assert_int_equal(rp_peer_get_chunks(p, (const uint8_t(*)[32])ids, n, got_chunk, &g),
                         -EPROTO);
        assert_int_equal(g.n, 0); /* nothing from a body whose signature fails */
        s->tamper = false;
        assert_int_equal(rp_peer_get_chunks(p, (const uint8_t(*)[32])ids, n, got_chunk, &g), 0);
        assert_int_equal(g.n, n);
}

static void test_repl_http__errors_map(void **state)
{
        srv *s = *state;
        _cleanup_(rp_peer_freep) rp_peer *p = client(s, "");
        uint8_t *m = NULL;
        size_t mlen = 0;
        json_t *meta = NULL;
        assert_int_equal(rp_peer_get_manifest(p, "/no/such/point", &m, &mlen, &meta), -ENOENT);
        atomic_store(&s->fail503, 1);
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), -EREMOTEIO);
        assert_non_null(strstr(rp_peer_last_error(p), "HTTP 503"));
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), 0);
        rp_free(m);
        json_decref(meta);
        /* the engine retries a 503 and then succeeds */
        atomic_store(&s->fail503, 2);
        repl_fixture *f = rt_setup(1);
        rp_repl_config cfg = rt_config(f);
        rp_repl_copy *c = NULL;
        _cleanup_(rp_peer_freep) rp_peer *p2 = client(s, "");
        assert_int_equal(
                rp_repl_copy_new(&cfg, p2, f->target, "/no/such/point", f->manifest, NULL, &c), 0);
        assert_int_equal(rt_drive(f, c, 100), RP_REPL_STEP_FAILED);
        const char *code = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, NULL), -ENOENT);
        assert_string_equal(code, "SourceNotFound");
        rp_repl_progress pr;
        rp_repl_copy_progress(c, &pr);
        assert_int_equal(pr.retries, 2); /* the two 503 first */
        rp_repl_copy_free(c);
        rt_teardown(f);
}

static void test_repl_http__path_prefix(void **state)
{
        srv *s = *state;
        s->prefix = true;
        _cleanup_(rp_peer_freep) rp_peer *p = client(s, PREFIX "/");
        uint8_t *m = NULL;
        size_t mlen = 0;
        json_t *meta = NULL;
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), 0);
        rp_free(m);
        json_decref(meta);
        _cleanup_(rp_peer_freep) rp_peer *q = client(s, "");
        assert_int_equal(rp_peer_get_manifest(q, s->drp_id, &m, &mlen, &meta), -EPROTO);
}

static void test_repl_http__transport_errors(void **state)
{
        srv *s = *state;
        /* nobody listens */
        rp_peer *p = NULL;
        assert_int_equal(
                rp_peer_http_new("https://127.0.0.1:1", s->ca, client_key, 32, "westus", &p), 0);
        uint8_t *m = NULL;
        size_t mlen = 0;
        json_t *meta = NULL;
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), -ECONNREFUSED);
        rp_peer_free(p);
        /* a certificate we do not trust */
        _cleanup_free_ char *url = rp_asprintf("https://127.0.0.1:%u", s->port);
        _cleanup_free_ char *other = rp_asprintf("%s/other", s->dir);
        assert_int_equal(rp_tls_ensure(other, NULL, NULL), 0);
        _cleanup_free_ char *other_ca = rp_asprintf("%s/%s", other, RP_TLS_CA_CERT);
        assert_int_equal(rp_peer_http_new(url, other_ca, client_key, 32, "westus", &p), 0);
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), -EPROTO);
        rp_peer_free(p);
        /* too slow */
        p = client(s, "");
        rp_peer_http_options o = { .request_timeout_s = 1 };
        assert_int_equal(rp_peer_http_set_options(p, &o), 0);
        s->delay_ms = 1500;
        assert_int_equal(rp_peer_get_manifest(p, s->drp_id, &m, &mlen, &meta), -ETIMEDOUT);
        s->delay_ms = 0;
        rp_peer_free(p);
}

static void test_repl_http__arguments(void **state)
{
        srv *s = *state;
        rp_peer *p = NULL;
        const char *bad[] = { "http://127.0.0.1:1", "https://",    "https://u@h", "https://h/a b",
                              "https://h/%41",      "https://h?x", "ftp://h",     NULL };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(rp_peer_http_new(bad[i], NULL, client_key, 32, "westus", &p),
                                 -EINVAL);
        assert_int_equal(rp_peer_http_new("https://h", NULL, client_key, 31, "westus", &p),
                         -EINVAL);
        assert_int_equal(rp_peer_http_new("https://h", NULL, client_key, 32, "West", &p), -EINVAL);
        assert_null(p);
        p = client(s, "");
        rp_peer_http_options o = { .ids_per_request = RP_PEER_MAX_IDS + 1 };
        assert_int_equal(rp_peer_http_set_options(p, &o), -EINVAL);
        rp_peer_free(p);
        /* only HTTPS peers have these options */
        repl_fixture *f = rt_setup(1);
        o.ids_per_request = 8;
        assert_int_equal(rp_peer_http_set_options(f->peer, &o), -EINVAL);
        rt_teardown(f);
}

int main(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rp_json_init();
        const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup(name, srv_reset)
                T(test_repl_http__manifest_and_chunks),
                T(test_repl_http__copy_over_https),
                T(test_repl_http__missing_chunk),
                T(test_repl_http__wrong_pair_key),
                T(test_repl_http__unsigned_or_tampered_answers),
                T(test_repl_http__errors_map),
                T(test_repl_http__path_prefix),
                T(test_repl_http__transport_errors),
                T(test_repl_http__arguments),
#undef T
        };
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
                return 77;
        int r = cmocka_run_group_tests(tests, srv_setup, srv_teardown);
        curl_global_cleanup();
        return r;
}
