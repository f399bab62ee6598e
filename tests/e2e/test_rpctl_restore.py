"""rpctl against a real rpd: restore point collections and restore points (az restore-point
names), `rpctl restore vm` of a VM with an OS disk and two data disks (the restored disks
exported and compared by SHA-256 with the source images), `rpctl restore disk`, the waits,
`rpctl scrub` (exit 3 after a byte of a pack is flipped) and `rpctl gc`, a VM restore that
fails on corrupt data and deletes the disks it made, error reports and exit codes, progress
lines when stderr is not a terminal, --help of every new command and bash completion.

The VMs are created over raw HTTP, with the OS profile, diagnostics and user data that a
restore must carry over (`rpctl vm create` sets none of them); everything else goes through
rpctl."""
import json
import os
import random
import signal
import subprocess

import pytest

from conftest import COMPUTE_API, RPCTL_BIN, SUB, new_name, vm_path
from rpctl_common import MIB, assert_fails, clean_env, rpctl, rpctl_json, sha256

# The images are this size exactly (a multiple of 512 above the Upload minimum), so that a
# disk imported from one is as large as the file and an export of it hashes the same.
SIZE = 24 * MIB
PACKS = ("regions", "eastus", "chunks", "packs")
HERE = os.path.dirname(os.path.abspath(__file__))
COMPLETION = os.path.join(os.path.dirname(os.path.dirname(HERE)), "src", "cli",
                          "rpctl.bash-completion")


def make_image(path, seed, pieces):
    """A sparse image of SIZE bytes with reproducible random data at (offset, length)."""
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for off, n in pieces:
            f.seek(off)
            f.write(rnd.randbytes(n))
    return str(path)


def make_vm(rpd, rg, name, os_disk, data_disks):
    """A VM attaching disk ids (data disks at LUNs 0, 1, ...), over raw HTTP."""
    body = {"location": "eastus",
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                "osProfile": {"computerName": name, "adminUsername": "azureuser",
                              "adminPassword": "Secret-Passw0rd!",
                              "linuxConfiguration": {"disablePasswordAuthentication": False}},
                "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
                "userData": "aGVsbG8gZnJvbSBycGN0bA==",
                "storageProfile": {
                    "osDisk": {"createOption": "Attach", "osType": "Linux",
                               "caching": "ReadWrite", "managedDisk": {"id": os_disk}},
                    "dataDisks": [{"lun": i, "createOption": "Attach",
                                   "caching": "ReadOnly" if i == 0 else "None",
                                   "managedDisk": {"id": d}}
                                  for i, d in enumerate(data_disks)]}}}
    r = rpd.req("PUT", vm_path(rg, name), COMPUTE_API, body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def build_vm(rpd, tmp_path, rg, vm):
    """Group RG with VM: disks imported with rpctl from sparse random images. Returns
    ({disk name: image path}, vm resource)."""
    rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus")
    images = {
        "os": make_image(tmp_path / "os.raw", 1, [(0, 64 * 1024), (5 * MIB, 3 * MIB),
                                                  (SIZE - 4096, 4096)]),
        "data0": make_image(tmp_path / "data0.raw", 2, [(MIB, 2 * MIB + 512),
                                                        (17 * MIB, MIB)]),
        "data1": make_image(tmp_path / "data1.raw", 3, [(0, SIZE // 2)]),
    }
    ids = {}
    for name, path in images.items():
        extra = ["--os-type", "Linux", "--hyper-v-generation", "V2"] if name == "os" else []
        d = rpctl_json(rpd, "disk", "import", "-g", rg, "-n", name, "-f", path,
                       "--no-progress", *extra)
        assert d["properties"]["diskSizeBytes"] == SIZE
        ids[name] = d["id"]
    v = make_vm(rpd, rg, vm, ids["os"], [ids["data0"], ids["data1"]])
    return images, v


def rp_args(rg, coll):
    return ["-g", rg, "--collection-name", coll]


def flip_pack_byte(rpd):
    """Flip one byte in the middle of the biggest pack of eastus."""
    pdir = os.path.join(rpd.data, *PACKS)
    pack = max((os.path.join(pdir, f) for f in os.listdir(pdir)), key=os.path.getsize)
    with open(pack, "r+b") as f:
        f.seek(os.path.getsize(pack) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x40]))


# ---------------------------------------------------------------- the main flow


def test_rpctl_restore__vm_from_restore_point_round_trip(rpd, tmp_path):
    rg, coll = new_name("rg"), new_name("coll")
    images, vm = build_vm(rpd, tmp_path, rg, "vm1")

    c = rpctl_json(rpd, "restore-point", "collection", "create", *rp_args(rg, coll),
                   "--source-id", vm["id"], "--tags", "env=test")
    assert c["name"] == coll and c["location"] == "eastus"  # the group's location
    assert c["properties"]["source"]["id"].lower() == vm["id"].lower()
    assert c["tags"] == {"env": "test"}

    p = rpctl(rpd, "restore-point", "create", *rp_args(rg, coll), "-n", "rp1")
    point = json.loads(p.stdout)
    assert point["name"] == "rp1"
    assert point["properties"]["provisioningState"] == "Succeeded"
    # stderr is a pipe: plain progress lines, no bar, no escape sequences
    lines = p.stderr.splitlines()
    assert "create: restore point 'rp1': started" in lines, p.stderr
    assert any(l.startswith("create: restore point 'rp1': Succeeded in ") for l in lines), p.stderr
    assert "\r" not in p.stderr and "\033[" not in p.stderr
    # --no-progress: nothing on stderr
    p = rpctl(rpd, "restore-point", "create", *rp_args(rg, coll), "-n", "rp2", "--no-progress",
              "--consistency-mode", "crashconsistent", "--exclude-disks", "data1", "-o", "tsv")
    assert p.stderr == ""
    assert p.stdout.split("\t")[:4] == ["rp2", rg, "CrashConsistent", "Succeeded"], p.stdout

    iv = rpctl_json(rpd, "restore-point", "show", *rp_args(rg, coll), "-n", "rp1",
                    "--instance-view")
    assert len(iv["properties"]["instanceView"]["diskRestorePoints"]) == 3
    meta = iv["properties"]["sourceMetadata"]
    assert "adminPassword" not in json.dumps(meta)
    rp2 = rpctl_json(rpd, "restore-point", "show", *rp_args(rg, coll), "-n", "rp2")
    assert "instanceView" not in rp2["properties"]
    assert [d["id"].lower() for d in rp2["properties"]["excludeDisks"]] == \
        [vm["properties"]["storageProfile"]["dataDisks"][1]["managedDisk"]["id"].lower()]
    assert sorted(x["name"] for x in rpctl_json(rpd, "restore-point", "list",
                                                *rp_args(rg, coll))) == ["rp1", "rp2"]
    table = rpctl(rpd, "restore-point", "list", *rp_args(rg, coll), "-o", "table").stdout
    assert table.splitlines()[0].split() == ["Name", "ResourceGroup", "ConsistencyMode",
                                             "ProvisioningState", "TimeCreated"], table
    expanded = rpctl_json(rpd, "restore-point", "collection", "show", *rp_args(rg, coll),
                          "--restore-points")
    assert sorted(x["name"] for x in expanded["properties"]["restorePoints"]) == ["rp1", "rp2"]
    plain = rpctl_json(rpd, "restore-point", "collection", "show", *rp_args(rg, coll))
    assert "restorePoints" not in plain["properties"]

    # the whole VM, in one command
    p = rpctl(rpd, "restore", "vm", *rp_args(rg, coll), "--restore-point", "rp1", "-n", "vm2")
    v2 = json.loads(p.stdout)
    assert v2["name"] == "vm2" and v2["location"] == "eastus"
    sp = v2["properties"]["storageProfile"]
    assert sp["osDisk"]["name"] == "vm2_os" and sp["osDisk"]["osType"] == "Linux"
    assert sp["osDisk"]["caching"] == "ReadWrite"
    assert [(d["lun"], d["name"], d["caching"]) for d in sp["dataDisks"]] == \
        [(0, "vm2_data0", "ReadOnly"), (1, "vm2_data1", "None")]
    assert v2["properties"]["hardwareProfile"]["vmSize"] == "Standard_D2s_v3"
    assert v2["properties"]["osProfile"]["adminUsername"] == "azureuser"
    assert "adminPassword" not in v2["properties"]["osProfile"]
    assert v2["properties"]["diagnosticsProfile"] == {"bootDiagnostics": {"enabled": True}}
    ud = rpd.req("GET", vm_path(rg, "vm2"), COMPUTE_API, params={"$expand": "userData"}).json()
    assert ud["properties"]["userData"] == "aGVsbG8gZnJvbSBycGN0bA=="
    lines = p.stderr.splitlines()
    for d in ("vm2_os", "vm2_data0", "vm2_data1"):
        assert "restore: disk '%s' (24.0 MiB): started" % d in lines, p.stderr
        assert any(l.startswith("restore: disk '%s' (24.0 MiB): Succeeded in " % d)
                   for l in lines), p.stderr
    assert "\033[" not in p.stderr

    # the restored disks hold the source images, byte for byte
    for src in ("os", "data0", "data1"):
        d = rpctl_json(rpd, "disk", "show", "-g", rg, "-n", "vm2_" + src)
        assert d["managedBy"].lower() == v2["id"].lower()
        assert d["properties"]["creationData"]["createOption"] == "Restore"
        out = tmp_path / ("vm2_%s.raw" % src)
        rpctl(rpd, "disk", "export", "-g", rg, "-n", "vm2_" + src, "-f", str(out),
              "--no-progress")
        assert sha256(out) == sha256(images[src]), src
    assert rpctl_json(rpd, "disk", "show", "-g", rg, "-n", "vm2_os")["properties"]["osType"] \
        == "Linux"

    # a VM of that name exists now: a second restore refuses before creating anything
    before = sorted(x["name"] for x in rpctl_json(rpd, "disk", "list", "-g", rg))
    assert_fails(rpctl(rpd, "restore", "vm", *rp_args(rg, coll), "--restore-point", "rp1",
                       "-n", "vm2", check=False), "ResourceExists")
    assert sorted(x["name"] for x in rpctl_json(rpd, "disk", "list", "-g", rg)) == before

    # one disk, by the name of its source disk, into another group
    rg2 = new_name("rg")
    rpctl(rpd, "group", "create", "-n", rg2, "-l", "eastus")
    p = rpctl(rpd, "restore", "disk", *rp_args(rg, coll), "--restore-point", "rp1",
              "--source-disk", "data1", "-n", "copy1", "--target-group", rg2)
    d = json.loads(p.stdout)
    assert d["id"].lower().startswith("/subscriptions/%s/resourcegroups/%s/" % (SUB, rg2.lower()))
    assert d["properties"]["provisioningState"] == "Succeeded"
    assert any(l.startswith("restore: disk 'copy1' (24.0 MiB): Succeeded") for l in
               p.stderr.splitlines()), p.stderr
    rpctl(rpd, "disk", "export", "-g", rg2, "-n", "copy1", "-f", str(tmp_path / "c1.raw"),
          "--no-progress")
    assert sha256(tmp_path / "c1.raw") == sha256(images["data1"])
    # and by the name of its disk restore point
    drp = [x["diskRestorePoint"]["id"] for x in meta["storageProfile"]["dataDisks"]
           if x["name"] == "data0"][0]
    d = rpctl_json(rpd, "restore", "disk", *rp_args(rg, coll), "--restore-point", "rp1",
                   "--disk-restore-point", drp.rsplit("/", 1)[1], "-n", "copy0",
                   "--no-progress")
    assert d["properties"]["creationData"]["sourceResourceId"].lower() == drp.lower()
    # an excluded disk is not in rp2
    p = rpctl(rpd, "restore", "disk", *rp_args(rg, coll), "--restore-point", "rp2",
              "--source-disk", "data1", "-n", "nope", check=False)
    assert_fails(p, "ResourceNotFound")
    assert "'os'" in p.stderr and "'data0'" in p.stderr


def test_rpctl_restore_point__lifecycle_and_waits(rpd, tmp_path):
    rg, coll = new_name("rg"), new_name("coll")
    _, vm = build_vm(rpd, tmp_path, rg, "vm1")
    rpctl(rpd, "restore-point", "collection", "create", "-g", rg,
          "--restore-point-collection-name", coll, "--source-id", vm["id"], "-l", "eastus")
    c = rpctl_json(rpd, "restore-point", "collection", "update", *rp_args(rg, coll), "--tags",
                   "a=1", "b=2")
    assert c["tags"] == {"a": "1", "b": "2"}
    assert coll in [x["name"] for x in rpctl_json(rpd, "restore-point", "collection", "list",
                                                  "-g", rg)]
    assert coll in [x["name"] for x in rpctl_json(rpd, "restore-point", "collection",
                                                  "list-all")]
    assert coll in [x["name"] for x in rpctl_json(rpd, "restore-point", "collection", "list")]

    # --no-wait prints nothing and returns; wait --created follows it to the end
    p = rpctl(rpd, "restore-point", "create", *rp_args(rg, coll), "-n", "p1", "--no-wait")
    assert p.stdout == "" and p.stderr == ""
    p = rpctl(rpd, "restore-point", "wait", *rp_args(rg, coll), "-n", "p1", "--created",
              "--interval", "1", "--timeout", "120")
    assert p.stdout == ""
    got = rpctl_json(rpd, "restore-point", "show", *rp_args(rg, coll), "-n", "p1")
    assert got["properties"]["provisioningState"] == "Succeeded"
    rpctl(rpd, "restore-point", "wait", *rp_args(rg, coll), "-n", "p1", "--exists")

    rpctl(rpd, "restore-point", "delete", *rp_args(rg, coll), "-n", "p1", "--yes")
    assert_fails(rpctl(rpd, "restore-point", "show", *rp_args(rg, coll), "-n", "p1",
                       check=False), "ResourceNotFound")
    rpctl(rpd, "restore-point", "wait", *rp_args(rg, coll), "-n", "p1", "--deleted")
    rpctl(rpd, "restore-point", "delete", *rp_args(rg, coll), "-n", "p1")  # gone: fine
    assert rpctl_json(rpd, "restore-point", "list", *rp_args(rg, coll)) == []

    rpctl(rpd, "restore-point", "create", *rp_args(rg, coll), "-n", "p2", "--no-progress")
    rpctl(rpd, "restore-point", "collection", "delete", *rp_args(rg, coll), "--no-wait")
    rpctl(rpd, "restore-point", "collection", "wait", *rp_args(rg, coll), "--deleted",
          "--interval", "1", "--timeout", "120")
    assert_fails(rpctl(rpd, "restore-point", "collection", "show", *rp_args(rg, coll),
                       check=False), "ResourceNotFound")
    p = rpctl(rpd, "restore-point", "collection", "wait", *rp_args(rg, coll), "--exists",
              "--interval", "1", "--timeout", "2", check=False)
    assert_fails(p, "OperationTimeout")


def test_rpctl_restore_point__ctrl_c_stops_waiting_not_the_capture(rpd, tmp_path):
    rg, coll = new_name("rg"), new_name("coll")
    _, vm = build_vm(rpd, tmp_path, rg, "vm1")
    rpctl(rpd, "restore-point", "collection", "create", *rp_args(rg, coll), "--source-id",
          vm["id"])
    cmd = [RPCTL_BIN, "restore-point", "create", *rp_args(rg, coll), "-n", "p1",
           "--data", rpd.data, "--subscription", SUB]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env())
    first = proc.stderr.readline()  # the capture was accepted
    assert first == "create: restore point 'p1': started\n", first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the capture ended before the signal arrived")
    assert proc.returncode == 130, err
    assert out == ""
    assert "ERROR: (Canceled)" in err and "restore-point wait" in err, err
    # the capture went on without rpctl
    rpctl(rpd, "restore-point", "wait", *rp_args(rg, coll), "-n", "p1", "--created",
          "--interval", "1", "--timeout", "120")


# ---------------------------------------------------------------- scrub, gc, corrupt data


def test_rpctl_scrub__exit_3_on_bit_rot_and_restore_vm_cleans_up(rpd, tmp_path):
    rg, coll = new_name("rg"), new_name("coll")
    _, vm = build_vm(rpd, tmp_path, rg, "vm1")
    rpctl(rpd, "restore-point", "collection", "create", *rp_args(rg, coll), "--source-id",
          vm["id"])
    rpctl(rpd, "restore-point", "create", *rp_args(rg, coll), "-n", "rp1", "--no-progress")

    rep = rpctl_json(rpd, "scrub", "--region", "eastus")
    assert rep["region"] == "eastus" and rep["badChunks"] == 0 and rep["checkedChunks"] > 0
    assert rep["corrupt"] == [] and rep["affectedDiskRestorePoints"] == []
    g = rpctl_json(rpd, "gc", "--region", "eastus")
    assert g["status"] == "Succeeded" and g["chunksAfter"] == g["chunksBefore"], g
    tsv = rpctl(rpd, "scrub", "--region", "eastus", "-o", "tsv").stdout.split("\t")
    assert tsv[0] == "eastus" and tsv[3] == "0", tsv

    flip_pack_byte(rpd)
    p = rpctl(rpd, "scrub", "--region", "eastus", check=False)
    assert_fails(p, "DataCorrupted", rc=3)
    rep = json.loads(p.stdout)  # the report is printed all the same
    assert rep["badChunks"] >= 1 and len(rep["corrupt"]) == rep["badChunks"], rep
    hurt = rep["affectedDiskRestorePoints"]
    assert hurt and all(h in p.stderr for h in hurt), p.stderr
    assert rpctl(rpd, "scrub", "--region", "eastus", "-o", "none", check=False).returncode == 3

    # the VM restore fails on the damaged disk and leaves no disk and no VM behind
    p = rpctl(rpd, "restore", "vm", *rp_args(rg, coll), "--restore-point", "rp1", "-n", "vm3",
              check=False)
    assert_fails(p, "DataCorrupted")
    assert p.stdout == ""
    assert "restore: deleted disk 'vm3_" in p.stderr, p.stderr
    left = [x["name"] for x in rpctl_json(rpd, "disk", "list", "-g", rg)]
    assert not [n for n in left if n.startswith("vm3_")], left
    assert rpd.req("GET", vm_path(rg, "vm3"), COMPUTE_API).status_code == 404


# ---------------------------------------------------------------- errors, help, completion


def test_rpctl_restore__errors(rpd, tmp_path):
    rg = new_name("rg")
    rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus")
    for args in (["restore-point", "show", *rp_args(rg, "nocoll"), "-n", "rp1"],
                 ["restore-point", "create", *rp_args(rg, "nocoll"), "-n", "rp1"],
                 ["restore-point", "list", *rp_args(rg, "nocoll")],
                 ["restore-point", "collection", "show", *rp_args(rg, "nocoll")],
                 ["restore", "vm", *rp_args(rg, "nocoll"), "--restore-point", "rp1", "-n", "v"],
                 ["restore", "disk", *rp_args(rg, "nocoll"), "--restore-point", "rp1",
                  "--source-disk", "os", "-n", "d"]):
        p = rpctl(rpd, *args, check=False)
        assert_fails(p, "ResourceNotFound")
        assert p.stderr.startswith("ERROR: (ResourceNotFound) "), (args, p.stderr)
        assert p.stdout == "", args
    assert_fails(rpctl(rpd, "restore-point", "collection", "create", *rp_args(rg, "c"),
                       "--source-id", vm_path(rg, "novm"), check=False), "ResourceNotFound")
    assert_fails(rpctl(rpd, "restore-point", "collection", "list", "-g", new_name("nogroup"),
                       check=False), "ResourceGroupNotFound")
    assert_fails(rpctl(rpd, "scrub", "--region", "mars", check=False), "NotFound")
    # usage errors: exit 2 before any request
    for args in (["restore-point", "create", "-g", rg, "-n", "rp1"],
                 ["restore-point", "create", *rp_args(rg, "c"), "-n", "rp1",
                  "--consistency-mode", "Sloppy"],
                 ["restore-point", "wait", *rp_args(rg, "c"), "-n", "rp1"],
                 ["restore-point", "wait", *rp_args(rg, "c"), "-n", "rp1", "--created",
                  "--interval", "0"],
                 ["restore-point", "collection", "create", *rp_args(rg, "c")],
                 ["restore-point", "collection", "update", *rp_args(rg, "c")],
                 ["restore-point", "collection", "frob"],
                 ["restore", "disk", *rp_args(rg, "c"), "--restore-point", "r", "-n", "d"],
                 ["restore", "disk", *rp_args(rg, "c"), "--restore-point", "r", "-n", "d",
                  "--source-disk", "a", "--disk-restore-point", "b"],
                 ["restore", "vm", *rp_args(rg, "c"), "-n", "v"],
                 ["scrub"],
                 ["gc", "--region"]):
        p = rpctl(rpd, *args, check=False)
        assert p.returncode == 2 and p.stderr.startswith("ERROR: "), (args, p.returncode,
                                                                     p.stderr)


def test_rpctl_restore__help_and_bash_completion(rpd):
    top = rpctl(rpd, "--help", data=False).stdout
    for cmd in ("restore-point", "restore", "scrub", "gc"):
        assert "\n  %s " % cmd in top, top
    assert "Examples:" in top
    verbs = [["restore-point", v] for v in ("create", "show", "list", "delete", "wait")] + \
        [["restore-point", "collection", v] for v in
         ("create", "show", "list", "list-all", "update", "delete", "wait")] + \
        [["restore", "disk"], ["restore", "vm"], ["scrub"], ["gc"]]
    for v in verbs:
        p = rpctl(rpd, *v, "--help", data=False)
        assert p.stdout.startswith("Usage: rpctl " + " ".join(v)), (v, p.stdout)
        assert "Example" in p.stdout and "--subscription" in p.stdout, v
    for g in (["restore-point"], ["restore-point", "collection"], ["restore"]):
        assert "Verbs:" in rpctl(rpd, *g, "--help", data=False).stdout

    def complete(*words):
        script = 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _rpctl; ' \
                 'printf "%s\\n" "${COMPREPLY[@]}"'
        out = subprocess.run(["bash", "--norc", "-c", script, "bash", COMPLETION, RPCTL_BIN]
                             + list(words), capture_output=True, text=True, timeout=30,
                             env=clean_env())
        assert out.returncode == 0, out.stderr
        return set(out.stdout.split())

    assert {"restore-point", "restore", "scrub", "gc", "disk", "group"} <= complete("")
    assert complete("restore-point", "c") == {"create", "collection"}
    assert complete("restore-point", "collection", "l") == {"list", "list-all"}
    assert complete("restore", "") == {"disk", "vm"}
    assert {"--collection-name", "--consistency-mode", "--config"} == \
        complete("restore-point", "create", "--co")
    assert complete("restore-point", "create", "--consistency-mode", "A") == \
        {"ApplicationConsistent"}
    assert "--region" in complete("scrub", "--")
    assert complete("group", "list", "-o", "t") == {"table", "tsv"}
