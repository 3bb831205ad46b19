"""The service as ssdlite-detect.service runs it, as far as this machine allows without systemd
as PID 1: an unprivileged user with no supplementary groups, an empty capability bounding set,
no_new_privs (setpriv), a private /tmp, /root and /home hidden (the checkout, venv and model
bound under /mnt wherever they live: tests/app/unprivileged.py), the whole file system read-only
except the cache and state directories (a private mount namespace: PrivateTmp, ProtectHome,
ProtectSystem=strict, CacheDirectory, StateDirectory). It still detects and serves, and writes its
snapshots into the state directory; /proc shows the credentials.

Not exercised here (systemd applies them, `systemd-analyze verify/security` check them
statically in tests/layer): SystemCallFilter, RestrictAddressFamilies, DevicePolicy/DeviceAllow,
the Protect{Kernel*,Clock,Hostname,ControlGroups,Proc} family, RestrictNamespaces, the watchdog.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List

import pytest

from service_support import Service, wait_for
from unprivileged import UNPRIVILEGED, UnprivilegedView, interpreter, namespace_command, unprivileged_exec

CACHE = "/var/cache/ssdlite-detect"
STATE = "/var/lib/ssdlite-detect"  # StateDirectory=: the config file's snapshots directory lives in it
WRITABLE = (CACHE, STATE)


def sandbox_script(view: UnprivilegedView, hidden) -> List[str]:
    """The shell lines for `unshare --mount` that set up the unit's file system view and exec the
    service as the unprivileged user (what it needs is bound under unprivileged.VIEW first)."""
    return [
        *view.setup_lines(),
        *[f"mount -t tmpfs -o mode=1777 tmpfs {directory}" for directory in hidden],  # PrivateTmp, ProtectHome
        *[line for directory in WRITABLE for line in (  # CacheDirectory=, StateDirectory= (mode 0700)
            f"mkdir -p {directory}",
            f"mount -t tmpfs -o mode=0700,uid={UNPRIVILEGED},gid={UNPRIVILEGED} tmpfs {directory}")],
        # ProtectSystem=strict: every mount read-only except the API file systems and the above.
        "findmnt -rno TARGET | while read -r target; do case $target in "
        f"/proc*|/sys*|/dev*|{'|'.join([*hidden, *WRITABLE])}) ;; *) mount -o remount,bind,ro \"$target\" || true ;; esac; done",
        "umask 0077",  # UMask=
        unprivileged_exec(interpreter()),
    ]


def proc_status(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


@pytest.fixture
def sandboxed(model_args, bus_clip):
    if os.geteuid() != 0:
        pytest.skip("setting up the sandbox needs root (CI and make test run as root)")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespaces here: {probe.stderr.strip()}")
    os.chmod(bus_clip.parent, 0o755)  # the service user reads the clip through its bind mount
    view = UnprivilegedView([*(os.path.dirname(arg) for arg in model_args if os.path.isfile(arg)), bus_clip.parent])
    # PrivateTmp and ProtectHome: with what the service needs bound under /mnt, all of them hide.
    hidden = [directory for directory in ("/tmp", "/root", "/home") if os.path.isdir(directory)]
    services = []

    def start(*args) -> Service:
        args = [view.path(arg) if isinstance(arg, Path) else arg for arg in args]  # files given as Paths
        command = namespace_command(sandbox_script(view, hidden), [*view.paths(model_args), *args])
        service = Service.from_command(command, env=view.environment())
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
    assert all(mounts[directory][1] == "tmpfs" for directory in [*service.hidden, *WRITABLE])
    assert "ro" in mounts["/"][0] and all("rw" in mounts[directory][0] for directory in WRITABLE)
    assert service.status()["state"] == "running"
    code, seconds = service.stop()
    assert code == 0 and seconds <= 3.0, service.stderr


def test_the_sandboxed_service_writes_snapshots_into_its_state_directory(sandboxed, bus_clip):
    snapshots = f"{STATE}/snapshots"  # the board config's documented directory
    service = sandboxed("--source", bus_clip, "--http", "0", "--snapshots", snapshots)
    wait_for(lambda: service.status()["snapshots"]["objects"] >= 1, 90, "a snapshot of the bus")
    # The files, as the service's mount namespace sees them (the tmpfs exists only there).
    folder = Path(f"/proc/{service_pid(service)}/root{snapshots}")
    files = wait_for(lambda: list(folder.glob("*-bus.jpg")), 30, "the snapshot's file")
    assert files[0].read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    state = Path(f"/proc/{service_pid(service)}/root{STATE}")
    assert files[0].stat().st_uid == UNPRIVILEGED and files[0].stat().st_mode & 0o077 == 0  # UMask=0077
    assert state.stat().st_mode & 0o777 == 0o700 and folder.stat().st_mode & 0o777 == 0o700
    assert not Path(snapshots).exists() or not any(Path(snapshots).iterdir())  # nothing leaked to the host
    code, seconds = service.stop()
    assert code == 0 and seconds <= 3.0, service.stderr

