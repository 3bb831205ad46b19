"""DetectionStream (live.stream): the same detections as stills, objects found on a large lossy
clip, pipelining, dropping only on live sources, stopping, and failures surfacing in order."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ssdlite_detect.errors import ModelError, SourceError
from ssdlite_detect.live.elements import SOFTWARE_CHAIN
from ssdlite_detect.live.pipeline import parse_source
from ssdlite_detect.live.source import VideoSource
from ssdlite_detect.live.stats import StreamStats
from ssdlite_detect.live.stream import DetectionStream, NewestSlot
from ssdlite_detect.results import FrameResult


def stream_of(detector, text, **options):
    source_options = {key: options.pop(key) for key in ("size", "fps", "realtime") if key in options}
    source = VideoSource(parse_source(str(text), **source_options), detector.input_size, chain=SOFTWARE_CHAIN)
    return DetectionStream(detector, source, **options)


@pytest.mark.parametrize("clip", ["raw_mkv", "png_mov"])
def test_lossless_video_detections_equal_the_stills_frame_for_frame(request, reference_detector, still_frames, clip):
    results = list(stream_of(reference_detector, request.getfixturevalue(clip)))
    assert [r.frame for r in results] == list(range(len(still_frames)))
    for result, still in zip(results, still_frames):
        expected = reference_detector.detect(str(still))
        assert result.detections == expected.detections, f"frame {result.frame} differs from {still.name}"
        assert (result.width, result.height) == (expected.width, expected.height)
    assert sum(len(r.detections) for r in results) >= len(still_frames)  # the bus is there to find


def test_the_bus_is_found_in_every_frame_of_a_lossy_720p_clip(reference_detector, bus_h264_mp4):
    stream = stream_of(reference_detector, bus_h264_mp4)
    results = list(stream)
    assert len(results) == 24 and stream.stats.dropped == 0
    for result in results:
        buses = [d for d in result.detections if d.label == "bus"]
        assert buses, f"no bus in frame {result.frame}: {[d.label for d in result.detections]}"
        bus = max(buses, key=lambda d: d.score)
        # Where the bus is: in the photo at x 151..465 (its still-image box), pasted at x = travel.
        travel = (1280 - 640) * result.frame / 23
        assert abs(bus.box.xmin - (travel + 151)) < 40 and abs(bus.box.xmax - (travel + 465)) < 40, bus.box


def test_results_have_the_frame_shape(reference_detector, raw_mkv):
    result = next(iter(stream_of(reference_detector, raw_mkv, max_frames=1)))
    assert isinstance(result, FrameResult)
    data = result.to_dict()
    assert list(data)[:3] == ["source", "frame", "pts_ms"] and "image" not in data
    assert data["source"] == str(raw_mkv) and data["frame"] == 0 and data["pts_ms"] == 0.0
    assert set(data["timing_ms"]) == {"preprocess", "inference", "postprocess", "latency"}
    assert data["timing_ms"]["latency"] >= data["timing_ms"]["inference"]


def test_max_frames_and_duration_stop_early(reference_detector):
    stream = stream_of(reference_detector, "testsrc", max_frames=3)
    assert len(list(stream)) == 3 and stream.stats.processed == 3
    start = time.monotonic()
    stream = stream_of(reference_detector, "testsrc", duration=1.0)
    list(stream)
    assert 0.9 < time.monotonic() - start < 4.0


class SlowDetector:
    """The real detector with a slower invoke (sleeps, releasing the GIL like TFLite's)."""

    def __init__(self, detector, seconds):
        self.detector, self.seconds = detector, seconds
        self.invokes = []  # (start, end) of every inference
        self.captures = []  # time of every tensor_from_pixels

    def __getattr__(self, name):
        return getattr(self.detector, name)

    def tensor_from_pixels(self, pixels):
        self.captures.append(time.perf_counter())
        return self.detector.tensor_from_pixels(pixels)

    def infer(self, tensor):
        start = time.perf_counter()
        time.sleep(self.seconds)
        outputs = self.detector.infer(tensor)
        self.invokes.append((start, time.perf_counter()))
        return outputs


def test_a_live_source_drops_what_inference_cannot_take_and_keeps_no_backlog(reference_detector):
    slow = SlowDetector(reference_detector, 0.15)
    stream = stream_of(slow, "testsrc", fps=30, max_frames=6)
    results = list(stream)
    frames = [r.frame for r in results]
    assert frames == sorted(frames) and stream.stats.dropped > 0
    assert stream.stats.dropped == frames[-1] + 1 - len(results)
    # No backlog: each frame processed was captured just before its inference started.
    assert max(r.timing_ms["latency"] for r in results[1:]) < 1000


def test_files_drop_nothing_even_when_inference_is_slow(reference_detector, raw_mkv):
    stream = stream_of(SlowDetector(reference_detector, 0.05), raw_mkv)
    assert [r.frame for r in stream] == list(range(6)) and stream.stats.dropped == 0


def test_capture_overlaps_inference(reference_detector, raw_mkv):
    """Pipelining: the next frame is captured (and its tensor made) while an inference runs."""
    slow = SlowDetector(reference_detector, 0.1)
    list(stream_of(slow, raw_mkv))
    overlapping = [t for t in slow.captures if any(start < t < end for start, end in slow.invokes)]
    assert len(overlapping) >= 3, (slow.captures, slow.invokes)


def test_stop_from_another_thread_ends_iteration_promptly(reference_detector):
    stream = stream_of(reference_detector, "testsrc")
    results = []
    stopped_at = None
    for result in stream:  # stopped from a timer's thread 0.3 s after the first result
        results.append(result)
        if stopped_at is None:
            stopped_at = time.monotonic() + 0.3
            threading.Timer(0.3, stream.stop).start()
    assert results and time.monotonic() - stopped_at < 2.0
    assert stream.source.pipeline is None  # closed


def test_source_errors_come_after_every_earlier_result(reference_detector, raw_mkv, tmp_path):
    data = raw_mkv.read_bytes()
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(data[: len(data) // 2])
    stream = stream_of(reference_detector, truncated)
    seen = []
    with pytest.raises(SourceError, match="truncated or corrupt"):
        for result in stream:
            seen.append(result.frame)
    assert seen and seen == list(range(len(seen)))


def test_a_failing_inference_is_raised_in_the_callers_thread(reference_detector, raw_mkv):
    class Broken(SlowDetector):
        def infer(self, tensor):
            raise ModelError("inference failed")

    with pytest.raises(ModelError, match="inference failed"):
        list(stream_of(Broken(reference_detector, 0), raw_mkv))


def test_callback_api(reference_detector, raw_mkv):
    seen = []
    stats = stream_of(reference_detector, raw_mkv).run(seen.append)
    assert [r.frame for r in seen] == list(range(6)) and stats.processed == 6


def test_a_stream_runs_once(reference_detector, raw_mkv):
    stream = stream_of(reference_detector, raw_mkv)
    list(stream)
    with pytest.raises(RuntimeError):
        list(stream)


def test_newest_slot_keeps_the_newest_and_counts_replacements():
    slot = NewestSlot()
    slot.put(1)
    slot.put(2)
    slot.close("end")
    assert (slot.get(0.1), slot.get(0.1), slot.get(0.1), slot.replaced) == (2, "end", "end", 1)
    assert NewestSlot().get(0.01) is None


def test_stats_count_drops_from_frame_indexes():
    stats = StreamStats()
    for number, (frame, at) in enumerate([(0, 0.0), (3, 0.5), (4, 1.0)]):
        result = FrameResult("s", 1, 1, "cpu", (), {"latency": 10.0 + number, "inference": 5.0}, frame=frame)
        stats.record(result, at)
    summary = stats.summary()
    assert (summary["frames"], summary["dropped"], summary["fps"]) == (3, 2, 2.0)
    assert summary["latency_median_ms"] == 11.0 and summary["latency_p90_ms"] == 12.0


def test_a_slow_reader_of_a_realtime_file_gets_frames_all_through_it(gst, reference_detector, bus_image, tmp_path):
    """30 frames at 10 FPS (3 s) read at 0.15 s a frame: about two frames in three, from the
    whole file. A leaking queue before the synced appsink let the decoder race through the file
    and drop nearly everything: frames 0 and 1, then nothing until the last."""
    from live.live_media import encode_clip, moving_bus_frames

    clip = encode_clip(gst, moving_bus_frames(bus_image, count=30, size=(640, 360)), tmp_path / "bus-30.avi",
                       "videoconvert ! jpegenc ! avimux", fps=10)
    stream = stream_of(SlowDetector(reference_detector, 0.15), clip, realtime=True)
    indices = [result.frame for result in stream]
    assert len(indices) >= 12, indices
    assert max(later - earlier for earlier, later in zip(indices, indices[1:])) <= 4, indices


def test_realtime_file_keeps_the_files_pace_and_drops_what_is_late(reference_detector, bus_mjpeg_avi):
    """8 frames at 10 FPS take about 0.8 s in real time; an inference slower than 0.1 s drops frames."""
    slow = SlowDetector(reference_detector, 0.25)
    start = time.monotonic()
    stream = stream_of(slow, bus_mjpeg_avi, realtime=True)
    results = list(stream)
    assert time.monotonic() - start >= 0.6  # paced by the clock, not as fast as possible
    assert len(results) < 8 and stream.stats.dropped > 0
