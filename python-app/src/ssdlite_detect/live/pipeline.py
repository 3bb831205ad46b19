"""What a SOURCE argument means, and the GStreamer pipeline text that reads it: pure, no GStreamer.

A SOURCE is `testsrc`, `camera` (the first capture device), `/dev/videoN`, an `rtsp://` URL or a
video file. Values that come from the user (paths, URLs, device nodes) are never pasted into the
pipeline text: the source element is named `src` and `source.py` sets its property, so a file
name with quotes or `!` in it cannot change the pipeline.

Frame flow (each `!` is a GStreamer link):

    <source> ! decodebin ! [videoflip: files] ! video/x-raw ! identity name=frames ! [tee ->]
        queue ! <scaler for this SoC> ! appsink name=model_sink     (frames for the model)
        valve ! queue ! videoconvert ! RGB ! appsink name=display_sink
                                     (full size: the annotated video, snapshots, the live view)

The display branch's valve (`display_valve`) is closed unless something wants full-size frames
(VideoSource.want_display): while it drops, the branch converts nothing. It forwards the sticky
events (caps, segment, EOS) all the same, so the branch is negotiated when it opens, and the
display appsink does not take part in prerolling (async=false): a file's pipeline would otherwise
wait in PAUSED for a frame the closed valve never lets through.

A file's frames are turned upright by its orientation tag, as stills are by EXIF (see
source_elements).

Live sources (cameras, RTSP, testsrc) must never build a backlog: the model branch's queue leaks
old frames and its appsink keeps only the newest, as NXP's demos do. Files are read frame by frame
with back-pressure (nothing dropped) unless `realtime` asks to keep the file's pace.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple
from urllib.parse import unquote, urlsplit

from ..urls import has_control_characters, is_host, redact_url
from .elements import VideoChain, scale_elements

TESTSRC = "testsrc"
CAMERA = "camera"
# kinds
KIND_TESTSRC, KIND_CAMERA, KIND_V4L2, KIND_RTSP, KIND_FILE = "testsrc", "camera", "v4l2", "rtsp", "file"
LIVE_KINDS = (KIND_TESTSRC, KIND_CAMERA, KIND_V4L2, KIND_RTSP)

DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds until the first frame (RTSP handshake, camera start)
DEFAULT_TESTSRC_SIZE = (640, 480)
DEFAULT_TESTSRC_FPS = 30
RTSP_LATENCY_MS = 100  # rtspsrc's jitter buffer; its default of 2 s would delay every result
ORIENTATION_ELEMENT = "videoflip name=orientation video-direction=auto"  # files: see source_elements
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class SourceSpecError(ValueError):
    """A SOURCE argument or option that cannot work (the CLI reports it as a usage error)."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str
    location: str                              # path, device node or URL ("" for testsrc/camera)
    size: Optional[Tuple[int, int]] = None     # requested (width, height): cameras and testsrc
    fps: Optional[int] = None                  # requested frame rate: cameras and testsrc
    realtime: bool = False                     # files: keep the file's pace, drop what is late

    @property
    def is_live(self) -> bool:
        return self.kind in LIVE_KINDS

    @property
    def drops_frames(self) -> bool:
        """Whether late frames are dropped rather than waited for."""
        return self.is_live or self.realtime

    @property
    def name(self) -> str:
        """How messages and JSON name the source."""
        if self.kind == KIND_RTSP:
            return redact_url(self.location)
        return self.location or self.kind


@dataclass(frozen=True)
class SourceOptions:
    """What to read and for how long: the source options of the live CLI and of the service.

    connect_timeout: a camera or stream that sends no first frame within it fails (and a running
    one that stops sending for as long is lost); max_frames / duration: stop after that many
    results in all (over every reconnection of the service's source) / seconds.
    """

    spec: SourceSpec
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_frames: Optional[int] = None
    duration: Optional[float] = None


def check_rtsp_url(text: str) -> None:
    """SourceSpecError, naming the URL without its password, for an RTSP URL that cannot work."""
    shown = redact_url(text)
    if has_control_characters(text):
        raise SourceSpecError(f"{shown}: control characters (a line break, a tab) in the URL")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a port out of 0-65535 or not a number, or an IPv6 bracket left open
        raise SourceSpecError(f"{shown}: not a valid URL (expected rtsp://[user:password@]host[:port]/path, "
                              "port 1-65535)") from None
    if "@" in parts.path:
        # rtsp://admin:1/x@cam/live: an unencoded "/" in the password makes host "admin", port 1,
        # and sends the rest of the password to that host as the path
        raise SourceSpecError(f"{shown}: an @ in the path; percent-encode / ? # @ in a user name or password "
                              "(%2F %3F %23 %40)")
    if not parts.hostname:
        raise SourceSpecError(f"{shown}: no host in the RTSP URL")
    if not is_host(parts.hostname):
        raise SourceSpecError(f"{shown}: {parts.hostname!r} is not a host name or an IP address")
    if port == 0:
        raise SourceSpecError(f"{shown}: the port must be in 1-65535")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SourceSpecError(f"{shown}: the URL is not valid UTF-8") from None


def parse_source(
    text: str,
    size: Optional[Tuple[int, int]] = None,
    fps: Optional[int] = None,
    realtime: bool = False,
) -> SourceSpec:
    """The SourceSpec for a --source argument; SourceSpecError for combinations that cannot work."""
    if not text:
        raise SourceSpecError("empty --source")
    if text == TESTSRC:
        kind, location = KIND_TESTSRC, ""
    elif text == CAMERA:
        kind, location = KIND_CAMERA, ""
    elif text.startswith("/dev/"):
        kind, location = KIND_V4L2, text
    elif _URL_SCHEME.match(text):
        scheme = text.split(":", 1)[0].lower()
        if scheme in ("rtsp", "rtsps", "rtspt"):
            check_rtsp_url(text)
            kind, location = KIND_RTSP, text
        elif scheme == "file":
            try:
                kind, location = KIND_FILE, unquote(urlsplit(text).path, errors="surrogateescape")
            except ValueError:
                raise SourceSpecError(f"{redact_url(text)}: not a file:// URL") from None
        else:
            raise SourceSpecError(f"{redact_url(text)}: unsupported URL scheme {scheme}:// (use rtsp://, a file or a device)")
    else:
        kind, location = KIND_FILE, text
    if kind in (KIND_FILE, KIND_RTSP) and (size is not None or fps is not None):
        raise SourceSpecError("--source-size and --source-fps apply to cameras and testsrc only")
    if realtime and kind != KIND_FILE:
        raise SourceSpecError("--realtime applies to video files only (live sources are always real time)")
    return SourceSpec(kind, location, size, fps, realtime)


def _raw_caps(spec: SourceSpec, default_size=None, default_fps=None) -> str:
    size = spec.size or default_size
    fps = spec.fps or default_fps
    fields = ""
    if size:
        fields += f",width={size[0]},height={size[1]}"
    if fps:
        fields += f",framerate={fps}/1"
    return fields


def source_elements(spec: SourceSpec) -> str:
    """Pipeline text from the source to decoded raw video (`video/x-raw`, any format)."""
    if spec.kind == KIND_TESTSRC:
        caps = _raw_caps(spec, DEFAULT_TESTSRC_SIZE, DEFAULT_TESTSRC_FPS)
        return f"videotestsrc name=src is-live=true ! video/x-raw{caps}"
    if spec.kind in (KIND_CAMERA, KIND_V4L2):
        caps = _raw_caps(spec)
        if caps:
            # Raw (YUYV, UYVY, NV12...) or MJPEG, whichever the camera offers at this size and rate.
            return f"v4l2src name=src ! capsfilter caps=\"video/x-raw{caps};image/jpeg{caps}\" ! decodebin ! video/x-raw"
        return "v4l2src name=src ! decodebin ! video/x-raw"
    if spec.kind == KIND_RTSP:
        # No videoflip here: RTP carries no container tags, so nothing upstream of decodebin
        # tells an orientation, and videoflip would only narrow what the VPU decoder may output.
        return f"rtspsrc name=src latency={RTSP_LATENCY_MS} ! decodebin ! video/x-raw"
    # Phones record sideways and tag the track (MP4/MOV's matrix: qtdemux sends the tag
    # image-orientation=rotate-90 etc.); the stills honour EXIF orientation the same way.
    # videoflip with video-direction=auto follows that tag (the frames, their size and the boxes
    # come out upright) and passes buffers through untouched when a file has none. It takes
    # system-memory raw video only. vpudec (i.MX 8M Plus) offers NV12, I420, YV12, Y444... as
    # plain video/x-raw (read in imx-gst1.0-plugin's source, not at the BSP's commit), so 8-bit
    # video should negotiate through it; 10-bit (NV12_10LE) would not. Unverified on the board.
    return f"filesrc name=src ! decodebin name=decoder ! {ORIENTATION_ELEMENT} ! video/x-raw"


# Full-size frames the display branch keeps while live, so that the frame matching a model frame
# (same timestamp) is still there when the capture thread asks for it.
DISPLAY_BACKLOG = 4
# The display branch's gate, closed until VideoSource.want_display opens it (see the module doc).
DISPLAY_VALVE = "valve name=display_valve drop=true drop-mode=forward-sticky-events"


def _queue(spec: SourceSpec, name: str, keep: int = 1) -> str:
    """A branch's queue; its name is also its streaming thread's (`top -H`, benchmarks/live_fps.py:
    "model_queue:src" scales for the model, "display_queue:s" converts the full-size frames).

    A live source's queue leaks (the newest frames win). A file in real time must not: its pace
    comes from the synced appsink holding each frame back until its time, which a leaking queue
    cuts off, so the decoder raced through the file and the queue dropped nearly every frame
    (4 of 140 processed); the appsink's own drop=true drops what the reader misses."""
    if spec.is_live:
        return f"queue leaky=downstream max-size-buffers={keep} max-size-bytes=0 max-size-time=0 name={name}"
    size = keep if spec.realtime else 4  # a file at full speed: back-pressure, a little slack
    return f"queue max-size-buffers={size} max-size-bytes=0 max-size-time=0 name={name}"


def _appsink(name: str, spec: SourceSpec, keep: int = 1, preroll: bool = True) -> str:
    """preroll=False: the pipeline's state changes do not wait for this sink's first frame."""
    tail = "" if preroll else " async=false"
    if spec.drops_frames:
        # Only the newest frames are kept; a file in real time is paced by the clock (sync).
        sync = "true" if spec.realtime else "false"
        return f"appsink name={name} sync={sync} max-buffers={keep} drop=true enable-last-sample=false{tail}"
    return f"appsink name={name} sync=false max-buffers=2 drop=false enable-last-sample=false{tail}"


def describe_pipeline(spec: SourceSpec, chain: VideoChain, model_size: Tuple[int, int], display: bool = False) -> str:
    """The whole pipeline text. model_size: (height, width) of the model input; display: also
    a branch for full-size RGB frames (the annotated video, snapshots, the live view), behind a
    valve that starts closed."""
    height, width = model_size
    model_branch = f"{_queue(spec, 'model_queue')} ! {scale_elements(chain, width, height)} ! {_appsink('model_sink', spec)}"
    head = f"{source_elements(spec)} ! identity name=frames silent=true"
    if not display:
        return f"{head} ! {model_branch}"
    display_branch = (f"{DISPLAY_VALVE} ! {_queue(spec, 'display_queue', DISPLAY_BACKLOG)} ! videoconvert ! "
                      f"video/x-raw,format=RGB ! {_appsink('display_sink', spec, DISPLAY_BACKLOG, preroll=False)}")
    return f"{head} ! tee name=split split. ! {model_branch} split. ! {display_branch}"
