"""`bundle`: refuses the stand-in, writes the files and a manifest that describes them exactly."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ssdlite_detect.anchors import generate_anchors
from ssdlite_detect.labels import COCO_LABELS, read_labels
from ssdlite_tools.errors import ToolsError
from ssdlite_tools.workspace import (
    CONVERSION_RECORD,
    INT8_MODEL_NAME,
    LABELS_NAME,
    MANIFEST_NAME,
    VELA_MODEL_NAME,
    convert_dir,
)



@pytest.fixture(scope="session")
def standin_vela_dir(standin_int8_tflite, standin_cache_root) -> Path:
    """Vela's output for the stand-in int8 model (cached); skips when .venv/vela is absent."""
    from ssdlite_tools import vela

    try:
        executable = vela.find_vela_executable()
    except ToolsError as error:
        pytest.skip(str(error))
    key = hashlib.sha256(
        standin_int8_tflite.read_bytes() + Path(vela.__file__).read_bytes()
    ).hexdigest()[:16]
    target = standin_cache_root / "vela" / key
    if not target.is_dir():
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        vela.compile_for_ethos_u(standin_int8_tflite, staging, executable=executable)
        staging.rename(target)
    return target


@pytest.fixture
def workdir(standin_workdir, standin_vela_dir, tmp_path) -> Path:
    """A private copy of convert/ and vela/ (tests below modify files)."""
    copy = tmp_path / "work"
    shutil.copytree(convert_dir(standin_workdir), copy / "convert")
    shutil.copytree(standin_vela_dir, copy / "vela")
    # copytree keeps modification times: the Vela model must stay newer than the int8 model.
    now = max(path.stat().st_mtime for path in (copy / "convert").iterdir()) + 1
    os.utime(copy / "vela" / VELA_MODEL_NAME, (now, now))
    return copy


def _bundle(run_tool, workdir: Path, output: Path, *extra: str) -> dict:
    run_tool("bundle", ["--workdir", str(workdir), "--output", str(output), *extra])
    return json.loads((output / MANIFEST_NAME).read_text())


def test_refuses_models_made_from_the_stand_in(standin_workdir, run_tool, tmp_path):
    with pytest.raises(ToolsError, match="stand-in model .* must never reach a board"):
        run_tool("bundle", ["--workdir", str(standin_workdir), "--output", str(tmp_path / "bundle")])
    assert not (tmp_path / "bundle").exists()


def test_manifest_describes_every_file_and_the_provenance(workdir, run_tool, tmp_path):
    output = tmp_path / "model-bundle"
    manifest = _bundle(run_tool, workdir, output, "--allow-stand-in")
    record = json.loads((workdir / "convert" / CONVERSION_RECORD).read_text())

    assert sorted(path.name for path in output.iterdir()) == sorted(
        [INT8_MODEL_NAME, VELA_MODEL_NAME, LABELS_NAME, "model.json", MANIFEST_NAME]
    )
    for name, entry in manifest["files"].items():
        data = (output / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert (output / INT8_MODEL_NAME).read_bytes() == (workdir / "convert" / INT8_MODEL_NAME).read_bytes()
    assert read_labels(str(output / LABELS_NAME)) == COCO_LABELS and len(COCO_LABELS) == 91

    assert manifest["stand_in"] is True
    assert manifest["license"] == {"spdx": "Apache-2.0", "file": None, "md5": "89aea4e17d99a7cacdbeed46a0096b10"}
    description = json.loads((output / "model.json").read_text())
    assert description["files"] == {"int8": INT8_MODEL_NAME, "vela": VELA_MODEL_NAME, "labels": LABELS_NAME}
    assert description["license"] == manifest["license"]
    assert manifest["source_checkpoint"] == record["source_checkpoint"]
    assert manifest["source_checkpoint"]["verified"] is False
    assert manifest["calibration_image_ids"] == [image["id"] for image in record["calibration"]["images"]]
    assert manifest["calibration"]["seed"] == 1337
    assert manifest["tool_versions"]["convert"]["tensorflow"] == record["tool_versions"]["tensorflow"]

    quantization = manifest["quantization"]
    assert quantization["inputs"][0]["dtype"] == "int8"
    assert quantization["inputs"][0]["shape"] == [1, 300, 300, 3]
    assert quantization["inputs"][0]["zero_point"] == -1
    assert {output["name"]: output["shape"] for output in quantization["outputs"]} == {
        "concat": [1, 1917, 1, 4],
        "concat_1": [1, 1917, 91],
    }
    assert all(output["scale"] > 0 for output in quantization["outputs"])

    anchors = manifest["anchor_config"]
    assert anchors["num_anchors"] == generate_anchors().shape[0] == 1917
    assert anchors["feature_map_shapes"] == [[19, 19], [10, 10], [5, 5], [3, 3], [2, 2], [1, 1]]

    vela = manifest["vela"]
    assert vela["version"] == "3.7.0"
    assert vela["config"]["settings"]["accelerator"] == "ethos-u65-256"
    assert vela["config"]["settings"]["arena_cache_size"] == 393216
    assert "[System_Config." in vela["config"]["ini"]
    assert vela["summary"]["inference_time_ms"] > 0


def test_rebundling_replaces_the_folder_and_is_byte_identical(workdir, run_tool, tmp_path):
    output = tmp_path / "model-bundle"
    first = _bundle(run_tool, workdir, output, "--allow-stand-in")
    manifest_bytes = (output / MANIFEST_NAME).read_bytes()
    (output / "stale.tflite").write_bytes(b"from an older bundle")
    second = _bundle(run_tool, workdir, output, "--allow-stand-in")
    assert not (output / "stale.tflite").exists()
    assert first == second and (output / MANIFEST_NAME).read_bytes() == manifest_bytes
    # No staging or retired folder is left beside the bundle.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model-bundle", "work"]


def test_refuses_an_int8_model_changed_after_convert(workdir, run_tool, tmp_path):
    model = workdir / "convert" / INT8_MODEL_NAME
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ToolsError, match="differs from .*conversion.json"):
        _bundle(run_tool, workdir, tmp_path / "bundle", "--allow-stand-in")


def test_refuses_a_missing_or_stale_vela_model(workdir, run_tool, tmp_path):
    vela_model = workdir / "vela" / VELA_MODEL_NAME
    old = (workdir / "convert" / INT8_MODEL_NAME).stat().st_mtime - 10
    os.utime(vela_model, (old, old))
    with pytest.raises(ToolsError, match="older than .*run `ssdlite-tools vela` again"):
        _bundle(run_tool, workdir, tmp_path / "bundle", "--allow-stand-in")
    vela_model.unlink()
    with pytest.raises(ToolsError, match="run `ssdlite-tools vela` first"):
        _bundle(run_tool, workdir, tmp_path / "bundle", "--allow-stand-in")
    assert not (tmp_path / "bundle").exists()


def test_bundled_int8_model_runs_and_decodes_with_the_apps_anchors(workdir, run_tool, tmp_path):
    """What the layer installs is a working detector graph: 1917 anchors x (4 + 91) outputs."""
    tf = pytest.importorskip("tensorflow")
    output = tmp_path / "model-bundle"
    manifest = _bundle(run_tool, workdir, output, "--allow-stand-in")
    interpreter = tf.lite.Interpreter(model_path=str(output / INT8_MODEL_NAME))
    interpreter.allocate_tensors()
    (model_input,) = interpreter.get_input_details()
    interpreter.set_tensor(model_input["index"], np.zeros(model_input["shape"], np.int8))
    interpreter.invoke()
    shapes = sorted(tuple(detail["shape"]) for detail in interpreter.get_output_details())
    assert shapes == [(1, 1917, 1, 4), (1, 1917, 91)]
    assert manifest["anchor_config"]["num_anchors"] == shapes[0][1]
