"""The snapshots output: a subscriber of the hub's results (its own small queue and thread, so a
JPEG never costs the detector a frame) that keeps each tracked object's best view
(analytics/snapshots.py), optionally writes it to a directory (analytics/snapshot_dir.py) and
publishes each snapshot taken to the hub's `snapshots` topic (the service's MQTT output).

It reads the full-size frames (the source's display branch: open the source with display=True),
and the `end` events of the hub's `events` topic, drained after every result: an object's
pending better frame is encoded when it ends, and its last snapshot is published once more with
reason "end". An object that ended gets no snapshot after that: a result queued before its end
(the two topics are two queues) would otherwise start it again, and publish a later, not the best,
frame after its end.
"""
from __future__ import annotations

import collections
import time
from typing import Callable, Optional

from ..analytics.snapshot_dir import SnapshotDirectory
from ..analytics.snapshots import SnapshotPolicy, SnapshotSelector, SnapshotStore, encode_snapshot
from ..analytics.stage import VideoClock
from ..pubsub import DROP_OLDEST, ThreadSubscription
from .outputs import ThreadOutput

# Results (each with its full-size frame) this output may lag behind. Small: every queued item
# holds a frame (1280x720 RGB: 2.8 MB), and the selector's pending frames are bounded apart.
RESULT_QUEUE = 2
END_QUEUE = 256  # events (only `end` matters here) this output may lag behind
ENDED_KEPT = 256  # ended track ids remembered (results lag behind by RESULT_QUEUE at most)


class SnapshotOutput(ThreadOutput):
    """See the module doc. `store` is read by the service's HTTP handlers (any thread)."""

    name = "snapshots"

    def __init__(self, hub, policy: SnapshotPolicy = SnapshotPolicy(), directory: Optional[SnapshotDirectory] = None,
                 queue_policy: str = DROP_OLDEST, on_end: Callable[[ThreadOutput], None] = lambda _output: None):
        super().__init__(RESULT_QUEUE, queue_policy, on_end)
        self.hub = hub
        self.policy = policy
        self.store = SnapshotStore(policy.max_objects)
        self.selector = SnapshotSelector(policy)
        self.directory = directory
        self.encoded = 0
        self.encode_ms = 0.0  # total, for the average the status reports
        self.skipped_frames = 0  # results without a full-size frame (the display branch dropped it)
        self._clock = VideoClock()
        self._ends = ThreadSubscription(size=END_QUEUE, policy=queue_policy)
        self._ended: "collections.OrderedDict[int, None]" = collections.OrderedDict()

    def start(self, topic=None) -> None:
        self.hub.events.subscribe(self._ends)
        super().start(topic if topic is not None else self.hub.results)

    def stop(self, timeout: float = 2.0) -> None:
        """The service's stop, after the runner ended (it closed both topics after the objects'
        ends): the thread handles the results and ends it holds (an end encodes the object's
        pending frame and publishes its last snapshot) for up to `timeout` seconds; what is left
        then is dropped, and the thread ends after the item at hand."""
        self.subscription.close(drain=True)
        self._ends.close(drain=True)
        self.join(timeout)
        self.hub.results.unsubscribe(self.subscription)
        self.hub.events.unsubscribe(self._ends)

    def handle(self, result, frame) -> None:
        now_ms = self._clock.now_ms(result.pts_ms)
        tracked = [d for d in result.detections if d.track_id is not None and d.track_id not in self._ended]
        if tracked:
            if frame is None or frame.display is None:
                self.skipped_frames += 1
            else:
                for detection in tracked:
                    payload = (detection, frame.display, result.frame, result.pts_ms)
                    for chosen in self.selector.offer(detection.track_id, detection.score, now_ms, payload):
                        self._encode(chosen)
        self._drain_ends()

    def finish(self) -> None:
        self._drain_ends()

    def _drain_ends(self) -> None:
        while True:
            item = self._ends.get(timeout=0)
            if item is None:
                return
            event, _frame = item
            if event.get("type") != "end":
                continue
            track_id = event["track_id"]
            self._ended[track_id] = None
            while len(self._ended) > ENDED_KEPT:
                self._ended.popitem(last=False)
            pending = self.selector.end(track_id)
            if pending is not None:
                self._encode(pending, reason="end")
            else:
                snapshot = self.store.get(track_id)
                if snapshot is not None:
                    self.hub.snapshots.publish((snapshot, "end"))
            if self.directory is not None:
                self.directory.forget(track_id)

    def _encode(self, payload, reason: Optional[str] = None) -> None:
        detection, pixels, frame_index, pts_ms = payload
        start = time.perf_counter()
        snapshot = encode_snapshot(pixels, detection, self.policy, frame_index, pts_ms)
        self.encode_ms += (time.perf_counter() - start) * 1000.0
        self.encoded += 1
        first = self.store.get(snapshot.track_id) is None
        self.store.put(snapshot)
        if self.directory is not None:
            self.directory.write(snapshot)
        self.hub.snapshots.publish((snapshot, reason or ("new" if first else "better")))
