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
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, Optional, Tuple

from . import json_schema
from .anchors import SSDLITE_MOBILENET_V2_COCO, AnchorConfig, anchors_per_location
from .decode import SSD_BOX_CODER_SCALES, BoxCoderScales
from .errors import ModelError
from .files import UserFileError, read_small_text
from .scores import KIND_OF_SCORE_CONVERTER

DESCRIPTION_FILE = "model.json"
FORMAT = "ssdlite-model-description"
FORMAT_VERSION = 1
# File roles under "files".
INT8, VELA, FLOAT, LABELS, LICENSE = "int8", "vela", "float", "labels", "license"
# The JSON Schema of the format (draft-07), shipped beside this module.
SCHEMA_FILE = "model_description.schema.json"
DESCRIPTION_SIZE_LIMIT = 1024 * 1024  # bytes; the COCO bundle's is 2 KB
MAX_NESTING = 32                      # arrays and objects inside each other
# Anchors a description may ask for: 1917 for SSDLite at 300x300, about 51,000 for an FPN SSD at
# 640x640. A bound, so that no description makes the app generate gigabytes of anchors.
MAX_ANCHORS = 500_000


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


@lru_cache(maxsize=1)
def description_schema() -> dict:
    """The format's JSON Schema (model_description.schema.json)."""
    return json_schema.load_schema(resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def _nesting_depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (iterative: any depth is measured)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:  # deeper is refused anyway: no need to walk further
                pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _has_non_finite_number(value: Any) -> bool:
    """Whether a NaN or an infinity sits anywhere in `value` (a record built in Python, not read
    from JSON, can hold them; JSON Schema's comparisons are all false for NaN, so it passes them)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _check_consistency(record: dict, source: str) -> None:
    """What the schema cannot say: the per-layer lists against num_layers, the feature maps
    against the input, and the number of anchors they give."""
    anchors, size = record["anchor_generator"], (record["input"]["height"], record["input"]["width"])
    layers = anchors["num_layers"]
    for key in ("feature_map_shapes", "scales", "anchor_strides", "anchor_offsets"):
        count = len(anchors.get(key, ()))
        if (key == "feature_map_shapes" or count) and count != layers:
            raise ModelError(f"{source}: anchor_generator.{key} has {count} entries for num_layers {layers}")
    for index, (height, width) in enumerate(anchors["feature_map_shapes"]):
        if height > size[0] or width > size[1]:
            raise ModelError(f"{source}: anchor_generator.feature_map_shapes[{index}] is {height}x{width}, "
                             f"larger than the {size[0]}x{size[1]} input")


def description_from_dict(record: dict, path: Optional[str] = None) -> ModelDescription:
    """Parse a description; ModelError (one line) when it is not one this app can use: not of this
    format, not valid against its schema (model_description.schema.json), or inconsistent."""
    source = path or "model description"
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ModelError(f"{source} is not an ssdlite model description (no \"format\": \"{FORMAT}\")")
    if record.get("format_version") != FORMAT_VERSION or isinstance(record.get("format_version"), bool):
        raise ModelError(
            f"{source} has format_version {record.get('format_version')!r}; this app reads {FORMAT_VERSION}"
        )
    if _nesting_depth(record) > MAX_NESTING:
        raise ModelError(f"{source}: malformed model description: nested deeper than {MAX_NESTING} levels")
    if _has_non_finite_number(record):
        raise ModelError(f"{source}: malformed model description: NaN or infinity (not JSON numbers)")
    problem = json_schema.first_error(record, description_schema())
    if problem is not None:
        raise ModelError(f"{source}: malformed model description: {problem}")
    _check_consistency(record, source)
    anchor_record = record["anchor_generator"]
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
    per_cell = anchors_per_location(anchors)
    count = sum(h * w * n for (h, w), n in zip(anchors.feature_map_shapes, per_cell))
    if count > MAX_ANCHORS:
        raise ModelError(f"{source}: the anchor generator gives {count} anchors, more than {MAX_ANCHORS} "
                         "(feature_map_shapes are the heads' grids, not the input)")
    coder, converter = record["box_coder"], record["score_converter"]
    return ModelDescription(
        name=str(record["name"]),
        input_size=size,
        num_classes=int(record["classes"]["num_classes"]),
        anchors=anchors,
        box_coder=BoxCoderScales(*(float(coder[key]) for key in ("y_scale", "x_scale", "height_scale", "width_scale"))),
        score_converter=str(converter["type"]),
        logit_scale=float(converter.get("logit_scale", 1.0)),
        files={str(role): str(name) for role, name in record["files"].items()},
        license=dict(record.get("license") or {}),
        provenance=dict(record.get("provenance") or {}),
        outputs=dict(record.get("outputs") or {}),
        path=path,
    )


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise ValueError(f"{text} is out of range")
    return value


def read_description(path: str) -> ModelDescription:
    try:
        text = read_small_text(path, limit=DESCRIPTION_SIZE_LIMIT)
    except UserFileError as error:
        raise ModelError(f"cannot read model description {path}: {error}") from None
    try:
        # Python's json accepts NaN and Infinity, which JSON does not: a NaN scale would end up in
        # every box, and in --json output that is no longer JSON.
        record = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ModelError(f"{path} is not a model description: nested too deeply") from None
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
    if not os.path.exists(candidate):  # a model.json that is not a regular file is refused, not ignored
        return None
    description = read_description(candidate)
    return description if description.describes(model_path) else None


def installed_model_names(model_dir: str, default_int8: str, default_vela: str) -> Tuple[str, str]:
    """(int8, vela) file names of the bundle installed in `model_dir`: from its model.json, else
    the COCO bundle's names."""
    candidate = os.path.join(model_dir, DESCRIPTION_FILE)
    if not os.path.exists(candidate):
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
