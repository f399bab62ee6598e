/* crypto.h: hashing, MACs, randomness and encodings on OpenSSL libcrypto. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RP_SHA256_LEN 32
#define RP_UUID_STR_LEN 36

/** SHA-256 of @p len bytes into @p out. */
void rp_sha256(const void *data, size_t len, uint8_t out[RP_SHA256_LEN]);
/** HMAC-SHA-256 of @p data under @p key into @p out. @return 0 or -EIO. */
int rp_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                   uint8_t out[RP_SHA256_LEN]);
/** Fill @p buf with @p len cryptographically strong random bytes. @return 0 or -EIO. */
int rp_random_bytes(void *buf, size_t len);
/** Lower-case hex of @p len bytes into @p out (2*len+1 bytes, NUL-terminated). */
void rp_hex_encode(const void *data, size_t len, char *out);
/** Parse 2*@p len hex digits into @p out. @return 0 or -EINVAL. */
int rp_hex_decode(const char *hex, void *out, size_t len);
/** A random (v4) UUID, lower case, into @p out (37 bytes). @return 0 or -EIO. */
int rp_uuid4(char out[RP_UUID_STR_LEN + 1]);
/** Constant-time compare of two equal-length byte strings. */
bool rp_memeq_consttime(const void *a, const void *b, size_t len);
/** base64url (no padding) of @p len bytes. @return a string to rp_free(), NULL on OOM. */
char *rp_base64url_encode(const void *data, size_t len);
/** Decode base64url (padding optional). @param[out] ret_data bytes to rp_free(). @return length, or -EINVAL / -ENOMEM. */
long rp_base64url_decode(const char *s, size_t slen, uint8_t **ret_data);
/** Standard base64 with padding. @return a string to rp_free(), NULL on OOM. */
char *rp_base64_encode(const void *data, size_t len);
