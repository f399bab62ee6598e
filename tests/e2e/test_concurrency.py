"""Requests that race: the server must serialise every check-then-write of the model, so that
concurrent creates of one name make one resource, one disk cannot be attached to two VMs, and a
disk being copied is visible (and protected) from the moment its PUT is accepted."""
import concurrent.futures
import os

import requests

from conftest import COMPUTE_API, DISK_API, RG_API, disk_path, rg_path, vm_path

EMPTY = {"location": "eastus",
         "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}


def images(rpd, region="eastus"):
    return sorted(f for f in os.listdir(os.path.join(rpd.data, "regions", region, "disks"))
                  if f.endswith(".img"))


def test_concurrent_creates_of_one_disk_make_one_disk(rpd):
    assert rpd.req("PUT", rg_path("r"), RG_API, {"location": "eastus"}).status_code == 201
    for trial in range(4):
        name = "same%d" % trial
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(lambda _: rpd.req("PUT", disk_path("r", name), DISK_API, EMPTY),
                             range(8)))
        assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
        ids = {r.json()["properties"]["uniqueId"] for r in rs}
        assert len(ids) == 1, ids
        assert rpd.req("GET", disk_path("r", name), DISK_API).json()["properties"][
            "uniqueId"] in ids
    # one image per disk: nothing leaked by the losers
    assert len(images(rpd)) == 4


def test_one_disk_cannot_be_attached_to_two_vms_at_once(rpd):
    assert rpd.req("PUT", rg_path("r"), RG_API, {"location": "eastus"}).status_code == 201
    for trial in range(6):
        shared = rpd.req("PUT", disk_path("r", "x%d" % trial), DISK_API, EMPTY).json()["id"]
        os_ids = [rpd.req("PUT", disk_path("r", "os%d-%d" % (trial, i)), DISK_API,
                          EMPTY).json()["id"] for i in range(3)]

        def make_vm(i):
            return rpd.req("PUT", vm_path("r", "v%d-%d" % (trial, i)), COMPUTE_API, {
                "location": "eastus", "properties": {"storageProfile": {
                    "osDisk": {"createOption": "Attach", "managedDisk": {"id": os_ids[i]}},
                    "dataDisks": [{"lun": 0, "createOption": "Attach",
                                   "managedDisk": {"id": shared}}]}}})
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            rs = list(ex.map(make_vm, range(3)))
        codes = sorted(r.status_code for r in rs)
        assert codes == [201, 409, 409], [r.text for r in rs]
        winner = [r.json()["id"] for r in rs if r.status_code == 201][0]
        d = rpd.req("GET", disk_path("r", "x%d" % trial), DISK_API).json()
        assert d["managedBy"] == winner
        for i, r in enumerate(rs):
            got = rpd.req("GET", vm_path("r", "v%d-%d" % (trial, i)), COMPUTE_API)
            assert got.status_code == (200 if r.status_code == 201 else 404)
            # the losers' OS disks stay free
            od = rpd.req("GET", disk_path("r", "os%d-%d" % (trial, i)), DISK_API).json()
            assert od["properties"]["diskState"] == ("Attached" if r.status_code == 201
                                                     else "Unattached")


def test_disk_being_copied_is_visible_and_protected_until_the_copy_ends(rpd, monkeypatch):
    assert rpd.req("PUT", rg_path("r"), RG_API, {"location": "eastus"}).status_code == 201
    src = rpd.req("PUT", disk_path("r", "src"), DISK_API, EMPTY).json()
    os_id = rpd.req("PUT", disk_path("r", "os"), DISK_API, EMPTY).json()["id"]
    # hold the copy job back so that it is observably in progress
    rpd.stop()
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", "3000")
    rpd.start()
    body = {"location": "eastus", "properties": {"creationData": {
        "createOption": "Copy", "sourceResourceId": src["id"]}}}
    r = rpd.req("PUT", disk_path("r", "cp"), DISK_API, body)
    assert r.status_code == 202, r.text
    assert r.json()["properties"]["provisioningState"] == "Updating"
    g = rpd.req("GET", disk_path("r", "cp"), DISK_API)
    assert g.status_code == 200, g.text
    assert g.json()["properties"]["provisioningState"] == "Updating"
    names = [d["name"] for d in rpd.req("GET", disk_path("r", "")[:-1], DISK_API).json()["value"]]
    assert "cp" in names
    # nothing else may take or change it meanwhile
    for method, path, api, b in (
            ("PUT", disk_path("r", "cp"), DISK_API, EMPTY),
            ("PATCH", disk_path("r", "cp"), DISK_API, {"tags": {"a": "b"}}),
            ("DELETE", disk_path("r", "cp"), DISK_API, None),
            ("POST", disk_path("r", "cp") + "/beginGetAccess", DISK_API,
             {"access": "Read", "durationInSeconds": 60})):
        e = rpd.req(method, path, api, b)
        assert e.status_code == 409, (method, e.text)
        assert e.json()["error"]["code"] == "AnotherOperationInProgress"
    e = rpd.req("PUT", vm_path("r", "vm"), COMPUTE_API, {
        "location": "eastus", "properties": {"storageProfile": {
            "osDisk": {"createOption": "Attach", "managedDisk": {"id": os_id}},
            "dataDisks": [{"lun": 0, "createOption": "Attach",
                           "managedDisk": {"id": g.json()["id"]}}]}}})
    assert e.status_code == 409, e.text
    # the copy completes and the disk is usable
    st = rpd.wait_lro(r, timeout=30)
    assert st["status"] == "Succeeded", st
    d = rpd.req("GET", disk_path("r", "cp"), DISK_API).json()
    assert d["properties"]["provisioningState"] == "Succeeded"
    assert d["properties"]["diskState"] == "Unattached"
    a = rpd.req("POST", disk_path("r", "cp") + "/beginGetAccess", DISK_API,
                {"access": "Read", "durationInSeconds": 60})
    assert a.status_code == 202
    sas = requests.get(a.headers["Location"], verify=rpd.ca,
                       headers={"Authorization": "Bearer " + rpd.token()}).json()["accessSAS"]
    assert requests.head(sas, verify=rpd.ca).status_code == 200
    assert len(images(rpd)) == 3


def test_copy_whose_group_is_deleted_meanwhile_fails_and_leaves_nothing(rpd, monkeypatch):
    assert rpd.req("PUT", rg_path("keep"), RG_API, {"location": "eastus"}).status_code == 201
    assert rpd.req("PUT", rg_path("gone"), RG_API, {"location": "westus"}).status_code == 201
    src = rpd.req("PUT", disk_path("keep", "src"), DISK_API, EMPTY).json()
    rpd.stop()
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", "1500")
    rpd.start()
    r = rpd.req("PUT", disk_path("gone", "cp"), DISK_API, {
        "location": "eastus", "properties": {"creationData": {
            "createOption": "Copy", "sourceResourceId": src["id"]}}})
    assert r.status_code == 202, r.text
    d = rpd.req("DELETE", rg_path("gone"), RG_API)
    assert d.status_code == 202
    # both jobs run on the eastus worker: the copy first, then the group's deletion
    st = rpd.wait_lro(r, timeout=30)
    assert st["status"] in ("Succeeded", "Failed"), st
    dl = rpd.wait_lro(d, timeout=30)
    assert dl["status"] == "Succeeded", dl
    assert rpd.req("GET", rg_path("gone"), RG_API).status_code == 404
    assert rpd.req("GET", disk_path("keep", "src"), DISK_API).status_code == 200
    assert len(images(rpd)) == 1


def test_nothing_new_goes_into_a_group_being_deleted(rpd, monkeypatch):
    assert rpd.req("PUT", rg_path("g"), RG_API, {"location": "eastus"}).status_code == 201
    os_id = rpd.req("PUT", disk_path("g", "os"), DISK_API, EMPTY).json()["id"]
    rpd.stop()
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", "2000")
    rpd.start()
    d = rpd.req("DELETE", rg_path("g"), RG_API)
    assert d.status_code == 202
    g = rpd.req("GET", rg_path("g"), RG_API)
    assert g.status_code == 200 and g.json()["properties"]["provisioningState"] == "Deleting"
    for method, path, api, body in (
            ("PUT", rg_path("g"), RG_API, {"location": "eastus"}),
            ("PUT", disk_path("g", "late"), DISK_API, EMPTY),
            ("PUT", vm_path("g", "late"), COMPUTE_API, {"location": "eastus", "properties": {
                "storageProfile": {"osDisk": {"createOption": "Attach",
                                              "managedDisk": {"id": os_id}}}}})):
        r = rpd.req(method, path, api, body)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["error"]["code"] == "ResourceGroupBeingDeleted"
    # reads go on while it is deleted
    assert rpd.req("GET", disk_path("g", "os"), DISK_API).status_code == 200
    assert rpd.wait_lro(d, timeout=30)["status"] == "Succeeded"
    assert rpd.req("GET", disk_path("g", "late"), DISK_API).status_code == 404
    assert rpd.req("GET", rg_path("g"), RG_API).status_code == 404
    assert images(rpd) == []
    # and the name can be used again
    assert rpd.req("PUT", rg_path("g"), RG_API, {"location": "westus"}).status_code == 201
