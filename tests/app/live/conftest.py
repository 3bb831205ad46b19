"""Fixtures of the live-mode tests: video clips made here with GStreamer, and the reference SSD.

Every clip is encoded by the tests themselves through a real GStreamer pipeline (appsrc ->
encoder -> muxer -> file), from frames built with Pillow out of the reference bus photo:
- lossless clips (raw RGB in Matroska, PNG in QuickTime), 300x300, whose frames are the exact
  pixels of PNG stills, so that video and still-image detections can be compared frame for frame;
- lossy clips (H.264 in MP4, MJPEG in AVI), 1280x720, the bus driving across a grey street.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np
import pytest
from PIL import Image, ImageOps

from ssdlite_detect.live import gst as gst_loader

FPS = 10
LOSSY_SIZE = (1280, 720)
LOSSY_FRAMES = 24


@pytest.fixture(scope="session")
def gst():
    """Gst, GstApp, GstVideo and GLib from Debian's PyGObject (never skipped: make installs them)."""
    return gst_loader.load()


def encode_clip(gst, frames: Sequence[Image.Image], path: Path, encoder: str, fps: int = FPS) -> Path:
    """Encode RGB frames into `path` with a real GStreamer pipeline; `encoder` is the text between
    the raw frames and the file (e.g. "videoconvert ! x264enc ! mp4mux")."""
    Gst = gst.Gst
    width, height = frames[0].size
    pipeline = Gst.parse_launch(
        f"appsrc name=frames format=time caps=video/x-raw,format=RGB,width={width},height={height},"
        f"framerate={fps}/1 ! {encoder} ! filesink name=file"
    )
    pipeline.get_by_name("file").set_property("location", str(path))
    appsrc = pipeline.get_by_name("frames")
    pipeline.set_state(Gst.State.PLAYING)
    for number, frame in enumerate(frames):
        buffer = Gst.Buffer.new_wrapped(np.ascontiguousarray(np.asarray(frame.convert("RGB"))).tobytes())
        buffer.pts = number * Gst.SECOND // fps
        buffer.duration = Gst.SECOND // fps
        assert appsrc.emit("push-buffer", buffer) == Gst.FlowReturn.OK
    appsrc.emit("end-of-stream")
    message = pipeline.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert message is not None and message.type == Gst.MessageType.EOS, message and message.parse_error()
    return path


def count_frames(gst, path: Path) -> List[tuple]:
    """(width, height) of every frame GStreamer decodes from `path` (proves a file plays)."""
    Gst = gst.Gst
    pipeline = Gst.parse_launch("filesrc name=src ! decodebin ! video/x-raw ! appsink name=sink sync=false")
    pipeline.get_by_name("src").set_property("location", str(path))
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    sizes = []
    while True:
        sample = sink.try_pull_sample(10 * Gst.SECOND)
        if sample is None:
            break
        structure = sample.get_caps().get_structure(0)
        sizes.append((structure.get_int("width")[1], structure.get_int("height")[1]))
    error = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert error is None, error.parse_error()
    return sizes


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


def _frames_of(paths: Sequence[Path]) -> List[Image.Image]:
    frames = []
    for path in paths:
        with Image.open(path) as image:
            frames.append(image.convert("RGB"))
    return frames


@pytest.fixture(scope="session")
def raw_mkv(gst, still_frames, tmp_path_factory) -> Path:
    """Uncompressed RGB frames in Matroska: lossless."""
    path = tmp_path_factory.mktemp("clips") / "stills-raw.mkv"
    return encode_clip(gst, _frames_of(still_frames), path, "matroskamux")


@pytest.fixture(scope="session")
def png_mov(gst, still_frames, tmp_path_factory) -> Path:
    """PNG frames in QuickTime: lossless."""
    path = tmp_path_factory.mktemp("clips") / "stills-png.mov"
    return encode_clip(gst, _frames_of(still_frames), path, "pngenc ! qtmux")


def moving_bus_frames(bus_image, count: int = LOSSY_FRAMES, size=LOSSY_SIZE) -> List[Image.Image]:
    """The bus photo driving from left to right across a grey 1280x720 frame."""
    frames = []
    travel = size[0] - bus_image.width
    for number in range(count):
        frame = Image.new("RGB", size, (120, 120, 120))
        x = round(travel * number / max(count - 1, 1))
        frame.paste(bus_image, (x, (size[1] - bus_image.height) // 2))
        frames.append(frame)
    return frames


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

    return Detector(str(reference / "coco_ssd_mobilenet_v1_raw.tflite"), labels=str(reference / "coco_labels.txt"),
                    device="cpu", threads=2)


class RTSPServer:
    """A real RTSP server (gst-rtsp-server) on 127.0.0.1, serving MJPEG over RTP at /test."""

    def __init__(self, gst, launch: str = "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,"
                                          "framerate=30/1,format=I420 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )",
                 port: int = 0):
        import threading

        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GstRtspServer

        GLib = gst.GLib
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(port))  # 0: any free port
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
        self.server.get_mount_points().add_factory("/test", factory)
        self.context = GLib.MainContext()
        self.loop = GLib.MainLoop.new(self.context, False)
        self.source_id = self.server.attach(self.context)
        self.port = self.server.get_bound_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/test"
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.loop.quit()
        self.thread.join(timeout=5)
        self.context.find_source_by_id(self.source_id).destroy()


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
