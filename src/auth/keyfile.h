/* keyfile.h: module-private helpers of src/auth shared by tls.c and token.c (not for other
 * modules): directory locks, private key files and libcrypto error text. */
#pragma once
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <sys/types.h>

#include "util/macro.h"

/** Mode of every directory src/auth creates. */
#define RP_AUTH_DIR_MODE 0700
/** Mode of private key files. */
#define RP_AUTH_KEY_MODE 0600
/** Mode of public files (certificates, the tenant id). */
#define RP_AUTH_PUBLIC_MODE 0644

/**
 * Create @p dir (mode 0700) if missing and take an exclusive flock on it, so that two processes
 * (rpd and rpctl) setting up the same directory do not interleave.
 * @param[out] ret_fd the locked directory; close() it to unlock (_cleanup_close_).
 * @return 0 or -errno.
 */
int rp_auth__lock_dir(const char *dir, int *ret_fd);

/**
 * Read a PEM private key (any format libcrypto reads, never prompting for a passphrase).
 * @param[out] ret_key the key, to free with EVP_PKEY_free().
 * @return 0, -ENOENT (no file), -EBADMSG (not a key), -E2BIG, or -errno.
 */
int rp_auth__key_read(const char *path, EVP_PKEY **ret_key);

/**
 * Write @p key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"), atomically, mode 0600.
 * @return 0, -EIO (libcrypto), -ENOMEM or -errno.
 */
int rp_auth__key_write(const char *path, EVP_PKEY *key);

/**
 * Write the PEM text of a memory BIO to @p path atomically with @p mode.
 * @return 0, -EIO or -errno.
 */
int rp_auth__bio_write(const char *path, BIO *bio, mode_t mode);

/**
 * The reason of the most recent libcrypto error of this thread, for messages. Clears the
 * thread's error queue.
 * @return a static string, never NULL.
 */
const char *rp_auth__crypto_error(void);

/** rp_free() a string holding secret material after overwriting it. */
void rp_auth__erase_freep(char **p);

RP_DEFINE_CLEANUP(EVP_PKEY, EVP_PKEY_free)
RP_DEFINE_CLEANUP(EVP_MD_CTX, EVP_MD_CTX_free)
RP_DEFINE_CLEANUP(BIO, BIO_free)
