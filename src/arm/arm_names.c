/* arm_names.c: resource name rules per type, tag rules, GUIDs and UTF-8 scanning.
 *
 * DESIGN: one table row per resource type: the name's length bounds (in code points), a
 * character check and the message tail. rp_arm_name_check() first decodes the whole name once
 * (invalid UTF-8 and control characters fail every rule), then applies the row. Sources: Azure's
 * "Naming rules and restrictions for Azure resources" (resource groups, disks, VMs, deployments),
 * the DiskRP swagger (disks), the Compute TypeSpec (diskRestorePoints pattern; none for
 * restorePointCollections/restorePoints, so those use the brief's 1-80 [A-Za-z0-9_.-] rule).
 *
 * Virtual machines: the docs list two character sets, the short ARM one (\ / " [ ] : | < > + = ; ,
 * ? * @ &) and the longer host-name one, which also bans '_' and '.' although the same row says
 * "can't start with underscore, can't end with period". We ban the union except '_' and '.',
 * which stay allowed inside the name as the start/end rules imply.
 *
 * Unicode in resource group names: ARM's rule is .NET's \w, i.e. letters, digits, non-spacing
 * marks and connector punctuation. We ask glibc's C.UTF-8 ctype tables (iswalnum_l) and add the
 * main combining-mark blocks and the connector punctuation code points. If that locale is
 * missing, any non-ASCII code point that is not a space or a control is accepted (documented
 * fallback; glibc >= 2.35 always has C.UTF-8).
 *
 * Messages quote the offending name only when it is short, valid UTF-8 and printable, so a
 * message is always safe to put into a JSON string and into a log line.
 */
#include "arm_names.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "util/alloc.h"
#include "util/limits.h"
#include "util/macro.h"

/* Names longer than this (in bytes) are not quoted back in messages. */
#define NAME_QUOTE_MAX 260

/* ---------------------------------------------------------------------------------------------
 * UTF-8
 */

int rp_arm__utf8_next(const char *s, size_t len, uint32_t *ret_cp)
{
        const unsigned char *u = (const unsigned char *)s;
        uint32_t cp, min;
        size_t n;

        if (len == 0)
                return -EINVAL;
        if (u[0] < 0x80) {
                *ret_cp = u[0];
                return 1;
        }
        if ((u[0] & 0xe0) == 0xc0) {
                n = 2, cp = u[0] & 0x1f, min = 0x80;
        } else if ((u[0] & 0xf0) == 0xe0) {
                n = 3, cp = u[0] & 0x0f, min = 0x800;
        } else if ((u[0] & 0xf8) == 0xf0) {
                n = 4, cp = u[0] & 0x07, min = 0x10000;
        } else {
                return -EINVAL;
        }
        if (len < n)
                return -EINVAL;
        for (size_t i = 1; i < n; i++) {
                if ((u[i] & 0xc0) != 0x80)
                        return -EINVAL;
                cp = (cp << 6) | (u[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -EINVAL;
        *ret_cp = cp;
        return (int)n;
}

static bool cp_is_control(uint32_t cp)
{
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Count code points of @p len bytes. @return the count, or -EINVAL for invalid UTF-8 or (unless
 * allow_controls) a control character. */
static long utf8_count(const char *s, size_t len, bool allow_controls)
{
        long count = 0;

        for (size_t i = 0; i < len;) {
                uint32_t cp;
                int n = rp_arm__utf8_next(s + i, len - i, &cp);
                if (n < 0)
                        return n;
                if (!allow_controls && cp_is_control(cp))
                        return -EINVAL;
                i += (size_t)n;
                count++;
        }
        return count;
}

/* Whether @p s may be quoted back to the client: short, valid, no control characters. */
static bool name_quotable(const char *s)
{
        size_t len = strnlen(s, NAME_QUOTE_MAX + 1);
        return len <= NAME_QUOTE_MAX && utf8_count(s, len, false) >= 0;
}

/* ---------------------------------------------------------------------------------------------
 * Unicode classes (resource groups)
 */

static locale_t utf8_locale = (locale_t)0;
static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
        utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static bool cp_is_space(uint32_t cp)
{
        /* Unicode White_Space beyond ASCII, so the fallback path rejects them too. */
        return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200b) ||
               cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 ||
               cp == 0xfeff;
}

/* .NET \w beyond ASCII: letters, decimal digits, non-spacing marks, connector punctuation. */
static bool cp_is_unicode_word(uint32_t cp)
{
        if (cp_is_control(cp) || cp_is_space(cp))
                return false;
        if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
            (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x20d0 && cp <= 0x20ff) ||
            (cp >= 0xfe20 && cp <= 0xfe2f))
                return true; /* combining marks */
        if (cp == 0x203f || cp == 0x2040 || cp == 0x2054 || cp == 0xfe33 || cp == 0xfe34 ||
            (cp >= 0xfe4d && cp <= 0xfe4f) || cp == 0xff3f)
                return true; /* connector punctuation */
        pthread_once(&utf8_locale_once, utf8_locale_init);
        if (utf8_locale == (locale_t)0)
                return true; /* see DESIGN: no tables, accept printable non-space */
        return iswalnum_l((wint_t)cp, utf8_locale) != 0;
}

/* ---------------------------------------------------------------------------------------------
 * Character rules. Each gets the name (valid UTF-8, no controls, not empty) and its byte length.
 */

static bool c_is_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Every byte alnum or in @p extra (so non-ASCII fails). */
static bool all_ascii_in(const char *s, size_t len, const char *extra)
{
        for (size_t i = 0; i < len; i++)
                if (!c_is_alnum(s[i]) && !strchr(extra, s[i]))
                        return false;
        return true;
}

static bool rule_resource_group(const char *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                int n = rp_arm__utf8_next(s + i, len - i, &cp);
                if (n < 0)
                        return false;
                if (cp < 0x80 ? !c_is_alnum((char)cp) && !strchr("_()-.", (int)cp)
                              : !cp_is_unicode_word(cp))
                        return false;
                i += (size_t)n;
        }
        return s[len - 1] != '.';
}

static bool rule_deployment(const char *s, size_t len)
{
        return all_ascii_in(s, len, "-_.()");
}

static bool rule_subscription(const char *s, _unused_ size_t len)
{
        return rp_arm_is_guid(s);
}

static bool rule_disk(const char *s, size_t len)
{
        return all_ascii_in(s, len, "_.-") && c_is_alnum(s[0]) &&
               (c_is_alnum(s[len - 1]) || s[len - 1] == '_');
}

static bool rule_virtual_machine(const char *s, size_t len)
{
        static const char forbidden[] = "~!@#$%^&*()=+[]{}\\|;:'\",<>/?";

        for (size_t i = 0; i < len;) {
                uint32_t cp;
                int n = rp_arm__utf8_next(s + i, len - i, &cp);
                if (n < 0)
                        return false;
                if (cp < 0x80 ? cp == ' ' || strchr(forbidden, (int)cp) : cp_is_space(cp))
                        return false;
                i += (size_t)n;
        }
        return s[0] != '_' && s[len - 1] != '.' && s[len - 1] != '-';
}

static bool rule_restore_point(const char *s, size_t len)
{
        return all_ascii_in(s, len, "_.-") && s[len - 1] != '.' && s[len - 1] != '-';
}

/* ^[^_\W][\w-._]{0,259}(?<![-.])$ with ASCII \w */
static bool rule_disk_restore_point(const char *s, size_t len)
{
        return all_ascii_in(s, len, "_.-") && c_is_alnum(s[0]) && s[len - 1] != '.' &&
               s[len - 1] != '-';
}

static bool rule_default(const char *s, size_t len)
{
        return !memchr(s, '/', len);
}

typedef struct name_rule {
        const char *type;  /* full resource type, NULL for the default row */
        const char *what;  /* "The {what} name 'x' is invalid." */
        long min, max;     /* length bounds in code points */
        bool (*chars)(const char *s, size_t len);
        const char *rule;  /* sentence after "is invalid. " */
        const char *fixed; /* whole message when the service never quotes the name */
} name_rule;

static const name_rule name_rules[] = {
        {
                .type = "Microsoft.Resources/resourceGroups",
                .min = 1,
                .max = 90,
                .chars = rule_resource_group,
                .fixed = "Resource group names only allow up to 90 characters and can only "
                         "include alphanumeric, underscore, parentheses, hyphen, period (except "
                         "at end), and Unicode characters that match the allowed characters.",
        },
        {
                .type = "Microsoft.Resources/deployments",
                .what = "deployment",
                .min = 1,
                .max = 64,
                .chars = rule_deployment,
                .rule = "Deployment names can have up to 64 characters and can contain only "
                        "alphanumeric characters, hyphens, underscores, periods, or parentheses.",
        },
        {
                .type = "Microsoft.Resources/subscriptions",
                .min = 36,
                .max = 36,
                .chars = rule_subscription, /* no .what: see name_message() */
        },
        {
                .type = "Microsoft.Compute/disks",
                .what = "disk",
                .min = 1,
                .max = 80,
                .chars = rule_disk,
                .rule = "Disk names can be 1 to 80 characters long, must start with a letter or "
                        "number, end with a letter, number or underscore, and may contain only "
                        "letters, numbers, underscores, periods, or hyphens.",
        },
        {
                .type = "Microsoft.Compute/virtualMachines",
                .what = "virtual machine",
                .min = 1,
                .max = 64,
                .chars = rule_virtual_machine,
                .rule = "Virtual machine names can be 1 to 64 characters long, cannot contain "
                        "spaces, control characters or the characters "
                        "~ ! @ # $ % ^ & * ( ) = + [ ] { } \\ | ; : ' \" , < > / ?, cannot start "
                        "with an underscore, and cannot end with a period or hyphen.",
        },
        {
                .type = "Microsoft.Compute/restorePointCollections",
                .what = "restore point collection",
                .min = 1,
                .max = 80,
                .chars = rule_restore_point,
                .rule = "Restore point collection names can be 1 to 80 characters long, may "
                        "contain only letters, numbers, underscores, periods, or hyphens, and "
                        "cannot end with a period or hyphen.",
        },
        {
                .type = "Microsoft.Compute/restorePointCollections/restorePoints",
                .what = "restore point",
                .min = 1,
                .max = 80,
                .chars = rule_restore_point,
                .rule = "Restore point names can be 1 to 80 characters long, may contain only "
                        "letters, numbers, underscores, periods, or hyphens, and cannot end with "
                        "a period or hyphen.",
        },
        {
                .type = "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints",
                .what = "disk restore point",
                .min = 1,
                .max = 260,
                .chars = rule_disk_restore_point,
                .rule = "Disk restore point names must match the pattern "
                        "'^[^_\\W][\\w-._]{0,259}(?<![-.])$'.",
        },
};

static const name_rule default_rule = {
        .what = "resource",
        .min = 1,
        .max = RP_ARM_NAME_MAX_DEFAULT,
        .chars = rule_default,
        .rule = "Resource names can be 1 to 260 characters long and cannot contain '/' or control "
                "characters.",
};

static const name_rule *name_rule_find(const char *full_type)
{
        if (!full_type)
                return &default_rule;
        for (size_t i = 0; i < ELEMENTSOF(name_rules); i++)
                if (strcasecmp(name_rules[i].type, full_type) == 0)
                        return &name_rules[i];
        return &default_rule;
}

static int name_message(const name_rule *rule, const char *name, char **ret_message)
{
        bool quote = name && name_quotable(name);
        char *m;

        if (!ret_message)
                return -EINVAL;
        if (rule->fixed)
                m = rp_strdup(rule->fixed);
        else if (!rule->what) /* subscriptions: ARM's InvalidSubscriptionId wording */
                m = quote ? rp_asprintf("The provided subscription identifier '%s' is malformed "
                                        "or invalid.",
                                        name)
                          : rp_strdup("The provided subscription identifier is malformed or "
                                      "invalid.");
        else if (quote)
                m = rp_asprintf("The %s name '%s' is invalid. %s", rule->what, name, rule->rule);
        else
                m = rp_asprintf("The %s name is invalid. %s", rule->what, rule->rule);
        if (!m)
                return -ENOMEM;
        *ret_message = m;
        return -EINVAL;
}

int rp_arm_name_check(const char *full_type, const char *name, char **ret_message)
{
        const name_rule *rule = name_rule_find(full_type);
        size_t len;
        long n;

        if (!name)
                return name_message(rule, NULL, ret_message);
        len = strlen(name);
        n = utf8_count(name, len, false);
        if (n < rule->min || n > rule->max || !rule->chars(name, len))
                return name_message(rule, name, ret_message);
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Tags
 */

_printf_(3, 4) static int tag_fail(char **ret_message, const char **ret_target, const char *fmt,
                                   ...)
{
        va_list ap;
        char *m;

        if (ret_target)
                *ret_target = "tags";
        if (!ret_message)
                return -EINVAL;
        va_start(ap, fmt);
        m = rp_vasprintf(fmt, ap);
        va_end(ap);
        if (!m)
                return -ENOMEM;
        *ret_message = m;
        return -EINVAL;
}

int rp_arm_tags_check(const json_t *tags, char **ret_message, const char **ret_target)
{
        const char *key;
        json_t *value;

        if (!tags || json_is_null(tags))
                return 0;
        if (!json_is_object(tags))
                return tag_fail(ret_message, ret_target,
                                "The value of 'tags' must be an object that maps tag names to "
                                "string values.");
        if (json_object_size(tags) > RP_MAX_TAGS)
                return tag_fail(ret_message, ret_target,
                                "The resource has %zu tags, but at most %d tags are allowed per "
                                "resource.",
                                json_object_size(tags), RP_MAX_TAGS);

        /* jansson's iteration API takes a non-const object but does not modify it. */
        json_object_foreach((json_t *)tags, key, value) {
                size_t klen = strlen(key);
                long kn = utf8_count(key, klen, true);
                bool quote = name_quotable(key);

                if (kn < 0)
                        return tag_fail(ret_message, ret_target,
                                        "A tag name is not valid UTF-8.");
                if (kn == 0)
                        return tag_fail(ret_message, ret_target,
                                        "A tag name cannot be empty.");
                if (kn > RP_MAX_TAG_NAME)
                        return tag_fail(ret_message, ret_target,
                                        "A tag name exceeds the maximum length of %d characters.",
                                        RP_MAX_TAG_NAME);
                if (utf8_count(key, klen, false) < 0 || strpbrk(key, "<>%&\\?/"))
                        return quote ? tag_fail(ret_message, ret_target,
                                                "The tag name '%s' has invalid characters "
                                                "'<,>,%%,&,\\,?,/' or control characters.",
                                                key)
                                     : tag_fail(ret_message, ret_target,
                                                "A tag name has invalid characters "
                                                "'<,>,%%,&,\\,?,/' or control characters.");
                if (!json_is_string(value))
                        return tag_fail(ret_message, ret_target,
                                        "The value of tag '%s' must be a string.", key);
                long vn = utf8_count(json_string_value(value), json_string_length(value), true);
                if (vn < 0)
                        return tag_fail(ret_message, ret_target,
                                        "The value of tag '%s' is not valid UTF-8.", key);
                if (vn > RP_MAX_TAG_VALUE)
                        return tag_fail(ret_message, ret_target,
                                        "The value of tag '%s' exceeds the maximum length of %d "
                                        "characters.",
                                        key, RP_MAX_TAG_VALUE);
        }
        return 0;
}

/* ---------------------------------------------------------------------------------------------
 * GUIDs
 */

bool rp_arm_is_guid(const char *s)
{
        static const unsigned char group_len[] = { 8, 4, 4, 4, 12 };

        if (!s)
                return false;
        for (size_t g = 0; g < ELEMENTSOF(group_len); g++) {
                for (size_t i = 0; i < group_len[g]; i++, s++) {
                        char c = *s;
                        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                              (c >= 'A' && c <= 'F')))
                                return false;
                }
                if (*s != (g + 1 < ELEMENTSOF(group_len) ? '-' : '\0'))
                        return false;
                s++;
        }
        return true;
}
