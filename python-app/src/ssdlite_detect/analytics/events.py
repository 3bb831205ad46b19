"""Objects over time: from the tracker's steps to events and counts (pure; no I/O, no threads).

Events, one JSON object each (the keys every event has: type, track_id, label, frame, pts_ms):
  new     a track is confirmed                       + box, score, top_score, first_seen_ms,
  update  its zones changed, or a much better view      last_seen_ms, zones, entered_zones
  end     the track ended (lost too long, or the source ended)
  enter   it has been in a zone for the zone's inertia   + zone
  leave   it has been out of a zone it was in, as long   + zone
  cross   its anchor crossed a line                       + line, direction ("in" or "out")
`update` is never sent per frame: only when the current zones change or the top score rose by
UPDATE_SCORE_GAIN since the last new/update (a better snapshot).

Counts: zones -> label -> objects in the zone now; lines -> label -> {"in", "out"} since start.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Set, Tuple

import numpy as np

from ..tracking.tracker import Track, TrackerStep
from .geometry import points_in_polygon, segment_crosses, side_of_line
from .zones import Regions

UPDATE_SCORE_GAIN = 0.1


@dataclass
class _ZoneState:
    inside: bool = False  # as counted (after inertia)
    candidate: Optional[bool] = None  # a change being confirmed
    since_ms: float = 0.0
    frames: int = 0


@dataclass
class ObjectState:
    """What is known of one tracked object."""

    track_id: int
    label: str
    first_seen_ms: float
    last_seen_ms: float
    box: Tuple[float, float, float, float]
    score: float
    top_score: float
    reported_score: float = 0.0
    zones: Dict[str, _ZoneState] = field(default_factory=dict)
    entered: Set[str] = field(default_factory=set)
    anchors: Dict[str, Tuple[float, float]] = field(default_factory=dict)  # last anchor per line

    def current_zones(self) -> List[str]:
        return sorted(name for name, state in self.zones.items() if state.inside)

    def to_dict(self) -> dict:
        return {
            "track_id": self.track_id,
            "label": self.label,
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 6),
            "top_score": round(self.top_score, 6),
            "first_seen_ms": round(self.first_seen_ms, 3),
            "last_seen_ms": round(self.last_seen_ms, 3),
            "zones": self.current_zones(),
            "entered_zones": sorted(self.entered),
        }


class ObjectAnalytics:
    """Events and counts of one source's tracks in its zones and lines (see the module doc).
    label_of: class id -> label name. One thread calls update()."""

    def __init__(self, regions: Regions, label_of: Callable[[int], str]):
        self.regions = regions
        self.label_of = label_of
        self.objects: Dict[int, ObjectState] = {}
        self.zone_counts: Dict[str, Dict[str, int]] = {zone.name: {} for zone in regions.zones}
        self.line_counts: Dict[str, Dict[str, Dict[str, int]]] = {line.name: {} for line in regions.lines}
        self._polygons = [zone.polygon() for zone in regions.zones]
        self._in_sides = [line.in_side for line in regions.lines]
        self._anchor_kinds = {zone.anchor for zone in regions.zones} | {line.anchor for line in regions.lines}

    # --- per frame ---------------------------------------------------------------------------
    def update(self, step: TrackerStep, frame: int, pts_ms: float) -> List[dict]:
        events: List[dict] = []
        for track in step.confirmed:
            state = self._new_object(track, pts_ms)
            events.append(self._object_event("new", state, frame, pts_ms))
            state.reported_score = state.top_score
        for track in step.visible:
            state = self.objects.get(track.track_id)
            if state is None:
                continue
            state.box, state.score, state.last_seen_ms = track.box, track.score, pts_ms
            state.top_score = max(state.top_score, track.score)
        visible = [self.objects[track.track_id] for track in step.visible if track.track_id in self.objects]
        if visible:
            anchors = self._anchors(visible)  # anchor kind -> (objects, 2), computed once per frame
            inside = self._inside(anchors, len(visible))  # (zones, objects): one polygon test per zone
            sides = self._sides(anchors, len(visible))  # (lines, objects)
            for column, state in enumerate(visible):
                self._lines(state, sides[:, column], anchors, column, frame, pts_ms, events)
                zones_changed = self._zones(state, inside[:, column], frame, pts_ms, events)
                if zones_changed or state.top_score >= state.reported_score + UPDATE_SCORE_GAIN:
                    events.append(self._object_event("update", state, frame, pts_ms))
                    state.reported_score = state.top_score
        for track in step.ended:
            events.extend(self.end(track.track_id, frame, pts_ms))
        return events

    def end(self, track_id: int, frame: int, pts_ms: float) -> List[dict]:
        """The object's zones left and its end event (the tracker ended it, or the source ended)."""
        state = self.objects.pop(track_id, None)
        if state is None:
            return []
        events = []
        for name in state.current_zones():
            state.zones[name].inside = False
            self._count_zone(name, state.label, -1)
            events.append(self._base("leave", state, frame, pts_ms) | {"zone": name})
        events.append(self._object_event("end", state, frame, pts_ms))
        return events

    def end_all(self, frame: int, pts_ms: float) -> List[dict]:
        events = []
        for track_id in list(self.objects):
            events.extend(self.end(track_id, frame, pts_ms))
        return events

    def counts(self) -> dict:
        return {"zones": {name: dict(labels) for name, labels in self.zone_counts.items()},
                "lines": {name: {label: dict(sides) for label, sides in labels.items()}
                          for name, labels in self.line_counts.items()}}

    # --- steps -------------------------------------------------------------------------------
    def _new_object(self, track: Track, pts_ms: float) -> ObjectState:
        state = ObjectState(track.track_id, self.label_of(track.class_id), pts_ms, pts_ms, track.box,
                            track.score, track.best_score)
        self.objects[track.track_id] = state
        return state

    def _anchors(self, states: List[ObjectState]) -> Dict[str, np.ndarray]:
        """{anchor kind: (objects, 2) points} for the kinds the zones and lines use."""
        boxes = np.array([state.box for state in states], dtype=np.float64).reshape(-1, 4)
        center_x = (boxes[:, 0] + boxes[:, 2]) / 2
        return {
            kind: np.stack([center_x, boxes[:, 3] if kind == "bottom-center" else (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
            for kind in self._anchor_kinds
        }

    def _inside(self, anchors: Dict[str, np.ndarray], count: int) -> np.ndarray:
        inside = np.zeros((len(self.regions.zones), count), dtype=bool)
        for row, (zone, polygon) in enumerate(zip(self.regions.zones, self._polygons)):
            inside[row] = points_in_polygon(anchors[zone.anchor], polygon)
        return inside

    def _sides(self, anchors: Dict[str, np.ndarray], count: int) -> np.ndarray:
        sides = np.zeros((len(self.regions.lines), count), dtype=np.int8)
        for row, line in enumerate(self.regions.lines):
            sides[row] = side_of_line(anchors[line.anchor], *line.points)
        return sides

    def _zones(self, state: ObjectState, inside: np.ndarray, frame: int, pts_ms: float, events: List[dict]) -> bool:
        changed = False
        box = state.box
        area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
        for zone, in_polygon in zip(self.regions.zones, inside.tolist()):
            zone_state = state.zones.setdefault(zone.name, _ZoneState())
            now_in = in_polygon and zone.counts(state.label, state.score, area)
            if now_in == zone_state.inside:
                zone_state.candidate = None
                continue
            if zone_state.candidate is not now_in:
                zone_state.candidate, zone_state.since_ms, zone_state.frames = now_in, pts_ms, 0
            zone_state.frames += 1
            if zone_state.frames >= zone.inertia_frames and pts_ms - zone_state.since_ms >= zone.inertia_s * 1000:
                zone_state.inside, zone_state.candidate = now_in, None
                changed = True
                self._count_zone(zone.name, state.label, 1 if now_in else -1)
                if now_in:
                    state.entered.add(zone.name)
                events.append(self._base("enter" if now_in else "leave", state, frame, pts_ms) | {"zone": zone.name})
        return changed

    def _lines(self, state: ObjectState, sides: np.ndarray, anchors: Dict[str, np.ndarray], column: int,
               frame: int, pts_ms: float, events: List[dict]) -> None:
        box = state.box
        area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
        for line, in_side, side in zip(self.regions.lines, self._in_sides, sides.tolist()):
            # On the line: the crossing is counted once it is past it. Too small or unsure: as if
            # unseen (its last counted position stays, so a dip while crossing still counts once).
            if side == 0 or not line.counts(state.label, state.score, area):
                continue
            point = tuple(anchors[line.anchor][column].tolist())
            previous = state.anchors.get(line.name)
            state.anchors[line.name] = point
            if previous is None or not segment_crosses(previous, point, *line.points):
                continue
            direction = "in" if side == in_side else "out"
            sides_count = self.line_counts[line.name].setdefault(state.label, {"in": 0, "out": 0})
            sides_count[direction] += 1
            events.append(self._base("cross", state, frame, pts_ms) | {"line": line.name, "direction": direction})

    def _count_zone(self, zone: str, label: str, change: int) -> None:
        labels = self.zone_counts[zone]
        labels[label] = labels.get(label, 0) + change

    @staticmethod
    def _base(kind: str, state: ObjectState, frame: int, pts_ms: float) -> dict:
        return {"type": kind, "track_id": state.track_id, "label": state.label, "frame": frame,
                "pts_ms": round(pts_ms, 3)}

    def _object_event(self, kind: str, state: ObjectState, frame: int, pts_ms: float) -> dict:
        fields = state.to_dict()
        del fields["track_id"], fields["label"]
        return self._base(kind, state, frame, pts_ms) | fields
