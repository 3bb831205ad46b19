"""ObjectStage, the runner's stage after post-processing: what it publishes of each frame's
detections (the user's threshold, and the tracked objects whose score dipped below it)."""
from __future__ import annotations

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
