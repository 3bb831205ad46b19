"""python3-ssdlite-detect: python-app/ is fetched with BitBake's fetcher and
built by the recipe's tasks (do_configure, do_compile, do_install as expanded by
BitBake's data store) into a temporary ${D}; the tree, modes, package split and
runtime dependencies are checked for both SoCs."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from conftest import (
    APP_RECIPE,
    REPO,
    fetch_and_unpack,
    modes,
    parse_recipe,
    run_shell_task,
    split_packages,
)

APP = REPO / "python-app"
SITE = "/usr/lib/python3.11/site-packages"
STDLIB_PACKAGES = json.loads((Path(__file__).parent / "python3-stdlib-packages.json").read_text())["modules"]
# Third-party modules the app imports on the board, and the packages that carry them.
THIRD_PARTY = {"numpy": "python3-numpy", "PIL": "python3-pillow", "tflite_runtime": "tensorflow-lite",
               "gi": "python3-pygobject", "aiohttp": "python3-aiohttp", "paho": "python3-paho-mqtt",
               "systemd": "python3-systemd",
               # Standard library, but not in poky's manifest: python3-misc takes what it does not list.
               "tomllib": "python3-misc"}
LIVE = APP / "src" / "ssdlite_detect" / "live"  # packaged apart, in python3-ssdlite-detect-live
SERVICE = APP / "src" / "ssdlite_detect" / "service"  # and in python3-ssdlite-detect-service
# Host-only alternatives to tflite_runtime, imported only when it is missing.
HOST_ONLY = {"ai_edge_litert", "tensorflow"}
ACCELERATORS = {
    "imx93evk": {"tensorflow-lite-ethosu-delegate", "ethos-u-driver-stack", "ethos-u-firmware"},
    "imx8mpevk": {"tensorflow-lite-vx-delegate"},
}


def app_sources(part: str = "main"):
    """The app's modules of one package: "main" (neither live nor service), "live" or "service"."""
    def part_of(path: Path) -> str:
        return "live" if LIVE in path.parents else "service" if SERVICE in path.parents else "main"

    return sorted(p for p in (APP / "src").rglob("*.py") if part_of(p) == part)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Builds the app once per machine (the wheel does not depend on it)."""
    results = {}
    for machine in ("imx93evk", "imx8mpevk"):
        top = tmp_path_factory.mktemp(machine)
        (top / "common-licenses").mkdir()
        rd = parse_recipe(APP_RECIPE, machine, top)
        fetch_and_unpack(rd)
        # A stale egg-info from a host-side build must not reach the wheel.
        stale = Path(rd.getVar("S")) / "src" / "ssdlite_detect.egg-info"
        stale.mkdir(parents=True, exist_ok=True)
        (stale / "SOURCES.txt").write_text("src/ssdlite_detect/not_a_module.py\n")
        for task in ("do_configure", "do_compile", "do_install"):
            result = run_shell_task(rd, task)
            assert result.returncode == 0, "%s failed:\n%s\n%s" % (task, result.stdout[-3000:], result.stderr[-3000:])
            if task == "do_configure":
                assert not stale.exists()
        results[machine] = rd
    return results


@pytest.mark.skipif(not (APP / "pyproject.toml").exists(), reason="python-app/ not present")
@pytest.mark.parametrize("machine", ["imx93evk", "imx8mpevk"])
def test_install_tree_and_modes(built, machine):
    rd = built[machine]
    dest = rd.getVar("D")
    tree = modes(dest)
    script = dest + "/usr/bin/ssdlite-detect"
    assert tree["/usr/bin/ssdlite-detect"] == 0o755
    # Where the VX delegate's compiled graph is cached (the app's device.VX_CACHE_DIR).
    assert tree["/var/cache/ssdlite-detect"] == 0o755
    with open(script) as f:
        first = f.readline().strip()
    # Runs the board's python3, not the build host's.
    assert first == "#!/usr/bin/env python3"
    with open(script) as f:
        assert "from ssdlite_detect.cli import main" in f.read()

    installed = {p for p in tree if p.startswith(SITE + "/ssdlite_detect/")}
    expected = {
        SITE + "/ssdlite_detect/" + p.relative_to(APP / "src" / "ssdlite_detect").as_posix()
        for p in (APP / "src" / "ssdlite_detect").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    expected |= {os.path.dirname(p) for p in expected}
    assert installed | {SITE + "/ssdlite_detect"} >= expected
    for path, mode in tree.items():
        if path.startswith(SITE):
            assert mode in (0o644, 0o755), path
            assert mode == 0o755 or not os.path.isdir(dest + path)
    assert not any("not_a_module" in p for p in tree)
    # Precompiled at build time by the native python (3.11, the board's), as python_pep517 does,
    # with checked-hash invalidation (SOURCE_DATE_EPOCH is set in every task).
    modules = [p for p in expected if p.endswith(".py")]
    for module in modules:
        folder, name = os.path.split(module)
        pyc = "%s/__pycache__/%s.cpython-311.pyc" % (folder, name[:-3])
        assert tree.get(pyc) == 0o644, pyc
        with open(dest + pyc, "rb") as compiled:
            header = compiled.read(16)
        assert int.from_bytes(header[4:8], "little") == 0b11, pyc  # checked hash
    assert len([p for p in tree if p.endswith(".pyc")]) == len(modules)


@pytest.mark.skipif(not (APP / "pyproject.toml").exists(), reason="python-app/ not present")
@pytest.mark.parametrize("machine", ["imx93evk", "imx8mpevk"])
def test_the_live_and_service_modes_are_split_off_and_everything_else_is_in_the_main_package(built, machine):
    rd = built[machine]
    packages = split_packages(rd)
    assert packages["<unpackaged>"] == []
    assert "/usr/bin/ssdlite-detect" in packages["python3-ssdlite-detect"]
    live = packages["python3-ssdlite-detect-live"]
    expected_live = {SITE + "/ssdlite_detect/live/" + p.name for p in LIVE.glob("*.py")}
    # Their precompiled .pyc go with them (FILES names the folder).
    expected_live |= {SITE + "/ssdlite_detect/live/__pycache__/%s.cpython-311.pyc" % p.stem for p in LIVE.glob("*.py")}
    assert set(live) == expected_live
    assert not any("/live/" in f for f in packages["python3-ssdlite-detect"])
    service = set(packages["python3-ssdlite-detect-service"])
    expected_service = {SITE + "/ssdlite_detect/service/" + p.relative_to(SERVICE).as_posix()
                        for p in SERVICE.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    expected_service |= {SITE + "/ssdlite_detect/service/" + p.parent.relative_to(SERVICE).joinpath(
        "__pycache__", p.stem + ".cpython-311.pyc").as_posix() for p in SERVICE.rglob("*.py") if "__pycache__" not in p.parts}
    assert service == expected_service | {
        "/lib/systemd/system/ssdlite-detect.service",
        "/lib/udev/rules.d/70-ssdlite-detect.rules",
        "/etc/ssdlite-detect/ssdlite-detect.toml",
    }
    assert not any("/service/" in f for f in packages["python3-ssdlite-detect"])
    assert all(not files for pkg, files in packages.items() if pkg not in (
        "python3-ssdlite-detect", "python3-ssdlite-detect-live", "python3-ssdlite-detect-service", "<unpackaged>"))


@pytest.mark.parametrize("machine", ["imx93evk", "imx8mpevk"])
def test_runtime_dependencies_per_soc(machine, common_licenses):
    rd = parse_recipe(APP_RECIPE, machine, common_licenses)
    rdepends = set(rd.getVar("RDEPENDS:python3-ssdlite-detect").split())
    # ttf-dejavu-sans: the font ssdlite_detect/draw.py draws labels with (the image has none).
    assert {"python3-core", "python3-numpy", "python3-pillow", "tensorflow-lite", "ttf-dejavu-sans"} <= rdepends
    assert ACCELERATORS[machine] <= rdepends
    other = ACCELERATORS["imx8mpevk" if machine == "imx93evk" else "imx93evk"]
    assert not (other & rdepends)
    # Varies with the SoC, so it cannot be shared between machines.
    assert rd.getVar("PACKAGE_ARCH") == rd.getVar("MACHINE_ARCH") == machine
    live = set(rd.getVar("RDEPENDS:python3-ssdlite-detect-live").split())
    # NXP's scalers (PXP on the 93, G2D and the VPU on the 8M Plus) come with imx-gst1.0-plugin.
    assert {"python3-ssdlite-detect", "python3-pygobject", "gstreamer1.0", "imx-gst1.0-plugin"} <= live
    video_stack = ("gstreamer", "gobject-introspection", "python3-pygobject", "imx-gst")
    assert not [p for p in rdepends if p.startswith(video_stack)], "the main package must not pull in GStreamer"


def test_cpu_only_machine_gets_no_accelerator(common_licenses):
    from conftest import LAYER, STUB

    # A machine with neither SoC override (e.g. an i.MX 8M Mini) gets the base only.
    machine_dir = common_licenses / "conf" / "machine"
    machine_dir.mkdir(parents=True)
    (machine_dir / "cpuonly.conf").write_text(
        'MACHINEOVERRIDES = "aarch64:armv8a:use-nxp-bsp:imx-nxp-bsp:mx8-nxp-bsp:mx8mm-nxp-bsp:cpuonly"\n'
    )
    bbpath = "%s:%s:%s" % (common_licenses, STUB, LAYER)
    rd = parse_recipe(APP_RECIPE, "cpuonly", common_licenses, {"BBPATH": bbpath})
    rdepends = set(rd.getVar("RDEPENDS:python3-ssdlite-detect").split())
    assert "tensorflow-lite" in rdepends
    assert not (rdepends & (ACCELERATORS["imx93evk"] | ACCELERATORS["imx8mpevk"]))
    live = set(rd.getVar("RDEPENDS:python3-ssdlite-detect-live").split())
    assert "gstreamer1.0" in live and "imx-gst1.0-plugin" not in live


def imported_modules(part: str = "main"):
    """Modules one package of the app imports (see app_sources): (required, optional). Imports
    inside a try whose handler catches ImportError are optional. Names are
    top-level except for the dotted ones the manifest splits (urllib.parse)."""
    required, optional = set(), set()

    class Visitor(ast.NodeVisitor):
        def __init__(self):
            self.optional_depth = 0

        def visit_Try(self, node):
            catches_import_error = any(
                handler.type is not None
                and any(
                    isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
                    for n in ast.walk(handler.type)
                )
                for handler in node.handlers
            )
            if catches_import_error:
                self.optional_depth += 1
            for child in node.body:
                self.visit(child)
            if catches_import_error:
                self.optional_depth -= 1
            for child in node.handlers + node.orelse + node.finalbody:
                self.visit(child)

        def add(self, name):
            dotted = ".".join(name.split(".")[:2])
            (optional if self.optional_depth else required).add(dotted if dotted in STDLIB_PACKAGES else name.split(".")[0])

        def visit_Import(self, node):
            for alias in node.names:
                self.add(alias.name)

        def visit_ImportFrom(self, node):
            if node.level == 0 and node.module:
                self.add(node.module)

        def visit_Call(self, node):
            # importlib.import_module("x") with a literal name
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                self.add(node.args[0].value)
            self.generic_visit(node)

    for path in app_sources(part):
        Visitor().visit(ast.parse(path.read_text(), str(path)))
    own = {"ssdlite_detect", "__future__"}
    return required - own, optional - own - required


@pytest.mark.skipif(not (APP / "src").exists(), reason="python-app/ not present")
@pytest.mark.parametrize("part", ["main", "live", "service"])
def test_rdepends_cover_every_import(common_licenses, part):
    rd = parse_recipe(APP_RECIPE, "imx93evk", common_licenses)
    package = "python3-ssdlite-detect" + ("" if part == "main" else "-" + part)
    rdepends = set(rd.getVar("RDEPENDS:" + package).split())
    # The live package runs on top of the main one, the service on top of the live one.
    below = {"main": [], "live": ["python3-ssdlite-detect"],
             "service": ["python3-ssdlite-detect-live", "python3-ssdlite-detect"]}[part]
    if below:
        assert below[0] in rdepends
    for lower in below:
        rdepends |= set(rd.getVar("RDEPENDS:" + lower).split())
    required, optional = imported_modules(part)
    unknown = sorted(m for m in required if m not in STDLIB_PACKAGES and m not in THIRD_PARTY)
    assert unknown == [], "map these imports to a package in the test and the recipe"
    needed = {THIRD_PARTY.get(m) or "python3-" + STDLIB_PACKAGES[m] for m in required}
    assert sorted(needed - rdepends) == []
    for module in optional - HOST_ONLY:
        if module in STDLIB_PACKAGES or module in THIRD_PARTY:
            assert (THIRD_PARTY.get(module) or "python3-" + STDLIB_PACKAGES[module]) in rdepends, module
    # tflite_runtime is loaded on the board whichever way the app imports it.
    assert "tensorflow-lite" in rdepends
    assert ("python3-pygobject" in rdepends) == (part != "main")
    assert ("python3-aiohttp" in rdepends) == (part == "service")


def test_rebuilds_when_sources_change(common_licenses):
    rd = parse_recipe(APP_RECIPE, "imx93evk", common_licenses)
    # The local fetcher checksums the whole folder found through FILESPATH; the
    # folder is python-app/ of this repository.
    # (the service's unit, configuration and udev rule come from files/ beside the recipe)
    assert rd.getVar("SRC_URI").split()[0] == "file://python-app"
    import bb.fetch2

    fetcher = bb.fetch2.Fetch(["file://python-app"], rd)
    assert fetcher.localpath("file://python-app") == str(APP)
    checksummed = bb.fetch2.get_checksum_file_list(rd).split()
    assert "%s:True" % APP in checksummed
