"""MQTT output of the objects' snapshots, over the results' MQTT connection (mqtt.MqttPublisher):
`<prefix>/snapshot/LABEL`, the JPEG bytes of the latest object of LABEL, retained (QoS 0), so a
dashboard (Home Assistant's MQTT camera) that subscribes later gets the latest one at once.

Not per frame, nor per snapshot taken (live/snapshotter.py takes one per 0.05 of score gained):
an object's snapshot is published when it is first taken (a new object is the latest one), when
its score has risen by events.UPDATE_SCORE_GAIN since the one published (the same "much better"
that sends its `update` event), and when the object ends, if its final best is not the one
published. At most 2 + (1 - first score) / 0.1 messages per object, each one JPEG.
"""
from __future__ import annotations

import threading
from typing import Dict

from ..analytics.events import UPDATE_SCORE_GAIN
from ..live.hub import ResultHub
from ..pubsub import ThreadSubscription

QUEUE_SIZE = 8  # snapshots this output may lag behind (each holds one JPEG)


def should_publish(published: Dict[int, float], snapshot, reason: str) -> bool:
    """Whether `snapshot` goes out, given the scores published per track id (updated here)."""
    last = published.get(snapshot.track_id)
    if reason == "end":
        published.pop(snapshot.track_id, None)
        return last is None or snapshot.score > last
    if last is None or snapshot.score >= last + UPDATE_SCORE_GAIN:
        published[snapshot.track_id] = snapshot.score
        return True
    return False


class MqttSnapshotPublisher:
    """The hub's snapshots (see the module doc) through `publisher`'s client."""

    def __init__(self, hub: ResultHub, publisher):
        self.hub = hub
        self.publisher = publisher
        self.published = 0
        self.unsent = 0
        self._published_scores: Dict[int, float] = {}
        self._subscription = ThreadSubscription(size=QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ssdlite-mqtt-snapshots", daemon=True)

    def start(self) -> None:
        self.hub.snapshots.subscribe(self._subscription)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """After the snapshots output stopped (server.stop_pipeline): the snapshots this output
        holds (the objects' last ones, published as they ended) go out for up to `timeout`
        seconds, what is left then is dropped (the thread ends after the one at hand)."""
        self._subscription.close(drain=True)
        self._thread.join(timeout)
        self._stop.set()
        self.hub.snapshots.unsubscribe(self._subscription)

    def _run(self) -> None:
        prefix = self.publisher.target.prefix
        while not self._stop.is_set() and not self._subscription.finished:
            item = self._subscription.get(timeout=0.5)
            if item is None:
                continue
            snapshot, reason = item
            if len(self._published_scores) > 1024:  # objects whose end never came (the source was lost)
                self._published_scores.clear()
            if not should_publish(self._published_scores, snapshot, reason):
                continue
            if self.publisher.publish(f"{prefix}/snapshot/{snapshot.label}", snapshot.jpeg, qos=0, retain=True):
                self.published += 1
            else:
                self.unsent += 1
