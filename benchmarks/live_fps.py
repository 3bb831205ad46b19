#!/usr/bin/env python3
"""Live-mode throughput and latency, measured in one run (this host is shared and noisy: compare
ratios and medians taken side by side, not figures from different runs).

1. Reference SSD on the CPU: live FPS / invoke-only FPS of the same model and threads.
   live: `DetectionStream` on a live 640x480 30 FPS test pattern (a camera stand-in; faster than
   a CPU invoke, so the invoke is the bottleneck). invoke-only: set_tensor + invoke + get_tensor in
   a loop, nothing else. The two alternate for --rounds rounds; medians are compared.
   Goal: ratio >= 0.95 (the pipeline costs at most 5 % of the model's own frame rate).

2. A SIMULATED NPU: an interpreter stand-in whose invoke sleeps a fixed --npu-ms (10 ms, close
   to the i.MX 93 Ethos-U65's published 10.0 ms; sleeping releases the GIL as a delegate's invoke
   does) and returns the outputs of one real invoke, so decoding and NMS do real work. It is a
   simulation of the accelerator only: GStreamer, scaling, the lookup table, post-processing and
   the threads all run for real. Sources: live test patterns at 640x480 and 1280x720, 120 FPS
   (faster than the NPU: it should never wait) and 30 FPS (a camera: latency when frames arrive at
   a camera's pace). Reported: FPS, CPU time per frame outside the invoke (process CPU time /
   frames; the simulated invoke uses none), latency median and p90.
   Goals: >= 90 FPS from the 120 FPS sources; latency median <= invoke + 5 ms.

    .venv/app/bin/python benchmarks/live_fps.py [--model PATH] [--frames N] [--rounds N] [--json]

Reference fixtures: $SSDLITE_REFERENCE_DIR (default <repo>/../shared/reference).
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

import numpy as np

from ssdlite_detect.detector import Detector
from ssdlite_detect.live.elements import SOFTWARE_CHAIN
from ssdlite_detect.live.pipeline import parse_source
from ssdlite_detect.live.source import VideoSource
from ssdlite_detect.live.stream import DetectionStream

REPO_ROOT = Path(__file__).resolve().parents[1]


class SimulatedNPU:
    """An interpreter stand-in: invoke() sleeps `seconds` (GIL released) and the outputs are those
    of one real invoke on the CPU. Labelled everywhere as a simulation."""

    def __init__(self, interpreter, seconds: float):
        self._real = interpreter
        self.seconds = seconds
        interpreter.invoke()  # the outputs every simulated invoke returns

    def set_tensor(self, index, value):
        self._real.set_tensor(index, value)

    def invoke(self):
        time.sleep(self.seconds)

    def get_tensor(self, index):
        return self._real.get_tensor(index)

    def __getattr__(self, name):
        return getattr(self._real, name)


def invoke_only_fps(detector: Detector, frames: int) -> float:
    height, width = detector.input_size
    tensor = detector.tensor_from_pixels(np.full((height, width, 3), 127, np.uint8))
    detector.infer(tensor)  # warm-up
    start = time.perf_counter()
    for _ in range(frames):
        detector.infer(tensor)
    return frames / (time.perf_counter() - start)


def live_run(detector: Detector, source_text: str, size, fps: int, frames: int) -> dict:
    source = VideoSource(parse_source(source_text, size, fps), detector.input_size, chain=SOFTWARE_CHAIN)
    stream = DetectionStream(detector, source, max_frames=frames + 5)
    cpu_start = None
    results = []
    for result in stream:
        results.append(result)
        if len(results) == 5:  # start-up (pipeline negotiation, first invokes) excluded
            cpu_start, wall_start = time.process_time(), time.perf_counter()
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    measured = results[5:]
    latencies = sorted(r.timing_ms["latency"] for r in measured)
    return {
        "fps": len(measured) / wall,
        "dropped": stream.stats.dropped,
        "cpu_ms_per_frame": cpu / len(measured) * 1000.0,
        "latency_median_ms": statistics.median(latencies),
        "latency_p90_ms": latencies[max(0, int(round(0.9 * len(latencies) + 0.5)) - 1)],
        "inference_median_ms": statistics.median(r.timing_ms["inference"] for r in measured),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    reference = Path(os.environ.get("SSDLITE_REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference")
    parser.add_argument("--model", default=str(reference / "coco_ssd_mobilenet_v1_raw.tflite"))
    parser.add_argument("--frames", type=int, default=60, help="frames per measurement (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating CPU rounds (default 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--npu-ms", type=float, default=10.0, help="simulated NPU invoke time (default 10)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(args.model):
        print(f"live_fps: model not found: {args.model} (set SSDLITE_REFERENCE_DIR)", file=sys.stderr)
        return 1

    cpu_detector = Detector(args.model, device="cpu", threads=args.threads)
    invoke_fps, live = [], []
    for _ in range(args.rounds):
        invoke_fps.append(invoke_only_fps(cpu_detector, max(args.frames // 2, 5)))
        live.append(live_run(cpu_detector, "testsrc", (640, 480), 30, args.frames))
    cpu_report = {
        "model": args.model,
        "threads": args.threads,
        "invoke_only_fps_median": statistics.median(invoke_fps),
        "live_fps_median": statistics.median(r["fps"] for r in live),
        "live_latency_median_ms": statistics.median(r["latency_median_ms"] for r in live),
        "rounds": {"invoke_only_fps": invoke_fps, "live": live},
    }
    cpu_report["ratio"] = cpu_report["live_fps_median"] / cpu_report["invoke_only_fps_median"]

    npu_detector = Detector(args.model, device="cpu", threads=args.threads)
    npu_detector.interpreter = SimulatedNPU(npu_detector.interpreter, args.npu_ms / 1000.0)
    npu_detector.backend = f"simulated-npu ({args.npu_ms:g} ms sleep)"
    simulated = {}
    for size in ((640, 480), (1280, 720)):
        for fps in (120, 30):
            simulated[f"{size[0]}x{size[1]}@{fps}"] = live_run(npu_detector, "testsrc", size, fps, args.frames * 2)
    report = {
        "host": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "cpu": cpu_report,
        "simulated_npu": {"invoke_ms": args.npu_ms, "note": "SIMULATION: invoke sleeps, no NPU", "runs": simulated},
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{report['host']}; model {Path(args.model).name}, {args.threads} threads")
    print(f"CPU: invoke-only {cpu_report['invoke_only_fps_median']:.1f} FPS, live (testsrc 640x480@30) "
          f"{cpu_report['live_fps_median']:.1f} FPS: ratio {cpu_report['ratio']:.3f} (goal >= 0.95), "
          f"latency median {cpu_report['live_latency_median_ms']:.1f} ms")
    print(f"SIMULATED NPU (invoke = {args.npu_ms:g} ms sleep, not a real NPU):")
    print(f"  {'source':<16} {'FPS':>6} {'dropped':>8} {'CPU ms/frame':>13} {'latency median':>15} {'p90':>8}")
    for name, run in simulated.items():
        print(f"  {name:<16} {run['fps']:>6.1f} {run['dropped']:>8} {run['cpu_ms_per_frame']:>13.2f} "
              f"{run['latency_median_ms']:>12.1f} ms {run['latency_p90_ms']:>5.1f} ms")
    print(f"  goals: >= 90 FPS from the @120 sources; latency median <= {args.npu_ms + 5:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
