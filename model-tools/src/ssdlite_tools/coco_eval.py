"""COCO bbox mAP under the standard protocol, with pycocotools.

Protocol (as the TF Object Detection API evaluates ssdlite_mobilenet_v2_coco, and unlike the
reference recipe's evaluate.py, which drops detections below score 0.2 and so lowers mAP):
per-class NMS at IoU 0.6, at most 100 detections per image, a score threshold of 1e-8 (the
pipeline config's), boxes clipped to the image. The model's class id is the category id of the
annotations: for the COCO model the COCO 2017 id (TF OD API label map: 91 outputs, 0 =
background, 1..90 = COCO ids with gaps); for a retrained model the id of its label map. The
ground truth is built that way by datasets.py, which maps any dataset's classes to those ids by
name. Per-class AP and AP50 come from COCOeval's precision array as summarize() computes AP.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

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
class ClassAP:
    """One category's AP@[.5:.95] and AP@.5 (None where the images hold no object of it)."""

    name: str
    objects: int  # ground-truth boxes of it in the evaluated images, not counting crowd/ignored
    ap: Optional[float]
    ap50: Optional[float]

    def as_dict(self) -> Dict[str, object]:
        return {"objects": self.objects, "AP": self.ap, "AP50": self.ap50}


@dataclass(frozen=True)
class CocoMetrics:
    stats: Dict[str, float]
    image_count: int
    detection_count: int
    per_class: Dict[int, ClassAP] = field(default_factory=dict)  # category id -> its AP

    def as_dict(self) -> Dict[str, object]:
        return {
            "stats": self.stats,
            "image_count": self.image_count,
            "detection_count": self.detection_count,
            "per_class": {ap.name: {"category_id": i, **ap.as_dict()} for i, ap in self.per_class.items()},
        }


def _mean_valid(values: np.ndarray) -> Optional[float]:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else None


def per_class_ap(
    precision: np.ndarray, iou_thresholds: Sequence[float]
) -> List[Tuple[Optional[float], Optional[float]]]:
    """(AP, AP50) of each category from COCOeval.eval["precision"] [T, R, K, A, M], as
    COCOeval.summarize computes AP for all categories together: area "all" (index 0), the last
    maxDets (100), mean over the entries > -1 (-1: no ground truth); here per category k."""
    (iou50,) = np.flatnonzero(np.isclose(np.asarray(iou_thresholds), 0.5))
    return [
        (_mean_valid(precision[:, :, k, 0, -1]), _mean_valid(precision[iou50, :, k, 0, -1]))
        for k in range(precision.shape[2])
    ]


def _object_counts(coco_gt, image_ids: Sequence[int]) -> Dict[int, int]:
    counts = {category_id: 0 for category_id in coco_gt.getCatIds()}
    for annotation in coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=list(image_ids), iscrowd=False)):
        counts[annotation["category_id"]] += 1
    return counts


def evaluate_results(coco_gt, results: List[Dict[str, object]], image_ids: Sequence[int]) -> CocoMetrics:
    """COCOeval bbox on `image_ids` only (so a --limit subset is scored against its own images)."""
    from pycocotools.cocoeval import COCOeval

    image_ids = sorted(int(i) for i in image_ids)
    counts = _object_counts(coco_gt, image_ids)
    names = {c["id"]: str(c["name"]) for c in coco_gt.loadCats(coco_gt.getCatIds())}
    if not results:
        # loadRes() rejects an empty list; no detections means AP 0 wherever there is ground truth.
        per_class = {i: ClassAP(names[i], n, 0.0 if n else None, 0.0 if n else None) for i, n in counts.items()}
        return CocoMetrics({name: 0.0 for name in STAT_NAMES}, len(image_ids), 0, per_class)
    with _quietly():
        coco_dt = coco_gt.loadRes(results)
        evaluation = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluation.params.imgIds = image_ids
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # COCOeval reports -1 where a statistic has no ground truth (e.g. no small objects in a subset).
    stats = {name: float(value) for name, value in zip(STAT_NAMES, evaluation.stats, strict=True)}
    values = per_class_ap(evaluation.eval["precision"], evaluation.params.iouThrs)
    per_class = {
        int(i): ClassAP(names[int(i)], counts[int(i)], ap, ap50)
        for i, (ap, ap50) in zip(evaluation.params.catIds, values, strict=True)
    }
    return CocoMetrics(stats, len(image_ids), len(results), per_class)
