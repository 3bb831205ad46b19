"""The CLI as a careless user or script drives it: a reader that goes away, stdout or --output on a
full disk, --output over the inputs, inputs that share a name, Ctrl-C at any moment. Real
processes, real pipes, the kernel's /dev/full and a real tmpfs; the reference SSD."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from ssdlite_detect.draw import annotated_paths, save_atomically


@pytest.fixture(scope="module")
def model(reference):
    return str(reference / "coco_ssd_mobilenet_v1_raw.tflite")


def cli(*args):
    return [sys.executable, "-m", "ssdlite_detect", *[str(a) for a in args]]


def error_lines(err):
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("ssdlite-detect: error: ")]


@pytest.fixture(scope="module")
def photos(reference, tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for n in range(12):
        shutil.copy(reference / "bus.jpg", folder / f"bus{n:02}.jpg")
    return folder


@pytest.mark.parametrize("mode", ["stills", "live"])
def test_a_reader_that_goes_away_stops_the_run_quietly(model, photos, mode):
    """`ssdlite-detect ... --json | head -1`: exit 0, nothing on stderr (was a BrokenPipeError
    traceback, and Python's "Exception ignored" at exit)."""
    source = [photos] if mode == "stills" else ["--source", "testsrc", "--frames", "300"]
    process = subprocess.Popen(cli("--model", model, "--json", *source), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # what head does after its line
    _, err = process.communicate(timeout=60)
    assert first.startswith(b"{") and process.returncode == 0, err
    assert b"Traceback" not in err and b"Exception ignored" not in err and b"error" not in err, err


@pytest.mark.parametrize("mode", ["stills", "live"])
def test_stdout_on_a_full_disk_is_an_error_not_an_exit_0(model, reference, mode):
    """The kernel's /dev/full answers every write with ENOSPC."""
    source = [reference / "bus.jpg"] if mode == "stills" else ["--source", "testsrc", "--frames", "5"]
    with open("/dev/full", "w") as full:
        result = subprocess.run(cli("--model", model, "--json", *source), stdout=full, stderr=subprocess.PIPE,
                                text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "cannot write to stdout: No space left on device" in errors[0], result.stderr
    assert "Exception ignored" not in result.stderr


def test_output_into_the_photos_folder_keeps_the_photos(model, reference, tmp_path):
    photo = tmp_path / "bus.jpg"
    shutil.copy(reference / "bus.jpg", photo)
    original = photo.read_bytes()
    result = subprocess.run(cli("--model", model, "--output", tmp_path, tmp_path), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert photo.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bus-2.jpg", "bus.jpg"]
    with Image.open(tmp_path / "bus-2.jpg") as annotated:
        assert annotated.size == (640, 428)


def test_inputs_that_share_a_name_each_get_their_copy(model, reference, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(reference / "bus.jpg", tmp_path / folder / "x.jpg")
    out = tmp_path / "out"
    result = subprocess.run(cli("--model", model, "--output", out, tmp_path / "a/x.jpg", tmp_path / "b/x.jpg"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["x-2.jpg", "x.jpg"]


def test_annotated_paths_never_name_an_input_nor_one_file_twice(tmp_path):
    (tmp_path / "x.jpg").touch()
    (tmp_path / "x-2.jpg").touch()
    inputs = [str(tmp_path / "x.jpg"), str(tmp_path / "x-2.jpg"), "elsewhere/x.jpg", "again/x.gif", "x.jpg"]
    targets = annotated_paths(str(tmp_path), inputs)
    assert [os.path.basename(targets[path]) for path in inputs] == ["x-3.jpg", "x-2-2.jpg", "x-4.jpg", "x.png",
                                                                    "x-5.jpg"]


@pytest.fixture
def full_tmpfs(small_tmpfs):
    """A real 32 KiB tmpfs: an annotated bus (about 80 KB as JPEG) does not fit."""
    return small_tmpfs(32)


def test_output_on_a_full_disk_leaves_no_truncated_file_and_exits_1(model, reference, full_tmpfs):
    result = subprocess.run(cli("--model", model, "--output", full_tmpfs, reference / "bus.jpg"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "bus.jpg: No space left on device" in errors[0], result.stderr
    assert list(full_tmpfs.iterdir()) == []  # neither a truncated JPEG nor a temporary file


def test_save_atomically_keeps_the_previous_file_when_the_disk_fills(full_tmpfs):
    target = full_tmpfs / "frame.png"
    Image.new("RGB", (8, 8), "red").save(target)
    previous = target.read_bytes()
    noise = Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3))  # incompressible: > 32 KiB
    with pytest.raises(OSError):
        save_atomically(noise, str(target))
    assert target.read_bytes() == previous and [p.name for p in full_tmpfs.iterdir()] == ["frame.png"]
    save_atomically(Image.new("RGB", (8, 8), "blue"), str(target))  # what fits is written
    with Image.open(target) as written:
        assert written.getpixel((0, 0)) == (0, 0, 255)


@pytest.mark.parametrize("mode", ["stills", "live"])
def test_ctrl_c_at_any_moment_is_one_line_and_130(model, reference, mode):
    """SIGINT from 0.15 s after start (argument parsing, numpy/TFLite imports, the model's load,
    the pipeline's start, the run): never a traceback, never a misleading error (an interrupted
    TFLite import read as "no TensorFlow Lite runtime", exit 4). Before the 0.15 s, Python itself is still
    importing the entry point, which no code of ours can guard."""
    source = [reference / "bus.jpg"] * 40 if mode == "stills" else ["--source", "testsrc", "--json"]
    for delay in (0.15, 0.25, 0.4, 0.6, 0.9, 1.3, 2.0):
        process = subprocess.Popen(cli("--model", model, *source), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        if process.returncode == 0:
            continue  # finished before the signal
        assert "Traceback" not in err, f"after {delay} s: {err}"
        # 130, or death by SIGINT (which the shell reports as 130 too): Python ends that way when
        # a KeyboardInterrupt went through a C extension (TFLite's module) on its way up.
        assert process.returncode in (130, -signal.SIGINT), f"after {delay} s: {process.returncode} {err}"
        if mode == "stills":
            assert error_lines(err) == ["ssdlite-detect: error: interrupted"], err
