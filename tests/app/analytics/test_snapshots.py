"""Snapshots: which frames are encoded (first, better by min_gain, at most every interval, the
pending best frame encoded later), the JPEG with the box drawn (the real bus photo), the bounded
store, the directory's size cap, its start-up check and a real full disk (a 64 KiB tmpfs)."""
from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
from PIL import Image

from ssdlite_detect.analytics.snapshot_dir import SnapshotDirectory, SnapshotDirError, safe_label
from ssdlite_detect.analytics.snapshots import (
    Snapshot, SnapshotPolicy, SnapshotSelector, SnapshotStore, encode_snapshot,
)
from ssdlite_detect.draw import annotate, class_colour
from ssdlite_detect.results import BBox, Detection

BUS_IN_PHOTO = (151, 98, 465, 340)  # the reference SSD's box of the bus in bus.jpg


def _detection(track_id=1, score=0.9, box=(40, 30, 200, 150), class_id=6, label="bus") -> Detection:
    return Detection(class_id, label, score, BBox(*box), (0.0, 0.0, 1.0, 1.0), track_id)


def _colour_near(pixels, x, y, colour, reach=6) -> int:
    """How close (the worst channel, 0..255) the pixel nearest to `colour` around (x, y) is."""
    window = pixels[max(y - reach, 0):y + reach, max(x - reach, 0):x + reach].astype(int)
    return int(np.abs(window - np.array(colour)).max(axis=2).min())


def _snapshot(track_id, size=1000, label="bus", score=0.9) -> Snapshot:
    return Snapshot(track_id, label, 6, score, (0, 0, 1, 1), 0, 0.0, bytes(size))


# --- which frames ------------------------------------------------------------------------------
def test_the_first_frame_is_encoded_then_only_frames_better_by_min_gain():
    selector = SnapshotSelector(SnapshotPolicy(min_gain=0.05, interval_ms=0))
    assert selector.offer(1, 0.60, 0, "a") == ["a"]
    assert selector.offer(1, 0.64, 33, "b") == []   # +0.04: not worth a JPEG
    assert selector.offer(1, 0.66, 66, "c") == ["c"]  # +0.06
    assert selector.offer(1, 0.50, 99, "d") == []   # worse


def test_a_better_frame_within_the_interval_waits_and_a_still_better_one_replaces_it():
    selector = SnapshotSelector(SnapshotPolicy(min_gain=0.05, interval_ms=500))
    assert selector.offer(1, 0.60, 0, "first") == ["first"]
    assert selector.offer(1, 0.70, 100, "better") == []  # within 500 ms: pending
    assert selector.offer(1, 0.80, 200, "best") == []    # replaces the pending one
    assert selector.offer(1, 0.75, 300, "less") == []    # not better than the pending one
    assert selector.pending == 1
    assert selector.offer(1, 0.40, 500, "poor") == ["best"]  # the interval has passed: the best one
    assert selector.pending == 0


def test_an_object_that_ends_hands_over_its_pending_frame():
    selector = SnapshotSelector(SnapshotPolicy(min_gain=0.05, interval_ms=1000))
    selector.offer(7, 0.5, 0, "first")
    selector.offer(7, 0.9, 10, "best")
    assert selector.end(7) == "best"
    assert selector.end(7) is None and selector.pending == 0
    assert selector.offer(7, 0.5, 20, "again") == ["again"]  # a forgotten id starts afresh


def test_pending_frames_are_bounded_whatever_the_scene():
    selector = SnapshotSelector(SnapshotPolicy(min_gain=0.05, interval_ms=10_000, max_pending=4))
    for track_id in range(20):
        assert selector.offer(track_id, 0.5, 0, ("first", track_id)) == [("first", track_id)]
    encoded = []
    for track_id in range(20):
        encoded += selector.offer(track_id, 0.9, 1, ("better", track_id))
        assert selector.pending <= 4
    assert encoded == [("better", track_id) for track_id in range(16)]  # the oldest pending go first


def test_best_frame_selection_over_a_noisy_track_within_min_gain():
    policy = SnapshotPolicy(min_gain=0.05, interval_ms=300)
    selector = SnapshotSelector(policy)
    rng = np.random.default_rng(15)
    scores = np.clip(0.55 + 0.4 * np.sin(np.linspace(0, 3, 120)) + rng.normal(0, 0.03, 120), 0, 1)
    encoded = []
    for number, score in enumerate(scores):
        encoded += selector.offer(3, float(score), number * 1000 / 30, (number, float(score)))
    final = selector.end(3)
    if final is not None:
        encoded.append(final)
    kept = encoded[-1][1]
    assert kept >= scores.max() - policy.min_gain, (kept, scores.max())
    assert [score for _n, score in encoded] == sorted(score for _n, score in encoded)  # each one better
    # Bounded work: at most one JPEG per min_gain of score over the first one, never per frame.
    assert len(encoded) <= 1 + (1 - scores[0]) / policy.min_gain
    assert len(encoded) < len(scores) / 10


# --- the JPEG ----------------------------------------------------------------------------------
def test_the_snapshot_is_the_frame_with_its_box_drawn(bus_image):
    frame = np.asarray(bus_image.convert("RGB"))
    detection = _detection(track_id=4, score=0.93, box=BUS_IN_PHOTO)
    snapshot = encode_snapshot(frame, detection, SnapshotPolicy(max_width=2000))
    image = Image.open(io.BytesIO(snapshot.jpeg))
    assert image.format == "JPEG" and image.size == bus_image.size
    assert (snapshot.track_id, snapshot.label, snapshot.score, snapshot.scale) == (4, "bus", 0.93, 1.0)
    pixels = np.asarray(image.convert("RGB")).astype(int)
    x0, y0, x1, y1 = BUS_IN_PHOTO
    drawn = np.asarray(annotate(bus_image, [detection])).astype(int)  # the still-image drawing
    band = (slice(y1 - 3, y1 + 1), slice(x0 + 10, x1 - 10))  # the box's bottom edge (drawn inwards)
    to_jpeg = np.abs(pixels[band] - drawn[band]).mean()  # the JPEG of the drawn box...
    to_photo = np.abs(frame[band].astype(int) - drawn[band]).mean()  # ...which the photo alone is not
    assert to_jpeg < to_photo / 2, (to_jpeg, to_photo)  # measured: 26 against 64
    assert _colour_near(pixels, x1, (y0 + y1) // 2, class_colour(6)) < 50  # the class colour, right edge
    inside = pixels[(y0 + y1) // 2, (x0 + x1) // 2]
    original = frame[(y0 + y1) // 2, (x0 + x1) // 2].astype(int)
    assert np.abs(inside - original).max() < 40  # the photo itself is left alone


def test_a_wide_frame_is_scaled_down_and_its_box_with_it():
    frame = np.full((1080, 1920, 3), 128, np.uint8)
    snapshot = encode_snapshot(frame, _detection(box=(960, 540, 1440, 900)), SnapshotPolicy(max_width=960))
    image = Image.open(io.BytesIO(snapshot.jpeg))
    assert image.size == (960, 540) and snapshot.scale == 0.5
    assert snapshot.box == (960, 540, 1440, 900)  # reported in source pixels, as detections are
    pixels = np.asarray(image.convert("RGB")).astype(int)
    assert _colour_near(pixels, 720, 360, class_colour(6)) < 30  # the right edge at x 720 (1440 / 2)
    assert _colour_near(pixels, 600, 100, class_colour(6)) > 100  # nothing drawn far from the box


# --- the store ---------------------------------------------------------------------------------
def test_the_store_keeps_the_last_n_objects():
    store = SnapshotStore(max_objects=3)
    for track_id in range(1, 6):
        store.put(_snapshot(track_id))
    assert [s.track_id for s in store.snapshots()] == [3, 4, 5]
    assert store.get(1) is None and store.get(5) is not None
    store.put(_snapshot(3, score=0.95))  # a better snapshot of 3: 3 is the newest now
    store.put(_snapshot(6))
    assert [s.track_id for s in store.snapshots()] == [5, 3, 6]
    assert store.describe() == {"objects": 3, "max_objects": 3, "bytes": 3000, "stored": 7, "evicted": 3}


def test_the_store_memory_is_bounded_over_a_long_run():
    store = SnapshotStore(max_objects=50)
    for track_id in range(10_000):
        store.put(_snapshot(track_id, size=100))
    assert len(store) == 50 and store.jpeg_bytes == 5000


# --- the directory -----------------------------------------------------------------------------
def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_the_directory_gets_one_file_per_object_replaced_atomically(tmp_path):
    directory = SnapshotDirectory(str(tmp_path / "snaps"), 10_000, clock=lambda: 0.0)
    first = directory.write(_snapshot(12, size=100, label="traffic light"))
    assert os.path.basename(first).endswith("-12-traffic_light.jpg")
    assert directory.write(_snapshot(12, size=300, label="traffic light")) == first
    assert _files(tmp_path / "snaps") == [os.path.basename(first)]  # no temporary file left
    assert os.path.getsize(first) == 300 and directory.total_bytes == 300


def test_the_directory_deletes_the_oldest_files_past_its_cap_and_nothing_else(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    now = [1000.0]
    directory = SnapshotDirectory(str(tmp_path), 2500, clock=lambda: now[0])
    for track_id in range(1, 6):
        now[0] += 1
        directory.write(_snapshot(track_id, size=1000))
    names = _files(tmp_path)
    assert "notes.txt" in names
    assert [name.split("-")[2] for name in names if name.endswith(".jpg")] == ["4", "5"]
    assert directory.total_bytes == 2000 and directory.deleted == 3


def test_files_of_an_earlier_run_count_towards_the_cap(tmp_path):
    old = tmp_path / "20250101-000000-1-bus.jpg"
    old.write_bytes(bytes(2000))
    os.utime(old, (1, 1))
    directory = SnapshotDirectory(str(tmp_path), 2500)
    assert directory.total_bytes == 2000
    directory.write(_snapshot(1, size=1000))  # the same track id in a new run: a new file
    assert not old.exists() and directory.total_bytes == 1000


def test_an_unwritable_directory_is_one_config_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SnapshotDirError) as raised:
        SnapshotDirectory(str(blocker / "snaps"), 1000)
    assert raised.value.exit_code == 2
    assert str(raised.value) == f"--snapshots {blocker / 'snaps'}: cannot write there: Not a directory"


def test_labels_are_safe_in_file_names():
    assert safe_label("traffic light") == "traffic_light"
    assert "/" not in safe_label("../../etc") and not safe_label("../../etc").startswith(".")
    assert "/" not in safe_label("a/b") and safe_label("") == "object"


def test_a_full_disk_is_one_line_and_the_run_goes_on(small_tmpfs):
    full_disk = small_tmpfs(64)
    notes = []
    directory = SnapshotDirectory(str(full_disk), 10 * 1024 * 1024, on_note=notes.append)  # the cap is not the limit
    assert directory.write(_snapshot(1, size=16 * 1024)) is not None
    assert directory.write(_snapshot(2, size=200 * 1024)) is None  # does not fit
    assert directory.write(_snapshot(3, size=200 * 1024)) is None
    assert len(notes) == 1 and "No space left on device" in notes[0] and "in memory" in notes[0]
    assert [name.split("-")[2] for name in _files(full_disk)] == ["1"]  # no half file, no temporary
    assert directory.write(_snapshot(4, size=1024)) is not None  # what fits is written again
    assert notes[1].endswith("writing again") and directory.failed == 2


def test_encoding_cost_per_snapshot(bus_image):
    """Measured (printed with -s): the cost of one snapshot at 640x360, 1280x720 and 1920x1080
    (scaled to 1280 wide first, the default)."""
    results = {}
    for width, height in ((640, 360), (1280, 720), (1920, 1080)):
        frame = np.asarray(bus_image.convert("RGB").resize((width, height)))
        detection = _detection(box=(width * 0.2, height * 0.2, width * 0.6, height * 0.9))
        encode_snapshot(frame, detection)  # warm (the font)
        start = time.perf_counter()
        runs = 20
        for _ in range(runs):
            snapshot = encode_snapshot(frame, detection)
        results[f"{width}x{height}"] = ((time.perf_counter() - start) * 1000 / runs, len(snapshot.jpeg))
    print("snapshot encode ms, bytes:", {k: (round(ms, 2), size) for k, (ms, size) in results.items()})
    assert results["1280x720"][0] < 200  # a sanity bound on a loaded 2-core host, not the measurement
