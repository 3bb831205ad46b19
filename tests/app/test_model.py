"""Model resolution (ssdlite_detect.model) apart from running it (ssdlite_detect.detector): a
frozen ModelSpec, post-processors for any configuration, Detectors that never change."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ssdlite_detect.detector import Detector
from ssdlite_detect.errors import LabelsError
from ssdlite_detect.labels import COCO_LABELS
from ssdlite_detect.model import ModelOptions, open_model
from ssdlite_detect.postprocess import PostprocessConfig

RAW_MODEL = "coco_ssd_mobilenet_v1_raw.tflite"


@pytest.fixture(scope="module")
def model(reference):
    return open_model(ModelOptions(str(reference / RAW_MODEL), device="cpu", threads=1))


def test_the_spec_says_what_was_resolved_and_where_from(model, reference):
    spec = model.spec
    assert (spec.backend, spec.model_name, spec.input_size) == ("cpu", RAW_MODEL, (300, 300))
    assert spec.labels == COCO_LABELS and spec.description is None
    assert spec.anchor_source == "model" and spec.anchors.shape == (1917, 4)  # TFLite's own anchors
    assert spec.info()["anchors"] == "1917 (from the model)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.backend = "npu"


def test_another_configuration_is_another_detector_over_the_same_model(model, bus_image):
    strict = Detector(model, PostprocessConfig(score_threshold=0.8))
    lenient = strict.with_config(PostprocessConfig(score_threshold=0.3))
    assert lenient.interpreter is strict.interpreter and strict.config.score_threshold == 0.8
    strict_labels = [d.label for d in strict.detect(bus_image).detections]
    lenient_labels = [d.label for d in lenient.detect(bus_image).detections]
    assert 0 < len(strict_labels) < len(lenient_labels)
    assert [d.label for d in strict.detect(bus_image).detections] == strict_labels  # unchanged by the other


def test_a_spec_post_processes_exactly_as_its_detector(model, reference_ssd, bus_image):
    config = PostprocessConfig(score_threshold=0.3, nms="agnostic", max_detections=10)
    boxes, scores = reference_ssd.raw_outputs(bus_image)
    from_spec = model.spec.postprocessor(config)(boxes, scores)
    from_detector = Detector(model, config).postprocessor(boxes, scores)
    np.testing.assert_array_equal(from_spec.boxes, from_detector.boxes)
    np.testing.assert_array_equal(from_spec.class_ids, from_detector.class_ids)


def test_labels_given_as_names_are_checked_against_the_class_output(reference):
    with pytest.raises(LabelsError, match="3 labels but the model outputs 91"):
        open_model(ModelOptions(str(reference / RAW_MODEL), labels=("a", "b", "c"), device="cpu"))


@pytest.mark.parametrize("field, value", [("device", "gpu"), ("score_kind", "tanh")])
def test_bad_options_are_refused_before_anything_loads(field, value):
    with pytest.raises(ValueError):
        ModelOptions(**{field: value})


def test_a_fallback_is_reported_and_the_cpu_runs_the_int8_model(reference, tmp_path):
    """--device auto on an i.MX 8M Plus whose VX delegate is missing: the CPU, with a note."""
    from ssdlite_detect.device import IMX8MP, Platform

    (tmp_path / "ssdlite_mobilenetv2_coco_int8.tflite").write_bytes((reference / RAW_MODEL).read_bytes())
    notes = []
    loaded = open_model(ModelOptions(model_dir=str(tmp_path), platform=Platform(IMX8MP, "i.MX8MP", False)),
                        on_fallback=notes.append)
    assert loaded.spec.backend == "cpu" and len(notes) == 1 and "falling back to cpu" in notes[0]


def test_detections_are_the_raw_boxes_clipped_and_scaled_box_by_box(model):
    """Detector.to_detections scales every box at once: the same Python floats as clipping and
    multiplying each float32 corner by the image's size one by one, -0.0 and boxes past the edges
    included, and labels past the list named by their id."""
    from ssdlite_detect.postprocess import RawDetections

    rng = np.random.default_rng(4)
    boxes = rng.uniform(-0.2, 1.2, (40, 4)).astype(np.float32)
    boxes[0] = [-0.0, 0.0, 1.0, 1.5]
    class_ids = rng.integers(1, 91, 40)
    class_ids[1] = 200
    raw = RawDetections(boxes, class_ids, rng.random(40).astype(np.float32))
    width, height = 1277, 719
    detections = Detector(model).to_detections(raw, width, height)
    for detection, box, class_id, score in zip(detections, boxes, class_ids, raw.scores):
        ymin, xmin, ymax, xmax = (float(v) for v in np.clip(box, 0.0, 1.0))
        assert repr(detection.box.as_list()) == repr([xmin * width, ymin * height, xmax * width, ymax * height])
        assert repr(detection.box_normalized) == repr((ymin, xmin, ymax, xmax))
        assert (detection.class_id, detection.score) == (int(class_id), float(score))
        assert type(detection.class_id) is int and type(detection.score) is float
    assert detections[1].label == "class 200" and detections[2].label == COCO_LABELS[class_ids[2]]
