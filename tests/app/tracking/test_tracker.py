"""ByteTracker on synthetic detections: ids stable through score dips, across gaps shorter than
lost_s, per class, and confirmed in time (not frames) at 10 and 90 FPS."""
from __future__ import annotations

import numpy as np
import pytest

from ssdlite_detect.tracking.tracker import ByteTracker, TrackerConfig, inside_matrix, iou_matrix


def _box(x, y, w=40.0, h=80.0):
    return [x, y, x + w, y + h]


def _run(tracker, frames, fps):
    """frames: list of [(box, score, class_id), ...]; returns per frame {detection: track_id}."""
    seen = []
    for number, detections in enumerate(frames):
        boxes = np.array([d[0] for d in detections]).reshape(-1, 4)
        scores = np.array([d[1] for d in detections])
        classes = np.array([d[2] for d in detections])
        step = tracker.update(boxes, scores, classes, number / fps)
        seen.append({track.detection: track.track_id for track in step.visible})
    return seen


@pytest.mark.parametrize("fps", [10, 30, 90])
def test_one_object_keeps_its_id_through_a_score_dip_and_a_short_gap(fps):
    frames = []
    for number in range(3 * fps):
        t = number / fps
        score = 0.3 if fps <= number < fps + fps // 3 else 0.9  # a third of a second below high_score
        gap = int(2.0 * fps) <= number < int(2.0 * fps + fps // 2)  # half a second unseen
        frames.append([] if gap else [(_box(100 + 150 * t, 100), score, 1)])
    seen = _run(ByteTracker(), frames, fps)
    ids = {track_id for frame in seen for track_id in frame.values()}
    assert ids == {1}
    confirmed_at = next(number for number, frame in enumerate(seen) if frame)
    assert confirmed_at / fps == pytest.approx(TrackerConfig().confirm_s, abs=1.5 / fps)
    # Tracked in every frame it was detected in after confirmation, the dip included.
    assert all(seen[n] for n in range(confirmed_at, 3 * fps) if frames[n])


def test_a_gap_longer_than_lost_s_ends_the_track_and_a_new_id_follows():
    fps = 30
    tracker = ByteTracker(TrackerConfig(lost_s=0.5))
    frames = [[(_box(100, 100), 0.9, 1)]] * 30 + [[]] * 20 + [[(_box(100, 100), 0.9, 1)]] * 30
    ended = []
    for number, detections in enumerate(frames):
        boxes = np.array([d[0] for d in detections]).reshape(-1, 4)
        step = tracker.update(boxes, np.array([d[1] for d in detections]), np.array([d[2] for d in detections]), number / fps)
        ended += [track.track_id for track in step.ended]
    assert ended == [1]
    assert [track.track_id for track in tracker.tracks] == [2]


def test_two_classes_on_the_same_spot_are_two_tracks_and_low_scores_start_none():
    fps = 30
    frames = [[(_box(50, 50), 0.9, 1), (_box(52, 50), 0.8, 3), (_box(400, 50), 0.4, 1)]] * 20
    seen = _run(ByteTracker(), frames, fps)
    assert sorted(seen[-1].items()) == [(0, 1), (1, 2)]  # the 0.4 detection never starts a track


def test_two_objects_crossing_paths_keep_their_ids():
    fps = 30
    frames = []
    for number in range(90):
        t = number / fps
        frames.append([(_box(100 + 200 * t, 100 + 10 * t), 0.9, 1), (_box(700 - 200 * t, 110), 0.9, 1)])
    seen = _run(ByteTracker(), frames, fps)
    first = seen[10]
    assert sorted(first.values()) == [1, 2]
    for frame in seen[10:]:
        assert frame == first, frame  # detection 0 is always the same object


def test_config_ranges_are_checked():
    with pytest.raises(ValueError, match="high_score"):
        TrackerConfig(high_score=1.5)
    with pytest.raises(ValueError, match="lost_s"):
        TrackerConfig(lost_s=-1)
    with pytest.raises(ValueError, match="low_score"):
        TrackerConfig(low_score=0.7, high_score=0.5)
    with pytest.raises(ValueError, match="refind_overlap"):
        TrackerConfig(refind_overlap=1.2)


def test_iou_matrix():
    boxes = np.array([_box(0, 0, 10, 10), _box(5, 0, 10, 10), _box(100, 100, 0, 0)])
    iou = iou_matrix(boxes, boxes)
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(50 / 150)
    assert iou[2, 2] == 0.0 and iou[0, 2] == 0.0


def test_inside_matrix_is_the_share_of_the_first_box_inside_the_second():
    small, big, apart = _box(10, 10, 10, 10), _box(0, 0, 40, 40), _box(100, 100, 10, 10)
    share = inside_matrix(np.array([small, big]), np.array([big, small, apart]))
    assert share[0].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert share[1].tolist() == pytest.approx([1.0, 100 / 1600, 0.0])
    assert inside_matrix(np.zeros((0, 4)), np.array([big])).shape == (0, 1)


def _steps_out_from_behind():
    """A person seen only above a parked car (a 60x20 box) for a second, missed in one frame, then
    whole (60x120) as they step out: the whole box holds the track's but their IoU is 1/6, under
    match_iou, so IoU alone cannot pair them."""
    top, whole = [100, 100, 160, 120], [100, 100, 160, 220]
    frames = [[(top, 0.9, 1)]] * 10 + [[]] + [[(whole, 0.9, 1)]] * 10
    return _run(ByteTracker(), frames, 10)


def test_a_partly_hidden_object_seen_whole_again_keeps_its_id():
    seen = _steps_out_from_behind()
    assert {track_id for frame in seen for track_id in frame.values()} == {1}
    assert all(frame == {0: 1} for frame in seen[11:])  # tracked from its first whole frame


def test_without_the_refind_step_it_would_be_a_new_id(monkeypatch):
    """The case step 5 is for: with it left out, the whole box starts a new track."""
    monkeypatch.setattr(ByteTracker, "_refind", lambda self, rows, detections, *rest: ([], detections))
    seen = _steps_out_from_behind()
    assert {track_id for frame in seen for track_id in frame.values()} == {1, 2}


def test_a_lost_tracks_predicted_height_stays_put():
    """ByteTrack zeroes a lost track's height velocity: one that shrank before it was lost does not
    keep shrinking in prediction (to nothing) while it is unseen."""
    tracker = ByteTracker()
    fps = 10
    for number in range(10):
        height = 120 - 6 * number  # shrinking 60 px a second
        tracker.update(np.array([_box(100, 100, 60, height)]), np.array([0.9]), np.array([1]), number / fps)
    for number in range(10, 18):
        tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), number / fps)
    from ssdlite_detect.tracking import kalman

    predicted = kalman.measurements_to_boxes(tracker._means)[0]
    assert predicted[3] - predicted[1] > 50  # would be about 6 px after 0.8 s more of shrinking


def test_predicted_confirmed_is_what_update_predicts_for_the_confirmed_tracks_only():
    from ssdlite_detect.tracking import kalman

    tracker = ByteTracker()
    fps = 10
    for number in range(8):  # a walker (confirmed), and from frame 7 a newcomer (tentative)
        detections = [(_box(100 + 12 * number, 100), 0.9, 1)] + ([(_box(400, 50), 0.9, 3)] if number == 7 else [])
        arrays = np.array([d[0] for d in detections]), np.array([d[1] for d in detections]), np.array([d[2] for d in detections])
        tracker.update(*arrays, number / fps)
    boxes, class_ids = tracker.predicted_confirmed(0.85)
    assert class_ids.tolist() == [1]
    means, covariances = kalman.predict(tracker._means[:1], tracker._covariances[:1], 0.85 - 0.7)
    np.testing.assert_array_equal(boxes, kalman.measurements_to_boxes(means))
    assert boxes[0, 0] == pytest.approx(100 + 12 * 8.5, abs=3)  # where it will be
    assert ByteTracker().predicted_confirmed(1.0)[0].shape == (0, 4)
