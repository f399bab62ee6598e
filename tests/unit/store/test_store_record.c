/* test_store_record.c: the chunk record format (seal, decode, unseal) and the id map. */
#include "store_test.h"
#include "util/crypto.h"

static const uint8_t id_key[32] = { 1, 2, 3 };
static const uint8_t enc_key[32] = { 9, 8, 7 };

typedef struct sealed {
        rp_store_scratch *sc;
        uint8_t id[32];
        size_t len;
        uint8_t *rec; /* a copy */
} sealed;

static void seal(sealed *s, const void *plain, size_t len)
{
        s->sc = rp_store__scratch_new();
        assert_non_null(s->sc);
        assert_int_equal(rp_hmac_sha256(id_key, 32, plain, len, s->id), 0);
        assert_int_equal(rp_store__seal(s->sc, enc_key, s->id, plain, len, &s->len), 0);
        s->rec = rp_malloc(s->len);
        assert_non_null(s->rec);
        memcpy(s->rec, rp_store__scratch_rec(s->sc), s->len);
}

static void sealed_done(sealed *s)
{
        rp_store__scratch_free(s->sc);
        rp_free(s->rec);
}

static void test_store_record__seal_unseal(void **state)
{
        _cleanup_free_ uint8_t *plain = st_chunk(), *out = st_chunk();
        for (int kind = 0; kind < 2; kind++) {
                if (kind)
                        st_fill_text(plain, CHUNK, 1);
                else
                        st_fill_random(plain, CHUNK, 1);
                sealed s = { 0 };
                seal(&s, plain, CHUNK);
                rp_store_record h;
                assert_int_equal(rp_store__record_decode(s.rec, s.len, &h), 0);
                assert_int_equal(h.raw_len, CHUNK);
                assert_int_equal(h.flags, kind ? RP_STORE_FLAG_ZSTD : 0);
                assert_memory_equal(h.id, s.id, 32);
                size_t n = 0;
                assert_int_equal(
                        rp_store__unseal(s.sc, id_key, enc_key, s.id, s.rec, s.len, out, CHUNK, &n),
                        0);
                assert_int_equal(n, CHUNK);
                assert_memory_equal(out, plain, CHUNK);
                sealed_done(&s);
        }
}

static void test_store_record__fresh_nonce_each_time(void **state)
{
        _cleanup_free_ uint8_t *plain = st_chunk();
        st_fill_random(plain, 4096, 2);
        sealed a = { 0 }, b = { 0 };
        seal(&a, plain, 4096);
        seal(&b, plain, 4096);
        assert_int_equal(a.len, b.len);
        assert_memory_not_equal(a.rec + 48, b.rec + 48, RP_STORE_NONCE_LEN);
        assert_memory_not_equal(a.rec + RP_STORE_RECORD_HEADER, b.rec + RP_STORE_RECORD_HEADER, 64);
        sealed_done(&a);
        sealed_done(&b);
}

static void test_store_record__decode_rejects(void **state)
{
        _cleanup_free_ uint8_t *plain = st_chunk(), *d = rp_malloc(RP_STORE_RECORD_MAX + 1);
        st_fill_text(plain, 8192, 3);
        sealed s = { 0 };
        seal(&s, plain, 8192);
        rp_store_record h;
        assert_int_equal(rp_store__record_decode(s.rec, s.len, &h), 0);
        assert_true(h.payload_len < 8192);

        struct {
                size_t off;
                uint8_t val;
        } bad[] = {
                { 0, 'X' },   /* magic */
                { 4, 2 },     /* version */
                { 5, 2 },     /* type */
                { 6, 2 },     /* unknown flag */
                { 6, 0 },     /* uncompressed, but payload shorter than raw */
                { 8, 1 },     /* raw_len not a multiple of 512 */
                { 10, 0x10 }, /* raw_len > RP_CHUNK_SIZE */
                { 13, 0x7f }, /* payload_len != record length */
                { 76, 1 },    /* reserved */
        };
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                memcpy(d, s.rec, s.len);
                d[bad[k].off] = bad[k].val;
                rp_store_record h2 = { .raw_len = 12345 };
                if (rp_store__record_decode(d, s.len, &h2) != -EBADMSG)
                        fail_msg("case %zu accepted", k);
                assert_int_equal(h2.raw_len, 12345);
        }
        /* raw_len 0 */
        memcpy(d, s.rec, s.len);
        memset(d + 8, 0, 4);
        assert_int_equal(rp_store__record_decode(d, s.len, &h), -EBADMSG);
        /* short, long */
        assert_int_equal(rp_store__record_decode(s.rec, s.len - 1, &h), -EBADMSG);
        memcpy(d, s.rec, s.len);
        assert_int_equal(rp_store__record_decode(d, s.len + 1, &h), -EBADMSG);
        assert_int_equal(rp_store__record_decode(s.rec, 10, &h), -EBADMSG);
        sealed_done(&s);
}

static void test_store_record__unseal_rejects(void **state)
{
        _cleanup_free_ uint8_t *plain = st_chunk(), *out = st_chunk();
        st_fill_random(plain, CHUNK, 4);
        sealed s = { 0 };
        seal(&s, plain, CHUNK);
        size_t n = 0;
        uint8_t other[32];
        memcpy(other, s.id, 32);
        other[0] ^= 1;
        /* asked for another id */
        assert_int_equal(
                rp_store__unseal(s.sc, id_key, enc_key, other, s.rec, s.len, out, CHUNK, &n),
                -EBADMSG);
        /* small buffer */
        assert_int_equal(
                rp_store__unseal(s.sc, id_key, enc_key, s.id, s.rec, s.len, out, CHUNK - 1, &n),
                -ENOBUFS);
        /* wrong encryption key */
        uint8_t k2[32];
        memcpy(k2, enc_key, 32);
        k2[3] ^= 1;
        memset(out, 0x55, CHUNK);
        assert_int_equal(rp_store__unseal(s.sc, id_key, k2, s.id, s.rec, s.len, out, CHUNK, &n),
                         -EBADMSG);
        assert_true(rp_store_is_zero(out, CHUNK)); /* wiped */
        /* wrong id key: decrypts, but the plaintext does not have this id */
        assert_int_equal(rp_store__unseal(s.sc, k2, enc_key, s.id, s.rec, s.len, out, CHUNK, &n),
                         -EBADMSG);
        assert_true(rp_store_is_zero(out, CHUNK));
        assert_int_equal(n, 0);
        sealed_done(&s);
}

static void test_store_record__compressed_payload_checked(void **state)
{
        /* A record sealed correctly around a zstd frame that does not expand to raw_len. */
        _cleanup_free_ uint8_t *plain = st_chunk(), *out = st_chunk();
        st_fill_text(plain, CHUNK, 5);
        sealed s = { 0 };
        seal(&s, plain, CHUNK);
        rp_store_record h;
        assert_int_equal(rp_store__record_decode(s.rec, s.len, &h), 0);
        assert_int_equal(h.flags, RP_STORE_FLAG_ZSTD);
        /* Flip a payload bit: the tag catches it before zstd ever sees it. */
        s.rec[RP_STORE_RECORD_HEADER + 3] ^= 1;
        size_t n;
        assert_int_equal(
                rp_store__unseal(s.sc, id_key, enc_key, s.id, s.rec, s.len, out, CHUNK, &n),
                -EBADMSG);
        sealed_done(&s);
}

static void test_store_record__map_insert_find_remove(void **state)
{
        rp_store_map m = { 0 };
        enum {
                N = 5000
        };
        _cleanup_free_ uint8_t(*ids)[32] = rp_calloc(N, 32);
        assert_non_null(ids);
        for (int i = 0; i < N; i++) {
                st_fill_random(ids[i], 32, (uint64_t)i + 1);
                /* Force collisions: many ids share their first 8 bytes. */
                if (i % 3 == 0)
                        memset(ids[i], 0xab, 8);
                rp_store_loc loc = { .pack = (uint32_t)i + 1, .off = (uint32_t)i };
                assert_int_equal(rp_store__map_insert(&m, ids[i], &loc, NULL), 1);
        }
        assert_int_equal(m.n, N);
        rp_store_loc loc = { .pack = 999999 };
        rp_store_map_entry *e = NULL;
        assert_int_equal(rp_store__map_insert(&m, ids[7], &loc, &e), 0);
        assert_int_equal(e->loc.pack, 8);
        /* Remove every other id, then check all. */
        for (int i = 0; i < N; i += 2)
                assert_int_equal(rp_store__map_remove(&m, ids[i]), 1);
        assert_int_equal(rp_store__map_remove(&m, ids[0]), 0);
        assert_int_equal(m.n, N / 2);
        for (int i = 0; i < N; i++) {
                e = rp_store__map_find(&m, ids[i]);
                if (i % 2 == 0) {
                        assert_null(e);
                } else {
                        assert_non_null(e);
                        assert_int_equal(e->loc.pack, (uint32_t)i + 1);
                        assert_int_equal(e->loc.off, (uint32_t)i);
                }
        }
        rp_store__map_clear(&m);
        assert_null(rp_store__map_find(&m, ids[1]));
        rp_store__map_done(&m);
        assert_null(rp_store__map_find(&m, ids[1]));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_store_record__seal_unseal),
                cmocka_unit_test(test_store_record__fresh_nonce_each_time),
                cmocka_unit_test(test_store_record__decode_rejects),
                cmocka_unit_test(test_store_record__unseal_rejects),
                cmocka_unit_test(test_store_record__compressed_payload_checked),
                cmocka_unit_test(test_store_record__map_insert_find_remove),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
