"""Restore points created in westus from a VM in eastus (the seed API, flow 1), on the
embedded default (one process hosting both regions): eastus cuts the VM and holds what it
captured, westus pulls it, eastus lets it go; progress in the instance view; restore of disks
and a VM in westus, byte for byte; incremental second point; the one-creation-at-a-time rule
across regions; nothing left in eastus after the copy or after a delete."""
import os
import time

from azure.mgmt.compute import models as cm

from conftest import COMPUTE_API, DISK_API, SUB, Rpd, disk_path, vm_path
from rp_common import (CHUNK, MIB, err, grant, make_group, make_vm, put_pages, rand,
                       read_disk, revoke, rp_path, rpc_path, session, sha, upload_disk, wait_op)

SIZE = 24 * MIB


def region_packs(rpd, region):
    d = os.path.join(rpd.data, "regions", region, "chunks", "packs")
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
               if f.endswith(".pack")) if os.path.isdir(d) else 0


def region_manifests(rpd, region):
    d = os.path.join(rpd.data, "regions", region, "manifests")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def source_vm(rpd, rg, seed):
    make_group(rpd, rg)
    images = {"osd": bytearray(SIZE), "data0": bytearray(SIZE)}
    parts = {"osd": [(0, rand(3 * MIB, seed)), (20 * MIB, rand(MIB, seed + 1))],
             "data0": [(MIB, rand(5 * MIB, seed + 2))]}
    ids = {}
    for name, ps in parts.items():
        ids[name] = upload_disk(rpd, rg, name, SIZE, ps, os_type="Linux" if name == "osd" else None)
        for off, b in ps:
            images[name][off:off + len(b)] = b
    vm = make_vm(rpd, rg, "vm", ids["osd"], [ids["data0"]])
    return vm["id"], ids, images


def wait_replicated(rpd, rp_id, timeout=90):
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = rpd.req("GET", rp_id, COMPUTE_API, params={"$expand": "instanceView"}).json()
        iv = v["properties"]["instanceView"]
        for d in iv["diskRestorePoints"]:
            pct = d["replicationStatus"]["completionPercent"]
            assert isinstance(pct, int) and 0 <= pct <= 100, d
            seen.append(pct)
        code = iv["statuses"][0]["code"]
        if code != "ReplicationState/inProgress":
            return v, code, seen
        time.sleep(0.05)
    raise AssertionError("copy did not finish")


def wait_released(rpd, region="eastus", timeout=30):
    """The holds of @region are gone: only baseline manifests (chunk ids, no data) stay."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        left = [m for m in region_manifests(rpd, region) if not m.startswith("baseline-")]
        if not left:
            return
        time.sleep(0.1)
    raise AssertionError("holds not released: %s" % left)


def restore_in_west(rpd, rg, name, drp_id):
    r = rpd.req("PUT", disk_path(rg, name), DISK_API, {"location": "westus", "properties": {
        "creationData": {"createOption": "Restore", "sourceResourceId": drp_id}}})
    assert r.status_code == 202, r.text
    assert wait_op(rpd, r, 90)["status"] == "Succeeded"
    return read_disk(rpd, rg, name)


def test_flow1__sdk_creates_in_westus_from_an_eastus_vm_restores_disks_and_vm(rpd):
    rg = "dr"
    vm_id, ids, images = source_vm(rpd, rg, 100)
    _, cmp = rpd.sdk()
    cm_ = cmp.restore_point_collections.create_or_update(
        rg, "west", cm.RestorePointCollection(
            location="westus", source=cm.RestorePointCollectionSourceProperties(id=vm_id)))
    assert cm_.location == "westus"
    assert cm_.source.id.lower() == vm_id.lower() and cm_.source.location == "eastus"

    poller = cmp.restore_points.begin_create(rg, "west", "rp1", cm.RestorePoint())
    rp = poller.result()
    assert rp.provisioning_state == "Succeeded"
    v, code, seen = wait_replicated(rpd, rp.id)
    assert code == "ReplicationState/succeeded", v
    assert seen[-1] == 100
    p = v["properties"]
    assert p["sourceMetadata"]["location"] == "eastus"
    assert "sourceRestorePoint" not in p
    drps = {}
    sp = p["sourceMetadata"]["storageProfile"]
    for d in [sp["osDisk"]] + sp["dataDisks"]:
        assert d["diskRestorePoint"]["id"].startswith(rp.id + "/diskRestorePoints/"), d
        drps[d["managedDisk"]["id"].lower()] = d["diskRestorePoint"]["id"]
    assert len(drps) == 2
    for disk, drp_id in drps.items():
        dp = rpd.req("GET", drp_id, DISK_API).json()["properties"]
        assert dp["sourceResourceLocation"] == "eastus"
        assert dp["sourceResourceId"].lower() == disk
        assert dp["replicationState"] == "Succeeded" and dp["completionPercent"] == 100
    # the SDK sees the replication status
    got = cmp.restore_points.get(rg, "west", "rp1", expand="instanceView")
    assert all(d.replication_status.completion_percent == 100
               for d in got.instance_view.disk_restore_points)

    # eastus let its hold go: no manifest but the baselines, no stored chunk
    wait_released(rpd)
    deadline = time.time() + 20
    while region_packs(rpd, "eastus") and time.time() < deadline:
        time.sleep(0.1)
    assert region_packs(rpd, "eastus") == 0

    # restore both disks in westus: bytes of the source at the cut
    for name in ("osd", "data0"):
        got = restore_in_west(rpd, rg, name + "-r1", drps[ids[name].lower()])
        assert sha(got) == sha(images[name]), name

    # the VM writes on; a second point is incremental: few chunks move to westus
    s = session(rpd)
    change = rand(CHUNK, 7)
    sas = grant(rpd, rg, "data0", "Write")
    put_pages(s, sas, 12 * MIB, change)
    revoke(rpd, rg, "data0")
    images["data0"][12 * MIB:12 * MIB + CHUNK] = change
    west_before = region_packs(rpd, "westus")
    rp2 = cmp.restore_points.begin_create(rg, "west", "rp2", cm.RestorePoint()).result()
    v, code, _ = wait_replicated(rpd, rp2.id)
    assert code == "ReplicationState/succeeded", v
    grew = region_packs(rpd, "westus") - west_before
    assert grew <= 2 * CHUNK + 64 * 1024, grew
    wait_released(rpd)

    # a VM restored in westus from rp2's disks
    sp = v["properties"]["sourceMetadata"]["storageProfile"]
    os_drp, data_drp = sp["osDisk"]["diskRestorePoint"]["id"], sp["dataDisks"][0]["diskRestorePoint"]["id"]
    assert sha(restore_in_west(rpd, rg, "osd-r2", os_drp)) == sha(images["osd"])
    assert sha(restore_in_west(rpd, rg, "data0-r2", data_drp)) == sha(images["data0"])
    r = rpd.req("PUT", vm_path(rg, "vm-west"), COMPUTE_API, {"location": "westus", "properties": {
        "storageProfile": {
            "osDisk": {"createOption": "Attach", "osType": "Linux",
                       "managedDisk": {"id": disk_path(rg, "osd-r2")}},
            "dataDisks": [{"lun": 0, "createOption": "Attach",
                           "managedDisk": {"id": disk_path(rg, "data0-r2")}}]}}})
    assert r.status_code in (200, 201), r.text
    vm = rpd.req("GET", vm_path(rg, "vm-west"), COMPUTE_API).json()
    assert vm["location"] == "westus"


def test_flow1__rules_and_cleanup(rpd):
    rg = "dr2"
    vm_id, ids, _ = source_vm(rpd, rg, 200)
    # a VM that does not exist
    r = rpd.req("PUT", rpc_path(rg, "bad"), COMPUTE_API, {"location": "westus", "properties": {
        "source": {"id": vm_id + "x"}}})
    err(r, 404, "ResourceNotFound")
    r = rpd.req("PUT", rpc_path(rg, "west"), COMPUTE_API, {"location": "westus", "properties": {
        "source": {"id": vm_id}}})
    assert r.status_code == 201 and r.json()["properties"]["source"]["location"] == "eastus"
    # 200 on update (tags only)
    r = rpd.req("PUT", rpc_path(rg, "west"), COMPUTE_API, {"location": "westus", "tags": {"a": "b"},
                                                            "properties": {"source": {"id": vm_id}}})
    assert r.status_code == 200, r.text
    # sourceRestorePoint is for copy collections only
    r = rpd.req("PUT", rp_path(rg, "west", "x"), COMPUTE_API,
                {"properties": {"sourceRestorePoint": {"id": rp_path(rg, "west", "y")}}})
    err(r, 400, "InvalidParameter")
    # excludeDisks: only the OS disk travels
    r = rpd.req("PUT", rp_path(rg, "west", "p1"), COMPUTE_API,
                {"properties": {"excludeDisks": [{"id": ids["data0"]}]}})
    assert r.status_code == 201, r.text
    assert r.headers["Azure-AsyncOperation"] and r.headers["Location"]
    assert r.headers["Retry-After"] == "1"
    assert r.json()["properties"]["provisioningState"] == "Creating"
    assert wait_op(rpd, r)["status"] == "Succeeded"
    v, code, _ = wait_replicated(rpd, r.json()["id"])
    assert code == "ReplicationState/succeeded"
    assert len(v["properties"]["instanceView"]["diskRestorePoints"]) == 1
    wait_released(rpd)

    # deleting a point while it copies frees it in both regions
    r = rpd.req("PUT", rp_path(rg, "west", "p2"), COMPUTE_API, {})
    assert r.status_code == 201, r.text
    d = rpd.req("DELETE", rp_path(rg, "west", "p2"), COMPUTE_API)
    assert d.status_code in (200, 202, 204), d.text
    if d.status_code == 202:
        assert wait_op(rpd, d)["status"] == "Succeeded"
    assert rpd.req("GET", rp_path(rg, "west", "p2"), COMPUTE_API).status_code == 404
    wait_released(rpd)
    # deleting the collection takes p1 along; eastus holds nothing
    d = rpd.req("DELETE", rpc_path(rg, "west"), COMPUTE_API)
    assert d.status_code in (200, 202), d.text
    if d.status_code == 202:
        assert wait_op(rpd, d)["status"] == "Succeeded"
    wait_released(rpd)
    assert region_packs(rpd, "eastus") == 0
    # and westus, whose only collection that was, keeps nothing either
    deadline = time.time() + 20
    while region_packs(rpd, "westus") and time.time() < deadline:
        time.sleep(0.1)
    assert region_packs(rpd, "westus") == 0
    assert not region_manifests(rpd, "westus")


def test_flow1__one_creation_at_a_time_across_regions(tmp_path, monkeypatch):
    """While eastus captures a hold for westus, a restore point of the VM in eastus (or another
    one from westus) is refused with Azure's 409; afterwards both work."""
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", "1500")
    rpd = Rpd(tmp_path / "data").start()
    try:
        rg = "dr3"
        vm_id, _, _ = source_vm(rpd, rg, 300)
        for name, loc in (("west", "westus"), ("east", "eastus")):
            r = rpd.req("PUT", rpc_path(rg, name), COMPUTE_API, {"location": loc, "properties": {
                "source": {"id": vm_id}}})
            assert r.status_code == 201, r.text
        first = rpd.req("PUT", rp_path(rg, "west", "a"), COMPUTE_API, {})
        assert first.status_code == 201, first.text
        msg = err(rpd.req("PUT", rp_path(rg, "east", "b"), COMPUTE_API, {}), 409,
                  "VMRestorePointClientError")
        assert "concurrent" in msg
        err(rpd.req("PUT", rp_path(rg, "west", "c"), COMPUTE_API, {}), 409,
            "VMRestorePointClientError")
        assert wait_op(rpd, first, 60)["status"] == "Succeeded"
        v, code, _ = wait_replicated(rpd, first.json()["id"])
        assert code == "ReplicationState/succeeded", v
        r = rpd.req("PUT", rp_path(rg, "east", "b"), COMPUTE_API, {})
        assert r.status_code == 201, r.text
        assert wait_op(rpd, r, 60)["status"] == "Succeeded"
    finally:
        rpd.stop()


def test_flow1__customer_key_disk_arrives_under_the_target_platform_key(rpd):
    rg = "cmk"
    make_group(rpd, rg)
    des = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/diskEncryptionSets/des1" % (
        SUB, rg)
    body = {"location": "eastus", "properties": {
        "creationData": {"createOption": "Empty"}, "diskSizeGB": 1,
        "encryption": {"type": "EncryptionAtRestWithCustomerKey"}}}
    # a customer key needs its disk encryption set; an unknown type is refused
    err(rpd.req("PUT", disk_path(rg, "d"), DISK_API, body), 400, "InvalidParameter")
    body["properties"]["encryption"]["type"] = "Rot13"
    err(rpd.req("PUT", disk_path(rg, "d"), DISK_API, body), 400, "InvalidParameter")
    body["properties"]["encryption"] = {"type": "EncryptionAtRestWithCustomerKey",
                                        "diskEncryptionSetId": des}
    r = rpd.req("PUT", disk_path(rg, "d"), DISK_API, body)
    assert r.status_code in (200, 202), r.text
    assert r.json()["properties"]["encryption"] == body["properties"]["encryption"]
    disk = r.json()["id"]
    vm = rpd.req("PUT", vm_path(rg, "vm"), COMPUTE_API, {"location": "eastus", "properties": {
        "storageProfile": {"osDisk": {"createOption": "Attach", "managedDisk": {"id": disk}}}}})
    assert vm.status_code == 201, vm.text
    for name, loc in (("east", "eastus"), ("west", "westus")):
        r = rpd.req("PUT", rpc_path(rg, name), COMPUTE_API, {"location": loc, "properties": {
            "source": {"id": vm.json()["id"]}}})
        assert r.status_code == 201, r.text
        r = rpd.req("PUT", rp_path(rg, name, "p"), COMPUTE_API, {})
        assert r.status_code == 201, r.text
        assert wait_op(rpd, r)["status"] == "Succeeded"
        v, code, _ = wait_replicated(rpd, r.json()["id"]) if loc == "westus" else (
            rpd.req("GET", r.json()["id"], COMPUTE_API, params={"$expand": "instanceView"}).json(),
            None, None)
        drp = v["properties"]["instanceView"]["diskRestorePoints"][0]["id"]
        enc = rpd.req("GET", drp, DISK_API).json()["properties"]["encryption"]
        if loc == "eastus":
            assert enc == {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": des}
        else:
            assert enc == {"type": "EncryptionAtRestWithPlatformKey"}


def test_flow1__copy_over_its_time_limit_fails_with_the_reason_and_is_unusable(tmp_path):
    """copy_time_limit = 1 s and a 1 MB/s limit from eastus: the copy cannot finish in time."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "rpd.conf").write_text(
        "[rpd]\ncopy_time_limit = 1\n\n[region eastus]\ndisplay_name = East US\n"
        "copy_bandwidth = 1\n\n[region westus]\ndisplay_name = West US\n")
    rpd = Rpd(data).start()
    try:
        rg = "tl"
        vm_id, _, _ = source_vm(rpd, rg, 400)
        r = rpd.req("PUT", rpc_path(rg, "west"), COMPUTE_API, {"location": "westus", "properties": {
            "source": {"id": vm_id}}})
        assert r.status_code == 201, r.text
        r = rpd.req("PUT", rp_path(rg, "west", "p"), COMPUTE_API, {})
        assert r.status_code == 201, r.text
        assert wait_op(rpd, r)["status"] == "Succeeded"   # the copy started
        v, code, _ = wait_replicated(rpd, r.json()["id"])
        assert code == "ReplicationState/failed", v
        st = v["properties"]["instanceView"]["statuses"][0]
        assert st["level"] == "Error" and "time limit" in st["message"].lower(), st
        drp = v["properties"]["instanceView"]["diskRestorePoints"][0]["id"]
        assert rpd.req("GET", drp, DISK_API).json()["properties"]["replicationState"] == "Failed"
        r = rpd.req("PUT", disk_path(rg, "r"), DISK_API, {"location": "westus", "properties": {
            "creationData": {"createOption": "Restore", "sourceResourceId": drp}}})
        err(r, 409, "OperationNotAllowed")
        wait_released(rpd)
    finally:
        rpd.stop()


def test_flow1__totals_count_what_each_copy_added_to_the_region(rpd):
    rg = "tot"
    vm_id, ids, _ = source_vm(rpd, rg, 500)
    r = rpd.req("PUT", rpc_path(rg, "west"), COMPUTE_API, {"location": "westus", "properties": {
        "source": {"id": vm_id}}})
    assert r.status_code == 201
    added = []
    for name in ("p1", "p2"):
        if name == "p2":
            s = session(rpd)
            sas = grant(rpd, rg, "data0", "Write")
            put_pages(s, sas, 2 * MIB, rand(CHUNK, 999))
            revoke(rpd, rg, "data0")
        r = rpd.req("PUT", rp_path(rg, "west", name), COMPUTE_API, {})
        assert r.status_code == 201, r.text
        assert wait_op(rpd, r)["status"] == "Succeeded"
        assert wait_replicated(rpd, r.json()["id"])[1] == "ReplicationState/succeeded"
        old = rpd.req("GET", rp_path(rg, "west", name), "2021-03-01").json()
        added.append(old["properties"]["provisioningDetails"]["totalUsedSizeInBytes"])
    # the first copy brought every allocated chunk (3 + 1 + 5 MiB of data), the second one
    assert 9 * MIB <= added[0] <= 9 * MIB + 2 * CHUNK, added
    assert added[1] == CHUNK, added
