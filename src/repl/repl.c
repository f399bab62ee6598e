/* repl.c: the copy engine: one disk restore point pulled from a source region.
 *
 * DESIGN
 *
 *   FETCH_MANIFEST -> PLAN -> TRANSFER -> COMMIT -> DONE
 *         \            \         \          \
 *          +------------+---------+----------+--> FAILED
 *
 * Each rp_repl_copy_step() does one bounded piece of work and returns; the caller persists
 * rp_repl_copy_cursor() after it. Backoff, the bandwidth limit and the concurrency cap never
 * sleep inside a step: the step returns WAIT with a deadline (rp_repl_copy_wait_usec()), so one
 * worker thread can drive many copies. A step blocks only on the peer's I/O for one batch.
 *
 * Durability and resume. The cursor's "position" is a manifest entry index: every chunk of the
 * entries before it is in the store, flushed. A batch is: ids from the need list -> limiter ->
 * get_chunks -> rp_store_put_verified() per chunk (the digest check; a mismatch is corruption
 * in transit and the chunk is fetched again at once, up to refetch_rounds times) ->
 * rp_store_flush() -> counters and position advance. A crash loses at most the unflushed batch.
 * A restart (a cursor in any live state) fetches the manifest again, requires the same SHA-256,
 * and plans from "position": rp_store_has() skips everything already stored, so only what was
 * in flight is fetched twice. COMMIT checks every id of the manifest once more (garbage
 * collection may have removed chunks of a paused copy: they are planned again), then writes the
 * manifest file atomically and durably: only then is the copy usable.
 *
 * Planning dedups repeated ids within a manifest (a set of 64-bit id prefixes: a prefix
 * collision merely defers a chunk to COMMIT's check, which plans it again), so a chunk is
 * fetched once however many offsets hold it. Chunks another copy stored meanwhile are noticed
 * when the batch is built and counted as done without a fetch.
 *
 * Progress counters live under a mutex so that rp_repl_copy_progress() may run on another
 * thread (the API's instanceView) while a step runs; they include the chunks received in the
 * batch in flight, so progress moves while a slow batch arrives. The cursor holds only durable
 * counts.
 *
 * Faults. Errors are final or retried. Final: cancellation, the time limit, the source lacks
 * the point (-ENOENT on the manifest) or a chunk (-ENOENT on chunks), authentication refused
 * (-EACCES), a manifest that does not decode, a manifest that changed since the cursor was
 * written. Everything else (timeouts, refused or reset connections, 5xx, unsigned or malformed
 * answers, local store errors) is retried after min(max, initial * 2^(n-1)) with "equal
 * jitter" (half fixed, half random), until the failures have lasted give_up_after without a
 * success, or max_attempts failures in a row; the reason names the last error and the peer's
 * own description of it. This module never logs above debug: the job runner logs the outcome.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "json/json.h"
#include "repl/peer_proto.h"
#include "repl/repl_internal.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

#define RATE_SAMPLES 32u
#define RATE_SAMPLE_SPACING (500ull * 1000ull)
#define RATE_WINDOW (10ull * RP_USEC_PER_SEC)
#define MAX_COMMIT_REPLANS 5u
#define MAX_REASON 1024u

/* ------------------------------------------------------------------------- types */

enum item_state {
        ITEM_PENDING,
        ITEM_DONE,
        ITEM_CORRUPT
};

typedef struct batch_item {
        size_t entry; /* index into the manifest entries */
        uint32_t len; /* plaintext length of the chunk */
        enum item_state st;
        bool present;     /* stored before this batch fetched it */
        unsigned corrupt; /* times it arrived corrupt */
} batch_item;

/* Open-addressing set of 64-bit id prefixes (plan-time dedup). 0 marks an empty slot, so the
 * prefix 0 is mapped to 1 (a harmless extra collision). */
typedef struct idset {
        uint64_t *slot;
        size_t cap, n;
} idset;

struct rp_repl_copy {
        rp_repl_config cfg;
        rp_peer *peer;
        rp_store *store;
        char *source;
        char *manifest_path;

        enum rp_repl_state state;
        atomic_bool cancel;
        bool have_slot;
        bool queued;

        /* the manifest */
        rp_manifest *m;
        const rp_manifest_entry *entries;
        size_t n_entries;
        bool have_sha;
        uint8_t sha[32];
        json_t *meta;

        /* plan */
        uint64_t position;
        size_t plan_pos;
        size_t *need;
        size_t n_need, cap_need, need_pos;
        uint64_t plan_bytes;
        idset seen;
        unsigned commit_replans;

        /* the batch in flight */
        batch_item items[RP_PEER_MAX_IDS];
        size_t n_items;
        uint8_t req_ids[RP_PEER_MAX_IDS][32];
        size_t req_item[RP_PEER_MAX_IDS];
        size_t n_req;
        int local_error; /* a store error inside on_chunk */

        /* counters, guarded by lock */
        pthread_mutex_t lock;
        bool planned;
        uint64_t chunks_needed, bytes_needed, chunks_done, bytes_done;
        uint64_t live_chunks, live_bytes;
        uint64_t shown_chunks, shown_bytes; /* most ever reported: progress never goes back */
        uint64_t bytes_fetched, chunks_refetched, retries;
        rp_usec_t started_at;
        struct {
                rp_usec_t t;
                uint64_t bytes;
        } samples[RATE_SAMPLES];
        size_t n_samples, sample_next;

        /* retry */
        unsigned attempts;
        rp_usec_t first_failure;
        rp_usec_t wait_until;
        bool retrying;

        /* failure */
        int error;
        const char *error_code;
        char *error_message;
};

/* ------------------------------------------------------------------------- small helpers */

static rp_usec_t default_mono(void *ud)
{
        return rp_now_monotonic();
}

static rp_usec_t default_real(void *ud)
{
        return rp_now_realtime();
}

static const rp_repl_clock default_clock = {
        .monotonic = default_mono,
        .realtime = default_real,
};

static rp_usec_t mono(rp_repl_copy *c)
{
        return c->cfg.clock->monotonic(c->cfg.clock->ud);
}

static rp_usec_t real(rp_repl_copy *c)
{
        return c->cfg.clock->realtime(c->cfg.clock->ud);
}

/* "3 min 20 s", "2 h 5 min", "14 days". */
static void format_duration(rp_usec_t d, char *out, size_t size)
{
        uint64_t s = d / RP_USEC_PER_SEC;
        if (s < 60)
                snprintf(out, size, "%llu s", (unsigned long long)s);
        else if (s < 3600)
                snprintf(out, size, "%llu min %llu s", (unsigned long long)(s / 60),
                         (unsigned long long)(s % 60));
        else if (s < 86400 || s % 86400 != 0)
                snprintf(out, size, "%llu h %llu min", (unsigned long long)(s / 3600),
                         (unsigned long long)(s % 3600 / 60));
        else
                snprintf(out, size, "%llu day%s", (unsigned long long)(s / 86400),
                         s / 86400 == 1 ? "" : "s");
}

/* ------------------------------------------------------------------------- id set */

static uint64_t id_prefix(const uint8_t id[32])
{
        uint64_t v;
        memcpy(&v, id, 8);
        return v ? v : 1;
}

static void idset_done(idset *s)
{
        s->slot = rp_free(s->slot);
        s->cap = s->n = 0;
}

/* @return 1 (added), 0 (was there), -ENOMEM. */
static int idset_add(idset *s, uint64_t v)
{
        if ((s->n + 1) * 2 > s->cap) {
                size_t ncap = s->cap ? s->cap * 2 : 1024;
                uint64_t *ns = rp_calloc(ncap, sizeof *ns);
                if (!ns)
                        return -ENOMEM;
                for (size_t i = 0; i < s->cap; i++) {
                        if (!s->slot[i])
                                continue;
                        size_t h = (size_t)(s->slot[i] * 0x9e3779b97f4a7c15ull) & (ncap - 1);
                        while (ns[h])
                                h = (h + 1) & (ncap - 1);
                        ns[h] = s->slot[i];
                }
                rp_free(s->slot);
                s->slot = ns;
                s->cap = ncap;
        }
        size_t h = (size_t)(v * 0x9e3779b97f4a7c15ull) & (s->cap - 1);
        while (s->slot[h]) {
                if (s->slot[h] == v)
                        return 0;
                h = (h + 1) & (s->cap - 1);
        }
        s->slot[h] = v;
        s->n++;
        return 1;
}

/* ------------------------------------------------------------------------- progress */

/* Record a rate sample (lock held). */
static void sample_locked(rp_repl_copy *c, rp_usec_t now, bool force)
{
        uint64_t bytes = c->bytes_done + c->live_bytes;
        if (c->n_samples > 0 && !force) {
                size_t last = (c->sample_next + RATE_SAMPLES - 1) % RATE_SAMPLES;
                if (now < c->samples[last].t + RATE_SAMPLE_SPACING)
                        return;
        }
        c->samples[c->sample_next].t = now;
        c->samples[c->sample_next].bytes = bytes;
        c->sample_next = (c->sample_next + 1) % RATE_SAMPLES;
        if (c->n_samples < RATE_SAMPLES)
                c->n_samples++;
}

/* Bytes per second over the window (lock held). */
static uint64_t rate_locked(rp_repl_copy *c, rp_usec_t now)
{
        if (c->n_samples == 0)
                return 0;
        uint64_t bytes = c->bytes_done + c->live_bytes;
        /* The oldest sample still inside the window, else the newest one before it. */
        size_t first = (c->sample_next + RATE_SAMPLES - c->n_samples) % RATE_SAMPLES;
        size_t pick = first;
        for (size_t k = 0; k < c->n_samples; k++) {
                size_t i = (first + k) % RATE_SAMPLES;
                pick = i;
                if (now < RATE_WINDOW || c->samples[i].t + RATE_WINDOW >= now)
                        break;
        }
        rp_usec_t t0 = c->samples[pick].t;
        if (now <= t0 || now - t0 < RP_USEC_PER_SEC / 5 || bytes < c->samples[pick].bytes)
                return 0;
        return (uint64_t)((double)(bytes - c->samples[pick].bytes) * (double)RP_USEC_PER_SEC /
                          (double)(now - t0));
}

int rp_repl_copy_progress(rp_repl_copy *c, rp_repl_progress *ret)
{
        if (!c || !ret)
                return -EINVAL;
        rp_usec_t now = mono(c);
        pthread_mutex_lock(&c->lock);
        /* A failed batch drops the chunks it received from the live counts until its retry
         * finds them stored; what was shown once stays shown (they are flushed, or fetched
         * again within a batch). */
        c->shown_chunks =
                RP_MIN(RP_MAX(c->shown_chunks, c->chunks_done + c->live_chunks), c->chunks_needed);
        c->shown_bytes =
                RP_MIN(RP_MAX(c->shown_bytes, c->bytes_done + c->live_bytes), c->bytes_needed);
        rp_repl_progress p = {
                .state = c->state,
                .queued = c->queued,
                .retrying = c->retrying,
                .chunks_needed = c->chunks_needed,
                .chunks_done = c->shown_chunks,
                .bytes_needed = c->bytes_needed,
                .bytes_done = c->shown_bytes,
                .bytes_fetched = c->bytes_fetched,
                .chunks_refetched = c->chunks_refetched,
                .retries = c->retries,
                .started_at = c->started_at,
                .eta_sec = -1,
        };
        bool planned = c->planned;
        if (c->state == RP_REPL_STATE_TRANSFER || c->state == RP_REPL_STATE_COMMIT)
                p.bytes_per_sec = rate_locked(c, now);
        pthread_mutex_unlock(&c->lock);

        if (p.chunks_done > p.chunks_needed)
                p.chunks_done = p.chunks_needed;
        if (p.bytes_done > p.bytes_needed)
                p.bytes_done = p.bytes_needed;
        if (p.state == RP_REPL_STATE_DONE) {
                p.percent = 100;
                p.eta_sec = 0;
        } else if (planned) {
                if (p.bytes_needed > 0)
                        p.percent =
                                (unsigned)((double)p.bytes_done * 100.0 / (double)p.bytes_needed);
                if (p.percent > 99)
                        p.percent = 99;
                uint64_t left = p.bytes_needed - p.bytes_done;
                if (left == 0)
                        p.eta_sec = 0;
                else if (p.bytes_per_sec > 0)
                        p.eta_sec = (int64_t)((left + p.bytes_per_sec - 1) / p.bytes_per_sec);
        }
        if (p.state == RP_REPL_STATE_FAILED)
                p.eta_sec = -1;
        *ret = p;
        return 0;
}

enum rp_repl_state rp_repl_copy_state(rp_repl_copy *c)
{
        pthread_mutex_lock(&c->lock);
        enum rp_repl_state s = c->state;
        pthread_mutex_unlock(&c->lock);
        return s;
}

static void set_state(rp_repl_copy *c, enum rp_repl_state s)
{
        pthread_mutex_lock(&c->lock);
        c->state = s;
        pthread_mutex_unlock(&c->lock);
}

/* ------------------------------------------------------------------------- outcome */

static void release_slot(rp_repl_copy *c)
{
        if (c->have_slot && c->cfg.sem)
                rp_repl_sem_release(c->cfg.sem);
        c->have_slot = false;
}

/* Fail for good with @p error, a code and a message (printf). @return RP_REPL_STEP_FAILED. */
static int finish_failed(rp_repl_copy *c, int error, const char *code, const char *fmt, ...)
        _printf_(4, 5);
static int finish_failed(rp_repl_copy *c, int error, const char *code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *msg = rp_vasprintf(fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&c->lock);
        rp_free(c->error_message);
        c->error_message = msg; /* NULL on OOM: rp_repl_copy_error() says so */
        c->error = error < 0 ? error : -EIO;
        c->error_code = code;
        c->state = RP_REPL_STATE_FAILED;
        c->retrying = false;
        c->queued = false;
        c->live_chunks = c->live_bytes = 0;
        pthread_mutex_unlock(&c->lock);
        release_slot(c);
        log_debug("repl: copy of '%s' failed: %s: %s", c->source, code, msg ? msg : "");
        return RP_REPL_STEP_FAILED;
}

static int finish_canceled(rp_repl_copy *c)
{
        return finish_failed(c, -ECANCELED, RP_REPL_EC_CANCELED, "The copy was canceled.");
}

static rp_usec_t backoff_delay(rp_repl_copy *c)
{
        rp_usec_t d = c->cfg.backoff_initial;
        for (unsigned i = 1; i < c->attempts && d < c->cfg.backoff_max; i++)
                d = d > c->cfg.backoff_max / 2 ? c->cfg.backoff_max : d * 2;
        if (d > c->cfg.backoff_max)
                d = c->cfg.backoff_max;
        uint64_t rnd = 0;
        if (rp_random_bytes(&rnd, sizeof rnd) < 0)
                return d;
        rp_usec_t half = d / 2;
        return half + rnd % (d - half + 1);
}

/*
 * A step failed with @p r while doing @p what. Final errors fail the copy; others schedule a
 * retry unless the budget is spent. @p local: the failure is this region's (store, files).
 * @return RP_REPL_STEP_WAIT or RP_REPL_STEP_FAILED.
 */
static int failed_attempt(rp_repl_copy *c, int r, bool local, const char *what)
{
        if (atomic_load(&c->cancel) || r == -ECANCELED)
                return finish_canceled(c);
        const char *peer_text = local ? NULL : rp_peer_last_error(c->peer);
        _cleanup_free_ char *reason =
                rp_asprintf("%s: %s%s%s%s", what, strerror(-r), peer_text ? " (" : "",
                            peer_text ? peer_text : "", peer_text ? ")" : "");
        if (!local && r == -EACCES)
                return finish_failed(c, r, RP_REPL_EC_AUTH,
                                     "The source region refused this region's credentials; "
                                     "check the pair key of the two regions. %s",
                                     reason ? reason : "");
        rp_usec_t now = mono(c);
        pthread_mutex_lock(&c->lock);
        c->retries++;
        c->live_chunks = c->live_bytes = 0;
        pthread_mutex_unlock(&c->lock);
        c->attempts++;
        if (c->attempts == 1)
                c->first_failure = now;
        rp_usec_t failing = now - c->first_failure;
        if ((c->cfg.max_attempts && c->attempts >= c->cfg.max_attempts) ||
            failing >= c->cfg.give_up_after) {
                char dur[64];
                format_duration(failing, dur, sizeof dur);
                return finish_failed(c, r, local ? RP_REPL_EC_STORE : RP_REPL_EC_PEER,
                                     "Gave up after %u failed attempt%s in a row over %s. Last "
                                     "error: %s.",
                                     c->attempts, c->attempts == 1 ? "" : "s", dur,
                                     reason ? reason : "?");
        }
        rp_usec_t delay = backoff_delay(c);
        c->wait_until = now + delay;
        pthread_mutex_lock(&c->lock);
        c->retrying = true;
        pthread_mutex_unlock(&c->lock);
        log_debug("repl: copy of '%s': attempt %u failed, retrying in %llu ms: %s", c->source,
                  c->attempts, (unsigned long long)(delay / 1000), reason ? reason : "");
        return RP_REPL_STEP_WAIT;
}

/* A step succeeded: the failure streak is over. */
static void attempt_ok(rp_repl_copy *c)
{
        c->attempts = 0;
        pthread_mutex_lock(&c->lock);
        c->retrying = false;
        pthread_mutex_unlock(&c->lock);
}

/* ------------------------------------------------------------------------- FETCH_MANIFEST */

static void plan_reset(rp_repl_copy *c)
{
        c->plan_pos = (size_t)RP_MIN(c->position, (uint64_t)c->n_entries);
        c->n_need = c->need_pos = 0;
        c->plan_bytes = 0;
        idset_done(&c->seen);
}

static int step_fetch_manifest(rp_repl_copy *c)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t len = 0;
        _cleanup_json_ json_t *meta = NULL;
        int r = rp_peer_get_manifest(c->peer, c->source, &data, &len, &meta);
        if (r == -ENOENT)
                return finish_failed(c, r, RP_REPL_EC_SOURCE_NOT_FOUND,
                                     "The source region has no complete disk restore point '%s'.",
                                     c->source);
        if (r < 0)
                return failed_attempt(c, r, false, "fetching the manifest from the source region");
        uint8_t sha[32];
        rp_sha256(data, len, sha);
        if (c->have_sha && memcmp(sha, c->sha, 32) != 0)
                return finish_failed(c, -ESTALE, RP_REPL_EC_SOURCE_CHANGED,
                                     "The manifest of source disk restore point '%s' changed "
                                     "during the copy.",
                                     c->source);
        rp_manifest *m = NULL;
        r = rp_manifest_decode(data, len, &m);
        if (r == -ENOMEM)
                return failed_attempt(c, r, true, "decoding the manifest");
        if (r < 0)
                return finish_failed(c, r, RP_REPL_EC_BAD_MANIFEST,
                                     "The source region sent a manifest for '%s' that is not "
                                     "valid: %s.",
                                     c->source, strerror(-r));
        rp_manifest_free(c->m);
        c->m = m;
        c->entries = rp_manifest_entries(m, &c->n_entries);
        memcpy(c->sha, sha, 32);
        c->have_sha = true;
        pthread_mutex_lock(&c->lock);
        if (c->meta)
                json_decref(c->meta);
        c->meta = TAKE_PTR(meta);
        pthread_mutex_unlock(&c->lock);
        if (c->position > c->n_entries)
                c->position = 0; /* cannot be: replan everything rather than trust it */
        plan_reset(c);
        attempt_ok(c);
        set_state(c, RP_REPL_STATE_PLAN);
        return RP_REPL_STEP_CONTINUE;
}

/* ------------------------------------------------------------------------- PLAN */

static int need_push(rp_repl_copy *c, size_t entry)
{
        if (c->n_need == c->cap_need) {
                size_t ncap = c->cap_need ? c->cap_need * 2 : 256;
                size_t *n = rp_realloc(c->need, ncap * sizeof *n);
                if (!n)
                        return -ENOMEM;
                c->need = n;
                c->cap_need = ncap;
        }
        c->need[c->n_need++] = entry;
        return 0;
}

static uint32_t entry_len(rp_repl_copy *c, size_t entry)
{
        return rp_manifest_chunk_len(c->m, c->entries[entry].index);
}

static int step_plan(rp_repl_copy *c)
{
        size_t end = RP_MIN(c->n_entries, c->plan_pos + (size_t)c->cfg.plan_per_step);
        for (size_t i = c->plan_pos; i < end; i++) {
                int r = rp_store_has(c->store, c->entries[i].id);
                if (r > 0)
                        continue;
                if (r == 0) {
                        r = idset_add(&c->seen, id_prefix(c->entries[i].id));
                        if (r == 0)
                                continue;
                        if (r > 0)
                                r = need_push(c, i);
                }
                if (r < 0) {
                        /* The set and the list may disagree now: plan again from the start. */
                        plan_reset(c);
                        return failed_attempt(c, r, true, "planning the copy");
                }
                c->plan_bytes += entry_len(c, i);
        }
        c->plan_pos = end;
        if (c->plan_pos < c->n_entries)
                return RP_REPL_STEP_CONTINUE;
        idset_done(&c->seen);
        rp_usec_t now = mono(c);
        pthread_mutex_lock(&c->lock);
        c->chunks_needed = c->chunks_done + c->n_need;
        c->bytes_needed = c->bytes_done + c->plan_bytes;
        c->planned = true;
        c->state = RP_REPL_STATE_TRANSFER;
        sample_locked(c, now, true);
        pthread_mutex_unlock(&c->lock);
        c->need_pos = 0;
        attempt_ok(c);
        return RP_REPL_STEP_CONTINUE;
}

/* ------------------------------------------------------------------------- TRANSFER */

static int on_chunk(void *ud, const uint8_t id[32], const void *plain, size_t len)
{
        rp_repl_copy *c = ud;
        if (atomic_load(&c->cancel))
                return -ECANCELED;
        batch_item *it = NULL;
        for (size_t k = 0; k < c->n_req; k++)
                if (memcmp(c->req_ids[k], id, 32) == 0) {
                        it = &c->items[c->req_item[k]];
                        break;
                }
        if (!it || it->st != ITEM_PENDING)
                return -EPROTO; /* the peer broke the contract: not asked for, or twice */
        pthread_mutex_lock(&c->lock);
        c->bytes_fetched += len;
        pthread_mutex_unlock(&c->lock);
        int r = rp_store_put_verified(c->store, id, plain, len, NULL);
        if (r == -EBADMSG || r == -EINVAL) {
                /* corrupt in transit (or cut to a bad length): fetch it again */
                it->st = ITEM_CORRUPT;
                it->corrupt++;
                pthread_mutex_lock(&c->lock);
                c->chunks_refetched++;
                pthread_mutex_unlock(&c->lock);
                return 0;
        }
        if (r < 0) {
                c->local_error = r;
                return r;
        }
        it->st = ITEM_DONE;
        rp_usec_t now = mono(c);
        pthread_mutex_lock(&c->lock);
        c->live_chunks++;
        c->live_bytes += it->len;
        sample_locked(c, now, false);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

/* The batch at need_pos: its items, and whether each is already stored. */
static int batch_build(rp_repl_copy *c, uint64_t *ret_bytes)
{
        c->n_items = 0;
        uint64_t bytes = 0;
        size_t n = RP_MIN((size_t)c->cfg.batch_chunks, c->n_need - c->need_pos);
        for (size_t k = 0; k < n; k++) {
                size_t entry = c->need[c->need_pos + k];
                int r = rp_store_has(c->store, c->entries[entry].id);
                if (r < 0)
                        return r;
                batch_item *it = &c->items[c->n_items++];
                *it = (batch_item){ .entry = entry,
                                    .len = entry_len(c, entry),
                                    .present = r > 0,
                                    .st = r > 0 ? ITEM_DONE : ITEM_PENDING };
                if (!it->present)
                        bytes += it->len;
        }
        *ret_bytes = bytes;
        return 0;
}

/* The ids still to fetch (pending or corrupt ones, made pending). @return how many. */
static size_t batch_request(rp_repl_copy *c)
{
        c->n_req = 0;
        for (size_t k = 0; k < c->n_items; k++) {
                batch_item *it = &c->items[k];
                if (it->st == ITEM_DONE)
                        continue;
                it->st = ITEM_PENDING;
                memcpy(c->req_ids[c->n_req], c->entries[it->entry].id, 32);
                c->req_item[c->n_req++] = k;
        }
        return c->n_req;
}

static int step_transfer(rp_repl_copy *c)
{
        if (c->need_pos >= c->n_need) {
                set_state(c, RP_REPL_STATE_COMMIT);
                return RP_REPL_STEP_CONTINUE;
        }
        uint64_t bytes = 0;
        int r = batch_build(c, &bytes);
        if (r < 0)
                return failed_attempt(c, r, true, "checking the target store");
        rp_usec_t wait = 0;
        if (bytes > 0 && c->cfg.limiter &&
            !rp_repl_limiter_take(c->cfg.limiter, bytes, mono(c), &wait)) {
                c->wait_until = mono(c) + wait;
                return RP_REPL_STEP_WAIT;
        }

        c->local_error = 0;
        r = 0;
        bool unfinished = false;
        /* The limiter paces the link: when the peer can say what crossed (compressed), the
         * tokens taken for the plaintext and not used go back after the batch. */
        uint64_t wire0 = 0, wire1 = 0;
        bool wire = bytes > 0 && c->cfg.limiter && rp_peer_wire_bytes(c->peer, &wire0);
        for (unsigned round = 0; batch_request(c) > 0; round++) {
                if (round > c->cfg.refetch_rounds) {
                        unfinished = true;
                        break;
                }
                r = rp_peer_get_chunks(c->peer, (const uint8_t(*)[32])c->req_ids, c->n_req,
                                       on_chunk, c);
                if (r < 0)
                        break;
                /* What is left arrived corrupt (or, against the contract, not at all): ask
                 * again, up to the round cap. */
        }
        if (wire && rp_peer_wire_bytes(c->peer, &wire1) && wire1 - wire0 < bytes)
                rp_repl_limiter_give(c->cfg.limiter, bytes - (wire1 - wire0));
        /* Keep what arrived intact, whatever happened to the rest. */
        int rf = rp_store_flush(c->store);

        if (atomic_load(&c->cancel) || r == -ECANCELED)
                return finish_canceled(c);
        if (r == -ENOENT) {
                for (size_t k = 0; k < c->n_items; k++) {
                        if (c->items[k].st == ITEM_DONE)
                                continue;
                        const rp_manifest_entry *e = &c->entries[c->items[k].entry];
                        char hex[65];
                        rp_hex_encode(e->id, 32, hex);
                        return finish_failed(c, r, RP_REPL_EC_SOURCE_DATA_MISSING,
                                             "The source region no longer has chunk %s (disk "
                                             "offset %llu) of '%s'.",
                                             hex, (unsigned long long)e->index * RP_CHUNK_SIZE,
                                             c->source);
                }
                r = -EPROTO; /* says missing, but everything arrived */
        }
        if (unfinished) {
                for (size_t k = 0; k < c->n_items; k++) {
                        const batch_item *it = &c->items[k];
                        if (it->st == ITEM_DONE)
                                continue;
                        char hex[65], what[RP_STORE_ID_LEN * 2 + 64];
                        rp_hex_encode(c->entries[it->entry].id, 32, hex);
                        if (it->corrupt > 0)
                                snprintf(what, sizeof what, "chunk %s arrived corrupt %u times",
                                         hex, it->corrupt);
                        else
                                snprintf(what, sizeof what, "chunk %s was never sent", hex);
                        return failed_attempt(c, it->corrupt > 0 ? -EBADMSG : -EPROTO, false, what);
                }
        }
        if (c->local_error < 0)
                return failed_attempt(c, c->local_error, true, "storing chunks");
        if (r < 0)
                return failed_attempt(c, r, false, "fetching chunks from the source region");
        if (rf < 0)
                return failed_attempt(c, rf, true, "flushing the target store");

        /* The whole batch is durable. */
        uint64_t done_bytes = 0;
        for (size_t k = 0; k < c->n_items; k++)
                done_bytes += c->items[k].len;
        c->need_pos += c->n_items;
        c->position = c->need_pos < c->n_need ? c->need[c->need_pos] : c->n_entries;
        rp_usec_t now = mono(c);
        pthread_mutex_lock(&c->lock);
        c->chunks_done += c->n_items;
        c->bytes_done += done_bytes;
        c->live_chunks = c->live_bytes = 0;
        sample_locked(c, now, false);
        pthread_mutex_unlock(&c->lock);
        attempt_ok(c);
        if (c->need_pos >= c->n_need)
                set_state(c, RP_REPL_STATE_COMMIT);
        return RP_REPL_STEP_CONTINUE;
}

/* ------------------------------------------------------------------------- COMMIT */

static int step_commit(rp_repl_copy *c)
{
        size_t missing = 0;
        for (size_t i = 0; i < c->n_entries; i++) {
                int r = rp_store_has(c->store, c->entries[i].id);
                if (r < 0)
                        return failed_attempt(c, r, true, "checking the target store");
                missing += r == 0;
        }
        if (missing > 0) {
                /* Chunks went away (garbage collection of a paused copy): plan them again. */
                if (++c->commit_replans > MAX_COMMIT_REPLANS)
                        return failed_attempt(c, -ESTALE, true,
                                              "chunks keep disappearing from the target store");
                c->position = 0;
                plan_reset(c);
                set_state(c, RP_REPL_STATE_PLAN);
                return RP_REPL_STEP_CONTINUE;
        }
        int r = rp_store_flush(c->store);
        if (r < 0)
                return failed_attempt(c, r, true, "flushing the target store");
        r = rp_manifest_write_file(c->m, c->manifest_path);
        if (r < 0)
                return failed_attempt(c, r, true, "writing the manifest");
        attempt_ok(c);
        c->position = c->n_entries;
        set_state(c, RP_REPL_STATE_DONE);
        release_slot(c);
        log_debug("repl: copy of '%s' done", c->source);
        return RP_REPL_STEP_DONE;
}

/* ------------------------------------------------------------------------- the machine */

int rp_repl_copy_step(rp_repl_copy *c)
{
        if (!c)
                return -EINVAL;
        if (c->state == RP_REPL_STATE_DONE)
                return RP_REPL_STEP_DONE;
        if (c->state == RP_REPL_STATE_FAILED)
                return RP_REPL_STEP_FAILED;
        if (atomic_load(&c->cancel))
                return finish_canceled(c);
        rp_usec_t rnow = real(c);
        if (rnow > c->started_at && rnow - c->started_at >= c->cfg.time_limit) {
                char dur[64];
                format_duration(c->cfg.time_limit, dur, sizeof dur);
                return finish_failed(c, -ETIME, RP_REPL_EC_TIME_LIMIT,
                                     "The copy did not complete within its time limit of %s.", dur);
        }
        rp_usec_t now = mono(c);
        if (now < c->wait_until)
                return RP_REPL_STEP_WAIT;
        c->wait_until = 0;
        if (!c->have_slot) {
                if (c->cfg.sem && !rp_repl_sem_try_acquire(c->cfg.sem)) {
                        pthread_mutex_lock(&c->lock);
                        c->queued = true;
                        pthread_mutex_unlock(&c->lock);
                        c->wait_until = now + RP_REPL_SLOT_POLL;
                        return RP_REPL_STEP_WAIT;
                }
                c->have_slot = true;
                pthread_mutex_lock(&c->lock);
                c->queued = false;
                pthread_mutex_unlock(&c->lock);
        }
        switch (c->state) {
        case RP_REPL_STATE_FETCH_MANIFEST:
                return step_fetch_manifest(c);
        case RP_REPL_STATE_PLAN:
                return step_plan(c);
        case RP_REPL_STATE_TRANSFER:
                return step_transfer(c);
        case RP_REPL_STATE_COMMIT:
                return step_commit(c);
        default:
                return finish_failed(c, -EINVAL, RP_REPL_EC_PEER, "internal error: bad state");
        }
}

rp_usec_t rp_repl_copy_wait_usec(rp_repl_copy *c)
{
        if (!c || c->state == RP_REPL_STATE_DONE || c->state == RP_REPL_STATE_FAILED)
                return 0;
        rp_usec_t now = mono(c);
        rp_usec_t w = c->wait_until > now ? c->wait_until - now : 0;
        /* Wake up in time to fail at the time limit rather than after the backoff. */
        rp_usec_t rnow = real(c);
        rp_usec_t deadline = c->started_at + c->cfg.time_limit;
        if (deadline > rnow && deadline - rnow < w)
                w = deadline - rnow;
        return w;
}

void rp_repl_copy_cancel(rp_repl_copy *c)
{
        if (c)
                atomic_store(&c->cancel, true);
}

json_t *rp_repl_copy_cursor(rp_repl_copy *c)
{
        if (!c)
                return NULL;
        pthread_mutex_lock(&c->lock);
        rp_repl__cursor cur = {
                .state = c->state,
                .source = c->source,
                .position = c->position,
                .have_sha = c->have_sha,
                .started_at = c->started_at,
                .planned = c->planned,
                .chunks_needed = c->chunks_needed,
                .bytes_needed = c->bytes_needed,
                .chunks_done = c->chunks_done,
                .bytes_done = c->bytes_done,
                .bytes_fetched = c->bytes_fetched,
                .chunks_refetched = c->chunks_refetched,
                .retries = c->retries,
                .meta = c->meta,
                .error = c->error,
                .error_code = c->error_code,
                .error_message = c->error_message ? c->error_message : "The copy failed.",
        };
        memcpy(cur.manifest_sha256, c->sha, 32);
        json_t *j = rp_repl__cursor_build(&cur);
        pthread_mutex_unlock(&c->lock);
        return j;
}

int rp_repl_copy_error(rp_repl_copy *c, const char **ret_code, const char **ret_message)
{
        if (!c)
                return -EINVAL;
        pthread_mutex_lock(&c->lock);
        int e = c->state == RP_REPL_STATE_FAILED ? c->error : 0;
        if (e < 0) {
                if (ret_code)
                        *ret_code = c->error_code;
                if (ret_message)
                        *ret_message = c->error_message ? c->error_message : "The copy failed.";
        }
        pthread_mutex_unlock(&c->lock);
        return e;
}

const json_t *rp_repl_copy_meta(rp_repl_copy *c)
{
        return c ? c->meta : NULL;
}

const rp_manifest *rp_repl_copy_manifest(rp_repl_copy *c)
{
        return c ? c->m : NULL;
}

/* ------------------------------------------------------------------------- new, free */

/* Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF. */
static bool utf8_valid(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
                unsigned n, min;
                uint32_t cp;
                if (*p < 0x80) {
                        p++;
                        continue;
                } else if ((*p & 0xe0) == 0xc0)
                        n = 1, min = 0x80, cp = *p & 0x1f;
                else if ((*p & 0xf0) == 0xe0)
                        n = 2, min = 0x800, cp = *p & 0x0f;
                else if ((*p & 0xf8) == 0xf0)
                        n = 3, min = 0x10000, cp = *p & 0x07;
                else
                        return false;
                for (unsigned i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += n + 1;
        }
        return true;
}

static void config_fill(rp_repl_config *cfg)
{
        if (!cfg->batch_chunks)
                cfg->batch_chunks = RP_REPL_DEFAULT_BATCH_CHUNKS;
        cfg->batch_chunks = RP_MAX(cfg->batch_chunks, RP_REPL_MIN_BATCH_CHUNKS);
        cfg->batch_chunks = RP_MIN(cfg->batch_chunks, RP_PEER_MAX_IDS);
        if (!cfg->backoff_initial)
                cfg->backoff_initial = RP_REPL_DEFAULT_BACKOFF_INITIAL;
        if (!cfg->backoff_max)
                cfg->backoff_max = RP_REPL_DEFAULT_BACKOFF_MAX;
        if (cfg->backoff_max < cfg->backoff_initial)
                cfg->backoff_max = cfg->backoff_initial;
        if (!cfg->give_up_after)
                cfg->give_up_after = RP_REPL_DEFAULT_GIVE_UP;
        if (!cfg->time_limit)
                cfg->time_limit = RP_REPL_DEFAULT_TIME_LIMIT;
        if (!cfg->refetch_rounds)
                cfg->refetch_rounds = RP_REPL_DEFAULT_REFETCH_ROUNDS;
        if (!cfg->plan_per_step)
                cfg->plan_per_step = RP_REPL_DEFAULT_PLAN_PER_STEP;
        if (!cfg->clock)
                cfg->clock = &default_clock;
}

static int copy_resume(rp_repl_copy *c, const json_t *cursor)
{
        rp_repl__cursor cur;
        int r = rp_repl__cursor_parse(cursor, c->source, &cur);
        if (r < 0)
                return r;
        c->position = cur.position;
        c->have_sha = cur.have_sha;
        memcpy(c->sha, cur.manifest_sha256, 32);
        c->started_at = cur.started_at;
        c->planned = cur.planned;
        c->chunks_needed = cur.chunks_needed;
        c->bytes_needed = cur.bytes_needed;
        c->chunks_done = cur.chunks_done;
        c->bytes_done = cur.bytes_done;
        c->bytes_fetched = cur.bytes_fetched;
        c->chunks_refetched = cur.chunks_refetched;
        c->retries = cur.retries;
        if (cur.meta) {
                c->meta = json_deep_copy(cur.meta);
                if (!c->meta)
                        return -ENOMEM;
        }
        switch (cur.state) {
        case RP_REPL_STATE_DONE:
                c->state = RP_REPL_STATE_DONE;
                break;
        case RP_REPL_STATE_FAILED:
                c->state = RP_REPL_STATE_FAILED;
                c->error = cur.error;
                c->error_code = cur.error_code;
                c->error_message = rp_strdup(cur.error_message);
                if (!c->error_message)
                        return -ENOMEM;
                break;
        default:
                /* Any live state: the manifest is fetched again (and must be the same). */
                c->state = RP_REPL_STATE_FETCH_MANIFEST;
        }
        return 0;
}

int rp_repl_copy_new(const rp_repl_config *cfg, rp_peer *peer, rp_store *target_store,
                     const char *source_drp_id, const char *manifest_path, const json_t *cursor,
                     rp_repl_copy **ret)
{
        if (!peer || !target_store || !source_drp_id || !*source_drp_id ||
            strlen(source_drp_id) > RP_PEER_MAX_DRP_ID || !manifest_path || !*manifest_path || !ret)
                return -EINVAL;
        if (!utf8_valid(source_drp_id)) /* it goes into JSON (cursor, reasons) */
                return -EINVAL;
        rp_repl_copy *c = rp_calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        atomic_init(&c->cancel, false);
        if (cfg)
                c->cfg = *cfg;
        config_fill(&c->cfg);
        c->cfg.limiter = rp_repl_limiter_ref(c->cfg.limiter);
        c->cfg.sem = rp_repl_sem_ref(c->cfg.sem);
        c->peer = peer;
        c->store = target_store;
        c->source = rp_strdup(source_drp_id);
        c->manifest_path = rp_strdup(manifest_path);
        if (!c->source || !c->manifest_path) {
                rp_repl_copy_free(c);
                return -ENOMEM;
        }
        c->state = RP_REPL_STATE_FETCH_MANIFEST;
        if (cursor) {
                int r = copy_resume(c, cursor);
                if (r < 0) {
                        rp_repl_copy_free(c);
                        return r;
                }
        } else
                c->started_at = real(c);
        *ret = c;
        return 0;
}

rp_repl_copy *rp_repl_copy_free(rp_repl_copy *c)
{
        if (!c)
                return NULL;
        release_slot(c);
        rp_repl_limiter_unref(c->cfg.limiter);
        rp_repl_sem_unref(c->cfg.sem);
        rp_manifest_free(c->m);
        if (c->meta)
                json_decref(c->meta);
        idset_done(&c->seen);
        rp_free(c->need);
        rp_free(c->source);
        rp_free(c->manifest_path);
        rp_free(c->error_message);
        pthread_mutex_destroy(&c->lock);
        rp_free(c);
        return NULL;
}
