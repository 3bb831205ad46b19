"""model.json: the description that makes a model self-describing (anchors, labels, input size,
score conversion), how the app finds it, and SOFTMAX scores."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from ssdlite_detect.anchors import AnchorConfig
from ssdlite_detect.cli import main
from ssdlite_detect.decode import BoxCoderScales, decode_boxes
from ssdlite_detect.device import IMX8MP, IMX93, Platform, plan_backends
from ssdlite_detect.errors import ModelError
from ssdlite_detect.labels import COCO_LABELS
from ssdlite_detect.model_description import (
    ModelDescription,
    description_from_dict,
    find_description,
    installed_model_names,
    read_description,
    write_description,
)
from ssdlite_detect.postprocess import PostprocessConfig, SSDPostprocessor, postprocess
from ssdlite_detect.scores import SOFTMAX, ScoreDecoder, softmax

from bsp_runtime_cli import cli_on_both_runtimes

REFERENCE_MODEL = "coco_ssd_mobilenet_v1_raw.tflite"

CUSTOM = ModelDescription(
    name="parts",
    input_size=(256, 320),
    num_classes=3,
    anchors=AnchorConfig(
        num_layers=2, scales=(0.2, 0.6), aspect_ratios=(1.0, 2.0), reduce_boxes_in_lowest_layer=False,
        anchor_strides=((16, 16), (32, 32)), anchor_offsets=((8, 8), (16, 16)),
        feature_map_shapes=((16, 20), (8, 10)), image_size=(256, 320),
    ),  # fmt: skip
    box_coder=BoxCoderScales(10.0, 10.0, 5.0, 5.0),
    score_converter="SOFTMAX",
    logit_scale=2.0,
    files={"int8": "parts_int8.tflite", "vela": "parts_int8_vela.tflite", "labels": "parts_labels.txt"},
    license={"spdx": "CLOSED", "file": None, "md5": None},
)


def test_a_description_reads_back_as_written(tmp_path):
    path = tmp_path / "model.json"
    write_description(str(path), CUSTOM)
    assert read_description(str(path)) == dataclasses.replace(CUSTOM, path=str(path))
    record = json.loads(path.read_text())
    assert record["input"]["height"] == 256 and record["input"]["width"] == 320
    assert record["score_converter"] == {"type": "SOFTMAX", "logit_scale": 2.0}


def test_a_description_applies_only_to_the_models_it_names(tmp_path):
    write_description(str(tmp_path / "model.json"), CUSTOM)
    assert find_description(str(tmp_path / "parts_int8_vela.tflite")).name == "parts"
    assert find_description(str(tmp_path / "someone_elses.tflite")) is None
    assert find_description(str(tmp_path / "elsewhere" / "parts_int8.tflite")) is None
    assert installed_model_names(str(tmp_path), "a.tflite", "b.tflite") == ("parts_int8.tflite", "parts_int8_vela.tflite")
    assert installed_model_names(str(tmp_path / "elsewhere"), "a.tflite", "b.tflite") == ("a.tflite", "b.tflite")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.pop("format"), "not an ssdlite model description"),
        (lambda r: r.update(format_version=2), "format_version 2"),
        (lambda r: r["score_converter"].update(type="SQUARE"),
         'score_converter.type: "SQUARE" is not one of "SIGMOID", "SOFTMAX", "IDENTITY"'),
        (lambda r: r["box_coder"].update(type="keypoint_box_coder"),
         'box_coder.type: expected "faster_rcnn_box_coder", found "keypoint_box_coder"'),
        (lambda r: r["anchor_generator"].pop("num_layers"), "malformed model description: anchor_generator.num_layers: missing"),
        # a record built in Python (found by test_fuzzing.py: JSON Schema's bounds pass NaN)
        (lambda r: r["anchor_generator"].update(base_anchor_size=[float("nan"), 1.0]), "NaN or infinity"),
    ],
)
def test_a_broken_description_is_one_clear_error(change, message):
    record = CUSTOM.to_dict()
    change(record)
    with pytest.raises(ModelError, match=message):
        description_from_dict(record, "model.json")


def test_softmax_scores_are_converted_per_anchor_before_the_threshold():
    """SOFTMAX (score_converter of a retrained model): each anchor's row, background included, is
    normalised after dividing by logit_scale; column 0 is then dropped, as ssd_meta_arch does."""
    rng = np.random.default_rng(7)
    anchors = np.column_stack([rng.uniform(0.2, 0.8, (200, 2)), rng.uniform(0.05, 0.3, (200, 2))]).astype(np.float32)
    encodings = rng.normal(0, 1, (200, 4)).astype(np.float32)
    quantised_logits = rng.integers(-128, 128, (200, 4)).astype(np.int8)
    scale, zero_point = 0.05, -10
    logits = (quantised_logits.astype(np.float32) - zero_point) * np.float32(scale)
    probabilities = softmax(logits / np.float32(2.0))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)

    config = PostprocessConfig(score_threshold=0.4, iou_threshold=0.5)
    decoder = ScoreDecoder(SOFTMAX, (scale, zero_point), np.dtype(np.int8), logit_scale=2.0)
    ours = SSDPostprocessor(anchors, config, decoder)(encodings, quantised_logits)
    expected = postprocess(decode_boxes(encodings, anchors.astype(np.float64)), probabilities, config)
    assert len(ours) == len(expected) > 0
    np.testing.assert_array_equal(ours.class_ids, expected.class_ids)
    np.testing.assert_allclose(ours.scores, expected.scores, rtol=1e-6)
    np.testing.assert_allclose(ours.boxes, expected.boxes, atol=1e-6)
    assert ours.scores.min() >= 0.4


def _described_reference(reference: Path, folder: Path, **changes) -> Path:
    """The reference SSD (COCO, 300x300, 91 columns) in `folder` with a model.json and labels."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / REFERENCE_MODEL
    model.write_bytes((reference / REFERENCE_MODEL).read_bytes())
    labels = ["???"] + [f"thing {i}" for i in range(1, 91)]
    (folder / "things.txt").write_text("\n".join(labels) + "\n")
    description = ModelDescription(
        name="things", input_size=(300, 300), num_classes=90, anchors=AnchorConfig(),
        files={"int8": REFERENCE_MODEL, "labels": "things.txt"},
    )  # fmt: skip
    write_description(str(folder / "model.json"), dataclasses.replace(description, **changes))
    return model


def test_the_cli_uses_the_description_beside_the_model(reference, tmp_path, capsys):
    model = _described_reference(reference, tmp_path / "bundle")
    assert main(["--model", str(model), "--device", "cpu", "--json", "--verbose", str(reference / "bus.jpg")]) == 0
    captured = capsys.readouterr()
    detections = json.loads(captured.out)["detections"]
    assert detections and all(d["label"] == f"thing {d['class_id']}" for d in detections)
    assert f"description: {tmp_path / 'bundle' / 'model.json'}" in captured.err
    assert "name: things" in captured.err


def test_without_a_description_the_cli_says_it_uses_the_coco_defaults(reference, capsys):
    assert main(["--model", str(reference / REFERENCE_MODEL), "--device", "cpu", "--verbose", str(reference / "bus.jpg")]) == 0
    err = capsys.readouterr().err
    assert "no model description" in err and "COCO defaults" in err
    assert "description: None" in err


def test_a_description_of_another_input_size_is_one_line_and_exit_3(reference, tmp_path, capsys):
    model = _described_reference(reference, tmp_path / "bundle", input_size=(320, 320))
    assert main(["--model", str(model), "--device", "cpu", str(reference / "bus.jpg")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "describes a 320x320 input" in err[0] and "takes 300x300" in err[0]


def test_a_softmax_description_sets_the_score_conversion(reference, tmp_path):
    from ssdlite_detect.detector import Detector

    model = _described_reference(reference, tmp_path / "bundle", score_converter="SOFTMAX")
    detector = Detector.open(str(model), device="cpu")
    assert detector.spec.score_kind == SOFTMAX and detector.spec.labels[1] == "thing 1"
    # The explicit option still wins over the description.
    assert Detector.open(str(model), device="cpu", score_kind="logits").spec.score_kind == "logits"
    assert Detector.open(str(reference / REFERENCE_MODEL), device="cpu").spec.labels == COCO_LABELS


def test_a_described_model_gives_the_same_output_on_the_bsp_tflite_2_10(tflite210_python, reference, tmp_path):
    """Python 3.9 and TFLite 2.10.0, as on the board: model.json is read there too."""
    model = _described_reference(reference, tmp_path / "bundle")
    on_210, on_214 = cli_on_both_runtimes(tflite210_python, ["--model", model, "--json", "--device", "cpu", reference / "bus.jpg"])
    assert on_210 == on_214
    assert on_210[0]["detections"][0]["label"].startswith("thing ")


@pytest.mark.parametrize(
    "soc, expected",
    [(IMX93, ["parts_int8_vela.tflite", "parts_int8.tflite"]), (IMX8MP, ["parts_int8.tflite", "parts_int8.tflite"])],
)
def test_the_installed_bundle_is_found_through_its_model_json(soc, expected, tmp_path):
    """No --model on the board: the model folder's model.json names the models for each backend."""
    write_description(str(tmp_path / "model.json"), CUSTOM)
    plans = plan_backends("auto", Platform(soc, soc, True), None, str(tmp_path), vx_cache_dir=str(tmp_path))
    assert [os.path.basename(plan.model_path) for plan in plans] == expected
    assert plans[-1].backend == "cpu"


# --- descriptions a careless tool or a hostile file makes: one line, exit 3, never a traceback ---

def _reference_record() -> dict:
    return ModelDescription(name="things", input_size=(300, 300), num_classes=90, anchors=AnchorConfig(),
                            files={"int8": REFERENCE_MODEL}).to_dict()


def _with(change):
    record = _reference_record()
    change(record)
    return json.dumps(record)


def _deep(levels: int) -> str:
    return _with(lambda r: r.update(provenance={"x": None})).replace('{"x": null}', '{"x": ' + "[" * levels + "]" * levels + "}")


BROKEN_DESCRIPTIONS = {
    "NaN box-coder scale": (_with(lambda r: r["box_coder"].update(y_scale=0.5)).replace('"y_scale": 0.5', '"y_scale": NaN'),
                            "NaN is not a JSON number"),
    "infinite scale": (_with(lambda r: r["box_coder"].update(x_scale=0.5)).replace('"x_scale": 0.5', '"x_scale": 1e999'),
                       "1e999 is out of range"),
    "Infinity literal": (_with(lambda r: r["score_converter"].update(logit_scale=0.5)).replace("0.5", "-Infinity"),
                         "-Infinity is not a JSON number"),
    "zero box-coder scale": (_with(lambda r: r["box_coder"].update(height_scale=0)),
                             "box_coder.height_scale: 0 must be more than 0"),
    "files is a list": (_with(lambda r: r.update(files=[])), "files: expected object, found array"),
    "files without a model": (_with(lambda r: r.update(files={"labels": "x.txt"})), "files.int8: missing"),
    "a file in another folder": (_with(lambda r: r["files"].update(labels="../../etc/passwd")), "files.labels"),
    "layers and feature maps disagree": (_with(lambda r: r["anchor_generator"].update(num_layers=5)),
                                         "feature_map_shapes has 6 entries for num_layers 5"),
    "scales and layers disagree": (_with(lambda r: r["anchor_generator"].update(scales=[0.2, 0.5])),
                                   "scales has 2 entries for num_layers 6"),
    "a feature map larger than the input": (
        _with(lambda r: r["anchor_generator"].update(feature_map_shapes=[[19, 19], [10, 10], [5, 5], [3, 3], [2, 2], [301, 1]])),
        "feature_map_shapes[5] is 301x1, larger than the 300x300 input"),
    "gigabytes of anchors": (_with(lambda r: (r["input"].update(height=4096, width=4096),
                                              r["anchor_generator"].update(feature_map_shapes=[[4096, 4096]] * 6))),
                             "more than 500000"),
    "negative aspect ratio": (_with(lambda r: r["anchor_generator"].update(aspect_ratios=[1.0, -2.0])),
                              "anchor_generator.aspect_ratios[1]: -2.0 must be more than 0"),
    "a string where a number goes": (_with(lambda r: r["input"].update(height="300")), "input.height: expected integer"),
    "a boolean format_version": (_with(lambda r: r.update(format_version=True)), "format_version True"),
    "nested 40 deep": (_deep(40), "nested deeper than 32 levels"),
    "nested 100,000 deep": (_deep(100_000), "nested too deeply"),
    "not JSON": ("{\"format\": ", "is not valid JSON"),
    "not an object": ("[1, 2]", "is not an ssdlite model description"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_DESCRIPTIONS))
def test_a_broken_model_json_is_one_line_and_exit_3(name, reference, tmp_path, capsys):
    text, fragment = BROKEN_DESCRIPTIONS[name]
    model = tmp_path / REFERENCE_MODEL
    model.symlink_to(reference / REFERENCE_MODEL)
    (tmp_path / "model.json").write_text(text)
    code = main(["--model", str(model), "--device", "cpu", "--json", str(reference / "bus.jpg")])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 3 and captured.out == "", captured
    assert len(lines) == 1 and lines[0].startswith("ssdlite-detect: error: ") and fragment in lines[0], lines


def test_model_json_that_is_not_utf8_too_large_or_a_fifo_is_refused(reference, tmp_path):
    model = tmp_path / REFERENCE_MODEL
    model.symlink_to(reference / REFERENCE_MODEL)
    description = tmp_path / "model.json"
    description.write_bytes(json.dumps(_reference_record()).replace("things", "th\xe9ngs").encode("latin-1"))
    with pytest.raises(ModelError, match=r"not UTF-8 text \(byte 0xe9 at offset"):
        find_description(str(model))
    description.write_text(json.dumps(_reference_record()) + " " * (1024 * 1024))
    with pytest.raises(ModelError, match="larger than 1024 KB"):
        find_description(str(model))
    description.unlink()
    os.mkfifo(description)  # nobody writes to it: reading it would block forever
    with pytest.raises(ModelError, match="is a FIFO, not a regular file"):
        find_description(str(model))


def test_the_shipped_schema_accepts_what_the_writer_writes(tmp_path):
    from ssdlite_detect import json_schema
    from ssdlite_detect.model_description import description_schema

    for description in (CUSTOM, dataclasses.replace(CUSTOM, license={}, provenance={"label_map": "coco"})):
        assert json_schema.first_error(json.loads(json.dumps(description.to_dict())), description_schema()) is None
