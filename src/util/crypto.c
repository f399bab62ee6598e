/* crypto.c: thin wrappers over libcrypto so the rest of rpd never touches OpenSSL types. */
#include "crypto.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

void rp_sha256(const void *data, size_t len, uint8_t out[RP_SHA256_LEN])
{
        SHA256(data, len, out);
}

int rp_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                   uint8_t out[RP_SHA256_LEN])
{
        unsigned int olen = 0;
        if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &olen) ||
            olen != RP_SHA256_LEN)
                return -EIO;
        return 0;
}

int rp_random_bytes(void *buf, size_t len)
{
        return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

void rp_hex_encode(const void *data, size_t len, char *out)
{
        static const char digits[] = "0123456789abcdef";
        const uint8_t *p = data;
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = digits[p[i] >> 4];
                out[2 * i + 1] = digits[p[i] & 15];
        }
        out[2 * len] = '\0';
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int rp_hex_decode(const char *hex, void *out, size_t len)
{
        uint8_t *o = out;
        if (strlen(hex) != 2 * len)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                o[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}

int rp_uuid4(char out[RP_UUID_STR_LEN + 1])
{
        uint8_t b[16];
        if (rp_random_bytes(b, sizeof b) < 0)
                return -EIO;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(out, RP_UUID_STR_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        return 0;
}

bool rp_memeq_consttime(const void *a, const void *b, size_t len)
{
        return CRYPTO_memcmp(a, b, len) == 0;
}

char *rp_base64_encode(const void *data, size_t len)
{
        size_t olen = 4 * ((len + 2) / 3);
        char *out = rp_malloc(olen + 1);
        if (!out)
                return NULL;
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
        out[olen] = '\0';
        return out;
}

char *rp_base64url_encode(const void *data, size_t len)
{
        char *s = rp_base64_encode(data, len);
        if (!s)
                return NULL;
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == '=')
                s[--n] = '\0';
        for (char *p = s; *p; p++)
                if (*p == '+')
                        *p = '-';
                else if (*p == '/')
                        *p = '_';
        return s;
}

long rp_base64url_decode(const char *s, size_t slen, uint8_t **ret_data)
{
        while (slen > 0 && s[slen - 1] == '=')
                slen--;
        if (slen % 4 == 1 || slen > (1u << 28))
                return -EINVAL;
        size_t padded = (slen + 3) / 4 * 4;
        char *tmp = rp_malloc(padded + 1);
        if (!tmp)
                return -ENOMEM;
        for (size_t i = 0; i < slen; i++) {
                char c = s[i];
                if (c == '-')
                        c = '+';
                else if (c == '_')
                        c = '/';
                else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9'))) {
                        rp_free(tmp);
                        return -EINVAL;
                }
                tmp[i] = c;
        }
        for (size_t i = slen; i < padded; i++)
                tmp[i] = '=';
        tmp[padded] = '\0';
        uint8_t *out = rp_malloc(padded / 4 * 3 + 1);
        if (!out) {
                rp_free(tmp);
                return -ENOMEM;
        }
        int n = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
        rp_free(tmp);
        if (n < 0) {
                rp_free(out);
                return -EINVAL;
        }
        n -= (int)(padded - slen); /* EVP_DecodeBlock counts padding as zero bytes */
        *ret_data = out;
        return n;
}
