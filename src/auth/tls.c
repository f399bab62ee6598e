/* tls.c: a local CA and the server certificate it signs, for rpd's HTTPS listener.
 *
 * DESIGN
 * Clients (the Azure SDK, rpctl, curl) are told to trust ca.pem once; the server certificate can
 * then be reissued at will (new names, renewal) without touching the clients. So the CA pair is
 * sacred: it is created only when a half of it is missing and is never overwritten otherwise,
 * and a damaged CA is an error for the operator rather than something we silently replace. The
 * server pair is derived data and is reissued whenever it is missing, unreadable, not from our
 * CA, close to expiry, or missing a requested name.
 *
 * Both pairs are EC P-256 with SHA-256 signatures and the extensions that strict verifiers
 * (X509_V_FLAG_X509_STRICT, as in Python >= 3.13, and GnuTLS) insist on: a critical
 * basicConstraints and keyUsage on the CA, subject and authority key identifiers, v3, a
 * positive serial of at most 20 octets. Certificates start one hour in the past to tolerate
 * clock skew between the host and its clients.
 *
 * Write order makes a crash harmless: each key is written before its certificate, and a
 * certificate without a matching key is treated as missing on the next call.
 */
#include "auth/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "auth/keyfile.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"

#define TLS_CA_CN "rpd local CA"
#define TLS_SERVER_CN "localhost"
#define TLS_SERIAL_BYTES 16
#define TLS_BACKDATE_SEC (-3600L)

RP_DEFINE_CLEANUP(X509, X509_free)
RP_DEFINE_CLEANUP(GENERAL_NAMES, GENERAL_NAMES_free)
RP_DEFINE_CLEANUP(GENERAL_NAME, GENERAL_NAME_free)
RP_DEFINE_CLEANUP(ASN1_OCTET_STRING, ASN1_OCTET_STRING_free)
RP_DEFINE_CLEANUP(X509_EXTENSION, X509_EXTENSION_free)
RP_DEFINE_CLEANUP(BIGNUM, BN_free)

/* Set *ret_error (if wanted and not yet set) to a formatted message; return r. */
static int tls_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int tls_error(char **ret_error, int r, const char *fmt, ...)
{
        if (ret_error && !*ret_error) {
                va_list ap;
                va_start(ap, fmt);
                *ret_error = rp_vasprintf(fmt, ap);
                va_end(ap);
        }
        ERR_clear_error();
        return r;
}

/* ---- names ------------------------------------------------------------------------------ */

/* A DNS name we are willing to put in a certificate: LDH labels of 1..63 characters, an
 * optional leading "*." wildcard, a last label that is not all digits. Upper case is folded to
 * lower case in place. */
static bool dns_name_valid(char *s)
{
        size_t len = strlen(s);
        if (len == 0 || len > RP_TLS_MAX_DNS_NAME)
                return false;
        char *p = s;
        if (p[0] == '*' && p[1] == '.')
                p += 2;
        size_t label = 0;
        for (; *p; p++) {
                if (*p == '.') {
                        if (label == 0 || p[-1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
                bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                          (*p == '-' && label > 0);
                if (!ok || ++label > 63)
                        return false;
        }
        if (label == 0 || p[-1] == '-')
                return false;
        /* An all-numeric last label is no host name but a mistyped address ("10.0.0.256"). */
        return strspn(p - label, "0123456789") < label;
}

/* Turn one name into a GENERAL_NAME: an IPv4/IPv6 literal (strictly, by inet_pton) becomes an
 * iPAddress, anything else must be a valid DNS name. */
static int general_name_new(const char *name, GENERAL_NAME **ret)
{
        unsigned char ip[16];
        int ip_len = 0;
        if (inet_pton(AF_INET, name, ip) == 1)
                ip_len = 4;
        else if (inet_pton(AF_INET6, name, ip) == 1)
                ip_len = 16;

        _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *gn = GENERAL_NAME_new();
        if (!gn)
                return -ENOMEM;
        if (ip_len > 0) {
                _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
                if (!os || ASN1_OCTET_STRING_set(os, ip, ip_len) != 1)
                        return -ENOMEM;
                GENERAL_NAME_set0_value(gn, GEN_IPADD, TAKE_PTR(os));
        } else {
                _cleanup_free_ char *dns = rp_strdup(name);
                if (!dns)
                        return -ENOMEM;
                if (!dns_name_valid(dns))
                        return -EINVAL;
                ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
                if (!ia5)
                        return -ENOMEM;
                if (ASN1_STRING_set(ia5, dns, (int)strlen(dns)) != 1) {
                        ASN1_IA5STRING_free(ia5);
                        return -ENOMEM;
                }
                GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
        }
        *ret = TAKE_PTR(gn);
        return 0;
}

/* The server's names: the fixed local ones, then @extra, without duplicates. */
static int sans_build(const char *const *extra, GENERAL_NAMES **ret, char **ret_error)
{
        static const char *const fixed[] = { "127.0.0.1", "::1", TLS_SERVER_CN };
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *names = GENERAL_NAMES_new();
        if (!names)
                return -ENOMEM;
        size_t n_extra = 0;
        while (extra && extra[n_extra])
                n_extra++;
        for (size_t i = 0; i < ELEMENTSOF(fixed) + n_extra; i++) {
                const char *s = i < ELEMENTSOF(fixed) ? fixed[i] : extra[i - ELEMENTSOF(fixed)];
                _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *gn = NULL;
                int r = general_name_new(s, &gn);
                if (r == -EINVAL)
                        return tls_error(ret_error, r,
                                         "'%s' is neither an IP address nor a valid DNS name", s);
                if (r < 0)
                        return r;
                bool dup = false;
                for (int j = 0; j < sk_GENERAL_NAME_num(names) && !dup; j++)
                        dup = GENERAL_NAME_cmp(sk_GENERAL_NAME_value(names, j), gn) == 0;
                if (dup)
                        continue;
                if (sk_GENERAL_NAME_push(names, gn) <= 0)
                        return -ENOMEM;
                gn = NULL;
        }
        *ret = TAKE_PTR(names);
        return 0;
}

/* ---- certificates ----------------------------------------------------------------------- */

/* Add one extension given in openssl.cnf syntax, with @issuer for authorityKeyIdentifier. */
static int ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext =
                X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext || X509_add_ext(x, ext, -1) != 1)
                return -EIO;
        return 0;
}

/* A v3 certificate skeleton: random serial, validity, subject CN=@cn, public key of @key. */
static int cert_start(EVP_PKEY *key, const char *cn, long days, X509 **ret)
{
        uint8_t serial[TLS_SERIAL_BYTES];
        int r = rp_random_bytes(serial, sizeof serial);
        if (r < 0)
                return r;
        serial[0] |= 0x01; /* never zero; BN_bin2bn is unsigned, so the serial is positive */

        _cleanup_(X509_freep) X509 *x = X509_new();
        _cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
        if (!x || !bn)
                return -ENOMEM;
        ASN1_INTEGER *sn = X509_get_serialNumber(x);
        if (X509_set_version(x, X509_VERSION_3) != 1 || !BN_to_ASN1_INTEGER(bn, sn) ||
            !X509_gmtime_adj(X509_getm_notBefore(x), TLS_BACKDATE_SEC) ||
            !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL))
                return -EIO;
        X509_NAME *name = X509_get_subject_name(x);
        if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                       0) != 1 ||
            X509_set_pubkey(x, key) != 1)
                return -EIO;
        *ret = TAKE_PTR(x);
        return 0;
}

static int ca_create(EVP_PKEY **ret_key, X509 **ret_cert)
{
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!key)
                return -EIO;
        _cleanup_(X509_freep) X509 *x = NULL;
        int r = cert_start(key, TLS_CA_CN, RP_TLS_CA_DAYS, &x);
        if (r < 0)
                return r;
        if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1)
                return -EIO;
        /* subjectKeyIdentifier first: the self-referencing authorityKeyIdentifier copies it. */
        r = ext_add(x, x, NID_basic_constraints, "critical,CA:TRUE");
        if (r >= 0)
                r = ext_add(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
        if (r >= 0)
                r = ext_add(x, x, NID_subject_key_identifier, "hash");
        if (r >= 0)
                r = ext_add(x, x, NID_authority_key_identifier, "keyid:always");
        if (r < 0)
                return r;
        if (X509_sign(x, key, EVP_sha256()) <= 0)
                return -EIO;
        *ret_key = TAKE_PTR(key);
        *ret_cert = TAKE_PTR(x);
        return 0;
}

static int server_create(EVP_PKEY *ca_key, X509 *ca, GENERAL_NAMES *sans, EVP_PKEY **ret_key,
                         X509 **ret_cert)
{
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!key)
                return -EIO;
        _cleanup_(X509_freep) X509 *x = NULL;
        int r = cert_start(key, TLS_SERVER_CN, RP_TLS_SERVER_DAYS, &x);
        if (r < 0)
                return r;
        if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1)
                return -EIO;
        r = ext_add(x, ca, NID_basic_constraints, "critical,CA:FALSE");
        if (r >= 0)
                r = ext_add(x, ca, NID_key_usage, "critical,digitalSignature");
        if (r >= 0)
                r = ext_add(x, ca, NID_ext_key_usage, "serverAuth");
        if (r >= 0)
                r = ext_add(x, ca, NID_subject_key_identifier, "hash");
        if (r >= 0)
                r = ext_add(x, ca, NID_authority_key_identifier, "keyid:always");
        if (r < 0)
                return r;
        /* Names are added from the structure, not from a string, so that nothing in an
         * operator-supplied name can inject further names. */
        if (X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT) != 1)
                return -EIO;
        if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
                return -EIO;
        *ret_key = TAKE_PTR(key);
        *ret_cert = TAKE_PTR(x);
        return 0;
}

/* Read the first certificate of a PEM file. -ENOENT, -EBADMSG, -errno. */
static int cert_read(const char *path, X509 **ret)
{
        _cleanup_free_ char *pem = NULL;
        long n = rp_read_file(path, RP_MAX_SMALL_FILE, &pem);
        if (n < 0)
                return (int)n;
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, (int)n);
        if (!bio)
                return -ENOMEM;
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = x;
        return 0;
}

/* Write the certificates (a NULL-terminated list) as one PEM file. */
static int certs_write(const char *path, X509 *const *certs)
{
        _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        for (; *certs; certs++)
                if (PEM_write_bio_X509(bio, *certs) != 1)
                        return -EIO;
        return rp_auth__bio_write(path, bio, RP_AUTH_PUBLIC_MODE);
}

static bool cert_has_name(X509 *x, const GENERAL_NAME *want)
{
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *have =
                X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        for (int i = 0; have && i < sk_GENERAL_NAME_num(have); i++)
                if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(have, i), (GENERAL_NAME *)want) == 0)
                        return true;
        return false;
}

/* Is the existing server pair good to keep? Any doubt means "reissue". */
static bool server_usable(const char *cert_path, const char *key_path, X509 *ca,
                          GENERAL_NAMES *sans)
{
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        if (cert_read(cert_path, &x) < 0 || rp_auth__key_read(key_path, &key) < 0)
                return false;
        bool ok = X509_check_private_key(x, key) == 1 && X509_check_issued(ca, x) == X509_V_OK &&
                  X509_verify(x, X509_get0_pubkey(ca)) == 1;
        time_t renew = time(NULL) + (time_t)RP_TLS_SERVER_RENEW_DAYS * 24 * 3600;
        ok = ok && X509_cmp_time(X509_get0_notAfter(x), &renew) > 0;
        for (int i = 0; ok && i < sk_GENERAL_NAME_num(sans); i++)
                ok = cert_has_name(x, sk_GENERAL_NAME_value(sans, i));
        ERR_clear_error();
        return ok;
}

/* Load the CA pair. -ENOENT when either half is missing (a new CA is due), -EBADMSG when the
 * files exist but are not a matching certificate and key. */
static int ca_load(const char *cert_path, const char *key_path, EVP_PKEY **ret_key, X509 **ret_cert)
{
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r = cert_read(cert_path, &x);
        int rk = rp_auth__key_read(key_path, &key);
        if (r == -ENOENT || rk == -ENOENT)
                return -ENOENT;
        if (r < 0)
                return r;
        if (rk < 0)
                return rk;
        if (X509_check_private_key(x, key) != 1) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret_key = TAKE_PTR(key);
        *ret_cert = TAKE_PTR(x);
        return 0;
}

/* ---- entry point ------------------------------------------------------------------------ */

/* The work of rp_tls_ensure(); *err gets a message for most failures. */
static int tls_ensure(const char *tls_dir, const char *const *extra_sans, char **err)
{
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *sans = NULL;
        int r = sans_build(extra_sans, &sans, err);
        if (r < 0)
                return r;

        _cleanup_close_ int lock_fd = -1;
        r = rp_auth__lock_dir(tls_dir, &lock_fd);
        if (r < 0) {
                errno = -r;
                return tls_error(err, r, "cannot create or lock '%s': %m", tls_dir);
        }

        _cleanup_free_ char *ca_cert_path = rp_asprintf("%s/%s", tls_dir, RP_TLS_CA_CERT);
        _cleanup_free_ char *ca_key_path = rp_asprintf("%s/%s", tls_dir, RP_TLS_CA_KEY);
        _cleanup_free_ char *srv_cert_path = rp_asprintf("%s/%s", tls_dir, RP_TLS_SERVER_CERT);
        _cleanup_free_ char *srv_key_path = rp_asprintf("%s/%s", tls_dir, RP_TLS_SERVER_KEY);
        if (!ca_cert_path || !ca_key_path || !srv_cert_path || !srv_key_path)
                return -ENOMEM;

        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = NULL;
        _cleanup_(X509_freep) X509 *ca = NULL;
        bool new_ca = false;
        r = ca_load(ca_cert_path, ca_key_path, &ca_key, &ca);
        if (r == -ENOENT) {
                r = ca_create(&ca_key, &ca);
                if (r < 0)
                        return tls_error(err, r, "cannot create the CA certificate: %s",
                                         rp_auth__crypto_error());
                new_ca = true;
        } else if (r < 0) {
                errno = -r;
                return tls_error(err, r,
                                 "'%s' and '%s' are not a readable, matching certificate and "
                                 "key; fix or remove both (clients must then trust the new CA): "
                                 "%m",
                                 ca_cert_path, ca_key_path);
        }

        if (!new_ca && server_usable(srv_cert_path, srv_key_path, ca, sans))
                return 0;

        _cleanup_(EVP_PKEY_freep) EVP_PKEY *srv_key = NULL;
        _cleanup_(X509_freep) X509 *srv = NULL;
        r = server_create(ca_key, ca, sans, &srv_key, &srv);
        if (r < 0)
                return tls_error(err, r, "cannot create the server certificate: %s",
                                 rp_auth__crypto_error());

        if (new_ca) {
                X509 *const ca_only[] = { ca, NULL };
                r = rp_auth__key_write(ca_key_path, ca_key);
                if (r >= 0)
                        r = certs_write(ca_cert_path, ca_only);
                if (r < 0) {
                        errno = -r;
                        return tls_error(err, r, "cannot write the CA to '%s': %m", tls_dir);
                }
        }
        X509 *const chain[] = { srv, ca, NULL };
        r = rp_auth__key_write(srv_key_path, srv_key);
        if (r >= 0)
                r = certs_write(srv_cert_path, chain);
        if (r < 0) {
                errno = -r;
                return tls_error(err, r, "cannot write the server certificate to '%s': %m",
                                 tls_dir);
        }
        return 0;
}

int rp_tls_ensure(const char *tls_dir, const char *const *extra_sans, char **ret_error)
{
        _cleanup_free_ char *err = NULL;
        int r = tls_ensure(tls_dir, extra_sans, &err);
        ERR_clear_error();
        if (r >= 0)
                return 0;
        if (!err) {
                errno = -r;
                err = rp_asprintf("cannot set up TLS certificates in '%s': %m", tls_dir);
        }
        if (ret_error)
                *ret_error = TAKE_PTR(err);
        return r;
}
