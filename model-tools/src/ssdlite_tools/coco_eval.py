"""COCO bbox mAP under the standard protocol, with pycocotools.

Protocol (as the TF Object Detection API evaluates ssdlite_mobilenet_v2_coco, and unlike the
reference recipe's evaluate.py, which drops detections below score 0.2 and so lowers mAP):
per-class NMS at IoU 0.6, at most 100 detections per image, a score threshold of 1e-8 (the
pipeline config's), boxes clipped to the image. The model's class id is the category id of the
annotations: for the COCO model the COCO 2017 id (TF OD API label map: 91 outputs, 0 =
background, 1..90 = COCO ids with gaps); for a retrained model the id of its label map, so its
evaluation set is a COCO-format annotation file whose categories are the label map's items.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from ssdlite_detect.decode import clip_boxes
from ssdlite_detect.labels import COCO_LABELS, UNUSED
from ssdlite_detect.postprocess import PostprocessConfig, RawDetections

from .errors import ToolsError

# ssdlite_mobilenet_v2_coco.config: batch_non_max_suppression { score_threshold: 1e-8
# iou_threshold: 0.6 max_detections_per_class: 100 max_total_detections: 100 }
EVALUATION_CONFIG = PostprocessConfig(
    score_threshold=1e-8, iou_threshold=0.6, max_detections=100, max_per_class=100, nms="class"
)

# COCOeval.stats, in order.
STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)
STAT_DESCRIPTIONS = {
    "AP": "AP @[IoU=0.50:0.95 | area=all | maxDets=100]",
    "AP50": "AP @[IoU=0.50 | area=all | maxDets=100]",
    "AP75": "AP @[IoU=0.75 | area=all | maxDets=100]",
    "AP_small": "AP @[IoU=0.50:0.95 | area=small | maxDets=100]",
    "AP_medium": "AP @[IoU=0.50:0.95 | area=medium | maxDets=100]",
    "AP_large": "AP @[IoU=0.50:0.95 | area=large | maxDets=100]",
    "AR1": "AR @[IoU=0.50:0.95 | area=all | maxDets=1]",
    "AR10": "AR @[IoU=0.50:0.95 | area=all | maxDets=10]",
    "AR100": "AR @[IoU=0.50:0.95 | area=all | maxDets=100]",
    "AR_small": "AR @[IoU=0.50:0.95 | area=small | maxDets=100]",
    "AR_medium": "AR @[IoU=0.50:0.95 | area=medium | maxDets=100]",
    "AR_large": "AR @[IoU=0.50:0.95 | area=large | maxDets=100]",
}


def _quietly():
    # pycocotools prints progress ("loading annotations into memory...") on stdout.
    return contextlib.redirect_stdout(io.StringIO())


def load_ground_truth(annotations: Path, labels: Sequence[str] = COCO_LABELS):
    """A pycocotools COCO object, checked to use the model's class ids (see module doc)."""
    from pycocotools.coco import COCO

    if not annotations.is_file():
        raise ToolsError(f"no COCO annotations at {annotations}")
    try:
        with _quietly():
            coco = COCO(str(annotations))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ToolsError(f"{annotations} is not a COCO instances file ({error})") from error
    check_category_ids(coco.loadCats(coco.getCatIds()), labels)
    return coco


def check_category_ids(categories: Sequence[Dict[str, object]], labels: Sequence[str] = COCO_LABELS) -> None:
    """Fail unless each category's id is the model class id of the same name (`labels`: line i
    names class id i).

    Evaluation reports model class id c as category c; this holds for COCO 2017 (ids 1..90 with
    gaps) with the TF OD API label map, and for a retrained model's label map; the check catches
    annotation files that renumber.
    """
    coco = tuple(labels) == COCO_LABELS
    for category in categories:
        category_id = int(category["id"])
        name = str(category["name"])
        if not 0 < category_id < len(labels) or labels[category_id] in (UNUSED, ""):
            raise ToolsError(f"category {category_id} ({name}) is not a class of the model (1..{len(labels) - 1})")
        if labels[category_id] != name:
            expected_ids = "COCO 2017 category ids" if coco else "the label map's ids"
            raise ToolsError(
                f"category {category_id} is {name!r} but model class {category_id} is {labels[category_id]!r}: "
                f"the annotations do not use {expected_ids}"
            )


def to_coco_results(image_id: int, detections: RawDetections, width: int, height: int) -> List[Dict[str, object]]:
    """COCO result records ([x, y, w, h] in pixels of the original image) for one image."""
    boxes = clip_boxes(np.asarray(detections.boxes, dtype=np.float64))
    results = []
    for (ymin, xmin, ymax, xmax), class_id, score in zip(boxes, detections.class_ids, detections.scores, strict=True):
        results.append(
            {
                "image_id": int(image_id),
                "category_id": int(class_id),
                "bbox": [
                    round(float(xmin) * width, 3),
                    round(float(ymin) * height, 3),
                    round(float(xmax - xmin) * width, 3),
                    round(float(ymax - ymin) * height, 3),
                ],
                "score": round(float(score), 6),
            }
        )
    return results


@dataclass(frozen=True)
class CocoMetrics:
    stats: Dict[str, float]
    image_count: int
    detection_count: int

    def as_dict(self) -> Dict[str, object]:
        return {"stats": self.stats, "image_count": self.image_count, "detection_count": self.detection_count}


def evaluate_results(coco_gt, results: List[Dict[str, object]], image_ids: Sequence[int]) -> CocoMetrics:
    """COCOeval bbox on `image_ids` only (so a --limit subset is scored against its own images)."""
    from pycocotools.cocoeval import COCOeval

    image_ids = sorted(int(i) for i in image_ids)
    if not results:
        # loadRes() rejects an empty list; no detections means AP 0 wherever there is ground truth.
        return CocoMetrics({name: 0.0 for name in STAT_NAMES}, len(image_ids), 0)
    with _quietly():
        coco_dt = coco_gt.loadRes(results)
        evaluation = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluation.params.imgIds = image_ids
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # COCOeval reports -1 where a statistic has no ground truth (e.g. no small objects in a subset).
    stats = {name: float(value) for name, value in zip(STAT_NAMES, evaluation.stats, strict=True)}
    return CocoMetrics(stats, len(image_ids), len(results))
