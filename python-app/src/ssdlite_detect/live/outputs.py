"""Outputs of the live CLI, each a subscriber of the hub's results with its own bounded queue and
its own thread, so that none holds back inference: text or JSON Lines on stdout, and the
annotated video (`--output FILE`).

The queue's policy comes from the source: a file read frame by frame makes a full queue wait
(every frame reaches every output); a live source drops the output's oldest item and counts it
(the output falls behind, detection does not).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Callable, Optional

from ..errors import DetectError
from ..formatting import format_event, format_frame
from ..pubsub import BLOCK, DROP_OLDEST, ThreadSubscription, Topic
from ..textout import silence, write_line

TERMINAL_LINES_PER_SECOND = 5  # text output on a terminal is throttled to what a person can read
LINE_QUEUE = 32                # results the printer may lag behind
RECORDER_QUEUE = 4             # frames (full size) the recorder may lag behind
_POLL_S = 0.5


def policy_for(spec) -> str:
    """BLOCK for a file read frame by frame, DROP_OLDEST for live sources (and files in real time)."""
    return DROP_OLDEST if spec.drops_frames else BLOCK


class ThreadOutput:
    """A subscriber with a thread: handle(result, frame) for every item, finish() at the end.

    An output that fails (an error, or its reader gone) unsubscribes, so that a publisher waiting
    for room goes on, keeps the reason in `error` (a DetectError; any other exception is a bug,
    kept there too for the caller to raise) or `reader_gone`, and calls on_end(self): the caller
    stops the run.
    """

    name = "output"

    def __init__(self, size: int, policy: str, on_end: Callable[["ThreadOutput"], None] = lambda _output: None):
        self.subscription = ThreadSubscription(size=size, policy=policy)
        self.on_end = on_end
        self.error: Optional[BaseException] = None
        self.reader_gone = False
        self._topic: Optional[Topic] = None
        self._thread = threading.Thread(target=self._run, name=f"ssdlite-{self.name}", daemon=True)

    def start(self, topic: Topic) -> None:
        self._topic = topic
        topic.subscribe(self.subscription)
        self._thread.start()

    def join(self, timeout: Optional[float] = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def dropped(self) -> int:
        return self.subscription.dropped

    def handle(self, result, frame) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """After the last item (or a failure): flush, close files."""

    def _run(self) -> None:
        failed = False
        try:
            while not self.subscription.finished:
                item = self.subscription.get(_POLL_S)
                if item is not None:
                    self.handle(*item)
        except BrokenPipeError:
            self.reader_gone = failed = True
        except Exception as error:  # noqa: BLE001 - DetectError or a bug: the caller reports it
            self.error, failed = error, True
        if failed:
            self._topic.unsubscribe(self.subscription)  # a blocked publisher goes on
        try:
            self.finish()
        except DetectError as error:
            if self.error is None:  # the first error is the one worth a line
                self.error, failed = error, True
        if failed:
            self.on_end(self)


class LineOutput(ThreadOutput):
    """One line (or one JSON object) per result on `stream`: every line on a file or a pipe, at
    most TERMINAL_LINES_PER_SECOND on a terminal."""

    name = "lines"

    def __init__(self, stream, json_lines: bool, policy: str = BLOCK, on_end=lambda _output: None):
        super().__init__(LINE_QUEUE, policy, on_end)
        self.stream = stream
        self.json_lines = json_lines
        self.interval = 0.0 if json_lines or not stream.isatty() else 1.0 / TERMINAL_LINES_PER_SECOND
        self._last = 0.0

    def handle(self, result, _frame) -> None:
        self.write(result)

    def write(self, result) -> None:
        if self.json_lines:
            write_line(self.stream, json.dumps(result.to_dict()))
            return
        now = time.monotonic()
        if self.interval and now - self._last < self.interval:
            return
        self._last = now
        write_line(self.stream, format_frame(result))

    def finish(self) -> None:
        if self.reader_gone or self.error is not None:
            silence(self.stream)  # the reader went away (`| head`) or the disk is full


class EventOutput(LineOutput):
    """One line (or one JSON object) per event of the hub's `events` topic (--events): every
    event, also on a terminal (events are few)."""

    name = "events"

    def __init__(self, stream, json_lines: bool, policy: str = BLOCK, on_end=lambda _output: None):
        super().__init__(stream, json_lines, policy, on_end)
        self.interval = 0.0

    def write(self, event) -> None:
        write_line(self.stream, json.dumps(event) if self.json_lines else format_event(event))


class RecorderOutput(ThreadOutput):
    """The annotated video: recorder.write for every result whose full-size frame the source
    delivered; closed (the file finished, playable) at the end. frame_rate(): the source's
    nominal rate, read when the first frame opens the file."""

    name = "recorder"

    def __init__(self, recorder, frame_rate: Callable[[], Optional[tuple]], policy: str = BLOCK,
                 on_end=lambda _output: None):
        super().__init__(RECORDER_QUEUE, policy, on_end)
        self.recorder = recorder
        self.frame_rate = frame_rate

    def handle(self, result, frame) -> None:
        if frame is not None and frame.display is not None:
            self.recorder.write(frame.display, result.detections, result.pts_ms, self.frame_rate())

    def finish(self) -> None:
        self.recorder.close()
