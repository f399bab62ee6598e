/* arm.h: the ARM request pipeline shared by every provider: the service and its regions,
 * routing, api-version and auth checks, the error envelope, lists and long-running
 * operations. */
#pragma once
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "arm/arm_apiver.h"
#include "arm/arm_errors.h"
#include "arm/arm_id.h"
#include "auth/token.h"
#include "db/db.h"
#include "http/http.h"
#include "store/store.h"

typedef struct rp_service rp_service;
typedef struct rp_arm_req rp_arm_req;
typedef struct rp_region rp_region;

/** The answer of a region to a call from another region (compute_source.c): a JSON body on
 *  success, or the ARM error it answered (ec, message). */
typedef struct rp_source_reply {
        json_t *body;
        enum rp_ec ec;
        char *message;
} rp_source_reply;

/** Runs the work of a long-running operation on the region's worker thread.
 *  Sets op->status (and result/error) itself. @return 0, or <0 to retry later. */
typedef int (*rp_job_fn)(rp_service *svc, rp_region *reg, rp_operation *op);

/** One region hosted by this process. */
struct rp_region {
        char *name;      /**< "eastus" */
        char *display;   /**< "East US" */
        char *dir;       /**< <data>/regions/<name> */
        rp_db *db;       /**< its metadata store */
        rp_store *store; /**< its chunk store (packs under chunks/, index in meta.db) */
        rp_service *svc; /**< back pointer */
        pthread_t worker;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stop;
        bool worker_started;
};

/** A route: method + pattern ("/subscriptions/{}/resourceGroups/{}/..."); "{}" captures one
 *  segment, literals match case-insensitively. */
typedef struct rp_route {
        const char *method;
        const char *pattern;
        enum rp_arm_family family; /**< api-version family; -1: none checked */
        unsigned flags;            /**< RP_ROUTE_* */
        void (*handler)(rp_arm_req *r);
        const char *name; /**< for logs */
} rp_route;

#define RP_ROUTE_NOAUTH (1u << 0) /**< no bearer token (data plane, metadata) */
#define RP_ROUTE_STREAM (1u << 1) /**< body streamed to stream_body */
#define RP_ROUTE_NOAPIVER (1u << 2)
#define RP_ROUTE_JSON_BODY (1u << 3) /**< body must be a JSON object */
#define RP_ROUTE_MAX_CAPTURES 8

/** Registered kind of long-running work. */
typedef struct rp_job_kind {
        const char *kind;
        rp_job_fn fn;
} rp_job_kind;

/** The whole service (one per process). */
struct rp_service {
        char *data_dir;
        rp_region **regions;
        size_t n_regions;
        rp_token_key *token_key;
        uint8_t sas_key[32];
        const rp_route *routes;
        size_t n_routes;
        const rp_job_kind *job_kinds;
        size_t n_job_kinds;
        /** Streaming routes: validate when the headers are in (may reply to refuse). */
        int (*stream_begin)(rp_arm_req *r);
        /** Run the freeze hook of a VM ("freeze" or "thaw"), if one is configured.
         *  @return 0 when it ran and succeeded, <0 otherwise (none configured: -ENOENT). */
        int (*freeze_hook)(rp_service *svc, const char *vm_id, const char *phase);
        void *freeze_hook_data;
        /** Subscriptions already recorded in the stores (so each is written once). */
        pthread_mutex_t subs_lock;
        char (*known_subs)[40];
        size_t n_known_subs;
        /** Streaming routes: one piece of the body. */
        int (*stream_body)(rp_arm_req *r, const char *data, size_t len);
        /** Call a region hosted by another process (a peer): @return 0 with rep->body,
         *  -EREMOTE with rep->ec/message (the peer answered an ARM error), -EHOSTUNREACH (no
         *  such peer) or another negative errno (transport). NULL: no peers. */
        int (*remote_call)(rp_service *svc, const char *region, const char *op, const json_t *req,
                           rp_source_reply *rep);
        /** A peer (repl/peer.h rp_peer *) that pulls from @p region hosted by another process,
         *  into *ret_peer. @return 0, -EHOSTUNREACH (no such peer), <0. NULL: no peers. */
        int (*remote_peer)(rp_service *svc, const char *region, void **ret_peer);
        void *remote_data;
        /** Answer @p r by forwarding it to another host, if what it names is hosted there.
         *  @return true if answered. NULL: nothing is forwarded. */
        bool (*forward)(rp_arm_req *r);
        /** Add other hosts' items to the first page of a list. May be NULL. */
        void (*list_more)(rp_arm_req *r, json_t *items);
        /** Called by a region's worker when it has nothing to do (about once a second). */
        void (*idle)(rp_service *svc, rp_region *reg);
        /** Executor of template deployments (compute/deployments_exec.c), or NULL. */
        struct rp_deployer *deployer;
};

/** Per-request ARM state (http->app_ctx). */
struct rp_arm_req {
        rp_request *http;
        rp_service *svc;
        const rp_route *route;
        char *cap[RP_ROUTE_MAX_CAPTURES]; /**< captured path segments */
        size_t n_cap;
        const char *api_version;
        rp_token_claims claims;
        bool have_claims;
        json_t *body; /**< parsed JSON body for JSON routes, or NULL */
        void *data;   /**< handler state for streaming routes */
        void (*data_free)(void *);
};

/** The http callbacks that run the ARM pipeline for @p svc. */
void rp_arm_http_app(rp_service *svc, rp_http_app *ret);

/* ---------------------------------------------------------------- replies */

/** Reply with the ARM error envelope. @p message NULL uses the registry's; @p target may be NULL.
 */
void rp_arm_reply_error(rp_arm_req *r, enum rp_ec ec, const char *target, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/** Reply with a JSON value (reference stolen) and @p status. */
void rp_arm_reply_json(rp_arm_req *r, unsigned status, json_t *v);
/** Reply with no body. */
void rp_arm_reply_empty(rp_arm_req *r, unsigned status);
/** Reply for a failed internal call: logs once and answers InternalExecutionError. */
void rp_arm_reply_internal(rp_arm_req *r, int error, const char *what);

/* ---------------------------------------------------------------- helpers */

/** The region named @p name (case-insensitive; "East US" matches "eastus"), or NULL. */
rp_region *rp_service_region(rp_service *svc, const char *name);
/** Find a resource by key in any region. @return 0, -ENOENT. */
int rp_service_find(rp_service *svc, const char *key, rp_region **ret_region, rp_resource **ret);
/** Base URL of this request ("https://host"). rp_free() it. */
char *rp_arm_base_url(rp_arm_req *r);

/** Build a list reply {"value":[...],"nextLink"} for @p items (stolen) with @p next_token. */
void rp_arm_reply_list(rp_arm_req *r, json_t *items, const char *next_token);

/* ---------------------------------------------------------------- long-running operations */

/** Create an operation record in @p reg. With @p job the region's worker runs it.
 *  @param args stolen. @param[out] ret_op the record (rp_operation_free()). */
int rp_arm_op_create(rp_service *svc, rp_region *reg, const char *sub, const char *kind,
                     const char *resource_key, json_t *args, bool job, rp_operation **ret_op);
/** Mark an operation finished: status Succeeded with the Location answer, or Failed. */
int rp_arm_op_finish(rp_region *reg, rp_operation *op, const char *status, unsigned result_status,
                     json_t *result, enum rp_ec ec, const char *message);
/** Add Azure-AsyncOperation, Location and Retry-After: 1 for @p op to the reply. */
int rp_arm_lro_headers(rp_arm_req *r, rp_region *reg, const rp_operation *op, bool resources);
/** Wake the worker of @p reg. */
void rp_region_kick(rp_region *reg);
/** Start the worker thread of every region. */
int rp_service_start_workers(rp_service *svc);
/** Stop and join the worker threads. */
void rp_service_stop_workers(rp_service *svc);
