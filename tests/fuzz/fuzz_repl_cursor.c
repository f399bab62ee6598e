/* fuzz_repl_cursor.c: libFuzzer target for the persisted cursor of a copy
 * (rp_repl__cursor_parse, the strict reader of what the database hands back after a restart).
 *
 * Input: JSON text. When it parses as a cursor of source "/s", building it again and parsing
 * that must give the same cursor (build and parse agree), and the rebuilt text must be stable.
 * A refusal must be -EBADMSG, -EPROTONOSUPPORT or -EINVAL (another source).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "repl/repl_internal.h"
#include "util/alloc.h"
#include "util/macro.h"

static bool same(const rp_repl__cursor *a, const rp_repl__cursor *b)
{
        return a->state == b->state && rp_streq(a->source, b->source) &&
               a->position == b->position && a->have_sha == b->have_sha &&
               memcmp(a->manifest_sha256, b->manifest_sha256, 32) == 0 &&
               a->started_at == b->started_at && a->planned == b->planned &&
               a->chunks_needed == b->chunks_needed && a->bytes_needed == b->bytes_needed &&
               a->chunks_done == b->chunks_done && a->bytes_done == b->bytes_done &&
               a->bytes_fetched == b->bytes_fetched && a->chunks_refetched == b->chunks_refetched &&
               a->retries == b->retries && a->error == b->error && a->error_code == b->error_code &&
               (a->error_message == b->error_message ||
                rp_streq(a->error_message, b->error_message)) &&
               ((!a->meta && !b->meta) || json_equal((json_t *)a->meta, (json_t *)b->meta));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static bool init;
        if (!init) {
                rp_json_init();
                init = true;
        }
        json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!j)
                return 0;
        rp_repl__cursor c;
        int r = rp_repl__cursor_parse(j, "/s", &c);
        if (r < 0) {
                if (r != -EBADMSG && r != -EPROTONOSUPPORT && r != -EINVAL)
                        abort();
                json_decref(j);
                return 0;
        }
        json_t *b = rp_repl__cursor_build(&c);
        if (!b) {
                json_decref(j);
                return 0; /* OOM */
        }
        rp_repl__cursor c2;
        if (rp_repl__cursor_parse(b, "/s", &c2) < 0 || !same(&c, &c2))
                abort();
        json_t *b2 = rp_repl__cursor_build(&c2);
        if (b2 && !json_equal(b, b2))
                abort();
        if (b2)
                json_decref(b2);
        json_decref(b);
        json_decref(j);
        return 0;
}
