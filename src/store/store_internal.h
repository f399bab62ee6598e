/* store_internal.h: what the files of src/store/ share: the chunk record format, sealing, the
 * id map, and the backend vtable. Not for other modules (tests and fuzzers include it). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* ------------------------------------------------------------------------------------------ */
/* Chunk records                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** Magic of a chunk record. */
#define RP_STORE_RECORD_MAGIC "RPCK"
/** Version of the chunk record format. Bump on any incompatible change. */
#define RP_STORE_RECORD_VERSION 1u
/** Record type: an encrypted chunk (the only type of version 1). */
#define RP_STORE_RECORD_CHUNK 1u
/** Size of the record header; the payload follows it. */
#define RP_STORE_RECORD_HEADER 80u
/** Bytes of the header covered by the GCM tag as additional data (magic .. id). */
#define RP_STORE_RECORD_AAD 48u
/** AES-GCM nonce and tag lengths. */
#define RP_STORE_NONCE_LEN 12u
#define RP_STORE_TAG_LEN 16u
/** Largest record: a header and an uncompressed chunk. */
#define RP_STORE_RECORD_MAX (RP_STORE_RECORD_HEADER + RP_CHUNK_SIZE)

/** Record flags. */
enum {
        RP_STORE_FLAG_ZSTD = 1 << 0, /**< the payload is the zstd frame of the plaintext */
        _RP_STORE_FLAGS_KNOWN = RP_STORE_FLAG_ZSTD,
};

/** A decoded record header. Pointers borrow the record's bytes. */
typedef struct rp_store_record {
        uint32_t flags;              /**< RP_STORE_FLAG_* */
        uint32_t raw_len;            /**< plaintext length */
        uint32_t payload_len;        /**< encrypted payload length */
        uint8_t id[RP_STORE_ID_LEN]; /**< chunk id */
        const uint8_t *nonce;        /**< RP_STORE_NONCE_LEN bytes */
        const uint8_t *tag;          /**< RP_STORE_TAG_LEN bytes */
        const uint8_t *payload;      /**< payload_len bytes */
} rp_store_record;

/**
 * Parse and check a record header: magic, version, type, known flags, zero reserved bytes,
 * raw_len (> 0, a multiple of 512, at most RP_CHUNK_SIZE), payload_len (equal to raw_len when
 * not compressed, smaller when compressed, not 0) and @p len == header + payload_len exactly.
 * Nothing is decrypted.
 * @param[out] ret the fields; untouched on failure.
 * @return 0 or -EBADMSG.
 */
int rp_store__record_decode(const void *rec, size_t len, rp_store_record *ret);

/** Per-thread working memory of seal and unseal (compression contexts and buffers). */
typedef struct rp_store_scratch rp_store_scratch;

/** A new scratch. @return it (free with rp_store__scratch_free()), NULL on OOM. */
rp_store_scratch *rp_store__scratch_new(void);
/** Free a scratch (NULL-safe). @return NULL. */
rp_store_scratch *rp_store__scratch_free(rp_store_scratch *sc);
/** The scratch's record buffer, RP_STORE_RECORD_MAX bytes. */
uint8_t *rp_store__scratch_rec(rp_store_scratch *sc);

/**
 * Build the record of a chunk into the scratch's record buffer: compress (zstd level 1) when
 * that makes the payload smaller, then encrypt under @p enc_key with a fresh random nonce.
 * @param id the chunk's id (already computed).
 * @param[out] ret_len record length. The record is at rp_store__scratch_rec(sc).
 * @return 0, -ENOMEM, -EIO.
 */
int rp_store__seal(rp_store_scratch *sc, const uint8_t enc_key[32], const uint8_t id[32],
                   const void *plain, size_t len, size_t *ret_len);

/**
 * Open a record: check its header (rp_store__record_decode()), that it carries @p id, decrypt
 * it (tag check), decompress it into @p buf, and check HMAC(id_key, plaintext) == @p id.
 * On failure the bytes written to @p buf are wiped.
 * @param[out] ret_len plaintext length.
 * @return 0, -EBADMSG (any mismatch), -ENOBUFS (@p buf_len < raw_len), -ENOMEM, -EIO.
 */
int rp_store__unseal(rp_store_scratch *sc, const uint8_t id_key[32], const uint8_t enc_key[32],
                     const uint8_t id[32], const void *rec, size_t rec_len, void *buf,
                     size_t buf_len, size_t *ret_len);

/* ------------------------------------------------------------------------------------------ */
/* Id map: open addressing over 32-byte ids (uniform: they are MACs)                          */
/* ------------------------------------------------------------------------------------------ */

/** Where a chunk lives in the pack backend. */
typedef struct rp_store_loc {
        uint32_t pack;    /**< pack number (>= 1) */
        uint32_t off;     /**< offset of the record in the pack */
        uint32_t len;     /**< record length */
        uint32_t raw_len; /**< plaintext length */
        uint8_t flags;    /**< RP_STORE_FLAG_* of the record */
        uint8_t pending;  /**< written but not yet committed to the index */
        uint8_t used;     /**< slot holds an entry */
        uint8_t pad_;
} rp_store_loc;

/** One slot of an id map. */
typedef struct rp_store_map_entry {
        uint8_t id[RP_STORE_ID_LEN]; /**< key */
        rp_store_loc loc;            /**< value */
} rp_store_map_entry;

/** An id map. Zero-initialise it; not thread-safe (callers lock). */
typedef struct rp_store_map {
        rp_store_map_entry *slots; /**< cap slots, owned */
        size_t cap;                /**< 0 or a power of two */
        size_t n;                  /**< entries */
} rp_store_map;

/** Make room for @p n entries without growing. @return 0 or -ENOMEM. */
int rp_store__map_reserve(rp_store_map *m, size_t n);
/** @return the entry of @p id (borrowed, valid until the next change), or NULL. */
rp_store_map_entry *rp_store__map_find(const rp_store_map *m, const uint8_t id[32]);
/**
 * Insert @p id with @p loc unless present.
 * @param[out] ret_entry the entry (new or existing); may be NULL.
 * @return 1 inserted, 0 already present (left unchanged), -ENOMEM.
 */
int rp_store__map_insert(rp_store_map *m, const uint8_t id[32], const rp_store_loc *loc,
                         rp_store_map_entry **ret_entry);
/** Remove @p id. @return 1 removed, 0 absent. */
int rp_store__map_remove(rp_store_map *m, const uint8_t id[32]);
/** Remove every entry, keeping the memory. */
void rp_store__map_clear(rp_store_map *m);
/** Free the memory; the map is empty and reusable. */
void rp_store__map_done(rp_store_map *m);

/* ------------------------------------------------------------------------------------------ */
/* Backends                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct rp_store_backend rp_store_backend;

/**
 * The backend vtable. A backend keeps sealed records (opaque to it but for their header) by id:
 * the embedded one in local pack files indexed in SQLite; a scale-out one would use object
 * storage and PostgreSQL. Bump RP_STORE_BACKEND_VERSION on any incompatible change.
 */
typedef struct rp_store_backend_ops {
        unsigned version; /**< RP_STORE_BACKEND_VERSION */
        /** Copy the record of @p id into @p buf. @return 0, -ENOENT, -ENOBUFS, -EBADMSG
         *  (missing or truncated bytes), -errno. */
        int (*read)(rp_store_backend *b, const uint8_t id[32], void *buf, size_t buf_len,
                    size_t *ret_len);
        /** Store a record (its decoded header in @p hdr) unless its id is present.
         *  @return 1 written (readable now, durable after flush), 0 already present, -errno. */
        int (*write)(rp_store_backend *b, const rp_store_record *hdr, const void *rec, size_t len);
        /** @return 1 if @p id is stored (flushed or not), 0 if not. */
        int (*exists)(rp_store_backend *b, const uint8_t id[32]);
        /** Call @p cb for a snapshot of the stored ids, in storage order, without locks held.
         *  A negative return of @p cb stops the walk and is returned. @return 0 or -errno. */
        int (*foreach)(rp_store_backend *b, int (*cb)(void *ud, const uint8_t id[32]), void *ud);
        /** Make every written record durable and indexed. @return 0 or -errno. */
        int (*flush)(rp_store_backend *b);
        /** Forget the @p n ids (durably); their space is reclaimed by compact.
         *  @return number removed, or -errno (then none is). */
        int (*remove)(rp_store_backend *b, const uint8_t (*ids)[32], size_t n);
        /** Reclaim the space of removed records. Adds to @p ret. @return 0 or -errno. */
        int (*compact)(rp_store_backend *b, rp_store_gc_result *ret);
        /** @return 0 after filling @p ret. */
        int (*stats)(rp_store_backend *b, rp_store_stats_result *ret);
        /** Close, dropping what was not flushed. */
        void (*free)(rp_store_backend *b);
} rp_store_backend_ops;
#define RP_STORE_BACKEND_VERSION 1u

/** Every backend starts with this. */
struct rp_store_backend {
        const rp_store_backend_ops *ops; /**< its vtable */
};

/** Length of the key check a backend keeps (see rp_store__pack_open()). */
#define RP_STORE_KEY_CHECK_LEN 32u

/**
 * Open the embedded pack backend: packs in "<chunks_dir>/packs/<n>.pack", index in the SQLite
 * file @p db_path (tables store_chunks, store_meta).
 * @param key_check a digest of the keys; stored by the first open, compared by later ones.
 * @param[out] ret the backend, to free with ret->ops->free().
 * @return 0, -EKEYREJECTED (other key check), -EPROTONOSUPPORT, -EBADMSG, -ENOMEM, -EIO,
 *         -errno.
 */
int rp_store__pack_open(const char *chunks_dir, const char *db_path,
                        const uint8_t key_check[RP_STORE_KEY_CHECK_LEN], rp_store_backend **ret);

/** Magic at the start of every pack file. */
#define RP_STORE_PACK_MAGIC "RPSPACK1"
/** Version of the pack file format. Bump on any incompatible change. */
#define RP_STORE_PACK_VERSION 1u
/** Size of the pack header; the first record starts there. */
#define RP_STORE_PACK_HEADER 32u
/** Version of the store_* tables. */
#define RP_STORE_INDEX_VERSION 1u

/** Path of pack @p n under @p chunks_dir. @return a string to rp_free(), NULL on OOM. */
char *rp_store__pack_path(const char *chunks_dir, uint32_t n);

#ifdef RP_TEST_HOOKS
/** Test hook: when set, the pack backend's flush fails with this (negative) errno after the
 *  pack fsync and before the index commit. */
extern int rp_store__test_fail_flush;
/** Test hook: called by rp_store_gc() after is_live was asked about every chunk and before the
 *  dead set is applied, so a test can put concurrently at that point. */
extern void (*rp_store__test_gc_hook)(void *ud);
#endif
