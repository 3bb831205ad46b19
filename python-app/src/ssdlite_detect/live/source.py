"""A video source read through GStreamer: frames already scaled to the model input, with the
source frame's size, index (counting dropped frames) and timestamp.

    source = VideoSource(parse_source("/dev/video0"), model_size=(300, 300))
    source.start()
    frame = source.read(timeout=0.1)   # None while nothing new; EndOfStream; SourceError
    source.close()

With display=True the pipeline also has a branch for full-size frames (frame.display), behind a
valve that stays closed, costing nothing, until an owner calls want_display(owner, True); it
closes again once every owner has called want_display(owner, False). While closed, read() does not
touch the display branch and frame.display is None.

GStreamer's streaming threads decode and scale (on the SoC's 2D engine where there is one); the
caller's thread only copies the small frame out of the buffer. Every wait is bounded: a source
that never delivers a first frame (an RTSP server that does not answer) or stops delivering (a
camera unplugged without an error) raises SourceError after a timeout instead of hanging.
"""
from __future__ import annotations

import collections
import os
import re
import stat
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from ..device import Platform, detect_platform
from ..errors import ImageError, SourceError
from ..preprocess import read_image
from . import gst as gst_loader
from .elements import VideoChain, choose_video_chain
from .frames import FrameLayout, packed_rgb, rgb_view
from .pipeline import (DEFAULT_CONNECT_TIMEOUT, KIND_CAMERA, KIND_FILE, KIND_RTSP, KIND_V4L2, SourceSpec,
                       describe_pipeline)

CLOCK_TIME_NONE = 2**64 - 1
DEFAULT_STALL_TIMEOUT = 10.0    # seconds without a frame before a running source counts as lost
# A file has nothing to connect to: its first frame only waits for plugins to load and decode,
# which a loaded board may take long over; this bound only guarantees that nothing hangs.
FILE_FIRST_FRAME_TIMEOUT = 60.0
# After an ERROR, read() still returns the frames decoded before it: a file's model branch holds
# up to 4 in its queue, 1 or 2 in the scaler and 2 in the appsink; each is waited for at most
# DRAIN_WAIT_S (the error itself is raised within DRAIN_FRAMES x DRAIN_WAIT_S).
DRAIN_FRAMES = 8
DRAIN_WAIT_S = 0.1
_PENDING_LIMIT = 256            # frames the counter remembers until the model branch delivers them


class EndOfStream(Exception):
    """The source has no more frames (end of a file, or an RTSP server that ended the stream)."""


@dataclass
class Frame:
    """One frame for the model: `pixels` is an RGB [H, W, 3] uint8 view at the model's input size."""

    index: int                  # position in the source, counting frames dropped before the model
    pts_ms: Optional[float]     # the source's presentation timestamp
    width: int                  # the source frame's size (boxes are reported in these pixels)
    height: int
    pixels: np.ndarray
    captured_at: float          # time.perf_counter() of capture (live) or of leaving the pipeline (files)
    display: Optional[np.ndarray] = None  # full-size RGB frame, while someone wants them (want_display)


def find_camera(gst) -> str:
    """The device node of the first video capture device (V4L2), as GStreamer's device monitor
    lists them; memory-to-memory nodes (the ISI's m2m, VPU) are not capture sources."""
    monitor = gst.Gst.DeviceMonitor.new()
    monitor.add_filter("Video/Source", None)
    monitor.start()
    try:
        devices = monitor.get_devices() or []
    finally:
        monitor.stop()
    for device in devices:
        properties = device.get_properties()
        if properties is None:
            continue
        for key in ("api.v4l2.path", "device.path"):
            path = properties.get_string(key)
            if path:
                return path
    raise SourceError("camera: no video capture device found (no /dev/video* node that captures)")


def check_device_node(path: str) -> None:
    """Clear errors for a device node that cannot be a camera, before GStreamer's vaguer ones."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SourceError(f"{path}: no such device (is the camera connected? `v4l2-ctl --list-devices` lists them)") from None
    except OSError as error:
        raise SourceError(f"{path}: {error.strerror}") from None
    if not stat.S_ISCHR(mode):
        raise SourceError(f"{path}: not a device node")
    if not os.access(path, os.R_OK | os.W_OK):
        raise SourceError(f"{path}: permission denied (the user needs the 'video' group, or a udev rule)")


def check_video_file(path: str) -> None:
    """Regular files only: filesrc would block for ever in open() on a FIFO nobody writes to (and
    SIGTERM could not stop it), and read a device or a socket without end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise SourceError(f"{path}: {getattr(error, 'strerror', None) or error}") from None
    if stat.S_ISDIR(mode):
        raise SourceError(f"{path}: is a directory")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise SourceError(f"{path}: is {kind}, not a video file (give a file, /dev/videoN, rtsp://... or testsrc)")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: permission denied")


# The first bytes of the still-image formats GStreamer's decodebin plays as a one-frame video.
_STILL_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_checked_stills: dict = {}  # (path, size, mtime) of stills already read whole


def check_still_image(path: str) -> None:
    """A JPEG or PNG given as a source: read it whole with the stills path's decoder first.
    GStreamer's jpegdec decodes a truncated JPEG without a word (the missing rows grey), where the
    stills path refuses it; a file source replays, so each file is read once per size and mtime."""
    try:
        with open(path, "rb") as file:
            head = file.read(8)
        info = os.stat(path)
    except OSError:
        return  # check_video_file said what is wrong with it
    if not head.startswith(_STILL_SIGNATURES):
        return
    key = (path, info.st_size, info.st_mtime_ns)
    if key in _checked_stills:
        return
    try:
        read_image(path)
    except ImageError as error:
        raise SourceError(str(error)) from None
    _checked_stills[key] = True


def file_uri(path: str) -> str:
    """The file:// URI of `path`, whatever bytes its name holds: filesrc's `location` property
    takes only UTF-8 text, its URI takes any name (percent-encoded)."""
    return "file://" + urllib.parse.quote(os.fsencode(os.path.abspath(path)))


_MISSING_DECODER = re.compile(r"Missing decoder: ([^\n]*)")


def explain_error(gst, spec: SourceSpec, error, debug: str, element: str, frames_seen: int,
                  name: Optional[str] = None) -> str:
    """One line for a GStreamer ERROR message: what happened to the source, in the user's terms.
    name: how to call the source (default spec.name)."""
    Gst = gst.Gst
    name = name or spec.name
    debug = debug or ""
    message = " ".join((error.message or "").split())

    def is_resource(code) -> bool:
        return error.matches(Gst.ResourceError.quark(), code)

    def is_stream(code) -> bool:
        return error.matches(Gst.StreamError.quark(), code)

    live_device = spec.kind in (KIND_CAMERA, KIND_V4L2)
    if is_resource(Gst.ResourceError.BUSY):
        return f"{name}: device busy (another process is using it)"
    if is_resource(Gst.ResourceError.NOT_AUTHORIZED):
        reason = "not authorised (check the URL's user and password)" if spec.kind == KIND_RTSP else "permission denied"
        return f"{name}: {reason}"
    if is_resource(Gst.ResourceError.NOT_FOUND):
        return f"{name}: not found ({message})"
    if live_device and frames_seen and (is_resource(Gst.ResourceError.READ) or is_resource(Gst.ResourceError.FAILED)
                                        or is_resource(Gst.ResourceError.NO_SPACE_LEFT)):
        return f"{name}: camera lost after {frames_seen} frame(s) ({message})"
    if live_device and is_resource(Gst.ResourceError.SETTINGS):
        return f"{name}: cannot use this device as a camera ({message})"
    if spec.kind == KIND_RTSP and element.startswith("src") and (
        is_resource(Gst.ResourceError.OPEN_READ) or is_resource(Gst.ResourceError.OPEN_READ_WRITE)
        or is_resource(Gst.ResourceError.READ) or is_resource(Gst.ResourceError.WRITE)
    ):
        if frames_seen:
            return f"{name}: stream lost after {frames_seen} frame(s) ({message})"
        return f"{name}: cannot connect to the RTSP server ({message})"
    if is_stream(Gst.StreamError.TYPE_NOT_FOUND) or is_stream(Gst.StreamError.WRONG_TYPE):
        return f"{name}: not a video file ({message})"
    if is_stream(Gst.StreamError.CODEC_NOT_FOUND):
        missing = _MISSING_DECODER.search(debug)
        what = missing.group(1) if missing else "this stream"
        return f"{name}: no decoder for {what} on this system"
    if is_stream(Gst.StreamError.DECODE) or is_stream(Gst.StreamError.DEMUX) or is_stream(Gst.StreamError.FORMAT):
        where = f"after {frames_seen} frame(s)" if frames_seen else "before the first frame"
        return f"{name}: corrupt video {where} ({message})"
    if "reason error" in debug and frames_seen:
        return f"{name}: corrupt video after {frames_seen} frame(s) (a frame could not be decoded)"
    if "not-negotiated" in debug:
        if live_device:
            return f"{name}: the camera cannot give the requested format, size or frame rate"
        return f"{name}: cannot convert its frames for the model (format not negotiated)"
    if "not-linked" in debug and frames_seen == 0:
        return f"{name}: has no video stream"
    where = f" after {frames_seen} frame(s)" if frames_seen else ""
    return f"{name}: {message}{where} ({element})"


class VideoSource:
    """A started GStreamer pipeline that delivers model-sized RGB frames (see the module doc)."""

    def __init__(
        self,
        spec: SourceSpec,
        model_size: Tuple[int, int],
        platform: Optional[Platform] = None,
        chain: Optional[VideoChain] = None,
        display: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
        on_note: Optional[Callable[[str], None]] = None,
    ):
        self.spec = spec
        self.model_size = model_size
        self.display = display
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self._gst = gst_loader.load()
        if chain is None:
            chain, notes = choose_video_chain((platform or detect_platform()).soc, gst_loader.element_available)
            for note in notes:
                if on_note is not None:
                    on_note(note)
        self.chain = chain
        self.pipeline = None
        self.frames_seen = 0       # frames that reached the counter (decoded), dropped or not
        self.frames_read = 0       # frames handed to the caller
        self._pending = collections.OrderedDict()  # pts -> (index, width, height)
        self._pending_lock = threading.Lock()
        self._source_size = (0, 0)
        self.frame_rate: Optional[Tuple[int, int]] = None  # nominal (numerator, denominator)
        self._layouts = {}  # branch -> (caps, FrameLayout) of its last caps
        self._started_at = 0.0
        self._last_frame_at = 0.0
        self._held_display = None
        self._display_owners = set()       # who wants full-size frames (want_display)
        self._display_lock = threading.Lock()
        self._display_wanted = False       # the owners' verdict, read by read() without the lock
        self._display_pulled = False       # whether the last read() pulled a full-size frame
        self._valve = None
        self._error = None  # the pipeline's ERROR message (a Gst.Message), raised once drained
        self._video_pads = 0        # files: decoded video streams decodebin exposed
        self._no_video = False      # files: every stream is out and none is video
        self._drain_left = DRAIN_FRAMES    # frames still taken after an ERROR (read())
        self._last_pts = None       # for the end-of-file check: a truncated file just ends early
        self._pts_step = None
        self.location = spec.location

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        Gst = self._gst.Gst
        spec = self.spec
        if spec.kind == KIND_FILE:
            check_video_file(spec.location)
            check_still_image(spec.location)
        elif spec.kind == KIND_CAMERA:
            self.location = find_camera(self._gst)
        if spec.kind in (KIND_V4L2, KIND_CAMERA):
            check_device_node(self.location)
        text = describe_pipeline(spec, self.chain, self.model_size, self.display)
        try:
            self.pipeline = Gst.parse_launch(text)
        except Exception as error:  # GLib.Error: an element is missing from this system
            raise SourceError(f"{self.name}: cannot build the pipeline: {error}") from None
        source = self.pipeline.get_by_name("src")
        if spec.kind == KIND_FILE:
            source.set_uri(file_uri(self.location))
        elif spec.kind in (KIND_V4L2, KIND_CAMERA, KIND_RTSP):
            source.set_property("device" if spec.kind in (KIND_V4L2, KIND_CAMERA) else "location", self.location)
        if spec.kind == KIND_RTSP:
            # Bound the TCP connect; our own first-frame deadline bounds everything else.
            source.set_property("tcp-timeout", int(self.connect_timeout * 1_000_000))
            source.set_property("timeout", int(min(self.connect_timeout, 5.0) * 1_000_000))
        for preferred in self.chain.preferred_decoders:  # e.g. vpudec above decodebin's software picks
            factory = Gst.ElementFactory.find(preferred)
            if factory is not None:
                factory.set_rank(Gst.Rank.PRIMARY + 100)
        self._model_sink = self.pipeline.get_by_name("model_sink")
        self._display_sink = self.pipeline.get_by_name("display_sink")
        with self._display_lock:
            self._valve = self.pipeline.get_by_name("display_valve")
            if self._valve is not None:
                self._valve.set_property("drop", not self._display_wanted)
        decoder = self.pipeline.get_by_name("decoder")  # files: known to have no video once all pads are out
        if decoder is not None:
            decoder.connect("pad-added", self._on_decoded_pad)
            decoder.connect("no-more-pads", self._on_all_decoded_pads)
        counter_pad = self.pipeline.get_by_name("frames").get_static_pad("src")
        counter_pad.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, self._count_frame)
        self._bus = self.pipeline.get_bus()
        self._started_at = self._last_frame_at = time.monotonic()
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            message = self._bus_error(wait=1.0)
            error = self._explain(message) if message is not None else f"{self.name}: cannot start the source"
            self.close()
            raise SourceError(error)

    def close(self) -> None:
        if self.pipeline is not None:
            with self._display_lock:
                self._valve = None
            self.pipeline.set_state(self._gst.Gst.State.NULL)
            self.pipeline = None

    def want_display(self, owner, wanted: bool = True) -> None:
        """`owner` (any hashable object: an output) wants full-size frames, or no longer does.
        The display branch's valve is open while at least one owner wants them; safe from any
        thread, before start() too. A new VideoSource starts with no owner: SourceStreams carries
        them over to the sources it opens again."""
        with self._display_lock:
            if wanted:
                self._display_owners.add(owner)
            else:
                self._display_owners.discard(owner)
            self._display_wanted = self.display and bool(self._display_owners)
            if self._valve is not None:
                self._valve.set_property("drop", not self._display_wanted)

    @property
    def display_wanted(self) -> bool:
        """Whether the display branch's valve is open (someone wants full-size frames)."""
        return self._display_wanted

    def __enter__(self) -> "VideoSource":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def name(self) -> str:
        """The source in messages: the spec's name, and for `camera` the device it found."""
        if self.spec.kind == KIND_CAMERA and self.location:
            return f"camera {self.location}"
        return self.spec.name

    @property
    def source_size(self) -> Tuple[int, int]:
        """(width, height) of the source's frames, (0, 0) before the first one."""
        return self._source_size

    # --- streaming-thread side -----------------------------------------------------------------
    def _on_decoded_pad(self, _decoder, pad) -> None:
        caps = pad.get_current_caps()
        known = caps is not None and not caps.is_any() and caps.get_size() > 0
        if not known or caps.get_structure(0).get_name().startswith("video/"):
            self._video_pads += 1  # video, or caps not told: never reported as no video

    def _on_all_decoded_pads(self, _decoder) -> None:
        """decodebin exposed every stream of the file (a streaming thread): none is video. The
        "not-linked" error that usually tells it comes from the demuxer only once it pushes on
        the unlinked pads, which a short audio file sometimes ends without doing."""
        if not self._video_pads:
            self._no_video = True

    def _count_frame(self, pad, info):
        Gst = self._gst.Gst
        if info.type & Gst.PadProbeType.BUFFER:
            buffer = info.get_buffer()
            with self._pending_lock:
                index = self.frames_seen
                self.frames_seen += 1
                self._pending[buffer.pts] = (index, *self._source_size)
                while len(self._pending) > _PENDING_LIMIT:
                    self._pending.popitem(last=False)
        else:
            event = info.get_event()
            if event is not None and event.type == Gst.EventType.CAPS:
                structure = event.parse_caps().get_structure(0)
                ok_w, width = structure.get_int("width")
                ok_h, height = structure.get_int("height")
                if ok_w and ok_h:
                    self._source_size = (width, height)
                ok_rate, numerator, denominator = structure.get_fraction("framerate")
                if ok_rate and numerator > 0 and denominator > 0:
                    self.frame_rate = (numerator, denominator)
        return Gst.PadProbeReturn.OK

    # --- caller side -------------------------------------------------------------------------
    def read(self, timeout: float = 0.1) -> Optional[Frame]:
        """The next frame for the model, or None if none came within `timeout` seconds.

        Raises EndOfStream at the end, SourceError on an error, after a first-frame or stall
        timeout; frames the pipeline delivered before an error are returned first.
        """
        if self.pipeline is None:
            raise SourceError(f"{self.name}: the source is not started")
        if self._error is None:
            self._error = self._bus_error()
        if self._error is not None:
            # Return the frames decoded before the error, then fail: those in the appsink, and
            # those still on their way to it (the model branch's queue keeps streaming them).
            sample = self._model_sink.try_pull_sample(int(DRAIN_WAIT_S * 1e9)) if self._drain_left > 0 else None
            self._drain_left -= 1
            if sample is None:
                raise SourceError(self._explain(self._error))
        else:
            sample = self._model_sink.try_pull_sample(int(timeout * 1e9))
        if sample is None:
            self._error = self._bus_error()
            if self._error is not None:
                raise SourceError(self._explain(self._error))
            if self._no_video and self.frames_read == 0:
                raise SourceError(f"{self.name}: has no video stream")
            if self._model_sink.is_eos():
                self._check_complete()
                raise EndOfStream()
            self._check_deadlines()
            return None
        self._last_frame_at = time.monotonic()
        frame = self._frame_from_sample(sample)
        wanted = self._display_wanted
        if wanted:
            frame.display = self._display_for(sample.get_buffer().pts)
        elif self._display_pulled:
            self._drop_display()
        self._display_pulled = wanted
        self.frames_read += 1
        return frame

    def _check_complete(self) -> None:
        """At the end of a file: GStreamer ends a truncated file quietly where its data stops, so
        compare the last frame's time with the duration the container declares."""
        if self.spec.kind != KIND_FILE or self._last_pts is None or self.pipeline is None:
            return
        known, duration = self.pipeline.query_duration(self._gst.Gst.Format.TIME)
        if not known or duration <= 0:
            return
        if self._pts_step is None:
            return  # a single frame without a duration: nothing to compare
        step = self._pts_step
        # One missing frame interval of slack, plus 2 % for containers that round their duration.
        if self._last_pts + 2 * step < duration * 0.98:
            raise SourceError(
                f"{self.name}: the video stops at {self._last_pts / 1e9:.2f} s of its {duration / 1e9:.2f} s "
                f"after {self.frames_read} frame(s): the file is truncated or corrupt"
            )

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        first_frame_timeout = FILE_FIRST_FRAME_TIMEOUT if self.spec.kind == KIND_FILE else self.connect_timeout
        if self.frames_read == 0 and now - self._started_at > first_frame_timeout:
            what = "no answer" if self.spec.kind == KIND_RTSP else "no frame"
            raise SourceError(f"{self.name}: {what} within {first_frame_timeout:g} s")
        if self.frames_read and now - self._last_frame_at > self.stall_timeout:
            raise SourceError(
                f"{self.name}: source lost: no frame for {self.stall_timeout:g} s after {self.frames_read} frame(s)"
            )

    def _bus_error(self, wait: float = 0.0):
        """An ERROR message the pipeline posted (Gst.Message), or None."""
        Gst = self._gst.Gst
        return self._bus.timed_pop_filtered(int(wait * Gst.SECOND), Gst.MessageType.ERROR)

    def _explain(self, message) -> str:
        """The one-line explanation of an ERROR message, with the frames read by now: explained
        when raised, not when seen, since a file's decoder runs ahead of the reader and fails
        while frames before the damage still wait in the appsink (read() returns them first)."""
        error, debug = message.parse_error()
        element = message.src.get_name() if message.src is not None else "pipeline"
        return explain_error(self._gst, self.spec, error, debug, element, self.frames_read, self.name)

    def _layout(self, caps, branch: str) -> FrameLayout:
        """The layout of `branch`'s frames ("model" or "display"). Caps change rarely (RTSP
        renegotiation): each branch keeps its last caps' layout, and is_equal first compares the
        pointers, which consecutive samples share, so nothing is serialised per frame."""
        cached = self._layouts.get(branch)
        if cached is None or not caps.is_equal(cached[0]):
            info = self._gst.GstVideo.VideoInfo.new_from_caps(caps)
            cached = (caps, FrameLayout(
                self._gst.GstVideo.VideoFormat.to_string(info.finfo.format),
                info.width, info.height, info.stride[0], info.offset[0],
            ))
            self._layouts[branch] = cached
        return cached[1]

    def _pixels(self, sample, branch: str = "model") -> Tuple[bytes, FrameLayout]:
        buffer = sample.get_buffer()
        layout = self._layout(sample.get_caps(), branch)
        meta = self._gst.GstVideo.buffer_get_video_meta(buffer)
        if meta is not None and (meta.stride[0] != layout.stride or meta.offset[0] != layout.offset):
            # The buffer's own row stride wins over the caps' default (the i.MX converters pad rows).
            layout = FrameLayout(layout.format, layout.width, layout.height, meta.stride[0], meta.offset[0])
        # One copy, from the mapped memory: extract_dup() copies twice and, for a frame above
        # glibc's mmap threshold (128 KB: a 300x300 RGB frame is 270 KB), maps fresh pages for
        # every frame and faults each of them in (0.24 ms a 300x300 frame here; this 0.01 ms).
        ok, info = buffer.map(self._gst.Gst.MapFlags.READ)
        if not ok:
            raise SourceError(f"{self.name}: cannot read a frame's memory")
        try:
            # bytes() copies where the bindings hand over a view of the mapping (gst-python's
            # override does), and is the same object where they already copied (PyGObject's own).
            data = bytes(info.data)
        finally:
            buffer.unmap(info)
        return data, layout

    def _frame_from_sample(self, sample) -> Frame:
        buffer = sample.get_buffer()
        pts = buffer.pts
        with self._pending_lock:
            entry = self._pending.pop(pts, None)
            if entry is not None:  # frames counted before this one never reached the model
                while self._pending and next(iter(self._pending.values()))[0] < entry[0]:
                    self._pending.popitem(last=False)
        index, width, height = entry if entry is not None else (self.frames_seen - 1, *self._source_size)
        data, layout = self._pixels(sample)
        pts_ms = None if pts == CLOCK_TIME_NONE else pts / 1e6
        if pts != CLOCK_TIME_NONE:
            if self._last_pts is not None and pts > self._last_pts:
                step = pts - self._last_pts
                self._pts_step = step if self._pts_step is None else min(self._pts_step, step)
            elif self._pts_step is None and buffer.duration != CLOCK_TIME_NONE:
                self._pts_step = buffer.duration  # a one-frame file has no step between frames
            self._last_pts = pts if self._last_pts is None else max(self._last_pts, pts)
        return Frame(index, pts_ms, width, height, rgb_view(data, layout), self._capture_time(pts))

    def _capture_time(self, pts: int) -> float:
        """perf_counter() time of capture. A live source's buffer timestamp is its capture time
        on the pipeline clock (v4l2src stamps the driver's capture time), so the time the frame
        spent being decoded and scaled counts; a file has no capture time: it counts from now,
        the moment the pipeline hands the frame over."""
        now = time.perf_counter()
        if not self.spec.is_live or pts == CLOCK_TIME_NONE or self.pipeline is None:
            return now
        clock = self.pipeline.get_clock()
        if clock is None:
            return now
        age_ns = clock.get_time() - (self.pipeline.get_base_time() + pts)
        if age_ns < 0 or age_ns > 10**10:  # timestamps that are not capture times
            return now
        return now - age_ns / 1e9

    def _drop_display(self) -> None:
        """The valve has just closed: the full-size frames it let through before are let go.
        Needed for files: their display branch does not drop frames (back-pressure), and a frame
        the valve was pushing into a full queue as it closed would wait for room, holding the
        tee and with it the model branch, for ever."""
        self._held_display = None
        while self._display_sink.try_pull_sample(0) is not None:
            pass

    def _display_for(self, pts: int) -> Optional[np.ndarray]:
        """The full-size frame with the same timestamp, from the display branch (None at once
        when the valve closes meanwhile)."""
        held, self._held_display = self._held_display, None
        deadline = time.monotonic() + 1.0
        while True:
            sample = held or self._display_sink.try_pull_sample(int(0.05 * 1e9))
            held = None
            if sample is None:
                if time.monotonic() > deadline or self._display_sink.is_eos() or not self._display_wanted:
                    return None
                continue
            sample_pts = sample.get_buffer().pts
            if sample_pts == pts:
                data, layout = self._pixels(sample, "display")
                return packed_rgb(data, layout)
            if sample_pts != CLOCK_TIME_NONE and pts != CLOCK_TIME_NONE and sample_pts > pts:
                self._held_display = sample  # the display branch dropped this frame: keep it for the next
                return None
