"""Video helpers of the live-mode tests: clips encoded and decoded with real GStreamer pipelines,
and a real RTSP server on 127.0.0.1. A plain module (fixtures are in conftest.py) so that test
modules import these by one unambiguous name."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from PIL import Image

FPS = 10
LOSSY_SIZE = (1280, 720)
LOSSY_FRAMES = 24


def encode_clip(gst, frames: Sequence[Image.Image], path: Path, encoder: str, fps: int = FPS,
                orientation: Optional[str] = None) -> Path:
    """Encode RGB frames into `path` with a real GStreamer pipeline; `encoder` is the text between
    the raw frames and the file (e.g. "videoconvert ! x264enc ! mp4mux"). orientation: the
    image-orientation tag the muxer writes (e.g. "rotate-90", what a phone held upright records:
    a player turns the frames 90 degrees clockwise), as qtmux does into the track's matrix."""
    Gst = gst.Gst
    width, height = frames[0].size
    pipeline = Gst.parse_launch(
        f"appsrc name=frames format=time caps=video/x-raw,format=RGB,width={width},height={height},"
        f"framerate={fps}/1 ! {encoder} ! filesink name=file"
    )
    pipeline.get_by_name("file").set_property("location", str(path))
    if orientation is not None:
        tags = Gst.TagList.new_empty()
        tags.add_value(Gst.TagMergeMode.REPLACE, Gst.TAG_IMAGE_ORIENTATION, orientation)
        muxer = tag_setter(gst, pipeline)
        muxer.merge_tags(tags, Gst.TagMergeMode.REPLACE)
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


def tag_setter(gst, pipeline):
    """The element of `pipeline` that writes tags into the file (the muxer: a Gst.TagSetter).
    Debian's PyGObject cannot iterate a Gst.Iterator with `for`, hence next() by hand."""
    Gst = gst.Gst
    iterator = pipeline.iterate_elements()
    while True:
        result, element = iterator.next()
        if result == Gst.IteratorResult.RESYNC:
            iterator.resync()
        elif result != Gst.IteratorResult.OK:
            raise AssertionError("no element of the pipeline writes tags (a muxer such as qtmux)")
        elif isinstance(element, Gst.TagSetter):
            return element


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


def frames_of(paths: Sequence[Path]) -> List[Image.Image]:
    frames = []
    for path in paths:
        with Image.open(path) as image:
            frames.append(image.convert("RGB"))
    return frames


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


EVENTS_FRAME = (720, 360)
BUS_IN_PHOTO = (140, 90, 475, 350)  # the bus in bus.jpg (the reference SSD: 151, 98, 465, 340), with a margin


# Zones and lines for the there-and-back clip: the bus's bottom-centre crosses x = 360 both ways;
# the zone is the right half.
THERE_AND_BACK_ZONES = """
[[zones]]
name = "right"
points = [[360, 0], [720, 0], [720, 360], [360, 360]]
labels = ["bus"]

[[lines]]
name = "middle"
points = [[360, 0], [360, 360]]
in = [600, 180]
labels = ["bus"]
"""


def there_and_back_frames(bus_image, steps: int = 30) -> List[Image.Image]:
    """The bus (cut out of the photo) driving from the left edge of a grey 720x360 frame to the
    right edge in `steps` frames, and back: across the middle both ways."""
    bus = bus_image.crop(BUS_IN_PHOTO)
    travel = EVENTS_FRAME[0] - bus.width
    positions = [round(travel * n / steps) for n in range(steps + 1)]
    positions += [round(travel * (steps - n) / steps) for n in range(1, steps + 1)]
    frames = []
    for x in positions:
        frame = Image.new("RGB", EVENTS_FRAME, (120, 120, 120))
        frame.paste(bus, (x, 50))
        frames.append(frame)
    return frames


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
