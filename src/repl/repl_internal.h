/* repl_internal.h: module-private parts of the copy engine shared by its files, the unit tests
 * and the fuzzers. Not for other modules. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "repl/repl.h"

/** Version of the cursor JSON ("version"). Bump on any incompatible change. */
#define RP_REPL_CURSOR_VERSION 1

/** A cursor, parsed (rp_repl__cursor_parse) or to be written (rp_repl__cursor_build). */
typedef struct rp_repl__cursor {
        enum rp_repl_state state;    /**< as persisted */
        const char *source;          /**< source disk restore point id (borrowed) */
        uint64_t position;           /**< manifest entries [0, position) are stored */
        bool have_sha;               /**< manifest_sha256 is set */
        uint8_t manifest_sha256[32]; /**< SHA-256 of the encoded manifest */
        rp_usec_t started_at;        /**< wall clock of the first start */
        bool planned;                /**< the totals below are known */
        uint64_t chunks_needed;      /**< see rp_repl_progress */
        uint64_t bytes_needed;       /**< see rp_repl_progress */
        uint64_t chunks_done;        /**< durable only */
        uint64_t bytes_done;         /**< durable only */
        uint64_t bytes_fetched;      /**< see rp_repl_progress */
        uint64_t chunks_refetched;   /**< see rp_repl_progress */
        uint64_t retries;            /**< see rp_repl_progress */
        const json_t *meta;          /**< the source's metadata object, or NULL (borrowed) */
        int error;                   /**< negative errno when state is FAILED, else 0 */
        const char *error_code;      /**< static code string when FAILED */
        const char *error_message;   /**< borrowed when FAILED */
} rp_repl__cursor;

/**
 * Parse a persisted cursor strictly (types, ranges, version, consistency).
 * @param source the copy's source id: the cursor must name it.
 * @param[out] ret borrowed pointers into @p j.
 * @return 0, -EBADMSG, -EPROTONOSUPPORT, -EINVAL (another source).
 */
int rp_repl__cursor_parse(const json_t *j, const char *source, rp_repl__cursor *ret);

/** Build the JSON of a cursor. @return a new reference, or NULL on OOM. */
json_t *rp_repl__cursor_build(const rp_repl__cursor *cur);

/** The static code string equal to @p code among the failure codes, or NULL. */
const char *rp_repl__error_code_find(const char *code);
