/* compute_routes.c: the route table (generated-style data: one line per operation) and the
 * job kinds. Order matters only where patterns overlap: more specific first. */
#include "compute.h"
#include "deployments.h"
#include "util/macro.h"

#define SUB "/subscriptions/{}"
#define RG SUB "/resourceGroups/{}"
#define MC "/providers/Microsoft.Compute"
#define DEP "/providers/Microsoft.Resources/deployments"
#define RES RP_ARM_FAMILY_RESOURCES
#define SUBS RP_ARM_FAMILY_SUBSCRIPTIONS
#define CMP RP_ARM_FAMILY_COMPUTE
#define DSK RP_ARM_FAMILY_DISK
#define NOV ((enum rp_arm_family) - 1)
#define J RP_ROUTE_JSON_BODY

const rp_route rp_compute_routes[] = {
        { "GET", "/health", NOV, RP_ROUTE_NOAUTH, rp_h_health, "Health" },
        /* the peer protocol (signed with the pair key, docs/PEER-PROTOCOL.md) */
        { "GET", "/peer/v1/diskRestorePoints/manifest", NOV, RP_ROUTE_NOAUTH, rp_h_peer_manifest,
          "Peer_Manifest" },
        { "POST", "/peer/v1/chunks", NOV, RP_ROUTE_NOAUTH, rp_h_peer_chunks, "Peer_Chunks" },
        { "POST", "/peer/v1/source/{}", NOV, RP_ROUTE_NOAUTH, rp_h_peer_source, "Peer_Source" },
        { "POST", "/admin/regions/{}/scrub", NOV, 0, rp_h_admin_scrub, "Admin_Scrub" },
        { "POST", "/admin/regions/{}/gc", NOV, 0, rp_h_admin_gc, "Admin_GC" },
        { "GET", "/admin/regions", NOV, 0, rp_h_admin_regions_list, "Admin_Regions_List" },
        { "GET", "/admin/regions/{}", NOV, 0, rp_h_admin_region_get, "Admin_Regions_Get" },
        { "GET", "/subscriptions", SUBS, 0, rp_h_subscriptions_list, "Subscriptions_List" },
        { "GET", SUB, SUBS, 0, rp_h_subscription_get, "Subscriptions_Get" },
        { "GET", SUB "/locations", SUBS, 0, rp_h_locations_list, "Subscriptions_ListLocations" },
        { "GET", SUB "/resourcegroups", RES, 0, rp_h_group_list, "ResourceGroups_List" },
        { "PUT", RG, RES, J, rp_h_group_put, "ResourceGroups_CreateOrUpdate" },
        { "GET", RG, RES, 0, rp_h_group_get, "ResourceGroups_Get" },
        { "HEAD", RG, RES, 0, rp_h_group_head, "ResourceGroups_CheckExistence" },
        { "PATCH", RG, RES, J, rp_h_group_patch, "ResourceGroups_Update" },
        { "DELETE", RG, RES, 0, rp_h_group_delete, "ResourceGroups_Delete" },
        { "GET", SUB "/operationresults/{}", NOV, 0, rp_h_group_opresult, "OperationResults_Get" },
        { "GET", SUB "/providers/Microsoft.Resources/operations/{}", NOV, 0, rp_h_group_opresult,
          "Operations_Get" },
        { "GET", SUB MC "/locations/{}/operations/{}", NOV, 0, rp_h_operation_get,
          "Operations_Get" },
        /* template deployments */
        { "GET", RG DEP, RES, 0, rp_h_deployment_list, "Deployments_ListByResourceGroup" },
        { "PUT", RG DEP "/{}", RES, J, rp_h_deployment_put, "Deployments_CreateOrUpdate" },
        { "GET", RG DEP "/{}", RES, 0, rp_h_deployment_get, "Deployments_Get" },
        { "HEAD", RG DEP "/{}", RES, 0, rp_h_deployment_head, "Deployments_CheckExistence" },
        { "DELETE", RG DEP "/{}", RES, 0, rp_h_deployment_delete, "Deployments_Delete" },
        { "POST", RG DEP "/{}/validate", RES, J, rp_h_deployment_validate, "Deployments_Validate" },
        { "POST", RG DEP "/{}/cancel", RES, 0, rp_h_deployment_cancel, "Deployments_Cancel" },
        { "POST", RG DEP "/{}/exportTemplate", RES, 0, rp_h_deployment_export,
          "Deployments_ExportTemplate" },
        { "GET", RG "/deployments/{}/operations", RES, 0, rp_h_deployment_ops_list,
          "DeploymentOperations_List" },
        { "GET", RG "/deployments/{}/operations/{}", RES, 0, rp_h_deployment_op_get,
          "DeploymentOperations_Get" },
        { "GET", RG DEP "/{}/operations", RES, 0, rp_h_deployment_ops_list,
          "DeploymentOperations_List" },
        { "GET", RG DEP "/{}/operations/{}", RES, 0, rp_h_deployment_op_get,
          "DeploymentOperations_Get" },
        { "GET", RG DEP "/{}/operationStatuses/{}", RES, 0, rp_h_deployment_op_status,
          "Deployments_OperationStatus" },
        { "GET", SUB DEP "/{}/operationStatuses/{}", RES, 0, rp_h_deployment_op_status,
          "Deployments_OperationStatusAtSubscriptionScope" },
        /* managed disks */
        { "GET", SUB MC "/disks", DSK, 0, rp_h_disk_list_sub, "Disks_List" },
        { "GET", RG MC "/disks", DSK, 0, rp_h_disk_list_group, "Disks_ListByResourceGroup" },
        { "PUT", RG MC "/disks/{}", DSK, J, rp_h_disk_put, "Disks_CreateOrUpdate" },
        { "GET", RG MC "/disks/{}", DSK, 0, rp_h_disk_get, "Disks_Get" },
        { "PATCH", RG MC "/disks/{}", DSK, J, rp_h_disk_patch, "Disks_Update" },
        { "DELETE", RG MC "/disks/{}", DSK, 0, rp_h_disk_delete, "Disks_Delete" },
        { "POST", RG MC "/disks/{}/beginGetAccess", DSK, J, rp_h_disk_grant, "Disks_GrantAccess" },
        { "POST", RG MC "/disks/{}/endGetAccess", DSK, 0, rp_h_disk_revoke, "Disks_RevokeAccess" },
        /* virtual machines */
        { "GET", SUB MC "/virtualMachines", CMP, 0, rp_h_vm_list_sub, "VirtualMachines_ListAll" },
        { "GET", RG MC "/virtualMachines", CMP, 0, rp_h_vm_list_group, "VirtualMachines_List" },
        { "PUT", RG MC "/virtualMachines/{}", CMP, J, rp_h_vm_put,
          "VirtualMachines_CreateOrUpdate" },
        { "GET", RG MC "/virtualMachines/{}", CMP, 0, rp_h_vm_get, "VirtualMachines_Get" },
        { "DELETE", RG MC "/virtualMachines/{}", CMP, 0, rp_h_vm_delete, "VirtualMachines_Delete" },
        /* restore point collections, restore points, disk restore points */
        { "GET", SUB MC "/restorePointCollections", CMP, 0, rp_h_rpc_list_sub,
          "RestorePointCollections_ListAll" },
        { "GET", RG MC "/restorePointCollections", CMP, 0, rp_h_rpc_list_group,
          "RestorePointCollections_List" },
        { "PUT", RG MC "/restorePointCollections/{}", CMP, J, rp_h_rpc_put,
          "RestorePointCollections_CreateOrUpdate" },
        { "GET", RG MC "/restorePointCollections/{}", CMP, 0, rp_h_rpc_get,
          "RestorePointCollections_Get" },
        { "PATCH", RG MC "/restorePointCollections/{}", CMP, J, rp_h_rpc_patch,
          "RestorePointCollections_Update" },
        { "DELETE", RG MC "/restorePointCollections/{}", CMP, 0, rp_h_rpc_delete,
          "RestorePointCollections_Delete" },
        { "PUT", RG MC "/restorePointCollections/{}/restorePoints/{}", CMP, J, rp_h_rp_put,
          "RestorePoints_Create" },
        { "GET", RG MC "/restorePointCollections/{}/restorePoints/{}", CMP, 0, rp_h_rp_get,
          "RestorePoints_Get" },
        { "DELETE", RG MC "/restorePointCollections/{}/restorePoints/{}", CMP, 0, rp_h_rp_delete,
          "RestorePoints_Delete" },
        { "GET", RG MC "/restorePointCollections/{}/restorePoints/{}/diskRestorePoints", DSK, 0,
          rp_h_drp_list, "DiskRestorePoint_ListByRestorePoint" },
        { "GET", RG MC "/restorePointCollections/{}/restorePoints/{}/diskRestorePoints/{}", DSK, 0,
          rp_h_drp_get, "DiskRestorePoint_Get" },
        { "POST",
          RG MC "/restorePointCollections/{}/restorePoints/{}/diskRestorePoints/{}/beginGetAccess",
          DSK, J, rp_h_drp_grant, "DiskRestorePoint_GrantAccess" },
        { "POST",
          RG MC "/restorePointCollections/{}/restorePoints/{}/diskRestorePoints/{}/endGetAccess",
          DSK, 0, rp_h_drp_revoke, "DiskRestorePoint_RevokeAccess" },
        /* disk data plane (SAS) */
        { "GET", "/data/{}/disks/{}", NOV, RP_ROUTE_NOAUTH, rp_h_data_get, "Data_Read" },
        { "GET", "/data/{}/drps/{}", NOV, RP_ROUTE_NOAUTH, rp_h_data_drp_get,
          "Data_ReadRestorePoint" },
        { "PUT", "/data/{}/disks/{}", NOV, RP_ROUTE_NOAUTH | RP_ROUTE_STREAM, rp_h_data_put,
          "Data_PutPage" },
};
const size_t rp_compute_n_routes = ELEMENTSOF(rp_compute_routes);

const rp_job_kind rp_compute_job_kinds[] = {
        { "disk.delete", rp_job_disk_delete },     { "disk.copy", rp_job_disk_copy },
        { "vm.delete", rp_job_vm_delete },         { "group.delete", rp_job_group_delete },
        { "rp.capture", rp_job_rp_capture },       { "rp.delete", rp_job_rp_delete },
        { "rpc.delete", rp_job_rpc_delete },       { "disk.restore", rp_job_disk_restore },
        { "region.gc", rp_job_region_gc },         { "rp.copy", rp_job_rp_copy },
        { "drp.replicate", rp_job_drp_replicate }, { "rp.pull", rp_job_rp_pull },
        { "hold.release", rp_job_hold_release },
};
const size_t rp_compute_n_job_kinds = ELEMENTSOF(rp_compute_job_kinds);

void rp_h_health(rp_arm_req *r)
{
        rp_arm_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}
