/* arm_errors.h: the API error enum generated from arm_errors.def. */
#pragma once
#include <errno.h>

/** API error codes: one per arm_errors.def entry. */
enum rp_ec {
        RP_EC_NONE = 0,
#define RP_EC(sym, num, status, code, msg) RP_EC_##sym = num,
#include "arm_errors.def"
#undef RP_EC
        _RP_EC_MAX,
        _RP_EC_INVALID = -EINVAL,
};

/** HTTP status of @p ec (500 for unknown). */
unsigned rp_ec_status(enum rp_ec ec);
/** ARM error code string of @p ec ("InvalidParameter"). Static. */
const char *rp_ec_code(enum rp_ec ec);
/** Default message of @p ec. Static. */
const char *rp_ec_message(enum rp_ec ec);
