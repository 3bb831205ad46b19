"""Plane geometry of zones and lines, pure numpy: points in polygons, sides of lines, crossings."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

Point = Tuple[float, float]


def polygon_area(polygon: Sequence[Point]) -> float:
    """The polygon's area (shoelace formula; 0 for a degenerate one)."""
    points = np.asarray(polygon, dtype=np.float64)
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: which of the points (N, 2) are inside the polygon (K, 2), by the even-odd rule
    (ray casting to +x); points on the left or bottom edges count as inside, on the right or top
    edges as outside, so that tiling zones share no point."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = points[:, 0:1], points[:, 1:2]
    start = polygon
    end = np.roll(polygon, -1, axis=0)
    straddles = (start[:, 1] <= y) != (end[:, 1] <= y)  # (N, K): the edge spans the point's y
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_x = start[:, 0] + (y - start[:, 1]) * (end[:, 0] - start[:, 0]) / (end[:, 1] - start[:, 1])
    return (np.count_nonzero(straddles & (x < crossing_x), axis=1) % 2) == 1


def side_of_line(points: np.ndarray, a: Point, b: Point) -> np.ndarray:
    """(N,) -1, 0 or 1: the side of the line a->b each point is on (sign of the cross product)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    cross = (b[0] - a[0]) * (points[:, 1] - a[1]) - (b[1] - a[1]) * (points[:, 0] - a[0])
    return np.sign(cross).astype(np.int8)


def _side(point: Point, a: Point, b: Point) -> int:
    cross = (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0])
    return (cross > 0) - (cross < 0)


def segment_crosses(p: Point, q: Point, a: Point, b: Point) -> bool:
    """Whether the move p -> q crosses the segment a-b: p and q strictly on either side of the
    line a-b, and a and b not strictly on one side of the line p-q (the move passes between them
    or through one end). Plain Python: it is called per object with four points."""
    side_p, side_q = _side(p, a, b), _side(q, a, b)
    if side_p == 0 or side_q == 0 or side_p == side_q:
        return False
    side_a, side_b = _side(a, p, q), _side(b, p, q)
    return not (side_a == side_b and side_a != 0)
