"""The options every mode shares: the model and its backend, the detections' thresholds and
classes, the outputs; and the Detector they describe.

Parsing needs only argparse: the model is opened (numpy, Pillow, TFLite) by open_detector, after
the mode's own checks have passed.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from .options import OptionRegistry, at_most, fraction, positive_int

MODEL_ENVIRONMENT = "SSDLITE_MODEL"  # overrides the installed model (--model wins)


def add_model_arguments(registry: OptionRegistry) -> None:
    model = registry.group("model and backend")
    model.add("--model", help="a .tflite model (default: the installed one that fits this SoC)")
    model.add("--labels", help="labels file, one per line, line i = class id i (default: beside the model)")
    model.add("--device", choices=("auto", "cpu", "npu"), default="auto",
              help="auto: NPU if present, else CPU (default); npu: fail without one")
    model.add("--delegate", metavar="PATH", help="external TFLite delegate library to use")
    model.add("--threads", type=at_most(positive_int, 1024), help="CPU threads (default: one per core)")
    model.add("--score-kind", choices=("auto", "logits", "probabilities", "softmax"), default="auto",
              help="class output: logits (sigmoid), probabilities, or softmax logits "
              "(default: the model's model.json, else read the model)")
    post = registry.group("detections")
    post.add("--score-threshold", type=fraction, default=0.5, help="minimum score (default 0.5)")
    post.add("--iou-threshold", type=fraction, default=0.6, help="NMS IoU threshold (default 0.6)")
    post.add("--max-detections", type=at_most(positive_int, 100000), default=100, help="at most this many per image (default 100)")
    post.add("--max-per-class", type=at_most(positive_int, 100000), default=100, help="at most this many per class with --nms class")
    post.add("--nms", choices=("class", "agnostic"), default="class",
             help="class: per-class NMS (TF OD API default); agnostic: TFLite's fast NMS")
    post.add("--classes", metavar="NAMES", help="comma-separated class names to keep, e.g. person,car")


def add_output_arguments(registry: OptionRegistry) -> None:
    out = registry.group("output")
    out.add("--json", action="store_true", help="print one JSON object per image or frame (JSON Lines)")
    out.add("--output", metavar="DIR|FILE",
            help="images: write annotated copies into DIR; --source: write the annotated video "
            "to FILE (.mkv or .avi: MJPEG, or H.264 on the i.MX 8M Plus; .mp4 and .mov need H.264)")
    out.add("--benchmark", type=at_most(positive_int, 1000000), metavar="N",
            help="time N end-to-end runs on the first image (after a warm-up run)")
    out.add("--verbose", action="store_true",
            help="say on stderr which model, description (model.json), anchors and scores are used")
    out.add("--config", metavar="FILE",
            help="TOML file of settings named like these long options, in any mode (the command line wins)")


@dataclass(frozen=True)
class DetectorOptions:
    """The model and detection options of the command line, typed (see open_detector)."""

    model_path: Optional[str]
    labels: Optional[str]
    device: str
    delegate_path: Optional[str]
    threads: Optional[int]
    score_kind: Optional[str]
    score_threshold: float
    iou_threshold: float
    max_detections: int
    max_per_class: int
    nms: str
    class_names: Tuple[str, ...]
    verbose: bool


def detector_options(args: argparse.Namespace) -> DetectorOptions:
    return DetectorOptions(
        model_path=args.model or os.environ.get(MODEL_ENVIRONMENT) or None,
        labels=args.labels, device=args.device, delegate_path=args.delegate, threads=args.threads,
        score_kind=None if args.score_kind == "auto" else args.score_kind,
        score_threshold=args.score_threshold, iou_threshold=args.iou_threshold,
        max_detections=args.max_detections, max_per_class=args.max_per_class, nms=args.nms,
        class_names=tuple(name for name in (args.classes or "").split(",") if name.strip()),
        verbose=args.verbose,
    )


def open_detector(options: DetectorOptions, note: Callable[[str], None]):
    """The Detector the options describe; a backend fallback and --verbose's report go to `note`."""
    from ..detector import Detector
    from ..labels import class_ids_for_names
    from ..model import ModelOptions, open_model
    from ..postprocess import PostprocessConfig

    model = open_model(ModelOptions(
        options.model_path, labels=options.labels, device=options.device, delegate_path=options.delegate_path,
        threads=options.threads, score_kind=options.score_kind,
    ), on_fallback=note)
    if options.verbose:
        describe_model(model.spec, note)
    class_ids = class_ids_for_names(model.spec.labels, options.class_names) if options.class_names else None
    return Detector(model, PostprocessConfig(
        score_threshold=options.score_threshold, iou_threshold=options.iou_threshold,
        max_detections=options.max_detections, max_per_class=options.max_per_class, nms=options.nms,
        class_ids=class_ids,
    ))


def describe_model(spec, note: Callable[[str], None]) -> None:
    info = spec.info()
    if info["description"] is None:
        note(f"no model description (model.json naming {os.path.basename(info['model'])}) beside the model: "
             "COCO defaults (SSDLite MobileNetV2 anchors, sigmoid scores, COCO labels)")
    for key, value in info.items():
        note(f"  {key}: {value}")
