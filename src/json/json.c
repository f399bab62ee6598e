/* json.c: spec-table parser and small jansson helpers. */
#include "json.h"

#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/limits.h"

static void *json_alloc(size_t n)
{
        return rp_malloc(n);
}
static void json_free(void *p)
{
        rp_free(p);
}

void rp_json_init(void)
{
        json_set_alloc_funcs(json_alloc, json_free);
}

const char *rp_json_kind_to_string(enum rp_json_kind k)
{
        static const char *const names[_RP_JSON_KIND_MAX] = {
                [RP_JSON_STRING] = "String", [RP_JSON_INT] = "Integer", [RP_JSON_BOOL] = "Boolean",
                [RP_JSON_OBJECT] = "Object", [RP_JSON_ARRAY] = "Array",  [RP_JSON_ANY] = "Value",
        };
        return k >= 0 && k < _RP_JSON_KIND_MAX ? names[k] : "?";
}

json_t *rp_json_get_path(const json_t *root, const char *path)
{
        const json_t *cur = root;
        const char *p = path;
        while (cur && *p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                if (!json_is_object(cur) || n == 0 || n >= 256)
                        return NULL;
                char key[256];
                memcpy(key, p, n);
                key[n] = '\0';
                cur = json_object_get(cur, key);
                p += n + (dot ? 1 : 0);
                if (dot && !*p)
                        return NULL;
        }
        return (json_t *)cur;
}

int rp_json_parse(const json_t *root, const rp_json_spec *specs, const char **ret_path)
{
        for (const rp_json_spec *s = specs; s->path; s++) {
                json_t *v = rp_json_get_path(root, s->path);
                if (!v || json_is_null(v)) {
                        if (s->required) {
                                if (ret_path)
                                        *ret_path = s->path;
                                return -ENOENT;
                        }
                        continue;
                }
                bool ok;
                switch (s->kind) {
                case RP_JSON_STRING:
                        ok = json_is_string(v);
                        if (ok && s->ret)
                                *(const char **)s->ret = json_string_value(v);
                        break;
                case RP_JSON_INT:
                        ok = json_is_integer(v);
                        if (ok && s->ret)
                                *(int64_t *)s->ret = (int64_t)json_integer_value(v);
                        break;
                case RP_JSON_BOOL:
                        ok = json_is_boolean(v);
                        if (ok && s->ret)
                                *(bool *)s->ret = json_is_true(v);
                        break;
                case RP_JSON_OBJECT:
                        ok = json_is_object(v);
                        goto borrowed;
                case RP_JSON_ARRAY:
                        ok = json_is_array(v);
                        goto borrowed;
                case RP_JSON_ANY:
                        ok = true;
                borrowed:
                        if (ok && s->ret)
                                *(json_t **)s->ret = v;
                        break;
                default:
                        ok = false;
                }
                if (!ok) {
                        if (ret_path)
                                *ret_path = s->path;
                        return -EINVAL;
                }
        }
        return 0;
}

json_t *rp_json_loads_object(const char *data, size_t len, char **ret_err)
{
        json_error_t err;
        /* DECODE_ANY: a valid scalar or array gets "must be an object", not "invalid JSON". */
        json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
        if (!j) {
                *ret_err = rp_asprintf("invalid JSON at line %d, column %d: %s", err.line,
                                       err.column, err.text);
                return NULL;
        }
        if (!json_is_object(j)) {
                json_decref(j);
                *ret_err = rp_strdup("the request body must be a JSON object");
                return NULL;
        }
        return j;
}

/* json_dumps() ignores a failed write of an object key (jansson 2.14 dump.c, upstream issue
 * akheron/jansson#655): when growing its buffer fails there, the key is dropped and the dump
 * goes on and "succeeds" with text such as {"a":1,":2}. Dump through our own writer with a
 * sticky error instead, so that one failed write fails the whole dump. */
typedef struct dump_ctx {
        rp_buf buf;
        int err;
} dump_ctx;

static int dump_cb(const char *data, size_t n, void *ud)
{
        dump_ctx *c = ud;
        if (c->err < 0)
                return -1;
        int r = rp_buf_append(&c->buf, data, n);
        if (r < 0) {
                c->err = r;
                return -1;
        }
        return 0;
}

char *rp_json_dumps(const json_t *v)
{
        dump_ctx c = { .err = 0 };
        rp_buf_init(&c.buf, RP_MAX_JSON_DUMP);
        if (json_dump_callback(v, dump_cb, &c, JSON_COMPACT | JSON_ENCODE_ANY) < 0 || c.err < 0) {
                rp_buf_done(&c.buf);
                return NULL;
        }
        return rp_buf_detach(&c.buf);
}

json_t *rp_json_object_get_ci(const json_t *obj, const char *key)
{
        const char *k;
        json_t *v;
        json_t *exact = json_object_get(obj, key);
        if (exact)
                return exact;
        json_object_foreach((json_t *)obj, k, v)
                if (strcasecmp(k, key) == 0)
                        return v;
        return NULL;
}
