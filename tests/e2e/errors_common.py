"""Helpers of the error-path tests (test_errors*.py): requests that always send
x-ms-client-request-id, the check of the ARM error envelope, hand-made tokens and SAS."""
import base64
import hashlib
import hmac
import json
import os
import time
import urllib.parse
import uuid

import requests

CLIENT_ID_HEADER = "x-ms-client-request-id"


def call(srv, method, path, api=None, body=None, raw=None, headers=None, auth=True,
         token=None, params=None, url=None, **kw):
    """One request to @path (or the absolute @url); checks the headers every reply carries."""
    h = {CLIENT_ID_HEADER: str(uuid.uuid4()), "x-ms-correlation-request-id": str(uuid.uuid4())}
    if auth:
        h["Authorization"] = "Bearer " + (token or srv.token())
    if headers:
        h.update(headers)
    h = {k: v for k, v in h.items() if v is not None}
    p = dict(params or {})
    if api:
        p["api-version"] = api
    if body is not None:
        raw = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    r = requests.request(method, url or srv.url + path, params=p, headers=h, data=raw,
                         verify=srv.ca, **kw)
    assert r.headers.get("x-ms-request-id"), r.headers
    assert r.headers.get("x-ms-correlation-request-id") == h["x-ms-correlation-request-id"], \
        r.headers
    assert r.headers.get(CLIENT_ID_HEADER) == h[CLIENT_ID_HEADER], r.headers
    return r


def check_error(r, status, code, target=None, message_has=()):
    """The reply is the ARM error envelope {"error":{"code","message"[,"target"]}} with
    @status and @code, and no Retry-After (azure-core would retry it)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert "Retry-After" not in r.headers, r.headers
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert list(body) == ["error"], body
    e = body["error"]
    assert set(e) <= {"code", "message", "target"} and {"code", "message"} <= set(e), e
    assert e["code"] == code, e
    assert isinstance(e["message"], str) and e["message"], e
    if target is not None:
        assert e.get("target") == target, e
    for s in message_has:
        assert s in e["message"], (s, e)
    return e


# ---------------------------------------------------------------- hand-made tokens and SAS

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def sign_jwt(data_dir, header, payload):
    """Sign @header.@payload with the RS256 key of the rpd at @data_dir."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    with open(os.path.join(data_dir, "auth", "signing.key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(payload).encode()))
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(sig)


def sas_key(data_dir):
    with open(os.path.join(data_dir, "auth", "sas.key")) as f:
        return bytes.fromhex(f.read().strip()[:64])


def sas_fields(url):
    u = urllib.parse.urlsplit(url)
    return u, dict(urllib.parse.parse_qsl(u.query))


def sign_sas(data_dir, url, **change):
    """Re-sign the SAS @url with the daemon's key after applying @change to its fields (sp, se,
    si: the disk's access generation) — a SAS the server would have issued with those values."""
    u, q = sas_fields(url)
    q.update(change)
    resource = u.path[len("/data/"):]
    sts = "\n".join([resource, q["sp"], q["se"], q["si"], q["sv"], q["sr"]])
    q["sig"] = b64url(hmac.new(sas_key(data_dir), sts.encode(), hashlib.sha256).digest())
    return urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q)))


def expiry(seconds_from_now):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))
