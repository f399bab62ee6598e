"""rpctl against a real rpd: login, groups, disks, and disk import/export of sparse images
(SHA-256 round trip, holes kept), error reports ("ERROR: (Code) message", non-zero exit),
progress lines when stderr is not a terminal, Ctrl-C during a transfer."""
import json
import os
import signal
import stat
import subprocess
import time

import pytest

from conftest import RPCTL_BIN, SUB, new_name
from rpctl_common import MIB, assert_fails, clean_env, rpctl, rpctl_json, sha256

MIN_UPLOAD = 20972032


def make_sparse(path, size, pieces):
    """A sparse file of SIZE bytes with random data of the given (offset, length) pieces."""
    with open(path, "wb") as f:
        f.truncate(size)
        for off, n in pieces:
            f.seek(off)
            f.write(os.urandom(n))
    return path


def allocated(path):
    return os.stat(path).st_blocks * 512


# ---------------------------------------------------------------- import / export


def test_rpctl_disk__import_export_round_trip(rpd, tmp_path):
    rg, disk = new_name("rg"), new_name("img")
    size = 64 * MIB
    src = make_sparse(tmp_path / "src.raw", size, [
        (0, 4096),                      # the boot sector area
        (3 * MIB + 512, 100 * 1024),    # straddles nothing, unaligned to 4 KiB
        (7 * MIB + 4 * MIB - 2048, 8192),  # straddles the 8 MiB block boundary
        (33 * MIB, 2 * MIB),
        (size - 512, 512),              # the very last sector
    ])
    rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus")

    p = rpctl(rpd, "disk", "import", "-g", rg, "-n", disk, "--file", str(src), "--parallel", "4")
    d = json.loads(p.stdout)
    assert d["name"] == disk
    assert d["properties"]["diskSizeBytes"] == size
    assert d["properties"]["creationData"]["createOption"] == "Upload"
    assert d["properties"]["diskState"] == "Unattached"  # access was revoked
    # stderr is a pipe here: plain progress lines, no bar, and a summary
    lines = p.stderr.splitlines()
    assert any(l.startswith("import: ") and "%" in l and "MB/s" in l for l in lines), p.stderr
    assert any(l.startswith("import: done, 64.0 MiB") for l in lines), p.stderr
    assert "\r" not in p.stderr and "\033[" not in p.stderr

    out = tmp_path / "out.raw"
    p = rpctl(rpd, "disk", "export", "-g", rg, "-n", disk, "--file", str(out))
    summary = json.loads(p.stdout)
    assert summary["sizeBytes"] == size
    assert summary["transferredBytes"] == size
    assert summary["zeroBytesSkipped"] > 50 * MIB
    assert any(l.startswith("export: done") for l in p.stderr.splitlines()), p.stderr
    assert os.path.getsize(out) == size
    assert sha256(out) == sha256(src)
    if allocated(src) < size // 2:  # the file system keeps holes: so must the export
        assert allocated(out) <= allocated(src) + MIB, (allocated(out), allocated(src))

    # the disk is usable afterwards: no SAS is left active, so it can be deleted
    rpctl(rpd, "disk", "delete", "-g", rg, "-n", disk)
    rpctl(rpd, "group", "delete", "-n", rg)


def test_rpctl_disk__import_pads_to_sector_and_minimum(rpd, tmp_path):
    rg, disk = new_name("rg"), new_name("odd")
    src = tmp_path / "odd.raw"
    data = os.urandom(MIB + 100)  # not a multiple of 512, below the Upload minimum
    src.write_bytes(data)
    rpctl(rpd, "group", "create", "-n", rg, "-l", "westus")
    d = rpctl_json(rpd, "disk", "import", "-g", rg, "-n", disk, "-f", str(src), "--no-progress")
    assert d["properties"]["diskSizeBytes"] == MIN_UPLOAD
    assert d["location"] == "westus"  # the group's location by default
    out = tmp_path / "odd.out"
    p = rpctl(rpd, "disk", "export", "-g", rg, "-n", disk, "-f", str(out), "--no-progress")
    assert p.stderr == ""
    got = out.read_bytes()
    assert len(got) == MIN_UPLOAD
    assert got[:len(data)] == data
    assert got[len(data):].count(0) == MIN_UPLOAD - len(data)


def test_rpctl_disk__import_refuses_existing_and_bad_files(rpd, tmp_path):
    rg, disk = new_name("rg"), new_name("d")
    rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus")
    rpctl(rpd, "disk", "create", "-g", rg, "-n", disk, "--size-gb", "1")
    src = make_sparse(tmp_path / "s.raw", 4 * MIB, [(0, 512)])
    assert_fails(rpctl(rpd, "disk", "import", "-g", rg, "-n", disk, "-f", str(src), check=False),
                 "ResourceExists")
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    p = rpctl(rpd, "disk", "import", "-g", rg, "-n", new_name(), "-f", str(empty), check=False)
    assert p.returncode == 2 and "empty" in p.stderr
    p = rpctl(rpd, "disk", "import", "-g", rg, "-n", new_name(), "-f", str(tmp_path / "nope"),
              check=False)
    assert p.returncode == 1 and "cannot open" in p.stderr
    assert_fails(rpctl(rpd, "disk", "import", "-g", new_name("nogroup"), "-n", disk, "-f", str(src),
                       check=False), "ResourceGroupNotFound")
    # export never clobbers a file unless asked
    existing = tmp_path / "existing.raw"
    existing.write_bytes(b"keep me")
    assert_fails(rpctl(rpd, "disk", "export", "-g", rg, "-n", disk, "-f", str(existing),
                       check=False), "FileExists")
    assert existing.read_bytes() == b"keep me"
    # a missing disk is reported before any file is created
    missing_out = tmp_path / "missing.raw"
    assert_fails(rpctl(rpd, "disk", "export", "-g", rg, "-n", "nodisk", "-f", str(missing_out),
                       check=False), "ResourceNotFound")
    assert not missing_out.exists()
    # an Upload disk waiting for data cannot be read
    up = new_name("up")
    rpctl(rpd, "disk", "create", "-g", rg, "-n", up, "--upload-size-bytes", str(MIN_UPLOAD))
    assert_fails(rpctl(rpd, "disk", "export", "-g", rg, "-n", up, "-f", str(tmp_path / "u.raw"),
                       check=False), "OperationNotAllowed")
    assert not (tmp_path / "u.raw").exists()


def test_rpctl_disk__ctrl_c_stops_and_revokes(rpd, tmp_path):
    rg, disk = new_name("rg"), new_name("big")
    src = tmp_path / "big.raw"
    with open(src, "wb") as f:
        for _ in range(128):
            f.write(os.urandom(MIB))
    rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus")
    cmd = [RPCTL_BIN, "disk", "import", "-g", rg, "-n", disk, "-f", str(src), "--parallel", "1",
           "--data", rpd.data, "--subscription", SUB]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env())
    seen = []
    for line in proc.stderr:  # wait until the upload runs
        seen.append(line)
        if "%" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = "".join(seen) + err
    if proc.returncode == 0:
        pytest.skip("the upload finished before the signal arrived")
    assert proc.returncode == 130, err
    assert "ERROR: (Canceled)" in err, err
    d = rpctl_json(rpd, "disk", "show", "-g", rg, "-n", disk)
    assert d["properties"]["diskState"] == "Unattached", (d, err)  # revoked despite Ctrl-C
    rpctl(rpd, "disk", "delete", "-g", rg, "-n", disk)


# ---------------------------------------------------------------- groups and disks


def test_rpctl_group__lifecycle(rpd, tmp_path):
    rg = new_name("rg")
    g = rpctl_json(rpd, "group", "create", "-n", rg, "-l", "eastus", "--tags", "env=test", "owner")
    assert g["name"] == rg and g["location"] == "eastus"
    assert g["tags"] == {"env": "test", "owner": ""}
    assert rpctl_json(rpd, "group", "show", "-g", rg)["id"].endswith("/resourceGroups/" + rg)
    assert rpctl(rpd, "group", "exists", "-n", rg).stdout.strip() == "true"
    names = [x["name"] for x in rpctl_json(rpd, "group", "list")]
    assert rg in names
    table = rpctl(rpd, "group", "list", "-o", "table").stdout.splitlines()
    assert table[0].split() == ["Name", "Location", "ProvisioningState"]
    assert table[1].startswith("----")
    assert any(l.split()[:3] == [rg, "eastus", "Succeeded"] for l in table[2:])
    assert rpctl(rpd, "group", "show", "-n", rg, "-o", "tsv").stdout == rg + "\teastus\tSucceeded\n"
    assert rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus", "-o", "none").stdout == ""

    rpctl(rpd, "group", "delete", "-n", rg, "--yes")
    p = rpctl(rpd, "group", "show", "-n", rg, check=False)
    assert_fails(p, "ResourceGroupNotFound")
    assert rpctl(rpd, "group", "exists", "-n", rg).stdout.strip() == "false"
    rpctl(rpd, "group", "delete", "-n", rg)  # already gone: still fine, like az


def test_rpctl_disk__lifecycle(rpd, tmp_path):
    rg, disk = new_name("rg"), new_name("d")
    rpctl(rpd, "group", "create", "-n", rg, "-l", "westus")
    d = rpctl_json(rpd, "disk", "create", "-g", rg, "-n", disk, "--size-gb", "4", "--sku",
                   "premium_lrs", "--tags", "a=1", "b=2")
    assert d["properties"]["diskSizeGB"] == 4
    assert d["sku"]["name"] == "Premium_LRS"
    assert d["location"] == "westus"
    assert d["tags"] == {"a": "1", "b": "2"}
    tsv = rpctl(rpd, "disk", "show", "-g", rg, "-n", disk, "-o", "tsv").stdout
    assert tsv.split("\t") == [disk, rg, "westus", "Premium_LRS", "4", "Unattached",
                               "Succeeded\n"]
    assert [x["name"] for x in rpctl_json(rpd, "disk", "list", "-g", rg)] == [disk]
    assert disk in [x["name"] for x in rpctl_json(rpd, "disk", "list")]

    # access by hand, as az does it
    sas = rpctl_json(rpd, "disk", "grant-access", "-g", rg, "-n", disk, "--access-level", "Read")
    assert sas["accessSAS"].startswith("https://")
    assert rpctl_json(rpd, "disk", "show", "-g", rg, "-n", disk)["properties"]["diskState"] == \
        "ActiveSAS"
    assert_fails(rpctl(rpd, "disk", "delete", "-g", rg, "-n", disk, check=False),
                 "OperationNotAllowed")
    rpctl(rpd, "disk", "revoke-access", "-g", rg, "-n", disk)

    rpctl(rpd, "disk", "delete", "-g", rg, "-n", disk, "-y")
    assert_fails(rpctl(rpd, "disk", "show", "-g", rg, "-n", disk, check=False), "ResourceNotFound")
    assert rpctl_json(rpd, "disk", "list", "-g", rg) == []
    rpctl(rpd, "disk", "delete", "-g", rg, "-n", disk)  # gone already: fine

    # --no-wait returns at once; the deletion finishes on its own
    d2 = new_name("d")
    rpctl(rpd, "disk", "create", "-g", rg, "-n", d2, "--size-gb", "1")
    rpctl(rpd, "disk", "delete", "-g", rg, "-n", d2, "--no-wait")
    deadline = time.time() + 30
    while rpctl(rpd, "disk", "show", "-g", rg, "-n", d2, check=False).returncode == 0:
        assert time.time() < deadline, "disk not deleted"
        time.sleep(0.2)


def test_rpctl__errors(rpd, tmp_path):
    rg = new_name("rg")
    rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus")
    assert_fails(rpctl(rpd, "disk", "create", "-g", new_name("none"), "-n", "d", "--size-gb", "1",
                       "-l", "eastus", check=False), "ResourceGroupNotFound")
    assert_fails(rpctl(rpd, "disk", "create", "-g", rg, "-n", "d", "--size-gb", "1", "--sku",
                       "Gold", check=False), "InvalidParameter")
    assert_fails(rpctl(rpd, "group", "create", "-n", new_name(), "-l", "mars", check=False),
                 "LocationNotAvailableForResourceType")
    assert_fails(rpctl(rpd, "disk", "create", "-g", rg, "-n", "bad*name", "--size-gb", "1",
                       check=False), "InvalidResourceName")
    # usage errors: exit 2 before any request
    for args in (["disk", "create", "-g", rg, "-n", "d"],
                 ["disk", "create", "-g", rg, "-n", "d", "--size-gb", "1",
                  "--upload-size-bytes", str(MIN_UPLOAD)],
                 ["disk", "create", "-g", rg, "-n", "d", "--size-gb", "lots"],
                 ["disk", "show", "-g", rg],
                 ["disk", "show", "-g", rg, "-n", "d", "--bogus"],
                 ["group", "list", "-o", "xml"],
                 ["disk", "frobnicate"]):
        p = rpctl(rpd, *args, check=False)
        assert p.returncode == 2 and p.stderr.startswith("ERROR: "), (args, p.stderr)
    # the transport: https only, connection refused, a bad token
    p = rpctl(rpd, "group", "list", "--url", "http://127.0.0.1:1", "--token", "x", data=False,
              check=False)
    assert p.returncode == 2 and "https" in p.stderr
    p = rpctl(rpd, "group", "list", "--url", "https://127.0.0.1:1", "--token", "x",
              "--subscription", SUB, data=False, check=False)
    assert_fails(p, "ConnectionError")
    p = rpctl(rpd, "group", "list", "--url", rpd.url, "--ca", rpd.ca, "--token", "not.a.jwt",
              "--subscription", SUB, data=False, check=False)
    assert_fails(p, "InvalidAuthenticationToken")
    # without --ca the private CA is not trusted
    tok = rpd.token()
    p = rpctl(rpd, "group", "list", "--url", rpd.url, "--token", tok, data=False, check=False)
    assert_fails(p, "ConnectionError")
    # nothing configured at all
    p = rpctl(rpd, "group", "list", data=False, check=False)
    assert p.returncode == 2 and "rpctl login" in p.stderr


def test_rpctl__login_and_environment(rpd, tmp_path):
    env = clean_env(tmp_path)
    cfg = tmp_path / "rpctl-config"
    p = rpctl(rpd, "login", "--data", rpd.data, "--subscription", SUB, data=False, env=env)
    out = json.loads(p.stdout)
    assert out["subscription"] == SUB and out["url"] == rpd.url
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    text = cfg.read_text()
    assert "url = " + rpd.url in text and "token = " in text

    rg = new_name("rg")
    rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus", data=False, env=env)
    assert rg in [g["name"] for g in rpctl_json(rpd, "group", "list", data=False, env=env)]
    # the environment beats the config file, flags beat the environment
    bad = dict(env, RPD_URL="https://127.0.0.1:1")
    assert_fails(rpctl(rpd, "group", "list", data=False, env=bad, check=False), "ConnectionError")
    rpctl(rpd, "group", "list", "--url", rpd.url, data=False, env=bad)
    http = dict(env, RPD_URL="http://127.0.0.1:1")
    p = rpctl(rpd, "group", "list", data=False, env=http, check=False)
    assert p.returncode == 2 and "https" in p.stderr
    # a login against a directory without a running rpd fails and writes nothing
    other = tmp_path / "cfg2"
    p = rpctl(rpd, "login", "--data", str(tmp_path / "nodata"), data=False,
              env=dict(env, RPCTL_CONFIG=str(other)), check=False)
    assert p.returncode != 0 and "rpd.url" in p.stderr
    assert not other.exists()


def test_rpctl__help(rpd):
    for args in (["--help"], ["group", "--help"], ["disk", "--help"]):
        p = rpctl(rpd, *args, data=False)
        assert "Usage: rpctl" in p.stdout
    for verb in ("create", "show", "list", "delete", "import", "export", "grant-access",
                 "revoke-access"):
        p = rpctl(rpd, "disk", verb, "--help", data=False)
        assert p.stdout.startswith("Usage: rpctl disk " + verb), p.stdout
        assert "Example" in p.stdout and "--subscription" in p.stdout
    for verb in ("create", "show", "list", "delete", "exists"):
        p = rpctl(rpd, "group", verb, "--help", data=False)
        assert "Example" in p.stdout
    assert "Examples" in rpctl(rpd, "login", "--help", data=False).stdout
