/* tls.h: the daemon's local PKI: a self-signed CA and a server certificate it signs. */
#pragma once

/** File names inside the TLS directory. */
#define RP_TLS_CA_CERT "ca.pem"
#define RP_TLS_CA_KEY "ca.key"
#define RP_TLS_SERVER_CERT "server.pem"
#define RP_TLS_SERVER_KEY "server.key"

/** Validity of the CA certificate, in days (10 years). */
#define RP_TLS_CA_DAYS 3650
/** Validity of the server certificate, in days (the CA/Browser Forum maximum clients accept). */
#define RP_TLS_SERVER_DAYS 825
/** A server certificate that expires within this many days is reissued by rp_tls_ensure(). */
#define RP_TLS_SERVER_RENEW_DAYS 30
/** Longest DNS name accepted as an extra subject alternative name. */
#define RP_TLS_MAX_DNS_NAME 253

/**
 * Make sure @p tls_dir holds a usable CA and server certificate, creating what is missing.
 *
 * The directory is created with mode 0700. It ends up holding ca.pem and ca.key (a self-signed
 * EC P-256 CA, "rpd local CA"), server.pem (the server certificate followed by the CA
 * certificate) and server.key (EC P-256). Keys are PKCS#8 PEM, mode 0600; every file is
 * written atomically. Existing files are kept, so clients that trust ca.pem go on working,
 * with these exceptions:
 *  - a missing or unreadable CA pair makes a new CA and therefore a new server certificate;
 *  - a server certificate that is missing, not signed by the CA, expires within
 *    RP_TLS_SERVER_RENEW_DAYS or lacks one of the requested names is reissued by the same CA.
 * The server certificate has CN=localhost and the names IP:127.0.0.1, IP:::1, DNS:localhost,
 * plus @p extra_sans. Concurrent callers on the same directory serialise on a lock.
 *
 * @param tls_dir the directory to use.
 * @param extra_sans NULL, or a NULL-terminated list of extra names: an IPv4 or IPv6 literal
 *        becomes an IP name, anything else must be a DNS name (letters, digits, '-', '.', a
 *        leading "*." wildcard, and a last label that is not all digits).
 * @param[out] ret_error on failure, a message for the operator to rp_free(); untouched on
 *        success. May be NULL.
 * @return 0, -EINVAL (a bad extra name), -ENOMEM, -EIO (a libcrypto failure), or the -errno of
 *         a file system operation.
 */
int rp_tls_ensure(const char *tls_dir, const char *const *extra_sans, char **ret_error);
