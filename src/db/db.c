/* db.c: backend-independent parts of the metadata store. */
#include "db.h"

#include "util/alloc.h"

rp_db *rp_db_free(rp_db *db)
{
        if (db)
                db->ops->free(db);
        return NULL;
}

int rp_db_run_tx(rp_db *db, int (*fn)(rp_db *db, void *ud), void *ud)
{
        int r = db->ops->tx_begin(db);
        if (r < 0)
                return r;
        r = fn(db, ud);
        int c = db->ops->tx_end(db, r >= 0);
        return r < 0 ? r : (c < 0 ? c : r);
}

rp_resource *rp_resource_free(rp_resource *r)
{
        if (!r)
                return NULL;
        rp_free(r->key);
        rp_free(r->id);
        rp_free(r->type);
        rp_free(r->parent_key);
        rp_free(r->sub);
        rp_free(r->rg);
        json_decref(r->body);
        json_decref(r->internal);
        rp_free(r->etag);
        rp_free(r);
        return NULL;
}

void rp_resource_list_free(rp_resource **list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                rp_resource_free(list[i]);
        rp_free(list);
}

rp_operation *rp_operation_free(rp_operation *op)
{
        if (!op)
                return NULL;
        rp_free(op->id);
        rp_free(op->sub);
        rp_free(op->kind);
        rp_free(op->resource_key);
        rp_free(op->status);
        json_decref(op->error);
        json_decref(op->result);
        json_decref(op->args);
        rp_free(op);
        return NULL;
}
