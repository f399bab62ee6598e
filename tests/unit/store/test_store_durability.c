/* test_store_durability.c: flush, crashes (close without flush), pack rotation, bit rot,
 * truncated and missing packs, scrub. */
#include "store_test.h"

typedef struct bad_list {
        uint8_t ids[16][32];
        int errors[16];
        size_t n;
} bad_list;

static int on_bad(void *ud, const uint8_t id[32], int error)
{
        bad_list *l = ud;
        assert_true(l->n < ELEMENTSOF(l->ids));
        memcpy(l->ids[l->n], id, 32);
        l->errors[l->n++] = error;
        return 0;
}

static void test_store_durability__flush_then_reopen(void **state)
{
        store_fixture *f = *state;
        uint8_t a[32], b[32];
        st_put_random(f->s, 1, CHUNK, a);
        assert_int_equal(rp_store_flush(f->s), 0);
        assert_int_equal(rp_store_flush(f->s), 0); /* nothing pending: a no-op */
        st_put_random(f->s, 2, CHUNK, b);
        st_check_random(f->s, b, 2, CHUNK); /* readable before the flush */
        st_reopen(f);                       /* "crash": b was never flushed */
        st_check_random(f->s, a, 1, CHUNK);
        assert_int_equal(rp_store_has(f->s, b), 0);
        _cleanup_free_ uint8_t *buf = st_chunk();
        size_t n;
        assert_int_equal(rp_store_get(f->s, b, buf, CHUNK, &n), -ENOENT);
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, 1);

        /* b's bytes are garbage in pack 1; putting it again writes it to a new pack. */
        uint64_t added = 0;
        st_fill_random(buf, CHUNK, 2);
        assert_int_equal(rp_store_put(f->s, buf, CHUNK, b, &added), 0);
        assert_true(added > 0);
        assert_int_equal(rp_store_flush(f->s), 0);
        _cleanup_free_ char *p2 = st_pack(f, 2);
        assert_true(st_file_size(p2) > 0);
        st_reopen(f);
        st_check_random(f->s, a, 1, CHUNK);
        st_check_random(f->s, b, 2, CHUNK);
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, NULL, NULL, &sr), 0);
        assert_int_equal(sr.checked, 2);
        assert_int_equal(sr.bad, 0);
}

static void test_store_durability__torn_tail_is_never_visible(void **state)
{
        store_fixture *f = *state;
        uint8_t a[32], b[32];
        st_put_random(f->s, 3, CHUNK, a);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_put_random(f->s, 4, CHUNK, b);
        f->s = rp_store_free(f->s);
        /* A crash in the middle of the append of b: half its record reached the disk. */
        _cleanup_free_ char *p1 = st_pack(f, 1);
        long long size = st_file_size(p1);
        assert_int_equal(truncate(p1, size - (long long)CHUNK / 2), 0);
        st_reopen(f);
        assert_int_equal(rp_store_has(f->s, b), 0);
        st_check_random(f->s, a, 3, CHUNK);
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, NULL, NULL, &sr), 0);
        assert_int_equal(sr.bad, 0);
}

static void test_store_durability__failed_flush_forgets_pending(void **state)
{
#ifndef RP_TEST_HOOKS
        skip(); /* needs the flush fault hook */
#else
        store_fixture *f = *state;
        uint8_t a[32], b[32];
        st_put_random(f->s, 5, CHUNK, a);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_put_random(f->s, 6, CHUNK, b);
        rp_store__test_fail_flush = -EIO;
        assert_int_equal(rp_store_flush(f->s), -EIO);
        rp_store__test_fail_flush = 0;
        /* Not half-visible: b is gone for readers too, a is untouched. */
        assert_int_equal(rp_store_has(f->s, b), 0);
        st_check_random(f->s, a, 5, CHUNK);
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.chunks, 1);
        assert_int_equal(st.pending, 0);
        /* Put again: lands in a fresh pack (the old one is abandoned), durable this time. */
        uint64_t added = 0;
        _cleanup_free_ uint8_t *buf = st_chunk();
        st_fill_random(buf, CHUNK, 6);
        assert_int_equal(rp_store_put(f->s, buf, CHUNK, b, &added), 0);
        assert_true(added > 0);
        assert_int_equal(rp_store_flush(f->s), 0);
        st_reopen(f);
        st_check_random(f->s, a, 5, CHUNK);
        st_check_random(f->s, b, 6, CHUNK);
#endif
}

static void test_store_durability__full_pack_is_flushed_and_rotated(void **state)
{
        store_fixture *f = *state;
        /* 70 incompressible chunks: the first pack fills up (16 MiB) after 64 of them. */
        uint8_t ids[70][32];
        for (int i = 0; i < 70; i++)
                st_put_random(f->s, 1000 + (uint64_t)i, CHUNK, ids[i]);
        rp_store_stats_result st;
        assert_int_equal(rp_store_stats(f->s, &st), 0);
        assert_int_equal(st.packs, 2);
        assert_true(st.pending < 10);
        st_reopen(f); /* no flush: only the rotated pack's chunks were made durable */
        int kept = 0;
        for (int i = 0; i < 70; i++) {
                if (rp_store_has(f->s, ids[i])) {
                        st_check_random(f->s, ids[i], 1000 + (uint64_t)i, CHUNK);
                        kept++;
                }
        }
        assert_int_equal(kept, 64);
        _cleanup_free_ char *p1 = st_pack(f, 1);
        assert_true(st_file_size(p1) >= RP_STORE_PACK_TARGET);
        assert_true(st_file_size(p1) < RP_STORE_PACK_TARGET + RP_STORE_RECORD_MAX);
}

static void test_store_durability__bit_flip_detected(void **state)
{
        store_fixture *f = *state;
        uint8_t ids[4][32];
        for (int i = 0; i < 4; i++)
                st_put_random(f->s, 20 + (uint64_t)i, CHUNK, ids[i]);
        assert_int_equal(rp_store_flush(f->s), 0);
        f->s = rp_store_free(f->s);
        /* Records are 80 + 256 KiB each, in put order after the 32-byte pack header. */
        _cleanup_free_ char *p1 = st_pack(f, 1);
        off_t rec = RP_STORE_PACK_HEADER + (off_t)(RP_STORE_RECORD_HEADER + CHUNK);
        st_flip(p1, rec + RP_STORE_RECORD_HEADER + 12345, 0x10); /* payload of chunk 1 */
        st_reopen(f);
        _cleanup_free_ uint8_t *buf = st_chunk();
        memset(buf, 0x77, CHUNK);
        size_t n = 0;
        assert_int_equal(rp_store_get(f->s, ids[1], buf, CHUNK, &n), -EBADMSG);
        assert_true(rp_store_is_zero(buf, CHUNK)); /* nothing unverified leaks out */
        st_check_random(f->s, ids[0], 20, CHUNK);
        st_check_random(f->s, ids[2], 22, CHUNK);

        bad_list bad = { .n = 0 };
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, on_bad, &bad, &sr), 0);
        assert_int_equal(sr.checked, 4);
        assert_int_equal(sr.bad, 1);
        assert_int_equal(sr.checked_bytes, 3 * CHUNK);
        assert_int_equal(bad.n, 1);
        assert_memory_equal(bad.ids[0], ids[1], 32);
        assert_int_equal(bad.errors[0], -EBADMSG);
}

static void test_store_durability__header_tampering_detected(void **state)
{
        store_fixture *f = *state;
        /* Flip one bit in each header field of chunk 0 in turn: id, flags, lengths, nonce, tag,
         * magic, reserved. Each must make the get fail. */
        static const int offs[] = { 0, 4, 5, 6, 8, 12, 16, 47, 48, 59, 60, 75, 76 };
        for (size_t k = 0; k < ELEMENTSOF(offs); k++) {
                uint8_t id[32];
                st_put_random(f->s, 40 + k, CHUNK, id);
                assert_int_equal(rp_store_flush(f->s), 0);
        }
        f->s = rp_store_free(f->s);
        _cleanup_free_ char *p1 = st_pack(f, 1);
        for (size_t k = 0; k < ELEMENTSOF(offs); k++) {
                off_t rec = RP_STORE_PACK_HEADER + (off_t)k * (RP_STORE_RECORD_HEADER + CHUNK);
                st_flip(p1, rec + offs[k], 0x01);
        }
        st_reopen(f);
        bad_list bad = { .n = 0 };
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, on_bad, &bad, &sr), 0);
        assert_int_equal(sr.checked, ELEMENTSOF(offs));
        assert_int_equal(sr.bad, ELEMENTSOF(offs));
        for (size_t i = 0; i < bad.n; i++)
                assert_int_equal(bad.errors[i], -EBADMSG);
}

static void test_store_durability__truncated_pack_detected(void **state)
{
        store_fixture *f = *state;
        uint8_t a[32], b[32];
        st_put_random(f->s, 60, CHUNK, a);
        st_put_random(f->s, 61, CHUNK, b);
        assert_int_equal(rp_store_flush(f->s), 0);
        f->s = rp_store_free(f->s);
        /* The index says b ends past the end of the pack (lost by the file system). */
        _cleanup_free_ char *p1 = st_pack(f, 1);
        assert_int_equal(truncate(p1, st_file_size(p1) - 100), 0);
        st_reopen(f);
        _cleanup_free_ uint8_t *buf = st_chunk();
        size_t n;
        assert_int_equal(rp_store_get(f->s, b, buf, CHUNK, &n), -EBADMSG);
        st_check_random(f->s, a, 60, CHUNK);
        bad_list bad = { .n = 0 };
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, on_bad, &bad, &sr), 0);
        assert_int_equal(sr.bad, 1);
        assert_memory_equal(bad.ids[0], b, 32);

        /* Cut into the first record as well: both reported. */
        f->s = rp_store_free(f->s);
        assert_int_equal(truncate(p1, RP_STORE_PACK_HEADER + 10), 0);
        st_reopen(f);
        bad.n = 0;
        assert_int_equal(rp_store_scrub(f->s, on_bad, &bad, &sr), 0);
        assert_int_equal(sr.bad, 2);
}

static void test_store_durability__missing_pack_detected(void **state)
{
        store_fixture *f = *state;
        uint8_t a[32];
        st_put_random(f->s, 70, CHUNK, a);
        assert_int_equal(rp_store_flush(f->s), 0);
        f->s = rp_store_free(f->s);
        _cleanup_free_ char *p1 = st_pack(f, 1);
        assert_int_equal(unlink(p1), 0);
        st_reopen(f);
        assert_int_equal(rp_store_has(f->s, a), 1); /* the index still names it */
        _cleanup_free_ uint8_t *buf = st_chunk();
        size_t n;
        assert_int_equal(rp_store_get(f->s, a, buf, CHUNK, &n), -EBADMSG);
        bad_list bad = { .n = 0 };
        rp_store_scrub_result sr;
        assert_int_equal(rp_store_scrub(f->s, on_bad, &bad, &sr), 0);
        assert_int_equal(sr.bad, 1);
        /* New packs never reuse the number of the lost one. */
        uint8_t b[32];
        st_put_random(f->s, 71, CHUNK, b);
        assert_int_equal(rp_store_flush(f->s), 0);
        assert_int_equal(st_file_size(p1), -1);
}

static int stop_scrub(void *ud, const uint8_t id[32], int error)
{
        return -ECANCELED;
}

static void test_store_durability__scrub_stops_when_asked(void **state)
{
        store_fixture *f = *state;
        uint8_t ids[3][32];
        for (int i = 0; i < 3; i++)
                st_put_random(f->s, 80 + (uint64_t)i, CHUNK, ids[i]);
        assert_int_equal(rp_store_flush(f->s), 0);
        f->s = rp_store_free(f->s);
        _cleanup_free_ char *p1 = st_pack(f, 1);
        assert_int_equal(unlink(p1), 0);
        st_reopen(f);
        rp_store_scrub_result sr = { .checked = 42 };
        assert_int_equal(rp_store_scrub(f->s, stop_scrub, NULL, &sr), -ECANCELED);
        assert_int_equal(sr.checked, 42); /* ret untouched on failure */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_store_durability__flush_then_reopen, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_durability__torn_tail_is_never_visible,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_durability__failed_flush_forgets_pending,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(
                        test_store_durability__full_pack_is_flushed_and_rotated, st_setup,
                        st_teardown),
                cmocka_unit_test_setup_teardown(test_store_durability__bit_flip_detected, st_setup,
                                                st_teardown),
                cmocka_unit_test_setup_teardown(test_store_durability__header_tampering_detected,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_durability__truncated_pack_detected,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_durability__missing_pack_detected,
                                                st_setup, st_teardown),
                cmocka_unit_test_setup_teardown(test_store_durability__scrub_stops_when_asked,
                                                st_setup, st_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
