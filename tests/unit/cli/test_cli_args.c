/* test_cli_args.c: rpctl's table-driven argument parser (kinds, aliases, required arguments,
 * wait conditions, usage errors), the table and tsv output, the resume hint after Ctrl-C and
 * the parse of a copy's progress message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/macro.h"

typedef struct test_args {
        const char *group, *name, *mode;
        json_t *list, *tags;
        uint64_t size;
        bool size_given, flag;
        int set;
} test_args;

static const char *const modes[] = { "CrashConsistent", "ApplicationConsistent", NULL };

#define OFF(f) offsetof(test_args, f)
static const rp_cli_arg table[] = {
        RP_CLI_ARG("resource-group", 'g', RP_CLI_ARG_STRING, OFF(group)),
        RP_CLI_ARG("name", 'n', RP_CLI_ARG_STRING, OFF(name), .alias = "other-name",
                   .alias_short = 'N'),
        RP_CLI_ARG("mode", 0, RP_CLI_ARG_CHOICE, OFF(mode), .choices = modes),
        RP_CLI_ARG("disks", 0, RP_CLI_ARG_LIST, OFF(list)),
        RP_CLI_ARG("tags", 0, RP_CLI_ARG_TAGS, OFF(tags)),
        RP_CLI_ARG("size", 0, RP_CLI_ARG_U64, OFF(size), .min = 1, .max = 10,
                   .given = OFF(size_given)),
        RP_CLI_ARG("flag", 0, RP_CLI_ARG_FLAG, OFF(flag)),
        RP_CLI_ARG("yes", 'y', RP_CLI_ARG_IGNORE, 0),
        {},
};

/* Parse a NULL-terminated argv (argv[0] is the verb) into @p a. */
static int parse_v(rp_cli *cli, test_args *a, const char *spec, const char **args)
{
        char *argv[32];
        int argc = 0;
        for (; args[argc]; argc++)
                argv[argc] = (char *)args[argc];
        argv[argc] = NULL;
        return rp_cli_parse_args(cli, argc, argv, table, spec, a);
}
#define PARSE(cli, a, spec, ...)                                                                   \
        parse_v(cli, a, spec, (const char *[]){ "verb", __VA_ARGS__, NULL })

static void done(rp_cli *cli, test_args *a)
{
        rp_cli_args_done(table, a);
        rp_cli_done(cli);
}

static void test_cli_args__kinds_and_aliases(void **state)
{
        rp_cli cli = { .prog = "rpctl test" };
        test_args a = {};
        assert_int_equal(PARSE(&cli, &a, "resource-group! name! mode disks tags size flag yes",
                               "-g", "rg1", "--other-name", "n1", "--mode", "crashconsistent",
                               "--disks", "d1", "d2", "--tags", "a=1", "b", "--size", "7", "--flag",
                               "-y", "-o", "tsv", "--subscription", "s1"),
                         0);
        assert_string_equal(a.group, "rg1");
        assert_string_equal(a.name, "n1");
        assert_string_equal(a.mode, "CrashConsistent"); /* the table's spelling */
        assert_int_equal(json_array_size(a.list), 2);
        assert_string_equal(json_string_value(json_array_get(a.list, 1)), "d2");
        assert_string_equal(json_string_value(json_object_get(a.tags, "a")), "1");
        assert_string_equal(json_string_value(json_object_get(a.tags, "b")), "");
        assert_true(a.size == 7 && a.size_given && a.flag);
        assert_int_equal(cli.output, RP_CLI_OUTPUT_TSV);
        assert_string_equal(cli.flags.subscription, "s1");
        done(&cli, &a);

        /* the short alias, and a tags value of "" alone: no tags */
        cli = (rp_cli){ .prog = "rpctl test" };
        a = (test_args){};
        assert_int_equal(PARSE(&cli, &a, "name tags", "-N", "x", "--tags", ""), 0);
        assert_string_equal(a.name, "x");
        assert_int_equal(json_object_size(a.tags), 0);
        done(&cli, &a);
}

static void test_cli_args__usage_errors_exit_2(void **state)
{
        rp_cli cli = { .prog = "rpctl test" };
        test_args a = {};
        /* an argument the verb does not take (it is in the table, not in the spec) */
        assert_int_equal(PARSE(&cli, &a, "name", "--flag"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "name", "--nope"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "name", "-n"), RP_CLI_EXIT_USAGE); /* no value */
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "name", "stray"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "mode", "--mode", "Sloppy"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "size", "--size", "0"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "size", "--size", "11"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "size", "--size", "1x"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "tags", "--tags", "=v"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "name", "-o", "yaml"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        /* required arguments */
        assert_int_equal(PARSE(&cli, &a, "resource-group! name!", "-o", "json"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        assert_int_equal(PARSE(&cli, &a, "resource-group! name!", "-g", "x"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
}

static void test_cli_args__wait_conditions(void **state)
{
        rp_cli cli = { .prog = "rpctl test" };
        test_args a = {};
        assert_int_equal(PARSE(&cli, &a, "name!" RP_CLI_WAIT_SPEC, "-n", "x"), RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        cli = (rp_cli){ .prog = "rpctl test" };
        assert_int_equal(
                PARSE(&cli, &a, "name!" RP_CLI_WAIT_SPEC, "-n", "x", "--deleted", "--timeout", "5"),
                0);
        assert_int_equal(cli.wait.cond, RP_CLI_WAIT_DELETED);
        assert_true(cli.wait.timeout_sec == 5 && cli.wait.interval_sec == 2);
        done(&cli, &a);
        /* --replicated only where the spec names it */
        cli = (rp_cli){ .prog = "rpctl test" };
        assert_int_equal(PARSE(&cli, &a, "name!" RP_CLI_WAIT_SPEC, "-n", "x", "--replicated"),
                         RP_CLI_EXIT_USAGE);
        done(&cli, &a);
        cli = (rp_cli){ .prog = "rpctl test" };
        assert_int_equal(
                PARSE(&cli, &a, "name! replicated" RP_CLI_WAIT_SPEC, "-n", "x", "--replicated"), 0);
        assert_int_equal(cli.wait.cond, RP_CLI_WAIT_REPLICATED);
        done(&cli, &a);
}

/* Run @p fn with stdout going to a temp file; return what it printed (to rp_free). */
static char *capture_stdout(void (*fn)(void *), void *ud)
{
        char path[] = "/tmp/rp-cli-test-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);
        assert_true(fd >= 0);
        fflush(stdout);
        int saved = dup(STDOUT_FILENO);
        assert_true(saved >= 0 && dup2(fd, STDOUT_FILENO) >= 0);
        fn(ud);
        fflush(stdout);
        assert_true(dup2(saved, STDOUT_FILENO) >= 0);
        close(saved);
        close(fd);
        char *out = NULL;
        assert_true(rp_read_file(path, 1 << 20, &out) >= 0);
        unlink(path);
        return out;
}

static void test_cli_args__help_prints_and_returns_minus_1(void **state)
{
        rp_cli cli = { .prog = "rpctl test", .help = "Usage: rpctl test\n" };
        test_args a = {};
        assert_int_equal(PARSE(&cli, &a, "name!", "--help"), -1); /* before the check */
        done(&cli, &a);
}

struct print_case {
        rp_cli *cli;
        json_t *v;
};

static void print_it(void *ud)
{
        static const rp_cli_column cols[] = {
                { "Name", "name" },
                { "ResourceGroup", "@resourceGroup" },
                { "State", "properties.state" },
                { "Size", "properties.size" },
                {},
        };
        struct print_case *c = ud;
        rp_cli_print(c->cli, c->v, cols);
}

static void test_cli_args__table_and_tsv(void **state)
{
        json_t *v = json_pack("[{s:s, s:s, s:{s:s, s:i}}, {s:s, s:s, s:{s:s}}]", "name", "a", "id",
                              "/subscriptions/s/resourceGroups/rg1/providers/x/y/a", "properties",
                              "state", "Succeeded", "size", 12, "name", "long-name", "id",
                              "/subscriptions/s/resourceGroups/RG2/providers/x/y/b", "properties",
                              "state", "with\ttab");
        rp_cli cli = { .output = RP_CLI_OUTPUT_TSV };
        struct print_case c = { &cli, v };
        _cleanup_free_ char *tsv = capture_stdout(print_it, &c);
        assert_string_equal(tsv, "a\trg1\tSucceeded\t12\nlong-name\tRG2\twith tab\t\n");
        cli.output = RP_CLI_OUTPUT_TABLE;
        _cleanup_free_ char *tab = capture_stdout(print_it, &c);
        assert_string_equal(tab, "Name       ResourceGroup  State      Size\n"
                                 "---------  -------------  ---------  ----\n"
                                 "a          rg1            Succeeded  12\n"
                                 "long-name  RG2            with tab   \n");
        /* --query: the field of every item, a line each; json keeps the JSON form */
        cli.query = "properties.state";
        cli.output = RP_CLI_OUTPUT_TSV;
        _cleanup_free_ char *q = capture_stdout(print_it, &c);
        assert_string_equal(q, "Succeeded\nwith tab\n");
        cli.output = RP_CLI_OUTPUT_JSON;
        c.v = json_array_get(v, 0);
        _cleanup_free_ char *qj = capture_stdout(print_it, &c);
        assert_string_equal(qj, "\"Succeeded\"\n");
        cli.query = "properties";
        cli.output = RP_CLI_OUTPUT_TSV;
        _cleanup_free_ char *qo = capture_stdout(print_it, &c); /* an object: its fields */
        assert_string_equal(qo, "Succeeded\t12\n");
        cli.query = NULL;
        c.v = v;
        cli.output = RP_CLI_OUTPUT_NONE;
        _cleanup_free_ char *none = capture_stdout(print_it, &c);
        assert_string_equal(none, "");
        json_decref(v);
}

static void test_cli_args__resume_hint_quotes_and_keeps_connection_flags(void **state)
{
        rp_cli cli = { .data = "/var/lib/rpd", .flags = { .token = rp_strdup("secret") } };
        rp_cli_set_resume(&cli, (const char *[]){ "rpctl", "disk", "wait", "-g", "rg(1)", "-n",
                                                  "it's", "--created", NULL });
        assert_string_equal(cli.resume, "rpctl disk wait -g 'rg(1)' -n 'it'\\''s' --created "
                                        "--data /var/lib/rpd --token TOKEN");
        rp_cli_done(&cli);
        assert_null(cli.resume);
}

static void test_cli_args__copy_message(void **state)
{
        rp_cli_row_update u = { .done = -1, .rate = -1, .left = -1 };
        assert_int_equal(rp_cli_copy_message_parse("1048576 of 4194304 bytes copied, 12.5 MB/s, "
                                                   "3 s left",
                                                   &u),
                         0);
        assert_true(u.done == 1048576 && u.total == 4194304 && u.rate == 12.5e6 && u.left == 3);
        rp_cli_row_update v = { .done = -1 };
        assert_int_equal(rp_cli_copy_message_parse("Replication succeeded.", &v), -EBADMSG);
        assert_int_equal(rp_cli_copy_message_parse(NULL, &v), -EBADMSG);
        assert_int_equal(rp_cli_copy_message_parse("9 of 4 bytes copied, 1.0 MB/s, 1 s left", &v),
                         -EBADMSG);
        assert_true(v.done == -1);
}

int main(void)
{
        rp_json_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cli_args__kinds_and_aliases),
                cmocka_unit_test(test_cli_args__usage_errors_exit_2),
                cmocka_unit_test(test_cli_args__wait_conditions),
                cmocka_unit_test(test_cli_args__help_prints_and_returns_minus_1),
                cmocka_unit_test(test_cli_args__table_and_tsv),
                cmocka_unit_test(test_cli_args__resume_hint_quotes_and_keeps_connection_flags),
                cmocka_unit_test(test_cli_args__copy_message),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
