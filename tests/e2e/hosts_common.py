"""Two rpd processes on loopback, one region each, peers of each other (multi-host mode):
host A hosts eastus, host B westus. They share the deployment's identity (CA, token signing
key, SAS key, chunk id key: docs/OPERATIONS.md) and a pair key. A test proxy can sit on the
link B uses to reach A (B pulls from A)."""
import os
import shutil
import socket

from conftest import Rpd

SHARED = [("tls", "ca.pem"), ("tls", "ca.key"), ("auth", "signing.key"), ("auth", "tenant"),
          ("auth", "sas.key"), ("auth", "chunk-id.key")]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_conf(data, region, display, peer_region, peer_url, key_file, peer_extra=""):
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "rpd.conf"), "w") as f:
        f.write("[rpd]\nthreads = 8\n\n[region %s]\ndisplay_name = %s\n\n"
                "[peer %s]\nurl = %s\nkey_file = %s\n%s" % (region, display, peer_region,
                                                            peer_url, key_file, peer_extra))


class Hosts:
    """Host a (eastus) and host b (westus). @link(port of A) may return the URL B reaches A
    by (a proxy's); @a_env: environment of host A's process; @b_peer_extra: lines of B's
    [peer eastus] section (copy_bandwidth...)."""

    def __init__(self, tmp, link=None, a_env=None, b_peer_extra=""):
        self.tmp = str(tmp)
        self.key = os.path.join(self.tmp, "pair.key")
        with open(self.key, "wb") as f:
            f.write(os.urandom(32))
        self.pa, self.pb = free_port(), free_port()
        da, db = os.path.join(self.tmp, "a"), os.path.join(self.tmp, "b")
        write_conf(da, "eastus", "East US", "westus", "https://127.0.0.1:%d" % self.pb, self.key)
        saved = dict(os.environ)
        os.environ.update(a_env or {})
        try:
            self.a = Rpd(da, ["--listen", "127.0.0.1:%d" % self.pa]).start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        a_url_for_b = link(self.pa) if link else None
        # B joins A's deployment: same identity, then its own server certificate
        for d, f in SHARED:
            os.makedirs(os.path.join(db, d), mode=0o700, exist_ok=True)
            shutil.copy2(os.path.join(da, d, f), os.path.join(db, d, f))
        write_conf(db, "westus", "West US", "eastus",
                   a_url_for_b or "https://127.0.0.1:%d" % self.pa, self.key, b_peer_extra)
        self.b = Rpd(db, ["--listen", "127.0.0.1:%d" % self.pb]).start()

    def stop(self):
        for h in (self.a, self.b):
            if h.proc:
                h.stop()

    def logs_clean(self):
        for h in (self.a, self.b):
            log = h.log()
            assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log
            assert "ERROR: LeakSanitizer" not in log, log
