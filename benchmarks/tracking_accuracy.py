#!/usr/bin/env python3
"""Tracking accuracy on the synthetic scene with known ground truth (tests/app/live/synthetic_scene.py):
real crops (the bus of bus.jpg, three people of coco128) moving over a real coco128 street at
10 FPS, 960x540, 140 frames, encoded here as MJPEG by a real GStreamer pipeline and run through
`ssdlite-detect --source CLIP --json --classes person,bus --zones ...` with the reference SSD.

Reported (py-motmetrics, MOTChallenge's protocol, IoU >= 0.5): MOTA, IDF1, identity switches (all,
and those on frames where the object overlapped no other), false positives, misses, and whether
the zone and line events equal the ground truth's own (sequence per object, crossings within 2
frames). The issue's goals: IDF1 >= 0.95; 0 switches where objects do not overlap.

    .venv/app/bin/python benchmarks/tracking_accuracy.py [--json]

Needs the reference fixtures ($SSDLITE_REFERENCE_DIR, default <repo>/../shared/reference), coco128
($SSDLITE_COCO128_DIR, default <repo>/../shared/datasets/coco128) and py-motmetrics (the app env).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "app"))  # the scene and the clip encoder live with the tests

from live import synthetic_scene as scene  # noqa: E402
from ssdlite_detect.live import gst as gst_loader  # noqa: E402

CROSS_FRAME_TOLERANCE = 2


def region_events_match(events, expected, track_of) -> bool:
    """The test's checks (test_tracking_scene.py), as one verdict."""
    for object_id, track_id in track_of.items():
        got, want = scene.region_events(events, track_id), expected.get(object_id, [])
        if [scene.event_key(e) for e in got] != [w[:3] for w in want]:
            return False
        if any(e["type"] == "cross" and abs(e["frame"] - w[3]) > CROSS_FRAME_TOLERANCE for e, w in zip(got, want)):
            return False
    return not scene.untracked_region_events(events, track_of)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reference = Path(os.environ.get("SSDLITE_REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference")
    coco128 = Path(os.environ.get("SSDLITE_COCO128_DIR") or REPO_ROOT.parent / "shared" / "datasets" / "coco128")
    for path in (reference / "bus.jpg", coco128 / "images"):
        if not path.exists():
            print(f"tracking_accuracy: not found: {path}", file=sys.stderr)
            return 1
    frames, truth = scene.render(reference, coco128)
    with tempfile.TemporaryDirectory() as folder:
        runs = scene.run_cli(gst_loader.load(), reference, frames, Path(folder))
    outputs = []
    for result in runs:
        if result.returncode != 0:
            print(f"tracking_accuracy: the CLI failed: {result.stderr.strip()}", file=sys.stderr)
            return 1
        outputs.append([json.loads(line) for line in result.stdout.splitlines()])
    score = scene.score_tracks(outputs[0], truth)
    report = {**score.to_dict(), "objects": len(score.track_of), "frames": len(outputs[0]),
              "region_events_exact": region_events_match(outputs[1], scene.expected_region_events(truth), score.track_of)}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"synthetic scene, {report['frames']} frames, {report['objects']} ground-truth objects, reference SSD on the CPU:")
    print(f"  MOTA {score.mota:.3f}  IDF1 {score.idf1:.3f} (goal >= 0.95)  MOTP(IoU) {score.motp_iou:.3f}")
    print(f"  identity switches {score.id_switches} ({score.id_switches_apart} where objects do not overlap; goal 0)")
    print(f"  false positives {score.false_positives}, misses {score.misses}")
    print(f"  zone and line events as the ground truth's: {'yes' if report['region_events_exact'] else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
