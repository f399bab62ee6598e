/* disk_sas.h: shared access signatures (SAS) for the disk data plane URLs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The only signed-version (sv) rpd issues and accepts. */
#define RP_SAS_VERSION "2018-03-28"
/** The only signed-resource (sr) value: a blob. */
#define RP_SAS_RESOURCE_BLOB "b"
/** Length of an expiry (se) as rpd writes it: "YYYY-MM-DDTHH:MM:SSZ". */
#define RP_SAS_EXPIRY_LEN 20u
/** Longest signature (sig) accepted: base64url of an HMAC-SHA256 is 43 characters. */
#define RP_SAS_MAX_SIG 64u
/** Longest resource accepted ("<region>/disks/<uuid>" is far shorter). */
#define RP_SAS_MAX_RESOURCE 1024u

/** What a valid SAS grants. */
typedef struct rp_sas_grant {
        bool read;           /**< sp contains r (always true for a valid SAS) */
        bool write;          /**< sp is "rw" */
        uint64_t expiry_sec; /**< se, seconds since the epoch */
        uint64_t generation; /**< sk: the disk's access generation when the SAS was made; the
                                  caller revokes older SAS by comparing it with the current one */
} rp_sas_grant;

/**
 * Sign a SAS. The signature is base64url(HMAC-SHA256(key, string-to-sign)) with
 * string-to-sign = resource "\n" sp "\n" se "\n" sk "\n" sv "\n" sr.
 * @param key the region's SAS signing key, @p key_len > 0 bytes.
 * @param resource what the SAS is for, e.g. "eastus/disks/<uuid>": non-empty, no control
 *        characters, at most RP_SAS_MAX_RESOURCE bytes.
 * @param perms "r" or "rw".
 * @param expiry_sec expiry, seconds since the epoch, before year 10000.
 * @param generation the disk's current access generation.
 * @param[out] ret_query "sv=...&sr=b&sp=...&se=...&sk=...&sig=..." (no '?'), to rp_free().
 * @return 0, -EINVAL (bad argument), -ENOMEM or -EIO.
 */
int rp_sas_sign(const uint8_t *key, size_t key_len, const char *resource, const char *perms,
                uint64_t expiry_sec, uint64_t generation, char **ret_query);

/**
 * Check a SAS presented on the data plane. Every field is the decoded query value (NULL when
 * absent). The signature is checked (in constant time) before the expiry, so that only an
 * authentic SAS learns that it expired.
 * @param key the signing key, @p key_len > 0 bytes.
 * @param resource the resource the request addresses, e.g. "eastus/disks/<uuid>".
 * @param now_sec the current time, seconds since the epoch.
 * @param[out] ret the grant; untouched on failure.
 * @return 0; -EINVAL (no key); -EBADMSG (a field missing or malformed: sv other than
 *         RP_SAS_VERSION, sr other than "b", sp other than "r"/"rw", se not an RFC 3339 UTC
 *         time "YYYY-MM-DDTHH:MM:SSZ", sk not a decimal, sig not 32 base64url bytes);
 *         -EKEYREJECTED (signature mismatch); -ETIME (expired: now_sec >= expiry);
 *         -ENOMEM; -EIO.
 */
int rp_sas_verify(const uint8_t *key, size_t key_len, const char *resource, const char *sv,
                  const char *sr, const char *sp, const char *se, const char *sk, const char *sig,
                  uint64_t now_sec, rp_sas_grant *ret);

/**
 * Format @p sec as "YYYY-MM-DDTHH:MM:SSZ" into @p out.
 * @return 0 or -ERANGE (year past 9999).
 */
int rp_sas_format_expiry(uint64_t sec, char out[RP_SAS_EXPIRY_LEN + 1]);

/**
 * Parse exactly "YYYY-MM-DDTHH:MM:SSZ" (UTC, years 1970 to 9999, no leap second).
 * @param[out] ret seconds since the epoch.
 * @return 0 or -EBADMSG.
 */
int rp_sas_parse_expiry(const char *s, uint64_t *ret);
