"""Helpers of the end-to-end tests that drive rpctl (test_rpctl_*.py): run it against a
fixture's rpd with a clean environment, parse its JSON, check its error reports."""
import hashlib
import json
import os
import subprocess

from conftest import RPCTL_BIN, SUB

MIB = 1024 * 1024


def clean_env(tmp_path=None, **extra):
    """The environment of an rpctl run: no RPD_* from the caller, a private (or no) config
    file, then EXTRA."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RPD_")}
    env["RPCTL_CONFIG"] = str(tmp_path / "rpctl-config") if tmp_path else \
        "/nonexistent/rpctl-config"
    env.update(extra)
    return env


def rpctl(rpd, *args, data=True, env=None, check=True, timeout=300):
    """Run rpctl ARGS (with --data and --subscription of the fixture's rpd unless data=False);
    stdout and stderr are pipes, not a terminal. Returns the CompletedProcess."""
    cmd = [RPCTL_BIN] + list(args)
    if data:
        cmd += ["--data", rpd.data, "--subscription", SUB]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=env if env is not None else clean_env())
    if check:
        assert p.returncode == 0, "rpctl %s -> %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr)
    return p


def rpctl_json(rpd, *args, **kw):
    p = rpctl(rpd, *args, **kw)
    return json.loads(p.stdout) if p.stdout.strip() else None


def assert_fails(p, code, rc=1):
    """rpctl failed with exit RC and printed "ERROR: (CODE) message"."""
    assert p.returncode == rc, "expected exit %d, got %d\nstdout: %s\nstderr: %s" % (
        rc, p.returncode, p.stdout, p.stderr)
    assert "ERROR: (%s) " % code in p.stderr, p.stderr


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            h.update(block)
    return h.hexdigest()
