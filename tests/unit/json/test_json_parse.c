/* test_json_parse.c: spec tables (kinds, required/optional, null, wrong types, dot paths),
 * rp_json_loads_object errors, case-insensitive lookup, dumps and the allocator hook. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json/json.h"
#include "util/alloc.h"
#include "util/macro.h"

/* Parse a literal that the test knows to be a valid object. */
static json_t *obj(const char *text)
{
        _cleanup_free_ char *err = NULL;
        json_t *j = rp_json_loads_object(text, strlen(text), &err);
        if (!j)
                print_error("bad test literal %s: %s\n", text, rp_strempty(err));
        assert_non_null(j);
        assert_null(err);
        return j;
}

static void test_json_parse__every_kind(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"s\":\"str\",\"i\":-42,\"b\":true,\"f\":false,"
                                       "\"o\":{\"x\":1},\"a\":[1,2],\"any\":3.5}");
        const char *s = NULL;
        int64_t i = 0;
        bool b = false, f = true;
        json_t *o = NULL, *a = NULL, *any = NULL;
        const rp_json_spec spec[] = {
                { "s", RP_JSON_STRING, true, &s },  { "i", RP_JSON_INT, true, &i },
                { "b", RP_JSON_BOOL, true, &b },    { "f", RP_JSON_BOOL, true, &f },
                { "o", RP_JSON_OBJECT, true, &o },  { "a", RP_JSON_ARRAY, true, &a },
                { "any", RP_JSON_ANY, true, &any }, RP_JSON_SPEC_END,
        };
        const char *path = "untouched";
        assert_int_equal(rp_json_parse(j, spec, &path), 0);
        assert_string_equal(path, "untouched");
        assert_string_equal(s, "str");
        assert_ptr_equal(s, json_string_value(json_object_get(j, "s"))); /* borrowed */
        assert_int_equal(i, -42);
        assert_true(b);
        assert_false(f);
        assert_ptr_equal(o, json_object_get(j, "o"));
        assert_ptr_equal(a, json_object_get(j, "a"));
        assert_ptr_equal(any, json_object_get(j, "any"));
        assert_int_equal(j->refcount, 1); /* nothing was increfed */
        assert_int_equal(o->refcount, 1);
}

static void test_json_parse__int_extremes(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"max\":9223372036854775807,"
                                       "\"min\":-9223372036854775808,\"zero\":0}");
        int64_t max = 0, min = 0, zero = 1;
        const rp_json_spec spec[] = {
                { "max", RP_JSON_INT, true, &max },
                { "min", RP_JSON_INT, true, &min },
                { "zero", RP_JSON_INT, true, &zero },
                RP_JSON_SPEC_END,
        };
        assert_int_equal(rp_json_parse(j, spec, NULL), 0);
        assert_true(max == INT64_MAX);
        assert_true(min == INT64_MIN);
        assert_true(zero == 0);
}

static void test_json_parse__optional_absent_is_untouched(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"present\":1}");
        const char *s = "default";
        int64_t i = 7;
        bool b = true;
        json_t *o = (json_t *)0x1;
        const rp_json_spec spec[] = {
                { "s", RP_JSON_STRING, false, &s },
                { "i", RP_JSON_INT, false, &i },
                { "b", RP_JSON_BOOL, false, &b },
                { "o.deep.path", RP_JSON_OBJECT, false, &o },
                RP_JSON_SPEC_END,
        };
        assert_int_equal(rp_json_parse(j, spec, NULL), 0);
        assert_string_equal(s, "default");
        assert_int_equal(i, 7);
        assert_true(b);
        assert_ptr_equal(o, (json_t *)0x1);
}

static void test_json_parse__null_counts_as_absent(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"s\":null,\"o\":null,\"any\":null,\"p\":{\"q\":null}}");
        const char *s = "default";
        json_t *o = NULL, *any = NULL;
        const rp_json_spec opt[] = {
                { "s", RP_JSON_STRING, false, &s },
                { "o", RP_JSON_OBJECT, false, &o },
                { "any", RP_JSON_ANY, false, &any },
                { "p.q", RP_JSON_INT, false, NULL },
                RP_JSON_SPEC_END,
        };
        assert_int_equal(rp_json_parse(j, opt, NULL), 0);
        assert_string_equal(s, "default");
        assert_null(o);
        assert_null(any);

        /* A required null is a missing field, not a type error. */
        static const char *const paths[] = { "s", "o", "any", "p.q" };
        static const enum rp_json_kind kinds[] = { RP_JSON_STRING, RP_JSON_OBJECT, RP_JSON_ANY,
                                                   RP_JSON_INT };
        for (size_t k = 0; k < ELEMENTSOF(paths); k++) {
                const rp_json_spec req[] = { { paths[k], kinds[k], true, NULL }, RP_JSON_SPEC_END };
                const char *path = NULL;
                assert_int_equal(rp_json_parse(j, req, &path), -ENOENT);
                assert_ptr_equal(path, req[0].path);
        }
}

static void test_json_parse__required_missing_is_enoent(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"a\":1,\"props\":{}}");
        const rp_json_spec spec[] = {
                { "a", RP_JSON_INT, true, NULL },
                { "props", RP_JSON_OBJECT, true, NULL },
                { "props.inner", RP_JSON_STRING, true, NULL },
                { "later", RP_JSON_STRING, true, NULL },
                RP_JSON_SPEC_END,
        };
        const char *path = NULL;
        assert_int_equal(rp_json_parse(j, spec, &path), -ENOENT);
        /* The path points into the table, so callers can find the kind. */
        assert_ptr_equal(path, spec[2].path);
        assert_int_equal(rp_json_parse(j, spec, NULL), -ENOENT); /* ret_path is optional */
}

/* One wrong-type case: @p doc has key "v"; parsing as @p kind must fail with the path. */
static void wrong_type(const char *doc, enum rp_json_kind kind)
{
        _cleanup_json_ json_t *j = obj(doc);
        int64_t i = 99;
        bool b = true;
        const char *s = "keep";
        json_t *p = (json_t *)0x1;
        void *ret = kind == RP_JSON_INT      ? (void *)&i
                    : kind == RP_JSON_BOOL   ? (void *)&b
                    : kind == RP_JSON_STRING ? (void *)&s
                                             : (void *)&p;
        const rp_json_spec spec[] = { { "v", kind, false, ret }, RP_JSON_SPEC_END };
        const char *path = NULL;
        int r = rp_json_parse(j, spec, &path);
        if (r != -EINVAL)
                print_error("%s as %s: %d\n", doc, rp_json_kind_to_string(kind), r);
        assert_int_equal(r, -EINVAL);
        assert_string_equal(path, "v");
        /* Outputs are not written on failure. */
        assert_int_equal(i, 99);
        assert_true(b);
        assert_string_equal(s, "keep");
        assert_ptr_equal(p, (json_t *)0x1);
}

static void test_json_parse__wrong_type_is_einval_with_path(void **state)
{
        wrong_type("{\"v\":1}", RP_JSON_STRING);
        wrong_type("{\"v\":true}", RP_JSON_STRING);
        wrong_type("{\"v\":{}}", RP_JSON_STRING);
        wrong_type("{\"v\":\"1\"}", RP_JSON_INT);
        wrong_type("{\"v\":1.0}", RP_JSON_INT); /* a real is not an integer */
        wrong_type("{\"v\":1e3}", RP_JSON_INT);
        wrong_type("{\"v\":false}", RP_JSON_INT);
        wrong_type("{\"v\":0}", RP_JSON_BOOL);
        wrong_type("{\"v\":\"true\"}", RP_JSON_BOOL);
        wrong_type("{\"v\":[]}", RP_JSON_OBJECT);
        wrong_type("{\"v\":\"{}\"}", RP_JSON_OBJECT);
        wrong_type("{\"v\":{}}", RP_JSON_ARRAY);
        wrong_type("{\"v\":\"[]\"}", RP_JSON_ARRAY);
}

static void test_json_parse__wrong_type_in_nested_path(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"properties\":{\"creationData\":{\"createOption\":5}}}");
        const char *create = NULL;
        const rp_json_spec spec[] = {
                { "properties", RP_JSON_OBJECT, true, NULL },
                { "properties.creationData", RP_JSON_OBJECT, true, NULL },
                { "properties.creationData.createOption", RP_JSON_STRING, true, &create },
                RP_JSON_SPEC_END,
        };
        const char *path = NULL;
        assert_int_equal(rp_json_parse(j, spec, &path), -EINVAL);
        assert_string_equal(path, "properties.creationData.createOption");
        assert_null(create);
}

static void test_json_parse__invalid_kind_is_einval(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"v\":1}");
        const rp_json_spec spec[] = { { "v", _RP_JSON_KIND_MAX, true, NULL }, RP_JSON_SPEC_END };
        const char *path = NULL;
        assert_int_equal(rp_json_parse(j, spec, &path), -EINVAL);
        assert_string_equal(path, "v");
}

static void test_json_parse__null_ret_checks_type_only(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"s\":\"x\",\"i\":1,\"b\":false,\"a\":[]}");
        const rp_json_spec ok[] = {
                { "s", RP_JSON_STRING, true, NULL },
                { "i", RP_JSON_INT, true, NULL },
                { "b", RP_JSON_BOOL, true, NULL },
                { "a", RP_JSON_ARRAY, true, NULL },
                RP_JSON_SPEC_END,
        };
        assert_int_equal(rp_json_parse(j, ok, NULL), 0);
        const rp_json_spec bad[] = { { "a", RP_JSON_OBJECT, true, NULL }, RP_JSON_SPEC_END };
        assert_int_equal(rp_json_parse(j, bad, NULL), -EINVAL);
}

static void test_json_parse__empty_table(void **state)
{
        _cleanup_json_ json_t *j = obj("{}");
        const rp_json_spec spec[] = { RP_JSON_SPEC_END };
        assert_int_equal(rp_json_parse(j, spec, NULL), 0);
}

/* ---------------------------------------------------------------- paths */

static void test_json_path__walks_objects(void **state)
{
        _cleanup_json_ json_t *j =
                obj("{\"a\":{\"b\":{\"c\":\"deep\"},\"s\":\"x\"},\"arr\":[{\"k\":1}],"
                    "\"d.e\":1}");
        assert_string_equal(json_string_value(rp_json_get_path(j, "a.b.c")), "deep");
        assert_true(json_is_object(rp_json_get_path(j, "a.b")));
        assert_ptr_equal(rp_json_get_path(j, ""), j); /* the empty path is the root */
        assert_null(rp_json_get_path(j, "a.x.c"));    /* missing middle */
        assert_null(rp_json_get_path(j, "a.s.c"));    /* string in the middle */
        assert_null(rp_json_get_path(j, "arr.k"));    /* arrays are not walked */
        assert_null(rp_json_get_path(j, "arr.0"));
        assert_null(rp_json_get_path(j, "a..b")); /* empty segment */
        assert_null(rp_json_get_path(j, ".a"));
        assert_null(rp_json_get_path(j, "a."));
        assert_null(rp_json_get_path(j, "a.b.c.d")); /* past a leaf */
        assert_null(rp_json_get_path(j, "d.e"));     /* dots always separate */
        assert_null(rp_json_get_path(NULL, "a"));
        _cleanup_json_ json_t *arr = json_array();
        assert_null(rp_json_get_path(arr, "a")); /* root must be an object */
}

static void test_json_path__long_segment_is_absent(void **state)
{
        char key[300];
        memset(key, 'k', sizeof key - 1);
        key[sizeof key - 1] = '\0';
        _cleanup_json_ json_t *j = json_pack("{s:i}", key, 1);
        assert_non_null(j);
        /* Segments of 256 bytes or more are never found (no ARM field is that long). */
        assert_null(rp_json_get_path(j, key));
        key[256] = '\0';
        _cleanup_json_ json_t *j256 = json_pack("{s:i}", key, 2);
        assert_null(rp_json_get_path(j256, key));
        key[255] = '\0';
        _cleanup_json_ json_t *j255 = json_pack("{s:i}", key, 3);
        assert_int_equal(json_integer_value(rp_json_get_path(j255, key)), 3);
}

/* ---------------------------------------------------------------- loads */

static void loads_bad(const char *text, size_t len, const char *want_in_err)
{
        char *err = NULL;
        json_t *j = rp_json_loads_object(text, len, &err);
        assert_null(j);
        assert_non_null(err);
        if (want_in_err && !strstr(err, want_in_err))
                print_error("error '%s' lacks '%s'\n", err, want_in_err);
        if (want_in_err)
                assert_non_null(strstr(err, want_in_err));
        rp_free(err);
}

static void test_json_loads__rejects_syntax_errors(void **state)
{
        loads_bad("", 0, "invalid JSON");
        loads_bad("{", 1, "line 1");
        loads_bad("{\"a\":}", 6, "invalid JSON at line 1, column");
        loads_bad("{\"a\":1,}", 8, "invalid JSON");
        loads_bad("{\"a\":1}x", 8, "invalid JSON");
        loads_bad("{\"a\":1}{}", 9, "invalid JSON");
        loads_bad("{'a':1}", 7, "invalid JSON");
        loads_bad("{\"a\":NaN}", 9, "invalid JSON");
        loads_bad("{\"a\":\"\\u0000\"}", 14, "invalid JSON");          /* NUL in a string */
        loads_bad("{\"a\":\"\xff\"}", 8, "invalid JSON");              /* not UTF-8 */
        loads_bad("{\"a\":99999999999999999999}", 26, "invalid JSON"); /* integer overflow */
        loads_bad("\n\n  {\"a\" 1}", 11, "line 3");
        /* The length bounds the input: a valid prefix followed by junk is still junk ... */
        loads_bad("{\"a\":1}", 5, "invalid JSON");
        /* ... and an embedded NUL inside the length is an error. */
        loads_bad("{\"a\":1}\0", 8, "invalid JSON");
}

static void test_json_loads__rejects_non_objects(void **state)
{
        static const char *const docs[] = { "[]", "[{}]", "1", "\"s\"", "true", "null", "1.5" };
        for (size_t i = 0; i < ELEMENTSOF(docs); i++)
                loads_bad(docs[i], strlen(docs[i]), "must be a JSON object");
}

static void test_json_loads__rejects_duplicate_keys(void **state)
{
        loads_bad("{\"a\":1,\"a\":2}", 13, "duplicate");
        loads_bad("{\"p\":{\"x\":1,\"x\":1}}", 19, "duplicate");
        /* Keys that differ only in case are different keys to JSON. */
        char *err = NULL;
        json_t *j = rp_json_loads_object("{\"a\":1,\"A\":2}", 13, &err);
        assert_non_null(j);
        assert_null(err);
        json_decref(j);
}

static void test_json_loads__accepts_valid_objects(void **state)
{
        const char *text = " \t\n{\"location\":\"eastus\",\"tags\":{\"k\":\"v\\u00e9\"}} \n";
        char *err = NULL;
        _cleanup_json_ json_t *j = rp_json_loads_object(text, strlen(text), &err);
        assert_non_null(j);
        assert_null(err);
        assert_string_equal(json_string_value(rp_json_get_path(j, "tags.k")), "v\xc3\xa9");
        _cleanup_json_ json_t *e = rp_json_loads_object("{}", 2, &err);
        assert_non_null(e);
        assert_int_equal(json_object_size(e), 0);
}

static void test_json_loads__deep_nesting_is_refused_not_crashing(void **state)
{
        enum {
                DEPTH = 100000
        };
        char *text = rp_malloc(2 * DEPTH + 16);
        assert_non_null(text);
        size_t n = 0;
        text[n++] = '{';
        text[n++] = '"';
        text[n++] = 'a';
        text[n++] = '"';
        text[n++] = ':';
        for (int i = 0; i < DEPTH; i++)
                text[n++] = '[';
        for (int i = 0; i < DEPTH; i++)
                text[n++] = ']';
        text[n++] = '}';
        char *err = NULL;
        json_t *j = rp_json_loads_object(text, n, &err);
        assert_null(j);
        assert_non_null(err);
        rp_free(err);
        rp_free(text);
}

static void test_json_loads__oom_returns_null(void **state)
{
        const char *text = "{\"a\":{\"b\":[1,2,3]},\"c\":\"dddddddddddddddddddddddd\"}";
        /* Fail each allocation in turn: never a crash, never a leak, never a half object. */
        for (unsigned long n = 1; n < 200; n++) {
                char *err = NULL;
                rp_alloc_fail_at(n);
                json_t *j = rp_json_loads_object(text, strlen(text), &err);
                rp_alloc_fail_at(0);
                if (j) {
                        assert_null(err);
                        assert_true(json_is_array(rp_json_get_path(j, "a.b")));
                        assert_int_equal(json_array_size(rp_json_get_path(j, "a.b")), 3);
                        json_decref(j);
                        return; /* n exceeded the number of allocations: done */
                }
                rp_free(err); /* may be NULL if formatting the message failed too */
        }
        fail_msg("parse never succeeded");
}

/* ---------------------------------------------------------------- helpers */

static void test_json_get_ci__exact_then_folded(void **state)
{
        _cleanup_json_ json_t *j = obj("{\"Location\":\"a\",\"location\":\"b\",\"TAGS\":{}}");
        assert_string_equal(json_string_value(rp_json_object_get_ci(j, "location")), "b");
        assert_string_equal(json_string_value(rp_json_object_get_ci(j, "Location")), "a");
        const char *v = json_string_value(rp_json_object_get_ci(j, "LOCATION"));
        assert_non_null(v); /* one of the two; which one is not specified */
        assert_true(json_is_object(rp_json_object_get_ci(j, "tags")));
        assert_null(rp_json_object_get_ci(j, "tag"));
        assert_null(rp_json_object_get_ci(j, ""));
        assert_null(rp_json_object_get_ci(NULL, "x"));
        _cleanup_json_ json_t *arr = json_array();
        assert_null(rp_json_object_get_ci(arr, "x"));
}

static void test_json_kind__names(void **state)
{
        assert_string_equal(rp_json_kind_to_string(RP_JSON_STRING), "String");
        assert_string_equal(rp_json_kind_to_string(RP_JSON_INT), "Integer");
        assert_string_equal(rp_json_kind_to_string(RP_JSON_BOOL), "Boolean");
        assert_string_equal(rp_json_kind_to_string(RP_JSON_OBJECT), "Object");
        assert_string_equal(rp_json_kind_to_string(RP_JSON_ARRAY), "Array");
        assert_string_equal(rp_json_kind_to_string(RP_JSON_ANY), "Value");
        assert_string_equal(rp_json_kind_to_string(_RP_JSON_KIND_MAX), "?");
        assert_string_equal(rp_json_kind_to_string(_RP_JSON_KIND_INVALID), "?");
}

static void test_json_dumps__compact_and_any(void **state)
{
        _cleanup_json_ json_t *j = obj("{ \"a\" : [ 1 , 2 ] }");
        _cleanup_free_ char *s = rp_json_dumps(j);
        assert_string_equal(s, "{\"a\":[1,2]}");
        _cleanup_json_ json_t *str = json_string("x");
        _cleanup_free_ char *s2 = rp_json_dumps(str);
        assert_string_equal(s2, "\"x\"");
}

static void test_json_dumps__oom_never_corrupts(void **state)
{
        /* Many keys with escapes, so that buffer growth happens while a key is written. */
        _cleanup_json_ json_t *j = json_object();
        for (int i = 0; i < 40; i++) {
                char k[32];
                snprintf(k, sizeof k, "key\\%02d\"quoted\"", i);
                json_object_set_new(j, k, json_pack("{s:i,s:[s]}", "n", i, "a", "v\n"));
        }
        _cleanup_free_ char *want = rp_json_dumps(j);
        assert_non_null(want);
        unsigned long n;
        for (n = 1; n < 10000; n++) {
                rp_alloc_fail_at(n);
                char *got = rp_json_dumps(j);
                rp_alloc_fail_at(0);
                if (!got)
                        continue;
                if (strcmp(got, want) != 0)
                        print_error("fail_at %lu produced %s\n", n, got);
                assert_string_equal(got, want); /* complete, or nothing */
                rp_free(got);
                break;
        }
        assert_true(n > 1 && n < 10000);
}

static int setup_group(void **state)
{
        rp_json_init(); /* jansson allocates through rp_malloc, so the OOM hook reaches it */
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_parse__every_kind),
                cmocka_unit_test(test_json_parse__int_extremes),
                cmocka_unit_test(test_json_parse__optional_absent_is_untouched),
                cmocka_unit_test(test_json_parse__null_counts_as_absent),
                cmocka_unit_test(test_json_parse__required_missing_is_enoent),
                cmocka_unit_test(test_json_parse__wrong_type_is_einval_with_path),
                cmocka_unit_test(test_json_parse__wrong_type_in_nested_path),
                cmocka_unit_test(test_json_parse__invalid_kind_is_einval),
                cmocka_unit_test(test_json_parse__null_ret_checks_type_only),
                cmocka_unit_test(test_json_parse__empty_table),
                cmocka_unit_test(test_json_path__walks_objects),
                cmocka_unit_test(test_json_path__long_segment_is_absent),
                cmocka_unit_test(test_json_loads__rejects_syntax_errors),
                cmocka_unit_test(test_json_loads__rejects_non_objects),
                cmocka_unit_test(test_json_loads__rejects_duplicate_keys),
                cmocka_unit_test(test_json_loads__accepts_valid_objects),
                cmocka_unit_test(test_json_loads__deep_nesting_is_refused_not_crashing),
                cmocka_unit_test(test_json_loads__oom_returns_null),
                cmocka_unit_test(test_json_get_ci__exact_then_folded),
                cmocka_unit_test(test_json_kind__names),
                cmocka_unit_test(test_json_dumps__compact_and_any),
                cmocka_unit_test(test_json_dumps__oom_never_corrupts),
        };
        return cmocka_run_group_tests(tests, setup_group, NULL);
}
