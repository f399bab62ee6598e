/* config.c: INI parser for rpd.conf. Unknown keys are errors, so typos do not pass silently. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "util/alloc.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"
#include "util/log.h"
#include "util/parse.h"

static const char default_text[] =
        "# rpd configuration. Flags given to rpd override these keys.\n"
        "[rpd]\n"
        "# address and port of the HTTPS endpoint (port 0 picks a free one)\n"
        "listen = 127.0.0.1:8443\n"
        "# HTTP worker threads\n"
        "threads = 8\n"
        "# idle connection timeout, seconds\n"
        "connection_timeout = 120\n"
        "# log level: debug, info, notice, warning, error\n"
        "log_level = info\n"
        "# extra names (DNS or IP) for the server certificate, comma-separated\n"
        "# tls_san = rpd.example.net\n"
        "\n"
        "[region eastus]\n"
        "display_name = East US\n"
        "\n"
        "[region westus]\n"
        "display_name = West US\n"
        "\n"
        "# A freeze hook makes a VM's restore points application-consistent: rpd runs\n"
        "# 'command freeze <vm id>' just before the cut and 'command thaw <vm id>' after it,\n"
        "# each killed after 'timeout' seconds. Without a hook, or when it fails, the point is\n"
        "# crash-consistent and says so.\n"
        "# [freeze-hook web1]\n"
        "# vm = /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/"
        "virtualMachines/web1\n"
        "# command = /usr/local/bin/freeze-web1\n"
        "# timeout = 10\n";

const char *rp_config_default_text(void)
{
        return default_text;
}

static int set_str(char **dst, const char *v)
{
        char *s = rp_strdup(v);
        if (!s)
                return -ENOMEM;
        rp_free(*dst);
        *dst = s;
        return 0;
}

int rp_config_set_listen(rp_config *c, const char *s)
{
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s)
                return -EINVAL;
        uint64_t port;
        if (rp_parse_u64(colon + 1, &port) < 0 || port > 65535)
                return -EINVAL;
        const char *a = s;
        size_t n = (size_t)(colon - s);
        /* An IPv6 literal needs brackets ("[::1]:8443"); inside them only IPv6 is valid. */
        bool v6 = a[0] == '[';
        if (v6) {
                if (n < 3 || a[n - 1] != ']')
                        return -EINVAL;
                a++;
                n -= 2;
        }
        _cleanup_free_ char *addr = rp_strndup(a, n);
        if (!addr)
                return -ENOMEM;
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } bin;
        if (strlen(addr) != n || inet_pton(v6 ? AF_INET6 : AF_INET, addr, &bin) != 1)
                return -EINVAL;
        rp_free(c->listen_addr);
        c->listen_addr = TAKE_PTR(addr);
        c->port = (uint16_t)port;
        return 0;
}

static int add_region(rp_config *c, const char *name)
{
        if (c->n_regions == RP_CONFIG_MAX_REGIONS)
                return -E2BIG;
        for (const char *p = name; *p; p++)
                if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p))
                        return -EINVAL;
        if (!*name || strlen(name) > 32)
                return -EINVAL;
        for (size_t i = 0; i < c->n_regions; i++)
                if (strcmp(c->regions[i].name, name) == 0)
                        return -EEXIST;
        _cleanup_free_ char *n = rp_strdup(name), *d = rp_strdup(name);
        if (!n || !d)
                return -ENOMEM;
        c->regions[c->n_regions++] =
                (rp_config_region){ .name = TAKE_PTR(n), .display = TAKE_PTR(d) };
        return 0;
}

int rp_config_default(rp_config *c)
{
        *c = (rp_config){ .threads = 8, .conn_timeout = 120, .copy_time_limit = 14 * 86400 };
        int k = rp_config_set_listen(c, "127.0.0.1:8443");
        if (k >= 0)
                k = set_str(&c->log_level, "info");
        if (k >= 0)
                k = add_region(c, "eastus");
        if (k >= 0)
                k = set_str(&c->regions[0].display, "East US");
        if (k >= 0)
                k = add_region(c, "westus");
        if (k >= 0)
                k = set_str(&c->regions[1].display, "West US");
        return k;
}

/* copy_bandwidth (MB/s, 0 = none) or copy_max (copies at once) of the copies from @p source. */
static int set_pair(rp_config *c, const char *source, const char *k, const char *v)
{
        uint64_t num;
        if (rp_parse_u64(v, &num) < 0 || num > 1000000)
                return -EINVAL;
        rp_config_pair *p = NULL;
        for (size_t i = 0; i < c->n_pairs; i++)
                if (strcmp(c->pairs[i].source, source) == 0)
                        p = &c->pairs[i];
        if (!p) {
                if (c->n_pairs == ELEMENTSOF(c->pairs))
                        return -E2BIG;
                p = &c->pairs[c->n_pairs];
                *p = (rp_config_pair){ .source = rp_strdup(source) };
                if (!p->source)
                        return -ENOMEM;
                c->n_pairs++;
        }
        if (strcmp(k, "copy_bandwidth") == 0)
                p->bytes_per_sec = num * 1000000ull;
        else
                p->max_copies = (unsigned)num;
        return 0;
}

static char *trim(char *s)
{
        while (isspace((unsigned char)*s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* "a, b" replaces the list; an empty value clears it. An empty item ("a,,b") is an error:
 * it would become an empty certificate name. */
static int set_sans(rp_config *c, char *v)
{
        for (size_t i = 0; i < c->n_sans; i++)
                c->tls_sans[i] = rp_free(c->tls_sans[i]);
        c->n_sans = 0;
        if (!*v)
                return 0;
        for (char *next = v; next;) {
                char *t = strsep(&next, ",");
                t = trim(t);
                if (!*t)
                        return -EINVAL;
                if (c->n_sans == RP_CONFIG_MAX_SANS)
                        return -E2BIG;
                c->tls_sans[c->n_sans] = rp_strdup(t);
                if (!c->tls_sans[c->n_sans])
                        return -ENOMEM;
                c->n_sans++;
        }
        return 0;
}

int rp_config_load(rp_config *c, const char *path, char **ret_error)
{
        _cleanup_free_ char *text = NULL;
        long n = rp_read_file(path, RP_MAX_SMALL_FILE, &text);
        if (n < 0) {
                *ret_error = rp_asprintf("%s: cannot read: %s", path, strerror((int)-n));
                return (int)n;
        }
        if (strlen(text) != (size_t)n) {
                *ret_error = rp_asprintf("%s: contains a NUL byte", path);
                return -EINVAL;
        }
        /* A config with region sections replaces the default regions. */
        bool regions_reset = false;
        rp_config_region *cur = NULL;
        rp_hook *hook = NULL;
        rp_config_peer *peer = NULL;
        bool in_rpd = false;
        int lineno = 0;
        /* strsep, not strtok: blank lines must count, or the line numbers in errors drift. */
        for (char *next = text; next;) {
                char *line = strsep(&next, "\n");
                lineno++;
                char *l = trim(line);
                if (!*l || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        char *end = strchr(l, ']');
                        if (!end) {
                                *ret_error =
                                        rp_asprintf("%s:%d: unterminated section", path, lineno);
                                return -EINVAL;
                        }
                        if (*trim(end + 1)) {
                                *ret_error = rp_asprintf("%s:%d: text after the section header",
                                                         path, lineno);
                                return -EINVAL;
                        }
                        *end = '\0';
                        char *sec = trim(l + 1);
                        in_rpd = false;
                        cur = NULL;
                        hook = NULL;
                        peer = NULL;
                        if (strcmp(sec, "rpd") == 0) {
                                in_rpd = true;
                        } else if (strncmp(sec, "freeze-hook ", 12) == 0) {
                                if (c->n_hooks == RP_CONFIG_MAX_HOOKS) {
                                        *ret_error = rp_asprintf("%s:%d: too many freeze hooks",
                                                                 path, lineno);
                                        return -E2BIG;
                                }
                                const char *hname = trim(sec + 12);
                                bool dup = !*hname;
                                for (size_t i = 0; i < c->n_hooks; i++)
                                        dup = dup || strcmp(c->hooks[i].name, hname) == 0;
                                if (dup) {
                                        *ret_error = rp_asprintf("%s:%d: empty or duplicate "
                                                                 "freeze hook name '%s'",
                                                                 path, lineno, hname);
                                        return -EINVAL;
                                }
                                hook = &c->hooks[c->n_hooks++];
                                *hook = (rp_hook){ .name = rp_strdup(hname), .timeout_s = 10 };
                                if (!hook->name)
                                        return -ENOMEM;
                        } else if (strncmp(sec, "peer ", 5) == 0) {
                                const char *pname = trim(sec + 5);
                                bool bad = !*pname || strlen(pname) > 32 ||
                                           c->n_peers == RP_CONFIG_MAX_PEERS;
                                for (const char *q = pname; *q; q++)
                                        bad = bad || !(islower((unsigned char)*q) ||
                                                       isdigit((unsigned char)*q));
                                for (size_t i = 0; i < c->n_peers; i++)
                                        bad = bad || strcmp(c->peers[i].name, pname) == 0;
                                if (bad) {
                                        *ret_error = rp_asprintf("%s:%d: bad, duplicate or too "
                                                                 "many peer '%s'",
                                                                 path, lineno, pname);
                                        return -EINVAL;
                                }
                                peer = &c->peers[c->n_peers++];
                                *peer = (rp_config_peer){ .name = rp_strdup(pname) };
                                if (!peer->name)
                                        return -ENOMEM;
                        } else if (strncmp(sec, "region ", 7) == 0) {
                                if (!regions_reset) {
                                        for (size_t i = 0; i < c->n_regions; i++) {
                                                rp_free(c->regions[i].name);
                                                rp_free(c->regions[i].display);
                                        }
                                        c->n_regions = 0;
                                        regions_reset = true;
                                }
                                int k = add_region(c, trim(sec + 7));
                                if (k < 0) {
                                        *ret_error = rp_asprintf(
                                                "%s:%d: bad or duplicate region name '%s' (use "
                                                "lower-case letters and digits)",
                                                path, lineno, trim(sec + 7));
                                        return k;
                                }
                                cur = &c->regions[c->n_regions - 1];
                        } else {
                                *ret_error = rp_asprintf("%s:%d: unknown section '%s'", path,
                                                         lineno, sec);
                                return -EINVAL;
                        }
                        continue;
                }
                char *eq = strchr(l, '=');
                if (!eq) {
                        *ret_error = rp_asprintf("%s:%d: expected key = value", path, lineno);
                        return -EINVAL;
                }
                *eq = '\0';
                char *k = trim(l), *v = trim(eq + 1);
                int r = -ENOKEY;
                uint64_t num;
                if (in_rpd) {
                        if (strcmp(k, "listen") == 0)
                                r = rp_config_set_listen(c, v);
                        else if (strcmp(k, "threads") == 0)
                                r = rp_parse_u64(v, &num) < 0 || num == 0 || num > 256
                                            ? -EINVAL
                                            : (c->threads = (unsigned)num, 0);
                        else if (strcmp(k, "connection_timeout") == 0)
                                r = rp_parse_u64(v, &num) < 0 || num == 0 || num > 86400
                                            ? -EINVAL
                                            : (c->conn_timeout = (unsigned)num, 0);
                        else if (strcmp(k, "log_level") == 0)
                                r = rp_log_level_from_string(v) < 0 ? -EINVAL
                                                                    : set_str(&c->log_level, v);
                        else if (strcmp(k, "tls_san") == 0)
                                r = set_sans(c, v);
                        else if (strcmp(k, "copy_time_limit") == 0)
                                r = rp_parse_u64(v, &num) < 0 || num == 0 || num > 3650 * 86400ull
                                            ? -EINVAL
                                            : (c->copy_time_limit = num, 0);
                } else if ((cur || peer) &&
                           (strcmp(k, "copy_bandwidth") == 0 || strcmp(k, "copy_max") == 0)) {
                        r = set_pair(c, cur ? cur->name : peer->name, k, v);
                } else if (peer) {
                        if (strcmp(k, "url") == 0)
                                r = strncmp(v, "https://", 8) == 0 ? set_str(&peer->url, v)
                                                                   : -EINVAL;
                        else if (strcmp(k, "ca_file") == 0)
                                r = v[0] == '/' ? set_str(&peer->ca_file, v) : -EINVAL;
                        else if (strcmp(k, "key_file") == 0)
                                r = v[0] == '/' ? set_str(&peer->key_file, v) : -EINVAL;
                } else if (cur) {
                        if (strcmp(k, "display_name") == 0)
                                r = set_str(&cur->display, v);
                } else if (hook) {
                        if (strcmp(k, "vm") == 0)
                                r = set_str(&hook->vm_id, v);
                        else if (strcmp(k, "command") == 0)
                                r = v[0] == '/' ? set_str(&hook->command, v) : -EINVAL;
                        else if (strcmp(k, "timeout") == 0)
                                r = rp_parse_u64(v, &num) < 0 || num == 0 || num > 3600
                                            ? -EINVAL
                                            : (hook->timeout_s = (unsigned)num, 0);
                }
                if (r < 0) {
                        *ret_error = rp_asprintf("%s:%d: %s '%s'", path, lineno,
                                                 r == -ENOKEY ? "unknown key" : "bad value for", k);
                        return r == -ENOKEY ? -EINVAL : r;
                }
        }
        for (size_t i = 0; i < c->n_hooks; i++)
                if (!c->hooks[i].vm_id || !c->hooks[i].command) {
                        *ret_error = rp_asprintf("%s: freeze hook '%s' needs both vm and "
                                                 "command",
                                                 path, c->hooks[i].name);
                        return -EINVAL;
                }
        if (c->n_regions == 0) {
                *ret_error = rp_asprintf("%s: no region configured", path);
                return -EINVAL;
        }
        for (size_t i = 0; i < c->n_peers; i++) {
                if (!c->peers[i].url || !c->peers[i].key_file) {
                        *ret_error = rp_asprintf("%s: peer '%s' needs url and key_file", path,
                                                 c->peers[i].name);
                        return -EINVAL;
                }
                for (size_t j = 0; j < c->n_regions; j++)
                        if (strcmp(c->regions[j].name, c->peers[i].name) == 0) {
                                *ret_error = rp_asprintf("%s: region '%s' is both hosted here "
                                                         "and a peer",
                                                         path, c->peers[i].name);
                                return -EINVAL;
                        }
        }
        return 0;
}

void rp_config_done(rp_config *c)
{
        for (size_t i = 0; i < c->n_peers; i++) {
                rp_free(c->peers[i].name);
                rp_free(c->peers[i].url);
                rp_free(c->peers[i].ca_file);
                rp_free(c->peers[i].key_file);
        }
        for (size_t i = 0; i < c->n_pairs; i++)
                rp_free(c->pairs[i].source);
        for (size_t i = 0; i < c->n_hooks; i++) {
                rp_free(c->hooks[i].name);
                rp_free(c->hooks[i].vm_id);
                rp_free(c->hooks[i].command);
        }
        rp_free(c->listen_addr);
        rp_free(c->log_level);
        for (size_t i = 0; i < c->n_sans; i++)
                rp_free(c->tls_sans[i]);
        for (size_t i = 0; i < c->n_regions; i++) {
                rp_free(c->regions[i].name);
                rp_free(c->regions[i].display);
        }
        *c = (rp_config){ 0 };
}
