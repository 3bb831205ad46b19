"""Class-score conversion, and reading a quantised score output without dequantising all of it.

SSD heads output one logit per class with class 0 = background; the TF OD API converts them with
the pipeline config's score_converter: SIGMOID (the COCO model's) or SOFTMAX over all classes,
background included, after dividing by logit_scale. A model's description (model_description.py)
says which; without one, some exported models (TFLite's own SSDs) already end in a LOGISTIC op,
so their class output is a probability: `infer_score_kind` tells the two apart from the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

LOGITS = "logits"  # sigmoid of each value
PROBABILITIES = "probabilities"  # already scores (score_converter IDENTITY, or a LOGISTIC op)
SOFTMAX = "softmax"  # softmax over each anchor's row of logits
SCORE_KINDS = (LOGITS, PROBABILITIES, SOFTMAX)
# post_processing.score_converter of a TF OD API pipeline config -> how the app converts.
KIND_OF_SCORE_CONVERTER = {"SIGMOID": LOGITS, "SOFTMAX": SOFTMAX, "IDENTITY": PROBABILITIES}

# Name fragments of tensors that are already probabilities (TFLite's SSD export calls the
# LOGISTIC output "convert_scores"; converters name sigmoid outputs "Logistic"/"Sigmoid").
_PROBABILITY_NAME_HINTS = ("convert_scores", "logistic", "sigmoid", "scores")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Logistic function, returned in float32; stable for large |x|."""
    # float64 inside: numpy's vectorised float32 exp can differ by an ulp between array and scalar
    # calls, which would make thresholds found on scalars disagree with per-frame arrays.
    # exp of a non-positive number never overflows, and e/(1+e) keeps precision for tiny
    # probabilities (1e-8 thresholds), where 1 - something would cancel.
    logits = np.asarray(logits, dtype=np.float64)
    decay = np.exp(-np.abs(logits))
    return np.where(logits >= 0, 1.0 / (1.0 + decay), decay / (1.0 + decay)).astype(np.float32, copy=False)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, returned in float32 (float64 inside, max subtracted: no overflow)."""
    logits = np.asarray(logits, dtype=np.float64)
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (exponentials / exponentials.sum(axis=-1, keepdims=True)).astype(np.float32, copy=False)


def infer_score_kind(name: str, dtype: np.dtype, quantization: Optional[Tuple[float, int]]) -> str:
    """Decide whether a class-score tensor holds logits or probabilities.

    A quantised tensor whose representable range is exactly [0, 1) (scale 1/256 with zero point
    at the bottom of the type) can only be a probability: TFLite forces that quantisation on
    LOGISTIC outputs. Otherwise the tensor name decides; raw SSD heads (`concat_1`) are logits.
    """
    if quantization is not None and quantization[0] > 0:
        scale, zero_point = quantization
        lowest = int(np.iinfo(np.dtype(dtype)).min)
        if abs(scale - 1.0 / 256.0) < 1e-9 and zero_point == lowest:
            return PROBABILITIES
        return LOGITS
    lowered = name.lower()
    if any(hint in lowered for hint in _PROBABILITY_NAME_HINTS):
        return PROBABILITIES
    return LOGITS


_FLOAT32_INF_BITS = 0x7F800000


def _float32_from_key(key: int) -> np.float32:
    """Order-preserving map from integers to float32: key -bits(x) is -x, key bits(x) is x."""
    bits = key if key >= 0 else (-key) | 0x80000000
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


def _smallest_float32_where(predicate) -> np.float32:
    """Smallest float32 x (from -inf to +inf) with predicate(x) true, for a monotonic predicate
    that holds at +inf: a binary search over the 2^32 float32 values (32 steps)."""
    low, high = -_FLOAT32_INF_BITS, _FLOAT32_INF_BITS
    while low < high:
        middle = (low + high) // 2
        if predicate(_float32_from_key(middle)):
            high = middle
        else:
            low = middle + 1
    return _float32_from_key(low)


@dataclass(frozen=True)
class ScoreDecoder:
    """Turns raw class-output values (quantised or float, logits or probabilities) into probabilities.

    Comparisons happen on the raw values: dequantisation and the sigmoid are monotonic, so a
    probability threshold maps to one raw threshold and the best class of an anchor is the best
    raw value. Only the few values that survive are converted. A softmax score depends on the
    whole row, so SOFTMAX rows are converted first (SSDPostprocessor does) and thresholded as
    probabilities.
    """

    kind: str = LOGITS
    quantization: Optional[Tuple[float, int]] = None  # (scale, zero_point) when the output is integer
    dtype: np.dtype = np.dtype(np.float32)
    logit_scale: float = 1.0  # post_processing.logit_scale: logits are divided by it first

    def to_probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Scores of raw values; for SOFTMAX, `raw` must hold whole rows (all classes of an anchor)."""
        values = np.asarray(raw)
        if self.quantization is not None:
            scale, zero_point = self.quantization
            # float32 arithmetic, as TFLite's own dequantisation.
            values = (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
        else:
            values = values.astype(np.float32, copy=False)
        if self.kind == PROBABILITIES:
            return values
        if self.logit_scale != 1.0:
            values = values / np.float32(self.logit_scale)
        return sigmoid(values) if self.kind == LOGITS else softmax(values)

    def raw_threshold(self, probability: float):
        """Smallest raw value whose probability is >= `probability` (a scalar of the raw dtype or float)."""
        if self.kind == SOFTMAX:
            raise ValueError("a softmax score depends on the whole row: threshold the converted rows")
        if self.quantization is None:
            target = np.float32(probability)
            if self.kind == PROBABILITIES:
                return target
            # float32 sigmoid is flat near 0 and 1, so invert it by search, not by a logit formula.
            return _smallest_float32_where(lambda x: self.to_probabilities(x) >= target)
        info = np.iinfo(self.dtype)
        every_value = np.arange(info.min, info.max + 1, dtype=np.int64).astype(self.dtype)
        passing = np.nonzero(self.to_probabilities(every_value) >= np.float32(probability))[0]
        if passing.size == 0:
            return None  # no raw value can reach the threshold: nothing passes
        return every_value[passing[0]]
