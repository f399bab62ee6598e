/* client_blob.c: the disk data plane: parallel page writes (upload) and ranged reads
 * (download) behind a SAS URL.
 *
 * DESIGN: N worker threads, each with its own CURL easy handle (so its own keep-alive
 * connection) and one RP_CLIENT_BLOCK_SIZE buffer, take 4 MiB blocks from a shared cursor.
 * Threads rather than curl multi: reading the file, checking for zeros and TLS then run on
 * every core, and a slow pread or fsync-bound reply on one block never stalls the others.
 * The calling thread only waits on a condition variable and reports progress.
 *
 * Zeros are never moved. Upload: the cursor jumps over holes with SEEK_DATA, a block that
 * reads as all zeros is skipped, and all-zero sectors at either end of a block are trimmed;
 * this is correct because an Upload disk starts all zeros. Download: the target file is
 * ftruncate()d to the disk size (all holes) and only the non-zero 4 KiB pages of a block are
 * written, so the copy is as sparse as the file system allows.
 *
 * A failing block is retried 3 times (with 0.5, 1, 2 s back-off) on transport errors and on
 * 408, 429 and 5xx; any other reply stops every worker and is reported as the API error. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/macro.h"
#include "util/time.h"

#define MAX_ATTEMPTS 4
#define ERROR_BODY_MAX (64u * 1024u)
#define DEFAULT_INTERVAL_MS 200u
/* Download: zero runs this long (the usual file system block) become holes. */
#define HOLE_GRAIN 4096u

typedef struct xfer {
        rp_client *c;
        const char *url; /* with &comp=page for uploads */
        int fd;
        bool upload;
        uint64_t limit; /* bytes to cover; a multiple of 512 for uploads */
        uint64_t total; /* reported as stats.total */
        volatile sig_atomic_t *cancel;

        pthread_mutex_t lock;
        pthread_cond_t wake;
        uint64_t cursor;  /* next block to hand out (under lock) */
        bool seek_data;   /* SEEK_DATA works on fd (under lock) */
        unsigned running; /* live workers (under lock) */
        int error;        /* first failure (under lock) */
        rp_client_error api_error;

        atomic_uint_fast64_t done, wire, skipped;
} xfer;

/* ---------------------------------------------------------------- zeros */

bool rp_client__is_zero(const void *p, size_t len)
{
        const unsigned char *b = p;
        if (len == 0)
                return true;
        /* word-at-a-time on the bulk; memcmp against itself shifted by one is as fast and
         * needs no zero page */
        return b[0] == 0 && memcmp(b, b + 1, len - 1) == 0;
}

bool rp_client__trim_zero(const void *p, size_t len, size_t *ret_first, size_t *ret_len)
{
        const unsigned char *b = p;
        size_t first = 0, end = len;
        while (first < end && rp_client__is_zero(b + first, RP_MIN(RP_SECTOR_SIZE, end - first)))
                first += RP_SECTOR_SIZE;
        if (first >= end) {
                *ret_first = *ret_len = 0;
                return false;
        }
        while (end > first) {
                size_t s = (end - 1) / RP_SECTOR_SIZE * RP_SECTOR_SIZE;
                if (!rp_client__is_zero(b + s, end - s))
                        break;
                end = s;
        }
        *ret_first = first;
        *ret_len = end - first;
        return true;
}

/* ---------------------------------------------------------------- work queue */

static bool stopped(xfer *x)
{
        return x->error < 0 || (x->cancel && *x->cancel);
}

static void fail(xfer *x, int k, rp_client_error *e)
{
        pthread_mutex_lock(&x->lock);
        if (x->error == 0) {
                x->error = k;
                if (e) {
                        x->api_error = *e;
                        *e = (rp_client_error){};
                }
        }
        pthread_mutex_unlock(&x->lock);
}

/* Hand out the next block. @return false when there is none (or the transfer stopped). */
static bool next_block(xfer *x, uint64_t *ret_off, size_t *ret_len)
{
        pthread_mutex_lock(&x->lock);
        bool ok = false;
        if (stopped(x) || x->cursor >= x->limit)
                goto out;
        uint64_t off = x->cursor;
        if (x->upload && x->seek_data) {
                off_t d = lseek(x->fd, (off_t)x->cursor, SEEK_DATA);
                if (d < 0 && errno == ENXIO) {
                        d = (off_t)x->limit; /* only holes from here on */
                } else if (d < 0) {
                        x->seek_data = false; /* not supported here: read everything */
                        d = (off_t)x->cursor;
                }
                off = RP_MIN((uint64_t)d, x->limit);
                off -= off % RP_CLIENT_BLOCK_SIZE;
                if (off < x->cursor)
                        off = x->cursor;
                atomic_fetch_add(&x->skipped, off - x->cursor);
                atomic_fetch_add(&x->done, off - x->cursor);
                if (off >= x->limit) {
                        x->cursor = x->limit;
                        goto out;
                }
        }
        *ret_off = off;
        *ret_len = (size_t)RP_MIN((uint64_t)RP_CLIENT_BLOCK_SIZE, x->limit - off);
        x->cursor = off + *ret_len;
        ok = true;
out:
        pthread_mutex_unlock(&x->lock);
        return ok;
}

/* ---------------------------------------------------------------- one block */

typedef struct sink {
        char *buf; /* download: the block buffer */
        size_t cap, len;
        rp_buf err; /* upload: the reply body, for errors */
} sink;

static size_t on_data(char *data, size_t size, size_t n, void *p)
{
        sink *s = p;
        size_t len = size * n;
        if (s->buf) {
                if (len > s->cap - s->len)
                        return 0; /* more than asked for */
                memcpy(s->buf + s->len, data, len);
                s->len += len;
                return len;
        }
        (void)rp_buf_append(&s->err, data, len); /* a cut error body is still an error */
        return len;
}

static bool transient(long status)
{
        return status == 408 || status == 429 || status >= 500;
}

static bool transient_curl(CURLcode rc)
{
        switch (rc) {
        case CURLE_ABORTED_BY_CALLBACK:
        case CURLE_OUT_OF_MEMORY:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_WRITE_ERROR:
                return false;
        default:
                return true;
        }
}

static void sleep_backoff(xfer *x, unsigned attempt)
{
        long ms = 500L << attempt;
        while (ms > 0 && !(x->cancel && *x->cancel)) {
                struct timespec ts = { 0, 50 * 1000000L };
                nanosleep(&ts, NULL);
                ms -= 50;
        }
}

/* Send or fetch one range on @p h. @return 0, or -EREMOTEIO with @p e set, or -errno. */
static int transfer_range(xfer *x, CURL *h, char *buf, uint64_t off, size_t len, rp_client_error *e)
{
        char range[96];
        snprintf(range, sizeof range, "%s: bytes=%" PRIu64 "-%" PRIu64,
                 x->upload ? "x-ms-range" : "Range", off, off + len - 1);
        struct curl_slist *hdrs = NULL, *t;
        const char *lines[] = { range, "x-ms-version: 2021-08-06",
                                x->upload ? "x-ms-page-write: update" : "Accept: */*",
                                x->upload ? "Content-Type: application/octet-stream"
                                          : "Accept-Encoding: identity" };
        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                t = curl_slist_append(hdrs, lines[i]);
                if (!t) {
                        curl_slist_free_all(hdrs);
                        return -ENOMEM;
                }
                hdrs = t;
        }
        int result = -EIO;
        for (unsigned attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
                if (attempt > 0)
                        sleep_backoff(x, attempt - 1);
                if (x->cancel && *x->cancel) {
                        result = -ECANCELED;
                        break;
                }
                sink s = { .buf = x->upload ? NULL : buf, .cap = len };
                rp_buf_init(&s.err, ERROR_BODY_MAX);
                curl_easy_reset(h);
                rp_client__setup_easy(x->c, h);
                curl_easy_setopt(h, CURLOPT_URL, x->url);
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
                curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
                curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
                if (x->upload) {
                        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
                        curl_easy_setopt(h, CURLOPT_POSTFIELDS, buf);
                        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
                }
                CURLcode rc = curl_easy_perform(h);
                long status = 0;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
                if (rc == CURLE_ABORTED_BY_CALLBACK) {
                        rp_buf_done(&s.err);
                        result = -ECANCELED;
                        break;
                }
                if (rc != CURLE_OK) {
                        int k = rp_client_error_set(e, "ConnectionError", "%s %s: %s",
                                                    x->upload ? "page write" : "read", range,
                                                    curl_easy_strerror(rc));
                        rp_buf_done(&s.err);
                        result = k < 0 ? k : -EREMOTEIO;
                        if (!transient_curl(rc))
                                break;
                        continue;
                }
                bool good = x->upload ? status == 201 || status == 200
                                      : (status == 206 || status == 200) && s.len == len;
                if (good) {
                        rp_buf_done(&s.err);
                        rp_client_error_done(e);
                        result = 0;
                        break;
                }
                rp_client_error_done(e);
                int k;
                if (!x->upload && status / 100 == 2)
                        k = rp_client_error_set(e, "InvalidResponse",
                                                "read %s answered HTTP %ld with %zu of %zu "
                                                "bytes.",
                                                range, status, s.len, len);
                else if (x->upload)
                        k = rp_client_error_parse(status, s.err.ptr, s.err.len, e);
                else
                        k = rp_client_error_parse(status, buf, s.len, e);
                rp_buf_done(&s.err);
                result = k < 0 ? k : -EREMOTEIO;
                if (k < 0 || !transient(status))
                        break;
        }
        curl_slist_free_all(hdrs);
        return result;
}

/* Write the non-zero HOLE_GRAIN pages of a downloaded block, coalesced into runs. */
static int write_nonzero(xfer *x, const char *buf, size_t len, uint64_t off)
{
        size_t i = 0;
        uint64_t skipped = 0;
        while (i < len) {
                size_t g = RP_MIN((size_t)HOLE_GRAIN, len - i);
                if (rp_client__is_zero(buf + i, g)) {
                        skipped += g;
                        i += g;
                        continue;
                }
                size_t start = i;
                while (i < len && !rp_client__is_zero(buf + i, RP_MIN((size_t)HOLE_GRAIN, len - i)))
                        i += RP_MIN((size_t)HOLE_GRAIN, len - i);
                int k = rp_pwrite_all(x->fd, buf + start, i - start, (off_t)(off + start));
                if (k < 0)
                        return k;
        }
        atomic_fetch_add(&x->skipped, skipped);
        return 0;
}

static int do_block(xfer *x, CURL *h, char *buf, uint64_t off, size_t len, rp_client_error *e)
{
        int k;
        if (x->upload) {
                k = rp_pread_full(x->fd, buf, len, (off_t)off);
                if (k < 0)
                        return k;
                size_t first, n;
                if (!rp_client__trim_zero(buf, len, &first, &n)) {
                        atomic_fetch_add(&x->skipped, len);
                        return 0;
                }
                k = transfer_range(x, h, buf + first, off + first, n, e);
                if (k < 0)
                        return k;
                atomic_fetch_add(&x->wire, n);
                atomic_fetch_add(&x->skipped, len - n);
                return 0;
        }
        k = transfer_range(x, h, buf, off, len, e);
        if (k < 0)
                return k;
        atomic_fetch_add(&x->wire, len);
        return write_nonzero(x, buf, len, off);
}

static void *worker(void *p)
{
        xfer *x = p;
        CURL *h = curl_easy_init();
        char *buf = rp_malloc(RP_CLIENT_BLOCK_SIZE);
        if (!h || !buf) {
                fail(x, -ENOMEM, NULL);
        } else {
                uint64_t off;
                size_t len;
                while (next_block(x, &off, &len)) {
                        rp_client_error e = {};
                        int k = do_block(x, h, buf, off, len, &e);
                        if (k < 0) {
                                fail(x, k, &e);
                                rp_client_error_done(&e);
                                break;
                        }
                        atomic_fetch_add(&x->done, len);
                }
        }
        rp_free(buf);
        if (h)
                curl_easy_cleanup(h);
        pthread_mutex_lock(&x->lock);
        x->running--;
        pthread_cond_signal(&x->wake);
        pthread_mutex_unlock(&x->lock);
        return NULL;
}

/* ---------------------------------------------------------------- driver */

static void stats_of(xfer *x, rp_client_xfer_stats *st)
{
        st->total = x->total;
        st->done = RP_MIN((uint64_t)atomic_load(&x->done), x->total);
        st->wire = atomic_load(&x->wire);
        st->skipped = RP_MIN((uint64_t)atomic_load(&x->skipped), x->total);
}

static int run(xfer *x, const rp_client_xfer_opts *opts, rp_client_xfer_stats *ret_stats,
               rp_client_error *reterr)
{
        static const rp_client_xfer_opts defaults = {};
        if (!opts)
                opts = &defaults;
        unsigned n = opts->parallel ? RP_MIN(opts->parallel, RP_CLIENT_MAX_PARALLEL)
                                    : RP_CLIENT_DEFAULT_PARALLEL;
        unsigned interval = opts->interval_ms ? opts->interval_ms : DEFAULT_INTERVAL_MS;
        uint64_t blocks = (x->limit + RP_CLIENT_BLOCK_SIZE - 1) / RP_CLIENT_BLOCK_SIZE;
        if (blocks < n)
                n = blocks ? (unsigned)blocks : 1;
        x->cancel = rp_client__cancel_flag(x->c);
        x->seek_data = true;
        pthread_mutex_init(&x->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&x->wake, &ca);
        pthread_condattr_destroy(&ca);
        pthread_t tids[RP_CLIENT_MAX_PARALLEL];
        unsigned started = 0;
        pthread_mutex_lock(&x->lock);
        for (; started < n; started++) {
                if (pthread_create(&tids[started], NULL, worker, x) != 0)
                        break;
                x->running++;
        }
        if (started == 0)
                x->error = -EAGAIN;
        rp_client_xfer_stats st;
        while (x->running > 0) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_nsec += (long)(interval % 1000) * 1000000L;
                ts.tv_sec += interval / 1000 + ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                int w = pthread_cond_timedwait(&x->wake, &x->lock, &ts);
                if (w == ETIMEDOUT && opts->progress) {
                        pthread_mutex_unlock(&x->lock);
                        stats_of(x, &st);
                        opts->progress(&st, opts->userdata);
                        pthread_mutex_lock(&x->lock);
                }
        }
        pthread_mutex_unlock(&x->lock);
        for (unsigned i = 0; i < started; i++)
                pthread_join(tids[i], NULL);
        pthread_cond_destroy(&x->wake);
        pthread_mutex_destroy(&x->lock);
        int k = x->error;
        if (k == 0 && x->cancel && *x->cancel)
                k = -ECANCELED;
        stats_of(x, &st);
        if (opts->progress && k == 0)
                opts->progress(&st, opts->userdata);
        if (ret_stats)
                *ret_stats = st;
        if (k == -EREMOTEIO && reterr) {
                rp_client_error_done(reterr);
                *reterr = x->api_error;
                x->api_error = (rp_client_error){};
        }
        rp_client_error_done(&x->api_error);
        return k;
}

int rp_client_blob_upload(rp_client *c, const char *sas_url, int fd, uint64_t size,
                          const rp_client_xfer_opts *opts, rp_client_xfer_stats *ret_stats,
                          rp_client_error *reterr)
{
        _cleanup_free_ char *url = NULL;
        int k = rp_client_url_build(NULL, sas_url, NULL, &url);
        if (k < 0)
                return k;
        _cleanup_free_ char *page_url =
                rp_asprintf("%s%ccomp=page", url, strchr(url, '?') ? '&' : '?');
        if (!page_url)
                return -ENOMEM;
        xfer x = {
                .c = c,
                .url = page_url,
                .fd = fd,
                .upload = true,
                .limit = (size + RP_SECTOR_SIZE - 1) / RP_SECTOR_SIZE * RP_SECTOR_SIZE,
                .total = size,
        };
        return run(&x, opts, ret_stats, reterr);
}

int rp_client_blob_download(rp_client *c, const char *sas_url, int fd, uint64_t size,
                            const rp_client_xfer_opts *opts, rp_client_xfer_stats *ret_stats,
                            rp_client_error *reterr)
{
        _cleanup_free_ char *url = NULL;
        int k = rp_client_url_build(NULL, sas_url, NULL, &url);
        if (k < 0)
                return k;
        xfer x = {
                .c = c,
                .url = url,
                .fd = fd,
                .upload = false,
                .limit = size,
                .total = size,
        };
        return run(&x, opts, ret_stats, reterr);
}
