/* store_record.c: chunk records: the typed, encrypted form a chunk takes in a pack.
 *
 * DESIGN
 *
 * A record is an 80-byte header and a payload, all integers little-endian:
 *
 *   off size field
 *     0    4 magic "RPCK"
 *     4    1 version (RP_STORE_RECORD_VERSION = 1)
 *     5    1 type (RP_STORE_RECORD_CHUNK = 1)
 *     6    2 flags (bit 0: the payload is a zstd frame)
 *     8    4 raw_len: plaintext length (> 0, multiple of 512, <= RP_CHUNK_SIZE)
 *    12    4 payload_len: stored payload length (== raw_len uncompressed, < raw_len compressed)
 *    16   32 id: HMAC-SHA-256(id_key, plaintext)
 *    48   12 nonce: random, fresh for every record
 *    60   16 tag: AES-256-GCM tag
 *    76    4 reserved, zero
 *    80    . payload: AES-256-GCM(enc_key, nonce, zstd(plaintext) or plaintext)
 *
 * The GCM additional data is bytes 0..47 (magic to id), so the id, the flags and the lengths
 * cannot be changed without the tag check failing, and a record cannot be passed off as another
 * chunk's. The reader then checks the id once more against the plaintext (HMAC), so even a
 * record sealed under the right key for the wrong bytes (a bug) is refused.
 *
 * Nonces are 96 random bits: with one key, the birthday bound keeps the collision risk below
 * 2^-32 up to 2^32 records (1 PiB of unique 256 KiB chunks); a region's key is rotated long
 * before.
 *
 * Allocation: the scratch holds the zstd contexts (their memory comes from rp_malloc through
 * zstd's custom allocator), an OpenSSL cipher context, and two chunk-sized buffers, so a seal or
 * unseal allocates nothing once its scratch is warm.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: zstd allocates through rp_malloc */
#include <endian.h>
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "store/store_internal.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/macro.h"

/* Room for the compressed form of a chunk (only frames smaller than the chunk are kept). */
#define SCRATCH_TMP RP_CHUNK_SIZE

struct rp_store_scratch {
        ZSTD_CCtx *cctx;
        ZSTD_DCtx *dctx;
        EVP_CIPHER_CTX *evp;
        uint8_t *rec; /* RP_STORE_RECORD_MAX */
        uint8_t *tmp; /* SCRATCH_TMP */
};

static void *zstd_alloc(void *opaque, size_t n)
{
        return rp_malloc(n);
}

static void zstd_free(void *opaque, void *p)
{
        rp_free(p);
}

static const ZSTD_customMem zstd_mem = { zstd_alloc, zstd_free, NULL };

/* ------------------------------------------------------------------------------------------ */
/* Header                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static uint16_t get16(const uint8_t *p)
{
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return le16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return le32toh(v);
}

static void put16(uint8_t *p, uint16_t v)
{
        v = htole16(v);
        memcpy(p, &v, sizeof v);
}

static void put32(uint8_t *p, uint32_t v)
{
        v = htole32(v);
        memcpy(p, &v, sizeof v);
}

int rp_store__record_decode(const void *rec, size_t len, rp_store_record *ret)
{
        const uint8_t *p = rec;
        if (len < RP_STORE_RECORD_HEADER)
                return -EBADMSG;
        if (memcmp(p, RP_STORE_RECORD_MAGIC, 4) != 0 || p[4] != RP_STORE_RECORD_VERSION ||
            p[5] != RP_STORE_RECORD_CHUNK)
                return -EBADMSG;
        uint32_t flags = get16(p + 6), raw_len = get32(p + 8), payload_len = get32(p + 12);
        if (flags & ~(uint32_t)_RP_STORE_FLAGS_KNOWN)
                return -EBADMSG;
        if (get32(p + 76) != 0)
                return -EBADMSG;
        if (raw_len == 0 || raw_len > RP_CHUNK_SIZE || raw_len % RP_SECTOR_SIZE != 0)
                return -EBADMSG;
        if (flags & RP_STORE_FLAG_ZSTD) {
                if (payload_len == 0 || payload_len >= raw_len)
                        return -EBADMSG;
        } else if (payload_len != raw_len) {
                return -EBADMSG;
        }
        if (len - RP_STORE_RECORD_HEADER != payload_len)
                return -EBADMSG;
        ret->flags = flags;
        ret->raw_len = raw_len;
        ret->payload_len = payload_len;
        memcpy(ret->id, p + 16, RP_STORE_ID_LEN);
        ret->nonce = p + 48;
        ret->tag = p + 60;
        ret->payload = p + RP_STORE_RECORD_HEADER;
        return 0;
}

static void header_encode(uint8_t *p, uint32_t flags, uint32_t raw_len, uint32_t payload_len,
                          const uint8_t id[32])
{
        memcpy(p, RP_STORE_RECORD_MAGIC, 4);
        p[4] = RP_STORE_RECORD_VERSION;
        p[5] = RP_STORE_RECORD_CHUNK;
        put16(p + 6, (uint16_t)flags);
        put32(p + 8, raw_len);
        put32(p + 12, payload_len);
        memcpy(p + 16, id, RP_STORE_ID_LEN);
        /* nonce (48) and tag (60) are filled by the caller */
        put32(p + 76, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Scratch                                                                                    */
/* ------------------------------------------------------------------------------------------ */

rp_store_scratch *rp_store__scratch_new(void)
{
        rp_store_scratch *sc = rp_calloc(1, sizeof *sc);
        if (!sc)
                return NULL;
        sc->rec = rp_malloc(RP_STORE_RECORD_MAX);
        sc->tmp = rp_malloc(SCRATCH_TMP);
        if (!sc->rec || !sc->tmp)
                return rp_store__scratch_free(sc);
        return sc;
}

rp_store_scratch *rp_store__scratch_free(rp_store_scratch *sc)
{
        if (!sc)
                return NULL;
        ZSTD_freeCCtx(sc->cctx);
        ZSTD_freeDCtx(sc->dctx);
        EVP_CIPHER_CTX_free(sc->evp);
        rp_free(sc->rec);
        rp_free(sc->tmp);
        return rp_free(sc);
}

uint8_t *rp_store__scratch_rec(rp_store_scratch *sc)
{
        return sc->rec;
}

static int scratch_evp(rp_store_scratch *sc)
{
        if (!sc->evp)
                sc->evp = EVP_CIPHER_CTX_new();
        return sc->evp ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------------------------------ */
/* Seal / unseal                                                                              */
/* ------------------------------------------------------------------------------------------ */

/*
 * Whether a whole-chunk compression is worth trying. Random-looking data (already compressed
 * or encrypted files: a large share of real disks) costs zstd as much time as text does, for
 * nothing. So a large chunk is first probed: three SAMPLE_LEN samples (start, middle, end) are
 * compressed, and if none of them shrinks by at least 1/32 the chunk is stored as it is. This
 * costs ~5 % of a full attempt and misses only chunks whose three samples all look random
 * while the rest would compress (a mixed chunk then stays uncompressed: a space cost, never
 * a correctness one).
 */
#define SAMPLE_LEN 4096u
#define SAMPLE_MIN_CHUNK (64u * 1024u)

static bool worth_compressing(rp_store_scratch *sc, const uint8_t *plain, size_t len)
{
        if (len < SAMPLE_MIN_CHUNK)
                return true;
        const size_t at[3] = { 0, (len / 2) & ~(size_t)(SAMPLE_LEN - 1), len - SAMPLE_LEN };
        for (size_t i = 0; i < 3; i++) {
                size_t n = ZSTD_compressCCtx(sc->cctx, sc->tmp, SAMPLE_LEN, plain + at[i],
                                             SAMPLE_LEN, 1);
                if (!ZSTD_isError(n) && n < SAMPLE_LEN - SAMPLE_LEN / 32)
                        return true;
        }
        return false;
}

/* zstd level 1 into sc->tmp. @return the frame size if smaller than len, 0 if not, -ENOMEM. */
static long compress_chunk(rp_store_scratch *sc, const void *plain, size_t len)
{
        if (!sc->cctx) {
                sc->cctx = ZSTD_createCCtx_advanced(zstd_mem);
                if (!sc->cctx)
                        return -ENOMEM;
        }
        if (!worth_compressing(sc, plain, len))
                return 0;
        /* A destination one byte short of the input makes zstd give up as soon as the frame
         * would not be smaller, instead of finishing a useless frame. */
        size_t n = ZSTD_compressCCtx(sc->cctx, sc->tmp, len - 1, plain, len, 1);
        if (ZSTD_isError(n)) {
                if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
                        return -ENOMEM;
                return 0; /* dstSize_tooSmall, or anything else: keep it uncompressed */
        }
        return (long)n;
}

int rp_store__seal(rp_store_scratch *sc, const uint8_t enc_key[32], const uint8_t id[32],
                   const void *plain, size_t len, size_t *ret_len)
{
        if (len == 0 || len > RP_CHUNK_SIZE || len % RP_SECTOR_SIZE != 0)
                return -EINVAL;
        int r = scratch_evp(sc);
        if (r < 0)
                return r;
        long clen = compress_chunk(sc, plain, len);
        if (clen < 0)
                return (int)clen;
        uint32_t flags = clen > 0 ? RP_STORE_FLAG_ZSTD : 0;
        const uint8_t *in = clen > 0 ? sc->tmp : plain;
        size_t in_len = clen > 0 ? (size_t)clen : len;

        uint8_t *p = sc->rec;
        header_encode(p, flags, (uint32_t)len, (uint32_t)in_len, id);
        r = rp_random_bytes(p + 48, RP_STORE_NONCE_LEN);
        if (r < 0)
                return r;

        EVP_CIPHER_CTX *c = sc->evp;
        int outl = 0, finl = 0;
        if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, enc_key, p + 48) != 1 ||
            EVP_EncryptUpdate(c, NULL, &outl, p, RP_STORE_RECORD_AAD) != 1 ||
            EVP_EncryptUpdate(c, p + RP_STORE_RECORD_HEADER, &outl, in, (int)in_len) != 1 ||
            EVP_EncryptFinal_ex(c, p + RP_STORE_RECORD_HEADER + outl, &finl) != 1 ||
            (size_t)outl + (size_t)finl != in_len ||
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, RP_STORE_TAG_LEN, p + 60) != 1)
                return -EIO;
        *ret_len = RP_STORE_RECORD_HEADER + in_len;
        return 0;
}

/* Decrypt the payload of @p h into @p out (payload_len bytes). @return 0 or -EBADMSG. */
static int decrypt_payload(rp_store_scratch *sc, const uint8_t enc_key[32], const uint8_t *rec,
                           const rp_store_record *h, uint8_t *out)
{
        EVP_CIPHER_CTX *c = sc->evp;
        int outl = 0, finl = 0;
        if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, enc_key, h->nonce) != 1 ||
            EVP_DecryptUpdate(c, NULL, &outl, rec, RP_STORE_RECORD_AAD) != 1 ||
            EVP_DecryptUpdate(c, out, &outl, h->payload, (int)h->payload_len) != 1 ||
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, RP_STORE_TAG_LEN, (void *)h->tag) != 1)
                return -EBADMSG;
        if (EVP_DecryptFinal_ex(c, out + outl, &finl) != 1)
                return -EBADMSG; /* tag mismatch */
        if ((size_t)outl + (size_t)finl != h->payload_len)
                return -EBADMSG;
        return 0;
}

static int unseal_into(rp_store_scratch *sc, const uint8_t id_key[32], const uint8_t enc_key[32],
                       const uint8_t *rec, const rp_store_record *h, uint8_t *out)
{
        int r;
        if (h->flags & RP_STORE_FLAG_ZSTD) {
                r = decrypt_payload(sc, enc_key, rec, h, sc->tmp);
                if (r < 0)
                        return r;
                if (!sc->dctx) {
                        sc->dctx = ZSTD_createDCtx_advanced(zstd_mem);
                        if (!sc->dctx)
                                return -ENOMEM;
                }
                /* Exactly raw_len bytes may come out: the destination is that large. */
                size_t n = ZSTD_decompressDCtx(sc->dctx, out, h->raw_len, sc->tmp, h->payload_len);
                if (ZSTD_isError(n)) {
                        if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation)
                                return -ENOMEM;
                        return -EBADMSG;
                }
                if (n != h->raw_len)
                        return -EBADMSG;
        } else {
                r = decrypt_payload(sc, enc_key, rec, h, out);
                if (r < 0)
                        return r;
        }
        uint8_t mac[RP_SHA256_LEN];
        r = rp_hmac_sha256(id_key, RP_STORE_KEY_LEN, out, h->raw_len, mac);
        if (r < 0)
                return r;
        if (!rp_memeq_consttime(mac, h->id, RP_STORE_ID_LEN))
                return -EBADMSG;
        return 0;
}

int rp_store__unseal(rp_store_scratch *sc, const uint8_t id_key[32], const uint8_t enc_key[32],
                     const uint8_t id[32], const void *rec, size_t rec_len, void *buf,
                     size_t buf_len, size_t *ret_len)
{
        rp_store_record h;
        int r = rp_store__record_decode(rec, rec_len, &h);
        if (r < 0)
                return r;
        if (memcmp(h.id, id, RP_STORE_ID_LEN) != 0)
                return -EBADMSG;
        if (buf_len < h.raw_len)
                return -ENOBUFS;
        r = scratch_evp(sc);
        if (r < 0)
                return r;
        r = unseal_into(sc, id_key, enc_key, rec, &h, buf);
        if (r < 0) {
                explicit_bzero(buf, h.raw_len);
                return r;
        }
        *ret_len = h.raw_len;
        return 0;
}
