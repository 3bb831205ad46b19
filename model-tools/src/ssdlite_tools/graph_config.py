"""What an exported OD API SSD graph says about itself, for exports that come without pipeline.config.

A frozen export holds more than the part convert keeps. In front of the cut, `Preprocessor/`
resizes to the fixed input size and normalises; behind it, `Postprocessor/` decodes with the box
coder's scales and converts scores; beside it, `MultipleGridAnchorGenerator/` computes the anchors
the heads were trained on. This module reads those facts off the GraphDef (constants, op types)
and fits the app's `AnchorConfig` to the anchors the graph's own generator computes (convert runs
that subgraph in TensorFlow), so that:

* an export without pipeline.config (many found in the wild, e.g. a bare frozen_inference_graph.pb)
  gets the description the config would have given, and
* an export with one is checked against its own graph: a config edited after training (other
  anchors, scales or score converter than the weights were trained with) is refused, not shipped.

The anchors are verified, not trusted: the fitted config is regenerated with
`ssdlite_detect.anchors.generate_anchors`, the code the board runs, and must reproduce every one of
the graph's anchors. What the graph cannot say (label names; whether class column 0 is a
background, which the OD API adds by default) is taken as the OD API's default or asked for.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ssdlite_detect.anchors import AnchorConfig, generate_anchors, layer_box_specs
from ssdlite_detect.decode import BoxCoderScales

from .errors import ToolsError
from .graph_cut import node_name
from .pipeline_config import SSDPipeline

# The app's preprocessing (ssdlite_detect.preprocess): x * (2 / 255) - 1, MobileNet's.
APP_NORMALISATION = (2.0 / 255.0, 1.0)
PREPROCESSOR_SCOPE = "Preprocessor/"
POSTPROCESSOR_SCOPE = "Postprocessor/"
ANCHOR_GENERATOR_SCOPE = "MultipleGridAnchorGenerator/"
_RESIZE_OPS = ("ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea")
# post_processing_builder's score converters, by the op that `convert_scores` is.
_SCORE_OPS = {"Sigmoid": "SIGMOID", "Softmax": "SOFTMAX", "Identity": "IDENTITY"}
# backbone scope under FeatureExtractor/ -> the pipeline.config feature extractor type
_BACKBONES = {"MobilenetV2": "ssd_mobilenet_v2", "MobilenetV1": "ssd_mobilenet_v1"}
# Anchors are normalised to [0, 1]; the graph and the app both compute them in float32, in
# different orders (corners there, centres here): a few ulp apart, far below any real change.
ANCHOR_TOLERANCE = 1e-5


@dataclass(frozen=True)
class GraphFacts:
    """What the graph itself tells; None where the graph does not hold it (e.g. a pruned export)."""

    source: str
    input_size: Optional[Tuple[int, int]]  # (height, width) of the preprocessor's resize
    normalisation: Optional[Tuple[float, float]]  # (scale, offset): x * scale - offset
    feature_extractor: Optional[str]
    box_coder: Optional[BoxCoderScales]
    score_converter: Optional[str]
    logit_scale: Optional[float]
    anchors_tensor: Optional[str]  # the anchor generator's concatenation, run by convert


def _tensor_value(node) -> np.ndarray:
    from tensorflow.python.framework import tensor_util

    return tensor_util.MakeNdarray(node.attr["value"].tensor)


def const_node(nodes: dict, input_name: str):
    """The Const node an input reads (through Identity nodes, as a frozen graph's `.../read`), else None."""
    node = nodes.get(node_name(input_name))
    while node is not None and node.op == "Identity" and node.input:
        node = nodes.get(node_name(node.input[0]))
    return node if node is not None and node.op == "Const" else None


def _const(nodes: dict, input_name: str) -> Optional[np.ndarray]:
    """The value of a Const input (through Identity nodes), else None."""
    node = const_node(nodes, input_name)
    return _tensor_value(node) if node is not None else None


def _scalar(nodes: dict, node) -> Optional[float]:
    """The one constant scalar operand of a binary op, else None."""
    values = [_const(nodes, name) for name in node.input if not name.startswith("^")]
    scalars = [v for v in values if v is not None and v.size == 1]
    return float(scalars[0].reshape(())) if len(scalars) == 1 and len(values) == 2 else None


def _consumers(graph_def) -> Dict[str, list]:
    consumers: Dict[str, list] = {}
    for node in graph_def.node:
        for input_name in node.input:
            if not input_name.startswith("^"):
                consumers.setdefault(input_name if ":" in input_name else input_name + ":0", []).append(node)
    return consumers


def _input_size(graph_def, nodes: dict) -> Optional[Tuple[int, int]]:
    sizes = set()
    for node in graph_def.node:
        if node.name.startswith(PREPROCESSOR_SCOPE) and node.op in _RESIZE_OPS and len(node.input) >= 2:
            size = _const(nodes, node.input[1])
            if size is not None and size.shape == (2,):
                sizes.add((int(size[0]), int(size[1])))
    return sizes.pop() if len(sizes) == 1 else None


def _normalisation(graph_def, nodes: dict) -> Optional[Tuple[float, float]]:
    """(scale, offset) of the preprocessor's `x * scale - offset` (the feature extractor's preprocess)."""
    muls = [n for n in graph_def.node if n.name.startswith(PREPROCESSOR_SCOPE) and n.op == "Mul"]
    subs = [n for n in graph_def.node if n.name.startswith(PREPROCESSOR_SCOPE) and n.op == "Sub"]
    for sub in subs:
        offset = _scalar(nodes, sub)
        first = nodes.get(node_name(sub.input[0]))
        if offset is None or first is None or first.op != "Mul" or first not in muls:
            continue
        scale = _scalar(nodes, first)
        if scale is not None:
            return scale, offset
    return None


def _feature_extractor(input_tensor: str) -> Optional[str]:
    parts = input_tensor.split("/")
    return _BACKBONES.get(parts[1]) if len(parts) > 1 and parts[0] == "FeatureExtractor" else None


def _box_coder(graph_def, nodes: dict) -> Optional[BoxCoderScales]:
    """faster_rcnn_box_coder._decode: ty, tx, th, tw = unstack(transpose(codes)); each divided by its scale."""
    scales: Dict[int, float] = {}
    for node in graph_def.node:
        if not node.name.startswith(POSTPROCESSOR_SCOPE + "Decode/") or node.op != "RealDiv" or not node.input:
            continue
        numerator = node.input[0]
        producer = nodes.get(node_name(numerator))
        if producer is None or producer.op != "Unpack" or not producer.name.endswith("Decode/unstack"):
            continue
        index = int(numerator.split(":")[1]) if ":" in numerator else 0
        value = _scalar(nodes, node)
        if value is not None:
            scales[index] = value
    if sorted(scales) != [0, 1, 2, 3]:
        return None
    return BoxCoderScales(*(_float32_value(scales[i]) for i in range(4)))


def _score_converter(nodes: dict, consumers: dict, class_tensor: str) -> Tuple[Optional[str], Optional[float]]:
    """(converter, logit_scale): the class logits go through `scale_logits` (x / logit_scale) into
    `convert_scores` (post_processing_builder._score_converter_fn_with_logit_scale)."""
    for scale_node in consumers.get(class_tensor, []):
        if scale_node.op != "RealDiv" or not scale_node.name.startswith(POSTPROCESSOR_SCOPE):
            continue
        logit_scale = _scalar(nodes, scale_node)
        for converter in consumers.get(scale_node.name + ":0", []):
            if converter.op in _SCORE_OPS and logit_scale is not None:
                return _SCORE_OPS[converter.op], _float32_value(logit_scale)
    return None, None


def _float32_value(value: float) -> float:
    """A float32 constant as the short decimal a config would say (10.0, 0.2, not 0.20000000298)."""
    return float(repr(np.float32(value)))


def _anchors_tensor(graph_def, nodes: dict) -> Optional[str]:
    """The ConcatV2 of the per-layer anchor boxes (all of its inputs from the anchor generator)."""
    found = []
    for node in graph_def.node:
        if node.op != "ConcatV2" or node.name.startswith(ANCHOR_GENERATOR_SCOPE):
            continue
        data = node.input[:-1]
        if data and all(node_name(name).startswith(ANCHOR_GENERATOR_SCOPE) for name in data):
            found.append(node.name + ":0")
    return found[0] if len(found) == 1 else None


def read_graph_facts(graph_def, input_tensor: str, class_tensor: str, source: str) -> GraphFacts:
    """The facts a GraphDef holds about running it (see GraphFacts); no TensorFlow session needed."""
    nodes = {node.name: node for node in graph_def.node}
    consumers = _consumers(graph_def)
    converter, logit_scale = _score_converter(nodes, consumers, class_tensor)
    return GraphFacts(
        source=source,
        input_size=_input_size(graph_def, nodes),
        normalisation=_normalisation(graph_def, nodes),
        feature_extractor=_feature_extractor(input_tensor),
        box_coder=_box_coder(graph_def, nodes),
        score_converter=converter,
        logit_scale=logit_scale,
        anchors_tensor=_anchors_tensor(graph_def, nodes),
    )


# --- anchors --------------------------------------------------------------------------------------


def corners_to_centres(corners: np.ndarray) -> np.ndarray:
    """(ymin, xmin, ymax, xmax) rows, as the anchor generator's BoxList holds them, to the app's
    (ycenter, xcenter, height, width)."""
    corners = np.asarray(corners, dtype=np.float64)
    if corners.ndim != 2 or corners.shape[1] != 4:
        raise ToolsError(f"the graph's anchors have shape {list(corners.shape)}, not [N, 4]")
    centres = np.empty_like(corners)
    centres[:, 0] = (corners[:, 0] + corners[:, 2]) / 2
    centres[:, 1] = (corners[:, 1] + corners[:, 3]) / 2
    centres[:, 2] = corners[:, 2] - corners[:, 0]
    centres[:, 3] = corners[:, 3] - corners[:, 1]
    return centres


def _short(value: float, digits: int = 4) -> float:
    """`value` as a config would write it (4 significant digits: 0.3333, 0.95, 0.2)."""
    return float(f"{value:.{digits}g}")


def _cell_specs(
    centres: np.ndarray, feature_map_shapes: Sequence[Tuple[int, int]], per_location: Sequence[int],
    image_size: Tuple[int, int],
) -> list:
    """(scale, aspect ratio) of each anchor at the first cell of each layer, as create_ssd_anchors
    made them: height = scale / sqrt(ratio) * base_h, width = scale * sqrt(ratio) * base_w, with the
    base size shrunk on the longer side of a non-square input (base_anchor_size (1, 1) assumed: it
    and the scales cannot be told apart, and the OD API's SSD configs leave it at 1)."""
    height, width = image_size
    base_height, base_width = min(image_size) / height, min(image_size) / width
    specs, start = [], 0
    for (rows, cols), count in zip(feature_map_shapes, per_location, strict=True):
        first_cell = centres[start:start + count]
        heights, widths = first_cell[:, 2] / base_height, first_cell[:, 3] / base_width
        specs.append([(math.sqrt(h * w), w / h) for h, w in zip(heights, widths, strict=True)])
        start += rows * cols * count
    if start != len(centres):
        raise ToolsError(f"the graph has {len(centres)} anchors but its heads predict {start} boxes")
    return specs


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


def fit_anchor_config(
    corners: np.ndarray,
    feature_map_shapes: Sequence[Tuple[int, int]],
    per_location: Sequence[int],
    image_size: Tuple[int, int],
    source: str,
) -> AnchorConfig:
    """The ssd_anchor_generator settings that produce exactly the graph's anchors.

    Reads each layer's scale and the aspect ratios off its first cell, prefers min_scale/max_scale
    where the scales are the generator's linear interpolation, and checks the result by
    regenerating every anchor with the app's generator; ToolsError where no ssd_anchor_generator
    setting reproduces them (another generator, explicit strides or offsets)."""
    centres = corners_to_centres(corners)
    specs = _cell_specs(centres, feature_map_shapes, per_location, image_size)
    layers = len(specs)
    lowest = specs[0]
    reduce_lowest = (
        len(lowest) == 3 and _close(lowest[0][0], 0.1) and _close(lowest[0][1], 1.0)
        and _close(lowest[1][1], 2.0) and _close(lowest[2][1], 0.5) and _close(lowest[1][0], lowest[2][0])
    )
    general = specs[1:] if reduce_lowest else specs
    if not general:
        raise ToolsError(f"{source}: a single reduced anchor layer cannot tell the anchor generator's settings")
    scales = [lowest[1][0]] if reduce_lowest else []
    scales += [layer[0][0] for layer in general]
    # The interpolated anchor (scale sqrt(s_l * s_l+1)) is the last one of a layer, when its scale
    # differs from the layer's own.
    interpolated = not _close(general[0][-1][0], general[0][0][0])
    ratios = [ratio for _, ratio in (general[0][:-1] if interpolated else general[0])]
    interpolated_ratio = general[0][-1][1] if interpolated else 0.0

    def candidate(rounding) -> AnchorConfig:
        rounded = [rounding(s) for s in scales]
        linear = layers > 1 and all(
            _close(s, rounded[0] + (rounded[-1] - rounded[0]) * i / (layers - 1)) for i, s in enumerate(scales)
        )
        return AnchorConfig(
            num_layers=layers,
            min_scale=rounded[0],
            max_scale=rounded[-1] if layers > 1 else 0.95,
            aspect_ratios=tuple(rounding(r) for r in ratios),
            interpolated_scale_aspect_ratio=rounding(interpolated_ratio),
            reduce_boxes_in_lowest_layer=reduce_lowest,
            scales=() if linear else tuple(rounded),
            feature_map_shapes=tuple(tuple(shape) for shape in feature_map_shapes),
            image_size=tuple(image_size),
        )

    mismatch = ""
    for rounding in (_short, lambda value: _short(value, 7)):
        config = candidate(rounding)
        mismatch = anchor_mismatch(config, corners)
        if not mismatch:
            return config
    raise ToolsError(
        f"{source}: no ssd_anchor_generator setting reproduces the graph's own anchors ({mismatch}); "
        "pass the export's pipeline.config"
    )


def anchor_mismatch(config: AnchorConfig, corners: np.ndarray) -> str:
    """Empty when `config` generates the graph's anchors (`corners`), else where they first differ."""
    try:
        ours = generate_anchors(config).astype(np.float64)
        specs = layer_box_specs(config)
    except ValueError as error:
        return str(error)
    theirs = corners_to_centres(corners)
    if ours.shape != theirs.shape:
        return f"{len(ours)} anchors from the config, {len(theirs)} in the graph"
    differ = np.flatnonzero(np.abs(ours - theirs).max(axis=1) > ANCHOR_TOLERANCE)
    if not len(differ):
        return ""
    index = int(differ[0])
    layer, start = 0, 0
    for (rows, cols), layer_specs in zip(config.feature_map_shapes, specs, strict=True):
        if index < start + rows * cols * len(layer_specs):
            break
        start += rows * cols * len(layer_specs)
        layer += 1
    fields = ("ycenter", "xcenter", "height", "width")
    return (
        f"anchor {index} (layer {layer}): {', '.join(f'{f} {v:.4f}' for f, v in zip(fields, ours[index]))} "
        f"from the config, {', '.join(f'{f} {v:.4f}' for f, v in zip(fields, theirs[index]))} in the graph"
    )


def describe_anchor_config(config: AnchorConfig) -> str:
    """The ssd_anchor_generator block a pipeline.config would hold for `config` (for notes and docs)."""
    scales = (
        " ".join(f"scales: {s:g}" for s in config.scales)
        if config.scales else f"min_scale: {config.min_scale:g} max_scale: {config.max_scale:g}"
    )
    ratios = " ".join(f"aspect_ratios: {r:g}" for r in config.aspect_ratios)
    return (
        f"num_layers: {config.num_layers} {scales} {ratios} "
        f"interpolated_scale_aspect_ratio: {config.interpolated_scale_aspect_ratio:g} "
        f"reduce_boxes_in_lowest_layer: {str(config.reduce_boxes_in_lowest_layer).lower()}"
    )


# --- the description, from the graph or checked against it -------------------------------------


def check_normalisation(facts: GraphFacts) -> None:
    """The app feeds x * 2/255 - 1 (MobileNet's preprocessing); a graph trained on another input is refused."""
    if facts.normalisation is None:
        return
    scale, offset = facts.normalisation
    if not (_close(scale, APP_NORMALISATION[0]) and _close(offset, APP_NORMALISATION[1])):
        raise ToolsError(
            f"{facts.source} normalises its input as x * {scale:g} - {offset:g}, but the app feeds x * 2/255 - 1 "
            "(MobileNet's preprocessing): this model would see other inputs than it was trained on"
        )


def pipeline_from_graph(facts: GraphFacts, class_columns: int, anchors: Optional[AnchorConfig]) -> SSDPipeline:
    """The SSDPipeline a pipeline.config would give, from the graph alone; ToolsError naming what
    the graph does not hold."""
    missing = [
        what for what, value in (
            ("the input size (a resize in Preprocessor/)", facts.input_size),
            ("the feature extractor (FeatureExtractor/MobilenetV1 or V2)", facts.feature_extractor),
            ("the box coder scales (Postprocessor/Decode)", facts.box_coder),
            ("the score converter (Postprocessor/convert_scores)", facts.score_converter),
            ("the anchors (MultipleGridAnchorGenerator/)", anchors),
        ) if value is None
    ]
    if missing:
        raise ToolsError(
            f"{facts.source} has no pipeline.config beside it and the graph does not hold {', '.join(missing)}; "
            "pass the export folder with its pipeline.config"
        )
    return SSDPipeline(
        # The OD API adds a background column (add_background_class defaults to true); the graph
        # cannot tell it apart from a class.
        num_classes=class_columns - 1,
        input_size=facts.input_size,
        feature_extractor=facts.feature_extractor,
        anchors=dataclasses.replace(anchors, feature_map_shapes=()),
        box_coder=facts.box_coder,
        score_converter=facts.score_converter,
        logit_scale=facts.logit_scale,
        label_map_path="",
        source=facts.source,
    )


def check_pipeline_against_graph(
    pipeline: SSDPipeline, facts: GraphFacts, corners: Optional[np.ndarray], feature_map_shapes
) -> list[str]:
    """Refuse a pipeline.config that does not describe this graph (edited after training, or
    another export's); returns what could be checked, for the conversion record."""
    checked = []
    for what, ours, theirs in (
        ("fixed_shape_resizer size", pipeline.input_size, facts.input_size),
        ("feature extractor", pipeline.feature_extractor, facts.feature_extractor),
        ("faster_rcnn_box_coder scales", pipeline.box_coder, facts.box_coder),
        ("score_converter", pipeline.score_converter, facts.score_converter),
        ("logit_scale", pipeline.logit_scale, facts.logit_scale),
    ):
        if theirs is None:
            continue
        if ours != theirs:
            raise ToolsError(
                f"{pipeline.source} says {what} {_show(ours)} but the graph {facts.source} was exported with "
                f"{_show(theirs)}: the config is not this export's (edited after training?)"
            )
        checked.append(what)
    if corners is not None:
        config = dataclasses.replace(pipeline.anchors, feature_map_shapes=tuple(tuple(s) for s in feature_map_shapes))
        mismatch = anchor_mismatch(config, corners)
        if mismatch:
            raise ToolsError(
                f"{pipeline.source}'s ssd_anchor_generator does not give the anchors the graph {facts.source} was "
                f"trained with ({mismatch}): the config is not this export's (edited after training?)"
            )
        checked.append("anchors")
    return checked


def _show(value) -> str:
    if isinstance(value, BoxCoderScales):
        return "y {:g} x {:g} height {:g} width {:g}".format(*dataclasses.astuple(value))
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return str(value)
