"""Which board package provides each module a run imported, and whether the app's RDEPENDS (or
theirs) bring that package into the image.

The module -> package map is tests/layer's python3-stdlib-packages.json (top-level stdlib
modules, the data of the static check), completed for what a run really loads (C extension
modules such as _json, and modules no manifest package claims, which python3-misc takes) by the
file lists of poky's python3-manifest.json in board-packages.json; gi.repository.X modules map to
the package holding X's typelib.
"""
from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

_HERE = Path(__file__).resolve().parent
BOARD_PACKAGES = json.loads((_HERE / "board-packages.json").read_text())
STDLIB_TOP_LEVEL = json.loads((_HERE.parent / "layer" / "python3-stdlib-packages.json").read_text())["modules"]
APP_PACKAGE = "python3-ssdlite-detect"
APP_MODULE = "ssdlite_detect"
# Loaded by the rehearsal itself (tests/rehearse/import_tracer), not by the app.
REHEARSAL_MODULES = {"sitecustomize"}


def _manifest_package(relative: str) -> Optional[str]:
    """The manifest package whose file list holds `relative` (a path under python3.X/)."""
    for package, entry in BOARD_PACKAGES["manifest"].items():
        for pattern in entry["files"]:
            if fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/"):
                return package
    return None


def package_of(module: str, path: str, python_version: str) -> Optional[str]:
    """The board package holding `module` (loaded from `path` in the root, "" when built in or
    frozen); None when no board package would (the module comes from elsewhere)."""
    top = module.split(".")[0]
    if module.startswith("gi.repository."):
        # A namespace's Python module is made from its typelib, which another package ships.
        return BOARD_PACKAGES["typelibs"].get(module.split(".")[2])
    if top == APP_MODULE:
        return APP_PACKAGE
    if top in BOARD_PACKAGES["third_party"]:
        return BOARD_PACKAGES["third_party"][top]
    stdlib = f"/usr/lib/python{python_version}/"
    if path and not path.startswith(stdlib):
        return None
    relative = path[len(stdlib):]
    if relative.startswith(("site-packages/", "dist-packages/")):
        return None
    if top in STDLIB_TOP_LEVEL:
        return "python3-" + STDLIB_TOP_LEVEL[top]
    if not path:
        # Built into Debian's interpreter; on the board it may be a lib-dynload module of its own.
        return _manifest_package(f"lib-dynload/{top}.cpython-311-aarch64-linux-gnu.so") or "python3-core"
    return _manifest_package(relative) or "python3-misc"


def runtime_closure(packages: Iterable[str]) -> Tuple[Set[str], Set[str]]:
    """(packages the image gets from `packages` through RDEPENDS, the packages among them that
    RDEPEND on a catch-all such as "python3", i.e. the whole standard library). The catch-all is
    not expanded: through tensorflow-lite's "python3" every module would be there, and the check
    would prove nothing about the app's own dependencies."""
    recipes = BOARD_PACKAGES["recipes"]
    manifest = BOARD_PACKAGES["manifest"]
    seen: Set[str] = set()
    via_catch_all: Set[str] = set()
    pending: List[str] = list(packages)
    while pending:
        package = pending.pop()
        if package in seen:
            continue
        seen.add(package)
        dependencies = manifest[package]["rdepends"] if package in manifest else recipes.get(package, [])
        for dependency in dependencies:
            if dependency in BOARD_PACKAGES["catch_all"]:
                via_catch_all.add(package)
            else:
                pending.append(dependency)
    return seen, via_catch_all


def unpackaged_imports(modules: Dict[str, str], rdepends: Iterable[str], python_version: str) -> Dict[str, str]:
    """Modules imported (name -> file) whose board package the app's RDEPENDS do not bring in,
    each with the reason: a package outside the closure, or no board package at all."""
    closure, _ = runtime_closure([APP_PACKAGE, *rdepends])
    problems = {}
    for module, path in sorted(modules.items()):
        if module.split(".")[0] in REHEARSAL_MODULES or module == "__main__":
            continue
        package = package_of(module, path, python_version)
        if package is None:
            problems[module] = f"{path or 'built in'}: no board package provides it"
        elif package not in closure:
            problems[module] = f"{package}, which RDEPENDS do not bring in"
    return problems


# GStreamer plugins. Debian splits them differently from poky: the Debian package that ships a
# plugin file -> the poky recipe that builds it. poky's gstreamer1.0-plugins-packaging.inc puts
# each plugin libgstX.so of a plugins recipe in the package RECIPE-X; gstreamer1.0 keeps its own
# (coreelements, coretracers) in its main package (FILES:${PN} += "${libdir}/gstreamer-1.0/*.so").
DEBIAN_GSTREAMER_RECIPES = {
    "libgstreamer1.0-0": "gstreamer1.0",
    "gstreamer1.0-plugins-base": "gstreamer1.0-plugins-base",
    "gstreamer1.0-gl": "gstreamer1.0-plugins-base",
    "gstreamer1.0-x": "gstreamer1.0-plugins-base",
    "gstreamer1.0-alsa": "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good": "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad": "gstreamer1.0-plugins-bad",
}


def plugin_package(plugin_file: str, debian_owners: Dict[str, str]) -> Optional[str]:
    """The board package of a loaded plugin file, from the Debian package that shipped it
    (`debian_owners`: plugin file name -> Debian package); None when no board recipe builds it."""
    name = plugin_file.rsplit("/", 1)[-1]
    recipe = DEBIAN_GSTREAMER_RECIPES.get(debian_owners.get(name, ""))
    if recipe is None or not (name.startswith("libgst") and name.endswith(".so")):
        return None
    return recipe if recipe == "gstreamer1.0" else f"{recipe}-{name[len('libgst'):-len('.so')]}"


def unpackaged_plugins(plugins: Dict[str, str], rdepends: Iterable[str], debian_owners: Dict[str, str]) -> Dict[str, str]:
    """Loaded plugins (name -> file) whose board package is not among `rdepends` (plugin packages
    are named directly: nothing else pulls them in)."""
    wanted = set(rdepends)
    problems = {}
    for plugin, path in sorted(plugins.items()):
        package = plugin_package(path, debian_owners)
        if package is None:
            problems[plugin] = f"{path}: no board recipe builds it"
        elif package not in wanted:
            problems[plugin] = f"{package}, which RDEPENDS do not name"
    return problems
