/* fuzz_store_record.c: libFuzzer target for the chunk record decoder and opener.
 *
 * Input: one mode byte, then bytes.
 *  - mode bit 0 clear: the bytes are a record. rp_store__record_decode() must accept it or
 *    refuse it with -EBADMSG; an accepted header must be self-consistent. rp_store__unseal()
 *    must then either open it into a plaintext that really has the record's id (only records
 *    sealed under the fuzzer's key, as in a seed corpus, can), or refuse it with -EBADMSG and
 *    leave nothing in the output buffer.
 *  - mode bit 0 set: the bytes (cut to a multiple of 512, at most one chunk) are a plaintext.
 *    It is sealed, must decode and unseal back to itself; then the record byte chosen by the
 *    next mode byte is changed and the record must no longer open.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/macro.h"

static const uint8_t id_key[32] = "fuzz-id-key-fuzz-id-key-fuzz-id";
static const uint8_t enc_key[32] = "fuzz-enc-key-fuzz-enc-key-fuzz-";

static rp_store_scratch *sc;
static uint8_t *out;

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
        rp_store_record h;
        int r = rp_store__record_decode(data, size, &h);
        if (r < 0) {
                if (r != -EBADMSG)
                        abort();
                return;
        }
        if (h.raw_len == 0 || h.raw_len > RP_CHUNK_SIZE || h.raw_len % 512 ||
            h.payload_len + RP_STORE_RECORD_HEADER != size ||
            ((h.flags & RP_STORE_FLAG_ZSTD) ? h.payload_len >= h.raw_len
                                            : h.payload_len != h.raw_len))
                abort();
        memset(out, 0, RP_CHUNK_SIZE);
        size_t n = 0;
        r = rp_store__unseal(sc, id_key, enc_key, h.id, data, size, out, RP_CHUNK_SIZE, &n);
        if (r == 0) {
                /* A genuine record (the seed corpus holds some): it must really verify. */
                uint8_t mac[32];
                if (n != h.raw_len || rp_hmac_sha256(id_key, 32, out, n, mac) < 0 ||
                    memcmp(mac, h.id, 32) != 0)
                        abort();
                return;
        }
        if (r != -EBADMSG && r != -ENOMEM)
                abort();
        if (!all_zero(out, RP_CHUNK_SIZE))
                abort();
}

static void fuzz_seal(uint8_t mode2, const uint8_t *data, size_t size)
{
        size_t len = RP_MIN(size, (size_t)RP_CHUNK_SIZE) / 512 * 512;
        if (len == 0)
                return;
        uint8_t id[32];
        if (rp_hmac_sha256(id_key, 32, data, len, id) < 0)
                abort();
        size_t rec_len = 0;
        int r = rp_store__seal(sc, enc_key, id, data, len, &rec_len);
        if (r == -ENOMEM)
                return;
        if (r < 0)
                abort();
        _cleanup_free_ uint8_t *rec = rp_malloc(rec_len);
        if (!rec)
                abort();
        memcpy(rec, rp_store__scratch_rec(sc), rec_len);
        rp_store_record h;
        if (rp_store__record_decode(rec, rec_len, &h) < 0 || h.raw_len != len)
                abort();
        size_t n = 0;
        r = rp_store__unseal(sc, id_key, enc_key, id, rec, rec_len, out, RP_CHUNK_SIZE, &n);
        if (r < 0 || n != len || memcmp(out, data, len) != 0)
                abort();
        size_t at = (size_t)mode2 * 7919u % rec_len;
        rec[at] ^= (uint8_t)(1u << (mode2 % 8));
        r = rp_store__unseal(sc, id_key, enc_key, id, rec, rec_len, out, RP_CHUNK_SIZE, &n);
        if (r >= 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!sc) {
                sc = rp_store__scratch_new();
                out = rp_malloc(RP_CHUNK_SIZE);
                if (!sc || !out)
                        abort();
        }
        if (size < 2)
                return 0;
        if (data[0] & 1)
                fuzz_seal(data[1], data + 2, size - 2);
        else
                fuzz_decode(data + 1, size - 1);
        return 0;
}
