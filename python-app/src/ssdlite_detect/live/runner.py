"""The one runner of the live CLI and the service: source -> DetectionStream -> hub.

    runner = StreamRunner.on_source(detector, SourceOptions(parse_source("camera")), retry=True)
    runner.hub.results.subscribe(my_output_subscription)   # before start()
    runner.start()          # its own thread; or runner.run() in the caller's
    ...
    runner.stop(); runner.join(2.0)

SourceStreams wires the VideoSource up (once: the SoC's video chain is chosen with the first
source and reused by every reconnection) and makes a new DetectionStream on it for every attempt;
the runner runs them and publishes every result to its ResultHub, whose subscribers are the
outputs. When the source fails (camera unplugged, RTSP server gone, file removed) or ends:
- retry=False (the live CLI): the run ends; `error` holds the SourceError, after every result
  before it was published.
- retry=True (the service): the state becomes `source-lost` and the source is opened again after
  a backoff that doubles from RETRY_MIN_S up to RETRY_MAX_S, in the same process; the backoff
  starts again from RETRY_MIN_S once a reopened source has delivered frames. A video file that
  plays to its end is played again at once: a file source is a demo or a test loop.
An error retrying cannot fix (the model or the delegate failing) ends the run in both modes
(state `failed`): the CLI exits non-zero, and the service too, so that systemd restarts it.

With a `stage` (analytics.stage.ObjectStage), every result goes through it first (and the stream's
post-processing adds the low-score candidates the stage asks for, ObjectStage.low_band): the published
result carries track ids and the stage's events go to the hub's `events` topic; when the run
ends, the stage ends every object (their `end` events) before the topics close.

When the run ends, the hub's `results` topic is closed after what its subscribers hold: outputs
finish the results they have and stop.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Optional, Tuple

from ..errors import DetectError, SourceError
from .hub import STATE_FAILED, STATE_SOURCE_LOST, STATE_STOPPING, ResultHub
from .pipeline import KIND_FILE, SourceOptions
from .source import VideoSource
from .stream import DetectionStream

RETRY_MIN_S = 0.5
RETRY_MAX_S = 15.0


class SourceStreams:
    """New DetectionStreams of `detector` on one source (see the module doc). display: the source
    has a display branch, for outputs that draw on full-size frames (the annotated video, the
    snapshots, the live view); it delivers them while an output wants them (want_display)."""

    def __init__(self, detector, options: SourceOptions, display: bool = False,
                 on_note: Optional[Callable[[str], None]] = None):
        self.detector = detector
        self.options = options
        self.display = display
        self._display_owners = set()
        self._lock = threading.Lock()
        self._next: Optional[VideoSource] = self._new_source(None, on_note)  # chooses the chain
        self._current = self._next  # the source that runs now, or ran last
        self.chain = self._next.chain

    def want_display(self, owner, wanted: bool = True) -> None:
        """VideoSource.want_display on the source that runs now, and on every source opened after
        it (a reconnection keeps what the outputs want); safe from any thread."""
        with self._lock:
            if wanted:
                self._display_owners.add(owner)
            else:
                self._display_owners.discard(owner)
            for source in (self._current, self._next):  # the same one before the first open()
                if source is not None:
                    source.want_display(owner, wanted)

    def _new_source(self, chain, on_note=None) -> VideoSource:
        timeout = self.options.connect_timeout
        return VideoSource(
            self.options.spec, self.detector.input_size, platform=self.detector.spec.platform,
            chain=chain, display=self.display,
            connect_timeout=timeout, stall_timeout=timeout, on_note=on_note,
        )

    @property
    def display_wanted(self) -> bool:
        """Whether the source delivers full-size frames now (its display branch's valve is open)."""
        return self._current.display_wanted

    @property
    def name(self) -> str:
        """The source in messages; for `camera`, with the device it found once started."""
        return self._current.name

    def frame_rate(self) -> Optional[Tuple[int, int]]:
        """The source's nominal frame rate (numerator, denominator), once it has negotiated one."""
        return self._current.frame_rate

    def open(self, max_frames: Optional[int] = None, duration: Optional[float] = None) -> DetectionStream:
        """A new, unstarted stream on a new VideoSource (a stream is not restartable)."""
        with self._lock:
            source, self._next = self._next or self._new_source(self.chain), None
            for owner in self._display_owners:
                source.want_display(owner, True)
            self._current = source
        return DetectionStream(self.detector, source, max_frames=max_frames, duration=duration)


class StreamRunner:
    """Runs the streams of `streams` (SourceStreams, or anything with open(max_frames, duration)
    and name) and publishes every result to `hub` (see the module doc).

    max_frames / duration: stop after that many results in all / seconds; replay_on_end: a
    source that ends after delivering frames is opened again at once (a file, in retry mode).
    After the run, `error` holds the DetectError that ended it (None: the source ended, a limit
    was reached, or stop()).
    """

    def __init__(self, streams, hub: ResultHub, retry: bool = False, max_frames: Optional[int] = None,
                 duration: Optional[float] = None, replay_on_end: bool = False,
                 on_note: Callable[[str], None] = lambda _message: None,
                 retry_min: float = RETRY_MIN_S, retry_max: float = RETRY_MAX_S, stage=None):
        self.streams = streams
        self.stage = stage  # analytics.stage.ObjectStage: track ids and events, or None
        self.hub = hub
        self.retry = retry
        self.max_frames = max_frames
        self.duration = duration
        self.replay_on_end = replay_on_end
        self.on_note = on_note
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.error: Optional[DetectError] = None
        self.heartbeat = time.monotonic()  # a watchdog pings only while this moves
        self._started_at = time.monotonic()
        self._stop = threading.Event()
        self._stream = None
        self._lock = threading.Lock()
        self._done = threading.Event()

    @classmethod
    def on_source(cls, detector, options: SourceOptions, display: bool = False, retry: bool = False,
                  on_note: Callable[[str], None] = lambda _message: None, **kwargs) -> "StreamRunner":
        """The runner of `detector` on the source `options` describe, with a new hub."""
        streams = SourceStreams(detector, options, display, on_note)
        hub = ResultHub(streams.name, detector.backend, detector.spec.model_name)
        return cls(streams, hub, retry=retry, max_frames=options.max_frames, duration=options.duration,
                   replay_on_end=options.spec.kind == KIND_FILE, on_note=on_note, **kwargs)

    # --- control -----------------------------------------------------------------------------
    def start(self) -> None:
        """Runs in a thread of its own (the service)."""
        threading.Thread(target=self._run_quietly, name="ssdlite-runner", daemon=True).start()

    def stop(self) -> None:
        """Stops the stream and the retries; safe from any thread and from a signal handler."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.stop()

    def join(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    # --- the run -----------------------------------------------------------------------------
    def _run_quietly(self) -> None:
        try:
            self.run()
        except DetectError:
            pass  # kept in self.error for whoever joins

    def run(self) -> None:
        """The whole run in the caller's thread; raises the DetectError that ended it."""
        self._started_at = time.monotonic()
        try:
            self._run()
        except DetectError as error:  # not the source's fault, or no retry: the run ends
            self.error = error
            self.hub.set_state(STATE_FAILED, str(error))
        finally:
            if self.stage is not None:
                self._publish_events(self.stage.finish(), None)
                self.hub.events.close_all(drain=True)
            self.hub.results.close_all(drain=True)
            self._done.set()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        delay = self.retry_min
        while not self._stop.is_set():
            delivered, ended, failure = self._run_stream()
            if self._stop.is_set() or self._limit_reached():
                break
            if not self.retry:
                if failure is not None:
                    raise failure
                break  # the source ended
            if ended and delivered and self.replay_on_end:
                continue  # a file played to its end: again, at once
            if delivered:
                delay = self.retry_min
            self.on_note(f"retrying the source in {delay:g} s")
            if self._wait(delay):
                break
            delay = min(delay * 2, self.retry_max)
        self.hub.set_state(STATE_STOPPING)

    def _publish_events(self, events, frame) -> None:
        for event in events:
            self.hub.events.publish((event, frame))

    def _limit_reached(self) -> bool:
        if self.max_frames is not None and self.hub.stats.processed >= self.max_frames:
            return True
        return self.duration is not None and time.monotonic() - self._started_at >= self.duration

    def _wait(self, seconds: float) -> bool:
        """Sleeps up to `seconds`, beating the heart; True if the run should end meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.heartbeat = time.monotonic()
            if self._stop.wait(min(0.25, max(deadline - time.monotonic(), 0))) or self._limit_reached():
                return True
        return False

    def _run_stream(self) -> Tuple[int, bool, Optional[SourceError]]:
        """One stream until it fails, ends, reaches a limit or is stopped:
        (results delivered, whether the source ended, the source's error)."""
        frames = None if self.max_frames is None else self.max_frames - self.hub.stats.processed
        duration = None if self.duration is None else self.duration - (time.monotonic() - self._started_at)
        stream = self.streams.open(frames, duration)
        if self.stage is not None:
            stream.low_band = self.stage.low_band  # the tracked objects' low-score boxes (stage.py)
        with self._lock:
            if self._stop.is_set():
                return 0, False, None
            self._stream = stream
        delivered = 0
        ended = False
        failure: Optional[SourceError] = None
        try:
            with contextlib.closing(stream.results_with_frames()) as results:
                for result, frame in results:
                    delivered += 1
                    self.heartbeat = time.monotonic()
                    if self.stage is None:
                        self.hub.publish(result, frame)
                        continue
                    result, events = self.stage.process(result)
                    self.hub.publish(result, frame)
                    self._publish_events(events, frame)
            ended = not self._stop.is_set() and not self._limit_reached()
            if ended and self.retry and not (delivered and self.replay_on_end):
                self.hub.set_state(STATE_SOURCE_LOST, f"{self.streams.name}: the source ended")
                self.on_note(self.hub.message)
        except SourceError as error:
            failure = error
            if self.retry:
                self.hub.set_state(STATE_SOURCE_LOST, str(error))
                self.on_note(str(error))
        finally:
            with self._lock:
                self._stream = None
            self.hub.stats.stream_ended()
            self.heartbeat = time.monotonic()
        return delivered, ended, failure
