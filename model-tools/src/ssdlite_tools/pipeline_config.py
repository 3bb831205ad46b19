"""A TF Object Detection API `pipeline.config` (protobuf text format), read into what convert needs.

The OD API's .proto files are not installed here (the `object_detection` package needs TF1), so
this module declares the part of their schema that decides how an exported SSD runs, with the
same message names, field names, numbers and defaults as tensorflow/models
research/object_detection/protos (pipeline, model, ssd, image_resizer, anchor_generator,
ssd_anchor_generator, box_coder, faster_rcnn_box_coder, post_processing, input_reader,
string_int_label_map), and lets protobuf's own text-format parser read the file. Fields outside
that subset (losses, matcher, hyperparameters, training) are skipped by the parser; they do not
change inference.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

import numpy as np

from ssdlite_detect.anchors import AnchorConfig
from ssdlite_detect.decode import BoxCoderScales
from ssdlite_detect.labels import UNUSED

from .errors import ToolsError

PIPELINE_CONFIG_NAME = "pipeline.config"
PACKAGE = "object_detection.protos"

# Feature extractors whose exported graphs convert has rules for (feature maps under
# `FeatureExtractor/`, convolutional box predictor heads `BoxPredictor_N/...`).
SUPPORTED_FEATURE_EXTRACTORS = ("ssd_mobilenet_v1", "ssd_mobilenet_v2")

# message -> [(field, number, type, label, default or message/enum type)]. Types: protobuf's
# FieldDescriptorProto names without TYPE_. Label: "optional" or "repeated".
_SCHEMA = {
    "TrainEvalPipelineConfig": [
        ("model", 1, "MESSAGE", "optional", "DetectionModel"),
        ("train_input_reader", 3, "MESSAGE", "optional", "InputReader"),
    ],
    "InputReader": [("label_map_path", 1, "STRING", "optional", None)],
    # oneof model in model.proto; the other members are declared so they can be named in errors.
    "DetectionModel": [
        ("faster_rcnn", 1, "MESSAGE", "optional", "OtherModel"),
        ("ssd", 2, "MESSAGE", "optional", "Ssd"),
        ("experimental_model", 3, "MESSAGE", "optional", "OtherModel"),
        ("center_net", 4, "MESSAGE", "optional", "OtherModel"),
    ],
    "OtherModel": [],
    "Ssd": [
        ("num_classes", 1, "INT32", "optional", None),
        ("image_resizer", 2, "MESSAGE", "optional", "ImageResizer"),
        ("feature_extractor", 3, "MESSAGE", "optional", "SsdFeatureExtractor"),
        ("box_coder", 4, "MESSAGE", "optional", "BoxCoder"),
        ("anchor_generator", 8, "MESSAGE", "optional", "AnchorGenerator"),
        ("post_processing", 9, "MESSAGE", "optional", "PostProcessing"),
        ("add_background_class", 21, "BOOL", "optional", "true"),
    ],
    "SsdFeatureExtractor": [
        ("type", 1, "STRING", "optional", None),
        ("depth_multiplier", 2, "FLOAT", "optional", "1.0"),
        ("min_depth", 3, "INT32", "optional", "16"),
        ("pad_to_multiple", 5, "INT32", "optional", "1"),
        ("use_explicit_padding", 7, "BOOL", "optional", "false"),
        ("use_depthwise", 8, "BOOL", "optional", "false"),
        ("fpn", 10, "MESSAGE", "optional", "OtherModel"),
    ],
    "ImageResizer": [
        ("keep_aspect_ratio_resizer", 1, "MESSAGE", "optional", "OtherModel"),
        ("fixed_shape_resizer", 2, "MESSAGE", "optional", "FixedShapeResizer"),
        ("identity_resizer", 3, "MESSAGE", "optional", "OtherModel"),
        ("conditional_shape_resizer", 4, "MESSAGE", "optional", "OtherModel"),
        ("pad_to_multiple_resizer", 5, "MESSAGE", "optional", "OtherModel"),
    ],
    "FixedShapeResizer": [
        ("height", 1, "INT32", "optional", "300"),
        ("width", 2, "INT32", "optional", "300"),
        ("convert_to_grayscale", 4, "BOOL", "optional", "false"),
    ],
    "AnchorGenerator": [
        ("grid_anchor_generator", 1, "MESSAGE", "optional", "OtherModel"),
        ("ssd_anchor_generator", 2, "MESSAGE", "optional", "SsdAnchorGenerator"),
        ("multiscale_anchor_generator", 3, "MESSAGE", "optional", "OtherModel"),
        ("flexible_grid_anchor_generator", 4, "MESSAGE", "optional", "OtherModel"),
    ],
    "SsdAnchorGenerator": [
        ("num_layers", 1, "INT32", "optional", "6"),
        ("min_scale", 2, "FLOAT", "optional", "0.2"),
        ("max_scale", 3, "FLOAT", "optional", "0.95"),
        ("scales", 12, "FLOAT", "repeated", None),
        ("aspect_ratios", 4, "FLOAT", "repeated", None),
        ("interpolated_scale_aspect_ratio", 13, "FLOAT", "optional", "1.0"),
        ("reduce_boxes_in_lowest_layer", 5, "BOOL", "optional", "true"),
        ("base_anchor_height", 6, "FLOAT", "optional", "1.0"),
        ("base_anchor_width", 7, "FLOAT", "optional", "1.0"),
        ("height_stride", 8, "INT32", "repeated", None),
        ("width_stride", 9, "INT32", "repeated", None),
        ("height_offset", 10, "INT32", "repeated", None),
        ("width_offset", 11, "INT32", "repeated", None),
    ],
    "BoxCoder": [
        ("faster_rcnn_box_coder", 1, "MESSAGE", "optional", "FasterRcnnBoxCoder"),
        ("mean_stddev_box_coder", 2, "MESSAGE", "optional", "OtherModel"),
        ("square_box_coder", 3, "MESSAGE", "optional", "OtherModel"),
        ("keypoint_box_coder", 4, "MESSAGE", "optional", "OtherModel"),
    ],
    "FasterRcnnBoxCoder": [
        ("y_scale", 1, "FLOAT", "optional", "10.0"),
        ("x_scale", 2, "FLOAT", "optional", "10.0"),
        ("height_scale", 3, "FLOAT", "optional", "5.0"),
        ("width_scale", 4, "FLOAT", "optional", "5.0"),
    ],
    "PostProcessing": [
        ("batch_non_max_suppression", 1, "MESSAGE", "optional", "BatchNonMaxSuppression"),
        ("score_converter", 2, "ENUM", "optional", ("PostProcessing.ScoreConverter", "IDENTITY")),
        ("logit_scale", 3, "FLOAT", "optional", "1.0"),
    ],
    "BatchNonMaxSuppression": [
        ("score_threshold", 1, "FLOAT", "optional", "0.0"),
        ("iou_threshold", 2, "FLOAT", "optional", "0.6"),
        ("max_detections_per_class", 3, "INT32", "optional", "100"),
        ("max_total_detections", 5, "INT32", "optional", "100"),
    ],
    "StringIntLabelMap": [("item", 1, "MESSAGE", "repeated", "StringIntLabelMapItem")],
    "StringIntLabelMapItem": [
        ("name", 1, "STRING", "optional", None),
        ("id", 2, "INT32", "optional", None),
        ("display_name", 3, "STRING", "optional", None),
    ],
}
_ENUMS = {"PostProcessing": {"ScoreConverter": (("IDENTITY", 0), ("SIGMOID", 1), ("SOFTMAX", 2))}}

_messages = None


def _message_classes() -> dict:
    """Message classes built once from _SCHEMA through a private descriptor pool."""
    global _messages
    if _messages is not None:
        return _messages
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file_proto = descriptor_pb2.FileDescriptorProto(
        name="ssdlite_tools/object_detection_subset.proto", package=PACKAGE, syntax="proto2"
    )
    field_type = descriptor_pb2.FieldDescriptorProto
    for message_name, fields in _SCHEMA.items():
        message = file_proto.message_type.add(name=message_name)
        for enum_name, values in _ENUMS.get(message_name, {}).items():
            enum = message.enum_type.add(name=enum_name)
            for value_name, number in values:
                enum.value.add(name=value_name, number=number)
        for name, number, kind, label, extra in fields:
            field = message.field.add(
                name=name,
                number=number,
                type=getattr(field_type, "TYPE_" + kind),
                label=getattr(field_type, "LABEL_" + label.upper()),
            )
            if kind == "MESSAGE":
                field.type_name = f".{PACKAGE}.{extra}"
            elif kind == "ENUM":
                field.type_name = f".{PACKAGE}.{extra[0]}"
                field.default_value = extra[1]
            elif extra is not None:
                field.default_value = extra
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    _messages = {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}")) for name in _SCHEMA
    }
    return _messages


def parse_text(text: str, message_name: str, source: str):
    """Parse protobuf text format into the named message; ToolsError with the parser's reason."""
    from google.protobuf import text_format

    message = _message_classes()[message_name]()
    try:
        text_format.Parse(text, message, allow_unknown_field=True)
    except text_format.ParseError as error:
        raise ToolsError(f"{source}: not a valid {message_name} in protobuf text format ({error})") from None
    return message


def _float32_value(value: float) -> float:
    """A proto float field as the decimal the user wrote (0.2, not 0.20000000298023224)."""
    return float(repr(np.float32(value)))


@dataclass(frozen=True)
class SSDPipeline:
    """What an exported SSD's pipeline.config says about running it."""

    num_classes: int
    input_size: Tuple[int, int]  # fixed_shape_resizer (height, width)
    feature_extractor: str
    anchors: AnchorConfig  # feature_map_shapes are filled in from the graph by convert
    box_coder: BoxCoderScales
    score_converter: str  # SIGMOID, SOFTMAX or IDENTITY
    logit_scale: float
    label_map_path: str  # train_input_reader.label_map_path as written (a path on the training host)
    source: str


def _which(message, choices: tuple) -> str | None:
    return next((name for name in choices if message.HasField(name)), None)


def read_pipeline_config(path: Path) -> SSDPipeline:
    """Read and check `path`; every unsupported or inconsistent setting is a one-line ToolsError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ToolsError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ToolsError(f"{path} is not a text pipeline.config") from None
    config = parse_text(text, "TrainEvalPipelineConfig", str(path))
    kind = _which(config.model, ("ssd", "faster_rcnn", "center_net", "experimental_model"))
    if kind != "ssd":
        found = f"model {{ {kind} }}" if kind else "no model { ssd { ... } } block"
        raise ToolsError(f"{path} does not describe an SSD model ({found}): only TF OD API SSD exports can be converted")
    ssd = config.model.ssd
    if ssd.num_classes < 1:
        raise ToolsError(f"{path}: model.ssd.num_classes is missing or < 1")
    if not ssd.add_background_class:
        raise ToolsError(f"{path}: add_background_class: false is not supported (the app expects class 0 = background)")

    extractor = ssd.feature_extractor
    if extractor.type not in SUPPORTED_FEATURE_EXTRACTORS or extractor.HasField("fpn"):
        name = extractor.type + (" with fpn" if extractor.HasField("fpn") else "") if extractor.type else "(none)"
        raise ToolsError(
            f"{path}: feature extractor {name} is not supported; supported: {', '.join(SUPPORTED_FEATURE_EXTRACTORS)}"
        )

    resizer = _which(ssd.image_resizer, ("fixed_shape_resizer", "keep_aspect_ratio_resizer", "identity_resizer",
                                          "conditional_shape_resizer", "pad_to_multiple_resizer"))
    if resizer != "fixed_shape_resizer":
        raise ToolsError(
            f"{path}: image_resizer {resizer or '(none)'} is not supported; the board needs a fixed_shape_resizer"
        )
    fixed = ssd.image_resizer.fixed_shape_resizer
    if fixed.convert_to_grayscale:
        raise ToolsError(f"{path}: fixed_shape_resizer with convert_to_grayscale is not supported (the app feeds RGB)")

    generator = _which(ssd.anchor_generator, ("ssd_anchor_generator", "grid_anchor_generator",
                                               "multiscale_anchor_generator", "flexible_grid_anchor_generator"))
    if generator != "ssd_anchor_generator":
        raise ToolsError(f"{path}: anchor generator {generator or '(none)'} is not supported; use ssd_anchor_generator")
    anchor_config = _anchor_config(ssd.anchor_generator.ssd_anchor_generator, (fixed.height, fixed.width), path)

    coder = _which(ssd.box_coder, ("faster_rcnn_box_coder", "mean_stddev_box_coder", "square_box_coder",
                                   "keypoint_box_coder"))
    if coder != "faster_rcnn_box_coder":
        raise ToolsError(f"{path}: box coder {coder or '(none)'} is not supported; use faster_rcnn_box_coder")
    scales = ssd.box_coder.faster_rcnn_box_coder

    post = ssd.post_processing
    converter = type(post).ScoreConverter.Name(post.score_converter)
    if post.logit_scale <= 0:
        raise ToolsError(f"{path}: post_processing.logit_scale must be > 0, got {post.logit_scale}")
    return SSDPipeline(
        num_classes=ssd.num_classes,
        input_size=(fixed.height, fixed.width),
        feature_extractor=extractor.type,
        anchors=anchor_config,
        box_coder=BoxCoderScales(*(_float32_value(v) for v in (scales.y_scale, scales.x_scale,
                                                               scales.height_scale, scales.width_scale))),
        score_converter=converter,
        logit_scale=_float32_value(post.logit_scale),
        label_map_path=config.train_input_reader.label_map_path,
        source=str(path),
    )


def _anchor_config(generator, input_size: Tuple[int, int], path: Path) -> AnchorConfig:
    """The app's AnchorConfig for an ssd_anchor_generator block (feature maps still unknown)."""
    strides = list(zip(generator.height_stride, generator.width_stride))
    offsets = list(zip(generator.height_offset, generator.width_offset))
    for name, first, second, pairs in (
        ("height_stride/width_stride", generator.height_stride, generator.width_stride, strides),
        ("height_offset/width_offset", generator.height_offset, generator.width_offset, offsets),
    ):
        if len(first) != len(second) or (pairs and len(pairs) != generator.num_layers):
            raise ToolsError(
                f"{path}: ssd_anchor_generator {name} need one value per layer ({generator.num_layers}), "
                f"got {len(first)} and {len(second)}"
            )
    if generator.scales and len(generator.scales) != generator.num_layers:
        raise ToolsError(
            f"{path}: ssd_anchor_generator has {len(generator.scales)} scales for {generator.num_layers} layers"
        )
    if generator.num_layers < 1:
        raise ToolsError(f"{path}: ssd_anchor_generator num_layers must be >= 1")
    # anchor_generator_builder passes the repeated field as it is: none listed means none.
    ratios = tuple(_float32_value(r) for r in generator.aspect_ratios)
    return AnchorConfig(
        num_layers=generator.num_layers,
        min_scale=_float32_value(generator.min_scale),
        max_scale=_float32_value(generator.max_scale),
        aspect_ratios=ratios,
        interpolated_scale_aspect_ratio=_float32_value(generator.interpolated_scale_aspect_ratio),
        reduce_boxes_in_lowest_layer=generator.reduce_boxes_in_lowest_layer,
        base_anchor_size=(_float32_value(generator.base_anchor_height), _float32_value(generator.base_anchor_width)),
        scales=tuple(_float32_value(s) for s in generator.scales),
        anchor_strides=tuple((float(y), float(x)) for y, x in strides),
        anchor_offsets=tuple((float(y), float(x)) for y, x in offsets),
        feature_map_shapes=(),
        image_size=input_size,
    )


def read_label_map(path: Path, num_classes: int) -> Tuple[str, ...]:
    """Labels (line i = class id i) from a StringIntLabelMap; gaps and line 0 are "???".

    display_name is used when given, else name. ids must be 1..num_classes and unique.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ToolsError(f"cannot read label map {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ToolsError(f"label map {path} is not UTF-8 text") from None
    label_map = parse_text(text, "StringIntLabelMap", str(path))
    if not label_map.item:
        raise ToolsError(f"label map {path} has no item {{ id name }} entries")
    labels = [UNUSED] * (num_classes + 1)
    seen = set()
    for item in label_map.item:
        if not item.HasField("id"):
            raise ToolsError(f"label map {path}: item {item.name!r} has no id")
        if item.id < 1 or item.id > num_classes:
            raise ToolsError(
                f"label map {path} has id {item.id} ({item.name!r}) but pipeline.config num_classes is {num_classes} "
                f"(ids must be 1..{num_classes}; 0 is background)"
            )
        if item.id in seen:
            raise ToolsError(f"label map {path} lists id {item.id} twice")
        seen.add(item.id)
        name = (item.display_name or item.name).strip()
        if not name or "\n" in name:
            raise ToolsError(f"label map {path}: id {item.id} has no usable name")
        labels[item.id] = name
    return tuple(labels)
