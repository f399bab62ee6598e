/* store.c: the public chunk store: ids, holes, sealing, verification, scrub and gc, over a
 * backend (store_pack.c for the embedded one).
 *
 * DESIGN
 *
 * Division of work. This file owns everything that is the same for every backend: the chunk id
 * (HMAC-SHA-256 under the deployment's id key, so every region names a chunk alike), holes (the
 * all-zero chunk is never stored and has the all-zero id), sealing (zstd + AES-256-GCM, in
 * store_record.c) and the check of every read (tag, then HMAC of the plaintext against the id).
 * A backend only keeps sealed records by id, durably after flush.
 *
 * Concurrency. The expensive work of a put (hash, compress, encrypt) and of a get (decrypt,
 * decompress, hash) runs on the caller's thread with a scratch from a small pool, without any
 * store-wide lock. Backends serialise their own appends and let reads run in parallel.
 *
 * gc and concurrent writers. The danger is a put that finds its id present (dedup) while gc,
 * having already judged that id dead, is about to remove it: the caller would then record an id
 * that no longer exists. "gc_rw" is a writer-preferring rwlock: put, put_verified and has hold
 * it shared from their existence check (or write) until they have pinned the id; gc holds it
 * exclusively while it subtracts the pins from its dead set and removes the rest. Pins are
 * recorded only while a gc runs. So each put/has happens wholly before the removal (its id is
 * pinned, hence kept) or wholly after it (it finds the id gone and writes it again). Ids a
 * caller learnt about before the gc started are its own business: is_live must call them live.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "store/store_internal.h"
#include "util/alloc.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

#ifdef RP_TEST_HOOKS
void (*rp_store__test_gc_hook)(void *ud);
#endif

/* Idle scratches kept for reuse (each holds ~600 KiB with warm zstd contexts). */
#define SCRATCH_POOL 8

struct rp_store {
        rp_store_backend *b;
        uint8_t id_key[RP_STORE_KEY_LEN];
        uint8_t enc_key[RP_STORE_KEY_LEN];

        pthread_mutex_t scratch_lock;
        rp_store_scratch *scratch[SCRATCH_POOL];
        size_t n_scratch;

        pthread_mutex_t gc_lock;  /* one gc at a time */
        pthread_rwlock_t gc_rw;   /* see DESIGN */
        pthread_mutex_t pin_lock; /* pins */
        bool gc_active;           /* written under gc_rw exclusive */
        rp_store_map pins;
};

bool rp_store_is_zero(const void *data, size_t len)
{
        const uint8_t *p = data;
        if (len == 0)
                return true;
        /* Check a first word cheaply, then let memcmp compare the buffer with itself shifted. */
        size_t head = RP_MIN(len, (size_t)16);
        for (size_t i = 0; i < head; i++)
                if (p[i])
                        return false;
        return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

bool rp_store_id_is_zero(const uint8_t id[32])
{
        return rp_store_is_zero(id, RP_STORE_ID_LEN);
}

static bool chunk_len_ok(size_t len)
{
        return len > 0 && len <= RP_CHUNK_SIZE && len % RP_SECTOR_SIZE == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Scratch pool                                                                               */
/* ------------------------------------------------------------------------------------------ */

static rp_store_scratch *scratch_take(rp_store *s)
{
        rp_store_scratch *sc = NULL;
        pthread_mutex_lock(&s->scratch_lock);
        if (s->n_scratch > 0)
                sc = s->scratch[--s->n_scratch];
        pthread_mutex_unlock(&s->scratch_lock);
        return sc ? sc : rp_store__scratch_new();
}

static void scratch_give(rp_store *s, rp_store_scratch *sc)
{
        if (!sc)
                return;
        pthread_mutex_lock(&s->scratch_lock);
        if (s->n_scratch < SCRATCH_POOL) {
                s->scratch[s->n_scratch++] = sc;
                sc = NULL;
        }
        pthread_mutex_unlock(&s->scratch_lock);
        rp_store__scratch_free(sc);
}

/* ------------------------------------------------------------------------------------------ */
/* Open / free                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* A digest of both keys, kept by the backend so that a store is never opened with other keys
 * (which would make every chunk unreadable, or every id different). */
static int key_check(const uint8_t id_key[32], const uint8_t enc_key[32],
                     uint8_t ret[RP_STORE_KEY_CHECK_LEN])
{
        static const char label[] = "rpd chunk store key check v1";
        uint8_t both[2 * RP_SHA256_LEN];
        int r = rp_hmac_sha256(id_key, RP_STORE_KEY_LEN, label, sizeof label - 1, both);
        if (r >= 0)
                r = rp_hmac_sha256(enc_key, RP_STORE_KEY_LEN, label, sizeof label - 1,
                                   both + RP_SHA256_LEN);
        if (r < 0)
                return r;
        rp_sha256(both, sizeof both, ret);
        return 0;
}

int rp_store_open(const char *chunks_dir, const char *index_db_path, const uint8_t id_key[32],
                  const uint8_t enc_key[32], rp_store **ret)
{
        uint8_t kc[RP_STORE_KEY_CHECK_LEN];
        int r = key_check(id_key, enc_key, kc);
        if (r < 0)
                return r;
        rp_store *s = rp_calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        memcpy(s->id_key, id_key, RP_STORE_KEY_LEN);
        memcpy(s->enc_key, enc_key, RP_STORE_KEY_LEN);
        pthread_mutex_init(&s->scratch_lock, NULL);
        pthread_mutex_init(&s->gc_lock, NULL);
        pthread_mutex_init(&s->pin_lock, NULL);
        pthread_rwlockattr_t a;
        pthread_rwlockattr_init(&a);
        pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&s->gc_rw, &a);
        pthread_rwlockattr_destroy(&a);

        r = rp_store__pack_open(chunks_dir, index_db_path, kc, &s->b);
        if (r < 0) {
                rp_store_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

rp_store *rp_store_free(rp_store *s)
{
        if (!s)
                return NULL;
        if (s->b)
                s->b->ops->free(s->b);
        for (size_t i = 0; i < s->n_scratch; i++)
                rp_store__scratch_free(s->scratch[i]);
        rp_store__map_done(&s->pins);
        pthread_mutex_destroy(&s->scratch_lock);
        pthread_mutex_destroy(&s->gc_lock);
        pthread_mutex_destroy(&s->pin_lock);
        pthread_rwlock_destroy(&s->gc_rw);
        explicit_bzero(s->id_key, sizeof s->id_key);
        explicit_bzero(s->enc_key, sizeof s->enc_key);
        return rp_free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* Put / has / get                                                                            */
/* ------------------------------------------------------------------------------------------ */

int rp_store_chunk_id(const rp_store *s, const void *plain, size_t len, uint8_t ret_id[32])
{
        if (len > RP_CHUNK_SIZE)
                return -EINVAL;
        if (rp_store_is_zero(plain, len)) {
                memset(ret_id, 0, RP_STORE_ID_LEN);
                return 0;
        }
        return rp_hmac_sha256(s->id_key, RP_STORE_KEY_LEN, plain, len, ret_id);
}

/* Pin @p id if a gc runs. Called with gc_rw held shared. @return 0 or -ENOMEM. */
static int pin(rp_store *s, const uint8_t id[32])
{
        if (!s->gc_active)
                return 0;
        static const rp_store_loc none = { 0 };
        pthread_mutex_lock(&s->pin_lock);
        int r = rp_store__map_insert(&s->pins, id, &none, NULL);
        pthread_mutex_unlock(&s->pin_lock);
        return r < 0 ? r : 0;
}

/* Store the chunk @p id of @p plain. @return 0 or -errno; *ret_added set on success. */
static int put_id(rp_store *s, const uint8_t id[32], const void *plain, size_t len,
                  uint64_t *ret_added)
{
        /* A dedup hit (the common case of an incremental point): pinned, nothing written. */
        pthread_rwlock_rdlock(&s->gc_rw);
        int r = s->b->ops->exists(s->b, id);
        if (r > 0 && pin(s, id) < 0)
                r = -ENOMEM;
        pthread_rwlock_unlock(&s->gc_rw);
        if (r < 0)
                return r;
        if (r > 0) {
                if (ret_added)
                        *ret_added = 0;
                return 0;
        }

        /* Seal without locks; the backend's write re-checks presence under its own lock. */
        uint64_t added = 0;
        rp_store_scratch *sc = scratch_take(s);
        if (!sc)
                return -ENOMEM;
        size_t rec_len = 0;
        rp_store_record h;
        r = rp_store__seal(sc, s->enc_key, id, plain, len, &rec_len);
        if (r >= 0)
                r = rp_store__record_decode(rp_store__scratch_rec(sc), rec_len, &h);
        if (r >= 0) {
                pthread_rwlock_rdlock(&s->gc_rw);
                r = s->b->ops->write(s->b, &h, rp_store__scratch_rec(sc), rec_len);
                if (r >= 0) {
                        added = r > 0 ? rec_len : 0;
                        r = pin(s, id);
                }
                pthread_rwlock_unlock(&s->gc_rw);
        }
        scratch_give(s, sc);
        if (r < 0)
                return r;
        if (ret_added)
                *ret_added = added;
        return 0;
}

int rp_store_put(rp_store *s, const void *plain, size_t len, uint8_t ret_id[32],
                 uint64_t *ret_added_bytes)
{
        if (!chunk_len_ok(len))
                return -EINVAL;
        uint8_t id[RP_STORE_ID_LEN];
        if (rp_store_is_zero(plain, len)) {
                memset(ret_id, 0, RP_STORE_ID_LEN);
                if (ret_added_bytes)
                        *ret_added_bytes = 0;
                return 0;
        }
        int r = rp_hmac_sha256(s->id_key, RP_STORE_KEY_LEN, plain, len, id);
        if (r < 0)
                return r;
        r = put_id(s, id, plain, len, ret_added_bytes);
        if (r < 0)
                return r;
        memcpy(ret_id, id, RP_STORE_ID_LEN);
        return 0;
}

int rp_store_put_verified(rp_store *s, const uint8_t id[32], const void *plain, size_t len,
                          uint64_t *ret_added_bytes)
{
        if (!chunk_len_ok(len))
                return -EINVAL;
        uint8_t got[RP_STORE_ID_LEN];
        int r = rp_store_chunk_id(s, plain, len, got);
        if (r < 0)
                return r;
        if (!rp_memeq_consttime(got, id, RP_STORE_ID_LEN))
                return -EBADMSG;
        if (rp_store_id_is_zero(id)) {
                if (ret_added_bytes)
                        *ret_added_bytes = 0;
                return 0;
        }
        return put_id(s, id, plain, len, ret_added_bytes);
}

int rp_store_has(rp_store *s, const uint8_t id[32])
{
        if (rp_store_id_is_zero(id))
                return 1;
        pthread_rwlock_rdlock(&s->gc_rw);
        int r = s->b->ops->exists(s->b, id);
        if (r > 0) {
                int q = pin(s, id);
                if (q < 0)
                        r = q;
        }
        pthread_rwlock_unlock(&s->gc_rw);
        return r;
}

int rp_store_get(rp_store *s, const uint8_t id[32], void *buf, size_t buf_len, size_t *ret_len)
{
        if (rp_store_id_is_zero(id))
                return -EINVAL;
        rp_store_scratch *sc = scratch_take(s);
        if (!sc)
                return -ENOMEM;
        size_t rec_len = 0;
        int r = s->b->ops->read(s->b, id, rp_store__scratch_rec(sc), RP_STORE_RECORD_MAX, &rec_len);
        if (r == -ENOBUFS)
                r = -EBADMSG; /* the index claims a record larger than any valid one */
        if (r >= 0)
                r = rp_store__unseal(sc, s->id_key, s->enc_key, id, rp_store__scratch_rec(sc),
                                     rec_len, buf, buf_len, ret_len);
        scratch_give(s, sc);
        return r;
}

int rp_store_flush(rp_store *s)
{
        return s->b->ops->flush(s->b);
}

int rp_store_stats(rp_store *s, rp_store_stats_result *ret)
{
        return s->b->ops->stats(s->b, ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Scrub                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct scrub_ctx {
        rp_store *s;
        int (*on_bad)(void *ud, const uint8_t id[32], int error);
        void *ud;
        uint8_t *plain;
        rp_store_scrub_result res;
} scrub_ctx;

static int scrub_one(void *ud, const uint8_t id[32])
{
        scrub_ctx *c = ud;
        size_t len = 0;
        int r = rp_store_get(c->s, id, c->plain, RP_CHUNK_SIZE, &len);
        if (r == -ENOENT)
                return 0; /* removed by a gc since the snapshot */
        if (r == -ENOMEM)
                return r;
        c->res.checked++;
        if (r >= 0) {
                c->res.checked_bytes += len;
                return 0;
        }
        c->res.bad++;
        if (c->on_bad)
                return RP_MIN(c->on_bad(c->ud, id, r), 0);
        return 0;
}

int rp_store_scrub(rp_store *s, int (*on_bad)(void *ud, const uint8_t id[32], int error), void *ud,
                   rp_store_scrub_result *ret)
{
        scrub_ctx c = { .s = s, .on_bad = on_bad, .ud = ud };
        c.plain = rp_malloc(RP_CHUNK_SIZE);
        if (!c.plain)
                return -ENOMEM;
        int r = s->b->ops->foreach(s->b, scrub_one, &c);
        rp_free(c.plain);
        if (r < 0)
                return r;
        if (ret)
                *ret = c.res;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Garbage collection                                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef struct gc_ctx {
        int (*is_live)(void *ud, const uint8_t id[32]);
        void *ud;
        uint8_t (*dead)[RP_STORE_ID_LEN];
        size_t n_dead, cap_dead;
        uint64_t checked;
} gc_ctx;

static int gc_judge(void *ud, const uint8_t id[32])
{
        gc_ctx *c = ud;
        c->checked++;
        int r = c->is_live(c->ud, id);
        if (r != 0)
                return r < 0 ? r : 0;
        if (c->n_dead == c->cap_dead) {
                size_t cap = RP_MAX(c->cap_dead * 2, (size_t)256);
                void *p = rp_realloc(c->dead, cap * sizeof *c->dead);
                if (!p)
                        return -ENOMEM;
                c->dead = p;
                c->cap_dead = cap;
        }
        memcpy(c->dead[c->n_dead++], id, RP_STORE_ID_LEN);
        return 0;
}

/* Stop pinning (gc_rw held exclusively). */
static void gc_end_locked(rp_store *s)
{
        s->gc_active = false;
        pthread_mutex_lock(&s->pin_lock);
        rp_store__map_done(&s->pins);
        pthread_mutex_unlock(&s->pin_lock);
}

int rp_store_gc(rp_store *s, int (*is_live)(void *ud, const uint8_t id[32]), void *ud,
                rp_store_gc_result *ret)
{
        if (pthread_mutex_trylock(&s->gc_lock) != 0)
                return -EBUSY;
        rp_store_gc_result res = { 0 };
        gc_ctx c = { .is_live = is_live, .ud = ud };

        pthread_rwlock_wrlock(&s->gc_rw);
        s->gc_active = true;
        pthread_rwlock_unlock(&s->gc_rw);

        /* Chunks put before this point are now indexed; later ones are pinned when put. */
        int r = s->b->ops->flush(s->b);
        if (r >= 0)
                r = s->b->ops->foreach(s->b, gc_judge, &c);
        res.checked = c.checked;
        res.dead = c.n_dead;
#ifdef RP_TEST_HOOKS
        if (r >= 0 && rp_store__test_gc_hook)
                rp_store__test_gc_hook(ud);
#endif

        pthread_rwlock_wrlock(&s->gc_rw);
        if (r >= 0) {
                size_t k = 0;
                pthread_mutex_lock(&s->pin_lock);
                for (size_t i = 0; i < c.n_dead; i++) {
                        if (rp_store__map_find(&s->pins, c.dead[i]))
                                continue;
                        if (k != i)
                                memcpy(c.dead[k], c.dead[i], RP_STORE_ID_LEN);
                        k++;
                }
                pthread_mutex_unlock(&s->pin_lock);
                res.pinned = c.n_dead - k;
                r = s->b->ops->remove(s->b, (const uint8_t(*)[32])c.dead, k);
                if (r >= 0)
                        res.removed = (uint64_t)r;
        }
        gc_end_locked(s);
        pthread_rwlock_unlock(&s->gc_rw);
        rp_free(c.dead);

        if (r >= 0)
                r = s->b->ops->compact(s->b, &res);
        pthread_mutex_unlock(&s->gc_lock);
        log_debug("store: gc checked=%" PRIu64 " dead=%" PRIu64 " removed=%" PRIu64
                  " packs_removed=%" PRIu64 " packs_rewritten=%" PRIu64 " r=%d",
                  res.checked, res.dead, res.removed, res.packs_removed, res.packs_rewritten, r);
        if (r < 0)
                return r;
        if (ret)
                *ret = res;
        return 0;
}
