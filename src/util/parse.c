#include "parse.h"

#include <errno.h>
#include <string.h>

int rp_parse_u64(const char *s, uint64_t *ret)
{
        uint64_t v = 0;
        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = (unsigned)(*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int rp_parse_i64(const char *s, int64_t *ret)
{
        uint64_t u;
        int neg = s && *s == '-';
        int r = rp_parse_u64(neg ? s + 1 : s, &u);
        if (r < 0)
                return r;
        if (neg ? u > (uint64_t)INT64_MAX + 1 : u > (uint64_t)INT64_MAX)
                return -ERANGE;
        *ret = neg ? (int64_t)(0 - u) : (int64_t)u;
        return 0;
}

int rp_parse_range(const char *s, uint64_t *ret_first, uint64_t *ret_last)
{
        char a[24], b[24];
        const char *dash = s ? strchr(s, '-') : NULL;
        if (!dash || (size_t)(dash - s) >= sizeof a || strlen(dash + 1) >= sizeof b)
                return -EINVAL;
        memcpy(a, s, (size_t)(dash - s));
        a[dash - s] = '\0';
        memcpy(b, dash + 1, strlen(dash + 1) + 1); /* length checked above */
        uint64_t f, l;
        if (rp_parse_u64(a, &f) < 0 || rp_parse_u64(b, &l) < 0 || l < f)
                return -EINVAL;
        *ret_first = f;
        *ret_last = l;
        return 0;
}
