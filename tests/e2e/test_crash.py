"""Crash safety: kill -9 rpd in the middle of a stream of page writes and resource PUTs, restart
it on the same data directory, and find every acknowledged write and resource there, byte for
byte. Long-running operations accepted before the kill complete after the restart, and SIGTERM
stops rpd cleanly (exit 0)."""
import os
import signal
import sqlite3
import threading
import time
import urllib.parse

import requests

from conftest import DISK_API, RG_API, SUB, disk_path, rg_path

MIB = 1024 * 1024
BLOCK = 64 * 1024          # one page write
SLOTS_PER_WRITER = 48      # each writer cycles over its own slots, so blocks get overwritten
WRITERS = 4
PUTTERS = 3


def block(writer, slot, version):
    """The content of (writer, slot) at @version: every 512-byte sector names all three, so a
    torn write is visible sector by sector."""
    sector = bytearray(512)
    head = ("w%d s%d v%d " % (writer, slot, version)).encode()
    for i in range(0, 512, len(head)):
        sector[i:i + len(head)] = head[:512 - i]
    out = bytearray()
    for n in range(BLOCK // 512):
        s = bytearray(sector)
        s[-4:] = n.to_bytes(4, "little")
        out += s
    return bytes(out)


SPAN = WRITERS * SLOTS_PER_WRITER * BLOCK  # the disk bytes one round writes
ROUNDS = 3


def slot_offset(rnd, writer, slot):
    return rnd * SPAN + (writer * SLOTS_PER_WRITER + slot) * BLOCK


def grant(rpd, rg, disk, access="Write"):
    r = rpd.req("POST", disk_path(rg, disk) + "/beginGetAccess", DISK_API,
                {"access": access, "durationInSeconds": 3600})
    assert r.status_code == 202, r.text
    r = requests.get(r.headers["Location"], headers={"Authorization": "Bearer " + rpd.token()},
                     verify=rpd.ca)
    assert r.status_code == 200, r.text
    return r.json()["accessSAS"]


def session(rpd):
    """A requests session that trusts rpd's CA. trust_env is off: with REQUESTS_CA_BUNDLE set,
    requests would otherwise ignore Session.verify."""
    s = requests.Session()
    s.trust_env = False
    s.verify = rpd.ca
    return s


def rebase(url, rpd):
    """@url (from before a restart) pointed at the restarted rpd (its port changed)."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(netloc=urllib.parse.urlsplit(rpd.url).netloc))


def put_disk(rpd, rg, name, location="eastus", tags=None, session=None):
    body = {"location": location, "tags": tags or {},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}
    s = session or requests
    return s.put(rpd.url + disk_path(rg, name), params={"api-version": DISK_API}, json=body,
                 headers={"Authorization": "Bearer " + rpd.token()}, verify=rpd.ca, timeout=30)


class Stream:
    """Writer and putter threads recording what the server acknowledged."""

    def __init__(self, rpd, rg, sas, rnd):
        self.rpd, self.rg, self.sas, self.rnd = rpd, rg, sas, rnd
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}       # (writer, slot) -> last acknowledged version
        self.inflight = {}    # (writer, slot) -> version sent, not (yet) acknowledged
        self.resources = {}   # (kind, name) -> tags value acknowledged last
        self.res_inflight = {}
        self.n_writes = 0
        self.n_puts = 0
        self.errors = []
        self.threads = []

    def writer(self, w):
        s = session(self.rpd)
        version = 0
        while not self.stop.is_set():
            for slot in range(SLOTS_PER_WRITER):
                if self.stop.is_set():
                    return
                version += 1
                with self.lock:
                    self.inflight[(w, slot)] = version
                off = slot_offset(self.rnd, w, slot)
                try:
                    r = s.put(self.sas + "&comp=page", data=block(w, slot, version), timeout=30,
                              headers={"x-ms-range": "bytes=%d-%d" % (off, off + BLOCK - 1),
                                       "x-ms-page-write": "update"})
                except requests.exceptions.RequestException:
                    return  # the server is gone
                if r.status_code != 201:
                    self.errors.append(("write", r.status_code, r.text))
                    return
                with self.lock:
                    self.acked[(w, slot)] = version
                    self.n_writes += 1

    def putter(self, p):
        s = session(self.rpd)
        i = 0
        while not self.stop.is_set():
            i += 1
            # new groups and disks, and updates of an existing group's tags
            r0 = self.rnd
            jobs = [("group", "cg%d-%d-%d" % (r0, p, i)), ("disk", "cd%d-%d-%d" % (r0, p, i)),
                    ("group", "cgupd%d-%d" % (r0, p))]
            for kind, name in jobs:
                tags = {"v": str(i)}
                with self.lock:
                    self.res_inflight[(kind, name)] = tags["v"]
                try:
                    if kind == "group":
                        r = s.put(self.rpd.url + rg_path(name), params={"api-version": RG_API},
                                  json={"location": "westus" if p % 2 else "eastus",
                                        "tags": tags},
                                  headers={"Authorization": "Bearer " + self.rpd.token()},
                                  verify=self.rpd.ca, timeout=30)
                    else:
                        r = put_disk(self.rpd, self.rg, name,
                                     location="westus" if i % 2 else "eastus", tags=tags,
                                     session=s)
                except requests.exceptions.RequestException:
                    return
                if r.status_code not in (200, 201):
                    self.errors.append(("put", r.status_code, r.text))
                    return
                with self.lock:
                    self.resources[(kind, name)] = tags["v"]
                    self.n_puts += 1

    def start(self):
        for w in range(WRITERS):
            self.threads.append(threading.Thread(target=self.writer, args=(w,), daemon=True))
        for p in range(PUTTERS):
            self.threads.append(threading.Thread(target=self.putter, args=(p,), daemon=True))
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
            assert not t.is_alive()


def check_round(rpd, st, sas):
    """After a restart: every write acknowledged in round st.rnd reads back; a sector of a write
    in flight at the kill holds the old or the new bytes. Returns the bytes of the round's span."""
    acked, inflight = dict(st.acked), dict(st.inflight)
    s = session(rpd)
    base = st.rnd * SPAN
    r = s.get(sas, headers={"Range": "bytes=%d-%d" % (base, base + SPAN - 1)})
    assert r.status_code == 206, r.text
    data = r.content
    for w in range(WRITERS):
        for slot in range(SLOTS_PER_WRITER):
            off = slot_offset(st.rnd, w, slot) - base
            got = data[off:off + BLOCK]
            v = acked.get((w, slot))
            pending = inflight.get((w, slot))
            good = [block(w, slot, v)] if v else [bytes(BLOCK)]
            if pending and pending != v:
                good.append(block(w, slot, pending))  # may have landed, wholly or in part
            for n in range(0, BLOCK, 512):
                assert any(got[n:n + 512] == g[n:n + 512] for g in good), (
                    "round %d writer %d slot %d sector %d: acknowledged version %s (in flight "
                    "%s) lost; found %r" % (st.rnd, w, slot, n // 512, v, pending,
                                            got[n:n + 24]))
    return data


def check_resources(rpd, rg, st):
    """Every acknowledged resource is there, with its acknowledged (or a later, in-flight) tags;
    one in flight at the kill is wholly there or wholly absent."""
    resources, res_inflight = dict(st.resources), dict(st.res_inflight)
    for (kind, name), v in resources.items():
        path = rg_path(name) if kind == "group" else disk_path(rg, name)
        api = RG_API if kind == "group" else DISK_API
        r = rpd.req("GET", path, api)
        assert r.status_code == 200, (kind, name, r.text)
        tag = r.json()["tags"].get("v")
        assert tag in (v, res_inflight.get((kind, name))), (kind, name, v, tag)
    for (kind, name) in set(res_inflight) - set(resources):
        path = rg_path(name) if kind == "group" else disk_path(rg, name)
        api = RG_API if kind == "group" else DISK_API
        r = rpd.req("GET", path, api)
        assert r.status_code in (200, 404), r.text
        if kind == "disk" and r.status_code == 200:
            g = grant(rpd, rg, name, "Read")
            assert session(rpd).head(g).status_code == 200


def test_kill9_during_writes_and_puts_loses_nothing_acknowledged(rpd):
    rg = "crash"
    assert rpd.req("PUT", rg_path(rg), RG_API, {"location": "eastus"}).status_code == 201
    r = rpd.req("PUT", disk_path(rg, "data"), DISK_API, {
        "location": "eastus",
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
    assert r.status_code == 200, r.text
    sas = grant(rpd, rg, "data")
    earlier = []  # (round, bytes, stream) of the rounds already checked
    for rnd in range(ROUNDS):
        st = Stream(rpd, rg, sas, rnd)
        st.start()
        # let the stream run until enough has been acknowledged (more each round, so the
        # kill lands at different points), then kill mid-stream
        want_w, want_p = 150 + 150 * rnd, 40 + 30 * rnd
        deadline = time.time() + 30
        while time.time() < deadline and (st.n_writes < want_w or st.n_puts < want_p):
            time.sleep(0.02)
        assert not st.errors, st.errors
        rpd.kill9()
        st.join()
        assert not st.errors, st.errors
        assert st.n_writes > 0 and st.n_puts > 0
        print("round %d: killed after %d acknowledged writes and %d PUTs" %
              (rnd, st.n_writes, st.n_puts))

        rpd.start()
        sas = rebase(sas, rpd)
        data = check_round(rpd, st, sas)
        check_resources(rpd, rg, st)
        # what earlier rounds left is untouched, and their resources are still there
        s = session(rpd)
        for r0, before, st0 in earlier:
            got = s.get(sas, headers={"Range": "bytes=%d-%d" % (r0 * SPAN,
                                                               (r0 + 1) * SPAN - 1)}).content
            assert got == before, "round %d data changed after a later crash" % r0
            check_resources(rpd, rg, st0)
        earlier.append((rnd, data, st))

    # groups are in every region: the list holds every acknowledged one
    groups = set()
    link = rpd.url + "/subscriptions/%s/resourcegroups?api-version=%s" % (SUB, RG_API)
    while link:
        page = session(rpd).get(link, headers={"Authorization": "Bearer " + rpd.token()}).json()
        groups |= {g["name"] for g in page["value"]}
        link = page.get("nextLink")
    for _, _, st in earlier:
        assert {n for k, n in st.resources if k == "group"} <= groups

    # and the daemon works normally after the restarts: the old SAS still writes
    s = session(rpd)
    end = ROUNDS * SPAN
    assert s.put(sas + "&comp=page", data=b"\x5a" * 512,
                 headers={"x-ms-range": "bytes=%d-%d" % (end, end + 511),
                          "x-ms-page-write": "update"}).status_code == 201
    assert s.get(sas, headers={"Range": "bytes=%d-%d" % (end, end + 511)}).content == \
        b"\x5a" * 512


def pending_ops(data_dir, region):
    """Operation records still waiting for a worker, read from the store after a kill."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "regions", region,
                                                         "meta.db"), uri=True)
    try:
        cols = [c[1] for c in db.execute("PRAGMA table_info(operations)")]
        rows = db.execute("SELECT * FROM operations").fetchall()
    finally:
        db.close()
    return [dict(zip(cols, row)) for row in rows]


def test_operations_accepted_before_kill9_complete_after_restart(rpd, monkeypatch):
    assert rpd.req("PUT", rg_path("keep"), RG_API, {"location": "westus"}).status_code == 201
    assert rpd.req("PUT", rg_path("doomed"), RG_API, {"location": "eastus"}).status_code == 201
    for rg, name, loc in (("keep", "gone", "westus"), ("doomed", "d1", "eastus"),
                          ("doomed", "d2", "westus"), ("keep", "stays", "eastus")):
        assert put_disk(rpd, rg, name, loc).status_code == 200
    # hold every job back, so that the kill comes while both operations are pending
    rpd.stop()
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", "60000")
    rpd.start()
    r1 = rpd.req("DELETE", disk_path("keep", "gone"), DISK_API)
    assert r1.status_code == 202, r1.text
    r2 = rpd.req("DELETE", rg_path("doomed"), RG_API)
    assert r2.status_code == 202, r2.text
    assert rpd.req("GET", disk_path("keep", "gone"), DISK_API).json()["properties"][
        "provisioningState"] == "Deleting"
    rpd.kill9()
    # the records are durable and still pending
    ops = pending_ops(rpd.data, "westus") + pending_ops(rpd.data, "eastus")
    pending = sorted(o["kind"] for o in ops if o["job_pending"] and o["status"] == "InProgress")
    assert pending == ["disk.delete", "group.delete"], ops

    monkeypatch.delenv("RPD_TEST_JOB_DELAY_MS")
    rpd.start()
    for resp in (r1, r2):
        st = rpd.wait_lro(type("R", (), {"headers": {
            "Azure-AsyncOperation": rebase(resp.headers["Azure-AsyncOperation"], rpd)}}),
            timeout=30)
        assert st["status"] == "Succeeded", st
        r = requests.get(rebase(resp.headers["Location"], rpd), verify=rpd.ca,
                         headers={"Authorization": "Bearer " + rpd.token()})
        assert r.status_code in (200, 204), r.text
    r = rpd.req("GET", disk_path("keep", "gone"), DISK_API)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    assert rpd.req("GET", rg_path("doomed"), RG_API).status_code == 404
    assert rpd.req("GET", disk_path("keep", "stays"), DISK_API).status_code == 200
    r = rpd.req("GET", "/subscriptions/%s/providers/Microsoft.Compute/disks" % SUB, DISK_API)
    assert [d["name"] for d in r.json()["value"]] == ["stays"]
    for region, n in (("eastus", 1), ("westus", 0)):
        imgs = [f for f in os.listdir(os.path.join(rpd.data, "regions", region, "disks"))
                if f.endswith(".img")]
        assert len(imgs) == n, (region, imgs)


def test_sigterm_stops_cleanly_with_exit_0_and_keeps_pending_operations(rpd, monkeypatch):
    assert rpd.req("PUT", rg_path("t"), RG_API, {"location": "eastus"}).status_code == 201
    assert put_disk(rpd, "t", "d").status_code == 200
    sas = grant(rpd, "t", "d")
    # connections open and idle, one pending operation held back by the hook
    idle = session(rpd)
    assert idle.head(sas).status_code == 200
    assert rpd.req("POST", disk_path("t", "d") + "/endGetAccess", DISK_API).status_code == 202
    rpd.stop()
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", "60000")
    rpd.start()
    r = rpd.req("DELETE", disk_path("t", "d"), DISK_API)
    assert r.status_code == 202
    t0 = time.time()
    rpd.proc.send_signal(signal.SIGTERM)
    rc = rpd.proc.wait(timeout=20)
    rpd.proc = None
    assert rc == 0, rpd.log()
    assert time.time() - t0 < 10, "SIGTERM took too long"
    assert "rpd stopped" in rpd.log()
    monkeypatch.delenv("RPD_TEST_JOB_DELAY_MS")
    rpd.start()
    st = rpd.wait_lro(type("R", (), {"headers": {
        "Azure-AsyncOperation": rebase(r.headers["Azure-AsyncOperation"], rpd)}}), timeout=30)
    assert st["status"] == "Succeeded"
    assert rpd.req("GET", disk_path("t", "d"), DISK_API).status_code == 404
