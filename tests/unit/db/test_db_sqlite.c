/* test_db_sqlite.c: the SQLite metadata backend on a temp file: resources, operations, kv,
 * transactions, persistence, and OOM torture of the read and write paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"

#define SUB1 "00000000-0000-0000-0000-000000000001"
#define SUB2 "00000000-0000-0000-0000-000000000002"
#define T_DISK "microsoft.compute/disks"
#define T_VM "microsoft.compute/virtualmachines"
#define T_RG "microsoft.resources/resourcegroups"

typedef struct fixture {
        char dir[64];
        char path[96];
        rp_db *db;
} fixture;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
        return remove(p);
}

static int setup(void **state)
{
        fixture *f = rp_calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "/tmp/rp-test-db-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/region.db", f->dir);
        assert_int_equal(rp_db_sqlite_open(f->path, &f->db), 0);
        assert_non_null(f->db);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        rp_db_free(f->db);
        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        rp_free(f);
        return 0;
}

static rp_db *db_of(void **state)
{
        return ((fixture *)*state)->db;
}

static char *group_key(const char *sub, const char *rg)
{
        char *k = rp_asprintf("/subscriptions/%s/resourcegroups/%s", sub, rg);
        assert_non_null(k);
        return k;
}

/* A resource of @p type named @p name in @p sub/@p rg, body {"name":name,"n":n}. */
static rp_resource *mk(const char *sub, const char *rg, const char *type, const char *name, int n)
{
        rp_resource *r = rp_calloc(1, sizeof *r);
        assert_non_null(r);
        const char *prov = strcmp(type, T_VM) == 0 ? "virtualMachines" : "disks";
        r->id = rp_asprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/%s/%s",
                            sub, rg, prov, name);
        r->key = rp_asprintf("/subscriptions/%s/resourcegroups/%s/providers/%s/%s", sub, rg, type,
                             name);
        for (char *p = r->key; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
        r->type = rp_strdup(type);
        r->parent_key = group_key(sub, rg);
        r->sub = rp_strdup(sub);
        r->rg = rp_strdup(rg);
        r->body = json_pack("{s:s,s:i}", "name", name, "n", n);
        r->internal = json_pack("{s:s}", "file", name);
        assert_true(r->id && r->key && r->type && r->sub && r->rg && r->body && r->internal);
        return r;
}

static void put(rp_db *db, rp_resource *r)
{
        assert_int_equal(rp_db_res_put(db, r), 0);
}

/* Create and store, return the key (to rp_free) and the assigned seq. */
static char *put_new(rp_db *db, const char *sub, const char *rg, const char *type, const char *name,
                     int n, int64_t *ret_seq)
{
        _cleanup_(rp_resource_freep) rp_resource *r = mk(sub, rg, type, name, n);
        put(db, r);
        if (ret_seq)
                *ret_seq = r->seq;
        return rp_strdup(r->key);
}

static void test_db_sqlite__put_get_round_trip(void **state)
{
        rp_db *db = db_of(state);
        _cleanup_(rp_resource_freep) rp_resource *r = mk(SUB1, "rg1", T_DISK, "Disk1", 1);
        r->seq = -5; /* ignored on insert */
        put(db, r);
        assert_true(r->seq > 0);
        assert_non_null(r->etag);
        size_t el = strlen(r->etag);
        assert_true(el == 38 && r->etag[0] == '"' && r->etag[el - 1] == '"'); /* "uuid" */

        _cleanup_(rp_resource_freep) rp_resource *g = NULL;
        assert_int_equal(rp_db_res_get(db, r->key, &g), 0);
        assert_string_equal(g->key, r->key);
        assert_string_equal(g->id, r->id); /* case preserved */
        assert_string_equal(g->type, T_DISK);
        assert_string_equal(g->parent_key, r->parent_key);
        assert_string_equal(g->sub, SUB1);
        assert_string_equal(g->rg, "rg1");
        assert_true(g->seq == r->seq);
        assert_string_equal(g->etag, r->etag);
        assert_true(json_equal(g->body, r->body));
        assert_true(json_equal(g->internal, r->internal));
}

static void test_db_sqlite__nullable_columns(void **state)
{
        rp_db *db = db_of(state);
        _cleanup_(rp_resource_freep) rp_resource *r = mk(SUB1, "rg1", T_DISK, "d", 1);
        r->rg = rp_free(r->rg);
        json_decref(r->internal);
        r->internal = NULL;
        put(db, r);
        _cleanup_(rp_resource_freep) rp_resource *g = NULL;
        assert_int_equal(rp_db_res_get(db, r->key, &g), 0);
        assert_null(g->rg);
        assert_null(g->internal);
}

static void test_db_sqlite__get_missing_is_enoent(void **state)
{
        rp_resource *g = (rp_resource *)0x1;
        assert_int_equal(rp_db_res_get(db_of(state), "/no/such", &g), -ENOENT);
        assert_ptr_equal(g, (rp_resource *)0x1);
}

static void test_db_sqlite__update_keeps_seq_changes_etag(void **state)
{
        rp_db *db = db_of(state);
        _cleanup_(rp_resource_freep) rp_resource *r = mk(SUB1, "rg1", T_DISK, "d", 1);
        put(db, r);
        int64_t seq = r->seq;
        _cleanup_free_ char *etag1 = rp_strdup(r->etag);
        rp_free(put_new(db, SUB1, "rg1", T_DISK, "later", 2, NULL));

        json_object_set_new(r->body, "n", json_integer(42));
        json_object_set_new(r->internal, "generation", json_integer(3));
        put(db, r);
        assert_true(r->seq == seq); /* updating never moves a row in the paging order */
        assert_string_not_equal(r->etag, etag1);

        _cleanup_(rp_resource_freep) rp_resource *g = NULL;
        assert_int_equal(rp_db_res_get(db, r->key, &g), 0);
        assert_true(g->seq == seq);
        assert_string_equal(g->etag, r->etag);
        assert_int_equal(json_integer_value(json_object_get(g->body, "n")), 42);
        assert_int_equal(json_integer_value(json_object_get(g->internal, "generation")), 3);

        /* Clearing internal on update clears it. */
        json_decref(r->internal);
        r->internal = NULL;
        put(db, r);
        _cleanup_(rp_resource_freep) rp_resource *g2 = NULL;
        assert_int_equal(rp_db_res_get(db, r->key, &g2), 0);
        assert_null(g2->internal);
        assert_true(g2->seq == seq);
}

static void test_db_sqlite__delete(void **state)
{
        rp_db *db = db_of(state);
        int64_t seq1 = 0, seq2 = 0;
        _cleanup_free_ char *k = put_new(db, SUB1, "rg1", T_DISK, "d", 1, &seq1);
        assert_int_equal(rp_db_res_delete(db, k), 1);
        assert_int_equal(rp_db_res_delete(db, k), 0);
        rp_resource *g = NULL;
        assert_int_equal(rp_db_res_get(db, k, &g), -ENOENT);
        /* Re-created, it is a new row at the end of the order (seq is never reused). */
        _cleanup_free_ char *k2 = put_new(db, SUB1, "rg1", T_DISK, "d", 1, &seq2);
        assert_string_equal(k, k2);
        assert_true(seq2 > seq1);
}

/* List and check the names, in order, against the NULL-terminated @p want. */
static void expect_list(rp_db *db, const rp_db_filter *f, const char *const *want)
{
        rp_resource **list = (rp_resource **)0x1;
        size_t n = 12345;
        int r = rp_db_res_list(db, f, &list, &n);
        size_t w = 0;
        while (want[w])
                w++;
        if (r != (int)w)
                print_error("list type=%s sub=%s rg=%s parent=%s after=%lld limit=%zu: %d rows, "
                            "want %zu\n",
                            f->type, rp_strempty(f->sub), rp_strempty(f->rg),
                            rp_strempty(f->parent_key), (long long)f->after_seq, f->limit, r, w);
        assert_int_equal(r, (int)w);
        assert_int_equal(n, w);
        for (size_t i = 0; i < n; i++) {
                const char *name = json_string_value(json_object_get(list[i]->body, "name"));
                assert_string_equal(name, want[i]);
                if (i > 0)
                        assert_true(list[i]->seq > list[i - 1]->seq);
        }
        rp_resource_list_free(list, n);
}

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NONE ((const char *const[]){ NULL })

static void seed(rp_db *db)
{
        static const struct {
                const char *sub, *rg, *type, *name;
        } rows[] = {
                { SUB1, "rg1", T_DISK, "a" }, { SUB1, "rg2", T_DISK, "b" },
                { SUB2, "rg1", T_DISK, "c" }, { SUB1, "rg1", T_VM, "vm1" },
                { SUB1, "rg1", T_DISK, "d" }, { SUB2, "rg9", T_VM, "vm2" },
                { SUB1, "rg2", T_DISK, "e" },
        };
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                rp_free(put_new(db, rows[i].sub, rows[i].rg, rows[i].type, rows[i].name, (int)i,
                                NULL));
}

static void test_db_sqlite__list_filters(void **state)
{
        rp_db *db = db_of(state);
        seed(db);
        _cleanup_free_ char *g11 = group_key(SUB1, "rg1");
        _cleanup_free_ char *g21 = group_key(SUB2, "rg1");
        expect_list(db, &(rp_db_filter){ .type = T_DISK }, L("a", "b", "c", "d", "e"));
        expect_list(db, &(rp_db_filter){ .type = T_VM }, L("vm1", "vm2"));
        expect_list(db, &(rp_db_filter){ .type = T_RG }, NONE);
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .sub = SUB1 }, L("a", "b", "d", "e"));
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .sub = SUB2 }, L("c"));
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .rg = "rg1" }, L("a", "c", "d"));
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .sub = SUB1, .rg = "rg1" }, L("a", "d"));
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .sub = SUB1, .rg = "rg2" }, L("b", "e"));
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .sub = SUB2, .rg = "rg2" }, NONE);
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .parent_key = g11 }, L("a", "d"));
        expect_list(db, &(rp_db_filter){ .type = T_VM, .parent_key = g11 }, L("vm1"));
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .parent_key = g21 }, L("c"));
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .parent_key = "/nope" }, NONE);
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .sub = SUB2, .parent_key = g11 }, NONE);
        /* Filters match exactly: the caller lower-cases. */
        expect_list(db, &(rp_db_filter){ .type = "Microsoft.Compute/disks" }, NONE);
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .rg = "RG1" }, NONE);
}

static void test_db_sqlite__list_pages_with_after_seq(void **state)
{
        rp_db *db = db_of(state);
        enum {
                N = 25,
                PAGE = 10
        };
        for (int i = 0; i < N; i++) {
                char name[16];
                snprintf(name, sizeof name, "d%02d", i);
                rp_free(put_new(db, SUB1, "rg1", T_DISK, name, i, NULL));
                if (i % 3 == 0) /* interleave another type so seqs have gaps */
                        rp_free(put_new(db, SUB1, "rg1", T_VM, name, i, NULL));
        }
        int64_t after = 0;
        int seen = 0, pages = 0;
        for (;;) {
                rp_resource **list = NULL;
                size_t n = 0;
                rp_db_filter f = { .type = T_DISK, .sub = SUB1, .after_seq = after, .limit = PAGE };
                int r = rp_db_res_list(db, &f, &list, &n);
                assert_true(r >= 0);
                assert_int_equal((size_t)r, n);
                assert_true(n <= PAGE);
                for (size_t i = 0; i < n; i++) {
                        assert_int_equal(json_integer_value(json_object_get(list[i]->body, "n")),
                                         seen);
                        assert_true(list[i]->seq > after);
                        seen++;
                }
                if (n > 0)
                        after = list[n - 1]->seq;
                rp_resource_list_free(list, n);
                pages++;
                if (n < PAGE)
                        break;
        }
        assert_int_equal(seen, N);
        assert_int_equal(pages, 3);

        /* limit 0 means all; after_seq past the end gives nothing. */
        rp_resource **all = NULL;
        size_t n = 0;
        assert_int_equal(rp_db_res_list(db, &(rp_db_filter){ .type = T_DISK }, &all, &n), N);
        int64_t last = all[n - 1]->seq;
        rp_resource_list_free(all, n);
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .after_seq = last }, NONE);
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .after_seq = INT64_MAX }, NONE);
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .limit = 1 }, L("d00"));
}

static void test_db_sqlite__list_page_stable_under_updates(void **state)
{
        rp_db *db = db_of(state);
        seed(db);
        rp_resource **p1 = NULL;
        size_t n1 = 0;
        assert_int_equal(
                rp_db_res_list(db, &(rp_db_filter){ .type = T_DISK, .limit = 2 }, &p1, &n1), 2);
        /* Update a row already served and one not yet served: neither moves. */
        json_object_set_new(p1[0]->body, "touched", json_true());
        put(db, p1[0]);
        _cleanup_(rp_resource_freep) rp_resource *e = NULL;
        _cleanup_free_ char *ekey = NULL;
        {
                rp_resource **all = NULL;
                size_t n = 0;
                assert_int_equal(rp_db_res_list(db, &(rp_db_filter){ .type = T_DISK }, &all, &n),
                                 5);
                ekey = rp_strdup(all[4]->key);
                rp_resource_list_free(all, n);
        }
        assert_int_equal(rp_db_res_get(db, ekey, &e), 0);
        put(db, e);
        expect_list(db, &(rp_db_filter){ .type = T_DISK, .after_seq = p1[1]->seq },
                    L("c", "d", "e"));
        rp_resource_list_free(p1, n1);
}

/* ---------------------------------------------------------------- operations */

static rp_operation *mk_op(const char *id, bool pending)
{
        rp_operation *op = rp_calloc(1, sizeof *op);
        assert_non_null(op);
        op->id = rp_strdup(id);
        op->sub = rp_strdup(SUB1);
        op->kind = rp_strdup("disk.delete");
        op->resource_key = rp_strdup("/subscriptions/x/resourcegroups/rg/providers/d/1");
        op->status = rp_strdup("InProgress");
        op->start = 1700000000000000ull;
        op->percent = 12.5;
        op->args = json_pack("{s:s}", "uuid", "abc");
        op->result_status = 200;
        op->job_pending = pending;
        assert_true(op->id && op->sub && op->kind && op->resource_key && op->status && op->args);
        return op;
}

static void test_db_sqlite__op_put_get_update(void **state)
{
        rp_db *db = db_of(state);
        _cleanup_(rp_operation_freep) rp_operation *op = mk_op("op-1", true);
        assert_int_equal(rp_db_op_put(db, op), 0);
        _cleanup_(rp_operation_freep) rp_operation *g = NULL;
        assert_int_equal(rp_db_op_get(db, "op-1", &g), 0);
        assert_string_equal(g->id, "op-1");
        assert_string_equal(g->sub, SUB1);
        assert_string_equal(g->kind, "disk.delete");
        assert_string_equal(g->resource_key, op->resource_key);
        assert_string_equal(g->status, "InProgress");
        assert_true(g->start == op->start);
        assert_true(g->end == 0);
        assert_true(g->percent == 12.5);
        assert_null(g->error);
        assert_null(g->result);
        assert_int_equal(g->result_status, 200);
        assert_true(json_equal(g->args, op->args));
        assert_true(g->job_pending);

        /* Finish it. */
        rp_free(op->status);
        op->status = rp_strdup("Failed");
        op->end = op->start + 5;
        op->percent = 100;
        op->error = json_pack("{s:s,s:s}", "code", "InternalError", "message", "boom");
        op->result = json_pack("{s:b}", "ok", 0);
        op->result_status = 500;
        op->job_pending = false;
        assert_int_equal(rp_db_op_put(db, op), 0);
        _cleanup_(rp_operation_freep) rp_operation *g2 = NULL;
        assert_int_equal(rp_db_op_get(db, "op-1", &g2), 0);
        assert_string_equal(g2->status, "Failed");
        assert_true(g2->end == op->start + 5);
        assert_true(g2->percent == 100);
        assert_true(json_equal(g2->error, op->error));
        assert_true(json_equal(g2->result, op->result));
        assert_int_equal(g2->result_status, 500);
        assert_false(g2->job_pending);

        rp_operation *none = (rp_operation *)0x1;
        assert_int_equal(rp_db_op_get(db, "op-2", &none), -ENOENT);
        assert_ptr_equal(none, (rp_operation *)0x1);
}

static void test_db_sqlite__op_next_job_oldest_first_and_job_count(void **state)
{
        rp_db *db = db_of(state);
        rp_operation *none = (rp_operation *)0x1;
        assert_int_equal(rp_db_op_next_job(db, &none), 0);
        assert_ptr_equal(none, (rp_operation *)0x1);

        _cleanup_(rp_operation_freep) rp_operation *a = mk_op("a-first", true);
        _cleanup_(rp_operation_freep) rp_operation *b = mk_op("b-done", false);
        _cleanup_(rp_operation_freep) rp_operation *c = mk_op("0-third", true); /* sorts first */
        assert_int_equal(rp_db_op_put(db, a), 0);
        assert_int_equal(rp_db_op_put(db, b), 0);
        assert_int_equal(rp_db_op_put(db, c), 0);

        assert_int_equal(rp_db_job_count(db), 2); /* b is not a pending job */
        _cleanup_(rp_operation_freep) rp_operation *j1 = NULL;
        assert_int_equal(rp_db_op_next_job(db, &j1), 1);
        assert_string_equal(j1->id, "a-first"); /* insertion order, not id order */

        a->job_pending = false;
        assert_int_equal(rp_db_op_put(db, a), 0);
        _cleanup_(rp_operation_freep) rp_operation *j2 = NULL;
        assert_int_equal(rp_db_op_next_job(db, &j2), 1);
        assert_string_equal(j2->id, "0-third");

        c->job_pending = false;
        assert_int_equal(rp_db_op_put(db, c), 0);
        assert_int_equal(rp_db_job_count(db), 0);
        rp_operation *j3 = (rp_operation *)0x1;
        assert_int_equal(rp_db_op_next_job(db, &j3), 0);
        assert_ptr_equal(j3, (rp_operation *)0x1);
}

/* ---------------------------------------------------------------- kv */

static void test_db_sqlite__kv(void **state)
{
        rp_db *db = db_of(state);
        char *v = (char *)0x1;
        assert_int_equal(rp_db_kv_get(db, "k", &v), -ENOENT);
        assert_ptr_equal(v, (char *)0x1);
        assert_int_equal(rp_db_kv_put(db, "k", "one"), 0);
        assert_int_equal(rp_db_kv_put(db, "k2", ""), 0);
        _cleanup_free_ char *v1 = NULL, *v2 = NULL, *v3 = NULL;
        assert_int_equal(rp_db_kv_get(db, "k", &v1), 0);
        assert_string_equal(v1, "one");
        assert_int_equal(rp_db_kv_put(db, "k", "two"), 0);
        assert_int_equal(rp_db_kv_get(db, "k", &v2), 0);
        assert_string_equal(v2, "two");
        assert_int_equal(rp_db_kv_get(db, "k2", &v3), 0);
        assert_string_equal(v3, "");
        assert_int_equal(rp_db_kv_get(db, "K", &v), -ENOENT); /* keys are case-sensitive */
}

/* ---------------------------------------------------------------- transactions */

typedef struct tx_ctx {
        int ret;        /* what the callback returns */
        int nested_ret; /* what a nested rp_db_run_tx returned */
        bool nest;
} tx_ctx;

static int tx_inner(rp_db *db, void *ud)
{
        return rp_db_kv_put(db, "inner", "1") < 0 ? -EIO : 7;
}

static int tx_body(rp_db *db, void *ud)
{
        tx_ctx *c = ud;
        _cleanup_(rp_resource_freep) rp_resource *r = mk(SUB1, "rg1", T_DISK, "txdisk", 1);
        int k = rp_db_res_put(db, r);
        if (k < 0)
                return k;
        k = rp_db_kv_put(db, "tx", "yes");
        if (k < 0)
                return k;
        if (c->nest)
                c->nested_ret = rp_db_run_tx(db, tx_inner, NULL);
        return c->ret;
}

static void test_db_sqlite__run_tx_commits(void **state)
{
        rp_db *db = db_of(state);
        tx_ctx c = { .ret = 3, .nest = true };
        assert_int_equal(rp_db_run_tx(db, tx_body, &c), 3); /* the callback's value */
        assert_int_equal(c.nested_ret, 7);
        _cleanup_free_ char *v = NULL, *vi = NULL;
        assert_int_equal(rp_db_kv_get(db, "tx", &v), 0);
        assert_int_equal(rp_db_kv_get(db, "inner", &vi), 0);
        rp_resource **list = NULL;
        size_t n = 0;
        assert_int_equal(rp_db_res_list(db, &(rp_db_filter){ .type = T_DISK }, &list, &n), 1);
        rp_resource_list_free(list, n);
}

static void test_db_sqlite__run_tx_rolls_back(void **state)
{
        rp_db *db = db_of(state);
        assert_int_equal(rp_db_kv_put(db, "before", "kept"), 0);
        tx_ctx c = { .ret = -EADDRINUSE, .nest = true };
        assert_int_equal(rp_db_run_tx(db, tx_body, &c), -EADDRINUSE); /* unchanged */
        assert_int_equal(c.nested_ret, 7); /* the nested one joined, and is rolled back too */
        char *v = NULL;
        assert_int_equal(rp_db_kv_get(db, "tx", &v), -ENOENT);
        assert_int_equal(rp_db_kv_get(db, "inner", &v), -ENOENT);
        rp_resource **list = NULL;
        size_t n = 0;
        assert_int_equal(rp_db_res_list(db, &(rp_db_filter){ .type = T_DISK }, &list, &n), 0);
        rp_resource_list_free(list, n);
        _cleanup_free_ char *b = NULL;
        assert_int_equal(rp_db_kv_get(db, "before", &b), 0);
        /* And the store works normally afterwards. */
        c.ret = 0;
        c.nest = false;
        assert_int_equal(rp_db_run_tx(db, tx_body, &c), 0);
        _cleanup_free_ char *v2 = NULL;
        assert_int_equal(rp_db_kv_get(db, "tx", &v2), 0);
}

typedef struct writer {
        rp_db *db;
        atomic_int done;
} writer;

static void *writer_main(void *arg)
{
        writer *w = arg;
        int r = rp_db_kv_put(w->db, "other-thread", "x");
        atomic_store(&w->done, r == 0 ? 1 : -1);
        return NULL;
}

static int tx_with_waiting_writer(rp_db *db, void *ud)
{
        writer *w = ud;
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, writer_main, w), 0);
        usleep(100 * 1000);
        int during = atomic_load(&w->done); /* the other thread must still be waiting */
        char *v = NULL;
        int seen = rp_db_kv_get(db, "other-thread", &v);
        rp_free(v);
        pthread_detach(t);
        return during == 0 && seen == -ENOENT ? 0 : -EPROTO;
}

static void test_db_sqlite__run_tx_excludes_other_threads(void **state)
{
        rp_db *db = db_of(state);
        writer w = { .db = db };
        assert_int_equal(rp_db_run_tx(db, tx_with_waiting_writer, &w), 0);
        for (int i = 0; i < 500 && atomic_load(&w.done) == 0; i++)
                usleep(10 * 1000);
        assert_int_equal(atomic_load(&w.done), 1);
        _cleanup_free_ char *v = NULL;
        assert_int_equal(rp_db_kv_get(db, "other-thread", &v), 0);
}

/* ---------------------------------------------------------------- persistence */

static void test_db_sqlite__reopen_keeps_data(void **state)
{
        fixture *f = *state;
        int64_t seq = 0;
        _cleanup_free_ char *k = put_new(f->db, SUB1, "rg1", T_DISK, "persist", 9, &seq);
        _cleanup_(rp_operation_freep) rp_operation *op = mk_op("op-p", true);
        assert_int_equal(rp_db_op_put(f->db, op), 0);
        assert_int_equal(rp_db_kv_put(f->db, "schema", "1"), 0);
        f->db = rp_db_free(f->db);
        assert_null(f->db);

        assert_int_equal(rp_db_sqlite_open(f->path, &f->db), 0);
        _cleanup_(rp_resource_freep) rp_resource *g = NULL;
        assert_int_equal(rp_db_res_get(f->db, k, &g), 0);
        assert_true(g->seq == seq);
        assert_int_equal(json_integer_value(json_object_get(g->body, "n")), 9);
        _cleanup_(rp_operation_freep) rp_operation *j = NULL;
        assert_int_equal(rp_db_op_next_job(f->db, &j), 1);
        assert_string_equal(j->id, "op-p");
        _cleanup_free_ char *v = NULL;
        assert_int_equal(rp_db_kv_get(f->db, "schema", &v), 0);
        assert_string_equal(v, "1");
        /* New rows continue after the old ones. */
        int64_t seq2 = 0;
        rp_free(put_new(f->db, SUB1, "rg1", T_DISK, "next", 1, &seq2));
        assert_true(seq2 > seq);
}

static void test_db_sqlite__open_errors(void **state)
{
        fixture *f = *state;
        rp_db *db = (rp_db *)0x1;
        _cleanup_free_ char *bad = rp_asprintf("%s/no/such/dir/x.db", f->dir);
        assert_true(rp_db_sqlite_open(bad, &db) < 0);
        assert_ptr_equal(db, (rp_db *)0x1);
        /* A file that is not a database. */
        _cleanup_free_ char *junk = rp_asprintf("%s/junk.db", f->dir);
        FILE *fp = fopen(junk, "we");
        assert_non_null(fp);
        for (int i = 0; i < 512; i++)
                fputs("this is not sqlite ", fp);
        fclose(fp);
        assert_true(rp_db_sqlite_open(junk, &db) < 0);
        assert_ptr_equal(db, (rp_db *)0x1);
        assert_null(rp_db_free(NULL));
        assert_null(rp_resource_free(NULL));
        assert_null(rp_operation_free(NULL));
}

/* ---------------------------------------------------------------- OOM torture */

/* Fail allocation n = 1, 2, ... of each call until it succeeds. Each failure must be a clean
 * -ENOMEM with the output untouched, and each success must be complete: an OOM must never
 * turn into a silently missing field (a later put would then lose it). ASan checks leaks. */

#define TORTURE_MAX 500

static void test_db_sqlite__oom_res_get(void **state)
{
        rp_db *db = db_of(state);
        _cleanup_(rp_resource_freep) rp_resource *r = mk(SUB1, "rg1", T_DISK, "oom", 1);
        put(db, r);
        unsigned long n;
        for (n = 1; n < TORTURE_MAX; n++) {
                rp_resource *g = (rp_resource *)0x1;
                rp_alloc_fail_at(n);
                int k = rp_db_res_get(db, r->key, &g);
                rp_alloc_fail_at(0);
                if (k == 0) {
                        assert_string_equal(g->key, r->key);
                        assert_string_equal(g->id, r->id);
                        assert_string_equal(g->type, r->type);
                        assert_string_equal(g->parent_key, r->parent_key);
                        assert_string_equal(g->sub, r->sub);
                        assert_non_null(g->rg);
                        assert_string_equal(g->rg, r->rg);
                        assert_string_equal(g->etag, r->etag);
                        assert_true(json_equal(g->body, r->body));
                        assert_non_null(g->internal);
                        assert_true(json_equal(g->internal, r->internal));
                        rp_resource_free(g);
                        break;
                }
                if (k != -ENOMEM)
                        print_error("fail_at %lu: %d\n", n, k);
                assert_int_equal(k, -ENOMEM);
                assert_ptr_equal(g, (rp_resource *)0x1);
        }
        assert_true(n > 1 && n < TORTURE_MAX);
}

static void test_db_sqlite__oom_res_list(void **state)
{
        rp_db *db = db_of(state);
        enum {
                ROWS = 20
        };
        for (int i = 0; i < ROWS; i++) {
                char name[16];
                snprintf(name, sizeof name, "r%d", i);
                rp_free(put_new(db, SUB1, "rg1", T_DISK, name, i, NULL));
        }
        rp_db_filter f = { .type = T_DISK, .sub = SUB1 };
        unsigned long n;
        for (n = 1; n < 20 * TORTURE_MAX; n++) {
                rp_resource **list = (rp_resource **)0x1;
                size_t cnt = 777;
                rp_alloc_fail_at(n);
                int k = rp_db_res_list(db, &f, &list, &cnt);
                rp_alloc_fail_at(0);
                if (k >= 0) {
                        assert_int_equal(k, ROWS);
                        assert_int_equal(cnt, ROWS);
                        for (size_t i = 0; i < cnt; i++) {
                                assert_non_null(list[i]->internal);
                                assert_non_null(list[i]->rg);
                                assert_int_equal(
                                        json_integer_value(json_object_get(list[i]->body, "n")),
                                        (json_int_t)i);
                        }
                        rp_resource_list_free(list, cnt);
                        break;
                }
                assert_int_equal(k, -ENOMEM);
                assert_ptr_equal(list, (rp_resource **)0x1);
                assert_int_equal(cnt, 777);
        }
        assert_true(n > ROWS && n < 20 * TORTURE_MAX);
}

static void test_db_sqlite__oom_res_put(void **state)
{
        rp_db *db = db_of(state);
        unsigned long n;
        for (n = 1; n < TORTURE_MAX; n++) {
                _cleanup_(rp_resource_freep) rp_resource *r = mk(SUB1, "rg1", T_DISK, "p", 1);
                json_object_set_new(r->internal, "generation", json_integer((json_int_t)n));
                rp_alloc_fail_at(n);
                int k = rp_db_res_put(db, r);
                rp_alloc_fail_at(0);
                _cleanup_(rp_resource_freep) rp_resource *g = NULL;
                int gk = rp_db_res_get(db, r->key, &g);
                if (k == 0) {
                        /* What was stored is exactly what was put. */
                        assert_int_equal(gk, 0);
                        assert_true(json_equal(g->body, r->body));
                        assert_non_null(g->internal);
                        assert_true(json_equal(g->internal, r->internal));
                        assert_string_equal(g->etag, r->etag);
                        break;
                }
                if (k != -ENOMEM)
                        print_error("fail_at %lu: %d\n", n, k);
                assert_int_equal(k, -ENOMEM);
                assert_null(r->etag); /* not clobbered on failure */
                assert_true(r->seq == 0);
                if (gk == 0) /* a failed put stored nothing of this version */
                        assert_int_not_equal(
                                json_integer_value(json_object_get(g->internal, "generation")),
                                (json_int_t)n);
        }
        assert_true(n > 1 && n < TORTURE_MAX);
}

static void test_db_sqlite__oom_ops(void **state)
{
        rp_db *db = db_of(state);
        _cleanup_(rp_operation_freep) rp_operation *op = mk_op("op-oom", true);
        op->error = json_pack("{s:s}", "code", "X");
        op->result = json_pack("{s:i}", "r", 1);
        assert_int_equal(rp_db_op_put(db, op), 0);
        unsigned long n;
        for (n = 1; n < TORTURE_MAX; n++) {
                rp_operation *g = (rp_operation *)0x1;
                rp_alloc_fail_at(n);
                int k = rp_db_op_get(db, "op-oom", &g);
                rp_alloc_fail_at(0);
                if (k == 0) {
                        assert_non_null(g->resource_key);
                        assert_non_null(g->error);
                        assert_non_null(g->result);
                        assert_non_null(g->args);
                        rp_operation_free(g);
                        break;
                }
                assert_int_equal(k, -ENOMEM);
                assert_ptr_equal(g, (rp_operation *)0x1);
        }
        assert_true(n > 1 && n < TORTURE_MAX);
        for (n = 1; n < TORTURE_MAX; n++) {
                rp_alloc_fail_at(n);
                int k = rp_db_op_put(db, op);
                rp_alloc_fail_at(0);
                if (k == 0)
                        break;
                assert_int_equal(k, -ENOMEM);
        }
        assert_true(n > 1 && n < TORTURE_MAX);
}

static int setup_group(void **state)
{
        rp_json_init(); /* jansson allocates through rp_malloc, so the OOM hook reaches it */
        if (getenv("RP_TEST_DEBUG"))
                rp_log_max_level = RP_LOG_DEBUG;
        return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_db_sqlite__put_get_round_trip),
                T(test_db_sqlite__nullable_columns),
                T(test_db_sqlite__get_missing_is_enoent),
                T(test_db_sqlite__update_keeps_seq_changes_etag),
                T(test_db_sqlite__delete),
                T(test_db_sqlite__list_filters),
                T(test_db_sqlite__list_pages_with_after_seq),
                T(test_db_sqlite__list_page_stable_under_updates),
                T(test_db_sqlite__op_put_get_update),
                T(test_db_sqlite__op_next_job_oldest_first_and_job_count),
                T(test_db_sqlite__kv),
                T(test_db_sqlite__run_tx_commits),
                T(test_db_sqlite__run_tx_rolls_back),
                T(test_db_sqlite__run_tx_excludes_other_threads),
                T(test_db_sqlite__reopen_keeps_data),
                T(test_db_sqlite__open_errors),
                T(test_db_sqlite__oom_res_get),
                T(test_db_sqlite__oom_res_list),
                T(test_db_sqlite__oom_res_put),
                T(test_db_sqlite__oom_ops),
        };
        return cmocka_run_group_tests(tests, setup_group, NULL);
}
