"""`evaluate` on YOLO, VOC and COCO json datasets: the same ground truth scores the same in each
format, per-class AP is COCOeval's own, VOC's difficult boxes are ignored, bad input is one line,
and the reference SSD MobileNet v1 runs end to end on coco128 through the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bsp_gate_support import run_cli
from PIL import Image
from ssdlite_detect.labels import COCO_LABELS
from ssdlite_tools import coco_eval, datasets
from ssdlite_tools.commands import evaluate

# file name -> (width, height), and its objects: (class name, integer pixel box x, y, w, h)
IMAGES = {"a.jpg": (200, 100), "b.jpg": (64, 48), "c.jpg": (120, 90), "d.jpg": (50, 50)}
OBJECTS = {
    "a.jpg": [("person", (10, 20, 50, 40)), ("dog", (100, 0, 100, 100)), ("person", (150, 30, 20, 60))],
    "b.jpg": [("cat", (8, 4, 16, 12)), ("person", (30, 10, 30, 36))],
    "c.jpg": [("dog", (0, 0, 60, 45)), ("cat", (70, 40, 40, 40)), ("person", (5, 50, 10, 30))],
    "d.jpg": [],  # no objects: a YOLO image without a label file, a VOC file without <object>
}
CLASSES = ("person", "dog", "cat")


def _write_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in IMAGES.items():
        Image.new("RGB", size, (100, 100, 100)).save(folder / name)


def write_yolo(root: Path) -> Path:
    _write_images(root / "images")
    (root / "labels").mkdir()
    (root / "names.yaml").write_text("names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASSES)))
    for name, objects in OBJECTS.items():
        if not objects:
            continue
        width, height = IMAGES[name]
        lines = [
            f"{CLASSES.index(c)} {(x + w / 2) / width!r} {(y + h / 2) / height!r} {w / width!r} {h / height!r}"
            for c, (x, y, w, h) in objects
        ]
        (root / "labels" / name.replace(".jpg", ".txt")).write_text("\n".join(lines) + "\n")
    return root


def _voc_object(name, box, difficult=0):
    x, y, w, h = box
    # 1-based inclusive pixels: COCO [x, x + w] is pixels x + 1 .. x + w.
    return (
        f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{x + 1}</xmin>"
        f"<ymin>{y + 1}</ymin><xmax>{x + w}</xmax><ymax>{y + h}</ymax></bndbox></object>"
    )


def write_voc(root: Path, objects=OBJECTS, difficult=()) -> Path:
    _write_images(root / "JPEGImages")
    (root / "Annotations").mkdir()
    for name, boxes in objects.items():
        width, height = IMAGES[name]
        body = "".join(_voc_object(c, box, int((name, i) in difficult)) for i, (c, box) in enumerate(boxes))
        (root / "Annotations" / name.replace(".jpg", ".xml")).write_text(
            f"<annotation><filename>{name}</filename><size><width>{width}</width><height>{height}</height>"
            f"<depth>3</depth></size>{body}</annotation>"
        )
    return root


def write_coco(root: Path) -> Path:
    _write_images(root)
    images, annotations = [], []
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]  # not the COCO ids: mapped by name
    for image_id, (name, (width, height)) in enumerate(sorted(IMAGES.items()), start=1):
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for c, (x, y, w, h) in OBJECTS[name]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": CLASSES.index(c) + 1,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})  # fmt: skip
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def _detections():
    """Fixed detections by file name: each object found, shifted and scored so AP is neither 0
    nor 1 (some IoUs fall below 0.75, one object is missed, two boxes are false)."""
    found = []
    for name, objects in sorted(OBJECTS.items()):
        for index, (c, (x, y, w, h)) in enumerate(objects):
            if (name, index) == ("c.jpg", 2):
                continue  # missed
            shift = (index + 1) * 0.07 * w
            found.append((name, c, [x + shift, y, w, h * 0.95], 0.9 - 0.1 * index))
    found.append(("a.jpg", "cat", [0, 0, 30, 30], 0.95))  # false positive, ranked first
    found.append(("d.jpg", "person", [5, 5, 20, 30], 0.5))
    return found


def _ground_truth(dataset):
    mapping = datasets.map_classes(dataset.class_names, COCO_LABELS)
    return datasets.coco_ground_truth(datasets.coco_dict(dataset, mapping, COCO_LABELS)), mapping


def _score(dataset, detections=None):
    coco_gt, mapping = _ground_truth(dataset)
    ids = {image.path.name: image.id for image in dataset.images}
    results = [
        {"image_id": ids[name], "category_id": mapping.model_ids[c], "bbox": box, "score": score}
        for name, c, box, score in (detections if detections is not None else _detections())
    ]
    return coco_gt, results, coco_eval.evaluate_results(coco_gt, results, sorted(ids.values()))


def test_the_same_ground_truth_as_yolo_voc_and_coco_scores_the_same(tmp_path):
    yolo = datasets.read_yolo(write_yolo(tmp_path / "yolo"))
    voc = datasets.read_voc(write_voc(tmp_path / "voc"))
    coco = datasets.read_coco_json(write_coco(tmp_path / "coco"), tmp_path / "coco")

    scores = [_score(dataset)[2] for dataset in (yolo, voc, coco)]

    assert 0.2 < scores[0].stats["AP"] < 0.9 and scores[0].stats["AP50"] > scores[0].stats["AP"]
    for other in scores[1:]:
        assert other.stats == pytest.approx(scores[0].stats, abs=1e-12)
        assert other.per_class == scores[0].per_class
    assert {ap.name: ap.objects for ap in scores[0].per_class.values()} == {"person": 4, "dog": 2, "cat": 2}


def test_per_class_ap_is_coceval_s_own_for_a_one_class_run(tmp_path):
    from pycocotools.cocoeval import COCOeval

    coco_gt, results, metrics = _score(datasets.read_voc(write_voc(tmp_path / "voc")))
    coco_dt = coco_gt.loadRes(results)
    for category_id, class_ap in metrics.per_class.items():
        evaluation = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluation.params.catIds = [category_id]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        assert (class_ap.ap, class_ap.ap50) == pytest.approx(tuple(evaluation.stats[:2]), abs=1e-12), class_ap.name
    assert len({ap.ap for ap in metrics.per_class.values()}) == 3  # three different numbers were compared
    # COCOeval's mAP is the mean over categories of these per-class APs.
    assert np.mean([ap.ap for ap in metrics.per_class.values()]) == pytest.approx(metrics.stats["AP"], abs=1e-12)


def test_per_class_ap_is_none_without_ground_truth():
    precision = -np.ones((10, 101, 2, 4, 3))
    precision[:, :, 0, 0, -1] = 0.5
    precision[0, :, 0, 0, -1] = 1.0
    iou_thresholds = np.linspace(0.5, 0.95, 10)

    assert coco_eval.per_class_ap(precision, iou_thresholds) == [(pytest.approx(0.55), 1.0), (None, None)]


def test_voc_difficult_boxes_are_neither_missed_nor_matched(tmp_path):
    objects = {"a.jpg": [("person", (10, 20, 50, 40)), ("person", (120, 10, 60, 80))]}
    exact = [("a.jpg", "person", [10, 20, 50, 40], 0.6)]
    on_difficult = [("a.jpg", "person", [120, 10, 60, 80], 0.9)]  # ranked above the real match

    difficult = datasets.read_voc(write_voc(tmp_path / "difficult", objects, difficult={("a.jpg", 1)}))
    plain = datasets.read_voc(write_voc(tmp_path / "plain", objects))

    assert [b.iscrowd for b in difficult.boxes] == [0, 1]
    # Not a miss: finding only the other person is a perfect score.
    assert _score(difficult, exact)[2].stats["AP"] == pytest.approx(1.0)
    # A detection on it is not a false positive either, even ranked first.
    assert _score(difficult, exact + on_difficult)[2].stats["AP"] == pytest.approx(1.0)
    # The same box not difficult is a miss: recall 0.5.
    assert _score(plain, exact)[2].stats["AP"] == pytest.approx(0.5, abs=0.01)
    assert _score(difficult, exact)[2].per_class[1].objects == 1


def test_ratios_and_table_of_an_int8_and_a_float_model(capsys):
    def metrics(ap, ap50, person, dog):
        stats = {name: 0.0 for name in coco_eval.STAT_NAMES} | {"AP": ap, "AP50": ap50}
        per_class = {1: coco_eval.ClassAP("person", 5, *person), 18: coco_eval.ClassAP("dog", 2, *dog),
                     17: coco_eval.ClassAP("cat", 0, None, None)}  # fmt: skip
        return coco_eval.CocoMetrics(stats, 3, 10, per_class)

    int8, float_model = metrics(0.3, 0.5, (0.2, 0.4), (0.4, 0.0)), metrics(0.4, 0.5, (0.25, 0.5), (0.0, 0.0))

    ratio = evaluate.ratios(int8, float_model)

    assert ratio["AP"] == pytest.approx(0.75) and ratio["AP50"] == pytest.approx(1.0)
    assert ratio["per_class"]["person"] == {"AP": pytest.approx(0.8), "AP50": pytest.approx(0.8)}
    assert ratio["per_class"]["dog"] == {"AP": None, "AP50": None}  # float AP 0: no ratio
    assert ratio["per_class"]["cat"] == {"AP": None, "AP50": None}

    runs = {Path("m_int8.tflite"): evaluate.ModelRun(int8, "int8", ()),
            Path("m_float.tflite"): evaluate.ModelRun(float_model, "float32", ())}  # fmt: skip
    evaluate.print_report(runs, [(Path("m_int8.tflite"), Path("m_float.tflite"))], "title")
    out = capsys.readouterr().out.splitlines()
    assert [line.split() for line in out if "m_float.tflite" in line] == [
        ["metric", "m_int8.tflite", "m_float.tflite"], ["m_int8.tflite", "m_float.tflite", "int8/float"]
    ]
    assert out[-3].split() == ["all", "(mAP)", "7", "0.300", "0.500", "0.400", "0.500", "0.750", "1.000"]
    assert out[-2].split() == ["person", "5", "0.200", "0.400", "0.250", "0.500", "0.800", "0.800"]
    assert out[-1].split() == ["dog", "2", "0.400", "0.000", "0.000", "0.000", "-", "-"]  # cat: no objects, no row


# --- through the CLI -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_model(reference):
    return reference / "coco_ssd_mobilenet_v1_raw.tflite"


def _cli(tmp_path, model, *argv):
    report = tmp_path / "report.json"
    code = run_cli(
        "evaluate", "--workdir", tmp_path / "work", "--model", model, "--no-progress", "--json", report, *argv
    )
    return code, json.loads(report.read_text()) if code == 0 else None


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("INFO: ")]  # TFLite's delegate note
    assert len(lines) == 1 and lines[0].startswith("ssdlite-tools evaluate: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["--class-map", "aeroplane=airplane"], ["--class-map aeroplane=airplane", "no class 'aeroplane'"]),
        (["--class-map", "dog=wolf"], ["the model has no class 'wolf'"]),
        (["--images-with", "zebra"], ["--images-with zebra"]),
        (["--images-dir", "x"], ["--images-dir is for COCO json"]),
        (["--annotations", "x.json"], ["--dataset and --annotations"]),
        (["--dataset-format", "yolo"], ["no class names", "pass --names FILE"]),  # a VOC folder read as YOLO
    ],
)
def test_bad_options_are_one_line(reference_model, tmp_path, capsys, argv, fragments):
    write_voc(tmp_path / "voc")

    code, _ = _cli(tmp_path, reference_model, "--dataset", tmp_path / "voc", *argv)

    assert code == 2
    _one_line_error(capsys, *fragments)


def test_corrupt_xml_is_one_line(reference_model, tmp_path, capsys):
    root = write_voc(tmp_path / "voc")
    (root / "Annotations" / "b.xml").write_text("<annotation><object><name>cat</name>")

    code, _ = _cli(tmp_path, reference_model, "--dataset", root)

    assert code == 2
    _one_line_error(capsys, "b.xml: not valid XML")


def test_a_dataset_without_any_model_class_is_one_line(reference_model, tmp_path, capsys):
    root = write_yolo(tmp_path / "yolo")
    (root / "names.yaml").write_text("names: [forklift, pallet, shelf]\n")

    code, _ = _cli(tmp_path, reference_model, "--dataset", root)

    assert code == 2
    _one_line_error(capsys, "none of the dataset's classes (forklift, pallet, shelf)", "--class-map")


def test_left_out_classes_are_listed_on_one_line_and_renames_apply(reference_model, reference, tmp_path, capsys):
    # The bus photo (640 x 428) as a VOC dataset with classes the COCO model lacks or names otherwise.
    root = tmp_path / "voc"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "JPEGImages" / "bus.jpg").write_bytes((reference / "bus.jpg").read_bytes())
    (root / "Annotations").mkdir()
    boxes = [("motorbike", (10, 10, 50, 50)), ("tvmonitor", (100, 100, 40, 30)), ("streetlamp", (0, 0, 5, 80))]
    (root / "Annotations" / "bus.xml").write_text(
        "<annotation><filename>bus.jpg</filename>" + "".join(_voc_object(c, b) for c, b in boxes) + "</annotation>"
    )

    code, report = _cli(tmp_path, reference_model, "--dataset", root, "--class-map", "tvmonitor=tv")

    assert code == 0
    left_out = [line for line in capsys.readouterr().out.splitlines() if line.startswith("left out")]
    assert len(left_out) == 1 and left_out[0].endswith(": motorbike, streetlamp")
    assert report["dataset"]["format"] == "voc"  # detected
    assert report["dataset"]["left_out"] == ["motorbike", "streetlamp"]
    assert report["dataset"]["class_map"] == {"tvmonitor": "tv"}
    assert list(report["models"][str(reference_model)]["per_class"]) == ["tv"]


def _coco128_truth(coco128):
    """From the files themselves: the images, and the person boxes (YOLO class 0) in them."""
    images = {p.stem for p in (coco128 / "images").glob("*.jpg")}
    people = {}
    for label in (coco128 / "labels").glob("*.txt"):
        if label.stem in images:
            count = sum(1 for line in label.read_text().splitlines() if line.split()[:1] == ["0"])
            if count:
                people[label.stem] = count
    return images, people


def test_reference_model_on_coco128_end_to_end(reference_model, coco128, tmp_path, capsys):
    images, people = _coco128_truth(coco128)

    code, everything = _cli(tmp_path, reference_model, "--dataset", coco128)
    assert code == 0
    out = capsys.readouterr().out
    code, person_images = _cli(tmp_path, reference_model, "--dataset", coco128, "--images-with", "person")
    assert code == 0

    assert everything["dataset"]["format"] == "yolo" and everything["dataset"]["left_out"] == []
    assert everything["image_count"] == len(images)
    assert person_images["image_count"] == len(people)
    results = everything["models"][str(reference_model)]
    person = person_images["models"][str(reference_model)]["per_class"]["person"]
    assert person["objects"] == sum(people.values())
    assert results["per_class"]["person"]["objects"] == sum(people.values())
    # A COCO-trained model on COCO (train) photos: well above chance, far from perfect.
    assert 0.1 < results["stats"]["AP"] < results["stats"]["AP50"] < 0.9
    assert 0.1 < person["AP"] < person["AP50"] < 0.9
    # The overall AP is the mean of the per-class APs over the classes with ground truth.
    per_class = [c["AP"] for c in results["per_class"].values() if c["objects"]]
    assert np.mean(per_class) == pytest.approx(results["stats"]["AP"], abs=1e-9)
    # One uint8 model: no ratio. The table has a person row with the report's numbers.
    assert everything["ratios"] == [] and results["input_dtype"] == "uint8"
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["person"])
    table_person = results["per_class"]["person"]
    assert row == ["person", str(sum(people.values())), f"{table_person['AP']:.3f}", f"{table_person['AP50']:.3f}"]
    assert "2 label file(s) without an image" in out  # coco128 ships two labels whose images it lacks


def test_int8_and_float_models_get_ratios(standin_int8_tflite, standin_float_tflite, holdout_images, tmp_path):
    """Ground truth = the float stand-in's own confident detections, as YOLO: float AP 1, int8 lower."""
    from ssdlite_detect import preprocess
    from ssdlite_detect.postprocess import PostprocessConfig
    from ssdlite_tools.host_inference import HostDetector

    root = tmp_path / "yolo"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "names.yaml").write_text("names: [" + ", ".join(f"'{n}'" for n in COCO_LABELS[1:] if n != "???") + "]\n")
    yolo_ids = {n: i for i, n in enumerate(n for n in COCO_LABELS[1:] if n != "???")}
    detector = HostDetector(standin_float_tflite)
    config = PostprocessConfig(score_threshold=0.5, iou_threshold=0.6, max_detections=100, max_per_class=100)
    for photo in holdout_images:
        image = preprocess.load_image(str(photo))
        image.save(root / "images" / (photo.stem + ".png"))
        detections = detector.detect(image, config)
        lines = []
        for (ymin, xmin, ymax, xmax), class_id in zip(np.clip(detections.boxes, 0, 1), detections.class_ids):
            if COCO_LABELS[class_id] not in yolo_ids:
                continue  # random weights also score the unused ids; COCOeval only scores the dataset's
            lines.append(f"{yolo_ids[COCO_LABELS[class_id]]} {(xmin + xmax) / 2!r} {(ymin + ymax) / 2!r} "
                         f"{xmax - xmin!r} {ymax - ymin!r}")  # fmt: skip
        (root / "labels" / (photo.stem + ".txt")).write_text("\n".join(lines) + "\n")

    report = tmp_path / "report.json"
    code = run_cli("evaluate", "--workdir", tmp_path / "w", "--model", standin_int8_tflite, "--model",
                   standin_float_tflite, "--dataset", root, "--no-progress", "--json", report)  # fmt: skip

    assert code == 0
    result = json.loads(report.read_text())
    int8, float_model = (result["models"][str(m)] for m in (standin_int8_tflite, standin_float_tflite))
    assert float_model["stats"]["AP"] == pytest.approx(1.0, abs=1e-6)
    (ratio,) = result["ratios"]
    assert (ratio["quantized"], ratio["float"]) == (str(standin_int8_tflite), str(standin_float_tflite))
    assert ratio["AP"] == pytest.approx(int8["stats"]["AP"] / float_model["stats"]["AP"])
    assert ratio["AP50"] == pytest.approx(int8["stats"]["AP50"] / float_model["stats"]["AP50"])
    assert 0.0 <= ratio["AP"] < 1.0  # quantisation moves boxes and scores: not a perfect copy
    checked = 0
    for name, values in ratio["per_class"].items():
        if float_model["per_class"][name]["AP"]:
            assert values["AP"] == pytest.approx(int8["per_class"][name]["AP"] / float_model["per_class"][name]["AP"])
            checked += 1
    assert checked >= 1


def test_a_renumbered_coco_file_is_mapped_by_name_with_dataset_refused_with_annotations(
    reference_model, tmp_path, capsys
):
    annotations = write_coco(tmp_path / "coco")  # categories 1 person, 2 dog, 3 cat: not COCO's ids

    code, report = _cli(tmp_path, reference_model, "--dataset", annotations)
    assert code == 0
    assert report["dataset"]["format"] == "coco"
    assert {name: c["category_id"] for name, c in report["models"][str(reference_model)]["per_class"].items()} == {
        "person": 1, "dog": 18, "cat": 17
    }  # fmt: skip
    capsys.readouterr()

    code, _ = _cli(tmp_path, reference_model, "--annotations", annotations, "--images-dir", tmp_path / "coco",
                   "--no-download")  # fmt: skip
    assert code == 2
    _one_line_error(capsys, "category 2 is 'dog' but model class 2 is 'bicycle'")
