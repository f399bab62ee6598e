/* template_funcs.c: the template function table, and the logical, comparison, numeric,
 * conversion, array and object functions.
 *
 * DESIGN: every function is a row of a table (name, arity bounds, implementation); the
 * evaluator checks the arity, evaluates the arguments and calls the row's function, except for
 * lazy rows (if()) that evaluate their own arguments. Rows are split over three files by
 * theme (this one; template_funcs_str.c for strings, hashes and time; template_funcs_arm.c for
 * what reads the deployment: parameters, variables, copyIndex, ids, reference) and searched in
 * that order, case-insensitively, as ARM function names are.
 *
 * Size: a function that builds a container (concat, union, createArray, json, ...) checks the
 * result against RP_TPL__MAX_NODES, counting shared subtrees once per use, so nesting
 * createArray(x, x) cannot build an exponential value that a later string() would print; work
 * that is quadratic (union of arrays) is charged to the evaluation's budget.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "template_int.h"
#include "util/alloc.h"
#include "util/macro.h"
#include "util/parse.h"

/* ------------------------------------------------------------------------------------------ */
/* Helpers shared with the other function files                                               */

size_t rp_tpl__count_nodes(const json_t *v, size_t limit)
{
        size_t n = 1, i;
        const char *k;
        json_t *e;

        if (json_is_array(v)) {
                json_array_foreach(v, i, e) {
                        if (n > limit)
                                break;
                        n += rp_tpl__count_nodes(e, limit - n);
                }
        } else if (json_is_object(v)) {
                json_object_foreach((json_t *)v, k, e) {
                        if (n > limit)
                                break;
                        n += rp_tpl__count_nodes(e, limit - n);
                }
        }
        return n;
}

int rp_tpl__check_size(rp_tpl__ev *ev, const rp_tpl__node *call, const json_t *v)
{
        size_t n = rp_tpl__count_nodes(v, RP_TPL__MAX_NODES);
        int r = rp_tpl__charge(ev, call->pos, (long)n);

        if (r < 0)
                return r;
        if (n > RP_TPL__MAX_NODES) {
                rp_tpl__fn_fail(ev, call, "the result has more than %d values.", RP_TPL__MAX_NODES);
                return -E2BIG;
        }
        return 0;
}

int rp_tpl__ret_sized(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **out, json_t **ret)
{
        int r = rp_tpl__check_size(ev, call, *out);

        if (r < 0)
                return r;
        *ret = TAKE_PTR(*out);
        return 0;
}

int rp_tpl__string(rp_tpl__ev *ev, const rp_tpl__node *call, const char *s, size_t n, json_t **ret)
{
        json_t *v;

        if (n > RP_TPL_MAX_STRING) {
                rp_tpl__fn_fail(ev, call, "the result is longer than %u bytes.", RP_TPL_MAX_STRING);
                return -E2BIG;
        }
        v = json_stringn(s, n);
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

bool rp_tpl__equal(const json_t *a, const json_t *b)
{
        if (json_is_number(a) && json_is_number(b)) {
                if (json_is_integer(a) && json_is_integer(b))
                        return json_integer_value(a) == json_integer_value(b);
                return json_number_value(a) == json_number_value(b);
        }
        if (json_typeof(a) != json_typeof(b))
                return false;
        if (json_is_array(a)) {
                if (json_array_size(a) != json_array_size(b))
                        return false;
                for (size_t i = 0; i < json_array_size(a); i++)
                        if (!rp_tpl__equal(json_array_get(a, i), json_array_get(b, i)))
                                return false;
                return true;
        }
        if (json_is_object(a)) {
                const char *k;
                json_t *e;
                if (json_object_size(a) != json_object_size(b))
                        return false;
                json_object_foreach((json_t *)a, k, e) {
                        json_t *o = json_object_get(b, k);
                        if (!o || !rp_tpl__equal(e, o))
                                return false;
                }
                return true;
        }
        return json_equal((json_t *)a, (json_t *)b);
}

int rp_tpl__type_fail(rp_tpl__ev *ev, const rp_tpl__node *call, size_t i, const char *want,
                      const json_t *got)
{
        return rp_tpl__fn_fail(ev, call, "argument %zu must be of type '%s', found '%s'.", i + 1,
                               want, rp_tpl__type_name(got));
}

int rp_tpl__arg_int(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t i, int64_t *ret)
{
        if (!json_is_integer(args[i]))
                return rp_tpl__type_fail(ev, call, i, "Integer", args[i]);
        *ret = json_integer_value(args[i]);
        return 0;
}

static int arg_bool(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t i, bool *ret)
{
        if (!json_is_boolean(args[i]))
                return rp_tpl__type_fail(ev, call, i, "Boolean", args[i]);
        *ret = json_is_true(args[i]);
        return 0;
}

int rp_tpl__arg_str(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t i,
                    const char **ret, size_t *ret_len)
{
        if (!json_is_string(args[i]))
                return rp_tpl__type_fail(ev, call, i, "String", args[i]);
        *ret = json_string_value(args[i]);
        *ret_len = json_string_length(args[i]);
        return 0;
}

int rp_tpl__ret(json_t *v, json_t **ret)
{
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Logical and comparison                                                                      */

static int fn_if(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **ret)
{
        _cleanup_json_ json_t *c = NULL;
        int r = rp_tpl__eval_node(ev, call->args[0], &c);

        if (r < 0)
                return r;
        if (!json_is_boolean(c))
                return rp_tpl__type_fail(ev, call, 0, "Boolean", c);
        return rp_tpl__eval_node(ev, call->args[json_is_true(c) ? 1 : 2], ret);
}

/* and() (variant 1) and or() (variant 0). */
static int fn_and_or(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                     json_t **ret)
{
        bool is_and = ev->variant, acc = is_and;

        for (size_t i = 0; i < n; i++) {
                bool b = false;
                int r = arg_bool(ev, call, args, i, &b);
                if (r < 0)
                        return r;
                acc = is_and ? acc && b : acc || b;
        }
        return rp_tpl__ret(json_boolean(acc), ret);
}

static int fn_not(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        bool b = false;
        int r = arg_bool(ev, call, args, 0, &b);

        if (r < 0)
                return r;
        return rp_tpl__ret(json_boolean(!b), ret);
}

/* true() (variant 1), false() (variant 0). */
static int fn_bool_const(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                         json_t **ret)
{
        return rp_tpl__ret(json_boolean(ev->variant), ret);
}

static int fn_null(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        return rp_tpl__ret(json_null(), ret);
}

static int fn_equals(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                     json_t **ret)
{
        return rp_tpl__ret(json_boolean(rp_tpl__equal(args[0], args[1])), ret);
}

enum compare {
        CMP_GREATER,
        CMP_GREATER_OR_EQUALS,
        CMP_LESS,
        CMP_LESS_OR_EQUALS,
};

/* greater(), greaterOrEquals(), less(), lessOrEquals(): two Integers or two Strings (ordinal). */
static int fn_compare(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                      json_t **ret)
{
        int c;

        if (json_is_integer(args[0]) && json_is_integer(args[1])) {
                json_int_t a = json_integer_value(args[0]), b = json_integer_value(args[1]);
                c = (a > b) - (a < b);
        } else if (json_is_string(args[0]) && json_is_string(args[1])) {
                size_t la = json_string_length(args[0]), lb = json_string_length(args[1]);
                c = memcmp(json_string_value(args[0]), json_string_value(args[1]), RP_MIN(la, lb));
                c = c ? (c > 0) - (c < 0) : (la > lb) - (la < lb);
        } else {
                return rp_tpl__fn_fail(ev, call,
                                       "the arguments must be two Integers or two Strings, found "
                                       "'%s' and '%s'.",
                                       rp_tpl__type_name(args[0]), rp_tpl__type_name(args[1]));
        }
        switch (ev->variant) {
        case CMP_GREATER:
                return rp_tpl__ret(json_boolean(c > 0), ret);
        case CMP_GREATER_OR_EQUALS:
                return rp_tpl__ret(json_boolean(c >= 0), ret);
        case CMP_LESS:
                return rp_tpl__ret(json_boolean(c < 0), ret);
        default:
                return rp_tpl__ret(json_boolean(c <= 0), ret);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Numeric                                                                                     */

enum arith {
        ADD,
        SUB,
        MUL,
        DIV,
        MOD
};

/* add(), sub(), mul(), div(), mod() (the variant is the operation), with overflow checks. */
static int fn_arith(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        enum arith op = ev->variant;
        int64_t a, b, v = 0;
        bool overflow = false;
        int r;

        r = rp_tpl__arg_int(ev, call, args, 0, &a);
        if (r < 0)
                return r;
        r = rp_tpl__arg_int(ev, call, args, 1, &b);
        if (r < 0)
                return r;
        switch (op) {
        case ADD:
                overflow = __builtin_add_overflow(a, b, &v);
                break;
        case SUB:
                overflow = __builtin_sub_overflow(a, b, &v);
                break;
        case MUL:
                overflow = __builtin_mul_overflow(a, b, &v);
                break;
        case DIV:
        case MOD:
                if (b == 0)
                        return rp_tpl__fn_fail(ev, call, "the divisor must not be zero.");
                overflow = a == INT64_MIN && b == -1;
                if (!overflow)
                        v = op == DIV ? a / b : a % b;
                break;
        }
        if (overflow)
                return rp_tpl__fn_fail(ev, call, "the result does not fit a 64-bit integer.");
        return rp_tpl__ret(json_integer(v), ret);
}

/* min() (variant 0) and max() (variant 1) of integers, given as arguments or as one array. */
static int fn_min_max(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                      json_t **ret)
{
        bool want_max = ev->variant;
        const json_t *list = n == 1 && json_is_array(args[0]) ? args[0] : NULL;
        size_t count = list ? json_array_size(list) : n;
        int64_t best = 0;

        if (count == 0)
                return rp_tpl__fn_fail(ev, call, "the array must not be empty.");
        for (size_t i = 0; i < count; i++) {
                const json_t *e = list ? json_array_get(list, i) : args[i];
                if (!json_is_integer(e))
                        return rp_tpl__fn_fail(ev, call,
                                               "value %zu must be an Integer, found '%s'.", i + 1,
                                               rp_tpl__type_name(e));
                int64_t x = json_integer_value(e);
                if (i == 0 || (want_max ? x > best : x < best))
                        best = x;
        }
        return rp_tpl__ret(json_integer(best), ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Conversion                                                                                  */

static int fn_int(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        const json_t *v = args[0];
        int64_t i;

        if (json_is_integer(v))
                return rp_tpl__ret(json_incref(args[0]), ret);
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                if (strlen(s) == json_string_length(v) && rp_parse_i64(s + (*s == '+'), &i) >= 0)
                        return rp_tpl__ret(json_integer(i), ret);
                return rp_tpl__fn_fail(ev, call, "the string '%.100s' is not an integer.",
                                       json_string_value(v));
        }
        if (json_is_real(v)) {
                double d = json_real_value(v);
                if (d >= -9.2e18 && d <= 9.2e18)
                        return rp_tpl__ret(json_integer((json_int_t)d), ret);
        }
        return rp_tpl__type_fail(ev, call, 0, "Integer or String", v);
}

static int fn_bool(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        const json_t *v = args[0];

        if (json_is_boolean(v))
                return rp_tpl__ret(json_incref(args[0]), ret);
        if (json_is_integer(v))
                return rp_tpl__ret(json_boolean(json_integer_value(v) != 0), ret);
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                if (strcasecmp(s, "true") == 0)
                        return rp_tpl__ret(json_true(), ret);
                if (strcasecmp(s, "false") == 0)
                        return rp_tpl__ret(json_false(), ret);
                return rp_tpl__fn_fail(ev, call, "the string '%.100s' is not 'true' or 'false'.",
                                       s);
        }
        return rp_tpl__type_fail(ev, call, 0, "Boolean, Integer or String", v);
}

static int fn_string(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                     json_t **ret)
{
        _cleanup_free_ char *s = NULL;

        if (json_is_string(args[0]))
                return rp_tpl__ret(json_incref(args[0]), ret);
        s = rp_tpl__to_text(args[0]);
        if (!s)
                return -ENOMEM;
        return rp_tpl__string(ev, call, s, strlen(s), ret);
}

static int fn_json(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        json_error_t jerr;
        json_t *v;
        int r;

        if (!json_is_string(args[0]))
                return rp_tpl__type_fail(ev, call, 0, "String", args[0]);
        v = json_loadb(json_string_value(args[0]), json_string_length(args[0]),
                       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!v)
                return rp_tpl__fn_fail(ev, call, "the string is not valid JSON: %s.", jerr.text);
        r = rp_tpl__check_size(ev, call, v);
        if (r < 0) {
                json_decref(v);
                return r;
        }
        *ret = v;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Arrays and objects                                                                          */

static int fn_concat(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                     json_t **ret)
{
        if (json_is_array(args[0])) {
                _cleanup_json_ json_t *out = json_array();
                int r;

                if (!out)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        if (!json_is_array(args[i]))
                                return rp_tpl__fn_fail(ev, call,
                                                       "the arguments must be all Arrays or all "
                                                       "Strings; argument %zu is '%s'.",
                                                       i + 1, rp_tpl__type_name(args[i]));
                        if (json_array_extend(out, args[i]) < 0)
                                return -ENOMEM;
                        r = rp_tpl__charge(ev, call->pos, (long)json_array_size(args[i]));
                        if (r < 0)
                                return r;
                }
                return rp_tpl__ret_sized(ev, call, &out, ret);
        }

        rp_buf b;
        int r = 0;

        rp_buf_init(&b, RP_TPL_MAX_STRING);
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *s = NULL;
                if (!json_is_string(args[i]) && !json_is_integer(args[i]) &&
                    !json_is_boolean(args[i])) {
                        rp_buf_done(&b);
                        return rp_tpl__fn_fail(ev, call,
                                               "the arguments must be all Arrays or all Strings; "
                                               "argument %zu is '%s'.",
                                               i + 1, rp_tpl__type_name(args[i]));
                }
                s = rp_tpl__to_text(args[i]);
                if (!s)
                        r = -ENOMEM;
                else
                        r = rp_buf_append(&b, s, strlen(s));
        }
        if (r == -E2BIG) {
                rp_buf_done(&b);
                rp_tpl__fn_fail(ev, call, "the result is longer than %u bytes.", RP_TPL_MAX_STRING);
                return r;
        }
        if (r >= 0)
                r = rp_tpl__string(ev, call, b.ptr ? b.ptr : "", b.len, ret);
        rp_buf_done(&b);
        return r;
}

static int fn_create_array(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                           json_t **ret)
{
        _cleanup_json_ json_t *out = json_array();

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (json_array_append(out, args[i]) < 0)
                        return -ENOMEM;
        return rp_tpl__ret_sized(ev, call, &out, ret);
}

static int fn_create_object(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                            json_t **ret)
{
        _cleanup_json_ json_t *out = json_object();

        if (!out)
                return -ENOMEM;
        if (n % 2)
                return rp_tpl__fn_fail(ev, call, "the arguments must be key and value pairs.");
        for (size_t i = 0; i < n; i += 2) {
                if (!json_is_string(args[i]))
                        return rp_tpl__type_fail(ev, call, i, "String", args[i]);
                if (json_object_set(out, json_string_value(args[i]), args[i + 1]) < 0)
                        return -ENOMEM;
        }
        return rp_tpl__ret_sized(ev, call, &out, ret);
}

static int fn_array(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        if (json_is_array(args[0]))
                return rp_tpl__ret(json_incref(args[0]), ret);
        return fn_create_array(ev, call, args, 1, ret);
}

/* Merge @p src into @p dst: nested objects merge recursively, anything else is replaced. */
static int merge_objects(rp_tpl__ev *ev, const rp_tpl__node *call, json_t *dst, const json_t *src)
{
        const char *k;
        json_t *v;

        json_object_foreach((json_t *)src, k, v) {
                json_t *old = json_object_get(dst, k);
                int r = rp_tpl__charge(ev, call->pos, 1);
                if (r < 0)
                        return r;
                if (json_is_object(old) && json_is_object(v)) {
                        json_t *copy = json_copy(old); /* shallow: the original may be shared */
                        if (!copy)
                                return -ENOMEM;
                        r = merge_objects(ev, call, copy, v);
                        if (r < 0 || json_object_set_new(dst, k, copy) < 0) {
                                if (r >= 0)
                                        return -ENOMEM;
                                json_decref(copy);
                                return r;
                        }
                        continue;
                }
                if (json_object_set(dst, k, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int fn_union(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        bool objects = json_is_object(args[0]);
        _cleanup_json_ json_t *out = objects ? json_object() : json_array();
        int r;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (objects ? !json_is_object(args[i]) : !json_is_array(args[i]))
                        return rp_tpl__fn_fail(ev, call,
                                               "the arguments must be all Objects or all Arrays; "
                                               "argument %zu is '%s'.",
                                               i + 1, rp_tpl__type_name(args[i]));
                if (objects) {
                        r = merge_objects(ev, call, out, args[i]);
                        if (r < 0)
                                return r;
                        continue;
                }
                size_t j;
                json_t *e;
                json_array_foreach(args[i], j, e) {
                        bool dup = false;
                        r = rp_tpl__charge(ev, call->pos, 1 + (long)json_array_size(out));
                        if (r < 0)
                                return r;
                        for (size_t k = 0; k < json_array_size(out) && !dup; k++)
                                dup = rp_tpl__equal(json_array_get(out, k), e);
                        if (!dup && json_array_append(out, e) < 0)
                                return -ENOMEM;
                }
        }
        return rp_tpl__ret_sized(ev, call, &out, ret);
}

static int fn_length(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                     json_t **ret)
{
        const json_t *v = args[0];

        if (json_is_string(v))
                return rp_tpl__ret(json_integer((json_int_t)rp_tpl__utf8_len(
                                           json_string_value(v), json_string_length(v))),
                                   ret);
        if (json_is_array(v))
                return rp_tpl__ret(json_integer((json_int_t)json_array_size(v)), ret);
        if (json_is_object(v))
                return rp_tpl__ret(json_integer((json_int_t)json_object_size(v)), ret);
        return rp_tpl__type_fail(ev, call, 0, "String, Array or Object", v);
}

static int fn_contains(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                       json_t **ret)
{
        const json_t *c = args[0], *item = args[1];

        if (json_is_string(c)) {
                _cleanup_free_ char *s = NULL;
                if (json_is_object(item) || json_is_array(item))
                        return rp_tpl__type_fail(ev, call, 1, "String", item);
                s = rp_tpl__to_text(item);
                if (!s)
                        return -ENOMEM;
                return rp_tpl__ret(json_boolean(memmem(json_string_value(c), json_string_length(c),
                                                       s, strlen(s)) != NULL),
                                   ret);
        }
        if (json_is_array(c)) {
                size_t i;
                json_t *e;
                json_array_foreach(c, i, e)
                        if (rp_tpl__equal(e, item))
                                return rp_tpl__ret(json_true(), ret);
                return rp_tpl__ret(json_false(), ret);
        }
        if (json_is_object(c)) {
                const char *k;
                json_t *e;
                if (!json_is_string(item))
                        return rp_tpl__type_fail(ev, call, 1, "String", item);
                json_object_foreach((json_t *)c, k, e)
                        if (strcasecmp(k, json_string_value(item)) == 0)
                                return rp_tpl__ret(json_true(), ret);
                return rp_tpl__ret(json_false(), ret);
        }
        return rp_tpl__type_fail(ev, call, 0, "String, Array or Object", c);
}

static int fn_empty(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        const json_t *v = args[0];

        if (json_is_null(v))
                return rp_tpl__ret(json_true(), ret);
        if (json_is_string(v))
                return rp_tpl__ret(json_boolean(json_string_length(v) == 0), ret);
        if (json_is_array(v))
                return rp_tpl__ret(json_boolean(json_array_size(v) == 0), ret);
        if (json_is_object(v))
                return rp_tpl__ret(json_boolean(json_object_size(v) == 0), ret);
        return rp_tpl__type_fail(ev, call, 0, "String, Array, Object or Null", v);
}

/* first() (variant 0) and last() (variant 1) of an array or a string. */
static int fn_first_last(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                         json_t **ret)
{
        bool last = ev->variant;
        const json_t *v = args[0];

        if (json_is_array(v)) {
                size_t len = json_array_size(v);
                if (len == 0)
                        return rp_tpl__ret(json_null(), ret);
                return rp_tpl__ret(json_incref(json_array_get(v, last ? len - 1 : 0)), ret);
        }
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                size_t len = json_string_length(v);
                size_t cps = rp_tpl__utf8_len(s, len);
                if (cps == 0)
                        return rp_tpl__ret(json_string(""), ret);
                size_t from = rp_tpl__utf8_offset(s, len, last ? cps - 1 : 0);
                size_t to = rp_tpl__utf8_offset(s, len, last ? cps : 1);
                return rp_tpl__string(ev, call, s + from, to - from, ret);
        }
        return rp_tpl__type_fail(ev, call, 0, "String or Array", v);
}

/* skip() (variant 0) and take() (variant 1) on an array or a string; the count is clamped to
 * [0, length]. */
static int fn_skip_take(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                        json_t **ret)
{
        bool take = ev->variant;
        int64_t k;
        int r = rp_tpl__arg_int(ev, call, args, 1, &k);

        if (r < 0)
                return r;
        if (json_is_array(args[0])) {
                size_t len = json_array_size(args[0]);
                size_t c = k < 0 ? 0 : (uint64_t)k > len ? len : (size_t)k;
                size_t from = take ? 0 : c, to = take ? c : len;
                _cleanup_json_ json_t *out = json_array();
                if (!out)
                        return -ENOMEM;
                for (size_t i = from; i < to; i++)
                        if (json_array_append(out, json_array_get(args[0], i)) < 0)
                                return -ENOMEM;
                *ret = TAKE_PTR(out);
                return 0;
        }
        if (json_is_string(args[0])) {
                const char *s = json_string_value(args[0]);
                size_t len = json_string_length(args[0]);
                size_t cps = rp_tpl__utf8_len(s, len);
                size_t c = k < 0 ? 0 : (uint64_t)k > cps ? cps : (size_t)k;
                size_t off = rp_tpl__utf8_offset(s, len, c);
                return take ? rp_tpl__string(ev, call, s, off, ret)
                            : rp_tpl__string(ev, call, s + off, len - off, ret);
        }
        return rp_tpl__type_fail(ev, call, 0, "String or Array", args[0]);
}

static int fn_coalesce(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                       json_t **ret)
{
        for (size_t i = 0; i < n; i++)
                if (!json_is_null(args[i]))
                        return rp_tpl__ret(json_incref(args[i]), ret);
        return rp_tpl__ret(json_null(), ret);
}

static int fn_range(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        int64_t start, count;
        _cleanup_json_ json_t *out = NULL;
        int r;

        r = rp_tpl__arg_int(ev, call, args, 0, &start);
        if (r < 0)
                return r;
        r = rp_tpl__arg_int(ev, call, args, 1, &count);
        if (r < 0)
                return r;
        /* ARM's limits: count <= 10000, start + count <= 2147483647. */
        if (count < 0 || count > 10000 || start > INT32_MAX - count || start < INT32_MIN)
                return rp_tpl__fn_fail(ev, call,
                                       "the count must be between 0 and 10000 and start + count "
                                       "at most 2147483647.");
        out = json_array();
        if (!out)
                return -ENOMEM;
        for (int64_t i = 0; i < count; i++)
                if (json_array_append_new(out, json_integer(start + i)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The table                                                                                   */

#define ANY UINT_MAX

static const rp_tpl__func funcs[] = {
        { "if", 3, 3, NULL, fn_if, 0 },
        { "and", 2, ANY, fn_and_or, NULL, 1 },
        { "or", 2, ANY, fn_and_or, NULL, 0 },
        { "not", 1, 1, fn_not, NULL, 0 },
        { "true", 0, 0, fn_bool_const, NULL, 1 },
        { "false", 0, 0, fn_bool_const, NULL, 0 },
        { "null", 0, 0, fn_null, NULL, 0 },
        { "equals", 2, 2, fn_equals, NULL, 0 },
        { "greater", 2, 2, fn_compare, NULL, CMP_GREATER },
        { "greaterOrEquals", 2, 2, fn_compare, NULL, CMP_GREATER_OR_EQUALS },
        { "less", 2, 2, fn_compare, NULL, CMP_LESS },
        { "lessOrEquals", 2, 2, fn_compare, NULL, CMP_LESS_OR_EQUALS },
        { "add", 2, 2, fn_arith, NULL, ADD },
        { "sub", 2, 2, fn_arith, NULL, SUB },
        { "mul", 2, 2, fn_arith, NULL, MUL },
        { "div", 2, 2, fn_arith, NULL, DIV },
        { "mod", 2, 2, fn_arith, NULL, MOD },
        { "min", 1, ANY, fn_min_max, NULL, 0 },
        { "max", 1, ANY, fn_min_max, NULL, 1 },
        { "int", 1, 1, fn_int, NULL, 0 },
        { "bool", 1, 1, fn_bool, NULL, 0 },
        { "string", 1, 1, fn_string, NULL, 0 },
        { "json", 1, 1, fn_json, NULL, 0 },
        { "concat", 1, ANY, fn_concat, NULL, 0 },
        { "createArray", 0, ANY, fn_create_array, NULL, 0 },
        { "createObject", 0, ANY, fn_create_object, NULL, 0 },
        { "array", 1, 1, fn_array, NULL, 0 },
        { "union", 1, ANY, fn_union, NULL, 0 },
        { "length", 1, 1, fn_length, NULL, 0 },
        { "contains", 2, 2, fn_contains, NULL, 0 },
        { "empty", 1, 1, fn_empty, NULL, 0 },
        { "first", 1, 1, fn_first_last, NULL, 0 },
        { "last", 1, 1, fn_first_last, NULL, 1 },
        { "skip", 2, 2, fn_skip_take, NULL, 0 },
        { "take", 2, 2, fn_skip_take, NULL, 1 },
        { "coalesce", 1, ANY, fn_coalesce, NULL, 0 },
        { "range", 2, 2, fn_range, NULL, 0 },
};

static const rp_tpl__func *find_in(const rp_tpl__func *t, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcasecmp(t[i].name, name) == 0)
                        return &t[i];
        return NULL;
}

const rp_tpl__func *rp_tpl__func_find(const char *name)
{
        const rp_tpl__func *f = find_in(funcs, ELEMENTSOF(funcs), name);

        if (!f)
                f = find_in(rp_tpl__funcs_str, rp_tpl__n_funcs_str, name);
        if (!f)
                f = find_in(rp_tpl__funcs_arm, rp_tpl__n_funcs_arm, name);
        return f;
}
