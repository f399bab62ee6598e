/* fuzz_repl_chunks.c: libFuzzer target for rp_peer_decode_chunks() (the chunk stream a source
 * region sends) and rp_peer_decode_ids() (the id list a target region sends).
 *
 * Input: one mode byte, then the body.
 *  - mode bit 0 clear: a chunk stream. With mode bit 1 set, when the body ends with something
 *    shaped like an END record, its SHA-256 is recomputed first, so the fuzzer reaches the
 *    structural checks behind the checksum. A stream that decodes must deliver records that
 *    obey the rules (lengths, reasons, non-zero ids), no more than the cap (mode bits 2-7),
 *    and re-encode through the writer to exactly the same bytes (one encoding per stream; a
 *    stream flagged for CHUNK_ZSTD records re-encodes uncompressed, to as many records). A
 *    refusal must be -EBADMSG, -E2BIG or -EPROTONOSUPPORT, with nothing delivered.
 *  - mode bit 0 set: an id list, which must re-encode to the same bytes when it decodes.
 * Seeds: tests/data/repl/chunks.bin and ids.bin with a mode byte in front.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repl/peer_proto.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/macro.h"

typedef struct replay {
        rp_peer_chunk_writer w;
        size_t records;
} replay;

static bool zero_id(const uint8_t id[32])
{
        for (int i = 0; i < 32; i++)
                if (id[i])
                        return false;
        return true;
}

static int on_chunk(void *ud, const uint8_t id[32], const void *plain, size_t len)
{
        replay *r = ud;
        if (len == 0 || len > RP_CHUNK_SIZE || len % 512 != 0 || zero_id(id))
                abort();
        rp_peer_chunk_writer_add(&r->w, id, plain, len);
        r->records++;
        return 0;
}

static int on_missing(void *ud, const uint8_t id[32], int reason)
{
        replay *r = ud;
        if ((reason != RP_PEER_MISSING_NOT_FOUND && reason != RP_PEER_MISSING_UNREADABLE) ||
            zero_id(id))
                abort();
        rp_peer_chunk_writer_missing(&r->w, id, reason);
        r->records++;
        return 0;
}

static void fuzz_ids(const uint8_t *d, size_t size)
{
        uint8_t(*ids)[32] = NULL;
        size_t n = 0;
        int r = rp_peer_decode_ids(d, size, &ids, &n);
        if (r < 0) {
                if ((r != -EBADMSG && r != -E2BIG && r != -EPROTONOSUPPORT && r != -ENOMEM) || ids)
                        abort();
                return;
        }
        if (n == 0 || n > RP_PEER_MAX_IDS)
                abort();
        uint8_t *enc = NULL;
        size_t len = 0;
        r = rp_peer_encode_ids((const uint8_t(*)[32])ids, n, &enc, &len);
        if (r == 0 && (len != size || memcmp(enc, d, size) != 0))
                abort();
        if (r < 0 && r != -ENOMEM)
                abort();
        rp_free(enc);
        rp_free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        uint8_t mode = data[0];
        data++;
        size--;
        _cleanup_free_ uint8_t *d = rp_malloc(size ? size : 1);
        if (!d)
                abort();
        memcpy(d, data, size);
        if (mode & 1) {
                fuzz_ids(d, size);
                return 0;
        }
        if ((mode & 2) && size >= RP_PEER_WIRE_HEADER_SIZE + RP_PEER_END_RECORD_SIZE &&
            d[size - RP_PEER_END_RECORD_SIZE] == RP_PEER_RECORD_END)
                rp_sha256(d, size - RP_PEER_END_RECORD_SIZE, d + size - 32);
        size_t cap = (mode >> 2) == 63 ? RP_PEER_MAX_IDS : (size_t)(mode >> 2);

        replay rp = {};
        rp_peer_chunk_writer_init(&rp.w);
        /* a stream with compressed records re-encodes (uncompressed) to other bytes: then the
         * re-encoding must decode to as many records */
        bool zstd = size >= RP_PEER_WIRE_HEADER_SIZE && (d[12] & RP_PEER_STREAM_ZSTD);
        int r = rp_peer_decode_chunks(d, size, cap, on_chunk, on_missing, &rp);
        if (r < 0) {
                if (r != -EBADMSG && r != -E2BIG && r != -EPROTONOSUPPORT && r != -ENOMEM)
                        abort();
                if (rp.records != 0)
                        abort(); /* a refused stream delivers nothing */
                rp_peer_chunk_writer_done(&rp.w);
                return 0;
        }
        if ((size_t)r != rp.records || rp.records > cap)
                abort();
        uint8_t *enc = NULL;
        size_t len = 0;
        r = rp_peer_chunk_writer_end(&rp.w, &enc, &len);
        if (r == -ENOMEM)
                return 0;
        if (r < 0)
                abort();
        if (zstd) {
                size_t n = rp.records;
                int again = rp_peer_decode_chunks(enc, len, cap, NULL, NULL, NULL);
                if (again != -ENOMEM && (again < 0 || (size_t)again != n))
                        abort();
        } else if (len != size || memcmp(enc, d, size) != 0)
                abort();
        rp_free(enc);
        return 0;
}
