"""Assemble model-bundle/: the files the layer installs, with a manifest that proves what they are.

    ssdlite_mobilenetv2_coco_int8.tflite       from `convert`
    ssdlite_mobilenetv2_coco_int8_vela.tflite  from `vela`
    coco_labels.txt                            ssdlite_detect.labels.COCO_LABELS
    manifest.json                              sha256 and size of each file, the source checkpoint,
                                               calibration image ids, tool versions, I/O quantisation,
                                               the anchor config, the Vela version and config

The bundle is written into a temporary sibling folder and swapped in at the end: the layer never
sees a half-written bundle, and files of an older bundle do not linger.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from ssdlite_detect.anchors import SSDLITE_MOBILENET_V2_COCO, generate_anchors
from ssdlite_detect.labels import COCO_LABELS, write_labels

from .errors import ToolsError
from .manifest import file_entry, read_json, tool_versions, write_json
from .workspace import CONVERSION_RECORD, INT8_MODEL_NAME, LABELS_NAME, MANIFEST_NAME, VELA_MODEL_NAME

MANIFEST_VERSION = 1


def _conversion_record(convert_dir: Path) -> dict:
    record_path = convert_dir / CONVERSION_RECORD
    if not record_path.is_file():
        raise ToolsError(f"no {CONVERSION_RECORD} in {convert_dir}: run `ssdlite-tools convert` first")
    record = read_json(record_path)
    int8_path = convert_dir / INT8_MODEL_NAME
    if not int8_path.is_file() or file_entry(int8_path) != record["models"][INT8_MODEL_NAME]:
        raise ToolsError(f"{int8_path} is missing or differs from {record_path}: run `ssdlite-tools convert` again")
    return record


def _vela_record(vela_dir: Path, int8_path: Path) -> dict:
    # Imported here: the vela module belongs to the Vela step and is only needed when bundling.
    from . import vela

    vela_model = vela_dir / VELA_MODEL_NAME
    config_path = vela_dir / vela.CONFIG_NAME
    for needed in (vela_model, config_path, vela_dir / vela.SUMMARY_NAME):
        if not needed.is_file():
            raise ToolsError(f"no {needed.name} in {vela_dir}: run `ssdlite-tools vela` first")
    if vela_model.stat().st_mtime < int8_path.stat().st_mtime:
        raise ToolsError(f"{vela_model} is older than {int8_path}: run `ssdlite-tools vela` again")
    summary = vela.read_summary_csv(vela_dir / vela.SUMMARY_NAME)
    return {
        # compile_for_ethos_u refuses any Vela but this version (the BSP's, matching firmware 22.08).
        "version": vela.VELA_VERSION,
        "config": {
            "settings": dataclasses.asdict(vela.NXP_IMX93_SETTINGS),
            "command_line": vela.NXP_IMX93_SETTINGS.command_line_options(),
            "ini": config_path.read_text(),
        },
        "summary": summary.as_dict(),
    }


def anchor_record() -> dict:
    record = dataclasses.asdict(SSDLITE_MOBILENET_V2_COCO)
    record["num_anchors"] = int(generate_anchors(SSDLITE_MOBILENET_V2_COCO).shape[0])
    return record


def build_bundle(convert_dir: Path, vela_dir: Path, output: Path, *, allow_stand_in: bool = False) -> dict:
    """Write the bundle to `output` and return its manifest."""
    record = _conversion_record(convert_dir)
    stand_in = bool(record.get("stand_in"))
    if stand_in and not allow_stand_in:
        raise ToolsError(
            f"{convert_dir / INT8_MODEL_NAME} was converted from the stand-in model (random weights, "
            "test data only) and must never reach a board; convert the real checkpoint"
        )
    int8_path = convert_dir / INT8_MODEL_NAME
    vela_record = _vela_record(vela_dir, int8_path)

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=output.name + ".", dir=output.parent))
    try:
        shutil.copyfile(int8_path, staging / INT8_MODEL_NAME)
        shutil.copyfile(vela_dir / VELA_MODEL_NAME, staging / VELA_MODEL_NAME)
        write_labels(str(staging / LABELS_NAME), COCO_LABELS)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "stand_in": stand_in,
            "files": {
                name: file_entry(staging / name) for name in sorted((INT8_MODEL_NAME, VELA_MODEL_NAME, LABELS_NAME))
            },
            "source_checkpoint": record["source_checkpoint"],
            "calibration_image_ids": [image["id"] for image in record["calibration"]["images"]],
            "calibration": {key: value for key, value in record["calibration"].items() if key != "images"},
            "io_type": record["io_type"],
            "quantization": record["quantization"],
            "anchor_config": anchor_record(),
            "vela": vela_record,
            # Versions that made the models (convert) and the bundle; they differ only if mixed.
            "tool_versions": {"convert": record["tool_versions"], "bundle": tool_versions()},
        }
        write_json(staging / MANIFEST_NAME, manifest)
        staging.chmod(0o755)  # mkdtemp makes 0700 folders; the build reads this as any user
        if output.exists():
            retired = Path(tempfile.mkdtemp(prefix=output.name + ".old.", dir=output.parent))
            output.rename(retired / output.name)
            staging.rename(output)
            shutil.rmtree(retired)
        else:
            staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return manifest
