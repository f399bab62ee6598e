/* repl.h: the cross-region copy engine: one disk restore point pulled from a source region
 * into this region's store, as an explicit state machine resumable from a persisted cursor,
 * with retries, a time limit, cancellation, progress, and per region pair bandwidth and
 * concurrency limits. */
#pragma once
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "repl/peer.h"
#include "store/manifest.h"
#include "store/store.h"
#include "util/macro.h"
#include "util/time.h"

/* ------------------------------------------------------------------------- limits shared per pair
 */

/**
 * A token bucket shared by the copies of one region pair: bytes may be taken at @p rate per
 * second on average. Thread-safe; reference counted (each copy holds a reference).
 */
typedef struct rp_repl_limiter rp_repl_limiter;

/**
 * A new limiter with an empty bucket.
 * @param bytes_per_sec the rate; 0 means unlimited.
 * @return the limiter (one reference, drop it with rp_repl_limiter_unref()), NULL on OOM.
 */
rp_repl_limiter *rp_repl_limiter_new(uint64_t bytes_per_sec);
/** Take a reference. @return @p l. */
rp_repl_limiter *rp_repl_limiter_ref(rp_repl_limiter *l);
/** Drop a reference; the last one frees. NULL-safe. @return NULL. */
rp_repl_limiter *rp_repl_limiter_unref(rp_repl_limiter *l);
RP_DEFINE_CLEANUP(rp_repl_limiter, rp_repl_limiter_unref)
/** Change the rate (0: unlimited); takes effect for the next take. */
void rp_repl_limiter_set_rate(rp_repl_limiter *l, uint64_t bytes_per_sec);
/** @return the rate in bytes per second (0: unlimited). */
uint64_t rp_repl_limiter_rate(rp_repl_limiter *l);

/**
 * Take @p bytes from the bucket if they are there, without blocking. The bucket fills at the
 * rate up to max(a quarter second of rate, the largest take asked for), so any take is
 * eventually granted and a burst after idleness stays short.
 * @param now monotonic clock (rp_now_monotonic(), or a test clock).
 * @param[out] ret_wait when not granted: how long until it would be. May be NULL.
 * @return 1 (granted: the bytes are taken), 0 (not yet).
 */
int rp_repl_limiter_take(rp_repl_limiter *l, uint64_t bytes, rp_usec_t now, rp_usec_t *ret_wait);

/** Put back @p bytes taken but not used (the bucket stays within its cap). */
void rp_repl_limiter_give(rp_repl_limiter *l, uint64_t bytes);

/** Take @p bytes, sleeping as long as needed (real clocks). */
void rp_repl_limiter_take_wait(rp_repl_limiter *l, uint64_t bytes);

/**
 * A counting semaphore capping the copies of one region pair that run at once. Thread-safe;
 * reference counted like the limiter.
 */
typedef struct rp_repl_sem rp_repl_sem;

/** A semaphore of @p max slots (0 means no cap). @return one reference, NULL on OOM. */
rp_repl_sem *rp_repl_sem_new(unsigned max);
/** Take a reference. @return @p s. */
rp_repl_sem *rp_repl_sem_ref(rp_repl_sem *s);
/** Drop a reference; the last one frees. NULL-safe. @return NULL. */
rp_repl_sem *rp_repl_sem_unref(rp_repl_sem *s);
RP_DEFINE_CLEANUP(rp_repl_sem, rp_repl_sem_unref)
/** Take a slot without blocking. @return 1 (taken), 0 (all in use). */
int rp_repl_sem_try_acquire(rp_repl_sem *s);
/** Give a slot back. */
void rp_repl_sem_release(rp_repl_sem *s);
/** Change the cap (0: none); slots already taken stay taken. */
void rp_repl_sem_set_max(rp_repl_sem *s, unsigned max);
/** @return the slots in use. */
unsigned rp_repl_sem_in_use(rp_repl_sem *s);

/* ------------------------------------------------------------------------- configuration */

/** Default of rp_repl_config.batch_chunks (a zero field takes its default). */
#define RP_REPL_DEFAULT_BATCH_CHUNKS 64u
/** Fewest chunks per batch (smaller settings are raised to it). */
#define RP_REPL_MIN_BATCH_CHUNKS 16u
/** Default of rp_repl_config.backoff_initial: 1 s. */
#define RP_REPL_DEFAULT_BACKOFF_INITIAL (1ull * RP_USEC_PER_SEC)
/** Default of rp_repl_config.backoff_max: 5 min. */
#define RP_REPL_DEFAULT_BACKOFF_MAX (300ull * RP_USEC_PER_SEC)
/** Default of rp_repl_config.give_up_after: 24 h of failures without a success. */
#define RP_REPL_DEFAULT_GIVE_UP (24ull * 3600ull * RP_USEC_PER_SEC)
/** Default of rp_repl_config.time_limit: 14 days. */
#define RP_REPL_DEFAULT_TIME_LIMIT (14ull * 24ull * 3600ull * RP_USEC_PER_SEC)
/** Default of rp_repl_config.refetch_rounds. */
#define RP_REPL_DEFAULT_REFETCH_ROUNDS 3u
/** Default of rp_repl_config.plan_per_step. */
#define RP_REPL_DEFAULT_PLAN_PER_STEP (1u << 20)
/** How long a copy waits before asking again for a concurrency slot. */
#define RP_REPL_SLOT_POLL (1ull * RP_USEC_PER_SEC)

/** Clocks of the engine; tests substitute their own. */
typedef struct rp_repl_clock {
        rp_usec_t (*monotonic)(void *ud); /**< backoff, bandwidth, rates */
        rp_usec_t (*realtime)(void *ud);  /**< start time and time limit (survive restarts) */
        void *ud;                         /**< passed to both */
} rp_repl_clock;

/** Settings of a copy. Zero fields take the RP_REPL_DEFAULT_* values. Copied by
 *  rp_repl_copy_new() (the limiter and semaphore are referenced). */
typedef struct rp_repl_config {
        unsigned batch_chunks;      /**< chunks per batch (one get_chunks); at least
                                         RP_REPL_MIN_BATCH_CHUNKS, at most RP_PEER_MAX_IDS */
        rp_usec_t backoff_initial;  /**< first retry delay */
        rp_usec_t backoff_max;      /**< largest retry delay (before jitter) */
        rp_usec_t give_up_after;    /**< fail once failures have lasted this long without a
                                         success in between */
        unsigned max_attempts;      /**< fail after this many failures in a row (0: no cap) */
        rp_usec_t time_limit;       /**< fail a copy that runs longer (from its first start,
                                         across restarts) */
        unsigned refetch_rounds;    /**< immediate refetches of chunks corrupt in transit, per
                                         batch, before it counts as a failed attempt */
        unsigned plan_per_step;     /**< manifest entries checked per PLAN step */
        rp_repl_limiter *limiter;   /**< the pair's bandwidth limit, or NULL */
        rp_repl_sem *sem;           /**< the pair's concurrency cap, or NULL */
        const rp_repl_clock *clock; /**< NULL: rp_now_monotonic() and rp_now_realtime() */
} rp_repl_config;

/* ------------------------------------------------------------------------- the copy */

/** Failure code (rp_repl_copy_error()): rp_repl_copy_cancel() was called. */
#define RP_REPL_EC_CANCELED "Canceled"
/** Failure code: the copy ran past its time limit. */
#define RP_REPL_EC_TIME_LIMIT "TimeLimitExceeded"
/** Failure code: the source has no committed disk restore point of that id. */
#define RP_REPL_EC_SOURCE_NOT_FOUND "SourceNotFound"
/** Failure code: the source lacks a chunk of the point. */
#define RP_REPL_EC_SOURCE_DATA_MISSING "SourceDataMissing"
/** Failure code: the source refused our pair key (or we refused its answers' signatures). */
#define RP_REPL_EC_AUTH "AuthenticationFailed"
/** Failure code: the manifest the source sent does not decode. */
#define RP_REPL_EC_BAD_MANIFEST "InvalidSourceManifest"
/** Failure code: the source's manifest changed between a copy's start and its resume. */
#define RP_REPL_EC_SOURCE_CHANGED "SourceChanged"
/** Failure code: the source (or the link) kept failing until the retry budget ran out. */
#define RP_REPL_EC_PEER "PeerUnavailable"
/** Failure code: this region's store or files kept failing until the retry budget ran out. */
#define RP_REPL_EC_STORE "TargetStoreFailed"

/** States of a copy. The names (rp_repl_state_to_string) are persisted in cursors. */
enum rp_repl_state {
        RP_REPL_STATE_FETCH_MANIFEST, /**< get the manifest and metadata from the source */
        RP_REPL_STATE_PLAN,           /**< list the chunks this region lacks; totals */
        RP_REPL_STATE_TRANSFER,       /**< fetch, verify, store, flush, batch after batch */
        RP_REPL_STATE_COMMIT,         /**< check every chunk is here; write the manifest */
        RP_REPL_STATE_DONE,           /**< the manifest is durable: the copy is usable */
        RP_REPL_STATE_FAILED,         /**< gave up; see rp_repl_copy_error() */
        _RP_REPL_STATE_MAX,
        _RP_REPL_STATE_INVALID = -EINVAL,
};

/** "fetchManifest", "plan", "transfer", "commit", "done", "failed"; NULL if out of range. */
const char *rp_repl_state_to_string(enum rp_repl_state s);
/** The state named @p s. @return it, or _RP_REPL_STATE_INVALID. */
enum rp_repl_state rp_repl_state_from_string(const char *s);

/** What rp_repl_copy_step() did. */
enum rp_repl_step {
        RP_REPL_STEP_CONTINUE, /**< progress was made: persist the cursor, call again */
        RP_REPL_STEP_WAIT,     /**< nothing to do before rp_repl_copy_wait_usec() has passed
                                    (backoff, bandwidth, a concurrency slot) */
        RP_REPL_STEP_DONE,     /**< finished: the manifest is written */
        RP_REPL_STEP_FAILED,   /**< finished: failed (rp_repl_copy_error()) */
        _RP_REPL_STEP_MAX,
        _RP_REPL_STEP_INVALID = -EINVAL,
};

/**
 * One copy of one disk restore point. Step it from one thread at a time;
 * rp_repl_copy_progress(), rp_repl_copy_cancel() and rp_repl_copy_cursor() may be called from
 * any thread meanwhile.
 */
typedef struct rp_repl_copy rp_repl_copy;

/**
 * Set up a copy (nothing is fetched yet).
 * @param cfg settings; NULL for the defaults.
 * @param peer the source region, borrowed (must outlive the copy; used by one copy at a time).
 * @param target_store this region's store, borrowed.
 * @param source_drp_id the disk restore point in the source region (copied).
 * @param manifest_path where the copied manifest is written at COMMIT (copied). Its existence
 *        is what makes the copy usable; the engine writes nothing else on disk but chunks.
 * @param cursor NULL for a new copy, or the last cursor persisted for it (not kept).
 * @param[out] ret the copy, to rp_repl_copy_free().
 * @return 0, -EINVAL (bad arguments, or a cursor of another source), -EBADMSG (a cursor that
 *         does not parse), -EPROTONOSUPPORT (a cursor of another version), -ENOMEM.
 */
int rp_repl_copy_new(const rp_repl_config *cfg, rp_peer *peer, rp_store *target_store,
                     const char *source_drp_id, const char *manifest_path, const json_t *cursor,
                     rp_repl_copy **ret);

/** Free a copy (gives back its concurrency slot). NULL-safe. @return NULL. */
rp_repl_copy *rp_repl_copy_free(rp_repl_copy *c);
RP_DEFINE_CLEANUP(rp_repl_copy, rp_repl_copy_free)

/**
 * Advance by one step: fetch the manifest, plan a slice of it, transfer one batch (fetch,
 * verify, store, flush), or commit. Blocks only for the peer's network I/O of that step; never
 * sleeps for a backoff or the bandwidth limit (it returns WAIT instead). Failures of the peer
 * or of the local store are retried with exponential backoff and jitter until the retry budget
 * or the time limit runs out; some are final at once (the source no longer has the point or a
 * chunk, authentication refused, an invalid manifest, cancellation).
 * @return an enum rp_repl_step (>= 0), or -EINVAL for a NULL copy. After DONE or FAILED,
 *         further calls return the same.
 */
int rp_repl_copy_step(rp_repl_copy *c);

/** After RP_REPL_STEP_WAIT: microseconds until the next step can make progress (0 if now). */
rp_usec_t rp_repl_copy_wait_usec(rp_repl_copy *c);

/**
 * Ask the copy to stop: the running or next step ends it in FAILED with -ECANCELED. Chunks it
 * stored stay in the store until garbage collection. Any thread; idempotent.
 */
void rp_repl_copy_cancel(rp_repl_copy *c);

/**
 * The cursor to persist after each step, so a restart resumes where this copy stands:
 * {"version":1, "state", "source", "position" (manifest entries known stored), "manifestSha256",
 * "startedAt", counters, "meta" (the source's metadata), and "error" once failed}. A restart
 * fetches the manifest again (it must be unchanged) and then fetches only chunks not yet in
 * the store: at most the batch that was in flight is fetched twice.
 * @return a new reference (json_decref()), or NULL on OOM.
 */
json_t *rp_repl_copy_cursor(rp_repl_copy *c);

/** Progress of a copy, from rp_repl_copy_progress(). */
typedef struct rp_repl_progress {
        enum rp_repl_state state;  /**< current state */
        bool queued;               /**< waiting for a concurrency slot */
        bool retrying;             /**< the last attempt failed; waiting to retry */
        uint64_t chunks_needed;    /**< chunks this region lacked (known after PLAN) */
        uint64_t chunks_done;      /**< of those, stored (flushed, or received in the batch now
                                        in flight) */
        uint64_t bytes_needed;     /**< plaintext bytes of the chunks needed */
        uint64_t bytes_done;       /**< plaintext bytes of the chunks done */
        uint64_t bytes_fetched;    /**< plaintext bytes received, refetches included */
        uint64_t chunks_refetched; /**< chunks that arrived corrupt and were fetched again */
        uint64_t retries;          /**< failed attempts so far (all retried or final) */
        uint64_t bytes_per_sec;    /**< moving average over the last ~10 s of transfer */
        int64_t eta_sec;           /**< estimated seconds left, -1 when unknown */
        unsigned percent;          /**< 0-100 by bytes; 100 only once DONE */
        rp_usec_t started_at;      /**< wall clock of the first start */
} rp_repl_progress;

/** Fill @p ret. Any thread. @return 0, -EINVAL. */
int rp_repl_copy_progress(rp_repl_copy *c, rp_repl_progress *ret);

/** @return the current state. */
enum rp_repl_state rp_repl_copy_state(rp_repl_copy *c);

/**
 * Why a copy failed.
 * @param[out] ret_code a short stable code for API errors ("Canceled", "TimeLimitExceeded",
 *        "SourceNotFound", "SourceDataMissing", "AuthenticationFailed", "InvalidSourceManifest",
 *        "SourceChanged", "PeerUnavailable", "TargetStoreFailed"), static. May be NULL.
 * @param[out] ret_message a sentence for users, borrowed from the copy. May be NULL.
 * @return the negative errno of the failure (-ECANCELED, -ETIME for the time limit, ...), or 0
 *         if the copy has not failed (then the outputs are untouched).
 */
int rp_repl_copy_error(rp_repl_copy *c, const char **ret_code, const char **ret_message);

/** The source's metadata (from the manifest answer, or from the cursor), or NULL before the
 *  manifest is fetched. Borrowed; the next step may replace it, so call it from the thread that
 *  steps the copy (the cursor holds a copy for other threads). */
const json_t *rp_repl_copy_meta(rp_repl_copy *c);

/**
 * The manifest being copied, or NULL before it is fetched. Borrowed; valid until the next step
 * or free. Garbage collection of the target store must count its chunks as live while the copy
 * is not DONE (they are in no durable manifest yet).
 */
const rp_manifest *rp_repl_copy_manifest(rp_repl_copy *c);
