#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "macro.h"

int rp_mkdir_p(const char *path, mode_t mode)
{
        if (!*path)
                return -ENOENT; /* as mkdir(""); also keeps the walk below inside the string */
        _cleanup_free_ char *p = rp_strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0) {
                if (errno != EEXIST)
                        return -errno;
                /* EEXIST is only success if what exists is a directory (or a link to one). */
                struct stat st;
                if (stat(p, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }
        return 0;
}

int rp_fsync_dir(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int rp_fsync_parent(const char *path)
{
        _cleanup_free_ char *d = rp_strdup(path);
        if (!d)
                return -ENOMEM;
        char *slash = strrchr(d, '/');
        if (!slash)
                return rp_fsync_dir(".");
        if (slash == d)
                slash[1] = '\0';
        else
                *slash = '\0';
        return rp_fsync_dir(d);
}

int rp_pwrite_all(int fd, const void *data, size_t len, off_t off)
{
        const char *p = data;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
                off += n;
        }
        return 0;
}

int rp_pread_full(int fd, void *data, size_t len, off_t off)
{
        char *p = data;
        while (len > 0) {
                ssize_t n = pread(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0) {
                        memset(p, 0, len);
                        return 0;
                }
                p += n;
                len -= (size_t)n;
                off += n;
        }
        return 0;
}

int rp_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        _cleanup_free_ char *tmp = rp_asprintf("%s.tmp.%d", path, (int)getpid());
        if (!tmp)
                return -ENOMEM;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        int r = rp_pwrite_all(fd, data, len, 0);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        return rp_fsync_parent(path);
}

long rp_read_file(const char *path, size_t max, char **ret_data)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((size_t)st.st_size > max)
                return -E2BIG;
        _cleanup_free_ char *d = rp_malloc((size_t)st.st_size + 1);
        if (!d)
                return -ENOMEM;
        size_t got = 0;
        while (got < (size_t)st.st_size) {
                ssize_t n = read(fd, d + got, (size_t)st.st_size - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        d[got] = '\0';
        *ret_data = TAKE_PTR(d);
        return (long)got;
}
