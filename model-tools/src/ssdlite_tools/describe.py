"""The model description (the app's model.json) of a converted export, and its labels.

Everything model-specific comes from the export: classes, input size, anchor generator, box coder
and score converter from pipeline.config; feature-map sizes and anchors per cell from the graph's
heads (checked against the anchor generator); labels from the label map. The app's
`ssdlite_detect.model_description` defines the format and `ssdlite_detect.anchors` the anchors,
so the description is checked with the very code that will use it on the board.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Optional, Tuple

from ssdlite_detect.anchors import anchors_per_location, generate_anchors
from ssdlite_detect.labels import COCO_LABELS, UNUSED
from ssdlite_detect.model_description import ModelDescription

from .checkpoint import COCO_MODEL_NAME, LABEL_MAP, Checkpoint
from .convert import HeadShapes
from .download import file_digest
from .errors import ToolsError
from .pipeline_config import SSDPipeline, read_label_map

# The OD API's own COCO label map (object_detection/data), which COCO_LABELS reproduces.
COCO_LABEL_MAP = "mscoco_label_map.pbtxt"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def find_labels(
    checkpoint: Checkpoint, pipeline: SSDPipeline, label_map: Optional[Path]
) -> Tuple[Tuple[str, ...], Optional[Path]]:
    """(labels, label map file or None): --label-map, else the export's label_map.pbtxt (or the file
    named by train_input_reader.label_map_path, looked up in the export), else COCO's for a model
    trained on the OD API's mscoco_label_map.pbtxt, else, for an export without pipeline.config
    (nothing says what its classes are called), class1..N (see generic_labels)."""
    folder = checkpoint.folder
    candidates = [label_map] if label_map else [folder / LABEL_MAP]
    if not label_map and pipeline.label_map_path:
        candidates.append(folder / Path(pipeline.label_map_path).name)
    for candidate in candidates:
        if candidate is not None and (label_map or candidate.is_file()):
            return read_label_map(candidate, pipeline.num_classes), Path(candidate)
    if Path(pipeline.label_map_path).name == COCO_LABEL_MAP:
        if pipeline.num_classes != len(COCO_LABELS) - 1:
            raise ToolsError(
                f"{pipeline.source} names {COCO_LABEL_MAP} but has num_classes {pipeline.num_classes}, not 90"
            )
        return COCO_LABELS, None
    if checkpoint.find_pipeline_config() is None:
        return generic_labels(pipeline.num_classes), None
    raise ToolsError(
        f"no label map for {folder}: put {LABEL_MAP} in the export or pass --label-map PATH "
        f"(pipeline.config names {pipeline.label_map_path or 'none'})"
    )


def generic_labels(num_classes: int) -> Tuple[str, ...]:
    """class1..classN: the names of a model whose export says nothing about them."""
    return (UNUSED,) + tuple(f"class{index}" for index in range(1, num_classes + 1))


def describe_sources(
    pipeline: SSDPipeline, label_map: Optional[Path], labels: Tuple[str, ...] = COCO_LABELS, *, from_graph: bool = False
) -> dict:
    """Provenance for model.json: file names and sha256, no host paths (the bundle stays the same
    bytes wherever it is built)."""

    def source(path: Path) -> dict:
        return {"file": Path(path).name, "sha256": file_digest(Path(path))}

    if label_map:
        labels_from = source(label_map)
    elif tuple(labels) == COCO_LABELS:
        labels_from = f"{COCO_LABEL_MAP} (ssdlite_detect.labels.COCO_LABELS)"
    else:
        labels_from = "none: class1..classN (no label map given)"
    if not from_graph:
        return {"pipeline_config": source(Path(pipeline.source)), "label_map": labels_from}
    # No pipeline.config: every setting came from the graph itself (graph_config.py).
    return {"pipeline_config": None, "settings_from_graph": source(Path(pipeline.source)), "label_map": labels_from}


def default_model_name(checkpoint: Checkpoint, labels: Tuple[str, ...]) -> str:
    """The COCO bundle's name for a model with COCO's labels, else the export folder's name."""
    if tuple(labels) == COCO_LABELS:
        return COCO_MODEL_NAME
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", checkpoint.name).strip("_.-") or "model"


def check_model_name(name: str) -> str:
    if not _MODEL_NAME.match(name):
        raise ToolsError(f"model name {name!r} must be letters, digits, '_', '.', '-' (it names the bundle's files)")
    return name


def describe_model(
    name: str, pipeline: SSDPipeline, heads: HeadShapes, files: dict, provenance: dict, graph: str
) -> ModelDescription:
    """The description of a converted model; ToolsError when the graph and pipeline.config disagree."""
    if heads.class_columns != pipeline.num_classes + 1:
        raise ToolsError(
            f"{graph} predicts {heads.class_columns} class columns but {pipeline.source} says num_classes "
            f"{pipeline.num_classes} (+1 background): the config is not this export's"
        )
    if len(heads.feature_map_shapes) != pipeline.anchors.num_layers:
        raise ToolsError(
            f"{graph} has {len(heads.feature_map_shapes)} box predictor heads but {pipeline.source}'s "
            f"ssd_anchor_generator has num_layers {pipeline.anchors.num_layers}"
        )
    anchors = dataclasses.replace(pipeline.anchors, feature_map_shapes=heads.feature_map_shapes)
    expected = tuple(anchors_per_location(anchors))
    if expected != heads.anchors_per_location:
        raise ToolsError(
            f"{graph} predicts {list(heads.anchors_per_location)} anchors per cell but {pipeline.source}'s "
            f"anchor generator gives {list(expected)}"
        )
    num_anchors = int(generate_anchors(anchors).shape[0])
    if num_anchors != heads.num_anchors:
        raise ToolsError(f"{graph} predicts {heads.num_anchors} boxes but the anchor generator gives {num_anchors}")
    return ModelDescription(
        name=name,
        input_size=pipeline.input_size,
        num_classes=pipeline.num_classes,
        anchors=anchors,
        box_coder=pipeline.box_coder,
        score_converter=pipeline.score_converter,
        logit_scale=pipeline.logit_scale,
        files=dict(files),
        provenance=provenance,
        outputs={
            "box_encodings": {"shape": [1, num_anchors, 1, 4], "values": "ty, tx, th, tw per anchor"},
            "class_predictions": {
                "shape": [1, num_anchors, pipeline.num_classes + 1],
                "values": f"scores = {pipeline.score_converter}(x / logit_scale); column 0 = background",
            },
            "feature_extractor": pipeline.feature_extractor,
        },
    )
