"""The objects stage of a live run: after post-processing, before the hub (live/runner.py).

Each FrameResult goes through the tracker (tracking/tracker.py) and the zones and lines
(events.py): its detections come back with their `track_id`, and the frame's events go to the
hub's `events` topic. The stage keeps, in the published result, the detections the user's
threshold keeps and those below it that continue a confirmed track (with its id): an object
stays reported while its score dips, as ByteTrack reports it; a new object still needs the
threshold (and new_track_score).

ByteTrack's second association needs the low-score boxes, from the tracker's low_score up. Below
the lower of the user's threshold and the tracker's high_score, a box is used only if it pairs with
a confirmed track, which needs IoU >= low_match_iou with the track's predicted box. So the
detector runs at that lower threshold, and the stream's post-processing adds the low-score
candidates near a confirmed track's predicted box, with those NMS needs to decide on them
(low_band(): postprocess.LowBand), instead of running NMS on every candidate above low_score in
the frame: on the reference SSD and the bus photo, 401 candidates of which NMS keeps 100, mostly
noise, against 22 above 0.5. What the tracker gets near its tracks, and so what the stage
publishes, is what NMS on every candidate gives (tested on a pan across the bus photo and on the
synthetic tracking scene), unless that NMS would reach its max_detections or max_per_class,
where the band leaves room for more of the boxes near tracks.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import List, Optional, Tuple

import numpy as np

from ..postprocess import LowBand
from ..tracking.tracker import ByteTracker
from .events import ObjectAnalytics
from .zones import Regions, check_labels


# A low-score candidate joins the band from this much below low_match_iou with a predicted box: the
# band's IoU is taken on normalised float32 boxes, the tracker's on pixels in float64.
BAND_IOU_MARGIN = 0.01


def tracking_threshold(score_threshold: float, regions: Regions) -> float:
    """The post-processing threshold the stream needs for the tracker: every box from it up may
    start or continue a track; below it only boxes near a confirmed track matter (low_band)."""
    return min(score_threshold, regions.tracking.high_score)


def objects_stage(regions: Regions, detector, where: str = "zones"):
    """(ObjectStage, the detector the stream must run): the stage keeps the detector's threshold
    for what it publishes, the returned detector runs at tracking_threshold (the stage's low_band
    adds the rest). ConfigError for a zone's or line's label the model lacks (before anything
    starts)."""
    check_labels(regions, [label for label in detector.spec.labels if label], where)
    threshold = detector.config.score_threshold
    stage = ObjectStage(regions, threshold, where)
    lowered = tracking_threshold(threshold, regions)
    if lowered < threshold:
        detector = detector.with_config(dataclasses.replace(detector.config, score_threshold=lowered))
    return stage, detector


class ObjectStage:
    """process(result) -> (result with track ids, events). One thread (the runner's) calls it;
    objects() and counts() may be called from any thread (the service's HTTP handlers)."""

    def __init__(self, regions: Regions, score_threshold: float, where: str = "zones"):
        self.regions = regions
        self.score_threshold = score_threshold
        self.where = where
        self._names: dict = {}  # class id -> label, from the detections
        self.tracker = ByteTracker(regions.tracking)
        self.analytics: Optional[ObjectAnalytics] = None  # once the frame size is known
        self._last: Tuple[int, float] = (0, 0.0)
        self._lock = threading.Lock()  # process() against objects() / counts()
        self._clock = VideoClock()
        # The band below the detector's threshold (tracking_threshold), None if there is none.
        band_top = tracking_threshold(score_threshold, regions)
        self._band_score = regions.tracking.low_score if regions.tracking.low_score < band_top else None

    def resolved_regions(self) -> Optional[Regions]:
        """The zones and lines in the source frame's pixels, once the first frame set its size
        (None before, and when there are none to draw). Any thread (the live view's encoder)."""
        analytics = self.analytics
        if analytics is None or not (analytics.regions.zones or analytics.regions.lines):
            return None
        return analytics.regions

    def low_band(self, width: int, height: int, pts_ms: Optional[float]) -> Optional[LowBand]:
        """The low-score candidates the next frame's post-processing should add (see the module
        doc): near the confirmed tracks' boxes as the tracker predicts them at the frame's time.
        Called in the thread that calls process(), before it, for the same frame."""
        if self._band_score is None:
            return None
        boxes, class_ids = self.tracker.predicted_confirmed(self._clock.peek_ms(pts_ms) / 1000.0)
        if class_ids.size == 0:
            return None
        normalized = boxes[:, [1, 0, 3, 2]] / np.array([height, width, height, width], np.float64)
        return LowBand(self._band_score, normalized.astype(np.float32), class_ids,
                       self.regions.tracking.low_match_iou - BAND_IOU_MARGIN)

    def _label_of(self, class_id: int) -> str:
        return self._names.get(class_id, str(class_id))

    def process(self, result) -> Tuple[object, List[dict]]:
        if self.analytics is None:
            regions = self.regions.resolve(result.width, result.height, self.where)  # ConfigError
            self.analytics = ObjectAnalytics(regions, self._label_of)
        detections = result.detections
        for detection in detections:
            self._names.setdefault(detection.class_id, detection.label)
        pts_ms = self._time_ms(result)
        boxes = np.array([d.box.as_list() for d in detections], dtype=np.float64).reshape(-1, 4)
        scores = np.array([d.score for d in detections])
        classes = np.array([d.class_id for d in detections], dtype=np.int64)
        with self._lock:
            return self._process(result, detections, boxes, scores, classes, pts_ms)

    def _process(self, result, detections, boxes, scores, classes, pts_ms):
        step = self.tracker.update(boxes, scores, classes, pts_ms / 1000.0)
        ids = {track.detection: track.track_id for track in step.visible}
        # What the user's threshold keeps, and a confirmed object whose score dipped below it
        # (paired by the second association: ByteTrack's point is to report it, not to lose it).
        kept = tuple(
            dataclasses.replace(detection, track_id=ids.get(index))
            for index, detection in enumerate(detections)
            if detection.score >= self.score_threshold or ids.get(index) is not None
        )
        events = self.analytics.update(step, result.frame, pts_ms)
        self._last = (result.frame, pts_ms)
        return dataclasses.replace(result, detections=kept), events

    def finish(self) -> List[dict]:
        """The source ended (or the run stops): every object ends."""
        with self._lock:
            if self.analytics is None:
                return []
            self.tracker.end_all()
            return self.analytics.end_all(*self._last)

    def counts(self) -> dict:
        """Zones -> label -> objects in it now; lines -> label -> {"in", "out"} since start."""
        with self._lock:
            return self.analytics.counts() if self.analytics is not None else {"zones": {}, "lines": {}}

    def objects(self) -> List[dict]:
        """The objects tracked now (as in new/update/end events), by track id."""
        with self._lock:
            if self.analytics is None:
                return []
            return [self.analytics.objects[key].to_dict() for key in sorted(self.analytics.objects)]

    def _time_ms(self, result) -> float:
        return self._clock.now_ms(result.pts_ms)


class VideoClock:
    """A source's time in milliseconds from its frames' timestamps, kept increasing: a replayed
    file starts again at 0, a frame without a timestamp counts as one frame at 30 FPS later."""

    FRAME_MS = 1000.0 / 30.0

    def __init__(self):
        self._last_ms: Optional[float] = None
        self._offset_ms = 0.0

    def now_ms(self, pts_ms: Optional[float]) -> float:
        now, self._offset_ms = self._next(pts_ms)
        self._last_ms = now
        return now

    def peek_ms(self, pts_ms: Optional[float]) -> float:
        """What now_ms(pts_ms) will return, without taking the frame."""
        return self._next(pts_ms)[0]

    def _next(self, pts_ms: Optional[float]) -> Tuple[float, float]:
        """(the frame's time, the offset after it)."""
        offset = self._offset_ms
        if pts_ms is None:
            return (self.FRAME_MS if self._last_ms is None else self._last_ms + self.FRAME_MS), offset
        now = pts_ms + offset
        if self._last_ms is not None and now < self._last_ms:
            offset += self._last_ms - now + self.FRAME_MS
            now = pts_ms + offset
        return now, offset
