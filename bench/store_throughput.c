/* store_throughput.c: chunk store throughput on a synthetic VM disk.
 *
 * Builds an image in memory (default 2 GiB) of 256 KiB chunks: 30 % random, 20 % text-like,
 * 50 % zeros (holes), interleaved pseudo-randomly. Then, in a fresh store under a temporary
 * directory:
 *   put    every chunk (holes included, as capture does) with T threads, then one flush
 *   reput  the same again: every chunk is a dedup hit (the cost of an unchanged chunk)
 *   get    every non-hole chunk with T threads, verified (tag, HMAC) and compared
 * and prints MB/s of disk bytes (1 MB = 10^6 bytes), the stored size and the pack count.
 * Reads come from the page cache (the packs were just written); nothing is dropped.
 *
 * usage: store_throughput [size_MiB [threads [dir]]]
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "util/parse.h"

#define CHUNK ((size_t)RP_CHUNK_SIZE)

typedef struct bench {
        rp_store *s;
        uint8_t *img;
        size_t n_chunks;
        uint8_t (*ids)[32];
        int threads;
        atomic_size_t next;
        atomic_int errors;
        atomic_uint_fast64_t added;
} bench;

/* CPU seconds of the process so far (user + system, all threads). */
static double cpu(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xs(uint64_t *x)
{
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        return *x * 2685821657736338717ull;
}

static void gen_chunk(uint8_t *p, size_t i)
{
        uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull + 12345;
        unsigned kind = (unsigned)(xs(&x) % 10);
        if (kind < 5) {
                memset(p, 0, CHUNK); /* 50 % holes */
        } else if (kind < 8) {
                for (size_t k = 0; k < CHUNK; k += 8) { /* 30 % random */
                        uint64_t v = xs(&x);
                        memcpy(p + k, &v, 8);
                }
        } else {
                /* 20 % text: log-like lines from a small vocabulary, with numbers. */
                static const char *w[] = { "INFO ",    "WARN ",  "request ", "completed ",
                                           "disk ",    "chunk ", "region=",  "eastus ",
                                           "latency=", "ms ",    "user ",    "GET /api ",
                                           "200 ",     "the ",   "restore ", "point\n" };
                size_t k = 0;
                while (k < CHUNK) {
                        char tmp[32];
                        uint64_t r = xs(&x);
                        int n = r % 4 == 0 ? snprintf(tmp, sizeof tmp, "%" PRIu64 " ", r % 100000)
                                           : snprintf(tmp, sizeof tmp, "%s", w[r % 16]);
                        size_t c = (size_t)n < CHUNK - k ? (size_t)n : CHUNK - k;
                        memcpy(p + k, tmp, c);
                        k += c;
                }
        }
}

static void *put_worker(void *ud)
{
        bench *b = ud;
        for (;;) {
                size_t i = atomic_fetch_add(&b->next, 1);
                if (i >= b->n_chunks)
                        break;
                uint64_t added = 0;
                if (rp_store_put(b->s, b->img + i * CHUNK, CHUNK, b->ids[i], &added) < 0)
                        atomic_fetch_add(&b->errors, 1);
                atomic_fetch_add(&b->added, added);
        }
        return NULL;
}

static void *get_worker(void *ud)
{
        bench *b = ud;
        uint8_t *buf = rp_malloc(CHUNK);
        for (;;) {
                size_t i = atomic_fetch_add(&b->next, 1);
                if (i >= b->n_chunks)
                        break;
                if (rp_store_id_is_zero(b->ids[i]))
                        continue;
                size_t n = 0;
                if (!buf || rp_store_get(b->s, b->ids[i], buf, CHUNK, &n) < 0 || n != CHUNK ||
                    memcmp(buf, b->img + i * CHUNK, CHUNK) != 0)
                        atomic_fetch_add(&b->errors, 1);
        }
        rp_free(buf);
        return NULL;
}

static double run(bench *b, void *(*fn)(void *), double *ret_cpu)
{
        pthread_t t[64];
        atomic_store(&b->next, 0);
        double c0 = cpu(), t0 = now();
        for (int i = 0; i < b->threads; i++)
                pthread_create(&t[i], NULL, fn, b);
        for (int i = 0; i < b->threads; i++)
                pthread_join(t[i], NULL);
        *ret_cpu = cpu() - c0;
        return now() - t0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
        return remove(p);
}

int main(int argc, char **argv)
{
        uint64_t mib = 2048, threads = 2;
        const char *base = argc > 3 ? argv[3] : "/tmp";
        if ((argc > 1 && rp_parse_u64(argv[1], &mib) < 0) ||
            (argc > 2 && rp_parse_u64(argv[2], &threads) < 0) || mib == 0 || mib > (1u << 20) ||
            threads < 1 || threads > 64) {
                fprintf(stderr, "usage: %s [size_MiB [threads [dir]]]\n", argv[0]);
                return 2;
        }
        bench b = { .threads = (int)threads };
        b.n_chunks = mib * 1024 * 1024 / CHUNK;
        size_t bytes = b.n_chunks * CHUNK;
        b.img = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        b.ids = rp_calloc(b.n_chunks, 32);
        if (b.img == MAP_FAILED || !b.ids)
                return 1;
        size_t holes = 0;
        for (size_t i = 0; i < b.n_chunks; i++) {
                gen_chunk(b.img + i * CHUNK, i);
                holes += b.img[i * CHUNK] == 0 && b.img[i * CHUNK + CHUNK - 1] == 0 &&
                         rp_store_is_zero(b.img + i * CHUNK, CHUNK);
        }

        char dir[256];
        snprintf(dir, sizeof dir, "%s/rpstorebenchXXXXXX", base);
        if (!mkdtemp(dir))
                return 1;
        char chunks[300], db[300];
        snprintf(chunks, sizeof chunks, "%s/chunks", dir);
        snprintf(db, sizeof db, "%s/meta.db", dir);
        uint8_t idk[32], enck[32];
        memset(idk, 1, sizeof idk);
        memset(enck, 2, sizeof enck);
        int r = rp_store_open(chunks, db, idk, enck, &b.s);
        if (r < 0) {
                fprintf(stderr, "open: %s\n", strerror(-r));
                return 1;
        }
        double mb = (double)bytes / 1e6;
        printf("image: %" PRIu64 " MiB, %zu chunks (%zu holes), %d thread(s), %s\n", mib,
               b.n_chunks, holes, (int)threads, dir);

        double c_put, c_reput, c_get;
        double t_put = run(&b, put_worker, &c_put);
        double c0 = cpu(), t0 = now();
        r = rp_store_flush(b.s);
        double t_flush = now() - t0;
        c_put += cpu() - c0;
        if (r < 0)
                atomic_fetch_add(&b.errors, 1);
        rp_store_stats_result st;
        rp_store_stats(b.s, &st);
        printf("put+flush: %.2f s wall (flush %.3f s), %.2f s cpu: %.0f MB/s wall, %.0f MB/s "
               "per cpu-second\n",
               t_put + t_flush, t_flush, c_put, mb / (t_put + t_flush), mb / c_put);
        printf("  stored %.1f MB in packs for %.1f MB of non-hole data (%.1f %%), %" PRIu64
               " chunks, %" PRIu64 " packs\n",
               (double)st.pack_bytes / 1e6, (double)st.raw_bytes / 1e6,
               100.0 * (double)st.pack_bytes / (double)st.raw_bytes, st.chunks, st.packs);

        atomic_store(&b.added, 0);
        double t_reput = run(&b, put_worker, &c_reput);
        printf("reput (all dedup): %.2f s wall, %.2f s cpu: %.0f MB/s wall, %.0f MB/s per "
               "cpu-second, added %" PRIu64 " bytes\n",
               t_reput, c_reput, mb / t_reput, mb / c_reput, (uint64_t)atomic_load(&b.added));

        double t_get = run(&b, get_worker, &c_get);
        printf("get (verified; holes skipped): %.2f s wall, %.2f s cpu: %.0f MB/s of disk wall "
               "(%.0f MB/s of non-hole data), %.0f MB/s of disk per cpu-second\n",
               t_get, c_get, mb / t_get, (double)st.raw_bytes / 1e6 / t_get, mb / c_get);

        int errors = atomic_load(&b.errors);
        if (errors)
                printf("ERRORS: %d\n", errors);
        rp_store_free(b.s);
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        munmap(b.img, bytes);
        rp_free(b.ids);
        return errors ? 1 : 0;
}
