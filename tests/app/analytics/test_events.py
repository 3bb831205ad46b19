"""Zones, lines and events on synthetic tracks: exact events and counts where objects do not
overlap; every mistake in the tables is one ConfigError line."""
from __future__ import annotations

import numpy as np
import pytest

from ssdlite_detect.analytics.events import ObjectAnalytics
from ssdlite_detect.analytics.geometry import points_in_polygon, segment_crosses
from ssdlite_detect.analytics.zones import check_labels, regions_from_table
from ssdlite_detect.config import ConfigError
from ssdlite_detect.tracking.tracker import ByteTracker

TABLE = {
    "zones": [{"name": "right", "points": [[320, 0], [640, 0], [640, 360], [320, 360]], "labels": ["person"],
               "inertia": 2}],
    "lines": [{"name": "door", "points": [[320, 0], [320, 360]], "in": [500, 180]}],
}
LABELS = {1: "person", 3: "car"}


def _events(positions, regions, fps=30, class_id=1):
    """Events of one object whose box bottom-centre follows `positions` (x, y per frame)."""
    tracker = ByteTracker(regions.tracking)
    analytics = ObjectAnalytics(regions, LABELS.get)
    events = []
    for number, (x, y) in enumerate(positions):
        box = np.array([[x - 20, y - 80, x + 20, y]])
        step = tracker.update(box, np.array([0.9]), np.array([class_id]), number / fps)
        events += analytics.update(step, number, number * 1000 / fps)
    events += analytics.end_all(len(positions) - 1, (len(positions) - 1) * 1000 / fps)
    return events, analytics


def test_an_object_crossing_a_line_both_ways_and_a_zone():
    regions = regions_from_table(TABLE, "zones.toml").resolve(640, 360)
    there = [(100 + 10 * n, 300) for n in range(50)]  # 100 -> 590
    back = [(590 - 10 * n, 300) for n in range(50)]
    events, analytics = _events(there + back, regions)
    kinds = [(e["type"], e.get("zone") or e.get("line"), e.get("direction")) for e in events]
    assert kinds == [
        ("new", None, None),
        ("cross", "door", "in"),
        ("enter", "right", None),
        ("update", None, None),   # its zones changed
        ("cross", "door", "out"),
        ("leave", "right", None),
        ("update", None, None),
        ("end", None, None),
    ], kinds
    assert analytics.counts() == {"zones": {"right": {"person": 0}}, "lines": {"door": {"person": {"in": 1, "out": 1}}}}
    new = events[0]
    assert new["track_id"] == 1 and new["label"] == "person"
    assert set(new) >= {"type", "track_id", "label", "frame", "pts_ms", "box", "score", "top_score",
                        "first_seen_ms", "last_seen_ms", "zones", "entered_zones"}
    assert events[-1]["entered_zones"] == ["right"] and events[-1]["zones"] == []
    # x = 320 + 0 on frame 22 (on the zone's left edge: inside; on the line: not yet across), 330 on
    # frame 23: the crossing, and with inertia 2 the second frame inside, the entry.
    assert events[1]["frame"] == 23 and events[2]["frame"] == 23


def test_a_label_the_zone_does_not_count_only_crosses_the_line():
    regions = regions_from_table(TABLE, "zones.toml").resolve(640, 360)
    events, analytics = _events([(100 + 10 * n, 300) for n in range(50)], regions, class_id=3)
    assert [e["type"] for e in events] == ["new", "cross", "end"]
    assert analytics.counts()["zones"] == {"right": {}}


def test_a_line_counts_only_objects_above_its_min_area_and_min_score():
    table = {"lines": [{"name": "door", "points": [[320, 0], [320, 360]], "in": [500, 180], "min_area": 2000,
                        "min_score": 0.5}]}
    regions = regions_from_table(table, "zones.toml").resolve(640, 360)

    def crossings(half_width, height, scores):
        tracker, analytics = ByteTracker(regions.tracking), ObjectAnalytics(regions, LABELS.get)
        events = []
        for number, (x, score) in enumerate(zip(range(200, 460, 10), scores)):
            box = np.array([[x - half_width, 300 - height, x + half_width, 300]])
            events += analytics.update(tracker.update(box, np.array([score]), np.array([1]), number / 30),
                                       number, number * 1000 / 30)
        return [e["direction"] for e in events if e["type"] == "cross"]

    assert crossings(20, 80, [0.9] * 26) == ["in"]  # 40 x 80 = 3200 px
    assert crossings(10, 40, [0.9] * 26) == []  # 20 x 40 = 800 px: a passenger seen through a window
    # Below min_score on the frames around the line (x = 300 .. 350): counted once, when it is sure again.
    dips = [0.9] * 10 + [0.3] * 6 + [0.9] * 10
    assert crossings(20, 80, dips) == ["in"]


def test_geometry():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
    assert points_in_polygon(np.array([[5, 5], [15, 5], [0, 5], [10, 5]]), square).tolist() == [True, False, True, False]
    assert segment_crosses((0, 5), (10, 5), (5, 0), (5, 10))
    assert not segment_crosses((0, 20), (10, 20), (5, 0), (5, 10))  # past the segment's end
    assert not segment_crosses((0, 5), (4, 5), (5, 0), (5, 10))


@pytest.mark.parametrize("table, message", [
    ({"zones": [{"name": "z", "points": [[0, 0], [10, 0]]}]}, "must be a polygon"),
    ({"zones": [{"name": "z", "points": [[0, 0], [10, 0], [20, 0]]}]}, "must be a polygon"),
    ({"lines": [{"name": "l", "points": [[0, 0]], "in": [1, 1]}]}, "two different points"),
    ({"lines": [{"name": "l", "points": [[0, 0], [0, 10]], "in": [0, 5]}]}, "is on the line"),
    ({"lines": [{"name": "l", "points": [[0, 0], [0, 10]]}]}, "in = [x, y] is missing"),
    ({"zones": [{"name": "a b", "points": [[0, 0], [1, 0], [1, 1]]}]}, "name must be"),
    ({"zones": [{"name": "z", "points": [[0, 0], [1, 0], [1, 1]], "colour": 1}]}, "unknown key 'colour'"),
    ({"zones": [{"name": "z", "points": [[0, 0], [1, 0], ["x", 1]]}]}, "expected a finite number"),
    ({"tracking": {"lost_s": -1}}, "lost_s"),
    ({"zones": {"name": "z"}}, "array of tables"),
])
def test_bad_tables_are_one_line(table, message):
    with pytest.raises(ConfigError, match=None) as raised:
        regions_from_table(table, "zones.toml")
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert str(raised.value).startswith("zones.toml: ")


def test_points_outside_the_frame_and_unknown_labels():
    regions = regions_from_table(TABLE, "zones.toml")
    with pytest.raises(ConfigError, match="outside the 300x300 frame"):
        regions.resolve(300, 300, "zones.toml")
    with pytest.raises(ConfigError, match="unknown label 'person'"):
        check_labels(regions, ["car", "bus"], "zones.toml")
    normalized = regions_from_table({"zones": [{"name": "z", "normalized": True, "points": [[0.5, 0], [1, 0], [1, 1]]}]}, "f")
    assert normalized.resolve(640, 360).zones[0].points == ((320.0, 0.0), (640.0, 0.0), (640.0, 360.0))


def test_without_zones_or_lines_only_the_objects_life():
    from ssdlite_detect.analytics.zones import Regions

    events, analytics = _events([(100 + 10 * n, 300) for n in range(20)], Regions())
    assert [e["type"] for e in events] == ["new", "end"]
    assert analytics.counts() == {"zones": {}, "lines": {}}
