/* repl_test.h: fixtures of the repl unit tests: stores, a generated disk and its manifest, a
 * fake clock, and a fake peer (rp_peer_ops implemented here) serving the disk with injected
 * faults. The data is generated at test time from seeds (nothing large is committed). */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json/json.h"
#include "repl/peer.h"
#include "repl/peer_proto.h"
#include "repl/repl.h"
#include "repl/repl_internal.h"
#include "store/manifest.h"
#include "store/store.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/macro.h"

#define CHUNK ((size_t)RP_CHUNK_SIZE)

/* ------------------------------------------------------------------------- data */

static inline uint64_t rt_rand(uint64_t *x)
{
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        return *x * 2685821657736338717ull;
}

static inline void rt_fill(void *buf, size_t len, uint64_t seed)
{
        uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
        uint8_t *p = buf;
        for (size_t i = 0; i < len; i += 8) {
                uint64_t v = rt_rand(&x);
                memcpy(p + i, &v, RP_MIN(len - i, (size_t)8));
        }
}

/* The id key every region of the test deployment shares. */
static inline const uint8_t *rt_id_key(void)
{
        static uint8_t k[32];
        for (int i = 0; i < 32; i++)
                k[i] = (uint8_t)(i * 7 + 1);
        return k;
}

static inline void rt_chunk_id(const void *plain, size_t len, uint8_t id[32])
{
        assert_int_equal(rp_hmac_sha256(rt_id_key(), 32, plain, len, id), 0);
}

/* A disk image and its manifest. Chunk i is random from seed + i, except: every hole_every-th
 * (from 3) is zeros, and every dup_every-th (from 5) repeats chunk i - 1. The last chunk is
 * short by @p tail bytes. */
typedef struct dataset {
        uint64_t disk_size;
        size_t n_chunks;
        uint8_t *disk;
        rp_manifest *m;
        uint8_t *enc;
        size_t enc_len;
        size_t unique; /* distinct non-hole chunks */
        uint64_t unique_bytes;
} dataset;

static inline void ds_make(dataset *d, size_t n_chunks, uint64_t seed, unsigned hole_every,
                           unsigned dup_every, size_t tail)
{
        *d = (dataset){ .n_chunks = n_chunks, .disk_size = n_chunks * CHUNK - tail };
        d->disk = rp_calloc(1, n_chunks * CHUNK);
        assert_non_null(d->disk);
        assert_int_equal(rp_manifest_new(d->disk_size, &d->m), 0);
        for (size_t i = 0; i < n_chunks; i++) {
                uint8_t *p = d->disk + i * CHUNK;
                size_t len = rp_manifest_chunk_len(d->m, i);
                if (hole_every && i % hole_every == 3)
                        continue;
                if (dup_every && i % dup_every == 5 && i > 0)
                        memcpy(p, p - CHUNK, len);
                else
                        rt_fill(p, len, seed * 100003 + i);
                if (rp_store_is_zero(p, len))
                        continue;
                uint8_t id[32];
                rt_chunk_id(p, len, id);
                assert_int_equal(rp_manifest_set(d->m, i, id), 0);
        }
        assert_int_equal(rp_manifest_encode(d->m, &d->enc, &d->enc_len), 0);
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(d->m, &n);
        for (size_t i = 0; i < n; i++) {
                bool dup = false;
                for (size_t j = 0; j < i && !dup; j++)
                        dup = memcmp(e[i].id, e[j].id, 32) == 0;
                if (!dup) {
                        d->unique++;
                        d->unique_bytes += rp_manifest_chunk_len(d->m, e[i].index);
                }
        }
}

static inline void ds_free(dataset *d)
{
        rp_free(d->disk);
        rp_manifest_free(d->m);
        rp_free(d->enc);
        *d = (dataset){};
}

/* The plaintext of chunk @p id of the dataset, or NULL. */
static inline const uint8_t *ds_find(const dataset *d, const uint8_t id[32], size_t *ret_len)
{
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(d->m, &n);
        for (size_t i = 0; i < n; i++)
                if (memcmp(e[i].id, id, 32) == 0) {
                        *ret_len = rp_manifest_chunk_len(d->m, e[i].index);
                        return d->disk + e[i].index * CHUNK;
                }
        return NULL;
}

/* Put chunks of the dataset into @p s: those whose entry number k has (k % mod) != skip. */
static inline size_t ds_put_some(const dataset *d, rp_store *s, size_t mod, size_t skip)
{
        size_t n, put = 0;
        const rp_manifest_entry *e = rp_manifest_entries(d->m, &n);
        for (size_t k = 0; k < n; k++) {
                if (mod && k % mod == skip)
                        continue;
                size_t len = rp_manifest_chunk_len(d->m, e[k].index);
                uint64_t added = 0;
                assert_int_equal(rp_store_put_verified(s, e[k].id, d->disk + e[k].index * CHUNK,
                                                       len, &added),
                                 0);
                put += added > 0;
        }
        assert_int_equal(rp_store_flush(s), 0);
        return put;
}

/* Check that the copy in @p s with the manifest at @p path is the dataset, byte for byte. */
static inline void ds_check_copy(const dataset *d, rp_store *s, const char *path)
{
        _cleanup_(rp_manifest_freep) rp_manifest *m = NULL;
        assert_int_equal(rp_manifest_read_file(path, &m), 0);
        assert_true(rp_manifest_equal(m, d->m));
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(m, &n);
        _cleanup_free_ uint8_t *buf = rp_malloc(CHUNK);
        assert_non_null(buf);
        for (size_t i = 0; i < n; i++) {
                size_t len = 0, want = rp_manifest_chunk_len(m, e[i].index);
                assert_int_equal(rp_store_get(s, e[i].id, buf, CHUNK, &len), 0);
                assert_int_equal(len, want);
                assert_memory_equal(buf, d->disk + e[i].index * CHUNK, len);
        }
}

/* ------------------------------------------------------------------------- clock */

typedef struct fake_clock {
        rp_usec_t mono, real;
} fake_clock;

static inline rp_usec_t fc_mono(void *ud)
{
        return ((fake_clock *)ud)->mono;
}

static inline rp_usec_t fc_real(void *ud)
{
        return ((fake_clock *)ud)->real;
}

static inline void fc_advance(fake_clock *c, rp_usec_t d)
{
        c->mono += d;
        c->real += d;
}

/* ------------------------------------------------------------------------- fake peer */

#define FP_QUEUE 32

typedef struct fake_peer {
        const dataset *d;
        fake_clock *clock; /* advanced by per_call / per_chunk, if set */
        rp_usec_t per_call, per_chunk;
        /* faults: queues of errnos for successive calls (0 = behave) */
        int manifest_fail[FP_QUEUE];
        int chunks_fail[FP_QUEUE];
        int partial_fail[FP_QUEUE]; /* deliver half the batch, then return this */
        bool always_fail;           /* every get_chunks fails with chunks_fail[0] */
        bool corrupt_all;           /* every chunk arrives corrupt */
        uint8_t corrupt_id[32];     /* arrives corrupt corrupt_left more times */
        unsigned corrupt_left;
        uint8_t missing_id[32]; /* never sent: -ENOENT */
        bool missing;
        const uint8_t *bad_manifest; /* sent instead of the real one */
        size_t bad_manifest_len;
        size_t kill_after;         /* raise(SIGKILL) once this many chunks were sent (0: no) */
        rp_repl_copy *cancel_copy; /* cancelled once cancel_after chunks were sent */
        size_t cancel_after;
        /* observations */
        unsigned manifest_calls, chunk_calls;
        size_t chunks_sent; /* delivered (corrupt ones included) */
        uint64_t bytes_sent;
        size_t max_batch, min_batch;
        size_t *sent_per_entry; /* per manifest entry number (by id, first entry) */
} fake_peer;

static inline int fp_take(int *q)
{
        int r = q[0];
        memmove(q, q + 1, (FP_QUEUE - 1) * sizeof *q);
        q[FP_QUEUE - 1] = 0;
        return r;
}

static inline int fp_get_manifest(rp_peer *peer, const char *drp_id, uint8_t **ret_data,
                                  size_t *ret_len, json_t **ret_meta)
{
        fake_peer *f = rp_peer_impl(peer);
        f->manifest_calls++;
        if (f->clock)
                fc_advance(f->clock, f->per_call);
        int r = fp_take(f->manifest_fail);
        if (r < 0)
                return r;
        const uint8_t *src = f->bad_manifest ? f->bad_manifest : f->d->enc;
        size_t len = f->bad_manifest ? f->bad_manifest_len : f->d->enc_len;
        uint8_t *p = rp_malloc(len);
        if (!p)
                return -ENOMEM; /* OOM torture */
        memcpy(p, src, len);
        *ret_data = p;
        *ret_len = len;
        *ret_meta = json_pack("{s:s, s:I, s:s}", "sourceId", drp_id, "diskSizeBytes",
                              (json_int_t)f->d->disk_size, "location", "eastus");
        return 0;
}

static inline void fp_note(fake_peer *f, const uint8_t id[32])
{
        if (!f->sent_per_entry)
                return;
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(f->d->m, &n);
        for (size_t i = 0; i < n; i++)
                if (memcmp(e[i].id, id, 32) == 0) {
                        f->sent_per_entry[i]++;
                        return;
                }
}

static inline int fp_get_chunks(rp_peer *peer, const uint8_t (*ids)[32], size_t n,
                                rp_peer_chunk_cb on_chunk, void *ud)
{
        fake_peer *f = rp_peer_impl(peer);
        f->chunk_calls++;
        f->max_batch = RP_MAX(f->max_batch, n);
        f->min_batch = f->min_batch ? RP_MIN(f->min_batch, n) : n;
        if (f->clock)
                fc_advance(f->clock, f->per_call);
        int r = f->always_fail ? f->chunks_fail[0] : fp_take(f->chunks_fail);
        if (r < 0)
                return r;
        int partial = fp_take(f->partial_fail);
        size_t limit = partial < 0 ? n / 2 : n;
        bool missing = false;
        _cleanup_free_ uint8_t *tmp = rp_malloc(CHUNK);
        if (!tmp)
                return -ENOMEM; /* OOM torture */
        for (size_t i = 0; i < limit; i++) {
                if (f->missing && memcmp(ids[i], f->missing_id, 32) == 0) {
                        missing = true;
                        continue;
                }
                size_t len = 0;
                const uint8_t *p = ds_find(f->d, ids[i], &len);
                assert_non_null(p);
                memcpy(tmp, p, len);
                if (f->corrupt_all ||
                    (f->corrupt_left > 0 && memcmp(ids[i], f->corrupt_id, 32) == 0)) {
                        if (!f->corrupt_all)
                                f->corrupt_left--;
                        tmp[len / 2] ^= 0x40;
                }
                if (f->clock)
                        fc_advance(f->clock, f->per_chunk);
                f->chunks_sent++;
                f->bytes_sent += len;
                fp_note(f, ids[i]);
                r = on_chunk(ud, ids[i], tmp, len);
                if (f->kill_after && f->chunks_sent >= f->kill_after)
                        raise(SIGKILL);
                if (f->cancel_copy && f->chunks_sent == f->cancel_after)
                        rp_repl_copy_cancel(f->cancel_copy);
                if (r < 0)
                        return r;
        }
        if (partial < 0)
                return partial;
        return missing ? -ENOENT : 0;
}

static inline const char *fp_last_error(rp_peer *peer)
{
        return "fake peer says so";
}

static const rp_peer_ops fake_peer_ops = {
        .version = RP_PEER_OPS_VERSION,
        .get_manifest = fp_get_manifest,
        .get_chunks = fp_get_chunks,
        .free = NULL,
        .last_error = fp_last_error,
};

/* ------------------------------------------------------------------------- fixture */

typedef struct repl_fixture {
        char dir[64];
        char *chunks, *db, *manifest;
        uint8_t enc_key[32];
        rp_store *target;
        dataset d;
        fake_clock clock;
        rp_repl_clock rclock;
        fake_peer fp;
        rp_peer *peer;
} repl_fixture;

static inline int rt_rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
        return remove(p);
}

static inline void rt_open_target(repl_fixture *f)
{
        assert_int_equal(rp_store_open(f->chunks, f->db, rt_id_key(), f->enc_key, &f->target), 0);
}

/* A fixture with an empty target store, a dataset of @p n_chunks and a fake peer on it. */
static inline repl_fixture *rt_setup(size_t n_chunks)
{
        rp_json_init();
        repl_fixture *f = rp_calloc(1, sizeof *f);
        assert_non_null(f);
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/rpreplXXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        f->chunks = rp_asprintf("%s/chunks", f->dir);
        f->db = rp_asprintf("%s/meta.db", f->dir);
        f->manifest = rp_asprintf("%s/copy.manifest", f->dir);
        for (int i = 0; i < 32; i++)
                f->enc_key[i] = (uint8_t)(i * 13 + 5);
        rt_open_target(f);
        ds_make(&f->d, n_chunks, 42, 10, 7, 4096);
        f->clock = (fake_clock){ .mono = 1000 * RP_USEC_PER_SEC,
                                 .real = 1700000000ull * RP_USEC_PER_SEC };
        f->rclock = (rp_repl_clock){ .monotonic = fc_mono, .realtime = fc_real, .ud = &f->clock };
        f->fp = (fake_peer){ .d = &f->d };
        assert_int_equal(rp_peer_new(&fake_peer_ops, &f->fp, &f->peer), 0);
        return f;
}

static inline void rt_teardown(repl_fixture *f)
{
        rp_peer_free(f->peer);
        rp_store_free(f->target);
        ds_free(&f->d);
        rp_free(f->fp.sent_per_entry);
        nftw(f->dir, rt_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        rp_free(f->chunks);
        rp_free(f->db);
        rp_free(f->manifest);
        rp_free(f);
}

/* A config on the fixture's fake clock. */
static inline rp_repl_config rt_config(repl_fixture *f)
{
        return (rp_repl_config){ .batch_chunks = 16, .clock = &f->rclock };
}

/* Step @p c until DONE or FAILED, jumping the fake clock over every WAIT. Checks that the
 * percent never goes down. @return the last step result. */
static inline int rt_drive(repl_fixture *f, rp_repl_copy *c, unsigned max_steps)
{
        unsigned last_percent = 0;
        for (unsigned i = 0; i < max_steps; i++) {
                int r = rp_repl_copy_step(c);
                assert_true(r >= 0);
                rp_repl_progress p;
                assert_int_equal(rp_repl_copy_progress(c, &p), 0);
                assert_true(p.percent <= 100);
                if (getenv("RT_TRACE"))
                        print_message("step %d state %s done %lu/%lu bytes %lu/%lu pct %u\n", r,
                                      rp_repl_state_to_string(p.state),
                                      (unsigned long)p.chunks_done, (unsigned long)p.chunks_needed,
                                      (unsigned long)p.bytes_done, (unsigned long)p.bytes_needed,
                                      p.percent);
                if (p.percent < last_percent && r != RP_REPL_STEP_FAILED)
                        fail_msg("percent went from %u to %u (state %s, step %d)", last_percent,
                                 p.percent, rp_repl_state_to_string(p.state), r);
                last_percent = p.percent;
                if (r == RP_REPL_STEP_DONE || r == RP_REPL_STEP_FAILED)
                        return r;
                if (r == RP_REPL_STEP_WAIT) {
                        rp_usec_t w = rp_repl_copy_wait_usec(c);
                        fc_advance(&f->clock, w ? w : 1);
                }
        }
        fail_msg("copy did not finish in %u steps", max_steps);
        return -1;
}

static inline bool rt_exists(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0;
}
