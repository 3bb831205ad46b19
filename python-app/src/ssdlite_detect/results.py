"""Detection results as small immutable values (the shape of pycoral's adapters/detect.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class BBox:
    """Axis-aligned box in pixels: (xmin, ymin) top-left, (xmax, ymax) bottom-right."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def scale(self, sx: float, sy: float) -> "BBox":
        return BBox(self.xmin * sx, self.ymin * sy, self.xmax * sx, self.ymax * sy)

    def intersect(self, other: "BBox") -> "BBox":
        """The overlap; empty overlaps have zero or negative width/height (area 0)."""
        return BBox(
            max(self.xmin, other.xmin), max(self.ymin, other.ymin),
            min(self.xmax, other.xmax), min(self.ymax, other.ymax),
        )

    def iou(self, other: "BBox") -> float:
        intersection = self.intersect(other).area
        union = self.area + other.area - intersection
        return intersection / union if union > 0 else 0.0

    def as_list(self) -> list:
        return [self.xmin, self.ymin, self.xmax, self.ymax]


@dataclass(frozen=True)
class Detection:
    """One detected object.

    class_id: the model's class id (COCO: the COCO category id, 1..90); box: pixels of the
    original EXIF-oriented image, clipped to it; box_normalized: (ymin, xmin, ymax, xmax) in [0, 1];
    track_id: the tracked object it is (live sources; None: stills, or not (yet) tracked).
    """

    class_id: int
    label: str
    score: float
    box: BBox
    box_normalized: Tuple[float, float, float, float]
    track_id: Optional[int] = None

    def to_dict(self) -> dict:
        fields = {
            "label": self.label,
            "class_id": self.class_id,
            "score": round(self.score, 6),
            "box": [round(v, 2) for v in self.box.as_list()],
            "box_normalized": [round(v, 6) for v in self.box_normalized],
        }
        if self.track_id is not None:
            fields["track_id"] = self.track_id
        return fields


@dataclass(frozen=True)
class DetectionResult:
    """Everything detected in one image, with where the time went (milliseconds)."""

    image: str
    width: int
    height: int
    backend: str
    detections: Tuple[Detection, ...]
    timing_ms: Dict[str, float]

    def to_dict(self) -> dict:
        return {
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "backend": self.backend,
            "detections": [detection.to_dict() for detection in self.detections],
            "timing_ms": {stage: round(ms, 3) for stage, ms in self.timing_ms.items()},
        }


@dataclass(frozen=True)
class FrameResult(DetectionResult):
    """What was detected in one video frame: a DetectionResult whose `image` names the source,
    plus the frame's index in the source (dropped frames count) and its timestamp.

    timing_ms also has "latency": from the frame's capture (files: its decoding) to this result.
    """

    frame: int = 0
    pts_ms: Optional[float] = None

    def to_dict(self) -> dict:
        fields = super().to_dict()
        source = fields.pop("image")
        return {
            "source": source,
            "frame": self.frame,
            "pts_ms": None if self.pts_ms is None else round(self.pts_ms, 3),
            **fields,
        }
