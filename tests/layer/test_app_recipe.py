"""python3-ssdlite-detect: the files git tracks in python-app/ are fetched with
BitBake's fetcher and built by the recipe's tasks (do_configure, do_compile,
do_install as expanded by BitBake's data store) into a temporary ${D}; the tree,
modes, package split and runtime dependencies are checked, and that all of it is
the same for both SoCs (the recipe is allarch)."""

from __future__ import annotations

import ast
import filecmp
import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import bb
import pytest

from conftest import (
    APP_RECIPE,
    LAYER,
    MACHINES,
    REPO,
    cpu_only_machine,
    fetch_and_unpack,
    make_config,
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
# What differs per SoC, and so must never be named by these allarch packages
# (packagegroup-ssdlite brings it).
PER_SOC = {"tensorflow-lite-ethosu-delegate", "ethos-u-driver-stack", "ethos-u-firmware",
           "tensorflow-lite-vx-delegate", "imx-gst1.0-plugin"}
# The only variables that may differ between the two machines' parses: the machine's identity
# (and BBINCLUDED, which lists the machine's .conf file).
MACHINE_IDENTITY = {"BBINCLUDED", "MACHINE", "MACHINEOVERRIDES", "MACHINE_ARCH", "OVERRIDES"}


def app_sources(part: str = "main"):
    """The app's modules of one package: "main" (neither live nor service), "live" or "service"."""
    def part_of(path: Path) -> str:
        return "live" if LIVE in path.parents else "service" if SERVICE in path.parents else "main"

    return sorted(p for p in (APP / "src").rglob("*.py") if part_of(p) == part)


def git_tracked(repo: Path, folder: str = "python-app") -> list[str]:
    """Files git tracks under `folder` of `repo` that exist in the working tree (paths relative to
    the repository), as the recipe lists them."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--", folder],
                            capture_output=True, text=True, check=True).stdout.split("\0")
    return sorted(name for name in listed if name and (repo / name).is_file())


def tree_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Builds the app once for each machine: the recipe is allarch, so the two builds must give
    the same tree (test_the_install_tree_is_the_same_for_every_machine)."""
    results = {}
    for machine in MACHINES:
        top = tmp_path_factory.mktemp(machine)
        (top / "common-licenses").mkdir()
        rd = parse_recipe(APP_RECIPE, machine, top)
        fetch_and_unpack(rd)
        for task in ("do_configure", "do_compile", "do_install"):
            result = run_shell_task(rd, task)
            assert result.returncode == 0, "%s failed:\n%s\n%s" % (task, result.stdout[-3000:], result.stderr[-3000:])
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


@pytest.mark.skipif(not (APP / "pyproject.toml").exists(), reason="python-app/ not present")
def test_the_install_tree_is_the_same_for_every_machine(built):
    """Byte for byte, .pyc included: one package serves every machine."""
    trees = [Path(rd.getVar("D")) for rd in built.values()]
    assert tree_files(trees[0]) == tree_files(trees[1])
    _, mismatch, errors = filecmp.cmpfiles(trees[0], trees[1], tree_files(trees[0]), shallow=False)
    assert (mismatch, errors) == ([], [])


def test_the_app_packages_are_allarch_and_name_nothing_per_soc(common_licenses):
    parsed = {machine: parse_recipe(APP_RECIPE, machine, common_licenses) for machine in MACHINES}
    first, second = parsed.values()
    for rd in parsed.values():
        assert rd.getVar("PACKAGE_ARCH") == "all"
    # Every variable and flag of the recipe (RDEPENDS, FILES, the tasks, SRC_URI...) is the same
    # under both machines' overrides: a machine override in the recipe would put one machine's
    # dependencies into the package every machine shares (and change its signatures with MACHINE).
    keys = {k for k in set(first.keys()) | set(second.keys()) if not k.startswith("__")}
    differ = {k for k in keys if first.getVar(k) != second.getVar(k)
              or {f: first.getVarFlag(k, f) for f in (first.getVarFlags(k) or {}) if not f.startswith("_")}
              != {f: second.getVarFlag(k, f) for f in (second.getVarFlags(k) or {}) if not f.startswith("_")}}
    assert differ == MACHINE_IDENTITY
    rdepends = set(first.getVar("RDEPENDS:python3-ssdlite-detect").split())
    # ttf-dejavu-sans: the font ssdlite_detect/draw.py draws labels with (the image has none).
    assert {"python3-core", "python3-numpy", "python3-pillow", "tensorflow-lite", "ttf-dejavu-sans"} <= rdepends
    live = set(first.getVar("RDEPENDS:python3-ssdlite-detect-live").split())
    service = set(first.getVar("RDEPENDS:python3-ssdlite-detect-service").split())
    assert {"python3-ssdlite-detect", "python3-pygobject", "gstreamer1.0"} <= live
    assert not (PER_SOC & (rdepends | live | service))
    video_stack = ("gstreamer", "gobject-introspection", "python3-pygobject", "imx-gst")
    assert not [p for p in rdepends if p.startswith(video_stack)], "the main package must not pull in GStreamer"


# The recipe each runtime dependency's package comes from (python3's split packages: the python3
# recipe; GStreamer plugin packages: their plugins recipe), and which of them are allarch.
ALLARCH_RECIPES = {"ttf-dejavu"}


def recipe_of(package: str) -> str:
    if package in ("python3-core", "python3-misc") or package[len("python3-"):] in STDLIB_PACKAGES.values():
        return "python3"
    plugins = re.match(r"^(gstreamer1\.0-plugins-(base|good|bad|ugly))(-.+)?$", package)
    if plugins:
        return plugins.group(1)
    return {"ttf-dejavu-sans": "ttf-dejavu"}.get(package, package)


def test_layer_conf_declares_every_per_tune_dependency_safe(common_licenses):
    """An allarch recipe's signatures take in those of the recipes it depends on (the target
    python3 it builds against; every recipe whose packages it RDEPENDS on, through do_package_qa
    and do_package_write_*): each per-tune one must be in SIGGEN_EXCLUDE_SAFE_RECIPE_DEPS, or the
    package is rebuilt for every machine and yocto-check-layer's machine-signature test fails."""
    rd = parse_recipe(APP_RECIPE, "imx93evk", common_licenses)
    own = set(rd.getVar("PACKAGES").split())
    packages = {dep for pkg in own for dep in (rd.getVar("RDEPENDS:" + pkg) or "").split()} - own
    # The target python3: setuptools3-base's DEPENDS, python3targetconfig's EXTRA_PYTHON_DEPENDS.
    needed = {recipe_of(p) for p in packages} - ALLARCH_RECIPES | {"python3"}
    declared = make_config("imx93evk", common_licenses).getVar("SIGGEN_EXCLUDE_SAFE_RECIPE_DEPS").split()
    assert sorted(d.split("->", 1)[1] for d in declared if d.startswith("python3-ssdlite-detect->")) == sorted(needed), (
        "list python3-ssdlite-detect->RECIPE in meta-ssdlite/conf/layer.conf for each recipe it depends on")


def test_a_machine_without_an_npu_gets_the_same_packages(common_licenses):
    # A machine with neither SoC override (e.g. an i.MX 8M Mini): the same recipe, the same values.
    cpu = parse_recipe(APP_RECIPE, "cpuonly", common_licenses, cpu_only_machine(common_licenses))
    evk = parse_recipe(APP_RECIPE, "imx93evk", common_licenses)
    for package in evk.getVar("PACKAGES").split():
        assert cpu.getVar("RDEPENDS:" + package) == evk.getVar("RDEPENDS:" + package), package


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
    # One file:// entry for each file git tracks in python-app/, found through FILESPATH in this
    # repository; the local fetcher checksums each, so an edit changes do_fetch's signature.
    # (the service's unit, configuration and udev rule come from files/ beside the recipe)
    tracked = git_tracked(REPO)
    entries = rd.getVar("SRC_URI").split()
    assert [e for e in entries if e.startswith("file://python-app/")] == ["file://" + name for name in tracked]
    assert "file://python-app/pyproject.toml" in entries
    import bb.fetch2

    checksummed = bb.fetch2.get_checksum_file_list(rd).split()
    for name in tracked:
        assert "%s:True" % (REPO / name) in checksummed, name
    # Adding or removing a tracked file rewrites git's index: the recipe is parsed again.
    index = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--git-path", "index"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert os.path.join(REPO, index) in [path for path, _ in rd.getVar("__depends", False)]


def make_repository(folder: Path) -> Path:
    """A git checkout laid out as this repository (the layer, python-app/ with the files git
    tracks here, the .gitignore), with python-app/ added to git's index."""
    folder.mkdir(parents=True)
    for name in git_tracked(REPO):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, folder / name)
    shutil.copy2(REPO / ".gitignore", folder / ".gitignore")
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "add", "python-app", ".gitignore"], check=True)
    return folder


class BitBakeMessages(logging.Handler):
    """Collects what bb logs (bb.warn, bb.fatal) while a recipe is parsed."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def __enter__(self):
        logging.getLogger("BitBake").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("BitBake").removeHandler(self)


def test_only_the_files_git_tracks_reach_the_build(common_licenses):
    """A host-side build's leftovers (setuptools' build/ and egg-info, ignored by .gitignore), a
    module nobody added to git, and a tracked file deleted from the working tree: none of them
    is fetched, and the one git does not ignore is named in a warning."""
    repo = make_repository(common_licenses / "repo")
    app = repo / "python-app"
    stale = {
        "build/lib/ssdlite_detect/not_a_module.py": "raise SystemExit('stale')\n",
        "src/ssdlite_detect.egg-info/SOURCES.txt": "src/ssdlite_detect/not_a_module.py\n",
        "dist/ssdlite_detect-0.0.1-py3-none-any.whl": "not a wheel",
    }
    for name, text in stale.items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text(text)
    (app / "src/ssdlite_detect/stray.py").write_text("import os\n")
    (app / "src/ssdlite_detect/py.typed").unlink()
    with BitBakeMessages() as messages:
        rd = parse_recipe(APP_RECIPE, "imx93evk", common_licenses, {"SSDLITE_REPO_DIR": str(repo)})
    assert [line for line in messages.lines if "stray.py" in line] == [
        "python3-ssdlite-detect: not built, as git does not track them (git add, or .gitignore): "
        "python-app/src/ssdlite_detect/stray.py"]
    assert not [line for line in messages.lines if "not_a_module" in line or "egg-info" in line]
    fetch_and_unpack(rd)
    expected = [name[len("python-app/"):] for name in git_tracked(REPO)]
    expected.remove("src/ssdlite_detect/py.typed")
    assert tree_files(Path(rd.getVar("S"))) == expected


@pytest.mark.parametrize("layout", ["copied layer", "no git checkout"])
def test_a_layer_without_the_app_sources_stops_the_parse_with_one_line(common_licenses, layout):
    """The layer copied out of its repository (no python-app/ beside it), or beside a python-app/
    that is no git checkout (an exported tree): the parse stops with one line that names
    SSDLITE_REPO_DIR."""
    if layout == "copied layer":
        layer = common_licenses / "product-bsp" / "meta-ssdlite"
        shutil.copytree(LAYER, layer)
        extra = {}
    else:
        layer = LAYER
        exported = common_licenses / "export"
        shutil.copytree(REPO / "python-app", exported / "python-app")
        extra = {"SSDLITE_REPO_DIR": str(exported)}
    recipe = layer / APP_RECIPE.relative_to(LAYER)
    with BitBakeMessages() as messages, pytest.raises(bb.BBHandledException):
        parse_recipe(recipe, "imx93evk", common_licenses, extra, layer=layer)
    assert len(messages.lines) == 1, messages.lines
    line = messages.lines[0]
    assert "\n" not in line and "Traceback" not in line
    assert "set SSDLITE_REPO_DIR (local.conf) to a git checkout of the meta-ssdlite repository" in line
    assert ("has no python-app/pyproject.toml" if layout == "copied layer" else "is not a git checkout") in line
