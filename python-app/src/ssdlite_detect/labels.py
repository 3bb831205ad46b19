"""Class labels: the COCO label map of the TF Object Detection API, and labels files.

Line/index i is the name of class id i of the model's class output, which for TF OD API COCO
models equals the COCO 2017 category id. Index 0 is background; ids COCO 2017 does not use are
"???" (the convention of TFLite's COCO labels files).
"""
from __future__ import annotations

import errno
import os
from typing import Sequence, Tuple

from .errors import LabelsError
from .files import UserFileError, read_small_text

UNUSED = "???"

COCO_LABELS: Tuple[str, ...] = (
    UNUSED, "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", UNUSED, "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", UNUSED, "backpack",
    "umbrella", UNUSED, UNUSED, "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", UNUSED, "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", UNUSED, "dining table", UNUSED, UNUSED,
    "toilet", UNUSED, "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave",
    "oven", "toaster", "sink", "refrigerator", UNUSED, "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)


def read_labels(path: str) -> Tuple[str, ...]:
    """One label per line; line i names class id i. Trailing empty lines are ignored."""
    try:
        lines = read_small_text(path, encoding="utf-8-sig").splitlines()  # tolerate a BOM
    except UserFileError as error:
        if error.errno == errno.ENOENT:
            raise LabelsError(f"labels file not found: {path}") from None
        raise LabelsError(f"cannot read labels file {path}: {error}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise LabelsError(f"labels file is empty: {path}")
    return tuple(line.strip() for line in lines)


def write_labels(path: str, labels: Sequence[str] = COCO_LABELS) -> None:
    """Write a labels file that read_labels reads back unchanged."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(f"{label}\n" for label in labels))


def check_labels_match(labels: Sequence[str], num_classes: int, source: str) -> None:
    """The model's class output has `num_classes` columns (background included)."""
    if len(labels) != num_classes:
        raise LabelsError(
            f"{source} has {len(labels)} labels but the model outputs {num_classes} classes "
            "(one line per class, background first)"
        )


def class_ids_for_names(labels: Sequence[str], names: Sequence[str]) -> Tuple[int, ...]:
    """Class ids of the given label names (case-insensitive); unknown names are an error."""
    by_name = {}
    for class_id, label in enumerate(labels):
        if class_id > 0 and label != UNUSED:
            by_name.setdefault(label.lower(), class_id)
    unknown = [name for name in names if name.strip().lower() not in by_name]
    if unknown:
        raise LabelsError(f"unknown class name(s): {', '.join(unknown)} (see the labels file)")
    return tuple(sorted({by_name[name.strip().lower()] for name in names}))
