/* peer.h: how a target region pulls from a source region: a versioned vtable with an
 * in-process implementation (regions hosted in one process) and an HTTPS one (libcurl).
 * The copy engine (repl.h) only ever sees an rp_peer. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/macro.h"
#include "util/time.h"

/** Version of struct rp_peer_ops. Bump on any incompatible change of the table. */
#define RP_PEER_OPS_VERSION 1u
/** Longest rp_peer_last_error() text of the built-in peers (longer messages are cut). */
#define RP_PEER_MAX_ERROR_TEXT 256u

/**
 * A source region as seen from a target region. Opaque; made by rp_peer_new() (any
 * implementation), rp_peer_local_new() or rp_peer_http_new(). One thread at a time may call a
 * peer (the engine makes one per copy: they are cheap); rp_peer_free() from the owner only.
 */
typedef struct rp_peer rp_peer;

/**
 * Receives one chunk of a batch.
 * @param id the chunk id the source says it has (the receiver verifies it).
 * @param plain the plaintext, borrowed for the duration of the call.
 * @param len its length (a multiple of 512, at most RP_CHUNK_SIZE).
 * @return 0 to go on, or a negative errno that stops the batch and is returned by get_chunks.
 */
typedef int (*rp_peer_chunk_cb)(void *ud, const uint8_t id[32], const void *plain, size_t len);

/** The operations of a peer implementation. */
typedef struct rp_peer_ops {
        /** RP_PEER_OPS_VERSION the table was written for; rp_peer_new() refuses others. */
        unsigned version;
        /**
         * Fetch the encoded manifest (store/manifest.h format) of a source disk restore point
         * and its metadata (a JSON object of what the source sends: disk size, source id,
         * location...).
         * @param drp_id the source disk restore point's id (an ARM id).
         * @param[out] ret_data the manifest bytes, to rp_free(); set only on success.
         * @param[out] ret_len their length.
         * @param[out] ret_meta a new reference to a JSON object; set only on success.
         * @return 0, -ENOENT (no such committed disk restore point at the source), -EACCES
         *         (authentication refused), or another negative errno (-ETIMEDOUT,
         *         -ECONNREFUSED, -EPROTO, -EREMOTEIO, ...: worth a retry).
         */
        int (*get_manifest)(rp_peer *peer, const char *drp_id, uint8_t **ret_data, size_t *ret_len,
                            json_t **ret_meta);
        /**
         * Fetch a batch of chunks and call @p on_chunk once per chunk delivered, in any order.
         * A chunk may be delivered at most once; ids not asked for are never delivered.
         * @param ids @p n distinct non-zero ids.
         * @return 0 when every chunk was delivered; otherwise, after delivering what it could:
         *         what @p on_chunk returned, -ENOENT (the source does not have some of them:
         *         the undelivered ones), -EREMOTEIO (the source could not read some back), or
         *         another negative errno (transport: worth a retry).
         */
        int (*get_chunks)(rp_peer *peer, const uint8_t (*ids)[32], size_t n,
                          rp_peer_chunk_cb on_chunk, void *ud);
        /** Free the implementation's state (rp_peer_impl()); the rp_peer itself is freed by
         *  rp_peer_free() after this returns. May be NULL. */
        void (*free)(rp_peer *peer);
        /** A one-line description of the last failure, for reasons; borrowed until the next
         *  call. May be NULL (the table entry), or return NULL. */
        const char *(*last_error)(rp_peer *peer);
        /** Bytes of chunk answers received so far, as they crossed the link (compressed).
         *  May be NULL (an in-process peer: nothing crosses). Added within version 1: tables
         *  without it leave it NULL. */
        uint64_t (*wire_bytes)(rp_peer *peer);
} rp_peer_ops;

/**
 * Wrap an implementation.
 * @param ops the table (static storage; not copied).
 * @param impl the implementation's state, owned by the peer from now on (ops->free frees it).
 * @param[out] ret the peer, to rp_peer_free().
 * @return 0, -EPROTONOSUPPORT (ops->version), -EINVAL (a required op missing), -ENOMEM (then
 *         @p impl is not freed).
 */
int rp_peer_new(const rp_peer_ops *ops, void *impl, rp_peer **ret);

/** The implementation state given to rp_peer_new(). Borrowed. */
void *rp_peer_impl(rp_peer *peer);

/** @return whether @p peer was made with the table @p ops (implementations use it to check
 *  that the state behind a peer is theirs). */
bool rp_peer_is(const rp_peer *peer, const rp_peer_ops *ops);

/** Free a peer (ops->free, then the wrapper). NULL-safe. @return NULL. */
rp_peer *rp_peer_free(rp_peer *peer);

RP_DEFINE_CLEANUP(rp_peer, rp_peer_free)

/**
 * ops->get_manifest, with the contract checked: on success the data is non-empty and the
 * metadata an object (an empty one if the implementation gave none).
 * @return as ops->get_manifest; -EPROTO if the implementation broke the contract.
 */
int rp_peer_get_manifest(rp_peer *peer, const char *drp_id, uint8_t **ret_data, size_t *ret_len,
                         json_t **ret_meta);

/** ops->get_chunks. @p n must be 1..RP_PEER_MAX_IDS (peer_proto.h) or -EINVAL. */
int rp_peer_get_chunks(rp_peer *peer, const uint8_t (*ids)[32], size_t n, rp_peer_chunk_cb on_chunk,
                       void *ud);

/** ops->wire_bytes: bytes of chunk answers received so far; false if the peer cannot say. */
bool rp_peer_wire_bytes(rp_peer *peer, uint64_t *ret);

/** ops->last_error, or NULL. Borrowed until the next call on the peer. */
const char *rp_peer_last_error(rp_peer *peer);

/* ------------------------------------------------------------------------- in-process */

/**
 * Looks a source disk restore point up for the in-process peer (the daemon reads the region's
 * metadata and manifest file). Same contract as rp_peer_ops.get_manifest.
 */
typedef int (*rp_peer_manifest_lookup)(void *ud, const char *drp_id, uint8_t **ret_data,
                                       size_t *ret_len, json_t **ret_meta);

/**
 * A peer for a source region hosted in this process: chunks are read from its store
 * (verified by rp_store_get()), manifests come from @p lookup.
 * @param source_store borrowed; must outlive the peer.
 * @param lookup called for get_manifest, with @p ud.
 * @param[out] ret the peer, to rp_peer_free().
 * @return 0, -EINVAL, -ENOMEM.
 */
int rp_peer_local_new(rp_store *source_store, rp_peer_manifest_lookup lookup, void *ud,
                      rp_peer **ret);

/* ------------------------------------------------------------------------- HTTPS */

/** Tunables of the HTTPS peer; zero fields take the defaults below. */
typedef struct rp_peer_http_options {
        unsigned connections;       /**< requests in flight per get_chunks (default 4) */
        unsigned ids_per_request;   /**< ids per POST /peer/v1/chunks (default 16, at most
                                         RP_PEER_MAX_IDS) */
        unsigned connect_timeout_s; /**< TCP + TLS handshake (default 15) */
        unsigned request_timeout_s; /**< whole request (default 300) */
        unsigned low_speed_time_s;  /**< abort below 1 KiB/s for this long (default 60) */
} rp_peer_http_options;

/** Default of rp_peer_http_options.connections. */
#define RP_PEER_HTTP_DEFAULT_CONNECTIONS 4u
/** Default of rp_peer_http_options.ids_per_request. */
#define RP_PEER_HTTP_DEFAULT_IDS_PER_REQUEST 4u
/** Default of rp_peer_http_options.connect_timeout_s. */
#define RP_PEER_HTTP_DEFAULT_CONNECT_TIMEOUT_S 15u
/** Default of rp_peer_http_options.request_timeout_s. */
#define RP_PEER_HTTP_DEFAULT_REQUEST_TIMEOUT_S 300u
/** Default of rp_peer_http_options.low_speed_time_s. */
#define RP_PEER_HTTP_DEFAULT_LOW_SPEED_TIME_S 60u

/**
 * A peer reached over HTTPS (HTTP/1.1, keep-alive connections reused across calls, several
 * requests in flight through the libcurl multi interface). Every request is signed with the
 * pair key and every response must come back signed with it (peer_proto.h); responses that do
 * not are refused (-EPROTO). The daemon calls curl_global_init() once before.
 * @param base_url "https://host:port" or with a path prefix ("https://h:p/prefix"); only
 *        https is accepted, and a path of [A-Za-z0-9/._-] only.
 * @param ca_file PEM file of the CA the peer's server certificate must chain to, or NULL for
 *        the system store. The host name (or IP) of @p base_url must match the certificate.
 * @param pair_key the key the two regions share (copied); RP_PEER_MIN_KEY_LEN..
 *        RP_PEER_MAX_KEY_LEN bytes.
 * @param self_region this (the calling) region, sent as x-rpd-region.
 * @param[out] ret the peer, to rp_peer_free().
 * @return 0, -EINVAL, -ENOMEM, -EIO (libcurl could not start).
 */
int rp_peer_http_new(const char *base_url, const char *ca_file, const uint8_t *pair_key,
                     size_t key_len, const char *self_region, rp_peer **ret);

/**
 * A signed JSON call to a peer's @p endpoint ("/peer/v1/source/hold.get"): POST of @p req,
 * answer a JSON object (the daemon's source operations, compute_source.c). The answer's
 * signature is checked whatever its status.
 * @param[out] ret_status the HTTP status of the answer.
 * @param[out] ret_answer the answer, a new reference.
 * @return 0 (any status), -EINVAL (not an HTTPS peer), -EPROTO (unsigned or not JSON),
 *         -EACCES, or a transport error (-ECONNREFUSED, -ETIMEDOUT, ...).
 */
int rp_peer_http_call(rp_peer *peer, const char *endpoint, const json_t *req, unsigned *ret_status,
                      json_t **ret_answer);

/**
 * Change the tunables of a peer made by rp_peer_http_new().
 * @return 0, -EINVAL (not an HTTPS peer, or ids_per_request above RP_PEER_MAX_IDS).
 */
int rp_peer_http_set_options(rp_peer *peer, const rp_peer_http_options *opt);
