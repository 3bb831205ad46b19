"""Running the app as the unprivileged service user (nobody) from wherever this checkout lives.

A newcomer may clone into /root or under any folder only root can enter: nobody cannot reach the
checkout, its venv or the reference model there. A bind mount exposes a directory without its
parents, so the command runs in a private mount namespace (unshare) where every directory it needs
is bound under VIEW, and its paths are translated to there. Used the same way wherever the clone
is, so the one code path is tested on every machine.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Dict, Iterable, List

REPO = Path(__file__).resolve().parents[2]
VIEW = "/mnt/ssdlite-unprivileged"  # created inside the namespace's own tmpfs on /mnt
UNPRIVILEGED = 65534  # nobody


def interpreter() -> str:
    """A python the unprivileged user can run: the venv's own may resolve into /root or /home
    (pyenv); Debian's python3.11 runs the same site-packages through PYTHONPATH."""
    python = os.path.realpath(sys.executable)
    if python.startswith(("/root/", "/home/")):
        python = shutil.which("python3.11", path="/usr/bin:/bin")
        assert python, "no /usr/bin/python3.11 (Debian's python3.11)"
    return python


class UnprivilegedView:
    """The app's sources, the test venv's site-packages and `directories` bound under VIEW."""

    def __init__(self, directories: Iterable = ()):
        self.python_path = [REPO / "python-app/src", sysconfig.get_paths()["purelib"]]
        self.mounts: Dict[str, str] = {}
        for directory in [*self.python_path, *directories]:
            real = os.path.realpath(directory)
            self.mounts.setdefault(real, f"{VIEW}/{len(self.mounts)}")

    def path(self, path) -> str:
        """`path` as the command sees it (unchanged outside the bound directories)."""
        real = os.path.realpath(path)
        for source, target in self.mounts.items():
            if real == source or real.startswith(source + "/"):
                return target + real[len(source):]
        return str(path)

    def paths(self, args: Iterable) -> List[str]:
        """Arguments with every existing file or folder among them translated."""
        return [self.path(arg) if os.path.exists(str(arg)) else str(arg) for arg in args]

    def environment(self, **extra: str) -> dict:
        pythonpath = os.pathsep.join(self.path(source) for source in self.python_path)
        return dict(os.environ, PYTHONPATH=pythonpath, **extra)

    def setup_lines(self) -> List[str]:
        """Shell lines, run as root inside the namespace before anything hides /root or /tmp."""
        lines = ["set -e", "mount -t tmpfs -o mode=0755 tmpfs /mnt"]
        for source, target in self.mounts.items():
            lines += [f"mkdir -p {target}", f"mount --bind {shlex.quote(source)} {target}"]
        return lines


def unprivileged_exec(python: str) -> str:
    """The shell line that becomes the service user: no groups, no capabilities, no_new_privs."""
    return (f"exec setpriv --reuid {UNPRIVILEGED} --regid {UNPRIVILEGED} --clear-groups --no-new-privs "
            f"--bounding-set -all --inh-caps -all -- {python} -m ssdlite_detect \"$@\"")


def namespace_command(script_lines: List[str], args: Iterable) -> List[str]:
    """unshare --mount running `script_lines` with `args` as "$@"."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(script_lines),
            "ssdlite-unprivileged", *[str(arg) for arg in args]]
