"""MQTT output of the tracked objects, over the results' MQTT connection (mqtt.MqttPublisher):
each event (analytics/events.py) to `<prefix>/events` (QoS 1: events are few and each matters),
and the counts as retained values a dashboard reads at any time:

    <prefix>/counts/ZONE/LABEL          objects of LABEL in ZONE now
    <prefix>/lines/LINE/LABEL/in        crossings inwards since the service started
    <prefix>/lines/LINE/LABEL/out       ... outwards

A count is published when it changes (and all of them once the broker is connected). The events
reach this output through its own bounded subscription and thread, like the results.

With Home Assistant discovery on (the target's discovery_prefix, homeassistant.py) it also
publishes, retained: `<prefix>/present/LABEL` ON/OFF for every label seen, the entities' config
messages as their topics appear, and zero counts for the labels a zone's or line's filter names
(so their sensors start at 0, not "unknown").
"""
from __future__ import annotations

import json
import threading
from typing import Dict, List

from ..live.hub import ResultHub
from ..pubsub import ThreadSubscription
from . import homeassistant

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
        self._sent_retained: Dict[str, str] = {}  # discovery configs and presence, as last published
        # Labels a zone's or line's filter names get their "present" sensor from the start.
        self._labels_seen: List[str] = sorted({label for region in (*stage.regions.zones, *stage.regions.lines)
                                               for label in (region.labels or ())})
        self._subscription = ThreadSubscription(size=QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ssdlite-mqtt-objects", daemon=True)

    def start(self) -> None:
        self.hub.events.subscribe(self._subscription)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """After the runner ended (server.stop_pipeline; it closed the events after the objects'
        `end` events): the events this output holds go out for up to `timeout` seconds, what is
        left then is dropped (the thread ends after the one at hand; once the MQTT publisher has
        stopped, nothing more is sent)."""
        self._subscription.close(drain=True)
        self._thread.join(timeout)
        self._stop.set()
        self.hub.events.unsubscribe(self._subscription)

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
                self._sent_retained = {}
                was_connected = True
            if item is not None:
                if self.publisher.publish(events_topic, json.dumps(item[0]), qos=1):
                    self.published += 1
                else:
                    self.unsent += 1
            self._publish_counts()  # only the counts that changed

    def _publish_counts(self) -> None:
        target = self.publisher.target
        counts = self.stage.counts()
        if target.discovery_prefix:
            counts = self._with_filter_labels(counts)
        for topic, value in count_topics(target.prefix, counts).items():
            if self._sent_counts.get(topic) != value:
                if self.publisher.publish(topic, str(value), qos=1, retain=True):
                    self._sent_counts[topic] = value
        if target.discovery_prefix:
            self._publish_discovery(counts)

    def _with_filter_labels(self, counts: dict) -> dict:
        """counts with a 0 for each label a zone's or line's filter names and nothing counted yet."""
        zones = {name: dict(labels) for name, labels in counts["zones"].items()}
        lines = {name: {label: dict(sides) for label, sides in labels.items()} for name, labels in counts["lines"].items()}
        for zone in self.stage.regions.zones:
            for label in sorted(zone.labels or ()):
                zones.setdefault(zone.name, {}).setdefault(label, 0)
        for line in self.stage.regions.lines:
            for label in sorted(line.labels or ()):
                lines.setdefault(line.name, {}).setdefault(label, {"in": 0, "out": 0})
        return {"zones": zones, "lines": lines}

    def _publish_discovery(self, counts: dict) -> None:
        target = self.publisher.target
        present = {item["label"] for item in self.stage.objects()}
        for label in sorted(present):
            if label not in self._labels_seen:
                self._labels_seen.append(label)
        messages = {topic: json.dumps(payload, sort_keys=True) for topic, payload in
                    homeassistant.discovery_configs(target.discovery_prefix, target.prefix, counts,
                                                    self._labels_seen).items()}
        # The configs first: Home Assistant creates an entity, then reads its (retained) state.
        messages.update(homeassistant.presence_topics(target.prefix, self._labels_seen, present))
        for topic, payload in messages.items():
            if self._sent_retained.get(topic) != payload:
                if self.publisher.publish(topic, payload, qos=1, retain=True):
                    self._sent_retained[topic] = payload
