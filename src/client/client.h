/* client.h: rp_client, the libcurl client of rpd's REST API, shared by rpctl and the tests.
 *
 * Three parts:
 *   - settings: where the base URL, CA file, bearer token and subscription come from (flags,
 *     then RPD_* environment variables, then the config file `rpctl login` writes);
 *   - management requests: one keep-alive CURL handle, JSON in and out, ARM errors parsed into
 *     code + message, long-running operations followed to their end;
 *   - the disk data plane (client_blob.c): parallel page writes and ranged reads behind a SAS
 *     URL, skipping all-zero blocks both ways.
 * Only https:// URLs are accepted: a bearer token never travels in clear text. */
#pragma once
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------- settings */

/** Environment variables read by rp_client_settings_resolve(). */
#define RP_CLIENT_ENV_URL "RPD_URL"
#define RP_CLIENT_ENV_TOKEN "RPD_TOKEN"
#define RP_CLIENT_ENV_CA "RPD_CA"
#define RP_CLIENT_ENV_SUBSCRIPTION "RPD_SUBSCRIPTION"
/** Overrides the config file path (else $XDG_CONFIG_HOME/rpctl/config, ~/.config/rpctl/config). */
#define RP_CLIENT_ENV_CONFIG "RPCTL_CONFIG"
/** Subscription used when minting a token from a data directory and none was named. */
#define RP_CLIENT_DEFAULT_SUBSCRIPTION "00000000-0000-0000-0000-000000000001"
/** Lifetime of a token minted for one rpctl run with --data (seconds). */
#define RP_CLIENT_TOKEN_LIFETIME_SEC (24u * 3600u)

/**
 * Connection settings. Every field is owned (rp_free) and may be NULL. Empty them with
 * rp_client_settings_done(); a zeroed struct is a valid empty value.
 */
typedef struct rp_client_settings {
        char *url;          /**< base URL, "https://host[:port]", no trailing slash */
        char *ca;           /**< PEM CA bundle to trust, NULL for the system store */
        char *token;        /**< bearer token (JWT) */
        char *subscription; /**< default subscription id */
} rp_client_settings;

/** Free the strings of @p s and zero it. */
void rp_client_settings_done(rp_client_settings *s);

/**
 * Check and normalise a base URL: https only, a host, no query, fragment, user info or
 * whitespace; trailing slashes are dropped.
 * @param[out] ret the normalised URL, to rp_free(); untouched on failure.
 * @return 0, -EPROTONOSUPPORT (http:// or another scheme), -EINVAL (malformed), -ENOMEM.
 */
int rp_client_url_normalize(const char *url, char **ret);

/**
 * The URL of a request: @p path is either an absolute https URL (an LRO or nextLink URL) or a
 * path below @p base. api-version=@p api_version is appended unless NULL or already present.
 * @param[out] ret the URL, to rp_free(); untouched on failure.
 * @return 0, -EPROTONOSUPPORT (an http:// URL), -EINVAL (neither an https URL nor a path
 *         starting with '/', or @p base is NULL for a path), -ENOMEM.
 */
int rp_client_url_build(const char *base, const char *path, const char *api_version, char **ret);

/**
 * Combine settings layers, highest priority first: each field takes the first non-empty
 * value. The URL is checked with rp_client_url_normalize().
 * @param[out] ret the result; empty it with rp_client_settings_done(). Untouched on failure.
 * @return 0, or the error of rp_client_url_normalize().
 */
int rp_client_settings_merge(const rp_client_settings *const *layers, size_t n_layers,
                             rp_client_settings *ret);

/**
 * Parse the config file format (INI: "key = value" lines, '#' or ';' comments, keys at the
 * top or in [default]; other sections are skipped). Keys: url, ca, token, subscription;
 * unknown keys are ignored.
 * @param[out] ret the values, to empty with rp_client_settings_done(); untouched on failure.
 * @return 0, -EBADMSG (a line that is neither a section, a comment nor key = value), -ENOMEM.
 */
int rp_client_config_parse(const char *text, rp_client_settings *ret);

/**
 * Format @p s in the config file format (the fields that are set, under [default]).
 * @param[out] ret the text, to rp_free(). @return 0, -EINVAL (a value holds a newline),
 *         -ENOMEM.
 */
int rp_client_config_format(const rp_client_settings *s, char **ret);

/**
 * The config file path: $RPCTL_CONFIG, else $XDG_CONFIG_HOME/rpctl/config, else
 * $HOME/.config/rpctl/config.
 * @param[out] ret the path, to rp_free(). @return 0, -ENOENT (no HOME either), -ENOMEM.
 */
int rp_client_config_path(char **ret);

/** Read the config file at @p path. Missing file: 0 with @p ret empty.
 *  @param[out] ret as rp_client_config_parse(). @return 0, -EBADMSG, -E2BIG, -errno. */
int rp_client_config_load(const char *path, rp_client_settings *ret);

/** Write @p s to @p path (mode 0600, parent directories 0700), atomically.
 *  @return 0, -EINVAL, or -errno. */
int rp_client_config_save(const char *path, const rp_client_settings *s);

/**
 * The settings a data directory of rpd gives: url from DIR/rpd.url, ca = DIR/tls/ca.pem (made
 * absolute), and a token for @p subscription signed with the key in DIR/auth.
 * @param subscription the subscription the token grants (RP_CLIENT_DEFAULT_SUBSCRIPTION if
 *        NULL); it is also stored in ret->subscription.
 * @param lifetime_sec token lifetime.
 * @param[out] ret the settings, to empty with rp_client_settings_done(); untouched on failure.
 * @param[out] reterr_msg why it failed, to rp_free() (may stay NULL on -ENOMEM).
 * @return 0, -EINVAL (subscription is not a GUID), or the -errno of a file or key operation.
 */
int rp_client_settings_from_data_dir(const char *dir, const char *subscription,
                                     uint64_t lifetime_sec, rp_client_settings *ret,
                                     char **reterr_msg);

/**
 * The first subscription a token grants (claim xms_rpd_subs), read without checking the
 * signature (rpd does that).
 * @param[out] ret the id, to rp_free(). @return 0, -EBADMSG (not a JWT or no such claim),
 *         -ENOMEM.
 */
int rp_client_token_subscription(const char *jwt, char **ret);

/**
 * Resolve the settings of one run. Per field, highest first: @p flags, the data directory
 * @p data_dir (when not NULL: url, ca and a freshly minted token), the environment
 * (RPD_URL, RPD_CA, RPD_TOKEN, RPD_SUBSCRIPTION), then the config file @p config_path (NULL:
 * the default path). A missing subscription is taken from the token.
 * @param[out] ret the settings (url and token are set); empty with rp_client_settings_done().
 * @param[out] reterr_msg a message for the user on failure, to rp_free().
 * @return 0, -EDESTADDRREQ (no URL anywhere), -ENOKEY (no token anywhere), or the errors of
 *         rp_client_settings_merge(), rp_client_config_load(),
 *         rp_client_settings_from_data_dir().
 */
int rp_client_settings_resolve(const rp_client_settings *flags, const char *data_dir,
                               const char *config_path, rp_client_settings *ret, char **reterr_msg);

/* ---------------------------------------------------------------- errors and responses */

/** An API error as ARM reports it. Fields owned; empty with rp_client_error_done(). */
typedef struct rp_client_error {
        char *code;    /**< ARM error code ("ResourceNotFound"), NULL when there is no error */
        char *message; /**< human-readable message */
        char *target;  /**< the offending field, or NULL */
} rp_client_error;

/** Free the strings of @p e and zero it. */
void rp_client_error_done(rp_client_error *e);

/** Set @p e to @p code and a formatted message (replacing what it held).
 *  @return 0 or -ENOMEM (then e is left empty). */
int rp_client_error_set(rp_client_error *e, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/**
 * Parse an error reply: {"error":{"code","message","target"}}, a bare {"code","message"}, or
 * anything else (then code comes from the HTTP status, e.g. "NotFound", and the message from
 * the text of the body, if any).
 * @param[out] ret filled on success; untouched on failure.
 * @return 0 or -ENOMEM.
 */
int rp_client_error_parse(long status, const char *body, size_t len, rp_client_error *ret);

/** The ARM-style code name for an HTTP status ("NotFound" for 404, "HttpError" if unknown). */
const char *rp_client_status_code_name(long status);

/**
 * A response. Empty it with rp_client_response_done(); a zeroed struct is valid.
 */
typedef struct rp_client_response {
        long status;           /**< HTTP status */
        json_t *body;          /**< parsed JSON body, NULL if empty or not JSON; owned */
        json_t *headers;       /**< object: lower-case header name -> string; owned */
        rp_client_error error; /**< set (code != NULL) for status >= 400 or a failed LRO */
} rp_client_response;

/** Release what @p r holds and zero it. */
void rp_client_response_done(rp_client_response *r);

/** The value of header @p name (any case), borrowed from @p r, or NULL. */
const char *rp_client_response_header(const rp_client_response *r, const char *name);

/** Did the request (and its LRO) succeed: a 2xx status and no error? */
bool rp_client_response_ok(const rp_client_response *r);

/**
 * Parse a Retry-After header value (delay-seconds only, as ARM sends).
 * @return the delay in milliseconds, or -1 if @p v is NULL, 0 or not a number.
 */
long rp_client_retry_after_ms(const char *v);

/* ---------------------------------------------------------------- the client */

/** A connection to one rpd: settings and a keep-alive CURL handle. Not thread-safe. */
typedef struct rp_client rp_client;

/**
 * Create a client. The settings are copied; url and token must be set. Call
 * curl_global_init() once before, in main.
 * @param[out] ret the client, to rp_client_free(). @return 0, -EINVAL, -EPROTONOSUPPORT, -ENOMEM.
 */
int rp_client_new(const rp_client_settings *s, rp_client **ret);

/** Free @p c; NULL is a no-op. @return NULL. */
rp_client *rp_client_free(rp_client *c);

/** Stop requests, waits and transfers as soon as *@p flag becomes non-zero (set it from a
 *  signal handler). They then fail with -ECANCELED. NULL disables. */
void rp_client_set_cancel(rp_client *c, volatile sig_atomic_t *flag);

/** Log each request and response line to stderr. */
void rp_client_set_verbose(rp_client *c, bool verbose);

/** Default of rp_client_set_idle_timeout(): a transfer idle this long is dead. */
#define RP_CLIENT_IDLE_TIMEOUT_SEC 120u

/** How long a request may go without moving a byte before it fails with -ETIMEDOUT, for
 *  requests the server answers only when done (an admin scrub); 0 restores the default. */
void rp_client_set_idle_timeout(rp_client *c, unsigned sec);

/** The settings in use, owned by @p c. */
const rp_client_settings *rp_client_settings_get(const rp_client *c);

/** Why the last call failed without an HTTP response (transport, TLS), owned by @p c. */
const char *rp_client_last_error(const rp_client *c);

/**
 * One request with the bearer token. A JSON @p body is sent as application/json.
 * @param path a path below the base URL or an absolute URL on the same origin.
 * @param api_version appended as ?api-version= unless NULL or already in the URL.
 * @param[out] ret the response (any status; error parsed for >= 400), to empty with
 *             rp_client_response_done(). Untouched on failure.
 * @return 0 when a response arrived; -EPROTONOSUPPORT, -EPERM (absolute URL on another
 *         origin), -ECANCELED, -ECONNREFUSED, -ETIMEDOUT, -EIO (transport or TLS; see
 *         rp_client_last_error()), -EBADMSG (a body over RP_MAX_JSON_BODY), -ENOMEM.
 */
int rp_client_request(rp_client *c, const char *method, const char *path, const char *api_version,
                      const json_t *body, rp_client_response *ret);

/** Progress of a long-running operation: its status string and percentComplete (or -1). */
typedef void (*rp_client_lro_fn)(const char *status, double percent, void *userdata);

/**
 * Follow a long-running operation started by @p resp (the reply to @p method @p path) to its
 * end, replacing @p resp with the final response. Polls Azure-AsyncOperation (status
 * InProgress/Succeeded/Failed/Canceled), sleeping Retry-After between polls (1 s when absent,
 * at most 60 s), then GETs the Location URL for the result; with only a Location header that
 * is polled until it stops answering 202. After success without Location, PUT and PATCH
 * re-read @p path. A reply without polling headers is already final.
 * @param progress called after every poll, or NULL.
 * @return 0 when a final response is in @p resp (check rp_client_response_ok(): a Failed or
 *         Canceled operation sets resp->error), or the errors of rp_client_request(),
 *         -EBADMSG (a status body without "status"), -ETIMEDOUT (still running after
 *         @p timeout_sec). On failure @p resp holds the last response.
 */
int rp_client_lro_wait(rp_client *c, const char *method, const char *path, const char *api_version,
                       unsigned timeout_sec, rp_client_lro_fn progress, void *userdata,
                       rp_client_response *resp);

/**
 * A long-running operation followed one poll at a time, so that one caller (and one client)
 * can follow several at once: rp_client_lro_wait() is a loop over rp_client_lro_step().
 * Opaque; free with rp_client_lro_free().
 */
typedef struct rp_client_lro rp_client_lro;

/**
 * Start following the operation that @p resp started (the reply to @p method @p path, which
 * are copied). @p resp is taken over: on success it is left zeroed. A reply that failed, or
 * that has neither Azure-AsyncOperation nor Location, is already final (the follower starts
 * done).
 * @param[out] ret the follower, to rp_client_lro_free(). Untouched on failure.
 * @return 0 or -ENOMEM (then @p resp is untouched).
 */
int rp_client_lro_new(const char *method, const char *path, const char *api_version,
                      rp_client_response *resp, rp_client_lro **ret);

/** Free @p op and the response it holds; NULL is a no-op. @return NULL. */
rp_client_lro *rp_client_lro_free(rp_client_lro *op);

/**
 * Poll once, without sleeping: GET the Azure-AsyncOperation URL (or the Location URL); when
 * the operation has ended, fetch its final response as rp_client_lro_wait() describes.
 * Does nothing on a follower that is done.
 * @param[out] ret_delay_ms when to poll next (Retry-After: 1 s when absent, at most 60 s);
 *             may be NULL.
 * @return 1 when done (see rp_client_lro_response()), 0 while running, or the errors of
 *         rp_client_request() and -EBADMSG (a status body without "status"). After an error
 *         the follower may be stepped again.
 */
int rp_client_lro_step(rp_client *c, rp_client_lro *op, long *ret_delay_ms);

/** Has the operation ended (its final response is in rp_client_lro_response())? */
bool rp_client_lro_done(const rp_client_lro *op);

/** The last status seen ("InProgress", "Succeeded", "Failed", ...), owned by @p op; the
 *  status of a reply that was final at once is "Succeeded" or "Failed". */
const char *rp_client_lro_status(const rp_client_lro *op);

/** The last percentComplete seen, or -1. */
double rp_client_lro_percent(const rp_client_lro *op);

/** The final response once done (before: the initial reply), owned by @p op; the caller may
 *  move its fields out (e.g. TAKE_PTR of body). */
rp_client_response *rp_client_lro_response(rp_client_lro *op);

/**
 * GET a list and follow nextLink, collecting every page's "value".
 * @param[out] ret_items a new array on success (rp_json_decref-able).
 * @param[out] ret_resp the failing response when a page is not 200 (then the return is 0 and
 *             *ret_items stays NULL), else the last page; empty with rp_client_response_done().
 * @return 0, -EBADMSG (a page without "value"), -ELOOP (over 10000 pages), or the errors of
 *         rp_client_request().
 */
int rp_client_list(rp_client *c, const char *path, const char *api_version, json_t **ret_items,
                   rp_client_response *ret_resp);

/* ---------------------------------------------------------------- disk data plane */

/** Page write and ranged read unit: the page-blob limit. */
#define RP_CLIENT_BLOCK_SIZE (4u * 1024u * 1024u)
/** Transfers in flight when the caller does not say. */
#define RP_CLIENT_DEFAULT_PARALLEL 8u
/** Most transfers in flight. */
#define RP_CLIENT_MAX_PARALLEL 32u

/** Where a transfer stands. All byte counts. */
typedef struct rp_client_xfer_stats {
        uint64_t total;   /**< bytes to cover: the file (upload) or the disk (download) */
        uint64_t done;    /**< bytes covered so far: moved, or skipped as zeros */
        uint64_t wire;    /**< bytes moved over the network */
        uint64_t skipped; /**< zero bytes neither sent nor written */
} rp_client_xfer_stats;

/** Called on the calling thread about every interval_ms and once at the end. */
typedef void (*rp_client_xfer_fn)(const rp_client_xfer_stats *st, void *userdata);

/** Options of a data-plane transfer. A zeroed struct means the defaults. */
typedef struct rp_client_xfer_opts {
        unsigned parallel;          /**< requests in flight (1..RP_CLIENT_MAX_PARALLEL; 0: 8) */
        unsigned interval_ms;       /**< progress period (0: 200 ms) */
        rp_client_xfer_fn progress; /**< may be NULL */
        void *userdata;             /**< passed to progress */
} rp_client_xfer_opts;

/**
 * HEAD the SAS URL for the disk size.
 * @param[out] ret_size bytes. @param[out] reterr the API error when the reply is not 200.
 * @return 0, -EREMOTEIO (an error reply, see @p reterr), -EBADMSG (no Content-Length), or the
 *         transport errors of rp_client_request().
 */
int rp_client_blob_size(rp_client *c, const char *sas_url, uint64_t *ret_size,
                        rp_client_error *reterr);

/**
 * Upload @p size bytes of the file @p fd (read with pread; bytes up to the next multiple of
 * 512 are zero padding) to a freshly created, all-zero disk behind the writable @p sas_url,
 * with page writes of at most RP_CLIENT_BLOCK_SIZE, several in flight. Holes of the file
 * (SEEK_DATA) and all-zero sectors at the ends of a block are not sent, nor are all-zero
 * blocks. Transient failures (transport, 408, 429, 5xx) are retried 3 times.
 * @param[out] ret_stats the final counts (may be NULL).
 * @param[out] reterr the API error behind -EREMOTEIO.
 * @return 0, -EREMOTEIO, -ECANCELED, -EIO and other -errno of reads or transport.
 */
int rp_client_blob_upload(rp_client *c, const char *sas_url, int fd, uint64_t size,
                          const rp_client_xfer_opts *opts, rp_client_xfer_stats *ret_stats,
                          rp_client_error *reterr);

/**
 * Download @p size bytes from @p sas_url into @p fd with ranged GETs in parallel. @p fd must
 * be a file already @p size bytes long and all zeros (ftruncate of an empty file, so holes):
 * all-zero 4 KiB pages are not written and stay holes.
 * Same returns as rp_client_blob_upload().
 */
int rp_client_blob_download(rp_client *c, const char *sas_url, int fd, uint64_t size,
                            const rp_client_xfer_opts *opts, rp_client_xfer_stats *ret_stats,
                            rp_client_error *reterr);
