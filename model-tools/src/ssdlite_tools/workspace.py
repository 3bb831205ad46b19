"""Where the tools keep downloads and intermediate files, and the names of the files they hand on.

Every sub-command takes `--workdir`; the default is `<repo>/.cache/model-tools` (git-ignored) when
run from a checkout, `$SSDLITE_WORKDIR` when set. Inside it:

    downloads/                      fetched archives, COCO images and annotations (sha-checked)
    checkpoint/                     the unpacked TF1 checkpoint (saved_model/ inside)
    convert/<INT8_MODEL_NAME>       full-int8 model (the one the board runs)
    convert/<FLOAT_MODEL_NAME>      float32 model, for int8-vs-float comparisons
    convert/<CONVERSION_RECORD>     what went in: checkpoint, calibration images, settings
    convert/model.json, labels.txt  the model description and labels (the app reads them)
    vela/<VELA_MODEL_NAME>          written by `vela`
"""
from __future__ import annotations

import os
from pathlib import Path

INT8_MODEL_NAME = "ssdlite_mobilenetv2_coco_int8.tflite"
FLOAT_MODEL_NAME = "ssdlite_mobilenetv2_coco_float.tflite"
VELA_MODEL_NAME = "ssdlite_mobilenetv2_coco_int8_vela.tflite"
LABELS_NAME = "coco_labels.txt"
# Labels of the converted model (line i = class id i), beside it in convert/ with its model.json.
CONVERTED_LABELS_NAME = "labels.txt"
MANIFEST_NAME = "manifest.json"
# JSON record written by `convert` next to the models; `bundle` copies its provenance into the manifest.
CONVERSION_RECORD = "conversion.json"


def repo_root() -> Path | None:
    """The meta-ssdlite checkout this package runs from (editable install), or None if installed."""
    candidate = Path(__file__).resolve().parents[3]
    if (candidate / "model-tools" / "pyproject.toml").is_file():
        return candidate
    return None


def default_workdir() -> Path:
    if os.environ.get("SSDLITE_WORKDIR"):
        return Path(os.environ["SSDLITE_WORKDIR"])
    root = repo_root()
    return (root if root is not None else Path.cwd()) / ".cache" / "model-tools"


def add_workdir_argument(parser) -> None:
    """The --workdir option every sub-command shares: where each step reads what the previous wrote."""
    parser.add_argument(
        "--workdir", type=Path, default=default_workdir(),
        help="cache and work folder shared by the steps (default: %(default)s; $SSDLITE_WORKDIR)",
    )


def default_bundle_dir() -> Path:
    """`<repo>/model-bundle`: where the layer's recipe reads the models from by default."""
    root = repo_root()
    return (root if root is not None else Path.cwd()) / "model-bundle"


def convert_dir(workdir: Path) -> Path:
    return workdir / "convert"


def vela_dir(workdir: Path) -> Path:
    return workdir / "vela"


def downloads_dir(workdir: Path) -> Path:
    return workdir / "downloads"
