"""The structural check of .tflite files (flatbuffer.py): every real model passes, every truncated
one fails with a message, corrupted ones either fail the check or load in TFLite without killing
the process (checked by loading them on the board's TFLite 2.10 and on 2.14, in child processes),
and the CLI answers a truncated model with one line and exit 3, never a signal."""
from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bsp_runtime_cli import APP_SOURCES
from ssdlite_detect.flatbuffer import FlatBufferError, verify_tflite

MODELS = ("coco_ssd_mobilenet_v1_raw.tflite", "coco_ssd_mobilenet_v1_postprocess.tflite",
          "coco_ssd_postprocess_only.tflite")
CORRUPTIONS = 600
TRUNCATIONS = 300

# Loads every file of a folder in name order, printing each name first: when TFLite kills the
# process, the last name printed is the file that did it.
LOADER = """
import os, sys
from tflite_runtime.interpreter import Interpreter
for name in sorted(os.listdir(sys.argv[1])):
    print(name, flush=True)
    try:
        Interpreter(model_path=os.path.join(sys.argv[1], name)).allocate_tensors()
    except (ValueError, RuntimeError):
        pass
print("all loaded", flush=True)
"""


@pytest.mark.parametrize("name", MODELS)
def test_real_models_pass(reference, name):
    verify_tflite((reference / name).read_bytes())


def test_every_truncation_is_caught(reference):
    data = (reference / MODELS[0]).read_bytes()
    # The tables sit at both ends (FlatBuffers writes the weights first, the root last): every
    # length in the last 2 KB, and lengths spread over the whole file.
    lengths = list(range(len(data) - 2048, len(data))) + [len(data) * i // TRUNCATIONS for i in range(1, TRUNCATIONS)]
    for length in lengths:
        with pytest.raises(FlatBufferError):
            verify_tflite(data[:length])


def _model(vtable_fields, table_fields: bytes, extra: bytes = b"") -> bytes:
    """root offset, "TFL3", a Model vtable, its table (a 4-byte soffset + fields), then `extra`."""
    vtable = struct.pack("<HH", 4 + 2 * len(vtable_fields), 4 + len(table_fields)) + struct.pack(
        f"<{len(vtable_fields)}H", *vtable_fields)
    table_at = 8 + len(vtable)
    table_at += -table_at % 4
    head = struct.pack("<I", table_at) + b"TFL3" + vtable
    return head + bytes(table_at - len(head)) + struct.pack("<i", table_at - 8) + table_fields + extra


@pytest.mark.parametrize("data, fragment", [
    (b"\x1c\x00\x00\x00TF", "too short"),
    (struct.pack("<I", 4096) + b"TFL3", "Model table at byte 4096 ends beyond"),
    (struct.pack("<I", 10) + b"TFL3" + bytes(8), "not aligned to 4 bytes"),
    # description (field 3) -> a string of 5 bytes with no terminating NUL at the end of the file
    (_model([0, 0, 0, 4], struct.pack("<I", 4), struct.pack("<I", 5) + b"hello"), "not terminated"),
    # operator_codes (field 1) -> a vector of 1000 table offsets in a file of 40 bytes
    (_model([0, 4], struct.pack("<I", 4), struct.pack("<I", 1000)), "vector of tables) of 1000 element(s)"),
    # version (field 0, 4 bytes) at offset 6 of a table of 8: it would end beyond its table
    (_model([6], struct.pack("<I", 3)), "Model.version lies outside its table"),
])
def test_crafted_corruptions_are_named(data, fragment):
    with pytest.raises(FlatBufferError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        verify_tflite(data)


@pytest.fixture(scope="module")
def corrupted_models(reference, tmp_path_factory) -> Path:
    """Seeded corruptions of the reference SSD's tables (1 to 4 bytes set or flipped in the first
    KB or the last 32 KB, or cut short) that the check lets through, for TFLite to load."""
    data = (reference / MODELS[0]).read_bytes()
    folder = tmp_path_factory.mktemp("corrupted-models")
    rng = random.Random(16)
    positions = list(range(1024)) + list(range(len(data) - 32 * 1024, len(data)))
    passed = 0
    for number in range(CORRUPTIONS):
        corrupted = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            position = rng.choice(positions)
            corrupted[position] = rng.randrange(256) if rng.random() < 0.5 else corrupted[position] ^ (1 << rng.randrange(8))
        try:
            verify_tflite(bytes(corrupted))
        except FlatBufferError:
            continue
        passed += 1
        (folder / f"{number:04d}.tflite").write_bytes(corrupted)
    print(f"{CORRUPTIONS} corruptions, {passed} passed the structural check")
    assert 0 < passed < CORRUPTIONS  # both outcomes occur: the check is neither blind nor refusing everything
    return folder


@pytest.mark.parametrize("runtime", ["2.14", "2.10"])
def test_what_passes_the_check_never_kills_tflite(corrupted_models, runtime, tflite210_python):
    python = sys.executable if runtime == "2.14" else str(tflite210_python)
    result = subprocess.run([python, "-c", LOADER, str(corrupted_models)], capture_output=True, text=True, timeout=600)
    last = result.stdout.split()[-1] if result.stdout.split() else "(none)"
    assert result.returncode == 0 and last == "loaded", (
        f"TFLite {runtime} died (status {result.returncode}) on {last}: {result.stderr[-2000:]}")


def test_the_cli_answers_a_truncated_model_with_one_line(reference, tmp_path):
    truncated = tmp_path / "truncated.tflite"
    data = (reference / MODELS[0]).read_bytes()
    for length in (1000, len(data) // 2, len(data) - 100):
        truncated.write_bytes(data[:length])
        result = subprocess.run([sys.executable, "-m", "ssdlite_detect", "--model", str(truncated), "--device", "cpu",
                                 str(reference / "bus.jpg")], capture_output=True, text=True, timeout=60,
                                env=dict(os.environ, PYTHONPATH=str(APP_SOURCES)))
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 3, result  # not 139: no segmentation fault
        assert len(lines) == 1 and lines[0].startswith("ssdlite-detect: error: ") and "truncated or corrupt" in lines[0]
