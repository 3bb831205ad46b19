"""The annotated JPEG frames of the live view (`/stream.mjpeg`), encoded in a thread of their own.

Drawing (draw.annotate, the still-image code) and JPEG encoding cost tens of milliseconds per
frame on the board's Cortex-A cores, so they never run on the detection path: this thread takes
only the newest result (a one-item dropping subscription) and only while someone watches. It
wants the source's full-size frames (SourceStreams.want_display) only then too: with nobody on
/stream.mjpeg, the display branch's valve is closed and converts nothing.
"""
from __future__ import annotations

import io
import threading
from typing import Callable, Optional

from PIL import Image

from ..draw import annotate
from ..live.hub import MAX_AGE_S, ResultHub
from ..pubsub import ThreadSubscription

MAX_WIDTH = 960       # a phone's screen; fewer bytes per frame over Wi-Fi
JPEG_QUALITY = 80


def encode_annotated(result, frame, regions=None) -> Optional[bytes]:
    """JPEG bytes of the frame with its detections (their track ids) and the zones and lines
    (`regions`, in the frame's pixels) drawn; None when the source delivered no full-size frame
    for this result (the display branch dropped it)."""
    if frame.display is None:
        return None
    image = annotate(Image.fromarray(frame.display), result.detections, regions)
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


class AnnotatedFrameEncoder:
    """Publishes annotated JPEG frames to `hub.jpegs` while it has subscribers. regions(): the
    zones and lines in the frames' pixels, or None (no objects stage, or no frame seen yet);
    want_display(owner, wanted): SourceStreams.want_display, called as the first subscriber comes
    and the last goes. While nobody watches it takes no results either (it is no subscriber of
    `hub.results`): the stream's thread does not hand it every frame, nor wake it."""

    def __init__(self, hub: ResultHub, regions: Callable[[], Optional[object]] = lambda: None,
                 want_display: Callable[[object, bool], None] = lambda _owner, _wanted: None):
        self.hub = hub
        self.regions = regions
        self.want_display = want_display
        self.encoded = 0
        self._stop = threading.Event()
        self._viewers_changed = threading.Event()
        self._subscription: Optional[ThreadSubscription] = None  # of hub.results, while watched
        self._thread = threading.Thread(target=self._run, name="ssdlite-jpeg", daemon=True)

    def start(self) -> None:
        self.hub.jpegs.on_subscribers(self._viewers_changed.set)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._viewers_changed.set()
        subscription = self._subscription
        if subscription is not None:
            self.hub.results.unsubscribe(subscription)  # its get() returns at once
        self._thread.join(timeout)  # it ends after the frame at hand
        subscription = self._subscription
        if subscription is not None:  # one it made meanwhile
            self.hub.results.unsubscribe(subscription)
        self.want_display(self, False)

    def _watch(self, watched: bool) -> None:
        """The first viewer came (results and full-size frames wanted), or the last went."""
        if watched:
            self._subscription = self.hub.results.subscribe(ThreadSubscription(size=1, max_age=MAX_AGE_S))
        else:
            self.hub.results.unsubscribe(self._subscription)
            self._subscription = None
        self.want_display(self, watched)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._viewers_changed.clear()
            watched = self.hub.jpegs.subscriber_count > 0
            if watched != (self._subscription is not None):
                self._watch(watched)
            if not watched:
                self._viewers_changed.wait(0.5)
                continue
            if self._subscription.finished:  # the run ended: no more results
                return
            item = self._subscription.get(timeout=0.5)
            if item is None:
                continue
            jpeg = encode_annotated(*item, self.regions())
            if jpeg is not None:
                self.encoded += 1
                self.hub.jpegs.publish(jpeg)
