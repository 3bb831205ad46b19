"""Zones and lines of a source, and the [[zones]] / [[lines]] / [tracking] tables that describe them.

    [[zones]]
    name = "door"
    points = [[100, 50], [300, 50], [300, 200], [100, 200]]  # source-frame pixels
    labels = ["person"]        # optional: every label
    min_score = 0.5            # optional: detections below do not count
    min_area = 400             # optional, pixels of the box
    inertia_s = 0.2            # optional: in (or out) this long before it counts; or inertia = 3 frames
    anchor = "bottom-center"   # optional: or "center"

    [[lines]]
    name = "entrance"
    points = [[320, 0], [320, 360]]
    in = [400, 180]            # a point on the side that counts as "in"
    labels = ["person"]        # optional
    min_score = 0.5            # optional, as a zone's; min_area too

    [tracking]                 # optional: tracking.TrackerConfig's fields
    lost_s = 1.0

`normalized = true` in a zone or line: its coordinates are fractions of the frame (0..1). Pixel
coordinates are checked against the frame once its size is known (Region.resolve).
Every mistake is one ConfigError line that names the file, the table and the key.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from ..config import REGION_TABLES, ConfigError
from ..tracking.tracker import TrackerConfig
from .geometry import Point, polygon_area, side_of_line

ANCHORS = ("bottom-center", "center")
TABLES = REGION_TABLES
MAX_REGIONS = 64
MAX_POINTS = 256


@dataclass(frozen=True)
class Zone:
    name: str
    points: Tuple[Point, ...]
    labels: Optional[FrozenSet[str]] = None  # None: every label
    min_score: float = 0.0
    min_area: float = 0.0
    inertia_s: float = 0.0
    inertia_frames: int = 1
    anchor: str = "bottom-center"
    normalized: bool = False

    def counts(self, label: str, score: float, area: float) -> bool:
        return (self.labels is None or label in self.labels) and score >= self.min_score and area >= self.min_area

    def polygon(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64)


@dataclass(frozen=True)
class Line:
    name: str
    points: Tuple[Point, Point]
    in_point: Point
    labels: Optional[FrozenSet[str]] = None
    min_score: float = 0.0
    min_area: float = 0.0  # e.g. above the people seen through a bus's windows
    anchor: str = "bottom-center"
    normalized: bool = False

    def counts(self, label: str, score: float, area: float) -> bool:
        return (self.labels is None or label in self.labels) and score >= self.min_score and area >= self.min_area

    @property
    def in_side(self) -> int:
        return int(side_of_line(np.array([self.in_point]), *self.points)[0])


@dataclass(frozen=True)
class Regions:
    """The zones and lines of one source, and the tracker's parameters."""

    zones: Tuple[Zone, ...] = ()
    lines: Tuple[Line, ...] = ()
    tracking: TrackerConfig = TrackerConfig()

    def resolve(self, width: int, height: int, where: str = "zones") -> "Regions":
        """The regions in pixels of a width x height frame; ConfigError if one leaves the frame."""
        def scaled(point: Point, normalized: bool, name: str) -> Point:
            x, y = (point[0] * width, point[1] * height) if normalized else point
            if not (0 <= x <= width and 0 <= y <= height):
                raise ConfigError(f"{where}: {name}: point {list(point)} is outside the {width}x{height} frame")
            return (float(x), float(y))

        zones = tuple(
            dataclasses.replace(zone, normalized=False,
                                points=tuple(scaled(p, zone.normalized, f"zone {zone.name!r}") for p in zone.points))
            for zone in self.zones
        )  # fmt: skip
        lines = []
        for line in self.lines:
            name = f"line {line.name!r}"
            a, b = (scaled(p, line.normalized, name) for p in line.points)
            in_point = (line.in_point[0] * width, line.in_point[1] * height) if line.normalized else line.in_point
            lines.append(dataclasses.replace(line, normalized=False, points=(a, b), in_point=in_point))
        return Regions(zones, tuple(lines), self.tracking)


def _number(value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}"[:300])
    if not low <= value <= high:
        raise ConfigError(f"{where}: {value!r} is outside [{low:g}, {high:g}]")
    return float(value)


def _points(value: Any, where: str, normalized: bool) -> Tuple[Point, ...]:
    if not isinstance(value, list) or len(value) > MAX_POINTS:
        raise ConfigError(f"{where}: expected a list of [x, y] points (at most {MAX_POINTS})")
    limit = 1.0 if normalized else 100_000.0
    points = []
    for index, point in enumerate(value):
        if not isinstance(point, list) or len(point) != 2:
            raise ConfigError(f"{where}[{index}]: expected a point [x, y], got {point!r}"[:300])
        points.append(tuple(_number(v, f"{where}[{index}]", 0.0, limit) for v in point))
    return tuple(points)


def _labels(value: Any, where: str, known: Optional[Sequence[str]]) -> Optional[FrozenSet[str]]:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(label, str) for label in value):
        raise ConfigError(f"{where}: expected a non-empty list of label names")
    if known is not None:
        unknown = [label for label in value if label not in known]
        if unknown:
            raise ConfigError(f"{where}: unknown label {unknown[0]!r} (the model's labels are e.g. {', '.join(list(known)[:5])})")
    return frozenset(value)


def _table_keys(table: Any, where: str, allowed: Sequence[str]) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} (expected {', '.join(allowed)})")
    return table


def _name(table: dict, where: str, seen: set) -> str:
    name = table.get("name")
    if not isinstance(name, str) or not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise ConfigError(f"{where}: name must be 1 to 64 letters, digits, '-' or '_' (it becomes an MQTT topic level)")
    if name in seen:
        raise ConfigError(f"{where}: a second region named {name!r}")
    seen.add(name)
    return name


ZONE_KEYS = ("name", "points", "labels", "min_score", "min_area", "inertia", "inertia_s", "anchor", "normalized")
LINE_KEYS = ("name", "points", "in", "labels", "min_score", "min_area", "anchor", "normalized")


def _anchor(table: dict, where: str) -> str:
    anchor = table.get("anchor", "bottom-center")
    if anchor not in ANCHORS:
        raise ConfigError(f"{where}: anchor must be one of {', '.join(ANCHORS)}, not {anchor!r}"[:300])
    return anchor


def _normalized(table: dict, where: str) -> bool:
    value = table.get("normalized", False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: normalized must be true or false")
    return value


def _region(table: Any, where: str, keys: Sequence[str], seen: set):
    """What zones and lines share: (table, name, where with the name, normalized, points)."""
    table = _table_keys(table, where, keys)
    name = _name(table, where, seen)
    where = f"{where} ({name})"
    normalized = _normalized(table, where)
    return table, name, where, normalized, _points(table.get("points"), f"{where}: points", normalized)


def parse_zone(table: Any, where: str, known: Optional[Sequence[str]], seen: set) -> Zone:
    table, name, where, normalized, points = _region(table, where, ZONE_KEYS, seen)
    if len(points) < 3 or polygon_area(points) <= 0:
        raise ConfigError(f"{where}: points must be a polygon: at least 3 points enclosing an area")
    inertia = table.get("inertia", 1)
    if isinstance(inertia, bool) or not isinstance(inertia, int) or not 1 <= inertia <= 10_000:
        raise ConfigError(f"{where}: inertia must be a whole number of frames in [1, 10000], not {inertia!r}"[:300])
    return Zone(
        name=name, points=points, labels=_labels(table.get("labels"), f"{where}: labels", known),
        min_score=_number(table.get("min_score", 0.0), f"{where}: min_score", 0.0, 1.0),
        min_area=_number(table.get("min_area", 0.0), f"{where}: min_area", 0.0, 1e10),
        inertia_s=_number(table.get("inertia_s", 0.0), f"{where}: inertia_s", 0.0, 3600.0),
        inertia_frames=inertia, anchor=_anchor(table, where), normalized=normalized,
    )  # fmt: skip


def parse_line(table: Any, where: str, known: Optional[Sequence[str]], seen: set) -> Line:
    table, name, where, normalized, points = _region(table, where, LINE_KEYS, seen)
    if len(points) != 2 or points[0] == points[1]:
        raise ConfigError(f"{where}: points must be two different points")
    if "in" not in table:
        raise ConfigError(f"{where}: in = [x, y] is missing (a point on the side that counts as in)")
    in_point = _points([table["in"]], f"{where}: in", normalized)[0]
    line = Line(name=name, points=(points[0], points[1]), in_point=in_point,
                labels=_labels(table.get("labels"), f"{where}: labels", known),
                min_score=_number(table.get("min_score", 0.0), f"{where}: min_score", 0.0, 1.0),
                min_area=_number(table.get("min_area", 0.0), f"{where}: min_area", 0.0, 1e10),
                anchor=_anchor(table, where), normalized=normalized)
    if line.in_side == 0:
        raise ConfigError(f"{where}: in = {list(in_point)} is on the line: it must say which side is in")
    return line


def parse_tracking(table: Any, where: str) -> TrackerConfig:
    fields = [field.name for field in dataclasses.fields(TrackerConfig)]
    table = _table_keys(table, where, fields)
    values = {key: _number(value, f"{where}: {key}") for key, value in table.items()}
    try:
        return TrackerConfig(**values)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def check_labels(regions: Regions, known: Sequence[str], where: str) -> None:
    """ConfigError if a zone or line names a label the model does not have."""
    for region in regions.zones + regions.lines:
        unknown = sorted((region.labels or frozenset()) - set(known))
        if unknown:
            kind = "zone" if isinstance(region, Zone) else "line"
            raise ConfigError(f"{where}: {kind} {region.name!r}: unknown label {unknown[0]!r} (not one of the model's labels)")


def regions_from_table(table: Dict[str, Any], path: str, labels: Optional[Sequence[str]] = None) -> Regions:
    """The zones, lines and tracking of a TOML table (a --zones file, or --config's tables);
    other keys are left to the caller. labels: the model's, to refuse an unknown label."""
    seen: set = set()
    zones: List[Zone] = []
    lines: List[Line] = []
    for key, parse, target in (("zones", parse_zone, zones), ("lines", parse_line, lines)):
        entries = table.get(key, [])
        if not isinstance(entries, list) or len(entries) > MAX_REGIONS:
            raise ConfigError(f"{path}: {key} must be an array of tables ([[{key}]]), at most {MAX_REGIONS}")
        for index, entry in enumerate(entries):
            target.append(parse(entry, f"{path}: {key}[{index}]", labels, seen))
    tracking = parse_tracking(table.get("tracking", {}), f"{path}: tracking")
    return Regions(tuple(zones), tuple(lines), tracking)
