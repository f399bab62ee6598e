/* peer_wire.c: the binary bodies of the peer protocol: id lists, chunk streams, manifest
 * envelopes.
 *
 * DESIGN
 *
 * Every body starts with the same 16-byte header (8-byte magic, u32 version, u32 flags = 0)
 * and is decoded strictly: anything the encoder would not have produced is refused, with
 * -EBADMSG, or -E2BIG past a cap, or -EPROTONOSUPPORT for another version. Integers are
 * little-endian, as in manifests.
 *
 * Chunk stream (RP_PEER_WIRE_VERSION 1):
 *
 *   header    "RPPEERCH", u32 1, u32 0
 *   CHUNK     u8 0x01, id[32], u32 len (512..RP_CHUNK_SIZE, multiple of 512), len bytes
 *   MISSING   u8 0x02, id[32], u32 reason (1 not found, 2 unreadable at the source)
 *   CHUNK_ZSTD u8 0x03, id[32], u32 plaintext len (as CHUNK), u32 frame len (1..plaintext len
 *             - 1), a zstd frame whose content size is the plaintext len; only in a stream
 *             whose header flags have RP_PEER_STREAM_ZSTD (the target asked for it); frames
 *             are decompressed while the stream is validated, so a bad one delivers nothing
 *   END       u8 0xff, u32 count of CHUNK + MISSING records, SHA-256 of every byte before END
 *
 * The decoder validates the whole stream (structure, END, checksum) before it calls back once,
 * so a truncated or corrupt stream delivers nothing and the caller fetches the same ids again.
 * The checksum makes the codec self-checking even where the transport signature is not
 * verified (tests, the in-process path), and a CHUNK's bytes are in any case verified against
 * its id by the receiving store.
 */
#include "repl/peer_proto.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <zstd.h>

#include "json/json.h"
#include "store/manifest.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/macro.h"

/* ------------------------------------------------------------------------- helpers */

static void put_u32(uint8_t *p, uint32_t v)
{
        v = htole32(v);
        memcpy(p, &v, 4);
}

static void put_u64(uint8_t *p, uint64_t v)
{
        v = htole64(v);
        memcpy(p, &v, 8);
}

static uint32_t get_u32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, 4);
        return le32toh(v);
}

static uint64_t get_u64(const uint8_t *p)
{
        uint64_t v;
        memcpy(&v, p, 8);
        return le64toh(v);
}

static bool id_zero(const uint8_t id[32])
{
        static const uint8_t zero[32];
        return memcmp(id, zero, 32) == 0;
}

static void header_fill_flags(uint8_t h[RP_PEER_WIRE_HEADER_SIZE], const char *magic,
                              uint32_t flags)
{
        memcpy(h, magic, 8);
        put_u32(h + 8, RP_PEER_WIRE_VERSION);
        put_u32(h + 12, flags);
}

static void header_fill(uint8_t h[RP_PEER_WIRE_HEADER_SIZE], const char *magic)
{
        header_fill_flags(h, magic, 0);
}

/* Check the common header; flags outside @p allowed are refused. */
static int header_check_flags(const uint8_t *p, size_t len, const char *magic, uint32_t allowed)
{
        if (len < RP_PEER_WIRE_HEADER_SIZE || memcmp(p, magic, 8) != 0)
                return -EBADMSG;
        if (get_u32(p + 8) != RP_PEER_WIRE_VERSION)
                return -EPROTONOSUPPORT;
        if (get_u32(p + 12) & ~allowed)
                return -EBADMSG;
        return 0;
}

static int header_check(const uint8_t *p, size_t len, const char *magic)
{
        return header_check_flags(p, len, magic, 0);
}

static int cmp_id(const void *a, const void *b)
{
        return memcmp(a, b, 32);
}

/* Whether @p n ids hold a repeat (sorts a copy). @return 1, 0 or -ENOMEM. */
static int ids_repeat(const uint8_t (*ids)[32], size_t n)
{
        if (n < 2)
                return 0;
        _cleanup_free_ uint8_t(*sorted)[32] = rp_malloc(n * 32);
        if (!sorted)
                return -ENOMEM;
        memcpy(sorted, ids, n * 32);
        qsort(sorted, n, 32, cmp_id);
        for (size_t i = 1; i < n; i++)
                if (memcmp(sorted[i - 1], sorted[i], 32) == 0)
                        return 1;
        return 0;
}

/* ------------------------------------------------------------------------- id lists */

#define IDS_FIXED (RP_PEER_WIRE_HEADER_SIZE + 8u)

int rp_peer_encode_ids(const uint8_t (*ids)[32], size_t n, uint8_t **ret_data, size_t *ret_len)
{
        if (n == 0 || n > RP_PEER_MAX_IDS)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (id_zero(ids[i]))
                        return -EINVAL;
        int r = ids_repeat(ids, n);
        if (r < 0)
                return r;
        if (r > 0)
                return -EINVAL;
        size_t len = IDS_FIXED + n * 32;
        uint8_t *p = rp_malloc(len);
        if (!p)
                return -ENOMEM;
        header_fill(p, RP_PEER_IDS_MAGIC);
        put_u32(p + 16, (uint32_t)n);
        put_u32(p + 20, 0);
        memcpy(p + IDS_FIXED, ids, n * 32);
        *ret_data = p;
        *ret_len = len;
        return 0;
}

int rp_peer_decode_ids(const void *data, size_t len, uint8_t (**ret_ids)[32], size_t *ret_n)
{
        const uint8_t *p = data;
        int r = header_check(p, len, RP_PEER_IDS_MAGIC);
        if (r < 0)
                return r;
        if (len < IDS_FIXED || get_u32(p + 20) != 0)
                return -EBADMSG;
        uint32_t n = get_u32(p + 16);
        if (n == 0)
                return -EBADMSG;
        if (n > RP_PEER_MAX_IDS)
                return -E2BIG;
        if (len != IDS_FIXED + (size_t)n * 32)
                return -EBADMSG;
        const uint8_t(*ids)[32] = (const uint8_t(*)[32])(p + IDS_FIXED);
        for (uint32_t i = 0; i < n; i++)
                if (id_zero(ids[i]))
                        return -EBADMSG;
        r = ids_repeat(ids, n);
        if (r < 0)
                return r;
        if (r > 0)
                return -EBADMSG;
        uint8_t(*out)[32] = rp_malloc((size_t)n * 32);
        if (!out)
                return -ENOMEM;
        memcpy(out, ids, (size_t)n * 32);
        *ret_ids = out;
        *ret_n = n;
        return 0;
}

/* ------------------------------------------------------------------------- chunk streams */

static bool chunk_len_ok(size_t len)
{
        return len >= RP_SECTOR_SIZE && len <= RP_CHUNK_SIZE && len % RP_SECTOR_SIZE == 0;
}

static bool reason_ok(uint32_t r)
{
        return r >= RP_PEER_MISSING_NOT_FOUND && r < _RP_PEER_MISSING_MAX;
}

void rp_peer_chunk_writer_init_flags(rp_peer_chunk_writer *w, uint32_t flags)
{
        *w = (rp_peer_chunk_writer){};
        rp_buf_init(&w->buf, RP_PEER_MAX_CHUNKS_BODY);
        if (flags & ~RP_PEER_STREAM_ZSTD) {
                w->error = -EINVAL;
                return;
        }
        if (flags & RP_PEER_STREAM_ZSTD) {
                w->zbuf = rp_malloc(ZSTD_compressBound(RP_CHUNK_SIZE));
                w->zctx = ZSTD_createCCtx();
                if (!w->zbuf || !w->zctx) {
                        w->error = -ENOMEM;
                        return;
                }
        }
        uint8_t h[RP_PEER_WIRE_HEADER_SIZE];
        header_fill_flags(h, RP_PEER_CHUNKS_MAGIC, flags);
        w->error = rp_buf_append(&w->buf, h, sizeof h);
}

void rp_peer_chunk_writer_init(rp_peer_chunk_writer *w)
{
        rp_peer_chunk_writer_init_flags(w, 0);
}

static bool writer_can_add(rp_peer_chunk_writer *w)
{
        if (w->error < 0)
                return false;
        if (w->ended) {
                w->error = -EINVAL;
                return false;
        }
        if (w->records >= RP_PEER_MAX_IDS) {
                w->error = -E2BIG;
                return false;
        }
        return true;
}

void rp_peer_chunk_writer_add(rp_peer_chunk_writer *w, const uint8_t id[32], const void *plain,
                              size_t len)
{
        if (!writer_can_add(w))
                return;
        if (!chunk_len_ok(len) || id_zero(id)) {
                w->error = -EINVAL;
                return;
        }
        size_t before = w->buf.len;
        int r;
        size_t z = 0;
        if (w->zctx) {
                /* zstd level 1, as the store; kept only when it saves at least a sector */
                z = ZSTD_compressCCtx(w->zctx, w->zbuf, ZSTD_compressBound(RP_CHUNK_SIZE), plain,
                                      len, 1);
                if (ZSTD_isError(z) || z + RP_SECTOR_SIZE > len)
                        z = 0;
        }
        if (z > 0) {
                uint8_t h[RP_PEER_CHUNK_ZSTD_RECORD_HEADER];
                h[0] = RP_PEER_RECORD_CHUNK_ZSTD;
                memcpy(h + 1, id, 32);
                put_u32(h + 33, (uint32_t)len);
                put_u32(h + 37, (uint32_t)z);
                r = rp_buf_append(&w->buf, h, sizeof h);
                if (r >= 0)
                        r = rp_buf_append(&w->buf, w->zbuf, z);
        } else {
                uint8_t h[RP_PEER_CHUNK_RECORD_HEADER];
                h[0] = RP_PEER_RECORD_CHUNK;
                memcpy(h + 1, id, 32);
                put_u32(h + 33, (uint32_t)len);
                r = rp_buf_append(&w->buf, h, sizeof h);
                if (r >= 0)
                        r = rp_buf_append(&w->buf, plain, len);
        }
        if (r < 0) {
                w->buf.len = before; /* keep the stream well formed for _done() */
                w->error = r;
                return;
        }
        w->records++;
}

void rp_peer_chunk_writer_missing(rp_peer_chunk_writer *w, const uint8_t id[32], int reason)
{
        if (!writer_can_add(w))
                return;
        if (reason < 0 || !reason_ok((uint32_t)reason) || id_zero(id)) {
                w->error = -EINVAL;
                return;
        }
        uint8_t rec[RP_PEER_MISSING_RECORD_SIZE];
        rec[0] = RP_PEER_RECORD_MISSING;
        memcpy(rec + 1, id, 32);
        put_u32(rec + 33, (uint32_t)reason);
        int r = rp_buf_append(&w->buf, rec, sizeof rec);
        if (r < 0) {
                w->error = r;
                return;
        }
        w->records++;
}

int rp_peer_chunk_writer_end(rp_peer_chunk_writer *w, uint8_t **ret_data, size_t *ret_len)
{
        if (w->error >= 0 && w->ended)
                w->error = -EINVAL;
        if (w->error < 0) {
                int r = w->error;
                rp_peer_chunk_writer_done(w);
                return r;
        }
        uint8_t end[RP_PEER_END_RECORD_SIZE];
        end[0] = RP_PEER_RECORD_END;
        put_u32(end + 1, w->records);
        rp_sha256(w->buf.ptr, w->buf.len, end + 5);
        int r = rp_buf_append(&w->buf, end, sizeof end);
        if (r < 0) {
                rp_peer_chunk_writer_done(w);
                return r;
        }
        w->ended = true;
        size_t len = w->buf.len;
        uint8_t *p = (uint8_t *)rp_buf_detach(&w->buf);
        rp_peer_chunk_writer_done(w);
        if (!p)
                return -ENOMEM;
        *ret_data = p;
        *ret_len = len;
        return 0;
}

void rp_peer_chunk_writer_done(rp_peer_chunk_writer *w)
{
        rp_buf_done(&w->buf);
        w->zbuf = rp_free(w->zbuf);
        ZSTD_freeCCtx(w->zctx);
        w->zctx = NULL;
        w->records = 0;
}

int rp_peer_encode_chunks(rp_store *store, const uint8_t (*ids)[32], size_t n, uint8_t **ret_data,
                          size_t *ret_len)
{
        return rp_peer_encode_chunks_flags(store, ids, n, 0, ret_data, ret_len);
}

int rp_peer_encode_chunks_flags(rp_store *store, const uint8_t (*ids)[32], size_t n, uint32_t flags,
                                uint8_t **ret_data, size_t *ret_len)
{
        if (n == 0 || n > RP_PEER_MAX_IDS)
                return -EINVAL;
        _cleanup_free_ uint8_t *plain = rp_malloc(RP_CHUNK_SIZE);
        if (!plain)
                return -ENOMEM;
        rp_peer_chunk_writer w;
        rp_peer_chunk_writer_init_flags(&w, flags);
        for (size_t i = 0; i < n && w.error >= 0; i++) {
                size_t len = 0;
                int r = rp_store_get(store, ids[i], plain, RP_CHUNK_SIZE, &len);
                if (r == -ENOENT || r == -EINVAL)
                        rp_peer_chunk_writer_missing(&w, ids[i], RP_PEER_MISSING_NOT_FOUND);
                else if (r == -EBADMSG)
                        rp_peer_chunk_writer_missing(&w, ids[i], RP_PEER_MISSING_UNREADABLE);
                else if (r < 0) {
                        rp_peer_chunk_writer_done(&w);
                        return r;
                } else
                        rp_peer_chunk_writer_add(&w, ids[i], plain, len);
        }
        return rp_peer_chunk_writer_end(&w, ret_data, ret_len);
}

int rp_peer_decode_chunks(const void *data, size_t len, size_t max_records,
                          int (*on_chunk)(void *ud, const uint8_t id[32], const void *plain,
                                          size_t len),
                          int (*on_missing)(void *ud, const uint8_t id[32], int reason), void *ud)
{
        return rp_peer_decode_chunks_checked(data, len, max_records, NULL, on_chunk, on_missing,
                                             ud);
}

int rp_peer_decode_chunks_checked(const void *data, size_t len, size_t max_records,
                                  int (*check_id)(void *ud, const uint8_t id[32]),
                                  int (*on_chunk)(void *ud, const uint8_t id[32], const void *plain,
                                                  size_t len),
                                  int (*on_missing)(void *ud, const uint8_t id[32], int reason),
                                  void *ud)
{
        const uint8_t *p = data;
        int r = header_check_flags(p, len, RP_PEER_CHUNKS_MAGIC, RP_PEER_STREAM_ZSTD);
        if (r < 0)
                return r;
        bool zstd = get_u32(p + 12) & RP_PEER_STREAM_ZSTD;
        _cleanup_free_ uint8_t *plain = NULL; /* the CHUNK_ZSTD plaintexts, in stream order */
        size_t plain_len = 0, plain_pos = 0;

        /* Pass 1: structure, counts, END and checksum. */
        size_t off = RP_PEER_WIRE_HEADER_SIZE, count = 0;
        bool end = false;
        while (off < len && !end) {
                size_t left = len - off;
                switch (p[off]) {
                case RP_PEER_RECORD_CHUNK: {
                        if (left < RP_PEER_CHUNK_RECORD_HEADER || id_zero(p + off + 1))
                                return -EBADMSG;
                        uint32_t n = get_u32(p + off + 33);
                        if (!chunk_len_ok(n) || left - RP_PEER_CHUNK_RECORD_HEADER < n)
                                return -EBADMSG;
                        off += RP_PEER_CHUNK_RECORD_HEADER + n;
                        break;
                }
                case RP_PEER_RECORD_CHUNK_ZSTD: {
                        if (!zstd || left < RP_PEER_CHUNK_ZSTD_RECORD_HEADER ||
                            id_zero(p + off + 1))
                                return -EBADMSG;
                        uint32_t n = get_u32(p + off + 33), z = get_u32(p + off + 37);
                        if (!chunk_len_ok(n) || z == 0 || z >= n ||
                            left - RP_PEER_CHUNK_ZSTD_RECORD_HEADER < z)
                                return -EBADMSG;
                        /* the frame must say it holds exactly the plaintext length */
                        const uint8_t *f = p + off + RP_PEER_CHUNK_ZSTD_RECORD_HEADER;
                        if (ZSTD_getFrameContentSize(f, z) != n ||
                            ZSTD_findFrameCompressedSize(f, z) != z)
                                return -EBADMSG;
                        /* decompressed now, so that a bad frame refuses the stream before
                         * anything is delivered */
                        uint8_t *grown = rp_realloc(plain, plain_len + n);
                        if (!grown)
                                return -ENOMEM;
                        plain = grown;
                        size_t got = ZSTD_decompress(plain + plain_len, n, f, z);
                        if (ZSTD_isError(got) || got != n)
                                return -EBADMSG;
                        plain_len += n;
                        off += RP_PEER_CHUNK_ZSTD_RECORD_HEADER + z;
                        break;
                }
                case RP_PEER_RECORD_MISSING:
                        if (left < RP_PEER_MISSING_RECORD_SIZE || id_zero(p + off + 1) ||
                            !reason_ok(get_u32(p + off + 33)))
                                return -EBADMSG;
                        off += RP_PEER_MISSING_RECORD_SIZE;
                        break;
                case RP_PEER_RECORD_END: {
                        if (left != RP_PEER_END_RECORD_SIZE || get_u32(p + off + 1) != count)
                                return -EBADMSG;
                        uint8_t sum[32];
                        rp_sha256(p, off, sum);
                        if (memcmp(sum, p + off + 5, 32) != 0)
                                return -EBADMSG;
                        end = true;
                        continue;
                }
                default:
                        return -EBADMSG;
                }
                if (++count > max_records)
                        return -E2BIG;
        }
        if (!end)
                return -EBADMSG;

        /* Pass 2: the caller's id check, still before any delivery. */
        off = RP_PEER_WIRE_HEADER_SIZE;
        for (size_t i = 0; check_id && i < count; i++) {
                r = check_id(ud, p + off + 1);
                if (r < 0)
                        return r;
                off += p[off] == RP_PEER_RECORD_CHUNK_ZSTD
                               ? RP_PEER_CHUNK_ZSTD_RECORD_HEADER + get_u32(p + off + 37)
                       : p[off] == RP_PEER_RECORD_CHUNK
                               ? RP_PEER_CHUNK_RECORD_HEADER + get_u32(p + off + 33)
                               : RP_PEER_MISSING_RECORD_SIZE;
        }

        /* Pass 3: deliver. */
        off = RP_PEER_WIRE_HEADER_SIZE;
        for (size_t i = 0; i < count; i++) {
                const uint8_t *id = p + off + 1;
                uint32_t v = get_u32(p + off + 33);
                if (p[off] == RP_PEER_RECORD_CHUNK_ZSTD) {
                        if (on_chunk) {
                                r = on_chunk(ud, id, plain + plain_pos, v);
                                if (r < 0)
                                        return r;
                        }
                        plain_pos += v;
                        off += RP_PEER_CHUNK_ZSTD_RECORD_HEADER + get_u32(p + off + 37);
                } else if (p[off] == RP_PEER_RECORD_CHUNK) {
                        if (on_chunk) {
                                r = on_chunk(ud, id, p + off + RP_PEER_CHUNK_RECORD_HEADER, v);
                                if (r < 0)
                                        return r;
                        }
                        off += RP_PEER_CHUNK_RECORD_HEADER + v;
                } else {
                        if (on_missing) {
                                r = on_missing(ud, id, (int)v);
                                if (r < 0)
                                        return r;
                        }
                        off += RP_PEER_MISSING_RECORD_SIZE;
                }
        }
        return (int)count;
}

/* ------------------------------------------------------------------------- manifest envelopes */

#define MANIFEST_FIXED (RP_PEER_WIRE_HEADER_SIZE + 16u)

int rp_peer_encode_manifest(const uint8_t *manifest, size_t manifest_len, const json_t *meta,
                            uint8_t **ret_data, size_t *ret_len)
{
        if (!json_is_object(meta) || !manifest || manifest_len == 0)
                return -EINVAL;
        if (manifest_len > RP_MANIFEST_MAX_BYTES)
                return -E2BIG;
        _cleanup_free_ char *text = rp_json_dumps(meta);
        if (!text)
                return -ENOMEM;
        size_t mlen = strlen(text);
        if (mlen > RP_PEER_MAX_META)
                return -E2BIG;
        size_t len = MANIFEST_FIXED + mlen + manifest_len;
        uint8_t *p = rp_malloc(len);
        if (!p)
                return -ENOMEM;
        header_fill(p, RP_PEER_MANIFEST_MAGIC);
        put_u32(p + 16, (uint32_t)mlen);
        put_u32(p + 20, 0);
        put_u64(p + 24, manifest_len);
        memcpy(p + MANIFEST_FIXED, text, mlen);
        memcpy(p + MANIFEST_FIXED + mlen, manifest, manifest_len);
        *ret_data = p;
        *ret_len = len;
        return 0;
}

int rp_peer_decode_manifest(const void *data, size_t len, uint8_t **ret_manifest, size_t *ret_len,
                            json_t **ret_meta)
{
        const uint8_t *p = data;
        int r = header_check(p, len, RP_PEER_MANIFEST_MAGIC);
        if (r < 0)
                return r;
        if (len < MANIFEST_FIXED || get_u32(p + 20) != 0)
                return -EBADMSG;
        uint32_t mlen = get_u32(p + 16);
        uint64_t flen = get_u64(p + 24);
        if (mlen == 0 || flen == 0)
                return -EBADMSG;
        if (mlen > RP_PEER_MAX_META || flen > RP_MANIFEST_MAX_BYTES)
                return -E2BIG;
        if (len - MANIFEST_FIXED != (uint64_t)mlen + flen)
                return -EBADMSG;
        json_error_t err = {}; /* jansson leaves it unset on some allocation failures */
        json_t *meta =
                json_loadb((const char *)p + MANIFEST_FIXED, mlen, JSON_REJECT_DUPLICATES, &err);
        if (!meta)
                return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EBADMSG;
        if (!json_is_object(meta)) {
                json_decref(meta);
                return -EBADMSG;
        }
        uint8_t *m = rp_malloc((size_t)flen);
        if (!m) {
                json_decref(meta);
                return -ENOMEM;
        }
        memcpy(m, p + MANIFEST_FIXED + mlen, (size_t)flen);
        *ret_manifest = m;
        *ret_len = (size_t)flen;
        *ret_meta = meta;
        return 0;
}
