"""rpd driven by the Azure SDK for Python from Debian (python3-azure): resource groups, managed
disks with their SAS data plane, VMs, subscriptions and locations, and paged lists.

Data-plane requests go through `requests` with the SAS URL the SDK obtained, as AzCopy or
`az disk` would send them (page-blob style)."""
import concurrent.futures
import os
import urllib.parse

import pytest
import requests

from conftest import DISK_API, RG_API, SUB, disk_path, new_name, rg_path

MIB = 1024 * 1024
GIB = 1024 * MIB
UPLOAD_BYTES = 20 * MIB + 512  # the smallest Upload disk Azure accepts


# ---------------------------------------------------------------- helpers

def make_group(res, name=None, location="eastus", tags=None):
    name = name or new_name("rg")
    res.resource_groups.create_or_update(name, {"location": location, "tags": tags or {}})
    return name


def empty_disk(cmp, rg, name=None, gb=1, location="eastus", **props):
    name = name or new_name("d")
    body = {"location": location,
            "properties": dict({"creationData": {"createOption": "Empty"}, "diskSizeGB": gb},
                               **props)}
    return cmp.disks.begin_create_or_update(rg, name, body).result()


def grant(cmp, rg, disk, access="Write", seconds=3600):
    poller = cmp.disks.begin_grant_access(rg, disk, {"access": access,
                                                     "durationInSeconds": seconds})
    return poller.result().access_sas


def put_page(rpd, sas, offset, data, clear=False, length=None):
    """PUT ?comp=page: write @data at @offset (or clear @length bytes)."""
    n = length if clear else len(data)
    headers = {"x-ms-range": "bytes=%d-%d" % (offset, offset + n - 1),
               "x-ms-page-write": "clear" if clear else "update",
               "x-ms-blob-type": "PageBlob", "x-ms-version": "2018-03-28"}
    return requests.put(sas + "&comp=page", data=b"" if clear else data, headers=headers,
                        verify=rpd.ca)


def get_range(rpd, sas, first, last):
    return requests.get(sas, headers={"Range": "bytes=%d-%d" % (first, last)}, verify=rpd.ca)


def pattern(n, seed):
    """Deterministic, non-repeating-looking bytes."""
    block = bytes((seed * 31 + i * 7 + (i >> 8)) & 0xFF for i in range(4096))
    return (block * (n // len(block) + 1))[:n]


# ---------------------------------------------------------------- resource groups

def test_group_create_get_update_list_exists_delete(rpd):
    res, _ = rpd.sdk()
    name = new_name("rg")
    g = res.resource_groups.create_or_update(name, {"location": "eastus", "tags": {"a": "1"}})
    assert g.name == name and g.location == "eastus" and g.tags == {"a": "1"}
    assert g.id.lower() == ("/subscriptions/%s/resourceGroups/%s" % (SUB, name)).lower()
    assert g.properties.provisioning_state == "Succeeded"

    # idempotent PUT answers 200 and keeps the case of the name as created
    again = res.resource_groups.create_or_update(name.upper(), {"location": "East US",
                                                                "tags": {"a": "1"}})
    assert again.name == name

    got = res.resource_groups.get(name.upper())
    assert got.name == name and got.tags == {"a": "1"}

    upd = res.resource_groups.update(name, {"tags": {"env": "test", "owner": "e2e"}})
    assert upd.tags == {"env": "test", "owner": "e2e"}
    assert res.resource_groups.get(name).tags == {"env": "test", "owner": "e2e"}

    other = make_group(res, location="westus")
    names = [x.name for x in res.resource_groups.list()]
    assert sorted(names) == sorted([name, other])
    assert res.resource_groups.check_existence(name) is True
    assert res.resource_groups.check_existence("nosuchgroup") is False

    res.resource_groups.begin_delete(name, polling_interval=0.1).result()
    assert res.resource_groups.check_existence(name) is False
    assert [x.name for x in res.resource_groups.list()] == [other]
    from azure.core.exceptions import ResourceNotFoundError
    with pytest.raises(ResourceNotFoundError):
        res.resource_groups.get(name)


def test_group_delete_deletes_its_disks_and_vms(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    keep = make_group(res)
    d1 = empty_disk(cmp, rg)
    d2 = empty_disk(cmp, rg, location="westus")
    os_disk = empty_disk(cmp, rg)
    kept = empty_disk(cmp, keep)
    cmp.virtual_machines.begin_create_or_update(rg, "vm1", {
        "location": "eastus",
        "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                       "storageProfile": {"osDisk": {"createOption": "Attach", "osType": "Linux",
                                                     "managedDisk": {"id": os_disk.id}}}}}).result()
    res.resource_groups.begin_delete(rg, polling_interval=0.1).result()
    assert res.resource_groups.check_existence(rg) is False
    assert [d.name for d in cmp.disks.list()] == [kept.name]
    assert list(cmp.virtual_machines.list_all()) == []
    # nothing remains on the data plane of the deleted disks: their image files are gone
    for region in ("eastus", "westus"):
        imgs = [f for f in os.listdir(os.path.join(rpd.data, "regions", region, "disks"))
                if f.endswith(".img")]
        assert len(imgs) == (1 if region == "eastus" else 0), imgs
    # a new group of the same name starts empty
    make_group(res, rg)
    assert list(cmp.disks.list_by_resource_group(rg)) == []
    del d1, d2


# ---------------------------------------------------------------- disks

def test_disk_empty_get_update_list_delete(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    d = empty_disk(cmp, rg, "data1", gb=4)
    assert d.name == "data1" and d.location == "eastus"
    assert d.disk_size_gb == 4 and d.disk_size_bytes == 4 * GIB
    assert d.disk_state == "Unattached" and d.provisioning_state == "Succeeded"
    assert d.creation_data.create_option == "Empty"
    assert d.sku.name == "Standard_LRS"
    assert d.unique_id and d.time_created

    got = cmp.disks.get(rg, "DATA1")
    assert got.id == d.id and got.unique_id == d.unique_id

    # tags and growth through PATCH (LRO in the SDK; rpd answers 200 at once)
    upd = cmp.disks.begin_update(rg, "data1", {"tags": {"k": "v"}, "diskSizeGB": 8}).result()
    assert upd.tags == {"k": "v"} and upd.disk_size_gb == 8
    assert cmp.disks.get(rg, "data1").disk_size_bytes == 8 * GIB
    # shrinking is refused and changes nothing
    from azure.core.exceptions import HttpResponseError
    with pytest.raises(HttpResponseError) as ei:
        cmp.disks.begin_update(rg, "data1", {"diskSizeGB": 2}).result()
    assert ei.value.status_code == 400
    assert cmp.disks.get(rg, "data1").disk_size_gb == 8
    # PUT on an existing disk updates it too (sku)
    upd = cmp.disks.begin_create_or_update(rg, "data1", {
        "location": "eastus", "sku": {"name": "Premium_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 8}}).result()
    assert upd.sku.name == "Premium_LRS" and upd.tags == {}

    other = make_group(res)
    e2 = empty_disk(cmp, rg, "data2", location="westus")
    e3 = empty_disk(cmp, other, "data3")
    assert sorted(x.name for x in cmp.disks.list_by_resource_group(rg)) == ["data1", "data2"]
    assert sorted(x.name for x in cmp.disks.list()) == ["data1", "data2", "data3"]
    assert e2.location == "westus" and e3.location == "eastus"

    cmp.disks.begin_delete(rg, "data1", polling_interval=0.1).result()
    from azure.core.exceptions import ResourceNotFoundError
    with pytest.raises(ResourceNotFoundError):
        cmp.disks.get(rg, "data1")
    assert sorted(x.name for x in cmp.disks.list()) == ["data2", "data3"]
    # deleting what is gone is fine (204)
    cmp.disks.begin_delete(rg, "data1", polling_interval=0.1).result()


def test_disk_upload_flow_write_sas_pages_then_revoke(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    d = cmp.disks.begin_create_or_update(rg, "up", {
        "location": "eastus",
        "properties": {"creationData": {"createOption": "Upload",
                                        "uploadSizeBytes": UPLOAD_BYTES},
                       "osType": "Linux", "hyperVGeneration": "V2"}}).result()
    assert d.disk_state == "ReadyToUpload"
    assert d.disk_size_bytes == UPLOAD_BYTES
    assert d.os_type == "Linux" and d.hyper_v_generation == "V2"
    assert d.creation_data.upload_size_bytes == UPLOAD_BYTES
    # a Read SAS is refused while the disk waits for its upload
    from azure.core.exceptions import HttpResponseError
    with pytest.raises(HttpResponseError):
        grant(cmp, rg, "up", "Read")

    sas = grant(cmp, rg, "up", "Write")
    assert cmp.disks.get(rg, "up").disk_state == "ActiveUpload"
    head = pattern(4 * MIB, 1)
    tail = pattern(512, 2)
    assert put_page(rpd, sas, 0, head).status_code == 201
    assert put_page(rpd, sas, UPLOAD_BYTES - 512, tail).status_code == 201
    cmp.disks.begin_revoke_access(rg, "up").result()
    d = cmp.disks.get(rg, "up")
    assert d.disk_state == "Unattached"
    # the old SAS no longer works; a new Read SAS sees the uploaded bytes
    assert get_range(rpd, sas, 0, 511).status_code == 403
    rsas = grant(cmp, rg, "up", "Read")
    assert cmp.disks.get(rg, "up").disk_state == "ActiveSAS"
    r = get_range(rpd, rsas, 0, 4 * MIB - 1)
    assert r.status_code == 206 and r.content == head
    r = get_range(rpd, rsas, UPLOAD_BYTES - 512, UPLOAD_BYTES - 1)
    assert r.content == tail
    r = get_range(rpd, rsas, 4 * MIB, 4 * MIB + 4095)
    assert r.content == b"\0" * 4096
    cmp.disks.begin_revoke_access(rg, "up").result()


def test_disk_copy_has_identical_data(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    src = empty_disk(cmp, rg, "src", gb=1)
    sas = grant(cmp, rg, "src")
    chunks = {0: pattern(MIB, 3), 300 * MIB: pattern(512 * 3, 4), GIB - 4096: pattern(4096, 5)}
    for off, data in chunks.items():
        assert put_page(rpd, sas, off, data).status_code == 201
    cmp.disks.begin_revoke_access(rg, "src").result()

    cp = cmp.disks.begin_create_or_update(rg, "copy", {
        "location": "eastus",
        "properties": {"creationData": {"createOption": "Copy",
                                        "sourceResourceId": src.id}}},
        polling_interval=0.1).result()
    assert cp.provisioning_state == "Succeeded"
    assert cp.creation_data.create_option == "Copy"
    assert cp.creation_data.source_resource_id == src.id
    assert cp.creation_data.source_unique_id == src.unique_id
    assert cp.disk_size_bytes == src.disk_size_bytes
    assert cp.unique_id != src.unique_id

    rs = grant(cmp, rg, "src", "Read")
    rc = grant(cmp, rg, "copy", "Read")
    for off, data in chunks.items():
        assert get_range(rpd, rc, off, off + len(data) - 1).content == data
    # the whole disks are equal, holes included (sampled 8 MiB windows)
    for off in (0, 256 * MIB, 300 * MIB, GIB - 8 * MIB):
        a = get_range(rpd, rs, off, off + 8 * MIB - 1).content
        b = get_range(rpd, rc, off, off + 8 * MIB - 1).content
        assert a == b and len(a) == 8 * MIB
    # the copy is independent of its source
    cmp.disks.begin_revoke_access(rg, "copy").result()
    ws = grant(cmp, rg, "copy")
    assert put_page(rpd, ws, 0, b"\xaa" * 512).status_code == 201
    assert get_range(rpd, rs, 0, 511).content == chunks[0][:512]


def test_disk_sas_write_read_back_ranges_holes_and_clear(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    empty_disk(cmp, rg, "dp", gb=1)
    sas = grant(cmp, rg, "dp", "Write")
    assert "sig=" in sas and sas.startswith(rpd.url + "/")
    assert cmp.disks.get(rg, "dp").disk_state == "ActiveSAS"

    # HEAD gives the size
    h = requests.head(sas, verify=rpd.ca)
    assert h.status_code == 200
    assert int(h.headers["Content-Length"]) == GIB
    assert h.headers.get("x-ms-blob-type") == "PageBlob"

    model = {}
    writes = [(0, pattern(512, 10)), (4096, pattern(4 * MIB, 11)),
              (64 * MIB + 512, pattern(3 * 512, 12)), (GIB - 1024, pattern(1024, 13))]
    for off, data in writes:
        r = put_page(rpd, sas, off, data)
        assert r.status_code == 201, r.text
        assert r.headers["x-ms-request-id"]
        model[off] = data
    # overwrite part of a write
    r = put_page(rpd, sas, 4096 + 512, pattern(1024, 14))
    assert r.status_code == 201

    expect = bytearray(4096 + 4 * MIB)
    expect[0:512] = writes[0][1]
    expect[4096:4096 + 4 * MIB] = writes[1][1]
    expect[4096 + 512:4096 + 1536] = pattern(1024, 14)
    r = get_range(rpd, sas, 0, len(expect) - 1)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == "bytes 0-%d/%d" % (len(expect) - 1, GIB)
    assert int(r.headers["Content-Length"]) == len(expect)
    assert r.content == bytes(expect)
    # unaligned reads are fine
    r = get_range(rpd, sas, 4097, 4200)
    assert r.status_code == 206 and r.content == bytes(expect[4097:4201])
    # holes read as zeros
    r = get_range(rpd, sas, 32 * MIB, 32 * MIB + MIB - 1)
    assert r.content == b"\0" * MIB
    r = get_range(rpd, sas, 64 * MIB, 64 * MIB + 4095)
    assert r.content == b"\0" * 512 + writes[2][1] + b"\0" * (4096 - 512 - 1536)
    r = get_range(rpd, sas, GIB - 1024, GIB - 1)
    assert r.content == writes[3][1]
    assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (GIB - 1024, GIB - 1, GIB)

    # clear zeroes a range and leaves its neighbours alone
    r = put_page(rpd, sas, 4096 + MIB, None, clear=True, length=MIB)
    assert r.status_code == 201, r.text
    r = get_range(rpd, sas, 4096 + MIB - 512, 4096 + 2 * MIB + 511)
    want = writes[1][1][MIB - 512:MIB] + b"\0" * MIB + writes[1][1][2 * MIB:2 * MIB + 512]
    assert r.content == want

    # a Read SAS reads the same bytes, and a full GET streams the whole disk's first bytes
    rsas_disk = empty_disk(cmp, rg, "small", gb=1)
    del rsas_disk
    cmp.disks.begin_revoke_access(rg, "dp").result()
    rs = grant(cmp, rg, "dp", "Read")
    r = get_range(rpd, rs, 0, 511)
    assert r.content == writes[0][1]
    with requests.get(rs, stream=True, verify=rpd.ca) as full:
        assert full.status_code == 200
        assert int(full.headers["Content-Length"]) == GIB
        first = full.raw.read(8192)
        assert first[:512] == writes[0][1] and first[512:4096] == b"\0" * 3584


def test_revoke_makes_old_sas_fail_and_new_sas_works(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    empty_disk(cmp, rg, "rv")
    old = grant(cmp, rg, "rv", "Write")
    assert put_page(rpd, old, 0, b"\x01" * 512).status_code == 201
    cmp.disks.begin_revoke_access(rg, "rv").result()
    assert cmp.disks.get(rg, "rv").disk_state == "Unattached"
    r = put_page(rpd, old, 0, b"\x02" * 512)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "AuthenticationFailed"
    assert get_range(rpd, old, 0, 511).status_code == 403
    assert requests.head(old, verify=rpd.ca).status_code == 403
    new = grant(cmp, rg, "rv", "Read")
    assert get_range(rpd, new, 0, 511).content == b"\x01" * 512
    # a second grant also voids nothing of the first until revoke; after revoke both fail
    cmp.disks.begin_revoke_access(rg, "rv").result()
    assert get_range(rpd, new, 0, 511).status_code == 403


def test_disk_sas_works_with_the_azure_storage_blob_client(rpd):
    """The SAS URL used by the blob SDK, as az and AzCopy use it: the SDK rebuilds the query
    from the SAS fields it knows (so the access generation must travel in one of them), reads
    page blobs after asking for their page list, and maps x-ms-error-code."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.storage.blob import BlobClient
    res, cmp = rpd.sdk()
    rg = make_group(res)
    cmp.disks.begin_create_or_update(rg, "blob", {
        "location": "eastus",
        "properties": {"creationData": {"createOption": "Upload",
                                        "uploadSizeBytes": UPLOAD_BYTES}}}).result()
    sas = grant(cmp, rg, "blob", "Write")
    blob = BlobClient.from_blob_url(sas, connection_verify=rpd.ca)
    props = blob.get_blob_properties()
    assert props.size == UPLOAD_BYTES and props.blob_type == "PageBlob"
    head, mid = pattern(MIB, 21), pattern(8192, 22)
    blob.upload_page(head, offset=0, length=MIB)
    blob.upload_page(mid, offset=10 * MIB, length=8192)
    blob.upload_page(pattern(512, 23), offset=UPLOAD_BYTES - 512, length=512)
    blob.clear_page(offset=4096, length=4096)
    expect = bytearray(UPLOAD_BYTES)
    expect[0:MIB] = head
    expect[4096:8192] = bytes(4096)
    expect[10 * MIB:10 * MIB + 8192] = mid
    expect[UPLOAD_BYTES - 512:] = pattern(512, 23)
    assert blob.download_blob(offset=10 * MIB, length=8192).readall() == mid
    assert blob.download_blob(offset=0, length=16384).readall() == bytes(expect[:16384])
    whole = blob.download_blob(max_concurrency=4).readall()
    assert len(whole) == UPLOAD_BYTES and whole == bytes(expect)
    cmp.disks.begin_revoke_access(rg, "blob").result()
    assert cmp.disks.get(rg, "blob").disk_state == "Unattached"
    with pytest.raises(ClientAuthenticationError) as ei:
        blob.download_blob(offset=0, length=512).readall()
    assert ei.value.error_code == "AuthenticationFailed"
    # no read ever served the whole disk (as answering ?comp=pagelist with the blob would)
    reads = [l for l in rpd.log().splitlines() if "route=Data_Read" in l and "status=200" in l
             and "method=GET" in l]
    assert len(reads) <= 1, reads  # at most the one full download above


# ---------------------------------------------------------------- virtual machines

def vm_body(os_id, data_disks=(), location="eastus", **extra):
    props = {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "storageProfile": {"osDisk": {"createOption": "Attach", "osType": "Linux",
                                      "managedDisk": {"id": os_id}},
                           "dataDisks": list(data_disks)},
        "osProfile": {"computerName": "host1", "adminUsername": "azureuser",
                      "adminPassword": "S3cret!Passw0rd", "customData": "c2VjcmV0LWJvb3Q="},
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": False}},
        "userData": "dXNlcmRhdGE=",
        "licenseType": "RHEL_BYOS",
    }
    props.update(extra)
    return {"location": location, "tags": {"role": "test"}, "properties": props}


def test_vm_create_get_update_delete_with_disks(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    os_disk = empty_disk(cmp, rg, "os", gb=2)
    data0 = empty_disk(cmp, rg, "data0", gb=1)
    body = vm_body(os_disk.id, [
        {"lun": 0, "createOption": "Attach", "managedDisk": {"id": data0.id}},
        {"lun": 3, "createOption": "Empty", "diskSizeGB": 2, "name": "vm1-scratch",
         "deleteOption": "Delete"},
        {"lun": 5, "createOption": "Empty", "diskSizeGB": 1},
    ])
    vm = cmp.virtual_machines.begin_create_or_update(rg, "vm1", body).result()
    assert vm.name == "vm1" and vm.location == "eastus" and vm.tags == {"role": "test"}
    assert vm.provisioning_state == "Succeeded"
    assert vm.vm_id and len(vm.vm_id) == 36
    assert vm.os_profile.admin_password is None
    assert vm.os_profile.admin_username == "azureuser"
    assert vm.user_data is None  # only with $expand=userData
    assert vm.license_type == "RHEL_BYOS"
    sp = vm.storage_profile
    assert sp.os_disk.managed_disk.id.lower() == os_disk.id.lower()
    assert sorted(d.lun for d in sp.data_disks) == [0, 3, 5]
    by_lun = {d.lun: d for d in sp.data_disks}
    assert by_lun[3].name == "vm1-scratch" and by_lun[3].disk_size_gb == 2
    assert by_lun[5].name and by_lun[5].managed_disk.id

    # the disks say who holds them
    for name in ("os", "data0", "vm1-scratch", by_lun[5].name):
        d = cmp.disks.get(rg, name)
        assert d.disk_state == "Attached", name
        assert d.managed_by.lower() == vm.id.lower()

    # the raw reply never echoes the password either
    raw = rpd.req("GET", "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                  "virtualMachines/vm1" % (SUB, rg), "2022-08-01")
    assert "S3cret" not in raw.text and "adminPassword" not in raw.text
    assert "c2VjcmV0LWJvb3Q=" not in raw.text and "customData" not in raw.text

    got = cmp.virtual_machines.get(rg, "vm1", expand="instanceView")
    assert got.vm_id == vm.vm_id
    iv = got.instance_view
    assert iv is not None and iv.computer_name == "host1"
    assert [s.code for s in iv.statuses][0] == "ProvisioningState/succeeded"
    assert len(iv.disks) == 4
    got = cmp.virtual_machines.get(rg, "vm1", expand="userData")
    assert got.user_data == "dXNlcmRhdGE="
    assert "S3cret" not in str(got.as_dict())

    # update (PUT, as az vm update does): drop data0 and the lun-5 disk
    body["properties"]["storageProfile"]["dataDisks"] = [
        {"lun": 3, "createOption": "Attach", "managedDisk": {"id": by_lun[3].managed_disk.id},
         "deleteOption": "Delete"}]
    body["tags"] = {"role": "updated"}
    upd = cmp.virtual_machines.begin_create_or_update(rg, "vm1", body).result()
    assert upd.vm_id == vm.vm_id and upd.tags == {"role": "updated"}
    assert [d.lun for d in upd.storage_profile.data_disks] == [3]
    d0 = cmp.disks.get(rg, "data0")
    assert d0.disk_state == "Unattached" and d0.managed_by is None
    assert cmp.disks.get(rg, by_lun[5].name).disk_state == "Unattached"
    # the detached disk can be attached elsewhere now
    cmp.virtual_machines.begin_create_or_update(rg, "vm2", vm_body(data0.id)).result()
    assert sorted(v.name for v in cmp.virtual_machines.list(rg)) == ["vm1", "vm2"]
    assert sorted(v.name for v in cmp.virtual_machines.list_all()) == ["vm1", "vm2"]

    # delete: disks detach, deleteOption Delete deletes
    cmp.virtual_machines.begin_delete(rg, "vm1", polling_interval=0.1).result()
    from azure.core.exceptions import ResourceNotFoundError
    with pytest.raises(ResourceNotFoundError):
        cmp.virtual_machines.get(rg, "vm1")
    with pytest.raises(ResourceNotFoundError):
        cmp.disks.get(rg, "vm1-scratch")
    d = cmp.disks.get(rg, "os")
    assert d.disk_state == "Unattached" and d.managed_by is None
    assert sorted(x.name for x in cmp.disks.list_by_resource_group(rg)) == sorted(
        ["os", "data0", by_lun[5].name])
    assert [v.name for v in cmp.virtual_machines.list_all()] == ["vm2"]


def test_vm_attached_disk_still_takes_writes_through_sas(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    os_disk = empty_disk(cmp, rg, "os")
    cmp.virtual_machines.begin_create_or_update(rg, "vm", vm_body(os_disk.id)).result()
    sas = grant(cmp, rg, "os", "Write")
    assert put_page(rpd, sas, 512, pattern(512, 9)).status_code == 201
    assert get_range(rpd, sas, 512, 1023).content == pattern(512, 9)
    cmp.disks.begin_revoke_access(rg, "os").result()
    assert cmp.disks.get(rg, "os").disk_state == "Attached"


# ---------------------------------------------------------------- long-running operations

def test_lro_headers_status_and_location_follow_arm(rpd, monkeypatch):
    """What clients.md asks of every LRO: absolute Azure-AsyncOperation and Location carrying
    api-version, Retry-After: 1; the status resource; Location 202 while running, then done."""
    res, cmp = rpd.sdk()
    rg = make_group(res)
    empty_disk(cmp, rg, "lro")
    rpd.stop()
    monkeypatch.setenv("RPD_TEST_JOB_DELAY_MS", "1500")
    rpd.start()
    r = rpd.req("DELETE", disk_path(rg, "lro"), DISK_API)
    assert r.status_code == 202 and r.content == b""
    aso, loc = r.headers["Azure-AsyncOperation"], r.headers["Location"]
    assert r.headers["Retry-After"] == "1"
    for u in (aso, loc):
        assert u.startswith(rpd.url + "/subscriptions/" + SUB + "/")
        assert "api-version=" + DISK_API in u
    auth = {"Authorization": "Bearer " + rpd.token()}
    st = requests.get(aso, headers=auth, verify=rpd.ca)
    assert st.status_code == 200 and st.headers["Content-Type"].startswith("application/json")
    body = st.json()
    assert body["status"] == "InProgress" and st.headers.get("Retry-After") == "1"
    assert body["name"] and body["startTime"] and "endTime" not in body
    assert body["id"].endswith(body["name"])
    lr = requests.get(loc, headers=auth, verify=rpd.ca)
    assert lr.status_code == 202 and lr.headers["Retry-After"] == "1"
    final = rpd.wait_lro(r, timeout=30)
    assert final["status"] == "Succeeded" and final["endTime"] >= final["startTime"]
    assert final["percentComplete"] == 100
    lr = requests.get(loc, headers=auth, verify=rpd.ca)
    assert lr.status_code in (200, 204) and "Retry-After" not in lr.headers
    st = requests.get(aso, headers=auth, verify=rpd.ca)
    assert "Retry-After" not in st.headers
    # a group's deletion answers the same way under Microsoft.Resources
    r = rpd.req("DELETE", rg_path(rg), RG_API)
    assert r.status_code == 202
    assert "api-version=" + RG_API in r.headers["Location"]
    assert rpd.wait_lro(r, timeout=30)["status"] == "Succeeded"
    lr = requests.get(r.headers["Location"], headers=auth, verify=rpd.ca)
    assert lr.status_code in (200, 204)


# ---------------------------------------------------------------- subscriptions, locations

def test_subscriptions_list_get_and_locations(rpd):
    from azure.mgmt.resource import SubscriptionClient
    tok = rpd.token()

    class Cred:
        def get_token(self, *scopes, **kw):
            from azure.core.credentials import AccessToken
            import time
            return AccessToken(tok, int(time.time()) + 3600)

    sc = SubscriptionClient(Cred(), base_url=rpd.url, connection_verify=rpd.ca,
                            credential_scopes=["https://management.core.windows.net/.default"])
    subs = list(sc.subscriptions.list())
    assert [s.subscription_id for s in subs] == [SUB]
    assert subs[0].state == "Enabled" and subs[0].tenant_id
    s = sc.subscriptions.get(SUB)
    assert s.subscription_id == SUB and s.id == "/subscriptions/" + SUB
    locs = {l.name: l for l in sc.subscriptions.list_locations(SUB)}
    assert sorted(locs) == ["eastus", "westus"]
    assert locs["eastus"].display_name == "East US"


# ---------------------------------------------------------------- paging

def raw_disk_put(rpd, rg, name, location):
    r = rpd.req("PUT", disk_path(rg, name), DISK_API, {
        "location": location,
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
    assert r.status_code == 200, r.text
    return name


def test_lists_page_with_nextlink_and_tokens_stay_valid(rpd):
    res, cmp = rpd.sdk()
    rg = make_group(res)
    other = make_group(res)
    # one group's list spans both regions and three pages: 70 + 30, 10 + what is added, ...
    n_east, n_west = 70, 40
    jobs = [(rg, "e%03d" % i, "eastus") for i in range(n_east)]
    jobs += [(rg, "w%03d" % i, "westus") for i in range(n_west)]
    jobs += [(other, "o%03d" % i, "eastus") for i in range(5)]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        names = list(ex.map(lambda j: raw_disk_put(rpd, *j), jobs))
    group_names = sorted(n for n in names if not n.startswith("o"))

    # the SDK follows nextLink: every disk once
    listed = [d.name for d in cmp.disks.list_by_resource_group(rg)]
    assert len(listed) == len(set(listed)) == n_east + n_west
    assert sorted(listed) == group_names
    listed = [d.name for d in cmp.disks.list()]
    assert sorted(listed) == sorted(names)

    # raw: pages of at most 100, nextLink absolute with api-version
    pages = []
    r = rpd.req("GET", disk_path(rg, "")[:-1], DISK_API)
    assert r.status_code == 200
    page = r.json()
    assert len(page["value"]) == 100
    link = page["nextLink"]
    assert link.startswith(rpd.url + "/") and "api-version=" + DISK_API in link
    pages.append(page["value"])

    # add disks while paging: the token stays valid, nothing is repeated or skipped
    assert len(page["value"]) == 100 and {d["location"] for d in page["value"]} == {
        "eastus", "westus"}
    for i in range(10):
        raw_disk_put(rpd, rg, "late-e%d" % i, "eastus")
        raw_disk_put(rpd, rg, "late-w%d" % i, "westus")
    while link:
        r = requests.get(link, headers={"Authorization": "Bearer " + rpd.token()},
                         verify=rpd.ca)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["value"]) <= 100
        pages.append(page["value"])
        link = page.get("nextLink")
    seen = [d["name"] for p in pages for d in p]
    assert len(seen) == len(set(seen)), "an item was listed twice"
    assert set(group_names) <= set(seen), "an item present from the start was skipped"
    # every late item in a region not yet passed shows up (westus comes after eastus)
    assert {"late-w%d" % i for i in range(10)} <= set(seen)

    # a token from the first page can be replayed later and still works
    r = rpd.req("GET", disk_path(rg, "")[:-1], DISK_API)
    tok = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.json()["nextLink"]).query))
    raw_disk_put(rpd, rg, "later", "eastus")
    r2 = rpd.req("GET", disk_path(rg, "")[:-1], DISK_API, params={"$skiptoken": tok["$skiptoken"]})
    assert r2.status_code == 200
    assert r2.json()["value"][0]["name"] not in [d["name"] for d in r.json()["value"]]

    # groups page too, across > 100 groups
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda i: rpd.req("PUT", rg_path("g%03d" % i), RG_API,
                                              {"location": "westus"}).status_code, range(100)))
    assert codes == [201] * 100
    groups = [g.name for g in res.resource_groups.list()]
    assert len(groups) == len(set(groups)) == 102
