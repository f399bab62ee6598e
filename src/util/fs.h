/* fs.h: durable file helpers (write temp, fsync, rename, fsync dir). */
#pragma once
#include <stddef.h>
#include <sys/types.h>

/** mkdir -p with @p mode for created directories. @return 0 or -errno. */
int rp_mkdir_p(const char *path, mode_t mode);
/** fsync the directory @p path. @return 0 or -errno. */
int rp_fsync_dir(const char *path);
/** fsync the directory that holds @p path. @return 0 or -errno. */
int rp_fsync_parent(const char *path);
/** Atomically replace @p path with @p len bytes: temp file, fsync, rename, fsync dir. @return 0 or -errno. */
int rp_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/** Read a whole file of at most @p max bytes. @param[out] ret_data NUL-terminated, rp_free() it.
 *  @return the length, -E2BIG if larger, or -errno. */
long rp_read_file(const char *path, size_t max, char **ret_data);
/** Write all of @p len bytes at @p off (retrying short writes). @return 0 or -errno. */
int rp_pwrite_all(int fd, const void *data, size_t len, off_t off);
/** Read exactly @p len bytes at @p off; bytes past EOF read as zeros. @return 0 or -errno. */
int rp_pread_full(int fd, void *data, size_t len, off_t off);
