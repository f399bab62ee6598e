"""Restore points under faults, against a real rpd: kill -9 in the middle of a capture and in
the middle of a restore (the jobs rerun after the restart and end cleanly, nothing partial is
usable, nothing is orphaned), and bit rot in a pack file (scrub finds it and names the
points it hurts; a restore of such a point fails loudly, never with wrong bytes)."""
import os
import time

import requests

from conftest import DISK_API, disk_path, new_name
from rp_common import (CHUNK, KIB, MIB, MIN_UPLOAD, PACKS, drp_of, gc, get_rp, grant,
                       make_group, make_rpc, make_vm, pack_bytes, put_pages, rand, read_all,
                       read_disk, rebase, restore_disk, revoke, rp_path, scrub, session, sha,
                       start_restore, start_rp, upload_disk, wait_op, create_rp, op_status,
                       wait_log, log_size)


def manifests(rpd):
    return sorted(os.listdir(os.path.join(rpd.data, "regions", "eastus", "manifests")))


def assert_no_orphans(rpd):
    """Every pack byte belongs to a live chunk after gc, and every chunk verifies."""
    rep = gc(rpd)
    sc = scrub(rpd)
    assert sc["badChunks"] == 0, sc
    assert sc["checkedChunks"] == rep["chunksAfter"], (sc, rep)
    # what is left in the packs besides live records: at most half of a pack is dead after gc
    assert rep["packBytesAfter"] - rep["storedBytesAfter"] <= rep["packBytesAfter"] // 2, rep
    print("gc", rep)
    return rep, sc


# ---------------------------------------------------------------- kill -9 during capture

def test_kill9_during_capture_point_reruns_or_fails_cleanly(rpd):
    rg = new_name("rg")
    make_group(rpd, rg)
    size = 64 * MIB
    img = bytearray(rand(size, 1))
    d0 = upload_disk(rpd, rg, "osd", size, [(0, bytes(img))], "Linux")
    img1 = bytearray(rand(size, 2))
    d1 = upload_disk(rpd, rg, "data", size, [(0, bytes(img1))])
    vm = make_vm(rpd, rg, "vm", d0, [d1])
    make_rpc(rpd, rg, "coll", vm["id"])
    create_rp(rpd, rg, "coll", "p0")

    # change most of both disks, so that the next (incremental) capture has much to read
    s = session(rpd)
    for name, im, seed in (("osd", img, 3), ("data", img1, 4)):
        sas = grant(rpd, rg, name, "Write")
        new = rand(48 * MIB, seed)
        put_pages(s, sas, 8 * MIB, new)
        im[8 * MIB:56 * MIB] = new
        revoke(rpd, rg, name)

    # kill -9 in the middle of the capture: after the cut, once about a fifth of the 96 MiB
    # it reads are in the packs
    p1_id = rp_path(rg, "coll", "p1")
    mark, packs0 = log_size(rpd), pack_bytes(rpd)
    r = start_rp(rpd, rg, "coll", "p1")
    assert r.status_code == 201, r.text
    assert wait_log(rpd, "restore point '%s': cut" % p1_id, since=mark), rpd.log()
    deadline = time.time() + 30
    while pack_bytes(rpd) < packs0 + 20 * MIB and time.time() < deadline:
        time.sleep(0.002)
    rpd.kill9()
    with open(rpd.log_path, "rb") as f:
        f.seek(mark)
        tail = f.read().decode(errors="replace")
    assert "'%s' captured" % p1_id not in tail, "the capture ended before the kill"

    rpd.start()
    # nothing of the interrupted point is usable while it is not done
    p = rpd.req("GET", p1_id, "2022-08-01", params={"$expand": "instanceView"}).json()
    if p["properties"]["provisioningState"] == "Creating":
        assert p["properties"]["instanceView"]["diskRestorePoints"] == [], p
        lst = rpd.req("GET", p1_id + "/diskRestorePoints", DISK_API)
        assert lst.status_code == 200 and lst.json()["value"] == [], lst.text
    st = wait_op(rpd, rebase(r.headers["Azure-AsyncOperation"], rpd))
    p = get_rp(rpd, rg, "coll", "p1", expand=True)
    assert p["properties"]["provisioningState"] == st["status"], (p, st)
    if st["status"] == "Succeeded":
        # the job ran again and captured the disks as they are
        for name, did, im in (("osd", d0, img), ("data", d1, img1)):
            restore_disk(rpd, rg, "r1-" + name, drp_of(p, did))
            assert sha(read_disk(rpd, rg, "r1-" + name)) == sha(im), name
    else:
        assert st["error"]["code"] and st["error"]["message"], st
        assert p["properties"]["instanceView"]["statuses"][0]["code"] == \
            "ProvisioningState/failed", p
        assert p["properties"]["instanceView"]["statuses"][0]["message"], p
        assert rpd.req("GET", p1_id + "/diskRestorePoints", DISK_API).json()["value"] == []

    # the VM takes the next point, which holds every change (none lost with the crash)
    p2 = create_rp(rpd, rg, "coll", "p2")
    for name, did, im in (("osd", d0, img), ("data", d1, img1)):
        restore_disk(rpd, rg, "r2-" + name, drp_of(p2, did))
        assert sha(read_disk(rpd, rg, "r2-" + name)) == sha(im), name
    # p0 still restores its own instant
    restore_disk(rpd, rg, "r0-osd", drp_of(get_rp(rpd, rg, "coll", "p0"), d0))
    assert sha(read_disk(rpd, rg, "r0-osd")) == sha(rand(size, 1))

    # no orphans: manifests only of live disk restore points, packs hold only live chunks
    live = 0
    for name in ("p0", "p1", "p2"):
        q = rpd.req("GET", rp_path(rg, "coll", name), "2022-08-01",
                    params={"$expand": "instanceView"}).json()
        live += len(q["properties"]["instanceView"]["diskRestorePoints"])
    assert len(manifests(rpd)) == live, manifests(rpd)
    assert_no_orphans(rpd)
    # and once every point is deleted, nothing is left at all
    r = rpd.req("DELETE", rp_path(rg, "coll", "").rstrip("/").rsplit("/", 1)[0], "2022-08-01")
    assert r.status_code == 202, r.text
    assert wait_op(rpd, r)["status"] == "Succeeded"
    rep = gc(rpd)
    assert rep["chunksAfter"] == 0 and pack_bytes(rpd) <= 64 * KIB, (rep, pack_bytes(rpd))
    assert manifests(rpd) == []


# ---------------------------------------------------------------- kill -9 during restore

def test_kill9_during_restore_completes_or_fails_cleanly(rpd):
    rg = new_name("rg")
    make_group(rpd, rg)
    size = 96 * MIB
    img = rand(size, 10)
    d0 = upload_disk(rpd, rg, "osd", size, [(0, img)], "Linux")
    vm = make_vm(rpd, rg, "vm", d0)
    make_rpc(rpd, rg, "coll", vm["id"])
    p = create_rp(rpd, rg, "coll", "p")
    drp = drp_of(p, d0)

    r = start_restore(rpd, rg, "restored", drp)
    assert r.status_code == 202, r.text
    assert r.json()["properties"]["provisioningState"] == "Updating"
    path = os.path.join(rpd.data, "regions", "eastus", "disks",
                        r.json()["properties"]["uniqueId"] + ".img")
    # kill -9 once the restore has written some of the image
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.exists(path) and os.stat(path).st_blocks * 512 >= 4 * MIB:
            break
        time.sleep(0.002)
    st = op_status(rpd, r)
    rpd.kill9()
    assert st["status"] == "InProgress", "the restore ended before the kill: %s" % st

    rpd.start()
    st = wait_op(rpd, rebase(r.headers["Azure-AsyncOperation"], rpd))
    got = rpd.req("GET", disk_path(rg, "restored"), DISK_API)
    if st["status"] == "Succeeded":
        d = got.json()
        assert d["properties"]["provisioningState"] == "Succeeded", d
        assert d["properties"]["diskSizeBytes"] == size
        assert sha(read_disk(rpd, rg, "restored")) == sha(img)
    else:
        assert st["error"]["code"] and st["error"]["message"], st
        assert got.status_code == 404, got.text
        assert not os.path.exists(path)
    # the point restores again, fine
    restore_disk(rpd, rg, "again", drp)
    assert sha(read_disk(rpd, rg, "again")) == sha(img)
    # no image file without a disk
    imgs = {f for f in os.listdir(os.path.dirname(path)) if f.endswith(".img")}
    disks = rpd.req("GET", "/subscriptions/%s/providers/Microsoft.Compute/disks"
                    % p["id"].split("/")[2], DISK_API).json()["value"]
    assert imgs == {d["properties"]["uniqueId"] + ".img" for d in disks}, (imgs, disks)
    assert_no_orphans(rpd)


# ---------------------------------------------------------------- bit rot

def test_bit_rot_in_a_pack_is_found_by_scrub_and_fails_the_restore(rpd):
    rg = new_name("rg")
    make_group(rpd, rg)
    size = MIN_UPLOAD + 2 * MIB
    imgs = {"osd": rand(size, 20), "data": rand(size, 21)}
    d0 = upload_disk(rpd, rg, "osd", size, [(0, imgs["osd"])], "Linux")
    d1 = upload_disk(rpd, rg, "data", size, [(0, imgs["data"])])
    vm = make_vm(rpd, rg, "vm", d0, [d1])
    make_rpc(rpd, rg, "coll", vm["id"])
    p = create_rp(rpd, rg, "coll", "p")
    drps = {"osd": drp_of(p, d0), "data": drp_of(p, d1)}
    clean = scrub(rpd)
    assert clean["badChunks"] == 0 and clean["checkedChunks"] == 2 * ((size + CHUNK - 1) // CHUNK)

    # flip one byte in the middle of the biggest pack
    pdir = os.path.join(rpd.data, *PACKS)
    pack = max((os.path.join(pdir, f) for f in os.listdir(pdir)), key=os.path.getsize)
    with open(pack, "r+b") as f:
        f.seek(os.path.getsize(pack) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x40]))

    rep = scrub(rpd)
    assert rep["badChunks"] >= 1, rep
    assert len(rep["corrupt"]) == rep["badChunks"] and rep["corrupt"][0]["chunk"], rep
    hurt = [x.lower() for x in rep["affectedDiskRestorePoints"]]
    assert hurt and set(hurt) <= {x.lower() for x in drps.values()}, rep

    for name, drp in drps.items():
        r = start_restore(rpd, rg, "r-" + name, drp)
        assert r.status_code == 202, r.text
        st = wait_op(rpd, r)
        if drp.lower() in hurt:
            # fails loudly, and leaves no disk behind
            assert st["status"] == "Failed", st
            assert st["error"]["code"] == "DataCorrupted", st
            assert "verification" in st["error"]["message"], st
            assert rpd.req("GET", disk_path(rg, "r-" + name), DISK_API).status_code == 404
            # the SAS read of the point never hands out wrong bytes either
            sas = grant(rpd, rg, None, "Read", path=drp)
            try:
                got = read_all(session(rpd), sas)
            except (requests.exceptions.RequestException, AssertionError):
                got = None
            assert got is None or got == imgs[name], "wrong bytes served"
            assert got is None, "a corrupt point read back whole"
            revoke(rpd, rg, None, path=drp)
        else:
            assert st["status"] == "Succeeded", st
            assert sha(read_disk(rpd, rg, "r-" + name)) == sha(imgs[name])
