/* test_repl_copy.c: the copy state machine driven by a fake peer: full, incremental, resume
 * (in-process and after a real crash), transit corruption, retries, give-up, time limit,
 * cancellation, final source errors, cursors, concurrency cap, bandwidth, gc during a copy. */
#include <fcntl.h>
#include <sys/wait.h>

#include "repl_test.h"
#include "util/fs.h"

#define N_CHUNKS 96

static int setup(void **state)
{
        *state = rt_setup(N_CHUNKS);
        return 0;
}

static int teardown(void **state)
{
        rt_teardown(*state);
        return 0;
}

static rp_repl_copy *new_copy(repl_fixture *f, const rp_repl_config *cfg, const json_t *cursor)
{
        rp_repl_copy *c = NULL;
        assert_int_equal(
                rp_repl_copy_new(cfg, f->peer, f->target, "/src/drp/0", f->manifest, cursor, &c),
                0);
        return c;
}

static void track_entries(repl_fixture *f)
{
        size_t n;
        rp_manifest_entries(f->d.m, &n);
        f->fp.sent_per_entry = rp_calloc(n + 1, sizeof(size_t));
        assert_non_null(f->fp.sent_per_entry);
}

/* ------------------------------------------------------------------------- happy paths */

static void test_repl_copy__full_into_empty_store(void **state)
{
        repl_fixture *f = *state;
        track_entries(f);
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rp_repl_copy_state(c), RP_REPL_STATE_FETCH_MANIFEST);
        assert_null(rp_repl_copy_manifest(c));

        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        ds_check_copy(&f->d, f->target, f->manifest);

        /* Each distinct chunk fetched exactly once; duplicates and holes not at all. */
        assert_int_equal(f->fp.chunks_sent, f->d.unique);
        assert_int_equal(f->fp.manifest_calls, 1);
        assert_true(f->fp.max_batch >= 16);
        rp_repl_progress p;
        assert_int_equal(rp_repl_copy_progress(c, &p), 0);
        assert_int_equal(p.state, RP_REPL_STATE_DONE);
        assert_int_equal(p.percent, 100);
        assert_int_equal(p.chunks_needed, f->d.unique);
        assert_int_equal(p.chunks_done, f->d.unique);
        assert_int_equal(p.bytes_needed, f->d.unique_bytes);
        assert_int_equal(p.bytes_done, f->d.unique_bytes);
        assert_int_equal(p.bytes_fetched, f->d.unique_bytes);
        assert_int_equal(p.chunks_refetched, 0);
        assert_int_equal(p.retries, 0);
        assert_int_equal(p.eta_sec, 0);
        assert_int_equal(rp_repl_copy_error(c, NULL, NULL), 0);

        /* The metadata of the source came along and is in the cursor. */
        const json_t *meta = rp_repl_copy_meta(c);
        assert_string_equal(json_string_value(json_object_get(meta, "location")), "eastus");
        _cleanup_json_ json_t *cur = rp_repl_copy_cursor(c);
        assert_non_null(cur);
        assert_string_equal(json_string_value(json_object_get(cur, "state")), "done");
        assert_int_equal(json_integer_value(json_object_get(cur, "chunksDone")), f->d.unique);
        assert_non_null(json_object_get(json_object_get(cur, "meta"), "diskSizeBytes"));

        /* Steps after DONE say DONE and do nothing. */
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_DONE);
        assert_int_equal(f->fp.manifest_calls, 1);
}

static void test_repl_copy__incremental_fetches_only_missing(void **state)
{
        repl_fixture *f = *state;
        track_entries(f);
        /* The target already holds every entry but each 10th (as after a previous point). */
        ds_put_some(&f->d, f->target, 10, 4);
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(f->d.m, &n);
        size_t missing = 0;
        for (size_t k = 0; k < n; k++)
                missing += rp_store_has(f->target, e[k].id) == 0;
        assert_true(missing > 0 && missing < n / 5);

        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        ds_check_copy(&f->d, f->target, f->manifest);
        assert_int_equal(f->fp.chunks_sent, missing);
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.chunks_needed, missing);
        assert_int_equal(p.chunks_done, missing);
        /* and only chunks the target lacked were sent */
        size_t sent = 0;
        for (size_t k = 0; k < n; k++)
                sent += f->fp.sent_per_entry[k];
        assert_int_equal(sent, missing);
}

static void test_repl_copy__again_fetches_nothing(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        size_t sent = f->fp.chunks_sent;
        /* A copy of a copy (same content) is free. */
        _cleanup_free_ char *other = rp_asprintf("%s/again.manifest", f->dir);
        rp_repl_copy *c2 = NULL;
        assert_int_equal(rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", other, NULL, &c2),
                         0);
        assert_int_equal(rt_drive(f, c2, 100), RP_REPL_STEP_DONE);
        assert_int_equal(f->fp.chunks_sent, sent);
        rp_repl_progress p;
        rp_repl_copy_progress(c2, &p);
        assert_int_equal(p.chunks_needed, 0);
        assert_int_equal(p.percent, 100);
        ds_check_copy(&f->d, f->target, other);
        rp_repl_copy_free(c2);
}

/* Progress moves in integer percents with a rate and an ETA; the fake peer takes 100 ms per
 * call and 25 ms per chunk. */
static void test_repl_copy__progress_rate_and_eta(void **state)
{
        repl_fixture *f = *state;
        f->fp.clock = &f->clock;
        f->fp.per_call = 100 * 1000;
        f->fp.per_chunk = 25 * 1000;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        bool saw_mid = false;
        for (int i = 0; i < 1000; i++) {
                int r = rp_repl_copy_step(c);
                assert_true(r == RP_REPL_STEP_CONTINUE || r == RP_REPL_STEP_DONE);
                if (r == RP_REPL_STEP_DONE)
                        break;
                rp_repl_progress p;
                rp_repl_copy_progress(c, &p);
                if (p.state == RP_REPL_STATE_TRANSFER && p.chunks_done >= 32 &&
                    p.chunks_done < p.chunks_needed) {
                        saw_mid = true;
                        /* 16 chunks (~4 MiB) per 0.5 s: ~8.4 MB/s */
                        double want = 16.0 * CHUNK / 0.5;
                        assert_true(p.bytes_per_sec > want * 0.9 && p.bytes_per_sec < want * 1.1);
                        assert_true(p.eta_sec > 0);
                        double left = (double)(p.bytes_needed - p.bytes_done);
                        assert_true(p.eta_sec <= (int64_t)(left / (want * 0.9)) + 1);
                        assert_true(p.percent > 0 && p.percent < 100);
                        assert_int_equal(p.percent, p.bytes_done * 100 / p.bytes_needed);
                }
        }
        assert_true(saw_mid);
}

/* ------------------------------------------------------------------------- resume */

static void test_repl_copy__resume_from_cursor(void **state)
{
        repl_fixture *f = *state;
        track_entries(f);
        rp_repl_config cfg = rt_config(f);
        rp_repl_copy *c = new_copy(f, &cfg, NULL);
        json_t *cursor = NULL;
        /* manifest, plan, and three batches */
        for (int i = 0; i < 5; i++) {
                assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE);
                if (cursor)
                        json_decref(cursor);
                cursor = rp_repl_copy_cursor(c);
        }
        assert_string_equal(json_string_value(json_object_get(cursor, "state")), "transfer");
        assert_int_equal(json_integer_value(json_object_get(cursor, "chunksDone")), 48);
        assert_true(json_integer_value(json_object_get(cursor, "position")) > 0);
        rp_repl_copy_free(c);
        /* "restart": the store is reopened, the copy rebuilt from the cursor (via its text) */
        rp_store_free(f->target);
        rt_open_target(f);
        _cleanup_free_ char *text = rp_json_dumps(cursor);
        json_decref(cursor);
        _cleanup_json_ json_t *back = json_loads(text, 0, NULL);
        assert_non_null(back);
        size_t before = f->fp.chunks_sent;
        c = new_copy(f, &cfg, back);
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.chunks_done, 48); /* known before anything is fetched */
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        ds_check_copy(&f->d, f->target, f->manifest);
        /* Nothing was fetched twice, and the totals carried over. */
        assert_int_equal(f->fp.chunks_sent - before, f->d.unique - 48);
        assert_int_equal(f->fp.chunks_sent, f->d.unique);
        assert_int_equal(f->fp.manifest_calls, 2);
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.chunks_done, f->d.unique);
        assert_int_equal(p.chunks_needed, f->d.unique);
        assert_int_equal(p.bytes_done, f->d.unique_bytes);
        rp_repl_copy_free(c);
}

/* The worker's loop in a child process: persist the cursor (atomically) after every step;
 * the fake peer kills the process in the middle of a batch. */
static void child_run(repl_fixture *f, const char *cursor_path, size_t kill_after)
{
        rp_store *s = NULL;
        if (rp_store_open(f->chunks, f->db, rt_id_key(), f->enc_key, &s) < 0)
                _exit(2);
        f->fp.kill_after = kill_after;
        rp_repl_config cfg = rt_config(f);
        rp_repl_copy *c = NULL;
        if (rp_repl_copy_new(&cfg, f->peer, s, "/src/drp/0", f->manifest, NULL, &c) < 0)
                _exit(3);
        for (;;) {
                int r = rp_repl_copy_step(c);
                json_t *cur = rp_repl_copy_cursor(c);
                char *text = cur ? rp_json_dumps(cur) : NULL;
                if (!text || rp_write_file_atomic(cursor_path, text, strlen(text), 0600) < 0)
                        _exit(4);
                rp_free(text);
                json_decref(cur);
                if (r != RP_REPL_STEP_CONTINUE)
                        _exit(5); /* the peer should have killed us before */
        }
}

static void test_repl_copy__resume_after_kill(void **state)
{
        repl_fixture *f = *state;
        const size_t batch = 16, kill_after = 16 * 3 + 9; /* in the 4th batch */
        _cleanup_free_ char *cursor_path = rp_asprintf("%s/cursor.json", f->dir);
        rp_store_free(f->target); /* the child opens it; no SQLite handle across fork */
        f->target = NULL;
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                child_run(f, cursor_path, kill_after);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        rt_open_target(f);
        _cleanup_free_ char *text = NULL;
        assert_true(rp_read_file(cursor_path, 1 << 20, &text) > 0);
        _cleanup_json_ json_t *cursor = json_loads(text, 0, NULL);
        assert_non_null(cursor);
        json_int_t done = json_integer_value(json_object_get(cursor, "chunksDone"));
        assert_int_equal(done, 48); /* three batches were durable and recorded */

        /* The child's sends are not counted here (another process): count the parent's. */
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, cursor);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        ds_check_copy(&f->d, f->target, f->manifest);
        size_t parent = f->fp.chunks_sent;
        /* Fetched again: at most what was in flight when the child died. */
        assert_int_equal(parent, f->d.unique - (size_t)done);
        size_t twice = kill_after + parent - f->d.unique;
        assert_true(twice <= batch);
        assert_int_equal(twice, kill_after - 48);
}

/* A crash after a batch was flushed but before its cursor was persisted: the resumed copy
 * finds those chunks stored and does not fetch them. */
static void test_repl_copy__resume_with_stale_cursor(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f);
        rp_repl_copy *c = new_copy(f, &cfg, NULL);
        for (int i = 0; i < 3; i++)
                assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE);
        _cleanup_json_ json_t *cursor = rp_repl_copy_cursor(c);        /* after 1 batch */
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE); /* batch 2, lost cursor */
        rp_repl_copy_free(c);
        size_t before = f->fp.chunks_sent;
        c = new_copy(f, &cfg, cursor);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        assert_int_equal(f->fp.chunks_sent - before, f->d.unique - 32);
        ds_check_copy(&f->d, f->target, f->manifest);
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.chunks_done, p.chunks_needed);
        assert_int_equal(p.percent, 100);
        rp_repl_copy_free(c);
}

/* ------------------------------------------------------------------------- transit corruption */

static void test_repl_copy__corrupt_chunk_refetched(void **state)
{
        repl_fixture *f = *state;
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(f->d.m, &n);
        memcpy(f->fp.corrupt_id, e[20].id, 32);
        f->fp.corrupt_left = 1;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        ds_check_copy(&f->d, f->target, f->manifest);
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.chunks_refetched, 1);
        assert_int_equal(p.retries, 0); /* refetched at once, not a failed attempt */
        assert_int_equal(f->fp.chunks_sent, f->d.unique + 1);
        assert_int_equal(p.bytes_fetched, f->d.unique_bytes + CHUNK);
        _cleanup_json_ json_t *cur = rp_repl_copy_cursor(c);
        assert_int_equal(json_integer_value(json_object_get(cur, "chunksRefetched")), 1);
}

static void test_repl_copy__corrupt_forever_gives_up(void **state)
{
        repl_fixture *f = *state;
        f->fp.corrupt_all = true; /* e.g. the regions do not share the id key */
        rp_repl_config cfg = rt_config(f);
        cfg.max_attempts = 3;
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_FAILED);
        const char *code = NULL, *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, &msg), -EBADMSG);
        assert_string_equal(code, "PeerUnavailable");
        assert_non_null(strstr(msg, "arrived corrupt 4 times"));
        assert_non_null(strstr(msg, "Gave up after 3 failed attempts"));
        assert_false(rt_exists(f->manifest));
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.chunks_done, 0);
        assert_int_equal(p.retries, 3);
}

/* ------------------------------------------------------------------------- retries */

static void test_repl_copy__peer_errors_then_success(void **state)
{
        repl_fixture *f = *state;
        f->fp.manifest_fail[0] = -ETIMEDOUT;
        f->fp.manifest_fail[1] = -ECONNREFUSED;
        /* get_chunks: refused; then half a batch and the link drops; then a 5xx */
        f->fp.chunks_fail[0] = -ECONNRESET;
        f->fp.partial_fail[0] = -ETIMEDOUT;
        f->fp.chunks_fail[2] = -EREMOTEIO;
        rp_repl_config cfg = rt_config(f);
        cfg.backoff_initial = 2 * RP_USEC_PER_SEC;
        cfg.backoff_max = 5 * RP_USEC_PER_SEC;
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);

        /* First failure: wait in [1 s, 2 s] (equal jitter), second in [2 s, 4 s]. */
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_WAIT);
        rp_usec_t w1 = rp_repl_copy_wait_usec(c);
        assert_true(w1 >= 1 * RP_USEC_PER_SEC && w1 <= 2 * RP_USEC_PER_SEC);
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_true(p.retrying);
        /* Early steps do nothing. */
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_WAIT);
        assert_int_equal(f->fp.manifest_calls, 1);
        fc_advance(&f->clock, w1);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_WAIT);
        rp_usec_t w2 = rp_repl_copy_wait_usec(c);
        assert_true(w2 >= 2 * RP_USEC_PER_SEC && w2 <= 4 * RP_USEC_PER_SEC);
        fc_advance(&f->clock, w2);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE); /* manifest */
        rp_repl_copy_progress(c, &p);
        assert_false(p.retrying);
        /* A success resets the backoff: the next failure waits [1 s, 2 s] again. */
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE); /* plan */
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_WAIT);
        rp_usec_t w3 = rp_repl_copy_wait_usec(c);
        assert_true(w3 >= 1 * RP_USEC_PER_SEC && w3 <= 2 * RP_USEC_PER_SEC);

        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        ds_check_copy(&f->d, f->target, f->manifest);
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.retries, 5);
        /* The partial batch's 8 chunks were stored and flushed; the retry did not fetch them
         * again. */
        assert_int_equal(f->fp.chunks_sent, f->d.unique + 0);
        assert_int_equal(p.chunks_done, f->d.unique);
}

static void test_repl_copy__gives_up_after_budget(void **state)
{
        repl_fixture *f = *state;
        f->fp.always_fail = true;
        f->fp.chunks_fail[0] = -ECONNREFUSED;
        rp_repl_config cfg = rt_config(f);
        cfg.backoff_initial = 1 * RP_USEC_PER_SEC;
        cfg.backoff_max = 8 * RP_USEC_PER_SEC;
        cfg.give_up_after = 60 * RP_USEC_PER_SEC;
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        rp_usec_t t0 = f->clock.mono;
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_FAILED);
        rp_usec_t took = f->clock.mono - t0;
        assert_true(took >= 60 * RP_USEC_PER_SEC && took < 80 * RP_USEC_PER_SEC);
        const char *code = NULL, *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, &msg), -ECONNREFUSED);
        assert_string_equal(code, "PeerUnavailable");
        assert_non_null(strstr(msg, "Gave up after"));
        assert_non_null(strstr(msg, "Connection refused"));
        assert_non_null(strstr(msg, "fake peer says so"));
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.state, RP_REPL_STATE_FAILED);
        assert_true(p.retries >= 8);
        assert_int_equal(p.eta_sec, -1);
        assert_false(rt_exists(f->manifest));

        /* The failure is in the cursor, and a copy made from it is failed at once. */
        _cleanup_json_ json_t *cur = rp_repl_copy_cursor(c);
        json_t *e = json_object_get(cur, "error");
        assert_string_equal(json_string_value(json_object_get(e, "code")), "PeerUnavailable");
        assert_int_equal(json_integer_value(json_object_get(e, "errno")), -ECONNREFUSED);
        unsigned calls = f->fp.chunk_calls;
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c2 = new_copy(f, &cfg, cur);
        assert_int_equal(rp_repl_copy_step(c2), RP_REPL_STEP_FAILED);
        assert_int_equal(rp_repl_copy_error(c2, &code, &msg), -ECONNREFUSED);
        assert_non_null(strstr(msg, "Gave up after"));
        assert_int_equal(f->fp.chunk_calls, calls);
}

static void test_repl_copy__max_attempts(void **state)
{
        repl_fixture *f = *state;
        for (int i = 0; i < 5; i++)
                f->fp.manifest_fail[i] = -EHOSTUNREACH;
        rp_repl_config cfg = rt_config(f);
        cfg.max_attempts = 4;
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rt_drive(f, c, 100), RP_REPL_STEP_FAILED);
        assert_int_equal(f->fp.manifest_calls, 4);
        const char *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, NULL, &msg), -EHOSTUNREACH);
        assert_non_null(strstr(msg, "4 failed attempts"));
        assert_non_null(strstr(msg, "fetching the manifest"));
}

static void test_repl_copy__local_store_error_is_retried(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f);
        cfg.max_attempts = 50;
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        /* The manifest cannot be written (its directory is a file): retried, then failed as
         * the target's fault. */
        _cleanup_free_ char *bad = rp_asprintf("%s/copy.manifest/x", f->dir);
        int fd = open(f->manifest, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        rp_repl_copy *c2 = NULL;
        cfg.max_attempts = 3;
        assert_int_equal(rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", bad, NULL, &c2),
                         0);
        assert_int_equal(rt_drive(f, c2, 1000), RP_REPL_STEP_FAILED);
        const char *code = NULL, *msg = NULL;
        assert_true(rp_repl_copy_error(c2, &code, &msg) < 0);
        assert_string_equal(code, "TargetStoreFailed");
        assert_non_null(strstr(msg, "writing the manifest"));
        rp_repl_copy_free(c2);
        unlink(f->manifest);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
}

/* ------------------------------------------------------------------------- final errors */

static void test_repl_copy__time_limit(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f); /* default: 14 days */
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        for (int i = 0; i < 4; i++)
                assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE);
        f->clock.real += 14ull * 86400 * RP_USEC_PER_SEC - 1;
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE);
        f->clock.real += 1;
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_FAILED);
        const char *code = NULL, *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, &msg), -ETIME);
        assert_string_equal(code, "TimeLimitExceeded");
        assert_string_equal(msg, "The copy did not complete within its time limit of 14 days.");
        assert_false(rt_exists(f->manifest));
}

/* The limit counts from the first start, across restarts (the cursor keeps the start). */
static void test_repl_copy__time_limit_across_restart(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f);
        cfg.time_limit = 3600 * RP_USEC_PER_SEC;
        rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE);
        _cleanup_json_ json_t *cur = rp_repl_copy_cursor(c);
        rp_repl_copy_free(c);
        f->clock.real += 3601 * RP_USEC_PER_SEC;
        c = new_copy(f, &cfg, cur);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_FAILED);
        const char *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, NULL, &msg), -ETIME);
        assert_non_null(strstr(msg, "1 h 0 min"));
        rp_repl_copy_free(c);
}

/* A backoff does not sleep past the time limit. */
static void test_repl_copy__wait_capped_by_time_limit(void **state)
{
        repl_fixture *f = *state;
        f->fp.manifest_fail[0] = -ETIMEDOUT;
        rp_repl_config cfg = rt_config(f);
        cfg.time_limit = 10 * RP_USEC_PER_SEC;
        cfg.backoff_initial = 60 * RP_USEC_PER_SEC;
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        fc_advance(&f->clock, 4 * RP_USEC_PER_SEC);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_WAIT);
        assert_int_equal(rp_repl_copy_wait_usec(c), 6 * RP_USEC_PER_SEC);
        fc_advance(&f->clock, 6 * RP_USEC_PER_SEC);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_FAILED);
        assert_int_equal(rp_repl_copy_error(c, NULL, NULL), -ETIME);
}

static void test_repl_copy__cancel(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        /* Cancelled from "another thread" in the middle of a batch. */
        f->fp.cancel_copy = c;
        f->fp.cancel_after = 20;
        assert_int_equal(rt_drive(f, c, 100), RP_REPL_STEP_FAILED);
        assert_int_equal(f->fp.chunks_sent, 21); /* the next chunk was refused: stopped at once */
        const char *code = NULL, *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, &msg), -ECANCELED);
        assert_string_equal(code, "Canceled");
        assert_string_equal(msg, "The copy was canceled.");
        assert_false(rt_exists(f->manifest));
        _cleanup_json_ json_t *cur = rp_repl_copy_cursor(c);
        assert_string_equal(json_string_value(json_object_get(cur, "state")), "failed");
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.chunks_done, 16);
        assert_true(p.percent < 100);
}

static void test_repl_copy__cancel_while_waiting(void **state)
{
        repl_fixture *f = *state;
        f->fp.manifest_fail[0] = -ETIMEDOUT;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_WAIT);
        rp_repl_copy_cancel(c);
        rp_repl_copy_cancel(c);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_FAILED);
        assert_int_equal(rp_repl_copy_error(c, NULL, NULL), -ECANCELED);
        assert_int_equal(rp_repl_copy_wait_usec(c), 0);
}

static void test_repl_copy__source_not_found(void **state)
{
        repl_fixture *f = *state;
        f->fp.manifest_fail[0] = -ENOENT;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_FAILED);
        const char *code = NULL, *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, &msg), -ENOENT);
        assert_string_equal(code, "SourceNotFound");
        assert_non_null(strstr(msg, "'/src/drp/0'"));
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.retries, 0);
}

static void test_repl_copy__source_lacks_chunk(void **state)
{
        repl_fixture *f = *state;
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(f->d.m, &n);
        memcpy(f->fp.missing_id, e[30].id, 32);
        f->fp.missing = true;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rt_drive(f, c, 100), RP_REPL_STEP_FAILED);
        const char *code = NULL, *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, &msg), -ENOENT);
        assert_string_equal(code, "SourceDataMissing");
        char hex[65];
        rp_hex_encode(e[30].id, 32, hex);
        assert_non_null(strstr(msg, hex));
        _cleanup_free_ char *off =
                rp_asprintf("offset %llu", (unsigned long long)e[30].index * CHUNK);
        assert_non_null(strstr(msg, off));
}

static void test_repl_copy__auth_refused(void **state)
{
        repl_fixture *f = *state;
        f->fp.chunks_fail[0] = -EACCES;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rt_drive(f, c, 100), RP_REPL_STEP_FAILED);
        const char *code = NULL, *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, &msg), -EACCES);
        assert_string_equal(code, "AuthenticationFailed");
        assert_non_null(strstr(msg, "pair key"));
}

static void test_repl_copy__invalid_manifest(void **state)
{
        repl_fixture *f = *state;
        _cleanup_free_ uint8_t *bad = rp_malloc(f->d.enc_len);
        memcpy(bad, f->d.enc, f->d.enc_len);
        bad[50] ^= 1;
        f->fp.bad_manifest = bad;
        f->fp.bad_manifest_len = f->d.enc_len;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_FAILED);
        const char *code = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, NULL), -EBADMSG);
        assert_string_equal(code, "InvalidSourceManifest");
}

static void test_repl_copy__source_changed_on_resume(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f);
        rp_repl_copy *c = new_copy(f, &cfg, NULL);
        for (int i = 0; i < 3; i++)
                assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE);
        _cleanup_json_ json_t *cur = rp_repl_copy_cursor(c);
        rp_repl_copy_free(c);
        /* The source now answers with another (valid) manifest for the same id. */
        dataset other;
        ds_make(&other, 8, 7, 0, 0, 0);
        f->fp.bad_manifest = other.enc;
        f->fp.bad_manifest_len = other.enc_len;
        c = new_copy(f, &cfg, cur);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_FAILED);
        const char *code = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, NULL), -ESTALE);
        assert_string_equal(code, "SourceChanged");
        rp_repl_copy_free(c);
        f->fp.bad_manifest = NULL;
        ds_free(&other);
}

/* ------------------------------------------------------------------------- cursors */

static void test_repl_copy__bad_cursors_refused(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f);
        rp_repl_copy *c = new_copy(f, &cfg, NULL);
        for (int i = 0; i < 3; i++)
                assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE);
        _cleanup_json_ json_t *good = rp_repl_copy_cursor(c);
        rp_repl_copy_free(c);

        static const struct {
                const char *key;
                const char *json; /* NULL: delete the key */
                int want;
        } cases[] = {
                { "version", "2", -EPROTONOSUPPORT },
                { "version", "\"1\"", -EBADMSG },
                { "version", NULL, -EBADMSG },
                { "state", "\"flying\"", -EBADMSG },
                { "state", NULL, -EBADMSG },
                { "source", "\"/src/drp/other\"", -EINVAL },
                { "position", "-1", -EBADMSG },
                { "position", "1.5", -EBADMSG },
                { "manifestSha256", "\"abc\"", -EBADMSG },
                { "manifestSha256", NULL, -EBADMSG }, /* position > 0 needs it */
                { "chunksDone", "100000", -EBADMSG }, /* more than needed */
                { "bytesDone", "99999999999", -EBADMSG },
                { "planned", "1", -EBADMSG },
                { "retries", NULL, -EBADMSG },
                { "meta", "[]", -EBADMSG },
                { "error", "{\"errno\":-5,\"code\":\"Canceled\",\"message\":\"x\"}", -EBADMSG },
                { "surprise", "1", -EBADMSG },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_json_ json_t *j = json_deep_copy(good);
                if (cases[i].json)
                        json_object_set_new(j, cases[i].key,
                                            json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
                else
                        json_object_del(j, cases[i].key);
                rp_repl_copy *x = NULL;
                int r = rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", f->manifest, j,
                                         &x);
                if (r != cases[i].want)
                        fail_msg("case %zu (%s): got %d, want %d", i, cases[i].key, r,
                                 cases[i].want);
                assert_null(x);
        }
        /* A failed cursor needs a well formed error. */
        _cleanup_json_ json_t *j = json_deep_copy(good);
        json_object_set_new(j, "state", json_string("failed"));
        rp_repl_copy *x = NULL;
        assert_int_equal(
                rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", f->manifest, j, &x),
                -EBADMSG);
        json_object_set_new(
                j, "error",
                json_pack("{s:i, s:s, s:s}", "errno", -5, "code", "NoSuchCode", "message", "m"));
        assert_int_equal(
                rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", f->manifest, j, &x),
                -EBADMSG);
        json_object_set_new(j, "error",
                            json_pack("{s:i, s:s, s:s}", "errno", -5, "code", "PeerUnavailable",
                                      "message", "m"));
        assert_int_equal(
                rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", f->manifest, j, &x), 0);
        assert_int_equal(rp_repl_copy_step(x), RP_REPL_STEP_FAILED);
        rp_repl_copy_free(x);
        /* Other arguments. */
        assert_int_equal(rp_repl_copy_new(&cfg, NULL, f->target, "/s", f->manifest, NULL, &x),
                         -EINVAL);
        assert_int_equal(rp_repl_copy_new(&cfg, f->peer, f->target, "", f->manifest, NULL, &x),
                         -EINVAL);
        assert_int_equal(
                rp_repl_copy_new(&cfg, f->peer, f->target, "/s\xff", f->manifest, NULL, &x),
                -EINVAL);
        assert_int_equal(rp_repl_copy_step(NULL), -EINVAL);
        assert_null(rp_repl_copy_free(NULL));
}

static void test_repl_copy__state_names(void **state)
{
        for (int s = 0; s < _RP_REPL_STATE_MAX; s++)
                assert_int_equal(rp_repl_state_from_string(rp_repl_state_to_string(s)), s);
        assert_int_equal(rp_repl_state_from_string("DONE"), _RP_REPL_STATE_INVALID);
        assert_int_equal(rp_repl_state_from_string(NULL), _RP_REPL_STATE_INVALID);
        assert_null(rp_repl_state_to_string(_RP_REPL_STATE_MAX));
}

/* ------------------------------------------------------------------------- pair limits */

static void test_repl_copy__concurrency_cap(void **state)
{
        repl_fixture *f = *state;
        _cleanup_(rp_repl_sem_unrefp) rp_repl_sem *sem = rp_repl_sem_new(1);
        rp_repl_config cfg = rt_config(f);
        cfg.sem = sem;
        _cleanup_free_ char *p2 = rp_asprintf("%s/second.manifest", f->dir);
        rp_repl_copy *a = new_copy(f, &cfg, NULL), *b = NULL;
        assert_int_equal(rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", p2, NULL, &b), 0);
        assert_int_equal(rp_repl_copy_step(a), RP_REPL_STEP_CONTINUE);
        assert_int_equal(rp_repl_copy_step(b), RP_REPL_STEP_WAIT);
        assert_int_equal(rp_repl_copy_wait_usec(b), RP_REPL_SLOT_POLL);
        rp_repl_progress p;
        rp_repl_copy_progress(b, &p);
        assert_true(p.queued);
        assert_int_equal(rp_repl_sem_in_use(sem), 1);
        int ra, rb;
        do {
                ra = rp_repl_copy_step(a);
                rb = rp_repl_copy_step(b);
                assert_true(rp_repl_sem_in_use(sem) <= 1);
                if (rb == RP_REPL_STEP_WAIT)
                        fc_advance(&f->clock, rp_repl_copy_wait_usec(b));
        } while (ra != RP_REPL_STEP_DONE);
        assert_int_equal(rt_drive(f, b, 1000), RP_REPL_STEP_DONE);
        assert_int_equal(rp_repl_sem_in_use(sem), 0);
        ds_check_copy(&f->d, f->target, p2);
        /* A copy freed before its end gives its slot back. */
        _cleanup_free_ char *p3 = rp_asprintf("%s/third.manifest", f->dir);
        rp_repl_copy *x = NULL;
        assert_int_equal(rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", p3, NULL, &x), 0);
        assert_int_equal(rp_repl_copy_step(x), RP_REPL_STEP_CONTINUE);
        assert_int_equal(rp_repl_sem_in_use(sem), 1);
        rp_repl_copy_free(x);
        assert_int_equal(rp_repl_sem_in_use(sem), 0);
        rp_repl_copy_free(a);
        rp_repl_copy_free(b);
}

/* With a 10 MB/s pair limit (and an infinitely fast peer), the copy takes bytes / rate on the
 * engine's clock, within 10 %. */
static void test_repl_copy__bandwidth_limit(void **state)
{
        repl_fixture *f = *state;
        const uint64_t rate = 10ull * 1000 * 1000;
        _cleanup_(rp_repl_limiter_unrefp) rp_repl_limiter *lim = rp_repl_limiter_new(rate);
        rp_repl_config cfg = rt_config(f);
        cfg.limiter = lim;
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        rp_usec_t t0 = f->clock.mono;
        assert_int_equal(rt_drive(f, c, 10000), RP_REPL_STEP_DONE);
        double took = (double)(f->clock.mono - t0) / RP_USEC_PER_SEC;
        double want = (double)f->d.unique_bytes / (double)rate;
        assert_true(took > want * 0.9 && took < want * 1.1);
        ds_check_copy(&f->d, f->target, f->manifest);
}

/* ------------------------------------------------------------------------- gc */

static const uint8_t *gc_victim;

static int gc_is_live(void *ud, const uint8_t id[32])
{
        return memcmp(id, gc_victim, 32) != 0;
}

/* GC removes a chunk of a copy that is not yet committed (a paused copy's chunks are in no
 * manifest): COMMIT notices, plans it again, and the result is complete. */
static void test_repl_copy__chunk_lost_before_commit_is_refetched(void **state)
{
        repl_fixture *f = *state;
        rp_repl_config cfg = rt_config(f);
        _cleanup_(rp_repl_copy_freep) rp_repl_copy *c = new_copy(f, &cfg, NULL);
        while (rp_repl_copy_state(c) != RP_REPL_STATE_COMMIT)
                assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_CONTINUE);
        size_t n;
        const rp_manifest_entry *e = rp_manifest_entries(f->d.m, &n);
        gc_victim = e[11].id;
        rp_store_gc_result gr;
        assert_int_equal(rp_store_gc(f->target, gc_is_live, NULL, &gr), 0);
        assert_int_equal(gr.removed, 1);
        assert_int_equal(rp_store_has(f->target, e[11].id), 0);
        size_t before = f->fp.chunks_sent;
        /* (Not rt_drive: the percent honestly drops a little when a chunk must come again.) */
        int r;
        for (int i = 0; i < 10 && (r = rp_repl_copy_step(c)) == RP_REPL_STEP_CONTINUE; i++)
                ;
        assert_int_equal(r, RP_REPL_STEP_DONE);
        assert_int_equal(f->fp.chunks_sent - before, 1);
        ds_check_copy(&f->d, f->target, f->manifest);
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.percent, 100);
        assert_int_equal(p.chunks_done, p.chunks_needed);
}

/* ------------------------------------------------------------------------- in-process peer */

typedef struct local_src {
        dataset *d;
        int fail;
} local_src;

static int local_lookup(void *ud, const char *drp_id, uint8_t **ret_data, size_t *ret_len,
                        json_t **ret_meta)
{
        local_src *s = ud;
        if (s->fail < 0)
                return s->fail;
        if (strcmp(drp_id, "/src/drp/0") != 0)
                return -ENOENT;
        *ret_data = rp_malloc(s->d->enc_len);
        memcpy(*ret_data, s->d->enc, s->d->enc_len);
        *ret_len = s->d->enc_len;
        *ret_meta = NULL; /* the wrapper substitutes {} */
        return 0;
}

static void test_repl_copy__local_peer(void **state)
{
        repl_fixture *f = *state;
        /* A source region in the same process, with its own store and key. */
        _cleanup_free_ char *sc = rp_asprintf("%s/src-chunks", f->dir);
        _cleanup_free_ char *sd = rp_asprintf("%s/src.db", f->dir);
        uint8_t src_key[32];
        memset(src_key, 0x5a, sizeof src_key);
        _cleanup_(rp_store_freep) rp_store *src = NULL;
        assert_int_equal(rp_store_open(sc, sd, rt_id_key(), src_key, &src), 0);
        ds_put_some(&f->d, src, 0, 0);
        local_src ls = { .d = &f->d };
        _cleanup_(rp_peer_freep) rp_peer *peer = NULL;
        assert_int_equal(rp_peer_local_new(src, local_lookup, &ls, &peer), 0);

        rp_repl_config cfg = rt_config(f);
        rp_repl_copy *c = NULL;
        assert_int_equal(
                rp_repl_copy_new(&cfg, peer, f->target, "/src/drp/0", f->manifest, NULL, &c), 0);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_DONE);
        ds_check_copy(&f->d, f->target, f->manifest);
        assert_int_equal(json_object_size(rp_repl_copy_meta(c)), 0);
        rp_repl_copy_free(c);

        /* Unknown point; lookup failures are retried. */
        assert_int_equal(
                rp_repl_copy_new(&cfg, peer, f->target, "/src/drp/9", f->manifest, NULL, &c), 0);
        assert_int_equal(rp_repl_copy_step(c), RP_REPL_STEP_FAILED);
        assert_int_equal(rp_repl_copy_error(c, NULL, NULL), -ENOENT);
        rp_repl_copy_free(c);
        ls.fail = -EIO;
        cfg.max_attempts = 2;
        assert_int_equal(
                rp_repl_copy_new(&cfg, peer, f->target, "/src/drp/0", f->manifest, NULL, &c), 0);
        assert_int_equal(rt_drive(f, c, 10), RP_REPL_STEP_FAILED);
        const char *msg = NULL;
        assert_int_equal(rp_repl_copy_error(c, NULL, &msg), -EIO);
        assert_non_null(strstr(msg, "manifest lookup in the source region failed"));
        rp_repl_copy_free(c);
}

static void test_repl_copy__local_peer_missing_chunk(void **state)
{
        repl_fixture *f = *state;
        _cleanup_free_ char *sc = rp_asprintf("%s/src-chunks", f->dir);
        _cleanup_free_ char *sd = rp_asprintf("%s/src.db", f->dir);
        uint8_t src_key[32];
        memset(src_key, 0x33, sizeof src_key);
        _cleanup_(rp_store_freep) rp_store *src = NULL;
        assert_int_equal(rp_store_open(sc, sd, rt_id_key(), src_key, &src), 0);
        ds_put_some(&f->d, src, 25, 24); /* entries 24, 49, 74 missing at the source */
        local_src ls = { .d = &f->d };
        _cleanup_(rp_peer_freep) rp_peer *peer = NULL;
        assert_int_equal(rp_peer_local_new(src, local_lookup, &ls, &peer), 0);
        rp_repl_config cfg = rt_config(f);
        rp_repl_copy *c = NULL;
        assert_int_equal(
                rp_repl_copy_new(&cfg, peer, f->target, "/src/drp/0", f->manifest, NULL, &c), 0);
        assert_int_equal(rt_drive(f, c, 1000), RP_REPL_STEP_FAILED);
        const char *code = NULL;
        assert_int_equal(rp_repl_copy_error(c, &code, NULL), -ENOENT);
        assert_string_equal(code, "SourceDataMissing");
        /* What could be copied before the gap was kept (flushed). */
        rp_repl_progress p;
        rp_repl_copy_progress(c, &p);
        assert_int_equal(p.chunks_done, 16);
        rp_repl_copy_free(c);
        assert_int_equal(rp_peer_local_new(NULL, local_lookup, &ls, &peer), -EINVAL);
}

/* ------------------------------------------------------------------------- peer wrapper */

static int bad_manifest_impl(rp_peer *peer, const char *id, uint8_t **d, size_t *l, json_t **m)
{
        *d = NULL;
        *l = 0;
        *m = NULL;
        return 0; /* claims success without data */
}

static const rp_peer_ops old_ops = { .version = 0,
                                     .get_manifest = bad_manifest_impl,
                                     .get_chunks = fp_get_chunks };
static const rp_peer_ops lying_ops = { .version = RP_PEER_OPS_VERSION,
                                       .get_manifest = bad_manifest_impl,
                                       .get_chunks = fp_get_chunks };

static int noop_chunk(void *ud, const uint8_t id[32], const void *plain, size_t len)
{
        return 0;
}

static void test_repl_copy__peer_contract(void **state)
{
        repl_fixture *f = *state;
        rp_peer *p = NULL;
        assert_int_equal(rp_peer_new(&old_ops, NULL, &p), -EPROTONOSUPPORT);
        assert_int_equal(rp_peer_new(&lying_ops, &f->fp, &p), 0);
        uint8_t *d = NULL;
        size_t l = 0;
        json_t *m = NULL;
        assert_int_equal(rp_peer_get_manifest(p, "/x", &d, &l, &m), -EPROTO);
        assert_null(d);
        uint8_t ids[1][32] = { { 1 } };
        assert_int_equal(rp_peer_get_chunks(p, (const uint8_t(*)[32])ids, 0, NULL, NULL), -EINVAL);
        assert_int_equal(rp_peer_get_chunks(p, (const uint8_t(*)[32])ids, RP_PEER_MAX_IDS + 1,
                                            noop_chunk, NULL),
                         -EINVAL);
        assert_null(rp_peer_last_error(p));
        assert_true(rp_peer_is(p, &lying_ops));
        assert_false(rp_peer_is(p, &old_ops));
        rp_peer_free(p);
        assert_null(rp_peer_free(NULL));
}

/* ------------------------------------------------------------------------- OOM */

/* One copy of a small point with allocation n failing, for every n a copy makes: each failure
 * is a failed attempt (retried) or refuses the copy's creation; the copy ends DONE and right,
 * and nothing leaks (ASan). */
static void test_repl_copy__oom_torture(void **state)
{
        unsigned long total = 0;
        for (unsigned long n = 0;; n++) {
                repl_fixture *f = rt_setup(3);
                rp_repl_config cfg = rt_config(f);
                unsigned long before = rp_alloc_count();
                rp_alloc_fail_at(n);
                rp_repl_copy *c = NULL;
                int r = rp_repl_copy_new(&cfg, f->peer, f->target, "/src/drp/0", f->manifest, NULL,
                                         &c);
                if (r == 0) {
                        r = rt_drive(f, c, 1000);
                        if (r != RP_REPL_STEP_DONE)
                                print_message("allocation %lu\n", n);
                }
                rp_alloc_fail_at(0);
                if (n == 0)
                        total = rp_alloc_count() - before;
                if (r == -ENOMEM) {
                        assert_null(c);
                } else {
                        assert_int_equal(r, RP_REPL_STEP_DONE);
                        ds_check_copy(&f->d, f->target, f->manifest);
                }
                rp_repl_copy_free(c);
                rt_teardown(f);
                if (n >= total)
                        break;
        }
        print_message("oom torture: %lu allocations\n", total);
        assert_true(total > 20);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
                T(test_repl_copy__full_into_empty_store),
                T(test_repl_copy__incremental_fetches_only_missing),
                T(test_repl_copy__again_fetches_nothing),
                T(test_repl_copy__progress_rate_and_eta),
                T(test_repl_copy__resume_from_cursor),
                T(test_repl_copy__resume_after_kill),
                T(test_repl_copy__resume_with_stale_cursor),
                T(test_repl_copy__corrupt_chunk_refetched),
                T(test_repl_copy__corrupt_forever_gives_up),
                T(test_repl_copy__peer_errors_then_success),
                T(test_repl_copy__gives_up_after_budget),
                T(test_repl_copy__max_attempts),
                T(test_repl_copy__local_store_error_is_retried),
                T(test_repl_copy__time_limit),
                T(test_repl_copy__time_limit_across_restart),
                T(test_repl_copy__wait_capped_by_time_limit),
                T(test_repl_copy__cancel),
                T(test_repl_copy__cancel_while_waiting),
                T(test_repl_copy__source_not_found),
                T(test_repl_copy__source_lacks_chunk),
                T(test_repl_copy__auth_refused),
                T(test_repl_copy__invalid_manifest),
                T(test_repl_copy__source_changed_on_resume),
                T(test_repl_copy__bad_cursors_refused),
                T(test_repl_copy__state_names),
                T(test_repl_copy__concurrency_cap),
                T(test_repl_copy__bandwidth_limit),
                T(test_repl_copy__chunk_lost_before_commit_is_refetched),
                T(test_repl_copy__local_peer),
                T(test_repl_copy__local_peer_missing_chunk),
                T(test_repl_copy__peer_contract),
                cmocka_unit_test(test_repl_copy__oom_torture),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
