#!/usr/bin/env python3
"""Per-frame cost of the app around the model versus the model itself, in one run.

For a 1280x720 JPEG (bus.jpg stretched to 1280x720 and saved at quality 90 in a temporary
directory, so every run sees the same file), each frame does, timed separately:
  load+preprocess   Detector.load (JPEG decode, at reduced scale where possible) + Detector.preprocess
  invoke            interpreter.invoke() on the CPU (input set and outputs read untimed, reported apart)
  postprocess       Detector.postprocessor (threshold, decode, NMS) + Detector.to_detections
The three run back to back in every frame, so they are interleaved and share the machine's state.

Goal: median(load+preprocess + postprocess) <= 10% of median(invoke).

The real SSDLite MobileNetV2 model is not available on this host: by default the reference
SSD MobileNet v1 (uint8, 300x300, same 1917 anchors and 91 classes, raw outputs) stands in for it,
and the report says so. --model PATH times another model (e.g. a stand-in SSDLite int8 model).

    .venv/app/bin/python benchmarks/frame_overhead.py [--model PATH] [--frames N] [--threads N] [--json]

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
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

from ssdlite_detect.detector import Detector

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_MODEL = "coco_ssd_mobilenet_v1_raw.tflite"
PHOTO = "bus.jpg"
FRAME_SIZE = (1280, 720)
JPEG_QUALITY = 90
GOAL = 0.10


def reference_dir(need_model: bool) -> Path:
    directory = Path(os.environ.get("SSDLITE_REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
    required = [PHOTO] + ([REFERENCE_MODEL] if need_model else [])
    missing = [name for name in required if not (directory / name).is_file()]
    if missing:
        sys.exit(f"reference fixtures missing from {directory}: {', '.join(missing)} (set SSDLITE_REFERENCE_DIR)")
    return directory


def write_frame(photo: Path, directory: str) -> str:
    """bus.jpg stretched to 1280x720, JPEG quality 90: deterministic for a given Pillow."""
    path = os.path.join(directory, "frame_1280x720.jpg")
    with Image.open(photo) as image:
        image.convert("RGB").resize(FRAME_SIZE, Image.BILINEAR).save(path, "JPEG", quality=JPEG_QUALITY)
    return path


def run(model: Path, photo: Path, frames: int, warm_up: int, threads: Optional[int], stand_in: bool) -> dict:
    detector = Detector.open(str(model), device="cpu", threads=threads)
    interpreter, signature = detector.interpreter, detector.spec.signature
    samples: Dict[str, List[int]] = {stage: [] for stage in ("load+preprocess", "invoke", "tensor-io", "postprocess")}

    with tempfile.TemporaryDirectory(prefix="ssdlite-frame-") as directory:
        frame = write_frame(photo, directory)
        frame_bytes = os.path.getsize(frame)

        def one_frame(record: bool) -> int:
            start = time.perf_counter_ns()
            loaded = detector.load(frame)
            tensor = detector.preprocess(loaded.image)
            preprocessed = time.perf_counter_ns()
            interpreter.set_tensor(signature.input.index, tensor)
            before_invoke = time.perf_counter_ns()
            interpreter.invoke()
            after_invoke = time.perf_counter_ns()
            boxes = interpreter.get_tensor(signature.boxes.index).reshape(-1, 4)
            classes = interpreter.get_tensor(signature.classes.index)[0]
            read = time.perf_counter_ns()
            detections = detector.to_detections(detector.postprocessor(boxes, classes), loaded.width, loaded.height)
            done = time.perf_counter_ns()
            if record:
                samples["load+preprocess"].append(preprocessed - start)
                samples["tensor-io"].append((before_invoke - preprocessed) + (read - after_invoke))
                samples["invoke"].append(after_invoke - before_invoke)
                samples["postprocess"].append(done - read)
            return len(detections)

        for _ in range(warm_up):
            one_frame(record=False)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for _ in range(frames):
                detections = one_frame(record=True)
        finally:
            if gc_was_enabled:
                gc.enable()

    def median_ms(values) -> float:
        return statistics.median(values) / 1e6

    overhead = [a + b for a, b in zip(samples["load+preprocess"], samples["postprocess"])]
    with_io = [a + b for a, b in zip(overhead, samples["tensor-io"])]
    medians = {stage: median_ms(values) for stage, values in samples.items()}
    medians["overhead"] = median_ms(overhead)
    medians["overhead+tensor-io"] = median_ms(with_io)
    ratio = medians["overhead"] / medians["invoke"]
    height, width = detector.input_size
    return {
        "model": str(model),
        "stand_in": stand_in,
        "model_note": (
            "reference SSD MobileNet v1 (uint8) standing in for SSDLite MobileNetV2: the real model "
            "is not available on this host" if stand_in else "model given with --model"
        ),
        "model_input": [height, width, str(signature.input.dtype)],
        "backend": detector.backend,
        "threads": threads if threads is not None else (os.cpu_count() or 1),
        "python": platform.python_version(),
        "frame": {"width": FRAME_SIZE[0], "height": FRAME_SIZE[1], "jpeg_quality": JPEG_QUALITY, "bytes": frame_bytes},
        "postprocess_config": {
            "score_threshold": detector.config.score_threshold, "nms": detector.config.nms,
            "max_detections": detector.config.max_detections,
        },
        "detections_per_frame": detections,
        "frames": frames,
        "median_ms": medians,
        "ratio_overhead_over_invoke": ratio,
        "ratio_with_tensor_io": medians["overhead+tensor-io"] / medians["invoke"],
        "goal_ratio": GOAL,
        "goal_met": ratio <= GOAL,
    }


def format_report(report: dict) -> str:
    height, width, dtype = report["model_input"]
    median = report["median_ms"]
    verdict = "met" if report["goal_met"] else "NOT met"
    lines = [
        f"model: {report['model']} ({height}x{width} {dtype}, {report['backend']}, {report['threads']} threads)",
        f"  {report['model_note']}",
        f"frame: {report['frame']['width']}x{report['frame']['height']} JPEG q{report['frame']['jpeg_quality']} "
        f"({report['frame']['bytes']} bytes), {report['frames']} frames, "
        f"{report['detections_per_frame']} detections per frame "
        f"(score >= {report['postprocess_config']['score_threshold']}, {report['postprocess_config']['nms']} NMS)",
        f"  {'stage':<34} {'median':>10}",
        f"  {'load+preprocess':<34} {median['load+preprocess']:>7.2f} ms",
        f"  {'postprocess (+ to_detections)':<34} {median['postprocess']:>7.2f} ms",
        f"  {'overhead (sum per frame)':<34} {median['overhead']:>7.2f} ms",
        f"  {'invoke (CPU)':<34} {median['invoke']:>7.2f} ms",
        f"  {'set_tensor + get_tensor (apart)':<34} {median['tensor-io']:>7.2f} ms",
        f"ratio overhead/invoke = {report['ratio_overhead_over_invoke']:.1%} "
        f"(goal <= {report['goal_ratio']:.0%}: {verdict}); with tensor I/O {report['ratio_with_tensor_io']:.1%}",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .tflite SSD with raw outputs (default: the reference SSD MobileNet v1)")
    parser.add_argument("--frames", type=int, default=60, help="timed frames (default 60)")
    parser.add_argument("--warm-up", type=int, default=3, help="untimed frames first (default 3)")
    parser.add_argument("--threads", type=int, help="interpreter threads (default: one per core, as the app)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be >= 1")
    reference = reference_dir(need_model=args.model is None)
    model = Path(args.model) if args.model else reference / REFERENCE_MODEL
    report = run(model, reference / PHOTO, args.frames, max(args.warm_up, 0), args.threads, args.model is None)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
