"""The model description: what the app must know about a model that the .tflite does not say.

A TFLite SSD cut before post-processing carries only its tensors: not the anchors it was trained
with, its class names, its box coder or whether its scores go through a sigmoid or a softmax.
`ssdlite-tools convert` and `bundle` write those, taken from the checkpoint's pipeline.config and
label map, into `model.json` beside the models (one description per folder):

    {
      "format": "ssdlite-model-description", "format_version": 1,
      "name": "fish_detector",
      "files": {"int8": "fish_detector_int8.tflite", "vela": "fish_detector_int8_vela.tflite",
                "labels": "fish_detector_labels.txt"},
      "input": {"height": 320, "width": 320, ...},
      "classes": {"num_classes": 3, "background_class": 0},
      "anchor_generator": {"type": "ssd_anchor_generator", "num_layers": 6, ..., "feature_map_shapes": [...]},
      "box_coder": {"type": "faster_rcnn_box_coder", "y_scale": 10.0, ...},
      "score_converter": {"type": "SIGMOID", "logit_scale": 1.0},
      "outputs": {...}, "license": {...}, "provenance": {...}
    }

A description applies to a model file only when it lists that file's name under "files": a model
copied elsewhere, or another model in the same folder, does not pick up a stranger's anchors.
Without a description the app keeps the COCO defaults (SSDLite MobileNetV2, 300x300) and says so.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from .anchors import SSDLITE_MOBILENET_V2_COCO, AnchorConfig
from .decode import SSD_BOX_CODER_SCALES, BoxCoderScales
from .errors import ModelError
from .scores import KIND_OF_SCORE_CONVERTER

DESCRIPTION_FILE = "model.json"
FORMAT = "ssdlite-model-description"
FORMAT_VERSION = 1
# File roles under "files".
INT8, VELA, FLOAT, LABELS, LICENSE = "int8", "vela", "float", "labels", "license"


@dataclass(frozen=True)
class ModelDescription:
    """How to run one model: input size, classes, anchors, box coder, score conversion."""

    name: str
    input_size: Tuple[int, int]  # (height, width)
    num_classes: int  # without background; the class output has num_classes + 1 columns
    anchors: AnchorConfig
    box_coder: BoxCoderScales = SSD_BOX_CODER_SCALES
    score_converter: str = "SIGMOID"  # post_processing.score_converter: SIGMOID, SOFTMAX or IDENTITY
    logit_scale: float = 1.0
    files: Dict[str, str] = field(default_factory=dict)  # role -> file name in the same folder
    license: Dict[str, Any] = field(default_factory=dict)  # {"spdx": ..., "file": name or None}
    provenance: Dict[str, Any] = field(default_factory=dict)
    outputs: Dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = None  # where it was read from (not written)

    @property
    def score_kind(self) -> str:
        return KIND_OF_SCORE_CONVERTER[self.score_converter]

    @property
    def folder(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else ""

    def file_path(self, role: str) -> Optional[str]:
        name = self.files.get(role)
        return os.path.join(self.folder, name) if name else None

    def describes(self, model_path: str) -> bool:
        """Whether this description names `model_path`'s file as one of its models."""
        name = os.path.basename(model_path)
        return any(self.files.get(role) == name for role in (INT8, VELA, FLOAT))

    def to_dict(self) -> dict:
        anchors = self.anchors
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "files": dict(sorted(self.files.items())),
            "input": {
                "height": self.input_size[0],
                "width": self.input_size[1],
                "channels": 3,
                "resizer": "fixed_shape_resizer (stretch, bilinear)",
                "normalisation": "x / 127.5 - 1 (RGB)",
            },
            "classes": {"num_classes": self.num_classes, "background_class": 0},
            "anchor_generator": {
                "type": "ssd_anchor_generator",
                "num_layers": anchors.num_layers,
                "min_scale": anchors.min_scale,
                "max_scale": anchors.max_scale,
                "scales": list(anchors.scales),
                "aspect_ratios": list(anchors.aspect_ratios),
                "interpolated_scale_aspect_ratio": anchors.interpolated_scale_aspect_ratio,
                "reduce_boxes_in_lowest_layer": anchors.reduce_boxes_in_lowest_layer,
                "base_anchor_size": list(anchors.base_anchor_size),
                "anchor_strides": [list(pair) for pair in anchors.anchor_strides],
                "anchor_offsets": [list(pair) for pair in anchors.anchor_offsets],
                "feature_map_shapes": [list(shape) for shape in anchors.feature_map_shapes],
            },
            "box_coder": {
                "type": "faster_rcnn_box_coder",
                "y_scale": self.box_coder.y,
                "x_scale": self.box_coder.x,
                "height_scale": self.box_coder.h,
                "width_scale": self.box_coder.w,
            },
            "score_converter": {"type": self.score_converter, "logit_scale": self.logit_scale},
            "outputs": self.outputs,
            "license": self.license,
            "provenance": self.provenance,
        }


def _pairs(values) -> Tuple[Tuple[float, float], ...]:
    return tuple((float(a), float(b)) for a, b in values)


def description_from_dict(record: dict, path: Optional[str] = None) -> ModelDescription:
    """Parse a description; ModelError (one line) when it is not one this app can use."""
    source = path or "model description"
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ModelError(f"{source} is not an ssdlite model description (no \"format\": \"{FORMAT}\")")
    if record.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{source} has format_version {record.get('format_version')!r}; this app reads {FORMAT_VERSION}"
        )
    try:
        anchor_record = record["anchor_generator"]
        if anchor_record["type"] != "ssd_anchor_generator":
            raise ModelError(f"{source}: anchor generator {anchor_record['type']!r} is not supported")
        size = (int(record["input"]["height"]), int(record["input"]["width"]))
        anchors = AnchorConfig(
            num_layers=int(anchor_record["num_layers"]),
            min_scale=float(anchor_record["min_scale"]),
            max_scale=float(anchor_record["max_scale"]),
            scales=tuple(float(s) for s in anchor_record.get("scales", ())),
            aspect_ratios=tuple(float(r) for r in anchor_record["aspect_ratios"]),
            interpolated_scale_aspect_ratio=float(anchor_record["interpolated_scale_aspect_ratio"]),
            reduce_boxes_in_lowest_layer=bool(anchor_record["reduce_boxes_in_lowest_layer"]),
            base_anchor_size=tuple(float(v) for v in anchor_record["base_anchor_size"]),
            anchor_strides=_pairs(anchor_record.get("anchor_strides", ())),
            anchor_offsets=_pairs(anchor_record.get("anchor_offsets", ())),
            feature_map_shapes=tuple((int(h), int(w)) for h, w in anchor_record["feature_map_shapes"]),
            image_size=size,
        )
        coder = record["box_coder"]
        if coder["type"] != "faster_rcnn_box_coder":
            raise ModelError(f"{source}: box coder {coder['type']!r} is not supported")
        converter = record["score_converter"]
        if converter["type"] not in KIND_OF_SCORE_CONVERTER:
            raise ModelError(f"{source}: score converter {converter['type']!r} is not SIGMOID, SOFTMAX or IDENTITY")
        return ModelDescription(
            name=str(record["name"]),
            input_size=size,
            num_classes=int(record["classes"]["num_classes"]),
            anchors=anchors,
            box_coder=BoxCoderScales(
                *(float(coder[key]) for key in ("y_scale", "x_scale", "height_scale", "width_scale"))
            ),
            score_converter=str(converter["type"]),
            logit_scale=float(converter.get("logit_scale", 1.0)),
            files={str(role): str(name) for role, name in record["files"].items()},
            license=dict(record.get("license") or {}),
            provenance=dict(record.get("provenance") or {}),
            outputs=dict(record.get("outputs") or {}),
            path=path,
        )
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{source}: malformed model description ({type(error).__name__}: {error})") from None


def read_description(path: str) -> ModelDescription:
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except OSError as error:
        raise ModelError(f"cannot read model description {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise ModelError(f"{path} is not valid JSON: {error}") from None
    return description_from_dict(record, path)


def write_description(path: str, description: ModelDescription) -> None:
    """Write `description` as model.json (sorted keys, no time stamps: reproducible)."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(description.to_dict(), indent=2, sort_keys=True) + "\n")


def find_description(model_path: str) -> Optional[ModelDescription]:
    """The description beside `model_path` that names it, or None (then the COCO defaults apply)."""
    candidate = os.path.join(os.path.dirname(os.path.abspath(model_path)), DESCRIPTION_FILE)
    if not os.path.isfile(candidate):
        return None
    description = read_description(candidate)
    return description if description.describes(model_path) else None


def installed_model_names(model_dir: str, default_int8: str, default_vela: str) -> Tuple[str, str]:
    """(int8, vela) file names of the bundle installed in `model_dir`: from its model.json, else
    the COCO bundle's names."""
    candidate = os.path.join(model_dir, DESCRIPTION_FILE)
    if not os.path.isfile(candidate):
        return default_int8, default_vela
    description = read_description(candidate)
    return description.files.get(INT8, default_int8), description.files.get(VELA, default_vela)


# What the app assumes for a model without a description (today's COCO model).
COCO_DEFAULTS = ModelDescription(
    name="ssdlite_mobilenetv2_coco (defaults: no model description)",
    input_size=SSDLITE_MOBILENET_V2_COCO.image_size,
    num_classes=90,
    anchors=SSDLITE_MOBILENET_V2_COCO,
)
