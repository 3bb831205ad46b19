#!/usr/bin/env python3
"""Our numpy post-processing versus TFLite's C++ TFLite_Detection_PostProcess op, in one run.

Inputs: the raw uint8 outputs (box encodings 1x1917x4, class scores 1x1917x91) of the reference
SSD MobileNet v1 (coco_ssd_mobilenet_v1_raw.tflite) for bus.jpg and a few variants of it (flipped,
cropped, down- and up-sized, rotated, greyscale), preprocessed by ssdlite_detect itself.

Timed, interleaved in rounds (the order of the contenders rotates every round, so drifts of a
noisy shared machine hit all of them alike):
  op            invoke() of coco_ssd_postprocess_only.tflite (the C++ op alone; inputs set untimed)
  op+io         the same run including set_tensor of both inputs and get_tensor of the 4 outputs
  agnostic      SSDPostprocessor configured like the op: fast (class-agnostic) NMS, threshold 1e-8,
                IoU 0.6, 10 detections, scales 10/10/5/5, anchors = the model's dequantised
                `anchors` tensor (the op's options cannot be read through the Python API; they are
                those of the reference README)
  class-1e-8    per-class NMS with the pipeline defaults: threshold 1e-8, IoU 0.6, 100 per class,
                100 in all (what COCO evaluation uses)
  class-0.5     per-class NMS with the app's default threshold 0.5

Before timing, it checks once that `agnostic` returns what the op returns (count, classes, scores,
boxes within 1e-4 after clipping to [0, 1]), so the comparison is apples to apples.

Goal: median(agnostic) / median(op) <= 1.0.

    .venv/app/bin/python benchmarks/postprocess_vs_tflite_op.py [--rounds N] [--json]

Reference fixtures: $SSDLITE_REFERENCE_DIR (default <repo>/../shared/reference).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageOps

from ssdlite_detect.decode import BoxCoderScales
from ssdlite_detect.detector import Detector
from ssdlite_detect.postprocess import PostprocessConfig, SSDPostprocessor
from ssdlite_detect.runtime import import_runtime
from ssdlite_detect.scores import ScoreDecoder, infer_score_kind

REPO_ROOT = Path(__file__).resolve().parents[1]
RAW_MODEL = "coco_ssd_mobilenet_v1_raw.tflite"
OP_MODEL = "coco_ssd_postprocess_only.tflite"
PHOTO = "bus.jpg"

# The op's custom options, from the reference README (not readable through the Python API).
OP_MAX_DETECTIONS = 10
OP_IOU_THRESHOLD = 0.6
OP_SCORE_THRESHOLD = float(np.float32(1e-8))
OP_SCALES = BoxCoderScales(y=10.0, x=10.0, h=5.0, w=5.0)
BOX_TOLERANCE = 1e-4

CONTENDERS = ("op", "agnostic", "class-1e-8", "class-0.5")  # op+io is measured within "op"


def reference_dir() -> Path:
    directory = Path(os.environ.get("SSDLITE_REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
    missing = [name for name in (RAW_MODEL, OP_MODEL, PHOTO) if not (directory / name).is_file()]
    if missing:
        sys.exit(f"reference fixtures missing from {directory}: {', '.join(missing)} (set SSDLITE_REFERENCE_DIR)")
    return directory


def photo_variants(photo: Image.Image) -> Dict[str, Image.Image]:
    width, height = photo.size
    return {
        "bus": photo,
        "bus-flipped": ImageOps.mirror(photo),
        "bus-cropped": photo.crop((width // 5, height // 6, width * 4 // 5, height * 5 // 6)),
        "bus-downsized": photo.resize((width // 4, height // 4), Image.BILINEAR).resize((width, height), Image.BILINEAR),
        "bus-upsized": photo.resize((width * 2, height * 2), Image.BICUBIC),
        "bus-rotated": photo.transpose(Image.ROTATE_90),
        "bus-grey": ImageOps.grayscale(photo).convert("RGB"),
    }


def raw_outputs(detector: Detector, images: Dict[str, Image.Image]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """The model's raw uint8 (box encodings [N, 4], class scores [N, C]) for each image."""
    outputs = {}
    for name, image in images.items():
        boxes, classes = detector.infer(detector.preprocess(image))
        outputs[name] = (boxes.copy(), classes.copy())
    return outputs


def model_anchors(interpreter) -> np.ndarray:
    """The unconnected constant `anchors` tensor of the raw model, dequantised as the op does."""
    details = [d for d in interpreter.get_tensor_details() if d["name"] == "anchors"]
    if len(details) != 1:
        sys.exit("the raw model has no single `anchors` tensor")
    scale, zero_point = details[0]["quantization"]
    quantised = interpreter.get_tensor(details[0]["index"])
    return (quantised.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


class TFLiteOp:
    """coco_ssd_postprocess_only.tflite: TFLite's own post-processing, fed raw outputs."""

    def __init__(self, runtime, path: Path):
        self.interpreter = runtime.interpreter_class(model_path=str(path), num_threads=1)
        self.interpreter.allocate_tensors()
        by_name = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self.boxes_input, self.scores_input = by_name["Squeeze"], by_name["convert_scores"]
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self.outputs = [outputs[f"TFLite_Detection_PostProcess{suffix}"] for suffix in ("", ":1", ":2", ":3")]

    def set_inputs(self, boxes: np.ndarray, scores: np.ndarray) -> None:
        self.interpreter.set_tensor(self.boxes_input, boxes.reshape(1, -1, 4))
        self.interpreter.set_tensor(self.scores_input, scores.reshape(1, *scores.shape))

    def read_outputs(self):
        boxes, classes, scores, count = (self.interpreter.get_tensor(i) for i in self.outputs)
        return boxes[0], classes[0], scores[0], int(count[0])

    def timed_run(self, boxes: np.ndarray, scores: np.ndarray) -> Tuple[int, int]:
        """(ns of invoke alone, ns of set inputs + invoke + read outputs)."""
        start = time.perf_counter_ns()
        self.set_inputs(boxes, scores)
        before_invoke = time.perf_counter_ns()
        self.interpreter.invoke()
        after_invoke = time.perf_counter_ns()
        self.read_outputs()
        end = time.perf_counter_ns()
        return after_invoke - before_invoke, end - start


def check_same_as_op(op: TFLiteOp, ours: SSDPostprocessor, outputs) -> List[str]:
    """Differences between our agnostic output and the op's, per input (empty list: identical)."""
    problems = []
    for name, (boxes, scores) in outputs.items():
        op.set_inputs(boxes, scores)
        op.interpreter.invoke()
        op_boxes, op_classes, op_scores, count = op.read_outputs()
        result = ours(boxes, scores)
        if len(result) != count:
            problems.append(f"{name}: {len(result)} detections, the op {count}")
            continue
        if not np.array_equal(result.class_ids - 1, op_classes[:count].astype(np.int64)):
            problems.append(f"{name}: classes {(result.class_ids - 1).tolist()} != op {op_classes[:count].astype(int).tolist()}")
        if not np.allclose(result.scores, op_scores[:count], rtol=0, atol=1e-6):
            problems.append(f"{name}: scores {result.scores.tolist()} != op {op_scores[:count].tolist()}")
        difference = np.abs(np.clip(result.boxes, 0, 1) - np.clip(op_boxes[:count], 0, 1)).max(initial=0.0)
        if difference > BOX_TOLERANCE:
            problems.append(f"{name}: boxes differ by {difference:.2e} after clipping")
    return problems


def run(reference: Path, rounds: int, warm_up: int) -> dict:
    runtime = import_runtime()
    detector = Detector.open(str(reference / RAW_MODEL), device="cpu")
    outputs = raw_outputs(detector, photo_variants(Image.open(reference / PHOTO).convert("RGB")))
    anchors = model_anchors(detector.interpreter)
    classes_spec, boxes_spec = detector.spec.signature.classes, detector.spec.signature.boxes
    score_decoder = ScoreDecoder(
        infer_score_kind(classes_spec.name, classes_spec.dtype, classes_spec.quantization),
        classes_spec.quantization, classes_spec.dtype,
    )

    def postprocessor(config: PostprocessConfig) -> SSDPostprocessor:
        return SSDPostprocessor(anchors, config, score_decoder, boxes_spec.quantization, OP_SCALES)

    ours = {
        "agnostic": postprocessor(PostprocessConfig(
            score_threshold=OP_SCORE_THRESHOLD, iou_threshold=OP_IOU_THRESHOLD,
            max_detections=OP_MAX_DETECTIONS, nms="agnostic",
        )),
        "class-1e-8": postprocessor(PostprocessConfig(
            score_threshold=OP_SCORE_THRESHOLD, iou_threshold=0.6, max_detections=100, max_per_class=100, nms="class",
        )),
        "class-0.5": postprocessor(PostprocessConfig()),
    }
    op = TFLiteOp(runtime, reference / OP_MODEL)

    problems = check_same_as_op(op, ours["agnostic"], outputs)
    if problems:
        raise AssertionError("our agnostic post-processing differs from the op:\n  " + "\n  ".join(problems))

    names = list(outputs)
    samples: Dict[str, Dict[str, List[int]]] = {c: {n: [] for n in names} for c in CONTENDERS + ("op+io",)}

    def measure(contender: str, name: str) -> None:
        boxes, scores = outputs[name]
        if contender == "op":
            invoke_ns, io_ns = op.timed_run(boxes, scores)
            samples["op"][name].append(invoke_ns)
            samples["op+io"][name].append(io_ns)
        else:
            postprocess = ours[contender]
            start = time.perf_counter_ns()
            postprocess(boxes, scores)
            samples[contender][name].append(time.perf_counter_ns() - start)

    for _ in range(warm_up):
        for name in names:
            for contender in CONTENDERS:
                measure(contender, name)
    for contender in samples:
        for name in names:
            samples[contender][name].clear()

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(rounds):
            shift = round_index % len(CONTENDERS)
            order = CONTENDERS[shift:] + CONTENDERS[:shift]
            for name in names:
                for contender in order:
                    measure(contender, name)
    finally:
        if gc_was_enabled:
            gc.enable()

    def median_us(values) -> float:
        return statistics.median(values) / 1000.0

    medians = {c: median_us([v for n in names for v in samples[c][n]]) for c in samples}
    per_input = {c: {n: median_us(samples[c][n]) for n in names} for c in samples}
    counts = {c: {n: len(ours[c](*outputs[n])) for n in names} for c in ours}
    ratio = medians["agnostic"] / medians["op"]
    # The k-th samples of one input come from the same round: their ratio cancels slow drifts.
    paired = statistics.median(
        ours_ns / op_ns for n in names for ours_ns, op_ns in zip(samples["agnostic"][n], samples["op"][n])
    )
    return {
        "reference_dir": str(reference),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "runtime": runtime.name,
        "inputs": names,
        "rounds": rounds,
        "samples_per_contender": rounds * len(names),
        "agnostic_equals_op": True,
        "median_us": medians,
        "per_input_median_us": per_input,
        "detections": counts,
        "ratio_agnostic_over_op": ratio,
        "ratio_agnostic_over_op_paired": paired,
        "ratio_agnostic_over_op_with_io": medians["agnostic"] / medians["op+io"],
        "ratio_over_op": {c: medians[c] / medians["op"] for c in ours},
        "goal_ratio": 1.0,
        "goal_met": ratio <= 1.0,
    }


def format_report(report: dict) -> str:
    descriptions = {
        "op": "TFLite C++ op, invoke only",
        "op+io": "TFLite C++ op, set_tensor + invoke + get_tensor",
        "agnostic": "ours, agnostic NMS like the op (10 det)",
        "class-1e-8": "ours, per-class NMS, threshold 1e-8 (100)",
        "class-0.5": "ours, per-class NMS, threshold 0.5 (app)",
    }
    lines = [
        f"reference SSD MobileNet v1 raw outputs, {len(report['inputs'])} inputs "
        f"({', '.join(report['inputs'])}), {report['rounds']} interleaved rounds "
        f"= {report['samples_per_contender']} samples each",
        f"check: our agnostic output equals the op's on every input (count, classes, scores, "
        f"boxes within {BOX_TOLERANCE:g} after clipping)",
        f"  {'contender':<48} {'median':>10} {'vs op':>7}",
    ]
    op = report["median_us"]["op"]
    for contender in ("op", "op+io", "agnostic", "class-1e-8", "class-0.5"):
        median = report["median_us"][contender]
        lines.append(f"  {descriptions[contender]:<48} {median:>7.1f} us {median / op:>6.2f}x")
    lines.append("  per input, median us (op / agnostic / class-1e-8 / class-0.5; detections class-0.5):")
    for name in report["inputs"]:
        values = [report["per_input_median_us"][c][name] for c in ("op", "agnostic", "class-1e-8", "class-0.5")]
        lines.append(
            f"    {name:<14} " + " / ".join(f"{v:7.1f}" for v in values)
            + f"   ({report['detections']['class-0.5'][name]} det)"
        )
    verdict = "met" if report["goal_met"] else "NOT met"
    lines.append(
        f"ratio ours/op (agnostic / op invoke) = {report['ratio_agnostic_over_op']:.2f} "
        f"(goal <= {report['goal_ratio']:.1f}: {verdict}); median of same-round ratios "
        f"{report['ratio_agnostic_over_op_paired']:.2f}; against op with tensor I/O "
        f"{report['ratio_agnostic_over_op_with_io']:.2f}"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="interleaved timing rounds (default 200)")
    parser.add_argument("--warm-up", type=int, default=5, help="untimed rounds first (default 5)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    report = run(reference_dir(), args.rounds, max(args.warm_up, 0))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
