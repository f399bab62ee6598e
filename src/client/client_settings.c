/* client_settings.c: where rpctl's connection settings come from.
 *
 * DESIGN: every source (flags, a data directory, the environment, the config file) is turned
 * into the same rp_client_settings value, and rp_client_settings_merge() picks each field from
 * the first source that has it. So the precedence is one list in rp_client_settings_resolve()
 * and the pure parts (URL checks, merge, config format, token claims) are unit-testable. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/token.h"
#include "client.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"

/* The longest URL we accept from any source. */
#define MAX_URL_LEN 4096u

void rp_client_settings_done(rp_client_settings *s)
{
        rp_free(s->url);
        rp_free(s->ca);
        rp_free(s->token);
        rp_free(s->subscription);
        *s = (rp_client_settings){};
}

/* ---------------------------------------------------------------- URLs */

static bool has_prefix_ci(const char *s, const char *prefix)
{
        return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* host[:port] or [v6]:port, with a port of 1 to 5 digits when present. */
static bool authority_ok(const char *a, size_t n)
{
        const char *port = NULL;
        if (n > 0 && a[0] == '[') {
                const char *close = memchr(a, ']', n);
                if (!close || close == a + 1)
                        return false;
                if (close + 1 < a + n) {
                        if (close[1] != ':')
                                return false;
                        port = close + 2;
                }
        } else {
                const char *colon = memchr(a, ':', n);
                if (colon == a)
                        return false;
                if (colon)
                        port = colon + 1;
        }
        if (n == 0)
                return false;
        if (!port)
                return true;
        size_t plen = (size_t)(a + n - port);
        if (plen == 0 || plen > 5)
                return false;
        for (size_t i = 0; i < plen; i++)
                if (!isdigit((unsigned char)port[i]))
                        return false;
        return true;
}

int rp_client_url_normalize(const char *url, char **ret)
{
        if (!url)
                return -EINVAL;
        if (has_prefix_ci(url, "http://"))
                return -EPROTONOSUPPORT;
        if (!has_prefix_ci(url, "https://"))
                return strstr(url, "://") ? -EPROTONOSUPPORT : -EINVAL;
        size_t n = strlen(url);
        if (n > MAX_URL_LEN)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)url[i];
                if (ch <= ' ' || ch >= 0x7f || ch == '?' || ch == '#' || ch == '@')
                        return -EINVAL;
        }
        while (n > 8 && url[n - 1] == '/')
                n--;
        const char *host = url + 8;
        if (!authority_ok(host, strcspn(host, "/")))
                return -EINVAL;
        char *s = rp_strndup(url, n);
        if (!s)
                return -ENOMEM;
        memcpy(s, "https://", 8); /* lower-case scheme */
        *ret = s;
        return 0;
}

int rp_client_url_build(const char *base, const char *path, const char *api_version, char **ret)
{
        if (!path)
                return -EINVAL;
        _cleanup_free_ char *url = NULL;
        if (has_prefix_ci(path, "http://"))
                return -EPROTONOSUPPORT;
        if (has_prefix_ci(path, "https://"))
                url = rp_strdup(path);
        else if (path[0] == '/' && base)
                url = rp_asprintf("%s%s", base, path);
        else
                return -EINVAL;
        if (!url)
                return -ENOMEM;
        if (api_version) {
                const char *q = strchr(url, '?');
                bool present = q && (strstr(q, "?api-version=") || strstr(q, "&api-version="));
                if (!present) {
                        char *u =
                                rp_asprintf("%s%capi-version=%s", url, q ? '&' : '?', api_version);
                        if (!u)
                                return -ENOMEM;
                        rp_free(url);
                        url = u;
                }
        }
        *ret = TAKE_PTR(url);
        return 0;
}

/* ---------------------------------------------------------------- merge */

static const char *first_set(const rp_client_settings *const *layers, size_t n, size_t field)
{
        for (size_t i = 0; i < n; i++) {
                if (!layers[i])
                        continue;
                const char *v = *(char *const *)((const char *)layers[i] + field);
                if (v && *v)
                        return v;
        }
        return NULL;
}

int rp_client_settings_merge(const rp_client_settings *const *layers, size_t n_layers,
                             rp_client_settings *ret)
{
        _cleanup_(rp_client_settings_done) rp_client_settings s = {};
        const char *url = first_set(layers, n_layers, offsetof(rp_client_settings, url));
        const char *ca = first_set(layers, n_layers, offsetof(rp_client_settings, ca));
        const char *tok = first_set(layers, n_layers, offsetof(rp_client_settings, token));
        const char *sub = first_set(layers, n_layers, offsetof(rp_client_settings, subscription));
        if (url) {
                int k = rp_client_url_normalize(url, &s.url);
                if (k < 0)
                        return k;
        }
        if ((ca && !(s.ca = rp_strdup(ca))) || (tok && !(s.token = rp_strdup(tok))) ||
            (sub && !(s.subscription = rp_strdup(sub))))
                return -ENOMEM;
        *ret = s;
        s = (rp_client_settings){};
        return 0;
}

/* ---------------------------------------------------------------- config file */

static char *strip(char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n > 0 && strchr(" \t\r\n", s[n - 1]))
                s[--n] = '\0';
        return s;
}

static int set_field(char **field, const char *value)
{
        char *v = rp_strdup(value);
        if (!v)
                return -ENOMEM;
        rp_free(*field);
        *field = v;
        return 0;
}

int rp_client_config_parse(const char *text, rp_client_settings *ret)
{
        _cleanup_(rp_client_settings_done) rp_client_settings s = {};
        _cleanup_free_ char *copy = rp_strdup(text ? text : "");
        if (!copy)
                return -ENOMEM;
        bool in_default = true;
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *l = strip(line);
                if (*l == '\0' || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        size_t n = strlen(l);
                        if (n < 3 || l[n - 1] != ']')
                                return -EBADMSG;
                        l[n - 1] = '\0';
                        in_default = strcasecmp(strip(l + 1), "default") == 0;
                        continue;
                }
                char *eq = strchr(l, '=');
                if (!eq)
                        return -EBADMSG;
                *eq = '\0';
                const char *key = strip(l);
                const char *value = strip(eq + 1);
                if (!in_default)
                        continue;
                char **field = strcasecmp(key, "url") == 0            ? &s.url
                               : strcasecmp(key, "ca") == 0           ? &s.ca
                               : strcasecmp(key, "token") == 0        ? &s.token
                               : strcasecmp(key, "subscription") == 0 ? &s.subscription
                                                                      : NULL;
                if (field && set_field(field, value) < 0)
                        return -ENOMEM;
        }
        *ret = s;
        s = (rp_client_settings){};
        return 0;
}

int rp_client_config_format(const rp_client_settings *s, char **ret)
{
        const struct {
                const char *key, *value;
        } kv[] = {
                { "url", s->url },
                { "ca", s->ca },
                { "subscription", s->subscription },
                { "token", s->token },
        };
        rp_buf b;
        rp_buf_init(&b, RP_MAX_SMALL_FILE);
        int k = rp_buf_puts(&b, "# rpctl configuration, written by 'rpctl login'.\n[default]\n");
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(kv); i++) {
                if (!kv[i].value)
                        continue;
                if (strpbrk(kv[i].value, "\r\n")) {
                        rp_buf_done(&b);
                        return -EINVAL;
                }
                k = rp_buf_printf(&b, "%s = %s\n", kv[i].key, kv[i].value);
        }
        if (k < 0) {
                rp_buf_done(&b);
                return k == -E2BIG ? -EINVAL : k;
        }
        *ret = rp_buf_detach(&b);
        return *ret ? 0 : -ENOMEM;
}

int rp_client_config_path(char **ret)
{
        const char *p = getenv(RP_CLIENT_ENV_CONFIG);
        char *s;
        if (p && *p)
                s = rp_strdup(p);
        else if ((p = getenv("XDG_CONFIG_HOME")) && *p == '/')
                s = rp_asprintf("%s/rpctl/config", p);
        else if ((p = getenv("HOME")) && *p)
                s = rp_asprintf("%s/.config/rpctl/config", p);
        else
                return -ENOENT;
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int rp_client_config_load(const char *path, rp_client_settings *ret)
{
        _cleanup_free_ char *text = NULL;
        long n = rp_read_file(path, RP_MAX_SMALL_FILE, &text);
        if (n == -ENOENT) {
                *ret = (rp_client_settings){};
                return 0;
        }
        if (n < 0)
                return (int)n;
        return rp_client_config_parse(text, ret);
}

int rp_client_config_save(const char *path, const rp_client_settings *s)
{
        _cleanup_free_ char *text = NULL;
        int k = rp_client_config_format(s, &text);
        if (k < 0)
                return k;
        _cleanup_free_ char *dir = rp_strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                k = rp_mkdir_p(dir, 0700);
                if (k < 0)
                        return k;
        }
        return rp_write_file_atomic(path, text, strlen(text), 0600);
}

/* ---------------------------------------------------------------- data directory, tokens */

int rp_client_settings_from_data_dir(const char *dir, const char *subscription,
                                     uint64_t lifetime_sec, rp_client_settings *ret,
                                     char **reterr_msg)
{
        _cleanup_(rp_client_settings_done) rp_client_settings s = {};
        _cleanup_free_ char *url_path = rp_asprintf("%s/rpd.url", dir);
        _cleanup_free_ char *ca_path = rp_asprintf("%s/tls/ca.pem", dir);
        _cleanup_free_ char *auth = rp_asprintf("%s/auth", dir);
        _cleanup_free_ char *text = NULL;
        if (!url_path || !ca_path || !auth)
                return -ENOMEM;
        long n = rp_read_file(url_path, MAX_URL_LEN, &text);
        if (n < 0) {
                *reterr_msg = rp_asprintf("cannot read '%s' (is rpd running with --data %s?): %s",
                                          url_path, dir, strerror((int)-n));
                return (int)n;
        }
        s.url = rp_strdup(strip(text));
        char real[PATH_MAX];
        s.ca = rp_strdup(realpath(ca_path, real) ? real : ca_path);
        s.subscription = rp_strdup(subscription ? subscription : RP_CLIENT_DEFAULT_SUBSCRIPTION);
        if (!s.url || !s.ca || !s.subscription)
                return -ENOMEM;
        rp_token_key *key = NULL;
        int k = rp_token_key_load_or_create(auth, &key);
        if (k < 0) {
                *reterr_msg = rp_asprintf("cannot load the token signing key in '%s': %s", auth,
                                          strerror(-k));
                return k;
        }
        const char *subs[] = { s.subscription };
        k = rp_token_issue(key, subs, 1, lifetime_sec, &s.token);
        rp_token_key_free(key);
        if (k == -EINVAL) {
                *reterr_msg = rp_asprintf("the subscription id '%s' is not a GUID", s.subscription);
                return k;
        }
        if (k < 0) {
                *reterr_msg = rp_asprintf("cannot issue a token: %s", strerror(-k));
                return k;
        }
        *ret = s;
        s = (rp_client_settings){};
        return 0;
}

int rp_client_token_subscription(const char *jwt, char **ret)
{
        if (!jwt)
                return -EBADMSG;
        const char *a = strchr(jwt, '.');
        const char *b = a ? strchr(a + 1, '.') : NULL;
        if (!b || strlen(jwt) > RP_MAX_TOKEN_LEN)
                return -EBADMSG;
        _cleanup_free_ uint8_t *raw = NULL;
        long n = rp_base64url_decode(a + 1, (size_t)(b - a - 1), &raw);
        if (n == -ENOMEM)
                return -ENOMEM;
        if (n < 0)
                return -EBADMSG;
        _cleanup_free_ char *err = NULL;
        _cleanup_json_ json_t *payload = rp_json_loads_object((const char *)raw, (size_t)n, &err);
        if (!payload)
                return -EBADMSG;
        const char *sub =
                json_string_value(json_array_get(json_object_get(payload, "xms_rpd_subs"), 0));
        if (!sub)
                return -EBADMSG;
        char *s = rp_strdup(sub);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---------------------------------------------------------------- resolve */

static int env_layer(rp_client_settings *s)
{
        const struct {
                const char *name;
                char **field;
        } vars[] = {
                { RP_CLIENT_ENV_URL, &s->url },
                { RP_CLIENT_ENV_CA, &s->ca },
                { RP_CLIENT_ENV_TOKEN, &s->token },
                { RP_CLIENT_ENV_SUBSCRIPTION, &s->subscription },
        };
        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                const char *v = getenv(vars[i].name);
                if (v && *v && set_field(vars[i].field, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static const char *url_error(int k)
{
        return k == -EPROTONOSUPPORT ? "only https:// URLs are accepted"
                                     : "the URL must look like https://host:port";
}

int rp_client_settings_resolve(const rp_client_settings *flags, const char *data_dir,
                               const char *config_path, rp_client_settings *ret, char **reterr_msg)
{
        _cleanup_(rp_client_settings_done) rp_client_settings env = {}, file = {}, data = {},
                                                              out = {};
        _cleanup_free_ char *default_path = NULL;
        int k = env_layer(&env);
        if (k < 0)
                return k;
        if (!config_path) {
                k = rp_client_config_path(&default_path);
                if (k == -ENOMEM)
                        return k;
                config_path = default_path;
        }
        if (config_path) {
                k = rp_client_config_load(config_path, &file);
                if (k < 0) {
                        *reterr_msg =
                                rp_asprintf("cannot read the config file '%s': %s", config_path,
                                            k == -EBADMSG ? "syntax error" : strerror(-k));
                        return k;
                }
        }
        if (data_dir) {
                /* The token must grant the subscription the command will use. */
                const rp_client_settings *sl[] = { flags, &env, &file };
                const char *sub =
                        first_set(sl, ELEMENTSOF(sl), offsetof(rp_client_settings, subscription));
                k = rp_client_settings_from_data_dir(data_dir, sub, RP_CLIENT_TOKEN_LIFETIME_SEC,
                                                     &data, reterr_msg);
                if (k < 0)
                        return k;
        }
        const rp_client_settings *layers[] = { flags, &data, &env, &file };
        k = rp_client_settings_merge(layers, ELEMENTSOF(layers), &out);
        if (k < 0) {
                const char *url =
                        first_set(layers, ELEMENTSOF(layers), offsetof(rp_client_settings, url));
                *reterr_msg = rp_asprintf("bad URL '%s': %s", rp_strempty(url), url_error(k));
                return k;
        }
        if (!out.url) {
                *reterr_msg =
                        rp_strdup("no rpd URL: pass --url or --data DIR, set " RP_CLIENT_ENV_URL
                                  ", or run 'rpctl login --data DIR'");
                return -EDESTADDRREQ;
        }
        if (!out.token) {
                *reterr_msg =
                        rp_strdup("no token: pass --token or --data DIR, set " RP_CLIENT_ENV_TOKEN
                                  ", or run 'rpctl login --data DIR'");
                return -ENOKEY;
        }
        if (!out.subscription) {
                k = rp_client_token_subscription(out.token, &out.subscription);
                if (k == -ENOMEM)
                        return k;
        }
        *ret = out;
        out = (rp_client_settings){};
        return 0;
}
