/* disk_sas.c: signing and checking of data plane SAS tokens.
 *
 * DESIGN
 *
 * A SAS is a set of query fields (sv, sr, sp, se, sk) plus sig = base64url(HMAC-SHA256(key,
 * resource \n sp \n se \n sk \n sv \n sr)). The resource is not in the query: it is the URL path
 * the request addresses, so a SAS for one disk does not open another.
 *
 * Verification is strict: every field must be in the one canonical form rpd writes (fixed sv
 * and sr, sp "r" or "rw", se "YYYY-MM-DDTHH:MM:SSZ", sk a decimal without leading zeros), so a
 * field has exactly one spelling and nothing a client sends is ever ambiguous in the
 * string-to-sign. The MAC is compared in constant time, and checked before the expiry, so an
 * attacker learns nothing about a forged token's other fields. Revocation (sk older than the
 * disk's current access generation) is the caller's check.
 */
#include "disk_sas.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/macro.h"
#include "util/parse.h"

/* Longest decimal uint64_t. */
#define SAS_MAX_SK 20u
/* Largest expiry: 9999-12-31T23:59:59Z. */
#define SAS_MAX_EXPIRY 253402300799ull

/* ---------------------------------------------------------------------------------------------
 * RFC 3339 UTC times (days from civil dates, proleptic Gregorian; H. Hinnant's algorithms)
 */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d)
{
        z += 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned)(z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp = (5 * doy + 2) / 153;
        unsigned m = mp < 10 ? mp + 3 : mp - 9;
        *ret_d = doy - (153 * mp + 2) / 5 + 1;
        *ret_m = m;
        *ret_y = (int64_t)yoe + era * 400 + (m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
        static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m == 2 && leap ? 29 : days[m - 1];
}

int rp_sas_format_expiry(uint64_t sec, char out[RP_SAS_EXPIRY_LEN + 1])
{
        int64_t y;
        unsigned mo, d;
        if (sec > SAS_MAX_EXPIRY)
                return -ERANGE;
        civil_from_days((int64_t)(sec / 86400), &y, &mo, &d);
        unsigned s = (unsigned)(sec % 86400);
        /* The ranges are known (y <= 9999, sec <= SAS_MAX_EXPIRY); the modulos tell gcc so,
         * which -Wformat-truncation cannot see through civil_from_days(). */
        char tmp[64]; /* roomy, so -Wformat-truncation has nothing to prove */
        snprintf(tmp, sizeof tmp, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)y % 10000u,
                 mo % 100u, d % 100u, s / 3600 % 100u, s / 60 % 60, s % 60);
        memcpy(out, tmp, RP_SAS_EXPIRY_LEN);
        out[RP_SAS_EXPIRY_LEN] = '\0';
        return 0;
}

/* @p n digits at @p s as a number, or -1. */
static int digits(const char *s, size_t n)
{
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

int rp_sas_parse_expiry(const char *s, uint64_t *ret)
{
        if (!s || strnlen(s, RP_SAS_EXPIRY_LEN + 1) != RP_SAS_EXPIRY_LEN)
                return -EBADMSG;
        if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
            s[19] != 'Z')
                return -EBADMSG;
        int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
        int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
        if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
            se < 0 || se > 59)
                return -EBADMSG;
        if ((unsigned)d > days_in_month(y, (unsigned)mo))
                return -EBADMSG;
        int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
        *ret = (uint64_t)days * 86400u + (uint64_t)h * 3600u + (uint64_t)mi * 60u + (uint64_t)se;
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Signing
 */

static bool resource_ok(const char *resource)
{
        size_t n = strnlen(resource, RP_SAS_MAX_RESOURCE + 1);
        if (n == 0 || n > RP_SAS_MAX_RESOURCE)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)resource[i] < 0x20 || resource[i] == 0x7f)
                        return false;
        return true;
}

/* @return 0 with the permissions, or -EBADMSG. */
static int perms_parse(const char *sp, bool *ret_read, bool *ret_write)
{
        if (rp_streq(sp, "r")) {
                *ret_read = true;
                *ret_write = false;
                return 0;
        }
        if (rp_streq(sp, "rw")) {
                *ret_read = *ret_write = true;
                return 0;
        }
        return -EBADMSG;
}

/* HMAC of the string-to-sign. The fields were length-checked by the callers. */
static int sas_mac(const uint8_t *key, size_t key_len, const char *resource, const char *sp,
                   const char *se, const char *sk, const char *sv, const char *sr,
                   uint8_t out[RP_SHA256_LEN])
{
        rp_buf b;
        rp_buf_init(&b, RP_SAS_MAX_RESOURCE + 128);
        int r = rp_buf_printf(&b, "%s\n%s\n%s\n%s\n%s\n%s", resource, sp, se, sk, sv, sr);
        if (r == 0)
                r = rp_hmac_sha256(key, key_len, b.ptr, b.len, out);
        rp_buf_done(&b);
        return r;
}

int rp_sas_sign(const uint8_t *key, size_t key_len, const char *resource, const char *perms,
                uint64_t expiry_sec, uint64_t generation, char **ret_query)
{
        char se[RP_SAS_EXPIRY_LEN + 1], sk[SAS_MAX_SK + 1];
        uint8_t mac[RP_SHA256_LEN];
        bool rd, wr;
        if (!key || key_len == 0 || !resource || !resource_ok(resource) ||
            perms_parse(perms, &rd, &wr) < 0)
                return -EINVAL;
        if (rp_sas_format_expiry(expiry_sec, se) < 0)
                return -EINVAL;
        snprintf(sk, sizeof sk, "%llu", (unsigned long long)generation);
        int r = sas_mac(key, key_len, resource, perms, se, sk, RP_SAS_VERSION, RP_SAS_RESOURCE_BLOB,
                        mac);
        if (r < 0)
                return r;
        _cleanup_free_ char *sig = rp_base64url_encode(mac, sizeof mac);
        if (!sig)
                return -ENOMEM;
        char *q = rp_asprintf("sv=%s&sr=%s&sp=%s&se=%s&sk=%s&sig=%s", RP_SAS_VERSION,
                              RP_SAS_RESOURCE_BLOB, perms, se, sk, sig);
        if (!q)
                return -ENOMEM;
        *ret_query = q;
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Verification
 */

static int generation_parse(const char *sk, uint64_t *ret)
{
        size_t n = strnlen(sk, SAS_MAX_SK + 1);
        if (n == 0 || n > SAS_MAX_SK || (sk[0] == '0' && n > 1))
                return -EBADMSG;
        return rp_parse_u64(sk, ret) < 0 ? -EBADMSG : 0;
}

static int sig_decode(const char *sig, uint8_t out[RP_SHA256_LEN])
{
        size_t n = strnlen(sig, RP_SAS_MAX_SIG + 1);
        if (n == 0 || n > RP_SAS_MAX_SIG)
                return -EBADMSG;
        _cleanup_free_ uint8_t *raw = NULL;
        long len = rp_base64url_decode(sig, n, &raw);
        if (len == -ENOMEM)
                return -ENOMEM;
        if (len != RP_SHA256_LEN)
                return -EBADMSG;
        /* One spelling only: no padding, no stray bits in the last character. */
        _cleanup_free_ char *canon = rp_base64url_encode(raw, RP_SHA256_LEN);
        if (!canon)
                return -ENOMEM;
        if (!rp_streq(canon, sig))
                return -EBADMSG;
        memcpy(out, raw, RP_SHA256_LEN);
        return 0;
}

int rp_sas_verify(const uint8_t *key, size_t key_len, const char *resource, const char *sv,
                  const char *sr, const char *sp, const char *se, const char *sk, const char *sig,
                  uint64_t now_sec, rp_sas_grant *ret)
{
        uint8_t want[RP_SHA256_LEN], got[RP_SHA256_LEN];
        uint64_t expiry, generation;
        bool rd, wr;
        if (!key || key_len == 0)
                return -EINVAL;
        if (!resource || !sv || !sr || !sp || !se || !sk || !sig)
                return -EBADMSG;
        if (!resource_ok(resource) || !rp_streq(sv, RP_SAS_VERSION) ||
            !rp_streq(sr, RP_SAS_RESOURCE_BLOB))
                return -EBADMSG;
        int r = perms_parse(sp, &rd, &wr);
        if (r < 0)
                return r;
        r = rp_sas_parse_expiry(se, &expiry);
        if (r < 0)
                return r;
        r = generation_parse(sk, &generation);
        if (r < 0)
                return r;
        r = sig_decode(sig, got);
        if (r < 0)
                return r;
        r = sas_mac(key, key_len, resource, sp, se, sk, sv, sr, want);
        if (r < 0)
                return r;
        if (!rp_memeq_consttime(want, got, sizeof want))
                return -EKEYREJECTED;
        if (now_sec >= expiry)
                return -ETIME;
        *ret = (rp_sas_grant){
                .read = rd,
                .write = wr,
                .expiry_sec = expiry,
                .generation = generation,
        };
        return 0;
}
