"""`ssdlite-detect --source CLIP --events --zones FILE` on a clip made here: the bus photo driving
right across a line and into a zone, then back. The reference SSD detects it for real; the bus's
events and counts must be exactly right (it overlaps nothing of its class)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssdlite_detect.cli import main

from live.live_media import THERE_AND_BACK_ZONES, encode_clip, there_and_back_frames
from live.test_live_cli import model_args, run_cli  # noqa: F401 (a fixture and a helper)

@pytest.fixture(scope="module")
def there_and_back_clip(gst, bus_image, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("events") / "there-and-back.avi"
    return encode_clip(gst, there_and_back_frames(bus_image), path, "videoconvert ! jpegenc quality=95 ! avimux")


def test_events_of_a_bus_crossing_a_line_both_ways(there_and_back_clip, model_args, tmp_path, capsys):
    zones = tmp_path / "zones.toml"
    zones.write_text(THERE_AND_BACK_ZONES)
    code, out, err = run_cli(capsys, *model_args, "--source", there_and_back_clip, "--events", "--json",
                             "--zones", zones)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    bus = [event for event in events if event["label"] == "bus"]
    assert len({event["track_id"] for event in bus}) == 1, bus  # one bus, one id
    kinds = [(e["type"], e.get("zone") or e.get("line"), e.get("direction")) for e in bus if e["type"] != "update"]
    assert kinds == [("new", None, None), ("cross", "middle", "in"), ("enter", "right", None),
                     ("cross", "middle", "out"), ("leave", "right", None), ("end", None, None)], kinds
    assert bus[-1]["entered_zones"] == ["right"]
    for event in events:
        assert {"type", "track_id", "label", "frame", "pts_ms"} <= set(event)


def test_live_json_detections_carry_track_ids(there_and_back_clip, model_args, capsys):
    code, out, err = run_cli(capsys, *model_args, "--source", there_and_back_clip, "--json", "--frames", "12")
    assert code == 0, err
    frames = [json.loads(line) for line in out.splitlines()]
    bus_ids = {d.get("track_id") for frame in frames[3:] for d in frame["detections"] if d["label"] == "bus"}
    assert len(bus_ids) == 1 and isinstance(next(iter(bus_ids)), int), bus_ids


def test_the_same_tables_inside_config(there_and_back_clip, model_args, tmp_path, capsys):
    config = tmp_path / "ssdlite-detect.toml"
    config.write_text('events = true\njson = true\n' + THERE_AND_BACK_ZONES)
    code, out, err = run_cli(capsys, *model_args, "--source", there_and_back_clip, "--config", config)
    assert code == 0, err
    crossings = [json.loads(line)["direction"] for line in out.splitlines() if '"cross"' in line]
    assert crossings == ["in", "out"]


def test_events_as_text_lines(there_and_back_clip, model_args, tmp_path, capsys):
    zones = tmp_path / "zones.toml"
    zones.write_text(THERE_AND_BACK_ZONES)
    code, out, _ = run_cli(capsys, *model_args, "--source", there_and_back_clip, "--events", "--zones", zones)
    assert code == 0
    assert any(" cross bus #" in line and "line middle in" in line for line in out.splitlines()), out


@pytest.mark.parametrize("table, message", [
    ('[[zones]]\nname = "z"\npoints = [[0, 0], [10, 0]]\n', "must be a polygon"),
    ('[[lines]]\nname = "l"\npoints = [[0, 0]]\nin = [5, 5]\n', "two different points"),
    ('[[zones]]\nname = "z"\npoints = [[0, 0], [10, 0], [10, 10]]\nlabels = ["unicorn"]\n', "unknown label 'unicorn'"),
    ('[[zones]]\nname = "z"\npoints = [[0, 0], [2000, 0], [2000, 10]]\n', "outside the 720x360 frame"),
    ('[[zones]\n', "--zones "),  # not TOML: named by its option
])
def test_bad_zones_are_one_error_line_and_exit_2(there_and_back_clip, model_args, tmp_path, capsys, table, message):
    zones = tmp_path / "zones.toml"
    zones.write_text(table)
    try:  # a table's mistake: argparse's usage error; a point outside the frame: once it is known
        code = main([str(a) for a in (*model_args, "--source", there_and_back_clip, "--events", "--zones", zones)])
    except SystemExit as raised:
        code = raised.code
    captured = capsys.readouterr()
    assert code == 2
    errors = [line for line in captured.err.splitlines() if line.startswith("ssdlite-detect: error:")]
    assert len(errors) == 1 and message in errors[0], captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_snapshots_dir_gets_the_bus_best_view(there_and_back_clip, model_args, tmp_path, capsys):
    import io

    from PIL import Image

    from live.live_media import EVENTS_FRAME

    zones = tmp_path / "zones.toml"
    zones.write_text(THERE_AND_BACK_ZONES)
    folder = tmp_path / "snaps"
    code, out, err = run_cli(capsys, *model_args, "--source", there_and_back_clip, "--events", "--json",
                             "--zones", zones, "--snapshots", folder)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    end = next(event for event in events if event["type"] == "end" and event["label"] == "bus")
    files = sorted(folder.iterdir())
    assert [f.name.split("-", 2)[2] for f in files] == [f"{end['track_id']}-bus.jpg"], files  # one object, one file
    image = Image.open(io.BytesIO(files[0].read_bytes()))
    assert image.format == "JPEG" and image.size == EVENTS_FRAME


def test_snapshots_options_are_checked_before_the_model_loads(there_and_back_clip, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as raised:  # a usage error, as argparse ends one
        run_cli(capsys, "--model", tmp_path / "missing.tflite", "--source", there_and_back_clip,
                "--snapshots", blocker / "snaps")
    assert raised.value.code == 2 and capsys.readouterr().err.splitlines() == [
        f"ssdlite-detect: error: --snapshots {blocker / 'snaps'}: cannot write there: Not a directory"]
    with pytest.raises(SystemExit) as raised:
        run_cli(capsys, "--source", there_and_back_clip, "--snapshots-max-mb", "5")
    assert raised.value.code == 2 and "--snapshots-max-mb needs --snapshots DIR" in capsys.readouterr().err
