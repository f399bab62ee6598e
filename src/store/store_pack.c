/* store_pack.c: the embedded chunk store backend: append-only pack files and a SQLite index.
 *
 * DESIGN
 *
 * Files. "<chunks_dir>/packs/<n>.pack", n = 1, 2, ... never reused (the next number is kept in
 * store_meta and is above every pack on disk or in the index). A pack is a 32-byte header
 * (magic "RPSPACK1", u32 version, u32 pack number, 16 zero bytes) and then chunk records (see
 * store_record.c) back to back. A pack is appended to by one process, from its creation until it
 * passes RP_STORE_PACK_TARGET bytes or the store is closed; it is never appended to again after
 * a restart, so a torn tail left by a crash is only unindexed garbage for gc.
 *
 * Index. Table store_chunks (id → pack, off, len, raw_len, flags) in the region's SQLite file,
 * through our own connection, plus store_meta (format version, key check, next pack number).
 * The whole index is also held in memory (store_map.c), so exists, the dedup check of a write,
 * and the lookup of a read never touch SQLite. SQLite is written only by flush and gc.
 *
 * Durability. A write appends the record with pwrite and enters the id in memory as pending:
 * readable and deduplicated at once. flush fdatasyncs the current pack (and the packs directory,
 * once per new pack), and only then commits the pending index rows in one transaction. So a row
 * never names bytes that are not on stable storage, and a crash loses exactly the chunks written
 * since the last flush. When a pack passes the target size the write path flushes and starts a
 * new pack: one fsync per pack, plus one per explicit flush. If the fsync or the commit fails,
 * the pending chunks are forgotten and the pack is abandoned (after a failed fsync the kernel may
 * have dropped the dirty pages, so nothing more is appended to it).
 *
 * Locks. "append" (a mutex) serialises writers: the current pack, the pending list and every
 * SQLite statement. "map_lock" (a rwlock) guards the in-memory index and the pack table; the
 * read path takes it shared just to copy a location, then opens the pack and preads without any
 * lock, so reads run in parallel with each other and with appends. Order: append, then map_lock.
 *
 * gc. remove deletes index rows (SQLite first, then memory). compact deletes packs without live
 * chunks and rewrites packs whose live records take less than half of the file: live records
 * are copied verbatim (still sealed; their GCM tag keeps protecting them) into the current pack
 * as pending moves, flushed like new chunks (rows updated in the same kind of transaction), and
 * only after the commit does memory point at the new copy and the old pack get unlinked. A
 * reader that copied the old location either opened the old file before the unlink (and reads
 * the old inode) or fails to open it, looks the id up again and finds the new location. The
 * current pack is never compacted.
 *
 * Why packs and not STYLE.md's loose files (one file per chunk, fsync each, rename): a 2 GiB
 * disk is 8192 chunks, and one file plus two fsyncs per chunk costs far more than the chunk's
 * own I/O. DESIGN.md asks for ~16 MiB append-only packs with one fsync per pack; the other half
 * of the rule (verify every read, never overwrite, durable before indexed) holds here.
 *
 * Limits: memory per chunk, see store_map.c. One fd per read (open + pread + close costs a few
 * microseconds beside a chunk's decryption; it keeps no fd cache to invalidate under gc).
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_internal.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/macro.h"

#ifdef RP_TEST_HOOKS
int rp_store__test_fail_flush;
#endif

/* Longest "<n>.pack" name. */
#define PACK_NAME_MAX sizeof("4294967295.pack")
/* Milliseconds SQLite waits for the region's other connection to release the write lock. */
#define STORE_BUSY_TIMEOUT_MS 10000

typedef struct pack_info {
        uint32_t no;
        bool on_disk;         /* false: the index names it but the file is missing */
        uint64_t size;        /* file size (bytes appended so far for the current pack) */
        uint64_t live_bytes;  /* record bytes of chunks indexed (or pending) in it */
        uint64_t live_chunks; /* those chunks */
} pack_info;

/* A record appended but not yet committed: a new chunk, or a gc move of an indexed one. */
typedef struct pending {
        uint8_t id[RP_STORE_ID_LEN];
        rp_store_loc loc;  /* where it now is (in the current pack) */
        uint32_t old_pack; /* 0: a new chunk; else a move out of this pack */
} pending;

typedef struct pack_backend {
        rp_store_backend base;
        char *packs_dir;
        int dirfd; /* packs_dir */
        sqlite3 *db;
        sqlite3_stmt *st_insert, *st_update, *st_delete, *st_meta_put;

        pthread_mutex_t append;
        pthread_rwlock_t map_lock;

        /* under map_lock (written with append held too) */
        rp_store_map map;
        pack_info *packs; /* sorted by number */
        size_t n_packs, cap_packs;
        uint64_t total_len, total_raw, n_pending_new;

        /* under append */
        int cur_fd; /* -1: no open pack */
        uint32_t cur_no;
        uint64_t cur_size;
        bool cur_dir_synced;
        uint32_t next_no;
        pending *pend;
        size_t n_pend, cap_pend;
} pack_backend;

static pack_backend *to_pb(rp_store_backend *b)
{
        return (pack_backend *)b;
}

char *rp_store__pack_path(const char *chunks_dir, uint32_t n)
{
        return rp_asprintf("%s/packs/%" PRIu32 ".pack", chunks_dir, n);
}

static void pack_name(char buf[PACK_NAME_MAX], uint32_t n)
{
        snprintf(buf, PACK_NAME_MAX, "%" PRIu32 ".pack", n);
}

/* ------------------------------------------------------------------------------------------ */
/* SQLite                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int sq_err(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_READONLY:
        case SQLITE_PERM:
                return -EACCES;
        default:
                return -EIO;
        }
}

static int sq_exec(pack_backend *pb, const char *sql)
{
        int r = sq_err(sqlite3_exec(pb->db, sql, NULL, NULL, NULL));
        if (r < 0)
                log_debug("store index: %s: %s", sql, sqlite3_errmsg(pb->db));
        return r;
}

/* Run a prepared statement to completion and reset it. */
static int sq_step(pack_backend *pb, sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        int r = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq_err(rc);
        if (r < 0)
                log_debug("store index: step: %s", sqlite3_errmsg(pb->db));
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

static const char store_schema[] = "CREATE TABLE IF NOT EXISTS store_meta("
                                   "  key TEXT PRIMARY KEY NOT NULL,"
                                   "  value BLOB NOT NULL);"
                                   "CREATE TABLE IF NOT EXISTS store_chunks("
                                   "  id BLOB PRIMARY KEY NOT NULL,"
                                   "  pack INTEGER NOT NULL,"
                                   "  off INTEGER NOT NULL,"
                                   "  len INTEGER NOT NULL,"
                                   "  raw_len INTEGER NOT NULL,"
                                   "  flags INTEGER NOT NULL) WITHOUT ROWID;";

static int meta_get_blob(pack_backend *pb, const char *key, void *out, size_t len, bool *found)
{
        sqlite3_stmt *st = NULL;
        int r = sq_err(sqlite3_prepare_v2(pb->db, "SELECT value FROM store_meta WHERE key = ?1", -1,
                                          &st, NULL));
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        *found = false;
        if (rc == SQLITE_ROW) {
                *found = true;
                if ((size_t)sqlite3_column_bytes(st, 0) != len)
                        r = -EBADMSG;
                else
                        memcpy(out, sqlite3_column_blob(st, 0), len);
        } else if (rc != SQLITE_DONE) {
                r = sq_err(rc);
        }
        sqlite3_finalize(st);
        return r;
}

static int meta_put_blob(pack_backend *pb, const char *key, const void *v, size_t len)
{
        sqlite3_bind_text(pb->st_meta_put, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_blob(pb->st_meta_put, 2, v, (int)len, SQLITE_STATIC);
        return sq_step(pb, pb->st_meta_put);
}

static int meta_put_u32(pack_backend *pb, const char *key, uint32_t v)
{
        uint32_t le = htole32(v);
        return meta_put_blob(pb, key, &le, sizeof le);
}

/* ------------------------------------------------------------------------------------------ */
/* Pack table (under map_lock)                                                                */
/* ------------------------------------------------------------------------------------------ */

static pack_info *pack_find(pack_backend *pb, uint32_t no)
{
        size_t lo = 0, hi = pb->n_packs;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pb->packs[mid].no == no)
                        return &pb->packs[mid];
                if (pb->packs[mid].no < no)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static int packs_reserve(pack_backend *pb, size_t n)
{
        if (n <= pb->cap_packs)
                return 0;
        size_t cap = RP_MAX(pb->cap_packs * 2, (size_t)16);
        while (cap < n)
                cap *= 2;
        pack_info *p = rp_realloc(pb->packs, cap * sizeof *p);
        if (!p)
                return -ENOMEM;
        pb->packs = p;
        pb->cap_packs = cap;
        return 0;
}

/* Drop pack @p no from the table (map_lock held exclusively). */
static void pack_forget(pack_backend *pb, uint32_t no)
{
        pack_info *p = pack_find(pb, no);
        if (!p)
                return;
        size_t i = (size_t)(p - pb->packs);
        memmove(p, p + 1, (pb->n_packs - i - 1) * sizeof *p);
        pb->n_packs--;
}

static void account(pack_backend *pb, const rp_store_loc *loc, int sign)
{
        pack_info *p = pack_find(pb, loc->pack);
        if (p) {
                if (sign > 0) {
                        p->live_bytes += loc->len;
                        p->live_chunks++;
                } else {
                        p->live_bytes -= loc->len;
                        p->live_chunks--;
                }
        }
}

static int cmp_pack(const void *a, const void *b)
{
        const pack_info *x = a, *y = b;
        return x->no < y->no ? -1 : x->no > y->no;
}

/* ------------------------------------------------------------------------------------------ */
/* Append path (under append)                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Stop appending to the current pack. Its file stays (its committed records are live). */
static void cur_close(pack_backend *pb)
{
        if (pb->cur_fd >= 0)
                close(pb->cur_fd);
        pb->cur_fd = -1;
        pb->cur_no = 0;
        pb->cur_size = 0;
}

/* Forget the pending records (after a failed flush): new chunks leave memory, moves are void,
 * and the pack they are in is abandoned. */
static void pending_drop(pack_backend *pb)
{
        pthread_rwlock_wrlock(&pb->map_lock);
        for (size_t i = 0; i < pb->n_pend; i++) {
                pending *p = &pb->pend[i];
                if (p->old_pack != 0)
                        continue;
                account(pb, &p->loc, -1);
                pb->total_len -= p->loc.len;
                pb->total_raw -= p->loc.raw_len;
                pb->n_pending_new--;
                rp_store__map_remove(&pb->map, p->id);
        }
        pthread_rwlock_unlock(&pb->map_lock);
        pb->n_pend = 0;
        cur_close(pb);
}

static int index_commit(pack_backend *pb)
{
        int r = sq_exec(pb, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        for (size_t i = 0; i < pb->n_pend && r >= 0; i++) {
                const pending *p = &pb->pend[i];
                if (p->old_pack == 0) {
                        sqlite3_stmt *st = pb->st_insert;
                        sqlite3_bind_blob(st, 1, p->id, RP_STORE_ID_LEN, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 2, p->loc.pack);
                        sqlite3_bind_int64(st, 3, p->loc.off);
                        sqlite3_bind_int64(st, 4, p->loc.len);
                        sqlite3_bind_int64(st, 5, p->loc.raw_len);
                        sqlite3_bind_int64(st, 6, p->loc.flags);
                        r = sq_step(pb, st);
                } else {
                        sqlite3_stmt *st = pb->st_update;
                        sqlite3_bind_int64(st, 1, p->loc.pack);
                        sqlite3_bind_int64(st, 2, p->loc.off);
                        sqlite3_bind_blob(st, 3, p->id, RP_STORE_ID_LEN, SQLITE_STATIC);
                        r = sq_step(pb, st);
                }
        }
        if (r >= 0)
                r = meta_put_u32(pb, "next_pack", pb->next_no);
#ifdef RP_TEST_HOOKS
        if (r >= 0 && rp_store__test_fail_flush < 0)
                r = rp_store__test_fail_flush;
#endif
        if (r >= 0)
                r = sq_exec(pb, "COMMIT");
        if (r < 0)
                sq_exec(pb, "ROLLBACK");
        return r;
}

static int flush_locked(pack_backend *pb)
{
        if (pb->n_pend == 0)
                return 0;
        /* Every pending record is in the current pack: rotation flushes before it closes one. */
        int r = 0;
        if (pb->cur_fd >= 0 && fdatasync(pb->cur_fd) < 0)
                r = -errno;
        if (r >= 0 && !pb->cur_dir_synced) {
                r = fsync(pb->dirfd) < 0 ? -errno : 0;
                if (r >= 0)
                        pb->cur_dir_synced = true;
        }
        if (r >= 0)
                r = index_commit(pb);
        if (r < 0) {
                log_debug_errno(r, "store: flush of %zu records failed, dropping them", pb->n_pend);
                pending_drop(pb);
                return r;
        }
        pthread_rwlock_wrlock(&pb->map_lock);
        for (size_t i = 0; i < pb->n_pend; i++) {
                pending *p = &pb->pend[i];
                rp_store_map_entry *e = rp_store__map_find(&pb->map, p->id);
                if (p->old_pack == 0) {
                        if (e)
                                e->loc.pending = 0;
                        pb->n_pending_new--;
                } else if (e) {
                        account(pb, &e->loc, -1);
                        e->loc = p->loc;
                        e->loc.pending = 0;
                        e->loc.used = 1;
                        account(pb, &e->loc, +1);
                }
        }
        pthread_rwlock_unlock(&pb->map_lock);
        pb->n_pend = 0;
        return 0;
}

static int cur_open(pack_backend *pb)
{
        if (pb->cur_fd >= 0)
                return 0;
        pthread_rwlock_wrlock(&pb->map_lock);
        int r = packs_reserve(pb, pb->n_packs + 1);
        pthread_rwlock_unlock(&pb->map_lock);
        if (r < 0)
                return r;

        uint8_t hdr[RP_STORE_PACK_HEADER] = { 0 };
        memcpy(hdr, RP_STORE_PACK_MAGIC, 8);
        for (int tries = 0;; tries++) {
                if (pb->next_no == UINT32_MAX)
                        return -ENOSPC;
                uint32_t no = pb->next_no++;
                char name[PACK_NAME_MAX];
                pack_name(name, no);
                int fd = openat(pb->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0) {
                        if (errno == EEXIST && tries < 16)
                                continue; /* a stray file: never touch it, take the next number */
                        return -errno;
                }
                uint32_t v = htole32(RP_STORE_PACK_VERSION), n = htole32(no);
                memcpy(hdr + 8, &v, 4);
                memcpy(hdr + 12, &n, 4);
                r = rp_pwrite_all(fd, hdr, sizeof hdr, 0);
                if (r < 0) {
                        close(fd);
                        unlinkat(pb->dirfd, name, 0);
                        return r;
                }
                pthread_rwlock_wrlock(&pb->map_lock);
                /* Numbers only grow, so appending keeps the table sorted. */
                pb->packs[pb->n_packs++] =
                        (pack_info){ .no = no, .on_disk = true, .size = RP_STORE_PACK_HEADER };
                pthread_rwlock_unlock(&pb->map_lock);
                pb->cur_fd = fd;
                pb->cur_no = no;
                pb->cur_size = RP_STORE_PACK_HEADER;
                pb->cur_dir_synced = false;
                return 0;
        }
}

/*
 * Append one record to the current pack and queue it as pending. @p old_pack 0 means a new
 * chunk (entered in memory now), else a move (memory changes at commit). A pack that passes the
 * target size is flushed and closed. @return 0 or -errno (the record is then not stored).
 */
static int append_locked(pack_backend *pb, const uint8_t id[32], const void *rec, size_t len,
                         uint32_t raw_len, uint32_t flags, uint32_t old_pack)
{
        int r = cur_open(pb);
        if (r < 0)
                return r;
        if (pb->n_pend == pb->cap_pend) {
                size_t cap = RP_MAX(pb->cap_pend * 2, (size_t)64);
                pending *p = rp_realloc(pb->pend, cap * sizeof *p);
                if (!p)
                        return -ENOMEM;
                pb->pend = p;
                pb->cap_pend = cap;
        }
        if (old_pack == 0) {
                pthread_rwlock_wrlock(&pb->map_lock);
                r = rp_store__map_reserve(&pb->map, pb->map.n + 1);
                pthread_rwlock_unlock(&pb->map_lock);
                if (r < 0)
                        return r;
        }
        r = rp_pwrite_all(pb->cur_fd, rec, len, (off_t)pb->cur_size);
        if (r < 0)
                return r; /* the next append overwrites whatever part of it landed */

        rp_store_loc loc = {
                .pack = pb->cur_no,
                .off = (uint32_t)pb->cur_size,
                .len = (uint32_t)len,
                .raw_len = raw_len,
                .flags = (uint8_t)flags,
                .pending = 1,
        };
        pending *p = &pb->pend[pb->n_pend++];
        memcpy(p->id, id, RP_STORE_ID_LEN);
        p->loc = loc;
        p->old_pack = old_pack;

        pb->cur_size += len;
        pthread_rwlock_wrlock(&pb->map_lock);
        pack_info *pi = pack_find(pb, pb->cur_no);
        if (pi)
                pi->size = pb->cur_size;
        if (old_pack == 0) {
                rp_store__map_insert(&pb->map, id, &loc, NULL); /* reserved above: no failure */
                account(pb, &loc, +1);
                pb->total_len += len;
                pb->total_raw += raw_len;
                pb->n_pending_new++;
        }
        pthread_rwlock_unlock(&pb->map_lock);

        if (pb->cur_size >= RP_STORE_PACK_TARGET) {
                r = flush_locked(pb);
                cur_close(pb);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Backend operations                                                                         */
/* ------------------------------------------------------------------------------------------ */

static int pb_exists(rp_store_backend *b, const uint8_t id[32])
{
        pack_backend *pb = to_pb(b);
        pthread_rwlock_rdlock(&pb->map_lock);
        int r = rp_store__map_find(&pb->map, id) != NULL;
        pthread_rwlock_unlock(&pb->map_lock);
        return r;
}

static int pb_write(rp_store_backend *b, const rp_store_record *hdr, const void *rec, size_t len)
{
        pack_backend *pb = to_pb(b);
        pthread_mutex_lock(&pb->append);
        int r;
        if (pb_exists(b, hdr->id))
                r = 0;
        else {
                r = append_locked(pb, hdr->id, rec, len, hdr->raw_len, hdr->flags, 0);
                if (r >= 0)
                        r = 1;
        }
        pthread_mutex_unlock(&pb->append);
        return r;
}

/* pread exactly @p len bytes. @return 0, -EBADMSG if the file ends first, -errno. */
static int pread_exact(int fd, void *buf, size_t len, off_t off)
{
        uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = pread(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EBADMSG;
                p += n;
                len -= (size_t)n;
                off += n;
        }
        return 0;
}

static bool lookup(pack_backend *pb, const uint8_t id[32], rp_store_loc *ret)
{
        pthread_rwlock_rdlock(&pb->map_lock);
        rp_store_map_entry *e = rp_store__map_find(&pb->map, id);
        if (e)
                *ret = e->loc;
        pthread_rwlock_unlock(&pb->map_lock);
        return e != NULL;
}

static int pb_read(rp_store_backend *b, const uint8_t id[32], void *buf, size_t buf_len,
                   size_t *ret_len)
{
        pack_backend *pb = to_pb(b);
        rp_store_loc loc;
        if (!lookup(pb, id, &loc))
                return -ENOENT;
        for (int tries = 0;; tries++) {
                if (buf_len < loc.len)
                        return -ENOBUFS;
                char name[PACK_NAME_MAX];
                pack_name(name, loc.pack);
                _cleanup_close_ int fd = openat(pb->dirfd, name, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        /* gc may have moved the chunk and deleted the pack since the lookup. */
                        rp_store_loc again;
                        if (!lookup(pb, id, &again))
                                return -ENOENT;
                        if ((again.pack == loc.pack && again.off == loc.off) || tries >= 4)
                                return -EBADMSG; /* the index names a pack that is gone */
                        loc = again;
                        continue;
                }
                int r = pread_exact(fd, buf, loc.len, (off_t)loc.off);
                if (r < 0)
                        return r;
                *ret_len = loc.len;
                return 0;
        }
}

typedef struct snap_item {
        uint8_t id[RP_STORE_ID_LEN];
        uint32_t pack, off;
} snap_item;

static int cmp_snap(const void *a, const void *b)
{
        const snap_item *x = a, *y = b;
        if (x->pack != y->pack)
                return x->pack < y->pack ? -1 : 1;
        return x->off < y->off ? -1 : x->off > y->off;
}

static int pb_foreach(rp_store_backend *b, int (*cb)(void *ud, const uint8_t id[32]), void *ud)
{
        pack_backend *pb = to_pb(b);
        pthread_rwlock_rdlock(&pb->map_lock);
        size_t n = pb->map.n;
        _cleanup_free_ snap_item *items = rp_calloc(n ? n : 1, sizeof *items);
        if (!items) {
                pthread_rwlock_unlock(&pb->map_lock);
                return -ENOMEM;
        }
        size_t k = 0;
        for (size_t i = 0; i < pb->map.cap && k < n; i++) {
                const rp_store_map_entry *e = &pb->map.slots[i];
                if (!e->loc.used)
                        continue;
                memcpy(items[k].id, e->id, RP_STORE_ID_LEN);
                items[k].pack = e->loc.pack;
                items[k].off = e->loc.off;
                k++;
        }
        pthread_rwlock_unlock(&pb->map_lock);
        qsort(items, k, sizeof *items, cmp_snap);
        for (size_t i = 0; i < k; i++) {
                int r = cb(ud, items[i].id);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int pb_flush(rp_store_backend *b)
{
        pack_backend *pb = to_pb(b);
        pthread_mutex_lock(&pb->append);
        int r = flush_locked(pb);
        pthread_mutex_unlock(&pb->append);
        return r;
}

static int pb_remove(rp_store_backend *b, const uint8_t (*ids)[32], size_t n)
{
        pack_backend *pb = to_pb(b);
        if (n == 0)
                return 0;
        pthread_mutex_lock(&pb->append);
        int r = sq_exec(pb, "BEGIN IMMEDIATE");
        for (size_t i = 0; i < n && r >= 0; i++) {
                rp_store_loc loc;
                /* Pending chunks were put after the gc began (it flushed first): never removed. */
                if (!lookup(pb, ids[i], &loc) || loc.pending)
                        continue;
                sqlite3_bind_blob(pb->st_delete, 1, ids[i], RP_STORE_ID_LEN, SQLITE_STATIC);
                r = sq_step(pb, pb->st_delete);
        }
        if (r >= 0)
                r = sq_exec(pb, "COMMIT");
        if (r < 0) {
                sq_exec(pb, "ROLLBACK");
                pthread_mutex_unlock(&pb->append);
                return r;
        }
        int removed = 0;
        pthread_rwlock_wrlock(&pb->map_lock);
        for (size_t i = 0; i < n; i++) {
                rp_store_map_entry *e = rp_store__map_find(&pb->map, ids[i]);
                if (!e || e->loc.pending)
                        continue;
                account(pb, &e->loc, -1);
                pb->total_len -= e->loc.len;
                pb->total_raw -= e->loc.raw_len;
                rp_store__map_remove(&pb->map, ids[i]);
                removed++;
        }
        pthread_rwlock_unlock(&pb->map_lock);
        pthread_mutex_unlock(&pb->append);
        return removed;
}

/* The chunks of pack @p no, in pack order (append held, so the map does not change).
 * @param[out] ret items to rp_free(). @return their number or -ENOMEM. */
static long pack_members(pack_backend *pb, uint32_t no, snap_item **ret)
{
        size_t n = 0, cap = 0;
        _cleanup_free_ snap_item *items = NULL;
        for (size_t i = 0; i < pb->map.cap; i++) {
                const rp_store_map_entry *e = &pb->map.slots[i];
                if (!e->loc.used || e->loc.pack != no)
                        continue;
                if (n == cap) {
                        cap = RP_MAX(cap * 2, (size_t)64);
                        snap_item *p = rp_realloc(items, cap * sizeof *p);
                        if (!p)
                                return -ENOMEM;
                        items = p;
                }
                memcpy(items[n].id, e->id, RP_STORE_ID_LEN);
                items[n].pack = no;
                items[n].off = e->loc.off;
                n++;
        }
        if (n > 1)
                qsort(items, n, sizeof *items, cmp_snap);
        *ret = TAKE_PTR(items);
        return (long)n;
}

/* Unlink pack @p no (its chunks are all gone from the index). */
static int pack_delete(pack_backend *pb, uint32_t no, rp_store_gc_result *ret, uint64_t moved)
{
        pthread_rwlock_wrlock(&pb->map_lock);
        pack_info *p = pack_find(pb, no);
        uint64_t size = p ? p->size : 0;
        pack_forget(pb, no);
        pthread_rwlock_unlock(&pb->map_lock);
        char name[PACK_NAME_MAX];
        pack_name(name, no);
        if (unlinkat(pb->dirfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        ret->bytes_freed += size > moved ? size - moved : 0;
        return 0;
}

/*
 * Copy the live records of pack @p no into the current pack, commit, and delete it. append is
 * held. @return 1 rewritten, 0 skipped (a record could not be read: the pack stays, so does its
 * bad record, for scrub to report), -errno.
 */
static int pack_rewrite(pack_backend *pb, uint32_t no, uint8_t *buf, rp_store_gc_result *ret)
{
        _cleanup_free_ snap_item *items = NULL;
        long n = pack_members(pb, no, &items);
        if (n < 0)
                return (int)n;
        char name[PACK_NAME_MAX];
        pack_name(name, no);
        _cleanup_close_ int fd = openat(pb->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;

        uint64_t moved = 0;
        int r = 0;
        for (long i = 0; i < n && r >= 0; i++) {
                rp_store_loc loc;
                if (!lookup(pb, items[i].id, &loc))
                        continue;
                r = pread_exact(fd, buf, loc.len, (off_t)loc.off);
                rp_store_record h;
                if (r >= 0)
                        r = rp_store__record_decode(buf, loc.len, &h);
                if (r >= 0 && memcmp(h.id, items[i].id, RP_STORE_ID_LEN) != 0)
                        r = -EBADMSG;
                if (r == -EBADMSG) {
                        /* Leave the pack (and its bad record) alone. Moves already committed
                         * by a rotation are harmless: the row points at the good copy. */
                        size_t k = 0;
                        for (size_t j = 0; j < pb->n_pend; j++)
                                if (pb->pend[j].old_pack != no)
                                        pb->pend[k++] = pb->pend[j];
                        pb->n_pend = k;
                        ret->packs_skipped++;
                        return 0;
                }
                if (r >= 0)
                        r = append_locked(pb, items[i].id, buf, loc.len, loc.raw_len, loc.flags,
                                          no);
                if (r >= 0) {
                        moved += loc.len;
                        ret->chunks_moved++;
                }
        }
        if (r >= 0)
                r = flush_locked(pb);
        if (r < 0)
                return r;
        pthread_rwlock_rdlock(&pb->map_lock);
        pack_info *p = pack_find(pb, no);
        bool empty = p && p->live_chunks == 0;
        pthread_rwlock_unlock(&pb->map_lock);
        if (!empty)
                return 0;
        r = pack_delete(pb, no, ret, moved);
        if (r < 0)
                return r;
        ret->packs_rewritten++;
        return 1;
}

static int pb_compact(rp_store_backend *b, rp_store_gc_result *ret)
{
        pack_backend *pb = to_pb(b);
        pthread_mutex_lock(&pb->append);
        int r = flush_locked(pb);
        /* Candidates, decided once: packs only lose chunks to gc, which is us. */
        _cleanup_free_ uint32_t *dead = NULL, *sparse = NULL;
        size_t n_dead = 0, n_sparse = 0;
        if (r >= 0) {
                dead = rp_calloc(pb->n_packs + 1, sizeof *dead);
                sparse = rp_calloc(pb->n_packs + 1, sizeof *sparse);
                if (!dead || !sparse)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r >= 0 && i < pb->n_packs; i++) {
                const pack_info *p = &pb->packs[i];
                /* the current pack goes too once nothing in it is live (flushed above, so
                 * nothing is pending in it): the next put opens a new one */
                if (pb->cur_fd >= 0 && p->no == pb->cur_no && p->on_disk && p->live_chunks == 0)
                        cur_close(pb);
                if (!p->on_disk || (pb->cur_fd >= 0 && p->no == pb->cur_no))
                        continue;
                if (p->live_chunks == 0)
                        dead[n_dead++] = p->no;
                else if (p->live_bytes * 2 < p->size)
                        sparse[n_sparse++] = p->no;
        }
        for (size_t i = 0; r >= 0 && i < n_dead; i++) {
                r = pack_delete(pb, dead[i], ret, 0);
                if (r >= 0)
                        ret->packs_removed++;
        }
        pthread_mutex_unlock(&pb->append);

        _cleanup_free_ uint8_t *buf = NULL;
        if (r >= 0 && n_sparse > 0) {
                buf = rp_malloc(RP_STORE_RECORD_MAX);
                if (!buf)
                        r = -ENOMEM;
        }
        /* One pack at a time, so puts wait for at most one pack's copy. */
        for (size_t i = 0; r >= 0 && i < n_sparse; i++) {
                pthread_mutex_lock(&pb->append);
                r = pack_rewrite(pb, sparse[i], buf, ret);
                pthread_mutex_unlock(&pb->append);
        }
        if (n_dead > 0 || ret->packs_rewritten > 0) {
                int q = fsync(pb->dirfd) < 0 ? -errno : 0;
                if (r >= 0)
                        r = q;
        }
        return r < 0 ? r : 0;
}

static int pb_stats(rp_store_backend *b, rp_store_stats_result *ret)
{
        pack_backend *pb = to_pb(b);
        rp_store_stats_result st = { 0 };
        pthread_rwlock_rdlock(&pb->map_lock);
        st.chunks = pb->map.n;
        st.stored_bytes = pb->total_len;
        st.raw_bytes = pb->total_raw;
        st.pending = pb->n_pending_new;
        for (size_t i = 0; i < pb->n_packs; i++) {
                if (!pb->packs[i].on_disk)
                        continue;
                st.packs++;
                st.pack_bytes += pb->packs[i].size;
        }
        pthread_rwlock_unlock(&pb->map_lock);
        *ret = st;
        return 0;
}

static void pb_free(rp_store_backend *b)
{
        pack_backend *pb = to_pb(b);
        if (!pb)
                return;
        cur_close(pb);
        sqlite3_finalize(pb->st_insert);
        sqlite3_finalize(pb->st_update);
        sqlite3_finalize(pb->st_delete);
        sqlite3_finalize(pb->st_meta_put);
        sqlite3_close_v2(pb->db);
        if (pb->dirfd >= 0)
                close(pb->dirfd);
        rp_store__map_done(&pb->map);
        rp_free(pb->packs);
        rp_free(pb->pend);
        rp_free(pb->packs_dir);
        pthread_mutex_destroy(&pb->append);
        pthread_rwlock_destroy(&pb->map_lock);
        rp_free(pb);
}

static const rp_store_backend_ops pack_ops = {
        .version = RP_STORE_BACKEND_VERSION,
        .read = pb_read,
        .write = pb_write,
        .exists = pb_exists,
        .foreach = pb_foreach,
        .flush = pb_flush,
        .remove = pb_remove,
        .compact = pb_compact,
        .stats = pb_stats,
        .free = pb_free,
};

/* ------------------------------------------------------------------------------------------ */
/* Open                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static int open_index(pack_backend *pb, const char *db_path, const uint8_t key_check[32])
{
        int r = sq_err(sqlite3_open_v2(
                db_path, &pb->db,
                SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL));
        if (r < 0)
                return r;
        sqlite3_busy_timeout(pb->db, STORE_BUSY_TIMEOUT_MS);
        r = sq_exec(pb, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
        if (r < 0)
                return r;
        r = sq_exec(pb, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = sq_exec(pb, store_schema);
        if (r >= 0)
                r = sq_err(sqlite3_prepare_v2(pb->db,
                                              "INSERT OR REPLACE INTO store_meta(key, value) "
                                              "VALUES (?1, ?2)",
                                              -1, &pb->st_meta_put, NULL));
        uint32_t version = 0;
        bool found = false;
        if (r >= 0)
                r = meta_get_blob(pb, "version", &version, sizeof version, &found);
        if (r >= 0 && !found) {
                r = meta_put_u32(pb, "version", RP_STORE_INDEX_VERSION);
                if (r >= 0)
                        r = meta_put_blob(pb, "key_check", key_check, RP_STORE_KEY_CHECK_LEN);
        } else if (r >= 0) {
                uint8_t kc[RP_STORE_KEY_CHECK_LEN];
                if (le32toh(version) != RP_STORE_INDEX_VERSION)
                        r = -EPROTONOSUPPORT;
                if (r >= 0)
                        r = meta_get_blob(pb, "key_check", kc, sizeof kc, &found);
                if (r >= 0 && (!found || memcmp(kc, key_check, sizeof kc) != 0))
                        r = -EKEYREJECTED;
                uint32_t next = 0;
                if (r >= 0)
                        r = meta_get_blob(pb, "next_pack", &next, sizeof next, &found);
                if (r >= 0 && found)
                        pb->next_no = RP_MAX(pb->next_no, le32toh(next));
        }
        if (r >= 0)
                r = sq_exec(pb, "COMMIT");
        if (r < 0) {
                sq_exec(pb, "ROLLBACK");
                return r;
        }
        struct {
                sqlite3_stmt **st;
                const char *sql;
        } stmts[] = {
                { &pb->st_insert, "INSERT OR REPLACE INTO store_chunks(id, pack, off, len, "
                                  "raw_len, flags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)" },
                { &pb->st_update, "UPDATE store_chunks SET pack = ?1, off = ?2 WHERE id = ?3" },
                { &pb->st_delete, "DELETE FROM store_chunks WHERE id = ?1" },
        };
        for (size_t i = 0; i < ELEMENTSOF(stmts); i++) {
                r = sq_err(sqlite3_prepare_v2(pb->db, stmts[i].sql, -1, stmts[i].st, NULL));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Pack @p no, added to the table (kept sorted) if absent. Before the backend is shared. */
static pack_info *pack_get_or_add(pack_backend *pb, uint32_t no)
{
        pack_info *p = pack_find(pb, no);
        if (p)
                return p;
        if (packs_reserve(pb, pb->n_packs + 1) < 0)
                return NULL;
        size_t i = pb->n_packs;
        while (i > 0 && pb->packs[i - 1].no > no)
                i--;
        memmove(&pb->packs[i + 1], &pb->packs[i], (pb->n_packs - i) * sizeof *pb->packs);
        pb->packs[i] = (pack_info){ .no = no };
        pb->n_packs++;
        return &pb->packs[i];
}

static int scan_packs(pack_backend *pb)
{
        /* A descriptor of its own for readdir, close-on-exec like every other. */
        int fd = openat(pb->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                const char *s = de->d_name;
                uint64_t no = 0;
                size_t i = 0;
                for (; s[i] >= '0' && s[i] <= '9' && i < 10; i++)
                        no = no * 10 + (uint64_t)(s[i] - '0');
                if (i == 0 || no == 0 || no >= UINT32_MAX || strcmp(s + i, ".pack") != 0)
                        continue;
                struct stat st;
                if (fstatat(pb->dirfd, s, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                pack_info *p = pack_get_or_add(pb, (uint32_t)no);
                if (!p) {
                        r = -ENOMEM;
                        break;
                }
                p->on_disk = true;
                p->size = (uint64_t)st.st_size;
                pb->next_no = RP_MAX(pb->next_no, (uint32_t)no + 1);
        }
        closedir(d);
        return r;
}

static int load_index(pack_backend *pb)
{
        sqlite3_stmt *st = NULL;
        int r = sq_err(
                sqlite3_prepare_v2(pb->db, "SELECT count(*) FROM store_chunks", -1, &st, NULL));
        if (r < 0)
                return r;
        if (sqlite3_step(st) == SQLITE_ROW)
                r = rp_store__map_reserve(&pb->map, (size_t)sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
        if (r < 0)
                return r;
        r = sq_err(sqlite3_prepare_v2(pb->db,
                                      "SELECT id, pack, off, len, raw_len, flags FROM store_chunks",
                                      -1, &st, NULL));
        if (r < 0)
                return r;
        int rc;
        while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                int64_t pack = sqlite3_column_int64(st, 1), off = sqlite3_column_int64(st, 2),
                        len = sqlite3_column_int64(st, 3), raw = sqlite3_column_int64(st, 4),
                        flags = sqlite3_column_int64(st, 5);
                if (sqlite3_column_bytes(st, 0) != RP_STORE_ID_LEN || pack <= 0 ||
                    pack >= UINT32_MAX || off < RP_STORE_PACK_HEADER || off > UINT32_MAX ||
                    len <= RP_STORE_RECORD_HEADER || len > RP_STORE_RECORD_MAX || raw <= 0 ||
                    raw > RP_CHUNK_SIZE || (flags & ~(int64_t)_RP_STORE_FLAGS_KNOWN)) {
                        r = -EBADMSG;
                        break;
                }
                rp_store_loc loc = { .pack = (uint32_t)pack,
                                     .off = (uint32_t)off,
                                     .len = (uint32_t)len,
                                     .raw_len = (uint32_t)raw,
                                     .flags = (uint8_t)flags };
                r = rp_store__map_insert(&pb->map, sqlite3_column_blob(st, 0), &loc, NULL);
                if (r < 0)
                        break;
                pack_info *p = pack_get_or_add(pb, loc.pack);
                if (!p) {
                        r = -ENOMEM;
                        break;
                }
                p->live_bytes += loc.len;
                p->live_chunks++;
                pb->total_len += loc.len;
                pb->total_raw += loc.raw_len;
                pb->next_no = RP_MAX(pb->next_no, loc.pack + 1);
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sq_err(rc);
        sqlite3_finalize(st);
        return r;
}

int rp_store__pack_open(const char *chunks_dir, const char *db_path,
                        const uint8_t key_check[RP_STORE_KEY_CHECK_LEN], rp_store_backend **ret)
{
        pack_backend *pb = rp_calloc(1, sizeof *pb);
        if (!pb)
                return -ENOMEM;
        pb->base.ops = &pack_ops;
        pb->dirfd = -1;
        pb->cur_fd = -1;
        pb->next_no = 1;
        pthread_mutex_init(&pb->append, NULL);
        pthread_rwlockattr_t a;
        pthread_rwlockattr_init(&a);
        /* A steady stream of readers must not starve flush and gc. */
        pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&pb->map_lock, &a);
        pthread_rwlockattr_destroy(&a);

        int r = 0;
        pb->packs_dir = rp_asprintf("%s/packs", chunks_dir);
        if (!pb->packs_dir)
                r = -ENOMEM;
        if (r >= 0)
                r = rp_mkdir_p(pb->packs_dir, 0700);
        if (r >= 0)
                r = rp_fsync_dir(chunks_dir);
        if (r >= 0)
                r = rp_fsync_parent(chunks_dir);
        if (r >= 0) {
                pb->dirfd = open(pb->packs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pb->dirfd < 0)
                        r = -errno;
        }
        if (r >= 0)
                r = open_index(pb, db_path, key_check);
        if (r >= 0)
                r = scan_packs(pb); /* first: the index rows then find their packs sorted */
        if (r >= 0) {
                if (pb->n_packs > 1)
                        qsort(pb->packs, pb->n_packs, sizeof *pb->packs, cmp_pack);
                r = load_index(pb);
        }
        if (r < 0) {
                log_debug_errno(r, "store: open of %s / %s failed", chunks_dir, db_path);
                pb_free(&pb->base);
                return r;
        }
        *ret = &pb->base;
        return 0;
}
