"""Snapshots of a running service (the reference SSD on the bus driving across and back):
`GET /api/v1/snapshots/<track_id>.jpg` behind the token, a JPEG of the frame with the bus's box
drawn; 400 and 404; the files of `--snapshots DIR`; `prefix/snapshot/bus` on a real mosquitto,
retained, with MQTT alone (the display branch runs for the snapshots); an object's end (the run's
end, or SIGTERM) publishing its best snapshot, which is its file in DIR, on a clip whose bus gets
clearer (a better frame, but not 0.1 better: only the end publishes it)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from ssdlite_detect.draw import class_colour
from ssdlite_detect.live import gst as gst_loader
from ssdlite_detect.service.server import STOP_BUDGET_S

from live.live_media import BUS_IN_PHOTO, EVENTS_FRAME, THERE_AND_BACK_ZONES, encode_clip, there_and_back_frames
from service_support import TOKEN, Mosquitto, MqttListener, Service, free_port, http_get, wait_for

BUS_CLASS = 6  # COCO


@pytest.fixture(scope="module")
def clip_and_zones(bus_image, tmp_path_factory):
    folder = tmp_path_factory.mktemp("snapshots")
    clip = encode_clip(gst_loader.load(), there_and_back_frames(bus_image), folder / "there-and-back.avi",
                       "videoconvert ! jpegenc quality=95 ! avimux")
    zones = folder / "zones.toml"
    zones.write_text(THERE_AND_BACK_ZONES)
    return clip, zones


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("snapshot-files") / "snaps"


@pytest.fixture(scope="module")
def service(model_args, clip_and_zones, token_file, snapshot_dir):
    clip, zones = clip_and_zones
    running = Service([*model_args, "--source", clip, "--http", "0", "--http-token-file", token_file,
                       "--zones", zones, "--snapshots", snapshot_dir, "--snapshots-max-mb", "5"])
    yield running
    code, _seconds = running.stop()
    assert code == 0, running.stderr


def _json(service, path):
    code, _headers, body = http_get(service.url + path, TOKEN)
    assert code == 200, body
    return json.loads(body)


def _box_is_drawn(jpeg: bytes, box) -> None:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and image.size == EVENTS_FRAME
    pixels = np.asarray(image.convert("RGB")).astype(int)
    x0, y0, x1, y1 = (round(v) for v in box)
    colour = np.array(class_colour(BUS_CLASS))
    # The box's outline in the bus's class colour: its left and bottom edges (drawn inwards).
    left = pixels[y0 + 10:y1 - 10, max(x0, 0):x0 + 4]
    bottom = pixels[max(y1 - 4, 0):y1 + 1, x0 + 10:x1 - 10]
    for edge in (left, bottom):
        closest = np.abs(edge - colour).max(axis=2).min(axis=1 if edge is left else 0)
        assert np.median(closest) < 60, closest
    grey = pixels[5:25, 5:25]  # the background far from the box: untouched grey
    assert np.abs(grey - 120).max() < 25


def test_a_snapshot_is_a_jpeg_of_the_frame_with_the_box(service, snapshot_dir):
    listed = wait_for(lambda: [s for s in _json(service, "/api/v1/snapshots")["snapshots"] if s["label"] == "bus"],
                      120, "a snapshot of the bus")
    bus = listed[-1]
    code, headers, body = http_get(f"{service.url}/api/v1/snapshots/{bus['track_id']}.jpg", TOKEN)
    assert code == 200 and headers["Content-Type"] == "image/jpeg"
    assert bus["score"] >= 0.5 and bus["bytes"] == len(body)
    _box_is_drawn(body, bus["box"])
    files = wait_for(lambda: list(snapshot_dir.glob(f"*-{bus['track_id']}-bus.jpg")), 30, "the snapshot's file")
    assert Image.open(files[0]).size == EVENTS_FRAME
    assert not list(snapshot_dir.glob(".*.tmp"))


def test_the_status_reports_the_bounded_store(service):
    wait_for(lambda: _json(service, "/api/v1/snapshots")["snapshots"], 60, "a snapshot")
    snapshots = _json(service, "/api/v1/status")["snapshots"]
    assert snapshots["objects"] >= 1 and snapshots["max_objects"] == 50 and snapshots["bytes"] > 0


@pytest.mark.parametrize("name, expected", [("abc.jpg", 400), ("12.png", 400), ("-1.jpg", 400),
                                            ("1" * 13 + ".jpg", 400), ("999999.jpg", 404)])
def test_a_malformed_or_unknown_id(service, name, expected):
    code, _headers, body = http_get(f"{service.url}/api/v1/snapshots/{name}", TOKEN)
    assert code == expected, body
    assert "error" in json.loads(body)


@pytest.mark.parametrize("path", ["/api/v1/snapshots", "/api/v1/snapshots/1.jpg"])
def test_the_snapshot_paths_need_the_token(service, path):
    code, _headers, _body = http_get(service.url + path, None)
    assert code == 401


def test_mqtt_snapshot_of_the_bus_retained_with_mqtt_alone(model_args, clip_and_zones, tmp_path):
    clip, zones = clip_and_zones
    broker = Mosquitto(tmp_path, free_port())
    broker.start()
    listener = MqttListener(broker.port, "cam1/#")
    process = subprocess.Popen([sys.executable, "-m", "ssdlite_detect", *map(str, model_args), "--source", str(clip),
                                "--mqtt", f"mqtt://127.0.0.1:{broker.port}/cam1", "--zones", str(zones)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def snapshots():
            return [(payload, retain) for topic, payload, retain in list(listener.raw) if topic == "cam1/snapshot/bus"]

        # The clip plays in a loop (the bus's track goes on across replays): a whole pass, there and back.
        wait_for(lambda: snapshots() and any(json.loads(p).get("direction") == "out"
                                             for p in listener.payloads("cam1/events")), 120, "a snapshot and a pass")
        frames = sum(1 for topic, _p, _r in list(listener.raw) if topic == "cam1/detections")
        jpeg, _retain = snapshots()[-1]
        image = Image.open(io.BytesIO(jpeg))
        assert image.format == "JPEG" and image.size == EVENTS_FRAME
        # Not per frame: the first snapshot, then one per 0.1 of score gained (at most 5 from 0.5).
        assert len(snapshots()) <= 6 and frames >= 30, (len(snapshots()), frames)
        late = MqttListener(broker.port, "cam1/snapshot/#")  # a dashboard subscribing later
        wait_for(lambda: [r for topic, _p, r in list(late.raw) if topic == "cam1/snapshot/bus" and r], 10,
                 "the retained snapshot")
        late.close()
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=10)
        listener.close()
        broker.stop()
    assert process.returncode == 0, err


def test_an_unwritable_snapshot_dir_is_one_line_and_exit_2(model_args, clip_and_zones, tmp_path):
    clip, _zones = clip_and_zones
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = subprocess.run([sys.executable, "-m", "ssdlite_detect", *map(str, model_args), "--source", str(clip),
                             "--http", "0", "--snapshots", str(blocker / "snaps")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"ssdlite-detect: error: --snapshots {blocker / 'snaps'}: cannot write there: Not a directory"]


FADED, CLEAR = 0.4, 1.0  # the bus blended into the grey: the reference SSD scores it ~0.75, then ~0.82
BUS_AT = (200, 50)


def clearer_bus_frames(bus_image, faded: int = 2, clear: int = 3):
    """The bus standing still, faded into the grey for `faded` frames, then as it is: its score
    rises by 0.05 to 0.1 (a better snapshot, not yet a much better one to publish)."""
    bus = bus_image.crop(BUS_IN_PHOTO)
    grey = Image.new("RGB", bus.size, (120, 120, 120))
    frames = []
    for alpha in [FADED] * faded + [CLEAR] * clear:
        frame = Image.new("RGB", EVENTS_FRAME, (120, 120, 120))
        frame.paste(Image.blend(grey, bus, alpha), BUS_AT)
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def clearer_clip(bus_image, tmp_path_factory):
    path = tmp_path_factory.mktemp("clearer") / "clearer.avi"
    return encode_clip(gst_loader.load(), clearer_bus_frames(bus_image), path, "videoconvert ! jpegenc quality=95 ! avimux")


@pytest.fixture
def mqtt_service(model_args, clearer_clip, mosquitto, tmp_path):
    """start(*args) -> (listener of cam1/#, the service's process, its --snapshots DIR): the
    listener is subscribed before the service starts (events are not retained); the process is
    killed at the end if a test left it running."""
    started = []

    def start(*args):
        listener = MqttListener(mosquitto.port, "cam1/#")
        wait_for(lambda: listener.client.publish("cam1/probe", "1").rc == 0 and listener.payloads("cam1/probe"), 30,
                 "the listener's subscription")
        folder = tmp_path / "snaps"
        command = [sys.executable, "-m", "ssdlite_detect", *map(str, model_args), "--source", str(clearer_clip),
                   "--mqtt", f"mqtt://127.0.0.1:{mosquitto.port}/cam1", "--snapshots", str(folder), *args]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started.append((listener, process))
        return listener, process, folder

    yield start
    for listener, process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()
        listener.close()


def _bus_region(pixels: np.ndarray, box) -> np.ndarray:
    """The pixels well inside the bus's box (away from the drawn outline and label)."""
    x0, y0, x1, y1 = (round(v) for v in box)
    return pixels[y0 + 30:y1 - 15, x0 + 15:x1 - 15].astype(int)


def _check_the_end_published_the_best_before_offline(listener, folder, bus_image):
    """The bus's last event is `end`; prefix/snapshot/bus got its first snapshot (the faded bus)
    and, from the end, its best (the clear bus; its gain below 0.1 published nothing before): that
    one is the file of its track id in DIR. Both before the retained `offline`, the last message."""
    wait_for(lambda: (b"offline", "cam1/status") in [(p, t) for t, p, _r in list(listener.raw)], 10, "offline")
    raw = list(listener.raw)
    topics = [topic for topic, _payload, _retain in raw]
    offline = [i for i, (t, p, _r) in enumerate(raw) if t == "cam1/status" and p == b"offline"]
    assert len(offline) == 1 and topics[offline[0] + 1:] == [], topics[offline[0]:]  # the last message
    events = [(i, json.loads(p)) for i, (t, p, _r) in enumerate(raw) if t == "cam1/events"]
    bus = [(i, event) for i, event in events if event["label"] == "bus"]
    assert bus and bus[-1][1]["type"] == "end" and len({event["track_id"] for _i, event in bus}) == 1, bus
    (_i, new), (end_at, end) = bus[0], bus[-1]
    assert new["type"] == "new" and end["top_score"] - new["score"] >= 0.05, (new, end)  # a better frame came
    assert end["top_score"] - new["score"] < 0.1, (new, end)  # not a much better one: only its end publishes it
    snapshots = [(i, p) for i, (t, p, _r) in enumerate(raw) if t == "cam1/snapshot/bus"]
    # The first snapshot, then the best one: the second message can only be the end's (the gain
    # is below events.UPDATE_SCORE_GAIN, so no "better" snapshot went out).
    assert len(snapshots) == 2, len(snapshots)
    (_i, first), (last_at, last) = snapshots
    assert end_at < offline[0] and last_at < offline[0], (end_at, last_at, offline)
    image = Image.open(io.BytesIO(last))
    assert image.format == "JPEG" and image.size == EVENTS_FRAME
    files = list(folder.glob(f"*-{end['track_id']}-bus.jpg"))
    assert len(files) == 1 and files[0].read_bytes() == last != first
    # The best-scoring frame's snapshot: the clear bus, not the faded one of the first frames.
    faded, clear = (_bus_region(np.asarray(frame), end["box"]) for frame in clearer_bus_frames(bus_image, 1, 1))
    for jpeg, expected, other in ((last, clear, faded), (first, faded, clear)):
        region = _bus_region(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")), end["box"])
        assert np.abs(region - expected).mean() < np.abs(region - other).mean()


def test_the_runs_end_publishes_each_objects_end_and_best_snapshot_before_offline(mqtt_service, bus_image):
    # The service replays a file: --frames 5 (the clip's length) ends the run, and with it the bus.
    listener, process, folder = mqtt_service("--frames", "5")
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    _check_the_end_published_the_best_before_offline(listener, folder, bus_image)


def test_sigterm_publishes_each_objects_end_and_best_snapshot_before_offline_within_3_s(mqtt_service, bus_image):
    listener, process, folder = mqtt_service()
    # Into the clip's second pass (it replays): the clear bus was seen, its best snapshot taken.
    wait_for(lambda: len(listener.payloads("cam1/detections")) >= 8, 120, "the second pass")
    start = time.monotonic()
    process.terminate()
    _out, err = process.communicate(timeout=10)
    seconds = time.monotonic() - start
    print(f"SIGTERM to exit, with the ends published: {seconds:.2f} s")
    assert process.returncode == 0, err
    assert seconds <= STOP_BUDGET_S, seconds
    _check_the_end_published_the_best_before_offline(listener, folder, bus_image)
