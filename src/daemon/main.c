/* main.c: rpd, the daemon.
 *
 * DESIGN: main parses flags, lays out the data directory on first start (config, TLS,
 * token key, SAS key, one folder and SQLite store per region), starts one worker thread per
 * region and the HTTPS server, writes <data>/rpd.url, then waits for SIGTERM/SIGINT and
 * shuts down in reverse order. Everything acknowledged is already durable, so SIGKILL loses
 * nothing acknowledged either. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arm/arm.h"
#include "auth/tls.h"
#include "auth/token.h"
#include "compute/compute.h"
#include "compute/deployments.h"
#include "config.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

static const char usage[] =
        "Usage: rpd --data DIR [--listen ADDR:PORT] [--log-level LEVEL]\n"
        "\n"
        "Serve the Azure Resource Manager API for restore points, disks and VMs over HTTPS.\n"
        "\n"
        "  -d, --data DIR         data directory (created on first start)\n"
        "  -l, --listen ADDR:PORT listen address (default 127.0.0.1:8443; port 0 picks one)\n"
        "      --log-level LEVEL  debug, info, notice, warning or error\n"
        "      --identity-from DIR  join the deployment of the rpd whose data directory is DIR:\n"
        "                         copy its CA, token, SAS and chunk id keys (files this data\n"
        "                         directory lacks), so that the two can be peers\n"
        "  -h, --help             this text\n"
        "\n"
        "On first start DIR gets rpd.conf (regions eastus and westus), tls/ca.pem (the CA\n"
        "clients trust), auth/ (token signing key) and regions/<name>/. The URL is written to\n"
        "DIR/rpd.url. Get a token with: rpctl token --data DIR --subscription <GUID>\n"
        "\n"
        "DIR/rpd.conf (INI: [rpd], [region NAME], [freeze-hook NAME]) sets the listen address,\n"
        "threads, timeouts, log level, certificate names, the regions this process hosts and\n"
        "the freeze hooks; flags override it (docs/CONFIG.md). SIGTERM or SIGINT stops rpd\n"
        "cleanly; work in progress resumes at the next start.\n"
        "\n"
        "Examples:\n"
        "  rpd --data /var/lib/rpd\n"
        "  rpd --data ./data --listen 0.0.0.0:443 --log-level debug\n";

/* A 32-byte key kept hex-encoded at @p path (0600), made on first use. */
static int load_key(const char *path, uint8_t key[32])
{
        _cleanup_free_ char *hex = NULL;
        long n = rp_read_file(path, 1024, &hex);
        if (n == -ENOENT) {
                char h[65];
                if (rp_random_bytes(key, 32) < 0)
                        return -EIO;
                rp_hex_encode(key, 32, h);
                return rp_write_file_atomic(path, h, 64, 0600);
        }
        if (n < 0)
                return (int)n;
        if (n >= 64)
                hex[64] = '\0';
        return rp_hex_decode(hex, key, 32);
}

/* rp_service.freeze_hook: the configured hook of @p vm_id, if any. */
static int run_freeze_hook(rp_service *svc, const char *vm_id, const char *phase)
{
        const rp_config *cfg = svc->freeze_hook_data;
        for (size_t i = 0; i < cfg->n_hooks; i++)
                if (rp_arm_id_equal(cfg->hooks[i].vm_id, vm_id))
                        return rp_hook_run(&cfg->hooks[i], phase, vm_id);
        return -ENOENT;
}

static int open_region(rp_service *svc, const rp_config_region *cr, const uint8_t id_key[32],
                       rp_region **ret)
{
        rp_region *reg = rp_calloc(1, sizeof *reg);
        if (!reg)
                return -ENOMEM;
        reg->svc = svc;
        reg->name = rp_strdup(cr->name);
        reg->display = rp_strdup(cr->display);
        reg->dir = rp_asprintf("%s/regions/%s", svc->data_dir, cr->name);
        pthread_mutex_init(&reg->lock, NULL);
        pthread_cond_init(&reg->wake, NULL);
        *ret = reg; /* freed by the caller's cleanup even on failure */
        if (!reg->name || !reg->display || !reg->dir)
                return -ENOMEM;
        static const char *const sub[] = { "disks", "chunks", "keys", "manifests" };
        for (size_t i = 0; i < ELEMENTSOF(sub); i++) {
                _cleanup_free_ char *d = rp_asprintf("%s/%s", reg->dir, sub[i]);
                int k = d ? rp_mkdir_p(d, 0700) : -ENOMEM;
                if (k < 0)
                        return k;
        }
        _cleanup_free_ char *db = rp_asprintf("%s/meta.db", reg->dir);
        _cleanup_free_ char *chunks = rp_asprintf("%s/chunks", reg->dir);
        _cleanup_free_ char *keyfile = rp_asprintf("%s/keys/platform.key", reg->dir);
        uint8_t platform_key[32];
        if (!db || !chunks || !keyfile)
                return -ENOMEM;
        int k = rp_db_sqlite_open(db, &reg->db);
        if (k >= 0)
                k = load_key(keyfile, platform_key);
        if (k >= 0)
                k = rp_store_open(chunks, db, id_key, platform_key, &reg->store);
        explicit_bzero(platform_key, sizeof platform_key);
        return k;
}

static void close_service(rp_service *svc)
{
        for (size_t i = 0; i < svc->n_regions; i++) {
                rp_region *reg = svc->regions[i];
                if (!reg)
                        continue;
                rp_store_free(reg->store);
                rp_db_free(reg->db);
                pthread_mutex_destroy(&reg->lock);
                pthread_cond_destroy(&reg->wake);
                rp_free(reg->name);
                rp_free(reg->display);
                rp_free(reg->dir);
                rp_free(reg);
        }
        rp_free(svc->regions);
        rp_compute_peers_free(svc);
        rp_compute_copy_limits_free();
        rp_free(svc->known_subs);
        pthread_mutex_destroy(&svc->subs_lock);
        rp_token_key_free(svc->token_key);
        rp_free(svc->data_dir);
}

/* The files that make a deployment's identity: hosts that are peers share them. */
static const char *const identity_files[] = { "tls/ca.pem",  "tls/ca.key",   "auth/signing.key",
                                              "auth/tenant", "auth/sas.key", "auth/chunk-id.key" };

/* Copy the identity files @p data lacks from the data directory @p from. Logs failures. */
static int copy_identity(const char *from, const char *data)
{
        for (size_t i = 0; i < ELEMENTSOF(identity_files); i++) {
                _cleanup_free_ char *src = rp_asprintf("%s/%s", from, identity_files[i]);
                _cleanup_free_ char *dst = rp_asprintf("%s/%s", data, identity_files[i]);
                _cleanup_free_ char *dir = dst ? rp_strdup(dst) : NULL;
                _cleanup_free_ char *bytes = NULL;
                if (!src || !dst || !dir)
                        return -ENOMEM;
                if (access(dst, F_OK) == 0)
                        continue;
                long n = rp_read_file(src, RP_MAX_SMALL_FILE, &bytes);
                *strrchr(dir, '/') = '\0';
                int k = n < 0 ? (int)n : rp_mkdir_p(dir, 0700);
                if (k >= 0)
                        k = rp_write_file_atomic(dst, bytes, (size_t)n, 0600);
                if (k < 0) {
                        log_error_errno(k, "--identity-from: cannot copy '%s' to '%s'", src, dst);
                        return k;
                }
                log_notice("identity: %s copied from %s", identity_files[i], from);
        }
        return 0;
}

/* Peers ([peer NAME]), forwarding, and the copy limits. Logs its failures. */
static int setup_peers(rp_service *svc, const rp_config *cfg, const char *tls_dir)
{
        rp_compute_peer_config pc[RP_CONFIG_MAX_PEERS];
        char *keys[RP_CONFIG_MAX_PEERS] = { 0 };
        size_t lens[RP_CONFIG_MAX_PEERS] = { 0 };
        _cleanup_free_ char *own_ca = rp_asprintf("%s/ca.pem", tls_dir);
        int k = own_ca ? 0 : -ENOMEM;
        for (size_t i = 0; k >= 0 && i < cfg->n_peers; i++) {
                long n = rp_read_file(cfg->peers[i].key_file, RP_MAX_SMALL_FILE, &keys[i]);
                if (n < 32) {
                        log_error("peer '%s': key_file '%s' %s", cfg->peers[i].name,
                                  cfg->peers[i].key_file,
                                  n < 0 ? "cannot be read" : "is shorter than 32 bytes");
                        k = -EINVAL;
                        break;
                }
                lens[i] = (size_t)n;
                pc[i] = (rp_compute_peer_config){
                        .region = cfg->peers[i].name,
                        .url = cfg->peers[i].url,
                        .ca_file = cfg->peers[i].ca_file ? cfg->peers[i].ca_file : own_ca,
                        .key = (const uint8_t *)keys[i],
                        .key_len = (size_t)n,
                };
        }
        if (k >= 0)
                k = rp_compute_peers_init(svc, pc, cfg->n_peers);
        for (size_t i = 0; i < cfg->n_peers; i++) {
                if (keys[i])
                        explicit_bzero(keys[i], lens[i]);
                rp_free(keys[i]);
        }
        if (k < 0) {
                log_error_errno(k, "cannot set up the peers");
                return k;
        }
        if (cfg->n_peers) {
                svc->forward = rp_compute_forward;
                svc->list_more = rp_compute_list_more;
        }
        for (size_t i = 0; i < cfg->n_pairs && k >= 0; i++)
                k = rp_compute_copy_limits(cfg->pairs[i].source, cfg->pairs[i].bytes_per_sec,
                                           cfg->pairs[i].max_copies);
        rp_compute_copy_time_limit(cfg->copy_time_limit);
        return k;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "data", required_argument, NULL, 'd' },
                { "listen", required_argument, NULL, 'l' },
                { "log-level", required_argument, NULL, 'L' },
                { "identity-from", required_argument, NULL, 'I' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *data = NULL, *listen_flag = NULL, *level_flag = NULL, *identity = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "d:l:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        data = optarg;
                        break;
                case 'l':
                        listen_flag = optarg;
                        break;
                case 'L':
                        level_flag = optarg;
                        break;
                case 'I':
                        identity = optarg;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        }
        if (!data || optind < argc) {
                fputs(usage, stderr);
                return 2;
        }
        rp_json_init();
        curl_global_init(CURL_GLOBAL_DEFAULT); /* the peer client (src/repl) uses libcurl */
        umask(077);

        rp_service svc = { 0 };
        pthread_mutex_init(&svc.subs_lock, NULL);
        rp_config cfg;
        _cleanup_free_ char *err = NULL;
        int k = rp_config_default(&cfg);
        if (k >= 0)
                k = rp_mkdir_p(data, 0700);
        if (k < 0) {
                log_error_errno(k, "cannot create data directory '%s'", data);
                return 1;
        }
        svc.data_dir = rp_adopt_libc_string(realpath(data, NULL));
        if (!svc.data_dir)
                svc.data_dir = rp_strdup(data);
        _cleanup_free_ char *conf = rp_asprintf("%s/rpd.conf", svc.data_dir);
        if (!conf || !svc.data_dir)
                return 1;
        if (access(conf, F_OK) < 0) {
                const char *t = rp_config_default_text();
                k = rp_write_file_atomic(conf, t, strlen(t), 0600);
                if (k < 0) {
                        log_error_errno(k, "cannot write '%s'", conf);
                        return 1;
                }
        }
        k = rp_config_load(&cfg, conf, &err);
        if (k < 0) {
                log_error("config: %s", err ? err : "cannot load");
                return 1;
        }
        if (listen_flag && rp_config_set_listen(&cfg, listen_flag) < 0) {
                log_error("--listen '%s' is not ADDR:PORT", listen_flag);
                return 2;
        }
        if (rp_log_set_level_from_string(level_flag ? level_flag : cfg.log_level) < 0) {
                log_error("unknown log level '%s'", level_flag ? level_flag : cfg.log_level);
                return 2;
        }

        if (identity && copy_identity(identity, svc.data_dir) < 0)
                return 1;
        /* TLS material and keys */
        _cleanup_free_ char *tls_dir = rp_asprintf("%s/tls", svc.data_dir);
        _cleanup_free_ char *auth_dir = rp_asprintf("%s/auth", svc.data_dir);
        k = rp_tls_ensure(tls_dir, (const char *const *)cfg.tls_sans, &err);
        if (k < 0) {
                log_error_errno(k, "TLS set-up: %s", err ? err : "failed");
                return 1;
        }
        (void)cfg.n_sans;
        _cleanup_free_ char *cert_path = rp_asprintf("%s/server.pem", tls_dir);
        _cleanup_free_ char *key_path = rp_asprintf("%s/server.key", tls_dir);
        _cleanup_free_ char *cert = NULL, *key = NULL;
        if (rp_read_file(cert_path, RP_MAX_SMALL_FILE, &cert) < 0 ||
            rp_read_file(key_path, RP_MAX_SMALL_FILE, &key) < 0) {
                log_error("cannot read %s or %s", cert_path, key_path);
                return 1;
        }
        _cleanup_free_ char *sas_path = rp_asprintf("%s/sas.key", auth_dir);
        _cleanup_free_ char *chunk_key_path = rp_asprintf("%s/chunk-id.key", auth_dir);
        uint8_t chunk_id_key[32];
        k = rp_token_key_load_or_create(auth_dir, &svc.token_key);
        if (k >= 0)
                k = sas_path ? load_key(sas_path, svc.sas_key) : -ENOMEM;
        /* The chunk id key is the deployment's: every region names a chunk the same way. */
        if (k >= 0)
                k = chunk_key_path ? load_key(chunk_key_path, chunk_id_key) : -ENOMEM;
        if (k < 0) {
                log_error_errno(k, "cannot set up keys in '%s'", auth_dir);
                return 1;
        }

        /* regions */
        svc.regions = rp_calloc(cfg.n_regions, sizeof *svc.regions);
        if (!svc.regions)
                return 1;
        for (size_t i = 0; i < cfg.n_regions; i++) {
                k = open_region(&svc, &cfg.regions[i], chunk_id_key, &svc.regions[i]);
                svc.n_regions = i + 1;
                if (k < 0) {
                        log_error_errno(k, "cannot open region '%s'", cfg.regions[i].name);
                        close_service(&svc);
                        return 1;
                }
        }
        svc.routes = rp_compute_routes;
        svc.n_routes = rp_compute_n_routes;
        svc.job_kinds = rp_compute_job_kinds;
        svc.n_job_kinds = rp_compute_n_job_kinds;
        svc.stream_begin = rp_dataplane_stream_begin;
        svc.freeze_hook = run_freeze_hook;
        svc.freeze_hook_data = &cfg;
        svc.stream_body = rp_dataplane_stream_body;
        svc.idle = rp_compute_pull_idle;
        k = setup_peers(&svc, &cfg, tls_dir);
        if (k < 0) {
                close_service(&svc);
                return 1;
        }

        /* Block the stop signals before any thread starts, so all inherit the mask. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        k = rp_service_start_workers(&svc);
        if (k < 0) {
                log_error_errno(k, "cannot start workers");
                return 1;
        }
        rp_http_app app;
        rp_arm_http_app(&svc, &app);
        rp_http_config hc = {
                .listen_addr = cfg.listen_addr,
                .port = cfg.port,
                .cert_pem = cert,
                .key_pem = key,
                .threads = cfg.threads,
                .conn_timeout_s = cfg.conn_timeout,
                .max_body = RP_MAX_JSON_BODY,
        };
        rp_http_server *http = NULL;
        uint16_t port = 0;
        k = rp_http_server_start(&hc, &app, &http, &port, &err);
        if (k < 0) {
                log_error_errno(k, "%s", err ? err : "cannot start the HTTPS server");
                rp_service_stop_workers(&svc);
                close_service(&svc);
                return 1;
        }
        bool v6 = strchr(cfg.listen_addr, ':') != NULL;
        _cleanup_free_ char *url = rp_asprintf("https://%s%s%s:%u", v6 ? "[" : "", cfg.listen_addr,
                                               v6 ? "]" : "", port);
        _cleanup_free_ char *url_path = rp_asprintf("%s/rpd.url", svc.data_dir);
        _cleanup_free_ char *url_line = rp_asprintf("%s\n", url);
        if (!url || !url_path || !url_line ||
            rp_write_file_atomic(url_path, url_line, strlen(url_line), 0644) < 0) {
                log_error("cannot write rpd.url");
                rp_http_server_stop(http);
                rp_service_stop_workers(&svc);
                close_service(&svc);
                return 1;
        }
        /* Template deployments call this rpd's own API, so they start once it listens; on a
         * wildcard address they call it on loopback (which the certificate always names). */
        _cleanup_free_ char *ca_path = rp_asprintf("%s/ca.pem", tls_dir);
        _cleanup_free_ char *self_url =
                strcmp(cfg.listen_addr, "0.0.0.0") == 0 ? rp_asprintf("https://127.0.0.1:%u", port)
                : strcmp(cfg.listen_addr, "::") == 0    ? rp_asprintf("https://[::1]:%u", port)
                                                        : rp_strdup(url);
        rp_deployer *deployer = NULL;
        k = ca_path && self_url ? rp_deployer_start(&svc, self_url, ca_path, &deployer) : -ENOMEM;
        if (k < 0) {
                log_error_errno(k, "cannot start the deployment executor");
                rp_http_server_stop(http);
                rp_service_stop_workers(&svc);
                close_service(&svc);
                return 1;
        }
        log_notice("rpd listening on %s (regions:%s%s%s) data='%s' ca='%s/ca.pem'", url,
                   svc.regions[0]->name, svc.n_regions > 1 ? "," : "",
                   svc.n_regions > 1 ? svc.regions[1]->name : "", svc.data_dir, tls_dir);
        printf("%s\n", url);
        fflush(stdout);

        int sig = 0;
        sigwait(&mask, &sig);
        log_notice("signal %d: shutting down", sig);
        rp_deployer_stop(deployer);
        rp_http_server_stop(http);
        rp_service_stop_workers(&svc);
        close_service(&svc);
        rp_config_done(&cfg);
        log_notice("rpd stopped");
        return 0;
}
