#!/usr/bin/python3
"""capture_rpd.py: the rpd half of bench/capture.sh, against a running rpd.

Group, an Upload disk filled from V1 (rpctl disk import: holes and zero blocks skipped; or,
with --uploader python or when rpctl cannot import, page writes from here), a VM attaching it,
a collection; then, timed from the PUT to Succeeded: a full restore point; the change (only
the changed 64 KiB ranges, from V2, through a Write SAS); an incremental restore point; a
restore of the second point's disk restore point into a new disk. Bytes stored come from
provisioningDetails.totalUsedSizeInBytes (api-version 2021-03-01) and from the size of
<data>/regions/eastus/chunks. Writes a JSON document of the figures to --out.

With --perf DIR, `perf record -g` follows rpd during each timed step (DIR/<step>.data)."""
import argparse
import concurrent.futures
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import requests

SUB = "00000000-0000-0000-0000-0000000ca9be"
RG = "bench"
RG_API = "2022-09-01"
DISK_API = "2022-07-02"
COMPUTE_API = "2022-08-01"
OLD_RP_API = "2021-03-01"
PAGE_MAX = 4 << 20
REGION = "eastus"


def log(*a):
    print("capture_rpd:", *a, file=sys.stderr, flush=True)


class Rpd:
    def __init__(self, args):
        self.data = args.data
        self.pid = args.pid
        self.url = open(os.path.join(self.data, "rpd.url")).read().strip()
        self.ca = os.path.join(self.data, "tls", "ca.pem")
        self.token = subprocess.check_output(
            [args.rpctl, "token", "--data", self.data, "--subscription", SUB]).decode().strip()
        self.s = self.session()

    def session(self):
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        s.headers["Authorization"] = "Bearer " + self.token
        return s

    def req(self, method, path, api=None, body=None, params=None, ok=(200, 201, 202)):
        p = dict(params or {})
        if api:
            p["api-version"] = api
        r = self.s.request(method, self.url + path if path.startswith("/") else path,
                           params=p, json=body, timeout=120)
        if r.status_code not in ok:
            raise RuntimeError("%s %s: %s %s" % (method, path, r.status_code, r.text[:500]))
        return r

    def wait(self, r, timeout=600):
        """Follow Azure-AsyncOperation of @r until terminal; the final status body.
        The poll interval is 2 % of the time elapsed (10 ms to 200 ms): the measurement error
        stays near 2 % while the polls (TLS requests: a few ms of CPU each, in this process
        and in rpd) take little from the two cores the step itself needs."""
        url = r.headers["Azure-AsyncOperation"]
        t0 = time.monotonic()
        while True:
            st = self.req("GET", url, ok=(200,)).json()
            if st["status"] in ("Succeeded", "Failed", "Canceled"):
                return st
            elapsed = time.monotonic() - t0
            if elapsed > timeout:
                raise RuntimeError("operation did not finish: %s" % st)
            time.sleep(min(0.2, max(0.01, 0.02 * elapsed)))

    def lro(self, r):
        if r.status_code in (201, 202) and "Azure-AsyncOperation" in r.headers:
            st = self.wait(r)
            if st["status"] != "Succeeded":
                raise RuntimeError("operation failed: %s" % json.dumps(st))
            loc = r.headers.get("Location")
            if loc:
                f = self.req("GET", loc, ok=(200, 204))
                return f.json() if f.content else None
        return r.json() if r.content else None

    def cpu(self):
        """CPU seconds (user + system, all threads) rpd used so far."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def disk_path(name):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s" % (
        SUB, RG, name)


def vm_path(name):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/" \
           "virtualMachines/%s" % (SUB, RG, name)


def rpc_path(name):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/" \
           "restorePointCollections/%s" % (SUB, RG, name)


def tree_size(d):
    """(apparent bytes, allocated bytes) of the files under @d."""
    app = alloc = 0
    for root, _, files in os.walk(d):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except FileNotFoundError:
                continue
            app += st.st_size
            alloc += st.st_blocks * 512
    return app, alloc


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(8 << 20)
        mv = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
    return h.hexdigest()


def warm(path):
    """Read @path (a file, or every file under a directory) once, so that it sits in the
    page cache."""
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for f in files:
                warm(os.path.join(root, f))
        return
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(8 << 20)
        while f.readinto(buf):
            pass


def data_extents(path):
    """(offset, length) of the data regions of a sparse file (SEEK_DATA/SEEK_HOLE)."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        off = 0
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            h = os.lseek(fd, d, os.SEEK_HOLE)
            out.append((d, h - d))
            off = h
    finally:
        os.close(fd)
    return out


def page_writes(rpd, sas, path, ranges, threads=4):
    """PUT <sas>&comp=page of each (offset, length) of @path, split into <= 4 MiB pieces,
    512-aligned, @threads in flight. Returns the bytes sent."""
    pieces = []
    for off, length in ranges:
        a, b = off - off % 512, -(-(off + length) // 512) * 512
        while a < b:
            n = min(PAGE_MAX, b - a)
            pieces.append((a, n))
            a += n
    local = threading.local()
    fd = os.open(path, os.O_RDONLY)

    def one(p):
        if not hasattr(local, "s"):
            local.s = rpd.session()
        off, n = p
        body = os.pread(fd, n, off)
        if len(body) < n:
            body += bytes(n - len(body))
        r = local.s.put(sas + "&comp=page", data=body, timeout=120,
                        headers={"x-ms-range": "bytes=%d-%d" % (off, off + n - 1),
                                 "x-ms-page-write": "update"})
        if r.status_code != 201:
            raise RuntimeError("page write at %d: %s %s" % (off, r.status_code, r.text[:300]))
        return n

    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            return sum(ex.map(one, pieces))
    finally:
        os.close(fd)


def grant(rpd, name, access):
    r = rpd.req("POST", disk_path(name) + "/beginGetAccess", DISK_API,
                {"access": access, "durationInSeconds": 3600})
    return rpd.lro(r)["accessSAS"]


def revoke(rpd, name):
    rpd.lro(rpd.req("POST", disk_path(name) + "/endGetAccess", DISK_API))


def upload_python(rpd, name, path):
    size = os.path.getsize(path)
    size = max(-(-size // 512) * 512, 20 * 1024 * 1024 + 512)
    rpd.lro(rpd.req("PUT", disk_path(name), DISK_API, {
        "location": REGION,
        "properties": {"osType": "Linux", "hyperVGeneration": "V2",
                       "creationData": {"createOption": "Upload", "uploadSizeBytes": size}}}))
    sas = grant(rpd, name, "Write")
    sent = page_writes(rpd, sas, path, data_extents(path))
    revoke(rpd, name)
    return sent


class Perf:
    """perf record -a -g during a step (system-wide: `perf record -p` did not follow the
    worker threads a capture starts). Read with: perf report -i DIR/STEP.data --pid PID."""

    def __init__(self, d, pid):
        self.d, self.pid, self.p = d, pid, None

    def start(self, step):
        if not self.d:
            return
        os.makedirs(self.d, exist_ok=True)
        with open(os.path.join(self.d, "rpd.pid"), "w") as f:
            f.write("%d\n" % self.pid)
        self.p = subprocess.Popen(["perf", "record", "-a", "-g", "-q", "-o",
                                   os.path.join(self.d, step + ".data")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # let perf attach

    def stop(self):
        if self.p:
            self.p.send_signal(signal.SIGINT)
            self.p.wait()
            self.p = None


def timed_rp(rpd, perf, rpc, name, step):
    chunks = os.path.join(rpd.data, "regions", REGION, "chunks")
    before = tree_size(chunks)
    perf.start(step)
    c0 = rpd.cpu()
    t0 = time.monotonic()
    r = rpd.req("PUT", rpc_path(rpc) + "/restorePoints/" + name, COMPUTE_API,
                {"properties": {"excludeDisks": []}}, ok=(201,))
    st = rpd.wait(r)
    wall = time.monotonic() - t0
    cpu = rpd.cpu() - c0
    perf.stop()
    if st["status"] != "Succeeded":
        raise RuntimeError("restore point %s: %s" % (name, json.dumps(st)))
    after = tree_size(chunks)
    old = rpd.req("GET", rpc_path(rpc) + "/restorePoints/" + name, OLD_RP_API).json()
    new = rpd.req("GET", rpc_path(rpc) + "/restorePoints/" + name, COMPUTE_API,
                  params={"$expand": "instanceView"}).json()
    drp = new["properties"]["sourceMetadata"]["storageProfile"]["osDisk"]["diskRestorePoint"]["id"]
    res = {"wall_s": wall, "rpd_cpu_s": cpu,
           "total_used_size_bytes": old["properties"]["provisioningDetails"][
               "totalUsedSizeInBytes"],
           "chunks_dir_growth_bytes": after[0] - before[0],
           "chunks_dir_growth_allocated_bytes": after[1] - before[1],
           "chunks_dir_bytes": after[0], "drp_id": drp}
    log("%s: %.2f s wall, %.2f s rpd CPU, totalUsedSizeInBytes %d, chunks dir +%d bytes" % (
        name, wall, cpu, res["total_used_size_bytes"], res["chunks_dir_growth_bytes"]))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--rpctl", required=True)
    ap.add_argument("--v1", required=True)
    ap.add_argument("--v2", required=True)
    ap.add_argument("--changes", required=True)
    ap.add_argument("--v2-sha256", required=True)
    ap.add_argument("--uploader", choices=("auto", "rpctl", "python"), default="auto")
    ap.add_argument("--perf")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rpd = Rpd(args)
    perf = Perf(args.perf, args.pid)
    out = {}

    rpd.req("PUT", "/subscriptions/%s/resourcegroups/%s" % (SUB, RG), RG_API,
            {"location": REGION})

    # 1. the source disk, from V1
    t0 = time.monotonic()
    how = None
    if args.uploader in ("auto", "rpctl"):
        p = subprocess.run([args.rpctl, "disk", "import", "-g", RG, "-n", "src", "--file",
                            args.v1, "-l", REGION, "--os-type", "Linux", "--no-progress",
                            "--data", args.data, "--subscription", SUB, "-o", "none"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode == 0:
            how = "rpctl disk import"
        elif args.uploader == "rpctl":
            raise RuntimeError("rpctl disk import failed: " + p.stdout.decode()[-2000:])
        else:
            log("rpctl disk import failed (%d), uploading from Python: %s" % (
                p.returncode, p.stdout.decode()[-500:]))
            r = rpd.s.delete(rpd.url + disk_path("src"), params={"api-version": DISK_API})
            if r.status_code == 202:
                rpd.lro(r)
    if not how:
        upload_python(rpd, "src", args.v1)
        how = "Python page writes (4 threads)"
    out["upload"] = {"how": how, "wall_s": time.monotonic() - t0}
    log("upload of V1 (%s): %.1f s" % (how, out["upload"]["wall_s"]))
    disk = rpd.req("GET", disk_path("src"), DISK_API).json()
    src_img = os.path.join(args.data, "regions", REGION, "disks",
                           disk["properties"]["uniqueId"] + ".img")
    if not os.path.exists(src_img):
        raise RuntimeError("no image file %s" % src_img)
    st = os.stat(src_img)
    out["source_image"] = {"size": st.st_size, "allocated": st.st_blocks * 512}

    # 2. the VM and its collection
    r = rpd.req("PUT", vm_path("vm1"), COMPUTE_API, {
        "location": REGION,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "osProfile": {"computerName": "vm1", "adminUsername": "azureuser",
                          "adminPassword": "Secret-Passw0rd!"},
            "storageProfile": {"osDisk": {"createOption": "Attach", "osType": "Linux",
                                          "caching": "ReadWrite",
                                          "managedDisk": {"id": disk["id"]}},
                               "dataDisks": []}}})
    rpd.lro(r)
    vm = rpd.req("GET", vm_path("vm1"), COMPUTE_API).json()
    rpd.req("PUT", rpc_path("rpc1"), COMPUTE_API,
            {"location": REGION, "properties": {"source": {"id": vm["id"]}}})

    # 3. full restore point (warm cache: the image was just written; read it once more)
    warm(src_img)
    out["full"] = timed_rp(rpd, perf, "rpc1", "rp1", "full")

    # 4. the change, through the data plane: only the changed ranges
    ranges = []
    with open(args.changes) as f:
        for line in f:
            off, length, _ = line.split()
            ranges.append((int(off), int(length)))
    t0 = time.monotonic()
    sas = grant(rpd, "src", "Write")
    sent = page_writes(rpd, sas, args.v2, ranges)
    revoke(rpd, "src")
    out["change"] = {"writes": len(ranges), "bytes": sent, "wall_s": time.monotonic() - t0}
    log("change: %d page writes, %d bytes, %.1f s" % (len(ranges), sent,
                                                     out["change"]["wall_s"]))

    # 5. incremental restore point
    warm(src_img)
    out["incremental"] = timed_rp(rpd, perf, "rpc1", "rp2", "incremental")

    # 6. restore from the second point's disk restore point
    disks_dir = os.path.join(args.data, "regions", REGION, "disks")
    before = set(os.listdir(disks_dir))
    warm(os.path.join(args.data, "regions", REGION, "chunks"))
    warm(os.path.join(args.data, "regions", REGION, "manifests"))
    perf.start("restore")
    c0 = rpd.cpu()
    t0 = time.monotonic()
    r = rpd.req("PUT", disk_path("restored"), DISK_API, {
        "location": REGION,
        "properties": {"creationData": {"createOption": "Restore",
                                        "sourceResourceId": out["incremental"]["drp_id"]}}})
    if r.status_code in (201, 202):
        st = rpd.wait(r)
        if st["status"] != "Succeeded":
            raise RuntimeError("restore: %s" % json.dumps(st))
    wall = time.monotonic() - t0
    cpu = rpd.cpu() - c0
    perf.stop()
    d = rpd.req("GET", disk_path("restored"), DISK_API).json()
    if d["properties"]["provisioningState"] != "Succeeded":
        raise RuntimeError("restored disk: %s" % json.dumps(d))
    img = os.path.join(disks_dir, d["properties"].get("uniqueId", "") + ".img")
    if not os.path.exists(img):
        new = sorted(set(os.listdir(disks_dir)) - before)
        img = os.path.join(disks_dir, new[0])
    st = os.stat(img)
    digest = sha256_file(img)
    out["restore"] = {"wall_s": wall, "rpd_cpu_s": cpu, "size": st.st_size,
                      "allocated": st.st_blocks * 512, "sha256": digest,
                      "sha256_ok": digest == args.v2_sha256}
    log("restore: %.2f s wall, %.2f s rpd CPU, allocated %d bytes, SHA-256 %s" % (
        wall, cpu, st.st_blocks * 512, "equal to V2" if digest == args.v2_sha256 else
        "DIFFERENT from V2"))
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
