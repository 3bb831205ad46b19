"""`ssdlite-detect --source`: output shapes, the summary, usage errors, every input error as one
line and exit 1, clean stops on SIGTERM/SIGINT with a playable video, and the annotated video."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ssdlite_detect.cli import main

from bsp_runtime_cli import cli_on_both_runtimes
from live.live_media import count_frames, encode_clip
from unprivileged import UnprivilegedView, interpreter, namespace_command, unprivileged_exec

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def model_args(reference):
    return ["--model", str(reference / "coco_ssd_mobilenet_v1_raw.tflite"),
            "--labels", str(reference / "coco_labels.txt"), "--device", "cpu"]


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_command(*args):
    return [sys.executable, "-m", "ssdlite_detect", *[str(a) for a in args]]


def assert_error_line(err, *fragments):
    """Exactly one error line (notes and the summary may follow), no traceback."""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("ssdlite-detect: error: ")]
    assert len(errors) == 1, err
    for fragment in fragments:
        assert fragment in errors[0], err


def test_json_lines_per_frame_and_a_summary(capsys, model_args, raw_mkv):
    code, out, err = run_cli(capsys, *model_args, "--json", "--source", raw_mkv)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["frame"] for line in lines] == list(range(6))
    assert all(set(line) == {"source", "frame", "pts_ms", "width", "height", "backend", "detections", "timing_ms"}
               for line in lines)
    assert {"latency", "inference", "preprocess", "postprocess"} == set(lines[0]["timing_ms"])
    assert any(d["label"] == "bus" for line in lines for d in line["detections"])
    summary = err.strip().splitlines()[-1]
    assert summary.startswith(f"ssdlite-detect: {raw_mkv}: 6 frame(s) processed, 0 dropped, ")
    assert "FPS, latency median" in summary and summary.endswith("cpu, software scaling")


def test_text_lines_per_frame(capsys, model_args, raw_mkv):
    code, out, _ = run_cli(capsys, *model_args, "--source", raw_mkv, "--frames", "2")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2  # not a terminal: every frame printed
    assert lines[0].startswith("frame 0 0.00 s: ") and "bus" in lines[0] and "latency" in lines[0]


def test_a_config_file_works_for_the_live_mode(capsys, model_args, raw_mkv, tmp_path):
    config = tmp_path / "live.toml"
    config.write_text(f'source = "{raw_mkv}"\njson = true\nframes = 4\n')
    code, out, err = run_cli(capsys, *model_args, "--config", config)
    assert code == 0, err
    assert [json.loads(line)["frame"] for line in out.splitlines()] == [0, 1, 2, 3]


def test_frames_limit_on_a_live_test_pattern(capsys, model_args):
    code, out, err = run_cli(capsys, *model_args, "--json", "--source", "testsrc", "--frames", "4",
                             "--source-size", "320x240", "--source-fps", "15")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 4 and all((l["width"], l["height"]) == (320, 240) for l in lines)
    assert "testsrc: 4 frame(s) processed" in err


@pytest.mark.parametrize("args, fragment", [
    ([], "give image paths, or --source"),
    (["photo.jpg", "--source", "testsrc"], "either image paths or --source"),
    (["photo.jpg", "--frames", "3"], "--frames needs --source"),
    (["--source", "testsrc", "--benchmark", "3"], "--benchmark times still images"),
    (["--source", "clip.mp4", "--source-size", "640x480"], "cameras and testsrc only"),
    (["--source", "testsrc", "--source-size", "640"], "expected WIDTHxHEIGHT"),
    (["--source", "ftp://x/y"], "unsupported URL scheme"),
    (["--source", "testsrc", "--duration", "0"], "must be > 0"),
    (["--source", "testsrc", "--http-token-file", "token"], "need --http"),
])
def test_usage_errors_exit_2(capsys, args, fragment):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize("source, fragment", [
    ("{tmp}/missing.mp4", "missing.mp4: no such file"),
    ("{tmp}/notes.txt", "not a video file"),
    ("/dev/video99", "/dev/video99: no such device"),
    ("/dev/null", "cannot use this device as a camera"),
])
def test_input_errors_are_one_line_and_exit_1(capsys, model_args, tmp_path, source, fragment):
    (tmp_path / "notes.txt").write_text("hello\n" * 50)
    code, out, err = run_cli(capsys, *model_args, "--source", source.format(tmp=tmp_path))
    assert code == 1 and out == ""
    assert_error_line(err, fragment)
    assert "frame(s) processed" not in err  # no empty summary after an error before any frame


def test_an_rtsp_url_that_does_not_answer_fails_within_the_timeout(capsys, model_args, silent_server):
    start = time.monotonic()
    code, _, err = run_cli(capsys, *model_args, "--source", silent_server, "--connect-timeout", "2")
    assert code == 1 and time.monotonic() - start < 8
    assert_error_line(err, silent_server)


def test_a_truncated_file_prints_its_frames_then_fails(capsys, model_args, raw_mkv, tmp_path):
    data = raw_mkv.read_bytes()
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(data[: len(data) // 2])
    code, out, err = run_cli(capsys, *model_args, "--json", "--source", truncated)
    lines = [json.loads(line) for line in out.splitlines()]  # every printed line is whole
    assert code == 1 and lines and [l["frame"] for l in lines] == list(range(len(lines)))
    assert_error_line(err, "truncated or corrupt")


def test_permission_denied_on_a_camera_node(model_args, tmp_path):
    """A real character device node the service user may not open (root owns it, mode 0600)."""
    node = tmp_path / "video7"
    os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:  # let the unprivileged user reach the node's folder
        if str(parent).startswith("/tmp/pytest-of"):
            os.chmod(parent, 0o755)
    view = UnprivilegedView([os.path.dirname(arg) for arg in model_args if os.path.isfile(arg)])
    command = namespace_command([*view.setup_lines(), unprivileged_exec(interpreter())],
                                [*view.paths(model_args), "--source", f"/dev/../{node}"])
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=view.environment(HOME="/tmp"))
    assert result.returncode == 1, result.stderr
    assert_error_line(result.stderr, "permission denied (the user needs the 'video' group")


def test_gstreamer_missing_is_a_runtime_error(capsys, model_args, monkeypatch):
    from ssdlite_detect.live import gst as gst_loader

    monkeypatch.setattr(gst_loader, "_GST", None)
    monkeypatch.setitem(sys.modules, "gi", None)  # `import gi` raises ImportError
    code, _, err = run_cli(capsys, *model_args, "--source", "testsrc", "--frames", "1")
    assert code == 4
    assert_error_line(err, "the live mode needs PyGObject and GStreamer", "python3-ssdlite-detect-live")


def test_stills_work_without_gstreamer(capsys, model_args, reference, monkeypatch):
    monkeypatch.setitem(sys.modules, "gi", None)
    code, out, _ = run_cli(capsys, *model_args, reference / "bus.jpg")
    assert code == 0 and "bus" in out


def test_help_still_imports_nothing_heavy():
    code = ("import sys; from ssdlite_detect.cli import build_parser; build_parser().format_help();"
            "print(sorted(m for m in ('gi', 'numpy', 'PIL') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- orientation --------------------------------------------------------------------------------

ROTATE_90 = 6  # EXIF Orientation: turn 90 degrees clockwise to show the image upright


def bus_detection(detections):
    buses = [d for d in detections if d["label"] == "bus"]
    return max(buses, key=lambda d: d["score"]) if buses else None


def test_a_phone_clip_with_a_rotation_tag_is_processed_upright(capsys, gst, model_args, bus_image, tmp_path):
    """A phone held upright records sideways frames and tags the track rotate-90 (the stills'
    EXIF orientation 6): the live mode turns them upright and finds the bus where the stills mode
    finds it; the same clip without the tag stays sideways, and the sideways bus is not found."""
    from PIL import Image

    sideways = bus_image.transpose(Image.Transpose.ROTATE_90)  # 428x640, the bus's roof on the left
    still = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = ROTATE_90
    sideways.save(still, quality=95, exif=exif)
    code, out, err = run_cli(capsys, *model_args, "--json", still)
    assert code == 0, err
    photo = json.loads(out)
    assert (photo["width"], photo["height"]) == (640, 428)
    photo_bus = bus_detection(photo["detections"])
    assert photo_bus is not None, photo

    frames = [sideways] * 3
    tagged = encode_clip(gst, frames, tmp_path / "phone.mov", "videoconvert ! jpegenc quality=95 ! qtmux",
                         orientation="rotate-90")
    untagged = encode_clip(gst, frames, tmp_path / "sideways.mov", "videoconvert ! jpegenc quality=95 ! qtmux")

    recording = tmp_path / "annotated.mkv"
    code, out, err = run_cli(capsys, *model_args, "--json", "--source", tagged, "--output", recording)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert (line["width"], line["height"]) == (640, 428)
        bus = bus_detection(line["detections"])
        assert bus is not None, line
        # Same pixels through JPEG twice (the still, the clip's MJPEG): the same box within a few pixels.
        assert np.abs(np.subtract(bus["box"], photo_bus["box"])).max() < 8, (bus, photo_bus)
    assert count_frames(gst, recording) == [(640, 428)] * 3  # the annotated video is upright too

    code, out, err = run_cli(capsys, *model_args, "--json", "--source", untagged)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3
    assert all((line["width"], line["height"]) == (428, 640) for line in lines)
    assert all(bus_detection(line["detections"]) is None for line in lines)


# --- the annotated video --------------------------------------------------------------------------

def test_output_video_has_every_frame_and_plays(capsys, gst, model_args, bus_mjpeg_avi, tmp_path):
    target = tmp_path / "annotated.mkv"
    code, out, err = run_cli(capsys, *model_args, "--source", bus_mjpeg_avi, "--output", target)
    assert code == 0, err
    assert count_frames(gst, target) == [(1280, 720)] * 8


def test_output_video_frames_carry_the_boxes(gst, model_args, raw_mkv, tmp_path, capsys):
    from ssdlite_detect.draw import class_colour

    target = tmp_path / "annotated.avi"
    code, out, err = run_cli(capsys, *model_args, "--json", "--source", raw_mkv, "--output", target)
    assert code == 0, err
    first = json.loads(out.splitlines()[0])
    bus = next(d for d in first["detections"] if d["label"] == "bus")
    Gst = gst.Gst
    pipeline = Gst.parse_launch("filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false")
    pipeline.get_by_name("src").set_property("location", str(target))
    pipeline.set_state(Gst.State.PLAYING)
    sample = pipeline.get_by_name("sink").try_pull_sample(10 * Gst.SECOND)
    pipeline.set_state(Gst.State.NULL)
    pixels = np.frombuffer(sample.get_buffer().extract_dup(0, 300 * 300 * 3), np.uint8).reshape(300, 300, 3)
    xmin, ymin, xmax, ymax = (round(v) for v in bus["box"])
    # The box's left edge, MJPEG-compressed: at least half of it in the bus's colour (the small
    # cars' boxes and label tags drawn over it cover the rest; undrawn frames have none of it).
    edge = pixels[ymin + 5:ymax - 5, xmin].astype(int)
    close = np.abs(edge - np.array(class_colour(6))).max(axis=1) < 60
    assert close.mean() > 0.5, edge


def test_mp4_without_a_hardware_encoder_is_refused_before_starting(capsys, model_args, raw_mkv, tmp_path):
    code, _, err = run_cli(capsys, *model_args, "--source", raw_mkv, "--output", tmp_path / "x.mp4")
    assert code == 1
    assert_error_line(err, "no hardware H.264 encoder", "use .mkv or .avi")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_cleanly_with_whole_lines_and_a_playable_video(gst, model_args, tmp_path, sig):
    target = tmp_path / "live.mkv"
    process = subprocess.Popen(cli_command(*model_args, "--json", "--source", "testsrc", "--output", target),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_line = process.stdout.readline()  # wait for the stream to run
    assert json.loads(first_line)["source"] == "testsrc"
    time.sleep(0.5)
    process.send_signal(sig)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]  # raises on a cut line
    assert "Traceback" not in err and "frame(s) processed" in err
    frames = count_frames(gst, target)
    assert len(frames) == len(lines) + 1 and frames[0] == (640, 480)


def test_the_live_mode_gives_the_same_detections_on_the_bsp_tflite_2_10(tflite210_python, model_args, raw_mkv):
    """The board's TFLite 2.10.0 (Python 3.9 here, with bullseye's PyGObject and this host's
    GStreamer 1.22): the live mode runs unchanged and finds the same objects frame for frame."""
    on_210, on_214 = cli_on_both_runtimes(tflite210_python, [*model_args, "--json", "--source", raw_mkv])
    assert on_210 == on_214
    assert [line["frame"] for line in on_210] == list(range(6))


class FakeTerminal:
    def __init__(self, tty):
        self.tty, self.lines = tty, []

    def isatty(self):
        return self.tty

    def write(self, text):
        self.lines.append(text)

    def flush(self):
        pass


@pytest.mark.parametrize("tty, json_lines, expected", [(True, False, 1), (False, False, 30), (True, True, 30)])
def test_text_is_throttled_only_on_a_terminal(tty, json_lines, expected):
    from ssdlite_detect.live.outputs import LineOutput
    from ssdlite_detect.results import FrameResult

    terminal = FakeTerminal(tty)
    printer = LineOutput(terminal, json_lines)
    for frame in range(30):  # 30 frames well within 1/5 s
        printer.write(FrameResult("testsrc", 640, 480, "cpu", (), {"inference": 1.0, "latency": 2.0}, frame=frame))
    assert len(terminal.lines) == expected


def test_a_live_recording_holds_nearly_every_processed_frame(capsys, gst, model_args, tmp_path):
    """Model and display frames are paired by timestamp; the display branch keeps a few frames
    so that live drops rarely leave a processed frame out of the video."""
    target = tmp_path / "live.avi"
    code, out, err = run_cli(capsys, *model_args, "--json", "--source", "testsrc", "--frames", "15", "--output", target)
    assert code == 0, err
    assert len(out.splitlines()) == 15
    assert 13 <= len(count_frames(gst, target)) <= 15


def test_a_recording_onto_a_full_disk_is_one_line_exit_1_and_whole_results(capsys, gst, model_args, small_tmpfs):
    """The encoder's filesink fills a real 64 KiB tmpfs after a few MJPEG frames: the run stops
    with one error line and exit 1 (not 0, not a traceback, not a hang); every frame processed
    before is printed whole and the summary still comes. The partial video is left in place, as
    a recorder does (what was recorded before the disk filled is evidence)."""
    target = small_tmpfs(64) / "live.avi"
    code, out, err = run_cli(capsys, *model_args, "--json", "--source", "testsrc", "--frames", "300",
                             "--output", target)
    assert code == 1, err
    assert_error_line(err, f"--output {target}:", "No space left")
    frames = [json.loads(line) for line in out.splitlines()]
    assert 0 < len(frames) < 300
    assert "frame(s) processed" in err.splitlines()[-1]


def test_a_truncated_jpeg_as_a_source_fails_as_the_stills_path_does(capsys, model_args, reference, tmp_path):
    """GStreamer's jpegdec decodes a truncated JPEG without a warning (the missing rows grey): the
    source reads a still whole with the stills decoder first, so it is one error line and exit 1,
    not a frame of half a photo."""
    data = (reference / "bus.jpg").read_bytes()
    truncated = tmp_path / "bus-truncated.jpg"
    truncated.write_bytes(data[: len(data) * 2 // 5])
    code, out, err = run_cli(capsys, *model_args, "--json", "--source", truncated)
    assert code == 1 and out == ""
    assert_error_line(err, "truncated or corrupt image")
    code, out, _err = run_cli(capsys, *model_args, "--json", "--source", reference / "bus.jpg")
    assert code == 0 and json.loads(out.splitlines()[0])["detections"]  # the whole photo still plays
