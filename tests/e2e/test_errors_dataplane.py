"""Every refusal of the disk data plane (the SAS URLs): bad ranges, sizes and headers, and
expired, revoked, forged or read-only SAS. Each refused request changes nothing: the disk is
read back byte for byte afterwards, and the server keeps serving."""
import socket
import ssl
import time
import urllib.parse

import pytest
import requests

from conftest import DISK_API, RG_API, disk_path, rg_path
from errors_common import call, check_error, expiry, sas_fields, sign_sas

MIB = 1024 * 1024
GIB = 1024 * MIB
RG = "dperr"
# what the "main" disk holds: the first KNOWN bytes (the rest of the 1 GiB disk is a hole)
KNOWN = 2 * MIB


def pattern(n, seed):
    block = bytes((seed * 131 + i * 7 + (i >> 9)) & 0xFF for i in range(8192))
    return (block * (n // len(block) + 1))[:n]


CONTENT = pattern(KNOWN, 1) + pattern(4096, 2)  # last 4 KiB written at the disk's end


def grant(srv, disk, access, seconds=3600):
    r = call(srv, "POST", disk_path(RG, disk) + "/beginGetAccess", DISK_API,
             {"access": access, "durationInSeconds": seconds})
    assert r.status_code == 202, r.text
    r = call(srv, "GET", None, url=r.headers["Location"])
    assert r.status_code == 200, r.text
    return r.json()["accessSAS"]


def revoke(srv, disk):
    r = call(srv, "POST", disk_path(RG, disk) + "/endGetAccess", DISK_API)
    assert r.status_code == 202, r.text


def put_page(sas, first, data, last=None, headers=None, mode="update", comp="page", **kw):
    """A page write; @last defaults to the end of @data."""
    if last is None:
        last = first + len(data) - 1
    h = {"x-ms-range": "bytes=%d-%d" % (first, last), "x-ms-page-write": mode,
         "x-ms-client-request-id": "dp-%d" % time.monotonic_ns()}
    if headers:
        h.update(headers)
    h = {k: v for k, v in h.items() if v is not None}
    url = sas + (("&" if "?" in sas else "?") + "comp=" + comp if comp else "")
    r = requests.put(url, data=data, headers=h, verify=kw.pop("ca"), **kw)
    assert r.headers.get("x-ms-request-id"), r.headers
    assert r.headers.get("x-ms-client-request-id") == h["x-ms-client-request-id"]
    return r


def read(srv, sas, first, last):
    r = requests.get(sas, headers={"Range": "bytes=%d-%d" % (first, last)}, verify=srv.ca)
    assert r.status_code == 206, r.text
    return r.content


@pytest.fixture(scope="module")
def dp(srv):
    """The disk "main" (1 GiB) with known content, a Write SAS on it, and a disk "ro" with a
    Read SAS."""
    assert call(srv, "PUT", rg_path(RG), RG_API, {"location": "eastus"}).status_code == 201
    for name in ("main", "ro", "other"):
        r = call(srv, "PUT", disk_path(RG, name), DISK_API, {
            "location": "eastus",
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}})
        assert r.status_code == 200, r.text
    w = grant(srv, "main", "Write")
    for off in range(0, KNOWN, 2 * MIB):
        assert put_page(w, off, CONTENT[off:off + 2 * MIB], ca=srv.ca).status_code == 201
    assert put_page(w, GIB - 4096, CONTENT[KNOWN:], ca=srv.ca).status_code == 201
    ow = grant(srv, "ro", "Write")
    assert put_page(ow, 0, pattern(4096, 9), ca=srv.ca).status_code == 201
    revoke(srv, "ro")
    ro = grant(srv, "ro", "Read")
    other = grant(srv, "other", "Write")
    return {"w": w, "ro": ro, "other": other}


def intact(srv, dp):
    """The main disk still holds exactly CONTENT (and zeros around the tail)."""
    assert read(srv, dp["w"], 0, KNOWN - 1) == CONTENT[:KNOWN]
    assert read(srv, dp["w"], KNOWN, KNOWN + MIB - 1) == b"\0" * MIB
    assert read(srv, dp["w"], GIB - 8192, GIB - 1) == b"\0" * 4096 + CONTENT[KNOWN:]
    assert read(srv, dp["ro"], 0, 4095) == pattern(4096, 9)


def check_dp_error(r, status, code):
    e = check_error(r, status, code)
    assert r.headers.get("x-ms-error-code") == code, r.headers
    return e


# ---------------------------------------------------------------- ranges and sizes

@pytest.mark.parametrize("first,last,status,code", [
    (100, 611, 400, "InvalidPageRange"),                   # unaligned start
    (0, 510, 400, "InvalidPageRange"),                     # unaligned end
    (512, 1000, 400, "InvalidPageRange"),
    (GIB - 512, GIB + 511, 416, "InvalidRange"),           # crosses the end
    (GIB, GIB + 511, 416, "InvalidRange"),                 # starts at the end
    (4 * GIB, 4 * GIB + 511, 416, "InvalidRange"),
])
def test_bad_page_range_is_refused_and_changes_nothing(srv, dp, first, last, status, code):
    n = last - first + 1
    r = put_page(dp["w"], first, b"\xee" * n, last=last, ca=srv.ca)
    check_dp_error(r, status, code)
    intact(srv, dp)


def test_page_write_over_4_mib_is_413_and_changes_nothing(srv, dp):
    n = 4 * MIB + 512
    # a client that sends the body without waiting still reads the refusal
    r = put_page(dp["w"], 0, b"\xee" * n, ca=srv.ca)
    check_dp_error(r, 413, "RequestBodyTooLarge")
    # the refusal comes before "100 Continue": the body is never asked for
    head = raw_request(srv, "PUT", dp["w"] + "&comp=page", {
        "x-ms-range": "bytes=0-%d" % (n - 1), "x-ms-page-write": "update",
        "Content-Length": str(n), "Expect": "100-continue"}, body=None)
    assert head.startswith("HTTP/1.1 413"), head
    # clear has no size limit: it only zeroes (checked on another disk)
    intact(srv, dp)


def raw_request(srv, method, url, headers, body):
    """Send a request over a raw TLS socket and return the reply head and body as text."""
    u = urllib.parse.urlsplit(url)
    host, port = u.netloc.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=srv.ca)
    lines = ["%s %s?%s HTTP/1.1" % (method, u.path, u.query), "Host: %s" % u.netloc,
             "x-ms-client-request-id: raw"]
    lines += ["%s: %s" % kv for kv in headers.items()]
    with socket.create_connection((host, int(port)), timeout=10) as raw_sock:
        with ctx.wrap_socket(raw_sock, server_hostname=host) as s:
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            if body:
                s.sendall(body)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            while len(rest) < length:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
    return (head + b"\r\n\r\n" + rest).decode(errors="replace")


def test_content_length_that_does_not_match_the_range_is_refused(srv, dp):
    r = put_page(dp["w"], 0, b"\xee" * 512, last=1023, ca=srv.ca)
    check_dp_error(r, 400, "InvalidHeaderValue")
    r = put_page(dp["w"], 0, b"\xee" * 2048, last=1023, ca=srv.ca)
    check_dp_error(r, 400, "InvalidHeaderValue")
    # a clear carries no body
    r = put_page(dp["w"], 0, b"\xee" * 512, mode="clear", ca=srv.ca)
    check_dp_error(r, 400, "InvalidHeaderValue")
    intact(srv, dp)


def test_page_write_without_content_length_is_refused(srv, dp):
    # chunked, over a raw socket: the refusal comes when the headers are in, and the server may
    # close before a client like requests has finished sending
    reply = raw_request(srv, "PUT", dp["w"] + "&comp=page", {
        "x-ms-range": "bytes=0-511", "x-ms-page-write": "update",
        "Transfer-Encoding": "chunked"}, body=b"200\r\n" + b"\xee" * 512 + b"\r\n0\r\n\r\n")
    assert reply.startswith("HTTP/1.1 400"), reply
    assert "x-ms-error-code: InvalidHeaderValue" in reply and "Retry-After" not in reply, reply
    intact(srv, dp)


@pytest.mark.parametrize("headers,code", [
    ({"x-ms-range": None}, "MissingRequiredHeader"),
    ({"x-ms-page-write": None}, "MissingRequiredHeader"),
    ({"x-ms-page-write": "append"}, "InvalidHeaderValue"),
    ({"x-ms-range": "bytes=abc"}, "InvalidHeaderValue"),
    ({"x-ms-range": "bytes=0"}, "InvalidHeaderValue"),
    ({"x-ms-range": "bytes=0-"}, "InvalidHeaderValue"),
    ({"x-ms-range": "items=0-511"}, "InvalidHeaderValue"),
    ({"x-ms-range": "bytes=1023-512"}, "InvalidHeaderValue"),
    ({"x-ms-range": "bytes=-512"}, "InvalidHeaderValue"),
    ({"x-ms-range": "bytes=0-511,1024-1535"}, "InvalidHeaderValue"),
])
def test_missing_or_bad_headers_are_refused(srv, dp, headers, code):
    r = put_page(dp["w"], 0, b"\xee" * 512, headers=headers, ca=srv.ca)
    check_dp_error(r, 400, code)
    intact(srv, dp)


@pytest.mark.parametrize("comp", [None, "block", "PAGE", "appendblock"])
def test_put_that_is_not_a_page_write_is_refused(srv, dp, comp):
    r = put_page(dp["w"], 0, b"\xee" * 512, comp=comp, ca=srv.ca)
    check_dp_error(r, 400, "InvalidHeaderValue")
    intact(srv, dp)


def test_body_cut_short_changes_nothing(srv, dp):
    """The client announces 1 MiB - 512 bytes and hangs up after 64 KiB: nothing lands."""
    n = MIB - 512
    u = urllib.parse.urlsplit(dp["w"] + "&comp=page")
    host, port = u.netloc.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=srv.ca)
    with socket.create_connection((host, int(port)), timeout=10) as raw_sock:
        with ctx.wrap_socket(raw_sock, server_hostname=host) as s:
            s.sendall(("PUT %s?%s HTTP/1.1\r\nHost: %s\r\nx-ms-range: bytes=0-%d\r\n"
                       "x-ms-page-write: update\r\nContent-Length: %d\r\n\r\n"
                       % (u.path, u.query, u.netloc, n - 1, n)).encode())
            s.sendall(b"\xee" * 65536)
    time.sleep(0.2)
    intact(srv, dp)


# ---------------------------------------------------------------- signatures

def test_refused_page_write_with_a_4_mib_body_reaches_the_client(srv, dp):
    """Refused when the headers are in (bad signature, read-only SAS, bad range), yet the
    client sends the whole 4 MiB: it must still get the error, not a broken connection."""
    u, q = sas_fields(dp["w"])
    forged = dp["w"].replace(q["sig"], ("A" if q["sig"][0] != "A" else "B") + q["sig"][1:])
    big = b"\xee" * (4 * MIB)
    for url, first, status, code in ((forged, 0, 403, "AuthenticationFailed"),
                                     (dp["ro"], 0, 403, "AuthorizationPermissionMismatch"),
                                     (dp["w"], 100, 400, "InvalidPageRange"),
                                     (dp["w"], GIB - 2 * MIB, 416, "InvalidRange")):
        r = put_page(url, first, big, ca=srv.ca)
        check_dp_error(r, status, code)
    intact(srv, dp)


def test_read_only_sas_cannot_write(srv, dp):
    r = put_page(dp["ro"], 0, b"\xee" * 512, ca=srv.ca)
    check_dp_error(r, 403, "AuthorizationPermissionMismatch")
    r = put_page(dp["ro"], 0, None, last=4095, mode="clear", ca=srv.ca)
    check_dp_error(r, 403, "AuthorizationPermissionMismatch")
    intact(srv, dp)


def forged_variants(srv, dp):
    w = dp["w"]
    u, q = sas_fields(w)
    base = urllib.parse.urlunsplit(u._replace(query=""))

    def with_query(**change):
        qq = dict(q)
        for k, v in change.items():
            if v is None:
                qq.pop(k, None)
            else:
                qq[k] = v
        return base + "?" + urllib.parse.urlencode(qq)

    sig = q["sig"]
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    ro_u, ro_q = sas_fields(dp["ro"])
    other_u, other_q = sas_fields(dp["other"])
    return {
        "no_sig": with_query(sig=None),
        "no_se": with_query(se=None),
        "no_sp": with_query(sp=None),
        "no_query": base,
        "flipped_sig": with_query(sig=flipped),
        "truncated_sig": with_query(sig=sig[:20]),
        "later_expiry_unsigned": with_query(se=expiry(10 * 86400)),
        "older_generation_unsigned": with_query(si="0" if q["si"] != "0" else "1"),
        "other_version": with_query(sv="2020-01-01"),
        "other_resource_type": with_query(sr="c"),
        # the read-only SAS of "ro" with its permission raised, not re-signed
        "ro_raised_to_rw": urllib.parse.urlunsplit(ro_u._replace(
            query=urllib.parse.urlencode(dict(ro_q, sp="rw")))),
        # a valid SAS of another disk, presented on this disk's URL
        "other_disks_sas": base + "?" + urllib.parse.urlencode(other_q),
        # this disk's SAS on a path that names another region or another disk
        "other_region": w.replace("/data/eastus/", "/data/westus/"),
        "unknown_disk": w.replace(u.path, u.path[:-8] + "00000000"),
        # signed with our key, but expired
        "expired_signed": sign_sas(srv.data, w, se=expiry(-60)),
        # signed with our key for an older generation (as if issued before a revoke)
        "old_generation_signed": sign_sas(srv.data, w, si=str(int(q["si"]) - 1)
                                          if int(q["si"]) > 0 else "999"),
    }


EXPECT = {
    "other_version": "AuthenticationFailed", "expired_signed": "AuthenticationFailed",
    "old_generation_signed": "AuthenticationFailed",
}


@pytest.mark.parametrize("name", [
    "no_sig", "no_se", "no_sp", "no_query", "flipped_sig", "truncated_sig",
    "later_expiry_unsigned", "older_generation_unsigned", "other_version",
    "other_resource_type", "ro_raised_to_rw", "other_disks_sas", "other_region", "unknown_disk",
    "expired_signed", "old_generation_signed",
])
def test_forged_or_foreign_sas_is_refused_and_changes_nothing(srv, dp, name):
    url = forged_variants(srv, dp)[name]
    r = put_page(url, 0, b"\xee" * 512, ca=srv.ca)
    check_dp_error(r, 403, "AuthenticationFailed")
    r = requests.get(url, headers={"Range": "bytes=0-511"}, verify=srv.ca)
    check_dp_error(r, 403, "AuthenticationFailed")
    r = requests.head(url, verify=srv.ca)
    assert r.status_code == 403 and r.content == b""
    intact(srv, dp)


def test_expired_sas_from_a_short_grant_is_refused(srv, dp):
    short = grant(srv, "other", "Write", seconds=1)
    time.sleep(1.2)
    r = put_page(short, 0, b"\xee" * 512, ca=srv.ca)
    e = check_dp_error(r, 403, "AuthenticationFailed")
    assert "expired" in e["message"].lower(), e
    # the grant of the module's "other" SAS is still there
    assert read(srv, dp["other"], 0, 511) == b"\0" * 512


def test_revoked_sas_is_refused_and_changes_nothing(srv, dp):
    w = grant(srv, "other", "Write")
    assert put_page(w, 0, b"\x11" * 512, ca=srv.ca).status_code == 201
    revoke(srv, "other")
    for u in (w, dp["other"]):
        r = put_page(u, 0, b"\x22" * 1024, ca=srv.ca)
        check_dp_error(r, 403, "AuthenticationFailed")
        r = requests.get(u, headers={"Range": "bytes=0-511"}, verify=srv.ca)
        check_dp_error(r, 403, "AuthenticationFailed")
    fresh = grant(srv, "other", "Read")
    assert read(srv, fresh, 0, 1023) == b"\x11" * 512 + b"\0" * 512
    revoke(srv, "other")
    dp["other"] = grant(srv, "other", "Write")


# ---------------------------------------------------------------- reads

@pytest.mark.parametrize("rng,status,code", [
    ("bytes=%d-%d" % (GIB, GIB + 10), 416, "InvalidRange"),
    ("bytes=%d-" % (2 * GIB), 416, "InvalidRange"),
    ("bytes=abc", 400, "InvalidHeaderValue"),
    ("bytes=10-5", 400, "InvalidHeaderValue"),
    ("pages=0-1", 400, "InvalidHeaderValue"),
])
def test_bad_read_range_is_refused(srv, dp, rng, status, code):
    r = requests.get(dp["w"], headers={"Range": rng}, verify=srv.ca)
    check_dp_error(r, status, code)


def test_read_range_ending_past_the_disk_is_served_to_the_end(srv, dp):
    r = requests.get(dp["w"], headers={"Range": "bytes=%d-%d" % (GIB - 4096, GIB + MIB)},
                     verify=srv.ca)
    assert r.status_code == 206 and r.content == CONTENT[KNOWN:]
    assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (GIB - 4096, GIB - 1, GIB)
    r = requests.get(dp["w"], headers={"x-ms-range": "bytes=0-%d" % (64 * GIB)}, stream=True,
                     verify=srv.ca)
    assert r.status_code == 206 and int(r.headers["Content-Length"]) == GIB
    assert r.raw.read(KNOWN) == CONTENT[:KNOWN]
    r.close()


def test_open_ended_and_unaligned_reads_work(srv, dp):
    r = requests.get(dp["w"], headers={"Range": "bytes=%d-" % (GIB - 100)}, verify=srv.ca)
    assert r.status_code == 206 and r.content == CONTENT[-100:]
    assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (GIB - 100, GIB - 1, GIB)
    assert read(srv, dp["w"], 3, 3) == CONTENT[3:4]


# ---------------------------------------------------------------- still alive

def test_zz_disk_intact_and_server_serving_after_the_refusals(srv, dp):
    assert srv.proc.poll() is None, "rpd died"
    intact(srv, dp)
    r = call(srv, "GET", disk_path(RG, "main"), DISK_API)
    assert r.status_code == 200 and r.json()["properties"]["diskState"] == "ActiveSAS"
    # the main disk's Write SAS still works
    assert put_page(dp["w"], KNOWN, b"\x33" * 512, ca=srv.ca).status_code == 201
    assert read(srv, dp["w"], KNOWN, KNOWN + 511) == b"\x33" * 512
