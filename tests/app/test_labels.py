"""Class labels (ssdlite_detect.labels): the built-in COCO map and labels files."""
from __future__ import annotations

import pytest

from ssdlite_detect.errors import LabelsError
from ssdlite_detect.labels import (
    COCO_LABELS,
    UNUSED,
    check_labels_match,
    class_ids_for_names,
    read_labels,
    write_labels,
)

# COCO 2017 category ids that are not used (TFLite's labels files name them "???").
UNUSED_COCO_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)


# --- the built-in COCO labels --------------------------------------------------------------------


def test_coco_labels_has_background_plus_90_class_ids():
    assert len(COCO_LABELS) == 91
    assert COCO_LABELS[0] == UNUSED == "???"
    assert [i for i, label in enumerate(COCO_LABELS) if label == UNUSED] == [0, *UNUSED_COCO_IDS]
    used = [label for label in COCO_LABELS if label != UNUSED]
    assert len(used) == 80 and len(set(used)) == 80


def test_coco_labels_are_coco_2017_category_ids():
    # Spot checks against the COCO 2017 annotations' category ids.
    assert COCO_LABELS[1] == "person"
    assert COCO_LABELS[3] == "car"
    assert COCO_LABELS[6] == "bus"
    assert COCO_LABELS[13] == "stop sign"
    assert COCO_LABELS[44] == "bottle"
    assert COCO_LABELS[72] == "tv"
    assert COCO_LABELS[90] == "toothbrush"


def test_coco_labels_equal_the_reference_labels_file_line_by_line(reference):
    path = reference / "coco_labels.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 91
    for class_id, (ours, reference) in enumerate(zip(COCO_LABELS, lines)):
        assert ours == reference, f"class id {class_id}"
    assert read_labels(str(path)) == COCO_LABELS


# --- reading and writing labels files -------------------------------------------------------------


def test_write_then_read_round_trips_coco_labels(tmp_path):
    path = tmp_path / "nested" / "dir" / "labels.txt"
    write_labels(str(path))
    assert read_labels(str(path)) == COCO_LABELS
    data = path.read_bytes()
    assert data.endswith(b"toothbrush\n") and b"\r" not in data
    assert data.count(b"\n") == 91


def test_write_then_read_round_trips_custom_labels(tmp_path):
    labels = ("background", "Bücher", "traffic light", "???", "x")
    path = tmp_path / "custom.txt"
    write_labels(str(path), labels)
    assert read_labels(str(path)) == labels


def test_trailing_blank_lines_are_ignored(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("???\ncat\ndog\n\n   \n\n", encoding="utf-8")
    assert read_labels(str(path)) == ("???", "cat", "dog")


def test_missing_final_newline_and_crlf_line_ends_are_read(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"???\r\ncat\r\ndog")
    assert read_labels(str(path)) == ("???", "cat", "dog")


def test_blank_lines_inside_keep_class_ids_aligned(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("???\ncat\n\ndog\n", encoding="utf-8")
    labels = read_labels(str(path))
    assert labels == ("???", "cat", "", "dog")
    assert labels.index("dog") == 3


def test_surrounding_whitespace_is_stripped(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("???\n  cat \t\ntraffic light\n", encoding="utf-8")
    assert read_labels(str(path)) == ("???", "cat", "traffic light")


@pytest.mark.parametrize("content", [b"", b"\n", b"\n\n  \n"], ids=["empty", "one-newline", "blank-lines"])
def test_empty_labels_file_raises_labels_error(tmp_path, content):
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    with pytest.raises(LabelsError, match="empty") as raised:
        read_labels(str(path))
    assert str(path) in str(raised.value)


def test_missing_labels_file_raises_labels_error(tmp_path):
    path = tmp_path / "absent.txt"
    with pytest.raises(LabelsError, match="not found") as raised:
        read_labels(str(path))
    assert str(path) in str(raised.value)


def test_undecodable_labels_file_raises_labels_error(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"???\ncaf\xe9\n")  # Latin-1, not UTF-8
    with pytest.raises(LabelsError, match="cannot read") as raised:
        read_labels(str(path))
    assert str(path) in str(raised.value)


def test_directory_as_labels_file_raises_labels_error(tmp_path):
    with pytest.raises(LabelsError) as raised:
        read_labels(str(tmp_path))
    assert str(tmp_path) in str(raised.value)


def test_labels_errors_are_one_line(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(LabelsError) as raised:
        read_labels(str(path))
    assert "\n" not in str(raised.value)


# --- check_labels_match ---------------------------------------------------------------------------


def test_check_labels_match_accepts_one_label_per_class():
    check_labels_match(COCO_LABELS, 91, "coco_labels.txt")


@pytest.mark.parametrize("num_classes", [90, 92, 1])
def test_check_labels_match_rejects_a_different_count(num_classes):
    with pytest.raises(LabelsError) as raised:
        check_labels_match(COCO_LABELS, num_classes, "my_labels.txt")
    message = str(raised.value)
    assert "my_labels.txt" in message and "91" in message and str(num_classes) in message


# --- class_ids_for_names --------------------------------------------------------------------------


def test_class_ids_for_names_finds_coco_ids():
    assert class_ids_for_names(COCO_LABELS, ["person"]) == (1,)
    assert class_ids_for_names(COCO_LABELS, ["car", "person", "bus"]) == (1, 3, 6)


def test_class_ids_for_names_is_case_and_space_insensitive():
    assert class_ids_for_names(COCO_LABELS, ["PERSON", " Traffic Light ", "tV"]) == (1, 10, 72)


def test_class_ids_for_names_removes_duplicates():
    assert class_ids_for_names(COCO_LABELS, ["dog", "Dog", "dog"]) == (18,)


def test_class_ids_for_names_rejects_unknown_names_and_names_them():
    with pytest.raises(LabelsError) as raised:
        class_ids_for_names(COCO_LABELS, ["person", "unicorn", "dragon"])
    message = str(raised.value)
    assert "unicorn" in message and "dragon" in message and "person" not in message.split(":", 1)[1]


def test_class_ids_for_names_never_matches_unused_ids():
    with pytest.raises(LabelsError, match=r"\?\?\?"):
        class_ids_for_names(COCO_LABELS, ["???"])


def test_class_ids_for_names_never_matches_background():
    labels = ("background", "cat", "dog")
    assert class_ids_for_names(labels, ["cat"]) == (1,)
    with pytest.raises(LabelsError, match="background"):
        class_ids_for_names(labels, ["background"])


def test_class_ids_for_names_takes_the_first_of_duplicate_labels():
    assert class_ids_for_names(("???", "cat", "Cat", "dog"), ["CAT"]) == (1,)


def test_class_ids_for_names_with_no_names_is_empty():
    assert class_ids_for_names(COCO_LABELS, []) == ()


def test_a_byte_order_mark_is_not_part_of_the_first_label(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"\xef\xbb\xbf???\nperson\n")
    assert read_labels(str(path)) == ("???", "person")
