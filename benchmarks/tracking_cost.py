#!/usr/bin/env python3
"""CPU time per frame of the objects stage (tracker + zones, lines and events) with 5, 20 and 50
objects, on synthetic detections (objects walking at random constant velocities, 10 % of the
scores dipping below the tracker's high score, a zone over half the frame and a line through it).

    .venv/app/bin/python benchmarks/tracking_cost.py [--frames 300] [--rounds 5] [--json]

Reported: the median over rounds of each round's median per-frame time (ms), for the tracker
alone and for the whole stage (tracker + ObjectAnalytics). The issue's goal: <= 0.3 ms at 20.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python-app" / "src"))

from ssdlite_detect.analytics.events import ObjectAnalytics  # noqa: E402
from ssdlite_detect.analytics.zones import regions_from_table  # noqa: E402
from ssdlite_detect.tracking.tracker import ByteTracker  # noqa: E402

REGIONS = {
    "zones": [{"name": "right", "points": [[640, 0], [1280, 0], [1280, 720], [640, 720]]}],
    "lines": [{"name": "middle", "points": [[640, 0], [640, 720]], "in": [900, 360]}],
}


def scene(objects: int, frames: int, fps: float, seed: int):
    rng = np.random.default_rng(seed)
    start = np.stack([rng.uniform(0, 1200, objects), rng.uniform(0, 600, objects)], axis=1)
    velocity = rng.uniform(-150, 150, (objects, 2))
    size = rng.uniform([30, 60], [80, 160], (objects, 2))
    for number in range(frames):
        t = number / fps
        corner = start + velocity * t
        boxes = np.concatenate([corner, corner + size], axis=1) + rng.normal(0, 1.0, (objects, 4))
        scores = np.where(rng.random(objects) < 0.1, 0.3, 0.85)
        yield boxes, scores, np.ones(objects, dtype=np.int64), t


def one_round(objects: int, frames: int, seed: int, with_events: bool) -> float:
    tracker = ByteTracker()
    regions = regions_from_table(REGIONS, "benchmark").resolve(1280, 720)
    analytics = ObjectAnalytics(regions, lambda _class: "person")
    times = []
    for number, (boxes, scores, classes, t) in enumerate(scene(objects, frames, 30.0, seed)):
        started = time.perf_counter()
        step = tracker.update(boxes, scores, classes, t)
        if with_events:
            analytics.update(step, number, t * 1000)
        times.append(time.perf_counter() - started)
    return statistics.median(times[10:]) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {}
    for objects in (5, 20, 50):
        for name, with_events in (("tracker", False), ("stage", True)):
            rounds = [one_round(objects, args.frames, seed, with_events) for seed in range(args.rounds)]
            report[f"{name}_ms_{objects}_objects"] = round(statistics.median(rounds), 4)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:28s} {value:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
