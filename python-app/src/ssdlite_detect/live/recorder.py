"""The annotated video (`ssdlite-detect --source ... --output FILE`).

Frames drawn with the still-image drawing code (draw.annotate) are pushed into an appsrc and
encoded with the SoC's hardware H.264 encoder where it has one (i.MX 8M Plus `vpuenc_h264`), else
MJPEG. `close()` sends end-of-stream and waits for the muxer to finish, so the
file is playable after Ctrl-C or SIGTERM too.
"""
from __future__ import annotations

import os
import time
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..draw import annotate
from ..errors import OutputError
from ..results import Detection
from . import gst as gst_loader
from .elements import OutputFormatError, VideoChain, encoder_elements

FALLBACK_FRAME_NS = 33_333_333  # frames without a timestamp are spaced at 30 FPS
CLOSE_TIMEOUT = 10.0
PUSH_TIMEOUT = 10.0  # an encoder that takes no frame for this long has failed
QUEUED_FRAMES = 4    # frames the encoder may lag behind before write() waits


class VideoRecorder:
    """Writes annotated frames to a video file. Opened on the first frame (its size fixes the
    video's); frames of another size later (an RTSP stream renegotiating) are resized to it."""

    def __init__(self, path: str, chain: VideoChain):
        self.path = path
        try:
            self.encoder = encoder_elements(path, chain)  # fails before the source starts
        except OutputFormatError as error:
            raise OutputError(str(error)) from None
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise OutputError(f"--output {path}: no such directory {directory}")
        if not os.access(directory, os.W_OK):
            raise OutputError(f"--output {path}: permission denied")
        self._gst = gst_loader.load()
        self.pipeline = None
        self.size = None
        self.frames = 0
        self._first_pts_ns: Optional[int] = None
        self._last_pts_ns = -1

    def _open(self, width: int, height: int, frame_rate) -> None:
        Gst = self._gst.Gst
        # AVI needs a nominal rate; frames carry their own timestamps for the other containers.
        numerator, denominator = frame_rate or (30, 1)
        caps = f"video/x-raw,format=RGB,width={width},height={height},framerate={numerator}/{denominator}"
        # block=false: write() waits itself, with a timeout, instead of blocking for ever in
        # push-buffer when the encoder has stopped on an error.
        text = (f"appsrc name=frames format=time is-live=false block=false "
                f"caps=\"{caps}\" ! {self.encoder} ! filesink name=file")
        try:
            self.pipeline = Gst.parse_launch(text)
        except Exception as error:  # GLib.Error: an encoder or muxer is missing
            raise OutputError(f"--output {self.path}: cannot build the encoder ({error})") from None
        self.pipeline.get_by_name("file").set_property("location", self.path)
        self._appsrc = self.pipeline.get_by_name("frames")
        self.size = (width, height)
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            self._raise_error(f"--output {self.path}: cannot start the encoder")

    def _raise_error(self, fallback: Optional[str] = None) -> None:
        Gst = self._gst.Gst
        message = self.pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if message is None:
            if fallback:
                raise OutputError(fallback)
            return
        error, _debug = message.parse_error()
        raise OutputError(f"--output {self.path}: {error.message}")

    def write(self, frame: np.ndarray, detections: Sequence[Detection], pts_ms: Optional[float],
              frame_rate: Optional[Tuple[int, int]] = None) -> None:
        """Draw `detections` on `frame` (RGB [H, W, 3], source size) and encode it.
        frame_rate: the source's nominal rate, used when the file is opened."""
        height, width = frame.shape[:2]
        if self.pipeline is None:
            self._open(width, height, frame_rate)
        image = Image.fromarray(frame, "RGB")
        if (width, height) != self.size:
            scale_x, scale_y = self.size[0] / width, self.size[1] / height
            image = image.resize(self.size)
            detections = [d.__class__(d.class_id, d.label, d.score, d.box.scale(scale_x, scale_y), d.box_normalized)
                          for d in detections]
        pixels = annotate(image, detections).tobytes()
        buffer = self._gst.Gst.Buffer.new_wrapped(pixels)
        buffer.pts = self._timestamp(pts_ms)
        self._wait_for_room(len(pixels))
        flow = self._appsrc.emit("push-buffer", buffer)
        if flow != self._gst.Gst.FlowReturn.OK:
            self._raise_error(f"--output {self.path}: the encoder stopped ({flow.value_nick})")
        self.frames += 1

    def _wait_for_room(self, frame_bytes: int) -> None:
        deadline = time.monotonic() + PUSH_TIMEOUT
        while self._appsrc.get_current_level_bytes() >= QUEUED_FRAMES * frame_bytes:
            self._raise_error()
            if time.monotonic() > deadline:
                raise OutputError(f"--output {self.path}: the encoder took no frame for {PUSH_TIMEOUT:g} s")
            time.sleep(0.002)
        self._raise_error()

    def _timestamp(self, pts_ms: Optional[float]) -> int:
        """Nanoseconds from the first frame; strictly increasing, as muxers require."""
        if pts_ms is None:
            pts_ns = self._last_pts_ns + FALLBACK_FRAME_NS if self._last_pts_ns >= 0 else 0
        else:
            if self._first_pts_ns is None:
                self._first_pts_ns = int(pts_ms * 1e6)
            pts_ns = int(pts_ms * 1e6) - self._first_pts_ns
        pts_ns = max(pts_ns, self._last_pts_ns + 1)
        self._last_pts_ns = pts_ns
        return pts_ns

    def close(self) -> None:
        """Finish the file: end-of-stream through the muxer, bounded by CLOSE_TIMEOUT."""
        if self.pipeline is None:
            return
        Gst = self._gst.Gst
        pipeline, self.pipeline = self.pipeline, None
        try:
            self._appsrc.emit("end-of-stream")
            message = pipeline.get_bus().timed_pop_filtered(
                int(CLOSE_TIMEOUT * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR
            )
        finally:
            pipeline.set_state(Gst.State.NULL)
        if message is None:
            raise OutputError(f"--output {self.path}: the encoder did not finish within {CLOSE_TIMEOUT:g} s")
        if message.type == Gst.MessageType.ERROR:
            error, _debug = message.parse_error()
            raise OutputError(f"--output {self.path}: {error.message}")
