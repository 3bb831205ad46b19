"""Dataset readers (datasets.py): YOLO txt, PASCAL VOC XML and COCO json into one ground truth.

Each test writes a small dataset whose boxes are known in pixels and checks the reader gives
exactly those boxes back; no model, no TensorFlow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image
from ssdlite_detect.labels import COCO_LABELS
from ssdlite_tools import datasets
from ssdlite_tools.errors import ToolsError

NAMES_YAML = """# a comment
path: ../coco128
names:
  0: person
  1: 'traffic light'  # quoted, with a comment
  2: dog
nc: 3
"""


def _image(path: Path, size=(200, 100), orientation=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (90, 120, 150))
    if orientation is None:
        image.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(path, exif=exif)
    return path


def _yolo_line(class_id, box, width, height):
    x, y, w, h = box
    return f"{class_id} {(x + w / 2) / width!r} {(y + h / 2) / height!r} {w / width!r} {h / height!r}"


@pytest.fixture
def yolo_folder(tmp_path):
    root = tmp_path / "yolo"
    _image(root / "images" / "a.jpg", (200, 100))
    _image(root / "images" / "b.png", (64, 48))
    _image(root / "images" / "empty.jpg", (32, 32))  # no label file: no objects
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text(
        _yolo_line(0, (10, 20, 50, 40), 200, 100) + "\n" + _yolo_line(2, (100, 0, 100, 100), 200, 100) + "\n\n"
    )
    (root / "labels" / "b.txt").write_text(_yolo_line(1, (8, 4, 16, 12), 64, 48) + "\n")
    (root / "labels" / "gone.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # its image is missing
    (root / "names.yaml").write_text(NAMES_YAML)
    return root


def _boxes(dataset):
    by_id = {image.id: image.path.name for image in dataset.images}
    return sorted(
        (by_id[b.image_id], b.class_name, tuple(round(v, 9) for v in b.bbox), b.iscrowd) for b in dataset.boxes
    )


def test_yolo_boxes_are_pixel_xywh_of_the_normalised_centres(yolo_folder):
    dataset = datasets.read_yolo(yolo_folder)

    assert dataset.format == "yolo"
    assert dataset.class_names == ("person", "traffic light", "dog")
    assert [(i.path.name, i.width, i.height) for i in dataset.images] == [
        ("a.jpg", 200, 100), ("b.png", 64, 48), ("empty.jpg", 32, 32)
    ]  # fmt: skip
    assert [i.id for i in dataset.images] == [1, 2, 3]
    assert _boxes(dataset) == [
        ("a.jpg", "dog", (100.0, 0.0, 100.0, 100.0), 0),
        ("a.jpg", "person", (10.0, 20.0, 50.0, 40.0), 0),
        ("b.png", "traffic light", (8.0, 4.0, 16.0, 12.0), 0),
    ]
    assert [b.area for b in dataset.boxes if b.class_name == "person"] == [pytest.approx(2000.0)]
    assert len(dataset.notes) == 1 and "1 label file(s) without an image" in dataset.notes[0]
    assert "gone.txt" in dataset.notes[0]


def test_yolo_names_from_a_text_file_and_subfolders_mirrored(tmp_path):
    root = tmp_path / "yolo"
    _image(root / "images" / "val" / "x.jpg", (100, 100))
    (root / "labels" / "val").mkdir(parents=True)
    (root / "labels" / "val" / "x.txt").write_text("1 0.5 0.5 0.2 0.4\n")
    names = tmp_path / "obj.names"
    names.write_text("cat\ndog\n\n")

    dataset = datasets.read_yolo(root, names)

    assert dataset.class_names == ("cat", "dog")
    assert _boxes(dataset) == [("x.jpg", "dog", (40.0, 30.0, 20.0, 40.0), 0)]


def test_yolo_image_size_is_exif_oriented_as_the_app_loads_it(tmp_path):
    root = tmp_path / "yolo"
    _image(root / "images" / "turned.jpg", (200, 100), orientation=6)  # 90 degrees: shown 100 x 200
    (root / "labels").mkdir()
    (root / "labels" / "turned.txt").write_text("0 0.5 0.5 1 1\n")
    (root / "names.yaml").write_text("names: [person]\n")

    dataset = datasets.read_yolo(root)

    assert (dataset.images[0].width, dataset.images[0].height) == (100, 200)
    assert dataset.boxes[0].bbox == (0.0, 0.0, 100.0, 200.0)


@pytest.mark.parametrize(
    "line, message",
    [
        ("0 0.5 0.5 0.1", "expected `class x_center y_center width height`, got 4 fields"),
        ("person 0.5 0.5 0.1 0.1", "not a class id and four numbers"),
        ("7 0.5 0.5 0.1 0.1", "class 7 has no name"),
        ("0 0.5 0.5 1.5 0.1", "normalised to [0, 1]"),
        ("0 0.5 nan 0.1 0.1", "normalised to [0, 1]"),
    ],
)
def test_bad_yolo_lines_are_one_line_errors_with_file_and_line(yolo_folder, line, message):
    (yolo_folder / "labels" / "b.txt").write_text("1 0.5 0.5 0.1 0.1\n" + line + "\n")

    with pytest.raises(ToolsError, match=re.escape(message)) as error:
        datasets.read_yolo(yolo_folder)

    assert "b.txt:2" in str(error.value) and "\n" not in str(error.value)


def test_yolo_without_names_asks_for_them(yolo_folder):
    (yolo_folder / "names.yaml").unlink()
    with pytest.raises(ToolsError, match="no class names .*pass --names FILE"):
        datasets.read_yolo(yolo_folder)


@pytest.mark.parametrize(
    "text, names",
    [
        (NAMES_YAML, {0: "person", 1: "traffic light", 2: "dog"}),
        ("names:\n  - person\n  - 'hot dog'\ntrain: x\n", {0: "person", 1: "hot dog"}),
        ("nc: 2\nnames: ['a, b', \"c\"]  # list\n", {0: "a, b", 1: "c"}),
        ("names: {0: cat, 1: 'sports ball'}\n", {0: "cat", 1: "sports ball"}),
    ],
)
def test_names_yaml_forms(tmp_path, text, names):
    path = tmp_path / "data.yaml"
    path.write_text(text)
    assert datasets.read_names(path) == names


@pytest.mark.parametrize(
    "text", ["nc: 2\n", "names: person\n", "names:\n  0: a\n  0: b\n", "names:\n  x: a\n"]
)
def test_unreadable_names_yaml_is_an_error(tmp_path, text):
    path = tmp_path / "data.yaml"
    path.write_text(text)
    with pytest.raises(ToolsError, match="no readable `names:`"):
        datasets.read_names(path)


def test_the_coco128_names_file(coco128):
    names = datasets.read_names(coco128 / "names.yaml")
    assert len(names) == 80 and names[0] == "person" and names[79] == "toothbrush"
    # Every name is one of the model's COCO labels: the default name mapping needs no --class-map.
    assert datasets.map_classes(tuple(names.values()), COCO_LABELS).left_out == ()


# --- PASCAL VOC --------------------------------------------------------------------------------------


def _voc_xml(filename, objects, size=(200, 100)):
    parts = [f"<annotation><folder>VOC</folder><filename>{filename}</filename>"]
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    for name, (xmin, ymin, xmax, ymax), difficult in objects:
        parts.append(
            f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
            f"<difficult>{difficult}</difficult><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


@pytest.fixture
def voc_folder(tmp_path):
    root = tmp_path / "VOC2012"
    (root / "Annotations").mkdir(parents=True)
    _image(root / "JPEGImages" / "2008_000001.jpg", (200, 100))
    _image(root / "JPEGImages" / "2008_000002.jpg", (64, 48))
    (root / "Annotations" / "2008_000001.xml").write_text(
        _voc_xml("2008_000001.jpg", [("person", (1, 1, 50, 40), 0), ("dog", (101, 21, 200, 100), 1)])
    )
    # No <size> (some exporters leave it out): the size comes from the image file.
    (root / "Annotations" / "2008_000002.xml").write_text(
        _voc_xml("2008_000002.jpg", [("cat", (8.5, 4, 24, 16), 0)], size=None)
    )
    return root


def test_voc_boxes_are_converted_from_1_based_inclusive_pixels(voc_folder):
    dataset = datasets.read_voc(voc_folder)

    assert dataset.format == "voc"
    assert dataset.class_names == ("cat", "dog", "person")
    assert [(i.path.name, i.width, i.height) for i in dataset.images] == [
        ("2008_000001.jpg", 200, 100), ("2008_000002.jpg", 64, 48)
    ]  # fmt: skip
    assert _boxes(dataset) == [
        # xmin 8.5 .. xmax 24 -> x 7.5, w 16.5; ymin 4 .. ymax 16 -> y 3, h 13
        ("2008_000001.jpg", "dog", (100.0, 20.0, 100.0, 80.0), 1),  # difficult: ignored (iscrowd)
        # pixels 1..50 x 1..40 cover [0, 50] x [0, 40]: the whole 50 x 40 corner
        ("2008_000001.jpg", "person", (0.0, 0.0, 50.0, 40.0), 0),
        ("2008_000002.jpg", "cat", (7.5, 3.0, 16.5, 13.0), 0),
    ]


def test_voc_xml_beside_the_images(tmp_path):
    _image(tmp_path / "shot.png", (30, 20))
    (tmp_path / "shot.xml").write_text(_voc_xml("renamed-by-the-exporter.png", [("cat", (1, 1, 30, 20), 0)]))

    dataset = datasets.read_voc(tmp_path)

    assert dataset.images[0].path == tmp_path / "shot.png"  # found by the XML's own stem
    assert _boxes(dataset) == [("shot.png", "cat", (0.0, 0.0, 30.0, 20.0), 0)]


@pytest.mark.parametrize(
    "xml, message",
    [
        ("<annotation><filename>2008_000001.jpg</filename><object>", "not valid XML"),
        ("<doc/>", "not a VOC annotation"),
        (_voc_xml("2008_000001.jpg", [("", (1, 1, 2, 2), 0)]), "object 1: no <name>"),
        (_voc_xml("2008_000001.jpg", [("cat", (1, "one", 2, 2), 0)]), "<ymin> missing or not a number"),
        (_voc_xml("2008_000001.jpg", [("cat", (10, 1, 2, 2), 0)]), "xmax/ymax below xmin/ymin"),
    ],
)
def test_bad_voc_xml_is_a_one_line_error(voc_folder, xml, message):
    (voc_folder / "Annotations" / "2008_000001.xml").write_text(xml)

    with pytest.raises(ToolsError, match=message) as error:
        datasets.read_voc(voc_folder)

    assert "2008_000001.xml" in str(error.value) and "\n" not in str(error.value)


def test_voc_missing_image_is_named(voc_folder):
    (voc_folder / "JPEGImages" / "2008_000002.jpg").unlink()
    with pytest.raises(ToolsError, match="2008_000002.xml: its image 2008_000002.jpg is not in"):
        datasets.read_voc(voc_folder)


# --- COCO json, format detection ---------------------------------------------------------------------


def test_coco_json_keeps_ids_area_and_crowd_and_skips_unlisted_categories(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({
        "images": [{"id": 42, "file_name": "x.jpg", "width": 10, "height": 20}],
        "annotations": [
            {"id": 1, "image_id": 42, "category_id": 18, "bbox": [1, 2, 3, 4], "area": 7.5, "iscrowd": 0},
            {"id": 2, "image_id": 42, "category_id": 1, "bbox": [0, 0, 10, 20], "area": 150, "iscrowd": 1},
            {"id": 3, "image_id": 42, "category_id": 26, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
    }))  # fmt: skip

    dataset = datasets.read_coco_json(path, tmp_path / "images")

    assert dataset.class_names == ("person", "dog")
    assert dataset.images == (datasets.ImageRecord(42, tmp_path / "images" / "x.jpg", 10, 20),)
    assert sorted((b.class_name, b.bbox, b.area, b.iscrowd) for b in dataset.boxes) == [
        ("dog", (1.0, 2.0, 3.0, 4.0), 7.5, 0), ("person", (0.0, 0.0, 10.0, 20.0), 150.0, 1)
    ]  # fmt: skip
    # Not in `categories` (COCOeval never scored such annotations): skipped, with a note.
    assert dataset.notes == ("annotations of category id(s) 26, which `categories` does not list, are ignored",)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not a COCO instances file"),
        (json.dumps({"images": []}), "is not a COCO instances file \\(no 'categories' key\\)"),
        (json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 9}], "categories": [
            {"id": 1, "name": "cat"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]}),
         "a bad value: not enough values to unpack"),
        (json.dumps({"images": [], "categories": [], "annotations": [
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]}), "annotation 5 refers to image 1"),
    ],
)  # fmt: skip
def test_bad_coco_json_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "gt.json"
    path.write_text(content)
    with pytest.raises(ToolsError, match=message):
        datasets.read_coco_json(path, tmp_path)


def test_format_detection(yolo_folder, voc_folder, tmp_path):
    assert datasets.detect_format(yolo_folder) == "yolo"
    assert datasets.detect_format(voc_folder) == "voc"
    (tmp_path / "gt.json").write_text("{}")
    assert datasets.detect_format(tmp_path / "gt.json") == "coco"
    (voc_folder / "labels").mkdir()
    with pytest.raises(ToolsError, match="both YOLO labels and VOC XML found; pass --dataset-format"):
        datasets.detect_format(voc_folder)
    with pytest.raises(ToolsError, match="neither"):
        datasets.detect_format(voc_folder / "JPEGImages")


# --- class mapping and image selection ---------------------------------------------------------------


def test_classes_match_model_labels_by_name_case_insensitively():
    mapping = datasets.map_classes(("Person", "DOG", "forklift"), COCO_LABELS)

    assert mapping.model_ids == {"Person": 1, "DOG": 18}
    assert mapping.left_out == ("forklift",)


def test_class_map_renames_and_merges():
    renames = datasets.parse_class_map(["motorbike=motorcycle", "Van=car"])
    mapping = datasets.map_classes(("motorbike", "van", "car", "tvmonitor"), COCO_LABELS, renames)

    assert mapping.model_ids == {"motorbike": 4, "van": 3, "car": 3}
    assert mapping.left_out == ("tvmonitor",)


@pytest.mark.parametrize(
    "items, message",
    [
        (["aeroplane=airplane"], "the dataset has no class 'aeroplane'"),
        (["motorbike=moped"], "the model has no class 'moped'"),
        (["motorbike"], "expected DATASET_CLASS=MODEL_CLASS"),
        (["=car"], "expected DATASET_CLASS=MODEL_CLASS"),
    ],
)
def test_unknown_class_mappings_are_one_line_errors(items, message):
    with pytest.raises(ToolsError, match=message) as error:
        datasets.map_classes(("motorbike", "car"), COCO_LABELS, datasets.parse_class_map(items))
    assert "\n" not in str(error.value)


def test_images_with_keeps_the_images_with_that_class(voc_folder):
    dataset = datasets.read_voc(voc_folder)
    mapping = datasets.map_classes(dataset.class_names, COCO_LABELS)

    with_person = datasets.select_images(dataset, mapping, COCO_LABELS, ["PERSON"])
    assert [i.path.name for i in with_person.images] == ["2008_000001.jpg"]
    assert {b.class_name for b in with_person.boxes} == {"person", "dog"}  # all of that image's boxes
    # The only dog there is difficult (ignored): no image "has" a dog.
    assert datasets.select_images(dataset, mapping, COCO_LABELS, ["dog"]).images == ()
    either = datasets.select_images(dataset, mapping, COCO_LABELS, ["cat", "person"])
    assert len(either.images) == 2
    with pytest.raises(ToolsError, match="--images-with zebra: neither a class of the dataset"):
        datasets.select_images(dataset, mapping, COCO_LABELS, ["zebra"])


def test_images_with_a_model_name_of_a_renamed_class(tmp_path):
    _image(tmp_path / "a.jpg", (10, 10))
    (tmp_path / "a.xml").write_text(_voc_xml("a.jpg", [("motorbike", (1, 1, 5, 5), 0)], size=(10, 10)))
    dataset = datasets.read_voc(tmp_path)
    mapping = datasets.map_classes(dataset.class_names, COCO_LABELS, {"motorbike": "motorcycle"})

    assert len(datasets.select_images(dataset, mapping, COCO_LABELS, ["motorcycle"]).images) == 1
    left_out = datasets.map_classes(dataset.class_names, COCO_LABELS)
    with pytest.raises(ToolsError, match="left out"):
        datasets.select_images(dataset, left_out, COCO_LABELS, ["motorbike"])


def test_coco_ground_truth_uses_model_class_ids(voc_folder):
    dataset = datasets.read_voc(voc_folder)
    labels = COCO_LABELS
    mapping = datasets.map_classes(dataset.class_names, labels, {"cat": "dog"})  # cat and dog -> 18

    data = datasets.coco_dict(dataset, mapping, labels)
    coco = datasets.coco_ground_truth(data)

    assert data["categories"] == [{"id": 1, "name": "person", "supercategory": ""},
                                  {"id": 18, "name": "dog", "supercategory": ""}]  # fmt: skip
    assert sorted(coco.getImgIds()) == [1, 2]
    person = coco.loadAnns(coco.getAnnIds(catIds=[1]))
    assert [(a["bbox"], a["area"], a["iscrowd"]) for a in person] == [([0.0, 0.0, 50.0, 40.0], 2000.0, 0)]
    assert len(coco.getAnnIds(catIds=[18], iscrowd=False)) == 1  # the cat; the difficult dog is crowd
