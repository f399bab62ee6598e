/* arm_errors.c: tables generated from arm_errors.def. */
#include "arm_errors.h"

#include <stddef.h>

struct ec_entry {
        unsigned status;
        const char *code;
        const char *message;
};

static const struct ec_entry ec_table[_RP_EC_MAX] = {
#define RP_EC(sym, num, st, cd, msg) [num] = { .status = st, .code = cd, .message = msg },
#include "arm_errors.def"
#undef RP_EC
};

static const struct ec_entry *ec_get(enum rp_ec ec)
{
        if (ec <= 0 || ec >= _RP_EC_MAX || !ec_table[ec].code)
                return &ec_table[RP_EC_INTERNAL];
        return &ec_table[ec];
}

unsigned rp_ec_status(enum rp_ec ec)
{
        return ec_get(ec)->status;
}

const char *rp_ec_code(enum rp_ec ec)
{
        return ec_get(ec)->code;
}

const char *rp_ec_message(enum rp_ec ec)
{
        return ec_get(ec)->message;
}
