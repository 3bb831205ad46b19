"""MQTT output (paho-mqtt 1.6.1, the board's): each result to `<prefix>/detections` (QoS 0, the
`--json` shape; `--mqtt-detections off` leaves them out, 30 to 90 messages a second that a
product consuming events and counts does not need), the service state to a retained `<prefix>/status` (QoS 1) with the last will
`offline`, so a subscriber always knows whether the detector is up.

    --mqtt mqtt://[user:password@]host[:port]/prefix     (port 1883)
    --mqtt mqtts://[user:password@]host[:port]/prefix    (TLS with the system's CAs, port 8883)

A broker that is down at start or goes away never stops detection: paho's network thread
reconnects with a backoff (RECONNECT_MIN_S doubling to RECONNECT_MAX_S), and results published
meanwhile are counted as unsent instead of piling up. Results reach paho through this output's
own bounded dropping subscription and thread, so a slow broker slows only this output.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

from ..errors import DetectError
from ..live.hub import MAX_AGE_S, ResultHub
from ..pubsub import ThreadSubscription
from ..urls import has_control_characters, is_host, redact_url

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
QUEUE_SIZE = 16            # results this output may lag behind the detector
PAHO_QUEUE_LIMIT = 64      # messages paho itself may hold while in flight
OFFLINE_TIMEOUT_S = 1.0    # how long stopping waits for the `offline` status to be delivered
OFFLINE = "offline"
MQTT_STRING_MAX = 65535 - len("/detections")  # an MQTT string is at most 65535 bytes (topic, user, password)


class MqttUrlError(DetectError):
    exit_code = 2


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    tls: bool
    prefix: str
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)  # never in a log line
    detections: bool = True                 # each frame's result to <prefix>/detections (--mqtt-detections)
    discovery_prefix: Optional[str] = None  # Home Assistant discovery (--mqtt-discovery), None: off

    @property
    def detections_topic(self) -> str:
        return f"{self.prefix}/detections"

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/status"

    def describe(self) -> str:
        """The URL without the password (for logs)."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}/{self.prefix}"


def parse_mqtt_url(url: str) -> MqttTarget:
    """The target of `--mqtt URL`; MqttUrlError (one line, the password never in it) for anything else."""
    shown = f"--mqtt {redact_url(url)}"
    if has_control_characters(url):
        raise MqttUrlError(f"{shown}: control characters (a line break, a tab) in the URL")
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError:  # a port out of 0-65535 or not a number, or an IPv6 bracket left open
        raise MqttUrlError(f"{shown}: not a valid URL (expected mqtt://[user:password@]host[:port]/prefix, "
                           "port 1-65535)") from None
    if "@" in parsed.path + parsed.query + parsed.fragment:
        # A password with an unencoded "/" (mqtt://bob:1/0@host/cam) ends the host part early: the
        # URL would name host "bob", port 1, and publish under a topic that holds the password.
        raise MqttUrlError(f"{shown}: an @ after the host; percent-encode / ? # @ in a user name or "
                           "password (%2F %3F %23 %40)")
    if parsed.scheme not in ("mqtt", "mqtts"):
        raise MqttUrlError(f"{shown}: expected mqtt://[user:password@]host[:port]/prefix (or mqtts://)")
    if port == 0:
        raise MqttUrlError(f"{shown}: the port must be in 1-65535")
    if not parsed.hostname:
        raise MqttUrlError(f"{shown}: no broker host")
    if not is_host(parsed.hostname):
        raise MqttUrlError(f"{shown}: {parsed.hostname!r} is not a host name or an IP address")
    prefix = parsed.path.strip("/")
    if not prefix:
        raise MqttUrlError(f"{shown}: give a topic prefix, e.g. mqtt://{parsed.hostname}/camera1")
    if any(char in prefix for char in "+\0") or "#" in url or parsed.query:
        raise MqttUrlError(f"{shown}: the topic prefix may not contain +, # or a query")
    try:  # paho sends these as UTF-8: a name that is not (percent-encoded or not) would fail in its thread
        username = urllib.parse.unquote(parsed.username, errors="strict") if parsed.username else None
        password = urllib.parse.unquote(parsed.password, errors="strict") if parsed.password else None
        encoded = [value.encode("utf-8") for value in (prefix, username, password) if value is not None]
    except UnicodeError:
        raise MqttUrlError(f"{shown}: the URL is not valid UTF-8") from None
    for value in encoded:
        if len(value) > MQTT_STRING_MAX:
            raise MqttUrlError(f"{shown}: longer than MQTT allows ({MQTT_STRING_MAX} bytes per field)")
    tls = parsed.scheme == "mqtts"
    return MqttTarget(host=parsed.hostname, port=port or (8883 if tls else 1883), tls=tls, prefix=prefix,
                      username=username, password=password)


def check_discovery_prefix(text: str) -> str:
    """--mqtt-discovery's topic prefix (Home Assistant's is `homeassistant`), or MqttUrlError."""
    prefix = text.strip("/")
    if not prefix or any(char in prefix for char in "+#\0") or has_control_characters(prefix):
        raise MqttUrlError(f"--mqtt-discovery {text!r}: give a topic prefix without + or #, e.g. homeassistant")
    if len(prefix.encode("utf-8", "surrogatepass")) > 1024:
        raise MqttUrlError("--mqtt-discovery: the prefix is longer than 1024 bytes")
    return prefix


class MqttPublisher:
    """Publishes the hub's results and state to the broker (see the module doc)."""

    def __init__(self, hub: ResultHub, target: MqttTarget):
        import paho.mqtt.client as mqtt  # the service package's dependency, loaded only when used

        self._mqtt = mqtt
        self.hub = hub
        self.target = target
        self.published = 0
        self._unsent = 0
        self.connected = False
        self._stop = threading.Event()
        # Held while a state is published and while `offline` is: once stop() has begun, no later
        # state (the runner's `stopping`) can overwrite the retained `offline`.
        self._state_lock = threading.Lock()
        self._subscription = ThreadSubscription(size=QUEUE_SIZE, max_age=MAX_AGE_S)
        self._thread = threading.Thread(target=self._run, name="ssdlite-mqtt", daemon=True)
        client_id = f"ssdlite-detect-{socket.gethostname()}-{os.getpid()}"
        self.client = mqtt.Client(client_id=client_id, clean_session=True)
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set()  # the system's CA certificates; the broker's name is checked
        self.client.will_set(target.status_topic, OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self.client.max_queued_messages_set(PAHO_QUEUE_LIMIT)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    @property
    def unsent(self) -> int:
        """Results not sent: broker unreachable, or dropped because this output fell behind."""
        return self._unsent + self._subscription.dropped

    def _on_connect(self, client, _userdata, _flags, rc) -> None:
        if rc == 0:
            self.connected = True
            self._publish_state(self.hub.state)

    def _on_disconnect(self, _client, _userdata, _rc) -> None:
        self.connected = False

    def _publish_state(self, state: str) -> None:
        with self._state_lock:
            if self.connected and not self._stop.is_set():
                self.client.publish(self.target.status_topic, state, qos=1, retain=True)

    def publish(self, topic: str, payload, qos: int = 0, retain: bool = False) -> bool:
        """Publishes on this connection (the results here, the objects' events, counts and
        snapshots of the outputs that share it); False if not sent: disconnected, paho's queue
        full, or stop() has begun, after which nothing may follow the retained `offline`."""
        with self._state_lock:
            if not self.connected or self._stop.is_set():
                return False
            return self.client.publish(topic, payload, qos=qos, retain=retain).rc == self._mqtt.MQTT_ERR_SUCCESS

    def start(self) -> None:
        # connect_async: a broker that is down at start is retried by paho's loop, not an error.
        self.client.connect_async(self.target.host, self.target.port, keepalive=30)
        self.client.loop_start()
        self.hub.on_state(self._publish_state)
        if self.target.detections:  # off (--mqtt-detections off): only the state, events and counts
            self.hub.results.subscribe(self._subscription)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and not self._subscription.finished:
            item = self._subscription.get(timeout=0.5)
            if item is None:
                continue
            result, _frame = item
            if self.publish(self.target.detections_topic, json.dumps(result.to_dict()), qos=0):
                self.published += 1
            else:  # not connected, the connection dropped meanwhile, or paho's queue is full
                self._unsent += 1

    def stop(self, timeout: float = 2 * OFFLINE_TIMEOUT_S) -> None:
        """Publishes `offline` (retained) as the last message and disconnects, within `timeout`
        seconds (at most OFFLINE_TIMEOUT_S of it waiting for the broker to take `offline`)."""
        deadline = time.monotonic() + timeout
        with self._state_lock:  # no publish() after this: `offline` is the last message
            self._stop.set()
        self.hub.results.unsubscribe(self._subscription)  # the thread ends after the item at hand
        if self.connected:
            info = self.client.publish(self.target.status_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.0, min(OFFLINE_TIMEOUT_S, deadline - time.monotonic())))
            except (RuntimeError, ValueError):
                pass  # the connection went while stopping: the broker sends the will instead
        self.client.disconnect()
        # paho's loop_stop() joins its thread without a timeout, and that thread may be in a
        # connect() to an unreachable broker: bound the wait (the thread is a daemon).
        stopper = threading.Thread(target=self.client.loop_stop, name="ssdlite-mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(timeout=max(0.0, deadline - time.monotonic()))
