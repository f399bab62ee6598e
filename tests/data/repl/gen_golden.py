#!/usr/bin/python3
"""gen_golden.py: write the golden vectors of the peer protocol from docs/PEER-PROTOCOL.md,
independently of the C code (tests/unit/repl/test_repl_wire.c and test_repl_auth.c check that
the C encoders produce these bytes and the decoders accept them).

Usage: tests/data/repl/gen_golden.py [OUTDIR]   (default: this directory)
"""
import hashlib
import hmac
import json
import os
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def header(magic):
    return magic + struct.pack("<II", 1, 0)


def chunk_plain(n, mul, add):
    return bytes((i * mul + add) & 0xFF for i in range(n))


ID1 = hashlib.sha256(b"golden chunk 1").digest()
ID2 = hashlib.sha256(b"golden chunk 2").digest()
ID3 = hashlib.sha256(b"golden chunk 3 (missing)").digest()
ID4 = hashlib.sha256(b"golden chunk 4 (unreadable)").digest()

# id list: header, u32 count, u32 reserved, ids
ids = header(b"RPPEERID") + struct.pack("<II", 4, 0) + ID1 + ID2 + ID3 + ID4

# chunk stream: CHUNK ID1 (512 B), CHUNK ID2 (1024 B), MISSING ID3 (1), MISSING ID4 (2), END
s = header(b"RPPEERCH")
s += b"\x01" + ID1 + struct.pack("<I", 512) + chunk_plain(512, 7, 3)
s += b"\x01" + ID2 + struct.pack("<I", 1024) + chunk_plain(1024, 13, 1)
s += b"\x02" + ID3 + struct.pack("<I", 1)
s += b"\x02" + ID4 + struct.pack("<I", 2)
s += b"\xff" + struct.pack("<I", 4) + hashlib.sha256(s).digest()
chunks = s

# a manifest (store/manifest.c): 1 MiB disk, chunk 1 = ID1
m = b"RPMANIF1" + struct.pack("<IIQII", 1, 0, 1 << 20, 256 * 1024, 0) + struct.pack("<Q", 1)
m += struct.pack("<Q", 1) + ID1
m += hashlib.sha256(m).digest()
meta = json.dumps({"diskSizeBytes": 1048576, "location": "eastus"}, separators=(",", ":"),
                  sort_keys=True).encode()
env = header(b"RPPEERMF") + struct.pack("<IIQ", len(meta), 0, len(m)) + meta + m

# signatures
key = bytes(range(32))
empty = hashlib.sha256(b"").hexdigest()
req = {
    "method": "GET",
    "path": "/peer/v1/diskRestorePoints/manifest",
    "query_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
                "Microsoft.Compute/restorePointCollections/c/restorePoints/p/diskRestorePoints/d",
    "region": "westus",
    "date": "1700000000",
    "nonce": "00112233445566778899aabbccddeeff",
    "body_sha256": empty,
}
to_sign = "\n".join(["RPD-PEER-V1-REQUEST", req["method"], req["region"], req["date"],
                     req["nonce"], req["body_sha256"], req["path"], req["query_id"]])
req["signature"] = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
body_sha = hashlib.sha256(env).hexdigest()
resp = {"status": 200, "region": "eastus", "date": "1700000001",
        "request_signature": req["signature"], "body_sha256": body_sha}
to_sign = "\n".join(["RPD-PEER-V1-RESPONSE", str(resp["status"]), resp["region"], resp["date"],
                     resp["request_signature"], resp["body_sha256"]])
resp["signature"] = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
auth = {"key": key.hex(), "request": req, "response": resp}

for name, data in (("ids.bin", ids), ("chunks.bin", chunks), ("manifest_envelope.bin", env)):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
with open(os.path.join(out, "auth.json"), "w") as f:
    json.dump(auth, f, indent=1, sort_keys=True)
    f.write("\n")
