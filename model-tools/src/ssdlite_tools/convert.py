"""TF1 SavedModel (or frozen graph) -> pruned graph -> float32 and full-int8 TFLite models.

The cut (graph_cut.find_cut; for the zoo checkpoint the reference's checkpoint.INPUT_TENSOR ->
BOX_ENCODINGS_TENSOR, CLASS_LOGITS_TENSOR) is done with a batch size of 1: the graph is loaded
into a TF1 session with its input tensor replaced (`input_map`) by a [1, height, width, 3] float
placeholder (the pipeline's fixed_shape_resizer size), so every shape downstream is static, the
heads' dynamic-batch Reshape shapes fold into constants and the feature-map sizes can be read
off the heads. (recipe.sh prunes with an unbatched (300, 300, 3) signature and then feeds
batched data.)

The int8 model is fully quantised: per-channel int8 weights (the converter's default for full
integer quantisation; the first convolution's and the first depthwise layer's rounded as
weight_rounding.py chooses, through rounded_graph), int8 activations calibrated on images fed
through the app's preprocessing (see calibration.py), and int8 input/output by default so that nothing runs on the CPU before or
after the NPU (a float interface adds a Quantize and two Dequantize ops that neither the
Ethos-U65 nor the VX delegate would take, and the app quantises its input with a lookup table
anyway). `io_type="float32"` gives the float interface the reference README promised.

Reproducible: no randomness, images in a fixed order, no time stamps in the flatbuffer; the
same TensorFlow version, checkpoint and images give the same bytes (tests convert twice).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Tuple

import numpy as np

from .checkpoint import SERVING_TAGS, Checkpoint
from .errors import ToolsError
from .graph_config import (
    PREPROCESSOR_SCOPE,
    GraphFacts,
    check_normalisation,
    check_pipeline_against_graph,
    const_node,
    fit_anchor_config,
    pipeline_from_graph,
    read_graph_facts,
)
from .graph_cut import GraphCut, find_cut
from .pipeline_config import SSDPipeline, read_pipeline_config

# Name of the placeholder that replaces INPUT_TENSOR; the TF OD API's own TFLite SSD export
# (export_tflite_ssd_graph) uses this name for the same normalised 300x300 input.
INPUT_NAME = "normalized_input_image_tensor"
IO_TYPES = ("int8", "float32")
# --weight-rounding: weight_rounding.py's choice for the first depthwise layer, or the converter's nearest.
WEIGHT_ROUNDINGS = ("adaptive", "nearest")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def read_graph_def(checkpoint: Checkpoint):
    """The export's GraphDef (the SavedModel's serving meta graph, or the frozen graph)."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    path = checkpoint.graph_file
    try:
        data = path.read_bytes()
        if checkpoint.saved_model_dir is None:
            return graph_pb2.GraphDef.FromString(data)
        saved_model = saved_model_pb2.SavedModel.FromString(data)
    except (OSError, DecodeError) as error:
        raise ToolsError(f"cannot read {path}: {_first_line(error)}") from None
    for meta_graph in saved_model.meta_graphs:
        if set(SERVING_TAGS) <= set(meta_graph.meta_info_def.tags):
            return meta_graph.graph_def
    raise ToolsError(f"{path} has no meta graph tagged {', '.join(SERVING_TAGS)}")


@dataclass(frozen=True)
class CutGraph:
    """An export and where to cut it, at the pipeline's input size."""

    checkpoint: Checkpoint
    cut: GraphCut
    input_size: Tuple[int, int]  # (height, width)


def find_graph_cut(checkpoint: Checkpoint, input_size: Tuple[int, int]) -> CutGraph:
    return CutGraph(checkpoint, find_cut(read_graph_def(checkpoint), str(checkpoint.graph_file)), input_size)


@contextlib.contextmanager
def _pruned_session(model: CutGraph, graph_def=None):
    """A TF1 session holding the export (or `graph_def`, an edited copy of its graph) with its
    input replaced by a batch-1 placeholder."""
    import tensorflow as tf

    height, width = model.input_size
    source = model.checkpoint.graph_file
    graph = tf.Graph()
    with graph.as_default():
        placeholder = tf.compat.v1.placeholder(tf.float32, [1, height, width, 3], name=INPUT_NAME)
        with tf.compat.v1.Session(graph=graph) as session:
            input_map = {model.cut.input_tensor: placeholder}
            try:
                if graph_def is not None:
                    tf.compat.v1.import_graph_def(graph_def, input_map=input_map, name="")
                elif model.checkpoint.saved_model_dir is not None:
                    tf.compat.v1.saved_model.loader.load(
                        session, list(SERVING_TAGS), str(model.checkpoint.saved_model_dir), input_map=input_map
                    )
                else:
                    tf.compat.v1.import_graph_def(read_graph_def(model.checkpoint), input_map=input_map, name="")
            except (OSError, RuntimeError, ValueError, tf.errors.OpError) as error:
                raise ToolsError(f"cannot load {source}: {_first_line(error)}") from None
            outputs = [
                graph.get_tensor_by_name(model.cut.box_encodings_tensor),
                graph.get_tensor_by_name(model.cut.class_predictions_tensor),
            ]
            yield session, placeholder, outputs


@dataclass(frozen=True)
class HeadShapes:
    """What the heads predict at the pipeline's input size, read from the loaded graph."""

    feature_map_shapes: Tuple[Tuple[int, int], ...]  # (height, width) of each map the heads run on
    anchors_per_location: Tuple[int, ...]
    num_anchors: int
    class_columns: int  # num_classes + 1 (background)


def inspect_heads(model: CutGraph, anchors_tensor: Optional[str] = None) -> Tuple[HeadShapes, Optional[np.ndarray]]:
    """Feature-map sizes and anchors per cell from the heads' static shapes at the input size, and,
    when `anchors_tensor` names the export's MultipleGridAnchorGenerator output, the anchors it
    computes there as [N, 4] (ymin, xmin, ymax, xmax) rows normalised to the image (graph_config
    fits them); one session for both."""
    import tensorflow as tf

    height, width = model.input_size
    with _quiet_tensorflow(), _pruned_session(model) as (session, placeholder, outputs):
        graph = session.graph
        maps, per_location = [], []
        for op_name in model.cut.box_heads:
            shape = graph.get_operation_by_name(op_name).outputs[0].shape.as_list()
            if len(shape) != 4 or None in shape[1:] or shape[3] % 4:
                raise ToolsError(f"{model.checkpoint.graph_file}: head {op_name} has shape {shape}, not [1, h, w, 4k]")
            maps.append((shape[1], shape[2]))
            per_location.append(shape[3] // 4)
        boxes, classes = (tensor.shape.as_list() for tensor in outputs)
        corners = None
        if anchors_tensor is not None:
            try:
                tensor = graph.get_tensor_by_name(anchors_tensor)
                # Static at a fixed input size; the feed covers generators that read the feature maps' shapes.
                corners = np.asarray(session.run(tensor, {placeholder: np.zeros((1, height, width, 3), np.float32)}))
            except (KeyError, ValueError, tf.errors.OpError) as error:
                raise ToolsError(
                    f"cannot run the anchor generator {anchors_tensor} of {model.checkpoint.graph_file}: "
                    f"{_first_line(error)}"
                ) from None
    if None in boxes[1:] or None in classes[1:]:
        raise ToolsError(f"{model.checkpoint.graph_file}: head outputs {boxes} and {classes} are not static at batch 1")
    return HeadShapes(tuple(maps), tuple(per_location), boxes[1], classes[-1]), corners


@dataclass(frozen=True)
class Export:
    """An export read for conversion: its settings, where to cut it, and what its heads predict."""

    pipeline: SSDPipeline
    model: CutGraph
    heads: HeadShapes
    # True when there was no pipeline.config and every setting came from the graph itself.
    from_graph: bool
    # Settings of a given pipeline.config that were checked against the graph (graph_config).
    checked_against_graph: Tuple[str, ...]
    # The export's GraphDef, read once (rounded_graph edits a copy).
    graph_def: object = field(default=None, compare=False, repr=False)


def read_export(checkpoint: Checkpoint) -> Export:
    """pipeline.config when the export has one, checked against the graph's own settings and
    anchors; else the settings the graph holds (graph_config). ToolsError on any disagreement."""
    graph_def = read_graph_def(checkpoint)
    source = str(checkpoint.graph_file)
    cut = find_cut(graph_def, source)
    facts: GraphFacts = read_graph_facts(graph_def, cut.input_tensor, cut.class_predictions_tensor, source)
    check_normalisation(facts)
    config_file = checkpoint.find_pipeline_config()
    pipeline = read_pipeline_config(config_file) if config_file is not None else None
    input_size = pipeline.input_size if pipeline is not None else facts.input_size
    if input_size is None:
        raise ToolsError(
            f"{source} has no pipeline.config beside it, and no fixed-size resize in {PREPROCESSOR_SCOPE} tells "
            "its input size; pass the export folder with its pipeline.config"
        )
    model = CutGraph(checkpoint, cut, input_size)
    heads, corners = inspect_heads(model, facts.anchors_tensor)
    if pipeline is not None:
        checked = check_pipeline_against_graph(pipeline, facts, corners, heads.feature_map_shapes)
        return Export(pipeline, model, heads, False, tuple(checked), graph_def)
    anchors = None
    if corners is not None:
        anchors = fit_anchor_config(corners, heads.feature_map_shapes, heads.anchors_per_location, input_size, source)
    return Export(pipeline_from_graph(facts, heads.class_columns, anchors), model, heads, True, (), graph_def)


def _converter(session, placeholder, outputs):
    import tensorflow as tf

    # from_session freezes the session's graph and keeps only what the outputs need: the
    # preprocessing in front of the cut and the post-processing (NMS) behind it drop out.
    return tf.compat.v1.lite.TFLiteConverter.from_session(session, [placeholder], outputs)


@contextlib.contextmanager
def _quiet_tensorflow():
    """TF1 loading and the converter log deprecation notices and graph dumps; keep output readable."""
    import tensorflow as tf

    logger = tf.get_logger()
    previous = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(previous)


def convert_float(model: CutGraph) -> bytes:
    """The pruned graph as a float32 TFLite model (batch-norm folded by the converter)."""
    with _quiet_tensorflow(), _pruned_session(model) as (session, placeholder, outputs):
        return bytes(_converter(session, placeholder, outputs).convert())


def convert_int8(
    model: CutGraph,
    representative_dataset: Callable[[], Iterator[list[np.ndarray]]],
    *,
    io_type: str = "int8",
    graph_def=None,
) -> bytes:
    """Full-integer model: int8 weights (per channel) and activations, `io_type` input/output;
    from `graph_def` (e.g. rounded_graph's) instead of the export's own graph if given."""
    import tensorflow as tf

    if io_type not in IO_TYPES:
        raise ToolsError(f"--io-type must be one of {', '.join(IO_TYPES)}, got {io_type!r}")
    with _quiet_tensorflow(), _pruned_session(model, graph_def) as (session, placeholder, outputs):
        converter = _converter(session, placeholder, outputs)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        # Fail instead of silently leaving float ops in the graph: every op must have an int8 kernel.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_type == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        try:
            return bytes(converter.convert())
        except Exception as error:  # the converter raises ConverterError/RuntimeError/ValueError
            if isinstance(error, ToolsError):
                raise
            raise ToolsError(f"int8 conversion failed: {_first_line(error)}") from None


@dataclass(frozen=True)
class RoundedLayer:
    """One convolution whose int8 weight rounding was chosen on calibration data."""

    name: str
    channels: int
    search: str  # "exhaustive" (choose_rounding, depthwise 3x3) or "greedy" (descend_rounding, Conv2D)
    nearest_error: float  # sum over channels of the expected squared output error, nearest rounding
    chosen_error: float  # the same with the chosen rounding


def _plain_kernel(nodes: dict, node):
    """The Const holding `node`'s 4-D weights if they are constants and it has no dilation, else None."""
    weights = const_node(nodes, node.input[1])
    dilations = list(node.attr["dilations"].list.i) or [1, 1, 1, 1]
    if weights is None or any(d != 1 for d in dilations):
        return None
    shape = [dim.size for dim in weights.attr["value"].tensor.tensor_shape.dim]
    return weights if len(shape) == 4 else None


def depthwise_layers(graph_def, cut: GraphCut) -> list:
    """(op, weights Const) of each depthwise convolution the cut keeps whose weights are constants
    with a depth multiplier of 1 and no dilation (the layers rounded_graph handles)."""
    nodes = {node.name: node for node in graph_def.node}
    kept = ("FeatureExtractor/", "BoxPredictor_")
    found = []
    for node in graph_def.node:
        if node.op != "DepthwiseConv2dNative" or not node.name.startswith(kept):
            continue
        weights = _plain_kernel(nodes, node)
        if weights is not None and weights.attr["value"].tensor.tensor_shape.dim[3].size == 1:
            found.append((node, weights))
    return found


def first_convolution(graph_def, cut: GraphCut) -> list:
    """[(op, weights Const)] of the Conv2D that reads the cut's input (MobileNetV2's first 3x3
    convolution, 3 -> 32 channels), when its weights are constants and it has no dilation; else []."""
    nodes = {node.name: node for node in graph_def.node}
    source = cut.input_tensor[:-2] if cut.input_tensor.endswith(":0") else cut.input_tensor
    for node in graph_def.node:
        if node.op == "Conv2D" and node.input and node.input[0] in (source, source + ":0"):
            weights = _plain_kernel(nodes, node)
            return [(node, weights)] if weights is not None else []
    return []


def first_layers(graph_def, cut: GraphCut) -> list:
    """Op names of the layers convert's adaptive rounding takes, in graph order: the first Conv2D and
    the first depthwise convolution, where nearest rounding costs as much accuracy as the whole
    int8 conversion (model-tools/README.md)."""
    return [op.name for op, _ in first_convolution(graph_def, cut) + depthwise_layers(graph_def, cut)[:1]]


def rounded_graph(
    model: CutGraph, representative_dataset: Callable[[], Iterator[list[np.ndarray]]], layer_names=None,
    graph_def=None,
):
    """The export's graph (`graph_def` if given, which stays unchanged) with weights rounded to the
    int8 grid as weight_rounding chooses on the calibration images, and what that changed:
    (graph_def, [RoundedLayer]). `layer_names`: the ops to round (the first Conv2D and any kept
    depthwise layers; default: every kept depthwise layer), rounded one after the other in graph
    order, each on the input moments of the graph with the ones before it already rounded, so a
    layer's rounding answers the inputs it will really get.

    Depthwise 3x3 channels are searched exhaustively (choose_rounding), the Conv2D's 27 taps per
    output channel greedily from nearest (descend_rounding). Each channel minimises its mean square
    output error over the calibration images. (Minimising its variance instead and taking the mean
    off through the following batch norm's moving mean, or weighting the depthwise errors through
    the ReLU6 and the next 1x1 convolution, measured no better on the real export:
    benchmarks/int8_accuracy.py, model-tools/README.md.)"""
    graph_def = _copy_graph(graph_def if graph_def is not None else read_graph_def(model.checkpoint))
    candidates = first_convolution(graph_def, model.cut) + depthwise_layers(graph_def, model.cut)
    if layer_names is None:
        layers = depthwise_layers(graph_def, model.cut)
    else:
        layers = [(op, weights) for op, weights in candidates if op.name in layer_names]
        unknown = set(layer_names) - {op.name for op, _ in layers}
        if unknown:
            raise ToolsError(
                f"cannot round the weights of {', '.join(sorted(unknown))}: not a layer rounded_graph handles"
            )
    order = {node.name: index for index, node in enumerate(graph_def.node)}
    report = []
    for op, weights in sorted(layers, key=lambda layer: order[layer[0].name]):
        report.append(_round_layer(model, representative_dataset, graph_def, op, weights))
    return graph_def, report


def _round_layer(model: CutGraph, representative_dataset, graph_def, op, weights) -> RoundedLayer:
    """Rounds one layer's weights in `graph_def` (in place) on moments gathered from `graph_def`."""
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    from .weight_rounding import choose_rounding, descend_rounding

    kernel = tensor_util.MakeNdarray(weights.attr["value"].tensor)
    height, width, in_channels, out_channels = kernel.shape
    depthwise = op.op == "DepthwiseConv2dNative"
    with _quiet_tensorflow(), _pruned_session(model, graph_def) as (session, placeholder, _outputs):
        graph = session.graph
        name = op.input[0] if ":" in op.input[0] else op.input[0] + ":0"
        # The cut's input tensor is replaced by the placeholder (input_map): read that instead.
        source = placeholder if name == model.cut.input_tensor else graph.get_tensor_by_name(name)
        patches = tf.image.extract_patches(
            source, sizes=[1, height, width, 1], strides=list(op.attr["strides"].list.i),
            rates=[1, 1, 1, 1], padding=op.attr["padding"].s.decode(),
        )  # fmt: skip
        if depthwise:
            # [1, oh, ow, (kh, kw, C)] -> [N, taps, C]: the input values under each output pixel's kernel.
            patches = tf.reshape(patches, [-1, height * width, in_channels])
            statistics = tf.einsum("nkc,nlc->ckl", patches, patches)  # sums of x x^T per channel
        else:
            # Every output channel sees the same (kh, kw, C_in) patches, the weights' own order.
            patches = tf.reshape(patches, [-1, height * width * in_channels])
            statistics = tf.matmul(patches, patches, transpose_a=True)
        moments = None
        for batch in representative_dataset():
            value = np.asarray(session.run(statistics, {placeholder: batch[0]}), dtype=np.float64)
            moments = value if moments is None else moments + value
    if moments is None:
        raise ToolsError("adaptive rounding needs calibration images; none were given")
    if depthwise:
        result = choose_rounding(kernel.reshape(height * width, in_channels), moments)
    else:
        result = descend_rounding(kernel.reshape(height * width * in_channels, out_channels), moments)
    rounded = result.weights.reshape(kernel.shape).astype(kernel.dtype)
    weights.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(rounded))
    return RoundedLayer(
        op.name, result.weights.shape[1], "exhaustive" if depthwise else "greedy",
        float(result.nearest_error.sum()), float(result.chosen_error.sum()),
    )  # fmt: skip


def _copy_graph(graph_def):
    copy = type(graph_def)()
    copy.CopyFrom(graph_def)
    return copy


def describe_io(model: bytes) -> dict:
    """Name, dtype, shape and quantisation of the model's inputs and outputs (for the manifest)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=model)

    def entry(detail: dict) -> dict:
        scale, zero_point = detail["quantization"]
        return {
            "name": detail["name"],
            "dtype": np.dtype(detail["dtype"]).name,
            "shape": [int(size) for size in detail["shape"]],
            "scale": float(scale),
            "zero_point": int(zero_point),
        }

    return {
        "inputs": [entry(detail) for detail in interpreter.get_input_details()],
        "outputs": [entry(detail) for detail in interpreter.get_output_details()],
    }
