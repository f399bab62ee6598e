/* db.h: the metadata store of one region, behind a small versioned vtable.
 *
 * The embedded backend is SQLite (db_sqlite.c). Every call returns >= 0 on success (a count
 * where it says so) or a negative errno. rp_db_run_tx() runs a callback inside one
 * transaction; calls made inside it from the same thread join that transaction. */
#pragma once
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/time.h"

typedef struct rp_db rp_db;

/** A stored ARM resource. Strings are owned; free with rp_resource_free(). */
typedef struct rp_resource {
        char *key;        /**< lower-cased canonical id: the primary key */
        char *id;         /**< id as created (case preserved) */
        char *type;       /**< lower-cased full type, "microsoft.compute/disks" */
        char *parent_key; /**< key of the parent (the group for top-level resources) */
        char *sub;        /**< lower-cased subscription id */
        char *rg;         /**< lower-cased resource group name, or NULL */
        int64_t seq;      /**< insertion order, stable for paging (assigned on insert) */
        json_t *body;     /**< the document served to clients (owned reference) */
        json_t *internal; /**< state never served (file names, generations...), or NULL */
        char *etag;       /**< changes on every write */
} rp_resource;

/** A long-running operation record (the Azure-AsyncOperation status resource). */
typedef struct rp_operation {
        char *id;            /**< GUID */
        char *sub;           /**< subscription that owns it */
        char *kind;          /**< "disk.delete", ... */
        char *resource_key;  /**< the resource it acts on */
        char *status;        /**< InProgress, Succeeded, Failed, Canceled */
        rp_usec_t start;     /**< wall clock */
        rp_usec_t end;       /**< 0 while running */
        double percent;      /**< 0..100 */
        json_t *error;       /**< {code,message} when Failed, or NULL */
        unsigned result_status; /**< HTTP status the Location URL answers when done */
        json_t *result;      /**< body the Location URL answers when done, or NULL */
        json_t *args;        /**< job arguments, or NULL */
        bool job_pending;    /**< a worker still has to run it */
} rp_operation;

/** List filter: type is required; the others narrow it when not NULL. */
typedef struct rp_db_filter {
        const char *type;       /**< lower-cased full type */
        const char *sub;        /**< lower-cased subscription */
        const char *rg;         /**< lower-cased group name */
        const char *parent_key; /**< parent key */
        int64_t after_seq;      /**< only rows with seq > after_seq */
        size_t limit;           /**< at most this many (0 = no limit) */
} rp_db_filter;

/** The backend vtable. Bump version on any incompatible change. */
typedef struct rp_db_ops {
        unsigned version;
        int (*res_get)(rp_db *db, const char *key, rp_resource **ret);
        int (*res_put)(rp_db *db, rp_resource *r);
        int (*res_delete)(rp_db *db, const char *key);
        int (*res_list)(rp_db *db, const rp_db_filter *f, rp_resource ***ret, size_t *ret_n);
        int (*op_put)(rp_db *db, const rp_operation *op);
        int (*op_get)(rp_db *db, const char *id, rp_operation **ret);
        int (*op_next_job)(rp_db *db, rp_operation **ret);
        int (*kv_get)(rp_db *db, const char *k, char **ret);
        int (*kv_put)(rp_db *db, const char *k, const char *v);
        int (*tx_begin)(rp_db *db);
        int (*tx_end)(rp_db *db, bool commit);
        void (*free)(rp_db *db);
        /** Operations whose job is still pending (the worker's queue, the running one
         *  included). Optional: NULL in a backend without it. */
        int (*job_count)(rp_db *db);
} rp_db_ops;
#define RP_DB_OPS_VERSION 1

/** Every backend starts with this. */
struct rp_db {
        const rp_db_ops *ops;
};

/** Open (creating if needed) the SQLite store at @p path (WAL, synchronous=FULL). */
int rp_db_sqlite_open(const char *path, rp_db **ret);

static inline int rp_db_res_get(rp_db *db, const char *key, rp_resource **ret)
{
        return db->ops->res_get(db, key, ret);
}
/** Insert or replace; assigns r->seq on insert and a new r->etag. */
static inline int rp_db_res_put(rp_db *db, rp_resource *r)
{
        return db->ops->res_put(db, r);
}
/** @return 1 if deleted, 0 if there was none. */
static inline int rp_db_res_delete(rp_db *db, const char *key)
{
        return db->ops->res_delete(db, key);
}
/** @param[out] ret array of resources; free with rp_resource_list_free(). */
static inline int rp_db_res_list(rp_db *db, const rp_db_filter *f, rp_resource ***ret,
                                 size_t *ret_n)
{
        return db->ops->res_list(db, f, ret, ret_n);
}
static inline int rp_db_op_put(rp_db *db, const rp_operation *op)
{
        return db->ops->op_put(db, op);
}
static inline int rp_db_op_get(rp_db *db, const char *id, rp_operation **ret)
{
        return db->ops->op_get(db, id, ret);
}
/** The oldest operation with job_pending set. @return 0 if none (ret untouched), 1 if found. */
static inline int rp_db_op_next_job(rp_db *db, rp_operation **ret)
{
        return db->ops->op_next_job(db, ret);
}
/** The number of operations whose job is pending (queued or running).
 *  @return the count, or -EOPNOTSUPP (the backend cannot say), or another -errno. */
static inline int rp_db_job_count(rp_db *db)
{
        return db->ops->job_count ? db->ops->job_count(db) : -EOPNOTSUPP;
}
static inline int rp_db_kv_get(rp_db *db, const char *k, char **ret)
{
        return db->ops->kv_get(db, k, ret);
}
static inline int rp_db_kv_put(rp_db *db, const char *k, const char *v)
{
        return db->ops->kv_put(db, k, v);
}
/** Close. NULL-safe. @return NULL. */
rp_db *rp_db_free(rp_db *db);

/** Run @p fn inside one transaction: committed if it returns >= 0, rolled back otherwise.
 *  @return what @p fn returned (or the commit error). */
int rp_db_run_tx(rp_db *db, int (*fn)(rp_db *db, void *ud), void *ud);

/** Free a resource. NULL-safe. @return NULL. */
rp_resource *rp_resource_free(rp_resource *r);
/** Free a list from rp_db_res_list(). */
void rp_resource_list_free(rp_resource **list, size_t n);
/** Free an operation. NULL-safe. @return NULL. */
rp_operation *rp_operation_free(rp_operation *op);

static inline void rp_resource_freep(rp_resource **r)
{
        rp_resource_free(*r);
}
static inline void rp_operation_freep(rp_operation **o)
{
        rp_operation_free(*o);
}
