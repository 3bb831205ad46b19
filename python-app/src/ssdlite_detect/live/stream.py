"""Detections on a video source, pipelined: capture, inference and post-processing overlap.

    from ssdlite_detect import Detector
    from ssdlite_detect.live import DetectionStream, VideoSource, parse_source

    detector = Detector.open()
    source = VideoSource(parse_source("/dev/video0"), detector.input_size)
    with DetectionStream(detector, source) as stream:
        for result in stream:                 # FrameResult values, in frame order
            print(result.frame, [d.label for d in result.detections])
    # or: DetectionStream(detector, source).run(callback)

Three stages, each with its own thread, joined by one-slot hand-overs:

    capture thread     source.read() -> input tensor (lookup table)          } overlap with
    inference thread   interpreter.invoke() (releases the GIL; the NPU works) } each other
    caller's thread    decode + NMS -> FrameResult -> the caller's outputs

so the frame rate is bounded by the slowest stage, the invoke, not by their sum. A live source
hands over only its newest frame (a frame the inference has not taken yet is replaced and counts
as dropped); a file hands over every frame and waits when inference is busy.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from ..results import FrameResult
from .source import EndOfStream, Frame, VideoSource
from .stats import StreamStats

_POLL = 0.1  # seconds: how often blocked stages look at the stop flag


@dataclass
class _Captured:
    frame: Frame
    tensor: np.ndarray
    preprocess_ms: float


@dataclass
class _Inferred:
    captured: _Captured
    boxes: np.ndarray
    classes: np.ndarray
    inference_ms: float


@dataclass
class _End:
    error: Optional[BaseException] = None


class NewestSlot:
    """A one-item hand-over that keeps only the newest item; replacing one counts a drop.

    `close()` queues an end marker that `get` returns once the item before it is taken.
    """

    def __init__(self):
        self._condition = threading.Condition()
        self._item = None
        self._end = None
        self.replaced = 0

    def put(self, item) -> None:
        with self._condition:
            if self._item is not None:
                self.replaced += 1
            self._item = item
            self._condition.notify()

    def close(self, end) -> None:
        with self._condition:
            self._end = end
            self._condition.notify()

    def get(self, timeout: float):
        """The item, the end marker, or None after `timeout` seconds."""
        with self._condition:
            if self._item is None and self._end is None:
                self._condition.wait(timeout)
            if self._item is not None:
                item, self._item = self._item, None
                return item
            return self._end


class DetectionStream:
    """FrameResults of `detector` on `source` (see the module doc). One pass; not restartable.

    max_frames / duration: stop after that many results / seconds. stop() may be called from any
    thread or a signal handler. Iteration raises SourceError (after every earlier result) when
    the source fails, and any DetectError the detector raises.

    The stages share the detector but not its state: tensor_from_pixels reads the lookup table
    only, infer (the interpreter) runs in the inference thread only, detections_from_outputs
    (the post-processor) in the caller's thread only. Do not use the detector elsewhere while the
    stream runs.
    """

    def __init__(
        self,
        detector,
        source: VideoSource,
        max_frames: Optional[int] = None,
        duration: Optional[float] = None,
        low_band: Optional[Callable] = None,
    ):
        self.detector = detector
        self.source = source
        # low_band(width, height, pts_ms) -> postprocess.LowBand or None, called in the consumer's
        # thread before each frame's post-processing (the objects stage's, see live/runner.py).
        self.low_band = low_band
        self.max_frames = max_frames
        self.duration = duration
        self.stats = StreamStats()
        self._stop = threading.Event()
        self._started = False
        if source.spec.drops_frames:
            self._to_inference = NewestSlot()
        else:
            self._to_inference = _BlockingSlot(self._stop)
        self._results: "queue.Queue" = queue.Queue(maxsize=2)
        self._threads = []

    # --- control -----------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def __enter__(self) -> "DetectionStream":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._finish()

    # --- stages ------------------------------------------------------------------------------
    def _capture(self) -> None:
        end = _End()
        try:
            while not self._stop.is_set():
                frame = self.source.read(_POLL)
                if frame is None:
                    continue
                start = time.perf_counter()
                tensor = self.detector.tensor_from_pixels(frame.pixels)
                self._to_inference.put(_Captured(frame, tensor, (time.perf_counter() - start) * 1000.0))
        except EndOfStream:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread, raised there
            end = _End(error)
        self._to_inference.close(end)

    def _infer(self) -> None:
        try:
            while True:
                item = self._to_inference.get(_POLL)
                if item is None:
                    if self._stop.is_set():
                        return
                    continue
                if isinstance(item, _End):
                    self._put_result(item)
                    return
                start = time.perf_counter()
                boxes, classes = self.detector.infer(item.tensor)
                self._put_result(_Inferred(item, boxes, classes, (time.perf_counter() - start) * 1000.0))
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            # Not stop(): the caller's loop would end before it reads the error. It raises it and
            # then stops the other stages.
            self._put_result(_End(error), force=True)

    def _put_result(self, item, force: bool = False) -> None:
        while True:
            try:
                self._results.put(item, timeout=_POLL)
                return
            except queue.Full:
                if self._stop.is_set() and not force:
                    return
                if force:  # make room: the caller must see the error
                    try:
                        self._results.get_nowait()
                    except queue.Empty:
                        pass

    def _to_result(self, inferred: _Inferred) -> FrameResult:
        frame = inferred.captured.frame
        start = time.perf_counter()
        band = self.low_band(frame.width, frame.height, frame.pts_ms) if self.low_band is not None else None
        detections = self.detector.detections_from_outputs(inferred.boxes, inferred.classes, frame.width, frame.height,
                                                           band)
        done = time.perf_counter()
        return FrameResult(
            self.source.spec.name, frame.width, frame.height, self.detector.backend, tuple(detections),
            {
                "preprocess": inferred.captured.preprocess_ms,
                "inference": inferred.inference_ms,
                "postprocess": (done - start) * 1000.0,
                "latency": (done - frame.captured_at) * 1000.0,
            },
            frame=frame.index, pts_ms=frame.pts_ms,
        )

    # --- consumption -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[FrameResult]:
        for result, _frame in self.results_with_frames():
            yield result

    def results_with_frames(self) -> Iterator:
        """(FrameResult, Frame) pairs: the frame carries the pixels (and the full-size display
        frame when the source delivers one) for outputs that draw."""
        if self._started:
            raise RuntimeError("a DetectionStream can be iterated only once")
        self._started = True
        self.source.start()
        self._threads = [
            threading.Thread(target=self._capture, name="ssdlite-capture", daemon=True),
            threading.Thread(target=self._infer, name="ssdlite-inference", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        started_at = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.duration is not None and time.monotonic() - started_at >= self.duration:
                    break
                try:
                    item = self._results.get(timeout=_POLL)
                except queue.Empty:
                    continue
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    break
                result = self._to_result(item)
                self.stats.record(result, time.perf_counter())
                yield result, item.captured.frame
                if self.max_frames is not None and self.stats.processed >= self.max_frames:
                    break
        finally:
            self.stop()
            self._finish()

    def run(self, on_result: Callable[[FrameResult], None]) -> StreamStats:
        """Call `on_result` for every result until the source ends or stop(); returns the stats."""
        for result in self:
            on_result(result)
        return self.stats

    def _finish(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5.0)  # an invoke in flight finishes; GStreamer reads are bounded
        self.source.close()


class _BlockingSlot:
    """A one-item hand-over that waits for room (files: no frame is dropped)."""

    def __init__(self, stop: threading.Event):
        self._queue: "queue.Queue" = queue.Queue(maxsize=1)
        self._stop = stop

    def put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def close(self, end) -> None:
        while True:
            try:
                self._queue.put(end, timeout=_POLL)
                return
            except queue.Full:
                if self._stop.is_set():
                    try:  # the inference thread is gone or going: make room for the marker
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass

    def get(self, timeout: float):
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

