"""Helpers of the restore-point tests (test_restore_points*.py): small VMs whose disks are
filled through the SAS data plane, restore points and restores over raw HTTP, and reads of
whole images for comparison. Bulk data always goes through `requests`, never the SDK."""
import hashlib
import os
import random
import time
import urllib.parse

import requests

from conftest import COMPUTE_API, DISK_API, RG_API, SUB, disk_path, rg_path, vm_path

KIB = 1024
MIB = 1024 * KIB
CHUNK = 256 * KIB           # the chunk size of the store
PAGE_MAX = 4 * MIB          # the largest page write the data plane takes
MIN_UPLOAD = 20 * MIB + 512  # the smallest Upload disk Azure accepts
OLD_RP_API = "2021-03-01"   # restore points with provisioningDetails
PACKS = ("regions", "eastus", "chunks", "packs")


def rpc_path(rg, name, sub=SUB):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/" \
           "restorePointCollections/%s" % (sub, rg, name)


def rp_path(rg, rpc, name, sub=SUB):
    return rpc_path(rg, rpc, sub) + "/restorePoints/" + name


def session(rpd):
    """A session trusting rpd's CA (trust_env off: REQUESTS_CA_BUNDLE would override it)."""
    s = requests.Session()
    s.trust_env = False
    s.verify = rpd.ca
    return s


def rebase(url, rpd):
    """@url (from before a restart) pointed at the running rpd (its port changes)."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(netloc=urllib.parse.urlsplit(rpd.url).netloc))


def op_status(rpd, resp_or_url):
    url = resp_or_url if isinstance(resp_or_url, str) else \
        resp_or_url.headers["Azure-AsyncOperation"]
    r = requests.get(rebase(url, rpd), headers={"Authorization": "Bearer " + rpd.token()},
                     verify=rpd.ca, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_op(rpd, resp_or_url, timeout=60):
    """Poll an Azure-AsyncOperation URL (or the one of a 201/202) until terminal."""
    deadline = time.time() + timeout
    while True:
        st = op_status(rpd, resp_or_url)
        if st["status"] in ("Succeeded", "Failed", "Canceled"):
            return st
        assert time.time() < deadline, "operation did not finish: %s" % st
        time.sleep(0.05)


def lro_result(rpd, r, timeout=60):
    """Finish the LRO of a 201/202 reply; return the final body of its Location URL."""
    assert r.status_code in (201, 202), (r.status_code, r.text)
    st = wait_op(rpd, r, timeout)
    assert st["status"] == "Succeeded", st
    loc = r.headers.get("Location")
    if not loc:
        return None
    f = requests.get(rebase(loc, rpd), headers={"Authorization": "Bearer " + rpd.token()},
                     verify=rpd.ca, timeout=30)
    assert f.status_code in (200, 204), (f.status_code, f.text)
    return f.json() if f.content else None


# ---------------------------------------------------------------- groups, disks, VMs

def make_group(rpd, rg, location="eastus"):
    r = rpd.req("PUT", rg_path(rg), RG_API, {"location": location})
    assert r.status_code in (200, 201), r.text


def upload_disk(rpd, rg, name, size, data_at=(), os_type=None):
    """A disk of exactly @size bytes (createOption Upload), filled with @data_at, a list of
    (offset, bytes), through a Write SAS, then revoked (Unattached). Returns the disk id."""
    props = {"creationData": {"createOption": "Upload", "uploadSizeBytes": size}}
    if os_type:
        props["osType"] = os_type
        props["hyperVGeneration"] = "V2"
    r = rpd.req("PUT", disk_path(rg, name), DISK_API, {"location": "eastus",
                                                        "properties": props})
    assert r.status_code in (200, 202), r.text
    if r.status_code == 202:
        lro_result(rpd, r)
    sas = grant(rpd, rg, name, "Write")
    s = session(rpd)
    for off, data in data_at:
        put_pages(s, sas, off, data)
    revoke(rpd, rg, name)
    return disk_id(rg, name)


def disk_id(rg, name):
    return disk_path(rg, name)


def grant(rpd, rg, disk, access="Read", path=None):
    r = rpd.req("POST", (path or disk_path(rg, disk)) + "/beginGetAccess", DISK_API,
                {"access": access, "durationInSeconds": 3600})
    assert r.status_code in (200, 202), r.text
    body = lro_result(rpd, r) if r.status_code == 202 else r.json()
    return body["accessSAS"]


def revoke(rpd, rg, disk, path=None):
    r = rpd.req("POST", (path or disk_path(rg, disk)) + "/endGetAccess", DISK_API)
    assert r.status_code in (200, 202), r.text
    if r.status_code == 202:
        wait_op(rpd, r)


def put_pages(s, sas, off, data):
    """Write @data at @off in pieces of at most 4 MiB (512-aligned)."""
    assert off % 512 == 0 and len(data) % 512 == 0
    pos = 0
    while pos < len(data):
        piece = data[pos:pos + PAGE_MAX]
        a = off + pos
        r = s.put(sas + "&comp=page", data=piece, timeout=60,
                  headers={"x-ms-range": "bytes=%d-%d" % (a, a + len(piece) - 1),
                           "x-ms-page-write": "update"})
        assert r.status_code == 201, (r.status_code, r.text)
        pos += len(piece)


def read_range(s, sas, first, last):
    r = s.get(sas, headers={"Range": "bytes=%d-%d" % (first, last)}, timeout=60)
    assert r.status_code == 206, (r.status_code, r.text[:300])
    assert len(r.content) == last - first + 1
    return r.content


def read_all(s, sas):
    """The whole image (read in 1 MiB pieces: requests' default of 10 KiB is slow)."""
    r = s.get(sas, timeout=120, stream=True)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    out = bytearray()
    for piece in r.iter_content(MIB):
        out += piece
    assert len(out) == int(r.headers["Content-Length"])
    return bytes(out)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def make_vm(rpd, rg, name, os_disk, data_disks=(), **props):
    """A VM attaching the disks (ids), with more @props; returns the VM resource."""
    body = {"location": "eastus",
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                "osProfile": {"computerName": name, "adminUsername": "azureuser",
                              "adminPassword": "Secret-Passw0rd!"},
                "storageProfile": {
                    "osDisk": {"createOption": "Attach", "osType": "Linux",
                               "caching": "ReadWrite", "managedDisk": {"id": os_disk}},
                    "dataDisks": [{"lun": i, "createOption": "Attach", "caching": "None",
                                   "managedDisk": {"id": d}}
                                  for i, d in enumerate(data_disks)]}}}
    body["properties"].update(props)
    r = rpd.req("PUT", vm_path(rg, name), COMPUTE_API, body)
    assert r.status_code in (200, 201), r.text
    if "Azure-AsyncOperation" in r.headers:
        assert wait_op(rpd, r)["status"] == "Succeeded"
    return rpd.req("GET", vm_path(rg, name), COMPUTE_API).json()


def make_rpc(rpd, rg, name, vm_id, api=COMPUTE_API):
    r = rpd.req("PUT", rpc_path(rg, name), api,
                {"location": "eastus", "properties": {"source": {"id": vm_id}}})
    assert r.status_code == 201, r.text
    return r.json()


def start_rp(rpd, rg, rpc, name, exclude=(), mode=None, api=COMPUTE_API):
    props = {"excludeDisks": [{"id": d} for d in exclude]}
    if mode:
        props["consistencyMode"] = mode
    return rpd.req("PUT", rp_path(rg, rpc, name), api, {"properties": props})


def create_rp(rpd, rg, rpc, name, exclude=(), mode=None, timeout=90):
    r = start_rp(rpd, rg, rpc, name, exclude, mode)
    assert r.status_code == 201, r.text
    st = wait_op(rpd, r, timeout)
    assert st["status"] == "Succeeded", st
    return get_rp(rpd, rg, rpc, name, expand=True)


def get_rp(rpd, rg, rpc, name, expand=False, api=COMPUTE_API):
    r = rpd.req("GET", rp_path(rg, rpc, name), api,
                params={"$expand": "instanceView"} if expand else {})
    assert r.status_code == 200, r.text
    return r.json()


def drp_ids(rp):
    return [d["id"] for d in rp["properties"]["instanceView"]["diskRestorePoints"]]


def drp_of(rp, source_disk_id):
    """The disk restore point id of @source_disk_id in @rp (from sourceMetadata)."""
    sp = rp["properties"]["sourceMetadata"]["storageProfile"]
    for d in [sp.get("osDisk")] + sp.get("dataDisks", []):
        if d and d["managedDisk"]["id"].lower() == source_disk_id.lower():
            return d["diskRestorePoint"]["id"]
    raise KeyError(source_disk_id)


def start_restore(rpd, rg, name, drp_id):
    return rpd.req("PUT", disk_path(rg, name), DISK_API,
                   {"location": "eastus",
                    "properties": {"creationData": {"createOption": "Restore",
                                                    "sourceResourceId": drp_id}}})


def restore_disk(rpd, rg, name, drp_id, timeout=90):
    r = start_restore(rpd, rg, name, drp_id)
    assert r.status_code in (200, 202), r.text
    if r.status_code == 202:
        st = wait_op(rpd, r, timeout)
        assert st["status"] == "Succeeded", st
    d = rpd.req("GET", disk_path(rg, name), DISK_API)
    assert d.status_code == 200, d.text
    assert d.json()["properties"]["provisioningState"] == "Succeeded", d.text
    return d.json()


def read_disk(rpd, rg, name):
    """The whole image of disk @name, through a Read SAS (revoked afterwards)."""
    sas = grant(rpd, rg, name, "Read")
    try:
        return read_all(session(rpd), sas)
    finally:
        revoke(rpd, rg, name)


def pack_bytes(rpd):
    d = os.path.join(rpd.data, *PACKS)
    if not os.path.isdir(d):
        return 0
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
               if f.endswith(".pack"))


def admin(rpd, what, region="eastus"):
    r = requests.post(rpd.url + "/admin/regions/%s/%s" % (region, what),
                      headers={"Authorization": "Bearer " + rpd.token()}, verify=rpd.ca,
                      timeout=120)
    return r


def gc(rpd):
    """POST /admin/regions/eastus/gc: runs the region's garbage collection, answers when done
    with the store's counters before and after."""
    r = admin(rpd, "gc")
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["status"] == "Succeeded", rep
    return rep


def scrub(rpd):
    r = admin(rpd, "scrub")
    assert r.status_code == 200, r.text
    return r.json()


def rand(n, seed):
    """Incompressible, reproducible bytes."""
    return random.Random(seed).randbytes(n)


def wait_log(rpd, needle, timeout=30, since=0):
    """Wait until rpd's log (from byte @since) holds @needle."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(rpd.log_path, "rb") as f:
            f.seek(since)
            if needle.encode() in f.read():
                return True
        time.sleep(0.002)
    return False


def log_size(rpd):
    return os.path.getsize(rpd.log_path)


def image_of(size, parts):
    """The image a disk of @size holds after writing @parts, a list of (offset, bytes)."""
    img = bytearray(size)
    for off, b in parts:
        img[off:off + len(b)] = b
    return img


def allocated(rpd, disk_unique_id):
    """Bytes the image file of a disk (by uniqueId) really holds on the file system."""
    st = os.stat(os.path.join(rpd.data, "regions", "eastus", "disks", disk_unique_id + ".img"))
    return st.st_blocks * 512


def err(r, status, code):
    """Check an ARM error reply; return its message."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["error"]["code"] == code, r.text
    return r.json()["error"]["message"]


def wait_replicated(host, rp_id, timeout=120):
    """Poll a copied or pulled restore point's instance view until its replication ends;
    every completionPercent seen must be a JSON integer in 0..100. Returns (point, status
    code, the percents seen)."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = host.req("GET", rp_id, COMPUTE_API, params={"$expand": "instanceView"})
        assert r.status_code == 200, r.text
        v = r.json()
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


def restore_read(host, rg, name, drp_id, location="westus", timeout=120):
    """Restore disk @name in @location from @drp_id and return its whole image."""
    r = host.req("PUT", disk_path(rg, name), DISK_API, {"location": location, "properties": {
        "creationData": {"createOption": "Restore", "sourceResourceId": drp_id}}})
    assert r.status_code == 202, r.text
    assert wait_op(host, r, timeout)["status"] == "Succeeded"
    return read_disk(host, rg, name)
