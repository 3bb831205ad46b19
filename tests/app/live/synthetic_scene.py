"""A synthetic street scene with known ground truth, for measuring the tracker end to end.

Real object crops (the bus of ../shared/reference/bus.jpg, three people of coco128) move over a
real background (coco128's 000000000626.jpg, a street with a clock tower, in which the reference
SSD finds no person or bus above 0.16) at 10 FPS, 960x540:

- the bus drives right across the middle line into the right half and back (a crossing each way,
  entering and leaving the zone);
- a third person walks out of the frame on the right, stays away 4 s (longer than the tracker's
  lost_s), and walks back in;
- two people walk towards each other and pass, the far one (smaller, higher) behind the near one:
  their boxes overlap for about 20 frames (the case where a tracker may swap ids); the far one
  crosses the middle line before that.

The ground truth is what was pasted: each object's box in the frame (its annotated box inside the
crop, moved and scaled with it, clipped to the frame), per frame, with an id per visit. An object
that leaves the frame and comes back is a new object when it returns: the tracker has no
appearance model (ByteTrack's scheme, as Frigate's), so nothing could know it is the same person.

Rendering is pure Pillow and numpy; run_cli encodes the frames with GStreamer and runs the CLI on
the clip, score_tracks compares its tracks with the ground truth (py-motmetrics, MOTChallenge's
protocol: IoU >= 0.5) and the region-event helpers its events with expected_region_events. The
test (test_tracking_scene.py) and benchmarks/tracking_accuracy.py share them.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image

from live.live_media import encode_clip

FRAME_SIZE = (960, 540)
FPS = 10
FRAMES = 140
BACKGROUND = "000000000626.jpg"

# Zones and lines of the scene: the middle line (x = 480, "in" on the right) and the right half.
# min_area: the people seen through the bus's windows (real people of bus.jpg, boxes under
# 2,000 px here) are not counted; the walkers' boxes are over 15,000 px.
ZONES_TOML = """
[[zones]]
name = "right"
points = [[480, 0], [960, 0], [960, 540], [480, 540]]
min_area = 2500

[[lines]]
name = "middle"
points = [[480, 0], [480, 540]]
in = [720, 270]
min_area = 2500
"""

# The same regions, for the ground truth's own events (expected_region_events): a vertical line at
# MIDDLE_X whose right side is "in", and the right half as the zone; boxes under MIN_AREA not counted.
MIDDLE_X = 480.0
MIN_AREA = 2500.0
# Every label the scene's ground truth has: the background holds other real objects (its clock
# tower is a "clock" to the reference SSD), so the CLI runs with --classes person,bus.
LABELS = ("person", "bus")

Box = Tuple[float, float, float, float]


@dataclass(frozen=True)
class Sprite:
    """An object cut out of a photo: `crop` is the region pasted, `box` the object's own box in
    the photo (the ground truth), both in the photo's pixels; `height` its pasted height."""

    name: str  # the ground-truth id's stem
    label: str
    photo: Path
    crop: Box
    box: Box
    height: int


@dataclass(frozen=True)
class Path2D:
    """Where a sprite's crop has its top-left corner, frame by frame: linear between keyframes
    (frame, x, y); absent outside [first keyframe, last keyframe] and in `gaps`."""

    keys: Tuple[Tuple[int, float, float], ...]

    def at(self, frame: int) -> Optional[Tuple[float, float]]:
        keys = self.keys
        if frame < keys[0][0] or frame > keys[-1][0]:
            return None
        for (f0, x0, y0), (f1, x1, y1) in zip(keys, keys[1:]):
            if f0 <= frame <= f1:
                t = 0.0 if f1 == f0 else (frame - f0) / (f1 - f0)
                return x0 + t * (x1 - x0), y0 + t * (y1 - y0)
        return keys[-1][1], keys[-1][2]


@dataclass(frozen=True)
class Actor:
    sprite: Sprite
    visits: Tuple[Path2D, ...]  # each visit is one ground-truth object: name-1, name-2, ...


@dataclass(frozen=True)
class GroundTruth:
    object_id: str  # e.g. "bus-1", "walker-2" (the second visit)
    label: str
    box: Box  # in frame pixels, clipped to the frame


def _yolo_box(labels: Path, index: int, size: Tuple[int, int]) -> Box:
    row = [line.split() for line in labels.read_text().splitlines() if line.strip()][index]
    _cls, x, y, w, h = (float(v) for v in row)
    width, height = size
    return (x - w / 2) * width, (y - h / 2) * height, (x + w / 2) * width, (y + h / 2) * height


def _with_margin(box: Box, size: Tuple[int, int], margin: float = 0.08) -> Box:
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return max(0.0, x0 - mx), max(0.0, y0 - my), min(size[0], x1 + mx), min(size[1], y1 + my)


def sprites(reference: Path, coco128: Path) -> Dict[str, Sprite]:
    """The scene's objects: the bus, and three people whose crops hold no other person."""
    people = {}
    for name, stem, height in (("near-walker", "000000000431", 210), ("far-walker", "000000000474", 170),
                               ("leaver", "000000000322", 210)):
        photo = coco128 / "images" / f"{stem}.jpg"
        with Image.open(photo) as image:
            size = image.size
        labels = coco128 / "labels" / f"{stem}.txt"
        person = [i for i, line in enumerate(labels.read_text().splitlines()) if line.split()[:1] == ["0"]][0]
        box = _yolo_box(labels, person, size)
        people[name] = Sprite(name, "person", photo, _with_margin(box, size), box, height)
    # The bus in bus.jpg: the reference SSD's box (151, 98, 465, 340), the crop with a margin.
    bus = Sprite("bus", "bus", reference / "bus.jpg", (140, 90, 475, 350), (151, 98, 465, 340), 160)
    return {"bus": bus, **people}


def actors(reference: Path, coco128: Path) -> List[Actor]:
    """Back to front: what is pasted later hides what was pasted before."""
    s = sprites(reference, coco128)
    return [
        # The bus, top of the frame: from the left edge to the right and back, across x = 480
        # (its bottom centre crosses at frames 31 and 90), then parked on the left.
        Actor(s["bus"], (Path2D(((0, 10, 30), (60, 730, 30), (120, 10, 30), (FRAMES - 1, 10, 30))),)),
        # The leaver, in the right half: walks out on the right, 4 s away, walks back in.
        Actor(s["leaver"], (Path2D(((0, 600, 250), (35, 960, 250))), Path2D(((75, 960, 250), (FRAMES - 1, 700, 250))))),
        # The far walker (smaller, higher, drawn behind), right to left across the middle line
        # (at frame 95) and on past the near walker.
        Actor(s["far-walker"], (Path2D(((38, 900, 250), (FRAMES - 1, 40, 250))),)),
        # The near walker, slowly left to right in the left half; the far walker passes behind it
        # at about frames 100 to 118 (their boxes overlap: where a tracker may swap ids).
        Actor(s["near-walker"], (Path2D(((5, 40, 320), (FRAMES - 1, 360, 320))),)),
    ]


def _scaled(sprite: Sprite) -> Tuple[Image.Image, Box]:
    """The crop at its pasted height, and the object's box inside it (crop pixels)."""
    with Image.open(sprite.photo) as photo:
        crop = photo.convert("RGB").crop(tuple(round(v) for v in sprite.crop))
    scale = sprite.height / crop.height
    image = crop.resize((max(1, round(crop.width * scale)), sprite.height), Image.BILINEAR)
    cx, cy = round(sprite.crop[0]), round(sprite.crop[1])
    x0, y0, x1, y1 = sprite.box
    return image, ((x0 - cx) * scale, (y0 - cy) * scale, (x1 - cx) * scale, (y1 - cy) * scale)


def render(reference: Path, coco128: Path) -> Tuple[List[Image.Image], List[List[GroundTruth]]]:
    """The frames and, per frame, the ground truth of every object at least partly in view."""
    with Image.open(coco128 / "images" / BACKGROUND) as image:
        background = image.convert("RGB").resize(FRAME_SIZE, Image.BILINEAR)
    cast = [(actor, *_scaled(actor.sprite)) for actor in actors(reference, coco128)]
    frames, truth = [], []
    width, height = FRAME_SIZE
    for number in range(FRAMES):
        frame = background.copy()
        objects = []
        for actor, image, (bx0, by0, bx1, by1) in cast:
            for visit_number, visit in enumerate(actor.visits, start=1):
                at = visit.at(number)
                if at is None:
                    continue
                x, y = round(at[0]), round(at[1])
                frame.paste(image, (x, y))
                box = (max(0.0, x + bx0), max(0.0, y + by0), min(width, x + bx1), min(height, y + by1))
                # In view: at least a third of the object's width inside the frame.
                if box[2] - box[0] >= (bx1 - bx0) / 3 and box[3] > box[1]:
                    objects.append(GroundTruth(f"{actor.sprite.name}-{visit_number}", actor.sprite.label, box))
        frames.append(frame)
        truth.append(objects)
    return frames, truth


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def is_distractor(label: str, box: Box, truth: Sequence[GroundTruth]) -> bool:
    """A person seen through a vehicle's window (bus.jpg's passengers and driver are real people):
    left out of the evaluation as MOT16 leaves out its "person on vehicle" class, neither a hit nor
    a false positive."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return label == "person" and any(
        g.label == "bus" and g.box[0] <= cx <= g.box[2] and g.box[1] <= cy <= g.box[3] for g in truth)


def overlapping(truth: Sequence[GroundTruth]) -> set:
    """The ids of the objects whose box overlaps another's in this frame."""
    return {a.object_id for a in truth for b in truth if a is not b and iou(a.box, b.box) > 0}


@dataclass(frozen=True)
class TrackingScore:
    """py-motmetrics' CLEAR-MOT and identity measures of a run on the scene."""

    mota: float
    motp_iou: float  # mean IoU of the matched pairs
    idf1: float
    id_switches: int
    id_switches_apart: int  # switches on frames where the object overlapped no other
    false_positives: int
    misses: int
    track_of: Dict[str, int]  # ground-truth object -> the track id that covered most of its frames

    def to_dict(self) -> dict:
        return {"mota": round(self.mota, 4), "motp_iou": round(self.motp_iou, 4), "idf1": round(self.idf1, 4),
                "id_switches": self.id_switches, "id_switches_apart": self.id_switches_apart,
                "false_positives": self.false_positives, "misses": self.misses}


def score_tracks(frames: Sequence[dict], truth: Sequence[Sequence[GroundTruth]]) -> TrackingScore:
    """Compares the CLI's `--json` frames (detections with "track_id") with the ground truth, as
    MOTChallenge does: pairs at IoU >= 0.5; a detection without a track id (a tentative track) is
    not a hypothesis; distractors (is_distractor) are left out. Needs py-motmetrics (host only)."""
    import motmetrics

    if len(frames) != len(truth):
        raise ValueError(f"{len(frames)} frames of results for {len(truth)} frames of ground truth")
    names: Dict[str, int] = {}  # motmetrics 1.4 wants numeric object ids
    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    overlaps = []
    for result, objects in zip(frames, truth):
        hypotheses = [d for d in result["detections"]
                      if d.get("track_id") is not None and not is_distractor(d["label"], d["box"], objects)]
        gt_boxes = [[g.box[0], g.box[1], g.box[2] - g.box[0], g.box[3] - g.box[1]] for g in objects]
        boxes = [[d["box"][0], d["box"][1], d["box"][2] - d["box"][0], d["box"][3] - d["box"][1]] for d in hypotheses]
        distances = motmetrics.distances.iou_matrix(gt_boxes, boxes, max_iou=0.5)
        for row, g in enumerate(objects):  # pairs only within a label
            for column, d in enumerate(hypotheses):
                if d["label"] != g.label:
                    distances[row][column] = float("nan")
        accumulator.update([names.setdefault(g.object_id, len(names) + 1) for g in objects],
                           [d["track_id"] for d in hypotheses], distances)
        overlaps.append({names[object_id] for object_id in overlapping(objects)})
    summary = motmetrics.metrics.create().compute(
        accumulator, metrics=["mota", "motp", "idf1", "num_switches", "num_false_positives", "num_misses"])
    events = accumulator.mot_events
    switches = events[events.Type == "SWITCH"]
    apart = sum(1 for (frame, _event), row in switches.iterrows() if int(row.OId) not in overlaps[frame])
    matches = events[events.Type.isin(["MATCH", "SWITCH"])]
    ids = {number: name for name, number in names.items()}
    track_of = {ids[int(oid)]: int(group.HId.value_counts().idxmax()) for oid, group in matches.groupby("OId")}
    row = summary.iloc[0]
    return TrackingScore(float(row.mota), 1.0 - float(row.motp), float(row.idf1), int(row.num_switches), apart,
                         int(row.num_false_positives), int(row.num_misses), track_of)


def expected_region_events(truth: Sequence[Sequence[GroundTruth]]) -> Dict[str, List[Tuple[str, str, Optional[str], int]]]:
    """What ZONES_TOML's zone and line must report for each ground-truth object, computed from the
    pasted boxes alone (not the app's geometry code): (type, region, direction, frame) with the
    box's bottom centre as the anchor. An object in the zone when its visit ends (it walked out of
    view, or the clip ended) leaves the zone then, as the app's end of an object does."""
    events: Dict[str, List[Tuple[str, str, Optional[str], int]]] = {}
    side: Dict[str, int] = {}
    inside: Dict[str, bool] = {}
    last_seen: Dict[str, int] = {}
    for frame, objects in enumerate(truth):
        present = set()
        for g in objects:
            present.add(g.object_id)
            last_seen[g.object_id] = frame
            own = events.setdefault(g.object_id, [])
            if (g.box[2] - g.box[0]) * (g.box[3] - g.box[1]) < MIN_AREA:
                continue
            anchor_x = (g.box[0] + g.box[2]) / 2
            now = 1 if anchor_x > MIDDLE_X else -1 if anchor_x < MIDDLE_X else 0
            if now and side.get(g.object_id, now) != now:
                own.append(("cross", "middle", "in" if now > 0 else "out", frame))
            if now:
                side[g.object_id] = now
            in_zone = anchor_x >= MIDDLE_X
            if in_zone != inside.get(g.object_id, False):
                own.append(("enter" if in_zone else "leave", "right", None, frame))
                inside[g.object_id] = in_zone
        for object_id in [o for o, is_in in inside.items() if is_in and o not in present]:
            events[object_id].append(("leave", "right", None, last_seen[object_id]))
            inside[object_id] = False
    for object_id in [o for o, is_in in inside.items() if is_in]:
        events[object_id].append(("leave", "right", None, len(truth) - 1))
    return events


CLIP_ENCODER = "videoconvert ! jpegenc quality=90 ! avimux"  # MJPEG, as a camera's or a phone's clip
REGION_EVENTS = ("enter", "leave", "cross")


def run_cli(gst, reference: Path, frames: Sequence[Image.Image], folder: Path,
            timeout: Optional[float] = None) -> List[subprocess.CompletedProcess]:
    """The scene encoded into `folder` and ZONES_TOML beside it, then the CLI with the reference
    SSD on the clip twice: `--json` (frames), then `--json --events` (events)."""
    clip = encode_clip(gst, frames, folder / "scene.avi", CLIP_ENCODER, fps=FPS)
    zones = folder / "zones.toml"
    zones.write_text(ZONES_TOML)
    command = [sys.executable, "-m", "ssdlite_detect", "--model", str(reference / "coco_ssd_mobilenet_v1_raw.tflite"),
               "--labels", str(reference / "coco_labels.txt"), "--device", "cpu", "--classes", ",".join(LABELS),
               "--zones", str(zones), "--source", str(clip), "--json"]
    return [subprocess.run(command + extra, capture_output=True, text=True, timeout=timeout)
            for extra in ([], ["--events"])]


def region_events(events: Sequence[dict], track_id: int) -> List[dict]:
    """One track's zone and line events, in order."""
    return [e for e in events if e["track_id"] == track_id and e["type"] in REGION_EVENTS]


def event_key(event: dict) -> Tuple[str, Optional[str], Optional[str]]:
    """(type, zone or line, direction): what expected_region_events gives without its frame."""
    return event["type"], event.get("zone") or event.get("line"), event.get("direction")


def untracked_region_events(events: Sequence[dict], track_of: Dict[str, int]) -> List[dict]:
    """Zone and line events of tracks that are no ground-truth object's (passengers, fragments)."""
    objects = set(track_of.values())
    return [e for e in events if e["track_id"] not in objects and e["type"] in REGION_EVENTS]
