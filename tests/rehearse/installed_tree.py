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
import shutil
import subprocess
from pathlib import Path
from typing import Optional

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


# Writes the bundle's model.json with the app's own writer (model-tools uses it too): the COCO
# defaults, except that this SSD's class output is already a probability (a LOGISTIC op ends the
# graph: score converter IDENTITY) and its files and licence.
DESCRIPTION_SCRIPT = """
import dataclasses, sys
from ssdlite_detect.model_description import COCO_DEFAULTS, write_description
path, name = sys.argv[1:]
write_description(path, dataclasses.replace(
    COCO_DEFAULTS, name=name, score_converter="IDENTITY",
    files={"int8": name + "_int8.tflite", "vela": name + "_int8_vela.tflite", "labels": name + "_labels.txt"},
    license={"spdx": "Apache-2.0", "file": None, "md5": "89aea4e17d99a7cacdbeed46a0096b10"},
    provenance={"model": "TF1 SSD MobileNet v1 COCO quantized, cut before its post-processing (shared/reference)"}))
"""
REFERENCE_BUNDLE_NAME = "coco_ssd_mobilenet_v1"


def make_reference_bundle(reference: Path, vela: Path, app_python: Path, folder: Path) -> Path:
    """A model bundle (the layout `ssdlite-tools bundle` writes) around the reference COCO SSD:
    its int8 model is the reference detector, its Vela model that detector compiled by the
    project's Vela for the Ethos-U65 (never run here: there is no NPU). The real SSDLite bundle
    needs the network (`make bundle`). The Vela compile is cached by the model's digest."""
    model = reference / "coco_ssd_mobilenet_v1_raw.tflite"
    name = REFERENCE_BUNDLE_NAME
    compiled = folder.parent / f"vela-{_sha256(model)[:16]}.tflite"
    if not compiled.exists():
        work = folder.parent / "vela-work"
        shutil.rmtree(work, ignore_errors=True)
        result = subprocess.run(
            [str(vela), "--accelerator-config", "ethos-u65-256", "--output-dir", str(work), str(model)],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise RecipeTaskError(f"vela failed on {model}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        shutil.move(str(work / (model.stem + "_vela.tflite")), compiled)
        shutil.rmtree(work)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(model, folder / f"{name}_int8.tflite")
    shutil.copyfile(compiled, folder / f"{name}_int8_vela.tflite")
    shutil.copyfile(reference / "coco_labels.txt", folder / f"{name}_labels.txt")
    subprocess.run([str(app_python), "-c", DESCRIPTION_SCRIPT, str(folder / "model.json"), name], check=True)
    entries = {
        path.name: {"sha256": _sha256(path), "size": path.stat().st_size}
        for path in sorted(folder.iterdir())
    }
    manifest = {"files": entries, "source": {"model": "reference coco_ssd_mobilenet_v1 (rehearsal)"}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder
