/* fuzz_repl_manifest.c: libFuzzer target for rp_peer_decode_manifest() (the answer to a
 * manifest request) and for the signature checks of peer requests and responses.
 *
 * Input: one mode byte, then the body.
 *  - mode bit 0 clear: a manifest envelope. What decodes must re-encode to an envelope that
 *    decodes to the same manifest bytes and an equal metadata object. A refusal must be
 *    -EBADMSG, -E2BIG, -EPROTONOSUPPORT or -ENOMEM, with nothing returned.
 *  - mode bit 0 set: header values for rp_peer_auth_verify() and
 *    rp_peer_auth_verify_response(), NUL-separated (method, path, id, region, date, nonce,
 *    signature). Anything but a refusal code is a bug; a forged signature never verifies.
 * Seeds: tests/data/repl/manifest_envelope.bin with a mode byte in front.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "repl/peer_proto.h"
#include "util/alloc.h"
#include "util/macro.h"

static void fuzz_auth(const uint8_t *d, size_t size)
{
        _cleanup_free_ char *s = rp_malloc(size + 1);
        if (!s)
                abort();
        memcpy(s, d, size);
        s[size] = '\0';
        const char *f[7] = { NULL };
        size_t k = 0;
        for (size_t off = 0; off <= size && k < 7;) {
                f[k++] = s + off;
                off += strlen(s + off) + 1;
        }
        static const uint8_t key[32] = { 1, 2, 3 };
        rp_peer_auth_request req = { .method = f[0],
                                     .path = f[1],
                                     .query_id = f[2] && *f[2] ? f[2] : NULL,
                                     .region = f[3],
                                     .date = f[4],
                                     .nonce = f[5],
                                     .signature = f[6] };
        int r = rp_peer_auth_verify(key, sizeof key, &req, 1700000000ull * 1000000ull, 300);
        if (r == 0 || (r != -EBADMSG && r != -ESTALE && r != -EKEYREJECTED && r != -ENOMEM))
                abort();
        uint8_t body[32] = { 0 };
        r = rp_peer_auth_verify_response(key, sizeof key,
                                         "0000000000000000000000000000000000000000000000000000000"
                                         "000000000",
                                         200, f[3], f[4], f[6], body);
        if (r == 0 || (r != -EBADMSG && r != -EKEYREJECTED && r != -ENOMEM))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool init;
        if (!init) {
                rp_json_init();
                init = true;
        }
        if (size < 1)
                return 0;
        uint8_t mode = data[0];
        data++;
        size--;
        if (mode & 1) {
                fuzz_auth(data, size);
                return 0;
        }
        uint8_t *m = NULL;
        size_t mlen = 0;
        json_t *meta = NULL;
        int r = rp_peer_decode_manifest(data, size, &m, &mlen, &meta);
        if (r < 0) {
                if ((r != -EBADMSG && r != -E2BIG && r != -EPROTONOSUPPORT && r != -ENOMEM) || m ||
                    meta)
                        abort();
                return 0;
        }
        if (!m || mlen == 0 || !json_is_object(meta))
                abort();
        uint8_t *enc = NULL;
        size_t len = 0;
        r = rp_peer_encode_manifest(m, mlen, meta, &enc, &len);
        if (r == 0) {
                uint8_t *m2 = NULL;
                size_t mlen2 = 0;
                json_t *meta2 = NULL;
                r = rp_peer_decode_manifest(enc, len, &m2, &mlen2, &meta2);
                if (r == 0 &&
                    (mlen2 != mlen || memcmp(m, m2, mlen) != 0 || !json_equal(meta, meta2)))
                        abort();
                if (r < 0 && r != -ENOMEM && r != -EBADMSG) /* jansson: OOM looks like syntax */
                        abort();
                rp_free(m2);
                if (meta2)
                        json_decref(meta2);
        } else if (r != -ENOMEM && r != -E2BIG) /* compact text may not be shorter... */
                abort();
        rp_free(enc);
        rp_free(m);
        json_decref(meta);
        return 0;
}
