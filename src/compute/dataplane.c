/* dataplane.c: the disk data plane behind SAS URLs (page-blob style).
 *
 *   PUT  /data/{region}/disks/{uuid}?comp=page&<sas>  x-ms-range: bytes=a-b,
 *        x-ms-page-write: update|clear   (512-aligned, at most 4 MiB per update)
 *   GET  /data/{region}/disks/{uuid}?<sas>            [Range: bytes=a-b]  -> 200/206
 *   HEAD /data/{region}/disks/{uuid}?<sas>            -> 200, Content-Length = disk size
 *
 * DESIGN: a page write is validated completely (signature, generation, permissions, range,
 * alignment, Content-Length) before the first body byte is taken, so a refused request
 * changes nothing. The dirty map marks the whole range first (durably); the body then streams
 * through a 1 MiB staging buffer into the image without syncs, and one fdatasync precedes
 * the reply (201): an acknowledged write is on stable storage. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "compute.h"
#include "disk/disk_image.h"
#include "disk/disk_sas.h"
#include "store/manifest.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/parse.h"

#define STAGE_BYTES (1024u * 1024u)

typedef struct page_write {
        rp_disk_image *img;
        uint64_t first, last; /* inclusive byte range */
        uint64_t next_off;    /* where the staging buffer starts */
        bool clear;
        bool failed;
        uint64_t received;
        char *stage;
        size_t staged;
} page_write;

static void page_write_free(void *p)
{
        page_write *w = p;
        rp_disk_image_unref(w->img);
        rp_free(w->stage);
        rp_free(w);
}

/* The access generation travels in "si" (signedIdentifier, Azure's handle for a revocable
 * SAS), not in the "sk" rp_sas_sign() writes: blob clients (azure-storage-blob, AzCopy's Go
 * SDK) rebuild the query from the SAS fields they know and drop the others, and without the
 * generation the signature cannot be checked. The string-to-sign is unchanged; "sk" is still
 * accepted. Both keys are two letters, so the rename is done in place. */
static void sas_query_portable(char *query)
{
        char *p = strstr(query, "&sk=");
        if (p)
                p[2] = 'i';
}

static const char *sas_generation(rp_arm_req *r)
{
        const char *v = rp_http_query(r->http, "si");
        return v ? v : rp_http_query(r->http, "sk");
}

char *rp_dataplane_sas_url(rp_arm_req *r, rp_region *reg, const char *disk_uuid, const char *perms,
                           uint64_t expiry_sec, uint64_t generation)
{
        _cleanup_free_ char *resource = rp_asprintf("%s/disks/%s", reg->name, disk_uuid);
        _cleanup_free_ char *query = NULL;
        if (!resource || rp_sas_sign(r->svc->sas_key, sizeof r->svc->sas_key, resource, perms,
                                     expiry_sec, generation, &query) < 0)
                return NULL;
        sas_query_portable(query);
        _cleanup_free_ char *base = rp_arm_base_url(r);
        return base ? rp_asprintf("%s/data/%s?%s", base, resource, query) : NULL;
}

/* Authorise a data-plane request: region, disk, signature, generation, permission.
 * Replies on failure. */
static int authorise(rp_arm_req *r, bool want_write, rp_region **ret_reg, rp_resource **ret)
{
        rp_region *reg = rp_service_region(r->svc, r->cap[0]);
        _cleanup_free_ char *map = rp_asprintf("diskfile/%s", r->cap[1]);
        _cleanup_free_ char *key = NULL;
        if (!reg || !map || rp_db_kv_get(reg->db, map, &key) < 0) {
                rp_arm_reply_error(r, RP_EC_DATA_AUTH_FAILED, NULL,
                                   "Server failed to authenticate the request: no such disk.");
                return -ENOENT;
        }
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        if (rp_db_res_get(reg->db, key, &res) < 0) {
                rp_arm_reply_error(r, RP_EC_DATA_AUTH_FAILED, NULL,
                                   "Server failed to authenticate the request: no such disk.");
                return -ENOENT;
        }
        _cleanup_free_ char *resource = rp_asprintf("%s/disks/%s", reg->name, r->cap[1]);
        rp_sas_grant g;
        int k = resource ? rp_sas_verify(r->svc->sas_key, sizeof r->svc->sas_key, resource,
                                         rp_http_query(r->http, "sv"), rp_http_query(r->http, "sr"),
                                         rp_http_query(r->http, "sp"), rp_http_query(r->http, "se"),
                                         sas_generation(r), rp_http_query(r->http, "sig"),
                                         rp_now_realtime() / RP_USEC_PER_SEC, &g)
                         : -ENOMEM;
        if (k == -ETIME) {
                rp_arm_reply_error(r, RP_EC_DATA_EXPIRED, NULL, NULL);
                return k;
        }
        if (k < 0) {
                rp_arm_reply_error(r, RP_EC_DATA_AUTH_FAILED, NULL, NULL);
                return k;
        }
        json_int_t gen = json_integer_value(json_object_get(res->internal, "generation"));
        if ((uint64_t)gen != g.generation) {
                rp_arm_reply_error(r, RP_EC_DATA_REVOKED, NULL, NULL);
                return -EACCES;
        }
        if (want_write && !g.write) {
                rp_arm_reply_error(r, RP_EC_DATA_NO_WRITE, NULL, NULL);
                return -EACCES;
        }
        *ret_reg = reg;
        *ret = TAKE_PTR(res);
        return 0;
}

static int open_image(rp_arm_req *r, rp_region *reg, rp_disk_image **ret)
{
        _cleanup_free_ char *path = rp_region_disk_path(reg, r->cap[1]);
        int k = path ? rp_disk_image_open(path, ret) : -ENOMEM;
        if (k < 0)
                rp_arm_reply_internal(r, k, "open disk image");
        return k;
}

/* Parse "bytes=a-b" from x-ms-range or Range. @return 1 found, 0 absent, -EINVAL bad. */
static int parse_range(rp_arm_req *r, uint64_t *first, uint64_t *last, bool *open_ended)
{
        const char *h = rp_http_header(r->http, "x-ms-range");
        if (!h)
                h = rp_http_header(r->http, "Range");
        if (!h)
                return 0;
        if (strncmp(h, "bytes=", 6) != 0)
                return -EINVAL;
        h += 6;
        size_t n = strlen(h);
        if (open_ended && n > 1 && h[n - 1] == '-') {
                char a[24];
                if (n - 1 >= sizeof a)
                        return -EINVAL;
                memcpy(a, h, n - 1);
                a[n - 1] = '\0';
                if (rp_parse_u64(a, first) < 0)
                        return -EINVAL;
                *last = UINT64_MAX;
                *open_ended = true;
                return 1;
        }
        return rp_parse_range(h, first, last) < 0 ? -EINVAL : 1;
}

/* Validate a page write and set up its state (r->data). Replies on failure. */
static int page_write_prepare(rp_arm_req *r)
{
        const char *comp = rp_http_query(r->http, "comp");
        if (!comp || strcmp(comp, "page") != 0) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_HEADER, "comp",
                                   "Only page writes (?comp=page) are supported on a disk.");
                return -EINVAL;
        }
        rp_region *reg;
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        if (authorise(r, true, &reg, &res) < 0)
                return -EACCES;
        const char *mode = rp_http_header(r->http, "x-ms-page-write");
        if (!mode) {
                rp_arm_reply_error(r, RP_EC_DATA_MISSING_HEADER, "x-ms-page-write",
                                   "The header x-ms-page-write (update or clear) is required.");
                return -EINVAL;
        }
        bool clear = strcasecmp(mode, "clear") == 0;
        if (!clear && strcasecmp(mode, "update") != 0) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_HEADER, "x-ms-page-write",
                                   "x-ms-page-write must be 'update' or 'clear', got '%s'.", mode);
                return -EINVAL;
        }
        uint64_t first, last;
        int k = parse_range(r, &first, &last, NULL);
        if (k == 0) {
                rp_arm_reply_error(r, RP_EC_DATA_MISSING_HEADER, "x-ms-range",
                                   "A page write needs x-ms-range: bytes=<first>-<last>.");
                return -EINVAL;
        }
        if (k < 0) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_HEADER, "x-ms-range",
                                   "The range must be 'bytes=<first>-<last>'.");
                return -EINVAL;
        }
        if (first % RP_SECTOR_SIZE != 0 || (last + 1) % RP_SECTOR_SIZE != 0) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_PAGE_RANGE, "x-ms-range",
                                   "The page range %" PRIu64 "-%" PRIu64 " is not aligned to "
                                   "512 bytes.",
                                   first, last);
                return -EINVAL;
        }
        _cleanup_(rp_disk_image_unrefp) rp_disk_image *img = NULL;
        if (open_image(r, reg, &img) < 0)
                return -EIO;
        uint64_t size = rp_disk_image_size(img);
        if (last >= size) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_RANGE, "x-ms-range",
                                   "The range %" PRIu64 "-%" PRIu64 " is beyond the end of the "
                                   "disk (%" PRIu64 " bytes).",
                                   first, last, size);
                return -ERANGE;
        }
        uint64_t len = last - first + 1, cl = 0;
        const char *clh = rp_http_header(r->http, "Content-Length");
        if (!clear && len > RP_MAX_PAGE_WRITE) {
                rp_arm_reply_error(r, RP_EC_DATA_TOO_LARGE, NULL, NULL);
                return -E2BIG;
        }
        if (clh && rp_parse_u64(clh, &cl) < 0) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_HEADER, "Content-Length", NULL);
                return -EINVAL;
        }
        if (!clear && (!clh || cl != len)) {
                rp_arm_reply_error(r, RP_EC_DATA_LENGTH_MISMATCH, "Content-Length",
                                   "Content-Length %s does not match the range length %" PRIu64 ".",
                                   clh ? clh : "(missing)", len);
                return -EINVAL;
        }
        if (clear && cl != 0) {
                rp_arm_reply_error(r, RP_EC_DATA_LENGTH_MISMATCH, "Content-Length",
                                   "A clear carries no body.");
                return -EINVAL;
        }
        /* The whole range is dirty before the first byte lands (one map sync per request). */
        if (!clear && rp_disk_image_mark_dirty(img, first, len) < 0) {
                rp_arm_reply_internal(r, -EIO, "dirty map");
                return -EIO;
        }
        page_write *w = rp_calloc(1, sizeof *w);
        if (!w || (!clear && !(w->stage = rp_malloc(STAGE_BYTES)))) {
                rp_free(w);
                rp_arm_reply_internal(r, -ENOMEM, "page write");
                return -ENOMEM;
        }
        w->img = TAKE_PTR(img);
        w->first = first;
        w->last = last;
        w->next_off = first;
        w->clear = clear;
        r->data = w;
        r->data_free = page_write_free;
        return 0;
}

static int stage_flush(rp_arm_req *r, page_write *w)
{
        if (w->staged == 0)
                return 0;
        int k = rp_disk_image_write_nosync(w->img, w->next_off, w->stage, w->staged);
        if (k < 0) {
                w->failed = true;
                rp_arm_reply_internal(r, k, "disk write");
                return k;
        }
        w->next_off += w->staged;
        w->staged = 0;
        return 0;
}

int rp_dataplane_stream_begin(rp_arm_req *r)
{
        if (strcmp(r->http->method, "PUT") != 0)
                return 0;
        return page_write_prepare(r);
}

int rp_dataplane_stream_body(rp_arm_req *r, const char *data, size_t len)
{
        if (r->http->replied || !r->data)
                return -EALREADY;
        page_write *w = r->data;
        if (w->failed)
                return -EIO;
        uint64_t want = w->clear ? 0 : w->last - w->first + 1;
        if (w->received + len > want) {
                rp_arm_reply_error(r, RP_EC_DATA_LENGTH_MISMATCH, "Content-Length", NULL);
                w->failed = true;
                return -EINVAL;
        }
        w->received += len;
        while (len > 0) {
                size_t n = RP_MIN(len, STAGE_BYTES - w->staged);
                memcpy(w->stage + w->staged, data, n);
                w->staged += n;
                data += n;
                len -= n;
                /* flush whole sectors only; the tail waits for more bytes */
                if (w->staged == STAGE_BYTES && stage_flush(r, w) < 0)
                        return -EIO;
        }
        return 0;
}

void rp_h_data_put(rp_arm_req *r)
{
        page_write *w = r->data;
        if (!w)
                return; /* refused in rp_dataplane_stream_begin() */
        if (w->failed || r->http->replied)
                return;
        int k;
        if (w->clear) {
                k = rp_disk_image_clear(w->img, w->first, w->last - w->first + 1);
                if (k < 0) {
                        rp_arm_reply_internal(r, k, "disk clear");
                        return;
                }
        } else {
                if (w->received != w->last - w->first + 1) {
                        rp_arm_reply_error(r, RP_EC_DATA_LENGTH_MISMATCH, "Content-Length",
                                           "The body ended after %" PRIu64 " bytes.", w->received);
                        return;
                }
                if (stage_flush(r, w) < 0)
                        return;
                k = rp_disk_image_sync(w->img);
                if (k < 0) {
                        rp_arm_reply_internal(r, k, "disk sync");
                        return;
                }
        }
        rp_http_add_header(r->http, "x-ms-request-server-encrypted", "true");
        rp_arm_reply_empty(r, 201);
}

/* ---------------------------------------------------------------- reads */

typedef struct read_ctx {
        rp_disk_image *img;
        uint64_t base;
} read_ctx;

static ssize_t read_cb(void *p, uint64_t pos, char *buf, size_t max)
{
        read_ctx *c = p;
        int k = rp_disk_image_read(c->img, c->base + pos, buf, max);
        return k < 0 ? -1 : (ssize_t)max;
}

static void read_free(void *p)
{
        read_ctx *c = p;
        rp_disk_image_unref(c->img);
        rp_free(c);
}

void rp_h_data_get(rp_arm_req *r)
{
        rp_region *reg;
        _cleanup_(rp_resource_freep) rp_resource *res = NULL;
        if (authorise(r, false, &reg, &res) < 0)
                return;
        /* Only the blob itself is served. A comp= we do not implement (pagelist, metadata,
         * ...) must not be answered with the whole disk: azure-storage-blob asks for the page
         * list of a page blob before a download and falls back to plain ranged reads on an
         * error, but would otherwise read the full disk. */
        const char *comp = rp_http_query(r->http, "comp");
        if (comp) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_QUERY, "comp",
                                   "The value for the query parameter 'comp' is not supported "
                                   "on a disk: '%s'.",
                                   comp);
                return;
        }
        _cleanup_(rp_disk_image_unrefp) rp_disk_image *img = NULL;
        if (open_image(r, reg, &img) < 0)
                return;
        uint64_t size = rp_disk_image_size(img), first = 0, last = size ? size - 1 : 0;
        bool open_ended = false;
        int k = parse_range(r, &first, &last, &open_ended);
        if (k < 0) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_HEADER, "Range",
                                   "The range must be 'bytes=<first>-<last>'.");
                return;
        }
        /* A range that starts inside the disk and ends past it is served up to the end (as
         * Blob storage and RFC 9110 do): azure-storage-blob asks for its first 32 MiB chunk
         * that way, and takes a 416 for "the blob is empty". */
        if (k > 0 && (open_ended || last >= size))
                last = size ? size - 1 : 0;
        if (k > 0 && first >= size) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_RANGE, "Range", NULL);
                return;
        }
        read_ctx *c = rp_malloc(sizeof *c);
        if (!c) {
                rp_arm_reply_internal(r, -ENOMEM, "read");
                return;
        }
        c->img = TAKE_PTR(img);
        c->base = first;
        char hdr[96];
        rp_http_add_header(r->http, "x-ms-blob-type", "PageBlob");
        rp_http_add_header(r->http, "Accept-Ranges", "bytes");
        snprintf(hdr, sizeof hdr, "%" PRIu64, size);
        rp_http_add_header(r->http, "x-ms-blob-content-length", hdr);
        if (k > 0) {
                snprintf(hdr, sizeof hdr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last,
                         size);
                rp_http_add_header(r->http, "Content-Range", hdr);
        }
        rp_http_reply_stream(r->http, k > 0 ? 206 : 200, "application/octet-stream",
                             size ? last - first + 1 : 0, read_cb, c, read_free);
}

/* ---------------------------------------------------------------- disk restore points */

char *rp_dataplane_drp_sas_url(rp_arm_req *r, rp_region *reg, const char *drp_uuid,
                               uint64_t expiry_sec, uint64_t generation)
{
        _cleanup_free_ char *resource = rp_asprintf("%s/drps/%s", reg->name, drp_uuid);
        _cleanup_free_ char *query = NULL;
        if (!resource || rp_sas_sign(r->svc->sas_key, sizeof r->svc->sas_key, resource, "r",
                                     expiry_sec, generation, &query) < 0)
                return NULL;
        sas_query_portable(query);
        _cleanup_free_ char *base = rp_arm_base_url(r);
        return base ? rp_asprintf("%s/data/%s?%s", base, resource, query) : NULL;
}

typedef struct drp_read {
        rp_store *store;
        rp_manifest *m;
        uint64_t base;
        uint64_t size;
        uint64_t cached; /* chunk index in buf, or UINT64_MAX */
        uint8_t *buf;
} drp_read;

static void drp_read_free(void *p)
{
        drp_read *c = p;
        rp_manifest_free(c->m);
        rp_free(c->buf);
        rp_free(c);
}

/* Stream the point's image: each chunk read from the store and verified; holes are zeros. A
 * chunk that fails verification ends the response with an error (the client sees a short
 * body), never with wrong bytes. */
static ssize_t drp_read_cb(void *p, uint64_t pos, char *out, size_t max)
{
        drp_read *c = p;
        uint64_t off = c->base + pos;
        uint64_t chunk = off / RP_CHUNK_SIZE, in = off % RP_CHUNK_SIZE;
        size_t n = (size_t)RP_MIN((uint64_t)max, (uint64_t)RP_CHUNK_SIZE - in);
        n = (size_t)RP_MIN((uint64_t)n, c->size - off);
        uint8_t id[32];
        if (rp_manifest_get(c->m, chunk, id) < 0 || rp_store_id_is_zero(id)) {
                memset(out, 0, n);
                return (ssize_t)n;
        }
        if (c->cached != chunk) {
                size_t len = 0;
                int k = rp_store_get(c->store, id, c->buf, RP_CHUNK_SIZE, &len);
                if (k < 0) {
                        log_error_errno(k,
                                        "reading chunk %" PRIu64 " of a disk restore point "
                                        "failed",
                                        chunk);
                        return -1;
                }
                if (len < RP_CHUNK_SIZE)
                        memset(c->buf + len, 0, RP_CHUNK_SIZE - len);
                c->cached = chunk;
        }
        memcpy(out, c->buf + in, n);
        return (ssize_t)n;
}

void rp_h_data_drp_get(rp_arm_req *r)
{
        const char *comp = rp_http_query(r->http, "comp");
        if (comp) {
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_QUERY, "comp",
                                   "The value for the query parameter 'comp' is not supported "
                                   "on a disk restore point: '%s'.",
                                   comp);
                return;
        }
        rp_region *reg = rp_service_region(r->svc, r->cap[0]);
        _cleanup_free_ char *resource = rp_asprintf("%s/drps/%s", r->cap[0], r->cap[1]);
        rp_sas_grant g;
        int k = reg && resource
                        ? rp_sas_verify(r->svc->sas_key, sizeof r->svc->sas_key, resource,
                                        rp_http_query(r->http, "sv"), rp_http_query(r->http, "sr"),
                                        rp_http_query(r->http, "sp"), rp_http_query(r->http, "se"),
                                        sas_generation(r), rp_http_query(r->http, "sig"),
                                        rp_now_realtime() / RP_USEC_PER_SEC, &g)
                        : -ENOENT;
        if (k == -ETIME) {
                rp_arm_reply_error(r, RP_EC_DATA_EXPIRED, NULL, NULL);
                return;
        }
        if (k < 0) {
                rp_arm_reply_error(r, RP_EC_DATA_AUTH_FAILED, NULL, NULL);
                return;
        }
        /* the disk restore point must still exist, with the SAS's generation */
        _cleanup_(rp_resource_freep) rp_resource *drp = NULL;
        k = rp_compute_drp_by_uuid(reg, r->cap[1], &drp);
        if (k < 0 && k != -ENOENT) {
                rp_arm_reply_internal(r, k, "disk restore point lookup");
                return;
        }
        json_int_t gen =
                k < 0 ? -1 : json_integer_value(json_object_get(drp->internal, "generation"));
        if (gen < 0 || (uint64_t)gen != g.generation) {
                rp_arm_reply_error(r, RP_EC_DATA_REVOKED, NULL, NULL);
                return;
        }
        _cleanup_free_ char *mpath = rp_region_manifest_path(reg, r->cap[1]);
        drp_read *c = rp_calloc(1, sizeof *c);
        if (!c || !mpath || !(c->buf = rp_malloc(RP_CHUNK_SIZE)) ||
            rp_manifest_read_file(mpath, &c->m) < 0) {
                if (c)
                        drp_read_free(c);
                rp_arm_reply_internal(r, -EIO, "manifest");
                return;
        }
        c->store = reg->store;
        c->cached = UINT64_MAX;
        c->size = rp_manifest_disk_size(c->m);
        uint64_t first = 0, last = c->size ? c->size - 1 : 0;
        bool open_ended = false;
        k = parse_range(r, &first, &last, &open_ended);
        /* as for disks: a range ending past the end is served up to the end */
        if (k > 0 && (open_ended || last >= c->size))
                last = c->size ? c->size - 1 : 0;
        if (k < 0 || (k > 0 && first >= c->size)) {
                drp_read_free(c);
                rp_arm_reply_error(r, RP_EC_DATA_INVALID_RANGE, "Range", NULL);
                return;
        }
        c->base = first;
        char hdr[96];
        rp_http_add_header(r->http, "x-ms-blob-type", "PageBlob");
        rp_http_add_header(r->http, "Accept-Ranges", "bytes");
        snprintf(hdr, sizeof hdr, "%" PRIu64, c->size);
        rp_http_add_header(r->http, "x-ms-blob-content-length", hdr);
        if (k > 0) {
                snprintf(hdr, sizeof hdr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last,
                         c->size);
                rp_http_add_header(r->http, "Content-Range", hdr);
        }
        uint64_t size = c->size;
        rp_http_reply_stream(r->http, k > 0 ? 206 : 200, "application/octet-stream",
                             size ? last - first + 1 : 0, drp_read_cb, c, drp_read_free);
}
