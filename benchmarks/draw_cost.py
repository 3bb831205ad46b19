#!/usr/bin/env python3
"""Cost of drawing the detections on a frame (draw.annotate: what the annotated video, the live
view and every snapshot pay per frame), and of its label text against Pillow's own text drawing,
measured in one run with alternating rounds.

The frame: bus.jpg scaled to 640x480, 1280x720 and 1920x1080 with the reference SSD's detections
of it (12 objects, each a box and a label tag). Reported per size (medians over --rounds rounds of
--frames frames): annotate() in ms; the labels alone composed from LabelFont's cached glyphs; the
same labels drawn by Pillow (ImageDraw.textbbox + text, with Pillow's default layout engine and
with BASIC), as draw.py did before. Pillow's text drawing holds the GIL, so this is time taken
from the inference thread too.

    .venv/app/bin/python benchmarks/draw_cost.py [--frames 30] [--rounds 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ssdlite_detect.detector import Detector
from ssdlite_detect.draw import _FONT_CANDIDATES, _label, annotate, label_font

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZES = ((640, 480), (1280, 720), (1920, 1080))


def _timed(function, frames: int) -> float:
    start = time.perf_counter()
    for _ in range(frames):
        function()
    return (time.perf_counter() - start) / frames * 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    reference = Path(os.environ.get("SSDLITE_REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (reference / "bus.jpg").exists():
        print(f"draw_cost: reference fixtures not found in {reference} (set SSDLITE_REFERENCE_DIR)", file=sys.stderr)
        return 1
    font_path = next((path for path in _FONT_CANDIDATES if os.path.exists(path)), None)
    if font_path is None:
        print("draw_cost: no DejaVuSans.ttf (Debian: fonts-dejavu-core)", file=sys.stderr)
        return 1
    detector = Detector.open(str(reference / "coco_ssd_mobilenet_v1_raw.tflite"), device="cpu")
    result = detector.detect(str(reference / "bus.jpg"))
    with Image.open(reference / "bus.jpg") as photo:
        photo = photo.convert("RGB")
    report = {"host": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
                      f"Pillow {Image.__version__}", "objects": len(result.detections), "sizes": {}}
    for width, height in SIZES:
        frame = photo.resize((width, height))
        scale_x, scale_y = width / result.width, height / result.height
        detections = [d.__class__(d.class_id, d.label, d.score, d.box.scale(scale_x, scale_y), d.box_normalized)
                      for d in result.detections]
        texts = [_label(d) for d in detections]
        size = max(12, round(min(width, height) / 30))  # draw._line_and_font's
        cached = label_font(size)
        pillow_fonts = {"default": ImageFont.truetype(font_path, size),
                        "basic": ImageFont.truetype(font_path, size, layout_engine=ImageFont.Layout.BASIC)}
        canvas = frame.copy()
        draw = ImageDraw.Draw(canvas)

        def pillow_labels(font):
            for number, text in enumerate(texts):
                left, top, _right, _bottom = draw.textbbox((0, 0), text, font=font)
                draw.text((10 - left, 10 + number * size - top), text, fill=(255, 255, 255), font=font)

        def cached_labels():
            for number, text in enumerate(texts):
                mask = cached.mask(text)
                canvas.paste((255, 255, 255), (10, 10 + number * size, 10 + mask.width, 10 + number * size + mask.height),
                             mask)

        runs = {"annotate": [], "labels_cached": [], "labels_pillow_default": [], "labels_pillow_basic": []}
        for _ in range(args.rounds):  # alternating: the same shared-host weather for all
            runs["annotate"].append(_timed(lambda: annotate(frame, detections), args.frames))
            runs["labels_cached"].append(_timed(cached_labels, args.frames))
            runs["labels_pillow_default"].append(_timed(lambda: pillow_labels(pillow_fonts["default"]), args.frames))
            runs["labels_pillow_basic"].append(_timed(lambda: pillow_labels(pillow_fonts["basic"]), args.frames))
        medians = {name: statistics.median(values) for name, values in runs.items()}
        ratios = {f"pillow_{kind}_over_cached": statistics.median(
            p / c for p, c in zip(runs[f"labels_pillow_{kind}"], runs["labels_cached"])) for kind in ("default", "basic")}
        report["sizes"][f"{width}x{height}"] = {**{f"{name}_ms": value for name, value in medians.items()}, **ratios}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{report['host']}; {report['objects']} objects of bus.jpg per frame (medians of {args.rounds} rounds)")
    print(f"  {'frame':<10} {'annotate':>9} {'labels: cached':>15} {'Pillow':>8} {'Pillow BASIC':>13}   Pillow/cached")
    for name, row in report["sizes"].items():
        print(f"  {name:<10} {row['annotate_ms']:>6.2f} ms {row['labels_cached_ms']:>12.2f} ms "
              f"{row['labels_pillow_default_ms']:>5.2f} ms {row['labels_pillow_basic_ms']:>10.2f} ms   "
              f"{row['pillow_default_over_cached']:.1f}x / {row['pillow_basic_over_cached']:.1f}x (BASIC)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
