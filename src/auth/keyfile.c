/* keyfile.c: private key files and directory locks for src/auth. */
#include "auth/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"

int rp_auth__lock_dir(const char *dir, int *ret_fd)
{
        int r = rp_mkdir_p(dir, RP_AUTH_DIR_MODE);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

void rp_auth__erase_freep(char **p)
{
        if (!*p)
                return;
        OPENSSL_cleanse(*p, strlen(*p));
        *p = rp_free(*p);
}

/* Never let libcrypto ask for a passphrase on the terminal: an encrypted key is an error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
        return 0;
}

int rp_auth__key_read(const char *path, EVP_PKEY **ret_key)
{
        _cleanup_(rp_auth__erase_freep) char *pem = NULL;
        long n = rp_read_file(path, RP_MAX_SMALL_FILE, &pem);
        if (n < 0)
                return (int)n;
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, (int)n);
        if (!bio)
                return -ENOMEM;
        EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        if (!key) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret_key = key;
        return 0;
}

int rp_auth__bio_write(const char *path, BIO *bio, mode_t mode)
{
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n <= 0 || !data)
                return -EIO;
        return rp_write_file_atomic(path, data, (size_t)n, mode);
}

int rp_auth__key_write(const char *path, EVP_PKEY *key)
{
        /* secmem keeps the key text out of swap and wipes it on free. */
        _cleanup_(BIO_freep) BIO *bio = BIO_new(BIO_s_secmem());
        if (!bio)
                return -ENOMEM;
        /* PEM_write_bio_PrivateKey() writes PKCS#8 in OpenSSL 3, which GnuTLS also reads. */
        if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
                return -EIO;
        return rp_auth__bio_write(path, bio, RP_AUTH_KEY_MODE);
}

const char *rp_auth__crypto_error(void)
{
        unsigned long e = ERR_peek_last_error();
        const char *s = e ? ERR_reason_error_string(e) : NULL;
        ERR_clear_error();
        return s ? s : "unknown libcrypto error";
}
