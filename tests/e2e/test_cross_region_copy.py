"""Copying a restore point to another region (the successor API) in one process: a collection
in westus whose source is a collection in eastus, a restore point with sourceRestorePoint.id;
replication progress in the instance view; restore in westus; copy of a copy; rules."""
import os
import time

import requests

from conftest import COMPUTE_API, DISK_API, RG_API, SUB, disk_path, rg_path, vm_path
from rp_common import wait_replicated

MIB = 1 << 20
MC = "/subscriptions/%s/resourceGroups/%%s/providers/Microsoft.Compute" % SUB


def auth(rpd):
    return {"Authorization": "Bearer " + rpd.token()}


def sas_of(rpd, path, access):
    r = rpd.req("POST", path + "/beginGetAccess", DISK_API, {"access": access, "durationInSeconds": 600})
    assert r.status_code == 202, r.text
    assert rpd.wait_lro(r)["status"] == "Succeeded"
    return requests.get(r.headers["Location"], headers=auth(rpd), verify=rpd.ca).json()["accessSAS"]


def source_vm(rpd, rg, data):
    assert rpd.req("PUT", rg_path(rg), RG_API, {"location": "eastus"}).status_code == 201
    d = rpd.req("PUT", disk_path(rg, "os"), DISK_API, {"location": "eastus", "properties": {
        "creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
    assert d.status_code == 200, d.text
    sas = sas_of(rpd, disk_path(rg, "os"), "Write")
    for i in range(0, len(data), 4 * MIB):
        r = requests.put(sas + "&comp=page", data=data[i:i + 4 * MIB], verify=rpd.ca, headers={
            "x-ms-range": "bytes=%d-%d" % (16 * MIB + i, 16 * MIB + i + 4 * MIB - 1),
            "x-ms-page-write": "update"})
        assert r.status_code == 201, r.text
    vm = rpd.req("PUT", vm_path(rg, "vm"), COMPUTE_API, {"location": "eastus", "properties": {
        "storageProfile": {"osDisk": {"createOption": "Attach", "managedDisk": {"id": d.json()["id"]}}}}})
    assert vm.status_code == 201, vm.text
    return vm.json()["id"], sas


def put_rpc(rpd, rg, name, location, source):
    r = rpd.req("PUT", (MC % rg) + "/restorePointCollections/" + name, COMPUTE_API,
                {"location": location, "properties": {"source": {"id": source}}})
    assert r.status_code == 201, r.text
    return r.json()


def put_rp(rpd, rg, rpc, name, body=None):
    r = rpd.req("PUT", (MC % rg) + "/restorePointCollections/%s/restorePoints/%s" % (rpc, name),
                COMPUTE_API, body or {})
    assert r.status_code == 201, r.text
    assert r.headers["Azure-AsyncOperation"] and r.headers["Location"]
    assert rpd.wait_lro(r)["status"] == "Succeeded"
    return r.json()["id"]




def test_copy__restore_point_copied_to_westus_restores_there_byte_for_byte(rpd):
    data = os.urandom(8 * MIB)
    vm_id, _ = source_vm(rpd, "xr", data)
    src = put_rpc(rpd, "xr", "src", "eastus", vm_id)
    p1 = put_rp(rpd, "xr", "src", "p1")
    dst = put_rpc(rpd, "xr", "dst", "westus", src["id"])
    assert dst["properties"]["source"] == {"id": src["id"], "location": "eastus"}
    c1 = put_rp(rpd, "xr", "dst", "c1", {"properties": {"sourceRestorePoint": {"id": p1}}})
    v, code, seen = wait_replicated(rpd, c1)
    assert code == "ReplicationState/succeeded", v
    assert seen[-1] == 100 and seen == sorted(seen)
    p = v["properties"]
    assert p["provisioningState"] == "Succeeded"
    assert p["sourceRestorePoint"]["id"] == p1
    assert p["sourceMetadata"]["location"] == "eastus"
    drp_id = p["instanceView"]["diskRestorePoints"][0]["id"]
    assert drp_id.startswith(c1 + "/diskRestorePoints/")
    assert p["sourceMetadata"]["storageProfile"]["osDisk"]["diskRestorePoint"]["id"] == drp_id
    drp = rpd.req("GET", drp_id, DISK_API).json()["properties"]
    assert drp["sourceResourceLocation"] == "eastus"
    assert drp["sourceResourceId"].startswith(p1 + "/diskRestorePoints/")
    assert drp["replicationState"] == "Succeeded" and drp["completionPercent"] == 100
    assert drp["encryption"]["type"] == "EncryptionAtRestWithPlatformKey"
    # restore in westus, and the bytes are the source's
    r = rpd.req("PUT", disk_path("xr", "restored"), DISK_API, {"location": "westus", "properties": {
        "creationData": {"createOption": "Restore", "sourceResourceId": drp_id}}})
    assert r.status_code == 202, r.text
    assert rpd.wait_lro(r)["status"] == "Succeeded"
    sas = sas_of(rpd, disk_path("xr", "restored"), "Read")
    assert "/data/westus/" in sas
    got = requests.get(sas, headers={"Range": "bytes=%d-%d" % (16 * MIB, 24 * MIB - 1)}, verify=rpd.ca).content
    assert got == data
    # the SDK reads the copy too
    _, cc = rpd.sdk()
    rp = cc.restore_points.get("xr", "dst", "c1", expand="instanceView")
    assert rp.source_restore_point.id == p1
    assert rp.instance_view.disk_restore_points[0].replication_status.completion_percent == 100


def test_copy__a_copy_can_be_copied_again_and_an_unchanged_copy_moves_nothing_new(rpd):
    data = os.urandom(4 * MIB)
    vm_id, _ = source_vm(rpd, "xr2", data)
    src = put_rpc(rpd, "xr2", "src", "eastus", vm_id)
    p1 = put_rp(rpd, "xr2", "src", "p1")
    west = put_rpc(rpd, "xr2", "west", "westus", src["id"])
    c1 = put_rp(rpd, "xr2", "west", "c1", {"properties": {"sourceRestorePoint": {"id": p1}}})
    assert wait_replicated(rpd, c1)[1] == "ReplicationState/succeeded"
    # back to eastus, from the copy: everything is already there (content addressing)
    east = put_rpc(rpd, "xr2", "east", "eastus", west["id"])
    c2 = put_rp(rpd, "xr2", "east", "c2", {"properties": {"sourceRestorePoint": {"id": c1}}})
    assert wait_replicated(rpd, c2)[1] == "ReplicationState/succeeded"
    # a second copy of the same point into westus
    c3 = put_rp(rpd, "xr2", "west", "c3", {"properties": {"sourceRestorePoint": {"id": p1}}})
    assert wait_replicated(rpd, c3)[1] == "ReplicationState/succeeded"


def test_copy__rules(rpd):
    vm_id, _ = source_vm(rpd, "xr3", os.urandom(4 * MIB))
    src = put_rpc(rpd, "xr3", "src", "eastus", vm_id)
    p1 = put_rp(rpd, "xr3", "src", "p1")
    dst = put_rpc(rpd, "xr3", "dst", "westus", src["id"])
    base = (MC % "xr3") + "/restorePointCollections/"
    # a copy collection needs sourceRestorePoint; a VM collection refuses it
    r = rpd.req("PUT", base + "dst/restorePoints/x", COMPUTE_API, {})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidParameter"
    r = rpd.req("PUT", base + "src/restorePoints/x", COMPUTE_API,
                {"properties": {"sourceRestorePoint": {"id": p1}}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidParameter"
    # unknown source point; a point of another collection
    r = rpd.req("PUT", base + "dst/restorePoints/x", COMPUTE_API,
                {"properties": {"sourceRestorePoint": {"id": src["id"] + "/restorePoints/nope"}}})
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    other = put_rpc(rpd, "xr3", "other", "eastus", vm_id)
    p2 = put_rp(rpd, "xr3", "other", "p2")
    r = rpd.req("PUT", base + "dst/restorePoints/x", COMPUTE_API,
                {"properties": {"sourceRestorePoint": {"id": p2}}})
    assert r.status_code == 400 and r.json()["error"]["target"] == "properties.sourceRestorePoint.id"
    # unknown source collection
    r = rpd.req("PUT", base + "dst2", COMPUTE_API, {"location": "westus", "properties": {
        "source": {"id": base + "nope"}}})
    assert r.status_code == 404
    # deleting the copy removes it; the source stays restorable
    c1 = put_rp(rpd, "xr3", "dst", "c1", {"properties": {"sourceRestorePoint": {"id": p1}}})
    wait_replicated(rpd, c1)
    r = rpd.req("DELETE", c1, COMPUTE_API)
    assert r.status_code == 202 and rpd.wait_lro(r)["status"] == "Succeeded"
    assert rpd.req("GET", c1, COMPUTE_API).status_code == 404
    assert rpd.req("GET", p1, COMPUTE_API).json()["properties"]["provisioningState"] == "Succeeded"


def test_copy__kill_9_during_the_copy_then_restart_ends_with_a_complete_correct_copy(rpd):
    """kill -9 as soon as the copy reports progress (on a fast machine it may be done by
    then): after the restart the copy resumes from its saved cursor and completes."""
    data = os.urandom(64 * MIB)
    vm_id, _ = source_vm(rpd, "xr4", data[:4 * MIB])
    # more data on the disk so that the copy takes a while
    sas = sas_of(rpd, disk_path("xr4", "os"), "Write")
    for i in range(0, len(data), 4 * MIB):
        r = requests.put(sas + "&comp=page", data=data[i:i + 4 * MIB], verify=rpd.ca, headers={
            "x-ms-range": "bytes=%d-%d" % (128 * MIB + i, 128 * MIB + i + 4 * MIB - 1),
            "x-ms-page-write": "update"})
        assert r.status_code == 201, r.text
    src = put_rpc(rpd, "xr4", "src", "eastus", vm_id)
    p1 = put_rp(rpd, "xr4", "src", "p1")
    put_rpc(rpd, "xr4", "dst", "westus", src["id"])
    c1 = put_rp(rpd, "xr4", "dst", "c1", {"properties": {"sourceRestorePoint": {"id": p1}}})
    # kill as soon as the copy has started (or finished, on a fast machine)
    deadline = time.time() + 30
    while time.time() < deadline:
        v = rpd.req("GET", c1, COMPUTE_API, params={"$expand": "instanceView"}).json()
        pct = v["properties"]["instanceView"]["diskRestorePoints"][0]["replicationStatus"]["completionPercent"]
        if pct > 0:
            break
    rpd.kill9()
    rpd.start()
    v, code, _ = wait_replicated(rpd, c1, timeout=120)
    assert code == "ReplicationState/succeeded", v
    drp_id = v["properties"]["instanceView"]["diskRestorePoints"][0]["id"]
    r = rpd.req("PUT", disk_path("xr4", "restored"), DISK_API, {"location": "westus", "properties": {
        "creationData": {"createOption": "Restore", "sourceResourceId": drp_id}}})
    assert r.status_code == 202, r.text
    assert rpd.wait_lro(r, timeout=120)["status"] == "Succeeded"
    rsas = sas_of(rpd, disk_path("xr4", "restored"), "Read")
    got = requests.get(rsas, headers={"Range": "bytes=%d-%d" % (128 * MIB, 192 * MIB - 1)}, verify=rpd.ca).content
    assert got == data
