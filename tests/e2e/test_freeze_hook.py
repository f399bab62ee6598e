"""Freeze hooks: a VM's configured command runs around the cut for application consistency;
without one, or when it fails or times out, the point is crash-consistent and says so."""
import os
import stat

import pytest

from conftest import COMPUTE_API, DISK_API, RG_API, Rpd, disk_path, rg_path, vm_path, SUB


def hook_config(tmp_path, script_body, timeout=2):
    data = tmp_path / "data"
    data.mkdir()
    script = tmp_path / "hook.sh"
    script.write_text("#!/bin/sh\n" + script_body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    vm_id = vm_path("hooks", "vm1")
    (data / "rpd.conf").write_text(
        "[rpd]\nlisten = 127.0.0.1:0\n[region eastus]\ndisplay_name = East US\n"
        "[region westus]\ndisplay_name = West US\n"
        "[freeze-hook vm1]\nvm = %s\ncommand = %s\ntimeout = %d\n" % (vm_id, script, timeout))
    return data


def make_vm(rpd):
    assert rpd.req("PUT", rg_path("hooks"), RG_API, {"location": "eastus"}).status_code == 201
    r = rpd.req("PUT", disk_path("hooks", "os1"), DISK_API,
                {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
    assert r.status_code == 200, r.text
    r = rpd.req("PUT", vm_path("hooks", "vm1"), COMPUTE_API,
                {"location": "eastus", "properties": {"storageProfile": {"osDisk": {
                    "createOption": "Attach", "managedDisk": {"id": r.json()["id"]}}}}})
    assert r.status_code == 201, r.text
    rpc = "/subscriptions/%s/resourceGroups/hooks/providers/Microsoft.Compute/restorePointCollections/c1" % SUB
    r = rpd.req("PUT", rpc, COMPUTE_API, {"location": "eastus", "properties": {"source": {"id": r.json()["id"]}}})
    assert r.status_code == 201, r.text
    return rpc


def take_point(rpd, rpc, name, body=None):
    r = rpd.req("PUT", rpc + "/restorePoints/" + name, COMPUTE_API, body or {})
    assert r.status_code == 201, r.text
    st = rpd.wait_lro(r)
    assert st["status"] == "Succeeded", st
    return rpd.req("GET", rpc + "/restorePoints/" + name, COMPUTE_API).json()["properties"]


@pytest.fixture
def hooked(tmp_path):
    made = []

    def start(body, timeout=2):
        d = Rpd(hook_config(tmp_path, body, timeout)).start()
        made.append(d)
        return d
    yield start
    for d in made:
        assert d.stop() == 0


def test_freeze_hook__runs_around_the_cut_and_makes_the_point_application_consistent(hooked, tmp_path):
    log = tmp_path / "hook.log"
    rpd = hooked('echo "$1 $RPD_PHASE" >> %s\n' % log)
    rpc = make_vm(rpd)
    p = take_point(rpd, rpc, "p1")
    assert p["consistencyMode"] == "ApplicationConsistent"
    assert log.read_text().split("\n")[:2] == ["freeze freeze", "thaw thaw"]


def test_freeze_hook__failing_hook_gives_a_crash_consistent_point(hooked):
    rpd = hooked("exit 3\n")
    rpc = make_vm(rpd)
    assert take_point(rpd, rpc, "p1")["consistencyMode"] == "CrashConsistent"


def test_freeze_hook__hook_past_its_timeout_is_killed_and_the_point_is_crash_consistent(hooked):
    rpd = hooked("sleep 30\n", timeout=1)
    rpc = make_vm(rpd)
    assert take_point(rpd, rpc, "p1")["consistencyMode"] == "CrashConsistent"


def test_freeze_hook__not_run_when_crash_consistency_is_asked(hooked, tmp_path):
    log = tmp_path / "hook.log"
    rpd = hooked('echo "$1" >> %s\n' % log)
    rpc = make_vm(rpd)
    p = take_point(rpd, rpc, "p1", {"properties": {"consistencyMode": "CrashConsistent"}})
    assert p["consistencyMode"] == "CrashConsistent"
    assert not log.exists()


def test_freeze_hook__vm_without_hook_gets_crash_consistent_point(rpd):
    rpc = make_vm(rpd)
    assert take_point(rpd, rpc, "p1")["consistencyMode"] == "CrashConsistent"
