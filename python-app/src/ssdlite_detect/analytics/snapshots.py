"""Snapshots: each tracked object's best-scoring frame, a JPEG with its box drawn (draw.annotate).

Three pieces, none of them a thread (live/snapshotter.py runs them off the inference path):

- SnapshotSelector decides which frames of an object are encoded. A JPEG costs milliseconds
  (see the README's measurements), so not every frame is one: an object's first frame is, then a
  frame only when its score beats the encoded one by `min_gain`, and at most every `interval_ms`
  per object. A better frame that comes within the interval waits as the object's *pending*
  candidate (a reference to a frame that exists anyway, no copy; a still better one replaces it)
  and is encoded once the interval has passed or the object ends, so the snapshot kept is the
  best frame seen to within `min_gain`. At most `max_pending` objects hold a pending frame; past
  that the oldest is encoded at once: the raw frames held stay bounded whatever the scene.
  Encodes per object are bounded too: 1 + (1 - first score) / min_gain at most.
- encode_snapshot: the frame (scaled to at most `max_width`) with the object's box and label.
- SnapshotStore keeps the snapshots of the last `max_objects` objects seen (least recently seen
  dropped first): memory is max_objects JPEGs, whatever runs for how long. Thread-safe.
"""
from __future__ import annotations

import collections
import dataclasses
import io
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from ..draw import annotate
from ..results import Detection

DEFAULT_MAX_OBJECTS = 50


@dataclass(frozen=True)
class SnapshotPolicy:
    """When to encode, how, and how many to keep (see the module doc)."""

    max_objects: int = DEFAULT_MAX_OBJECTS
    min_gain: float = 0.05       # score a new snapshot must beat the encoded one by
    interval_ms: float = 500.0   # at most one snapshot per object this often (frame timestamps)
    max_pending: int = 4         # objects that may hold a better frame (a raw frame) waiting for its interval
    max_width: int = 1280        # wider frames are scaled down first (a 4K camera: 4x fewer pixels)
    quality: int = 85            # JPEG quality

    def __post_init__(self):
        if self.max_objects < 1 or self.max_pending < 1 or self.max_width < 16:
            raise ValueError("snapshots: max_objects and max_pending must be >= 1, max_width >= 16")
        if not 0.0 <= self.min_gain <= 1.0 or self.interval_ms < 0 or not 1 <= self.quality <= 95:
            raise ValueError("snapshots: min_gain in [0, 1], interval_ms >= 0, quality in [1, 95]")


@dataclass(frozen=True)
class Snapshot:
    """One object's best view so far. box: source-frame pixels; jpeg: the whole frame with the
    box drawn (scaled by `scale` when the frame was wider than the policy's max_width)."""

    track_id: int
    label: str
    class_id: int
    score: float
    box: Tuple[float, float, float, float]
    frame: int
    pts_ms: Optional[float]
    jpeg: bytes
    scale: float = 1.0

    def to_dict(self) -> dict:
        return {"track_id": self.track_id, "label": self.label, "score": round(self.score, 6),
                "box": [round(v, 2) for v in self.box], "frame": self.frame,
                "pts_ms": None if self.pts_ms is None else round(self.pts_ms, 3), "bytes": len(self.jpeg)}


@dataclass
class _Candidate:
    score: float
    payload: Any


@dataclass
class _ObjectChoice:
    encoded_score: Optional[float] = None
    encoded_ms: float = 0.0
    pending: Optional[_Candidate] = None


class SnapshotSelector:
    """Which frames become snapshots (pure: no pixels are looked at; payloads are opaque).

    offer(track_id, score, now_ms, payload) -> the payloads to encode now (this one, an object's
    pending one whose interval has passed, or the oldest pending one when too many wait);
    end(track_id) -> the object's pending payload, if any, and forgets the object.
    One thread calls it.
    """

    def __init__(self, policy: SnapshotPolicy = SnapshotPolicy()):
        self.policy = policy
        self._objects: "collections.OrderedDict[int, _ObjectChoice]" = collections.OrderedDict()
        self._pending: "collections.OrderedDict[int, None]" = collections.OrderedDict()  # oldest first

    def offer(self, track_id: int, score: float, now_ms: float, payload: Any) -> List[Any]:
        policy = self.policy
        choice = self._objects.get(track_id)
        if choice is None:
            choice = self._objects[track_id] = _ObjectChoice()
            if len(self._objects) > 4 * policy.max_objects:  # objects whose end was never seen
                self._forget(next(iter(self._objects)))
        self._objects.move_to_end(track_id)
        if choice.encoded_score is None:
            choice.encoded_score, choice.encoded_ms = score, now_ms
            return [payload]
        if score >= choice.encoded_score + policy.min_gain and (choice.pending is None or score > choice.pending.score):
            choice.pending = _Candidate(score, payload)
            self._pending[track_id] = None
        chosen = []
        if choice.pending is not None and now_ms - choice.encoded_ms >= policy.interval_ms:
            chosen.append(self._take(track_id, now_ms))
        while len(self._pending) > policy.max_pending:
            chosen.append(self._take(next(iter(self._pending)), now_ms))
        return chosen

    def end(self, track_id: int) -> Optional[Any]:
        choice = self._objects.get(track_id)
        payload = None
        if choice is not None and choice.pending is not None:
            payload = choice.pending.payload
        self._forget(track_id)
        return payload

    @property
    def pending(self) -> int:
        """Objects holding a frame that waits for its interval."""
        return len(self._pending)

    def _take(self, track_id: int, now_ms: float) -> Any:
        choice = self._objects[track_id]
        candidate, choice.pending = choice.pending, None
        self._pending.pop(track_id, None)
        choice.encoded_score, choice.encoded_ms = candidate.score, now_ms
        return candidate.payload

    def _forget(self, track_id: int) -> None:
        self._objects.pop(track_id, None)
        self._pending.pop(track_id, None)


def encode_snapshot(pixels: np.ndarray, detection: Detection, policy: SnapshotPolicy = SnapshotPolicy(),
                    frame: int = 0, pts_ms: Optional[float] = None) -> Snapshot:
    """The Snapshot of `detection` (with its track_id) on the RGB frame `pixels` (source size):
    scaled down first when wider than policy.max_width (drawing and encoding fewer pixels), the
    box and label drawn by draw.annotate, encoded as JPEG."""
    image = Image.fromarray(pixels)
    scale = 1.0
    drawn = detection
    if image.width > policy.max_width:
        scale = policy.max_width / image.width
        image = image.resize((policy.max_width, max(1, round(image.height * scale))), Image.BILINEAR)
        drawn = dataclasses.replace(detection, box=detection.box.scale(scale, scale))
    buffer = io.BytesIO()
    annotate(image, [drawn]).save(buffer, format="JPEG", quality=policy.quality)
    return Snapshot(detection.track_id, detection.label, detection.class_id, detection.score,
                    tuple(detection.box.as_list()), frame, pts_ms, buffer.getvalue(), scale)


class SnapshotStore:
    """The snapshots of the last policy.max_objects objects (see the module doc); any thread."""

    def __init__(self, max_objects: int = DEFAULT_MAX_OBJECTS):
        if max_objects < 1:
            raise ValueError("a snapshot store keeps at least one object")
        self.max_objects = max_objects
        self._snapshots: "collections.OrderedDict[int, Snapshot]" = collections.OrderedDict()
        self._lock = threading.Lock()
        self.stored = 0    # snapshots put, over the run
        self.evicted = 0   # objects dropped to stay within max_objects

    def put(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshots[snapshot.track_id] = snapshot
            self._snapshots.move_to_end(snapshot.track_id)
            self.stored += 1
            while len(self._snapshots) > self.max_objects:
                self._snapshots.popitem(last=False)
                self.evicted += 1

    def get(self, track_id: int) -> Optional[Snapshot]:
        with self._lock:
            return self._snapshots.get(track_id)

    def snapshots(self) -> List[Snapshot]:
        """Oldest first."""
        with self._lock:
            return list(self._snapshots.values())

    def __len__(self) -> int:
        return len(self._snapshots)

    @property
    def jpeg_bytes(self) -> int:
        """What the kept JPEGs weigh now."""
        with self._lock:
            return sum(len(snapshot.jpeg) for snapshot in self._snapshots.values())

    def describe(self) -> Dict[str, int]:
        return {"objects": len(self), "max_objects": self.max_objects, "bytes": self.jpeg_bytes,
                "stored": self.stored, "evicted": self.evicted}
