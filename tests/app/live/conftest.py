"""Fixtures of the live-mode tests: video clips made here with GStreamer, and the reference SSD.

Every clip is encoded by the tests themselves through a real GStreamer pipeline (appsrc ->
encoder -> muxer -> file), from frames built with Pillow out of the reference bus photo:
- lossless clips (raw RGB in Matroska, PNG in QuickTime), 300x300, whose frames are the exact
  pixels of PNG stills, so that video and still-image detections can be compared frame for frame;
- lossy clips (H.264 in MP4, MJPEG in AVI), 1280x720, the bus driving across a grey street.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from PIL import Image, ImageOps

from ssdlite_detect.live import gst as gst_loader

from live.live_media import RTSPServer, encode_clip, frames_of, moving_bus_frames


@pytest.fixture(scope="session")
def gst():
    """Gst, GstApp, GstVideo and GLib from Debian's PyGObject (never skipped: make installs them)."""
    return gst_loader.load()


@pytest.fixture(scope="session")
def still_frames(bus_image, tmp_path_factory) -> List[Path]:
    """Six different 300x300 RGB frames made from the bus photo, saved as PNG stills."""
    folder = tmp_path_factory.mktemp("stills")
    bus = bus_image
    images = [
        bus.resize((300, 300), Image.BILINEAR),
        ImageOps.mirror(bus).resize((300, 300), Image.BILINEAR),
        bus.crop((100, 50, 400, 350)),
        bus.crop((150, 90, 470, 345)).resize((300, 300), Image.BILINEAR),
        ImageOps.mirror(bus.crop((0, 40, 640, 428))).resize((300, 300), Image.BILINEAR),
        bus.crop((300, 0, 640, 340)).resize((300, 300), Image.BILINEAR),
    ]
    paths = []
    for number, image in enumerate(images):
        path = folder / f"frame{number}.png"
        image.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def raw_mkv(gst, still_frames, tmp_path_factory) -> Path:
    """Uncompressed RGB frames in Matroska: lossless."""
    path = tmp_path_factory.mktemp("clips") / "stills-raw.mkv"
    return encode_clip(gst, frames_of(still_frames), path, "matroskamux")


@pytest.fixture(scope="session")
def png_mov(gst, still_frames, tmp_path_factory) -> Path:
    """PNG frames in QuickTime: lossless."""
    path = tmp_path_factory.mktemp("clips") / "stills-png.mov"
    return encode_clip(gst, frames_of(still_frames), path, "pngenc ! qtmux")


@pytest.fixture(scope="session")
def bus_h264_mp4(gst, bus_image, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "bus-720p.mp4"
    return encode_clip(gst, moving_bus_frames(bus_image), path,
                       "videoconvert ! x264enc speed-preset=ultrafast ! h264parse ! mp4mux")


@pytest.fixture(scope="session")
def bus_mjpeg_avi(gst, bus_image, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "bus-720p.avi"
    return encode_clip(gst, moving_bus_frames(bus_image, count=8), path, "videoconvert ! jpegenc ! avimux")


@pytest.fixture(scope="session")
def reference_detector(reference):
    from ssdlite_detect import Detector

    return Detector.open(str(reference / "coco_ssd_mobilenet_v1_raw.tflite"), labels=str(reference / "coco_labels.txt"),
                    device="cpu", threads=2)


@pytest.fixture
def rtsp_server(gst):
    server = RTSPServer(gst)
    yield server
    server.stop()


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers (a hung camera or wrong service)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"rtsp://127.0.0.1:{listener.getsockname()[1]}/stream"
    listener.close()


@pytest.fixture
def closed_port_url():
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    return f"rtsp://127.0.0.1:{port}/stream"
