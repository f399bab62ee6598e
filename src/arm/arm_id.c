/* arm_id.c: ARM resource id parser and formatter.
 *
 * DESIGN: an id is split into at most 14 '/'-separated segments (subscriptions/{guid},
 * resourceGroups/{rg}, providers/{ns}, then up to RP_ARM_ID_MAX_LEVELS type/name pairs) and
 * each piece is copied into the struct. Literal segments are matched case-insensitively and not
 * stored, so rp_arm_id_format() always writes them in canonical case; everything else keeps the
 * caller's case. The whole string is screened once before splitting (length, UTF-8, control
 * characters, '?', '#', '%'), so every stored piece is printable UTF-8 without '/', which is what
 * makes format(parse(format(parse(s)))) == format(parse(s)) hold (the fuzzer checks it).
 *
 * Case-insensitive identity: ARM treats ids as case-insensitive. rp_arm_id_key() lower-cases the
 * canonical form; only ASCII letters are folded (Unicode resource group names that differ in case
 * outside ASCII get different keys; ARM would fold them, we do not carry case tables).
 */
#include "arm_id.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "arm_names.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/macro.h"

/* subscriptions/{s} resourceGroups/{rg} providers/{ns} + type/name pairs */
#define ID_MAX_SEGMENTS (6 + 2 * RP_ARM_ID_MAX_LEVELS)
/* Formatting a hand-filled struct is capped well above what rp_arm_id_parse() accepts. */
#define ID_FORMAT_MAX (16u * RP_ARM_ID_MAX_LEN)

typedef struct id_segment {
        const char *p;
        size_t len;
} id_segment;

static bool seg_is(const id_segment *s, const char *literal)
{
        return strlen(literal) == s->len && strncasecmp(s->p, literal, s->len) == 0;
}

/* Reject what no segment may hold: control characters, '?', '#', '%' and invalid UTF-8. */
static int id_screen(const char *s, size_t len)
{
        size_t i = 0;
        while (i < len) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x80) {
                        if (c < 0x20 || c == 0x7f || c == '?' || c == '#' || c == '%')
                                return -EINVAL;
                        i++;
                        continue;
                }
                uint32_t cp;
                int n = rp_arm__utf8_next(s + i, len - i, &cp);
                if (n < 0)
                        return n;
                if (cp <= 0x9f) /* C1 controls */
                        return -EINVAL;
                i += (size_t)n;
        }
        return 0;
}

/* Namespaces and types: [A-Za-z0-9._-]. */
static bool seg_is_type_token(const id_segment *s)
{
        for (size_t i = 0; i < s->len; i++) {
                char c = s->p[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                if (!ok)
                        return false;
        }
        return true;
}

static bool seg_is_name(const id_segment *s)
{
        /* "." and ".." would be folded away by any URL normaliser on the way in. */
        return !seg_is(s, ".") && !seg_is(s, "..");
}

static int seg_dup(const id_segment *s, char **ret)
{
        char *d = rp_strndup(s->p, s->len);
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int id_split(const char *s, size_t len, id_segment segs[static ID_MAX_SEGMENTS],
                    size_t *ret_n)
{
        size_t n = 0;
        const char *p = s, *end = s + len;

        if (len == 0 || *p != '/')
                return -EINVAL;
        while (p < end) {
                p++; /* skip '/' */
                const char *slash = memchr(p, '/', (size_t)(end - p));
                const char *e = slash ? slash : end;
                if (e == p || n == ID_MAX_SEGMENTS) /* empty segment, trailing '/', too deep */
                        return -EINVAL;
                segs[n++] = (id_segment){ .p = p, .len = (size_t)(e - p) };
                p = e;
        }
        *ret_n = n;
        return 0;
}

int rp_arm_id_parse(const char *s, rp_arm_id **ret)
{
        _cleanup_arm_id_ rp_arm_id *id = NULL;
        id_segment segs[ID_MAX_SEGMENTS];
        size_t n = 0, pos;
        int r;

        assert(ret);
        if (!s)
                return -EINVAL;
        size_t len = strnlen(s, RP_ARM_ID_MAX_LEN + 1);
        if (len > RP_ARM_ID_MAX_LEN)
                return -EINVAL;
        r = id_screen(s, len);
        if (r < 0)
                return r;
        r = id_split(s, len, segs, &n);
        if (r < 0)
                return r;

        if (n < 2 || !seg_is(&segs[0], "subscriptions"))
                return -EINVAL;
        {
                _cleanup_free_ char *sub = rp_strndup(segs[1].p, segs[1].len);
                if (!sub)
                        return -ENOMEM;
                if (!rp_arm_is_guid(sub))
                        return -EINVAL;
                id = rp_calloc(1, sizeof(*id));
                if (!id)
                        return -ENOMEM;
                id->subscription = TAKE_PTR(sub);
        }
        pos = 2;

        if (pos < n && seg_is(&segs[pos], "resourceGroups")) {
                if (pos + 1 >= n || !seg_is_name(&segs[pos + 1]))
                        return -EINVAL;
                r = seg_dup(&segs[pos + 1], &id->resource_group);
                if (r < 0)
                        return r;
                pos += 2;
        }

        if (pos < n) {
                size_t rest;
                if (!seg_is(&segs[pos], "providers") || pos + 1 >= n ||
                    !seg_is_type_token(&segs[pos + 1]))
                        return -EINVAL;
                rest = n - pos - 2;
                if (rest == 0 || rest % 2 != 0 || rest / 2 > RP_ARM_ID_MAX_LEVELS)
                        return -EINVAL;
                r = seg_dup(&segs[pos + 1], &id->provider);
                if (r < 0)
                        return r;
                pos += 2;
                for (; pos < n; pos += 2) {
                        const id_segment *t = &segs[pos], *nm = &segs[pos + 1];
                        if (!seg_is_type_token(t) || seg_is(t, "providers") || !seg_is_name(nm))
                                return -EINVAL;
                        r = seg_dup(t, &id->levels[id->n_levels].type);
                        if (r < 0)
                                return r;
                        r = seg_dup(nm, &id->levels[id->n_levels].name);
                        if (r < 0)
                                return r;
                        id->n_levels++;
                }
        }

        *ret = TAKE_PTR(id);
        return 0;
}

rp_arm_id *rp_arm_id_free(rp_arm_id *id)
{
        if (!id)
                return NULL;
        rp_free(id->subscription);
        rp_free(id->resource_group);
        rp_free(id->provider);
        /* Free every slot: a partly parsed id may hold a type without its name. */
        for (size_t i = 0; i < RP_ARM_ID_MAX_LEVELS; i++) {
                rp_free(id->levels[i].type);
                rp_free(id->levels[i].name);
        }
        return rp_free(id);
}

/* Append the canonical form of the first n_levels levels of @p id (provider dropped when
 * with_provider is false). */
static char *id_format_upto(const rp_arm_id *id, bool with_provider, size_t n_levels)
{
        rp_buf b;
        int r;

        assert(id && id->subscription);
        assert(n_levels <= RP_ARM_ID_MAX_LEVELS);
        rp_buf_init(&b, ID_FORMAT_MAX);
        r = rp_buf_puts(&b, "/subscriptions/");
        if (r >= 0)
                r = rp_buf_puts(&b, id->subscription);
        if (r >= 0 && id->resource_group) {
                r = rp_buf_puts(&b, "/resourceGroups/");
                if (r >= 0)
                        r = rp_buf_puts(&b, id->resource_group);
        }
        if (r >= 0 && with_provider && id->provider) {
                r = rp_buf_puts(&b, "/providers/");
                if (r >= 0)
                        r = rp_buf_puts(&b, id->provider);
                for (size_t i = 0; r >= 0 && i < n_levels; i++)
                        r = rp_buf_printf(&b, "/%s/%s", id->levels[i].type, id->levels[i].name);
        }
        if (r < 0) {
                rp_buf_done(&b);
                return NULL;
        }
        return rp_buf_detach(&b);
}

char *rp_arm_id_format(const rp_arm_id *id)
{
        return id_format_upto(id, true, id->n_levels);
}

char *rp_arm_id_type(const rp_arm_id *id)
{
        rp_buf b;
        int r;

        if (!id->provider)
                return rp_strdup(id->resource_group ? "Microsoft.Resources/resourceGroups"
                                                    : "Microsoft.Resources/subscriptions");
        rp_buf_init(&b, ID_FORMAT_MAX);
        r = rp_buf_puts(&b, id->provider);
        for (size_t i = 0; r >= 0 && i < id->n_levels; i++)
                r = rp_buf_printf(&b, "/%s", id->levels[i].type);
        if (r < 0) {
                rp_buf_done(&b);
                return NULL;
        }
        return rp_buf_detach(&b);
}

/* Consume @p piece at *p, case-insensitively. */
static bool eat_ci(const char **p, const char *piece)
{
        size_t n = strlen(piece);
        if (strncasecmp(*p, piece, n) != 0)
                return false;
        *p += n;
        return true;
}

bool rp_arm_id_is_type(const rp_arm_id *id, const char *full_type)
{
        const char *p = full_type;

        if (!id || !full_type)
                return false;
        if (!id->provider)
                return strcasecmp(full_type, id->resource_group
                                                     ? "Microsoft.Resources/resourceGroups"
                                                     : "Microsoft.Resources/subscriptions") == 0;
        /* Matched piece by piece, so this never allocates. */
        if (!eat_ci(&p, id->provider))
                return false;
        for (size_t i = 0; i < id->n_levels; i++)
                if (!eat_ci(&p, "/") || !eat_ci(&p, id->levels[i].type))
                        return false;
        return *p == '\0';
}

const char *rp_arm_id_name(const rp_arm_id *id)
{
        if (id->provider && id->n_levels > 0)
                return id->levels[id->n_levels - 1].name;
        return id->resource_group ? id->resource_group : id->subscription;
}

/* parse + format; NULL if unparsable or OOM. */
static char *id_canonical(const char *s)
{
        _cleanup_arm_id_ rp_arm_id *id = NULL;

        if (rp_arm_id_parse(s, &id) < 0)
                return NULL;
        return rp_arm_id_format(id);
}

bool rp_arm_id_equal(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        _cleanup_free_ char *ca = id_canonical(a);
        _cleanup_free_ char *cb = id_canonical(b);
        if (!ca || !cb)
                return strcasecmp(a, b) == 0;
        return strcasecmp(ca, cb) == 0;
}

char *rp_arm_id_key(const char *s)
{
        char *k = id_canonical(s);
        if (!k)
                return NULL;
        for (char *p = k; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char)(*p - 'A' + 'a');
        return k;
}

char *rp_arm_id_parent(const rp_arm_id *id)
{
        if (id->provider && id->n_levels > 1)
                return id_format_upto(id, true, id->n_levels - 1);
        if (id->provider) /* top level: its group, or the subscription at subscription scope */
                return id_format_upto(id, false, 0);
        if (id->resource_group)
                return rp_asprintf("/subscriptions/%s", id->subscription);
        return NULL;
}

/* A piece handed to rp_arm_id_make(): a '/' would smuggle in extra segments. */
static bool make_piece_ok(const char *s)
{
        return s && *s && !strchr(s, '/');
}

char *rp_arm_id_make(const char *subscription, const char *rg, const char *provider, ...)
{
        _cleanup_arm_id_ rp_arm_id *id = NULL;
        rp_buf b;
        va_list ap;
        int r;

        if (!make_piece_ok(subscription) || (rg && !make_piece_ok(rg)) ||
            (provider && !make_piece_ok(provider)))
                return NULL;
        rp_buf_init(&b, RP_ARM_ID_MAX_LEN);
        r = rp_buf_printf(&b, "/subscriptions/%s", subscription);
        if (r >= 0 && rg)
                r = rp_buf_printf(&b, "/resourceGroups/%s", rg);
        if (r >= 0 && provider)
                r = rp_buf_printf(&b, "/providers/%s", provider);
        va_start(ap, provider);
        for (;;) {
                const char *type = va_arg(ap, const char *);
                if (!type)
                        break;
                const char *name = va_arg(ap, const char *);
                /* a type without a name, or pairs without a provider */
                if (!provider || !make_piece_ok(type) || !make_piece_ok(name))
                        r = -EINVAL;
                if (r < 0)
                        break;
                r = rp_buf_printf(&b, "/%s/%s", type, name);
        }
        va_end(ap);
        if (r >= 0)
                r = rp_arm_id_parse(b.ptr, &id);
        rp_buf_done(&b);
        if (r < 0)
                return NULL;
        return rp_arm_id_format(id);
}
