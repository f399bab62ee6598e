"""Faults between two rpd hosts during a cross-region copy (westus on host B pulls from
eastus on host A): a proxy on the link severs connections mid-transfer and holds others back,
chunks arrive corrupted, the target or the source is killed with -9. Every copy completes
with the source's bytes, and what is sent again stays within what was in flight."""
import time

import pytest

from conftest import COMPUTE_API, DISK_API, RG_API, disk_path, rg_path
from fault_proxy import FaultProxy
from hosts_common import Hosts
from rp_common import (MIB, grant, make_vm, rand, read_all, revoke, rp_path, rpc_path, session,
                       sha, upload_disk, wait_op)

SIZE = 64 * MIB
IN_FLIGHT = 16 * MIB + MIB   # 4 connections x 16 chunks of 256 KiB, with framing


def setup_vm(a, rg):
    r = a.req("PUT", rg_path(rg), RG_API, {"location": "eastus"})
    assert r.status_code == 201, r.text
    data = rand(SIZE, 77)
    osd = upload_disk(a, rg, "osd", SIZE, [(0, data)], os_type="Linux")
    vm = make_vm(a, rg, "vm", osd)
    r = a.req("PUT", rpc_path(rg, "west"), COMPUTE_API, {"location": "westus", "properties": {
        "source": {"id": vm["id"]}}})
    assert r.status_code == 201, r.text
    return data


def progress(host, rp_id):
    v = host.req("GET", rp_id, COMPUTE_API, params={"$expand": "instanceView"}).json()
    iv = v["properties"]["instanceView"]
    pct = [d["replicationStatus"]["completionPercent"] for d in iv["diskRestorePoints"]]
    return v, iv["statuses"][0]["code"], pct


def wait_done(host, rp_id, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v, code, _ = progress(host, rp_id)
        except Exception:   # the host may be restarting
            time.sleep(0.2)
            continue
        if code != "ReplicationState/inProgress":
            return v, code
        time.sleep(0.1)
    raise AssertionError("copy did not finish")


def wait_started(host, rp_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, code, pct = progress(host, rp_id)
        if code != "ReplicationState/inProgress" or (pct and pct[0] > 0):
            return
        time.sleep(0.02)
    raise AssertionError("copy did not start")


def restored_bytes(b, rg, name, v):
    drp = v["properties"]["instanceView"]["diskRestorePoints"][0]["id"]
    r = b.req("PUT", disk_path(rg, name), DISK_API, {"location": "westus", "properties": {
        "creationData": {"createOption": "Restore", "sourceResourceId": drp}}})
    assert r.status_code == 202, r.text
    assert wait_op(b, r, 120)["status"] == "Succeeded"
    sas = grant(b, rg, name, "Read")
    try:
        return read_all(session(b), sas)
    finally:
        revoke(b, rg, name)


def start_point(b, rg, name):
    r = b.req("PUT", rp_path(rg, "west", name), COMPUTE_API, {})
    assert r.status_code == 201, r.text
    assert wait_op(b, r, 120)["status"] == "Succeeded"
    return r.json()["id"]


def test_faults__severed_and_delayed_links_and_corrupt_chunks(tmp_path):
    proxies = []

    def link(port):
        p = FaultProxy(port)
        proxies.append(p)
        return p.url

    h = Hosts(tmp_path, link=link, a_env={"RPD_TEST_CORRUPT_CHUNKS": "2"})
    proxy = proxies[0]
    try:
        data = setup_vm(h.a, "f1")
        proxy.sever_after = 5 * MIB
        proxy.sever_left = 3
        proxy.delay_every = 3
        proxy.delay_s = 0.5
        before = proxy.down_bytes
        rp = start_point(h.b, "f1", "p1")
        v, code = wait_done(h.b, rp)
        assert code == "ReplicationState/succeeded", v
        assert proxy.severed == 3 and proxy.delayed >= 1
        moved = proxy.down_bytes - before
        # the chunks once, plus at most what was in flight at each cut and each corrupt batch
        assert moved <= SIZE + (proxy.severed + 2) * IN_FLIGHT + 2 * MIB, (moved, SIZE)
        assert h.a.log().count("chunk sent corrupted") == 2
        assert sha(restored_bytes(h.b, "f1", "r1", v)) == sha(data)
    finally:
        h.stop()
        for p in proxies:
            p.close()
        h.logs_clean()


@pytest.mark.parametrize("victim", ["target", "source"])
def test_faults__kill_9_mid_copy_then_restart_completes(tmp_path, victim):
    # a 30 MB/s link so that the copy is still running when the kill comes
    h = Hosts(tmp_path, b_peer_extra="copy_bandwidth = 30\n")
    try:
        data = setup_vm(h.a, "f2")
        rp = start_point(h.b, "f2", "p1")
        wait_started(h.b, rp)
        host = h.b if victim == "target" else h.a
        host.kill9()
        time.sleep(0.5)
        host.start()
        v, code = wait_done(h.b, rp)
        assert code == "ReplicationState/succeeded", v
        assert sha(restored_bytes(h.b, "f2", "r1", v)) == sha(data)
        # the source lets its hold go once the copy is done
        deadline = time.time() + 30
        while "released" not in h.a.log() and time.time() < deadline:
            time.sleep(0.2)
        assert "released" in h.a.log()
    finally:
        h.stop()
        h.logs_clean()
