"""The tracked objects of a running service (the reference SSD on the bus driving across and
back, a line through the middle, a zone on the right half): /api/v1/objects, /api/v1/counts and
the SSE stream of events, behind the token like every other path."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request

import pytest

from ssdlite_detect.live import gst as gst_loader

from live.live_media import THERE_AND_BACK_ZONES, encode_clip, there_and_back_frames
from service_support import TOKEN, Mosquitto, MqttListener, Service, free_port, http_get, wait_for

@pytest.fixture(scope="module")
def clip_and_zones(bus_image, tmp_path_factory):
    folder = tmp_path_factory.mktemp("objects")
    clip = encode_clip(gst_loader.load(), there_and_back_frames(bus_image), folder / "there-and-back.avi",
                       "videoconvert ! jpegenc quality=95 ! avimux")
    zones = folder / "zones.toml"
    zones.write_text(THERE_AND_BACK_ZONES)
    return clip, zones


@pytest.fixture(scope="module")
def service(model_args, clip_and_zones, token_file):
    clip, zones = clip_and_zones
    running = Service([*model_args, "--source", clip, "--http", "0", "--http-token-file", token_file,
                       "--zones", zones])
    yield running
    code, _seconds = running.stop()
    assert code == 0, running.stderr


def _get(service, path):
    code, _headers, body = http_get(service.url + path, TOKEN)
    assert code == 200, body
    return json.loads(body)


def test_objects_counts_and_events(service):
    # The clip plays in a loop: the bus crosses the line in, then out, every 6 s of video.
    wait_for(lambda: _get(service, "/api/v1/counts")["lines"].get("middle", {}).get("bus", {}).get("out", 0) >= 1,
             120, "the bus crossing the line both ways")
    counts = _get(service, "/api/v1/counts")
    assert counts["lines"]["middle"]["bus"]["in"] >= 1
    assert set(counts["zones"]) == {"right"}
    wait_for(lambda: any(o["label"] == "bus" for o in _get(service, "/api/v1/objects")["objects"]), 60, "a bus")
    bus = next(o for o in _get(service, "/api/v1/objects")["objects"] if o["label"] == "bus")
    assert isinstance(bus["track_id"], int) and len(bus["box"]) == 4
    assert {"score", "top_score", "first_seen_ms", "last_seen_ms", "zones", "entered_zones"} <= set(bus)


def test_the_event_stream_sends_crossings(service):
    request = urllib.request.Request(service.url + "/api/v1/objects/events", headers={"Authorization": f"Bearer {TOKEN}"})
    data = b""
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        while b"event: cross" not in data:
            chunk = response.read1(65536)
            assert chunk, "the stream ended"
            data += chunk
    block = data.split(b"event: cross\n", 1)[1].split(b"\n\n", 1)[0]
    event = json.loads(block.split(b"data: ", 1)[1])
    assert event["type"] == "cross" and event["line"] == "middle" and event["direction"] in ("in", "out")


@pytest.mark.parametrize("path", ["/api/v1/objects", "/api/v1/counts", "/api/v1/objects/events"])
def test_the_objects_paths_need_the_token(service, path):
    code, _headers, _body = http_get(service.url + path, None)
    assert code == 401


def test_mqtt_events_and_retained_counts(start_service, clip_and_zones, tmp_path):
    clip, zones = clip_and_zones
    broker = Mosquitto(tmp_path, free_port())
    broker.start()
    listener = MqttListener(broker.port, "cam1/#")
    service = start_service("--source", clip, "--http", "0", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cam1",
                            "--zones", zones)
    try:
        wait_for(lambda: "1" in listener.payloads("cam1/lines/middle/bus/out"), 120, "the line's count going out")
        events = [json.loads(payload) for payload in listener.payloads("cam1/events")]
        crossings = [event["direction"] for event in events if event["type"] == "cross" and event["label"] == "bus"]
        assert crossings[:2] == ["in", "out"], events
        assert "1" in listener.payloads("cam1/lines/middle/bus/in")
        assert listener.payloads("cam1/counts/right/bus")[:2] == ["1", "0"]  # entered, then left
        retained = MqttListener(broker.port, "cam1/lines/#")  # a late subscriber gets the counts
        wait_for(lambda: retained.payloads("cam1/lines/middle/bus/in"), 10, "the retained count")
        retained.close()
        code, _seconds = service.stop()
        assert code == 0, service.stderr
    finally:
        listener.close()
        broker.stop()


def test_home_assistant_discovery_and_no_per_frame_detections(start_service, clip_and_zones, tmp_path):
    """--mqtt-discovery homeassistant --mqtt-detections off on the real broker: retained config
    messages whose state topics carry the counts and the presence, and not one per-frame message."""
    clip, zones = clip_and_zones
    broker = Mosquitto(tmp_path, free_port())
    broker.start()
    listener = MqttListener(broker.port, "#")
    service = start_service("--source", clip, "--http", "0", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cam1",
                            "--mqtt-detections", "off", "--mqtt-discovery", "homeassistant", "--zones", zones)
    try:
        wait_for(lambda: "1" in listener.payloads("cam1/lines/middle/bus/out"), 120, "the line's count going out")
        wait_for(lambda: "ON" in listener.payloads("cam1/present/bus"), 30, "the bus present")
        assert listener.payloads("cam1/detections") == []
        assert listener.payloads("cam1/counts/right/bus")[:3] == ["0", "1", "0"]  # from the zone's filter, then counted
        late = MqttListener(broker.port, "homeassistant/#")  # Home Assistant starting later: all retained
        configs = {
            "homeassistant/sensor/ssdlite_cam1/zone_right_bus/config": "cam1/counts/right/bus",
            "homeassistant/sensor/ssdlite_cam1/line_middle_bus_in/config": "cam1/lines/middle/bus/in",
            "homeassistant/sensor/ssdlite_cam1/line_middle_bus_out/config": "cam1/lines/middle/bus/out",
            "homeassistant/binary_sensor/ssdlite_cam1/present_bus/config": "cam1/present/bus",
        }
        wait_for(lambda: all(late.payloads(topic) for topic in configs), 10, "the retained discovery configs")
        for topic, state_topic in configs.items():
            payload = json.loads(late.payloads(topic)[-1])
            assert payload["state_topic"] == state_topic and listener.payloads(state_topic), topic
            assert payload["device"]["identifiers"] == ["ssdlite_cam1"]
            assert payload["availability"][0]["topic"] == "cam1/status"
        late.close()
        code, _seconds = service.stop()
        assert code == 0, service.stderr
        wait_for(lambda: listener.payloads("cam1/status")[-1:] == ["offline"], 5, "offline: unavailable")
    finally:
        listener.close()
        broker.stop()


def _mqtt_outputs(broker):
    """A hub, and the service's MQTT output with its objects output on it, connected to `broker`
    (the real paho client; the runner is the test, publishing to the hub's events itself)."""
    from ssdlite_detect.analytics.stage import ObjectStage
    from ssdlite_detect.analytics.zones import Regions
    from ssdlite_detect.live.hub import ResultHub
    from ssdlite_detect.service.mqtt import MqttPublisher, parse_mqtt_url
    from ssdlite_detect.service.mqtt_objects import MqttObjectPublisher

    hub = ResultHub("scripted", "cpu", "m")
    mqtt = MqttPublisher(hub, parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}/cam1"))
    objects = MqttObjectPublisher(hub, ObjectStage(Regions(), 0.5), mqtt)
    mqtt.start()
    objects.start()
    wait_for(lambda: mqtt.connected, 10, "the service's client connected")
    return hub, mqtt, objects


ENDS_AT_STOP = 40  # the objects a run ends at once (below paho's queue of 64 unacknowledged messages)


def _subscribed_listener(broker) -> MqttListener:
    listener = MqttListener(broker.port, "cam1/#")
    wait_for(lambda: listener.client.publish("cam1/probe", "1").rc == 0 and listener.payloads("cam1/probe"), 30,
             "the listener's subscription")
    return listener


def test_the_events_held_at_stop_go_out_before_offline(mosquitto):
    """server.stop_pipeline's order: the runner published a burst of `end` events and closed the
    events topic; the objects output's stop sends every one it still holds, then `offline` goes
    out, the last message (a stop that dropped what it held loses most of them)."""
    listener = _subscribed_listener(mosquitto)
    hub, mqtt, objects = _mqtt_outputs(mosquitto)
    try:
        for track_id in range(1, ENDS_AT_STOP + 1):
            hub.events.publish(({"type": "end", "track_id": track_id, "label": "bus"}, None))
        hub.events.close_all(drain=True)  # the runner's end (runner.run's finally)
        objects.stop(1.0)
        mqtt.stop()
        wait_for(lambda: listener.payloads("cam1/status")[-1:] == ["offline"], 10, "offline")
        topics = [topic for topic, _payload, _retain in list(listener.messages) if topic != "cam1/probe"]
        ids = [json.loads(payload)["track_id"] for payload in listener.payloads("cam1/events")]
        assert ids == list(range(1, ENDS_AT_STOP + 1)), (objects.published, objects.unsent)
        assert topics[-1] == "cam1/status" and topics.count("cam1/status") == 2  # `running`, then `offline`
    finally:
        listener.close()


def test_nothing_follows_offline_while_a_hung_broker_keeps_the_stop_waiting(mosquitto):
    """The MQTT output's stop waits up to OFFLINE_TIMEOUT_S for the broker to take `offline`, here
    a hung one (SIGSTOP: the connection stays up). Meanwhile an output sharing the connection (an
    objects output whose drain ran out of time) gets its events refused: once the broker is back,
    `offline` is still the last message it delivers."""
    listener = _subscribed_listener(mosquitto)
    hub, mqtt, objects = _mqtt_outputs(mosquitto)
    os.kill(mosquitto.process.pid, signal.SIGSTOP)
    try:
        stopper = threading.Thread(target=mqtt.stop)
        stopper.start()
        time.sleep(0.2)  # the stop has begun: `offline` is with paho, waiting for the broker
        assert mqtt.connected and stopper.is_alive()
        for track_id in range(1, ENDS_AT_STOP + 1):
            hub.events.publish(({"type": "end", "track_id": track_id, "label": "bus"}, None))
        wait_for(lambda: objects.unsent == ENDS_AT_STOP, 5, "the events refused", interval=0.02)
        assert stopper.is_alive()  # all of them while the stop was still waiting
        objects.stop(1.0)
    finally:
        os.kill(mosquitto.process.pid, signal.SIGCONT)
    stopper.join(5)
    wait_for(lambda: listener.payloads("cam1/status")[-1:] == ["offline"], 10, "offline")
    time.sleep(0.5)  # anything the broker would still deliver after it
    assert listener.payloads("cam1/events") == [] and objects.published == 0
    assert [topic for topic, _p, _r in list(listener.messages)][-1] == "cam1/status"
    listener.close()
