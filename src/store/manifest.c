/* manifest.c: manifests of disk restore points: build, look up, merge, encode, decode.
 *
 * DESIGN
 *
 * Format (RP_MANIFEST_VERSION 1, integers little-endian):
 *
 *   off size field
 *     0    8 magic "RPMANIF1"
 *     8    4 version (1)
 *    12    4 flags (0; any other value is refused)
 *    16    8 disk size in bytes (> 0, multiple of 512, <= RP_MAX_DISK_BYTES)
 *    24    4 chunk size (RP_CHUNK_SIZE)
 *    28    4 reserved (0)
 *    32    8 entry count n (<= chunks of the disk)
 *    40  40n entries: u64 chunk index, 32-byte chunk id; indexes strictly ascending, below the
 *            chunk count; ids never all zero (holes are simply absent)
 *     .   32 SHA-256 of every byte before it
 *
 * There is exactly one encoding of a manifest, so a decoded manifest re-encodes to the same bytes
 * and two regions holding the same point hold identical files. The format names chunks only by
 * id (never by pack or offset), so it travels between regions unchanged.
 *
 * In memory a manifest is the sorted entry array. Capture sets chunks in ascending order, which
 * appends; lookups are binary searches.
 */
#include "store/manifest.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "util/alloc.h"
#include "util/crypto.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"

struct rp_manifest {
        uint64_t disk_size;
        uint32_t chunk_size;
        rp_manifest_entry *e;
        size_t n, cap;
};

static bool id_is_zero(const uint8_t id[32])
{
        static const uint8_t zero[32];
        return memcmp(id, zero, sizeof zero) == 0;
}

static bool disk_size_ok(uint64_t size)
{
        return size > 0 && size <= RP_MAX_DISK_BYTES && size % RP_SECTOR_SIZE == 0;
}

static uint64_t chunks_of(uint64_t size, uint32_t chunk)
{
        return size / chunk + (size % chunk != 0);
}

int rp_manifest_new(uint64_t disk_size, rp_manifest **ret)
{
        if (!disk_size_ok(disk_size))
                return -EINVAL;
        rp_manifest *m = rp_calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->disk_size = disk_size;
        m->chunk_size = RP_CHUNK_SIZE;
        *ret = m;
        return 0;
}

rp_manifest *rp_manifest_free(rp_manifest *m)
{
        if (!m)
                return NULL;
        rp_free(m->e);
        return rp_free(m);
}

uint64_t rp_manifest_disk_size(const rp_manifest *m)
{
        return m->disk_size;
}

uint32_t rp_manifest_chunk_size(const rp_manifest *m)
{
        return m->chunk_size;
}

uint64_t rp_manifest_chunk_count(const rp_manifest *m)
{
        return chunks_of(m->disk_size, m->chunk_size);
}

uint32_t rp_manifest_chunk_len(const rp_manifest *m, uint64_t index)
{
        uint64_t n = rp_manifest_chunk_count(m);
        if (index >= n)
                return 0;
        if (index + 1 < n || m->disk_size % m->chunk_size == 0)
                return m->chunk_size;
        return (uint32_t)(m->disk_size % m->chunk_size);
}

/* The position of @p index, or where it would be inserted. */
static size_t find_pos(const rp_manifest *m, uint64_t index)
{
        size_t lo = 0, hi = m->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (m->e[mid].index < index)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int reserve(rp_manifest *m, size_t n)
{
        if (n <= m->cap)
                return 0;
        size_t cap = RP_MAX(m->cap * 2, (size_t)64);
        while (cap < n)
                cap *= 2;
        rp_manifest_entry *e = rp_realloc(m->e, cap * sizeof *e);
        if (!e)
                return -ENOMEM;
        m->e = e;
        m->cap = cap;
        return 0;
}

int rp_manifest_set(rp_manifest *m, uint64_t index, const uint8_t id[32])
{
        if (index >= rp_manifest_chunk_count(m))
                return -ERANGE;
        size_t pos = m->n > 0 && m->e[m->n - 1].index < index ? m->n : find_pos(m, index);
        bool present = pos < m->n && m->e[pos].index == index;
        if (id_is_zero(id)) {
                if (present) {
                        memmove(&m->e[pos], &m->e[pos + 1], (m->n - pos - 1) * sizeof *m->e);
                        m->n--;
                }
                return 0;
        }
        if (present) {
                memcpy(m->e[pos].id, id, 32);
                return 0;
        }
        int r = reserve(m, m->n + 1);
        if (r < 0)
                return r;
        memmove(&m->e[pos + 1], &m->e[pos], (m->n - pos) * sizeof *m->e);
        m->e[pos].index = index;
        memcpy(m->e[pos].id, id, 32);
        m->n++;
        return 0;
}

int rp_manifest_get(const rp_manifest *m, uint64_t index, uint8_t ret_id[32])
{
        if (index >= rp_manifest_chunk_count(m))
                return -ERANGE;
        size_t pos = find_pos(m, index);
        bool present = pos < m->n && m->e[pos].index == index;
        if (ret_id) {
                if (present)
                        memcpy(ret_id, m->e[pos].id, 32);
                else
                        memset(ret_id, 0, 32);
        }
        return present;
}

const rp_manifest_entry *rp_manifest_entries(const rp_manifest *m, size_t *ret_n)
{
        if (ret_n)
                *ret_n = m->n;
        return m->e;
}

int rp_manifest_foreach(const rp_manifest *m, int (*cb)(void *ud, const rp_manifest_entry *e),
                        void *ud)
{
        for (size_t i = 0; i < m->n; i++) {
                int r = cb(ud, &m->e[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int rp_manifest_equal(const rp_manifest *a, const rp_manifest *b)
{
        return a->disk_size == b->disk_size && a->chunk_size == b->chunk_size && a->n == b->n &&
               (a->n == 0 || memcmp(a->e, b->e, a->n * sizeof *a->e) == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
        v = htole32(v);
        memcpy(p, &v, sizeof v);
}

static void put64(uint8_t *p, uint64_t v)
{
        v = htole64(v);
        memcpy(p, &v, sizeof v);
}

static uint32_t get32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return le64toh(v);
}

int rp_manifest_encode(const rp_manifest *m, uint8_t **ret_data, size_t *ret_len)
{
        size_t len =
                RP_MANIFEST_HEADER_SIZE + m->n * RP_MANIFEST_ENTRY_SIZE + RP_MANIFEST_TRAILER_SIZE;
        uint8_t *d = rp_malloc(len);
        if (!d)
                return -ENOMEM;
        memcpy(d, RP_MANIFEST_MAGIC, 8);
        put32(d + 8, RP_MANIFEST_VERSION);
        put32(d + 12, 0);
        put64(d + 16, m->disk_size);
        put32(d + 24, m->chunk_size);
        put32(d + 28, 0);
        put64(d + 32, m->n);
        uint8_t *p = d + RP_MANIFEST_HEADER_SIZE;
        for (size_t i = 0; i < m->n; i++, p += RP_MANIFEST_ENTRY_SIZE) {
                put64(p, m->e[i].index);
                memcpy(p + 8, m->e[i].id, 32);
        }
        rp_sha256(d, (size_t)(p - d), p);
        *ret_data = d;
        *ret_len = len;
        return 0;
}

int rp_manifest_decode(const void *data, size_t len, rp_manifest **ret)
{
        const uint8_t *d = data;
        if (len > RP_MANIFEST_MAX_BYTES)
                return -E2BIG;
        if (len < RP_MANIFEST_HEADER_SIZE + RP_MANIFEST_TRAILER_SIZE)
                return -EBADMSG;
        if (memcmp(d, RP_MANIFEST_MAGIC, 8) != 0 || get32(d + 8) != RP_MANIFEST_VERSION ||
            get32(d + 12) != 0 || get32(d + 28) != 0)
                return -EBADMSG;
        uint64_t disk_size = get64(d + 16), n = get64(d + 32);
        uint32_t chunk_size = get32(d + 24);
        if (!disk_size_ok(disk_size) || chunk_size != RP_CHUNK_SIZE)
                return -EBADMSG;
        uint64_t n_chunks = chunks_of(disk_size, chunk_size);
        /* n <= n_chunks <= RP_MANIFEST_MAX_CHUNKS, so the product cannot overflow. */
        if (n > n_chunks ||
            len != RP_MANIFEST_HEADER_SIZE + n * RP_MANIFEST_ENTRY_SIZE + RP_MANIFEST_TRAILER_SIZE)
                return -EBADMSG;
        uint8_t sum[RP_SHA256_LEN];
        rp_sha256(d, len - RP_MANIFEST_TRAILER_SIZE, sum);
        if (memcmp(sum, d + len - RP_MANIFEST_TRAILER_SIZE, RP_SHA256_LEN) != 0)
                return -EBADMSG;

        const uint8_t *p = d + RP_MANIFEST_HEADER_SIZE;
        for (uint64_t i = 0; i < n; i++, p += RP_MANIFEST_ENTRY_SIZE) {
                uint64_t idx = get64(p);
                if (idx >= n_chunks || (i > 0 && idx <= get64(p - RP_MANIFEST_ENTRY_SIZE)) ||
                    id_is_zero(p + 8))
                        return -EBADMSG;
        }

        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        int r = rp_manifest_new(disk_size, &m);
        if (r < 0)
                return r;
        r = reserve(m, (size_t)n);
        if (r < 0)
                return r;
        p = d + RP_MANIFEST_HEADER_SIZE;
        for (uint64_t i = 0; i < n; i++, p += RP_MANIFEST_ENTRY_SIZE) {
                m->e[i].index = get64(p);
                memcpy(m->e[i].id, p + 8, 32);
        }
        m->n = (size_t)n;
        *ret = TAKE_PTR(m);
        return 0;
}

int rp_manifest_write_file(const rp_manifest *m, const char *path)
{
        _cleanup_free_ uint8_t *d = NULL;
        size_t len = 0;
        int r = rp_manifest_encode(m, &d, &len);
        if (r < 0)
                return r;
        return rp_write_file_atomic(path, d, len, 0600);
}

int rp_manifest_read_file(const char *path, rp_manifest **ret)
{
        _cleanup_free_ char *d = NULL;
        long n = rp_read_file(path, RP_MANIFEST_MAX_BYTES, &d);
        if (n < 0)
                return (int)n;
        return rp_manifest_decode(d, (size_t)n, ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Merge                                                                                      */
/* ------------------------------------------------------------------------------------------ */

int rp_manifest_merge(const rp_manifest *prev, uint64_t disk_size, const rp_manifest_entry *changes,
                      size_t n_changes, rp_manifest **ret)
{
        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        int r = rp_manifest_new(disk_size, &m);
        if (r < 0)
                return r;
        uint64_t n_chunks = rp_manifest_chunk_count(m);
        for (size_t i = 0; i < n_changes; i++) {
                if (i > 0 && changes[i].index <= changes[i - 1].index)
                        return -EINVAL;
                if (changes[i].index >= n_chunks)
                        return -ERANGE;
        }
        size_t n_prev = prev ? prev->n : 0;
        /* Upper bound; the merge may end shorter (holes, truncation). */
        r = reserve(m, n_prev + n_changes);
        if (r < 0)
                return r;
        size_t i = 0, j = 0;
        while (i < n_prev || j < n_changes) {
                const rp_manifest_entry *take;
                if (j >= n_changes || (i < n_prev && prev->e[i].index < changes[j].index)) {
                        take = &prev->e[i++];
                } else {
                        if (i < n_prev && prev->e[i].index == changes[j].index)
                                i++; /* replaced */
                        take = &changes[j++];
                }
                if (take->index >= n_chunks || id_is_zero(take->id))
                        continue;
                m->e[m->n++] = *take;
        }
        *ret = TAKE_PTR(m);
        return 0;
}
