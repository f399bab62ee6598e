/* token.h: bearer tokens: RS256 JWTs shaped like Entra ID access tokens for ARM. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest token accepted or issued, in bytes (belongs with the RP_MAX_* caps of limits.h). */
#define RP_MAX_TOKEN_LEN (16u * 1024u)
/** The audience of every token: ARM's classic resource id. */
#define RP_TOKEN_AUDIENCE "https://management.core.windows.net/"
/** Clock skew tolerated on exp and nbf, in seconds. */
#define RP_TOKEN_CLOCK_SKEW_SEC 300
/** Signing key file inside the auth directory (RSA 2048, PKCS#8 PEM, mode 0600). */
#define RP_TOKEN_KEY_FILE "signing.key"
/** Tenant id file inside the auth directory (a lower-case UUID and a newline). */
#define RP_TOKEN_TENANT_FILE "tenant"
/** Bits of the RSA signing key created, and the least accepted when loading one. */
#define RP_TOKEN_RSA_BITS 2048

/** The token signing key and tenant of a deployment. Immutable once loaded. */
typedef struct rp_token_key rp_token_key;

/**
 * What a verified token grants. Fill it with rp_token_verify(); empty it with
 * rp_token_claims_done(). A zeroed struct is a valid empty value.
 */
typedef struct rp_token_claims {
        char *tenant_id;      /**< tid, lower case, owned */
        char *object_id;      /**< oid, the caller's identity (a GUID), lower case, owned */
        char **subscriptions; /**< allowed subscription ids, lower case, owned (array and items) */
        size_t n_subscriptions; /**< entries in subscriptions */
        uint64_t expires_sec;   /**< exp, seconds since the epoch */
} rp_token_claims;

/**
 * Load the signing key and tenant id from @p auth_dir, creating whatever is missing (the
 * directory with mode 0700, signing.key, tenant). Takes a lock on the directory so that rpd and
 * rpctl starting together agree on one key. When both files exist nothing is written, so a
 * reader without write access to the directory can use it.
 * @param[out] ret the key, to free with rp_token_key_free(); untouched on failure.
 * @return 0, -EBADMSG (an unreadable key, an RSA key under 2048 bits, or a bad tenant file),
 *         -ENOMEM, -EIO (libcrypto), or the -errno of a file operation.
 */
int rp_token_key_load_or_create(const char *auth_dir, rp_token_key **ret);

/** Free @p k; NULL is a no-op. @return NULL. */
rp_token_key *rp_token_key_free(rp_token_key *k);

/** The deployment's tenant id (a lower-case UUID), owned by @p k. */
const char *rp_token_key_tenant(const rp_token_key *k);

/** The key id put in the "kid" header: base64url of the first 16 bytes of the SHA-256 of the
 *  DER SubjectPublicKeyInfo. Owned by @p k. */
const char *rp_token_key_id(const rp_token_key *k);

/**
 * Issue a token valid from now for @p lifetime_sec seconds, granting @p subscriptions.
 * Claims: aud, iss ("https://sts.windows.net/<tenant>/"), iat, nbf, exp, tid, oid, sub, appid
 * (fixed per tenant), idtyp "app", ver "1.0", xms_rpd_subs (the subscription ids, lower case).
 * The token is verified before it is returned. Safe to call from several threads at once.
 * @param subscriptions subscription ids; each must be a GUID (any case).
 * @param[out] ret_jwt the compact JWT, to rp_free(); untouched on failure.
 * @return 0, -EINVAL (a subscription id is not a GUID, or the lifetime overflows),
 *         -E2BIG (the token would exceed RP_MAX_TOKEN_LEN), -ENOMEM, -EIO (libcrypto).
 */
int rp_token_issue(rp_token_key *k, const char *const *subscriptions, size_t n_subscriptions,
                   uint64_t lifetime_sec, char **ret_jwt);

/**
 * Verify a compact JWT issued by @p k. The signature is checked before the payload is read.
 * Safe to call from several threads at once.
 * @param jwt the token (without "Bearer ").
 * @param now_sec the current time, seconds since the epoch.
 * @param[out] ret the claims, to empty with rp_token_claims_done(); untouched on failure.
 * @return 0;
 *         -E2BIG if @p jwt is longer than RP_MAX_TOKEN_LEN;
 *         -EBADMSG if malformed: not three parts, bad base64url or JSON, alg other than RS256
 *                  (so "none" and HS256 are refused), a "crit" header, missing or mistyped
 *                  claims, an oid or subscription id that is not a GUID;
 *         -EKEYREJECTED if signed by another key or the signature does not match;
 *         -EACCES for a wrong aud, iss or tid;
 *         -ETIME if expired or not yet valid (beyond RP_TOKEN_CLOCK_SKEW_SEC);
 *         -EINVAL for a NULL argument; -ENOMEM.
 */
int rp_token_verify(rp_token_key *k, const char *jwt, uint64_t now_sec, rp_token_claims *ret);

/** Free the contents of @p c and zero it. The struct itself stays the caller's. */
void rp_token_claims_done(rp_token_claims *c);

/** Does @p c grant @p subscription_id (compared case-insensitively)? False for NULL. */
bool rp_token_claims_allows(const rp_token_claims *c, const char *subscription_id);
