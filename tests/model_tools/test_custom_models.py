"""A retrained model, from its export to the installed app: each stand-in of custom_standins.py
goes through convert, vela, check and bundle; the bundle parses and installs with the layer for
both machines; the installed app finds it and detects with its labels and anchors.

The anchors are compared with a second implementation (od_api_anchors.py) written from the OD API's own source
(anchor_generators/multiple_grid_anchor_generator.py create_ssd_anchors and
MultipleGridAnchorGenerator._generate, grid_anchor_generator.tile_anchors, box_list corners and
back in the box coder), not from the app's code, and with feature-map sizes worked out from the
MobileNetV2 SSD layout, not read from the graph.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from layer_support import MODEL_DIR, layer_install
from od_api_anchors import generator_of, mobilenet_ssd_feature_maps, od_api_ssd_anchors

from ssdlite_detect.labels import UNUSED, read_labels
from ssdlite_detect.model_description import DESCRIPTION_FILE, read_description
from ssdlite_detect.preprocess import load_image, prepare_input

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_transcribed_formula_gives_the_anchors_a_real_od_api_export_stores(reference):
    """The transcription itself checked against a real OD API export: TFLite's COCO SSD
    (MobileNet v1, same anchor generator and 300x300 grid as ssdlite_mobilenet_v2_coco) stores the
    anchors its exporter computed, quantised to 8 bits."""
    import tensorflow as tf
    from ssdlite_tools.standin import COCO_STAND_IN

    interpreter = tf.lite.Interpreter(model_path=str(reference / "coco_ssd_mobilenet_v1_raw.tflite"))
    interpreter.allocate_tensors()
    (stored,) = [detail for detail in interpreter.get_tensor_details() if detail["name"] == "anchors"]
    scale, zero_point = stored["quantization"]
    anchors = od_api_ssd_anchors(generator_of(COCO_STAND_IN), mobilenet_ssd_feature_maps(300, 300), (300, 300))
    quantised = np.clip(np.round(anchors / scale) + zero_point, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(quantised, interpreter.get_tensor(stored["index"]))


# --- the pipeline's results ---------------------------------------------------------------------


def test_description_and_labels_come_from_pipeline_config_and_label_map(custom_model):
    spec = custom_model.spec
    description = read_description(str(custom_model.bundle / DESCRIPTION_FILE))
    assert description.name == custom_model.name
    assert description.input_size == spec.input_size
    assert description.num_classes == spec.num_classes
    assert description.score_converter == spec.score_converter
    assert dataclasses.astuple(description.box_coder) == spec.box_coder
    assert description.anchors.feature_map_shapes == tuple(mobilenet_ssd_feature_maps(*spec.input_size))
    for field in ("num_layers", "scales", "aspect_ratios", "interpolated_scale_aspect_ratio",
                  "reduce_boxes_in_lowest_layer", "base_anchor_size", "anchor_strides", "anchor_offsets"):
        assert getattr(description.anchors, field) == getattr(spec.anchors, field), field
    if not spec.anchors.scales:
        assert (description.anchors.min_scale, description.anchors.max_scale) == (spec.anchors.min_scale, spec.anchors.max_scale)

    labels = read_labels(str(custom_model.bundle / description.files["labels"]))
    assert len(labels) == spec.num_classes + 1
    assert labels == tuple(spec.label_map.get(class_id, UNUSED) for class_id in range(spec.num_classes + 1))
    assert sorted(path.name for path in custom_model.bundle.iterdir()) == sorted(
        [*description.files.values(), DESCRIPTION_FILE, "manifest.json"]
    )
    sources = description.provenance
    for key, file_name in (("pipeline_config", "pipeline.config"), ("label_map", "label_map.pbtxt")):
        data = (custom_model.export / file_name).read_bytes()
        assert sources[key] == {"file": file_name, "sha256": hashlib.sha256(data).hexdigest()}
    # No host path in the bundle: it is the same bytes wherever it was built.
    text = (custom_model.bundle / DESCRIPTION_FILE).read_text() + (custom_model.bundle / "manifest.json").read_text()
    assert not re.search(r'"/[^"]*"', text) and str(REPO_ROOT) not in text
    manifest = json.loads((custom_model.bundle / "manifest.json").read_text())
    assert set(manifest["files"]) == {*description.files.values(), DESCRIPTION_FILE}
    assert manifest["license"] == description.license and description.license["spdx"] in ("Apache-2.0", "CLOSED")


def test_check_passes_every_gate_and_vela_places_every_operator_on_the_npu(custom_model):
    report = json.loads(custom_model.check_report.read_text())
    gates = {gate["name"]: gate for gate in report["gates"]}
    assert {name: gate["status"] for name, gate in gates.items()} == {
        "tflite210-ops": "passed", "tflite210-run": "passed", "vela-npu": "passed", "int8-agreement": "passed",
    }  # fmt: skip
    assert "100.0%" in gates["vela-npu"]["summary"]


def test_anchors_are_the_od_api_anchors_for_the_models_parameters(custom_model):
    from ssdlite_detect.detector import Detector

    description = read_description(str(custom_model.bundle / DESCRIPTION_FILE))
    detector = Detector.open(str(custom_model.bundle / description.files["int8"]), device="cpu")
    spec = custom_model.spec
    expected = od_api_ssd_anchors(generator_of(spec), mobilenet_ssd_feature_maps(*spec.input_size), spec.input_size)
    assert detector.spec.anchor_source == "generated" and detector.spec.description is not None
    assert detector.postprocessor.anchors.shape == expected.shape
    np.testing.assert_allclose(detector.postprocessor.anchors, expected, rtol=0, atol=2e-7)


def _reference_detection(custom_model, photo: Path):
    """Best (anchor, class) of one image, computed without the app's post-processing: raw int8
    outputs from TensorFlow's interpreter, the transcribed anchors, the faster_rcnn box coder and
    the pipeline's score converter written out here."""
    import tensorflow as tf

    spec = custom_model.spec
    description = read_description(str(custom_model.bundle / DESCRIPTION_FILE))
    interpreter = tf.lite.Interpreter(model_path=str(custom_model.bundle / description.files["int8"]))
    interpreter.allocate_tensors()
    (model_input,) = interpreter.get_input_details()
    height, width = spec.input_size
    interpreter.set_tensor(
        model_input["index"],
        prepare_input(load_image(str(photo)), height, width, np.int8, model_input["quantization"]),
    )
    interpreter.invoke()
    outputs = {}
    for detail in interpreter.get_output_details():
        scale, zero_point = detail["quantization"]
        values = (interpreter.get_tensor(detail["index"]).astype(np.float32) - zero_point) * scale
        outputs["boxes" if len(detail["shape"]) == 4 else "classes"] = values
    encodings, logits = outputs["boxes"].reshape(-1, 4), outputs["classes"][0]
    if spec.score_converter == "SOFTMAX":
        exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
        scores = exponentials / exponentials.sum(axis=1, keepdims=True)
    else:
        scores = 1.0 / (1.0 + np.exp(-logits))
    scores = scores[:, 1:]  # background dropped, as ssd_meta_arch does with add_background_class
    anchors = od_api_ssd_anchors(generator_of(spec), mobilenet_ssd_feature_maps(height, width), spec.input_size)
    ty, tx, th, tw = (encodings[:, i] for i in range(4))
    ya, xa, ha, wa = (anchors[:, i] for i in range(4))
    y_scale, x_scale, height_scale, width_scale = spec.box_coder  # faster_rcnn_box_coder.decode
    yc, xc = ty / y_scale * ha + ya, tx / x_scale * wa + xa
    h, w = np.exp(th / height_scale) * ha, np.exp(tw / width_scale) * wa
    boxes = np.clip(np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1), 0.0, 1.0)
    best = scores.max()
    ties = [(int(c) + 1, tuple(boxes[a])) for a, c in zip(*np.nonzero(scores >= best - 1e-6))]
    return float(best), ties


def test_app_detects_with_the_models_labels_anchors_and_scores(custom_model, holdout_images, capsys):
    """`ssdlite-detect --model NAME_int8.tflite photo` with nothing else: model.json beside it."""
    from ssdlite_detect.cli import main

    description = read_description(str(custom_model.bundle / DESCRIPTION_FILE))
    labels = read_labels(str(custom_model.bundle / description.files["labels"]))
    photo = holdout_images[0]
    model = custom_model.bundle / description.files["int8"]
    assert main(["--model", str(model), "--device", "cpu", "--json", "--score-threshold", "0.05", str(photo)]) == 0
    result = json.loads(capsys.readouterr().out)
    detections = result["detections"]
    assert detections, "a stand-in with these head spreads always has detections above 0.05"
    for detection in detections:
        assert detection["label"] == labels[detection["class_id"]]
        assert 1 <= detection["class_id"] <= custom_model.spec.num_classes
    best_score, candidates = _reference_detection(custom_model, photo)
    top = detections[0]
    assert top["score"] == pytest.approx(best_score, abs=1e-5)
    matches = [box for class_id, box in candidates if class_id == top["class_id"]]
    assert any(np.allclose(top["box_normalized"], box, atol=2e-5) for box in matches), (top, candidates[:5])


def test_bundle_parses_and_installs_with_the_layer_and_the_installed_app_finds_it(custom_model, holdout_images, tmp_path):
    from ssdlite_detect import device
    from ssdlite_detect.detector import Detector

    description = read_description(str(custom_model.bundle / DESCRIPTION_FILE))
    # A copy not marked stand-in, so do_verify_bundle checks every file instead of refusing.
    shippable = tmp_path / "bundle"
    shutil.copytree(custom_model.bundle, shippable)
    manifest = json.loads((shippable / "manifest.json").read_text())
    manifest["stand_in"] = False
    (shippable / "manifest.json").write_text(json.dumps(manifest))

    reports = {"stand-in": layer_install(custom_model.bundle, tmp_path / "as-is"), "shippable": layer_install(shippable, tmp_path / "layer")}
    licence = description.license
    expected_files = sorted([*description.files.values(), DESCRIPTION_FILE, "manifest.json"])
    for kind, report in reports.items():
        assert set(report) == {"imx93evk", "imx8mpevk"}
        for machine, installed in report.items():
            assert installed["verify_bundle"] == ("refused" if kind == "stand-in" else "passed"), (kind, machine)
            assert installed["license"] == licence["spdx"]
            if licence["file"]:
                assert installed["lic_files_chksum"] == f"file://{licence['file']};md5={licence['md5']}"
            else:
                assert installed["lic_files_chksum"].endswith(f"/common-licenses/{licence['spdx']};md5={licence['md5']}")
            assert sorted(path for path, mode in installed["installed"].items() if mode == 0o644) == [
                f"{MODEL_DIR}/{name}" for name in expected_files
            ]
            assert installed["packages"]["ssdlite-mobilenetv2-int8"] == [f"{MODEL_DIR}/{description.files['int8']}"]
            assert installed["packages"]["ssdlite-mobilenetv2-vela"] == [f"{MODEL_DIR}/{description.files['vela']}"]
            assert installed["packages"]["<unpackaged>"] == []

    # The app as installed: no --model, no --labels; it reads model.json in the install folder.
    installed_dir = reports["shippable"]["imx8mpevk"]["dest"] + MODEL_DIR
    board = device.Platform(None, "x86 host", False)
    detector = Detector.open(model_dir=installed_dir, device="cpu", platform=board)
    assert os.path.basename(detector.model_path) == description.files["int8"]
    assert detector.spec.labels == read_labels(str(custom_model.bundle / description.files["labels"]))
    assert detector.input_size == custom_model.spec.input_size
    assert detector.spec.score_kind == {"SIGMOID": "logits", "SOFTMAX": "softmax"}[custom_model.spec.score_converter]
    assert detector.detect(str(holdout_images[0])).width > 0


def test_check_and_evaluate_decode_with_the_models_box_coder(custom_model):
    """The host tools post-process through the app's Detector, with the model's box coder."""
    from ssdlite_detect.postprocess import PostprocessConfig
    from ssdlite_tools.host_inference import HostDetector
    from ssdlite_tools.workspace import INT8_MODEL_NAME, convert_dir

    detector = HostDetector(convert_dir(custom_model.workdir) / INT8_MODEL_NAME)
    scales = detector.postprocessor(PostprocessConfig(score_threshold=0.3)).box_coder_scales
    assert dataclasses.astuple(scales) == custom_model.spec.box_coder
