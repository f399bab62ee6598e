/* fuzz_config.c: libFuzzer target for rpd.conf: rp_config_load on the input written to a
 * temp file, and rp_config_set_listen on the input as a string.
 *
 * Invariants checked (abort() on violation):
 * - load returns 0 or a negative errno; on failure there is a message that starts with the
 *   file name, and a "path:N:" line number is within the file;
 * - on success the config is valid: 1..RP_CONFIG_MAX_REGIONS regions with distinct names of
 *   lower-case letters and digits (at most 32), a listen address inet_pton accepts, threads
 *   and timeout in range, a known log level, non-empty SANs, freeze hooks with a VM, an
 *   absolute command and a timeout of 1..3600 s;
 * - rp_config_set_listen accepts a string only if the address is an IP literal (bracketed for
 *   IPv6), and what it stores formats back to a string it accepts again, unchanged;
 * - rp_config_done frees everything (LeakSanitizer).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/parse.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char conf_path[256];
static int conf_fd = -1;

static void cleanup_file(void)
{
        if (conf_fd >= 0)
                unlink(conf_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *tmp = getenv("TMPDIR");
        snprintf(conf_path, sizeof conf_path, "%s/rp-fuzz-config-XXXXXX", tmp ? tmp : "/tmp");
        conf_fd = mkostemp(conf_path, O_CLOEXEC);
        if (conf_fd < 0)
                abort();
        atexit(cleanup_file);
        return 0;
}

static bool valid_addr(const char *a)
{
        unsigned char bin[sizeof(struct in6_addr)];
        return inet_pton(AF_INET, a, bin) == 1 || inet_pton(AF_INET6, a, bin) == 1;
}

static void check_config(const rp_config *c)
{
        if (c->n_regions < 1 || c->n_regions > RP_CONFIG_MAX_REGIONS)
                abort();
        for (size_t i = 0; i < c->n_regions; i++) {
                const char *n = c->regions[i].name;
                if (!n || !*n || strlen(n) > 32 || !c->regions[i].display)
                        abort();
                for (const char *p = n; *p; p++)
                        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
                                abort();
                for (size_t j = 0; j < i; j++)
                        if (strcmp(c->regions[j].name, n) == 0)
                                abort();
        }
        if (!c->listen_addr || !valid_addr(c->listen_addr))
                abort();
        if (c->threads < 1 || c->threads > 256 || c->conn_timeout < 1 || c->conn_timeout > 86400)
                abort();
        if (rp_log_level_from_string(c->log_level) < 0)
                abort();
        if (c->n_sans > RP_CONFIG_MAX_SANS)
                abort();
        for (size_t i = 0; i < c->n_sans; i++)
                if (!c->tls_sans[i] || !*c->tls_sans[i])
                        abort();
        if (c->n_hooks > RP_CONFIG_MAX_HOOKS)
                abort();
        for (size_t i = 0; i < c->n_hooks; i++) {
                const rp_hook *h = &c->hooks[i];
                if (!h->name || !h->vm_id || !h->command || h->command[0] != '/' ||
                    h->timeout_s < 1 || h->timeout_s > 3600)
                        abort();
        }
}

static void check_error(const char *err, const uint8_t *data, size_t size)
{
        size_t plen = strlen(conf_path);
        if (!err || strncmp(err, conf_path, plen) != 0)
                abort();
        if (err[plen] != ':')
                abort();
        const char *p = err + plen + 1;
        if (*p < '0' || *p > '9')
                return;                            /* a whole-file error */
        unsigned long line = strtoul(p, NULL, 10); /* digits checked above */
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
        if (line < 1 || line > lines)
                abort();
}

static void fuzz_load(const uint8_t *data, size_t size)
{
        if (ftruncate(conf_fd, 0) < 0 || pwrite(conf_fd, data, size, 0) != (ssize_t)size)
                abort();
        rp_config c;
        if (rp_config_default(&c) < 0)
                abort();
        _cleanup_free_ char *err = NULL;
        int r = rp_config_load(&c, conf_path, &err);
        if (r == 0) {
                if (err)
                        abort();
                check_config(&c);
        } else if (r > 0 || r == -ENOMEM) {
                abort(); /* no OOM while fuzzing */
        } else {
                check_error(err, data, size);
        }
        rp_config_done(&c);
}

static void fuzz_listen(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *s = rp_strndup((const char *)data, size);
        if (!s)
                abort();
        rp_config c;
        if (rp_config_default(&c) < 0)
                abort();
        int r = rp_config_set_listen(&c, s);
        if (r != 0 && r != -EINVAL)
                abort();
        if (r == 0) {
                if (!valid_addr(c.listen_addr))
                        abort();
                bool v6 = strchr(c.listen_addr, ':') != NULL;
                if (v6 != (s[0] == '['))
                        abort();
                char again[128];
                snprintf(again, sizeof again, "%s%s%s:%u", v6 ? "[" : "", c.listen_addr,
                         v6 ? "]" : "", (unsigned)c.port);
                _cleanup_free_ char *addr = rp_strdup(c.listen_addr);
                uint16_t port = c.port;
                if (!addr || rp_config_set_listen(&c, again) != 0)
                        abort();
                if (strcmp(addr, c.listen_addr) != 0 || port != c.port)
                        abort();
        } else if (strcmp(c.listen_addr, "127.0.0.1") != 0 || c.port != 8443) {
                abort(); /* a rejected value leaves the old one */
        }
        rp_config_done(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_load(data, size);
        if (size < 128)
                fuzz_listen(data, size);
        return 0;
}
