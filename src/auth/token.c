/* token.c: issue and verify RS256 bearer tokens shaped like Entra ID access tokens.
 *
 * DESIGN
 * A deployment has one RSA signing key and one tenant id, kept in the auth directory. Tokens
 * carry the claims the Azure SDKs and ARM tooling look at (aud, iss, tid, oid, appid, ...) plus
 * xms_rpd_subs, the subscriptions the bearer may touch; rpd has no directory service, so the
 * token itself is the grant.
 *
 * Verification order matters: the length cap first (no work on huge input), then the header
 * (only alg RS256 is accepted; "none", HS256 and friends are refused before any key is
 * involved, which rules out algorithm confusion), then the signature over the exact bytes
 * received, and only then the payload is parsed. Claims come last; the audience, issuer and
 * tenant are checked before the times so that a foreign token is reported as foreign.
 *
 * Threads: a loaded rp_token_key is never modified, and each sign or verify uses its own
 * EVP_MD_CTX; libcrypto allows concurrent use of one provider-backed EVP_PKEY that way. JSON
 * parsing uses per-call jansson objects only.
 */
#include "auth/token.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "auth/keyfile.h"
#include "json/json.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"
#include "util/time.h"

#define TOKEN_ALG "RS256"
#define TOKEN_ISSUER_FMT "https://sts.windows.net/%s/"
#define TOKEN_KID_BYTES 16
#define TOKEN_SUBS_CLAIM "xms_rpd_subs"

struct rp_token_key {
        EVP_PKEY *pkey;                      /* RSA, >= RP_TOKEN_RSA_BITS */
        char tenant[RP_UUID_STR_LEN + 1];    /* lower case */
        char object_id[RP_UUID_STR_LEN + 1]; /* derived from the tenant, see derive_uuid() */
        char app_id[RP_UUID_STR_LEN + 1];    /* likewise */
        char *issuer;                        /* TOKEN_ISSUER_FMT with the tenant */
        char *kid;                           /* see rp_token_key_id() */
};

static void buf_donep(rp_buf *b)
{
        rp_buf_done(b);
}

/* ---- GUIDs ------------------------------------------------------------------------------ */

/* 8-4-4-4-12 hex digits, any case, exactly @len == 36 bytes. */
static bool guid_valid(const char *s, size_t len)
{
        if (len != RP_UUID_STR_LEN)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                bool hex =
                        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
                if (i == 8 || i == 13 || i == 18 || i == 23 ? c != '-' : !hex)
                        return false;
        }
        return true;
}

/* Copy a valid GUID to @out in lower case. */
static void guid_lower(const char *s, char out[RP_UUID_STR_LEN + 1])
{
        for (size_t i = 0; i < RP_UUID_STR_LEN; i++)
                out[i] = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a') : s[i];
        out[RP_UUID_STR_LEN] = '\0';
}

/* A stable UUID for @label within @tenant (version 8, RFC 9562 "custom"): the identities of
 * the one application a deployment has, the same in every token of the tenant. */
static void derive_uuid(const char *tenant, const char *label, char out[RP_UUID_STR_LEN + 1])
{
        uint8_t h[RP_SHA256_LEN];
        _cleanup_free_ char *in = rp_asprintf("rpd:%s:%s", label, tenant);
        if (in)
                rp_sha256(in, strlen(in), h);
        else
                rp_sha256(tenant, strlen(tenant), h); /* OOM: still stable, just unlabelled */
        h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
        h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
        char hex[2 * 16 + 1];
        rp_hex_encode(h, 16, hex);
        snprintf(out, RP_UUID_STR_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
                 hex + 16, hex + 20);
}

/* ---- key -------------------------------------------------------------------------------- */

rp_token_key *rp_token_key_free(rp_token_key *k)
{
        if (!k)
                return NULL;
        EVP_PKEY_free(k->pkey);
        rp_free(k->issuer);
        rp_free(k->kid);
        return rp_free(k);
}

RP_DEFINE_CLEANUP(rp_token_key, rp_token_key_free)

const char *rp_token_key_tenant(const rp_token_key *k)
{
        return k->tenant;
}

const char *rp_token_key_id(const rp_token_key *k)
{
        return k->kid;
}

static int key_id(EVP_PKEY *pkey, char **ret)
{
        int n = i2d_PUBKEY(pkey, NULL);
        if (n <= 0)
                return -EIO;
        _cleanup_free_ uint8_t *der = rp_malloc((size_t)n);
        if (!der)
                return -ENOMEM;
        unsigned char *p = der;
        if (i2d_PUBKEY(pkey, &p) != n)
                return -EIO;
        uint8_t h[RP_SHA256_LEN];
        rp_sha256(der, (size_t)n, h);
        char *kid = rp_base64url_encode(h, TOKEN_KID_BYTES);
        if (!kid)
                return -ENOMEM;
        *ret = kid;
        return 0;
}

static int key_load_or_create(const char *path, EVP_PKEY **ret)
{
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
        int r = rp_auth__key_read(path, &pkey);
        if (r == -ENOENT) {
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RP_TOKEN_RSA_BITS);
                if (!pkey) {
                        ERR_clear_error();
                        return -EIO;
                }
                r = rp_auth__key_write(path, pkey);
                if (r < 0) {
                        ERR_clear_error();
                        return r;
                }
        } else if (r < 0) {
                return r;
        } else if (!EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_get_bits(pkey) < RP_TOKEN_RSA_BITS) {
                return -EBADMSG;
        }
        *ret = TAKE_PTR(pkey);
        return 0;
}

static int tenant_load_or_create(const char *path, char out[RP_UUID_STR_LEN + 1])
{
        _cleanup_free_ char *data = NULL;
        long n = rp_read_file(path, RP_MAX_SMALL_FILE, &data);
        if (n == -ENOENT) {
                char id[RP_UUID_STR_LEN + 1];
                int r = rp_uuid4(id);
                if (r < 0)
                        return r;
                _cleanup_free_ char *line = rp_asprintf("%s\n", id);
                if (!line)
                        return -ENOMEM;
                r = rp_write_file_atomic(path, line, strlen(line), RP_AUTH_PUBLIC_MODE);
                if (r < 0)
                        return r;
                memcpy(out, id, sizeof id);
                return 0;
        }
        if (n < 0)
                return (int)n;
        /* Tolerate white space around the id: the file may well be edited by hand. */
        const char *s = data + strspn(data, " \t\r\n");
        size_t len = strcspn(s, " \t\r\n");
        if (s[len + strspn(s + len, " \t\r\n")] != '\0' || !guid_valid(s, len))
                return -EBADMSG;
        guid_lower(s, out);
        return 0;
}

int rp_token_key_load_or_create(const char *auth_dir, rp_token_key **ret)
{
        _cleanup_close_ int lock_fd = -1;
        int r = rp_auth__lock_dir(auth_dir, &lock_fd);
        if (r < 0)
                return r;
        _cleanup_free_ char *key_path = rp_asprintf("%s/%s", auth_dir, RP_TOKEN_KEY_FILE);
        _cleanup_free_ char *tenant_path = rp_asprintf("%s/%s", auth_dir, RP_TOKEN_TENANT_FILE);
        _cleanup_(rp_token_key_freep) rp_token_key *k = rp_calloc(1, sizeof *k);
        if (!key_path || !tenant_path || !k)
                return -ENOMEM;

        r = key_load_or_create(key_path, &k->pkey);
        if (r < 0)
                return r;
        r = tenant_load_or_create(tenant_path, k->tenant);
        if (r < 0)
                return r;
        derive_uuid(k->tenant, "oid", k->object_id);
        derive_uuid(k->tenant, "appid", k->app_id);
        k->issuer = rp_asprintf(TOKEN_ISSUER_FMT, k->tenant);
        if (!k->issuer)
                return -ENOMEM;
        r = key_id(k->pkey, &k->kid);
        if (r < 0) {
                ERR_clear_error();
                return r;
        }
        *ret = TAKE_PTR(k);
        return 0;
}

/* ---- issue ------------------------------------------------------------------------------ */

/* base64url of the compact JSON of @v, appended to @b. */
static int append_b64_json(rp_buf *b, const json_t *v)
{
        _cleanup_free_ char *s = rp_json_dumps(v);
        if (!s)
                return -ENOMEM;
        _cleanup_free_ char *e = rp_base64url_encode(s, strlen(s));
        if (!e)
                return -ENOMEM;
        return rp_buf_puts(b, e);
}

static int token_sign(EVP_PKEY *pkey, const void *data, size_t len, uint8_t **ret_sig,
                      size_t *ret_len)
{
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        size_t n = 0;
        if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
            EVP_DigestSign(md, NULL, &n, data, len) != 1)
                return -EIO;
        _cleanup_free_ uint8_t *sig = rp_malloc(n);
        if (!sig)
                return -ENOMEM;
        if (EVP_DigestSign(md, sig, &n, data, len) != 1)
                return -EIO;
        *ret_sig = TAKE_PTR(sig);
        *ret_len = n;
        return 0;
}

static int token_issue(rp_token_key *k, const char *const *subscriptions, size_t n_subscriptions,
                       uint64_t now, uint64_t lifetime_sec, char **ret_jwt)
{
        _cleanup_json_ json_t *subs = json_array();
        if (!subs)
                return -ENOMEM;
        for (size_t i = 0; i < n_subscriptions; i++) {
                const char *s = subscriptions[i];
                if (!s || !guid_valid(s, strlen(s)))
                        return -EINVAL;
                char low[RP_UUID_STR_LEN + 1];
                guid_lower(s, low);
                if (json_array_append_new(subs, json_string(low)) < 0)
                        return -ENOMEM;
        }

        _cleanup_json_ json_t *header =
                json_pack("{s:s, s:s, s:s}", "alg", TOKEN_ALG, "typ", "JWT", "kid", k->kid);
        _cleanup_json_ json_t *payload =
                json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "aud",
                          RP_TOKEN_AUDIENCE, "iss", k->issuer, "iat", (json_int_t)now, "nbf",
                          (json_int_t)now, "exp", (json_int_t)(now + lifetime_sec), "tid",
                          k->tenant, "oid", k->object_id, "sub", k->object_id, "appid", k->app_id,
                          "idtyp", "app", "ver", "1.0", TOKEN_SUBS_CLAIM, subs);
        if (!header || !payload)
                return -ENOMEM;

        _cleanup_(buf_donep) rp_buf b;
        rp_buf_init(&b, RP_MAX_TOKEN_LEN);
        int r = append_b64_json(&b, header);
        if (r >= 0)
                r = rp_buf_puts(&b, ".");
        if (r >= 0)
                r = append_b64_json(&b, payload);
        if (r < 0)
                return r;

        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        r = token_sign(k->pkey, b.ptr, b.len, &sig, &sig_len);
        if (r < 0)
                return r;
        _cleanup_free_ char *sig64 = rp_base64url_encode(sig, sig_len);
        if (!sig64)
                return -ENOMEM;
        r = rp_buf_puts(&b, ".");
        if (r >= 0)
                r = rp_buf_puts(&b, sig64);
        if (r < 0)
                return r;
        char *jwt = rp_buf_detach(&b);
        if (!jwt)
                return -ENOMEM;
        *ret_jwt = jwt;
        return 0;
}

/* Does @jwt verify and carry exactly what token_issue() was asked to put in it? */
static bool token_self_check(rp_token_key *k, const char *jwt, uint64_t now,
                             const char *const *subscriptions, size_t n_subscriptions,
                             uint64_t lifetime_sec)
{
        rp_token_claims c = { 0 };
        if (rp_token_verify(k, jwt, now, &c) < 0)
                return false;
        bool ok = c.expires_sec == now + lifetime_sec && c.n_subscriptions == n_subscriptions &&
                  rp_streq(c.object_id, k->object_id);
        for (size_t i = 0; ok && i < n_subscriptions; i++)
                ok = rp_strcaseeq(c.subscriptions[i], subscriptions[i]);
        rp_token_claims_done(&c);
        return ok;
}

int rp_token_issue(rp_token_key *k, const char *const *subscriptions, size_t n_subscriptions,
                   uint64_t lifetime_sec, char **ret_jwt)
{
        if (!k || !ret_jwt || (n_subscriptions > 0 && !subscriptions))
                return -EINVAL;
        uint64_t now = rp_now_realtime() / RP_USEC_PER_SEC;
        if (lifetime_sec > (uint64_t)INT64_MAX - now)
                return -EINVAL;
        _cleanup_free_ char *jwt = NULL;
        int r = token_issue(k, subscriptions, n_subscriptions, now, lifetime_sec, &jwt);
        ERR_clear_error();
        if (r < 0)
                return r;
        /* json_dumps() may silently drop bytes when an allocation fails, and still return a
         * string. Issuing is rare and an RSA verify is cheap, so check the result rather than
         * hand out a broken token; the only way this can fail is such an allocation failure. */
        if (!token_self_check(k, jwt, now, subscriptions, n_subscriptions, lifetime_sec))
                return -ENOMEM;
        *ret_jwt = TAKE_PTR(jwt);
        return 0;
}

/* ---- verify ----------------------------------------------------------------------------- */

/* Decode one base64url part into a JSON object. -EBADMSG or -ENOMEM. */
static int part_to_json(const char *s, size_t len, json_t **ret)
{
        _cleanup_free_ uint8_t *raw = NULL;
        long n = rp_base64url_decode(s, len, &raw);
        if (n == -ENOMEM)
                return -ENOMEM;
        if (n < 0)
                return -EBADMSG;
        json_error_t err;
        json_t *j = json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, &err);
        /* jansson reports OOM as json_error_out_of_memory, except when its lexer cannot even
         * start: then it returns NULL and leaves the message empty. */
        if (!j)
                return json_error_code(&err) == json_error_out_of_memory || !err.text[0] ? -ENOMEM
                                                                                         : -EBADMSG;
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

static int header_check(const rp_token_key *k, const char *s, size_t len)
{
        _cleanup_json_ json_t *h = NULL;
        int r = part_to_json(s, len, &h);
        if (r < 0)
                return r;
        const char *alg = NULL, *typ = NULL, *kid = NULL, *path = NULL;
        const rp_json_spec specs[] = {
                { "alg", RP_JSON_STRING, true, &alg },
                { "typ", RP_JSON_STRING, false, &typ },
                { "kid", RP_JSON_STRING, false, &kid },
                RP_JSON_SPEC_END,
        };
        if (rp_json_parse(h, specs, &path) < 0)
                return -EBADMSG;
        /* Exactly RS256: refuses "none", HS256 (which would use the public key as an HMAC
         * secret) and every other algorithm. An extension we would have to understand ("crit")
         * is refused as RFC 7515 requires. */
        if (!rp_streq(alg, TOKEN_ALG) || (typ && !rp_strcaseeq(typ, "JWT")) ||
            json_object_get(h, "crit"))
                return -EBADMSG;
        if (kid && !rp_streq(kid, k->kid))
                return -EKEYREJECTED;
        return 0;
}

static int signature_check(EVP_PKEY *pkey, const char *signed_part, size_t signed_len,
                           const char *sig64, size_t sig64_len)
{
        _cleanup_free_ uint8_t *sig = NULL;
        long n = rp_base64url_decode(sig64, sig64_len, &sig);
        if (n == -ENOMEM)
                return -ENOMEM;
        if (n < 0)
                return -EBADMSG;
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md)
                return -ENOMEM;
        if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1)
                return -EIO;
        if (EVP_DigestVerify(md, sig, (size_t)n, (const unsigned char *)signed_part, signed_len) !=
            1)
                return -EKEYREJECTED;
        return 0;
}

static int subs_copy(const json_t *arr, char ***ret, size_t *ret_n)
{
        size_t n = json_array_size(arr);
        char **subs = rp_calloc(n + 1, sizeof *subs);
        if (!subs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const json_t *v = json_array_get(arr, i);
                const char *s = json_string_value(v);
                int r = 0;
                if (!s || !guid_valid(s, json_string_length(v)))
                        r = -EBADMSG;
                else if (!(subs[i] = rp_malloc(RP_UUID_STR_LEN + 1)))
                        r = -ENOMEM;
                if (r < 0) {
                        for (size_t j = 0; j < i; j++)
                                rp_free(subs[j]);
                        rp_free(subs);
                        return r;
                }
                guid_lower(s, subs[i]);
        }
        *ret = subs;
        *ret_n = n;
        return 0;
}

static int claims_check(const rp_token_key *k, const json_t *p, uint64_t now_sec,
                        rp_token_claims *ret)
{
        const char *aud = NULL, *iss = NULL, *tid = NULL, *oid = NULL, *path = NULL;
        int64_t exp = 0, nbf = 0;
        json_t *subs = NULL;
        const rp_json_spec specs[] = {
                { "aud", RP_JSON_STRING, true, &aud },
                { "iss", RP_JSON_STRING, true, &iss },
                { "tid", RP_JSON_STRING, true, &tid },
                { "oid", RP_JSON_STRING, true, &oid },
                { "exp", RP_JSON_INT, true, &exp },
                { "nbf", RP_JSON_INT, true, &nbf },
                { TOKEN_SUBS_CLAIM, RP_JSON_ARRAY, true, &subs },
                RP_JSON_SPEC_END,
        };
        /* oid must be a GUID (as Entra's are): besides the shape, a fixed length catches the
         * silent truncation jansson's lexer does on allocation failure, as for tid and subs. */
        if (rp_json_parse(p, specs, &path) < 0 || exp < 0 || nbf < 0 ||
            !guid_valid(oid, strlen(oid)))
                return -EBADMSG;
        if (!rp_streq(aud, RP_TOKEN_AUDIENCE) || !rp_streq(iss, k->issuer) ||
            !rp_strcaseeq(tid, k->tenant))
                return -EACCES;
        /* Unsigned arithmetic on non-negative values: no overflow for any input. */
        if (now_sec >= (uint64_t)exp && now_sec - (uint64_t)exp >= RP_TOKEN_CLOCK_SKEW_SEC)
                return -ETIME;
        if ((uint64_t)nbf > now_sec && (uint64_t)nbf - now_sec > RP_TOKEN_CLOCK_SKEW_SEC)
                return -ETIME;

        rp_token_claims c = { .expires_sec = (uint64_t)exp };
        int r = subs_copy(subs, &c.subscriptions, &c.n_subscriptions);
        if (r < 0)
                return r;
        c.tenant_id = rp_strdup(k->tenant); /* equal to tid, in our canonical case */
        c.object_id = rp_malloc(RP_UUID_STR_LEN + 1);
        if (c.object_id)
                guid_lower(oid, c.object_id);
        if (!c.tenant_id || !c.object_id) {
                rp_token_claims_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static int token_verify(rp_token_key *k, const char *jwt, uint64_t now_sec, rp_token_claims *ret)
{
        size_t len = strnlen(jwt, RP_MAX_TOKEN_LEN + 1);
        if (len > RP_MAX_TOKEN_LEN)
                return -E2BIG;
        const char *dot1 = memchr(jwt, '.', len);
        const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jwt)) : NULL;
        if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - jwt)))
                return -EBADMSG;
        size_t header_len = (size_t)(dot1 - jwt);
        size_t payload_len = (size_t)(dot2 - dot1 - 1);
        size_t sig_len = len - (size_t)(dot2 + 1 - jwt);
        if (header_len == 0 || payload_len == 0 || sig_len == 0)
                return -EBADMSG;

        int r = header_check(k, jwt, header_len);
        if (r < 0)
                return r;
        r = signature_check(k->pkey, jwt, (size_t)(dot2 - jwt), dot2 + 1, sig_len);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *payload = NULL;
        r = part_to_json(dot1 + 1, payload_len, &payload);
        if (r < 0)
                return r;
        return claims_check(k, payload, now_sec, ret);
}

int rp_token_verify(rp_token_key *k, const char *jwt, uint64_t now_sec, rp_token_claims *ret)
{
        if (!k || !jwt || !ret)
                return -EINVAL;
        int r = token_verify(k, jwt, now_sec, ret);
        ERR_clear_error(); /* the thread's error queue must not leak into the next request */
        return r;
}

void rp_token_claims_done(rp_token_claims *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_subscriptions; i++)
                rp_free(c->subscriptions[i]);
        rp_free(c->subscriptions);
        rp_free(c->tenant_id);
        rp_free(c->object_id);
        *c = (rp_token_claims){ 0 };
}

bool rp_token_claims_allows(const rp_token_claims *c, const char *subscription_id)
{
        if (!c || !subscription_id)
                return false;
        for (size_t i = 0; i < c->n_subscriptions; i++)
                if (rp_strcaseeq(c->subscriptions[i], subscription_id))
                        return true;
        return false;
}
