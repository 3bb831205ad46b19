"""`evaluate`: COCO bbox mAP under the standard protocol, checked offline on synthetic annotations.

The real number needs COCO val2017 and the real checkpoint (see model-tools/README.md). Here the
ground truth is a model's own confident detections on a few photos, so a correct pipeline must
score AP 1.0 on it, and a known perturbation of the ground truth must lower the score.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from bsp_gate_support import one_operator_model, run_cli
from ssdlite_detect import preprocess
from ssdlite_detect.labels import COCO_LABELS, UNUSED
from ssdlite_detect.postprocess import PostprocessConfig, RawDetections
from ssdlite_tools import coco_eval
from ssdlite_tools.errors import ToolsError

# COCO 2017 `categories` (instances_val2017.json): id and name of the 80 object classes.
COCO_2017_CATEGORIES = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"), (7, "train"),
    (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"), (13, "stop sign"),
    (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"),
    (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"),
    (36, "snowboard"), (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"), (46, "wine glass"), (47, "cup"),
    (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"), (54, "sandwich"),
    (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"), (60, "donut"), (61, "cake"),
    (62, "chair"), (63, "couch"), (64, "potted plant"), (65, "bed"), (67, "dining table"), (70, "toilet"),
    (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"), (76, "keyboard"), (77, "cell phone"),
    (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"), (82, "refrigerator"), (84, "book"),
    (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"), (89, "hair drier"), (90, "toothbrush"),
)  # fmt: skip


def _categories(pairs=COCO_2017_CATEGORIES):
    return [{"id": i, "name": name, "supercategory": "x"} for i, name in pairs]


def test_model_class_ids_are_coco_category_ids():
    """91 outputs: column 0 background, column c = COCO 2017 category c; the 10 unused ids are gaps."""
    assert len(COCO_LABELS) == 91 and COCO_LABELS[0] == UNUSED
    for category_id, name in COCO_2017_CATEGORIES:
        assert COCO_LABELS[category_id] == name
    gaps = {i for i in range(1, 91)} - {i for i, _ in COCO_2017_CATEGORIES}
    assert gaps == {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    assert all(COCO_LABELS[i] == UNUSED for i in gaps)


def test_coco_2017_categories_pass_the_mapping_check():
    coco_eval.check_category_ids(_categories())


@pytest.mark.parametrize(
    "categories, message",
    [
        ([{"id": 1, "name": "bicycle"}], "do not use COCO 2017 category ids"),  # renumbered from 0
        ([{"id": 12, "name": "street sign"}], "not a class of the model"),  # a COCO-2014-paper-only id
        ([{"id": 91, "name": "hair brush"}], "not a class of the model"),
    ],
)
def test_annotations_with_other_category_ids_are_refused(categories, message):
    with pytest.raises(ToolsError, match=message):
        coco_eval.check_category_ids(categories)


def test_results_are_clipped_pixel_xywh_with_the_class_id_as_category():
    detections = RawDetections(
        np.array([[0.25, 0.5, 0.75, 1.2], [-0.1, -0.1, 0.1, 0.1]], np.float32),
        np.array([18, 1]),
        np.array([0.9, 0.4], np.float32),
    )

    results = coco_eval.to_coco_results(7, detections, width=640, height=480)

    assert results[0] == {"image_id": 7, "category_id": 18, "bbox": [320.0, 120.0, 320.0, 240.0], "score": 0.9}
    assert results[1]["bbox"] == [0.0, 0.0, 64.0, 48.0]
    assert results[1]["category_id"] == 1


def test_evaluation_protocol_is_the_pipeline_configs():
    config = coco_eval.EVALUATION_CONFIG
    assert (config.nms, config.iou_threshold, config.max_detections, config.max_per_class) == ("class", 0.6, 100, 100)
    assert config.score_threshold <= 0.01


# --- end to end on synthetic annotations -----------------------------------------------------------


def _photos(reference, holdout_images):
    return [reference / "bus.jpg", *holdout_images]


def _self_annotations(model, photos, images_dir, path, shift=0.0, categories=None):
    """COCO annotations whose objects are `model`'s own detections (score >= 0.5) on `photos`;
    `shift` moves every box right by that fraction of its width."""
    from ssdlite_tools.host_inference import HostDetector

    detector = HostDetector(model)
    config = PostprocessConfig(score_threshold=0.5, iou_threshold=0.6, max_detections=100, max_per_class=100)
    images, annotations = [], []
    for image_id, photo in enumerate(photos, start=1):
        shutil.copyfile(photo, images_dir / photo.name)
        image = preprocess.load_image(str(photo))
        images.append({"id": image_id, "file_name": photo.name, "width": image.width, "height": image.height})
        for result in coco_eval.to_coco_results(image_id, detector.detect(image, config), image.width, image.height):
            x, y, w, h = result["bbox"]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": result["category_id"],
                 "bbox": [x + shift * w, y, w, h], "area": w * h, "iscrowd": 0}
            )  # fmt: skip
    categories = categories or _categories()
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return len(annotations)


@pytest.fixture(scope="module")
def reference_model(reference):
    return reference / "coco_ssd_mobilenet_v1_raw.tflite"


def _evaluate(tmp_path, models, annotations, images_dir, *extra):
    report = tmp_path / "evaluate.json"
    argv = ["evaluate", "--workdir", tmp_path / "work", "--annotations", annotations, "--images-dir", images_dir]
    for model in models:
        argv += ["--model", model]
    code = run_cli(*argv, "--no-download", "--no-progress", "--json", report, *extra)
    return code, json.loads(report.read_text()) if report.is_file() else None


def test_own_detections_as_ground_truth_score_ap_1(reference_model, reference, holdout_images, tmp_path, capsys):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    objects = _self_annotations(reference_model, _photos(reference, holdout_images), images_dir, tmp_path / "gt.json")
    assert objects >= 5  # the bus photo alone has a bus, cars and people

    code, report = _evaluate(tmp_path, [reference_model], tmp_path / "gt.json", images_dir)

    assert code == 0
    stats = report["models"][str(reference_model)]["stats"]
    assert stats["AP"] == pytest.approx(1.0, abs=1e-6)
    assert stats["AP50"] == pytest.approx(1.0, abs=1e-6)
    assert report["image_count"] == 1 + len(holdout_images)
    assert report["protocol"]["score_threshold"] <= 0.01
    assert "AP @[IoU=0.50:0.95 | area=all | maxDets=100]" in capsys.readouterr().out


def test_shifted_ground_truth_scores_lower(reference_model, reference, holdout_images, tmp_path):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    # Shifted by 30 % of their width, boxes still overlap their twins at IoU 0.7/1.3 = 0.54.
    _self_annotations(reference_model, _photos(reference, holdout_images), images_dir, tmp_path / "gt.json", shift=0.3)

    code, report = _evaluate(tmp_path, [reference_model], tmp_path / "gt.json", images_dir)

    assert code == 0
    stats = report["models"][str(reference_model)]["stats"]
    assert stats["AP50"] > 0.9
    assert stats["AP75"] < 0.1
    assert stats["AP"] < 0.3


def test_limit_evaluates_a_subset(reference_model, reference, holdout_images, tmp_path):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    _self_annotations(reference_model, _photos(reference, holdout_images), images_dir, tmp_path / "gt.json")

    code, report = _evaluate(tmp_path, [reference_model], tmp_path / "gt.json", images_dir, "--limit", "1")

    assert code == 0
    assert report["image_count"] == 1
    assert report["models"][str(reference_model)]["stats"]["AP"] == pytest.approx(1.0, abs=1e-6)


def test_int8_and_float_standins_in_one_run(standin_int8_tflite, standin_float_tflite, holdout_images, tmp_path):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    _self_annotations(standin_float_tflite, holdout_images, images_dir, tmp_path / "gt.json")

    code, report = _evaluate(tmp_path, [standin_int8_tflite, standin_float_tflite], tmp_path / "gt.json", images_dir)

    assert code == 0
    float_ap = report["models"][str(standin_float_tflite)]["stats"]["AP"]
    int8_ap = report["models"][str(standin_int8_tflite)]["stats"]["AP"]
    assert float_ap == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= int8_ap < float_ap  # quantisation moves boxes and scores: not a perfect copy


def test_a_retrained_model_on_its_own_coco_format_annotations(custom_model, holdout_images, tmp_path):
    """Categories are the label map's items (ids with gaps); labels come from model.json."""
    from ssdlite_tools.workspace import FLOAT_MODEL_NAME, convert_dir

    model = convert_dir(custom_model.workdir) / FLOAT_MODEL_NAME
    categories = [{"id": i, "name": name, "supercategory": "x"} for i, name in custom_model.spec.label_map.items()]
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    _self_annotations(model, holdout_images, images_dir, tmp_path / "gt.json", categories=categories)

    code, report = _evaluate(tmp_path, [model], tmp_path / "gt.json", images_dir)
    assert code == 0
    assert report["models"][str(model)]["stats"]["AP"] == pytest.approx(1.0, abs=1e-6)

    (tmp_path / "coco.json").write_text(
        json.dumps({**json.loads((tmp_path / "gt.json").read_text()), "categories": _categories()})
    )
    assert _evaluate(tmp_path, [model], tmp_path / "coco.json", images_dir)[0] == 2


def test_missing_images_without_download_are_a_clear_error(reference_model, tmp_path, capsys):
    annotations = tmp_path / "gt.json"
    annotations.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "000000000001.jpg", "width": 10, "height": 10}],
        "annotations": [], "categories": _categories(),
    }))  # fmt: skip

    code, _ = _evaluate(tmp_path, [reference_model], annotations, tmp_path / "empty")

    assert code == 2
    assert "000000000001.jpg is missing" in capsys.readouterr().err


def test_without_network_evaluate_names_the_url_and_the_local_alternative(reference_model, tmp_path, capsys):
    # Port 9 (discard) on loopback: refused at once, as an unreachable COCO server would be.
    code = run_cli(
        "evaluate", "--workdir", tmp_path, "--model", reference_model, "--coco-url", "http://127.0.0.1:9",
        "--timeout", "5", "--no-progress",
    )  # fmt: skip

    assert code == 2
    error = capsys.readouterr().err
    assert "http://127.0.0.1:9/annotations/annotations_trainval2017.zip" in error
    assert "--annotations" in error


def test_a_vela_model_is_refused_with_the_reason(tmp_path, capsys):
    vela_model = tmp_path / "model_vela.tflite"
    vela_model.write_bytes(one_operator_model(32, 1, "ethos-u"))  # what Vela leaves: one ethos-u op
    annotations = tmp_path / "gt.json"
    annotations.write_text(json.dumps({"images": [], "annotations": [], "categories": _categories()}))

    code, _ = _evaluate(tmp_path, [vela_model], annotations, tmp_path)

    assert code == 2
    assert "compiled by Vela for the Ethos-U" in capsys.readouterr().err


def test_score_thresholds_above_the_standard_protocol_are_refused(reference_model, tmp_path, capsys):
    code = run_cli("evaluate", "--workdir", tmp_path, "--model", reference_model, "--score-threshold", "0.2")

    assert code == 2
    assert "standard protocol" in capsys.readouterr().err
