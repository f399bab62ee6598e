/* test_auth_tls.c: the local CA and server certificate of rp_tls_ensure(). */
#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/tls.h"
#include "auth_test.h"
#include "util/macro.h"

static const char *const key_files[] = { RP_TLS_CA_KEY, RP_TLS_SERVER_KEY };
static const char *const all_files[] = { RP_TLS_CA_CERT, RP_TLS_CA_KEY, RP_TLS_SERVER_CERT,
                                         RP_TLS_SERVER_KEY };

/* Per test: a temp dir and, inside it, the (not yet existing) TLS dir. */
typedef struct fixture {
        char *base;
        char *tls;
} fixture;

static int setup(void **state)
{
        fixture *f = rp_calloc(1, sizeof *f);
        assert_non_null(f);
        f->base = auth_test_mkdtemp();
        assert_non_null(f->base);
        f->tls = auth_test_path(f->base, "nested/tls");
        assert_non_null(f->tls);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        auth_test_rm_rf(f->base);
        rp_free(f->base);
        rp_free(f->tls);
        rp_free(f);
        return 0;
}

static void ensure_ok(const char *dir, const char *const *extra)
{
        char *err = NULL;
        int r = rp_tls_ensure(dir, extra, &err);
        if (r < 0)
                print_error("rp_tls_ensure: %d %s\n", r, rp_strempty(err));
        assert_int_equal(r, 0);
        assert_null(err);
}

static X509 *cert_load(const char *dir, const char *name)
{
        _cleanup_free_ char *pem = auth_test_read(dir, name);
        assert_non_null(pem);
        BIO *bio = BIO_new_mem_buf(pem, -1);
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_non_null(x);
        return x;
}

/* All certificates of a PEM file. */
static STACK_OF(X509) * chain_load(const char *dir, const char *name)
{
        _cleanup_free_ char *pem = auth_test_read(dir, name);
        assert_non_null(pem);
        BIO *bio = BIO_new_mem_buf(pem, -1);
        STACK_OF(X509) *sk = sk_X509_new_null();
        X509 *x;
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
                sk_X509_push(sk, x);
        ERR_clear_error();
        BIO_free(bio);
        return sk;
}

static EVP_PKEY *key_load(const char *dir, const char *name)
{
        _cleanup_free_ char *pem = auth_test_read(dir, name);
        assert_non_null(pem);
        BIO *bio = BIO_new_mem_buf(pem, -1);
        EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_non_null(k);
        return k;
}

/* X509_verify_cert of the server chain against ca.pem alone, in strict mode, for TLS servers. */
static int verify_server(const char *dir)
{
        X509 *ca = cert_load(dir, RP_TLS_CA_CERT);
        STACK_OF(X509) *chain = chain_load(dir, RP_TLS_SERVER_CERT);
        assert_true(sk_X509_num(chain) >= 1);
        X509_STORE *store = X509_STORE_new();
        assert_int_equal(X509_STORE_add_cert(store, ca), 1);
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        assert_int_equal(X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), chain), 1);
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
        assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
        int ok = X509_verify_cert(ctx);
        if (ok != 1)
                print_error("verify: %s\n",
                            X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        X509_free(ca);
        sk_X509_pop_free(chain, X509_free);
        ERR_clear_error();
        return ok;
}

static void test_auth_tls__creates_files(void **state)
{
        fixture *f = *state;
        ensure_ok(f->tls, NULL);

        struct stat st;
        assert_int_equal(stat(f->tls, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        for (size_t i = 0; i < ELEMENTSOF(all_files); i++) {
                _cleanup_free_ char *p = auth_test_path(f->tls, all_files[i]);
                assert_int_equal(stat(p, &st), 0);
                assert_true(S_ISREG(st.st_mode));
                assert_int_equal(st.st_mode & 0077 & ~0044, 0); /* never writable by others */
        }
        for (size_t i = 0; i < ELEMENTSOF(key_files); i++) {
                _cleanup_free_ char *p = auth_test_path(f->tls, key_files[i]);
                assert_int_equal(stat(p, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0600);
                _cleanup_free_ char *pem = auth_test_read(f->tls, key_files[i]);
                /* PKCS#8, the form GnuTLS (libmicrohttpd) loads */
                assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
                assert_null(strstr(pem, "EC PRIVATE KEY"));
        }
        /* nothing else, no temp files left behind */
        DIR *d = opendir(f->tls);
        assert_non_null(d);
        size_t n = 0;
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] != '.';
        closedir(d);
        assert_int_equal(n, ELEMENTSOF(all_files));

        STACK_OF(X509) *chain = chain_load(f->tls, RP_TLS_SERVER_CERT);
        assert_int_equal(sk_X509_num(chain), 2);
        X509 *ca = cert_load(f->tls, RP_TLS_CA_CERT);
        assert_int_equal(X509_cmp(sk_X509_value(chain, 1), ca), 0);
        X509_free(ca);
        sk_X509_pop_free(chain, X509_free);
}

static void test_auth_tls__second_call_keeps_files(void **state)
{
        fixture *f = *state;
        ensure_ok(f->tls, NULL);
        char *before[ELEMENTSOF(all_files)];
        ino_t ino[ELEMENTSOF(all_files)];
        for (size_t i = 0; i < ELEMENTSOF(all_files); i++) {
                before[i] = auth_test_read(f->tls, all_files[i]);
                assert_non_null(before[i]);
                _cleanup_free_ char *p = auth_test_path(f->tls, all_files[i]);
                struct stat st;
                assert_int_equal(stat(p, &st), 0);
                ino[i] = st.st_ino;
        }
        ensure_ok(f->tls, NULL);
        const char *const same[] = { "localhost", "127.0.0.1", NULL }; /* already present */
        ensure_ok(f->tls, same);
        for (size_t i = 0; i < ELEMENTSOF(all_files); i++) {
                _cleanup_free_ char *after = auth_test_read(f->tls, all_files[i]);
                assert_string_equal(before[i], after);
                _cleanup_free_ char *p = auth_test_path(f->tls, all_files[i]);
                struct stat st;
                assert_int_equal(stat(p, &st), 0);
                assert_true(st.st_ino == ino[i]); /* not even rewritten */
                rp_free(before[i]);
        }
}

static void test_auth_tls__server_cert_verifies(void **state)
{
        fixture *f = *state;
        ensure_ok(f->tls, NULL);
        assert_int_equal(verify_server(f->tls), 1);

        X509 *ca = cert_load(f->tls, RP_TLS_CA_CERT);
        X509 *srv = cert_load(f->tls, RP_TLS_SERVER_CERT);
        EVP_PKEY *srv_key = key_load(f->tls, RP_TLS_SERVER_KEY);
        EVP_PKEY *ca_key = key_load(f->tls, RP_TLS_CA_KEY);

        /* CA: self-signed, CA:TRUE, may sign certificates, "rpd local CA" */
        assert_int_equal(X509_check_ca(ca), 1);
        assert_int_equal(X509_check_issued(ca, ca), X509_V_OK);
        assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
        assert_non_null(X509_get0_subject_key_id(ca));
        char cn[64];
        assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn,
                                              sizeof cn) > 0);
        assert_string_equal(cn, "rpd local CA");
        assert_int_equal(X509_check_private_key(ca, ca_key), 1);

        /* server: CN=localhost, leaf, serverAuth, EC P-256, matching key, issued by the CA */
        assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(srv), NID_commonName, cn,
                                              sizeof cn) > 0);
        assert_string_equal(cn, "localhost");
        assert_int_equal(X509_check_ca(srv), 0);
        assert_int_equal(X509_check_issued(ca, srv), X509_V_OK);
        assert_true(X509_get_extended_key_usage(srv) & XKU_SSL_SERVER);
        assert_true(X509_get_key_usage(srv) & KU_DIGITAL_SIGNATURE);
        assert_non_null(X509_get0_authority_key_id(srv));
        assert_int_equal(X509_check_private_key(srv, srv_key), 1);
        assert_true(EVP_PKEY_is_a(srv_key, "EC"));
        assert_int_equal(EVP_PKEY_get_bits(srv_key), 256);

        /* names: the local ones, and nothing else */
        assert_int_equal(
                X509_check_host(srv, "localhost", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
        assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
        assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
        assert_int_equal(X509_check_ip_asc(srv, "10.0.0.1", 0), 0);
        assert_int_equal(X509_check_host(srv, "example.com", 0, 0, NULL), 0);

        /* validity: about 825 days from now, already valid */
        time_t now = time(NULL);
        time_t lo = now + (time_t)(RP_TLS_SERVER_DAYS - 1) * 86400;
        time_t hi = now + (time_t)(RP_TLS_SERVER_DAYS + 1) * 86400;
        assert_true(X509_cmp_time(X509_get0_notAfter(srv), &lo) > 0);
        assert_true(X509_cmp_time(X509_get0_notAfter(srv), &hi) < 0);
        assert_true(X509_cmp_time(X509_get0_notBefore(srv), &now) < 0);
        lo = now + (time_t)(RP_TLS_CA_DAYS - 1) * 86400;
        assert_true(X509_cmp_time(X509_get0_notAfter(ca), &lo) > 0);

        /* serials: positive, random, distinct */
        const ASN1_INTEGER *s1 = X509_get0_serialNumber(ca), *s2 = X509_get0_serialNumber(srv);
        assert_int_equal(ASN1_STRING_type(s1), V_ASN1_INTEGER);
        assert_true(ASN1_STRING_length(s2) >= 15 && ASN1_STRING_length(s2) <= 16);
        assert_int_not_equal(ASN1_INTEGER_cmp(s1, s2), 0);

        EVP_PKEY_free(ca_key);
        EVP_PKEY_free(srv_key);
        X509_free(srv);
        X509_free(ca);
}

static void test_auth_tls__extra_sans(void **state)
{
        fixture *f = *state;
        const char *const extra[] = { "RPD.Example.com", "10.0.0.5", "fd00::5", "*.rpd.test",
                                      NULL };
        ensure_ok(f->tls, extra);
        assert_int_equal(verify_server(f->tls), 1);
        X509 *srv = cert_load(f->tls, RP_TLS_SERVER_CERT);
        assert_int_equal(X509_check_host(srv, "rpd.example.com", 0, 0, NULL), 1);
        assert_int_equal(X509_check_host(srv, "a.rpd.test", 0, 0, NULL), 1);
        assert_int_equal(X509_check_ip_asc(srv, "10.0.0.5", 0), 1);
        assert_int_equal(X509_check_ip_asc(srv, "fd00:0::5", 0), 1);
        assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
        assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
        /* an IP literal is not a DNS name */
        assert_int_equal(
                X509_check_host(srv, "10.0.0.5", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 0);
        X509_free(srv);
}

static void test_auth_tls__new_san_reissues_server_only(void **state)
{
        fixture *f = *state;
        ensure_ok(f->tls, NULL);
        _cleanup_free_ char *ca = auth_test_read(f->tls, RP_TLS_CA_CERT);
        _cleanup_free_ char *ca_key = auth_test_read(f->tls, RP_TLS_CA_KEY);
        _cleanup_free_ char *srv = auth_test_read(f->tls, RP_TLS_SERVER_CERT);

        const char *const extra[] = { "192.0.2.7", NULL };
        ensure_ok(f->tls, extra);
        _cleanup_free_ char *ca2 = auth_test_read(f->tls, RP_TLS_CA_CERT);
        _cleanup_free_ char *ca_key2 = auth_test_read(f->tls, RP_TLS_CA_KEY);
        _cleanup_free_ char *srv2 = auth_test_read(f->tls, RP_TLS_SERVER_CERT);
        assert_string_equal(ca, ca2);
        assert_string_equal(ca_key, ca_key2);
        assert_string_not_equal(srv, srv2);
        assert_int_equal(verify_server(f->tls), 1);
        X509 *x = cert_load(f->tls, RP_TLS_SERVER_CERT);
        assert_int_equal(X509_check_ip_asc(x, "192.0.2.7", 0), 1);
        X509_free(x);
}

static void test_auth_tls__bad_san_rejected(void **state)
{
        fixture *f = *state;
        static const char *const bad[] = { "",       "bad name", "a..b",         "-a.com",
                                           "a-.com", "a.com.",   "a_b.com",      "1.2.3.256",
                                           "[::1]",  "a.*.com",  "x,IP:1.2.3.4", "10.0.0" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *const extra[] = { "ok.example", bad[i], NULL };
                char *err = NULL;
                assert_int_equal(rp_tls_ensure(f->tls, extra, &err), -EINVAL);
                assert_non_null(err);
                assert_non_null(strstr(err, bad[i]));
                rp_free(err);
        }
        /* checked before anything is created */
        struct stat st;
        assert_int_equal(stat(f->tls, &st), -1);
        /* a NULL ret_error is allowed */
        const char *const extra[] = { "bad name", NULL };
        assert_int_equal(rp_tls_ensure(f->tls, extra, NULL), -EINVAL);
}

static void test_auth_tls__damaged_ca_is_an_error(void **state)
{
        fixture *f = *state;
        ensure_ok(f->tls, NULL);
        assert_int_equal(auth_test_write(f->tls, RP_TLS_CA_CERT, "garbage\n"), 0);
        char *err = NULL;
        assert_int_equal(rp_tls_ensure(f->tls, NULL, &err), -EBADMSG);
        assert_non_null(err);
        assert_non_null(strstr(err, RP_TLS_CA_CERT));
        rp_free(err);
        _cleanup_free_ char *ca = auth_test_read(f->tls, RP_TLS_CA_CERT);
        assert_string_equal(ca, "garbage\n"); /* left for the operator */

        /* a key that does not match the certificate is just as bad */
        ensure_ok(f->base, NULL); /* another CA, in the base dir */
        _cleanup_free_ char *other_key = auth_test_read(f->base, RP_TLS_CA_KEY);
        auth_test_rm_rf(f->tls);
        ensure_ok(f->tls, NULL);
        assert_int_equal(auth_test_write(f->tls, RP_TLS_CA_KEY, other_key), 0);
        assert_int_equal(rp_tls_ensure(f->tls, NULL, NULL), -EBADMSG);
}

static void test_auth_tls__missing_ca_half_makes_new_ca(void **state)
{
        fixture *f = *state;
        ensure_ok(f->tls, NULL);
        _cleanup_free_ char *ca = auth_test_read(f->tls, RP_TLS_CA_CERT);
        _cleanup_free_ char *key_path = auth_test_path(f->tls, RP_TLS_CA_KEY);
        assert_int_equal(unlink(key_path), 0);
        ensure_ok(f->tls, NULL);
        _cleanup_free_ char *ca2 = auth_test_read(f->tls, RP_TLS_CA_CERT);
        assert_string_not_equal(ca, ca2);
        assert_int_equal(verify_server(f->tls), 1); /* server reissued by the new CA */
}

static void test_auth_tls__damaged_server_is_reissued(void **state)
{
        fixture *f = *state;
        ensure_ok(f->tls, NULL);
        _cleanup_free_ char *ca = auth_test_read(f->tls, RP_TLS_CA_CERT);
        assert_int_equal(auth_test_write(f->tls, RP_TLS_SERVER_KEY, "junk"), 0);
        ensure_ok(f->tls, NULL);
        assert_int_equal(verify_server(f->tls), 1);
        X509 *srv = cert_load(f->tls, RP_TLS_SERVER_CERT);
        EVP_PKEY *k = key_load(f->tls, RP_TLS_SERVER_KEY);
        assert_int_equal(X509_check_private_key(srv, k), 1);
        EVP_PKEY_free(k);
        X509_free(srv);
        _cleanup_free_ char *ca2 = auth_test_read(f->tls, RP_TLS_CA_CERT);
        assert_string_equal(ca, ca2);

        _cleanup_free_ char *srv_path = auth_test_path(f->tls, RP_TLS_SERVER_CERT);
        assert_int_equal(unlink(srv_path), 0);
        ensure_ok(f->tls, NULL);
        assert_int_equal(verify_server(f->tls), 1);
}

static void test_auth_tls__unwritable_dir_fails_with_message(void **state)
{
        fixture *f = *state;
        if (geteuid() == 0)
                skip(); /* root writes anywhere */
        _cleanup_free_ char *ro = auth_test_path(f->base, "ro");
        assert_int_equal(mkdir(ro, 0500), 0);
        _cleanup_free_ char *dir = auth_test_path(ro, "tls");
        char *err = NULL;
        assert_int_equal(rp_tls_ensure(dir, NULL, &err), -EACCES);
        assert_non_null(err);
        rp_free(err);
        chmod(ro, 0700);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
                T(test_auth_tls__creates_files),
                T(test_auth_tls__second_call_keeps_files),
                T(test_auth_tls__server_cert_verifies),
                T(test_auth_tls__extra_sans),
                T(test_auth_tls__new_san_reissues_server_only),
                T(test_auth_tls__bad_san_rejected),
                T(test_auth_tls__damaged_ca_is_an_error),
                T(test_auth_tls__missing_ca_half_makes_new_ca),
                T(test_auth_tls__damaged_server_is_reissued),
                T(test_auth_tls__unwritable_dir_fails_with_message),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
