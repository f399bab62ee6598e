/* peer.c: the peer wrapper (contract checks around the vtable) and the in-process peer. */
#include "repl/peer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "repl/peer_proto.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"

struct rp_peer {
        const rp_peer_ops *ops;
        void *impl;
};

int rp_peer_new(const rp_peer_ops *ops, void *impl, rp_peer **ret)
{
        if (!ops || !ret)
                return -EINVAL;
        if (ops->version != RP_PEER_OPS_VERSION)
                return -EPROTONOSUPPORT;
        if (!ops->get_manifest || !ops->get_chunks)
                return -EINVAL;
        rp_peer *p = rp_malloc(sizeof *p);
        if (!p)
                return -ENOMEM;
        *p = (rp_peer){ .ops = ops, .impl = impl };
        *ret = p;
        return 0;
}

void *rp_peer_impl(rp_peer *peer)
{
        return peer ? peer->impl : NULL;
}

bool rp_peer_is(const rp_peer *peer, const rp_peer_ops *ops)
{
        return peer && peer->ops == ops;
}

rp_peer *rp_peer_free(rp_peer *peer)
{
        if (!peer)
                return NULL;
        if (peer->ops->free)
                peer->ops->free(peer);
        rp_free(peer);
        return NULL;
}

int rp_peer_get_manifest(rp_peer *peer, const char *drp_id, uint8_t **ret_data, size_t *ret_len,
                         json_t **ret_meta)
{
        if (!peer || !drp_id || !*drp_id || strlen(drp_id) > RP_PEER_MAX_DRP_ID)
                return -EINVAL;
        uint8_t *data = NULL;
        size_t len = 0;
        json_t *meta = NULL;
        int r = peer->ops->get_manifest(peer, drp_id, &data, &len, &meta);
        if (r < 0)
                return r;
        if (!data || len == 0 || (meta && !json_is_object(meta))) {
                rp_free(data);
                if (meta)
                        json_decref(meta);
                return -EPROTO;
        }
        if (!meta) {
                meta = json_object();
                if (!meta) {
                        rp_free(data);
                        return -ENOMEM;
                }
        }
        *ret_data = data;
        *ret_len = len;
        *ret_meta = meta;
        return 0;
}

int rp_peer_get_chunks(rp_peer *peer, const uint8_t (*ids)[32], size_t n, rp_peer_chunk_cb on_chunk,
                       void *ud)
{
        if (!peer || !ids || !on_chunk || n == 0 || n > RP_PEER_MAX_IDS)
                return -EINVAL;
        return peer->ops->get_chunks(peer, ids, n, on_chunk, ud);
}

bool rp_peer_wire_bytes(rp_peer *peer, uint64_t *ret)
{
        if (!peer || !peer->ops->wire_bytes)
                return false;
        *ret = peer->ops->wire_bytes(peer);
        return true;
}

const char *rp_peer_last_error(rp_peer *peer)
{
        return peer && peer->ops->last_error ? peer->ops->last_error(peer) : NULL;
}

/* ------------------------------------------------------------------------- in-process */

typedef struct local_peer {
        rp_store *store;
        rp_peer_manifest_lookup lookup;
        void *ud;
        char last_error[RP_PEER_MAX_ERROR_TEXT];
} local_peer;

static int local_get_manifest(rp_peer *peer, const char *drp_id, uint8_t **ret_data,
                              size_t *ret_len, json_t **ret_meta)
{
        local_peer *lp = rp_peer_impl(peer);
        lp->last_error[0] = '\0';
        int r = lp->lookup(lp->ud, drp_id, ret_data, ret_len, ret_meta);
        if (r < 0)
                snprintf(lp->last_error, sizeof lp->last_error,
                         "manifest lookup in the source region failed: %s", strerror(-r));
        return r;
}

static int local_get_chunks(rp_peer *peer, const uint8_t (*ids)[32], size_t n,
                            rp_peer_chunk_cb on_chunk, void *ud)
{
        local_peer *lp = rp_peer_impl(peer);
        lp->last_error[0] = '\0';
        _cleanup_free_ uint8_t *buf = rp_malloc(RP_CHUNK_SIZE);
        if (!buf)
                return -ENOMEM;
        int missing = 0;
        for (size_t i = 0; i < n; i++) {
                size_t len = 0;
                int r = rp_store_get(lp->store, ids[i], buf, RP_CHUNK_SIZE, &len);
                if (r == -ENOENT || r == -EINVAL) {
                        char hex[65];
                        rp_hex_encode(ids[i], 32, hex);
                        snprintf(lp->last_error, sizeof lp->last_error,
                                 "the source region does not have chunk %s", hex);
                        missing = -ENOENT;
                        continue;
                }
                if (r == -EBADMSG) {
                        char hex[65];
                        rp_hex_encode(ids[i], 32, hex);
                        snprintf(lp->last_error, sizeof lp->last_error,
                                 "the source region cannot read chunk %s back intact", hex);
                        if (missing == 0)
                                missing = -EREMOTEIO;
                        continue;
                }
                if (r < 0) {
                        snprintf(lp->last_error, sizeof lp->last_error,
                                 "reading the source region's chunk store failed: %s",
                                 strerror(-r));
                        return r;
                }
                r = on_chunk(ud, ids[i], buf, len);
                if (r < 0)
                        return r;
        }
        return missing;
}

static void local_free(rp_peer *peer)
{
        rp_free(rp_peer_impl(peer));
}

static const char *local_last_error(rp_peer *peer)
{
        local_peer *lp = rp_peer_impl(peer);
        return lp->last_error[0] ? lp->last_error : NULL;
}

static const rp_peer_ops local_ops = {
        .version = RP_PEER_OPS_VERSION,
        .get_manifest = local_get_manifest,
        .get_chunks = local_get_chunks,
        .free = local_free,
        .last_error = local_last_error,
};

int rp_peer_local_new(rp_store *source_store, rp_peer_manifest_lookup lookup, void *ud,
                      rp_peer **ret)
{
        if (!source_store || !lookup || !ret)
                return -EINVAL;
        local_peer *lp = rp_calloc(1, sizeof *lp);
        if (!lp)
                return -ENOMEM;
        *lp = (local_peer){ .store = source_store, .lookup = lookup, .ud = ud };
        int r = rp_peer_new(&local_ops, lp, ret);
        if (r < 0)
                rp_free(lp);
        return r;
}
