"""Shared fixtures of the end-to-end tests: real rpd processes on 127.0.0.1 with temporary
data directories, driven over HTTPS with requests and the Azure SDK for Python."""
import os
import signal
import subprocess
import time
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RPD_BIN = os.environ.get("RPD_BIN", os.path.join(ROOT, "build", "src", "daemon", "rpd"))
RPCTL_BIN = os.environ.get("RPCTL_BIN", os.path.join(ROOT, "build", "src", "cli", "rpctl"))

SUB = "00000000-0000-0000-0000-00000000e2e0"
COMPUTE_API = "2022-08-01"
DISK_API = "2022-07-02"
RG_API = "2022-09-01"


class Rpd:
    """One rpd process and its data directory."""

    def __init__(self, data, extra_args=()):
        self.data = str(data)
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = None
        self.log_path = os.path.join(self.data, "rpd.log")
        self._tokens = {}

    # ---------------------------------------------------------------- process
    def start(self, timeout=20):
        os.makedirs(self.data, exist_ok=True)
        url_file = os.path.join(self.data, "rpd.url")
        if os.path.exists(url_file):
            os.unlink(url_file)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [RPD_BIN, "--data", self.data, "--listen", "127.0.0.1:0"] + self.extra_args,
            stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rpd exited with %s; log:\n%s" % (self.proc.returncode, self.log()))
            if os.path.exists(url_file):
                self.url = open(url_file).read().strip()
                return self
            time.sleep(0.05)
        raise RuntimeError("rpd did not start; log:\n" + self.log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("rpd did not stop on SIGTERM")
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        try:
            return open(self.log_path, errors="replace").read()[-20000:]
        except OSError:
            return ""

    # ---------------------------------------------------------------- clients
    @property
    def ca(self):
        return os.path.join(self.data, "tls", "ca.pem")

    def token(self, sub=SUB, *more):
        key = (sub,) + more
        if key not in self._tokens:
            args = [RPCTL_BIN, "token", "--data", self.data]
            for s in key:
                args += ["--subscription", s]
            self._tokens[key] = subprocess.check_output(args).decode().strip()
        return self._tokens[key]

    def session(self, sub=SUB, token=None):
        s = requests.Session()
        # with REQUESTS_CA_BUNDLE in the environment requests ignores Session.verify
        s.trust_env = False
        s.verify = self.ca
        s.headers["Authorization"] = "Bearer " + (token or self.token(sub))
        return s

    def req(self, method, path, api=None, body=None, sub=SUB, headers=None, raw=None, **kw):
        """A request to an ARM path; api=None sends no api-version."""
        url = self.url + path
        params = kw.pop("params", {})
        if api:
            params = dict(params, **{"api-version": api})
        h = {"Authorization": "Bearer " + self.token(sub)}
        if headers:
            h.update(headers)
        if body is not None:
            kw["json"] = body
        if raw is not None:
            kw["data"] = raw
            h.setdefault("Content-Type", "application/json")
        return requests.request(method, url, params=params, headers=h, verify=self.ca, **kw)

    def sdk(self, sub=SUB):
        """(ResourceManagementClient, ComputeManagementClient) bound to this rpd."""
        from azure.core.credentials import AccessToken
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.resource import ResourceManagementClient

        tok = self.token(sub)

        class Cred:
            def get_token(self, *scopes, **kw):
                return AccessToken(tok, int(time.time()) + 3600)

        kw = dict(base_url=self.url, connection_verify=self.ca, polling_interval=0.2,
                  credential_scopes=["https://management.core.windows.net/.default"])
        return ResourceManagementClient(Cred(), sub, **kw), ComputeManagementClient(Cred(), sub, **kw)

    def wait_lro(self, resp, timeout=60):
        """Follow Azure-AsyncOperation of a 201/202 until terminal; return the status body."""
        url = resp.headers["Azure-AsyncOperation"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = requests.get(url, headers={"Authorization": "Bearer " + self.token()}, verify=self.ca)
            assert r.status_code == 200, r.text
            st = r.json()
            if st["status"] in ("Succeeded", "Failed", "Canceled"):
                return st
            time.sleep(0.1)
        raise AssertionError("operation did not finish: " + url)


@pytest.fixture
def rpd(tmp_path):
    d = Rpd(tmp_path / "data").start()
    yield d
    if d.proc:
        rc = d.stop()
        assert rc == 0, "rpd exited with %s on SIGTERM; log:\n%s" % (rc, d.log())
    # sanitizer builds: no report may appear in the log
    log = d.log()
    assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log
    assert "ERROR: LeakSanitizer" not in log, log


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """One rpd shared by the tests of a module (e.g. the error paths, which must not disturb
    each other and end by checking that the server still serves)."""
    d = Rpd(tmp_path_factory.mktemp("rpd") / "data").start()
    yield d
    if d.proc:
        rc = d.stop()
        assert rc == 0, "rpd exited with %s on SIGTERM; log:\n%s" % (rc, d.log())
    log = d.log()
    assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log
    assert "ERROR: LeakSanitizer" not in log, log


def rg_path(name, sub=SUB):
    return "/subscriptions/%s/resourcegroups/%s" % (sub, name)


def disk_path(rg, name, sub=SUB):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/disks/%s" % (sub, rg, name)


def vm_path(rg, name, sub=SUB):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s" % (sub, rg, name)


def new_name(prefix="r"):
    return prefix + uuid.uuid4().hex[:8]
