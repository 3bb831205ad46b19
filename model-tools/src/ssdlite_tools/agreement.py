"""How closely the int8 model follows the float model: raw outputs and decoded detections.

Quantisation error shows first in the raw outputs (correlation, signal-to-noise ratio), but what a
user sees are detections; a model can have a decent SNR and still lose the few anchors that matter.
So both are measured, on images that calibration never saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List

import numpy as np
from ssdlite_detect.nms import iou_matrix
from ssdlite_detect.postprocess import RawDetections


@dataclass(frozen=True)
class RawAgreement:
    """Test output vs reference output, over all their elements."""

    pearson: float
    snr_db: float  # 10 log10(sum ref^2 / sum (test - ref)^2); inf when identical
    max_abs_error: float

    def as_dict(self) -> Dict[str, float]:
        return dict(self.__dict__)


def raw_agreement(reference: np.ndarray, test: np.ndarray) -> RawAgreement:
    reference = np.asarray(reference, dtype=np.float64).ravel()
    test = np.asarray(test, dtype=np.float64).ravel()
    if reference.shape != test.shape:
        raise ValueError(f"outputs differ in size: {reference.size} vs {test.size}")
    error = test - reference
    noise = float(np.sum(error**2))
    signal = float(np.sum(reference**2))
    snr_db = float("inf") if noise == 0 else (10 * np.log10(signal / noise) if signal > 0 else float("-inf"))
    if noise == 0:
        pearson = 1.0  # identical (also when constant, where correlation is otherwise undefined)
    elif reference.std() == 0 or test.std() == 0:
        pearson = 0.0
    else:
        pearson = float(np.corrcoef(reference, test)[0, 1])
    return RawAgreement(pearson, float(snr_db), float(np.max(np.abs(error))) if error.size else 0.0)


@dataclass(frozen=True)
class DetectionAgreement:
    """Greedy one-to-one matching of test detections to reference detections of the same class."""

    reference_count: int
    test_count: int
    matched: int
    mean_iou: float  # over matched pairs; nan when nothing matched
    mean_abs_score_diff: float  # over matched pairs; nan when nothing matched
    max_abs_score_diff: float

    @property
    def recall(self) -> float:
        """Share of the reference's detections that the test model reproduces (1.0 if none to find)."""
        return self.matched / self.reference_count if self.reference_count else 1.0

    @property
    def precision(self) -> float:
        """Share of the test model's detections that the reference also has (1.0 if it found none)."""
        return self.matched / self.test_count if self.test_count else 1.0

    def as_dict(self) -> Dict[str, float]:
        values = dict(self.__dict__)
        values.update(recall=self.recall, precision=self.precision)
        return values


def match_detections(reference: RawDetections, test: RawDetections, iou_threshold: float = 0.5) -> DetectionAgreement:
    """Match each reference detection (best score first) to the unmatched test detection of the
    same class with the highest IoU, if that IoU is at least `iou_threshold` (COCO's AP50 rule)."""
    n_ref, n_test = len(reference), len(test)
    if n_ref == 0 or n_test == 0:
        return DetectionAgreement(n_ref, n_test, 0, float("nan"), float("nan"), float("nan"))
    ious = iou_matrix(np.asarray(reference.boxes, np.float32), np.asarray(test.boxes, np.float32))
    same_class = np.asarray(reference.class_ids)[:, None] == np.asarray(test.class_ids)[None, :]
    ious = np.where(same_class, ious, -1.0)
    taken = np.zeros(n_test, dtype=bool)
    matched_iou: List[float] = []
    score_diffs: List[float] = []
    for ref_index in np.argsort(-np.asarray(reference.scores), kind="stable"):
        candidates = np.where(taken, -1.0, ious[ref_index])
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_threshold:
            taken[best] = True
            matched_iou.append(float(candidates[best]))
            score_diffs.append(abs(float(reference.scores[ref_index]) - float(test.scores[best])))
    if not matched_iou:
        return DetectionAgreement(n_ref, n_test, 0, float("nan"), float("nan"), float("nan"))
    return DetectionAgreement(
        n_ref,
        n_test,
        len(matched_iou),
        float(np.mean(matched_iou)),
        float(np.mean(score_diffs)),
        float(np.max(score_diffs)),
    )


def combine(agreements: Iterable[DetectionAgreement]) -> DetectionAgreement:
    """Pool per-image matchings into one (means weighted by matched pairs)."""
    agreements = list(agreements)
    matched = sum(a.matched for a in agreements)
    with_matches = [a for a in agreements if a.matched]
    return DetectionAgreement(
        reference_count=sum(a.reference_count for a in agreements),
        test_count=sum(a.test_count for a in agreements),
        matched=matched,
        mean_iou=float(sum(a.mean_iou * a.matched for a in with_matches) / matched) if matched else float("nan"),
        mean_abs_score_diff=(
            float(sum(a.mean_abs_score_diff * a.matched for a in with_matches) / matched) if matched else float("nan")
        ),
        max_abs_score_diff=max((a.max_abs_score_diff for a in with_matches), default=float("nan")),
    )
