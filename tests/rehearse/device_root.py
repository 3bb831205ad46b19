"""An arm64 root filesystem (scripts/setup-arm64-root.sh) used as a board: files installed as the
recipes install them, a board persona written into its sysfs/device-tree files, and programs run
under qemu-user inside a chroot.

No binfmt_misc: registering qemu with the host kernel would change the host for every user (and
binfmt_misc is not even mounted here). Instead qemu-aarch64-static, copied into the root, is
started explicitly as the chroot's first program. The kernel cannot then start an aarch64
program by itself, so:
- a script is started the way the kernel would, from its shebang: `#!/usr/bin/env python3`
  becomes qemu running the root's python3 as found on PATH (what env would exec);
- a program that starts other aarch64 programs would fail; the app starts none, and GStreamer's
  plugin scanner (gst-plugin-scanner, a child process) is kept in-process with
  GST_REGISTRY_FORK=no.
The chroot has no /proc, /sys or /dev mounted: what the app reads there is the persona's files,
and nothing falls back to the host's (qemu's -L mode would: fonts, locales, openssl.cnf).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

QEMU_IN_ROOT = "/usr/bin/qemu-aarch64-static"
PATH_IN_ROOT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Where the rehearsal keeps its inputs, outputs and import traces inside the root.
WORK_IN_ROOT = "/tmp/rehearse"
# Holds only the import tracer (sitecustomize.py); not a board file.
TRACER_IN_ROOT = "/usr/lib/ssdlite-rehearsal"
TRACER_SOURCE = Path(__file__).resolve().parent / "import_tracer" / "sitecustomize.py"
_INSTALLED_LIST = ".rehearsal-installed"


@dataclass(frozen=True)
class Persona:
    """A board as the app sees it: the SoC identity in sysfs and the device tree, the cores in
    sysfs and /proc/cpuinfo (XNNPACK picks its kernels by CPU part), and the qemu CPU model."""

    name: str
    machine: str  # the layer's MACHINE
    qemu_cpu: str
    cores: int
    soc_id: str
    compatible: Tuple[str, ...]
    cpu_part: str
    cpu_variant: str
    cpu_revision: int
    features: str

    def files(self) -> Dict[str, bytes]:
        cpuinfo = "".join(
            f"processor\t: {n}\nBogoMIPS\t: 16.00\nFeatures\t: {self.features}\nCPU implementer\t: 0x41\n"
            f"CPU architecture: 8\nCPU variant\t: {self.cpu_variant}\nCPU part\t: {self.cpu_part}\n"
            f"CPU revision\t: {self.cpu_revision}\n\n"
            for n in range(self.cores)
        )
        cpus = f"0-{self.cores - 1}\n"
        return {
            "sys/devices/soc0/soc_id": (self.soc_id + "\n").encode(),
            "sys/devices/soc0/family": b"Freescale i.MX\n",
            "proc/device-tree/compatible": b"".join(c.encode() + b"\0" for c in self.compatible),
            "sys/devices/system/cpu/online": cpus.encode(),
            "sys/devices/system/cpu/possible": cpus.encode(),
            "sys/devices/system/cpu/present": cpus.encode(),
            "proc/cpuinfo": cpuinfo.encode(),
        }


PERSONAS = (
    # qemu has no Cortex-A55 model; the A76 has the same instruction set (ARMv8.2-A, dot product).
    Persona("imx93", "imx93evk", "cortex-a76", 2, "i.MX93", ("fsl,imx93-11x11-evk", "fsl,imx93"),
            "0xd05", "0x2", 0,
            "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"),
    Persona("imx8mp", "imx8mpevk", "cortex-a53", 4, "i.MX8MP", ("fsl,imx8mp-evk", "fsl,imx8mp"),
            "0xd03", "0x0", 4, "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"),
)


@dataclass
class Run:
    """One program run in the root."""

    argv: List[str]
    persona: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    modules: Dict[str, str] = field(default_factory=dict)  # imported module -> its file ("" if none)
    plugins: Dict[str, str] = field(default_factory=dict)  # loaded GStreamer plugin -> its file


class DeviceRoot:
    """One arm64 root: `name` is bookworm (Python 3.11) or bullseye (Python 3.9)."""

    def __init__(self, name: str, path: Path, python_version: str):
        self.name = name
        self.path = path
        self.python_version = python_version
        self._runs = 0

    @property
    def site_packages(self) -> str:
        return f"/usr/lib/python{self.python_version}/site-packages"

    def host_path(self, path_in_root: str) -> Path:
        return self.path / path_in_root.lstrip("/")

    # --- files ----------------------------------------------------------------------------------
    def uninstall_previous(self) -> None:
        """Removes what the last rehearsal installed (the root itself is rebuilt only when its
        packages change), so files the recipes no longer install do not linger."""
        listing = self.path / _INSTALLED_LIST
        if not listing.exists():
            return
        for line in listing.read_text().splitlines():
            target = self.host_path(line)
            if target.is_symlink() or target.is_file():
                target.unlink()
        for line in sorted(listing.read_text().splitlines(), key=len, reverse=True):
            target = self.host_path(line)
            if target.name == "__pycache__":
                shutil.rmtree(target, ignore_errors=True)  # with what the root's python wrote
            elif target.is_dir() and not any(target.iterdir()):
                target.rmdir()
        listing.unlink()
        shutil.rmtree(self.host_path(WORK_IN_ROOT), ignore_errors=True)

    def install_tree(self, tree: Path) -> List[str]:
        """Copies an install tree (a recipe's ${D}) into the root, keeping modes and mtimes (the
        .pyc files are checked against their sources); returns the paths it installed."""
        installed = []
        for folder, dirs, files in os.walk(tree):
            relative = os.path.relpath(folder, tree)
            target_dir = self.path / relative
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.copystat(folder, target_dir)
            installed.append("/" + os.path.normpath(relative).lstrip("."))
            for name in files:
                source = os.path.join(folder, name)
                target = target_dir / name
                if target.is_symlink() or target.exists():
                    target.unlink()
                shutil.copy2(source, target, follow_symlinks=False)
                installed.append("/" + os.path.normpath(os.path.join(relative, name)))
        with open(self.path / _INSTALLED_LIST, "a") as listing:
            listing.writelines(p + "\n" for p in installed if p != "/")
        return installed

    def install_file(self, source: Path, path_in_root: str, mode: int = 0o644) -> None:
        staging = self.path.parent / f".{self.name}.file-staging"
        shutil.rmtree(staging, ignore_errors=True)
        target = staging / path_in_root.lstrip("/")
        target.parent.mkdir(parents=True)
        shutil.copyfile(source, target)
        target.chmod(mode)
        self.install_tree(staging)
        shutil.rmtree(staging)

    def apply_persona(self, persona: Persona) -> None:
        for relative, content in persona.files().items():
            target = self.path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)

    def files_matching(self, pattern: str) -> List[str]:
        """Paths in the root matching a glob, for checks such as "no font but the layer's"."""
        return sorted("/" + str(p.relative_to(self.path)) for p in self.path.glob(pattern))

    # --- running ---------------------------------------------------------------------------------
    def _enter(self) -> List[str]:
        if os.geteuid() == 0:
            return [shutil.which("chroot") or "/usr/sbin/chroot", str(self.path)]
        # Without root: a user namespace in which the caller is root (where the kernel allows it).
        return [shutil.which("unshare") or "/usr/bin/unshare", "--map-root-user", f"--root={self.path}"]

    def _which(self, program: str) -> str:
        for folder in PATH_IN_ROOT.split(":"):
            candidate = f"{folder}/{program}"
            if self.host_path(candidate).exists():
                return candidate
        raise FileNotFoundError(f"{program} is not on the root's PATH")

    def interpreter_command(self, program: str) -> List[str]:
        """What the kernel would execute for `program` in the root: a script's shebang line
        (with env resolved as env would), or the program itself for an ELF file."""
        with open(self.host_path(program), "rb") as handle:
            head = handle.read(256)
        if not head.startswith(b"#!"):
            return [program]
        interpreter, *arguments = head[2:].split(b"\n", 1)[0].decode().split()
        if not self.host_path(interpreter).exists():
            raise FileNotFoundError(f"{program}'s interpreter {interpreter} is not in the root")
        if interpreter.endswith("/env"):
            return [self._which(arguments[0]), *arguments[1:], program]
        return [interpreter, *arguments, program]

    def run(self, argv: Sequence[str], persona: Persona, env: Optional[Dict[str, str]] = None,
            timeout: float = 600) -> Run:
        """Runs argv[0] (a path in the root) with the persona applied; records what it imported."""
        running = self.start(argv, persona, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stdout, stderr = running.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()
            raise
        return running.finish(stdout, stderr)

    def start(self, argv: Sequence[str], persona: Persona, env: Optional[Dict[str, str]] = None,
              stdout=None, stderr=None) -> "Running":
        """Starts argv[0] (a path in the root) with the persona applied, without waiting: for a
        program that runs until it is stopped (the service mode)."""
        self.apply_persona(persona)
        self._runs += 1
        trace = f"{WORK_IN_ROOT}/imports-{self._runs}.tsv"
        self.host_path(WORK_IN_ROOT).mkdir(parents=True, exist_ok=True)
        environment = {
            "PATH": PATH_IN_ROOT,
            "HOME": "/root",
            "PYTHONPATH": TRACER_IN_ROOT,
            "SSDLITE_REHEARSAL_IMPORTS": trace,
            # gst-plugin-scanner would be a second aarch64 program: see the module docstring.
            "GST_REGISTRY_FORK": "no",
            **(env or {}),
        }
        command = [*self._enter(), QEMU_IN_ROOT, "-cpu", persona.qemu_cpu, *self.interpreter_command(argv[0]), *argv[1:]]
        process = subprocess.Popen(command, env=environment, stdout=stdout, stderr=stderr, text=True)
        return Running(list(argv), persona.name, process, self.host_path(trace), time.monotonic())

    def install_tracer(self) -> None:
        self.install_file(TRACER_SOURCE, f"{TRACER_IN_ROOT}/sitecustomize.py")


@dataclass
class Running:
    """A program started in the root (DeviceRoot.start); `finish` once it has exited."""

    argv: List[str]
    persona: str
    process: subprocess.Popen
    trace_file: Path
    started: float

    def finish(self, stdout: str, stderr: str) -> Run:
        """The Run, with what it imported: the tracer writes its trace at exit."""
        seconds = time.monotonic() - self.started
        modules, plugins = {}, {}
        if self.trace_file.exists():
            for line in self.trace_file.read_text().splitlines():
                name, _, path = line.partition("\t")
                if name.startswith("gst-plugin:"):
                    plugins[name.split(":", 1)[1]] = path
                else:
                    modules[name] = path
            self.trace_file.unlink()
        return Run(self.argv, self.persona, self.process.returncode, stdout, stderr, seconds, modules, plugins)
