"""Multi-host mode: two rpd processes, eastus on host A and westus on host B, peers of each
other. A client talks to either endpoint: what belongs to the other region is forwarded.
Both cross-region flows through the Azure SDK for Python bound to host A only; restore of
disks and a VM in westus; then region loss: host A stops for good and host B still lists,
reads (SAS) and restores everything, byte for byte."""
import time

import pytest
import requests
from azure.mgmt.compute import models as cm

from conftest import COMPUTE_API, DISK_API, RG_API, disk_path, rg_path, vm_path
from hosts_common import Hosts
from rp_common import (CHUNK, MIB, err, grant, make_vm, put_pages, rand, read_all, revoke,
                       restore_read, rp_path, rpc_path, session, sha, upload_disk, wait_op,
                       wait_replicated)

SIZE = 24 * MIB


@pytest.fixture
def hosts(tmp_path):
    h = Hosts(tmp_path)
    yield h
    h.stop()
    h.logs_clean()






def source_vm(a, rg):
    r = a.req("PUT", rg_path(rg), RG_API, {"location": "eastus"})
    assert r.status_code == 201, r.text
    osd = upload_disk(a, rg, "osd", SIZE, [(0, rand(3 * MIB, 1)), (20 * MIB, rand(MIB, 2))],
                      os_type="Linux")
    data0 = upload_disk(a, rg, "data0", SIZE, [(MIB, rand(5 * MIB, 3))])
    images = {}
    for n in ("osd", "data0"):
        sas = grant(a, rg, n, "Read")
        images[n] = read_all(session(a), sas)
        revoke(a, rg, n)
    vm = make_vm(a, rg, "vm", osd, [data0])
    return vm["id"], {"osd": osd, "data0": data0}, images


def test_two_hosts__both_flows_through_one_endpoint_then_region_loss(hosts):
    a, b = hosts.a, hosts.b
    rg = "dr"
    vm_id, ids, images = source_vm(a, rg)
    # the group exists on B too (group writes go to every host)
    assert b.req("GET", rg_path(rg), RG_API).status_code == 200
    _, cmp = a.sdk()

    # flow 1: a collection in westus (on B) whose source is the VM in eastus (on A)
    coll = cmp.restore_point_collections.create_or_update(
        rg, "west", cm.RestorePointCollection(
            location="westus", source=cm.RestorePointCollectionSourceProperties(id=vm_id)))
    assert coll.location == "westus" and coll.source.location == "eastus"
    assert b.req("GET", rpc_path(rg, "west"), COMPUTE_API).status_code == 200
    rp1 = cmp.restore_points.begin_create(rg, "west", "rp1", cm.RestorePoint()).result()
    assert rp1.provisioning_state == "Succeeded"
    v, code, seen = wait_replicated(a, rp1.id)
    assert code == "ReplicationState/succeeded", v
    assert seen[-1] == 100
    assert v["properties"]["sourceMetadata"]["location"] == "eastus"
    sp = v["properties"]["sourceMetadata"]["storageProfile"]
    drp1 = {"osd": sp["osDisk"]["diskRestorePoint"]["id"],
            "data0": sp["dataDisks"][0]["diskRestorePoint"]["id"]}

    # the VM writes on; flow 2: a point in eastus copied to a westus collection of copies
    s = session(a)
    sas = grant(a, rg, "data0", "Write")
    change = rand(CHUNK, 9)
    put_pages(s, sas, 12 * MIB, change)
    revoke(a, rg, "data0")
    images2 = dict(images)
    images2["data0"] = images["data0"][:12 * MIB] + change + images["data0"][12 * MIB + CHUNK:]
    east = cmp.restore_point_collections.create_or_update(
        rg, "east", cm.RestorePointCollection(
            location="eastus", source=cm.RestorePointCollectionSourceProperties(id=vm_id)))
    p2 = cmp.restore_points.begin_create(rg, "east", "p2", cm.RestorePoint()).result()
    copies = cmp.restore_point_collections.create_or_update(
        rg, "copies", cm.RestorePointCollection(
            location="westus", source=cm.RestorePointCollectionSourceProperties(id=east.id)))
    assert copies.source.location == "eastus"
    c2 = cmp.restore_points.begin_create(
        rg, "copies", "c2",
        cm.RestorePoint(source_restore_point=cm.ApiEntityReference(id=p2.id))).result()
    v2, code, seen = wait_replicated(a, c2.id)
    assert code == "ReplicationState/succeeded", v2
    sp = v2["properties"]["sourceMetadata"]["storageProfile"]
    drp2 = {"osd": sp["osDisk"]["diskRestorePoint"]["id"],
            "data0": sp["dataDisks"][0]["diskRestorePoint"]["id"]}

    # a list through A holds both hosts' collections
    names = sorted(c.name for c in cmp.restore_point_collections.list(rg))
    assert names == ["copies", "east", "west"], names

    # restore through A in westus: the bytes of the source at each cut
    for n in ("osd", "data0"):
        assert sha(restore_read(a, rg, n + "-r1", drp1[n])) == sha(images[n]), n

    # region loss: host A stops for good
    hosts.a.stop()
    _, bcmp = b.sdk()
    got = bcmp.restore_point_collections.get(rg, "west", expand="restorePoints")
    assert [p.name for p in got.restore_points] == ["rp1"]
    assert bcmp.restore_points.get(rg, "copies", "c2").provisioning_state == "Succeeded"
    # a disk restore point read through its SAS
    r = b.req("POST", drp2["data0"] + "/beginGetAccess", DISK_API,
              {"access": "Read", "durationInSeconds": 600})
    assert r.status_code == 202, r.text
    st = wait_op(b, r)
    sas = requests.get(r.headers["Location"], headers={"Authorization": "Bearer " + b.token()},
                       verify=b.ca).json()["accessSAS"]
    assert "127.0.0.1:%d" % hosts.pb in sas
    assert sha(read_all(session(b), sas)) == sha(images2["data0"])
    assert st["status"] == "Succeeded"
    r = b.req("POST", drp2["data0"] + "/endGetAccess", DISK_API)
    assert r.status_code in (200, 202)
    # restore disks and a VM on B alone
    for n in ("osd", "data0"):
        assert sha(restore_read(b, rg, n + "-r2", drp2[n])) == sha(images2[n]), n
    r = b.req("PUT", vm_path(rg, "vm-west"), COMPUTE_API, {"location": "westus", "properties": {
        "storageProfile": {
            "osDisk": {"createOption": "Attach", "osType": "Linux",
                       "managedDisk": {"id": disk_path(rg, "osd-r2")}},
            "dataDisks": [{"lun": 0, "createOption": "Attach",
                           "managedDisk": {"id": disk_path(rg, "data0-r2")}}]}}})
    assert r.status_code in (200, 201), r.text
    # a new point from the lost region's VM is refused clearly
    r = b.req("PUT", rp_path(rg, "west", "rp3"), COMPUTE_API, {})
    err(r, 503, "ServiceUnavailable")


def test_two_hosts__errors_cross_the_link(hosts):
    a, b = hosts.a, hosts.b
    rg = "e"
    vm_id, _, _ = source_vm(a, rg)
    # a VM that does not exist, asked through B
    r = b.req("PUT", rpc_path(rg, "x"), COMPUTE_API, {"location": "westus", "properties": {
        "source": {"id": vm_id + "nope"}}})
    err(r, 404, "ResourceNotFound")
    # through A, forwarded to B, B asks A: the answer is B's
    r = a.req("PUT", rpc_path(rg, "w"), COMPUTE_API, {"location": "westus", "properties": {
        "source": {"id": vm_id}}})
    assert r.status_code == 201, r.text
    r = a.req("PUT", rpc_path(rg, "w"), COMPUTE_API, {"location": "westus", "properties": {
        "source": {"id": vm_id}}})
    assert r.status_code == 200, r.text
    # a list through A holds every disk of B too, across B's own pages (100 per page)
    for i in range(105):
        r = b.req("PUT", disk_path(rg, "w%03d" % i), DISK_API, {"location": "westus", "properties": {
            "creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
        assert r.status_code in (200, 202), r.text
    _, acmp = a.sdk()
    names = [d.name for d in acmp.disks.list_by_resource_group(rg)]
    assert sorted(n for n in names if n.startswith("w")) == ["w%03d" % i for i in range(105)]
    assert {"osd", "data0"} <= set(names) and len(names) == len(set(names))
    # unknown resources are 404 from either endpoint
    for h in (a, b):
        err(h.req("GET", rpc_path(rg, "nope"), COMPUTE_API), 404, "ResourceNotFound")
    # the peer endpoints refuse requests without the pair key
    r = requests.post(a.url + "/peer/v1/source/vm.get", json={"id": vm_id}, verify=a.ca)
    assert r.status_code == 401
    r = requests.post(a.url + "/peer/v1/source/vm.get", json={"id": vm_id}, verify=a.ca,
                      headers={"x-rpd-region": "westus", "x-rpd-date": str(int(time.time())),
                               "x-rpd-nonce": "0" * 32, "x-rpd-signature": "0" * 64})
    assert r.status_code == 401
