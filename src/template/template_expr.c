/* template_expr.c: ARM template language expressions: tokenizer, parser, evaluator.
 *
 * DESIGN: a template string "[f(a, 'b')[0].c]" is parsed into a small AST by recursive descent
 * (one token of lookahead), then evaluated bottom-up; values are jansson json_t throughout. The
 * grammar:
 *
 *     string  := '[' expr ']'
 *     expr    := primary ( '.' IDENT | '[' expr ']' )*
 *     primary := STRING | INTEGER | IDENT '(' [ expr ( ',' expr )* ] ')'
 *
 * STRING is single-quoted with '' for a quote; INTEGER is an optional '-' and decimal digits
 * (int64); IDENT is [A-Za-z_][A-Za-z0-9_]*. Whitespace separates tokens. There are no boolean or
 * null literals: true(), false() and null() are functions, as in ARM.
 *
 * Positions in messages are 0-based byte offsets into the whole string, the leading '['
 * included, so an editor can point at them. The parser caps nesting at RP_TPL_MAX_DEPTH and the
 * length at RP_TPL_MAX_EXPR, which bounds the evaluator's recursion too. Function calls go
 * through the data table in template_funcs*.c; if() is lazy (only the taken branch runs).
 *
 * Whole-value walking (rp_tpl__eval_value) also lives here: it applies the string rules
 * ("[..]" expression, "[[..]" escape, anything else literal) to every string of a JSON value,
 * expands property copy loops, keeps the JSON path for messages and turns a failed expression
 * into the final ARM error text.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json/json.h"
#include "template_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

int rp_tpl__fail(rp_tpl__ev *ev, size_t pos, const char *fmt, ...)
{
        va_list ap;

        ev->pos = pos;
        va_start(ap, fmt);
        vsnprintf(ev->detail, sizeof(ev->detail), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int rp_tpl__fn_fail(rp_tpl__ev *ev, const rp_tpl__node *call, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return rp_tpl__fail(ev, call->pos, "Unable to evaluate template language function '%s': %s",
                            call->str, msg);
}

int rp_tpl__charge(rp_tpl__ev *ev, size_t pos, long nodes)
{
        if (nodes > ev->budget) {
                ev->budget = 0;
                rp_tpl__fail(ev, pos, "The language expression is too expensive to evaluate.");
                return -E2BIG;
        }
        ev->budget -= nodes;
        return 0;
}

/* Length of the valid UTF-8 sequence at @p p, or 0 if it is not one (overlong forms, surrogates
 * and code points past U+10FFFF are invalid). */
static size_t utf8_valid_len(const unsigned char *p)
{
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] < 0xe0)
                n = 2;
        else if (p[0] >= 0xe0 && p[0] < 0xf0)
                n = 3;
        else if (p[0] >= 0xf0 && p[0] < 0xf5)
                n = 4;
        else
                return 0;
        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
            (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
                return 0;
        return n;
}

/* Make @p s valid UTF-8 in place: a message may quote user text cut at any byte (by "%.200s" or
 * by the buffer's size), and it must still go into a JSON error body. Bad bytes become '?'. */
static void utf8_sanitize(char *s)
{
        unsigned char *p = (unsigned char *)s;

        while (*p) {
                size_t n = utf8_valid_len(p);
                if (n == 0)
                        *p++ = '?';
                else
                        p += n;
        }
}

int rp_tpl__error(rp_tpl_error *err, const char *code, const char *target, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return -EINVAL;
        snprintf(err->code, sizeof(err->code), "%s", code);
        snprintf(err->target, sizeof(err->target), "%s", rp_strempty(target));
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
        utf8_sanitize(err->target);
        utf8_sanitize(err->message);
        return -EINVAL;
}

const char *rp_tpl__type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "Object";
        case JSON_ARRAY:
                return "Array";
        case JSON_STRING:
                return "String";
        case JSON_INTEGER:
                return "Integer";
        case JSON_REAL:
                return "Float";
        case JSON_TRUE:
        case JSON_FALSE:
                return "Boolean";
        case JSON_NULL:
                return "Null";
        }
        return "?";
}

char *rp_tpl__to_text(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_STRING:
                return rp_strndup(json_string_value(v), json_string_length(v));
        case JSON_INTEGER:
                return rp_asprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        case JSON_REAL:
                return rp_asprintf("%.17g", json_real_value(v));
        case JSON_TRUE:
                return rp_strdup("True");
        case JSON_FALSE:
                return rp_strdup("False");
        case JSON_NULL:
                return rp_strdup("");
        default:
                return rp_json_dumps(v);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Tokenizer and parser                                                                        */

enum tok_kind {
        TOK_END,
        TOK_STRING,
        TOK_INT,
        TOK_IDENT,
        TOK_LPAREN,
        TOK_RPAREN,
        TOK_COMMA,
        TOK_LBRACKET,
        TOK_RBRACKET,
        TOK_DOT,
};

typedef struct parser {
        rp_tpl__ev *ev;
        const char *src; /* whole string */
        size_t end;      /* offset of the closing ']' */
        size_t p;        /* next unread offset */
        enum tok_kind kind;
        size_t tok_pos;
        size_t tok_len;
        char *text; /* decoded string literal or identifier (owned) */
        int64_t ival;
        unsigned depth;
} parser;

static int tok_fail_char(parser *ps, size_t pos)
{
        unsigned char c = (unsigned char)ps->src[pos];

        if (c >= 0x20 && c < 0x7f)
                return rp_tpl__fail(ps->ev, pos,
                                    "The language expression is not valid: the character '%c' at "
                                    "position '%zu' is not expected.",
                                    c, pos);
        return rp_tpl__fail(ps->ev, pos,
                            "The language expression is not valid: the byte 0x%02x at position "
                            "'%zu' is not expected.",
                            c, pos);
}

static int next_token(parser *ps)
{
        const char *s = ps->src;

        ps->text = rp_free(ps->text);
        while (ps->p < ps->end &&
               (s[ps->p] == ' ' || s[ps->p] == '\t' || s[ps->p] == '\n' || s[ps->p] == '\r'))
                ps->p++;
        ps->tok_pos = ps->p;
        if (ps->p >= ps->end) {
                ps->kind = TOK_END;
                ps->tok_len = 0;
                return 0;
        }

        char c = s[ps->p];
        static const char punct[] = "(),[].";
        const char *q = strchr(punct, c);
        if (q && c) {
                static const enum tok_kind kinds[] = { TOK_LPAREN,   TOK_RPAREN,   TOK_COMMA,
                                                       TOK_LBRACKET, TOK_RBRACKET, TOK_DOT };
                ps->kind = kinds[q - punct];
                ps->tok_len = 1;
                ps->p++;
                return 0;
        }

        if (c == '\'') {
                rp_buf b;
                size_t i = ps->p + 1;

                rp_buf_init(&b, RP_TPL_MAX_EXPR);
                for (;;) {
                        if (i >= ps->end) {
                                rp_buf_done(&b);
                                return rp_tpl__fail(ps->ev, ps->tok_pos,
                                                    "The language expression is not valid: the "
                                                    "string literal at position '%zu' is not "
                                                    "terminated.",
                                                    ps->tok_pos);
                        }
                        if (s[i] == '\'') {
                                if (i + 1 < ps->end && s[i + 1] == '\'') {
                                        if (rp_buf_append(&b, "'", 1) < 0)
                                                goto oom;
                                        i += 2;
                                        continue;
                                }
                                break;
                        }
                        size_t j = i;
                        while (j < ps->end && s[j] != '\'')
                                j++;
                        if (rp_buf_append(&b, s + i, j - i) < 0)
                                goto oom;
                        i = j;
                }
                ps->text = b.ptr ? rp_buf_detach(&b) : rp_strdup("");
                if (!ps->text)
                        return -ENOMEM;
                ps->kind = TOK_STRING;
                ps->p = i + 1;
                ps->tok_len = ps->p - ps->tok_pos;
                return 0;
        oom:
                rp_buf_done(&b);
                return -ENOMEM;
        }

        if (c == '-' || (c >= '0' && c <= '9')) {
                size_t i = ps->p + (c == '-');
                uint64_t v = 0;
                size_t start = i;

                while (i < ps->end && s[i] >= '0' && s[i] <= '9') {
                        unsigned d = (unsigned)(s[i] - '0');
                        if (v > (UINT64_MAX - d) / 10 || v * 10 + d > (uint64_t)INT64_MAX + 1)
                                return rp_tpl__fail(ps->ev, ps->tok_pos,
                                                    "The language expression is not valid: the "
                                                    "integer at position '%zu' is out of range.",
                                                    ps->tok_pos);
                        v = v * 10 + d;
                        i++;
                }
                if (i == start)
                        return tok_fail_char(ps, ps->tok_pos);
                if (c != '-' && v > (uint64_t)INT64_MAX)
                        return rp_tpl__fail(ps->ev, ps->tok_pos,
                                            "The language expression is not valid: the integer "
                                            "at position '%zu' is out of range.",
                                            ps->tok_pos);
                if (i < ps->end && (isalpha((unsigned char)s[i]) || s[i] == '_' || s[i] == '.'))
                        return tok_fail_char(ps, i);
                ps->ival = c == '-' ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v)
                                    : (int64_t)v;
                ps->kind = TOK_INT;
                ps->p = i;
                ps->tok_len = i - ps->tok_pos;
                return 0;
        }

        if (isalpha((unsigned char)c) || c == '_') {
                size_t i = ps->p;
                while (i < ps->end && (isalnum((unsigned char)s[i]) || s[i] == '_'))
                        i++;
                ps->text = rp_strndup(s + ps->p, i - ps->p);
                if (!ps->text)
                        return -ENOMEM;
                ps->kind = TOK_IDENT;
                ps->p = i;
                ps->tok_len = i - ps->tok_pos;
                return 0;
        }

        return tok_fail_char(ps, ps->p);
}

rp_tpl__node *rp_tpl__node_free(rp_tpl__node *n)
{
        if (!n)
                return NULL;
        rp_free(n->str);
        rp_tpl__node_free(n->target);
        for (size_t i = 0; i < n->n_args; i++)
                rp_tpl__node_free(n->args[i]);
        rp_free(n->args);
        return rp_free(n);
}

static rp_tpl__node *node_new(enum rp_tpl__node_kind kind, size_t pos)
{
        rp_tpl__node *n = rp_calloc(1, sizeof(*n));
        if (n) {
                n->kind = kind;
                n->pos = pos;
        }
        return n;
}

static int node_add_arg(rp_tpl__node *call, rp_tpl__node *arg)
{
        rp_tpl__node **a = rp_realloc(call->args, (call->n_args + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        call->args = a;
        call->args[call->n_args++] = arg;
        return 0;
}

static int expect_fail(parser *ps, const char *what)
{
        if (ps->kind == TOK_END)
                return rp_tpl__fail(ps->ev, ps->tok_pos,
                                    "The language expression is not valid: %s expected at position "
                                    "'%zu' but the expression ends.",
                                    what, ps->tok_pos);
        return rp_tpl__fail(ps->ev, ps->tok_pos,
                            "The language expression is not valid: %s expected at position '%zu', "
                            "found '%.*s'.",
                            what, ps->tok_pos, (int)RP_MIN(ps->tok_len, 40), ps->src + ps->tok_pos);
}

static int parse_expr(parser *ps, rp_tpl__node **ret);

static int parse_call(parser *ps, rp_tpl__node **ret)
{
        _cleanup_(rp_tpl__node_freep) rp_tpl__node *call = node_new(RP_TPL__N_CALL, ps->tok_pos);
        int r;

        if (!call)
                return -ENOMEM;
        call->str = TAKE_PTR(ps->text);
        r = next_token(ps);
        if (r < 0)
                return r;
        if (ps->kind != TOK_LPAREN)
                return expect_fail(ps, "'('");
        r = next_token(ps);
        if (r < 0)
                return r;
        if (ps->kind != TOK_RPAREN) {
                for (;;) {
                        rp_tpl__node *arg = NULL;
                        r = parse_expr(ps, &arg);
                        if (r < 0)
                                return r;
                        r = node_add_arg(call, arg);
                        if (r < 0) {
                                rp_tpl__node_free(arg);
                                return r;
                        }
                        if (ps->kind == TOK_RPAREN)
                                break;
                        if (ps->kind != TOK_COMMA)
                                return expect_fail(ps, "',' or ')'");
                        r = next_token(ps);
                        if (r < 0)
                                return r;
                }
        }
        r = next_token(ps); /* past ')' */
        if (r < 0)
                return r;
        *ret = TAKE_PTR(call);
        return 0;
}

static int parse_primary(parser *ps, rp_tpl__node **ret)
{
        rp_tpl__node *n;
        int r;

        switch (ps->kind) {
        case TOK_STRING:
                n = node_new(RP_TPL__N_STRING, ps->tok_pos);
                if (!n)
                        return -ENOMEM;
                n->str = TAKE_PTR(ps->text);
                r = next_token(ps);
                if (r < 0) {
                        rp_tpl__node_free(n);
                        return r;
                }
                *ret = n;
                return 0;
        case TOK_INT:
                n = node_new(RP_TPL__N_INT, ps->tok_pos);
                if (!n)
                        return -ENOMEM;
                n->ival = ps->ival;
                r = next_token(ps);
                if (r < 0) {
                        rp_tpl__node_free(n);
                        return r;
                }
                *ret = n;
                return 0;
        case TOK_IDENT:
                return parse_call(ps, ret);
        default:
                return expect_fail(ps, "a function call, string or integer");
        }
}

static int parse_expr(parser *ps, rp_tpl__node **ret)
{
        _cleanup_(rp_tpl__node_freep) rp_tpl__node *n = NULL;
        int r;

        if (++ps->depth > RP_TPL_MAX_DEPTH)
                return rp_tpl__fail(ps->ev, ps->tok_pos,
                                    "The language expression is not valid: it nests deeper than "
                                    "%d levels at position '%zu'.",
                                    RP_TPL_MAX_DEPTH, ps->tok_pos);
        r = parse_primary(ps, &n);
        if (r < 0)
                return r;
        for (;;) {
                rp_tpl__node *post;
                if (ps->kind == TOK_DOT) {
                        size_t pos = ps->tok_pos;
                        r = next_token(ps);
                        if (r < 0)
                                return r;
                        if (ps->kind != TOK_IDENT)
                                return expect_fail(ps, "a property name");
                        post = node_new(RP_TPL__N_MEMBER, pos);
                        if (!post)
                                return -ENOMEM;
                        post->str = TAKE_PTR(ps->text);
                        post->target = TAKE_PTR(n);
                        n = post;
                        r = next_token(ps);
                        if (r < 0)
                                return r;
                } else if (ps->kind == TOK_LBRACKET) {
                        rp_tpl__node *idx = NULL;
                        size_t pos = ps->tok_pos;
                        r = next_token(ps);
                        if (r < 0)
                                return r;
                        r = parse_expr(ps, &idx);
                        if (r < 0)
                                return r;
                        post = node_new(RP_TPL__N_INDEX, pos);
                        if (!post || node_add_arg(post, idx) < 0) {
                                rp_tpl__node_free(idx);
                                rp_free(post);
                                return -ENOMEM;
                        }
                        post->target = TAKE_PTR(n);
                        n = post;
                        if (ps->kind != TOK_RBRACKET)
                                return expect_fail(ps, "']'");
                        r = next_token(ps);
                        if (r < 0)
                                return r;
                } else {
                        break;
                }
        }
        ps->depth--;
        *ret = TAKE_PTR(n);
        return 0;
}

bool rp_tpl__is_expression(const char *s)
{
        size_t n = strlen(s);
        return n >= 2 && s[0] == '[' && s[1] != '[' && s[n - 1] == ']';
}

int rp_tpl__parse(rp_tpl__ev *ev, const char *src, rp_tpl__node **ret)
{
        size_t n = strlen(src);
        parser ps = { .ev = ev, .src = src };
        rp_tpl__node *root = NULL;
        int r;

        if (n > RP_TPL_MAX_EXPR)
                return rp_tpl__fail(ev, 0, "The language expression is longer than %d characters.",
                                    RP_TPL_MAX_EXPR);
        if (n < 2 || src[0] != '[' || src[n - 1] != ']')
                return rp_tpl__fail(ev, 0, "The string is not a language expression.");
        ps.p = 1;
        ps.end = n - 1;
        r = next_token(&ps);
        if (r < 0)
                goto out;
        if (ps.kind == TOK_END) {
                r = rp_tpl__fail(ev, 1, "The language expression is empty.");
                goto out;
        }
        r = parse_expr(&ps, &root);
        if (r < 0)
                goto out;
        if (ps.kind != TOK_END) {
                r = rp_tpl__fail(ev, ps.tok_pos,
                                 "The language expression is not valid: unexpected '%.*s' at "
                                 "position '%zu' after the end of the expression.",
                                 (int)RP_MIN(ps.tok_len, 40), src + ps.tok_pos, ps.tok_pos);
                rp_tpl__node_free(root);
                goto out;
        }
        *ret = root;
out:
        rp_free(ps.text);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Evaluator                                                                                   */

/* "a, b, c" of an object's keys, cut to fit @p out. */
static void key_list(const json_t *obj, char *out, size_t size)
{
        const char *k;
        json_t *v;
        size_t len = 0;

        out[0] = '\0';
        json_object_foreach((json_t *)obj, k, v) {
                int w = snprintf(out + len, size - len, "%s%s", len ? ", " : "", k);
                if (w < 0 || (size_t)w >= size - len) {
                        out[len] = '\0';
                        break;
                }
                len += (size_t)w;
        }
}

static int eval_property(rp_tpl__ev *ev, size_t pos, const json_t *obj, const char *key,
                         json_t **ret)
{
        json_t *v;
        char keys[200];

        if (!json_is_object(obj))
                return rp_tpl__fail(ev, pos,
                                    "The language expression property '%s' can't be evaluated "
                                    "on a value of type '%s'.",
                                    key, rp_tpl__type_name(obj));
        v = json_object_get(obj, key);
        if (!v)
                v = rp_json_object_get_ci(obj, key);
        if (!v) {
                key_list(obj, keys, sizeof(keys));
                return rp_tpl__fail(ev, pos,
                                    "The language expression property '%s' doesn't exist, "
                                    "available properties are '%s'.",
                                    key, keys);
        }
        *ret = json_incref(v);
        return 0;
}

/* The table row of call @p n, checking that it exists and that the arity fits. */
static int lookup_call(rp_tpl__ev *ev, const rp_tpl__node *n, const rp_tpl__func **ret)
{
        const rp_tpl__func *f = rp_tpl__func_find(n->str);

        if (!f)
                return rp_tpl__fail(ev, n->pos,
                                    "The template function '%s' is not valid. Please see "
                                    "https://aka.ms/arm-functions for usage details.",
                                    n->str);
        if (n->n_args < f->min_args || n->n_args > f->max_args) {
                if (f->min_args == f->max_args)
                        return rp_tpl__fail(ev, n->pos,
                                            "The template language function '%s' must have "
                                            "exactly %u parameter(s), found %zu.",
                                            n->str, f->min_args, n->n_args);
                if (n->n_args < f->min_args)
                        return rp_tpl__fail(ev, n->pos,
                                            "The template language function '%s' must have at "
                                            "least %u parameter(s), found %zu.",
                                            n->str, f->min_args, n->n_args);
                return rp_tpl__fail(ev, n->pos,
                                    "The template language function '%s' must have at most %u "
                                    "parameter(s), found %zu.",
                                    n->str, f->max_args, n->n_args);
        }
        *ret = f;
        return 0;
}

static int eval_call(rp_tpl__ev *ev, const rp_tpl__node *n, json_t **ret)
{
        const rp_tpl__func *f = NULL;
        json_t *args_small[8];
        json_t **args = args_small;
        size_t done = 0;
        int r;

        r = lookup_call(ev, n, &f);
        if (r < 0)
                return r;
        if (f->lazy)
                return f->lazy(ev, n, ret);

        if (n->n_args > ELEMENTSOF(args_small)) {
                args = rp_calloc(n->n_args, sizeof(*args));
                if (!args)
                        return -ENOMEM;
        }
        for (; done < n->n_args; done++) {
                r = rp_tpl__eval_node(ev, n->args[done], &args[done]);
                if (r < 0)
                        goto out;
        }
        ev->variant = f->variant;
        r = f->fn(ev, n, args, n->n_args, ret);
out:
        for (size_t i = 0; i < done; i++)
                json_decref(args[i]);
        if (args != args_small)
                rp_free(args);
        return r;
}

int rp_tpl__eval_node(rp_tpl__ev *ev, const rp_tpl__node *n, json_t **ret)
{
        _cleanup_json_ json_t *t = NULL, *idx = NULL;
        json_t *v;
        int r;

        switch (n->kind) {
        case RP_TPL__N_STRING:
                v = json_string(n->str);
                if (!v)
                        return -ENOMEM;
                *ret = v;
                return 0;
        case RP_TPL__N_INT:
                v = json_integer(n->ival);
                if (!v)
                        return -ENOMEM;
                *ret = v;
                return 0;
        case RP_TPL__N_CALL:
                return eval_call(ev, n, ret);
        case RP_TPL__N_MEMBER:
                r = rp_tpl__eval_node(ev, n->target, &t);
                if (r < 0)
                        return r;
                return eval_property(ev, n->pos, t, n->str, ret);
        case RP_TPL__N_INDEX:
                r = rp_tpl__eval_node(ev, n->target, &t);
                if (r < 0)
                        return r;
                r = rp_tpl__eval_node(ev, n->args[0], &idx);
                if (r < 0)
                        return r;
                if (json_is_array(t) && json_is_integer(idx)) {
                        json_int_t i = json_integer_value(idx);
                        if (i < 0 || (size_t)i >= json_array_size(t))
                                return rp_tpl__fail(
                                        ev, n->pos,
                                        "The language expression array index '%" JSON_INTEGER_FORMAT
                                        "' is out of bounds (the array has %zu "
                                        "element(s)).",
                                        i, json_array_size(t));
                        *ret = json_incref(json_array_get(t, (size_t)i));
                        return 0;
                }
                if (json_is_object(t) && json_is_string(idx))
                        return eval_property(ev, n->pos, t, json_string_value(idx), ret);
                return rp_tpl__fail(ev, n->pos,
                                    "The language expression can't index a value of type '%s' "
                                    "with a value of type '%s'.",
                                    rp_tpl__type_name(t), rp_tpl__type_name(idx));
        }
        return -EINVAL;
}

/* ------------------------------------------------------------------------------------------ */
/* Whole values                                                                                */

/* Build the final message of a failed expression (or of a structural error in a value). */
static int scope_fail(const rp_tpl__scope *sc, rp_tpl_error *err, const char *code,
                      const char *detail)
{
        const char *path = sc->path && sc->path->ptr ? sc->path->ptr : "";

        if (sc->flags & RP_TPL__DEPLOY_TIME) {
                if (sc->resource_id)
                        return rp_tpl__error(err, code, path,
                                             "Unable to process template language expressions "
                                             "for resource '%s' at '%s'. %s",
                                             sc->resource_id, path, detail);
                return rp_tpl__error(err, code, path,
                                     "Unable to evaluate the template %s '%s' at '%s'. %s",
                                     sc->what, rp_strempty(sc->who), path, detail);
        }
        return rp_tpl__error(err, code, path,
                             "Deployment template validation failed: 'The template %s '%s' at "
                             "'%s' is not valid: %s'",
                             sc->what, rp_strempty(sc->who), path, detail);
}

int rp_tpl__scope_fail(const rp_tpl__scope *sc, rp_tpl_error *err, const char *fmt, ...)
{
        char detail[700];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        return scope_fail(sc, err, RP_TPL_EC_INVALID_TEMPLATE, detail);
}

int rp_tpl__eval_expr(const rp_tpl__scope *sc, const char *s, json_t **ret, rp_tpl_error *err)
{
        _cleanup_(rp_tpl__node_freep) rp_tpl__node *root = NULL;
        rp_tpl__ev ev = {
                .sc = sc,
                .src = s,
                .err = err,
                .code = RP_TPL_EC_INVALID_TEMPLATE,
                .budget = RP_TPL__BUDGET,
        };
        char detail[900];
        int r;

        r = rp_tpl__parse(&ev, s, &root);
        if (r >= 0)
                r = rp_tpl__eval_node(&ev, root, ret);
        if (r >= 0 || r == -ENOMEM || ev.final)
                return r;
        snprintf(detail, sizeof(detail),
                 "The language expression '%.200s%s' failed at position %zu: %s", s,
                 strlen(s) > 200 ? "..." : "", ev.pos, ev.detail);
        scope_fail(sc, err, ev.code, detail);
        return r;
}

static int eval_string(const rp_tpl__scope *sc, const json_t *v, json_t **ret, rp_tpl_error *err)
{
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);

        if (rp_tpl__is_expression(s) && strlen(s) == n)
                return rp_tpl__eval_expr(sc, s, ret, err);
        if (n >= 3 && s[0] == '[' && s[1] == '[' && s[n - 1] == ']') {
                json_t *lit = json_stringn(s + 1, n - 1);
                if (!lit)
                        return -ENOMEM;
                *ret = lit;
                return 0;
        }
        *ret = json_incref((json_t *)v);
        return 0;
}

static size_t path_push_key(const rp_tpl__scope *sc, const char *key)
{
        size_t saved;

        if (!sc->path)
                return 0;
        saved = sc->path->len;
        if (saved == 0)
                (void)rp_buf_puts(sc->path, key);
        else
                (void)rp_buf_printf(sc->path, ".%s", key);
        return saved;
}

static size_t path_push_index(const rp_tpl__scope *sc, size_t i)
{
        size_t saved;

        if (!sc->path)
                return 0;
        saved = sc->path->len;
        (void)rp_buf_printf(sc->path, "[%zu]", i);
        return saved;
}

static void path_pop(const rp_tpl__scope *sc, size_t saved)
{
        if (sc->path && sc->path->ptr && saved <= sc->path->len) {
                sc->path->len = saved;
                sc->path->ptr[saved] = '\0';
        }
}

size_t rp_tpl__path_push(const rp_tpl__scope *sc, const char *key)
{
        return path_push_key(sc, key);
}

size_t rp_tpl__path_push_index(const rp_tpl__scope *sc, size_t i)
{
        return path_push_index(sc, i);
}

void rp_tpl__path_pop(const rp_tpl__scope *sc, size_t saved)
{
        path_pop(sc, saved);
}

int rp_tpl__eval_count(const rp_tpl__scope *sc, const json_t *v, int64_t *ret, rp_tpl_error *err)
{
        _cleanup_json_ json_t *c = NULL;
        int r;

        if (!v)
                return rp_tpl__scope_fail(sc, err, "The copy 'count' property is missing.");
        r = rp_tpl__eval_value(sc, v, &c, err);
        if (r < 0)
                return r;
        if (!json_is_integer(c))
                return rp_tpl__scope_fail(sc, err,
                                          "The copy 'count' must be an Integer, found '%s'.",
                                          rp_tpl__type_name(c));
        if (json_integer_value(c) < 0 || json_integer_value(c) > RP_TPL_MAX_COPY)
                return rp_tpl__scope_fail(sc, err,
                                          "The copy count '%" JSON_INTEGER_FORMAT
                                          "' is not valid: it must be between 0 and %d.",
                                          json_integer_value(c), RP_TPL_MAX_COPY);
        *ret = json_integer_value(c);
        return 0;
}

int rp_tpl__scope_push_loop(rp_tpl__scope *sc, rp_tpl_error *err, const char *name, int64_t index,
                            bool dflt)
{
        if (sc->n_loops >= RP_TPL__MAX_LOOPS)
                return rp_tpl__scope_fail(sc, err, "Copy loops nest deeper than %d levels.",
                                          RP_TPL__MAX_LOOPS);
        sc->loops[sc->n_loops++] = (rp_tpl__loop){ .name = name, .index = index, .dflt = dflt };
        return 0;
}

/* A property copy loop: "copy": [{"name": "disks", "count": 2, "input": {...}}] in an object.
 * Adds one key per entry to @p out, an array of @p count evaluated inputs. */
static int eval_property_copy(const rp_tpl__scope *sc, const json_t *copy, json_t *out,
                              rp_tpl_error *err)
{
        size_t i;
        json_t *entry;

        json_array_foreach(copy, i, entry) {
                size_t saved = path_push_index(sc, i);
                const char *name = json_string_value(json_object_get(entry, "name"));
                const json_t *input = json_object_get(entry, "input");
                _cleanup_json_ json_t *arr = NULL;
                int64_t count;
                int r;

                if (!json_is_object(entry) || !name || !*name || !input) {
                        r = rp_tpl__scope_fail(sc, err,
                                               "A property copy loop must be an object with "
                                               "'name', 'count' and 'input'.");
                        path_pop(sc, saved);
                        return r;
                }
                r = rp_tpl__eval_count(sc, json_object_get(entry, "count"), &count, err);
                if (r < 0) {
                        path_pop(sc, saved);
                        return r;
                }
                arr = json_array();
                if (!arr)
                        return -ENOMEM;
                for (int64_t k = 0; k < count; k++) {
                        rp_tpl__scope inner = *sc;
                        json_t *item = NULL;
                        size_t saved2 = path_push_key(sc, "input");

                        r = rp_tpl__scope_push_loop(&inner, err, name, k, false);
                        if (r >= 0)
                                r = rp_tpl__eval_value(&inner, input, &item, err);
                        path_pop(sc, saved2);
                        if (r < 0) {
                                path_pop(sc, saved);
                                return r;
                        }
                        if (json_array_append_new(arr, item) < 0)
                                return -ENOMEM;
                }
                path_pop(sc, saved);
                if (json_object_set(out, name, arr) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int rp_tpl__eval_value(const rp_tpl__scope *sc, const json_t *v, json_t **ret, rp_tpl_error *err)
{
        _cleanup_json_ json_t *out = NULL;
        int r;

        switch (json_typeof(v)) {
        case JSON_STRING:
                return eval_string(sc, v, ret, err);
        case JSON_ARRAY: {
                size_t i;
                json_t *e;

                out = json_array();
                if (!out)
                        return -ENOMEM;
                json_array_foreach(v, i, e) {
                        json_t *x = NULL;
                        size_t saved = path_push_index(sc, i);
                        r = rp_tpl__eval_value(sc, e, &x, err);
                        path_pop(sc, saved);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(out, x) < 0)
                                return -ENOMEM;
                }
                break;
        }
        case JSON_OBJECT: {
                const char *k;
                json_t *e;

                out = json_object();
                if (!out)
                        return -ENOMEM;
                json_object_foreach((json_t *)v, k, e) {
                        json_t *x = NULL;
                        size_t saved = path_push_key(sc, k);

                        if (strcasecmp(k, "copy") == 0 && json_is_array(e))
                                r = eval_property_copy(sc, e, out, err);
                        else
                                r = rp_tpl__eval_value(sc, e, &x, err);
                        path_pop(sc, saved);
                        if (r < 0)
                                return r;
                        if (x && json_object_set_new(out, k, x) < 0)
                                return -ENOMEM;
                }
                break;
        }
        default:
                out = json_incref((json_t *)v);
                break;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Static checks                                                                               */

static int check_node(rp_tpl__ev *ev, const rp_tpl__node *n)
{
        int r;

        if (n->target) {
                r = check_node(ev, n->target);
                if (r < 0)
                        return r;
        }
        if (n->kind == RP_TPL__N_CALL) {
                const rp_tpl__func *f;
                r = lookup_call(ev, n, &f);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n->n_args; i++) {
                r = check_node(ev, n->args[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int rp_tpl__check_expr(const rp_tpl__scope *sc, const char *s, rp_tpl_error *err)
{
        _cleanup_(rp_tpl__node_freep) rp_tpl__node *root = NULL;
        rp_tpl__ev ev = { .sc = sc, .src = s, .err = err, .code = RP_TPL_EC_INVALID_TEMPLATE };
        char detail[900];
        int r;

        r = rp_tpl__parse(&ev, s, &root);
        if (r >= 0)
                r = check_node(&ev, root);
        if (r >= 0 || r == -ENOMEM)
                return r;
        snprintf(detail, sizeof(detail),
                 "The language expression '%.200s%s' failed at position %zu: %s", s,
                 strlen(s) > 200 ? "..." : "", ev.pos, ev.detail);
        return scope_fail(sc, err, ev.code, detail);
}

int rp_tpl__check_value(const rp_tpl__scope *sc, const json_t *v, rp_tpl_error *err)
{
        int r = 0;

        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                if (rp_tpl__is_expression(s) && strlen(s) == json_string_length(v))
                        return rp_tpl__check_expr(sc, s, err);
        } else if (json_is_array(v)) {
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e) {
                        size_t saved = path_push_index(sc, i);
                        r = rp_tpl__check_value(sc, e, err);
                        path_pop(sc, saved);
                        if (r < 0)
                                return r;
                }
        } else if (json_is_object(v)) {
                const char *k;
                json_t *e;
                json_object_foreach((json_t *)v, k, e) {
                        size_t saved = path_push_key(sc, k);
                        r = rp_tpl__check_value(sc, e, err);
                        path_pop(sc, saved);
                        if (r < 0)
                                return r;
                }
        }
        return r;
}
