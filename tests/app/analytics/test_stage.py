"""ObjectStage, the runner's stage after post-processing: what it publishes of each frame's
detections (the user's threshold, and the tracked objects whose score dipped below it)."""
from __future__ import annotations

import pytest

from ssdlite_detect.analytics.stage import ObjectStage
from ssdlite_detect.analytics.zones import Regions
from ssdlite_detect.results import BBox, Detection, FrameResult

THRESHOLD = 0.5


def _frame(number, detections):
    return FrameResult("clip", 640, 360, "cpu", tuple(detections), {"inference": 1.0, "latency": 2.0},
                       frame=number, pts_ms=number * 100.0)


def _person(x, score):
    return Detection(1, "person", score, BBox(x, 100.0, x + 40.0, 180.0), (100 / 360, x / 640, 180 / 360, (x + 40) / 640))


def _published(stage, frames):
    return [[(d.score, d.track_id) for d in stage.process(_frame(n, detections))[0].detections]
            for n, detections in enumerate(frames)]


def test_a_tracked_object_stays_published_while_its_score_dips():
    """Frames 0-4 sure, 5-7 at 0.3 (below the user's 0.5, paired by the tracker's second
    association): still published, with its id, as ByteTrack reports it."""
    stage = ObjectStage(Regions(), THRESHOLD)
    frames = [[_person(100 + 5 * n, 0.9 if n < 5 or n > 7 else 0.3)] for n in range(10)]
    published = _published(stage, frames)
    track_id = published[4][0][1]
    assert track_id is not None
    assert published[5:8] == [[(0.3, track_id)]] * 3
    assert published[9] == [(0.9, track_id)]


def test_an_unsure_detection_of_no_tracked_object_is_not_published():
    """Below the threshold and not continuing a confirmed track: left out, as without tracking
    (the detector runs at the tracker's low_score only for its second association)."""
    stage = ObjectStage(Regions(), THRESHOLD)
    frames = [[_person(100 + 5 * n, 0.9), _person(400, 0.3)] for n in range(6)]
    published = _published(stage, frames)
    assert all(len(frame) <= 1 and all(score == 0.9 for score, _id in frame) for frame in published)
    # A sure one that is still tentative (its first frame) is published, without an id yet.
    assert published[0] == [(0.9, None)]


def test_the_low_band_publishes_what_nms_on_every_low_score_candidate_published(reference, bus_image):
    """The reference SSD on a pan across the bus photo (30 frames, 8 px a frame, real invokes):
    the stage with its low band (the detector at the tracker's high score, the low-score
    candidates near confirmed tracks added) publishes the same detections, track ids and events,
    frame by frame, as the detector run at the tracker's low score on every candidate."""
    import dataclasses

    from ssdlite_detect.analytics.stage import objects_stage
    from ssdlite_detect.detector import Detector

    detector = Detector.open(str(reference / "coco_ssd_mobilenet_v1_raw.tflite"), device="cpu")
    width, height = 640, 480
    frames = [bus_image.crop((8 * n, 100, 8 * n + width, 100 + height)) for n in range(30)]
    outputs = [detector.infer(detector.preprocess(frame)) for frame in frames]
    banded, banded_detector = objects_stage(Regions(), detector)
    everything = ObjectStage(Regions(), detector.config.score_threshold)
    every_candidate = detector.with_config(dataclasses.replace(detector.config, score_threshold=0.1))
    published = {"band": [], "every candidate": []}
    band_sizes = []
    for number, (boxes, classes) in enumerate(outputs):
        band = banded.low_band(width, height, number * 100.0)
        band_sizes.append(0 if band is None else len(band.class_ids))
        runs = (("band", banded, banded_detector.detections_from_outputs(boxes, classes, width, height, band)),
                ("every candidate", everything, every_candidate.detections_from_outputs(boxes, classes, width, height)))
        for name, stage, detections in runs:
            result, events = stage.process(FrameResult("pan", width, height, "cpu", tuple(detections), {}, frame=number,
                                                       pts_ms=number * 100.0))
            published[name].append(([(d.label, d.score, d.track_id, d.box) for d in result.detections], events))
    assert published["band"] == published["every candidate"]
    assert max(band_sizes) >= 3  # the band was in use: several confirmed tracks
    # ... and it mattered: tracked objects published below the user's threshold (29 measured).
    assert sum(score < 0.5 for detections, _ in published["band"] for _label, score, *_ in detections) >= 10
    assert sum(track_id is not None for detections, _ in published["band"] for *_, track_id, _box in detections) > 50


def test_the_video_clock_peeks_at_the_time_it_will_give():
    """low_band predicts the tracks at the frame's time before process() takes the frame: peek_ms
    says what now_ms will (a replayed file starts at 0 again and the clock still goes on)."""
    from ssdlite_detect.analytics.stage import VideoClock

    clock = VideoClock()
    times = []
    for pts in (0.0, 100.0, 200.0, 0.0, 100.0, None):
        peeked = clock.peek_ms(pts)
        assert clock.peek_ms(pts) == peeked  # peeking takes nothing
        times.append(clock.now_ms(pts))
        assert times[-1] == peeked
    frame = 1000 / 30
    assert times == pytest.approx([0.0, 100.0, 200.0, 200 + frame, 300 + frame, 300 + 2 * frame])
