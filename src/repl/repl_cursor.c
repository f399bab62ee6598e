/* repl_cursor.c: the persisted cursor of a copy, to and from JSON.
 *
 * DESIGN: the cursor is what a restart knows of a copy, so it is parsed as strictly as any
 * peer input (it comes back from the database, which may hold a cursor of another version or a
 * hand-edited one): every field has a type and a range, unknown versions are refused, and the
 * counters must be consistent. Integers are JSON integers (jansson: int64), so every u64
 * counter is bounded by INT64_MAX on the way in and out. */
#include <errno.h>
#include <string.h>

#include "json/json.h"
#include "repl/repl_internal.h"
#include "util/crypto.h"
#include "util/macro.h"

static const char *const state_names[_RP_REPL_STATE_MAX] = {
        [RP_REPL_STATE_FETCH_MANIFEST] = "fetchManifest",
        [RP_REPL_STATE_PLAN] = "plan",
        [RP_REPL_STATE_TRANSFER] = "transfer",
        [RP_REPL_STATE_COMMIT] = "commit",
        [RP_REPL_STATE_DONE] = "done",
        [RP_REPL_STATE_FAILED] = "failed",
};

const char *rp_repl_state_to_string(enum rp_repl_state s)
{
        return s >= 0 && s < _RP_REPL_STATE_MAX ? state_names[s] : NULL;
}

enum rp_repl_state rp_repl_state_from_string(const char *s)
{
        for (int i = 0; s && i < _RP_REPL_STATE_MAX; i++)
                if (strcmp(state_names[i], s) == 0)
                        return (enum rp_repl_state)i;
        return _RP_REPL_STATE_INVALID;
}

const char *rp_repl__error_code_find(const char *code)
{
        static const char *const codes[] = {
                RP_REPL_EC_CANCELED,
                RP_REPL_EC_TIME_LIMIT,
                RP_REPL_EC_SOURCE_NOT_FOUND,
                RP_REPL_EC_SOURCE_DATA_MISSING,
                RP_REPL_EC_AUTH,
                RP_REPL_EC_BAD_MANIFEST,
                RP_REPL_EC_SOURCE_CHANGED,
                RP_REPL_EC_PEER,
                RP_REPL_EC_STORE,
        };
        for (size_t i = 0; code && i < ELEMENTSOF(codes); i++)
                if (strcmp(codes[i], code) == 0)
                        return codes[i];
        return NULL;
}

/* Chunks that @p bytes fill at least (a chunk holds at most RP_CHUNK_SIZE bytes). */
static uint64_t chunks_for(uint64_t bytes)
{
        return bytes / RP_CHUNK_SIZE + (bytes % RP_CHUNK_SIZE != 0);
}

/* A non-negative JSON integer. */
static int get_u64(const json_t *j, const char *key, uint64_t *ret)
{
        json_t *v = json_object_get(j, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -EBADMSG;
        *ret = (uint64_t)json_integer_value(v);
        return 0;
}

int rp_repl__cursor_parse(const json_t *j, const char *source, rp_repl__cursor *ret)
{
        if (!json_is_object(j))
                return -EBADMSG;
        json_t *ver = json_object_get(j, "version");
        if (!json_is_integer(ver))
                return -EBADMSG;
        if (json_integer_value(ver) != RP_REPL_CURSOR_VERSION)
                return -EPROTONOSUPPORT;

        static const char *const known[] = {
                "version",         "state",      "source",    "position",
                "manifestSha256",  "startedAt",  "planned",   "chunksNeeded",
                "bytesNeeded",     "chunksDone", "bytesDone", "bytesFetched",
                "chunksRefetched", "retries",    "meta",      "error",
        };
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
                bool ok = false;
                for (size_t i = 0; i < ELEMENTSOF(known) && !ok; i++)
                        ok = strcmp(known[i], k) == 0;
                if (!ok)
                        return -EBADMSG;
        }

        rp_repl__cursor c = {};
        const char *state = NULL, *sha = NULL;
        json_t *planned = NULL, *meta = NULL, *error = NULL;
        const rp_json_spec spec[] = {
                { "state", RP_JSON_STRING, true, &state },
                { "source", RP_JSON_STRING, true, &c.source },
                { "manifestSha256", RP_JSON_STRING, false, &sha },
                { "planned", RP_JSON_ANY, true, &planned },
                { "meta", RP_JSON_OBJECT, false, &meta },
                { "error", RP_JSON_OBJECT, false, &error },
                RP_JSON_SPEC_END,
        };
        if (rp_json_parse(j, spec, NULL) < 0 || !json_is_boolean(planned))
                return -EBADMSG;
        c.state = rp_repl_state_from_string(state);
        if (c.state < 0)
                return -EBADMSG;
        if (!rp_streq(c.source, source))
                return -EINVAL;
        c.planned = json_is_true(planned);
        c.meta = meta;
        if (sha) {
                if (strlen(sha) != 64 || rp_hex_decode(sha, c.manifest_sha256, 32) < 0)
                        return -EBADMSG;
                c.have_sha = true;
        }
        uint64_t started;
        if (get_u64(j, "position", &c.position) < 0 || get_u64(j, "startedAt", &started) < 0 ||
            get_u64(j, "chunksNeeded", &c.chunks_needed) < 0 ||
            get_u64(j, "bytesNeeded", &c.bytes_needed) < 0 ||
            get_u64(j, "chunksDone", &c.chunks_done) < 0 ||
            get_u64(j, "bytesDone", &c.bytes_done) < 0 ||
            get_u64(j, "bytesFetched", &c.bytes_fetched) < 0 ||
            get_u64(j, "chunksRefetched", &c.chunks_refetched) < 0 ||
            get_u64(j, "retries", &c.retries) < 0)
                return -EBADMSG;
        c.started_at = started;
        if (c.position > RP_MANIFEST_MAX_CHUNKS)
                return -EBADMSG;
        if (c.planned && (c.chunks_done > c.chunks_needed || c.bytes_done > c.bytes_needed))
                return -EBADMSG;
        if (!c.planned && (c.chunks_needed || c.bytes_needed))
                return -EBADMSG;
        if (chunks_for(c.bytes_done) > c.chunks_done ||
            chunks_for(c.bytes_needed) > c.chunks_needed)
                return -EBADMSG;
        if (c.position > 0 && !c.have_sha)
                return -EBADMSG;
        if (c.state == RP_REPL_STATE_DONE && (!c.have_sha || !c.planned))
                return -EBADMSG;

        if ((c.state == RP_REPL_STATE_FAILED) != (error != NULL))
                return -EBADMSG;
        if (error) {
                json_t *en = json_object_get(error, "errno");
                const char *code = json_string_value(json_object_get(error, "code"));
                const char *msg = json_string_value(json_object_get(error, "message"));
                if (json_object_size(error) != 3 || !json_is_integer(en) ||
                    json_integer_value(en) >= 0 || json_integer_value(en) < -4095 || !msg || !*msg)
                        return -EBADMSG;
                c.error_code = rp_repl__error_code_find(code);
                if (!c.error_code)
                        return -EBADMSG;
                c.error = (int)json_integer_value(en);
                c.error_message = msg;
        }
        *ret = c;
        return 0;
}

/* A counter as a JSON integer (saturating: never negative). */
static json_t *jint(uint64_t v)
{
        return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *rp_repl__cursor_build(const rp_repl__cursor *c)
{
        json_t *j = json_object();
        if (!j)
                return NULL;
        char sha[65];
        if (c->have_sha)
                rp_hex_encode(c->manifest_sha256, 32, sha);
        bool ok =
                json_object_set_new(j, "version", json_integer(RP_REPL_CURSOR_VERSION)) == 0 &&
                json_object_set_new(j, "state", json_string(rp_repl_state_to_string(c->state))) ==
                        0 &&
                json_object_set_new(j, "source", json_string(c->source)) == 0 &&
                json_object_set_new(j, "position", jint(c->position)) == 0 &&
                (!c->have_sha || json_object_set_new(j, "manifestSha256", json_string(sha)) == 0) &&
                json_object_set_new(j, "startedAt", jint(c->started_at)) == 0 &&
                json_object_set_new(j, "planned", json_boolean(c->planned)) == 0 &&
                json_object_set_new(j, "chunksNeeded", jint(c->chunks_needed)) == 0 &&
                json_object_set_new(j, "bytesNeeded", jint(c->bytes_needed)) == 0 &&
                json_object_set_new(j, "chunksDone", jint(c->chunks_done)) == 0 &&
                json_object_set_new(j, "bytesDone", jint(c->bytes_done)) == 0 &&
                json_object_set_new(j, "bytesFetched", jint(c->bytes_fetched)) == 0 &&
                json_object_set_new(j, "chunksRefetched", jint(c->chunks_refetched)) == 0 &&
                json_object_set_new(j, "retries", jint(c->retries)) == 0 &&
                (!c->meta || json_object_set_new(j, "meta", json_deep_copy(c->meta)) == 0);
        if (ok && c->state == RP_REPL_STATE_FAILED) {
                json_t *e = json_pack("{s:i, s:s, s:s}", "errno", c->error, "code",
                                      c->error_code ? c->error_code : RP_REPL_EC_PEER, "message",
                                      c->error_message ? c->error_message : "failed");
                ok = e && json_object_set_new(j, "error", e) == 0;
        }
        if (!ok) {
                json_decref(j);
                return NULL;
        }
        return j;
}
