/* test_daemon_config.c: rpd.conf: defaults, overrides, region sections, errors with line
 * numbers, listen addresses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/macro.h"

typedef struct fixture {
        char dir[64];
        char path[96];
        rp_config cfg;
        char *err;
} fixture;

static int setup(void **state)
{
        fixture *f = rp_calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "/tmp/rp-test-config-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/rpd.conf", f->dir);
        assert_int_equal(rp_config_default(&f->cfg), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        rp_config_done(&f->cfg);
        rp_free(f->err);
        unlink(f->path);
        rmdir(f->dir);
        rp_free(f);
        return 0;
}

/* Write @p text as the config file and load it over the defaults. */
static int load(void **state, const char *text)
{
        fixture *f = *state;
        assert_int_equal(rp_write_file_atomic(f->path, text, strlen(text), 0600), 0);
        f->err = rp_free(f->err);
        return rp_config_load(&f->cfg, f->path, &f->err);
}

static rp_config *cfg(void **state)
{
        return &((fixture *)*state)->cfg;
}

/* Expect the load to fail with @p code and an error naming line @p line (0: no line). */
static void load_fails(void **state, const char *text, int code, int line, const char *what)
{
        fixture *f = *state;
        int r = load(state, text);
        if (r != code)
                print_error("config:\n%s\ngot %d (%s), want %d\n", text, r, rp_strempty(f->err),
                            code);
        assert_int_equal(r, code);
        assert_non_null(f->err);
        if (line > 0) {
                char want[128];
                snprintf(want, sizeof want, "%s:%d: ", f->path, line);
                if (strncmp(f->err, want, strlen(want)) != 0)
                        print_error("error '%s' does not start with '%s'\n", f->err, want);
                assert_memory_equal(f->err, want, strlen(want));
        }
        if (what && !strstr(f->err, what))
                print_error("error '%s' lacks '%s'\n", f->err, what);
        if (what)
                assert_non_null(strstr(f->err, what));
}

static void test_daemon_config__defaults(void **state)
{
        rp_config *c = cfg(state);
        assert_string_equal(c->listen_addr, "127.0.0.1");
        assert_int_equal(c->port, 8443);
        assert_int_equal(c->threads, 8);
        assert_int_equal(c->conn_timeout, 120);
        assert_string_equal(c->log_level, "info");
        assert_int_equal(c->n_sans, 0);
        assert_int_equal(c->n_regions, 2);
        assert_string_equal(c->regions[0].name, "eastus");
        assert_string_equal(c->regions[0].display, "East US");
        assert_string_equal(c->regions[1].name, "westus");
        assert_string_equal(c->regions[1].display, "West US");
}

static void test_daemon_config__default_text_loads_to_defaults(void **state)
{
        const char *t = rp_config_default_text();
        assert_int_equal(load(state, t), 0);
        assert_null(((fixture *)*state)->err);
        test_daemon_config__defaults(state);
}

static void test_daemon_config__overrides(void **state)
{
        assert_int_equal(load(state, "# comment\n"
                                     "; another comment\n"
                                     "[rpd]\n"
                                     "  listen   =   0.0.0.0:9443  \n"
                                     "threads=32\r\n"
                                     "connection_timeout = 5\n"
                                     "log_level = debug\n"
                                     "tls_san = rpd.example.net, 10.0.0.1 ,localhost\n"),
                         0);
        rp_config *c = cfg(state);
        assert_string_equal(c->listen_addr, "0.0.0.0");
        assert_int_equal(c->port, 9443);
        assert_int_equal(c->threads, 32);
        assert_int_equal(c->conn_timeout, 5);
        assert_string_equal(c->log_level, "debug");
        assert_int_equal(c->n_sans, 3);
        assert_string_equal(c->tls_sans[0], "rpd.example.net");
        assert_string_equal(c->tls_sans[1], "10.0.0.1");
        assert_string_equal(c->tls_sans[2], "localhost");
        /* No region section: the default regions stay. */
        assert_int_equal(c->n_regions, 2);
}

static void test_daemon_config__later_keys_win(void **state)
{
        assert_int_equal(load(state, "[rpd]\nthreads = 2\ntls_san = a,b\n[rpd]\nthreads = 3\n"
                                     "tls_san = c\n"),
                         0);
        assert_int_equal(cfg(state)->threads, 3);
        assert_int_equal(cfg(state)->n_sans, 1);
        assert_string_equal(cfg(state)->tls_sans[0], "c");
        assert_int_equal(load(state, "[rpd]\ntls_san =\n"), 0); /* empty clears */
        assert_int_equal(cfg(state)->n_sans, 0);
}

static void test_daemon_config__regions_replace_defaults(void **state)
{
        assert_int_equal(load(state, "[region northeurope]\n"
                                     "display_name = North Europe\n"
                                     "\n"
                                     "[ region   uksouth2 ]\n"),
                         0);
        rp_config *c = cfg(state);
        assert_int_equal(c->n_regions, 2);
        assert_string_equal(c->regions[0].name, "northeurope");
        assert_string_equal(c->regions[0].display, "North Europe");
        assert_string_equal(c->regions[1].name, "uksouth2");
        assert_string_equal(c->regions[1].display, "uksouth2"); /* defaults to the name */

        /* Loading again replaces the regions again, rather than appending. */
        assert_int_equal(load(state, "[region eastus]\n"), 0);
        assert_int_equal(c->n_regions, 1);
        assert_string_equal(c->regions[0].name, "eastus");
        assert_string_equal(c->regions[0].display, "eastus");
}

static void test_daemon_config__region_limits(void **state)
{
        char text[2048] = "";
        size_t n = 0;
        for (int i = 0; i < RP_CONFIG_MAX_REGIONS; i++)
                n += (size_t)snprintf(text + n, sizeof text - n, "[region r%d]\n", i);
        assert_int_equal(load(state, text), 0);
        assert_int_equal(cfg(state)->n_regions, RP_CONFIG_MAX_REGIONS);
        snprintf(text + n, sizeof text - n, "[region toomany]\n");
        load_fails(state, text, -E2BIG, RP_CONFIG_MAX_REGIONS + 1, "toomany");
}

static void test_daemon_config__bad_region_names(void **state)
{
        load_fails(state, "[region EastUS]\n", -EINVAL, 1, "'EastUS'");
        load_fails(state, "[region east-us]\n", -EINVAL, 1, "east-us");
        load_fails(state, "[region ]\n", -EINVAL, 1, NULL);
        load_fails(state, "[region abcdefghijabcdefghijabcdefghijabc]\n", -EINVAL, 1, NULL);
        load_fails(state, "\n[region a]\n\n[region a]\n", -EEXIST, 4, "duplicate");
}

static void test_daemon_config__unknown_key_with_line_number(void **state)
{
        load_fails(state, "[rpd]\nthreads = 4\nthread = 4\n", -EINVAL, 3, "unknown key 'thread'");
        /* Blank lines and comments count: the number is the line in the file. */
        load_fails(state, "\n\n# c\n\n[rpd]\n\n\nlisten_port = 1\n", -EINVAL, 8,
                   "unknown key 'listen_port'");
        load_fails(state, "[region eastus]\nthreads = 4\n", -EINVAL, 2, "unknown key 'threads'");
        load_fails(state, "[rpd]\ndisplay_name = x\n", -EINVAL, 2, "unknown key");
        load_fails(state, "threads = 4\n", -EINVAL, 1, "unknown key"); /* before any section */
}

static void test_daemon_config__unknown_section_with_line_number(void **state)
{
        load_fails(state, "[rpd]\nthreads = 4\n\n[server]\n", -EINVAL, 4,
                   "unknown section 'server'");
        load_fails(state, "[regions eastus]\n", -EINVAL, 1, "unknown section");
        load_fails(state, "[RPD]\n", -EINVAL, 1, "unknown section 'RPD'");
        load_fails(state, "\n[rpd\n", -EINVAL, 2, "unterminated section");
        load_fails(state, "[rpd] threads = 4\n", -EINVAL, 1, "after the section header");
}

static void test_daemon_config__syntax_errors(void **state)
{
        load_fails(state, "[rpd]\nthreads 4\n", -EINVAL, 2, "expected key = value");
        load_fails(state, "[rpd]\n\n\njust words\n", -EINVAL, 4, "expected key = value");
}

static void test_daemon_config__bad_values(void **state)
{
        static const char *const bad[] = {
                "threads = 0",
                "threads = 257",
                "threads = -1",
                "threads = 8 # c",
                "threads = ",
                "threads = 0x10",
                "threads = 99999999999999999999999",
                "connection_timeout = 0",
                "connection_timeout = 86401",
                "log_level = verbose",
                "log_level = ",
                "log_level = INFO",
                "tls_san = a,,b",
                "tls_san = a, ",
                "tls_san = a,b,c,d,e,f,g,h,i",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char text[256];
                snprintf(text, sizeof text, "[rpd]\n\n%s\n", bad[i]);
                int r = load(state, text);
                fixture *f = *state;
                if (r >= 0)
                        print_error("'%s' was accepted\n", bad[i]);
                assert_true(r == -EINVAL || r == -E2BIG);
                char want[128];
                snprintf(want, sizeof want, "%s:3: ", f->path);
                assert_memory_equal(f->err, want, strlen(want));
        }
        /* The limits themselves are fine. */
        assert_int_equal(load(state, "[rpd]\nthreads = 256\nconnection_timeout = 86400\n"
                                     "tls_san = a,b,c,d,e,f,g,h\n"),
                         0);
        assert_int_equal(cfg(state)->n_sans, RP_CONFIG_MAX_SANS);
}

static void test_daemon_config__bad_listen(void **state)
{
        static const char *const bad[] = {
                "127.0.0.1",        "127.0.0.1:",    ":8443",         "127.0.0.1:65536",
                "127.0.0.1:-1",     "127.0.0.1:+80", "127.0.0.1:80x", "localhost:8443",
                "256.0.0.1:80",     "1.2.3:80",      "::1:8443",      "[::1]",
                "[::1:8443",        "::1]:8443",     "[]:8443",       "[127.0.0.1]:80",
                "[fe80::1%eth0]:1", "[::1]x:80",     " 127.0.0.1:80", "",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                rp_config *c = cfg(state);
                int r = rp_config_set_listen(c, bad[i]);
                if (r != -EINVAL)
                        print_error("listen '%s' gave %d\n", bad[i], r);
                assert_int_equal(r, -EINVAL);
                /* A rejected address leaves the old one. */
                assert_string_equal(c->listen_addr, "127.0.0.1");
                assert_int_equal(c->port, 8443);
        }
        load_fails(state, "[rpd]\n\nlisten = localhost:80\n", -EINVAL, 3, "bad value for 'listen'");
}

static void test_daemon_config__listen_forms(void **state)
{
        rp_config *c = cfg(state);
        assert_int_equal(rp_config_set_listen(c, "[::1]:9000"), 0);
        assert_string_equal(c->listen_addr, "::1");
        assert_int_equal(c->port, 9000);
        assert_int_equal(rp_config_set_listen(c, "[::]:0"), 0);
        assert_string_equal(c->listen_addr, "::");
        assert_int_equal(c->port, 0);
        assert_int_equal(rp_config_set_listen(c, "[2001:db8::10]:65535"), 0);
        assert_string_equal(c->listen_addr, "2001:db8::10");
        assert_int_equal(c->port, 65535);
        assert_int_equal(rp_config_set_listen(c, "[::ffff:10.0.0.1]:443"), 0);
        assert_string_equal(c->listen_addr, "::ffff:10.0.0.1");
        assert_int_equal(rp_config_set_listen(c, "10.1.2.3:00080"), 0);
        assert_string_equal(c->listen_addr, "10.1.2.3");
        assert_int_equal(c->port, 80);
        assert_int_equal(load(state, "[rpd]\nlisten = [::1]:8444\n"), 0);
        assert_string_equal(c->listen_addr, "::1");
        assert_int_equal(c->port, 8444);
}

static void test_daemon_config__file_errors(void **state)
{
        fixture *f = *state;
        unlink(f->path);
        int r = rp_config_load(&f->cfg, f->path, &f->err);
        assert_int_equal(r, -ENOENT);
        assert_non_null(f->err);
        assert_non_null(strstr(f->err, f->path));
        f->err = rp_free(f->err);
        /* A directory is not a config file. */
        assert_true(rp_config_load(&f->cfg, f->dir, &f->err) < 0);
        assert_non_null(f->err);
}

static void test_daemon_config__empty_file_keeps_defaults(void **state)
{
        assert_int_equal(load(state, ""), 0);
        test_daemon_config__defaults(state);
        assert_int_equal(load(state, "\n\n# nothing\n   \n"), 0);
        test_daemon_config__defaults(state);
}

static void test_daemon_config__nul_byte_is_an_error(void **state)
{
        fixture *f = *state;
        static const char text[] = "[rpd]\nthreads = 4\0\nthreads = bogus\n";
        assert_int_equal(rp_write_file_atomic(f->path, text, sizeof text - 1, 0600), 0);
        assert_int_equal(rp_config_load(&f->cfg, f->path, &f->err), -EINVAL);
        assert_non_null(strstr(f->err, "NUL"));
}

static void test_daemon_config__oom(void **state)
{
        fixture *f = *state;
        const char *text = "[rpd]\nlisten = [::1]:1\nlog_level = debug\ntls_san = a,b\n"
                           "[region one]\ndisplay_name = One\n[region two]\n";
        assert_int_equal(rp_write_file_atomic(f->path, text, strlen(text), 0600), 0);
        unsigned long n;
        for (n = 1; n < 200; n++) {
                rp_config c;
                char *err = NULL;
                assert_int_equal(rp_config_default(&c), 0);
                rp_alloc_fail_at(n);
                int r = rp_config_load(&c, f->path, &err);
                rp_alloc_fail_at(0);
                if (r == 0) {
                        assert_int_equal(c.n_regions, 2);
                        assert_string_equal(c.regions[0].display, "One");
                        assert_int_equal(c.n_sans, 2);
                        rp_config_done(&c);
                        break;
                }
                assert_int_equal(r, -ENOMEM);
                rp_free(err);
                rp_config_done(&c); /* whatever was half built is freed: ASan checks */
        }
        assert_true(n > 1 && n < 200);
        for (n = 1; n < 50; n++) {
                rp_config c;
                rp_alloc_fail_at(n);
                int r = rp_config_default(&c);
                rp_alloc_fail_at(0);
                rp_config_done(&c);
                if (r == 0)
                        break;
                assert_int_equal(r, -ENOMEM);
        }
        assert_true(n > 1 && n < 50);
}

static void test_daemon_config__done_resets(void **state)
{
        rp_config c;
        assert_int_equal(rp_config_default(&c), 0);
        rp_config_done(&c);
        assert_null(c.listen_addr);
        assert_int_equal(c.n_regions, 0);
        rp_config_done(&c); /* twice is fine */
}

static void test_daemon_config__peers_and_copy_limits(void **state)
{
        assert_int_equal(load(state, "[rpd]\ncopy_time_limit = 3600\n"
                                     "[region westus]\ncopy_bandwidth = 20\ncopy_max = 2\n"
                                     "[peer eastus]\nurl = https://10.0.0.1:8443\n"
                                     "key_file = /etc/rpd/pair.key\ncopy_bandwidth = 50\n"
                                     "[peer northeurope]\nurl = https://10.0.0.3:8443\n"
                                     "key_file = /k\nca_file = /ca.pem\n"),
                         0);
        rp_config *c = cfg(state);
        assert_int_equal(c->copy_time_limit, 3600);
        assert_int_equal(c->n_peers, 2);
        assert_string_equal(c->peers[0].name, "eastus");
        assert_string_equal(c->peers[0].url, "https://10.0.0.1:8443");
        assert_string_equal(c->peers[0].key_file, "/etc/rpd/pair.key");
        assert_null(c->peers[0].ca_file);
        assert_string_equal(c->peers[1].ca_file, "/ca.pem");
        assert_int_equal(c->n_pairs, 2);
        assert_string_equal(c->pairs[0].source, "westus");
        assert_int_equal(c->pairs[0].bytes_per_sec, 20000000);
        assert_int_equal(c->pairs[0].max_copies, 2);
        assert_string_equal(c->pairs[1].source, "eastus");
        assert_int_equal(c->pairs[1].bytes_per_sec, 50000000);
        assert_int_equal(c->pairs[1].max_copies, 0);
}

/* Back to the defaults (a failed load may have added sections). */
static void fresh(void **state)
{
        rp_config_done(cfg(state));
        assert_int_equal(rp_config_default(cfg(state)), 0);
}

static void test_daemon_config__bad_peers(void **state)
{
        fresh(state);
        load_fails(state, "[peer eastus]\nkey_file = /k\n", -EINVAL, 0, "needs url");
        fresh(state);
        load_fails(state, "[peer eastus]\nurl = https://h:1\n", -EINVAL, 0, "key_file");
        fresh(state);
        load_fails(state, "[peer eastus]\nurl = http://h:1\n", -EINVAL, 2, "url");
        fresh(state);
        load_fails(state, "[peer eastus]\nkey_file = relative\n", -EINVAL, 2, "key_file");
        fresh(state);
        load_fails(state, "[peer East]\n", -EINVAL, 1, "peer");
        fresh(state);
        load_fails(state, "[peer a]\nurl = https://h:1\nkey_file = /k\n[peer a]\n", -EINVAL, 4,
                   "duplicate");
        fresh(state);
        load_fails(state, "[region eastus]\n[peer eastus]\nurl = https://h:1\nkey_file = /k\n",
                   -EINVAL, 0, "both hosted here and a peer");
        fresh(state);
        load_fails(state, "[region eastus]\ncopy_bandwidth = fast\n", -EINVAL, 2, "copy_bandwidth");
        fresh(state);
        load_fails(state, "[rpd]\ncopy_time_limit = 0\n", -EINVAL, 2, "copy_time_limit");
        fresh(state);
        load_fails(state, "[rpd]\ncopy_max = 1\n", -EINVAL, 2, "copy_max");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_daemon_config__defaults),
                T(test_daemon_config__default_text_loads_to_defaults),
                T(test_daemon_config__overrides),
                T(test_daemon_config__later_keys_win),
                T(test_daemon_config__regions_replace_defaults),
                T(test_daemon_config__region_limits),
                T(test_daemon_config__bad_region_names),
                T(test_daemon_config__unknown_key_with_line_number),
                T(test_daemon_config__unknown_section_with_line_number),
                T(test_daemon_config__syntax_errors),
                T(test_daemon_config__bad_values),
                T(test_daemon_config__bad_listen),
                T(test_daemon_config__listen_forms),
                T(test_daemon_config__file_errors),
                T(test_daemon_config__empty_file_keeps_defaults),
                T(test_daemon_config__nul_byte_is_an_error),
                T(test_daemon_config__oom),
                T(test_daemon_config__done_resets),
                T(test_daemon_config__peers_and_copy_limits),
                T(test_daemon_config__bad_peers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
