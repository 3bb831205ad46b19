"""Fixtures for parsing meta-ssdlite with BitBake's own parser and data store.

BitBake (the `bb` package of PyPI's bitbake-setup) parses the layer on top of
stub-oe/, a stand-in for oe-core's configuration (see stub-oe/README.md), so
the tests need neither poky nor the BSP layers nor the network.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _stand_in_for_hashserv() -> None:
    """bitbake-setup's wheel ships bb without its sibling package hashserv
    (bitbake/lib/hashserv), which bb.siggen imports at module level. Parsing
    never talks to a hash server, so an empty module satisfies the import."""
    try:
        import hashserv  # noqa: F401
    except ImportError:
        import types

        module = types.ModuleType("hashserv")
        client = types.ModuleType("hashserv.client")
        module.client = client
        module.is_valid_unihash = lambda unihash: True
        sys.modules["hashserv"] = module
        sys.modules["hashserv.client"] = client


_stand_in_for_hashserv()

import bb  # noqa: E402
import bb.data  # noqa: E402
import bb.fetch2  # noqa: E402
import bb.parse  # noqa: E402
import bb.siggen  # noqa: E402
import bb.utils  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "meta-ssdlite"
STUB = Path(__file__).resolve().parent / "stub-oe"
MACHINES = ("imx93evk", "imx8mpevk")

MODEL_RECIPE = LAYER / "recipes-ml/ssdlite-mobilenetv2/ssdlite-mobilenetv2_0.1.0.bb"
APP_RECIPE = LAYER / "recipes-ml/python3-ssdlite-detect/python3-ssdlite-detect_0.1.0.bb"
PACKAGEGROUP_RECIPE = LAYER / "recipes-core/packagegroups/packagegroup-ssdlite.bb"
IMAGE_RECIPE = LAYER / "recipes-core/images/ssdlite-image.bb"

BUNDLE_MODELS = (
    "ssdlite_mobilenetv2_coco_int8.tflite",
    "ssdlite_mobilenetv2_coco_int8_vela.tflite",
    "coco_labels.txt",
)

# bb logs through the "BitBake" logger; keep its fatal messages visible in
# pytest's captured log instead of a console handler.
logging.getLogger("BitBake").setLevel(logging.INFO)


def layer_files() -> list[Path]:
    """Every BitBake file of the layer."""
    suffixes = {".bb", ".bbappend", ".conf", ".bbclass", ".inc"}
    return sorted(p for p in LAYER.rglob("*") if p.suffix in suffixes)


def recipes() -> list[Path]:
    return sorted(LAYER.rglob("*.bb"))


def make_config(machine: str, topdir: Path, extra: dict[str, str] | None = None, layer: Path = LAYER):
    """The configuration data store, built as BitBake's cooker does: the
    layer's layer.conf (with LAYERDIR set), bitbake.conf, then base.bbclass.
    `layer` is the layer's folder (a copy of it elsewhere, for instance)."""
    d = bb.data.init()
    d.setVar("BBPATH", "%s:%s" % (STUB, layer))
    d.setVar("TOPDIR", str(topdir))
    d.setVar("MACHINE", machine)
    d.setVar("COMMON_LICENSE_DIR", str(topdir / "common-licenses"))
    d.setVar("SSDLITE_TEST_PYTHON", sys.executable)
    d.setVar("SSDLITE_TEST_STUBDIR", str(STUB))
    d.setVar("BB_HASHSERVE", "")
    for key, value in (extra or {}).items():
        d.setVar(key, value)

    d.setVar("LAYERDIR", str(layer))
    bb.parse.handle(str(layer / "conf/layer.conf"), d, True)
    d.delVar("LAYERDIR")

    bb.parse.handle(str(STUB / "conf/bitbake.conf"), d)
    d.setVar("__bbclasstype", "global")
    bb.parse.handle(str(STUB / "classes/base.bbclass"), d, True)
    d.setVar("__bbclasstype", "recipe")
    # The cooker's job: recipes' finalisation asks the signature generator
    # for task hashes ("noop" without BB_SIGNATURE_HANDLER).
    bb.parse.siggen = bb.siggen.init(d)
    return d


def cpu_only_machine(topdir: Path) -> dict[str, str]:
    """A machine "cpuonly" with neither SoC override (as an i.MX 8M Mini: no NPU), defined under
    topdir; returns the `extra` of make_config/parse_recipe that finds it."""
    machine_dir = topdir / "conf" / "machine"
    machine_dir.mkdir(parents=True, exist_ok=True)
    (machine_dir / "cpuonly.conf").write_text(
        'MACHINEOVERRIDES = "aarch64:armv8a:use-nxp-bsp:imx-nxp-bsp:mx8-nxp-bsp:mx8mm-nxp-bsp:cpuonly"\n'
    )
    return {"BBPATH": "%s:%s:%s" % (topdir, STUB, LAYER)}


def parse_recipe(recipe: Path, machine: str, topdir: Path, extra: dict[str, str] | None = None, layer: Path = LAYER):
    """The finalised data store of one recipe, as bitbake -e would show it.
    Raises bb.parse.SkipRecipe with its reason when the recipe skips itself,
    bb.BBHandledException when it stops the parse (bb.fatal)."""
    config = make_config(machine, topdir, extra, layer)
    d = bb.data.createCopy(config)
    datastores = bb.parse.handle(str(recipe), d)
    rd = datastores[""]
    skipped = rd.getVar("__SKIPPED", False)
    if skipped:
        raise bb.parse.SkipRecipe(skipped)
    return rd


def fetch_and_unpack(rd) -> None:
    """do_fetch and do_unpack with BitBake's real fetcher (file:// only)."""
    workdir = rd.getVar("WORKDIR")
    os.makedirs(workdir, exist_ok=True)
    os.makedirs(rd.getVar("DL_DIR"), exist_ok=True)
    src_uri = (rd.getVar("SRC_URI") or "").split()
    fetcher = bb.fetch2.Fetch(src_uri, rd)
    fetcher.download()
    fetcher.unpack(workdir)


def run_shell_task(rd, func: str) -> subprocess.CompletedProcess:
    """Runs a shell function as emitted by BitBake's data store (exported
    variables, the function and the functions it calls), like bb.build does."""
    script = io.StringIO()
    # bb.build runs do_install and friends with umask 022 (their [umask] flag
    # in base.bbclass); the modes asserted below depend on it.
    script.write("#!/bin/sh\nset -e\numask 022\n")
    script.write("bbfatal() { echo \"ERROR: $*\" >&2; exit 1; }\n")
    script.write("bbnote() { echo \"NOTE: $*\"; }\n")
    script.write("bbwarn() { echo \"WARNING: $*\" >&2; }\n")
    bb.data.emit_func(func, script, rd)
    for dirname in (rd.getVarFlag(func, "dirs") or "").split():
        os.makedirs(dirname, exist_ok=True)
    script.write("\ncd %s\n%s\n" % (rd.getVar("B") if os.path.isdir(rd.getVar("B")) else rd.getVar("WORKDIR"), func))
    tdir = Path(rd.getVar("T"))
    tdir.mkdir(parents=True, exist_ok=True)
    path = tdir / ("run.%s" % func)
    path.write_text(script.getvalue())
    return subprocess.run(["/bin/sh", str(path)], capture_output=True, text=True, check=False)


def run_python_task(rd, func: str) -> None:
    """Runs a python function of the recipe with its data store, like bb.build
    does (bb.fatal raises bb.BBHandledException)."""
    body = rd.getVar(func, False)
    code = "def %s(d):\n%s\n%s(d)\n" % (func, body, func)
    context = {"d": rd, "bb": bb, "os": os}
    bb.utils.better_exec(code, context, code, "%s:%s" % (rd.getVar("FILE", False), func))


def split_packages(rd) -> dict[str, list[str]]:
    """Assigns the files under ${D} to PACKAGES in order by their FILES globs,
    as oe-core's package.bbclass populate_packages does."""
    dest = rd.getVar("D")
    all_files = set()
    for root, _dirs, files in os.walk(dest):
        for name in files:
            all_files.add(os.path.relpath(os.path.join(root, name), dest))
    claimed: dict[str, list[str]] = {}
    seen: set[str] = set()
    for pkg in rd.getVar("PACKAGES").split():
        owned = []
        for pattern in (rd.getVar("FILES:%s" % pkg) or "").split():
            pattern = pattern.lstrip("/")
            for match in glob.glob(os.path.join(dest, pattern)):
                rel = os.path.relpath(match, dest)
                if os.path.isdir(match):
                    members = [f for f in all_files if f.startswith(rel + os.sep)]
                else:
                    members = [rel]
                for member in members:
                    if member not in seen:
                        seen.add(member)
                        owned.append("/" + member)
        claimed[pkg] = sorted(owned)
    claimed["<unpackaged>"] = sorted("/" + f for f in all_files - seen)
    return claimed


def make_bundle(
    folder: Path,
    stand_in: bool = False,
    tamper: str | None = None,
    name: str = "ssdlite_mobilenetv2_coco",
    license: dict | None = None,
) -> Path:
    """A small fake model bundle with a correct model.json and manifest.json
    (the layout `ssdlite-tools bundle` writes). `name` names the files as
    bundle does; `license` is model.json's licence record (default: the COCO
    model's Apache-2.0), with "text" for a licence file shipped in the bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    roles = {
        "int8": name + "_int8.tflite",
        "vela": name + "_int8_vela.tflite",
        "labels": "coco_labels.txt" if name == "ssdlite_mobilenetv2_coco" else name + "_labels.txt",
    }
    contents = {
        roles["int8"]: b"TFL3" + bytes(range(256)) * 4,
        roles["vela"]: b"TFL3" + b"ethos-u" * 100,
        roles["labels"]: ("\n".join(["background"] + ["class%d" % i for i in range(1, 91)]) + "\n").encode(),
    }
    license = dict(license or {"spdx": "Apache-2.0", "file": None, "md5": "89aea4e17d99a7cacdbeed46a0096b10"})
    text = license.pop("text", None)
    if text is not None:
        roles["license"] = license["file"] = name + "_LICENSE"
        license["md5"] = hashlib.md5(text).hexdigest()
        contents[roles["license"]] = text
    description = {"format": "ssdlite-model-description", "format_version": 1, "name": name,
                   "files": roles, "license": license}
    contents["model.json"] = json.dumps(description, indent=2).encode()
    files = {}
    for file_name, data in contents.items():
        (folder / file_name).write_bytes(data)
        files[file_name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest = {"files": files, "source": {"model": "ssdlite_mobilenet_v2_coco_2018_05_09"}}
    if stand_in:
        manifest["stand_in"] = True
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if tamper:
        with open(folder / tamper, "ab") as f:
            f.write(b"changed")
    return folder


@pytest.fixture
def common_licenses(tmp_path):
    (tmp_path / "common-licenses").mkdir()
    return tmp_path


@pytest.fixture(params=MACHINES)
def machine(request):
    return request.param


def modes(dest: str) -> dict[str, int]:
    """Permission bits of everything under dest, keyed by target path."""
    out = {}
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            path = os.path.join(root, name)
            out["/" + os.path.relpath(path, dest)] = os.stat(path).st_mode & 0o7777
    return out
