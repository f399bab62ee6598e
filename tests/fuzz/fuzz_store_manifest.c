/* fuzz_store_manifest.c: libFuzzer target for rp_manifest_decode().
 *
 * Input: one mode byte, then the manifest bytes.
 *  - mode bit 0 set: the last 32 bytes are replaced by the SHA-256 of the rest before decoding,
 *    so the fuzzer reaches the structural checks behind the checksum.
 * Whatever decodes must re-encode to exactly the same bytes (one encoding per manifest), answer
 * lookups consistently with its entry list, and merge with itself into an equal manifest.
 * A refusal must be -EBADMSG, -E2BIG or -ENOMEM.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/manifest.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/macro.h"

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
        if ((mode & 1) && size >= RP_MANIFEST_TRAILER_SIZE)
                rp_sha256(d, size - RP_MANIFEST_TRAILER_SIZE, d + size - RP_MANIFEST_TRAILER_SIZE);

        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        int r = rp_manifest_decode(d, size, &m);
        if (r < 0) {
                if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)
                        abort();
                if (m)
                        abort();
                return 0;
        }

        _cleanup_free_ uint8_t *enc = NULL;
        size_t len = 0;
        if (rp_manifest_encode(m, &enc, &len) < 0)
                abort();
        if (len != size || memcmp(enc, d, size) != 0)
                abort();

        size_t n = 0;
        const rp_manifest_entry *e = rp_manifest_entries(m, &n);
        uint64_t chunks = rp_manifest_chunk_count(m);
        for (size_t i = 0; i < n; i++) {
                uint8_t id[32];
                if (e[i].index >= chunks || (i > 0 && e[i].index <= e[i - 1].index))
                        abort();
                if (rp_manifest_get(m, e[i].index, id) != 1 || memcmp(id, e[i].id, 32) != 0)
                        abort();
                if (rp_manifest_chunk_len(m, e[i].index) == 0)
                        abort();
        }
        if (rp_manifest_get(m, chunks, NULL) != -ERANGE)
                abort();

        _cleanup_(rp_manifest_freep) rp_manifest *m2 = NULL;
        r = rp_manifest_merge(m, rp_manifest_disk_size(m), e, n, &m2);
        if (r == -ENOMEM)
                return 0;
        if (r < 0 || !rp_manifest_equal(m, m2))
                abort();
        return 0;
}
