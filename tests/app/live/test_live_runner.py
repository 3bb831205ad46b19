"""The one runner (live/runner.py) and the live CLI's outputs (live/outputs.py) on scripted
streams: what ends a run in each mode, totals over reconnections, and outputs that can neither
lose a file's frames nor slow a live source."""
from __future__ import annotations

import io
import json
import threading
import time

import pytest

from ssdlite_detect.errors import OutputError, SourceError
from ssdlite_detect.live.hub import STATE_FAILED, STATE_SOURCE_LOST, STATE_STOPPING, ResultHub
from ssdlite_detect.live.outputs import LineOutput, ThreadOutput
from ssdlite_detect.live.runner import StreamRunner
from ssdlite_detect.pubsub import BLOCK, DROP_OLDEST, ThreadSubscription
from ssdlite_detect.results import FrameResult


def frame_result(index: int) -> FrameResult:
    return FrameResult("scripted", 640, 480, "cpu", (), {"inference": 10.0, "latency": 12.0}, frame=index)


class ScriptedStream:
    """Yields frames `indexes` (each after `interval` s), then fails with `error` or ends."""

    def __init__(self, indexes, error=None, interval=0.0, max_frames=None):
        self.indexes, self.error, self.interval, self.max_frames = list(indexes), error, interval, max_frames
        self._stop = threading.Event()

    def results_with_frames(self):
        for count, index in enumerate(self.indexes):
            if self._stop.is_set() or (self.max_frames is not None and count >= self.max_frames):
                return
            time.sleep(self.interval)
            yield frame_result(index), None
        if self.error is not None:
            raise self.error

    def stop(self):
        self._stop.set()


class ScriptedStreams:
    name = "scripted"

    def __init__(self, *streams):
        self.streams = list(streams)
        self.opened = 0

    def open(self, max_frames, _duration):
        self.opened += 1
        stream = self.streams.pop(0) if self.streams else ScriptedStream([], SourceError("scripted: gone"))
        stream.max_frames = max_frames
        return stream


def runner_of(*streams, **kwargs) -> StreamRunner:
    return StreamRunner(ScriptedStreams(*streams), ResultHub("scripted", "cpu", "m"), **kwargs)


def test_without_retry_a_source_error_ends_the_run_after_every_result_before_it():
    runner = runner_of(ScriptedStream(range(5), SourceError("scripted: corrupt after 5 frame(s)")))
    subscription = runner.hub.results.subscribe(ThreadSubscription(size=16, policy=BLOCK))
    with pytest.raises(SourceError, match="corrupt"):
        runner.run()
    delivered = []
    while (item := subscription.get(0.1)) is not None:
        delivered.append(item[0].frame)
    assert delivered == [0, 1, 2, 3, 4] and subscription.finished  # then the topic closed
    assert runner.hub.state == STATE_FAILED and runner.streams.opened == 1


def test_without_retry_the_end_of_the_source_ends_the_run_quietly():
    runner = runner_of(ScriptedStream(range(3)))
    runner.run()
    assert runner.error is None and runner.hub.stats.processed == 3 and runner.hub.state == STATE_STOPPING


def test_with_retry_a_lost_source_is_reopened_and_frames_add_up():
    first = ScriptedStream([0, 1, 3], SourceError("scripted: camera lost"))  # frame 2 dropped
    second = ScriptedStream([1, 2, 3, 4, 5])  # frame 0 of the reopened source dropped
    runner = runner_of(first, second, retry=True, max_frames=8, retry_min=0.01, retry_max=0.02)
    states = []
    runner.hub.on_state(states.append)
    runner.run()
    assert runner.hub.stats.processed == 8 and runner.hub.stats.dropped == 1 + 1
    assert STATE_SOURCE_LOST in states and runner.hub.source_losses == 1 and runner.streams.opened == 2


def test_with_retry_a_file_that_ends_is_replayed_at_once():
    runner = runner_of(ScriptedStream(range(3)), ScriptedStream(range(3)), retry=True, max_frames=6,
                       replay_on_end=True, retry_min=5.0)
    start = time.monotonic()
    runner.run()
    assert runner.hub.stats.processed == 6 and time.monotonic() - start < 2.0  # no 5 s backoff
    assert runner.hub.source_losses == 0


def test_stop_from_another_thread_ends_a_retrying_run():
    runner = runner_of(ScriptedStream(range(10**6), interval=0.01), retry=True)
    runner.start()
    time.sleep(0.2)
    runner.stop()
    assert runner.join(2.0) and runner.error is None and runner.hub.stats.processed > 0


class SlowOutput(ThreadOutput):
    name = "slow"

    def __init__(self, policy, seconds):
        super().__init__(size=2, policy=policy)
        self.seconds, self.frames = seconds, []

    def handle(self, result, _frame):
        time.sleep(self.seconds)
        self.frames.append(result.frame)


def test_a_slow_output_of_a_live_source_drops_instead_of_slowing_the_stream():
    runner = runner_of(ScriptedStream(range(100), interval=0.002))
    slow = SlowOutput(DROP_OLDEST, 0.05)
    slow.start(runner.hub.results)
    start = time.monotonic()
    runner.run()
    took = time.monotonic() - start
    slow.join(5)
    assert took < 1.5  # 100 frames at 2 ms, not 100 x 50 ms
    assert slow.dropped > 50 and len(slow.frames) + slow.dropped == 100 and slow.frames[-1] == 99


def test_a_slow_output_of_a_file_gets_every_frame():
    runner = runner_of(ScriptedStream(range(20)))
    slow = SlowOutput(BLOCK, 0.01)
    slow.start(runner.hub.results)
    runner.run()
    slow.join(5)
    assert slow.frames == list(range(20)) and slow.dropped == 0


def test_a_failing_output_stops_the_run_and_keeps_its_error():
    class Failing(ThreadOutput):
        name = "failing"

        def handle(self, result, _frame):
            if result.frame == 3:
                raise OutputError("--output x.mkv: the encoder stopped")

    runner = runner_of(ScriptedStream(range(10**6), interval=0.001))
    failing = Failing(size=2, policy=BLOCK, on_end=lambda _output: runner.stop())
    failing.start(runner.hub.results)
    runner.run()  # would run for ever: the output's failure stops it
    failing.join(5)
    assert isinstance(failing.error, OutputError) and runner.error is None


def test_json_lines_output_writes_every_frame_of_a_file():
    stream = io.StringIO()
    runner = runner_of(ScriptedStream(range(50)))
    lines = LineOutput(stream, json_lines=True, policy=BLOCK)
    lines.start(runner.hub.results)
    runner.run()
    lines.join(5)
    assert [json.loads(line)["frame"] for line in stream.getvalue().splitlines()] == list(range(50))


def _tracked_result(index: int, score: float):
    from ssdlite_detect.results import BBox, Detection

    bus = Detection(6, "bus", score, BBox(40.0, 30.0, 200.0, 150.0), (0.06, 0.06, 0.31, 0.31), track_id=7)
    return FrameResult("scripted", 640, 480, "cpu", (bus,), {"inference": 10.0}, frame=index, pts_ms=index * 100.0)


def _frame_of(index: int, grey: int):
    import numpy as np

    from ssdlite_detect.live.source import Frame

    display = np.full((480, 640, 3), grey, dtype=np.uint8)
    return Frame(index, index * 100.0, 640, 480, display[::4, ::4], time.perf_counter(), display)


def test_an_object_that_ended_gets_no_snapshot_from_a_result_queued_before_its_end():
    """The snapshots output reads results and events from two queues: here the bus's `end` (the
    run stopping) arrives while a result published before it still waits. That late result must
    not start the object again: its end snapshot stays its last one, published once."""
    from ssdlite_detect.live.snapshotter import SnapshotOutput

    hub = ResultHub("scripted", "cpu", "m")
    output = SnapshotOutput(hub)
    published = hub.snapshots.subscribe(ThreadSubscription(size=16))
    output.start()  # its thread waits on hub.results; this test hands it the results itself
    output.handle(_tracked_result(0, 0.6), _frame_of(0, 90))  # the first snapshot ("new")
    hub.events.publish(({"type": "end", "track_id": 7, "label": "bus"}, None))
    output.handle(_tracked_result(1, 0.7), _frame_of(1, 100))  # handled, then the end drained after it
    output.handle(_tracked_result(2, 0.9), _frame_of(2, 110))  # queued before the end, handled after it
    hub.events.close_all(drain=True)
    hub.results.close_all(drain=True)
    assert output.join(5)
    reasons = []
    while (item := published.get(timeout=0)) is not None:
        reasons.append((item[1], item[0].frame))
    assert reasons == [("new", 0), ("end", 1)], reasons  # frame 1: the pending better one, encoded at the end
    assert output.store.get(7).frame == 1 and output.encoded == 2


def test_what_the_outputs_want_survives_the_source_opened_again(reference_detector):
    """SourceStreams makes a new VideoSource for every attempt (real GStreamer, testsrc): the
    display branch's valve of each follows the owners that want full-size frames."""
    from ssdlite_detect.live.pipeline import SourceOptions, parse_source
    from ssdlite_detect.live.runner import SourceStreams

    streams = SourceStreams(reference_detector, SourceOptions(parse_source("testsrc", (320, 240), 30)), display=True)
    recorder = object()

    def frames_of_one_stream():
        stream = streams.open(max_frames=6)
        return stream, [frame for _result, frame in stream.results_with_frames()]

    streams.want_display(recorder, True)
    first, frames = frames_of_one_stream()
    assert streams.display_wanted and frames[-1].display is not None
    second, frames = frames_of_one_stream()
    assert second.source is not first.source  # a new pipeline, the valve open from its start
    assert sum(frame.display is not None for frame in frames) >= 4  # a live display queue may drop one
    streams.want_display(recorder, False)
    _third, frames = frames_of_one_stream()
    assert not streams.display_wanted and all(frame.display is None for frame in frames)
