"""Fixtures of the service-mode tests: the reference SSD's arguments, a bus clip made with
GStreamer (the live-mode tests' clip making, tests/app/live/live_media.py), a token file, services
and a mosquitto broker started per test and always stopped. Helpers: service_support.py."""
from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from live.live_media import encode_clip, moving_bus_frames  # tests/app is on sys.path (its conftest)
from service_support import TOKEN, Mosquitto, Service, free_port
from ssdlite_detect.live import gst as gst_loader


@pytest.fixture(scope="session")
def model_args(reference) -> List[str]:
    return ["--model", str(reference / "coco_ssd_mobilenet_v1_raw.tflite"),
            "--labels", str(reference / "coco_labels.txt"), "--device", "cpu", "--threads", "1"]



@pytest.fixture(scope="session")
def bus_clip(bus_image, tmp_path_factory) -> Path:
    """The bus driving across the frame, 40 frames MJPEG at 10 FPS: the reference SSD finds it."""
    path = tmp_path_factory.mktemp("service-clips") / "bus.avi"
    return encode_clip(gst_loader.load(), moving_bus_frames(bus_image, count=40, size=(640, 360)), path,
                       "videoconvert ! jpegenc ! avimux")



@pytest.fixture(scope="session")
def token_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text(TOKEN + "\n")
    return path



@pytest.fixture
def start_service(model_args):
    """start_service(*args) -> a running Service; every one is stopped at the end of the test."""
    services = []

    def start(*args, env=None) -> Service:
        service = Service([*model_args, *args], env=env)
        services.append(service)
        return service

    yield start
    for service in services:
        service.kill()



@pytest.fixture
def mosquitto(tmp_path):
    broker = Mosquitto(tmp_path, free_port())
    broker.start()
    yield broker
    broker.stop()
