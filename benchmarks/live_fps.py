#!/usr/bin/env python3
"""Live-mode throughput and latency, measured in one run (this host is shared and noisy: compare
ratios and medians taken side by side, not figures from different runs).

1. Reference SSD on the CPU: live FPS / invoke-only FPS of the same model and threads.
   live: `DetectionStream` on live 30 FPS test patterns, 300x300 and 640x480 (camera stand-ins;
   faster than a CPU invoke, so the invoke is the bottleneck). invoke-only: set_tensor + invoke +
   get_tensor in a loop, nothing else. They alternate for --rounds rounds; the ratio is the
   median of the rounds' own ratios. Goal: ratio >= 0.95 (the pipeline costs at most 5 % of the
   model's own frame rate).

2. A SIMULATED NPU: an interpreter stand-in whose invoke sleeps a fixed --npu-ms (10 ms, close
   to the i.MX 93 Ethos-U65's published 10.0 ms; sleeping releases the GIL as a delegate's invoke
   does) and returns the outputs of one real invoke, so decoding and NMS do real work. It is a
   simulation of the accelerator only: GStreamer, scaling, the lookup table, post-processing and
   the threads all run for real. Sources: live test patterns at 640x480 and 1280x720, 120 FPS
   (faster than the NPU: it should never wait) and 30 FPS (a camera: latency when frames arrive at
   a camera's pace). Reported: FPS, CPU time per frame outside the invoke (process CPU time /
   frames; the simulated invoke uses none), latency median and p90.
   Goals: >= 90 FPS from the 120 FPS sources; latency median <= invoke + 5 ms.

3. Outputs on the SIMULATED NPU, through the runner the CLI and the service share (source ->
   stream -> hub -> subscribers), from the 640x480 test pattern at 120 FPS, alternating for
   --rounds rounds: no output; tracking, zones and events on (the objects stage the CLI runs for
   every live source, with a zone and a line, and `--events` into a file; as in the CLI, the
   stream's post-processing adds the low-score boxes, from the tracker's low score 0.1, near its
   confirmed tracks); the annotated video (`--output annotated.mkv`: RecorderOutput,
   drawn with Pillow and MJPEG-encoded in its own thread); two live-view clients (the service's
   JPEG encoder and aiohttp app in this process, two HTTP clients reading /stream.mjpeg and
   /api/v1/events over real sockets). Goal: each FPS >= 0.98x the FPS with no output (median of
   the rounds' ratios): an output never runs on the inference path, and tracking costs no frames.

The simulated invoke returns the outputs of one real invoke on the reference bus photo (12 objects
above 0.5; 401 candidates above the tracker's 0.1, of which NMS keeps 100): decoding, NMS and the tracker work on a real scene's
detections in every frame, not on an empty test pattern's.

    .venv/app/bin/python benchmarks/live_fps.py [--model PATH] [--frames N] [--rounds N] [--json]

--json prints one JSON object; its top-level keys include sim_npu_fps (640x480@120, no output),
sim_npu_fps_with_tracking, sim_npu_fps_with_recorder, sim_npu_fps_with_viewers and their ratios
to sim_npu_fps; cpu_outside_invoke_ms_640x480, _1280x720, _http_no_viewer and _with_tracking (the
app's own Python threads' CPU per frame, each thread's CPU clock: ThreadCPU), gst_scaling_ms_640x480
and _1280x720 (GStreamer's model-branch scaling, apart), sim_npu_latency_median_ms (640x480@30),
cpu_live_over_invoke_ratio (the reference SSD on the CPU, 640x480@30) and stages_ms_640x480@30.

Reference fixtures: $SSDLITE_REFERENCE_DIR (default <repo>/../shared/reference).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from ssdlite_detect.detector import Detector
from ssdlite_detect.preprocess import load_image
from ssdlite_detect.model import LoadedModel, ModelOptions, open_model
from ssdlite_detect.live.elements import SOFTWARE_CHAIN
from ssdlite_detect.live.hub import ResultHub
from ssdlite_detect.analytics.stage import objects_stage
from ssdlite_detect.analytics.zones import regions_from_table
from ssdlite_detect.live.outputs import EventOutput, RecorderOutput, policy_for
from ssdlite_detect.live.pipeline import SourceOptions, parse_source
from ssdlite_detect.live.runner import SourceStreams, StreamRunner
from ssdlite_detect.live.source import VideoSource
from ssdlite_detect.live.stream import DetectionStream

REPO_ROOT = Path(__file__).resolve().parents[1]
# Camera stand-ins for the CPU comparison: at the model's size (no scaling: what the board's 2D
# engine hands over) and at 640x480 (scaled in software, as on a SoC without one). Generating
# the test pattern costs CPU time that a camera's DMA does not.
CPU_SOURCES = ((300, 300), (640, 480))
# The regions of the "tracking" runs, in the 640x480 test pattern's pixels: the right half, and
# the line between the halves.
TRACKING_REGIONS = {
    "zones": [{"name": "right", "points": [[320, 0], [640, 0], [640, 480], [320, 480]]}],
    "lines": [{"name": "middle", "points": [[320, 0], [320, 480]], "in": [480, 240]}],
}


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


def with_simulated_npu(model: LoadedModel, npu_ms: float) -> LoadedModel:
    """The loaded model with its interpreter replaced by a SimulatedNPU, its backend named so."""
    spec = dataclasses.replace(model.spec, backend=f"simulated-npu ({npu_ms:g} ms sleep)")
    return LoadedModel(spec, SimulatedNPU(model.interpreter, npu_ms / 1000.0))


def _thread_clock(tid: int) -> int:
    """The CPU-time clock of thread `tid` of this process (Linux: MAKE_THREAD_CPUCLOCK(tid,
    CPUCLOCK_SCHED)), what pthread_getcpuclockid gives a pthread: the scheduler's runtime in ns."""
    return ((~tid) << 3) | 6


class ThreadCPU:
    """CPU seconds per thread of this process over a window, sampled every 50 ms so that threads
    that end inside it still count.

    The time is each thread's scheduler runtime (clock_gettime of its thread CPU clock, in ns):
    the kernel's accounting that /proc/self/task/TID/stat reports as utime + stime, there in
    10 ms ticks, which over a 160-frame run is 0.06 ms per frame per thread, as much as a stage.
    Where that clock cannot be read, /proc's ticks are used. Names: /proc/self/task/TID/comm.

    Kinds: "app", the app's own Python threads (the main thread, which runs the stream's consumer
    or the runner, and every thread named ssdlite-*: capture, inference, outputs, the HTTP server);
    "bench", this script's (bench-*: the sampler, the fake viewers); the others are native threads
    named by GStreamer after their element's pad: "src:src" the test pattern (a camera's DMA on a
    board), "model_queue:src" the model branch's scaling and conversion (PXP/G2D on a board),
    "display_queue:s" the display branch's full-size conversion; TFLite's pool threads otherwise.
    The app's Python threads are also reported one by one (app:NAME)."""

    def __init__(self):
        self._start: Dict[int, float] = {}
        self._last: Dict[int, Tuple[str, float]] = {}
        self._python: Dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-sampler", daemon=True)

    def _read(self) -> Dict[int, Tuple[str, float]]:
        threads = {}
        for entry in os.listdir("/proc/self/task"):
            tid = int(entry)
            try:
                # Read each time: GStreamer names a streaming thread after its pad once it runs.
                with open(f"/proc/self/task/{tid}/comm") as file:
                    name = file.read().rstrip("\n")
                threads[tid] = (name, self._cpu(tid))
            except OSError:
                continue  # ended meanwhile
        return threads

    @staticmethod
    def _cpu(tid: int) -> float:
        try:
            return time.clock_gettime(_thread_clock(tid))
        except OSError:
            with open(f"/proc/self/task/{tid}/stat") as file:
                stat = file.read()
            fields = stat[stat.rindex(")") + 2:].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _snapshot(self) -> None:
        self._python.update({t.native_id: t.name for t in threading.enumerate() if t.native_id is not None})
        self._last.update(self._read())

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self._snapshot()

    def start(self) -> "ThreadCPU":
        self._snapshot()
        self._start = {tid: cpu for tid, (_name, cpu) in self._last.items()}
        self._thread.start()
        return self

    def stop(self) -> Dict[str, float]:
        """CPU seconds in the window by kind: app, bench, gst_source, gst_scaling, gst_display,
        other; and app:NAME for each of the app's Python threads (the same name summed)."""
        self._stop.set()
        self._thread.join()
        self._snapshot()
        totals = collections.Counter()
        for tid, (name, cpu) in self._last.items():
            used = cpu - self._start.get(tid, 0.0)
            python_name = self._python.get(tid)
            if tid == os.getpid() or (python_name or "").startswith("ssdlite-"):
                kind = "app"
            elif python_name is not None:
                kind = "bench" if python_name.startswith("bench-") else "app"
            elif name == "src:src":
                kind = "gst_source"
            elif name.startswith("model_queue"):
                kind = "gst_scaling"
            elif name.startswith("display_queu"):  # thread names are cut at 15 characters
                kind = "gst_display"
            else:
                kind = "other"
            totals[kind] += used
            if kind == "app":
                totals[f"app:{python_name or 'MainThread'}"] += used
        return dict(totals)


def per_frame_ms(cpu: Dict[str, float], frames: int) -> Dict[str, float]:
    return {f"{kind}_ms": round(seconds / frames * 1000.0, 4) for kind, seconds in sorted(cpu.items())}


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
    threads = ThreadCPU()
    for result in stream:
        results.append(result)
        if len(results) == 5:  # start-up (pipeline negotiation, first invokes) excluded
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            threads.start()
        # At the last result, not after the loop: the stream's end (threads joined, the pipeline
        # torn down, 0.1 to 0.2 s) is not frame time.
        cpu_end, wall_end = time.process_time(), time.perf_counter()
        if len(results) == frames + 5:
            by_thread = threads.stop()
    cpu = cpu_end - cpu_start
    wall = wall_end - wall_start
    measured = results[5:]  # those after the 5th: the frames of [wall_start, wall_end]
    latencies = sorted(r.timing_ms["latency"] for r in measured)
    return {
        "fps": len(measured) / wall,
        "dropped": stream.stats.dropped,
        "cpu_ms_per_frame": cpu / len(measured) * 1000.0,
        "latency_median_ms": statistics.median(latencies),
        "latency_p90_ms": latencies[max(0, int(round(0.9 * len(latencies) + 0.5)) - 1)],
        "inference_median_ms": statistics.median(r.timing_ms["inference"] for r in measured),
        # Wall time of the stages in the app's threads (medians): the lookup-table quantisation in
        # the capture thread, decoding and NMS in the consumer's.
        "preprocess_median_ms": statistics.median(r.timing_ms["preprocess"] for r in measured),
        "postprocess_median_ms": statistics.median(r.timing_ms["postprocess"] for r in measured),
        "cpu_by_thread_ms_per_frame": per_frame_ms(by_thread, len(measured)),
    }


class _SoftwareStreams(SourceStreams):
    """SourceStreams on the software chain (this host has no PXP/G2D), as live_run uses."""

    def _new_source(self, chain, on_note=None):
        return VideoSource(self.options.spec, self.detector.input_size, chain=SOFTWARE_CHAIN, display=self.display)


class _LiveView:
    """The service's live view in this process: its JPEG encoder, the aiohttp app on 127.0.0.1 in
    a thread of its own, and `clients` HTTP clients that read /stream.mjpeg and /api/v1/events."""

    def __init__(self, hub, want_display, clients: int = 2):
        from ssdlite_detect.service.annotated import AnnotatedFrameEncoder

        self.hub = hub
        self.encoder = AnnotatedFrameEncoder(hub, want_display=want_display)  # as the service's
        self.clients = clients
        self.received = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._server = threading.Thread(target=self._serve, name="ssdlite-http", daemon=True)  # the service's

    def _serve(self) -> None:
        from aiohttp import web

        from ssdlite_detect.service.http import build_app

        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(build_app(self.hub), handle_signals=False, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def _client(self, path: str) -> None:
        with socket.create_connection(("127.0.0.1", self.port)) as connection:
            connection.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            connection.settimeout(0.5)
            while not self._stop.is_set():
                try:
                    self.received += len(connection.recv(65536))
                except socket.timeout:
                    continue

    def start(self) -> None:
        self.encoder.start()
        self._server.start()
        self._ready.wait(10)
        for number in range(self.clients):
            for path in ("/stream.mjpeg", "/api/v1/events"):
                threading.Thread(target=self._client, args=(path,), name="bench-client", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.encoder.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._server.join(5)


def output_run(detector: Detector, output: str, frames: int, size=(640, 480), fps: int = 120) -> dict:
    """FPS and CPU per frame of the runner on a live test pattern with `output`: "none",
    "tracking", "recorder", "viewers" or "http_no_viewer" (the service's --http: its live view
    and display branch ready, nobody watching)."""
    options = SourceOptions(parse_source("testsrc", size, fps), max_frames=frames)
    display = output not in ("none", "tracking")
    stage = None
    if output == "tracking":
        stage, detector = objects_stage(regions_from_table(TRACKING_REGIONS, "live_fps"), detector)
    streams = _SoftwareStreams(detector, options, display)
    runner = StreamRunner(streams, ResultHub(streams.name, detector.backend, detector.spec.model_name),
                          max_frames=frames, stage=stage)
    extra = {}
    with tempfile.TemporaryDirectory() as folder:
        recorder = view = events = None
        if output == "tracking":
            events_file = open(os.path.join(folder, "events.jsonl"), "w")
            events = EventOutput(events_file, json_lines=True)
            events.start(runner.hub.events)
        elif output == "recorder":
            from ssdlite_detect.live.recorder import VideoRecorder

            recorder = RecorderOutput(VideoRecorder(os.path.join(folder, "annotated.mkv"), SOFTWARE_CHAIN),
                                      streams.frame_rate, policy_for(options.spec))
            recorder.start(runner.hub.results)
            streams.want_display(recorder)
        elif output in ("viewers", "http_no_viewer"):
            view = _LiveView(runner.hub, streams.want_display, clients=2 if output == "viewers" else 0)
            view.start()
        cpu_start = time.process_time()
        threads = ThreadCPU().start()
        runner.run()
        by_thread = threads.stop()
        cpu = time.process_time() - cpu_start
        if events is not None:
            events.join()
            events_file.close()
            with open(events_file.name) as written:
                extra = {"events": sum(1 for _line in written), "objects_at_end": len(stage.objects())}
        if recorder is not None:
            recorder.join()
            extra = {"recorded_frames": recorder.recorder.frames, "recorder_dropped": recorder.dropped}
        if view is not None:
            extra = {"jpeg_frames": view.encoder.encoded, "bytes_to_clients": view.received}
            view.stop()
    stats = runner.hub.stats
    return {"fps": stats.fps, "dropped": stats.dropped, "cpu_ms_per_frame": cpu / stats.processed * 1000.0,
            "cpu_by_thread_ms_per_frame": per_frame_ms(by_thread, stats.processed), **extra}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    reference = Path(os.environ.get("SSDLITE_REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference")
    parser.add_argument("--model", default=str(reference / "coco_ssd_mobilenet_v1_raw.tflite"))
    parser.add_argument("--scene", default=str(reference / "bus.jpg"),
                        help="photo whose real outputs the simulated invoke returns (default: the bus)")
    parser.add_argument("--frames", type=int, default=40, help="frames per CPU round; 4x that per simulated-NPU run (default 40)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating CPU rounds (default 7)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--npu-ms", type=float, default=10.0, help="simulated NPU invoke time (default 10)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(args.model):
        print(f"live_fps: model not found: {args.model} (set SSDLITE_REFERENCE_DIR)", file=sys.stderr)
        return 1

    cpu_detector = Detector.open(args.model, device="cpu", threads=args.threads)
    invoke_fps, live = [], {size: [] for size in CPU_SOURCES}
    for _ in range(args.rounds):  # alternating, so that all see the same shared-host weather
        invoke_fps.append(invoke_only_fps(cpu_detector, max(args.frames // 2, 5)))
        for size in CPU_SOURCES:
            live[size].append(live_run(cpu_detector, "testsrc", size, 30, args.frames))
    cpu_report = {"model": args.model, "threads": args.threads, "invoke_only_fps": invoke_fps,
                  "invoke_only_fps_median": statistics.median(invoke_fps), "sources": {}}
    for size, runs in live.items():
        # The median of each round's own ratio: a round disturbed by another process on this
        # shared host moves one ratio, not the comparison between medians of different rounds.
        ratios = [run["fps"] / fps for run, fps in zip(runs, invoke_fps)]
        cpu_report["sources"][f"{size[0]}x{size[1]}@30"] = {
            "live_fps_median": statistics.median(r["fps"] for r in runs),
            "latency_median_ms": statistics.median(r["latency_median_ms"] for r in runs),
            "ratio": statistics.median(ratios),
            "ratios": ratios,
            "runs": runs,
        }

    model = open_model(ModelOptions(args.model, device="cpu", threads=args.threads))
    primer = Detector(model)
    primer.infer(primer.preprocess(load_image(args.scene)))  # the outputs every simulated invoke returns
    npu_detector = Detector(with_simulated_npu(model, args.npu_ms))
    simulated = {}
    for size in ((640, 480), (1280, 720)):
        for fps in (120, 30):
            simulated[f"{size[0]}x{size[1]}@{fps}"] = live_run(npu_detector, "testsrc", size, fps, args.frames * 4)
    runs_of = {"none": ("none", (640, 480)), "none_1280x720": ("none", (1280, 720)),
               "tracking": ("tracking", (640, 480)), "recorder": ("recorder", (640, 480)),
               "viewers": ("viewers", (640, 480)), "http_no_viewer": ("http_no_viewer", (640, 480))}
    outputs = {name: [] for name in runs_of}
    for _ in range(args.rounds):  # alternating, as above
        for name, (output, size) in runs_of.items():
            outputs[name].append(output_run(npu_detector, output, args.frames * 4, size=size))
    fps_of = {name: statistics.median(run["fps"] for run in runs) for name, runs in outputs.items()}
    ratio_of = {name: statistics.median(run["fps"] / base["fps"] for run, base in zip(runs, outputs["none"]))
                for name, runs in outputs.items() if runs_of[name][1] == (640, 480) and name != "none"}

    def thread_ms(name: str, kind: str) -> float:
        """Median over the rounds of one kind of thread's CPU per frame (ThreadCPU)."""
        return statistics.median(run["cpu_by_thread_ms_per_frame"].get(f"{kind}_ms", 0.0) for run in outputs[name])

    report = {
        "host": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        # The app's own work per frame outside the invoke: its Python threads' CPU (ThreadCPU), no
        # output; GStreamer's scaling for the model (PXP/G2D on the board) apart.
        "cpu_outside_invoke_ms_640x480": thread_ms("none", "app"),
        "cpu_outside_invoke_ms_1280x720": thread_ms("none_1280x720", "app"),
        "cpu_outside_invoke_ms_http_no_viewer": thread_ms("http_no_viewer", "app"),
        "cpu_outside_invoke_ms_with_tracking": thread_ms("tracking", "app"),
        "gst_scaling_ms_640x480": thread_ms("none", "gst_scaling"),
        "gst_scaling_ms_1280x720": thread_ms("none_1280x720", "gst_scaling"),
        "gst_display_ms_http_no_viewer": thread_ms("http_no_viewer", "gst_display"),
        "sim_npu_latency_median_ms": simulated["640x480@30"]["latency_median_ms"],
        "cpu_live_over_invoke_ratio": cpu_report["sources"]["640x480@30"]["ratio"],
        "stages_ms_640x480@30": {"preprocess": simulated["640x480@30"]["preprocess_median_ms"],
                                 "inference": simulated["640x480@30"]["inference_median_ms"],
                                 "postprocess": simulated["640x480@30"]["postprocess_median_ms"]},
        "sim_npu_fps": fps_of["none"],
        "sim_npu_fps_1280x720": fps_of["none_1280x720"],
        "sim_npu_fps_with_tracking": fps_of["tracking"],
        "sim_npu_fps_with_recorder": fps_of["recorder"],
        "sim_npu_fps_with_viewers": fps_of["viewers"],
        "sim_npu_ratio_with_tracking": ratio_of["tracking"],
        "sim_npu_ratio_with_recorder": ratio_of["recorder"],
        "sim_npu_ratio_with_viewers": ratio_of["viewers"],
        "cpu": cpu_report,
        "simulated_npu": {"invoke_ms": args.npu_ms, "note": "SIMULATION: invoke sleeps, no NPU", "runs": simulated,
                          "outputs_640x480@120": outputs},
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{report['host']}; model {Path(args.model).name}, {args.threads} threads")
    print(f"CPU: invoke-only {cpu_report['invoke_only_fps_median']:.1f} FPS (median of {args.rounds} rounds); live:")
    for name, source in cpu_report["sources"].items():
        print(f"  testsrc {name:<12} {source['live_fps_median']:6.1f} FPS, ratio {source['ratio']:.3f} "
              f"(median of the rounds' ratios; goal >= 0.95), latency median {source['latency_median_ms']:.1f} ms")
    print(f"SIMULATED NPU (invoke = {args.npu_ms:g} ms sleep, not a real NPU):")
    print(f"  {'source':<16} {'FPS':>6} {'dropped':>8} {'CPU ms/frame':>13} {'latency median':>15} {'p90':>8}")
    for name, run in simulated.items():
        print(f"  {name:<16} {run['fps']:>6.1f} {run['dropped']:>8} {run['cpu_ms_per_frame']:>13.2f} "
              f"{run['latency_median_ms']:>12.1f} ms {run['latency_p90_ms']:>5.1f} ms")
    print(f"  goals: >= 90 FPS from the @120 sources; latency median <= {args.npu_ms + 5:g} ms")
    print(f"SIMULATED NPU with outputs, testsrc 640x480@120 through the runner (median of {args.rounds} rounds):")
    for name, label in (("none", "no output"), ("tracking", "tracking, zones, --events"),
                        ("recorder", "--output annotated.mkv"), ("viewers", "two live-view clients"),
                        ("http_no_viewer", "--http, nobody watching")):
        ratio = "" if name == "none" else f", {ratio_of[name]:.3f}x no output (goal >= 0.98)"
        cpu = statistics.median(run["cpu_ms_per_frame"] for run in outputs[name])
        print(f"  {label:<26} {fps_of[name]:6.1f} FPS{ratio}; CPU {cpu:.2f} ms/frame, of which the app's "
              f"Python threads {thread_ms(name, 'app'):.2f}, GStreamer's scaling {thread_ms(name, 'gst_scaling'):.2f}")
    print(f"  1280x720@120, no output      {fps_of['none_1280x720']:6.1f} FPS; the app's Python threads "
          f"{thread_ms('none_1280x720', 'app'):.2f} ms/frame, GStreamer's scaling {thread_ms('none_1280x720', 'gst_scaling'):.2f}")
    print("  goals (issue 17): the app's threads <= 1.0 ms/frame (<= 1.5 with --http, nobody watching)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
