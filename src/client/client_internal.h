/* client_internal.h: what the files of src/client/ share beyond client.h (and unit tests
 * reach): zero detection for the data plane, and the setup of extra CURL easy handles. */
#pragma once
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "client.h"

/** Is @p len bytes at @p p all zero? */
bool rp_client__is_zero(const void *p, size_t len);

/**
 * Trim all-zero 512-byte sectors off both ends of @p len bytes (a multiple of 512).
 * @param[out] ret_first offset of the first non-zero sector.
 * @param[out] ret_len bytes from there to the end of the last non-zero sector.
 * @return true if anything is non-zero (else both outputs are 0).
 */
bool rp_client__trim_zero(const void *p, size_t len, size_t *ret_first, size_t *ret_len);

/** Apply the settings of @p c (TLS, timeouts, cancellation) to a fresh or reset CURL easy
 *  handle @p curl_easy (a CURL *). */
void rp_client__setup_easy(rp_client *c, void *curl_easy);

/** The cancel flag of @p c, or NULL. */
volatile sig_atomic_t *rp_client__cancel_flag(const rp_client *c);
