/* test_client_settings.c: where rpctl's connection settings come from: URL checks, the
 * precedence of flags, data directory, environment and config file, the config format. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"

#define SUB_A "11111111-2222-3333-4444-555555555555"
#define SUB_B "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

static const char *const env_vars[] = { RP_CLIENT_ENV_URL,    RP_CLIENT_ENV_TOKEN,
                                        RP_CLIENT_ENV_CA,     RP_CLIENT_ENV_SUBSCRIPTION,
                                        RP_CLIENT_ENV_CONFIG, "XDG_CONFIG_HOME" };

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path) < 0 ? -1 : 0;
}

/* A private temp directory per test, removed afterwards; a clean environment. */
static int setup(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(env_vars); i++)
                unsetenv(env_vars[i]);
        const char *tmp = getenv("TMPDIR");
        char *t = rp_asprintf("%s/rp-client-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(t);
        assert_non_null(mkdtemp(t));
        *state = t;
        return 0;
}

static int teardown(void **state)
{
        nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        rp_free(*state);
        return 0;
}

static char *path_in(void **state, const char *name)
{
        char *p = rp_asprintf("%s/%s", (const char *)*state, name);
        assert_non_null(p);
        return p;
}

static void write_text(const char *path, const char *text)
{
        assert_int_equal(rp_write_file_atomic(path, text, strlen(text), 0600), 0);
}

/* ---------------------------------------------------------------- URLs */

static void expect_url(const char *in, const char *out)
{
        _cleanup_free_ char *s = NULL;
        assert_int_equal(rp_client_url_normalize(in, &s), 0);
        assert_string_equal(s, out);
}

static void expect_url_error(const char *in, int err)
{
        char *s = (char *)"untouched";
        assert_int_equal(rp_client_url_normalize(in, &s), err);
        assert_string_equal(s, "untouched");
}

static void test_client_settings__url_https_only(void **state)
{
        expect_url("https://127.0.0.1:8443", "https://127.0.0.1:8443");
        expect_url("HTTPS://Host.example:8443//", "https://Host.example:8443");
        expect_url("https://[::1]:8443/", "https://[::1]:8443");
        expect_url("https://rpd/base/", "https://rpd/base");
        expect_url_error("http://127.0.0.1:8443", -EPROTONOSUPPORT);
        expect_url_error("HTTP://127.0.0.1", -EPROTONOSUPPORT);
        expect_url_error("ftp://host", -EPROTONOSUPPORT);
        expect_url_error("127.0.0.1:8443", -EINVAL);
        expect_url_error("https://", -EINVAL);
        expect_url_error("https:///x", -EINVAL);
        expect_url_error("https://h:", -EINVAL);
        expect_url_error("https://:443", -EINVAL);
        expect_url_error("https://h:123456", -EINVAL);
        expect_url_error("https://h:80a", -EINVAL);
        expect_url_error("https://[::1", -EINVAL);
        expect_url_error("https://user@h", -EINVAL);
        expect_url_error("https://h/?a=b", -EINVAL);
        expect_url_error("https://h/#x", -EINVAL);
        expect_url_error("https://h /", -EINVAL);
        expect_url_error(NULL, -EINVAL);
}

static void expect_build(const char *base, const char *path, const char *api, const char *out)
{
        _cleanup_free_ char *s = NULL;
        assert_int_equal(rp_client_url_build(base, path, api, &s), 0);
        assert_string_equal(s, out);
}

static void test_client_settings__url_build(void **state)
{
        expect_build("https://h:1", "/subscriptions/x", "2022-09-01",
                     "https://h:1/subscriptions/x?api-version=2022-09-01");
        expect_build("https://h:1", "/a?$skiptoken=2", "v1",
                     "https://h:1/a?$skiptoken=2&api-version=v1");
        expect_build("https://h:1", "/a", NULL, "https://h:1/a");
        /* absolute URLs (LRO, nextLink) are kept, and keep their own api-version */
        expect_build("https://h:1", "https://h:1/op/1?api-version=old", "new",
                     "https://h:1/op/1?api-version=old");
        expect_build("https://h:1", "https://h:1/op/1?monitor=true&api-version=old", "new",
                     "https://h:1/op/1?monitor=true&api-version=old");
        expect_build(NULL, "https://h:2/data/x?sig=1", NULL, "https://h:2/data/x?sig=1");
        /* "xapi-version=" is another parameter */
        expect_build("https://h", "/a?xapi-version=1", "2",
                     "https://h/a?xapi-version=1&api-version=2");

        char *s = NULL;
        assert_int_equal(rp_client_url_build("https://h", "http://h/a", NULL, &s),
                         -EPROTONOSUPPORT);
        assert_int_equal(rp_client_url_build("https://h", "a/b", NULL, &s), -EINVAL);
        assert_int_equal(rp_client_url_build(NULL, "/a", NULL, &s), -EINVAL);
        assert_null(s);
}

/* ---------------------------------------------------------------- merge */

static void test_client_settings__merge_precedence(void **state)
{
        rp_client_settings flags = { .url = (char *)"https://flag:1", .subscription = (char *)"" };
        rp_client_settings env = { .url = (char *)"https://env:2",
                                   .token = (char *)"tok-env",
                                   .subscription = (char *)SUB_A };
        rp_client_settings file = { .url = (char *)"https://file:3",
                                    .ca = (char *)"/ca.pem",
                                    .token = (char *)"tok-file",
                                    .subscription = (char *)SUB_B };
        const rp_client_settings *layers[] = { &flags, NULL, &env, &file };
        _cleanup_(rp_client_settings_done) rp_client_settings out = {};
        assert_int_equal(rp_client_settings_merge(layers, ELEMENTSOF(layers), &out), 0);
        assert_string_equal(out.url, "https://flag:1");
        assert_string_equal(out.token, "tok-env");
        assert_string_equal(out.ca, "/ca.pem");
        assert_string_equal(out.subscription, SUB_A); /* the empty flag does not count */

        /* a bad URL in the winning layer fails, and leaves ret alone */
        flags.url = (char *)"http://flag:1";
        rp_client_settings untouched = { .url = (char *)"x" };
        assert_int_equal(rp_client_settings_merge(layers, ELEMENTSOF(layers), &untouched),
                         -EPROTONOSUPPORT);
        assert_string_equal(untouched.url, "x");

        /* nothing anywhere: all NULL */
        const rp_client_settings *none[] = { NULL };
        _cleanup_(rp_client_settings_done) rp_client_settings empty = {};
        assert_int_equal(rp_client_settings_merge(none, 1, &empty), 0);
        assert_null(empty.url);
        assert_null(empty.token);
}

/* ---------------------------------------------------------------- config file */

static void test_client_settings__config_parse(void **state)
{
        _cleanup_(rp_client_settings_done) rp_client_settings s = {};
        assert_int_equal(rp_client_config_parse("# comment\n"
                                                "; another\n"
                                                "url = https://a:1\n"
                                                "\n"
                                                "[default]\r\n"
                                                "  token=abc.def.ghi  \n"
                                                "color = blue\n"
                                                "[other]\n"
                                                "ca = /ignored\n"
                                                "[ Default ]\n"
                                                "SUBSCRIPTION = " SUB_A "\n"
                                                "url = https://b:2\n",
                                                &s),
                         0);
        assert_string_equal(s.url, "https://b:2");
        assert_string_equal(s.token, "abc.def.ghi");
        assert_string_equal(s.subscription, SUB_A);
        assert_null(s.ca);

        rp_client_settings bad = {};
        assert_int_equal(rp_client_config_parse("url https://x\n", &bad), -EBADMSG);
        assert_int_equal(rp_client_config_parse("[default\n", &bad), -EBADMSG);
        assert_int_equal(rp_client_config_parse("[]\n", &bad), -EBADMSG);
        assert_null(bad.url);

        _cleanup_(rp_client_settings_done) rp_client_settings empty = {};
        assert_int_equal(rp_client_config_parse("", &empty), 0);
        assert_null(empty.url);
}

static void test_client_settings__config_round_trip(void **state)
{
        rp_client_settings in = { .url = (char *)"https://h:9",
                                  .ca = (char *)"/d/tls/ca.pem",
                                  .token = (char *)"a.b.c",
                                  .subscription = (char *)SUB_B };
        _cleanup_free_ char *path = path_in(state, "sub/dir/config");
        assert_int_equal(rp_client_config_save(path, &in), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        _cleanup_(rp_client_settings_done) rp_client_settings out = {};
        assert_int_equal(rp_client_config_load(path, &out), 0);
        assert_string_equal(out.url, in.url);
        assert_string_equal(out.ca, in.ca);
        assert_string_equal(out.token, in.token);
        assert_string_equal(out.subscription, in.subscription);

        /* a value that would break the format is refused */
        rp_client_settings nl = { .token = (char *)"a\nurl = https://evil" };
        char *text = NULL;
        assert_int_equal(rp_client_config_format(&nl, &text), -EINVAL);
        assert_null(text);

        /* a missing file is an empty config */
        _cleanup_free_ char *missing = path_in(state, "missing");
        _cleanup_(rp_client_settings_done) rp_client_settings none = {};
        assert_int_equal(rp_client_config_load(missing, &none), 0);
        assert_null(none.url);
}

static void test_client_settings__config_path(void **state)
{
        _cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL;
        setenv("HOME", "/home/u", 1);
        assert_int_equal(rp_client_config_path(&p1), 0);
        assert_string_equal(p1, "/home/u/.config/rpctl/config");
        setenv("XDG_CONFIG_HOME", "/xdg", 1);
        assert_int_equal(rp_client_config_path(&p2), 0);
        assert_string_equal(p2, "/xdg/rpctl/config");
        setenv(RP_CLIENT_ENV_CONFIG, "/etc/rpctl.conf", 1);
        assert_int_equal(rp_client_config_path(&p3), 0);
        assert_string_equal(p3, "/etc/rpctl.conf");
}

/* ---------------------------------------------------------------- data dir, resolve */

static char *make_data_dir(void **state)
{
        char *dir = path_in(state, "data");
        _cleanup_free_ char *url = rp_asprintf("%s/rpd.url", dir);
        _cleanup_free_ char *tls = rp_asprintf("%s/tls", dir);
        _cleanup_free_ char *ca = rp_asprintf("%s/tls/ca.pem", dir);
        assert_int_equal(rp_mkdir_p(tls, 0700), 0);
        write_text(url, "https://127.0.0.1:4443\n");
        write_text(ca, "not really a certificate\n");
        return dir;
}

static void test_client_settings__data_dir(void **state)
{
        _cleanup_free_ char *dir = make_data_dir(state);
        _cleanup_(rp_client_settings_done) rp_client_settings s = {};
        _cleanup_free_ char *msg = NULL, *sub = NULL;
        assert_int_equal(rp_client_settings_from_data_dir(dir, SUB_A, 60, &s, &msg), 0);
        assert_string_equal(s.url, "https://127.0.0.1:4443");
        assert_non_null(strstr(s.ca, "/data/tls/ca.pem"));
        assert_true(s.ca[0] == '/');
        assert_string_equal(s.subscription, SUB_A);
        assert_int_equal(rp_client_token_subscription(s.token, &sub), 0);
        assert_string_equal(sub, SUB_A);

        rp_client_settings bad = {};
        _cleanup_free_ char *msg2 = NULL, *msg3 = NULL, *nodir = path_in(state, "nope");
        assert_int_equal(rp_client_settings_from_data_dir(dir, "not-a-guid", 60, &bad, &msg2),
                         -EINVAL);
        assert_non_null(msg2);
        assert_int_equal(rp_client_settings_from_data_dir(nodir, NULL, 60, &bad, &msg3), -ENOENT);
        assert_non_null(strstr(msg3, "rpd.url"));
        assert_null(bad.url);
}

static void test_client_settings__token_subscription(void **state)
{
        char *s = NULL;
        assert_int_equal(rp_client_token_subscription("garbage", &s), -EBADMSG);
        assert_int_equal(rp_client_token_subscription("a.b.c", &s), -EBADMSG);
        assert_int_equal(rp_client_token_subscription(NULL, &s), -EBADMSG);
        /* {"xms_rpd_subs":["s1","s2"]} */
        assert_int_equal(
                rp_client_token_subscription("e30.eyJ4bXNfcnBkX3N1YnMiOlsiczEiLCJzMiJdfQ.x", &s),
                0);
        assert_string_equal(s, "s1");
        rp_free(s);
}

static void test_client_settings__resolve_precedence(void **state)
{
        _cleanup_free_ char *config = path_in(state, "config");
        _cleanup_free_ char *dir = make_data_dir(state);
        write_text(config, "url = https://file:3\nca = /file-ca\ntoken = tok-file\n"
                           "subscription = " SUB_B "\n");

        /* the config file alone */
        _cleanup_(rp_client_settings_done) rp_client_settings a = {};
        _cleanup_free_ char *msg = NULL;
        rp_client_settings noflags = {};
        assert_int_equal(rp_client_settings_resolve(&noflags, NULL, config, &a, &msg), 0);
        assert_string_equal(a.url, "https://file:3");
        assert_string_equal(a.token, "tok-file");
        assert_string_equal(a.subscription, SUB_B);

        /* the environment beats the file */
        setenv(RP_CLIENT_ENV_URL, "https://env:2", 1);
        setenv(RP_CLIENT_ENV_TOKEN, "tok-env", 1);
        _cleanup_(rp_client_settings_done) rp_client_settings b = {};
        assert_int_equal(rp_client_settings_resolve(&noflags, NULL, config, &b, &msg), 0);
        assert_string_equal(b.url, "https://env:2");
        assert_string_equal(b.token, "tok-env");
        assert_string_equal(b.ca, "/file-ca");

        /* --data beats the environment, and its token grants the chosen subscription */
        setenv(RP_CLIENT_ENV_SUBSCRIPTION, SUB_A, 1);
        _cleanup_(rp_client_settings_done) rp_client_settings c = {};
        assert_int_equal(rp_client_settings_resolve(&noflags, dir, config, &c, &msg), 0);
        assert_string_equal(c.url, "https://127.0.0.1:4443");
        assert_string_equal(c.subscription, SUB_A);
        _cleanup_free_ char *tsub = NULL;
        assert_int_equal(rp_client_token_subscription(c.token, &tsub), 0);
        assert_string_equal(tsub, SUB_A);

        /* explicit flags beat everything */
        rp_client_settings flags = { .url = (char *)"https://flag:1",
                                     .token = (char *)"tok-flag",
                                     .subscription = (char *)SUB_B };
        _cleanup_(rp_client_settings_done) rp_client_settings d = {};
        assert_int_equal(rp_client_settings_resolve(&flags, dir, config, &d, &msg), 0);
        assert_string_equal(d.url, "https://flag:1");
        assert_string_equal(d.token, "tok-flag");
        assert_string_equal(d.subscription, SUB_B);
}

static void test_client_settings__resolve_errors(void **state)
{
        _cleanup_free_ char *config = path_in(state, "config");
        rp_client_settings noflags = {}, out = {};
        char *msg = NULL;

        /* nothing at all */
        assert_int_equal(rp_client_settings_resolve(&noflags, NULL, config, &out, &msg),
                         -EDESTADDRREQ);
        assert_non_null(strstr(msg, "rpctl login"));
        msg = rp_free(msg);

        /* a URL but no token */
        setenv(RP_CLIENT_ENV_URL, "https://env:2", 1);
        assert_int_equal(rp_client_settings_resolve(&noflags, NULL, config, &out, &msg), -ENOKEY);
        msg = rp_free(msg);

        /* plain http is refused wherever it comes from */
        setenv(RP_CLIENT_ENV_URL, "http://env:2", 1);
        setenv(RP_CLIENT_ENV_TOKEN, "t", 1);
        assert_int_equal(rp_client_settings_resolve(&noflags, NULL, config, &out, &msg),
                         -EPROTONOSUPPORT);
        assert_non_null(strstr(msg, "https"));
        msg = rp_free(msg);

        /* a broken config file is reported */
        unsetenv(RP_CLIENT_ENV_URL);
        write_text(config, "this is not ini\n");
        assert_int_equal(rp_client_settings_resolve(&noflags, NULL, config, &out, &msg), -EBADMSG);
        assert_non_null(strstr(msg, config));
        msg = rp_free(msg);
        assert_null(out.url);

        /* the subscription falls back to the token's */
        write_text(config, "url = https://f\n");
        setenv(RP_CLIENT_ENV_TOKEN, "e30.eyJ4bXNfcnBkX3N1YnMiOlsiczEiLCJzMiJdfQ.x", 1);
        assert_int_equal(rp_client_settings_resolve(&noflags, NULL, config, &out, &msg), 0);
        assert_string_equal(out.subscription, "s1");
        rp_client_settings_done(&out);
}

int main(void)
{
        rp_json_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_client_settings__url_https_only, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__url_build, setup, teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__merge_precedence, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__config_parse, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__config_round_trip, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__config_path, setup, teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__data_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__token_subscription, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__resolve_precedence, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_client_settings__resolve_errors, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
