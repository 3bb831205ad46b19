"""What the layer's recipes install, produced by the recipes' own tasks.

tests/layer already parses the recipes with BitBake's parser and runs their do_configure,
do_compile and do_install (as BitBake's data store expands them) into a temporary ${D}. The
rehearsal installs exactly those trees into the arm64 root, so the files on the rehearsal's
"board" are described once, by the recipes.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Optional

REPO = Path(__file__).resolve().parents[2]
_LAYER_TESTS = REPO / "tests" / "layer"


def load_conftest(path: Path, name: str):
    """A conftest.py as a helper module under a name of its own: pytest keeps the name
    "conftest" for whichever conftest it loaded last."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


layer_recipes = load_conftest(_LAYER_TESTS / "conftest.py", "ssdlite_layer_recipes")


class RecipeTaskError(Exception):
    """A recipe task failed; the message holds its log tail."""


def _run_tasks(rd, tasks) -> None:
    for task in tasks:
        result = layer_recipes.run_shell_task(rd, task)
        if result.returncode != 0:
            raise RecipeTaskError(f"{task} of {rd.getVar('PN')} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def _topdir(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "common-licenses").mkdir(exist_ok=True)
    return workdir


def app_install_tree(machine: str, workdir: Path, site_packages: Optional[str] = None):
    """${D} of python3-ssdlite-detect for `machine`, and the recipe's data store.

    site_packages overrides PYTHON_SITEPACKAGES_DIR, for the Python 3.9 root only (the board's
    python is 3.11)."""
    rd = layer_recipes.parse_recipe(layer_recipes.APP_RECIPE, machine, _topdir(workdir))
    if site_packages:
        # After parsing: bitbake.conf sets it; tasks expand it when they are emitted.
        rd.setVar("PYTHON_SITEPACKAGES_DIR", site_packages)
    layer_recipes.fetch_and_unpack(rd)
    _run_tasks(rd, ("do_configure", "do_compile", "do_install"))
    return Path(rd.getVar("D")), rd


def models_install_tree(machine: str, workdir: Path, bundle: Path):
    """${D} of ssdlite-mobilenetv2 built from `bundle` (after the recipe's own bundle check)."""
    rd = layer_recipes.parse_recipe(
        layer_recipes.MODEL_RECIPE, machine, _topdir(workdir), {"SSDLITE_MODEL_DIR": str(bundle)}
    )
    layer_recipes.fetch_and_unpack(rd)
    layer_recipes.run_python_task(rd, "do_verify_bundle")
    _run_tasks(rd, ("do_install",))
    return Path(rd.getVar("D")), rd


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_reference_bundle(reference: Path, vela: Path, folder: Path) -> Path:
    """A model bundle (the layout `ssdlite-tools bundle` writes) around the reference COCO SSD:
    its int8 model is the reference detector, its Vela model that detector compiled by the
    project's Vela for the Ethos-U65 (never run here: there is no NPU). The real SSDLite bundle
    needs the network (`make bundle`). Cached in `folder` by the reference model's digest."""
    model = reference / "coco_ssd_mobilenet_v1_raw.tflite"
    key = _sha256(model)[:16]
    manifest_path = folder / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text()).get("source", {}).get("key") == key:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    work = folder.with_name(folder.name + ".vela")
    shutil.rmtree(work, ignore_errors=True)
    result = subprocess.run(
        [str(vela), "--accelerator-config", "ethos-u65-256", "--output-dir", str(work), str(model)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RecipeTaskError(f"vela failed on {model}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    folder.mkdir(parents=True)
    files: Dict[str, Path] = {
        "ssdlite_mobilenetv2_coco_int8.tflite": model,
        "ssdlite_mobilenetv2_coco_int8_vela.tflite": work / (model.stem + "_vela.tflite"),
        "coco_labels.txt": reference / "coco_labels.txt",
    }
    entries = {}
    for name, source in files.items():
        shutil.copyfile(source, folder / name)
        entries[name] = {"sha256": _sha256(folder / name), "size": os.path.getsize(folder / name)}
    shutil.rmtree(work)
    manifest = {"files": entries, "source": {"model": "reference coco_ssd_mobilenet_v1 (rehearsal)", "key": key}}
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return folder
