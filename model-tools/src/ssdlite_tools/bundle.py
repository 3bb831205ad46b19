"""Assemble model-bundle/: the files the layer installs, with a manifest that proves what they are.

Files are named after the model (`convert --model-name`; COCO: ssdlite_mobilenetv2_coco):

    NAME_int8.tflite       from `convert`
    NAME_int8_vela.tflite  from `vela`
    NAME_labels.txt        from `convert` (the label map, line i = class id i); COCO: coco_labels.txt
    model.json             the model description the app reads (ssdlite_detect.model_description):
                           input size, classes, anchor generator, box coder, score converter,
                           these file names, the licence
    NAME_LICENSE           the licence text, when the model's owner gives one (--license-file)
    manifest.json          sha256 and size of each file, the source checkpoint, calibration image
                           ids, tool versions, I/O quantisation, the anchor config, the Vela
                           version and config, the licence

The bundle is written into a temporary sibling folder and swapped in at the end: the layer never
sees a half-written bundle, and files of an older bundle do not linger.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from ssdlite_detect.anchors import generate_anchors
from ssdlite_detect.model_description import (
    DESCRIPTION_FILE,
    INT8,
    LABELS,
    LICENSE,
    VELA,
    ModelDescription,
    read_description,
    write_description,
)

from .checkpoint import COCO_MODEL_NAME
from .errors import ToolsError
from .manifest import file_entry, read_json, tool_versions, write_json
from .workspace import (
    CONVERSION_RECORD,
    CONVERTED_LABELS_NAME,
    INT8_MODEL_NAME,
    LABELS_NAME,
    MANIFEST_NAME,
    VELA_MODEL_NAME,
)

MANIFEST_VERSION = 2
# The TF detection zoo publishes its checkpoints under Apache-2.0.
COCO_LICENSE = "Apache-2.0"
# md5 of oe-core's meta/files/common-licenses/NAME (mickledore), for a licence given by name only:
# the recipe's LIC_FILES_CHKSUM then points at that file. Other licences need --license-file.
COMMON_LICENSE_MD5 = {"Apache-2.0": "89aea4e17d99a7cacdbeed46a0096b10"}
# A BitBake LICENSE value: licence names joined by & (all apply) or | (choice).
_LICENSE_EXPRESSION = re.compile(r"^[A-Za-z0-9.+-]+( *[&|] *[A-Za-z0-9.+-]+)*$")


def bundle_file_names(model_name: str) -> dict:
    """role -> file name in the bundle (the COCO model keeps its historical coco_labels.txt)."""
    return {
        INT8: f"{model_name}_int8.tflite",
        VELA: f"{model_name}_int8_vela.tflite",
        LABELS: LABELS_NAME if model_name == COCO_MODEL_NAME else f"{model_name}_labels.txt",
    }


def license_record(model_name: str, spdx: Optional[str], license_file: Optional[Path]) -> dict:
    """The bundle's licence: what the model's owner declares (--license, --license-file); the
    zoo's COCO model is Apache-2.0. {"spdx", "file", "md5"} as the layer's recipe reads it."""
    if spdx is None:
        if model_name != COCO_MODEL_NAME:
            raise ToolsError(
                f"declare the licence of model {model_name}: --license NAME (SPDX id, e.g. Apache-2.0 or "
                "CLOSED) and, unless NAME is one of oe-core's common licences known here "
                f"({', '.join(COMMON_LICENSE_MD5)}), --license-file FILE with its text"
            )
        spdx = COCO_LICENSE
    if not _LICENSE_EXPRESSION.match(spdx):
        raise ToolsError(f"--license {spdx!r} is not an SPDX licence id or expression")
    if license_file is not None:
        try:
            md5 = hashlib.md5(Path(license_file).read_bytes()).hexdigest()
        except OSError as error:
            raise ToolsError(f"cannot read --license-file {license_file}: {error.strerror or error}") from None
        return {"spdx": spdx, "file": f"{model_name}_LICENSE", "md5": md5}
    if spdx == "CLOSED":
        return {"spdx": spdx, "file": None, "md5": None}
    if spdx not in COMMON_LICENSE_MD5:
        raise ToolsError(f"--license {spdx} needs --license-file FILE with the licence text (the layer checksums it)")
    return {"spdx": spdx, "file": None, "md5": COMMON_LICENSE_MD5[spdx]}


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


def anchor_record(description: ModelDescription) -> dict:
    record = dataclasses.asdict(description.anchors)
    record["num_anchors"] = int(generate_anchors(description.anchors).shape[0])
    return record


def _converted_description(convert_dir: Path) -> ModelDescription:
    path = convert_dir / DESCRIPTION_FILE
    if not path.is_file() or not (convert_dir / CONVERTED_LABELS_NAME).is_file():
        raise ToolsError(
            f"no {DESCRIPTION_FILE} or {CONVERTED_LABELS_NAME} in {convert_dir}: run `ssdlite-tools convert` again"
        )
    return read_description(str(path))


def build_bundle(
    convert_dir: Path,
    vela_dir: Path,
    output: Path,
    *,
    allow_stand_in: bool = False,
    license_name: Optional[str] = None,
    license_file: Optional[Path] = None,
) -> dict:
    """Write the bundle to `output` and return its manifest."""
    record = _conversion_record(convert_dir)
    converted = _converted_description(convert_dir)
    stand_in = bool(record.get("stand_in"))
    if stand_in and not allow_stand_in:
        raise ToolsError(
            f"{convert_dir / INT8_MODEL_NAME} was converted from the stand-in model (random weights, "
            "test data only) and must never reach a board; convert the real checkpoint"
        )
    int8_path = convert_dir / INT8_MODEL_NAME
    vela_record = _vela_record(vela_dir, int8_path)
    names = bundle_file_names(converted.name)
    licence = license_record(converted.name, license_name, license_file)
    if licence["file"]:
        names[LICENSE] = licence["file"]
    description = dataclasses.replace(
        converted, files=names, license=licence, provenance={**converted.provenance, "model_name": converted.name}
    )

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=output.name + ".", dir=output.parent))
    try:
        shutil.copyfile(int8_path, staging / names[INT8])
        shutil.copyfile(vela_dir / VELA_MODEL_NAME, staging / names[VELA])
        shutil.copyfile(convert_dir / CONVERTED_LABELS_NAME, staging / names[LABELS])
        if licence["file"]:
            shutil.copyfile(license_file, staging / licence["file"])
        write_description(str(staging / DESCRIPTION_FILE), description)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "stand_in": stand_in,
            "model_name": converted.name,
            "license": licence,
            "files": {name: file_entry(staging / name) for name in sorted([*names.values(), DESCRIPTION_FILE])},
            "source_checkpoint": record["source_checkpoint"],
            "calibration_image_ids": [image["id"] for image in record["calibration"]["images"]],
            "calibration": {key: value for key, value in record["calibration"].items() if key != "images"},
            "io_type": record["io_type"],
            "quantization": record["quantization"],
            "anchor_config": anchor_record(description),
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
