/* json.h: declarative parsing of JSON request bodies with jansson (spec tables). */
#pragma once
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/macro.h"

enum rp_json_kind {
        RP_JSON_STRING, /**< ret: const char ** (borrowed from the document) */
        RP_JSON_INT,    /**< ret: int64_t * (JSON integer only) */
        RP_JSON_BOOL,   /**< ret: bool * */
        RP_JSON_OBJECT, /**< ret: json_t ** (borrowed) */
        RP_JSON_ARRAY,  /**< ret: json_t ** (borrowed) */
        RP_JSON_ANY,    /**< ret: json_t ** (borrowed), any type but null */
        _RP_JSON_KIND_MAX,
        _RP_JSON_KIND_INVALID = -EINVAL,
};

/** One field of a spec table. A table ends with an entry whose path is NULL. */
typedef struct rp_json_spec {
        const char *path;       /**< field path, dot-separated ("properties.source.id") */
        enum rp_json_kind kind; /**< expected type */
        bool required;          /**< missing (or null) is an error */
        void *ret;              /**< where the value goes; untouched when absent */
} rp_json_spec;

#define RP_JSON_SPEC_END { .path = NULL }

/**
 * Walk @p specs over @p root. Null counts as absent.
 * @param[out] ret_path the failing field path (points into @p specs) on error.
 * @return 0, -ENOENT (required field missing), -EINVAL (wrong type).
 */
int rp_json_parse(const json_t *root, const rp_json_spec *specs, const char **ret_path);

/** Look up a dot-separated path. @return a borrowed value or NULL (also when an inner step is not an object). */
json_t *rp_json_get_path(const json_t *root, const char *path);

/** The name of a JSON type as ARM messages use it ("String", "Integer", "Object", ...). */
const char *rp_json_kind_to_string(enum rp_json_kind k);

/** Parse @p len bytes into an object. @param[out] ret_err a message to rp_free() on failure.
 *  @return a new reference, or NULL with *ret_err set (not an object, syntax error, OOM). */
json_t *rp_json_loads_object(const char *data, size_t len, char **ret_err);

/** Serialise compactly (any value, not only objects and arrays).
 *  @return a string to rp_free(), or NULL on OOM or past RP_MAX_JSON_DUMP; never a partial text. */
char *rp_json_dumps(const json_t *v);

/** Make jansson allocate through rp_malloc/rp_free. Call once before any jansson use. */
void rp_json_init(void);

/** Case-insensitive lookup of a key in an object (ARM names are case-insensitive). Borrowed. */
json_t *rp_json_object_get_ci(const json_t *obj, const char *key);

static inline void rp_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}
#define _cleanup_json_ _cleanup_(rp_json_decrefp)
