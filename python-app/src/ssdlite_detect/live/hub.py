"""The one results stream of a running detector (Frigate's shape), for the live CLI and the
service alike: the runner's thread publishes every processed frame here; every output (text and
JSON Lines, the annotated video, SSE, the MJPEG encoder, MQTT, events) subscribes with its own
bounded queue (ssdlite_detect.pubsub) and its own thread or task, so none can slow detection.

The hub also keeps what the outputs report: the latest result, the statistics over the whole run
(every reconnection of the source) and the state machine the service reports.
"""
from __future__ import annotations

import time
from typing import Callable, List, Optional

from ..pubsub import Topic
from .stats import StreamStats

MAX_AGE_S = 1.0           # network outputs never get an item older than this (pubsub max_age)

STATE_STARTING = "starting"        # before the first frame (model warm-up, source connecting)
STATE_RUNNING = "running"          # frames flow
STATE_SOURCE_LOST = "source-lost"  # the source failed or ended; retrying with backoff
STATE_STOPPING = "stopping"        # SIGTERM/SIGINT or the end of --frames/--duration
STATE_FAILED = "failed"            # an error retrying cannot fix (model, delegate)


class ResultHub:
    """Shared state of a run: the state machine, statistics and the two topics.

    `results` carries (FrameResult, Frame) pairs; `events` the objects' events (analytics/events.py)
    with the frame they happened in; `jpegs` carries annotated JPEG bytes; `snapshots` the objects'
    snapshots as they are taken ((Snapshot, reason), live/snapshotter.py). Outputs
    only read from here; only the runner's thread writes results and state, only the JPEG encoder
    writes JPEG frames.
    """

    def __init__(self, source_name: str, backend: str, model: str):
        self.source_name = source_name
        self.backend = backend
        self.model = model
        self.started_at = time.monotonic()
        self.state = STATE_STARTING
        self.state_since = self.started_at
        self.message = ""             # why the state is what it is (the source error, ...)
        self.source_losses = 0
        self.stats = StreamStats()
        self.results = Topic()
        self.events = Topic()  # (event dict, Frame) of the objects stage (analytics/), if any
        self.jpegs = Topic()
        self.snapshots = Topic()  # (analytics.snapshots.Snapshot, "new" | "better" | "end")
        self._state_listeners: List[Callable[[str], None]] = []

    def on_state(self, listener: Callable[[str], None]) -> None:
        self._state_listeners.append(listener)

    def set_state(self, state: str, message: str = "") -> None:
        changed = state != self.state
        if state == STATE_SOURCE_LOST and changed:
            self.source_losses += 1
        self.message = message
        if changed:
            self.state = state
            self.state_since = time.monotonic()
            for listener in self._state_listeners:
                listener(state)

    def publish(self, result, frame) -> None:
        """One processed frame: counted, then handed to every subscriber of `results`."""
        self.stats.record(result, time.monotonic())
        if self.state != STATE_RUNNING:
            self.set_state(STATE_RUNNING)
        self.results.publish((result, frame))

    def healthy(self, grace: float, now: Optional[float] = None) -> bool:
        """False once no frame has arrived for `grace` seconds while the source is (or should be)
        running; True while starting (the NPU's first graph compile may take a while)."""
        now = time.monotonic() if now is None else now
        if self.state == STATE_STARTING:
            return True
        if self.state in (STATE_SOURCE_LOST, STATE_FAILED, STATE_STOPPING):
            return self.state == STATE_SOURCE_LOST and now - self.state_since < grace
        return self.stats.last_result_at is not None and now - self.stats.last_result_at < grace

    def status(self) -> dict:
        now = time.monotonic()
        latency = self.stats.quantiles(self.stats.latencies_ms)
        return {
            "source": self.source_name,
            "state": self.state,
            "message": self.message,
            "backend": self.backend,
            "model": self.model,
            "frames": self.stats.processed,
            "dropped": self.stats.dropped,
            "fps": round(self.stats.recent_fps(now), 2),
            "latency_median_ms": latency["median"],
            "latency_p90_ms": latency["p90"],
            "source_losses": self.source_losses,
            "uptime_s": round(now - self.started_at, 1),
        }
