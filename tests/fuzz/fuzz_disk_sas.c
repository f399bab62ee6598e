/* fuzz_disk_sas.c: libFuzzer target for rp_sas_verify (and a sign/verify round trip).
 *
 * Input: one mode byte, then fields separated by '\n'.
 *  - mode bit 0 clear: the fields are resource, sv, sr, sp, se, sk, sig (a missing field is
 *    NULL) and go to rp_sas_verify(), which must not crash and must return one of its
 *    documented codes; a success must carry a sane grant.
 *  - mode bit 0 set: the rest is resource '\n' 8 bytes expiry, 8 bytes generation; whatever
 *    rp_sas_sign() accepts, rp_sas_verify() must accept back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk/disk_sas.h"
#include "util/alloc.h"
#include "util/macro.h"

#define NFIELDS 7

static const uint8_t key[32] = "fuzz-key-fuzz-key-fuzz-key-fuzz";

static uint64_t load_u64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static void check_verify(const uint8_t *data, size_t size)
{
        char *fields[NFIELDS] = { 0 };
        size_t start = 0, n = 0;
        for (size_t i = 0; i <= size && n < NFIELDS; i++) {
                if (i < size && data[i] != '\n')
                        continue;
                fields[n] = rp_strndup((const char *)data + start, i - start);
                if (!fields[n])
                        abort();
                n++;
                start = i + 1;
        }
        rp_sas_grant g = { 0 };
        int r = rp_sas_verify(key, sizeof key, fields[0], fields[1], fields[2], fields[3],
                              fields[4], fields[5], fields[6], 1700000000u, &g);
        if (r != 0 && r != -EBADMSG && r != -EKEYREJECTED && r != -ETIME && r != -ENOMEM)
                abort();
        if (r == 0 && (!g.read || g.expiry_sec <= 1700000000u))
                abort();
        for (size_t i = 0; i < NFIELDS; i++)
                rp_free(fields[i]);
}

static void check_round_trip(const uint8_t *data, size_t size)
{
        const uint8_t *nl = memchr(data, '\n', size);
        if (!nl || (size_t)(data + size - (nl + 1)) < 16)
                return;
        _cleanup_free_ char *resource = rp_strndup((const char *)data, (size_t)(nl - data));
        if (!resource)
                abort();
        uint64_t expiry = load_u64(nl + 1), gen = load_u64(nl + 9);
        const char *perms = gen & 1 ? "rw" : "r";
        _cleanup_free_ char *q = NULL;
        if (rp_sas_sign(key, sizeof key, resource, perms, expiry, gen, &q) < 0)
                return;

        /* Split the query the way the data plane will. */
        const char *v[6] = { 0 };
        static const char *const names[6] = { "sv=", "sr=", "sp=", "se=", "sk=", "sig=" };
        for (char *p = q; p;) {
                char *amp = strchr(p, '&');
                if (amp)
                        *amp = '\0';
                for (size_t i = 0; i < 6; i++)
                        if (strncmp(p, names[i], strlen(names[i])) == 0)
                                v[i] = p + strlen(names[i]);
                p = amp ? amp + 1 : NULL;
        }
        rp_sas_grant g;
        uint64_t now = expiry > 0 ? expiry - 1 : 0;
        int r = rp_sas_verify(key, sizeof key, resource, v[0], v[1], v[2], v[3], v[4], v[5], now,
                              &g);
        if (expiry == 0 ? r != -ETIME : r != 0)
                abort();
        if (r == 0 && (g.expiry_sec != expiry || g.generation != gen || g.write != (gen & 1)))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        if (data[0] & 1)
                check_round_trip(data + 1, size - 1);
        else
                check_verify(data + 1, size - 1);
        return 0;
}
