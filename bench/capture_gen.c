/* capture_gen.c: the VM disk images of bench/capture.sh.
 *
 * Writes two sparse images of SIZE_MiB:
 *   V1: runs of 512 KiB to 8 MiB (4 KiB-aligned), shuffled: 30 % random bytes, 20 % text
 *       (log lines built from a vocabulary, timestamps, numbers, ids: compressible but not
 *       repetitive), 50 % holes (never written);
 *   V2: V1, then 1 % of the image rewritten by N_CHANGES scattered 64 KiB writes at random
 *       64 KiB-aligned offsets inside the data runs (distinct offsets; a write inside a random
 *       run gets new random bytes, one inside a text run new log lines).
 * The changed ranges go to CHANGES ("offset length kind" per line, sorted), the layout to
 * CHANGES.layout ("offset length kind" per run). Deterministic for a seed. Nothing is synced.
 *
 * usage: capture_gen SIZE_MiB SEED V1 V2 CHANGES
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define CHANGE (64 * KIB)
#define BUF (1 * MIB)

enum { HOLE, RANDOM, TEXT };
static const char *const kind_name[] = { "hole", "random", "text" };

typedef struct run {
        uint64_t off, len;
        int kind;
} run;

static uint64_t rng_s[4];

static uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

/* xoshiro256** */
static uint64_t rnd(void)
{
        uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
        rng_s[2] ^= rng_s[0];
        rng_s[3] ^= rng_s[1];
        rng_s[1] ^= rng_s[2];
        rng_s[0] ^= rng_s[3];
        rng_s[2] ^= t;
        rng_s[3] = rotl(rng_s[3], 45);
        return r;
}

static void seed(uint64_t s)
{
        for (int i = 0; i < 4; i++) { /* splitmix64 */
                uint64_t z = (s += 0x9e3779b97f4a7c15ull);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
                rng_s[i] = z ^ (z >> 31);
        }
}

static uint64_t below(uint64_t n)
{
        return rnd() % n;
}

static void die(const char *what)
{
        fprintf(stderr, "capture_gen: %s: %s\n", what, strerror(errno));
        exit(1);
}

/* ---------------------------------------------------------------- text */

#define N_WORDS 4096
static char words[N_WORDS][16];
static uint64_t clock_us = 1795000000ull * 1000000ull; /* log timestamps, increasing */

static void make_words(void)
{
        static const char *const syl[] = { "ka", "to", "ri", "en", "mo", "sa", "lu", "ve",
                                           "di", "an", "or", "ne", "pi", "ste", "qua", "ber",
                                           "lin", "gor", "ti", "ux", "ma", "con", "ex", "dat" };
        for (int i = 0; i < N_WORDS; i++) {
                int n = 1 + (int)below(4);
                words[i][0] = 0;
                for (int k = 0; k < n; k++)
                        strcat(words[i], syl[below(sizeof syl / sizeof *syl)]);
        }
}

/* A word, Zipf-like: common words much more often than rare ones. */
static const char *word(void)
{
        uint64_t r = below(N_WORDS);
        return words[(r * r) / N_WORDS];
}

static size_t log_line(char *p, size_t room)
{
        static const char *const hosts[] = { "web-01", "web-02", "db-01", "cache-03", "batch-7" };
        static const char *const procs[] = { "nginx", "postgres", "app", "cron", "sshd",
                                             "kernel", "dockerd" };
        static const char *const levels[] = { "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR" };
        clock_us += below(50000);
        uint64_t s = clock_us / 1000000, us = clock_us % 1000000;
        unsigned day = (unsigned)(s / 86400 % 28) + 1, h = (unsigned)(s / 3600 % 24),
                 m = (unsigned)(s / 60 % 60), sec = (unsigned)(s % 60);
        int n;
        switch (below(4)) {
        case 0:
                n = snprintf(p, room,
                             "2026-11-%02uT%02u:%02u:%02u.%06" PRIu64 "Z %s %s[%" PRIu64
                             "]: %s 10.%u.%u.%u - - \"GET /api/v1/%s/%" PRIu64
                             "?limit=%u HTTP/1.1\" %u %" PRIu64 " %.3f\n",
                             day, h, m, sec, us, hosts[below(5)], procs[0], 1000 + below(9000),
                             levels[0], (unsigned)below(4), (unsigned)below(256),
                             (unsigned)below(256), word(), below(1000000),
                             (unsigned)(10 << below(4)), below(10) ? 200u : 404u,
                             below(100000), (double)below(100000) / 1000.0);
                break;
        case 1:
                n = snprintf(p, room,
                             "2026-11-%02uT%02u:%02u:%02u.%06" PRIu64 "Z %s %s[%" PRIu64
                             "]: %s job %08" PRIx64 " %s %" PRIu64 " %s for %s-%s in %.1f ms\n",
                             day, h, m, sec, us, hosts[below(5)], procs[2 + below(5)],
                             1000 + below(9000), levels[below(6)], rnd() & 0xffffffffu, word(),
                             below(5000), word(), word(), word(),
                             (double)below(100000) / 10.0);
                break;
        case 2:
                n = snprintf(p, room,
                             "2026-11-%02uT%02u:%02u:%02u.%06" PRIu64 "Z %s %s[%" PRIu64
                             "]: %s %s %s %s %s %s %s: %s=%" PRIu64 " %s=%s\n",
                             day, h, m, sec, us, hosts[below(5)], procs[below(7)],
                             1000 + below(9000), levels[below(6)], word(), word(), word(),
                             word(), word(), word(), word(), below(100000), word(), word());
                break;
        default:
                n = snprintf(p, room,
                             "2026-11-%02uT%02u:%02u:%02u.%06" PRIu64 "Z %s postgres[%" PRIu64
                             "]: LOG duration: %.3f ms statement: SELECT %s, %s FROM %s "
                             "WHERE %s_id = %" PRIu64 " AND %s > '%s'\n",
                             day, h, m, sec, us, hosts[2], 1000 + below(9000),
                             (double)below(1000000) / 1000.0, word(), word(), word(), word(),
                             below(10000000), word(), word());
                break;
        }
        return n < 0 ? 0 : (size_t)n >= room ? room : (size_t)n;
}

static void fill(char *p, size_t len, int kind)
{
        if (kind == RANDOM) {
                for (size_t i = 0; i < len; i += 8) {
                        uint64_t v = rnd();
                        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
                }
                return;
        }
        char line[512];
        size_t pos = 0;
        while (pos < len) {
                size_t n = log_line(line, sizeof line);
                if (n > len - pos)
                        n = len - pos;
                memcpy(p + pos, line, n);
                pos += n;
        }
}

static void pwrite_all(int fd, const char *p, size_t len, uint64_t off)
{
        while (len) {
                ssize_t n = pwrite(fd, p, len, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        die("write");
                }
                p += n;
                len -= (size_t)n;
                off += (uint64_t)n;
        }
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        if (argc != 6) {
                fprintf(stderr, "usage: capture_gen SIZE_MiB SEED V1 V2 CHANGES\n");
                return 2;
        }
        uint64_t size = strtoull(argv[1], NULL, 10) * MIB;
        seed(strtoull(argv[2], NULL, 10));
        make_words();

        /* runs of each kind summing exactly to its quota, then shuffled */
        uint64_t quota[3] = { 0 };
        quota[RANDOM] = size * 30 / 100 / (4 * KIB) * (4 * KIB);
        quota[TEXT] = size * 20 / 100 / (4 * KIB) * (4 * KIB);
        quota[HOLE] = size - quota[RANDOM] - quota[TEXT];
        size_t cap = (size_t)(size / (512 * KIB)) + 8, n_runs = 0;
        run *runs = calloc(cap, sizeof *runs);
        if (!runs)
                die("calloc");
        for (int k = 0; k < 3; k++)
                for (uint64_t left = quota[k]; left;) {
                        uint64_t len = (512 * KIB + below(7680 * KIB)) / (4 * KIB) * (4 * KIB);
                        if (len > left)
                                len = left;
                        runs[n_runs++] = (run){ 0, len, k };
                        left -= len;
                }
        for (size_t i = n_runs - 1; i > 0; i--) {
                size_t j = (size_t)below(i + 1);
                run t = runs[i];
                runs[i] = runs[j];
                runs[j] = t;
        }
        uint64_t off = 0;
        for (size_t i = 0; i < n_runs; i++) {
                runs[i].off = off;
                off += runs[i].len;
        }

        int fd1 = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fd2 = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd1 < 0 || fd2 < 0)
                die("open");
        if (ftruncate(fd1, (off_t)size) < 0 || ftruncate(fd2, (off_t)size) < 0)
                die("ftruncate");
        char *buf = malloc(BUF);
        if (!buf)
                die("malloc");
        char lpath[4096];
        snprintf(lpath, sizeof lpath, "%s.layout", argv[5]);
        FILE *lf = fopen(lpath, "w");
        if (!lf)
                die(lpath);
        for (size_t i = 0; i < n_runs; i++) {
                fprintf(lf, "%" PRIu64 " %" PRIu64 " %s\n", runs[i].off, runs[i].len,
                        kind_name[runs[i].kind]);
                if (runs[i].kind == HOLE)
                        continue;
                for (uint64_t pos = 0; pos < runs[i].len; pos += BUF) {
                        size_t n = (size_t)(runs[i].len - pos < BUF ? runs[i].len - pos : BUF);
                        fill(buf, n, runs[i].kind);
                        pwrite_all(fd1, buf, n, runs[i].off + pos);
                        pwrite_all(fd2, buf, n, runs[i].off + pos);
                }
        }
        fclose(lf);

        /* 1 %: distinct 64 KiB-aligned slots wholly inside data runs, uniformly chosen */
        size_t n_changes = (size_t)((size / 100 + CHANGE - 1) / CHANGE);
        size_t n_slots = 0;
        for (size_t i = 0; i < n_runs; i++)
                if (runs[i].kind != HOLE) {
                        uint64_t a = (runs[i].off + CHANGE - 1) / CHANGE * CHANGE;
                        uint64_t b = (runs[i].off + runs[i].len) / CHANGE * CHANGE;
                        n_slots += b > a ? (size_t)((b - a) / CHANGE) : 0;
                }
        uint64_t *slots = malloc(n_slots * sizeof *slots);
        if (!slots)
                die("malloc");
        size_t s = 0;
        for (size_t i = 0; i < n_runs; i++)
                if (runs[i].kind != HOLE) {
                        uint64_t a = (runs[i].off + CHANGE - 1) / CHANGE * CHANGE;
                        uint64_t b = (runs[i].off + runs[i].len) / CHANGE * CHANGE;
                        for (uint64_t o = a; o + CHANGE <= b; o += CHANGE)
                                slots[s++] = o;
                }
        if (n_changes > n_slots)
                n_changes = n_slots;
        for (size_t i = 0; i < n_changes; i++) { /* partial Fisher-Yates */
                size_t j = i + (size_t)below(n_slots - i);
                uint64_t t = slots[i];
                slots[i] = slots[j];
                slots[j] = t;
        }
        qsort(slots, n_changes, sizeof *slots, cmp_u64);
        FILE *cf = fopen(argv[5], "w");
        if (!cf)
                die(argv[5]);
        size_t r = 0;
        uint64_t changed[3] = { 0 };
        for (size_t i = 0; i < n_changes; i++) {
                while (runs[r].off + runs[r].len <= slots[i])
                        r++;
                fill(buf, CHANGE, runs[r].kind);
                pwrite_all(fd2, buf, CHANGE, slots[i]);
                changed[runs[r].kind] += CHANGE;
                fprintf(cf, "%" PRIu64 " %" PRIu64 " %s\n", slots[i], (uint64_t)CHANGE,
                        kind_name[runs[r].kind]);
        }
        if (fclose(cf) != 0 || close(fd1) < 0 || close(fd2) < 0)
                die("close");
        printf("image %" PRIu64 " MiB: %zu runs; random %" PRIu64 " MiB, text %" PRIu64
               " MiB, holes %" PRIu64 " MiB\n",
               (uint64_t)(size / MIB), n_runs, (uint64_t)(quota[RANDOM] / MIB),
               (uint64_t)(quota[TEXT] / MIB), (uint64_t)(quota[HOLE] / MIB));
        printf("change: %zu writes of 64 KiB = %" PRIu64 " bytes (%.2f %%): %" PRIu64
               " bytes in random runs, %" PRIu64 " in text runs\n",
               n_changes, changed[RANDOM] + changed[TEXT],
               100.0 * (double)(changed[RANDOM] + changed[TEXT]) / (double)size, changed[RANDOM],
               changed[TEXT]);
        free(slots);
        free(buf);
        free(runs);
        return 0;
}
