"""Restore points in one region, edge cases against a real rpd: writes right after the cut
(copy-before-write keeps the point exact), concurrent creates for one VM, a DELETE while the
point is being created, a disk grown between points, and a group delete.
The main flows are in test_restore_points.py, the fault tests in
test_restore_points_faults.py."""
import os
import threading
import time

import pytest

from conftest import COMPUTE_API, DISK_API, disk_path, new_name
from rp_common import (CHUNK, MIB, MIN_UPLOAD, OLD_RP_API, allocated, create_rp, drp_of, err,
                       gc, get_rp, grant, image_of, log_size, make_group, make_rpc, make_vm,
                       put_pages, rand, read_disk, read_range, restore_disk, revoke, rp_path,
                       session, sha, start_rp, upload_disk, wait_log, wait_op)


# ---------------------------------------------------------------- copy-before-write

def clear_pages(s, sas, off, n):
    r = s.put(sas + "&comp=page", data=b"", timeout=60,
              headers={"x-ms-range": "bytes=%d-%d" % (off, off + n - 1),
                       "x-ms-page-write": "clear"})
    assert r.status_code == 201, (r.status_code, r.text)


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
def test_writes_after_the_cut_never_reach_the_point(rpd, incremental):
    """Right after the cut, the whole disk is overwritten (from its end, where the capture has
    not read yet) and partly cleared: the point still holds the bytes of the cut, exactly
    (copy-before-write), and the next point holds the new ones."""
    rg = new_name("rg")
    make_group(rpd, rg)
    size = 48 * MIB
    img = bytearray(rand(size, 90))
    osd = upload_disk(rpd, rg, "osd", size, [(0, bytes(img))], "Linux")
    vm = make_vm(rpd, rg, "vm", osd)
    make_rpc(rpd, rg, "coll", vm["id"])
    sas = grant(rpd, rg, "osd", "Write")
    s = session(rpd)
    if incremental:
        create_rp(rpd, rg, "coll", "base")
        for off in range(0, size, 2 * MIB):  # half of the chunks change
            b = rand(MIB, 91 + off)
            put_pages(s, sas, off, b)
            img[off:off + MIB] = b
    at_cut = sha(img)

    name_id = rp_path(rg, "coll", "p")
    mark = log_size(rpd)
    r = start_rp(rpd, rg, "coll", "p")
    assert r.status_code == 201, r.text
    assert wait_log(rpd, "restore point '%s': cut" % name_id, since=mark)
    piece = MIB  # small writes: several land while the capture reads
    for off in range(size - piece, -1, -piece):
        if off % (16 * MIB) == 0:
            clear_pages(s, sas, off, piece)
            img[off:off + piece] = bytes(piece)
        else:
            b = rand(piece, 95 + off)
            put_pages(s, sas, off, b)
            img[off:off + piece] = b
    st = wait_op(rpd, r)
    assert st["status"] == "Succeeded", st
    with open(rpd.log_path, "rb") as f:
        f.seek(mark)
        tail = f.read().decode(errors="replace")
    revoke(rpd, rg, "osd")

    p = get_rp(rpd, rg, "coll", "p")
    restore_disk(rpd, rg, "r", drp_of(p, osd))
    assert sha(read_disk(rpd, rg, "r")) == at_cut
    p2 = create_rp(rpd, rg, "coll", "p2")
    restore_disk(rpd, rg, "r2", drp_of(p2, osd))
    assert sha(read_disk(rpd, rg, "r2")) == sha(img)
    # the test is only worth something if writes landed while the capture read
    during = tail[:tail.index("'%s' captured" % name_id)].count("http method=PUT path='/data/")
    assert during >= 2, tail


# ---------------------------------------------------------------- rules under concurrency, deletes, growth
def test_concurrent_puts_for_one_vm_create_exactly_one_point(rpd):
    """Four clients PUT a point of the same VM (in four collections) at the same instant:
    exactly one is created, the others get 409 VMRestorePointClientError."""
    rg = new_name("rg")
    make_group(rpd, rg)
    size = 32 * MIB
    osd = upload_disk(rpd, rg, "osd", size, [(0, rand(size, 50))], "Linux")
    vm = make_vm(rpd, rg, "vm", osd)
    for c in range(4):
        make_rpc(rpd, rg, "c%d" % c, vm["id"])
    wsas = grant(rpd, rg, "osd", "Write")
    ws = session(rpd)
    sessions = [session(rpd) for _ in range(4)]
    for s in sessions:  # connections up before the race
        assert s.get(rpd.url + "/health").status_code == 200
    for rnd in range(6):
        # each capture reads 16 MiB: the first point is still Creating when the others arrive
        put_pages(ws, wsas, 0, rand(16 * MIB, 100 + rnd))
        bar = threading.Barrier(4)
        out = [None] * 4

        def put(i):
            bar.wait()
            out[i] = sessions[i].put(
                rpd.url + rp_path(rg, "c%d" % i, "p%d" % rnd), json={"properties": {}},
                params={"api-version": COMPUTE_API},
                headers={"Authorization": "Bearer " + rpd.token()}, timeout=30)
        ts = [threading.Thread(target=put, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        created = [r for r in out if r.status_code == 201]
        assert len(created) == 1, [(r.status_code, r.text[:120]) for r in out]
        for r in out:
            if r.status_code != 201:
                err(r, 409, "VMRestorePointClientError")
        assert wait_op(rpd, created[0])["status"] == "Succeeded"


def test_delete_while_creating(rpd):
    rg = new_name("rg")
    make_group(rpd, rg)
    size = 48 * MIB
    osd = upload_disk(rpd, rg, "osd", size, [(0, rand(size, 60))], "Linux")
    vm = make_vm(rpd, rg, "vm", osd)
    make_rpc(rpd, rg, "coll", vm["id"])

    # DELETE right after the PUT: the point goes, whether its capture ran or not
    r = start_rp(rpd, rg, "coll", "p")
    assert r.status_code == 201, r.text
    d = rpd.req("DELETE", rp_path(rg, "coll", "p"), COMPUTE_API)
    assert d.status_code == 202, d.text
    got = rpd.req("GET", rp_path(rg, "coll", "p"), COMPUTE_API, params={"$expand": "instanceView"})
    if got.status_code == 200:
        p = got.json()["properties"]
        assert p["provisioningState"] == "Deleting", p
        assert p["instanceView"]["statuses"][0]["code"] == "ProvisioningState/deleting"
        # a point being deleted takes no re-PUT and hands out no SAS
        err(start_rp(rpd, rg, "coll", "p"), 409, "Conflict")
    assert wait_op(rpd, r)["status"] in ("Succeeded", "Failed")
    assert wait_op(rpd, d)["status"] == "Succeeded"
    err(rpd.req("GET", rp_path(rg, "coll", "p"), COMPUTE_API), 404, "ResourceNotFound")
    # nothing of it is left, and the VM takes the next point (a full one: the base is gone)
    rep = gc(rpd)
    assert rep["chunksAfter"] == 0, rep
    p2 = create_rp(rpd, rg, "coll", "p2")
    added = get_rp(rpd, rg, "coll", "p2", api=OLD_RP_API)["properties"]["provisioningDetails"]
    assert added["totalUsedSizeInBytes"] >= size, added
    restore_disk(rpd, rg, "r2", drp_of(p2, osd))
    assert sha(read_disk(rpd, rg, "r2")) == sha(rand(size, 60))

    # a grant on a disk restore point whose point is being deleted is refused
    drp = drp_of(p2, osd)
    d = rpd.req("DELETE", rp_path(rg, "coll", "p2"), COMPUTE_API)
    assert d.status_code == 202
    g = rpd.req("POST", drp + "/beginGetAccess", DISK_API,
                {"access": "Read", "durationInSeconds": 60})
    assert g.status_code in (404, 409), g.text
    assert wait_op(rpd, d)["status"] == "Succeeded"


def test_group_delete_deletes_its_collections_and_points(rpd):
    rg = new_name("rg")
    make_group(rpd, rg)
    osd = upload_disk(rpd, rg, "osd", MIN_UPLOAD, [(0, rand(4 * MIB, 70))], "Linux")
    vm = make_vm(rpd, rg, "vm", osd)
    make_rpc(rpd, rg, "coll", vm["id"])
    create_rp(rpd, rg, "coll", "p")
    r = rpd.req("DELETE", "/subscriptions/%s/resourcegroups/%s" % (vm["id"].split("/")[2], rg),
                "2022-09-01")
    assert r.status_code == 202, r.text
    deadline = time.time() + 30
    while rpd.req("GET", "/subscriptions/%s/resourcegroups/%s" % (vm["id"].split("/")[2], rg),
                  "2022-09-01").status_code != 404:
        assert time.time() < deadline
        time.sleep(0.1)
    lst = rpd.req("GET", "/subscriptions/%s/providers/Microsoft.Compute/restorePointCollections"
                  % vm["id"].split("/")[2], COMPUTE_API).json()["value"]
    assert lst == [], lst
    make_group(rpd, rg)  # a new group of the same name starts empty
    assert rpd.req("GET", rp_path(rg, "coll", "p"), COMPUTE_API).status_code == 404
    assert gc(rpd)["chunksAfter"] == 0
    assert os.listdir(os.path.join(rpd.data, "regions", "eastus", "manifests")) == []


def test_disk_grown_between_points(rpd):
    """A disk grown between two points (its old last chunk was partial): each point restores
    its own size and bytes, the new range reads as zeros where nothing was written."""
    rg = new_name("rg")
    make_group(rpd, rg)
    old = MIN_UPLOAD  # 20 MiB + 512: the last chunk holds one sector
    parts = [(0, rand(2 * MIB, 80)), (old - 4096, rand(4096, 81))]
    osd = upload_disk(rpd, rg, "osd", old, parts, "Linux")
    vm = make_vm(rpd, rg, "vm", osd)
    make_rpc(rpd, rg, "coll", vm["id"])
    p1 = create_rp(rpd, rg, "coll", "p1")
    img1 = image_of(old, parts)

    r = rpd.req("PATCH", disk_path(rg, "osd"), DISK_API, {"properties": {"diskSizeGB": 1}})
    assert r.status_code in (200, 202), r.text
    if r.status_code == 202:
        wait_op(rpd, r)
    new = 1024 * MIB
    assert rpd.req("GET", disk_path(rg, "osd"), DISK_API).json()["properties"][
        "diskSizeBytes"] == new
    sas = grant(rpd, rg, "osd", "Write")
    s = session(rpd)
    late = [(old - 512, rand(1024, 82)), (600 * MIB, rand(CHUNK + 512, 83))]
    for off, b in late:
        put_pages(s, sas, off, b)
    revoke(rpd, rg, "osd")
    p2 = create_rp(rpd, rg, "coll", "p2")

    d1 = restore_disk(rpd, rg, "r1", drp_of(p1, osd))
    assert d1["properties"]["diskSizeBytes"] == old
    assert sha(read_disk(rpd, rg, "r1")) == sha(img1)
    d2 = restore_disk(rpd, rg, "r2", drp_of(p2, osd))
    assert d2["properties"]["diskSizeBytes"] == new
    rsas = grant(rpd, rg, "r2", "Read")
    expect = bytearray(img1) + bytearray(4 * MIB)
    expect[old - 512:old + 512] = late[0][1]
    assert read_range(s, rsas, 0, len(expect) - 1) == bytes(expect)
    assert read_range(s, rsas, 600 * MIB - 4096, 600 * MIB + CHUNK + 4095) == \
        bytes(4096) + late[1][1] + bytes(4096 - 512)
    assert read_range(s, rsas, new - MIB, new - 1) == bytes(MIB)
    revoke(rpd, rg, "r2")
    assert allocated(rpd, d2["properties"]["uniqueId"]) <= 4 * MIB
