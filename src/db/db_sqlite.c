/* db_sqlite.c: the embedded metadata store, one SQLite database per region.
 *
 * DESIGN: one connection per region, guarded by a recursive mutex, so that a transaction
 * opened by rp_db_run_tx() on a thread is joined by the calls that thread makes inside it
 * and other threads wait. WAL with synchronous=FULL: a commit that returned is on disk.
 * Resources are JSON documents keyed by their lower-cased id; seq (AUTOINCREMENT) gives a
 * stable order for paging. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#include "db.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/macro.h"

#define STMT_CACHE 16

typedef struct sqlite_db {
        rp_db base;
        sqlite3 *h;
        pthread_mutex_t lock;
        int tx_depth;
        /* Prepared statements, kept for the life of the connection (used under lock). */
        struct {
                const char *sql;
                sqlite3_stmt *stmt;
        } cache[STMT_CACHE];
} sqlite_db;

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS resources ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " key TEXT NOT NULL UNIQUE, id TEXT NOT NULL, type TEXT NOT NULL,"
        " parent_key TEXT NOT NULL, sub TEXT NOT NULL, rg TEXT,"
        " body TEXT NOT NULL, internal TEXT, etag TEXT NOT NULL);"
        "CREATE INDEX IF NOT EXISTS resources_type ON resources(type, sub, rg, seq);"
        "CREATE INDEX IF NOT EXISTS resources_parent ON resources(parent_key, type, seq);"
        "CREATE TABLE IF NOT EXISTS operations ("
        " n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, sub TEXT NOT NULL,"
        " kind TEXT NOT NULL, resource_key TEXT, status TEXT NOT NULL, start INTEGER NOT NULL,"
        " end INTEGER NOT NULL, percent REAL NOT NULL, error TEXT, result_status INTEGER,"
        " result TEXT, args TEXT, job_pending INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX IF NOT EXISTS operations_jobs ON operations(job_pending, n);"
        "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);";

static void db_lock(sqlite_db *d)
{
        pthread_mutex_lock(&d->lock);
}
static void db_unlock(sqlite_db *d)
{
        pthread_mutex_unlock(&d->lock);
}

static int sq_err(int rc)
{
        switch (rc) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_FULL:
                return -ENOSPC;
        default:
                return -EIO;
        }
}

static int exec(sqlite_db *d, const char *sql)
{
        char *msg = NULL;
        int rc = sqlite3_exec(d->h, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                log_debug("sqlite: %s: %s", sql, msg ? msg : "?");
                sqlite3_free(msg);
        }
        return sq_err(rc);
}

/* A prepared statement for @p sql from the cache (prepared on first use). Caller holds the
 * lock and hands it back with stmt_release(). */
static int prepare(sqlite_db *d, const char *sql, sqlite3_stmt **ret)
{
        size_t i;
        for (i = 0; i < STMT_CACHE && d->cache[i].sql; i++)
                if (d->cache[i].sql == sql || strcmp(d->cache[i].sql, sql) == 0) {
                        *ret = d->cache[i].stmt;
                        return 0;
                }
        int rc = sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
        if (rc != SQLITE_OK) {
                log_debug("sqlite prepare: %s: %s", sql, sqlite3_errmsg(d->h));
                return sq_err(rc);
        }
        if (i < STMT_CACHE) {
                d->cache[i].sql = sql;
                d->cache[i].stmt = *ret;
        }
        return 0;
}

/* Reset a statement from prepare() (or finalize it if the cache was full), then unlock. */
static void stmt_release(sqlite_db *d, sqlite3_stmt *s)
{
        if (s) {
                bool cached = false;
                for (size_t i = 0; i < STMT_CACHE && d->cache[i].sql; i++)
                        cached = cached || d->cache[i].stmt == s;
                if (cached) {
                        sqlite3_reset(s);
                        sqlite3_clear_bindings(s);
                } else {
                        sqlite3_finalize(s);
                }
        }
        db_unlock(d);
}

/* Column readers. A SQL NULL reads as NULL; any other failure sets *err (sticky: the first
 * error wins), so that an OOM is never mistaken for an absent optional column. */
static char *col_str(sqlite3_stmt *s, int i, int *err)
{
        if (sqlite3_column_type(s, i) == SQLITE_NULL)
                return NULL;
        const unsigned char *t = sqlite3_column_text(s, i);
        char *c = t ? rp_strdup((const char *)t) : NULL;
        if (!c && *err == 0)
                *err = -ENOMEM;
        return c;
}

static json_t *col_json(sqlite3_stmt *s, int i, int *err)
{
        if (sqlite3_column_type(s, i) == SQLITE_NULL)
                return NULL;
        const unsigned char *t = sqlite3_column_text(s, i);
        if (!t) {
                if (*err == 0)
                        *err = -ENOMEM;
                return NULL;
        }
        json_error_t e;
        json_t *j = json_loads((const char *)t, JSON_DECODE_ANY, &e);
        if (!j) {
                /* jansson reports an allocation failure inside its lexer as a syntax error, so
                 * the two cannot be told apart. Documents here were written by rp_json_dumps(),
                 * so count it as OOM; the text is logged in case it was corruption. */
                log_debug("sqlite: stored JSON in column %d does not parse: %s", i, e.text);
                if (*err == 0)
                        *err = -ENOMEM;
        }
        return j;
}

/* A required column: NULL is corruption. */
static void require(const void *v, int *err)
{
        if (!v && *err == 0)
                *err = -EBADMSG;
}

static void free_text(void *p)
{
        rp_free(p);
}

/* Binders return a SQLite code; the callers fold them with bind_ok(). */
static int bind_json(sqlite3_stmt *s, int i, const json_t *j)
{
        if (!j)
                return sqlite3_bind_null(s, i);
        char *t = rp_json_dumps(j);
        if (!t)
                return SQLITE_NOMEM;
        return sqlite3_bind_text(s, i, t, -1, free_text);
}

static int bind_text(sqlite3_stmt *s, int i, const char *t)
{
        return t ? sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* Keep the first failed bind: an unbound parameter is NULL, so ignoring a failure (OOM while
 * serialising a document) would store NULL or hit a NOT NULL constraint as -EEXIST. */
static void bind_ok(int *rc, int bind_rc)
{
        if (*rc == SQLITE_OK)
                *rc = bind_rc;
}

/* ---------------------------------------------------------------- resources */

#define RES_COLS "seq, key, id, type, parent_key, sub, rg, body, internal, etag"

/* @param[out] ret a resource to rp_resource_free(). @return 0, -ENOMEM or -EBADMSG. */
static int res_from_row(sqlite3_stmt *s, rp_resource **ret)
{
        int err = 0;
        rp_resource *r = rp_calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->seq = sqlite3_column_int64(s, 0);
        r->key = col_str(s, 1, &err);
        r->id = col_str(s, 2, &err);
        r->type = col_str(s, 3, &err);
        r->parent_key = col_str(s, 4, &err);
        r->sub = col_str(s, 5, &err);
        r->rg = col_str(s, 6, &err);
        r->body = col_json(s, 7, &err);
        r->internal = col_json(s, 8, &err);
        r->etag = col_str(s, 9, &err);
        require(r->key, &err);
        require(r->id, &err);
        require(r->type, &err);
        require(r->parent_key, &err);
        require(r->sub, &err);
        require(r->body, &err);
        require(r->etag, &err);
        if (err < 0) {
                rp_resource_free(r);
                return err;
        }
        *ret = r;
        return 0;
}

static int sq_res_get(rp_db *db, const char *key, rp_resource **ret)
{
        sqlite_db *d = (sqlite_db *)db;
        sqlite3_stmt *s = NULL;
        int r;
        db_lock(d);
        r = prepare(d, "SELECT " RES_COLS " FROM resources WHERE key = ?", &s);
        if (r < 0)
                goto out;
        int rc = bind_text(s, 1, key);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) {
                r = -ENOENT;
        } else if (rc == SQLITE_ROW) {
                r = res_from_row(s, ret);
        } else {
                r = sq_err(rc);
        }
out:
        stmt_release(d, s);
        return r;
}

/* @param[out] ret a quoted fresh UUID to rp_free(). */
static int new_etag(char **ret)
{
        char u[RP_UUID_STR_LEN + 1];
        if (rp_uuid4(u) < 0)
                return -EIO;
        char *e = rp_asprintf("\"%s\"", u);
        if (!e)
                return -ENOMEM;
        *ret = e;
        return 0;
}

static int sq_res_put(rp_db *db, rp_resource *res)
{
        sqlite_db *d = (sqlite_db *)db;
        sqlite3_stmt *s = NULL;
        _cleanup_free_ char *etag = NULL;
        int r = new_etag(&etag);
        if (r < 0)
                return r;
        db_lock(d);
        r = prepare(d,
                    "INSERT INTO resources (key, id, type, parent_key, sub, rg, body, internal, "
                    "etag) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
                    "body = excluded.body, internal = excluded.internal, etag = excluded.etag "
                    "RETURNING seq",
                    &s);
        if (r < 0)
                goto out;
        int rc = SQLITE_OK;
        bind_ok(&rc, bind_text(s, 1, res->key));
        bind_ok(&rc, bind_text(s, 2, res->id));
        bind_ok(&rc, bind_text(s, 3, res->type));
        bind_ok(&rc, bind_text(s, 4, res->parent_key));
        bind_ok(&rc, bind_text(s, 5, res->sub));
        bind_ok(&rc, bind_text(s, 6, res->rg));
        bind_ok(&rc, bind_json(s, 7, res->body));
        bind_ok(&rc, bind_json(s, 8, res->internal));
        bind_ok(&rc, bind_text(s, 9, etag));
        if (rc != SQLITE_OK) {
                r = sq_err(rc);
                goto out;
        }
        int64_t seq = 0;
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                seq = sqlite3_column_int64(s, 0);
                rc = sqlite3_step(s);
        }
        r = sq_err(rc);
        if (r >= 0) { /* res changes only once the row is written */
                res->seq = seq;
                rp_free(res->etag);
                res->etag = TAKE_PTR(etag);
        }
out:
        stmt_release(d, s);
        return r;
}

static int sq_res_delete(rp_db *db, const char *key)
{
        sqlite_db *d = (sqlite_db *)db;
        sqlite3_stmt *s = NULL;
        db_lock(d);
        int r = prepare(d, "DELETE FROM resources WHERE key = ?", &s);
        if (r >= 0) {
                int rc = bind_text(s, 1, key);
                r = sq_err(rc == SQLITE_OK ? sqlite3_step(s) : rc);
                if (r >= 0)
                        r = sqlite3_changes(d->h) > 0;
        }
        stmt_release(d, s);
        return r;
}

static int sq_res_list(rp_db *db, const rp_db_filter *f, rp_resource ***ret, size_t *ret_n)
{
        sqlite_db *d = (sqlite_db *)db;
        sqlite3_stmt *s = NULL;
        rp_resource **list = NULL;
        size_t n = 0, cap = 0;
        db_lock(d);
        int r = prepare(d,
                        "SELECT " RES_COLS " FROM resources WHERE type = ?1"
                        " AND (?2 IS NULL OR sub = ?2) AND (?3 IS NULL OR rg = ?3)"
                        " AND (?4 IS NULL OR parent_key = ?4) AND seq > ?5"
                        " ORDER BY seq LIMIT ?6",
                        &s);
        if (r < 0)
                goto out;
        int rc = SQLITE_OK;
        bind_ok(&rc, bind_text(s, 1, f->type));
        bind_ok(&rc, bind_text(s, 2, f->sub));
        bind_ok(&rc, bind_text(s, 3, f->rg));
        bind_ok(&rc, bind_text(s, 4, f->parent_key));
        bind_ok(&rc, sqlite3_bind_int64(s, 5, f->after_seq));
        bind_ok(&rc, sqlite3_bind_int64(s, 6, f->limit ? (int64_t)f->limit : -1));
        if (rc != SQLITE_OK) {
                r = sq_err(rc);
                goto out;
        }
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        rp_resource **nl = rp_realloc(list, ncap * sizeof *nl);
                        if (!nl) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        list = nl;
                        cap = ncap;
                }
                r = res_from_row(s, &list[n]);
                if (r < 0)
                        goto fail;
                n++;
        }
        r = sq_err(rc);
        if (r < 0)
                goto fail;
        *ret = list;
        *ret_n = n;
        r = (int)n;
        goto out;
fail:
        rp_resource_list_free(list, n);
out:
        stmt_release(d, s);
        return r;
}

/* ---------------------------------------------------------------- operations */

static int sq_op_put(rp_db *db, const rp_operation *op)
{
        sqlite_db *d = (sqlite_db *)db;
        sqlite3_stmt *s = NULL;
        db_lock(d);
        int r = prepare(d,
                        "INSERT INTO operations (id, sub, kind, resource_key, status, start, end,"
                        " percent, error, result_status, result, args, job_pending)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                        " status = excluded.status, end = excluded.end,"
                        " percent = excluded.percent, error = excluded.error,"
                        " result_status = excluded.result_status, result = excluded.result,"
                        " args = excluded.args, job_pending = excluded.job_pending",
                        &s);
        if (r >= 0) {
                int rc = SQLITE_OK;
                bind_ok(&rc, bind_text(s, 1, op->id));
                bind_ok(&rc, bind_text(s, 2, op->sub));
                bind_ok(&rc, bind_text(s, 3, op->kind));
                bind_ok(&rc, bind_text(s, 4, op->resource_key));
                bind_ok(&rc, bind_text(s, 5, op->status));
                bind_ok(&rc, sqlite3_bind_int64(s, 6, (int64_t)op->start));
                bind_ok(&rc, sqlite3_bind_int64(s, 7, (int64_t)op->end));
                bind_ok(&rc, sqlite3_bind_double(s, 8, op->percent));
                bind_ok(&rc, bind_json(s, 9, op->error));
                bind_ok(&rc, sqlite3_bind_int(s, 10, (int)op->result_status));
                bind_ok(&rc, bind_json(s, 11, op->result));
                bind_ok(&rc, bind_json(s, 12, op->args));
                bind_ok(&rc, sqlite3_bind_int(s, 13, op->job_pending));
                r = sq_err(rc == SQLITE_OK ? sqlite3_step(s) : rc);
        }
        stmt_release(d, s);
        return r;
}

#define OP_COLS                                                                                    \
        "id, sub, kind, resource_key, status, start, end, percent, error, result_status, result," \
        " args, job_pending"

/* @param[out] ret an operation to rp_operation_free(). @return 0, -ENOMEM or -EBADMSG. */
static int op_from_row(sqlite3_stmt *s, rp_operation **ret)
{
        int err = 0;
        rp_operation *op = rp_calloc(1, sizeof *op);
        if (!op)
                return -ENOMEM;
        op->id = col_str(s, 0, &err);
        op->sub = col_str(s, 1, &err);
        op->kind = col_str(s, 2, &err);
        op->resource_key = col_str(s, 3, &err);
        op->status = col_str(s, 4, &err);
        op->start = (rp_usec_t)sqlite3_column_int64(s, 5);
        op->end = (rp_usec_t)sqlite3_column_int64(s, 6);
        op->percent = sqlite3_column_double(s, 7);
        op->error = col_json(s, 8, &err);
        op->result_status = (unsigned)sqlite3_column_int(s, 9);
        op->result = col_json(s, 10, &err);
        op->args = col_json(s, 11, &err);
        op->job_pending = sqlite3_column_int(s, 12) != 0;
        require(op->id, &err);
        require(op->sub, &err);
        require(op->kind, &err);
        require(op->status, &err);
        if (err < 0) {
                rp_operation_free(op);
                return err;
        }
        *ret = op;
        return 0;
}

static int op_query(sqlite_db *d, const char *sql, const char *arg, rp_operation **ret)
{
        sqlite3_stmt *s = NULL;
        db_lock(d);
        int r = prepare(d, sql, &s);
        if (r < 0)
                goto out;
        int rc = arg ? bind_text(s, 1, arg) : SQLITE_OK;
        if (rc == SQLITE_OK)
                rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) {
                r = -ENOENT;
        } else if (rc == SQLITE_ROW) {
                r = op_from_row(s, ret);
        } else {
                r = sq_err(rc);
        }
out:
        stmt_release(d, s);
        return r;
}

static int sq_op_get(rp_db *db, const char *id, rp_operation **ret)
{
        return op_query((sqlite_db *)db, "SELECT " OP_COLS " FROM operations WHERE id = ?1", id,
                        ret);
}

static int sq_op_next_job(rp_db *db, rp_operation **ret)
{
        int r = op_query((sqlite_db *)db,
                         "SELECT " OP_COLS " FROM operations WHERE job_pending = 1 ORDER BY n"
                         " LIMIT 1",
                         NULL, ret);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : 1;
}

static int sq_job_count(rp_db *db)
{
        sqlite_db *d = (sqlite_db *)db;
        sqlite3_stmt *s = NULL;
        db_lock(d);
        int r = prepare(d, "SELECT COUNT(*) FROM operations WHERE job_pending = 1", &s);
        if (r >= 0) {
                int rc = sqlite3_step(s);
                r = rc == SQLITE_ROW ? (int)RP_MIN(sqlite3_column_int64(s, 0), (int64_t)INT_MAX)
                                     : sq_err(rc);
        }
        stmt_release(d, s);
        return r;
}

/* ---------------------------------------------------------------- kv */

static int sq_kv_get(rp_db *db, const char *k, char **ret)
{
        sqlite_db *d = (sqlite_db *)db;
        sqlite3_stmt *s = NULL;
        db_lock(d);
        int r = prepare(d, "SELECT v FROM kv WHERE k = ?", &s);
        if (r >= 0) {
                int rc = bind_text(s, 1, k);
                if (rc == SQLITE_OK)
                        rc = sqlite3_step(s);
                if (rc == SQLITE_ROW) {
                        int err = 0;
                        char *v = col_str(s, 0, &err);
                        require(v, &err);
                        if (err == 0)
                                *ret = v;
                        r = err;
                } else {
                        r = rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
                }
        }
        stmt_release(d, s);
        return r;
}

static int sq_kv_put(rp_db *db, const char *k, const char *v)
{
        sqlite_db *d = (sqlite_db *)db;
        sqlite3_stmt *s = NULL;
        db_lock(d);
        int r = prepare(d, "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", &s);
        if (r >= 0) {
                int rc = SQLITE_OK;
                bind_ok(&rc, bind_text(s, 1, k));
                bind_ok(&rc, bind_text(s, 2, v));
                r = sq_err(rc == SQLITE_OK ? sqlite3_step(s) : rc);
        }
        stmt_release(d, s);
        return r;
}

/* ---------------------------------------------------------------- transactions */

static int sq_tx_begin(rp_db *db)
{
        sqlite_db *d = (sqlite_db *)db;
        db_lock(d); /* held until tx_end: other threads wait */
        if (d->tx_depth++ > 0)
                return 0;
        int r = exec(d, "BEGIN IMMEDIATE");
        if (r < 0) {
                d->tx_depth--;
                db_unlock(d);
        }
        return r;
}

static int sq_tx_end(rp_db *db, bool commit)
{
        sqlite_db *d = (sqlite_db *)db;
        int r = 0;
        if (--d->tx_depth == 0) {
                r = exec(d, commit ? "COMMIT" : "ROLLBACK");
                if (r < 0 && commit)
                        exec(d, "ROLLBACK");
        }
        db_unlock(d);
        return r;
}

static void sq_free(rp_db *db)
{
        sqlite_db *d = (sqlite_db *)db;
        for (size_t i = 0; i < STMT_CACHE && d->cache[i].sql; i++)
                sqlite3_finalize(d->cache[i].stmt);
        sqlite3_close_v2(d->h);
        pthread_mutex_destroy(&d->lock);
        rp_free(d);
}

static const rp_db_ops sqlite_ops = {
        .version = RP_DB_OPS_VERSION,
        .res_get = sq_res_get,
        .res_put = sq_res_put,
        .res_delete = sq_res_delete,
        .res_list = sq_res_list,
        .op_put = sq_op_put,
        .op_get = sq_op_get,
        .op_next_job = sq_op_next_job,
        .kv_get = sq_kv_get,
        .kv_put = sq_kv_put,
        .tx_begin = sq_tx_begin,
        .tx_end = sq_tx_end,
        .free = sq_free,
        .job_count = sq_job_count,
};

int rp_db_sqlite_open(const char *path, rp_db **ret)
{
        sqlite_db *d = rp_calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->base.ops = &sqlite_ops;
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&d->lock, &a);
        pthread_mutexattr_destroy(&a);

        int rc = sqlite3_open_v2(path, &d->h,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                         SQLITE_OPEN_FULLMUTEX,
                                 NULL);
        int r = sq_err(rc);
        if (r >= 0)
                r = exec(d, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            " PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;");
        if (r >= 0)
                r = exec(d, schema);
        if (r < 0) {
                log_debug("sqlite open %s: %s", path, d->h ? sqlite3_errmsg(d->h) : "?");
                sq_free(&d->base);
                return r;
        }
        *ret = &d->base;
        return 0;
}
