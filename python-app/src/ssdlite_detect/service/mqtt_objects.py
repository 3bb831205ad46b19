"""MQTT output of the tracked objects, over the results' MQTT connection (mqtt.MqttPublisher):
each event (analytics/events.py) to `<prefix>/events` (QoS 1: events are few and each matters),
and the counts as retained values a dashboard reads at any time:

    <prefix>/counts/ZONE/LABEL          objects of LABEL in ZONE now
    <prefix>/lines/LINE/LABEL/in        crossings inwards since the service started
    <prefix>/lines/LINE/LABEL/out       ... outwards

A count is published when it changes (and all of them once the broker is connected). The events
reach this output through its own bounded subscription and thread, like the results.
"""
from __future__ import annotations

import json
import threading
from typing import Dict

from ..live.hub import ResultHub
from ..pubsub import ThreadSubscription

QUEUE_SIZE = 256  # events this output may lag behind (a crowd entering a zone is a burst)


def count_topics(prefix: str, counts: dict) -> Dict[str, int]:
    """{topic: value} of ObjectStage.counts()."""
    topics = {}
    for zone, labels in counts["zones"].items():
        for label, value in labels.items():
            topics[f"{prefix}/counts/{zone}/{label}"] = value
    for line, labels in counts["lines"].items():
        for label, sides in labels.items():
            for side, value in sides.items():
                topics[f"{prefix}/lines/{line}/{label}/{side}"] = value
    return topics


class MqttObjectPublisher:
    """Events and counts of `stage` (analytics.stage.ObjectStage) through `publisher`'s client."""

    def __init__(self, hub: ResultHub, stage, publisher):
        self.hub = hub
        self.stage = stage
        self.publisher = publisher
        self.published = 0
        self.unsent = 0
        self._sent_counts: Dict[str, int] = {}
        self._subscription = ThreadSubscription(size=QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ssdlite-mqtt-objects", daemon=True)

    def start(self) -> None:
        self.hub.events.subscribe(self._subscription)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.hub.events.unsubscribe(self._subscription)
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        events_topic = f"{self.publisher.target.prefix}/events"
        was_connected = False
        while not self._stop.is_set() and not self._subscription.finished:
            item = self._subscription.get(timeout=0.5)
            connected = self.publisher.connected
            if not connected:
                self.unsent += item is not None
                was_connected = False
                continue
            if not was_connected:
                self._sent_counts = {}  # connected (again): every count once more
                was_connected = True
            if item is not None:
                info = self.publisher.client.publish(events_topic, json.dumps(item[0]), qos=1)
                if info.rc == 0:
                    self.published += 1
                else:
                    self.unsent += 1
            self._publish_counts()  # only the counts that changed

    def _publish_counts(self) -> None:
        for topic, value in count_topics(self.publisher.target.prefix, self.stage.counts()).items():
            if self._sent_counts.get(topic) != value:
                info = self.publisher.client.publish(topic, str(value), qos=1, retain=True)
                if info.rc == 0:
                    self._sent_counts[topic] = value
