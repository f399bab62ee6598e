/* auth_test.h: temp directory helpers shared by the src/auth unit tests. */
#pragma once
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/fs.h"
#include "util/limits.h"

static int auth_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path) < 0 ? -1 : 0;
}

/** Remove @p path and everything below it. */
static inline void auth_test_rm_rf(const char *path)
{
        if (path)
                nftw(path, auth_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/** A fresh private temp directory. @return a path to rp_free(), or NULL. */
static inline char *auth_test_mkdtemp(void)
{
        const char *tmp = getenv("TMPDIR");
        char *t = rp_asprintf("%s/rp-auth-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (t && !mkdtemp(t))
                t = rp_free(t);
        return t;
}

/** "@p dir/@p name". @return a path to rp_free(). */
static inline char *auth_test_path(const char *dir, const char *name)
{
        return rp_asprintf("%s/%s", dir, name);
}

/** The contents of @p dir/@p name, or NULL. @return a string to rp_free(). */
static inline char *auth_test_read(const char *dir, const char *name)
{
        char *path = auth_test_path(dir, name);
        char *data = NULL;
        if (path && rp_read_file(path, RP_MAX_SMALL_FILE, &data) < 0)
                data = NULL;
        rp_free(path);
        return data;
}

/** Replace @p dir/@p name with @p text. @return 0 or -errno. */
static inline int auth_test_write(const char *dir, const char *name, const char *text)
{
        char *path = auth_test_path(dir, name);
        int r = path ? rp_write_file_atomic(path, text, strlen(text), 0600) : -ENOMEM;
        rp_free(path);
        return r;
}
