/* test_util_fs.c: atomic file replacement, capped whole-file reads, mkdir -p, positional I/O. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/fs.h"
#include "util/macro.h"

typedef struct fixture {
        char dir[64];
} fixture;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
        return remove(p);
}

static int setup(void **state)
{
        fixture *f = rp_calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "/tmp/rp-test-fs-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        chmod(f->dir, 0700);
        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        rp_free(f);
        return 0;
}

/* @return "<dir>/<name>", to rp_free(). */
static char *path_in(void **state, const char *name)
{
        fixture *f = *state;
        char *p = rp_asprintf("%s/%s", f->dir, name);
        assert_non_null(p);
        return p;
}

static size_t count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        assert_non_null(d);
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void test_util_fs__write_then_read_round_trip(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *p = path_in(state, "a.txt");
        assert_int_equal(rp_write_file_atomic(p, "hello\n", 6, 0600), 0);
        _cleanup_free_ char *d = NULL;
        assert_int_equal(rp_read_file(p, 100, &d), 6);
        assert_string_equal(d, "hello\n");
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        /* No temp file is left behind. */
        assert_int_equal(count_entries(f->dir), 1);
}

static void test_util_fs__write_replaces_whole_file(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *p = path_in(state, "b");
        assert_int_equal(rp_write_file_atomic(p, "a long first version", 20, 0644), 0);
        assert_int_equal(rp_write_file_atomic(p, "short", 5, 0644), 0);
        _cleanup_free_ char *d = NULL;
        assert_int_equal(rp_read_file(p, 100, &d), 5);
        assert_string_equal(d, "short");
        assert_int_equal(count_entries(f->dir), 1);
}

static void test_util_fs__write_binary_and_empty(void **state)
{
        _cleanup_free_ char *p = path_in(state, "bin");
        uint8_t data[4096];
        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (uint8_t)(i ^ (i >> 8));
        assert_int_equal(rp_write_file_atomic(p, data, sizeof data, 0600), 0);
        _cleanup_free_ char *d = NULL;
        assert_int_equal(rp_read_file(p, sizeof data, &d), (long)sizeof data);
        assert_memory_equal(d, data, sizeof data);
        assert_int_equal(d[sizeof data], '\0'); /* always terminated */

        _cleanup_free_ char *e = path_in(state, "empty");
        assert_int_equal(rp_write_file_atomic(e, "", 0, 0600), 0);
        _cleanup_free_ char *ed = NULL;
        assert_int_equal(rp_read_file(e, 0, &ed), 0);
        assert_non_null(ed);
        assert_string_equal(ed, "");
}

static void test_util_fs__write_into_missing_dir_fails(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *p = path_in(state, "no/such/file");
        assert_int_equal(rp_write_file_atomic(p, "x", 1, 0600), -ENOENT);
        assert_int_equal(count_entries(f->dir), 0);
}

static void test_util_fs__write_failure_leaves_old_file(void **state)
{
        fixture *f = *state;
        if (geteuid() == 0)
                skip(); /* root ignores directory permissions (skip() longjmps: no cleanups yet) */
        _cleanup_free_ char *p = path_in(state, "keep");
        assert_int_equal(rp_write_file_atomic(p, "old", 3, 0600), 0);
        assert_int_equal(chmod(f->dir, 0500), 0);
        assert_int_equal(rp_write_file_atomic(p, "new", 3, 0600), -EACCES);
        assert_int_equal(chmod(f->dir, 0700), 0);
        _cleanup_free_ char *d = NULL;
        assert_int_equal(rp_read_file(p, 10, &d), 3);
        assert_string_equal(d, "old");
}

static void test_util_fs__write_failure_removes_temp(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *d = path_in(state, "adir");
        assert_int_equal(mkdir(d, 0700), 0);
        /* rename() over a directory fails: the temp file must not stay behind. */
        assert_int_equal(rp_write_file_atomic(d, "x", 1, 0600), -EISDIR);
        assert_int_equal(count_entries(f->dir), 1);
        assert_true(count_entries(d) == 0);
}

static void test_util_fs__read_cap_is_e2big(void **state)
{
        _cleanup_free_ char *p = path_in(state, "cap");
        assert_int_equal(rp_write_file_atomic(p, "0123456789", 10, 0600), 0);
        char *d = (char *)0x1; /* untouched on failure */
        assert_int_equal(rp_read_file(p, 9, &d), -E2BIG);
        assert_ptr_equal(d, (char *)0x1);
        assert_int_equal(rp_read_file(p, 0, &d), -E2BIG);
        assert_ptr_equal(d, (char *)0x1);
        _cleanup_free_ char *ok = NULL;
        assert_int_equal(rp_read_file(p, 10, &ok), 10); /* exactly at the cap */
        assert_string_equal(ok, "0123456789");
}

static void test_util_fs__read_errors(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *p = path_in(state, "missing");
        char *d = (char *)0x1;
        assert_int_equal(rp_read_file(p, 10, &d), -ENOENT);
        assert_ptr_equal(d, (char *)0x1);
        long r = rp_read_file(f->dir, 1 << 20, &d); /* a directory is not a file */
        assert_true(r < 0);
        assert_ptr_equal(d, (char *)0x1);

        assert_int_equal(rp_write_file_atomic(p, "abc", 3, 0600), 0);
        rp_alloc_fail_at(1);
        assert_int_equal(rp_read_file(p, 10, &d), -ENOMEM);
        assert_ptr_equal(d, (char *)0x1);
        rp_alloc_fail_at(0);
}

static int is_dir(const char *p)
{
        struct stat st;
        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_util_fs__mkdir_p_creates_parents(void **state)
{
        _cleanup_free_ char *deep = path_in(state, "a/b/c/d");
        _cleanup_free_ char *mid = path_in(state, "a/b");
        assert_int_equal(rp_mkdir_p(deep, 0700), 0);
        assert_true(is_dir(deep));
        assert_true(is_dir(mid));
        struct stat st;
        assert_int_equal(stat(deep, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        /* Existing directories are fine, also with a trailing or doubled slash. */
        assert_int_equal(rp_mkdir_p(deep, 0700), 0);
        _cleanup_free_ char *slash = path_in(state, "a/b/c/d/");
        assert_int_equal(rp_mkdir_p(slash, 0700), 0);
        _cleanup_free_ char *dbl = path_in(state, "a//b//e");
        assert_int_equal(rp_mkdir_p(dbl, 0700), 0);
        _cleanup_free_ char *e = path_in(state, "a/b/e");
        assert_true(is_dir(e));
        assert_int_equal(rp_mkdir_p("/", 0700), 0);
}

static void test_util_fs__mkdir_p_refuses_files(void **state)
{
        _cleanup_free_ char *file = path_in(state, "f");
        assert_int_equal(rp_write_file_atomic(file, "x", 1, 0600), 0);
        /* A file where a parent should be. */
        _cleanup_free_ char *under = path_in(state, "f/sub");
        assert_int_equal(rp_mkdir_p(under, 0700), -ENOTDIR);
        /* A file where the directory itself should be: that is not success. */
        assert_int_equal(rp_mkdir_p(file, 0700), -ENOTDIR);
}

static void test_util_fs__mkdir_p_empty_path(void **state)
{
        assert_int_equal(rp_mkdir_p("", 0700), -ENOENT);
}

static void test_util_fs__mkdir_p_oom(void **state)
{
        _cleanup_free_ char *p = path_in(state, "oom");
        rp_alloc_fail_at(1);
        assert_int_equal(rp_mkdir_p(p, 0700), -ENOMEM);
        assert_false(is_dir(p));
}

static void test_util_fs__pread_past_eof_is_zero(void **state)
{
        _cleanup_free_ char *p = path_in(state, "io");
        _cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(rp_pwrite_all(fd, "abcd", 4, 2), 0);
        char buf[10];
        memset(buf, 'x', sizeof buf);
        assert_int_equal(rp_pread_full(fd, buf, sizeof buf, 0), 0);
        assert_memory_equal(buf, "\0\0abcd\0\0\0\0", 10);
        assert_int_equal(rp_pread_full(fd, buf, 4, 100), 0);
        assert_memory_equal(buf, "\0\0\0\0", 4);
        assert_int_equal(rp_pwrite_all(-1, "a", 1, 0), -EBADF);
        assert_int_equal(rp_pread_full(-1, buf, 1, 0), -EBADF);
}

static void test_util_fs__fsync_helpers(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *p = path_in(state, "x");
        assert_int_equal(rp_fsync_dir(f->dir), 0);
        assert_int_equal(rp_fsync_parent(p), 0);
        assert_int_equal(rp_fsync_parent("relative-name"), 0); /* parent is "." */
        assert_int_equal(rp_fsync_parent("/rootfile"), 0);
        assert_int_equal(rp_fsync_dir(p), -ENOENT);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_util_fs__write_then_read_round_trip),
                T(test_util_fs__write_replaces_whole_file),
                T(test_util_fs__write_binary_and_empty),
                T(test_util_fs__write_into_missing_dir_fails),
                T(test_util_fs__write_failure_leaves_old_file),
                T(test_util_fs__write_failure_removes_temp),
                T(test_util_fs__read_cap_is_e2big),
                T(test_util_fs__read_errors),
                T(test_util_fs__mkdir_p_creates_parents),
                T(test_util_fs__mkdir_p_refuses_files),
                T(test_util_fs__mkdir_p_empty_path),
                T(test_util_fs__mkdir_p_oom),
                T(test_util_fs__pread_past_eof_is_zero),
                T(test_util_fs__fsync_helpers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
