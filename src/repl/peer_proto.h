/* peer_proto.h: the peer protocol's wire formats and request/response authentication, shared
 * by the HTTPS peer (client side) and the handlers of /peer/v1/ (server side, wired by the
 * daemon). docs/PEER-PROTOCOL.md is the reference; this header is its implementation. */
#pragma once
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/time.h"

/** Version of the peer protocol: the /peer/v1/ path prefix and the string-to-sign prefix. */
#define RP_PEER_PROTOCOL_VERSION 1u

/** Magic of an id list (request body of POST /peer/v1/chunks). */
#define RP_PEER_IDS_MAGIC "RPPEERID"
/** Magic of a chunk stream (response body of POST /peer/v1/chunks). */
#define RP_PEER_CHUNKS_MAGIC "RPPEERCH"
/** Magic of a manifest envelope (response body of GET /peer/v1/diskRestorePoints/manifest). */
#define RP_PEER_MANIFEST_MAGIC "RPPEERMF"
/** Version of the three binary formats above. Bump on any incompatible change. */
#define RP_PEER_WIRE_VERSION 1u
/** Size of the common header: 8-byte magic, u32 version, u32 flags (0). */
#define RP_PEER_WIRE_HEADER_SIZE 16u

/** Most ids in one POST /peer/v1/chunks (the response is then at most ~16 MiB). */
#define RP_PEER_MAX_IDS 64u
/** Largest manifest metadata JSON object, in bytes. */
#define RP_PEER_MAX_META (64u * 1024u)
/** Longest disk restore point id accepted in a manifest request. */
#define RP_PEER_MAX_DRP_ID 2048u

/** Chunk stream record types (the first byte of a record). Numbers are never reused. */
enum rp_peer_record_type {
        RP_PEER_RECORD_CHUNK = 0x01,      /**< id, u32 length, plaintext */
        RP_PEER_RECORD_MISSING = 0x02,    /**< id, u32 reason (enum rp_peer_missing) */
        RP_PEER_RECORD_CHUNK_ZSTD = 0x03, /**< id, u32 plaintext length, u32 frame length, a
                                               zstd frame of the plaintext (only in a stream
                                               with RP_PEER_STREAM_ZSTD) */
        RP_PEER_RECORD_END = 0xff,        /**< u32 record count, SHA-256 of all bytes before it */
        _RP_PEER_RECORD_MAX,              /**< one past the largest type byte */
        _RP_PEER_RECORD_INVALID = -EINVAL,
};

/** Why the source could not send a chunk (a MISSING record). Numbers are never reused. */
enum rp_peer_missing {
        RP_PEER_MISSING_NOT_FOUND = 1,  /**< the source does not have the chunk */
        RP_PEER_MISSING_UNREADABLE = 2, /**< the source has it but cannot read it back intact */
        _RP_PEER_MISSING_MAX,
        _RP_PEER_MISSING_INVALID = -EINVAL,
};

/** Chunk stream header flag: CHUNK_ZSTD records may occur. A target asks for it with the
 *  request header RP_PEER_HDR_ACCEPT = "zstd"; a source without it never sets it. */
#define RP_PEER_STREAM_ZSTD 0x1u
/** Request header: the stream encodings the target accepts ("zstd"). */
#define RP_PEER_HDR_ACCEPT "x-rpd-accept-encoding"
/** Size of a CHUNK_ZSTD record without its frame: type, id, plaintext length, frame length. */
#define RP_PEER_CHUNK_ZSTD_RECORD_HEADER 41u

/** Size of a CHUNK record without its data: type, id, length. */
#define RP_PEER_CHUNK_RECORD_HEADER 37u
/** Size of a MISSING record: type, id, reason. */
#define RP_PEER_MISSING_RECORD_SIZE 37u
/** Size of the END record: type, count, SHA-256. */
#define RP_PEER_END_RECORD_SIZE 37u

/** Largest chunk stream: header, RP_PEER_MAX_IDS full chunks, END. */
#define RP_PEER_MAX_CHUNKS_BODY                                                                    \
        (RP_PEER_WIRE_HEADER_SIZE +                                                                \
         (size_t)RP_PEER_MAX_IDS * (RP_PEER_CHUNK_RECORD_HEADER + RP_CHUNK_SIZE) +                 \
         RP_PEER_END_RECORD_SIZE)
/** Largest id list body. */
#define RP_PEER_MAX_IDS_BODY (RP_PEER_WIRE_HEADER_SIZE + 8u + RP_PEER_MAX_IDS * 32u)

/* ------------------------------------------------------------------------- id lists */

/**
 * Encode an id list: header, u32 count, u32 reserved (0), count ids of 32 bytes.
 * @param n 1..RP_PEER_MAX_IDS; ids are non-zero and distinct.
 * @param[out] ret_data the bytes, to rp_free().
 * @param[out] ret_len their length.
 * @return 0, -EINVAL (count, a zero or repeated id), -ENOMEM.
 */
int rp_peer_encode_ids(const uint8_t (*ids)[32], size_t n, uint8_t **ret_data, size_t *ret_len);

/**
 * Decode an id list strictly: magic, version, flags, reserved, count in 1..RP_PEER_MAX_IDS,
 * exact length, no all-zero id, no repeated id.
 * @param[out] ret_ids the ids, to rp_free().
 * @param[out] ret_n how many.
 * @return 0, -EBADMSG, -E2BIG (more than RP_PEER_MAX_IDS), -EPROTONOSUPPORT (other version),
 *         -ENOMEM.
 */
int rp_peer_decode_ids(const void *data, size_t len, uint8_t (**ret_ids)[32], size_t *ret_n);

/* ------------------------------------------------------------------------- chunk streams */

/**
 * A chunk stream being written (server side). Append records, then end it once. The bytes
 * live in @c buf (rp_buf: NUL-terminated, capped at RP_PEER_MAX_CHUNKS_BODY).
 */
typedef struct rp_peer_chunk_writer {
        rp_buf buf;       /**< the stream so far; owned */
        uint8_t *zbuf;    /**< compression scratch (streams with RP_PEER_STREAM_ZSTD) */
        void *zctx;       /**< the zstd compression context, or NULL */
        uint32_t records; /**< CHUNK and MISSING records appended */
        int error;        /**< sticky: the first failure, or 0 */
        bool ended;       /**< the END record is written */
} rp_peer_chunk_writer;

/** Start a stream (writes the header). Check @c w->error (or the return of end). */
void rp_peer_chunk_writer_init(rp_peer_chunk_writer *w);
/** Start a stream with header @p flags (0 or RP_PEER_STREAM_ZSTD: chunks that compress are
 *  written as CHUNK_ZSTD records, zstd level 1). */
void rp_peer_chunk_writer_init_flags(rp_peer_chunk_writer *w, uint32_t flags);
/** Append a CHUNK record. @p len 1..RP_CHUNK_SIZE. Failures stick in w->error. */
void rp_peer_chunk_writer_add(rp_peer_chunk_writer *w, const uint8_t id[32], const void *plain,
                              size_t len);
/** Append a MISSING record with @p reason (enum rp_peer_missing). Failures stick. */
void rp_peer_chunk_writer_missing(rp_peer_chunk_writer *w, const uint8_t id[32], int reason);
/**
 * Write the END record (count and SHA-256 of everything before it).
 * @param[out] ret_data the stream, to rp_free(); the writer is emptied.
 * @param[out] ret_len its length.
 * @return 0, or the sticky error (-EINVAL, -E2BIG, -ENOMEM); the writer is emptied anyway.
 */
int rp_peer_chunk_writer_end(rp_peer_chunk_writer *w, uint8_t **ret_data, size_t *ret_len);
/** Free what the writer holds (after a failure, or instead of ending it). */
void rp_peer_chunk_writer_done(rp_peer_chunk_writer *w);

/**
 * Answer a chunk request from a store: for each id, a CHUNK record with its plaintext
 * (rp_store_get() verifies it), or a MISSING record (NOT_FOUND for -ENOENT, UNREADABLE for
 * -EBADMSG), then END. Ids are answered in request order.
 * @param ids the ids, as rp_peer_decode_ids() returned them.
 * @param[out] ret_data the stream, to rp_free().
 * @param[out] ret_len its length.
 * @return 0, -EINVAL (n out of range), -ENOMEM, or another error of rp_store_get() (-EIO...),
 *         for which the handler should answer 500 rather than a stream.
 */
int rp_peer_encode_chunks(rp_store *store, const uint8_t (*ids)[32], size_t n, uint8_t **ret_data,
                          size_t *ret_len);
/** rp_peer_encode_chunks() with stream @p flags (RP_PEER_STREAM_ZSTD). */
int rp_peer_encode_chunks_flags(rp_store *store, const uint8_t (*ids)[32], size_t n, uint32_t flags,
                                uint8_t **ret_data, size_t *ret_len);

/**
 * Decode a chunk stream strictly and completely before calling anything: magic, version,
 * flags, record types, lengths (CHUNK: a multiple of 512 in 512..RP_CHUNK_SIZE), MISSING
 * reasons, at most @p max_records records, an END record with the right count and SHA-256,
 * nothing after it. Only when all of that holds are the callbacks called, in stream order, so a
 * corrupt stream delivers nothing. Ids are not checked against a request here (callers do).
 * @param on_chunk called per CHUNK record with borrowed plaintext; a negative return stops
 *        the walk and is returned. May be NULL.
 * @param on_missing called per MISSING record with its reason; negative stops. May be NULL.
 * @return the number of records (>= 0), -EBADMSG, -E2BIG (more than @p max_records),
 *         -EPROTONOSUPPORT (other version), or what a callback returned.
 */
int rp_peer_decode_chunks(const void *data, size_t len, size_t max_records,
                          int (*on_chunk)(void *ud, const uint8_t id[32], const void *plain,
                                          size_t len),
                          int (*on_missing)(void *ud, const uint8_t id[32], int reason), void *ud);

/**
 * rp_peer_decode_chunks() that also checks every record's id with @p check_id (CHUNK and
 * MISSING alike) after the stream is validated and before anything is delivered, so a stream
 * that answers an id not asked for delivers nothing, in one decode. A negative return of
 * @p check_id stops the decode and is returned.
 */
int rp_peer_decode_chunks_checked(const void *data, size_t len, size_t max_records,
                                  int (*check_id)(void *ud, const uint8_t id[32]),
                                  int (*on_chunk)(void *ud, const uint8_t id[32], const void *plain,
                                                  size_t len),
                                  int (*on_missing)(void *ud, const uint8_t id[32], int reason),
                                  void *ud);

/* ------------------------------------------------------------------------- manifest envelopes */

/**
 * Encode the answer to a manifest request: header, u32 meta length, u32 reserved (0), u64
 * manifest length, the metadata as compact JSON, the encoded manifest (store/manifest.h).
 * @param meta a JSON object (at most RP_PEER_MAX_META bytes once serialised).
 * @param[out] ret_data the bytes, to rp_free().
 * @param[out] ret_len their length.
 * @return 0, -EINVAL (meta not an object, empty manifest), -E2BIG, -ENOMEM.
 */
int rp_peer_encode_manifest(const uint8_t *manifest, size_t manifest_len, const json_t *meta,
                            uint8_t **ret_data, size_t *ret_len);

/**
 * Decode a manifest envelope strictly (header, lengths, exact size, metadata a JSON object).
 * The manifest bytes are returned as they are: decode them with rp_manifest_decode().
 * @param[out] ret_manifest a copy of the manifest bytes, to rp_free().
 * @param[out] ret_len its length.
 * @param[out] ret_meta the metadata object, a new reference (json_decref()).
 * @return 0, -EBADMSG, -E2BIG, -EPROTONOSUPPORT, -ENOMEM.
 */
int rp_peer_decode_manifest(const void *data, size_t len, uint8_t **ret_manifest, size_t *ret_len,
                            json_t **ret_meta);

/* ------------------------------------------------------------------------- authentication */

/** Default tolerated difference between a request's x-rpd-date and the verifier's clock. */
#define RP_PEER_DEFAULT_MAX_SKEW_SEC 300u
/** Shortest pair key accepted, in bytes. */
#define RP_PEER_MIN_KEY_LEN 32u
/** Longest pair key accepted, in bytes. */
#define RP_PEER_MAX_KEY_LEN 1024u
/** Longest region name (x-rpd-region: [a-z0-9-]). */
#define RP_PEER_MAX_REGION 64u
/** Most characters of x-rpd-date (decimal seconds since the epoch), without the NUL. */
#define RP_PEER_DATE_MAX 20u
/** Characters of x-rpd-nonce (lower-case hex of 16 random bytes). */
#define RP_PEER_NONCE_LEN 32u
/** Characters of x-rpd-signature (lower-case hex of the HMAC-SHA-256). */
#define RP_PEER_SIG_LEN 64u

/** Header: the region that sends the message (it picks the pair key). */
#define RP_PEER_HDR_REGION "x-rpd-region"
/** Header: the sender's clock, decimal seconds since the epoch. */
#define RP_PEER_HDR_DATE "x-rpd-date"
/** Header: a request's fresh nonce. */
#define RP_PEER_HDR_NONCE "x-rpd-nonce"
/** Header: the HMAC-SHA-256 of the string-to-sign, lower-case hex. */
#define RP_PEER_HDR_SIGNATURE "x-rpd-signature"
/** Content-Type of an id list (POST /peer/v1/chunks). */
#define RP_PEER_CT_IDS "application/x-rpd-peer-ids"
/** Content-Type of a chunk stream. */
#define RP_PEER_CT_CHUNKS "application/x-rpd-peer-chunks"
/** Content-Type of a manifest envelope. */
#define RP_PEER_CT_MANIFEST "application/x-rpd-peer-manifest"
/** Path of the manifest endpoint (after the base URL's prefix). */
#define RP_PEER_PATH_MANIFEST "/peer/v1/diskRestorePoints/manifest"
/** Path of the chunks endpoint (after the base URL's prefix). */
#define RP_PEER_PATH_CHUNKS "/peer/v1/chunks"

/** Header values produced by a signer (request or response; a response has no nonce). */
typedef struct rp_peer_auth {
        char date[RP_PEER_DATE_MAX + 1];     /**< x-rpd-date */
        char nonce[RP_PEER_NONCE_LEN + 1];   /**< x-rpd-nonce ("" for a response) */
        char signature[RP_PEER_SIG_LEN + 1]; /**< x-rpd-signature */
} rp_peer_auth;

/** A request as the server received it, for rp_peer_auth_verify(). All strings borrowed. */
typedef struct rp_peer_auth_request {
        const char *method;      /**< "GET", "POST" */
        const char *path;        /**< the percent-decoded path, "/peer/v1/chunks" */
        const char *query_id;    /**< the decoded value of the "id" query parameter, or NULL */
        const char *region;      /**< x-rpd-region: the calling region */
        const char *date;        /**< x-rpd-date */
        const char *nonce;       /**< x-rpd-nonce */
        const char *signature;   /**< x-rpd-signature */
        uint8_t body_sha256[32]; /**< SHA-256 of the request body as received (empty: of "") */
} rp_peer_auth_request;

/**
 * Sign a request (client side): a fresh nonce, @p now as the date, and
 * HMAC-SHA-256(pair key, string-to-sign) as the signature (docs/PEER-PROTOCOL.md).
 * @param path the path as the server will see it once percent-decoded.
 * @param query_id the value of the "id" query parameter before encoding, or NULL.
 * @param region the calling region.
 * @param now wall clock.
 * @param[out] ret the header values.
 * @return 0, -EINVAL (key length, or a field with a character the protocol does not allow),
 *         -ENOMEM, -EIO.
 */
int rp_peer_sign_request(const uint8_t *key, size_t key_len, const char *method, const char *path,
                         const char *query_id, const char *region, const uint8_t body_sha256[32],
                         rp_usec_t now, rp_peer_auth *ret);

/**
 * Verify a request (server side). The server picks the pair key by req->region first.
 * @param now the server's wall clock.
 * @param max_skew_sec how far x-rpd-date may be from @p now (RP_PEER_DEFAULT_MAX_SKEW_SEC).
 * @return 0, -EBADMSG (a header missing or malformed), -ESTALE (date out of the window),
 *         -EKEYREJECTED (wrong signature), -EINVAL (key length), -ENOMEM, -EIO. The handler
 *         answers 401 on any of them.
 */
int rp_peer_auth_verify(const uint8_t *key, size_t key_len, const rp_peer_auth_request *req,
                        rp_usec_t now, unsigned max_skew_sec);

/**
 * Sign a response (server side): binds the status, the responder's region, a date, the
 * request's signature (and so its nonce) and the body digest. Sign every response to a request
 * whose x-rpd-region names a configured peer, errors included.
 * @param region the responding region.
 * @param request_signature the request's x-rpd-signature as received (any string up to 64
 *        characters; when malformed or absent pass "").
 * @param status the HTTP status of the response.
 * @param[out] ret the header values (nonce is "").
 * @return 0, -EINVAL, -ENOMEM, -EIO.
 */
int rp_peer_sign_response(const uint8_t *key, size_t key_len, const char *region,
                          const char *request_signature, unsigned status,
                          const uint8_t body_sha256[32], rp_usec_t now, rp_peer_auth *ret);

/**
 * Verify a response (client side) against the request it answers.
 * @param request_signature the x-rpd-signature we sent.
 * @param region, date, signature the response's x-rpd-region, x-rpd-date, x-rpd-signature
 *        (NULL when absent).
 * @return 0, -EBADMSG (missing or malformed), -EKEYREJECTED (wrong signature), -EINVAL,
 *         -ENOMEM, -EIO.
 */
int rp_peer_auth_verify_response(const uint8_t *key, size_t key_len, const char *request_signature,
                                 unsigned status, const char *region, const char *date,
                                 const char *signature, const uint8_t body_sha256[32]);
