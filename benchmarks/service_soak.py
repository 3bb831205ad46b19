#!/usr/bin/env python3
"""Soak of the service mode (not in CI; about 2 minutes): 10,000 frames with a SIMULATED NPU,
two live-view clients and MQTT on, and the service process watched from outside.

The service runs as its own process (`ssdlite-detect --source testsrc --http 0 --mqtt ...`) with
the reference SSD whose interpreter is replaced by benchmarks/live_fps.py's SimulatedNPU (invoke
sleeps --npu-ms, 10 ms like the i.MX 93 Ethos-U65, and returns one real invoke's outputs; all
else is real: GStreamer, scaling, post-processing, the hub, HTTP, JPEG encoding, MQTT). The
source is a live 640x480 test pattern at 120 FPS, faster than the NPU. Meanwhile:
- two live-view clients, each reading /stream.mjpeg and /api/v1/events like the page does;
- a mosquitto broker on 127.0.0.1 and a subscriber counting `<prefix>/detections`;
- every second: the service's resident memory (VmRSS), open file descriptors and threads.

Reported (and checked against the issue's goals): RSS growth from the end of warm-up (1,000
frames) to the end (goal <= 2 MB), fds and threads after warm-up (goal: constant; GLib's own
worker pool, whose idle threads come and go, is reported apart), the oldest
frame a client received (goal: < 1 s from capture), FPS, frames seen by each client and by MQTT.

    .venv/app/bin/python benchmarks/service_soak.py [--frames 10000] [--npu-ms 10] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WARM_UP_FRAMES = 1000


def serve(npu_ms: float, cli_args) -> int:
    """The service process: the CLI with the simulated NPU patched into the model it opens."""
    sys.path.insert(0, str(Path(__file__).parent))
    from live_fps import with_simulated_npu

    from ssdlite_detect import cli, model as model_module

    original_open_model = model_module.open_model

    def open_model_on_a_simulated_npu(*args, **kwargs):
        return with_simulated_npu(original_open_model(*args, **kwargs), npu_ms)

    model_module.open_model = open_model_on_a_simulated_npu  # commands.common imports it when it runs
    return cli.main(cli_args)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proc_sample(pid: int) -> dict:
    """RSS, open fds and threads. GLib's shared thread pool ("pool-*" threads) starts workers on
    demand and ends idle ones by itself (bounded by GLib): counted apart from the service's own."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    names = [Path(f"/proc/{pid}/task/{task}/comm").read_text().strip() for task in os.listdir(f"/proc/{pid}/task")]
    glib_pool = sum(name.startswith("pool-") for name in names)
    return {"rss_kb": int(fields["VmRSS"].split()[0]), "threads": len(names) - glib_pool,
            "glib_pool_threads": glib_pool, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


class LiveViewClient(threading.Thread):
    """Reads the MJPEG stream and the event stream, as the live view page does."""

    def __init__(self, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.stop_event = url, stop
        self.jpeg_bytes = 0
        self.events = 0
        self.max_age_s = 0.0
        self._t0 = None

    def run(self) -> None:
        threading.Thread(target=self._mjpeg, daemon=True).start()
        with urllib.request.urlopen(self.url + "/api/v1/events", timeout=30) as response:
            buffer = b""
            while not self.stop_event.is_set():
                chunk = response.read1(65536)
                if not chunk:
                    return
                buffer += chunk
                *blocks, buffer = buffer.split(b"\n\n")
                received = time.monotonic()
                for block in blocks:
                    for line in block.split(b"\n"):
                        if line.startswith(b"data: "):
                            self._event(json.loads(line[6:]), received)

    def _event(self, result: dict, received: float) -> None:
        # A live source's pts is its running time: capture time = t0 + pts. t0 from the first
        # event (its receipt minus its own latency), so the age is capture -> delivery to this client.
        self.events += 1
        captured_offset = result["pts_ms"] / 1000.0
        if self._t0 is None:
            self._t0 = received - captured_offset - result["timing_ms"]["latency"] / 1000.0
        self.max_age_s = max(self.max_age_s, received - (self._t0 + captured_offset))

    def _mjpeg(self) -> None:
        with urllib.request.urlopen(self.url + "/stream.mjpeg", timeout=30) as response:
            while not self.stop_event.is_set():
                chunk = response.read1(65536)
                if not chunk:
                    return
                self.jpeg_bytes += len(chunk)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        return serve(float(sys.argv[2]), sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    reference = Path(os.environ.get("SSDLITE_REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference")
    parser.add_argument("--model", default=str(reference / "coco_ssd_mobilenet_v1_raw.tflite"))
    parser.add_argument("--labels", default=str(reference / "coco_labels.txt"))
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument("--npu-ms", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    workdir = Path(tempfile.mkdtemp(prefix="ssdlite-soak-"))
    mqtt_port = free_port()
    (workdir / "mosquitto.conf").write_text(f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen([mosquitto, "-c", str(workdir / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    import paho.mqtt.client as mqtt

    mqtt_messages = [0]
    listener = mqtt.Client(client_id="soak-listener")
    listener.on_connect = lambda client, *_: client.subscribe("soak/detections")
    listener.on_message = lambda *_: mqtt_messages.__setitem__(0, mqtt_messages[0] + 1)
    listener.connect("127.0.0.1", mqtt_port)
    listener.loop_start()

    service = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.npu_ms), "--model", args.model, "--labels", args.labels,
         "--device", "cpu", "--source", "testsrc", "--source-size", "640x480", "--source-fps", "120",
         "--http", "0", "--mqtt", f"mqtt://127.0.0.1:{mqtt_port}/soak", "--frames", str(args.frames)],
        stderr=subprocess.PIPE, text=True)
    url = None
    for line in service.stderr:
        if "serving http://" in line:
            url = line.split("serving ")[1].split()[0].rstrip("/")
            break
    if url is None:
        print("the service did not start", file=sys.stderr)
        return 1
    threading.Thread(target=lambda: [None for _ in service.stderr], daemon=True).start()

    stop = threading.Event()
    clients = [LiveViewClient(url, stop) for _ in range(2)]
    for client in clients:
        client.start()
    samples, warm = [], None
    started = time.monotonic()
    status = {}
    while service.poll() is None:
        time.sleep(1.0)
        try:
            # The process first, then the status request: its connection is not counted as an fd.
            sample = proc_sample(service.pid)
            with urllib.request.urlopen(url + "/api/v1/status", timeout=5) as response:
                status = json.loads(response.read())
        except (OSError, ValueError, KeyError):  # KeyError, OSError: /proc of a process that has just exited
            break  # the service has just finished its frames
        if status["frames"] >= args.frames:
            break  # stopping: its threads are ending
        sample["frames"] = status["frames"]
        samples.append(sample)
        if warm is None and status["frames"] >= WARM_UP_FRAMES:
            warm = sample
    elapsed = time.monotonic() - started
    try:
        service.wait(timeout=10)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait()
    stop.set()
    listener.loop_stop()
    broker.terminate()
    after_warm = [s for s in samples if warm is not None and s["frames"] >= warm["frames"]]
    last = samples[-1] if samples else {}
    report = {
        "frames": status.get("frames"), "dropped": status.get("dropped"), "seconds": round(elapsed, 1),
        "fps": round(status.get("frames", 0) / elapsed, 1) if elapsed else None,
        "latency_median_ms": status.get("latency_median_ms"), "latency_p90_ms": status.get("latency_p90_ms"),
        "rss_warm_kb": warm and warm["rss_kb"], "rss_end_kb": last.get("rss_kb"),
        "rss_growth_kb": (last["rss_kb"] - warm["rss_kb"]) if warm and last else None,
        "samples_after_warm_up": len(after_warm),
        "fds_after_warm_up": sorted({s["fds"] for s in after_warm}),
        "threads_after_warm_up": sorted({s["threads"] for s in after_warm}),
        "glib_pool_threads_after_warm_up": sorted({s["glib_pool_threads"] for s in after_warm}),
        "client_events": [c.events for c in clients], "client_mjpeg_bytes": [c.jpeg_bytes for c in clients],
        "client_max_frame_age_s": [round(c.max_age_s, 3) for c in clients],
        "mqtt_messages": mqtt_messages[0], "exit_status": service.returncode,
        "simulated_npu_ms": args.npu_ms,
    }
    report["goals"] = {
        "rss_growth_le_2mb": report["rss_growth_kb"] is not None and report["rss_growth_kb"] <= 2048,
        "fds_constant": len(report["fds_after_warm_up"]) == 1,
        "threads_constant": len(report["threads_after_warm_up"]) == 1,
        "no_frame_older_than_1s": all(age < 1.0 for age in report["client_max_frame_age_s"]),
    }
    shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0 if report["exit_status"] == 0 else 1


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
