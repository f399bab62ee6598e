/* peer_auth.c: HMAC-SHA-256 signatures of peer requests and responses.
 *
 * DESIGN
 *
 * Two regions share a pair key (config). A request carries the calling region, a date, a fresh
 * nonce and HMAC(pair key, string-to-sign); the response carries the answering region, a date
 * and HMAC(pair key, response string-to-sign), which includes the request's signature (and so
 * its nonce): a response cannot be replayed for another request, and a client that verifies it
 * knows it talks to a holder of the key. Together with TLS (server certificate checked against
 * the configured CA) that is mutual authentication without client certificates.
 *
 * The strings to sign are lines joined by '\n' (no trailing newline):
 *
 *   RPD-PEER-V1-REQUEST          RPD-PEER-V1-RESPONSE
 *   <method>                     <status>
 *   <region>                     <region>
 *   <date>                       <date>
 *   <nonce>                      <request signature>
 *   <body sha-256, hex>          <body sha-256, hex>
 *   <decoded path>
 *   <decoded id parameter, or empty>
 *
 * Every field is checked for its alphabet before it is signed or verified, and none may hold a
 * control character, so the line structure is unambiguous. Signatures are compared in constant
 * time. Replays of a request inside the skew window are possible but harmless: every peer
 * request is a read.
 */
#include "repl/peer_proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/macro.h"
#include "util/parse.h"

#define MAX_PATH 4096u
#define MAX_TO_SIGN (16u * 1024u)

static bool method_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 16)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < 'A' || s[i] > 'Z')
                        return false;
        return true;
}

static bool region_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > RP_PEER_MAX_REGION)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

/* Printable: no C0 control character, no DEL (UTF-8 bytes are fine). */
static bool text_ok(const char *s, size_t max, bool allow_space)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c == 0x7f || (c == ' ' && !allow_space))
                        return false;
        }
        return true;
}

static bool path_ok(const char *s)
{
        return s && s[0] == '/' && text_ok(s, MAX_PATH, false);
}

static bool hex_ok(const char *s, size_t len)
{
        if (!s || strlen(s) != len)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* A canonical decimal: digits only, no leading zero, fits a u64. */
static int date_parse(const char *s, uint64_t *ret)
{
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > RP_PEER_DATE_MAX || (s[0] == '0' && n > 1))
                return -EBADMSG;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
        return rp_parse_u64(s, ret) < 0 ? -EBADMSG : 0;
}

static bool key_ok(const uint8_t *key, size_t key_len)
{
        return key && key_len >= RP_PEER_MIN_KEY_LEN && key_len <= RP_PEER_MAX_KEY_LEN;
}

/* HMAC of the lines of a string-to-sign, as hex into @p out. */
static int sign_lines(const uint8_t *key, size_t key_len, const char *const *lines, size_t n,
                      char out[RP_PEER_SIG_LEN + 1])
{
        rp_buf b;
        rp_buf_init(&b, MAX_TO_SIGN);
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                if (i > 0)
                        r = rp_buf_append(&b, "\n", 1);
                if (r >= 0)
                        r = rp_buf_puts(&b, lines[i]);
        }
        uint8_t mac[32];
        if (r >= 0)
                r = rp_hmac_sha256(key, key_len, b.ptr, b.len, mac);
        rp_buf_done(&b);
        if (r < 0)
                return r == -E2BIG ? -EINVAL : r;
        rp_hex_encode(mac, sizeof mac, out);
        return 0;
}

static int request_mac(const uint8_t *key, size_t key_len, const char *method, const char *path,
                       const char *query_id, const char *region, const char *date,
                       const char *nonce, const uint8_t body_sha256[32],
                       char out[RP_PEER_SIG_LEN + 1])
{
        char body_hex[65];
        rp_hex_encode(body_sha256, 32, body_hex);
        const char *lines[] = {
                "RPD-PEER-V1-REQUEST",   method, region, date, nonce, body_hex, path,
                query_id ? query_id : ""
        };
        return sign_lines(key, key_len, lines, ELEMENTSOF(lines), out);
}

static int response_mac(const uint8_t *key, size_t key_len, unsigned status, const char *region,
                        const char *date, const char *request_signature,
                        const uint8_t body_sha256[32], char out[RP_PEER_SIG_LEN + 1])
{
        char body_hex[65], st[16];
        rp_hex_encode(body_sha256, 32, body_hex);
        snprintf(st, sizeof st, "%u", status);
        const char *lines[] = { "RPD-PEER-V1-RESPONSE", st,      region, date,
                                request_signature,      body_hex };
        return sign_lines(key, key_len, lines, ELEMENTSOF(lines), out);
}

/* Compare two signatures given as hex, in constant time. */
static bool sig_equal(const char *want_hex, const char *got_hex)
{
        uint8_t want[32], got[32];
        if (rp_hex_decode(want_hex, want, 32) < 0 || rp_hex_decode(got_hex, got, 32) < 0)
                return false;
        return rp_memeq_consttime(want, got, 32);
}

int rp_peer_sign_request(const uint8_t *key, size_t key_len, const char *method, const char *path,
                         const char *query_id, const char *region, const uint8_t body_sha256[32],
                         rp_usec_t now, rp_peer_auth *ret)
{
        if (!key_ok(key, key_len) || !method_ok(method) || !path_ok(path) || !region_ok(region) ||
            (query_id && !text_ok(query_id, RP_PEER_MAX_DRP_ID, true)))
                return -EINVAL;
        rp_peer_auth a = {};
        uint8_t raw[RP_PEER_NONCE_LEN / 2];
        int r = rp_random_bytes(raw, sizeof raw);
        if (r < 0)
                return r;
        rp_hex_encode(raw, sizeof raw, a.nonce);
        snprintf(a.date, sizeof a.date, "%llu", (unsigned long long)(now / RP_USEC_PER_SEC));
        r = request_mac(key, key_len, method, path, query_id, region, a.date, a.nonce, body_sha256,
                        a.signature);
        if (r < 0)
                return r;
        *ret = a;
        return 0;
}

int rp_peer_auth_verify(const uint8_t *key, size_t key_len, const rp_peer_auth_request *req,
                        rp_usec_t now, unsigned max_skew_sec)
{
        if (!key_ok(key, key_len))
                return -EINVAL;
        if (!method_ok(req->method) || !path_ok(req->path) || !region_ok(req->region) ||
            (req->query_id && !text_ok(req->query_id, RP_PEER_MAX_DRP_ID, true)) ||
            !hex_ok(req->nonce, RP_PEER_NONCE_LEN) || !hex_ok(req->signature, RP_PEER_SIG_LEN))
                return -EBADMSG;
        uint64_t date;
        int r = date_parse(req->date, &date);
        if (r < 0)
                return r;
        uint64_t now_s = now / RP_USEC_PER_SEC;
        uint64_t skew = date > now_s ? date - now_s : now_s - date;
        if (skew > max_skew_sec)
                return -ESTALE;
        char want[RP_PEER_SIG_LEN + 1];
        r = request_mac(key, key_len, req->method, req->path, req->query_id, req->region, req->date,
                        req->nonce, req->body_sha256, want);
        if (r < 0)
                return r;
        return sig_equal(want, req->signature) ? 0 : -EKEYREJECTED;
}

int rp_peer_sign_response(const uint8_t *key, size_t key_len, const char *region,
                          const char *request_signature, unsigned status,
                          const uint8_t body_sha256[32], rp_usec_t now, rp_peer_auth *ret)
{
        const char *rs = request_signature ? request_signature : "";
        if (!key_ok(key, key_len) || !region_ok(region) || status < 100 || status > 599 ||
            !(rs[0] == '\0' || hex_ok(rs, RP_PEER_SIG_LEN)))
                return -EINVAL;
        rp_peer_auth a = {};
        snprintf(a.date, sizeof a.date, "%llu", (unsigned long long)(now / RP_USEC_PER_SEC));
        int r = response_mac(key, key_len, status, region, a.date, rs, body_sha256, a.signature);
        if (r < 0)
                return r;
        *ret = a;
        return 0;
}

int rp_peer_auth_verify_response(const uint8_t *key, size_t key_len, const char *request_signature,
                                 unsigned status, const char *region, const char *date,
                                 const char *signature, const uint8_t body_sha256[32])
{
        if (!key_ok(key, key_len) || !hex_ok(request_signature, RP_PEER_SIG_LEN))
                return -EINVAL;
        uint64_t d;
        if (!region_ok(region) || !hex_ok(signature, RP_PEER_SIG_LEN) || date_parse(date, &d) < 0 ||
            status < 100 || status > 599)
                return -EBADMSG;
        char want[RP_PEER_SIG_LEN + 1];
        int r = response_mac(key, key_len, status, region, date, request_signature, body_sha256,
                             want);
        if (r < 0)
                return r;
        return sig_equal(want, signature) ? 0 : -EKEYREJECTED;
}
