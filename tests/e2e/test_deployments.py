"""ARM template deployments (Microsoft.Resources/deployments) end to end: the templates under
templates/ deploy restore points of a VM, a cross-region copy, a point in westus of an eastus
VM (flow 1), disks and a VM restored from a restore point, each checked by reading the resources back and comparing the restored bytes
(SHA-256 through SAS); the Azure SDK for Python deploys and reads them too. Bad templates are
refused at PUT (and by validate) and create nothing; a resource that fails fails the
deployment with its own error; a deployment interrupted by kill -9 resumes after the restart;
rpctl deployment drives the same."""
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import COMPUTE_API, DISK_API, RG_API, RPCTL_BIN, SUB, disk_path, new_name, vm_path
from rp_common import (MIB, MIN_UPLOAD, err, get_rp, image_of, make_group, make_vm, rand,
                       read_disk, rebase, rp_path, rpc_path, sha, upload_disk, wait_log)

HERE = os.path.dirname(os.path.abspath(__file__))
DEP = "/subscriptions/%s/resourcegroups/%s/providers/Microsoft.Resources/deployments"


def template(name):
    with open(os.path.join(HERE, "templates", name)) as f:
        return json.load(f)


def dep_path(rg, name=None):
    return DEP % (SUB, rg) + ("/" + name if name else "")


def params(**kw):
    return {k: {"value": v} for k, v in kw.items()}


def start_deploy(rpd, rg, name, tpl, prm=None, mode="Incremental", api=RG_API):
    body = {"properties": {"template": tpl, "parameters": prm or {}, "mode": mode}}
    return rpd.req("PUT", dep_path(rg, name), api, body)


def wait_deploy(rpd, rg, name, resp, timeout=120):
    """Follow the deployment's Azure-AsyncOperation; return (status body, deployment)."""
    url = rebase(resp.headers["Azure-AsyncOperation"], rpd)
    assert "/providers/Microsoft.Resources/deployments/%s/operationStatuses/" % name in url
    deadline = time.time() + timeout
    while True:
        r = requests.get(url, headers={"Authorization": "Bearer " + rpd.token()},
                         verify=rpd.ca, timeout=30)
        assert r.status_code == 200, r.text
        st = r.json()
        if st["status"] in ("Succeeded", "Failed", "Canceled"):
            break
        assert st["status"] in ("Accepted", "Running"), st
        assert time.time() < deadline, "deployment did not finish: %s" % st
        time.sleep(0.1)
    d = rpd.req("GET", dep_path(rg, name), RG_API)
    assert d.status_code == 200, d.text
    return st, d.json()


def deploy(rpd, rg, name, tpl, prm=None, timeout=120):
    r = start_deploy(rpd, rg, name, tpl, prm)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] and r.headers["Retry-After"]
    assert r.json()["properties"]["provisioningState"] == "Accepted"
    st, d = wait_deploy(rpd, rg, name, r, timeout)
    assert st["status"] == "Succeeded", (st, d)
    assert d["properties"]["provisioningState"] == "Succeeded", d
    # the same status at subscription scope, and the final answer at Location
    url = rebase(r.headers["Azure-AsyncOperation"], rpd).replace("/resourcegroups/%s" % rg, "")
    s = requests.get(url, headers={"Authorization": "Bearer " + rpd.token()}, verify=rpd.ca)
    assert s.status_code == 200 and s.json()["status"] == "Succeeded", s.text
    f = requests.get(rebase(r.headers["Location"], rpd),
                     headers={"Authorization": "Bearer " + rpd.token()}, verify=rpd.ca)
    assert f.status_code == 200 and f.json()["id"] == d["id"], f.text
    return d


def operations(rpd, rg, name):
    r = rpd.req("GET", dep_path(rg, name) + "/operations", RG_API)
    assert r.status_code == 200, r.text
    return r.json()["value"]


def source_vm(rpd, rg):
    """A VM with an OS disk and a data disk holding data; returns (vm id, {disk: image})."""
    make_group(rpd, rg)
    osd = [(0, rand(2 * MIB, 11)), (MIN_UPLOAD - 4096, rand(4096, 12))]
    dd = [(MIB, rand(3 * MIB, 13)), (6 * MIB, rand(512, 14))]
    os_id = upload_disk(rpd, rg, "osd", MIN_UPLOAD, osd, "Linux")
    data_id = upload_disk(rpd, rg, "data", MIN_UPLOAD, dd)
    vm = make_vm(rpd, rg, "vm1", os_id, [data_id])
    return vm["id"], {"osd": image_of(MIN_UPLOAD, osd), "data": image_of(MIN_UPLOAD, dd)}


def drps_by_disk(rpd, rp_id):
    """{source disk name: disk restore point id} of a restore point."""
    rp = rpd.req("GET", rp_id, COMPUTE_API).json()
    sp = rp["properties"]["sourceMetadata"]["storageProfile"]
    out = {}
    for d in [sp["osDisk"]] + sp.get("dataDisks", []):
        out[d["managedDisk"]["id"].rsplit("/", 1)[1]] = d["diskRestorePoint"]["id"]
    return out


def wait_replicated(rpd, rp_id, timeout=90):
    """A point in another region is Succeeded once its copy has started: wait for the copy
    itself (the instance view's replication state); return the point."""
    deadline = time.time() + timeout
    while True:
        v = rpd.req("GET", rp_id, COMPUTE_API, params={"$expand": "instanceView"}).json()
        assert v["properties"]["provisioningState"] == "Succeeded", v
        code = v["properties"]["instanceView"]["statuses"][0]["code"]
        if code != "ReplicationState/inProgress":
            break
        assert time.time() < deadline
        time.sleep(0.1)
    assert code == "ReplicationState/succeeded", v
    return v


def nothing_created(rpd, rg, name):
    r = rpd.req("GET", dep_path(rg, name), RG_API)
    assert r.status_code == 404 and r.json()["error"]["code"] == "DeploymentNotFound", r.text
    r = rpd.req("GET", "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                "restorePointCollections" % (SUB, rg), COMPUTE_API)
    assert r.status_code == 200 and r.json()["value"] == [], r.text
    r = rpd.req("GET", "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks"
                % (SUB, rg), DISK_API)
    assert r.status_code == 200 and r.json()["value"] == [], r.text


# ---------------------------------------------------------------- 1. restore point of a VM (SDK)

def test_sdk_deploys_a_collection_and_restore_point_of_a_vm(rpd):
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.resource.resources.v2022_09_01 import models as rm

    res, cmp = rpd.sdk()
    rg = new_name("rg")
    vm_id, _ = source_vm(rpd, rg)
    tpl = template("rp-from-vm.json")
    dep = rm.Deployment(properties=rm.DeploymentProperties(
        mode=rm.DeploymentMode.INCREMENTAL, template=tpl,
        parameters={"vmId": {"value": vm_id}, "pointName": {"value": "p1"}}))
    v = res.deployments.begin_validate(rg, "rp", dep).result()
    assert v.error is None and v.properties.provisioning_state == "Succeeded"
    assert sorted(r.id.rsplit("/", 1)[1] for r in v.properties.validated_resources) == \
        ["p1", "rpc1"]
    with pytest.raises(ResourceNotFoundError):
        res.deployments.get(rg, "rp")  # validate deploys nothing

    d = res.deployments.begin_create_or_update(rg, "rp", dep).result()
    assert d.name == "rp" and d.type == "Microsoft.Resources/deployments"
    p = d.properties
    assert p.provisioning_state == "Succeeded" and p.mode == "Incremental" and not p.error
    point_id = rp_path(rg, "rpc1", "p1")
    assert p.outputs["restorePointId"]["value"].lower() == point_id.lower()
    assert p.outputs["pointState"] == {"type": "String", "value": "Succeeded"}
    assert sorted(r.id.lower() for r in p.output_resources) == \
        sorted([rpc_path(rg, "rpc1").lower(), point_id.lower()])
    assert p.parameters["vmId"]["value"] == vm_id and p.parameters["collectionName"] == {
        "type": "String", "value": "rpc1"}
    assert p.timestamp and p.duration.startswith("PT") and p.correlation_id
    deps = {x.resource_name: [y.resource_name for y in x.depends_on] for x in p.dependencies}
    assert deps == {"rpc1/p1": ["rpc1"]}

    # the resources, read back through the compute API
    coll = cmp.restore_point_collections.get(rg, "rpc1")
    assert coll.source.id.lower() == vm_id.lower() and coll.tags == {"deployedBy": "rp"}
    point = cmp.restore_points.get(rg, "rpc1", "p1", expand="instanceView")
    assert point.provisioning_state == "Succeeded"
    assert point.consistency_mode == "CrashConsistent"
    assert len(point.instance_view.disk_restore_points) == 2

    # one deployment operation per resource, as DeploymentOperations_List
    ops = list(res.deployment_operations.list(rg, "rp"))
    assert sorted(o.properties.target_resource.resource_name for o in ops) == ["rpc1", "rpc1/p1"]
    for o in ops:
        assert o.properties.provisioning_state == "Succeeded", o
        assert o.properties.provisioning_operation == "Create"
        assert o.properties.status_code in ("OK", "Created")
        assert o.id.endswith("/operations/" + o.operation_id)
        got = res.deployment_operations.get(rg, "rp", o.operation_id)
        assert got.properties.target_resource.id == o.properties.target_resource.id
    assert [x.name for x in res.deployments.list_by_resource_group(rg)] == ["rp"]
    assert res.deployments.check_existence(rg, "rp") is True
    assert res.deployments.export_template(rg, "rp").template == tpl

    # deleting the deployment keeps what it deployed
    res.deployments.begin_delete(rg, "rp").result()
    assert res.deployments.check_existence(rg, "rp") is False
    assert cmp.restore_points.get(rg, "rpc1", "p1").provisioning_state == "Succeeded"


# ------------------------------------------------ 3, 4. disks and a VM restored from a point

def test_templates_restore_disks_and_a_vm_from_a_restore_point_byte_for_byte(rpd):
    rg = new_name("rg")
    vm_id, images = source_vm(rpd, rg)
    d = deploy(rpd, rg, "point", template("rp-from-vm.json"),
               params(vmId=vm_id, collectionName="c", pointName="p"))
    drps = drps_by_disk(rpd, d["properties"]["outputs"]["restorePointId"]["value"])
    assert sorted(drps) == ["data", "osd"]

    # 3. a disk per disk restore point (a copy loop), createOption Restore
    order = ["osd", "data"]
    d = deploy(rpd, rg, "disks", template("disk-from-restore-point.json"),
               params(diskRestorePointIds=[drps[n] for n in order], diskPrefix="r"))
    assert d["properties"]["outputs"]["firstDiskSize"]["value"] == MIN_UPLOAD
    assert len(d["properties"]["outputResources"]) == 2
    for i, n in enumerate(order):
        disk = rpd.req("GET", disk_path(rg, "r%d" % i), DISK_API).json()
        cd = disk["properties"]["creationData"]
        assert cd["createOption"] == "Restore" and cd["sourceResourceId"] == drps[n]
        assert disk["properties"]["provisioningState"] == "Succeeded"
        assert disk["sku"]["name"] == "Premium_LRS"
        assert sha(read_disk(rpd, rg, "r%d" % i)) == sha(images[n]), n

    # 4. a VM whose OS disk is restored by the template and whose data disk is restored inline
    d = deploy(rpd, rg, "vm", template("vm-from-restore-point.json"),
               params(vmName="vm2", osDiskRestorePointId=drps["osd"],
                      dataDiskRestorePointId=drps["data"]))
    out = d["properties"]["outputs"]
    assert out["vmId"]["value"].lower() == vm_path(rg, "vm2").lower()
    assert out["dataDiskId"]["value"].lower() == disk_path(rg, "vm2-data0").lower()
    vm = rpd.req("GET", vm_path(rg, "vm2"), COMPUTE_API).json()
    sp = vm["properties"]["storageProfile"]
    assert sp["osDisk"]["managedDisk"]["id"].lower() == disk_path(rg, "vm2-os").lower()
    assert sp["dataDisks"][0]["managedDisk"]["id"].lower() == disk_path(rg, "vm2-data0").lower()
    ops = operations(rpd, rg, "vm")
    assert [o["properties"]["targetResource"]["resourceType"] for o in
            sorted(ops, key=lambda o: o["properties"]["timestamp"])] == \
        ["Microsoft.Compute/disks", "Microsoft.Compute/virtualMachines"]
    # the VM's disks hold the source VM's bytes (read once the VM no longer holds them)
    r = rpd.req("DELETE", vm_path(rg, "vm2"), COMPUTE_API)
    assert r.status_code in (200, 202, 204), r.text
    if r.status_code == 202:
        assert rpd.wait_lro(r)["status"] == "Succeeded"
    assert sha(read_disk(rpd, rg, "vm2-os")) == sha(images["osd"])
    assert sha(read_disk(rpd, rg, "vm2-data0")) == sha(images["data"])


# ---------------------------------------------------------------- 2. cross-region copy

def test_template_copies_a_restore_point_to_westus_and_it_restores_there(rpd):
    rg = new_name("rg")
    vm_id, images = source_vm(rpd, rg)
    d = deploy(rpd, rg, "src", template("rp-from-vm.json"),
               params(vmId=vm_id, collectionName="src", pointName="p1"))
    p1 = d["properties"]["outputs"]["restorePointId"]["value"]
    d = deploy(rpd, rg, "copy", template("rp-copy-to-region.json"),
               params(sourceCollectionId=rpc_path(rg, "src"), sourcePointId=p1,
                      collectionName="dst", pointName="c1"))
    out = d["properties"]["outputs"]
    assert out["sourceLocation"]["value"] == "eastus"
    c1 = out["copyId"]["value"]
    coll = rpd.req("GET", rpc_path(rg, "dst"), COMPUTE_API).json()
    assert coll["location"] == "westus"
    assert coll["properties"]["source"]["id"].lower() == rpc_path(rg, "src").lower()
    v = wait_replicated(rpd, c1)
    assert v["properties"]["sourceRestorePoint"]["id"].lower() == p1.lower()
    drps = drps_by_disk(rpd, c1)
    d = deploy(rpd, rg, "west-disks", template("disk-from-restore-point.json"),
               params(diskRestorePointIds=[drps["osd"], drps["data"]], diskPrefix="w",
                      location="westus"))
    for i, n in enumerate(["osd", "data"]):
        disk = rpd.req("GET", disk_path(rg, "w%d" % i), DISK_API).json()
        assert disk["location"] == "westus"
        assert sha(read_disk(rpd, rg, "w%d" % i)) == sha(images[n]), n


# ------------------------------------- 5. collection in westus whose source is a VM in eastus

def test_template_takes_a_restore_point_of_an_eastus_vm_into_westus(rpd):
    rg = new_name("rg")
    vm_id, images = source_vm(rpd, rg)
    d = deploy(rpd, rg, "west", template("rp-cross-region-from-vm.json"),
               params(vmId=vm_id, collectionName="w", pointName="p"), timeout=180)
    p = d["properties"]["outputs"]["restorePointId"]["value"]
    coll = rpd.req("GET", rpc_path(rg, "w"), COMPUTE_API).json()
    assert coll["location"] == "westus" and coll["properties"]["source"]["location"] == "eastus"
    wait_replicated(rpd, p)
    drps = drps_by_disk(rpd, p)
    d = deploy(rpd, rg, "west-disks", template("disk-from-restore-point.json"),
               params(diskRestorePointIds=[drps["osd"], drps["data"]], diskPrefix="w",
                      location="westus"), timeout=180)
    for i, n in enumerate(["osd", "data"]):
        assert sha(read_disk(rpd, rg, "w%d" % i)) == sha(images[n]), n


# ---------------------------------------------------------------- bad templates

def _rpc_tpl(**over):
    tpl = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                   "deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"vmId": {"type": "string"}, "count": {"type": "int", "defaultValue": 1}},
        "resources": [{
            "type": "Microsoft.Compute/restorePointCollections", "apiVersion": "2022-08-01",
            "name": "c", "location": "eastus",
            "properties": {"source": {"id": "[parameters('vmId')]"}}}],
    }
    tpl.update(over)
    return tpl


VM = "/subscriptions/%s/resourceGroups/bad/providers/Microsoft.Compute/virtualMachines/v" % SUB

BAD = {
    "cycle": (_rpc_tpl(resources=[
        {"type": "Microsoft.Compute/restorePointCollections", "apiVersion": "2022-08-01",
         "name": "a", "location": "eastus", "dependsOn": ["b"],
         "properties": {"source": {"id": VM}}},
        {"type": "Microsoft.Compute/restorePointCollections", "apiVersion": "2022-08-01",
         "name": "b", "location": "eastus", "dependsOn": ["a"],
         "properties": {"source": {"id": VM}}}]),
        params(vmId=VM), "Incremental", ("InvalidTemplate",)),
    "unknown-parameter": (_rpc_tpl(), params(vmId=VM, nope="x"), "Incremental",
                          ("InvalidTemplate", "InvalidTemplateDeployment")),
    "wrong-type": (_rpc_tpl(), params(vmId=VM, count="three"), "Incremental",
                   ("InvalidTemplate", "InvalidTemplateDeployment")),
    "missing-parameter": (_rpc_tpl(), {}, "Incremental", ("InvalidTemplate",)),
    "bad-expression-in-name": (_rpc_tpl(resources=[{
        "type": "Microsoft.Compute/restorePointCollections", "apiVersion": "2022-08-01",
        "name": "[concat('a', ]", "location": "eastus", "properties": {}}]),
        params(vmId=VM), "Incremental", ("InvalidTemplate",)),
    "bad-expression-in-properties": (_rpc_tpl(resources=[{
        "type": "Microsoft.Compute/restorePointCollections", "apiVersion": "2022-08-01",
        "name": "c", "location": "eastus",
        "properties": {"source": {"id": "[concat(parameters('vmId'), ]"}}}]),
        params(vmId=VM), "Incremental", ("InvalidTemplate",)),
    "unknown-function": (_rpc_tpl(resources=[{
        "type": "Microsoft.Compute/restorePointCollections", "apiVersion": "2022-08-01",
        "name": "[nosuchfunction('a')]", "location": "eastus", "properties": {}}]),
        params(vmId=VM), "Incremental", ("InvalidTemplate",)),
    "complete-mode": (_rpc_tpl(), params(vmId=VM), "Complete", ("UnsupportedDeploymentMode",)),
    "unsupported-type": (_rpc_tpl(resources=[{
        "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01", "name": "s",
        "location": "eastus"}]), params(vmId=VM), "Incremental",
        ("NoRegisteredProviderFound",)),
    "bad-api-version": (_rpc_tpl(resources=[{
        "type": "Microsoft.Compute/restorePointCollections", "apiVersion": "2015-01-01",
        "name": "c", "location": "eastus", "properties": {}}]), params(vmId=VM), "Incremental",
        ("NoRegisteredProviderFound",)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_template_is_refused_at_put_and_by_validate_and_creates_nothing(srv, case):
    tpl, prm, mode, codes = BAD[case]
    rg = "bad" + case.replace("-", "")[:20]
    make_group(srv, rg)
    body = {"properties": {"template": tpl, "parameters": prm, "mode": mode}}
    r = srv.req("POST", dep_path(rg, "d") + "/validate", RG_API, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in codes, r.text
    assert r.json()["error"]["message"]
    r = start_deploy(srv, rg, "d", tpl, prm, mode)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in codes, r.text
    assert "Retry-After" not in r.headers
    nothing_created(srv, rg, "d")


def test_bad_requests_are_refused(srv):
    make_group(srv, "badreq")
    tpl = _rpc_tpl()
    for body, status, code in (
            ({"properties": {"template": tpl}}, 400, "InvalidParameter"),
            ({"properties": {"mode": "Incremental"}}, 400, "InvalidRequestContent"),
            ({"properties": {"mode": "Incremental", "templateLink": {"uri": "https://x/t.json"}}},
             400, "InvalidTemplateDeployment"),
            ({"properties": {"mode": "Incremental", "template": "x"}}, 400,
             "InvalidRequestContent")):
        r = srv.req("PUT", dep_path("badreq", "d"), RG_API, body)
        err(r, status, code)
    r = srv.req("PUT", dep_path("nosuchgroup", "d"), RG_API,
                {"properties": {"mode": "Incremental", "template": tpl}})
    err(r, 404, "ResourceGroupNotFound")
    r = srv.req("PUT", dep_path("badreq", "a*b"), RG_API,
                {"properties": {"mode": "Incremental", "template": tpl}})
    err(r, 400, "InvalidResourceName")
    err(srv.req("GET", dep_path("badreq", "none"), RG_API), 404, "DeploymentNotFound")
    err(srv.req("GET", dep_path("badreq"), "2018-05-01"), 400, "InvalidApiVersionParameter")
    for api in ("2019-10-01", "2020-06-01", "2021-04-01", "2022-09-01", "2024-03-01"):
        r = srv.req("GET", dep_path("badreq"), api)
        assert r.status_code == 200 and r.json()["value"] == [], (api, r.text)
    # the Python SDK lists at ".../deployments/": a trailing slash is the same path
    r = srv.req("GET", dep_path("badreq") + "/", RG_API)
    assert r.status_code == 200 and r.json()["value"] == [], r.text
    assert srv.req("DELETE", dep_path("badreq", "none"), RG_API).status_code == 204
    assert srv.req("HEAD", dep_path("badreq", "none"), RG_API).status_code == 404
    nothing_created(srv, "badreq", "d")


# ---------------------------------------------------------------- failures while deploying

def test_failed_resource_fails_the_deployment_with_its_error_and_dependents_never_start(rpd):
    from azure.core.exceptions import HttpResponseError

    res, _ = rpd.sdk()
    rg = new_name("rg")
    make_group(rpd, rg)
    missing_vm = vm_path(rg, "novm")
    tpl = template("rp-from-vm.json")
    tpl["resources"].append({
        "type": "Microsoft.Compute/disks", "apiVersion": "2022-07-02", "name": "indep",
        "location": "eastus",
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
    with pytest.raises(HttpResponseError) as e:
        res.deployments.begin_create_or_update(rg, "f", {"properties": {
            "mode": "Incremental", "template": tpl,
            "parameters": {"vmId": {"value": missing_vm}}}}).result()
    assert e.value.error.code == "DeploymentFailed", e.value
    d = rpd.req("GET", dep_path(rg, "f"), RG_API).json()["properties"]
    assert d["provisioningState"] == "Failed"
    assert d["error"]["code"] == "DeploymentFailed"
    det = d["error"]["details"]
    assert [x["code"] for x in det] == ["ResourceNotFound"], det
    assert "novm" in det[0]["message"]
    # the independent disk was deployed; the point that needed the collection never started
    assert [r["id"].lower() for r in d["outputResources"]] == [disk_path(rg, "indep").lower()]
    ops = {o["properties"]["targetResource"]["resourceName"]: o["properties"]
           for o in operations(rpd, rg, "f")}
    assert sorted(ops) == ["indep", "rpc1"]
    assert ops["rpc1"]["provisioningState"] == "Failed"
    assert ops["rpc1"]["statusCode"] == "NotFound"
    assert ops["rpc1"]["statusMessage"]["error"]["code"] == "ResourceNotFound"
    assert ops["indep"]["provisioningState"] == "Succeeded"
    assert rpd.req("GET", rpc_path(rg, "rpc1"), COMPUTE_API).status_code == 404
    # a failed deployment may be deployed again under its name; a running one may not
    r = start_deploy(rpd, rg, "f", {"$schema": tpl["$schema"], "contentVersion": "1.0.0.0",
                                    "resources": []})
    assert r.status_code == 200, r.text
    st, d = wait_deploy(rpd, rg, "f", r)
    assert st["status"] == "Succeeded" and d["properties"]["outputResources"] == []


def held_deployment(rpd, monkeypatch, delay_ms):
    """Deploy rp-from-vm.json as "rp" while every region job is held back @delay_ms (so the
    restore point's capture stays pending); returns (group, VM id, the PUT's reply)."""
    rg = new_name("rg")
    vm_id, _ = source_vm(rpd, rg)
    rpd.stop()
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", str(delay_ms))
    rpd.start()
    r = start_deploy(rpd, rg, "rp", template("rp-from-vm.json"), params(vmId=vm_id))
    assert r.status_code == 201, r.text
    return rg, vm_id, r


def test_deployment_interrupted_by_kill9_resumes_after_restart(rpd, monkeypatch):
    rg, vm_id, r = held_deployment(rpd, monkeypatch, 60000)
    deadline = time.time() + 30
    while True:
        ops = operations(rpd, rg, "rp")
        if any(o["properties"]["targetResource"]["resourceName"] == "rpc1/rp1" for o in ops):
            break
        assert time.time() < deadline, ops
        time.sleep(0.05)
    d = rpd.req("GET", dep_path(rg, "rp"), RG_API).json()
    assert d["properties"]["provisioningState"] == "Running"
    # while it runs it can be neither replaced nor deleted
    err(start_deploy(rpd, rg, "rp", template("rp-from-vm.json"), params(vmId=vm_id)), 409,
        "DeploymentActive")
    err(rpd.req("DELETE", dep_path(rg, "rp"), RG_API), 409, "DeploymentActive")
    rpd.kill9()
    monkeypatch.delenv("RPD_TEST_JOB_DELAY_MS")
    rpd.start()
    st, d = wait_deploy(rpd, rg, "rp", r, timeout=60)
    assert st["status"] == "Succeeded", (st, d)
    assert d["properties"]["outputs"]["pointState"]["value"] == "Succeeded"
    assert get_rp(rpd, rg, "rpc1", "rp1")["properties"]["provisioningState"] == "Succeeded"
    assert "deployment '%s' resumed" % dep_path(rg, "rp").replace("resourcegroups",
                                                                  "resourceGroups") in rpd.log()


def test_cancel_stops_a_running_deployment(rpd, monkeypatch):
    rg, _, r = held_deployment(rpd, monkeypatch, 5000)
    c = rpd.req("POST", dep_path(rg, "rp") + "/cancel", RG_API)
    assert c.status_code == 204, c.text
    st, d = wait_deploy(rpd, rg, "rp", r, timeout=30)
    assert st["status"] == "Canceled", st
    assert st["error"]["code"] == "DeploymentCanceled"
    assert d["properties"]["provisioningState"] == "Canceled"
    err(rpd.req("POST", dep_path(rg, "rp") + "/cancel", RG_API), 409,
        "DeploymentCannotBeCancelled")
    assert rpd.req("DELETE", dep_path(rg, "rp"), RG_API).status_code == 202


def test_group_delete_removes_its_deployments_and_ends_a_running_one(rpd, monkeypatch):
    rg = new_name("rg")
    make_group(rpd, rg)
    empty = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                        "deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": []}
    deploy(rpd, rg, "e", empty)
    src = rpd.req("PUT", disk_path(rg, "src"), DISK_API, {"location": "westus", "properties": {
        "creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
    assert src.status_code == 200, src.text
    # two copies one after the other in westus, each held back 3 s by the hook: the group's
    # deletion (on eastus's worker) comes while the second one waits
    copy = {"creationData": {"createOption": "Copy", "sourceResourceId": src.json()["id"]}}
    tpl = dict(empty, resources=[
        {"type": "Microsoft.Compute/disks", "apiVersion": "2022-07-02", "name": "c1",
         "location": "westus", "properties": copy},
        {"type": "Microsoft.Compute/disks", "apiVersion": "2022-07-02", "name": "c2",
         "location": "westus", "properties": copy, "dependsOn": ["c1"]}])
    rpd.stop()
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", "3000")
    rpd.start()
    running = start_deploy(rpd, rg, "copies", tpl)
    assert running.status_code == 201, running.text
    time.sleep(0.5)
    r = rpd.req("DELETE", "/subscriptions/%s/resourcegroups/%s" % (SUB, rg), RG_API)
    assert r.status_code == 202
    assert rpd.wait_lro(r, timeout=60)["status"] == "Succeeded"
    # the deployment's operation ends: Canceled when the group went first, Failed when the
    # second copy was refused while the group was being deleted (which one depends on the
    # poll times)
    st = rpd.wait_lro(running)
    if st["status"] == "Canceled":
        assert st["error"]["code"] == "DeploymentCanceled", st
        # the executor finds its deployment gone and leaves it so
        assert wait_log(rpd, "was deleted or replaced while it ran", timeout=30), rpd.log()
    else:
        assert st["status"] == "Failed", st
        assert [d["code"] for d in st["error"]["details"]] == ["ResourceGroupBeingDeleted"], st
    make_group(rpd, rg)
    r = rpd.req("GET", dep_path(rg), RG_API)
    assert r.status_code == 200 and r.json()["value"] == [], r.text


# ---------------------------------------------------------------- rpctl

def rpctl(rpd, *args, check=True):
    p = subprocess.run([RPCTL_BIN] + list(args) + ["--data", rpd.data, "--subscription", SUB],
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p


def test_rpctl_deployment_create_shows_progress_and_show_list_operations_delete(rpd, tmp_path):
    rg = new_name("rg")
    vm_id, _ = source_vm(rpd, rg)
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-01-01/"
                   "deploymentParameters.json#",
        "contentVersion": "1.0.0.0", "parameters": {"vmId": {"value": vm_id}}}))
    tfile = os.path.join(HERE, "templates", "rp-from-vm.json")
    p = rpctl(rpd, "deployment", "create", "-g", rg, "--template-file", tfile,
              "--parameters", "@" + str(pfile), "pointName=cli1")
    d = json.loads(p.stdout)
    assert d["name"] == "rp-from-vm" and d["properties"]["provisioningState"] == "Succeeded"
    lines = p.stderr.splitlines()
    assert any("restorePointCollections 'rpc1': Succeeded" in x for x in lines), p.stderr
    assert any("restorePoints 'rpc1/cli1': Succeeded" in x for x in lines), p.stderr
    assert get_rp(rpd, rg, "rpc1", "cli1")["properties"]["provisioningState"] == "Succeeded"
    p = rpctl(rpd, "deployment", "show", "-g", rg, "-n", "rp-from-vm", "-o", "tsv")
    assert "Succeeded" in p.stdout
    p = rpctl(rpd, "deployment", "list", "-g", rg, "-o", "table")
    assert "rp-from-vm" in p.stdout and "Incremental" in p.stdout
    p = rpctl(rpd, "deployment", "operation", "list", "-g", rg, "-n", "rp-from-vm")
    assert sorted(o["properties"]["targetResource"]["resourceName"]
                  for o in json.loads(p.stdout)) == ["rpc1", "rpc1/cli1"]
    # a bad template: the error, exit 1, nothing deployed
    p = rpctl(rpd, "deployment", "create", "-g", rg, "-n", "bad", "--template-file", tfile,
              "--mode", "Complete", check=False)
    assert p.returncode == 1 and "(UnsupportedDeploymentMode)" in p.stderr, p.stderr
    p = rpctl(rpd, "deployment", "create", "-g", rg, "-n", "fails", "--template-file", tfile,
              "-p", "vmId=" + vm_path(rg, "missing"), "collectionName=other", check=False)
    assert p.returncode == 1 and "(DeploymentFailed)" in p.stderr, p.stderr
    assert "(ResourceNotFound)" in p.stderr, p.stderr
    rpctl(rpd, "deployment", "delete", "-g", rg, "-n", "rp-from-vm")
    p = rpctl(rpd, "deployment", "show", "-g", rg, "-n", "rp-from-vm", check=False)
    assert p.returncode == 1 and "(DeploymentNotFound)" in p.stderr


# ---------------------------------------------------------------- two hosts

def test_two_hosts__template_on_host_a_deploys_into_host_bs_region(tmp_path):
    """eastus on host A, westus on host B: a deployment sent to A puts a collection and a
    point of A's VM in westus; the executor's PUTs are forwarded to B like a client's, and it
    follows B's operations through A."""
    from hosts_common import Hosts

    h = Hosts(tmp_path)
    try:
        a, b = h.a, h.b
        rg = "twohosts"
        vm_id, images = source_vm(a, rg)
        d = deploy(a, rg, "west", template("rp-cross-region-from-vm.json"),
                   params(vmId=vm_id, collectionName="w", pointName="p"), timeout=180)
        p = d["properties"]["outputs"]["restorePointId"]["value"]
        # B holds them (read on B directly), and A forwards reads
        coll = b.req("GET", rpc_path(rg, "w"), COMPUTE_API).json()
        assert coll["location"] == "westus", coll
        v = wait_replicated(a, p, timeout=180)
        assert v["properties"]["sourceMetadata"]["location"] == "eastus"
        drps = drps_by_disk(a, p)
        deploy(a, rg, "west-disks", template("disk-from-restore-point.json"),
               params(diskRestorePointIds=[drps["osd"], drps["data"]], diskPrefix="w",
                      location="westus"), timeout=180)
        for i, n in enumerate(["osd", "data"]):
            assert b.req("GET", disk_path(rg, "w%d" % i), DISK_API).json()["location"] == "westus"
            assert sha(read_disk(b, rg, "w%d" % i)) == sha(images[n]), n
    finally:
        h.stop()
    h.logs_clean()
