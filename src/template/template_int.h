/* template_int.h: internals shared by the template module's files (not a public API).
 *
 * Three layers: the expression parser and evaluator (template_expr.c) turns one "[...]" string
 * into an AST and evaluates it in a scope; the function table (template_funcs*.c) is data, one
 * row per template function; the plan (template.c, template_params.c) owns parameters,
 * variables and resources and builds the scopes expressions run in.
 */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/json.h"
#include "template.h"
#include "util/buf.h"

/* ARM's limits on a template. */
#define RP_TPL__MAX_PARAMETERS 256
#define RP_TPL__MAX_VARIABLES 256
#define RP_TPL__MAX_OUTPUTS 64
/* Most copy loops one value can sit in (resource loop + nested child loops + property loops). */
#define RP_TPL__MAX_LOOPS 8
/* Deepest chain of variables or parameter defaults that refer to each other. */
#define RP_TPL__MAX_REF_DEPTH 64
/* Largest value (counted in JSON nodes, shared nodes counted each time) a function may build. */
#define RP_TPL__MAX_NODES 100000
/* Work budget of one top-level evaluation, in JSON nodes visited by the functions. */
#define RP_TPL__BUDGET 20000000L

/* What an expression may call where it stands (ARM restricts reference() and utcNow()). */
enum {
        RP_TPL__ALLOW_REFERENCE = 1 << 0, /* resource bodies and outputs */
        RP_TPL__ALLOW_UTCNOW = 1 << 1,    /* parameter defaultValue only */
        RP_TPL__DENY_VARIABLES = 1 << 2,  /* parameter defaultValue */
        RP_TPL__DEPLOY_TIME = 1 << 3,     /* message style: deployment, not validation */
};

/** One copy loop the value being evaluated sits in. */
typedef struct rp_tpl__loop {
        const char *name; /* loop name (borrowed from the template) */
        int64_t index;    /* current copyIndex() */
        bool dflt;        /* copyIndex() without a name means this loop (resource/output loop) */
} rp_tpl__loop;

/** Where a value is evaluated: the plan, the loops around it, what it is for messages. */
typedef struct rp_tpl__scope {
        rp_tpl_plan *plan;
        unsigned flags; /* RP_TPL__* */
        rp_tpl__loop loops[RP_TPL__MAX_LOOPS];
        size_t n_loops;
        const char *what;        /* "resource", "variable", "parameter", "output" */
        const char *who;         /* its name in the template */
        const char *resource_id; /* the resource's id at deploy time, else NULL */
        rp_buf *path;            /* JSON path of the value being evaluated (grows/shrinks) */
} rp_tpl__scope;

/* AST. */
enum rp_tpl__node_kind {
        RP_TPL__N_STRING,
        RP_TPL__N_INT,
        RP_TPL__N_CALL,   /* str = function name, args */
        RP_TPL__N_MEMBER, /* target.str */
        RP_TPL__N_INDEX,  /* target[args[0]] */
};

typedef struct rp_tpl__node {
        enum rp_tpl__node_kind kind;
        size_t pos;   /* offset of the node in the whole template string, for messages */
        char *str;    /* string literal, function name, member name */
        int64_t ival; /* integer literal */
        struct rp_tpl__node *target;
        struct rp_tpl__node **args;
        size_t n_args;
} rp_tpl__node;

/** One expression evaluation: its scope, the error being built, the work budget. */
typedef struct rp_tpl__ev {
        const rp_tpl__scope *sc;
        const char *src;   /* the whole template string ("[concat(...)]") */
        rp_tpl_error *err; /* where a final error goes */
        const char *code;  /* error code of the detail (default InvalidTemplate) */
        char detail[640];  /* what went wrong, set by rp_tpl__fail() */
        size_t pos;        /* where */
        bool final;        /* *err is complete already (a nested variable failed) */
        long budget;       /* nodes functions may still visit */
        int variant;       /* the variant of the function row being called */
} rp_tpl__ev;

typedef int (*rp_tpl__fn)(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                          json_t **ret);
/* Lazy functions get the unevaluated call node and evaluate what they need (if()). */
typedef int (*rp_tpl__lazy_fn)(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **ret);

/** A row of the function table. */
typedef struct rp_tpl__func {
        const char *name;
        unsigned min_args;
        unsigned max_args; /* UINT_MAX: no upper bound */
        rp_tpl__fn fn;
        rp_tpl__lazy_fn lazy;
        int variant; /* rows sharing an implementation tell it apart by this (ev->variant) */
} rp_tpl__func;

/* template_expr.c */
/** Parse @p src (the whole string, "[...]" included). @return 0, -EINVAL (ev->detail set). */
int rp_tpl__parse(rp_tpl__ev *ev, const char *src, rp_tpl__node **ret);
rp_tpl__node *rp_tpl__node_free(rp_tpl__node *n);
RP_DEFINE_CLEANUP(rp_tpl__node, rp_tpl__node_free)
/** Evaluate a node; result is a new reference. */
int rp_tpl__eval_node(rp_tpl__ev *ev, const rp_tpl__node *n, json_t **ret);
/** Record what failed and where. @return -EINVAL. */
int rp_tpl__fail(rp_tpl__ev *ev, size_t pos, const char *fmt, ...) _printf_(3, 4);
/** Fail with "Unable to evaluate template language function 'f': ...". @return -EINVAL. */
int rp_tpl__fn_fail(rp_tpl__ev *ev, const rp_tpl__node *call, const char *fmt, ...) _printf_(3, 4);
/** Charge @p nodes to the budget. @return 0 or -E2BIG (detail set). */
int rp_tpl__charge(rp_tpl__ev *ev, size_t pos, long nodes);
/** Count the nodes of @p v (stopping past @p limit). */
size_t rp_tpl__count_nodes(const json_t *v, size_t limit);
/** Whether @p s is an expression ("[...]", not "[[...").  */
bool rp_tpl__is_expression(const char *s);
/**
 * Evaluate a template value: every string is an expression or a literal, objects and arrays
 * recursively (with property copy loops in objects). Fills *err fully on failure.
 * @param sc the scope; sc->path is extended and restored as the walk goes.
 */
int rp_tpl__eval_value(const rp_tpl__scope *sc, const json_t *v, json_t **ret, rp_tpl_error *err);
/** Set an error with a formatted message. @return -EINVAL (or @p r when r is < 0 and not it). */
int rp_tpl__error(rp_tpl_error *err, const char *code, const char *target, const char *fmt, ...)
        _printf_(4, 5);
/** The ARM type name of a value, as messages use it ("String", "Integer", "Object"...). */
const char *rp_tpl__type_name(const json_t *v);
/** The text of a value for concat/format/string(): strings as is, bools True/False, JSON else. */
char *rp_tpl__to_text(const json_t *v);

/* template_funcs*.c */
/** Find a function by name (case-insensitive). NULL if unknown. */
const rp_tpl__func *rp_tpl__func_find(const char *name);
/** The number of code points of a UTF-8 string (invalid bytes count one each). */
size_t rp_tpl__utf8_len(const char *s, size_t bytes);
/** Byte offset of code point @p cp in @p s (or @p bytes when past the end). */
size_t rp_tpl__utf8_offset(const char *s, size_t bytes, size_t cp);
/** Make a json string of @p n bytes, failing past RP_TPL_MAX_STRING. */
int rp_tpl__string(rp_tpl__ev *ev, const rp_tpl__node *call, const char *s, size_t n, json_t **ret);
/** Check *out with rp_tpl__check_size() and move it to *ret (*out is NULL after success). */
int rp_tpl__ret_sized(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **out, json_t **ret);
/** Check a built container against RP_TPL__MAX_NODES (and charge the budget). */
int rp_tpl__check_size(rp_tpl__ev *ev, const rp_tpl__node *call, const json_t *v);
/** Deep equality as ARM's equals(): numbers by value, strings case-sensitive. */
bool rp_tpl__equal(const json_t *a, const json_t *b);
/** Fail with "argument i must be of type 'want', found '...'". @return -EINVAL. */
int rp_tpl__type_fail(rp_tpl__ev *ev, const rp_tpl__node *call, size_t i, const char *want,
                      const json_t *got);
/** Argument @p i as an Integer (else a type error). */
int rp_tpl__arg_int(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t i,
                    int64_t *ret);
/** Argument @p i as a String: borrowed text and its length (else a type error). */
int rp_tpl__arg_str(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t i,
                    const char **ret, size_t *ret_len);
/** Store a new value in *ret: @return 0, or -ENOMEM when @p v is NULL. */
int rp_tpl__ret(json_t *v, json_t **ret);
/** uniqueString() of already-joined text. @p out gets 13 characters and a NUL. */
void rp_tpl__unique_string(const char *s, size_t n, char out[14]);
/** guid() of already-joined text: RFC 4122 v5 (SHA-1) in ARM's namespace. */
int rp_tpl__guid(const char *s, size_t n, char out[37]);
extern const rp_tpl__func rp_tpl__funcs_str[];
extern const size_t rp_tpl__n_funcs_str;
extern const rp_tpl__func rp_tpl__funcs_arm[];
extern const size_t rp_tpl__n_funcs_arm;

/* The plan. */

/** A parameter or a variable. */
typedef struct rp_tpl__named {
        const char *name;   /* as declared (borrowed from the template) */
        const json_t *decl; /* parameter declaration, variable value, or variable copy entry */
        json_t *value;      /* evaluated value (owned), NULL until evaluated */
        int state;          /* 0 not evaluated, 1 being evaluated, 2 done */
        bool is_copy;       /* a variable made by a "copy" entry */
        bool given;         /* a parameter whose value came with the deployment */
        int type;           /* parameter type (enum in template_params.c) */
        size_t copy_idx;    /* variable copy entry: its index in "variables.copy" */
} rp_tpl__named;

/** A resource instance (kept in the plan, or dropped by its condition). */
typedef struct rp_tpl__res {
        rp_tpl_resource pub;
        const json_t *decl; /* its declaration in the template */
        rp_tpl__loop loops[RP_TPL__MAX_LOOPS];
        size_t n_loops;
        const char *loop_name; /* its copy loop's name, or NULL */
        size_t parent;         /* plan index of the parent (nested child), or SIZE_MAX */
        json_t *depends;       /* evaluated dependsOn strings (owned) */
        size_t *extra;         /* serial copy dependencies (plan indices) */
        size_t n_extra;
        char *tail; /* "NS/t1/n1/t2/n2", for dependsOn matching */
} rp_tpl__res;

struct rp_tpl_plan {
        json_t *tpl;
        rp_tpl_ctx ctx;
        const json_t *given; /* parameters given to rp_tpl_plan_new(), during the call only */
        rp_tpl__named params[RP_TPL__MAX_PARAMETERS];
        size_t n_params;
        rp_tpl__named vars[RP_TPL__MAX_VARIABLES];
        size_t n_vars;
        rp_tpl__res *res; /* kept resources, in template order */
        size_t n_res;
        rp_tpl__res *dropped; /* resources whose condition is false */
        size_t n_dropped;
        const char **loops; /* every resource copy loop name, even of count 0 */
        size_t n_loops;
        json_t *by_name; /* folded id, name, "NS/type/name" -> [plan indices] (template.c) */
        json_t *by_loop; /* folded copy loop name -> [plan indices] */
        json_t *known;   /* folded names of dropped resources and of every loop -> [0] */
        const char *stack[RP_TPL__MAX_REF_DEPTH]; /* names being evaluated, for cycle messages */
        size_t depth;
};

/* template_params.c: parameters and variables of a plan. */
/** Read the declarations and the given values, evaluate and validate every parameter. */
int rp_tpl__params_init(rp_tpl_plan *p, const json_t *given, rp_tpl_error *err);
/** Read the variable declarations and evaluate every variable. */
int rp_tpl__vars_init(rp_tpl_plan *p, rp_tpl_error *err);
/** A declared type ("string", "secureObject", ... any case): an index, or -EINVAL. */
int rp_tpl__value_type(const char *s);
/** The response casing of a declared type ("String", "Int", "SecureObject"...). */
const char *rp_tpl__value_type_name(int t);
/** Whether @p v has declared type @p t. */
bool rp_tpl__value_type_matches(int t, const json_t *v);
/** Whether @p t is secureString or secureObject (values never shown). */
bool rp_tpl__value_type_secure(int t);
/** Free the values of parameters and variables. */
void rp_tpl__named_done(rp_tpl_plan *p);
/**
 * The value of parameter (@p param) or variable @p name (case-insensitive), evaluating it on
 * first use. @param[out] ret borrowed from the plan. @return 0, -EINVAL (detail set, or the
 * error of the entry itself, final), -ENOMEM.
 */
int rp_tpl__named_get(rp_tpl__ev *ev, const rp_tpl__node *call, const char *name, bool param,
                      json_t **ret);

/* template_expr.c: whole values and scopes. */
/** Evaluate one "[...]" string; fills *err fully on failure. */
int rp_tpl__eval_expr(const rp_tpl__scope *sc, const char *s, json_t **ret, rp_tpl_error *err);
/** Fail with a message about the value at the scope's path (InvalidTemplate). */
int rp_tpl__scope_fail(const rp_tpl__scope *sc, rp_tpl_error *err, const char *fmt, ...)
        _printf_(3, 4);
/** Evaluate a copy count (an Integer in 0..RP_TPL_MAX_COPY). */
int rp_tpl__eval_count(const rp_tpl__scope *sc, const json_t *v, int64_t *ret, rp_tpl_error *err);
/** Push a copy loop onto @p sc (error past RP_TPL__MAX_LOOPS). */
int rp_tpl__scope_push_loop(rp_tpl__scope *sc, rp_tpl_error *err, const char *name, int64_t index,
                            bool dflt);
/** Parse @p s and check its function names and arities (no evaluation). Fills *err. */
int rp_tpl__check_expr(const rp_tpl__scope *sc, const char *s, rp_tpl_error *err);
/** rp_tpl__check_expr() on every expression string inside @p v. */
int rp_tpl__check_value(const rp_tpl__scope *sc, const json_t *v, rp_tpl_error *err);
/** Extend the scope's path by ".key" / "[i]"; @return the length to give rp_tpl__path_pop(). */
size_t rp_tpl__path_push(const rp_tpl__scope *sc, const char *key);
size_t rp_tpl__path_push_index(const rp_tpl__scope *sc, size_t i);
void rp_tpl__path_pop(const rp_tpl__scope *sc, size_t saved);

/* template.c: what functions ask of the plan. */
const rp_tpl_ctx *rp_tpl__ctx(const rp_tpl_plan *p);
const json_t *rp_tpl__template(const rp_tpl_plan *p);
/** Resolve a resource name (full name, type/name, or an id) to a planned resource id. */
const char *rp_tpl__resolve_name(const rp_tpl_plan *p, const char *name, const char **ret_api);
