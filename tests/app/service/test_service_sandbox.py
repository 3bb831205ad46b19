"""The service as ssdlite-detect.service runs it, as far as this machine allows without systemd
as PID 1: an unprivileged user with no supplementary groups, an empty capability bounding set,
no_new_privs (setpriv), a private /tmp, /root and /home hidden (each unless this checkout lives
there), the whole file system read-only
except the cache directory (a private mount namespace: PrivateTmp, ProtectHome,
ProtectSystem=strict, CacheDirectory). It still detects and serves; /proc shows the credentials.

Not exercised here (systemd applies them, `systemd-analyze verify/security` check them
statically in tests/layer): SystemCallFilter, RestrictAddressFamilies, DevicePolicy/DeviceAllow,
the Protect{Kernel*,Clock,Hostname,ControlGroups,Proc} family, RestrictNamespaces, the watchdog.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from service_support import Service, wait_for

REPO = Path(__file__).resolve().parents[3]
UNPRIVILEGED = 65534  # nobody
CACHE = "/var/cache/ssdlite-detect"


def hidden_directories(needed) -> list:
    """/tmp (PrivateTmp), /root and /home (ProtectHome), except one that holds what this test run
    needs (the checkout, the venv, the interpreter, the reference model: on the board those are
    all under /usr, here they may sit in a home or in /tmp)."""
    return [directory for directory in ("/tmp", "/root", "/home") if os.path.isdir(directory)
            and not any(str(path).startswith(directory + "/") for path in needed)]


def sandbox_command(python: str, hidden) -> str:
    """A shell script for `unshare --mount` that sets up the unit's file system view and execs
    the service as the unprivileged user."""
    return "\n".join([
        "set -e",
        *[f"mount -t tmpfs -o mode=1777 tmpfs {directory}" for directory in hidden],  # PrivateTmp, ProtectHome
        f"mkdir -p {CACHE}",
        f"mount -t tmpfs -o mode=0700,uid={UNPRIVILEGED},gid={UNPRIVILEGED} tmpfs {CACHE}",  # CacheDirectory=
        # ProtectSystem=strict: every mount read-only except the API file systems and the above.
        "findmnt -rno TARGET | while read -r target; do case $target in "
        f"/proc*|/sys*|/dev*|{'|'.join(hidden)}|{CACHE}) ;; *) mount -o remount,bind,ro \"$target\" || true ;; esac; done",
        f"exec setpriv --reuid {UNPRIVILEGED} --regid {UNPRIVILEGED} --clear-groups --no-new-privs "
        f"--bounding-set -all --inh-caps -all -- {python} -m ssdlite_detect \"$@\"",
    ])


def proc_status(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


@pytest.fixture
def sandboxed(model_args, reference):
    if os.geteuid() != 0:
        pytest.skip("setting up the sandbox needs root (CI and make test run as root)")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespaces here: {probe.stderr.strip()}")
    # The interpreter must be reachable by the unprivileged user with /root hidden: the venv's
    # own python may live under /root (pyenv); Debian's python3.11 runs the same site-packages.
    python = os.path.realpath(sys.executable)
    if python.startswith(("/root/", "/home/")):
        python = shutil.which("python3.11", path="/usr/bin:/bin")
        assert python, "no /usr/bin/python3.11 (Debian's python3.11)"
    site = sysconfig.get_paths()["purelib"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "python-app/src"), site]))
    hidden = hidden_directories([REPO, os.path.realpath(site), python, os.path.realpath(reference)])
    services = []

    def start(*args) -> Service:
        command = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                   sandbox_command(python, hidden), "sandbox", *model_args, *args]
        service = Service.from_command(command, env=env)
        service.hidden = hidden
        services.append(service)
        return service

    yield start
    for service in services:
        service.kill()


def service_pid(service: Service) -> int:
    """The python process: unshare execs sh, which execs setpriv, which execs python."""
    return service.process.pid


def test_the_service_runs_unprivileged_in_the_units_file_system_view(sandboxed):
    service = sandboxed("--source", "testsrc", "--http", "0")
    wait_for(lambda: service.status()["frames"] >= 2, 60, "frames from the sandboxed service")
    status = proc_status(service_pid(service))
    assert status["Uid"].split() == [str(UNPRIVILEGED)] * 4 and status["Gid"].split() == [str(UNPRIVILEGED)] * 4
    assert status["Groups"] == ""
    assert int(status["CapBnd"], 16) == 0 and int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    assert status["NoNewPrivs"] == "1"
    # Its mount namespace: tmpfs on the hidden directories and the cache directory; / read-only.
    mounts = {}
    for line in Path(f"/proc/{service_pid(service)}/mountinfo").read_text().splitlines():
        fields = line.split()
        mounts[fields[4]] = (fields[5].split(","), line.split(" - ")[1].split()[0])
    print(f"hidden behind tmpfs: {service.hidden}")
    assert service.hidden, "neither /tmp nor a home could be hidden"
    assert all(mounts[directory][1] == "tmpfs" for directory in service.hidden) and mounts[CACHE][1] == "tmpfs"
    assert "ro" in mounts["/"][0] and "rw" in mounts[CACHE][0]
    assert service.status()["state"] == "running"
    code, seconds = service.stop()
    assert code == 0 and seconds <= 3.0, service.stderr
