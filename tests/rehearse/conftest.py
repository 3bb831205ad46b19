"""Fixtures of the device rehearsal: the arm64 roots with the layer's files installed, the same
inputs for aarch64 and x86, and the x86 runs they are compared with.

Roots come from scripts/setup-arm64-root.sh (`make rehearse` builds them). Tests that need one
skip when it is absent, and fail instead when SSDLITE_REQUIRE_REHEARSAL=1 (CI sets it).
Durations are measured, never asserted: they are printed at the end of the run and written to
<repo>/.cache/rehearse/timings.json.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from board_packages import DEBIAN_GSTREAMER_RECIPES  # noqa: E402
from device_root import WORK_IN_ROOT, DeviceRoot  # noqa: E402
from installed_tree import REPO, app_install_tree, load_conftest, make_reference_bundle, models_install_tree  # noqa: E402
from rehearsal_inputs import make_inputs  # noqa: E402
from rehearsal_report import write_report  # noqa: E402

shared = load_conftest(REPO / "tests" / "conftest.py", "ssdlite_tests_shared")
venv_dir = shared.venv_dir

# root name -> (python version, x86 interpreter that runs the same TFLite version)
ROOTS = {
    "bookworm": ("3.11", "app/bin/python"),      # tflite-runtime 2.14.0
    "bullseye": ("3.9", "tflite210/bin/python"),  # tflite-runtime 2.10.0, the board's
}
FONT_FILES = {
    # ttf-dejavu-sans (meta-oe ttf-dejavu_2.37.bb): ttf.inc installs into ${datadir}/fonts/truetype,
    # FILES:${PN}-sans takes DejaVuSans.ttf. The file is Debian's fonts-dejavu-core 2.37, the same
    # upstream release, kept beside the root by setup-arm64-root.sh.
    "ttf-dejavu-sans": {"/usr/share/fonts/truetype/DejaVuSans.ttf": "DejaVuSans.ttf"},
}


def cache_dir() -> Path:
    return Path(os.environ.get("SSDLITE_CACHE_DIR") or REPO / ".cache") / "rehearse"


def pytest_terminal_summary(terminalreporter):
    write_report(terminalreporter, cache_dir())


def _need(path: Path, what: str) -> Path:
    return shared.need_path(path, what, "SSDLITE_REQUIRE_REHEARSAL")


@pytest.fixture(scope="session")
def x86_python():
    def interpreter(root_name: str) -> Path:
        return _need(venv_dir() / ROOTS[root_name][1], f"x86 env for the {root_name} comparison (make setup)")

    return interpreter


@pytest.fixture(scope="session")
def inputs(reference, x86_python, tmp_path_factory) -> Path:
    return make_inputs(tmp_path_factory.mktemp("inputs"), reference, x86_python("bookworm"))


@pytest.fixture(scope="session")
def reference_bundle(x86_python):
    """make_reference_bundle(reference, vela): one bundle for the session, the x86 runs' model too."""
    made = {}

    def bundle(reference: Path, vela: Path) -> Path:
        if "bundle" not in made:
            made["bundle"] = make_reference_bundle(reference, vela, x86_python("bookworm"), cache_dir() / "bundle")
        return made["bundle"]

    return bundle


@pytest.fixture(scope="session", params=sorted(ROOTS))
def device_root(request, reference, inputs, reference_bundle, tmp_path_factory):
    """The root with what the recipes install (app for imx93evk: the recipe is allarch, its tree
    the same for every machine, tests/layer), the models recipe's tree from a bundle around the
    reference SSD, the font package the app's RDEPENDS name, and the rehearsal's inputs in
    /tmp/rehearse/inputs."""
    name = request.param
    python_version = ROOTS[name][0]
    path = _need(venv_dir() / f"arm64-{name}" / ".stamp", f"arm64 {name} root (make rehearse)").parent
    root = DeviceRoot(name, path, python_version)
    root.uninstall_previous()

    work = tmp_path_factory.mktemp(f"recipes-{name}")
    site = None if python_version == "3.11" else f"${{libdir}}/python{python_version}/site-packages"
    app_tree, app_rd = app_install_tree("imx93evk", work / "app", site)
    vela = _need(venv_dir() / "vela" / "bin" / "vela", "Vela env (make env-vela)")
    bundle = reference_bundle(reference, vela)
    models_tree, _ = models_install_tree("imx93evk", work / "models", bundle)
    root.install_tree(app_tree)
    root.app_tree = app_tree
    root.install_tree(models_tree)
    root.bundle = bundle
    rdepends = app_rd.getVar("RDEPENDS:python3-ssdlite-detect").split()
    fonts = venv_dir() / f"fonts.{name}"
    for package, files in FONT_FILES.items():
        if package in rdepends:
            for target, source in files.items():
                root.install_file(fonts / source, target)
    root.install_tracer()
    shutil.copytree(inputs, root.host_path(f"{WORK_IN_ROOT}/inputs"))
    return root


@pytest.fixture(scope="session")
def gstreamer_plugin_owners():
    """Plugin file name -> the Debian package of the bookworm root that shipped it, read from the
    root's pinned .debs (dpkg -x keeps no record of which package a file came from)."""
    debs = Path(os.environ.get("SSDLITE_CACHE_DIR") or REPO / ".cache") / "arm64-bookworm" / "debs"
    owners = {}
    for line in (REPO / "requirements" / "arm64-bookworm.lock").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        pin = line.split()[0]
        name_arch, version = pin.split("=", 1)
        name, arch = name_arch.split(":")
        if name not in DEBIAN_GSTREAMER_RECIPES:
            continue
        deb = _need(debs / f"{name}_{version.replace(':', '%3a')}_{arch}.deb", f"cached {name} .deb (make rehearse)")
        listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
        for entry in listing.split():
            if "/gstreamer-1.0/libgst" in entry and entry.endswith(".so"):
                owners[entry.rsplit("/", 1)[-1]] = name
    return owners
