"""Home Assistant MQTT discovery (opt-in, `--mqtt-discovery PREFIX`, usually `homeassistant`).

Home Assistant creates an entity for each retained config message under its discovery prefix
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery), topic
`<discovery prefix>/<component>/<node id>/<object id>/config`. This service announces:

- a sensor per zone and label: objects of the label in the zone now (`<prefix>/counts/ZONE/LABEL`);
- a sensor per line, label and direction: crossings since the start (`<prefix>/lines/LINE/LABEL/in`);
- a binary sensor per label, "present": ON while an object of the label is tracked
  (`<prefix>/present/LABEL`, retained ON/OFF);

all of one device (the camera's service), available while `<prefix>/status` is `running`.
Entities appear as their topics do: a zone's or line's label filter announces its labels at once,
other labels when first seen. Pure functions: mqtt_objects.py publishes what they return.
"""
from __future__ import annotations

import re
from typing import Dict, Iterable, Tuple

from .. import __version__

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")  # Home Assistant's node and object ids: [a-zA-Z0-9_-]


def safe_id(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "_"


def node_id(prefix: str) -> str:
    """One device per topic prefix (one camera's service)."""
    return "ssdlite_" + safe_id(prefix)


def device(prefix: str) -> dict:
    return {"identifiers": [node_id(prefix)], "name": f"ssdlite-detect {prefix}", "manufacturer": "meta-ssdlite",
            "model": "ssdlite-detect", "sw_version": __version__}


def availability(prefix: str) -> list:
    # The status topic says running, starting, source-lost, stopping or offline: only running is
    # "available" (a template maps the rest, which Home Assistant would otherwise ignore).
    return [{"topic": f"{prefix}/status", "value_template": "{{ 'online' if value == 'running' else 'offline' }}",
             "payload_available": "online", "payload_not_available": "offline"}]


def _entity(prefix: str, component: str, object_id: str, name: str, state_topic: str, extra: dict) -> Tuple[str, dict]:
    node = node_id(prefix)
    unique = f"{node}_{object_id}"
    payload = {"name": name, "unique_id": unique, "object_id": unique, "state_topic": state_topic,
               "availability": availability(prefix), "availability_mode": "all", "device": device(prefix), **extra}
    return f"{{discovery}}/{component}/{node}/{object_id}/config", payload


def count_entity(prefix: str, zone: str, label: str) -> Tuple[str, dict]:
    return _entity(prefix, "sensor", f"zone_{safe_id(zone)}_{safe_id(label)}", f"{zone} {label}",
                   f"{prefix}/counts/{zone}/{label}",
                   {"state_class": "measurement", "unit_of_measurement": "objects", "icon": "mdi:counter"})


def line_entity(prefix: str, line: str, label: str, side: str) -> Tuple[str, dict]:
    return _entity(prefix, "sensor", f"line_{safe_id(line)}_{safe_id(label)}_{side}", f"{line} {label} {side}",
                   f"{prefix}/lines/{line}/{label}/{side}",
                   {"state_class": "total_increasing", "unit_of_measurement": "crossings", "icon": "mdi:transit-transfer"})


def presence_entity(prefix: str, label: str) -> Tuple[str, dict]:
    return _entity(prefix, "binary_sensor", f"present_{safe_id(label)}", f"{label} present",
                   f"{prefix}/present/{label}", {"payload_on": "ON", "payload_off": "OFF", "device_class": "occupancy"})


def discovery_configs(discovery_prefix: str, prefix: str, counts: dict, labels: Iterable[str]) -> Dict[str, dict]:
    """{config topic: payload} of every entity the counts (ObjectStage.counts(), the zones' and
    lines' label filters included by the caller) and the labels seen so far call for."""
    entities = []
    for zone, zone_labels in counts["zones"].items():
        entities += [count_entity(prefix, zone, label) for label in zone_labels]
    for line, line_labels in counts["lines"].items():
        entities += [line_entity(prefix, line, label, side) for label in line_labels for side in ("in", "out")]
    entities += [presence_entity(prefix, label) for label in labels]
    return {topic.format(discovery=discovery_prefix): payload for topic, payload in entities}


def presence_topics(prefix: str, labels_seen: Iterable[str], labels_present: Iterable[str]) -> Dict[str, str]:
    """{topic: "ON" or "OFF"} for every label seen so far."""
    present = set(labels_present)
    return {f"{prefix}/present/{label}": "ON" if label in present else "OFF" for label in labels_seen}
