#!/usr/bin/python3
"""replicate_rpd.py: the rpd half of bench/replicate.sh: cross-region restore points between
two rpd processes on loopback, as tests/e2e/hosts_common.py runs them.

Host A hosts eastus, host B westus; they share the deployment's identity (CA, token signing
key, SAS key, chunk id key) and a pair key. B reaches A through a byte-counting TCP proxy in
this process (TLS passes through untouched), which stands for the link between the regions:
what it carries from A to B is "moved between regions".

--mode main: V1 uploaded into a disk in eastus on A (rpctl disk import), a VM with it, a
collection in westus (PUT through B, source = the VM). FULL: the restore point PUT through B
until `GET ...?$expand=instanceView` through B shows ReplicationState/succeeded (polled every
50 ms); bytes moved = what the proxy carried from A to B meanwhile. Then the changed ranges of
V2 are written through A's data plane (Write SAS, page writes) and INCREMENTAL is measured the
same way. Verify: the incremental point's disk restore point in westus is restored on B into
a disk, read through a Read SAS, and its SHA-256 compared with V2's.

--mode bandwidth: fresh hosts, B's [peer eastus] section with `copy_bandwidth = N` (MB/s);
the same FULL point; link utilisation = bytes carried / (transfer time x N MB/s), the transfer
time running from the first byte of the copy's first response (the manifest, on one of the
connections that then carry the chunk batches) to the last byte of its last chunk response;
the capture on A before and the hold release after move only small JSON answers.

--mode shaped: the same on fresh hosts without copy_bandwidth, the proxy carrying at most N
MB/s from A to B (a link that is really that slow, where rpd's limit only averages: it lets a
granted batch go at loopback speed).

Writes a JSON document of the figures to --out; the rpd process ids go to --pids while they
run (replicate.sh's cleanup kills those that still run its copy of rpd)."""
import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture_rpd import Perf, page_writes, warm  # noqa: E402

SUB = "00000000-0000-0000-0000-0000000ca9be"
RG = "bench"
RG_API = "2022-09-01"
DISK_API = "2022-07-02"
COMPUTE_API = "2022-08-01"
RP_API = "2023-03-01"
SHARED = [("tls", "ca.pem"), ("tls", "ca.key"), ("auth", "signing.key"), ("auth", "tenant"),
          ("auth", "sas.key"), ("auth", "chunk-id.key")]
POLL_S = 0.05
BIG_RESPONSE = 64 << 10       # a response this large carries chunks (or a large manifest)
MIN_COPY_RESPONSE = 4 << 10   # on a copy connection: larger than its TLS handshake


def log(*a):
    print("replicate_rpd:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the link
class Link:
    """A TCP proxy in front of host A, optionally shaping A -> B to a rate (a link of that
    bandwidth). Counts the bytes each way and keeps a timeline of the responses (A -> B
    bursts between two requests on one connection): [connection, time of the first byte,
    time of the last byte, bytes, time of the last byte of the request before it]; shaped,
    a byte's time is when it leaves the link."""

    BUF = 256 << 10
    SLICE = 64 << 10

    def __init__(self, target_port, rate=None):
        self.target = ("127.0.0.1", target_port)
        self.rate = rate       # bytes per second A -> B, or None (loopback speed)
        self.link_free = 0.0   # shaped: when the link has sent everything handed to it
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.down = 0          # A -> B (the chunks B pulls)
        self.up = 0
        self.connections = 0
        self.responses = []    # closed bursts: [conn, t_first, t_last, bytes, t_request]
        self.open = {}         # conn -> the burst being received
        self.req_t = {}        # conn -> time of the last byte B sent on it
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, n):
        try:
            s = socket.create_connection(self.target, timeout=10)
            s.settimeout(None)
        except OSError:
            c.close()
            return
        for x in (c, s):
            x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = threading.Thread(target=self._pipe, args=(c, s, n, False), daemon=True)
        t.start()
        self._pipe(s, c, n, True)
        t.join(timeout=30)
        for x in (c, s):
            try:
                x.close()
            except OSError:
                pass

    def _pipe(self, src, dst, n, down):
        buf = bytearray(self.BUF)
        mv = memoryview(buf)
        while True:
            try:
                k = src.recv_into(buf)
            except OSError:
                k = 0
            if not k:
                break
            # shaped: every 64 KiB leaves A -> B only when the link (one for all connections)
            # has carried what came before it at the rate
            for o in range(0, k, self.SLICE if down and self.rate else k):
                piece = mv[o:min(k, o + self.SLICE) if down and self.rate else k]
                if down and self.rate:
                    with self.lock:
                        now = time.monotonic()
                        start = max(now, self.link_free)
                        self.link_free = start + len(piece) / self.rate
                        due = self.link_free
                    if due > now:
                        time.sleep(due - now)
                self._count(n, down, len(piece))
                try:
                    dst.sendall(piece)
                except OSError:
                    k = 0
                    break
            if not k:
                break
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _count(self, n, down, k):
        now = time.monotonic()
        with self.lock:
            if down:
                self.down += k
                b = self.open.get(n)
                if b is None:
                    self.open[n] = [n, now, now, k, self.req_t.get(n, now)]
                else:
                    b[2] = now
                    b[3] += k
            else:
                self.up += k
                self.req_t[n] = now
                b = self.open.pop(n, None)   # a new request: the response before it ended
                if b is not None:
                    self.responses.append(b)

    def mark(self):
        with self.lock:
            return {"down": self.down, "up": self.up, "n_responses": len(self.responses),
                    "connections": self.connections, "t": time.monotonic()}

    def bursts_since(self, t0):
        """Every response (closed or still open) whose first byte came after @t0."""
        with self.lock:
            out = [list(b) for b in self.responses if b[1] >= t0]
            out += [list(b) for b in self.open.values() if b[1] >= t0]
        return sorted(out, key=lambda b: b[1])

    def close(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- hosts
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_conf(data, region, display, peer_region, peer_url, key_file, peer_extra=""):
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "rpd.conf"), "w") as f:
        f.write("[rpd]\nthreads = 8\n\n[region %s]\ndisplay_name = %s\n\n"
                "[peer %s]\nurl = %s\nkey_file = %s\n%s" % (region, display, peer_region,
                                                            peer_url, key_file, peer_extra))


class Host:
    def __init__(self, rpd_bin, data, port, pids_file):
        self.bin, self.data, self.port, self.pids_file = rpd_bin, data, port, pids_file
        self.proc = None
        self.url = None
        self.ca = os.path.join(data, "tls", "ca.pem")

    def start(self, log_level):
        url_file = os.path.join(self.data, "rpd.url")
        if os.path.exists(url_file):
            os.unlink(url_file)
        with open(os.path.join(self.data, "rpd.log"), "ab") as lf:
            self.proc = subprocess.Popen(
                [self.bin, "--data", self.data, "--listen", "127.0.0.1:%d" % self.port,
                 "--log-level", log_level], stdout=subprocess.DEVNULL, stderr=lf)
        with open(self.pids_file, "a") as f:
            f.write("%d\n" % self.proc.pid)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rpd exited (%s): %s" % (self.proc.returncode, self.log(30)))
            if os.path.exists(url_file):
                self.url = open(url_file).read().strip()
                return self
            time.sleep(0.05)
        raise RuntimeError("rpd did not start: " + self.log(30))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu(self):
        """CPU seconds (user + system, all threads) this rpd used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self, lines=40):
        try:
            with open(os.path.join(self.data, "rpd.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


class Client:
    """Raw HTTPS to one host with a bearer token."""

    def __init__(self, host, token):
        self.host = host
        self.token = token
        self.s = self.session()

    def session(self):
        s = requests.Session()
        s.trust_env = False
        s.verify = self.host.ca
        s.headers["Authorization"] = "Bearer " + self.token
        return s

    def req(self, method, path, api=None, body=None, params=None, ok=(200, 201, 202)):
        p = dict(params or {})
        if api:
            p["api-version"] = api
        r = self.s.request(method, path if path.startswith("https:") else self.host.url + path,
                           params=p, json=body, timeout=300)
        if r.status_code not in ok:
            raise RuntimeError("%s %s: %s %s" % (method, path, r.status_code, r.text[:500]))
        return r

    def wait(self, r, timeout=1800):
        url = r.headers["Azure-AsyncOperation"]
        t0 = time.monotonic()
        while True:
            st = self.req("GET", url, ok=(200,)).json()
            if st["status"] in ("Succeeded", "Failed", "Canceled"):
                return st
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("operation did not finish: %s" % st)
            time.sleep(0.05)

    def lro(self, r):
        if r.status_code in (201, 202) and "Azure-AsyncOperation" in r.headers:
            st = self.wait(r)
            if st["status"] != "Succeeded":
                raise RuntimeError("operation failed: %s" % json.dumps(st))
            loc = r.headers.get("Location")
            if loc and r.status_code == 202:
                r = self.req("GET", loc, ok=(200, 204))
                return r.json() if r.content else {}
            return st.get("properties", {}).get("output", st)
        return r.json() if r.content else {}


def arm(kind, name):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/%s/%s" % (
        SUB, RG, kind, name)


class Pair:
    """Host A (eastus) behind the link proxy, host B (westus) pulling from A through it."""

    def __init__(self, args, tag, b_peer_extra="", link_rate=None):
        root = os.path.join(args.work, tag)
        os.makedirs(root)
        key = os.path.join(root, "pair.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        da, db = os.path.join(root, "a"), os.path.join(root, "b")
        pa, pb = free_port(), free_port()
        write_conf(da, "eastus", "East US", "westus", "https://127.0.0.1:%d" % pb, key)
        self.a = Host(args.rpd, da, pa, args.pids).start(args.log_level)
        self.link = Link(pa, link_rate)
        for d, f in SHARED:
            os.makedirs(os.path.join(db, d), mode=0o700, exist_ok=True)
            shutil.copy2(os.path.join(da, d, f), os.path.join(db, d, f))
        write_conf(db, "westus", "West US", "eastus", self.link.url, key, b_peer_extra)
        self.b = Host(args.rpd, db, pb, args.pids).start(args.log_level)
        token = subprocess.check_output(
            [args.rpctl, "token", "--data", da, "--subscription", SUB]).decode().strip()
        self.ca, self.cb = Client(self.a, token), Client(self.b, token)

    def stop(self):
        self.b.stop()
        self.a.stop()
        self.link.close()


# ---------------------------------------------------------------- steps
def setup_source(args, p):
    """Group, disk 'src' in eastus on A from V1, VM 'vm1', collection 'west' in westus on B."""
    a, b = p.ca, p.cb
    a.req("PUT", "/subscriptions/%s/resourcegroups/%s" % (SUB, RG), RG_API,
          {"location": "eastus"})
    t0 = time.monotonic()
    r = subprocess.run([args.rpctl, "disk", "import", "-g", RG, "-n", "src", "--file", args.v1,
                        "-l", "eastus", "--os-type", "Linux", "--no-progress", "--data",
                        p.a.data, "--subscription", SUB, "-o", "none"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError("rpctl disk import failed: " + r.stdout.decode()[-2000:])
    upload_s = time.monotonic() - t0
    disk = a.req("GET", arm("disks", "src"), DISK_API).json()
    src_img = os.path.join(p.a.data, "regions", "eastus", "disks",
                           disk["properties"]["uniqueId"] + ".img")
    a.lro(a.req("PUT", arm("virtualMachines", "vm1"), COMPUTE_API, {
        "location": "eastus",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "osProfile": {"computerName": "vm1", "adminUsername": "azureuser",
                          "adminPassword": "Secret-Passw0rd!"},
            "storageProfile": {"osDisk": {"createOption": "Attach", "osType": "Linux",
                                          "caching": "ReadWrite",
                                          "managedDisk": {"id": disk["id"]}},
                               "dataDisks": []}}}))
    vm = a.req("GET", arm("virtualMachines", "vm1"), COMPUTE_API).json()
    c = b.req("PUT", arm("restorePointCollections", "west"), COMPUTE_API,
              {"location": "westus", "properties": {"source": {"id": vm["id"]}}}).json()
    if c.get("location") != "westus":
        raise RuntimeError("collection: %s" % json.dumps(c))
    log("upload of V1 into eastus on A (rpctl disk import): %.1f s" % upload_s)
    return {"upload_s": upload_s, "src_img": src_img, "vm_id": vm["id"]}


def chunks_bytes(host, region):
    tot = 0
    for root, _, files in os.walk(os.path.join(host.data, "regions", region, "chunks")):
        for f in files:
            try:
                tot += os.lstat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return tot


def union(spans):
    """Total length of the union of the (start, end) @spans."""
    tot, end = 0.0, None
    for lo, hi in sorted(spans):
        if end is not None:
            lo = max(lo, end)
        if hi > lo:
            tot += hi - lo
        end = hi if end is None else max(end, hi)
    return tot


def timed_point(p, name, src_img, perf_dir=None):
    """PUT a restore point through B; poll through B every 50 ms until the copy has ended.
    With @perf_dir: perf record -a -g of the step into perf_dir/name.data."""
    warm(src_img)
    perf = Perf(perf_dir, p.b.proc.pid)
    if perf_dir:
        os.makedirs(perf_dir, exist_ok=True)
        with open(os.path.join(perf_dir, "hosts.pid"), "w") as f:
            f.write("A %d\nB %d\n" % (p.a.proc.pid, p.b.proc.pid))
    perf.start(name)
    b = p.cb
    path = arm("restorePointCollections", "west") + "/restorePoints/" + name
    stored0 = chunks_bytes(p.b, "westus")
    m0 = p.link.mark()
    ca0, cb0 = p.a.cpu(), p.b.cpu()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    r = b.req("PUT", path, RP_API, {}, ok=(200, 201))
    t_put = time.monotonic() - t0
    t_prov = None
    polls = 0
    while True:
        v = b.req("GET", path, RP_API, params={"$expand": "instanceView"}, ok=(200,)).json()
        polls += 1
        now = time.monotonic() - t0
        props = v["properties"]
        if t_prov is None and props.get("provisioningState") == "Succeeded":
            t_prov = now
        if props.get("provisioningState") == "Failed":
            raise RuntimeError("restore point %s failed: %s" % (name, json.dumps(v)))
        sts = (props.get("instanceView") or {}).get("statuses") or []
        code = sts[0]["code"] if sts else None
        if code == "ReplicationState/succeeded":
            break
        if code == "ReplicationState/failed":
            raise RuntimeError("copy of %s failed: %s" % (name, json.dumps(v)))
        if now > 3600:
            raise RuntimeError("copy of %s did not finish: %s" % (name, json.dumps(v)))
        time.sleep(POLL_S)
    wall = time.monotonic() - t0
    perf.stop()
    m1 = p.link.mark()
    ca1, cb1 = p.a.cpu(), p.b.cpu()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    drp = props["instanceView"]["diskRestorePoints"][0]["id"]
    res = {"wall_s": wall, "put_s": t_put, "captured_s": t_prov, "polls": polls,
           "moved_bytes": m1["down"] - m0["down"], "up_bytes": m1["up"] - m0["up"],
           "connections": m1["connections"] - m0["connections"],
           "a_cpu_s": ca1 - ca0, "b_cpu_s": cb1 - cb0,
           "driver_cpu_s": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
           "b_stored_bytes": chunks_bytes(p.b, "westus") - stored0, "drp_id": drp,
           "status": r.status_code}
    bursts = p.link.bursts_since(m0["t"])
    # the copy's connections carry chunks; on them, after each one's TLS handshake (about
    # 1.3 KB from A), the manifest comes first (one 40-byte entry per stored chunk), then the
    # chunk batches. Small JSON calls (hold.get, release) use connections of their own.
    copy_conns = {x[0] for x in bursts if x[3] >= BIG_RESPONSE}
    big = [x for x in bursts if x[0] in copy_conns and x[3] >= MIN_COPY_RESPONSE]
    res["timeline"] = [[x[0], round(x[1] - t0, 4), round(x[2] - t0, 4), x[3], round(x[4] - t0, 4)]
                       for x in bursts]
    res["responses"] = len(bursts)
    res["big_responses"] = len(big)
    if big:
        first, last = min(x[1] for x in big), max(x[2] for x in big)
        res["transfer_first_s"] = first - t0
        res["transfer_last_s"] = last - t0
        res["transfer_s"] = last - first
        res["transfer_bytes"] = sum(x[3] for x in bursts if x[1] >= first and x[1] <= last)
        # how long at least one chunk response was on the link (the union of their spans):
        # the rest of the transfer time the link stood idle, waiting for the target
        res["link_active_s"] = union([(x[1], x[2]) for x in big])
        # how long a chunk request was outstanding (B waits for A, or for the link), and so
        # how long none was: B stores the batch it received (verify, compress, encrypt, write,
        # flush) before it asks for the next one, or waits for its bandwidth limiter
        outstanding = union([(x[4], x[2]) for x in big])
        res["requests_outstanding_s"] = outstanding
        res["a_preparing_s"] = outstanding - res["link_active_s"]
        res["b_between_batches_s"] = max(x[2] for x in big) - min(x[4] for x in big) - outstanding
    log("%s: %.2f s end to end (captured at %.2f s; copy responses %.2f-%.2f s, link carrying "
        "chunks %.2f s of it, A preparing %.2f s, B between batches %.2f s), %d bytes A->B, %d B->A; CPU A %.2f s, B %.2f s, driver %.2f s" % (
            name, wall, t_prov or -1, res.get("transfer_first_s", -1),
            res.get("transfer_last_s", -1), res.get("link_active_s", -1),
            res.get("a_preparing_s", -1), res.get("b_between_batches_s", -1), res["moved_bytes"],
            res["up_bytes"],
            res["a_cpu_s"], res["b_cpu_s"], res["driver_cpu_s"]))
    return res


def change(args, p):
    ranges = []
    with open(args.changes) as f:
        for line in f:
            off, length, _ = line.split()
            ranges.append((int(off), int(length)))
    a = p.ca
    t0 = time.monotonic()
    sas = a.lro(a.req("POST", arm("disks", "src") + "/beginGetAccess", DISK_API,
                      {"access": "Write", "durationInSeconds": 3600}))["accessSAS"]
    sent = page_writes(a, sas, args.v2, ranges)
    a.lro(a.req("POST", arm("disks", "src") + "/endGetAccess", DISK_API))
    res = {"writes": len(ranges), "bytes": sent, "wall_s": time.monotonic() - t0}
    log("change: %d page writes, %d bytes, %.1f s" % (len(ranges), sent, res["wall_s"]))
    return res


def verify(args, p, drp_id):
    """Restore @drp_id (westus) into a disk on B; SHA-256 of it read through a Read SAS."""
    b = p.cb
    t0 = time.monotonic()
    r = b.req("PUT", arm("disks", "restored"), DISK_API, {
        "location": "westus",
        "properties": {"creationData": {"createOption": "Restore",
                                        "sourceResourceId": drp_id}}})
    b.lro(r)
    restore_s = time.monotonic() - t0
    sas = b.lro(b.req("POST", arm("disks", "restored") + "/beginGetAccess", DISK_API,
                      {"access": "Read", "durationInSeconds": 3600}))["accessSAS"]
    h = hashlib.sha256()
    n = 0
    with b.session().get(sas, timeout=300, stream=True) as r:
        if r.status_code != 200:
            raise RuntimeError("SAS read: %s %s" % (r.status_code, r.text[:300]))
        for piece in r.iter_content(4 << 20):
            h.update(piece)
            n += len(piece)
    b.lro(b.req("POST", arm("disks", "restored") + "/endGetAccess", DISK_API))
    digest = h.hexdigest()
    ok = digest == args.v2_sha256
    log("restore in westus on B: %.1f s; read %d bytes through a Read SAS; SHA-256 %s" % (
        restore_s, n, "equal to V2" if ok else "DIFFERENT from V2"))
    return {"restore_s": restore_s, "read_bytes": n, "sha256": digest, "sha256_ok": ok}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("main", "bandwidth", "shaped"), required=True)
    ap.add_argument("--work", required=True, help="a directory for the hosts' data")
    ap.add_argument("--rpd", required=True)
    ap.add_argument("--rpctl", required=True)
    ap.add_argument("--v1", required=True)
    ap.add_argument("--v2")
    ap.add_argument("--changes")
    ap.add_argument("--v2-sha256")
    ap.add_argument("--bandwidth", type=int, default=50, help="MB/s, --mode bandwidth/shaped")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--pids", required=True)
    ap.add_argument("--perf", help="a directory for perf record -a -g of each timed step")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    for k in ("work", "rpd", "rpctl", "v1", "v2", "changes", "pids", "out", "perf"):
        if getattr(args, k):
            setattr(args, k, os.path.abspath(getattr(args, k)))
    out = {"mode": args.mode}
    if args.mode == "main":
        p = Pair(args, "main")
        try:
            src = setup_source(args, p)
            out["upload_s"] = src["upload_s"]
            out["full"] = timed_point(p, "rp1", src["src_img"], args.perf)
            out["change"] = change(args, p)
            out["incremental"] = timed_point(p, "rp2", src["src_img"], args.perf)
            out["verify"] = verify(args, p, out["incremental"]["drp_id"])
        except Exception:
            log("host A log:\n" + p.a.log())
            log("host B log:\n" + p.b.log())
            raise
        finally:
            p.stop()
    else:
        # bandwidth: rpd's own limit (copy_bandwidth in B's [peer eastus]), loopback link;
        # shaped: no limit in rpd, the proxy carries at most the rate (a link that slow)
        if args.mode == "bandwidth":
            p = Pair(args, "bandwidth", "copy_bandwidth = %d\n" % args.bandwidth)
        else:
            p = Pair(args, "shaped", link_rate=args.bandwidth * 1e6)
        try:
            src = setup_source(args, p)
            out["upload_s"] = src["upload_s"]
            full = timed_point(p, "rp1", src["src_img"], args.perf)
            out["full"] = full
            if "transfer_s" in full:
                full["utilisation"] = full["transfer_bytes"] / (
                    full["transfer_s"] * args.bandwidth * 1e6)
                log("%s %d MB/s: %d bytes in %.2f s of transfer: %.1f %% of the link" % (
                    args.mode, args.bandwidth, full["transfer_bytes"], full["transfer_s"],
                    100 * full["utilisation"]))
            out["bandwidth_mb_s"] = args.bandwidth
        except Exception:
            log("host A log:\n" + p.a.log())
            log("host B log:\n" + p.b.log())
            raise
        finally:
            p.stop()
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
