"""Multi-object tracking by ByteTrack's scheme (Zhang et al., ECCV 2022), per class, in time.

Each frame:
1. every track's Kalman filter (kalman.py) predicts its box at the frame's time;
2. confirmed and lost tracks are paired with the high-score detections by IoU (a lost track that
   pairs again is found, with its id);
3. confirmed tracks still unpaired are paired with the low-score detections (a detection whose
   score dipped keeps its track: ByteTrack's point), more strictly;
4. tentative tracks are paired with the high-score detections left; a tentative track that misses
   a frame is dropped, one that has been seen for `confirm_s` (and at least twice) is confirmed
   and gets its id;
5. lost tracks, and tracks that found only a low-score box in step 3, are paired with the
   high-score detections still left by how much of the track's predicted box lies inside the
   detection (at least `refind_overlap`): an object that went
   behind another was seen shrinking to its visible part, and comes back whole, a box several
   times larger whose IoU with the prediction is small (not in ByteTrack; OC-SORT and BoT-SORT
   address the same case with other means); the filter restarts from the new box, the id stays;
6. high-score detections left start tentative tracks;
7. tracks lost for longer than `lost_s` end.
Pairs are made only within a class (class_id), by the least-cost assignment with lapjv's cost
limit (assignment.match). Times are seconds (the frames' timestamps), never frame counts.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import kalman
from .assignment import match

TENTATIVE = "tentative"
CONFIRMED = "confirmed"
LOST = "lost"


@dataclass(frozen=True)
class TrackerConfig:
    """The tracker's parameters ([tracking] in the config). Scores are the detector's, in [0, 1]."""

    high_score: float = 0.5  # first association and new tracks start from these detections
    low_score: float = 0.1  # second association: detections between low_score and high_score
    new_track_score: float = 0.6  # a track starts only from a detection this sure
    match_iou: float = 0.2  # least IoU of a pair in the first association (ByteTrack: 0.8 cost)
    low_match_iou: float = 0.5  # ... in the second (ByteTrack: 0.5 cost)
    tentative_match_iou: float = 0.3  # ... of a tentative track (ByteTrack: 0.7 cost)
    confirm_s: float = 0.1  # seen this long (and at least twice) before a track is confirmed
    lost_s: float = 1.0  # a track unseen this long ends (ByteTrack: 30 frames at 30 FPS)
    refind_overlap: float = 0.7  # a lost track's predicted box this much inside a new detection: found

    def __post_init__(self):
        for name in ("high_score", "low_score", "new_track_score", "match_iou", "low_match_iou", "tentative_match_iou",
                     "refind_overlap"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"tracking {name} must be in [0, 1], not {value!r}")
        for name in ("confirm_s", "lost_s"):
            value = getattr(self, name)
            if not 0.0 <= value <= 3600.0:
                raise ValueError(f"tracking {name} must be in [0, 3600] seconds, not {value!r}")
        if self.low_score > self.high_score:
            raise ValueError(f"tracking low_score {self.low_score} is above high_score {self.high_score}")


@dataclass(eq=False)
class Track:
    """One tracked object. track_id is 0 until the track is confirmed."""

    class_id: int
    box: Tuple[float, float, float, float]  # the last paired detection's box
    score: float
    first_seen: float
    last_seen: float
    state: str = TENTATIVE
    track_id: int = 0
    hits: int = 1
    best_score: float = 0.0
    detection: Optional[int] = None  # index of this frame's paired detection, None: not seen

    def __post_init__(self):
        self.best_score = max(self.best_score, self.score)


@dataclass
class TrackerStep:
    """What one frame did. visible: confirmed tracks paired with a detection in this frame;
    confirmed: tracks confirmed in this frame (also in visible); lost: tracks that missed this
    frame for the first time; ended: tracks that ended in this frame."""

    visible: List[Track] = field(default_factory=list)
    confirmed: List[Track] = field(default_factory=list)
    lost: List[Track] = field(default_factory=list)
    ended: List[Track] = field(default_factory=list)


def _intersections(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N, M) intersection areas of boxes (N, 4) and (M, 4), xmin, ymin, xmax, ymax."""
    low = np.maximum(first[:, None, :2], second[None, :, :2])
    high = np.minimum(first[:, None, 2:], second[None, :, 2:])
    overlap = np.maximum(high - low, 0.0)
    return overlap[..., 0] * overlap[..., 1]


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N, M) IoU of boxes (N, 4) and (M, 4), xmin, ymin, xmax, ymax."""
    if first.size == 0 or second.size == 0:
        return np.zeros((first.shape[0], second.shape[0]))
    intersection = _intersections(first, second)
    union = _areas(first)[:, None] + _areas(second)[None, :] - intersection
    np.maximum(union, 1e-12, out=union)  # empty boxes: IoU 0 (their intersection is 0 too)
    return intersection / union


def inside_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N, M): the share of each box of `first` (N, 4) that lies inside each box of `second` (M, 4)."""
    if first.size == 0 or second.size == 0:
        return np.zeros((first.shape[0], second.shape[0]))
    return _intersections(first, second) / np.maximum(_areas(first), 1e-12)[:, None]


class ByteTracker:
    """Tracks of one source (see the module doc). Not thread-safe: one thread updates it.

    The filters' states are two arrays in the order of `tracks` (means (N, 8), covariances
    (N, 3, 4), see kalman.py): a frame is a few dozen numpy calls, whatever the number of tracks."""

    def __init__(self, config: TrackerConfig = TrackerConfig()):
        self.config = config
        self.tracks: List[Track] = []  # tentative, confirmed and lost
        self._means = np.zeros((0, 8))
        self._covariances = np.zeros((0, 3, 4))
        self._ids = itertools.count(1)
        self._time: Optional[float] = None

    def update(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, time_s: float) -> TrackerStep:
        """One frame's detections (boxes (N, 4) in pixels, scores (N,), class ids (N,)) at
        `time_s` seconds. Detections below low_score are ignored. Each track's `detection` says
        which detection it was paired with in this frame."""
        config = self.config
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        class_ids = np.asarray(class_ids).reshape(-1)
        elapsed = 0.0 if self._time is None else max(time_s - self._time, 0.0)
        time_s = time_s if self._time is None else max(time_s, self._time)  # a clock that restarts
        self._time = time_s
        step = TrackerStep()
        tracks = self.tracks
        for track in tracks:
            track.detection = None
        # A lost track's height stops changing (ByteTrack's STrack.multi_predict): an object that
        # went behind another shrank in its last boxes, and would otherwise vanish in prediction.
        lost_rows = [row for row, track in enumerate(tracks) if track.state == LOST]
        if lost_rows:
            self._means[lost_rows, 7] = 0.0
        self._means, self._covariances = kalman.predict(self._means, self._covariances, elapsed)
        predicted = kalman.measurements_to_boxes(self._means)
        states = [track.state for track in tracks]
        score_list = scores.tolist()
        high = [d for d, score in enumerate(score_list) if score >= config.high_score]
        low = [d for d, score in enumerate(score_list) if config.low_score <= score < config.high_score]

        pool = [row for row, state in enumerate(states) if state != TENTATIVE]
        paired, high_left = self._associate(pool, high, predicted, boxes, class_ids, config.match_iou)
        for row, detection in paired:
            tracks[row].state = CONFIRMED  # a lost track found again keeps its id
            self._pair(tracks[row], detection, boxes, score_list, time_s)
        still_tracked = [row for row in pool if states[row] == CONFIRMED and tracks[row].detection is None]
        paired, _ = self._associate(still_tracked, low, predicted, boxes, class_ids, config.low_match_iou)
        for row, detection in paired:
            self._pair(tracks[row], detection, boxes, score_list, time_s)
        low_paired = [row for row, _detection in paired]
        for row in still_tracked:
            if tracks[row].detection is None:
                tracks[row].state = LOST
                step.lost.append(tracks[row])

        tentative = [row for row, state in enumerate(states) if state == TENTATIVE]
        paired, high_left = self._associate(tentative, high_left, predicted, boxes, class_ids, config.tentative_match_iou)
        for row, detection in paired:
            track = tracks[row]
            self._pair(track, detection, boxes, score_list, time_s)
            track.hits += 1
            if time_s - track.first_seen >= config.confirm_s:
                self._confirm(track, step)

        # Step 5's candidates: tracks lost before this frame, and tracks that found only a low-score
        # box (often a fragment of the hidden object, while the whole one comes back sure).
        lost = [row for row, state in enumerate(states) if state == LOST and tracks[row].detection is None]
        refound, high_left = self._refind(lost + low_paired, high_left, predicted, boxes, class_ids)
        for row, detection in refound:
            tracks[row].state = CONFIRMED
            self._pair(tracks[row], detection, boxes, score_list, time_s)

        keep = []
        for track in tracks:
            if track.state == TENTATIVE and track.detection is None:
                keep.append(False)  # a tentative track that misses a frame was noise
            elif track.state == LOST and time_s - track.last_seen > config.lost_s:
                keep.append(False)
                step.ended.append(track)
            else:
                keep.append(True)
                if track.state == CONFIRMED and track.detection is not None:
                    step.visible.append(track)
        measurements = kalman.boxes_to_measurements(boxes)
        refound_rows = {row for row, _detection in refound}
        seen = [row for row, track in enumerate(tracks) if track.detection is not None and row not in refound_rows]
        if seen:
            self._means[seen], self._covariances[seen] = kalman.update(
                self._means[seen], self._covariances[seen], measurements[[tracks[row].detection for row in seen]]
            )
        if refound:
            rows = [row for row, _detection in refound]
            self._means[rows], self._covariances[rows] = kalman.initiate(measurements[[d for _row, d in refound]])
        if not all(keep):
            self.tracks = [track for track, kept in zip(tracks, keep) if kept]
            self._means, self._covariances = self._means[keep], self._covariances[keep]
        starts = [d for d in high_left if score_list[d] >= config.new_track_score]
        if starts:
            self._start(starts, boxes, score_list, class_ids, measurements, time_s, step)
        return step

    def predicted_confirmed(self, time_s: float) -> Tuple[np.ndarray, np.ndarray]:
        """(boxes (T, 4) xmin, ymin, xmax, ymax, class ids (T,)) of the confirmed tracks as update()
        will predict them at `time_s`: the only tracks a low-score detection can be paired with
        (step 3), so a caller can leave out the low-score detections far from all of them."""
        rows = [row for row, track in enumerate(self.tracks) if track.state == CONFIRMED]
        if not rows or self._time is None:
            return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
        measurements = kalman.predicted_measurements(self._means[rows], max(time_s - self._time, 0.0))
        return kalman.measurements_to_boxes(measurements), np.array([self.tracks[row].class_id for row in rows])

    def end_all(self) -> List[Track]:
        """Ends every confirmed or lost track (the source ended); tentative ones just go."""
        ended = [track for track in self.tracks if track.state in (CONFIRMED, LOST)]
        self.tracks = []
        self._means, self._covariances = self._means[:0], self._covariances[:0]
        return ended

    # --- steps ---------------------------------------------------------------------------------
    def _associate(self, rows: List[int], detections: List[int], predicted: np.ndarray, boxes: np.ndarray,
                   class_ids: np.ndarray, least_iou: float) -> Tuple[List[Tuple[int, int]], List[int]]:
        """Pairs (track row, detection index) and the detections left, in their order."""
        if not rows or not detections:
            return [], detections
        cost = 1.0 - iou_matrix(predicted[rows], boxes[detections])
        track_classes = np.array([self.tracks[row].class_id for row in rows])
        cost[track_classes[:, None] != class_ids[detections][None, :]] = np.inf
        pairs, _, left = match(cost, 1.0 - least_iou + 1e-12)  # IoU >= least_iou pairs
        return [(rows[row], detections[column]) for row, column in pairs], [detections[column] for column in left]

    def _refind(self, rows: List[int], detections: List[int], predicted: np.ndarray, boxes: np.ndarray,
                class_ids: np.ndarray) -> Tuple[List[Tuple[int, int]], List[int]]:
        """Step 5: pairs (lost track row, detection) by the share of the predicted box inside the
        detection, and the detections left."""
        if not rows or not detections:
            return [], detections
        cost = 1.0 - inside_matrix(predicted[rows], boxes[detections])
        track_classes = np.array([self.tracks[row].class_id for row in rows])
        cost[track_classes[:, None] != class_ids[detections][None, :]] = np.inf
        pairs, _, left = match(cost, 1.0 - self.config.refind_overlap + 1e-12)
        return [(rows[row], detections[column]) for row, column in pairs], [detections[column] for column in left]

    @staticmethod
    def _pair(track: Track, detection: int, boxes: np.ndarray, scores: List[float], time_s: float) -> None:
        track.detection = detection
        track.box = tuple(boxes[detection].tolist())
        track.score = scores[detection]
        track.best_score = max(track.best_score, track.score)
        track.last_seen = time_s

    def _confirm(self, track: Track, step: TrackerStep) -> None:
        if track.state != TENTATIVE or (track.hits < 2 and self.config.confirm_s > 0):
            return
        track.state = CONFIRMED
        track.track_id = next(self._ids)
        step.confirmed.append(track)

    def _start(self, starts, boxes, scores, class_ids, measurements, time_s, step) -> None:
        means, covariances = kalman.initiate(measurements[starts])
        self._means = np.concatenate([self._means, means])
        self._covariances = np.concatenate([self._covariances, covariances])
        for detection in starts:
            track = Track(
                class_id=int(class_ids[detection]), box=tuple(boxes[detection].tolist()),
                score=scores[detection], first_seen=time_s, last_seen=time_s, detection=detection,
            )  # fmt: skip
            self.tracks.append(track)
            if self.config.confirm_s == 0.0:
                self._confirm(track, step)
                step.visible.append(track)
