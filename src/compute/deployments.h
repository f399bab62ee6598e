/* deployments.h: Microsoft.Resources/deployments (ARM template deployments at resource-group
 * scope): the handlers (deployments.c) and the executor that runs accepted deployments
 * (deployments_exec.c).
 *
 * A deployment is a record of type microsoft.resources/deployments kept in the home region
 * (the first one, where resource-group deletions run too). Its body is the served
 * DeploymentExtended; its internal part holds what the executor needs to run or resume it:
 *   op          id of its long-running operation (also in the home region)
 *   template    the template, as sent
 *   parameters  the parameters, as sent ({"name":{"value":...}})
 *   now         the clock of utcNow() (seconds), fixed at PUT so that a resume sees the same
 *   tenant, rg_location  the rest of the template context
 *   start, end  wall clock (usec) of the run
 *   cancel      set by POST .../cancel; the executor stops at its next step
 *   resources   one entry per planned resource, in plan order: {id, type, name, api_version,
 *               deps[], state (NotStarted, Running, Succeeded, Failed), op (the deployment
 *               operation id), start, end, status (HTTP status of the PUT), error}
 */
#pragma once
#include "compute.h"
#include "template/template.h"

/** Stored type of a deployment. */
#define RP_TYPE_DEPLOYMENT "microsoft.resources/deployments"
/** Served type of a deployment. */
#define RP_DEPLOYMENT_DISPLAY "Microsoft.Resources/deployments"

/** Resources a deployment has in flight at once. */
#define RP_DEPLOY_MAX_IN_FLIGHT 4
/** Deployments run at once (one executor thread each); more wait in the queue. */
#define RP_DEPLOY_THREADS 4

/** The executor: threads that run accepted deployments. Opaque. */
typedef struct rp_deployer rp_deployer;

/**
 * Start the executor of @p svc. It deploys each resource by calling rpd's own API at @p url
 * (trusting the CA in @p ca_file) with a bearer token it mints for the deployment's
 * subscription, and resumes the deployments a previous run left Accepted or Running.
 * Sets svc->deployer.
 * @param[out] ret the executor, to stop with rp_deployer_stop().
 * @return 0, -ENOMEM, or the -errno of pthread_create.
 */
int rp_deployer_start(rp_service *svc, const char *url, const char *ca_file, rp_deployer **ret);

/** Stop the executor (running deployments stay Running, to resume at the next start), join
 *  its threads, clear svc->deployer and free it. NULL-safe. */
void rp_deployer_stop(rp_deployer *d);

/** Queue the deployment whose record key is @p key (no-op if it is queued; if a thread still
 *  runs it, it runs again after that).
 *  NULL @p d: nothing runs it until the next start. @return 0 or -ENOMEM. */
int rp_deployer_submit(rp_deployer *d, const char *key);

/* ---------------------------------------------------------------- module-private */

/** The home region: where deployments and their operations live. */
rp_region *rp_deploy__home(rp_service *svc);

/** The template context of the deployment @p rec (strings borrowed from it). */
void rp_deploy__ctx(const rp_resource *rec, rp_tpl_ctx *ret);

/** ISO 8601 duration ("PT12.345S") of @p end - @p start (usec) into @p buf. @return buf. */
char *rp_deploy__duration(rp_usec_t start, rp_usec_t end, char buf[48]);

/** Is @p state a terminal provisioning state of a deployment? */
bool rp_deploy__terminal(const char *state);

/** Handlers (deployments.c). */
void rp_h_deployment_put(rp_arm_req *r);
void rp_h_deployment_get(rp_arm_req *r);
void rp_h_deployment_head(rp_arm_req *r);
void rp_h_deployment_delete(rp_arm_req *r);
void rp_h_deployment_list(rp_arm_req *r);
void rp_h_deployment_validate(rp_arm_req *r);
void rp_h_deployment_cancel(rp_arm_req *r);
void rp_h_deployment_export(rp_arm_req *r);
void rp_h_deployment_ops_list(rp_arm_req *r);
void rp_h_deployment_op_get(rp_arm_req *r);
void rp_h_deployment_op_status(rp_arm_req *r);

/** Remove the deployments of group @p rg of @p sub (lower case): part of the group's deletion;
 *  the caller holds the model lock. @return 0 or <0. */
int rp_deploy_remove_group(rp_service *svc, const char *sub, const char *rg);
