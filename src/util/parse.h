/* parse.h: strict number parsing (whole string, no sign surprises, range-checked). */
#pragma once
#include <stdint.h>

/** Parse a decimal unsigned integer. @return 0, -EINVAL (not a number), -ERANGE. */
int rp_parse_u64(const char *s, uint64_t *ret);
/** Parse a decimal signed integer. @return 0, -EINVAL, -ERANGE. */
int rp_parse_i64(const char *s, int64_t *ret);
/** Parse "a-b" of unsigned decimals, as in "bytes=a-b" after the prefix. @return 0 or -EINVAL. */
int rp_parse_range(const char *s, uint64_t *ret_first, uint64_t *ret_last);
