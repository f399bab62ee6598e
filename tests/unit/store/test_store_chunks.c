/* test_store_chunks.c: put, get, dedup, holes, compression, put_verified, has, stats, keys. */
#include <sqlite3.h>

#include "store_test.h"
#include "util/fs.h"

static void test_store_chunks__roundtrip_random(void **state)
{
        store_fixture *f = *state;
        uint8_t id[32];
        uint64_t added = 0;
        _cleanup_free_ uint8_t *b = st_chunk();
        st_fill_random(b, CHUNK, 1);
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id, &added), 0);
        assert_int_equal(added, CHUNK + RP_STORE_RECORD_HEADER); /* incompressible: raw */
        assert_false(rp_store_id_is_zero(id));
        uint8_t want[32];
        assert_int_equal(rp_store_chunk_id(f->s, b, CHUNK, want), 0);
        assert_memory_equal(id, want, 32);
        st_check_random(f->s, id, 1, CHUNK);
}

static void test_store_chunks__roundtrip_text(void **state)
{
        store_fixture *f = *state;
        _cleanup_free_ uint8_t *b = st_chunk(), *got = st_chunk();
        st_fill_text(b, CHUNK, 2);
        uint8_t id[32];
        uint64_t added = 0;
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id, &added), 0);
        assert_true(added > 0 && added < CHUNK / 2);
        size_t n = 0;
        assert_int_equal(rp_store_get(f->s, id, got, CHUNK, &n), 0);
        assert_int_equal(n, CHUNK);
        assert_memory_equal(got, b, CHUNK);
}

static void test_store_chunks__roundtrip_short_last_chunk(void **state)
{
        store_fixture *f = *state;
        size_t lens[] = { 512, 4096, CHUNK - 512, 3 * 512 };
        for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
                uint8_t id[32];
                st_put_random(f->s, 100 + i, lens[i], id);
                st_check_random(f->s, id, 100 + i, lens[i]);
        }
        /* The same leading bytes at another length are another chunk. */
        uint8_t a[32], b[32];
        st_put_random(f->s, 7, 1024, a);
        st_put_random(f->s, 7, 2048, b);
        assert_memory_not_equal(a, b, 32);
}

static void test_store_chunks__bad_length_refused(void **state)
{
        store_fixture *f = *state;
        _cleanup_free_ uint8_t *b = st_chunk();
        st_fill_random(b, CHUNK, 3);
        uint8_t id[32] = { 1 };
        assert_int_equal(rp_store_put(f->s, b, 0, id, NULL), -EINVAL);
        assert_int_equal(rp_store_put(f->s, b, 100, id, NULL), -EINVAL);
        assert_int_equal(rp_store_put(f->s, b, CHUNK + 512, id, NULL), -EINVAL);
        assert_int_equal(id[0], 1); /* untouched */
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, 0);
}

static void test_store_chunks__dedup_adds_nothing(void **state)
{
        store_fixture *f = *state;
        _cleanup_free_ uint8_t *b = st_chunk();
        st_fill_random(b, CHUNK, 4);
        uint8_t id1[32], id2[32];
        uint64_t a1 = 0, a2 = 99;
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id1, &a1), 0);
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id2, &a2), 0);
        assert_true(a1 > 0);
        assert_int_equal(a2, 0);
        assert_memory_equal(id1, id2, 32);
        assert_int_equal(rp_store_flush(f->s), 0);
        uint64_t a3 = 99;
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id2, &a3), 0);
        assert_int_equal(a3, 0);
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, 1);
        assert_int_equal(st.stored_bytes, a1);
        /* Nothing but one record and the pack header in the packs. */
        assert_int_equal(st.pack_bytes, a1 + RP_STORE_PACK_HEADER);
}

static void test_store_chunks__zero_chunk_not_stored(void **state)
{
        store_fixture *f = *state;
        _cleanup_free_ uint8_t *b = rp_calloc(1, CHUNK);
        assert_non_null(b);
        uint8_t id[32];
        memset(id, 0xff, sizeof id);
        uint64_t added = 99;
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id, &added), 0);
        assert_true(rp_store_id_is_zero(id));
        assert_int_equal(added, 0);
        assert_int_equal(rp_store_put(f->s, b, 512, id, &added), 0);
        assert_true(rp_store_id_is_zero(id));
        assert_int_equal(rp_store_has(f->s, id), 1);
        size_t n;
        assert_int_equal(rp_store_get(f->s, id, b, CHUNK, &n), -EINVAL);
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, 0);
        assert_int_equal(st.packs, 0); /* not even a pack was created */
        /* One non-zero byte, anywhere, makes it a chunk. */
        b[CHUNK - 1] = 1;
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id, &added), 0);
        assert_false(rp_store_id_is_zero(id));
        assert_true(added > 0);
        memset(b, 0, CHUNK);
        b[0] = 1;
        assert_false(rp_store_is_zero(b, CHUNK));
        assert_true(rp_store_is_zero(b + 1, 15));
}

/* The flags byte of the first record of pack 1. */
static uint16_t first_record_flags(store_fixture *f)
{
        _cleanup_free_ char *p = st_pack(f, 1);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        uint8_t h[RP_STORE_RECORD_HEADER];
        assert_int_equal(pread(fd, h, sizeof h, RP_STORE_PACK_HEADER), (ssize_t)sizeof h);
        close(fd);
        assert_memory_equal(h, RP_STORE_RECORD_MAGIC, 4);
        return (uint16_t)(h[6] | h[7] << 8);
}

static void test_store_chunks__compression_flag_for_compressible(void **state)
{
        store_fixture *f = *state;
        _cleanup_free_ uint8_t *b = st_chunk();
        st_fill_text(b, CHUNK, 5);
        uint8_t id[32];
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id, NULL), 0);
        assert_int_equal(rp_store_flush(f->s), 0);
        assert_int_equal(first_record_flags(f) & RP_STORE_FLAG_ZSTD, RP_STORE_FLAG_ZSTD);
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.raw_bytes, CHUNK);
        assert_true(st.stored_bytes < CHUNK / 2);
}

static void test_store_chunks__no_compression_for_random(void **state)
{
        store_fixture *f = *state;
        uint8_t id[32];
        st_put_random(f->s, 6, CHUNK, id);
        assert_int_equal(rp_store_flush(f->s), 0);
        assert_int_equal(first_record_flags(f) & RP_STORE_FLAG_ZSTD, 0);
}

static void test_store_chunks__mixed_chunk_compressed(void **state)
{
        store_fixture *f = *state;
        /* Random first half, text second half: the probe's middle and end samples see text. */
        _cleanup_free_ uint8_t *b = st_chunk(), *got = st_chunk();
        st_fill_random(b, CHUNK / 2, 15);
        st_fill_text(b + CHUNK / 2, CHUNK / 2, 15);
        uint8_t id[32];
        uint64_t added = 0;
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id, &added), 0);
        assert_true(added < CHUNK * 3 / 4);
        size_t n = 0;
        assert_int_equal(rp_store_get(f->s, id, got, CHUNK, &n), 0);
        assert_memory_equal(got, b, CHUNK);
        /* A short chunk is always tried whole (no probe below 64 KiB). */
        st_fill_text(b, 8192, 16);
        assert_int_equal(rp_store_put(f->s, b, 8192, id, &added), 0);
        assert_true(added < 8192);
}

static void test_store_chunks__encrypted_at_rest(void **state)
{
        store_fixture *f = *state;
        _cleanup_free_ uint8_t *b = st_chunk();
        memset(b, 'A', CHUNK); /* would be plain to see in the pack, compressed or not */
        memcpy(b, "SECRET-MARKER-0123456789", 24);
        uint8_t id[32];
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id, NULL), 0);
        st_fill_random(b, CHUNK, 9);
        memcpy(b + 4096, "SECRET-MARKER-0123456789", 24);
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id, NULL), 0);
        assert_int_equal(rp_store_flush(f->s), 0);
        _cleanup_free_ char *p = st_pack(f, 1);
        _cleanup_free_ char *data = NULL;
        long n = rp_read_file(p, 64u << 20, &data);
        assert_true(n > 0);
        assert_null(memmem(data, (size_t)n, "SECRET-MARKER", 13));
        assert_null(memmem(data, (size_t)n, "AAAAAAAAAAAAAAAA", 16));
}

static void test_store_chunks__get_errors(void **state)
{
        store_fixture *f = *state;
        uint8_t id[32], unknown[32];
        st_put_random(f->s, 10, CHUNK, id);
        memcpy(unknown, id, 32);
        unknown[5] ^= 1;
        _cleanup_free_ uint8_t *b = st_chunk();
        size_t n = 77;
        assert_int_equal(rp_store_get(f->s, unknown, b, CHUNK, &n), -ENOENT);
        assert_int_equal(rp_store_get(f->s, id, b, CHUNK - 512, &n), -ENOBUFS);
        assert_int_equal(n, 77);
        assert_int_equal(rp_store_has(f->s, unknown), 0);
        assert_int_equal(rp_store_has(f->s, id), 1);
}

static void test_store_chunks__put_verified(void **state)
{
        store_fixture *f = *state;
        _cleanup_free_ uint8_t *b = st_chunk();
        st_fill_text(b, CHUNK, 11);
        uint8_t id[32];
        assert_int_equal(rp_store_chunk_id(f->s, b, CHUNK, id), 0);
        uint64_t added = 0;
        /* Corrupt in transit: refused, nothing stored. */
        b[100] ^= 0x20;
        assert_int_equal(rp_store_put_verified(f->s, id, b, CHUNK, &added), -EBADMSG);
        assert_int_equal(rp_store_has(f->s, id), 0);
        b[100] ^= 0x20;
        assert_int_equal(rp_store_put_verified(f->s, id, b, CHUNK, &added), 0);
        assert_true(added > 0);
        assert_int_equal(rp_store_has(f->s, id), 1);
        assert_int_equal(rp_store_put_verified(f->s, id, b, CHUNK, &added), 0);
        assert_int_equal(added, 0);
        /* A hole with the zero id is fine; a hole with another id is not. */
        memset(b, 0, CHUNK);
        uint8_t zero[32] = { 0 };
        assert_int_equal(rp_store_put_verified(f->s, zero, b, CHUNK, &added), 0);
        assert_int_equal(rp_store_put_verified(f->s, id, b, CHUNK, &added), -EBADMSG);
}

static void test_store_chunks__ids_depend_on_id_key_only(void **state)
{
        store_fixture *f = *state;
        _cleanup_free_ uint8_t *b = st_chunk();
        st_fill_random(b, CHUNK, 12);
        uint8_t id1[32], id2[32], id3[32];
        assert_int_equal(rp_store_put(f->s, b, CHUNK, id1, NULL), 0);

        /* Another region: same id key, another encryption key, another directory. */
        char dir2[128], db2[128];
        snprintf(dir2, sizeof dir2, "%s/r2", f->dir);
        snprintf(db2, sizeof db2, "%s/r2.db", f->dir);
        uint8_t enc2[32];
        memset(enc2, 0x5a, sizeof enc2);
        _cleanup_(rp_store_freep) rp_store *s2 = NULL;
        assert_int_equal(rp_store_open(dir2, db2, f->id_key, enc2, &s2), 0);
        assert_int_equal(rp_store_put(s2, b, CHUNK, id2, NULL), 0);
        assert_memory_equal(id1, id2, 32);

        uint8_t idk3[32];
        memset(idk3, 0x33, sizeof idk3);
        char dir3[128], db3[128];
        snprintf(dir3, sizeof dir3, "%s/r3", f->dir);
        snprintf(db3, sizeof db3, "%s/r3.db", f->dir);
        _cleanup_(rp_store_freep) rp_store *s3 = NULL;
        assert_int_equal(rp_store_open(dir3, db3, idk3, enc2, &s3), 0);
        assert_int_equal(rp_store_put(s3, b, CHUNK, id3, NULL), 0);
        assert_memory_not_equal(id1, id3, 32);
}

static void test_store_chunks__other_keys_rejected(void **state)
{
        store_fixture *f = *state;
        uint8_t id[32];
        st_put_random(f->s, 13, CHUNK, id);
        assert_int_equal(rp_store_flush(f->s), 0);
        f->s = rp_store_free(f->s);
        rp_store *s = NULL;
        uint8_t k[32];
        memcpy(k, f->enc_key, 32);
        k[0] ^= 1;
        assert_int_equal(rp_store_open(f->chunks, f->db, f->id_key, k, &s), -EKEYREJECTED);
        assert_null(s);
        memcpy(k, f->id_key, 32);
        k[31] ^= 1;
        assert_int_equal(rp_store_open(f->chunks, f->db, k, f->enc_key, &s), -EKEYREJECTED);
        st_reopen(f);
        st_check_random(f->s, id, 13, CHUNK);
}

static void test_store_chunks__shares_db_with_other_tables(void **state)
{
        store_fixture *f = *state;
        /* The region's metadata tables live in the same file; the store leaves them alone. */
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        assert_int_equal(sqlite3_exec(db,
                                      "CREATE TABLE resources(k TEXT PRIMARY KEY, v TEXT);"
                                      "INSERT INTO resources VALUES ('a', 'b');",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        uint8_t id[32];
        st_put_random(f->s, 14, CHUNK, id);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f);
        st_check_random(f->s, id, 14, CHUNK);
        sqlite3_stmt *st = NULL;
        assert_int_equal(
                sqlite3_prepare_v2(db, "SELECT v FROM resources WHERE k = 'a'", -1, &st, NULL),
                SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "b");
        sqlite3_finalize(st);
        sqlite3_close(db);
}

static void test_store_chunks__stats(void **state)
{
        store_fixture *f = *state;
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, 0);
        uint64_t total = 0, added = 0;
        _cleanup_free_ uint8_t *b = st_chunk();
        for (int i = 0; i < 10; i++) {
                uint8_t id[32];
                if (i % 2)
                        st_fill_text(b, CHUNK, 20 + i);
                else
                        st_fill_random(b, CHUNK, 20 + i);
                assert_int_equal(rp_store_put(f->s, b, CHUNK, id, &added), 0);
                total += added;
        }
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, 10);
        assert_int_equal(st.pending, 10);
        assert_int_equal(st.raw_bytes, 10 * CHUNK);
        assert_int_equal(st.stored_bytes, total);
        assert_int_equal(st.packs, 1);
        assert_int_equal(st.pack_bytes, total + RP_STORE_PACK_HEADER);
        assert_int_equal(rp_store_flush(f->s), 0);
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.pending, 0);
        st_reopen(f);
        rp_store_stats_result st2;
        assert_int_equal(rp_store_stats(f->s, &st2), 0);
        assert_int_equal(st2.chunks, 10);
        assert_int_equal(st2.stored_bytes, total);
        assert_int_equal(st2.raw_bytes, 10 * CHUNK);
        assert_int_equal(st2.packs, 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_store_chunks__roundtrip_random, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__roundtrip_text, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__roundtrip_short_last_chunk,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__bad_length_refused, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__dedup_adds_nothing, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__zero_chunk_not_stored, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(
                        test_store_chunks__compression_flag_for_compressible, st_setup,
                        st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__no_compression_for_random,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__mixed_chunk_compressed, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__encrypted_at_rest, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__get_errors, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__put_verified, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__ids_depend_on_id_key_only,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__other_keys_rejected, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__shares_db_with_other_tables,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_chunks__stats, st_setup, st_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
