/* template_funcs_str.c: string functions, format(), uniqueString(), guid() and utcNow().
 *
 * DESIGN: strings are UTF-8 (jansson's); lengths and offsets (length, substring, padLeft, first,
 * last, skip, take, indexOf) count Unicode code points. ARM counts UTF-16 code units, so the two
 * differ only for characters outside the Basic Multilingual Plane. toLower/toUpper fold ASCII
 * only, and startsWith/endsWith/indexOf/lastIndexOf compare ASCII case-insensitively (ARM's
 * documented behaviour for those four), contains() and replace() are case-sensitive.
 *
 * uniqueString() and guid() reproduce ARM's results exactly:
 * - uniqueString(a, b, ...) hashes the UTF-8 of "a-b-..." with the MurmurHash64 variant of
 *   ARM's expression engine (two 32-bit lanes, seed 0; constants below) and writes the top 65
 *   bits of the 64-bit hash as 13 base32 letters from "abcdefghijklmnopqrstuvwxyz234567".
 *   Checked against values Azure produced (tests/unit/template).
 * - guid(a, b, ...) is the RFC 4122 name-based version 5 UUID (SHA-1) of the UTF-8 of "a-b-..."
 *   in ARM's namespace 11fb06fb-712d-4ddd-98c7-e71bbd588830, printed lower case.
 *
 * format() implements .NET composite formatting: {index[,alignment][:format]}, "{{" and "}}".
 * Integers take the standard formats D/d, X/x, N/n, F/f (with a precision) and custom formats
 * made of '0' and '#' only; other values print as string() does and ignore the format.
 * utcNow() takes .NET date formats: the standard letters d, o/O, r/R, s, t, T, u and custom
 * patterns (yyyy, yy, MMMM, MMM, MM, M, dddd, ddd, dd, d, HH, H, hh, h, mm, m, ss, s, f..., tt,
 * K, 'literal', \c); default "yyyyMMddTHHmmssZ".
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "template_int.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

/* ------------------------------------------------------------------------------------------ */
/* UTF-8                                                                                       */

/* Length of the UTF-8 sequence starting with byte @p c (1 for invalid lead bytes). */
static size_t utf8_seq_len(unsigned char c)
{
        if (c < 0xc0)
                return 1;
        if (c < 0xe0)
                return 2;
        if (c < 0xf0)
                return 3;
        if (c < 0xf8)
                return 4;
        return 1;
}

size_t rp_tpl__utf8_len(const char *s, size_t bytes)
{
        size_t n = 0;

        for (size_t i = 0; i < bytes; n++)
                i += RP_MIN(utf8_seq_len((unsigned char)s[i]), bytes - i);
        return n;
}

size_t rp_tpl__utf8_offset(const char *s, size_t bytes, size_t cp)
{
        size_t i = 0;

        for (size_t n = 0; n < cp && i < bytes; n++)
                i += RP_MIN(utf8_seq_len((unsigned char)s[i]), bytes - i);
        return i;
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */

static const char *memcasemem(const char *h, size_t hn, const char *n, size_t nn, bool last)
{
        if (nn > hn)
                return NULL;
        if (last) {
                for (size_t i = hn - nn + 1; i-- > 0;)
                        if (strncasecmp(h + i, n, nn) == 0 || nn == 0)
                                return h + i;
                return NULL;
        }
        for (size_t i = 0; i + nn <= hn; i++)
                if (nn == 0 || strncasecmp(h + i, n, nn) == 0)
                        return h + i;
        return NULL;
}

/* Join string arguments with '-' (uniqueString, guid). */
static int join_args(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, rp_buf *b)
{
        for (size_t i = 0; i < n; i++) {
                const char *s;
                size_t len;
                int r = rp_tpl__arg_str(ev, call, args, i, &s, &len);
                if (r < 0)
                        return r;
                if (i > 0)
                        r = rp_buf_append(b, "-", 1);
                if (r >= 0)
                        r = rp_buf_append(b, s, len);
                if (r == -E2BIG)
                        return rp_tpl__fn_fail(ev, call, "the arguments are too long.");
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Case, substrings, search                                                                    */

/* toLower() (variant 0) and toUpper() (variant 1), ASCII only. */
static int fn_change_case(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                          json_t **ret)
{
        bool upper = ev->variant;
        const char *s;
        size_t len;
        _cleanup_free_ char *out = NULL;
        int r = rp_tpl__arg_str(ev, call, args, 0, &s, &len);

        if (r < 0)
                return r;
        out = rp_malloc(len + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (upper && c >= 'a' && c <= 'z')
                        c = (char)(c - 'a' + 'A');
                else if (!upper && c >= 'A' && c <= 'Z')
                        c = (char)(c - 'A' + 'a');
                out[i] = c;
        }
        return rp_tpl__string(ev, call, out, len, ret);
}

static int fn_substring(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                        json_t **ret)
{
        const char *s;
        size_t len, cps;
        int64_t start, count;
        int r = rp_tpl__arg_str(ev, call, args, 0, &s, &len);

        if (r < 0)
                return r;
        r = rp_tpl__arg_int(ev, call, args, 1, &start);
        if (r < 0)
                return r;
        cps = rp_tpl__utf8_len(s, len);
        if (start < 0 || (uint64_t)start > cps)
                return rp_tpl__fn_fail(ev, call,
                                       "the start index %" PRId64
                                       " must be between 0 and the length of the string (%zu).",
                                       start, cps);
        count = (int64_t)cps - start;
        if (n > 2) {
                r = rp_tpl__arg_int(ev, call, args, 2, &count);
                if (r < 0)
                        return r;
                if (count < 0 || (uint64_t)count > cps - (uint64_t)start)
                        return rp_tpl__fn_fail(ev, call,
                                               "the index and length parameters must refer to a "
                                               "location within the string (start %" PRId64
                                               ", length %" PRId64 ", string length %zu).",
                                               start, count, cps);
        }
        size_t from = rp_tpl__utf8_offset(s, len, (size_t)start);
        size_t to = rp_tpl__utf8_offset(s, len, (size_t)(start + count));
        return rp_tpl__string(ev, call, s + from, to - from, ret);
}

static int fn_replace(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                      json_t **ret)
{
        const char *s, *old, *new;
        size_t sn, on, nn;
        rp_buf b;
        int r;

        r = rp_tpl__arg_str(ev, call, args, 0, &s, &sn);
        if (r >= 0)
                r = rp_tpl__arg_str(ev, call, args, 1, &old, &on);
        if (r >= 0)
                r = rp_tpl__arg_str(ev, call, args, 2, &new, &nn);
        if (r < 0)
                return r;
        if (on == 0)
                return rp_tpl__fn_fail(ev, call, "the string to replace must not be empty.");
        rp_buf_init(&b, RP_TPL_MAX_STRING);
        for (size_t i = 0; i < sn && r >= 0;) {
                const char *hit = memmem(s + i, sn - i, old, on);
                size_t upto = hit ? (size_t)(hit - s) : sn;
                r = rp_buf_append(&b, s + i, upto - i);
                if (r >= 0 && hit)
                        r = rp_buf_append(&b, new, nn);
                i = hit ? upto + on : sn;
        }
        if (r >= 0)
                r = rp_tpl__string(ev, call, b.ptr ? b.ptr : "", b.len, ret);
        else if (r == -E2BIG)
                rp_tpl__fn_fail(ev, call, "the result is longer than %u bytes.", RP_TPL_MAX_STRING);
        rp_buf_done(&b);
        return r;
}

static int fn_split(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        const char *s;
        size_t sn, n_delims;
        _cleanup_json_ json_t *out = json_array();
        int r;

        if (!out)
                return -ENOMEM;
        r = rp_tpl__arg_str(ev, call, args, 0, &s, &sn);
        if (r < 0)
                return r;
        if (json_is_string(args[1]))
                n_delims = 1;
        else if (json_is_array(args[1]))
                n_delims = json_array_size(args[1]);
        else
                return rp_tpl__type_fail(ev, call, 1, "String or Array", args[1]);
        for (size_t d = 0; d < n_delims; d++) {
                const json_t *dv = json_is_string(args[1]) ? args[1] : json_array_get(args[1], d);
                if (!json_is_string(dv))
                        return rp_tpl__fn_fail(ev, call, "the delimiters must be Strings.");
        }

        size_t piece = 0, i = 0;
        while (i <= sn) {
                size_t best = sn, best_len = 0;
                for (size_t d = 0; d < n_delims; d++) {
                        const json_t *dv =
                                json_is_string(args[1]) ? args[1] : json_array_get(args[1], d);
                        size_t dl = json_string_length(dv);
                        const char *hit;
                        if (dl == 0)
                                continue;
                        hit = memmem(s + i, sn - i, json_string_value(dv), dl);
                        if (hit && (size_t)(hit - s) < best) {
                                best = (size_t)(hit - s);
                                best_len = dl;
                        }
                }
                r = rp_tpl__charge(ev, call->pos, 1 + (long)n_delims);
                if (r < 0)
                        return r;
                json_t *part = json_stringn(s + piece, best - piece);
                if (!part || json_array_append_new(out, part) < 0)
                        return -ENOMEM;
                if (best_len == 0)
                        break;
                i = piece = best + best_len;
        }
        return rp_tpl__ret_sized(ev, call, &out, ret);
}

/* indexOf() (variant 0) and lastIndexOf() (variant 1), ASCII case-insensitive. */
static int fn_index_of(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                       json_t **ret)
{
        bool last = ev->variant;
        const char *s, *t, *hit;
        size_t sn, tn;
        int r = rp_tpl__arg_str(ev, call, args, 0, &s, &sn);

        if (r >= 0)
                r = rp_tpl__arg_str(ev, call, args, 1, &t, &tn);
        if (r < 0)
                return r;
        hit = memcasemem(s, sn, t, tn, last);
        if (!hit) {
                *ret = json_integer(-1);
                return *ret ? 0 : -ENOMEM;
        }
        *ret = json_integer((json_int_t)rp_tpl__utf8_len(s, (size_t)(hit - s)));
        return *ret ? 0 : -ENOMEM;
}

/* startsWith() (variant 0) and endsWith() (variant 1), ASCII case-insensitive. */
static int fn_starts_ends(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                          json_t **ret)
{
        bool ends = ev->variant;
        const char *s, *t;
        size_t sn, tn;
        int r = rp_tpl__arg_str(ev, call, args, 0, &s, &sn);

        if (r >= 0)
                r = rp_tpl__arg_str(ev, call, args, 1, &t, &tn);
        if (r < 0)
                return r;
        bool ok = tn <= sn && strncasecmp(ends ? s + sn - tn : s, t, tn) == 0;
        *ret = json_boolean(ok);
        return *ret ? 0 : -ENOMEM;
}

static int fn_trim(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        const char *s;
        size_t sn, a = 0;
        int r = rp_tpl__arg_str(ev, call, args, 0, &s, &sn);

        if (r < 0)
                return r;
        while (a < sn && strchr(" \t\r\n\v\f", s[a]) && s[a])
                a++;
        while (sn > a && strchr(" \t\r\n\v\f", s[sn - 1]) && s[sn - 1])
                sn--;
        return rp_tpl__string(ev, call, s + a, sn - a, ret);
}

static int fn_pad_left(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                       json_t **ret)
{
        _cleanup_free_ char *s = NULL;
        const char *pad = " ";
        size_t pn = 1;
        int64_t total;
        rp_buf b;
        int r;

        if (json_is_object(args[0]) || json_is_array(args[0]) || json_is_null(args[0]))
                return rp_tpl__type_fail(ev, call, 0, "String or Integer", args[0]);
        r = rp_tpl__arg_int(ev, call, args, 1, &total);
        if (r < 0)
                return r;
        if (n > 2) {
                r = rp_tpl__arg_str(ev, call, args, 2, &pad, &pn);
                if (r < 0)
                        return r;
                if (rp_tpl__utf8_len(pad, pn) != 1)
                        return rp_tpl__fn_fail(ev, call, "the padding must be one character.");
        }
        if (total > 16000)
                return rp_tpl__fn_fail(ev, call, "the total length must be at most 16000.");
        s = rp_tpl__to_text(args[0]);
        if (!s)
                return -ENOMEM;
        rp_buf_init(&b, RP_TPL_MAX_STRING);
        for (int64_t k = (int64_t)rp_tpl__utf8_len(s, strlen(s)); k < total && r >= 0; k++)
                r = rp_buf_append(&b, pad, pn);
        if (r >= 0)
                r = rp_buf_puts(&b, s);
        if (r >= 0)
                r = rp_tpl__string(ev, call, b.ptr ? b.ptr : "", b.len, ret);
        rp_buf_done(&b);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* format()                                                                                    */

/* Insert thousands separators into the integer part "digits" (no sign). */
static int put_grouped(rp_buf *b, const char *digits)
{
        size_t n = strlen(digits);
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                r = rp_buf_append(b, digits + i, 1);
                if (r >= 0 && (n - i - 1) % 3 == 0 && i + 1 < n)
                        r = rp_buf_append(b, ",", 1);
        }
        return r;
}

/* Format integer @p v by .NET format @p f (NUL-terminated, may be empty). -EINVAL if unsupported.
 */
static int format_int(rp_buf *b, int64_t v, const char *f)
{
        char digits[32];
        uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        int prec = -1;
        char kind = *f;

        if (!*f)
                return rp_buf_printf(b, "%" PRId64, v);
        if (strchr("DdXxNnFf", kind) && f[1]) {
                uint64_t p = 0;
                for (const char *q = f + 1; *q; q++) {
                        if (*q < '0' || *q > '9' || p > 99)
                                return -EINVAL;
                        p = p * 10 + (uint64_t)(*q - '0');
                }
                prec = (int)p;
        }
        if (prec > 99)
                return -EINVAL;
        switch (kind) {
        case 'D':
        case 'd':
                return rp_buf_printf(b, "%s%0*" PRIu64, v < 0 ? "-" : "", prec < 0 ? 1 : prec, mag);
        case 'X':
                return rp_buf_printf(b, "%0*" PRIX64, prec < 0 ? 1 : prec, (uint64_t)v);
        case 'x':
                return rp_buf_printf(b, "%0*" PRIx64, prec < 0 ? 1 : prec, (uint64_t)v);
        case 'N':
        case 'n':
        case 'F':
        case 'f': {
                int r = 0;
                snprintf(digits, sizeof(digits), "%" PRIu64, mag);
                if (v < 0)
                        r = rp_buf_append(b, "-", 1);
                if (r >= 0)
                        r = (kind == 'N' || kind == 'n') ? put_grouped(b, digits)
                                                         : rp_buf_puts(b, digits);
                if (prec < 0)
                        prec = 2;
                if (r >= 0 && prec > 0)
                        r = rp_buf_printf(b, ".%0*d", prec, 0);
                return r;
        }
        default:
                break;
        }
        /* Custom: only '0' (a digit, zero-padded) and '#' (a digit if any). */
        size_t zeros = 0;
        for (const char *q = f; *q; q++) {
                if (*q == '0')
                        zeros++;
                else if (*q != '#')
                        return -EINVAL;
        }
        return rp_buf_printf(b, "%s%0*" PRIu64, v < 0 ? "-" : "", (int)zeros, mag);
}

static int fn_format(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                     json_t **ret)
{
        const char *f;
        size_t fn;
        rp_buf b;
        int r = rp_tpl__arg_str(ev, call, args, 0, &f, &fn);

        if (r < 0)
                return r;
        rp_buf_init(&b, RP_TPL_MAX_STRING);
        for (size_t i = 0; i < fn && r >= 0;) {
                if (f[i] == '{' && i + 1 < fn && f[i + 1] == '{') {
                        r = rp_buf_append(&b, "{", 1);
                        i += 2;
                        continue;
                }
                if (f[i] == '}') {
                        if (i + 1 < fn && f[i + 1] == '}') {
                                r = rp_buf_append(&b, "}", 1);
                                i += 2;
                                continue;
                        }
                        rp_buf_done(&b);
                        return rp_tpl__fn_fail(ev, call,
                                               "the format string has an unmatched '}' "
                                               "at offset %zu.",
                                               i);
                }
                if (f[i] != '{') {
                        size_t j = i;
                        while (j < fn && f[j] != '{' && f[j] != '}')
                                j++;
                        r = rp_buf_append(&b, f + i, j - i);
                        i = j;
                        continue;
                }

                /* {index[,alignment][:format]} */
                size_t start = i++, idx = 0, digits = 0;
                int64_t align = 0;
                char spec[32] = "";
                while (i < fn && f[i] >= '0' && f[i] <= '9' && digits < 6) {
                        idx = idx * 10 + (size_t)(f[i++] - '0');
                        digits++;
                }
                if (i < fn && f[i] == ',') {
                        bool neg = false;
                        size_t ad = 0;
                        i++;
                        while (i < fn && f[i] == ' ')
                                i++;
                        if (i < fn && f[i] == '-') {
                                neg = true;
                                i++;
                        }
                        while (i < fn && f[i] >= '0' && f[i] <= '9' && ad < 5) {
                                align = align * 10 + (f[i++] - '0');
                                ad++;
                        }
                        if (ad == 0)
                                digits = 0;
                        if (neg)
                                align = -align;
                }
                if (i < fn && f[i] == ':') {
                        size_t k = 0;
                        i++;
                        while (i < fn && f[i] != '}' && k + 1 < sizeof(spec))
                                spec[k++] = f[i++];
                        spec[k] = '\0';
                }
                if (digits == 0 || i >= fn || f[i] != '}') {
                        rp_buf_done(&b);
                        return rp_tpl__fn_fail(
                                ev, call, "the format item at offset %zu is not valid.", start);
                }
                i++;
                if (idx + 1 >= n) {
                        rp_buf_done(&b);
                        return rp_tpl__fn_fail(ev, call,
                                               "the format item {%zu} refers to a missing argument "
                                               "(%zu given).",
                                               idx, n - 1);
                }

                rp_buf item;
                const json_t *v = args[idx + 1];
                rp_buf_init(&item, RP_TPL_MAX_STRING);
                if (json_is_integer(v)) {
                        r = format_int(&item, json_integer_value(v), spec);
                        if (r == -EINVAL) {
                                rp_buf_done(&item);
                                rp_buf_done(&b);
                                return rp_tpl__fn_fail(ev, call,
                                                       "the format '%s' is not supported.", spec);
                        }
                } else {
                        _cleanup_free_ char *s = rp_tpl__to_text(v);
                        r = s ? rp_buf_puts(&item, s) : -ENOMEM;
                }
                size_t width = item.ptr ? rp_tpl__utf8_len(item.ptr, item.len) : 0;
                size_t want = (size_t)(align < 0 ? -align : align);
                if (r >= 0 && align > 0)
                        for (size_t k = width; k < want && r >= 0; k++)
                                r = rp_buf_append(&b, " ", 1);
                if (r >= 0)
                        r = rp_buf_append(&b, item.ptr ? item.ptr : "", item.len);
                if (r >= 0 && align < 0)
                        for (size_t k = width; k < want && r >= 0; k++)
                                r = rp_buf_append(&b, " ", 1);
                rp_buf_done(&item);
        }
        if (r >= 0)
                r = rp_tpl__string(ev, call, b.ptr ? b.ptr : "", b.len, ret);
        else if (r == -E2BIG)
                rp_tpl__fn_fail(ev, call, "the result is longer than %u bytes.", RP_TPL_MAX_STRING);
        rp_buf_done(&b);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* uniqueString() and guid()                                                                   */

static uint32_t rotl32(uint32_t x, int r)
{
        return (x << r) | (x >> (32 - r));
}

static uint32_t le32(const uint8_t *p, size_t n)
{
        uint32_t v = 0;
        for (size_t i = 0; i < n; i++)
                v |= (uint32_t)p[i] << (8 * i);
        return v;
}

static uint32_t fmix32(uint32_t h)
{
        h ^= h >> 16;
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        h *= 0xc2b2ae35u;
        h ^= h >> 16;
        return h;
}

/* ARM's 64-bit Murmur variant: two interleaved 32-bit lanes over 8-byte blocks, seed 0. */
static uint64_t murmur64(const uint8_t *d, size_t len)
{
        const uint32_t c1 = 0x239b961bu, c2 = 0xab0e9789u;
        uint32_t h1 = 0, h2 = 0;
        size_t i = 0;

        for (; i + 8 <= len; i += 8) {
                uint32_t k1 = le32(d + i, 4), k2 = le32(d + i + 4, 4);
                k1 = rotl32(k1 * c1, 15) * c2;
                h1 = rotl32(h1 ^ k1, 19) + h2;
                h1 = h1 * 5 + 0x561ccd1bu;
                k2 = rotl32(k2 * c2, 17) * c1;
                h2 = rotl32(h2 ^ k2, 13) + h1;
                h2 = h2 * 5 + 0x0bcaa747u;
        }
        size_t tail = len - i;
        if (tail > 0) {
                uint32_t k1 = le32(d + i, RP_MIN(tail, (size_t)4));
                h1 ^= rotl32(k1 * c1, 15) * c2;
                if (tail > 4) {
                        uint32_t k2 = le32(d + i + 4, tail - 4);
                        h2 ^= rotl32(k2 * c2, 17) * c1;
                }
        }
        h1 ^= (uint32_t)len;
        h2 ^= (uint32_t)len;
        h1 += h2;
        h2 += h1;
        h1 = fmix32(h1);
        h2 = fmix32(h2);
        h1 += h2;
        h2 += h1;
        return ((uint64_t)h2 << 32) | h1;
}

void rp_tpl__unique_string(const char *s, size_t n, char out[14])
{
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
        uint64_t h = murmur64((const uint8_t *)s, n);

        for (int i = 0; i < 13; i++) {
                out[i] = alphabet[h >> 59];
                h <<= 5;
        }
        out[13] = '\0';
}

int rp_tpl__guid(const char *s, size_t n, char out[37])
{
        /* 11fb06fb-712d-4ddd-98c7-e71bbd588830 in network byte order. */
        static const uint8_t ns[16] = { 0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd,
                                        0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30 };
        uint8_t h[EVP_MAX_MD_SIZE];
        unsigned hl = 0;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        int ok;

        if (!md)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(md, EVP_sha1(), NULL) && EVP_DigestUpdate(md, ns, sizeof(ns)) &&
             EVP_DigestUpdate(md, s, n) && EVP_DigestFinal_ex(md, h, &hl);
        EVP_MD_CTX_free(md);
        if (!ok || hl < 16)
                return -EIO;
        h[6] = (uint8_t)((h[6] & 0x0f) | 0x50);
        h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12],
                 h[13], h[14], h[15]);
        return 0;
}

static int fn_unique_string(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                            json_t **ret)
{
        char out[14];
        rp_buf b;
        int r;

        rp_buf_init(&b, RP_TPL_MAX_STRING);
        r = join_args(ev, call, args, n, &b);
        if (r >= 0) {
                rp_tpl__unique_string(b.ptr ? b.ptr : "", b.len, out);
                r = rp_tpl__string(ev, call, out, 13, ret);
        }
        rp_buf_done(&b);
        return r;
}

static int fn_guid(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n, json_t **ret)
{
        char out[37];
        rp_buf b;
        int r;

        rp_buf_init(&b, RP_TPL_MAX_STRING);
        r = join_args(ev, call, args, n, &b);
        if (r >= 0)
                r = rp_tpl__guid(b.ptr ? b.ptr : "", b.len, out);
        if (r >= 0)
                r = rp_tpl__string(ev, call, out, 36, ret);
        rp_buf_done(&b);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* utcNow()                                                                                    */

static const char *const month_names[] = { "January",   "February", "March",    "April",
                                           "May",       "June",     "July",     "August",
                                           "September", "October",  "November", "December" };
static const char *const day_names[] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday" };

/* Expand a one-letter standard format to its custom pattern, or NULL. */
static const char *standard_pattern(const char *f)
{
        if (!f[0] || f[1])
                return NULL;
        switch (f[0]) {
        case 'd':
                return "M/d/yyyy";
        case 'o':
        case 'O':
                return "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK";
        case 'r':
        case 'R':
                return "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'";
        case 's':
                return "yyyy'-'MM'-'dd'T'HH':'mm':'ss";
        case 't':
                return "h:mm tt";
        case 'T':
                return "h:mm:ss tt";
        case 'u':
                return "yyyy'-'MM'-'dd HH':'mm':'ss'Z'";
        default:
                return NULL;
        }
}

static int format_time(rp_buf *b, const struct tm *tm, const char *f)
{
        int r = 0;

        for (size_t i = 0; f[i] && r >= 0;) {
                char c = f[i];
                size_t run = 1;
                while (f[i + run] == c)
                        run++;
                switch (c) {
                case 'y':
                        if (run <= 2)
                                r = rp_buf_printf(b, "%0*d", (int)run, (tm->tm_year + 1900) % 100);
                        else
                                r = rp_buf_printf(b, "%0*d", (int)run, tm->tm_year + 1900);
                        break;
                case 'M':
                        if (run <= 2)
                                r = rp_buf_printf(b, "%0*d", (int)run, tm->tm_mon + 1);
                        else if (run == 3)
                                r = rp_buf_printf(b, "%.3s", month_names[tm->tm_mon]);
                        else
                                r = rp_buf_puts(b, month_names[tm->tm_mon]);
                        break;
                case 'd':
                        if (run <= 2)
                                r = rp_buf_printf(b, "%0*d", (int)run, tm->tm_mday);
                        else if (run == 3)
                                r = rp_buf_printf(b, "%.3s", day_names[tm->tm_wday]);
                        else
                                r = rp_buf_puts(b, day_names[tm->tm_wday]);
                        break;
                case 'H':
                        r = rp_buf_printf(b, "%0*d", (int)RP_MIN(run, (size_t)2), tm->tm_hour);
                        break;
                case 'h':
                        r = rp_buf_printf(b, "%0*d", (int)RP_MIN(run, (size_t)2),
                                          tm->tm_hour % 12 ? tm->tm_hour % 12 : 12);
                        break;
                case 'm':
                        r = rp_buf_printf(b, "%0*d", (int)RP_MIN(run, (size_t)2), tm->tm_min);
                        break;
                case 's':
                        r = rp_buf_printf(b, "%0*d", (int)RP_MIN(run, (size_t)2), tm->tm_sec);
                        break;
                case 'f':
                case 'F':
                        if (run > 7)
                                return -EINVAL;
                        if (c == 'f')
                                r = rp_buf_printf(b, "%0*d", (int)run, 0);
                        break;
                case 't':
                        r = rp_buf_printf(b, "%.*s", (int)RP_MIN(run, (size_t)2),
                                          tm->tm_hour < 12 ? "AM" : "PM");
                        break;
                case 'K':
                        r = rp_buf_puts(b, "Z");
                        break;
                case 'z':
                        r = rp_buf_puts(b, run == 1 ? "+0" : run == 2 ? "+00" : "+00:00");
                        break;
                case '\'':
                case '"': {
                        size_t j = i + 1;
                        while (f[j] && f[j] != c)
                                j++;
                        if (!f[j])
                                return -EINVAL;
                        r = rp_buf_append(b, f + i + 1, j - i - 1);
                        run = j - i + 1;
                        break;
                }
                case '\\':
                        if (!f[i + 1])
                                return -EINVAL;
                        r = rp_buf_append(b, f + i + 1, 1);
                        run = 2;
                        break;
                default:
                        r = rp_buf_append(b, f + i, 1);
                        run = 1;
                        break;
                }
                i += run;
        }
        return r;
}

static int fn_utc_now(rp_tpl__ev *ev, const rp_tpl__node *call, json_t **args, size_t n,
                      json_t **ret)
{
        const char *f = "yyyyMMdd'T'HHmmss'Z'";
        size_t fl;
        struct tm tm;
        time_t now = rp_tpl__ctx(ev->sc->plan)->now;
        rp_buf b;
        int r;

        if (!(ev->sc->flags & RP_TPL__ALLOW_UTCNOW))
                return rp_tpl__fail(ev, call->pos,
                                    "The template function 'utcNow' is not expected at this "
                                    "location. It can only be used in the default value of a "
                                    "parameter.");
        if (n > 0) {
                r = rp_tpl__arg_str(ev, call, args, 0, &f, &fl);
                if (r < 0)
                        return r;
                if (fl > 256 || strlen(f) != fl)
                        return rp_tpl__fn_fail(ev, call, "the format is not valid.");
                if (standard_pattern(f))
                        f = standard_pattern(f);
        }
        if (!gmtime_r(&now, &tm))
                return rp_tpl__fn_fail(ev, call, "the clock is out of range.");
        rp_buf_init(&b, 64 * 1024);
        r = format_time(&b, &tm, f);
        if (r >= 0)
                r = rp_tpl__string(ev, call, b.ptr ? b.ptr : "", b.len, ret);
        else if (r == -EINVAL || r == -E2BIG)
                r = rp_tpl__fn_fail(ev, call, "the format '%.100s' is not valid.", f);
        rp_buf_done(&b);
        return r;
}

/* ------------------------------------------------------------------------------------------ */
/* The table                                                                                   */

const rp_tpl__func rp_tpl__funcs_str[] = {
        { "toLower", 1, 1, fn_change_case, NULL, 0 },
        { "toUpper", 1, 1, fn_change_case, NULL, 1 },
        { "substring", 2, 3, fn_substring, NULL, 0 },
        { "replace", 3, 3, fn_replace, NULL, 0 },
        { "split", 2, 2, fn_split, NULL, 0 },
        { "indexOf", 2, 2, fn_index_of, NULL, 0 },
        { "lastIndexOf", 2, 2, fn_index_of, NULL, 1 },
        { "startsWith", 2, 2, fn_starts_ends, NULL, 0 },
        { "endsWith", 2, 2, fn_starts_ends, NULL, 1 },
        { "trim", 1, 1, fn_trim, NULL, 0 },
        { "padLeft", 2, 3, fn_pad_left, NULL, 0 },
        { "format", 1, UINT_MAX, fn_format, NULL, 0 },
        { "uniqueString", 1, UINT_MAX, fn_unique_string, NULL, 0 },
        { "guid", 1, UINT_MAX, fn_guid, NULL, 0 },
        { "utcNow", 0, 1, fn_utc_now, NULL, 0 },
};
const size_t rp_tpl__n_funcs_str = ELEMENTSOF(rp_tpl__funcs_str);
