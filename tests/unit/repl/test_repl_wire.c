/* test_repl_wire.c: the peer protocol's binary bodies: golden vectors (written independently by
 * tests/data/repl/gen_golden.py from docs/PEER-PROTOCOL.md), strict decoding, every corruption
 * of a chunk stream refused without delivering anything, and answers from a real store. */
#include "repl_test.h"
#include "util/crypto.h"
#include "util/fs.h"

#ifndef RP_REPL_TEST_DATA
#define RP_REPL_TEST_DATA "tests/data/repl"
#endif

static uint8_t *golden(const char *name, size_t *ret_len)
{
        _cleanup_free_ char *path = rp_asprintf("%s/%s", RP_REPL_TEST_DATA, name);
        char *data = NULL;
        long n = rp_read_file(path, 1 << 20, &data);
        if (n < 0)
                fail_msg("cannot read %s: %s", path, strerror((int)-n));
        *ret_len = (size_t)n;
        return (uint8_t *)data;
}

static void golden_id(int n, uint8_t id[32])
{
        static const char *const names[] = { "golden chunk 1", "golden chunk 2",
                                             "golden chunk 3 (missing)",
                                             "golden chunk 4 (unreadable)" };
        rp_sha256(names[n], strlen(names[n]), id);
}

static void pattern(uint8_t *p, size_t n, unsigned mul, unsigned add)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(i * mul + add);
}

/* Collects what a decode delivers. */
typedef struct sink {
        size_t chunks, missing;
        uint8_t ids[RP_PEER_MAX_IDS + 8][32];
        size_t lens[RP_PEER_MAX_IDS + 8];
        int reasons[RP_PEER_MAX_IDS + 8];
        uint8_t *data; /* concatenated plaintext */
        size_t data_len;
        int fail_at; /* return -EL2HLT at this record (1-based), 0: never */
} sink;

static int sink_chunk(void *ud, const uint8_t id[32], const void *plain, size_t len)
{
        sink *s = ud;
        size_t k = s->chunks + s->missing;
        if (s->fail_at && (int)k + 1 == s->fail_at)
                return -EL2HLT;
        memcpy(s->ids[k], id, 32);
        s->lens[k] = len;
        s->reasons[k] = 0;
        uint8_t *d = rp_realloc(s->data, s->data_len + len);
        assert_non_null(d);
        memcpy(d + s->data_len, plain, len);
        s->data = d;
        s->data_len += len;
        s->chunks++;
        return 0;
}

static int sink_missing(void *ud, const uint8_t id[32], int reason)
{
        sink *s = ud;
        size_t k = s->chunks + s->missing;
        if (s->fail_at && (int)k + 1 == s->fail_at)
                return -EL2HLT;
        memcpy(s->ids[k], id, 32);
        s->lens[k] = 0;
        s->reasons[k] = reason;
        s->missing++;
        return 0;
}

static void sink_done(sink *s)
{
        rp_free(s->data);
        *s = (sink){};
}

static int decode(const void *data, size_t len, size_t max, sink *s)
{
        sink_done(s);
        return rp_peer_decode_chunks(data, len, max, sink_chunk, sink_missing, s);
}

/* ------------------------------------------------------------------------- golden vectors */

static void test_repl_wire__golden_ids(void **state)
{
        size_t glen;
        _cleanup_free_ uint8_t *g = golden("ids.bin", &glen);
        uint8_t ids[4][32];
        for (int i = 0; i < 4; i++)
                golden_id(i, ids[i]);
        _cleanup_free_ uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(rp_peer_encode_ids((const uint8_t(*)[32])ids, 4, &enc, &len), 0);
        assert_int_equal(len, glen);
        assert_memory_equal(enc, g, glen);
        _cleanup_free_ uint8_t(*back)[32] = NULL;
        size_t n = 0;
        assert_int_equal(rp_peer_decode_ids(g, glen, &back, &n), 0);
        assert_int_equal(n, 4);
        assert_memory_equal(back, ids, sizeof ids);
}

static void test_repl_wire__golden_chunks(void **state)
{
        size_t glen;
        _cleanup_free_ uint8_t *g = golden("chunks.bin", &glen);
        uint8_t ids[4][32], p1[512], p2[1024];
        for (int i = 0; i < 4; i++)
                golden_id(i, ids[i]);
        pattern(p1, sizeof p1, 7, 3);
        pattern(p2, sizeof p2, 13, 1);
        rp_peer_chunk_writer w;
        rp_peer_chunk_writer_init(&w);
        rp_peer_chunk_writer_add(&w, ids[0], p1, sizeof p1);
        rp_peer_chunk_writer_add(&w, ids[1], p2, sizeof p2);
        rp_peer_chunk_writer_missing(&w, ids[2], RP_PEER_MISSING_NOT_FOUND);
        rp_peer_chunk_writer_missing(&w, ids[3], RP_PEER_MISSING_UNREADABLE);
        _cleanup_free_ uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(rp_peer_chunk_writer_end(&w, &enc, &len), 0);
        assert_int_equal(len, glen);
        assert_memory_equal(enc, g, glen);

        sink s = {};
        assert_int_equal(decode(g, glen, 4, &s), 4);
        assert_int_equal(s.chunks, 2);
        assert_int_equal(s.missing, 2);
        assert_memory_equal(s.ids, ids, sizeof ids);
        assert_int_equal(s.lens[0], 512);
        assert_int_equal(s.lens[1], 1024);
        assert_memory_equal(s.data, p1, 512);
        assert_memory_equal(s.data + 512, p2, 1024);
        assert_int_equal(s.reasons[2], RP_PEER_MISSING_NOT_FOUND);
        assert_int_equal(s.reasons[3], RP_PEER_MISSING_UNREADABLE);
        /* max_records is a cap */
        assert_int_equal(decode(g, glen, 3, &s), -E2BIG);
        assert_int_equal(s.chunks + s.missing, 0);
        sink_done(&s);
}

static void test_repl_wire__golden_manifest_envelope(void **state)
{
        size_t glen;
        _cleanup_free_ uint8_t *g = golden("manifest_envelope.bin", &glen);
        uint8_t id[32];
        golden_id(0, id);
        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        assert_int_equal(rp_manifest_new(1 << 20, &m), 0);
        assert_int_equal(rp_manifest_set(m, 1, id), 0);
        _cleanup_free_ uint8_t *menc = NULL;
        size_t mlen = 0;
        assert_int_equal(rp_manifest_encode(m, &menc, &mlen), 0);
        _cleanup_json_ json_t *meta =
                json_pack("{s:i, s:s}", "diskSizeBytes", 1048576, "location", "eastus");
        _cleanup_free_ uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(rp_peer_encode_manifest(menc, mlen, meta, &enc, &len), 0);
        assert_int_equal(len, glen);
        assert_memory_equal(enc, g, glen);

        _cleanup_free_ uint8_t *back = NULL;
        size_t blen = 0;
        _cleanup_json_ json_t *bmeta = NULL;
        assert_int_equal(rp_peer_decode_manifest(g, glen, &back, &blen, &bmeta), 0);
        assert_int_equal(blen, mlen);
        assert_memory_equal(back, menc, mlen);
        assert_true(json_equal(bmeta, meta));
}

/* ------------------------------------------------------------------------- corruption */

/* Every single-bit flip, truncation and extension of a chunk stream is refused, and nothing is
 * delivered before the refusal. */
static void test_repl_wire__chunks_every_corruption_refused(void **state)
{
        size_t glen;
        _cleanup_free_ uint8_t *g = golden("chunks.bin", &glen);
        _cleanup_free_ uint8_t *b = rp_malloc(glen + 1);
        sink s = {};
        for (size_t i = 0; i < glen; i++)
                for (int bit = 0; bit < 8; bit++) {
                        memcpy(b, g, glen);
                        b[i] ^= (uint8_t)(1u << bit);
                        int r = decode(b, glen, RP_PEER_MAX_IDS, &s);
                        if (r >= 0)
                                fail_msg("flip of bit %d of byte %zu accepted", bit, i);
                        assert_true(r == -EBADMSG || r == -EPROTONOSUPPORT);
                        assert_int_equal(s.chunks + s.missing, 0);
                }
        for (size_t n = 0; n < glen; n++) {
                assert_int_equal(decode(g, n, RP_PEER_MAX_IDS, &s), -EBADMSG);
                assert_int_equal(s.chunks + s.missing, 0);
        }
        memcpy(b, g, glen);
        for (int v = 0; v < 256; v++) {
                b[glen] = (uint8_t)v;
                assert_int_equal(decode(b, glen + 1, RP_PEER_MAX_IDS, &s), -EBADMSG);
        }
        /* Two records swapped (same length): the checksum catches it. */
        size_t rec = RP_PEER_MISSING_RECORD_SIZE;
        size_t m3 = glen - RP_PEER_END_RECORD_SIZE - 2 * rec;
        memcpy(b, g, glen);
        memcpy(b + m3, g + m3 + rec, rec);
        memcpy(b + m3 + rec, g + m3, rec);
        assert_int_equal(decode(b, glen, RP_PEER_MAX_IDS, &s), -EBADMSG);
        sink_done(&s);
}

/* Streams that are well formed and correctly checksummed but break a rule. */
static void rebuild_end(uint8_t *p, size_t len)
{
        size_t end = len - RP_PEER_END_RECORD_SIZE;
        rp_sha256(p, end, p + end + 5);
}

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void test_repl_wire__chunks_rules(void **state)
{
        size_t glen;
        _cleanup_free_ uint8_t *g = golden("chunks.bin", &glen);
        _cleanup_free_ uint8_t *b = rp_malloc(glen);
        sink s = {};
        const size_t c1 = RP_PEER_WIRE_HEADER_SIZE; /* first CHUNK record */
        const size_t m3 = c1 + 2 * RP_PEER_CHUNK_RECORD_HEADER + 512 + 1024;
        const size_t end = glen - RP_PEER_END_RECORD_SIZE;
        struct {
                size_t off;
                uint32_t v;
                int want;
        } cases[] = {
                { 8, 2, -EPROTONOSUPPORT }, /* version */
                { 12, 2, -EBADMSG },        /* flags: an unknown bit */
                { c1 + 33, 0, -EBADMSG },   /* chunk length 0 */
                { c1 + 33, 511, -EBADMSG }, /* not a multiple of 512 */
                { m3 + 33, 0, -EBADMSG },   /* missing reason 0 */
                { m3 + 33, 3, -EBADMSG },   /* unknown reason */
                { end + 1, 3, -EBADMSG },   /* END count */
                { end + 1, 5, -EBADMSG },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                memcpy(b, g, glen);
                put32(b + cases[i].off, cases[i].v);
                rebuild_end(b, glen);
                assert_int_equal(decode(b, glen, RP_PEER_MAX_IDS, &s), cases[i].want);
                assert_int_equal(s.chunks + s.missing, 0);
        }
        /* a zero id, an unknown record type */
        memcpy(b, g, glen);
        memset(b + c1 + 1, 0, 32);
        rebuild_end(b, glen);
        assert_int_equal(decode(b, glen, RP_PEER_MAX_IDS, &s), -EBADMSG);
        memcpy(b, g, glen);
        b[m3] = 0x03;
        rebuild_end(b, glen);
        assert_int_equal(decode(b, glen, RP_PEER_MAX_IDS, &s), -EBADMSG);
        /* a chunk longer than RP_CHUNK_SIZE */
        rp_peer_chunk_writer w;
        rp_peer_chunk_writer_init(&w);
        _cleanup_free_ uint8_t *big = rp_calloc(1, CHUNK + 512);
        uint8_t id[32] = { 9 };
        rp_peer_chunk_writer_add(&w, id, big, CHUNK);
        _cleanup_free_ uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(rp_peer_chunk_writer_end(&w, &enc, &len), 0);
        assert_int_equal(decode(enc, len, 1, &s), 1);
        put32(enc + c1 + 33, (uint32_t)CHUNK + 512);
        assert_int_equal(decode(enc, len, 1, &s), -EBADMSG);
        /* an empty stream is valid (0 records) */
        rp_peer_chunk_writer_init(&w);
        _cleanup_free_ uint8_t *empty = NULL;
        assert_int_equal(rp_peer_chunk_writer_end(&w, &empty, &len), 0);
        assert_int_equal(len, RP_PEER_WIRE_HEADER_SIZE + RP_PEER_END_RECORD_SIZE);
        assert_int_equal(decode(empty, len, 0, &s), 0);
        sink_done(&s);
}

static void test_repl_wire__callback_error_stops(void **state)
{
        size_t glen;
        _cleanup_free_ uint8_t *g = golden("chunks.bin", &glen);
        sink s = { .fail_at = 2 };
        assert_int_equal(rp_peer_decode_chunks(g, glen, 4, sink_chunk, sink_missing, &s), -EL2HLT);
        assert_int_equal(s.chunks, 1);
        sink_done(&s);
        s = (sink){ .fail_at = 4 };
        assert_int_equal(rp_peer_decode_chunks(g, glen, 4, sink_chunk, sink_missing, &s), -EL2HLT);
        assert_int_equal(s.chunks + s.missing, 3);
        sink_done(&s);
        /* NULL callbacks just count */
        assert_int_equal(rp_peer_decode_chunks(g, glen, 4, NULL, NULL, NULL), 4);
}

static void test_repl_wire__writer_errors_stick(void **state)
{
        uint8_t id[32] = { 1 }, zero[32] = { 0 }, p[1024] = { 0 };
        rp_peer_chunk_writer w;
        uint8_t *enc = NULL;
        size_t len = 0;
        rp_peer_chunk_writer_init(&w);
        rp_peer_chunk_writer_add(&w, id, p, 100);
        rp_peer_chunk_writer_add(&w, id, p, 512); /* ignored after the error */
        assert_int_equal(w.error, -EINVAL);
        assert_int_equal(rp_peer_chunk_writer_end(&w, &enc, &len), -EINVAL);
        assert_null(enc);
        rp_peer_chunk_writer_init(&w);
        rp_peer_chunk_writer_add(&w, zero, p, 512);
        assert_int_equal(rp_peer_chunk_writer_end(&w, &enc, &len), -EINVAL);
        rp_peer_chunk_writer_init(&w);
        rp_peer_chunk_writer_missing(&w, id, 0);
        assert_int_equal(rp_peer_chunk_writer_end(&w, &enc, &len), -EINVAL);
        rp_peer_chunk_writer_init(&w);
        for (unsigned i = 0; i <= RP_PEER_MAX_IDS; i++)
                rp_peer_chunk_writer_missing(&w, id, RP_PEER_MISSING_NOT_FOUND);
        assert_int_equal(rp_peer_chunk_writer_end(&w, &enc, &len), -E2BIG);
        rp_peer_chunk_writer_init(&w);
        rp_peer_chunk_writer_add(&w, id, p, 1024);
        rp_peer_chunk_writer_done(&w); /* abandoned: nothing leaks */
}

/* The largest batch: RP_PEER_MAX_IDS full chunks. */
static void test_repl_wire__max_batch_roundtrip(void **state)
{
        rp_peer_chunk_writer w;
        rp_peer_chunk_writer_init(&w);
        _cleanup_free_ uint8_t *p = rp_malloc(CHUNK);
        uint8_t ids[RP_PEER_MAX_IDS][32];
        for (unsigned i = 0; i < RP_PEER_MAX_IDS; i++) {
                rt_fill(p, CHUNK, i);
                rp_sha256(p, CHUNK, ids[i]);
                rp_peer_chunk_writer_add(&w, ids[i], p, CHUNK);
        }
        _cleanup_free_ uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(rp_peer_chunk_writer_end(&w, &enc, &len), 0);
        assert_int_equal(len, RP_PEER_MAX_CHUNKS_BODY);
        sink s = {};
        assert_int_equal(decode(enc, len, RP_PEER_MAX_IDS, &s), (int)RP_PEER_MAX_IDS);
        for (unsigned i = 0; i < RP_PEER_MAX_IDS; i++) {
                uint8_t sum[32];
                rp_sha256(s.data + i * CHUNK, CHUNK, sum);
                assert_memory_equal(sum, ids[i], 32);
        }
        sink_done(&s);
}

/* ------------------------------------------------------------------------- id lists */

static void test_repl_wire__ids_rules(void **state)
{
        uint8_t ids[RP_PEER_MAX_IDS + 1][32];
        for (unsigned i = 0; i <= RP_PEER_MAX_IDS; i++) {
                memset(ids[i], 0, 32);
                ids[i][0] = (uint8_t)(i + 1);
                ids[i][31] = 0x77;
        }
        uint8_t *enc = NULL;
        size_t len = 0;
        const uint8_t(*cids)[32] = (const uint8_t(*)[32])ids;
        assert_int_equal(rp_peer_encode_ids(cids, 0, &enc, &len), -EINVAL);
        assert_int_equal(rp_peer_encode_ids(cids, RP_PEER_MAX_IDS + 1, &enc, &len), -EINVAL);
        memcpy(ids[3], ids[2], 32);
        assert_int_equal(rp_peer_encode_ids(cids, 5, &enc, &len), -EINVAL); /* repeat */
        ids[3][0] = 0x44;
        uint8_t saved[32];
        memcpy(saved, ids[1], 32);
        memset(ids[1], 0, 32);
        assert_int_equal(rp_peer_encode_ids(cids, 5, &enc, &len), -EINVAL); /* zero */
        memcpy(ids[1], saved, 32);
        assert_null(enc);

        assert_int_equal(rp_peer_encode_ids(cids, RP_PEER_MAX_IDS, &enc, &len), 0);
        assert_int_equal(len, RP_PEER_MAX_IDS_BODY);
        uint8_t(*back)[32] = NULL;
        size_t n = 0;
        assert_int_equal(rp_peer_decode_ids(enc, len, &back, &n), 0);
        assert_int_equal(n, RP_PEER_MAX_IDS);
        assert_memory_equal(back, ids, n * 32);
        rp_free(back);
        back = NULL;

        _cleanup_free_ uint8_t *b = rp_malloc(len + 32);
        struct {
                size_t off;
                uint32_t v;
                int want;
        } cases[] = {
                { 8, 2, -EPROTONOSUPPORT },
                { 12, 1, -EBADMSG },
                { 16, 0, -EBADMSG },
                { 16, RP_PEER_MAX_IDS + 1, -E2BIG },
                { 16, RP_PEER_MAX_IDS - 1, -EBADMSG },
                { 20, 1, -EBADMSG },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                memcpy(b, enc, len);
                put32(b + cases[i].off, cases[i].v);
                assert_int_equal(rp_peer_decode_ids(b, len, &back, &n), cases[i].want);
        }
        memcpy(b, enc, len);
        b[0] ^= 1;
        assert_int_equal(rp_peer_decode_ids(b, len, &back, &n), -EBADMSG);
        memcpy(b, enc, len);
        memcpy(b + 24 + 32 * 5, b + 24 + 32 * 9, 32); /* a repeated id */
        assert_int_equal(rp_peer_decode_ids(b, len, &back, &n), -EBADMSG);
        memcpy(b, enc, len);
        memset(b + 24 + 32 * 7, 0, 32); /* a zero id */
        assert_int_equal(rp_peer_decode_ids(b, len, &back, &n), -EBADMSG);
        for (size_t k = 0; k < len; k++)
                assert_true(rp_peer_decode_ids(enc, k, &back, &n) < 0);
        memcpy(b, enc, len);
        assert_int_equal(rp_peer_decode_ids(b, len + 32, &back, &n), -EBADMSG);
        assert_null(back);
        rp_free(enc);
}

/* ------------------------------------------------------------------------- manifest envelopes */

static void test_repl_wire__manifest_envelope_rules(void **state)
{
        size_t glen;
        _cleanup_free_ uint8_t *g = golden("manifest_envelope.bin", &glen);
        _cleanup_free_ uint8_t *b = rp_malloc(glen + 1);
        uint8_t *m = NULL;
        size_t mlen = 0;
        json_t *meta = NULL;
        struct {
                size_t off;
                uint32_t v;
                int want;
        } cases[] = {
                { 8, 2, -EPROTONOSUPPORT },
                { 12, 1, -EBADMSG },
                { 16, 0, -EBADMSG },
                { 16, 200, -EBADMSG },
                { 16, RP_PEER_MAX_META + 1, -E2BIG },
                { 20, 1, -EBADMSG },
                { 24, 0, -EBADMSG },
                { 24, 5, -EBADMSG },
                { 28, 2, -E2BIG },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                memcpy(b, g, glen);
                put32(b + cases[i].off, cases[i].v);
                assert_int_equal(rp_peer_decode_manifest(b, glen, &m, &mlen, &meta), cases[i].want);
        }
        for (size_t k = 0; k < glen; k++)
                assert_true(rp_peer_decode_manifest(g, k, &m, &mlen, &meta) < 0);
        memcpy(b, g, glen);
        assert_int_equal(rp_peer_decode_manifest(b, glen + 1, &m, &mlen, &meta), -EBADMSG);
        /* metadata that is not an object, or not JSON */
        memcpy(b, g, glen);
        b[32] = '[';
        assert_int_equal(rp_peer_decode_manifest(b, glen, &m, &mlen, &meta), -EBADMSG);
        memcpy(b, g, glen);
        b[33] = '\0';
        assert_int_equal(rp_peer_decode_manifest(b, glen, &m, &mlen, &meta), -EBADMSG);
        assert_null(m);
        assert_null(meta);
        /* encoder arguments */
        _cleanup_json_ json_t *arr = json_array();
        uint8_t x[8] = { 0 };
        uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(rp_peer_encode_manifest(x, sizeof x, arr, &enc, &len), -EINVAL);
        _cleanup_json_ json_t *obj = json_object();
        assert_int_equal(rp_peer_encode_manifest(x, 0, obj, &enc, &len), -EINVAL);
        _cleanup_free_ char *huge = rp_malloc(RP_PEER_MAX_META + 1);
        memset(huge, 'a', RP_PEER_MAX_META);
        huge[RP_PEER_MAX_META] = '\0';
        json_object_set_new(obj, "x", json_string(huge));
        assert_int_equal(rp_peer_encode_manifest(x, sizeof x, obj, &enc, &len), -E2BIG);
        assert_null(enc);
}

/* ------------------------------------------------------------------------- from a store */

static void test_repl_wire__encode_from_store(void **state)
{
        repl_fixture *f = rt_setup(12);
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(f->d.m, &n);
        ds_put_some(&f->d, f->target, 0, 0);
        uint8_t ids[4][32];
        memcpy(ids[0], e[0].id, 32);
        memcpy(ids[1], e[5].id, 32);
        memset(ids[2], 0xee, 32);        /* unknown */
        memcpy(ids[3], e[n - 1].id, 32); /* the short last chunk */
        _cleanup_free_ uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(rp_peer_encode_chunks(f->target, (const uint8_t(*)[32])ids, 4, &enc, &len),
                         0);
        sink s = {};
        assert_int_equal(decode(enc, len, 4, &s), 4);
        assert_int_equal(s.chunks, 3);
        assert_int_equal(s.missing, 1);
        assert_int_equal(s.reasons[2], RP_PEER_MISSING_NOT_FOUND);
        assert_memory_equal(s.ids, ids, sizeof ids);
        assert_int_equal(s.lens[3], rp_manifest_chunk_len(f->d.m, e[n - 1].index));
        assert_true(s.lens[3] < CHUNK);
        assert_memory_equal(s.data, f->d.disk + e[0].index * CHUNK, CHUNK);
        assert_memory_equal(s.data + 2 * CHUNK, f->d.disk + e[n - 1].index * CHUNK, s.lens[3]);
        sink_done(&s);
        assert_int_equal(rp_peer_encode_chunks(f->target, (const uint8_t(*)[32])ids, 0, &enc, &len),
                         -EINVAL);
        rt_teardown(f);
}

/* OOM torture of the codecs: every allocation failure is reported, nothing leaks. */
static void test_repl_wire__oom(void **state)
{
        size_t glen, mlen;
        _cleanup_free_ uint8_t *g = golden("chunks.bin", &glen);
        _cleanup_free_ uint8_t *gm = golden("manifest_envelope.bin", &mlen);
        rp_json_init();
        for (unsigned long k = 1; k < 64; k++) {
                rp_alloc_fail_at(k);
                uint8_t *m = NULL;
                size_t l = 0;
                json_t *meta = NULL;
                int r = rp_peer_decode_manifest(gm, mlen, &m, &l, &meta);
                rp_alloc_fail_at(0);
                /* jansson reports most allocation failures as syntax errors */
                assert_true(r == 0 || r == -ENOMEM || r == -EBADMSG);
                if (r == 0) {
                        rp_free(m);
                        json_decref(meta);
                }
                rp_alloc_fail_at(k);
                rp_peer_chunk_writer w;
                rp_peer_chunk_writer_init(&w);
                uint8_t id[32] = { 3 }, p[512] = { 1 };
                rp_peer_chunk_writer_add(&w, id, p, sizeof p);
                rp_peer_chunk_writer_missing(&w, id, 1);
                uint8_t *enc = NULL;
                r = rp_peer_chunk_writer_end(&w, &enc, &l);
                rp_alloc_fail_at(0);
                assert_true(r == 0 || r == -ENOMEM);
                rp_free(enc);
        }
}

/* Streams with RP_PEER_STREAM_ZSTD: compressible chunks cross as CHUNK_ZSTD, the rest as
 * CHUNK, and the decoder hands out the same plaintext; the record is refused without the flag,
 * with a frame that does not hold the stated length, or one no smaller than the plaintext. */
static void test_repl_wire__zstd_chunks(void **state)
{
        (void)state;
        uint8_t *text = rp_malloc(RP_CHUNK_SIZE), *noise = rp_malloc(RP_CHUNK_SIZE);
        assert_non_null(text);
        assert_non_null(noise);
        pattern(text, RP_CHUNK_SIZE, 0, 'a'); /* compresses to almost nothing */
        assert_int_equal(rp_random_bytes(noise, RP_CHUNK_SIZE), 0);
        uint8_t id1[32], id2[32];
        golden_id(0, id1);
        golden_id(1, id2);
        rp_peer_chunk_writer w;
        rp_peer_chunk_writer_init_flags(&w, RP_PEER_STREAM_ZSTD);
        rp_peer_chunk_writer_add(&w, id1, text, RP_CHUNK_SIZE);
        rp_peer_chunk_writer_add(&w, id2, noise, RP_CHUNK_SIZE);
        uint8_t *b = NULL;
        size_t len = 0;
        assert_int_equal(rp_peer_chunk_writer_end(&w, &b, &len), 0);
        /* the text went compressed, the noise as it is */
        assert_true(len < RP_CHUNK_SIZE + 4096);
        assert_int_equal(b[RP_PEER_WIRE_HEADER_SIZE], RP_PEER_RECORD_CHUNK_ZSTD);
        sink s = {};
        assert_int_equal(decode(b, len, RP_PEER_MAX_IDS, &s), 2);
        assert_int_equal(s.chunks, 2);
        assert_int_equal(s.data_len, 2 * RP_CHUNK_SIZE);
        assert_memory_equal(s.data, text, RP_CHUNK_SIZE);
        assert_memory_equal(s.data + RP_CHUNK_SIZE, noise, RP_CHUNK_SIZE);
        assert_memory_equal(s.ids[0], id1, 32);

        /* without the flag the record is refused */
        uint8_t *c = rp_malloc(len);
        assert_non_null(c);
        memcpy(c, b, len);
        put32(c + 12, 0);
        rebuild_end(c, len);
        assert_int_equal(decode(c, len, RP_PEER_MAX_IDS, &s), -EBADMSG);
        /* a stated plaintext length the frame does not hold */
        const size_t r = RP_PEER_WIRE_HEADER_SIZE;
        memcpy(c, b, len);
        put32(c + r + 33, RP_CHUNK_SIZE - 512);
        rebuild_end(c, len);
        assert_int_equal(decode(c, len, RP_PEER_MAX_IDS, &s), -EBADMSG);
        /* a frame length of 0, or past the stream */
        memcpy(c, b, len);
        put32(c + r + 37, 0);
        rebuild_end(c, len);
        assert_int_equal(decode(c, len, RP_PEER_MAX_IDS, &s), -EBADMSG);
        memcpy(c, b, len);
        put32(c + r + 37, (uint32_t)len);
        rebuild_end(c, len);
        assert_int_equal(decode(c, len, RP_PEER_MAX_IDS, &s), -EBADMSG);
        /* a corrupted frame byte breaks the END checksum: nothing is delivered */
        memcpy(c, b, len);
        c[r + RP_PEER_CHUNK_ZSTD_RECORD_HEADER + 3] ^= 1;
        assert_int_equal(decode(c, len, RP_PEER_MAX_IDS, &s), -EBADMSG);
        assert_int_equal(s.chunks, 0);
        /* unknown writer flags */
        uint8_t *none = NULL;
        size_t none_len = 0;
        rp_peer_chunk_writer_init_flags(&w, 2);
        assert_int_equal(rp_peer_chunk_writer_end(&w, &none, &none_len), -EINVAL);
        assert_null(none);
        sink_done(&s);
        rp_free(c);
        rp_free(b);
        rp_free(text);
        rp_free(noise);
}

typedef struct checked_sink {
        sink s; /* first: the sink callbacks take the same pointer */
        int calls;
} checked_sink;

static int refuse_second(void *ud, const uint8_t id[32])
{
        (void)id;
        checked_sink *c = ud;
        return ++c->calls == 2 ? -EL2HLT : 0;
}

/* The id check runs over every record before any delivery: a refusal delivers nothing. */
static void test_repl_wire__checked_decode(void **state)
{
        (void)state;
        size_t glen = 0;
        _cleanup_free_ uint8_t *g = golden("chunks.bin", &glen);
        checked_sink c = {};
        assert_int_equal(rp_peer_decode_chunks_checked(g, glen, 4, refuse_second, sink_chunk,
                                                       sink_missing, &c),
                         -EL2HLT);
        assert_int_equal(c.calls, 2);
        assert_int_equal(c.s.chunks + c.s.missing, 0);
        /* accepted: every record is checked once, then delivered */
        c.calls = -100;
        int k = rp_peer_decode_chunks_checked(g, glen, 4, refuse_second, sink_chunk, sink_missing,
                                              &c);
        assert_true(k > 0);
        assert_int_equal(c.calls, -100 + k);
        assert_int_equal(c.s.chunks + c.s.missing, (size_t)k);
        sink_done(&c.s);
}

int main(void)
{
        rp_json_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_repl_wire__golden_ids),
                cmocka_unit_test(test_repl_wire__golden_chunks),
                cmocka_unit_test(test_repl_wire__golden_manifest_envelope),
                cmocka_unit_test(test_repl_wire__chunks_every_corruption_refused),
                cmocka_unit_test(test_repl_wire__chunks_rules),
                cmocka_unit_test(test_repl_wire__callback_error_stops),
                cmocka_unit_test(test_repl_wire__writer_errors_stick),
                cmocka_unit_test(test_repl_wire__max_batch_roundtrip),
                cmocka_unit_test(test_repl_wire__ids_rules),
                cmocka_unit_test(test_repl_wire__manifest_envelope_rules),
                cmocka_unit_test(test_repl_wire__encode_from_store),
                cmocka_unit_test(test_repl_wire__oom),
                cmocka_unit_test(test_repl_wire__zstd_chunks),
                cmocka_unit_test(test_repl_wire__checked_decode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
