"""Restore points in one region, end to end against a real rpd: the Python SDK flow
(collection, restore point with excludeDisks, instance view, disk restore points, SAS read,
restore, SHA-256 comparisons), crash consistency across two disks written during the
capture, incremental capture (bytes added), and the API rules (concurrency, idempotent
re-PUT, immutable collection source, $expand, active SAS, deletes and garbage collection).

Disks are Upload disks of a few tens of MiB filled through the SAS data plane with raw HTTP;
every image is also kept in memory, so each comparison is against what was really written.
The fault tests (kill -9, bit rot) are in test_restore_points_faults.py."""
import base64
import os
import random
import threading
import time

import pytest
from azure.core.exceptions import ResourceNotFoundError

from conftest import COMPUTE_API, DISK_API, disk_path, new_name
from rp_common import (CHUNK, KIB, MIB, MIN_UPLOAD, OLD_RP_API, allocated, create_rp, drp_of,
                       err, gc, get_rp, grant, image_of, make_group, make_rpc, make_vm,
                       pack_bytes, put_pages, rand, read_all, read_disk, read_range,
                       restore_disk, revoke, rp_path, rpc_path, scrub, session, sha,
                       start_restore, start_rp, upload_disk, wait_op)

PASSWORD = "Secret-Passw0rd!"


# ---------------------------------------------------------------- 1. Python SDK end to end

def test_sdk_collection_point_exclude_instance_view_drp_sas_restore(rpd):
    from azure.mgmt.compute.v2022_07_02 import models as dm
    from azure.mgmt.compute.v2022_08_01 import models as cm

    res, cmp = rpd.sdk()
    rg = new_name("rg")
    res.resource_groups.create_or_update(rg, {"location": "eastus"})

    # An OS disk (20 MiB + 512: its last chunk is partial) and two data disks, with data,
    # holes, an explicit zero range and a last sector written.
    dsize = 24 * MIB + 4096
    layout = {
        "osd": (MIN_UPLOAD, [(0, rand(3 * MIB, 1)), (MIN_UPLOAD - 8192, rand(8192, 2))],
                "Linux"),
        "data0": (dsize, [(MIB, rand(5 * MIB + 512, 3)), (20 * MIB, rand(CHUNK, 4)),
                          (2 * MIB, bytes(CHUNK)), (dsize - 512, rand(512, 5))], None),
        "data1": (dsize, [(0, rand(6 * MIB, 6))], None),
    }
    ids, images = {}, {}
    for name, (size, parts, os_type) in layout.items():
        ids[name] = upload_disk(rpd, rg, name, size, parts, os_type)
        images[name] = image_of(size, parts)
    user_data = base64.b64encode(b"#cloud-config\n").decode()
    vm = make_vm(rpd, rg, "vm1", ids["osd"], [ids["data0"], ids["data1"]],
                 userData=user_data)
    vm_id = vm["id"]

    # the source images at the cut, read through the data plane (nothing writes until the
    # point is taken)
    at_cut = {}
    for name in layout:
        sas = grant(rpd, rg, name, "Read")
        got = read_all(session(rpd), sas)
        revoke(rpd, rg, name)
        assert sha(got) == sha(images[name]), name
        at_cut[name] = sha(got)

    # collection: create, update tags, list, get
    coll = cmp.restore_point_collections.create_or_update(
        rg, "coll", cm.RestorePointCollection(
            location="eastus", tags={"a": "1"},
            source=cm.RestorePointCollectionSourceProperties(id=vm_id)))
    assert coll.name == "coll" and coll.location == "eastus" and coll.tags == {"a": "1"}
    assert coll.source.id.lower() == vm_id.lower() and coll.source.location == "eastus"
    assert coll.provisioning_state == "Succeeded" and len(coll.restore_point_collection_id) == 36
    upd = cmp.restore_point_collections.update(rg, "coll",
                                               cm.RestorePointCollectionUpdate(tags={"b": "2"}))
    assert upd.tags == {"b": "2"} and upd.source.id.lower() == vm_id.lower()
    assert [c.name for c in cmp.restore_point_collections.list(rg)] == ["coll"]
    assert "coll" in [c.name for c in cmp.restore_point_collections.list_all()]

    # a restore point leaving data1 out
    rp = cmp.restore_points.begin_create(
        rg, "coll", "rp1",
        cm.RestorePoint(exclude_disks=[cm.ApiEntityReference(id=ids["data1"])])).result()
    assert rp.name == "rp1" and rp.provisioning_state == "Succeeded"
    assert rp.consistency_mode == "CrashConsistent"   # no freeze hook configured
    assert [d.id.lower() for d in rp.exclude_disks] == [ids["data1"].lower()]

    # after the cut the VM writes on: the point must not see it
    wsas = {n: grant(rpd, rg, n, "Write") for n in ("osd", "data0")}
    s = session(rpd)
    later = {"osd": [(0, rand(MIB, 11))], "data0": [(MIB, rand(2 * MIB, 12)),
                                                   (23 * MIB, rand(CHUNK, 13))]}
    now = {n: bytearray(images[n]) for n in images}
    for n, parts in later.items():
        for off, b in parts:
            put_pages(s, wsas[n], off, b)
            now[n][off:off + len(b)] = b
        revoke(rpd, rg, n)

    # instance view
    rp = cmp.restore_points.get(rg, "coll", "rp1", expand="instanceView")
    iv = rp.instance_view
    assert [st.code for st in iv.statuses] == ["ProvisioningState/succeeded"]
    assert len(iv.disk_restore_points) == 2
    for d in iv.disk_restore_points:
        assert d.replication_status.completion_percent == 100
        assert d.replication_status.status.code == "ReplicationState/succeeded"
    # without $expand there is no instance view
    assert cmp.restore_points.get(rg, "coll", "rp1").instance_view is None

    # sourceMetadata: the VM model at the cut, no secrets
    md = rp.source_metadata
    assert md.vm_id == vm["properties"]["vmId"] and md.location == "eastus"
    assert md.hardware_profile.vm_size == "Standard_D2s_v3"
    assert md.os_profile.admin_username == "azureuser"
    assert md.os_profile.admin_password is None
    sp = md.storage_profile
    assert sp.os_disk.managed_disk.id.lower() == ids["osd"].lower()
    assert sp.os_disk.os_type == "Linux" and sp.os_disk.name == "osd"
    assert sp.os_disk.caching == "ReadWrite"
    assert [(d.lun, d.name, d.managed_disk.id.lower()) for d in sp.data_disks] == \
        [(0, "data0", ids["data0"].lower())]
    drp_ids = {"osd": sp.os_disk.disk_restore_point.id,
               "data0": sp.data_disks[0].disk_restore_point.id}
    assert sorted(d.id for d in iv.disk_restore_points) == sorted(drp_ids.values())
    raw = rpd.req("GET", rp_path(rg, "coll", "rp1"), COMPUTE_API,
                  params={"$expand": "instanceView"})
    assert "adminPassword" not in raw.text and PASSWORD not in raw.text
    assert raw.json()["properties"]["sourceMetadata"]["userData"] == user_data
    assert "null" not in raw.text, raw.text  # absent fields are left out, not null

    # the collection lists its points only with $expand=restorePoints
    c = cmp.restore_point_collections.get(rg, "coll", expand="restorePoints")
    assert [p.name for p in c.restore_points] == ["rp1"]
    assert not cmp.restore_point_collections.get(rg, "coll").restore_points

    # disk restore points: list and get, properties
    drps = list(cmp.disk_restore_point.list_by_restore_point(rg, "coll", "rp1"))
    assert sorted(d.id for d in drps) == sorted(drp_ids.values())
    for name, did in drp_ids.items():
        dname = did.rsplit("/", 1)[1]
        assert dname.startswith(name + "_")
        d = cmp.disk_restore_point.get(rg, "coll", "rp1", dname)
        disk = cmp.disks.get(rg, name)
        assert d.id == did and d.name == dname
        assert d.source_resource_id.lower() == ids[name].lower()
        assert d.source_unique_id == disk.unique_id
        assert d.encryption.type == "EncryptionAtRestWithPlatformKey"
        assert d.time_created is not None
        assert d.os_type == ("Linux" if name == "osd" else None)
    # nothing was captured of the excluded disk
    assert not any("/data1_" in d.id for d in drps)

    # SAS read of each disk restore point: the bytes at the cut
    for name, did in drp_ids.items():
        dname = did.rsplit("/", 1)[1]
        acc = cmp.disk_restore_point.begin_grant_access(
            rg, "coll", "rp1", dname,
            dm.GrantAccessData(access="Read", duration_in_seconds=3600)).result()
        got = read_all(s, acc.access_sas)
        assert sha(got) == at_cut[name], name
        size = len(images[name])
        # a range across the partial last chunk, and one inside a hole
        assert read_range(s, acc.access_sas, size - 9000, size - 1) == \
            bytes(images[name][size - 9000:])
        assert read_range(s, acc.access_sas, 10 * MIB, 10 * MIB + 4095) == \
            bytes(images[name][10 * MIB:10 * MIB + 4096])
        cmp.disk_restore_point.begin_revoke_access(rg, "coll", "rp1", dname).result()
        assert s.get(acc.access_sas, headers={"Range": "bytes=0-511"}).status_code == 403

    # restore a disk from each disk restore point; the restored image is the source at the cut
    for name, did in drp_ids.items():
        d = cmp.disks.begin_create_or_update(
            rg, "restored-" + name,
            dm.Disk(location="eastus",
                    creation_data=dm.CreationData(create_option="Restore",
                                                  source_resource_id=did))).result()
        assert d.provisioning_state == "Succeeded"
        assert d.creation_data.create_option == "Restore"
        assert d.creation_data.source_resource_id.lower() == did.lower()
        assert d.disk_size_bytes == len(images[name])
        assert d.disk_state == "Unattached"
        got = read_disk(rpd, rg, "restored-" + name)
        assert sha(got) == at_cut[name], name
        # holes stay holes: the restored image holds about what was written, not its size
        written = sum(len(b) for _, b in layout[name][1])
        assert allocated(rpd, d.unique_id) <= written + 2 * CHUNK, name

    # a second point (nothing excluded) sees the writes made after the first
    rp2 = cmp.restore_points.begin_create(rg, "coll", "rp2", cm.RestorePoint()).result()
    sp2 = rp2.source_metadata.storage_profile
    assert len(sp2.data_disks) == 2
    restore_disk(rpd, rg, "r2-data0", sp2.data_disks[0].disk_restore_point.id)
    assert sha(read_disk(rpd, rg, "r2-data0")) == sha(now["data0"])
    restore_disk(rpd, rg, "r2-data1", sp2.data_disks[1].disk_restore_point.id)
    assert sha(read_disk(rpd, rg, "r2-data1")) == sha(images["data1"])

    # delete the first point: gone, its disk restore points too; restored disks live on
    cmp.restore_points.begin_delete(rg, "coll", "rp1").result()
    with pytest.raises(ResourceNotFoundError):
        cmp.restore_points.get(rg, "coll", "rp1")
    with pytest.raises(ResourceNotFoundError):
        cmp.disk_restore_point.get(rg, "coll", "rp1", drp_ids["osd"].rsplit("/", 1)[1])
    assert sha(read_disk(rpd, rg, "restored-data0")) == at_cut["data0"]
    # and rp2, incremental over rp1, still restores right
    restore_disk(rpd, rg, "r2-osd", sp2.os_disk.disk_restore_point.id)
    assert sha(read_disk(rpd, rg, "r2-osd")) == sha(now["osd"])

    # deleting the collection deletes its points
    cmp.restore_point_collections.begin_delete(rg, "coll").result()
    with pytest.raises(ResourceNotFoundError):
        cmp.restore_point_collections.get(rg, "coll")
    with pytest.raises(ResourceNotFoundError):
        cmp.restore_points.get(rg, "coll", "rp2")
    assert not list(cmp.restore_point_collections.list(rg))


# ---------------------------------------------------------------- 2. crash consistency

LANES = 3          # writer threads, each with its own counter and slots
SLOTS = 6          # slots per lane
SLOT_STRIDE = 2 * CHUNK


def slot_offset(lane, i):
    """One sector in every other chunk."""
    return (lane * SLOTS + i) * SLOT_STRIDE + 4096


def stamp(lane, n):
    return (lane.to_bytes(8, "little") + n.to_bytes(8, "little")) * 32


class Writer:
    """Lane @lane stamps 1, 2, 3... into disk A then disk B, one sector each, rotating over its
    slots: a cut between the two writes of n shows A = n, B = n - 1."""

    def __init__(self, rpd, lane, sas_a, sas_b):
        self.rpd, self.lane, self.sas = rpd, lane, (sas_a, sas_b)
        self.acked = 0        # last value written to both disks
        self.sent = 0         # last value whose first write was sent
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        s = session(self.rpd)
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                with self.lock:
                    self.sent = n
                off = slot_offset(self.lane, n % SLOTS)
                for sas in self.sas:
                    r = s.put(sas + "&comp=page", data=stamp(self.lane, n), timeout=30,
                              headers={"x-ms-range": "bytes=%d-%d" % (off, off + 511),
                                       "x-ms-page-write": "update"})
                    assert r.status_code == 201, r.text
                with self.lock:
                    self.acked = n
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def snapshot(self):
        with self.lock:
            return self.acked, self.sent


def slot_values(s, sas, lane):
    vals = []
    for i in range(SLOTS):
        b = read_range(s, sas, slot_offset(lane, i), slot_offset(lane, i) + 511)
        n = int.from_bytes(b[8:16], "little")
        assert b == stamp(lane, n) or b == bytes(512), "torn sector: lane %d slot %d" % (lane, i)
        vals.append(n)
    return vals


def check_prefix(vals, top, what):
    """The slots hold exactly the last SLOTS values up to @top: nothing after, nothing lost."""
    for m in range(max(1, top - SLOTS + 1), top + 1):
        assert vals[m % SLOTS] == m, "%s: slot %d holds %d, expected %d (top %d): %s" % (
            what, m % SLOTS, vals[m % SLOTS], m, top, vals)
    assert max(vals) == top


def test_points_taken_during_writes_show_one_instant_across_disks(rpd):
    rg = new_name("rg")
    make_group(rpd, rg)
    size = 24 * MIB
    osd = upload_disk(rpd, rg, "osd", MIN_UPLOAD, [(0, rand(2 * MIB, 20))], "Linux")
    # 18 MiB of data on each disk; the slots lie in the first 9 MiB, the bulk rewrites that
    # give each capture something to read while the writers go on in the next 8 MiB
    bulk, bulk_at = 8 * MIB, 10 * MIB
    assert slot_offset(LANES, 0) < bulk_at
    a = upload_disk(rpd, rg, "diska", size, [(0, rand(bulk_at + bulk, 21))])
    b = upload_disk(rpd, rg, "diskb", size, [(0, rand(bulk_at + bulk, 22))])
    vm = make_vm(rpd, rg, "vm", osd, [a, b])
    make_rpc(rpd, rg, "coll", vm["id"])
    sas_a, sas_b = grant(rpd, rg, "diska", "Write"), grant(rpd, rg, "diskb", "Write")
    s = session(rpd)
    for sas in (sas_a, sas_b):
        for lane in range(LANES):
            for i in range(SLOTS):
                put_pages(s, sas, slot_offset(lane, i), bytes(512))

    writers = [Writer(rpd, lane, sas_a, sas_b) for lane in range(LANES)]
    for w in writers:
        w.thread.start()
    points = []
    try:
        for i in range(4):
            if i:
                put_pages(s, sas_a, bulk_at, rand(bulk, 100 + i))
                put_pages(s, sas_b, bulk_at, rand(bulk, 200 + i))
            time.sleep(0.05)
            before = [w.snapshot()[0] for w in writers]
            r = start_rp(rpd, rg, "coll", "p%d" % i)
            assert r.status_code == 201, r.text
            st = wait_op(rpd, r)
            after = [w.snapshot()[1] for w in writers]
            assert st["status"] == "Succeeded", st
            assert all(w.error is None for w in writers), [w.error for w in writers]
            points.append(("p%d" % i, before, after))
    finally:
        for w in writers:
            w.stop.set()
        for w in writers:
            w.thread.join(30)
    assert all(w.error is None for w in writers), [w.error for w in writers]
    # every capture ran while the writers wrote
    for name, before, after in points:
        assert sum(after) - sum(before) >= LANES, (name, before, after)

    split = 0
    for name, before, after in points:
        rp = get_rp(rpd, rg, "coll", name)
        got = {}
        for disk, did in (("a", a), ("b", b)):
            rname = "%s-%s" % (name, disk)
            restore_disk(rpd, rg, rname, drp_of(rp, did))
            rsas = grant(rpd, rg, rname, "Read")
            got[disk] = [slot_values(s, rsas, lane) for lane in range(LANES)]
            revoke(rpd, rg, rname)
        for lane in range(LANES):
            va, vb = got["a"][lane], got["b"][lane]
            ta, tb = max(va), max(vb)
            what = "%s lane %d" % (name, lane)
            # one instant: B is A or one behind (the write of n to A precedes the one to B)
            assert tb in (ta, ta - 1), (what, va, vb)
            check_prefix(va, ta, what + " disk A")
            check_prefix(vb, tb, what + " disk B")
            # the cut lies between the PUT and the end of the capture
            assert before[lane] <= tb and ta <= after[lane], \
                (what, before[lane], after[lane], ta, tb)
            split += ta != tb
    print("cuts between the writes to A and B: %d of %d" % (split, len(points) * LANES))


# ---------------------------------------------------------------- 3. incremental

def test_incremental_point_stores_only_changed_chunks(rpd):
    rg = new_name("rg")
    make_group(rpd, rg)
    size = 64 * MIB
    img = bytearray(rand(size, 30))
    osd = upload_disk(rpd, rg, "osd", size, [(0, bytes(img))], "Linux")
    vm = make_vm(rpd, rg, "vm", osd)
    make_rpc(rpd, rg, "coll", vm["id"])

    def added(name):
        p = get_rp(rpd, rg, "coll", name, api=OLD_RP_API)["properties"]
        assert "timeCreated" not in p
        det = p["provisioningDetails"]
        assert det["statusCode"] == "OK" and det["creationTime"]
        return det["totalUsedSizeInBytes"]

    create_rp(rpd, rg, "coll", "full")
    full = added("full")
    assert size <= full <= size * 1.05, full   # random data: stored as is, plus headers

    # 32 scattered 64 KiB writes
    rnd = random.Random(31)
    sas = grant(rpd, rg, "osd", "Write")
    s = session(rpd)
    offs = [rnd.randrange(size // (64 * KIB)) * 64 * KIB for _ in range(32)]
    for i, off in enumerate(offs):
        data = rand(64 * KIB, 1000 + i)
        put_pages(s, sas, off, data)
        img[off:off + len(data)] = data
    at_incr = sha(img)
    changed = len({off // CHUNK for off in offs})
    create_rp(rpd, rg, "coll", "incr")
    incr = added("incr")
    assert changed * CHUNK <= incr <= changed * (CHUNK + 4 * KIB), (incr, changed)
    assert incr < full / 6

    # no write, no bytes; a chunk copied over another (dedup) and a chunk of zeros add none
    create_rp(rpd, rg, "coll", "same")
    assert added("same") == 0
    put_pages(s, sas, 10 * CHUNK, bytes(img[20 * CHUNK:21 * CHUNK]))
    img[10 * CHUNK:11 * CHUNK] = img[20 * CHUNK:21 * CHUNK]
    put_pages(s, sas, 40 * CHUNK, bytes(CHUNK))
    img[40 * CHUNK:41 * CHUNK] = bytes(CHUNK)
    create_rp(rpd, rg, "coll", "dedup")
    assert added("dedup") == 0
    revoke(rpd, rg, "osd")

    # every point of the chain restores to its own instant
    restore_disk(rpd, rg, "r-incr", drp_of(get_rp(rpd, rg, "coll", "incr"), osd))
    assert sha(read_disk(rpd, rg, "r-incr")) == at_incr
    restore_disk(rpd, rg, "r-dedup", drp_of(get_rp(rpd, rg, "coll", "dedup"), osd))
    assert sha(read_disk(rpd, rg, "r-dedup")) == sha(img)
    restore_disk(rpd, rg, "r-full", drp_of(get_rp(rpd, rg, "coll", "full"), osd))
    assert sha(read_disk(rpd, rg, "r-full")) == sha(rand(size, 30))
    # newer api-versions show timeCreated, not provisioningDetails
    p = get_rp(rpd, rg, "coll", "incr")["properties"]
    assert "timeCreated" in p and "provisioningDetails" not in p


# ---------------------------------------------------------------- 4. rules

def test_rules_concurrency_idempotency_source_expand_sas_deletes_gc(rpd):
    rg = new_name("rg")
    make_group(rpd, rg)
    big = 48 * MIB
    osd = upload_disk(rpd, rg, "osd", big, [(0, rand(big, 40))], "Linux")
    vm = make_vm(rpd, rg, "vm", osd)
    other_os = upload_disk(rpd, rg, "osd2", MIN_UPLOAD, [(0, rand(MIB, 41))], "Linux")
    vm2 = make_vm(rpd, rg, "vm2", other_os)
    make_rpc(rpd, rg, "coll", vm["id"])
    make_rpc(rpd, rg, "coll2", vm["id"])
    empty_packs = pack_bytes(rpd)

    # a second point of the same VM while the first is being created (any collection)
    r1 = start_rp(rpd, rg, "coll", "p1")
    assert r1.status_code == 201, r1.text
    assert r1.json()["properties"]["provisioningState"] == "Creating"
    assert r1.headers["Retry-After"] == "1" and r1.headers["Location"]
    r2 = start_rp(rpd, rg, "coll2", "other")
    msg = err(r2, 409, "VMRestorePointClientError")
    assert msg == "RestorePoint creation failed since a concurrent 'Create RestorePoint' " \
                  "operation was triggered on the VM.", msg
    assert "Retry-After" not in r2.headers
    # an identical re-PUT while it runs answers 201 with the same point
    again = start_rp(rpd, rg, "coll", "p1")
    assert again.status_code == 201, again.text
    assert again.json()["id"] == r1.json()["id"]
    assert wait_op(rpd, r1)["status"] == "Succeeded"
    assert rpd.req("GET", rp_path(rg, "coll2", "other"), COMPUTE_API).status_code == 404
    # ... and once it is done, too
    again = start_rp(rpd, rg, "coll", "p1")
    assert again.status_code == 201, again.text
    assert again.json()["properties"]["provisioningState"] == "Succeeded"
    assert again.json()["properties"]["timeCreated"] == r1.json()["properties"]["timeCreated"]
    # a different body is refused: a restore point cannot be updated
    err(start_rp(rpd, rg, "coll", "p1", exclude=[osd]), 409, "OperationNotAllowed")
    err(start_rp(rpd, rg, "coll", "p1", mode="CrashConsistent"), 409, "OperationNotAllowed")

    # the source of a collection never changes (PUT or PATCH); tags do
    body = {"location": "eastus", "properties": {"source": {"id": vm2["id"]}}}
    err(rpd.req("PUT", rpc_path(rg, "coll"), COMPUTE_API, body), 409, "OperationNotAllowed")
    err(rpd.req("PATCH", rpc_path(rg, "coll"), COMPUTE_API,
                {"properties": {"source": {"id": vm2["id"]}}}), 409, "OperationNotAllowed")
    r = rpd.req("PUT", rpc_path(rg, "coll"), COMPUTE_API,
                {"location": "eastus", "tags": {"t": "1"},
                 "properties": {"source": {"id": vm["id"]}}})
    assert r.status_code == 200 and r.json()["tags"] == {"t": "1"}, r.text
    assert r.json()["properties"]["source"]["id"].lower() == vm["id"].lower()

    # $expand must be known
    err(rpd.req("GET", rp_path(rg, "coll", "p1"), COMPUTE_API, params={"$expand": "bogus"}),
        400, "InvalidParameter")
    err(rpd.req("GET", rpc_path(rg, "coll"), COMPUTE_API, params={"$expand": "instanceView"}),
        400, "InvalidParameter")
    assert rpd.req("GET", rp_path(rg, "coll", "p1"), COMPUTE_API,
                   params={"$expand": "INSTANCEVIEW"}).status_code == 200

    # unknown points: GET 404, DELETE 204; unknown disk restore point: 404, restore from it 404
    err(rpd.req("GET", rp_path(rg, "coll", "nope"), COMPUTE_API), 404, "ResourceNotFound")
    assert rpd.req("DELETE", rp_path(rg, "coll", "nope"), COMPUTE_API).status_code == 204
    assert rpd.req("DELETE", rp_path(rg, "nocoll", "nope"), COMPUTE_API).status_code == 204
    p1 = get_rp(rpd, rg, "coll", "p1")
    drp = drp_of(p1, osd)
    missing = drp.rsplit("/", 1)[0] + "/osd_00000000-0000-0000-0000-000000000000"
    err(rpd.req("GET", missing, DISK_API), 404, "ResourceNotFound")
    r = start_restore(rpd, rg, "fromnothing", missing)
    assert r.status_code == 404, r.text
    assert rpd.req("GET", disk_path(rg, "fromnothing"), DISK_API).status_code == 404

    # an active SAS on a disk restore point blocks the deletes until endGetAccess
    sas = grant(rpd, rg, None, "Read", path=drp)
    err(rpd.req("DELETE", rp_path(rg, "coll", "p1"), COMPUTE_API), 409,
        "DiskRestorePointUsedByCustomer")
    err(rpd.req("DELETE", rpc_path(rg, "coll"), COMPUTE_API), 409,
        "DiskRestorePointUsedByCustomer")
    assert get_rp(rpd, rg, "coll", "p1")["properties"]["provisioningState"] == "Succeeded"
    assert len(read_range(session(rpd), sas, 0, MIB - 1)) == MIB
    revoke(rpd, rg, None, path=drp)
    r = rpd.req("DELETE", rp_path(rg, "coll", "p1"), COMPUTE_API)
    assert r.status_code == 202, r.text
    assert wait_op(rpd, r)["status"] == "Succeeded"
    err(rpd.req("GET", rp_path(rg, "coll", "p1"), COMPUTE_API), 404, "ResourceNotFound")
    err(rpd.req("GET", drp, DISK_API), 404, "ResourceNotFound")

    # collection delete removes its points (and their manifests)
    create_rp(rpd, rg, "coll", "p2")
    create_rp(rpd, rg, "coll2", "q1")
    manifests = os.path.join(rpd.data, "regions", "eastus", "manifests")
    assert len(os.listdir(manifests)) == 2
    r = rpd.req("DELETE", rpc_path(rg, "coll"), COMPUTE_API)
    assert r.status_code == 202, r.text
    assert wait_op(rpd, r)["status"] == "Succeeded"
    err(rpd.req("GET", rpc_path(rg, "coll"), COMPUTE_API), 404, "ResourceNotFound")
    err(rpd.req("GET", rp_path(rg, "coll", "p2"), COMPUTE_API), 404, "ResourceNotFound")
    assert len(os.listdir(manifests)) == 1
    # q1 in the other collection is intact: it restores the disk
    q1 = get_rp(rpd, rg, "coll2", "q1")
    restore_disk(rpd, rg, "r-q1", drp_of(q1, osd))
    assert sha(read_disk(rpd, rg, "r-q1")) == sha(rand(big, 40))
    with_data = pack_bytes(rpd)
    assert with_data >= big

    # after deleting every point, gc leaves (almost) nothing in the packs
    r = rpd.req("DELETE", rp_path(rg, "coll2", "q1"), COMPUTE_API)
    assert wait_op(rpd, r)["status"] == "Succeeded"
    rep = gc(rpd)
    assert rep["chunksAfter"] == 0 and rep["packBytesAfter"] <= 64 * KIB, rep
    assert pack_bytes(rpd) <= empty_packs + 64 * KIB, (pack_bytes(rpd), with_data)
    assert os.listdir(manifests) == []
    rep = scrub(rpd)
    assert rep["badChunks"] == 0 and rep["checkedChunks"] == 0, rep

