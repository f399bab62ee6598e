"""The README's az example, run: rpd registered as a custom cloud, `az login --identity` through
scripts/az-token-endpoint.py, a restore point collection and a restore point, a copy to westus
and a disk restored from it. Skipped where az is not installed (it is optional: Debian's
azure-cli)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import RPCTL_BIN, SUB, new_name
from rpctl_common import rpctl

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN_ENDPOINT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts",
                              "az-token-endpoint.py")

pytestmark = pytest.mark.skipif(not shutil.which("az"), reason="az is not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def az(rpd, tmp_path):
    port = free_port()
    ep = subprocess.Popen([sys.executable, TOKEN_ENDPOINT, "--data", rpd.data, "--subscription",
                           SUB, "--port", str(port), "--rpctl", RPCTL_BIN])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_"))}
    env.update(AZURE_CONFIG_DIR=str(tmp_path / "az"), REQUESTS_CA_BUNDLE=rpd.ca,
               MSI_ENDPOINT="http://127.0.0.1:%d/token" % port,
               AZURE_CORE_COLLECT_TELEMETRY="no", AZURE_CORE_ONLY_SHOW_ERRORS="yes")

    def run(*args, check=True):
        p = subprocess.run(["az"] + list(args) + ["-o", "json"], capture_output=True, text=True,
                           env=env, timeout=180)
        if check:
            assert p.returncode == 0, "az %s -> %d\n%s" % (" ".join(args), p.returncode,
                                                           p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else None

    deadline = time.time() + 10
    while time.time() < deadline:  # the endpoint is up
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        run("cloud", "register", "-n", "rpd", "--endpoint-resource-manager", rpd.url,
            "--endpoint-active-directory", "https://login.rpd.invalid",
            "--endpoint-active-directory-resource-id", "https://management.core.windows.net/",
            "--endpoint-active-directory-graph-resource-id", "https://graph.rpd.invalid/")
        run("cloud", "set", "-n", "rpd")
        subs = run("login", "--identity")
        assert [s["id"] for s in subs] == [SUB]
        yield run
    finally:
        ep.terminate()
        ep.wait()


def test_az__readme_example_restore_point_copy_and_restore(rpd, az):
    rg = new_name("rg")
    rpctl(rpd, "group", "create", "-n", rg, "-l", "eastus", "-o", "none")
    rpctl(rpd, "disk", "create", "-g", rg, "-n", "os1", "--size-gb", "1", "-o", "none")
    vm_id = rpctl(rpd, "vm", "create", "-g", rg, "-n", "vm1", "--os-disk", "os1", "--query",
                  "id", "-o", "tsv").stdout.strip()
    c = az("restore-point", "collection", "create", "-g", rg, "--collection-name", "vm1", "-l",
           "eastus", "--source-id", vm_id)
    assert c["location"] == "eastus" and c["source"]["id"].lower() == vm_id.lower()
    rp = az("restore-point", "create", "-g", rg, "--collection-name", "vm1", "-n", "rp1")
    assert rp["provisioningState"] == "Succeeded"
    shown = az("restore-point", "show", "-g", rg, "--collection-name", "vm1", "-n", "rp1",
               "--instance-view")
    assert shown["instanceView"]["statuses"][0]["code"] == "ProvisioningState/succeeded"
    # a copy in westus, and a disk restored there from it
    az("restore-point", "collection", "create", "-g", rg, "--collection-name", "west", "-l",
       "westus", "--source-id", c["id"])
    cp = az("restore-point", "create", "-g", rg, "--collection-name", "west", "-n", "c1",
            "--source-restore-point", rp["id"])
    rpctl(rpd, "restore-point", "wait", "-g", rg, "--collection-name", "west", "-n", "c1",
          "--replicated", "--no-progress")
    drp = cp["sourceMetadata"]["storageProfile"]["osDisk"]["diskRestorePoint"]["id"]
    d = az("disk", "create", "-g", rg, "-n", "back", "-l", "westus", "--source", drp)
    assert d["provisioningState"] == "Succeeded" and d["location"] == "westus"
    # an ARM error: az exits non-zero and prints its code
    with pytest.raises(AssertionError, match="ResourceNotFound"):
        az("restore-point", "show", "-g", rg, "--collection-name", "vm1", "-n", "nope")
