"""rpctl against a real rpd: `rpctl vm` (create from existing and new disks, show, list, delete
with delete options, wait), `rpctl region list|status`, -o table/tsv and --query, connection
settings from RPD_URL/RPD_TOKEN/RPD_CA, a restore point copied to westus through rpctl with
its progress lines (stderr not a terminal), a VM restored there from the copy, the waits and
Ctrl-C hints of the new verbs, and the errors with their exit codes."""
import json
import os
import signal
import subprocess

import pytest

from conftest import RPCTL_BIN, SUB, new_name
from rpctl_common import MIB, assert_fails, clean_env, rpctl, rpctl_json, sha256


def image(path, size_mib, pieces):
    """A sparse image of SIZE_MIB MiB with random data at the (offset MiB, length MiB) pieces."""
    with open(path, "wb") as f:
        f.truncate(size_mib * MIB)
        for off, n in pieces:
            f.seek(off * MIB)
            f.write(os.urandom(n * MIB))
    return str(path)


def vm_with_disks(rpd, tmp_path, rg, name="vm1", location="eastus"):
    """Group RG with VM NAME: an imported OS disk and an imported data disk."""
    rpctl(rpd, "group", "create", "-n", rg, "-l", location, "-o", "none")
    os_img = image(tmp_path / (name + "-os.raw"), 32, [(0, 2), (30, 1)])
    data_img = image(tmp_path / (name + "-data.raw"), 48, [(4, 8), (40, 4)])
    rpctl(rpd, "disk", "import", "-g", rg, "-n", name + "-os", "-f", os_img, "--os-type",
          "Linux", "--no-progress", "-o", "none")
    rpctl(rpd, "disk", "import", "-g", rg, "-n", name + "-data", "-f", data_img,
          "--no-progress", "-o", "none")
    vm = rpctl_json(rpd, "vm", "create", "-g", rg, "-n", name, "--os-disk", name + "-os",
                    "--data-disks", name + "-data")
    return vm, {name + "-os": os_img, name + "-data": data_img}


# ---------------------------------------------------------------- vm


def test_rpctl_vm__create_show_list_delete(rpd, tmp_path):
    rg = new_name("rg")
    vm, _ = vm_with_disks(rpd, tmp_path, rg)
    sp = vm["properties"]["storageProfile"]
    assert vm["location"] == "eastus"  # the group's
    assert vm["properties"]["hardwareProfile"]["vmSize"] == "Standard_DS1_v2"
    assert sp["osDisk"]["name"] == "vm1-os" and sp["osDisk"]["createOption"] == "Attach"
    assert [(d["lun"], d["name"]) for d in sp["dataDisks"]] == [(0, "vm1-data")]

    # new empty data disks after the attached ones, by id or by name, delete options, tags
    data_id = rpctl_json(rpd, "disk", "create", "-g", rg, "-n", "extra", "--size-gb", "1")["id"]
    rpctl(rpd, "disk", "create", "-g", rg, "-n", "os2", "--size-gb", "1", "-o", "none")
    vm2 = rpctl_json(rpd, "vm", "create", "-g", rg, "-n", "vm2", "--attach-os-disk", "os2",
                     "--attach-data-disks", data_id, "--data-disk-sizes-gb", "1", "2",
                     "--size", "Standard_D4s_v3", "--os-type", "linux",
                     "--data-disk-delete-option", "Delete", "--os-disk-delete-option",
                     "Detach", "--tags", "env=test")
    d2 = vm2["properties"]["storageProfile"]["dataDisks"]
    assert [(d["lun"], d["createOption"], d["diskSizeGB"]) for d in d2] == \
        [(0, "Attach", 1), (1, "Empty", 1), (2, "Empty", 2)]
    assert all(d["deleteOption"] == "Delete" for d in d2)
    assert vm2["properties"]["storageProfile"]["osDisk"]["osType"] == "Linux"
    assert vm2["tags"] == {"env": "test"}

    shown = rpctl_json(rpd, "vm", "show", "-g", rg, "-n", "vm2", "--instance-view")
    assert "instanceView" in shown["properties"]
    assert "instanceView" not in rpctl_json(rpd, "vm", "show", "-g", rg, "-n", "vm2")["properties"]
    assert sorted(v["name"] for v in rpctl_json(rpd, "vm", "list", "-g", rg)) == ["vm1", "vm2"]
    assert {"vm1", "vm2"} <= {v["name"] for v in rpctl_json(rpd, "vm", "list")}

    # table and tsv have the documented columns; --query picks a field
    table = rpctl(rpd, "vm", "list", "-g", rg, "-o", "table").stdout.splitlines()
    assert table[0].split() == ["Name", "ResourceGroup", "Location", "VmSize", "OsDisk",
                                "ProvisioningState"], table
    assert table[2].split() == ["vm1", rg, "eastus", "Standard_DS1_v2", "vm1-os", "Succeeded"]
    tsv = rpctl(rpd, "vm", "show", "-g", rg, "-n", "vm2", "-o", "tsv").stdout
    assert tsv == "vm2\t%s\teastus\tStandard_D4s_v3\tos2\tSucceeded\n" % rg
    assert rpctl(rpd, "vm", "show", "-g", rg, "-n", "vm2", "--query", "id", "-o",
                 "tsv").stdout.strip() == vm2["id"]
    assert rpctl(rpd, "vm", "list", "-g", rg, "--query", "name", "-o", "tsv").stdout == \
        "vm1\nvm2\n"

    # delete: the data disks with deleteOption Delete go, the OS disk stays (Detach)
    p = rpctl(rpd, "vm", "delete", "-g", rg, "-n", "vm2", "--yes")
    assert p.stdout == ""
    rpctl(rpd, "vm", "wait", "-g", rg, "-n", "vm2", "--deleted", "--interval", "1",
          "--timeout", "60")
    assert_fails(rpctl(rpd, "vm", "show", "-g", rg, "-n", "vm2", check=False), "ResourceNotFound")
    disks = {d["name"]: d for d in rpctl_json(rpd, "disk", "list", "-g", rg)}
    assert "os2" in disks and disks["os2"]["properties"]["diskState"] == "Unattached"
    assert "extra" not in disks and not [n for n in disks if n.startswith("vm2_")], disks
    rpctl(rpd, "vm", "delete", "-g", rg, "-n", "vm2")  # gone already: fine
    rpctl(rpd, "vm", "delete", "-g", rg, "-n", "vm1", "--no-wait")
    rpctl(rpd, "vm", "wait", "-g", rg, "-n", "vm1", "--deleted", "--interval", "1")
    # the group and disk waits
    rpctl(rpd, "disk", "wait", "-g", rg, "-n", "vm1-os", "--exists")
    rpctl(rpd, "group", "delete", "-n", rg, "--no-wait")
    rpctl(rpd, "group", "wait", "-n", rg, "--deleted", "--interval", "1", "--timeout", "120")
    assert rpctl(rpd, "group", "exists", "-n", rg).stdout.strip() == "false"


def test_rpctl_vm__errors_and_exit_codes(rpd, tmp_path):
    rg = new_name("rg")
    vm_with_disks(rpd, tmp_path, rg)
    # API errors: exit 1, "ERROR: (Code) message" on stderr, nothing on stdout
    for args, code in (
            (["vm", "create", "-g", rg, "-n", "v", "--os-disk", "nope"], "ResourceNotFound"),
            (["vm", "create", "-g", rg, "-n", "v", "--os-disk", "vm1-os"], "Conflict"),
            (["vm", "create", "-g", new_name("nogroup"), "-n", "v", "--os-disk", "d", "-l",
              "eastus"], "ResourceGroupNotFound"),
            (["vm", "create", "-g", rg, "-n", "v", "--os-disk", "vm1-os", "-l", "mars"],
             "LocationNotAvailableForResourceType"),
            (["vm", "show", "-g", rg, "-n", "nope"], "ResourceNotFound"),
            (["vm", "list", "-g", new_name("nogroup")], "ResourceGroupNotFound"),
            (["region", "status", "--region", "mars"], "NotFound")):
        p = rpctl(rpd, *args, check=False)
        assert_fails(p, code)
        assert p.stderr.startswith("ERROR: (%s) " % code) and p.stdout == "", (args, p.stderr)
    # usage errors: exit 2 before any request, all missing arguments named at once
    p = rpctl(rpd, "vm", "create", check=False)
    assert p.returncode == 2
    assert "the following arguments are required: --resource-group/-g, --name/-n, --os-disk" \
        in p.stderr, p.stderr
    for args in (["vm", "create", "-g", rg, "-n", "v", "--os-disk", "d",
                  "--data-disk-sizes-gb", "0"],
                 ["vm", "create", "-g", rg, "-n", "v", "--os-disk", "d", "--os-type", "BeOS"],
                 ["vm", "create", "-g", rg, "-n", "v", "--os-disk", "d", "--data-disk-sizes-gb",
                  "1"] + ["1"] * 64,
                 ["vm", "wait", "-g", rg, "-n", "v"],
                 ["vm", "show", "-g", rg, "-n", "v", "--frob"],
                 ["vm", "show", "-g", rg, "-n", "v", "-o", "yaml"],
                 ["vm", "frob"],
                 ["region", "status", "--region"]):
        p = rpctl(rpd, *args, check=False)
        assert p.returncode == 2 and p.stderr.startswith("ERROR: "), (args, p.stderr)
        assert "--help" in p.stderr


# ---------------------------------------------------------------- regions


def test_rpctl_region__list_and_status(rpd, tmp_path):
    regions = rpctl_json(rpd, "region", "list")
    assert [(r["name"], r["displayName"]) for r in regions] == [("eastus", "East US"),
                                                               ("westus", "West US")]
    table = rpctl(rpd, "region", "list", "-o", "table").stdout.splitlines()
    assert table[0].split() == ["Name", "DisplayName", "RegionalDisplayName"]
    assert rpctl(rpd, "region", "list", "-o", "tsv").stdout.splitlines()[0].split("\t") == \
        ["eastus", "East US", "East US"]

    rg = new_name("rg")
    vm_with_disks(rpd, tmp_path, rg)
    st = rpctl_json(rpd, "region", "status", "--region", "eastus")
    assert st["name"] == "eastus" and st["displayName"] == "East US"
    assert st["worker"] == {"running": True, "jobsPending": 0}
    assert st["resources"]["disks"] == 2 and st["resources"]["virtualMachines"] == 1
    assert st["resources"]["restorePoints"] == 0
    assert st["copiesIn"] == {"inProgress": 0, "failed": 0}
    assert st["filesystem"]["freeBytes"] > 0 and st["store"]["chunks"] == 0
    coll = new_name("c")
    rpctl(rpd, "restore-point", "collection", "create", "-g", rg, "--collection-name", coll,
          "--source-id", rpctl_json(rpd, "vm", "show", "-g", rg, "-n", "vm1")["id"], "-o", "none")
    rpctl(rpd, "restore-point", "create", "-g", rg, "--collection-name", coll, "-n", "p1",
          "--no-progress", "-o", "none")
    st = rpctl_json(rpd, "region", "status", "--region", "eastus")
    assert st["resources"]["restorePoints"] == 1 and st["resources"]["diskRestorePoints"] == 2
    assert st["store"]["chunks"] > 0 and st["store"]["storedBytes"] > 0

    all_ = rpctl_json(rpd, "region", "status")
    assert [r["name"] for r in all_] == ["eastus", "westus"]
    assert all_[1]["resources"]["disks"] == 0
    rows = rpctl(rpd, "region", "status", "-o", "tsv").stdout.splitlines()
    assert [r.split("\t")[:4] for r in rows] == [["eastus", "East US", "True", "0"],
                                                ["westus", "West US", "True", "0"]]
    table = rpctl(rpd, "region", "status", "-o", "table").stdout.splitlines()
    assert table[0].split()[:4] == ["Name", "DisplayName", "WorkerRunning", "JobsPending"]


# ---------------------------------------------------------------- connection settings


def test_rpctl__environment_variables(rpd, tmp_path):
    env = clean_env(tmp_path, RPD_URL=rpd.url, RPD_TOKEN=rpd.token(), RPD_CA=rpd.ca)
    rg = new_name("rg")
    rpctl(rpd, "group", "create", "-n", rg, "-l", "westus", data=False, env=env)
    assert [r["name"] for r in rpctl_json(rpd, "region", "list", data=False, env=env)] == \
        ["eastus", "westus"]
    # the subscription comes from the token; RPD_SUBSCRIPTION names another one
    assert rg in rpctl(rpd, "group", "list", "--query", "name", "-o", "tsv", data=False,
                       env=env).stdout.split()
    other = dict(env, RPD_SUBSCRIPTION="11111111-2222-3333-4444-555555555555")
    assert_fails(rpctl(rpd, "group", "list", data=False, env=other, check=False),
                 "AuthorizationFailed")
    # a flag wins over its variable
    assert_fails(rpctl(rpd, "group", "list", "--token", "x.y.z", "--subscription", SUB,
                       data=False, env=env, check=False), "InvalidAuthenticationToken")
    # without RPD_CA the private CA is not trusted
    no_ca = {k: v for k, v in env.items() if k != "RPD_CA"}
    assert_fails(rpctl(rpd, "group", "list", data=False, env=no_ca, check=False),
                 "ConnectionError")
    # without a token (and no config file) nothing is sent: a usage error
    no_tok = {k: v for k, v in env.items() if k != "RPD_TOKEN"}
    p = rpctl(rpd, "group", "list", data=False, env=no_tok, check=False)
    assert p.returncode == 2 and p.stderr.startswith("ERROR: ")


# ---------------------------------------------------------------- copies, progress, restore


def test_rpctl_copy__progress_lines_and_restore_in_westus(rpd, tmp_path):
    rg = new_name("rg")
    vm, images = vm_with_disks(rpd, tmp_path, rg)
    rpctl(rpd, "restore-point", "collection", "create", "-g", rg, "--collection-name", "east",
          "--source-id", vm["id"], "-o", "none")
    east = rpctl(rpd, "restore-point", "collection", "show", "-g", rg, "--collection-name",
                 "east", "--query", "id", "-o", "tsv").stdout.strip()
    west = rpctl_json(rpd, "restore-point", "collection", "create", "-g", rg,
                      "--collection-name", "west", "-l", "westus", "--source-id", east)
    assert west["location"] == "westus"
    p = rpctl(rpd, "restore-point", "create", "-g", rg, "--collection-name", "east", "-n", "p1")
    lines = p.stderr.splitlines()
    assert lines[0] == "create: restore point 'p1': started", p.stderr
    assert lines[-1].startswith("create: restore point 'p1': Succeeded in "), p.stderr

    # the copy: the command returns once every disk's copy is done
    p = rpctl(rpd, "restore-point", "create", "-g", rg, "--collection-name", "west", "-n", "c1",
              "--source-restore-point", east + "/restorePoints/p1", "-o", "tsv")
    assert p.stdout.split("\t")[:4] == ["c1", rg, "CrashConsistent", "Succeeded"], p.stdout
    lines = p.stderr.splitlines()
    assert lines[0] == "create: restore point 'c1': started", p.stderr
    assert "\r" not in p.stderr and "\033[" not in p.stderr  # plain lines: not a terminal
    for line in lines:  # the copy's lines, when it was still running at the first look
        if line.startswith("copy: "):
            assert line.startswith(("copy: disk 'vm1-os': ", "copy: disk 'vm1-data': ")), line
            assert line.endswith(("started", "Succeeded")) or "% (InProgress)" in line or \
                "Succeeded in " in line, line
    iv = rpctl_json(rpd, "restore-point", "show", "-g", rg, "--collection-name", "west", "-n",
                    "c1", "--instance-view")["properties"]["instanceView"]
    assert iv["statuses"][0]["code"] == "ReplicationState/succeeded"
    assert all(d["replicationStatus"]["completionPercent"] == 100
               for d in iv["diskRestorePoints"])
    # wait --replicated on a finished copy returns at once
    p = rpctl(rpd, "restore-point", "wait", "-g", rg, "--collection-name", "west", "-n", "c1",
              "--replicated")
    assert p.stdout == "" and p.stderr == ""

    # the VM restored in westus from the copy, with a progress line per disk
    rpctl(rpd, "group", "create", "-n", rg + "dr", "-l", "westus", "-o", "none")
    p = rpctl(rpd, "restore", "vm", "-g", rg, "--collection-name", "west", "--restore-point",
              "c1", "-n", "vm1", "--target-group", rg + "dr")
    v = json.loads(p.stdout)
    assert v["location"] == "westus"
    lines = p.stderr.splitlines()
    for d, size in (("vm1_vm1-os", "32.0 MiB"), ("vm1_vm1-data", "48.0 MiB")):
        assert "restore: disk '%s' (%s): started" % (d, size) in lines, p.stderr
        done = [l for l in lines if l.startswith("restore: disk '%s' (%s): Succeeded in " %
                                                 (d, size))]
        assert done and done[0].endswith(" MB/s") and "%s of %s" % (size, size) in done[0], \
            p.stderr
    for name, img in images.items():
        out = tmp_path / (name + ".restored")
        rpctl(rpd, "disk", "export", "-g", rg + "dr", "-n", "vm1_" + name, "-f", str(out),
              "--no-progress", "-o", "none")
        assert sha256(out) == sha256(img), name
    st = rpctl_json(rpd, "region", "status", "--region", "westus")
    assert st["resources"]["restorePoints"] == 1 and st["resources"]["disks"] == 2
    assert st["resources"]["virtualMachines"] == 1 and st["copiesIn"]["inProgress"] == 0


def test_rpctl__ctrl_c_says_how_to_wait_again(rpd, tmp_path):
    """Ctrl-C while a disk restores: exit 130, the restore goes on, and the hint's command
    (a disk wait) follows it to its end."""
    rg = new_name("rg")
    vm, _ = vm_with_disks(rpd, tmp_path, rg)
    rpctl(rpd, "restore-point", "collection", "create", "-g", rg, "--collection-name", "c",
          "--source-id", vm["id"], "-o", "none")
    rpctl(rpd, "restore-point", "create", "-g", rg, "--collection-name", "c", "-n", "p1",
          "--no-progress", "-o", "none")
    cmd = [RPCTL_BIN, "restore", "disk", "-g", rg, "--collection-name", "c", "--restore-point",
           "p1", "--source-disk", "vm1-data", "-n", "back", "--data", rpd.data,
           "--subscription", SUB]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env())
    first = proc.stderr.readline()
    assert first == "restore: disk 'back' (48.0 MiB): started\n", first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the restore ended before the signal arrived")
    assert proc.returncode == 130 and out == "", err
    assert "ERROR: (Canceled) interrupted: stopped waiting; the operation goes on in rpd." in err
    hint = [l for l in err.splitlines() if l.startswith("To wait for it again: ")]
    assert hint and hint[0].split(": ", 1)[1].split()[:8] == \
        ["rpctl", "disk", "wait", "-g", rg, "-n", "back", "--created"], err
    args = hint[0].split(": ", 1)[1].split()[1:]
    assert "--data" in args
    rpctl(rpd, *args, data=False)  # the hint, as printed, works
    assert rpctl_json(rpd, "disk", "show", "-g", rg, "-n", "back")["properties"][
        "provisioningState"] == "Succeeded"


def test_rpctl__help_of_the_new_commands(rpd):
    top = rpctl(rpd, "--help", data=False).stdout
    for cmd in ("vm", "region"):
        assert "\n  %s " % cmd in top, top
    assert "RPD_URL" in top and "RPD_TOKEN" in top and "RPD_CA" in top
    for v in (["vm", "create"], ["vm", "show"], ["vm", "list"], ["vm", "delete"], ["vm", "wait"],
              ["region", "list"], ["region", "status"], ["group", "wait"], ["disk", "wait"],
              ["restore-point", "wait"]):
        p = rpctl(rpd, *v, "--help", data=False)
        assert p.stdout.startswith("Usage: rpctl " + " ".join(v)), (v, p.stdout)
        assert "Example" in p.stdout and "--subscription" in p.stdout and "--query" in p.stdout
    assert "--replicated" in rpctl(rpd, "restore-point", "wait", "--help", data=False).stdout
