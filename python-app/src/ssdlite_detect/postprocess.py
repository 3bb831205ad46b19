"""From raw SSD outputs to detections: score threshold, box decoding and NMS, as pure numpy.

Two NMS modes:
- "class" (per-class NMS, the TF Object Detection API pipeline default and what COCO evaluation
  uses): every (anchor, class) pair above the threshold is a candidate; boxes of one class
  suppress each other; at most `max_per_class` per class and `max_detections` in all.
- "agnostic" (TFLite_Detection_PostProcess's fast NMS): each anchor votes once with its best
  non-background class; boxes suppress each other whatever their class.

Raw outputs may be quantised: the threshold and the per-anchor best class are computed on the raw
integers (see scores.ScoreDecoder); only the boxes and scores of candidates are dequantised.

A LowBand adds, below the threshold, the candidates near given boxes: what a tracker's second
association can use (ByteTrack pairs a tracked object with a low-score box over it), without
running NMS on every low-score candidate in the frame (analytics/stage.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .decode import SSD_BOX_CODER_SCALES, BoxCoderScales, clip_boxes, decode_boxes
from .nms import iou_matrix, non_max_suppression_with_boxes
from .scores import PROBABILITIES, SOFTMAX, ScoreDecoder

NMS_MODES = ("class", "agnostic")


@dataclass(frozen=True)
class PostprocessConfig:
    """Thresholds and limits. Defaults are the ssdlite_mobilenet_v2_coco pipeline's, with a score
    threshold for applications (COCO evaluation uses a tiny one)."""

    score_threshold: float = 0.5
    iou_threshold: float = 0.6
    max_detections: int = 100
    max_per_class: int = 100
    nms: str = "class"
    # Allow list of model class ids (columns of the class output; 0 is background). None = all.
    class_ids: Optional[Tuple[int, ...]] = None

    def __post_init__(self):
        if self.nms not in NMS_MODES:
            raise ValueError(f"nms must be one of {NMS_MODES}, not {self.nms!r}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], not {self.score_threshold}")
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], not {self.iou_threshold}")
        if self.max_detections < 0 or self.max_per_class < 0:
            raise ValueError("max_detections and max_per_class must be >= 0")


@dataclass(frozen=True)
class LowBand:
    """Candidates from `score_threshold` up to the post-processor's threshold that also take part
    in NMS: those of a box's class whose box, clipped to the image, has IoU >= min_iou with it,
    and those NMS needs to decide on them (SSDPostprocessor._in_band).

    boxes: [T, 4] normalised (ymin, xmin, ymax, xmax) (a tracker's predicted boxes); class_ids:
    [T] model class ids. The candidates above the threshold come out exactly as without a band
    (their NMS never looks lower), the ones near the band's boxes as with NMS on every candidate
    from score_threshold up (unless that reaches max_detections or max_per_class)."""

    score_threshold: float
    boxes: np.ndarray
    class_ids: np.ndarray
    min_iou: float


@dataclass(frozen=True)
class RawDetections:
    """Detections as arrays, best first. Boxes are normalised (ymin, xmin, ymax, xmax), unclipped;
    class ids are columns of the model's class output (COCO: 1..90, equal to COCO category ids)."""

    boxes: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def _flat_above(scores: np.ndarray, threshold, first_column: int = 0) -> np.ndarray:
    """Flat indices into the 2-D `scores` of the values >= threshold, columns before first_column
    left out, in row-major order."""
    mask = scores >= threshold
    if first_column:
        mask[:, :first_column] = False
    return mask.reshape(-1).nonzero()[0]


def _above(scores: np.ndarray, threshold, first_column: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """np.nonzero(scores[:, first_column:] >= threshold): (rows, columns of that slice), in
    np.nonzero's row-major order.

    Measured on the 1917 x 91 COCO scores: np.nonzero of a 2-D mask costs 0.3 ms, the compare on
    the column slice (a strided view) 0.04 ms; comparing the whole contiguous array (0.004 ms),
    clearing the columns before first_column and np.flatnonzero of the flat mask (0.04 ms), then
    splitting the flat indices, gives the same pairs in a fifth of the time."""
    rows, columns = np.divmod(_flat_above(scores, threshold, first_column), scores.shape[1])
    return rows, columns - first_column


def _merge(candidates: np.ndarray, band: np.ndarray) -> np.ndarray:
    """The candidates above the threshold and the band's (disjoint) in one increasing index
    array: NMS visits equal scores in index order."""
    return np.sort(np.concatenate((candidates, band))) if band.size else candidates


def _one_byte(dtype) -> bool:
    dtype = np.dtype(dtype)
    return dtype.itemsize == 1 and dtype.kind in "iu"


def _by_byte(dtype, convert) -> np.ndarray:
    """convert() of every value of a one-byte integer dtype, indexed by the value's byte (uint8)."""
    every_value = np.arange(256, dtype=np.uint8).view(np.dtype(dtype))
    return convert(every_value)


def _empty() -> RawDetections:
    return RawDetections(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))


class SSDPostprocessor:
    """Decodes one image's raw outputs. Build once per model; call per frame.

    box_encodings: [N, 4] (ty, tx, th, tw), float or quantised with `box_quantization`;
    class_scores: [N, C] with column 0 = background, raw as the model outputs them.
    """

    def __init__(
        self,
        anchors: np.ndarray,
        config: PostprocessConfig = PostprocessConfig(),
        score_decoder: ScoreDecoder = ScoreDecoder(),
        box_quantization: Optional[Tuple[float, int]] = None,
        box_coder_scales: BoxCoderScales = SSD_BOX_CODER_SCALES,
    ):
        self.anchors = np.asarray(anchors, dtype=np.float32)
        self._anchors_float64 = self.anchors.astype(np.float64)  # decode_boxes computes in float64
        self.config = config
        self.score_decoder = score_decoder
        self.box_quantization = box_quantization
        self.box_coder_scales = box_coder_scales
        # Softmax rows are converted before thresholding; their scores are then probabilities.
        self._threshold_decoder = ScoreDecoder(kind=PROBABILITIES) if score_decoder.kind == SOFTMAX else score_decoder
        self.raw_threshold = self._threshold_decoder.raw_threshold(config.score_threshold)
        # One-byte outputs (the int8 and uint8 models): what each of the 256 raw values stands
        # for, computed once by the same functions and looked up per frame: one call instead of
        # a dozen numpy calls, each of which costs more than its work on a frame's few candidates.
        self._box_values = {}  # dtype of the encodings -> their 256 dequantised values
        decoder = self._threshold_decoder
        self._score_values = None
        if decoder.quantization is not None and _one_byte(decoder.dtype):
            self._score_values = _by_byte(decoder.dtype, decoder.to_probabilities)
        self._columns = {}  # number of classes -> np.arange(1, classes)
        self._band_raw_thresholds = {}  # LowBand.score_threshold -> its raw threshold
        self._every_column = {}  # number of classes -> the class id of each column (_all_columns)

    def _all_columns(self, count: int) -> np.ndarray:
        """The class id of each of the class output's `count` columns: k for column k, and -1 for
        column 0, the background, which no band's class id names."""
        every = self._every_column.get(count)
        if every is None:
            every = self._every_column[count] = np.arange(count)
            every[0] = -1
        return every

    def _dequantize_boxes(self, encodings: np.ndarray) -> np.ndarray:
        scale, zero_point = self.box_quantization
        return (encodings.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)

    def _decode(self, box_encodings: np.ndarray, anchor_indices: np.ndarray) -> np.ndarray:
        encodings = box_encodings[anchor_indices]
        if self.box_quantization is not None:
            if _one_byte(encodings.dtype):
                values = self._box_values.get(encodings.dtype)
                if values is None:
                    values = self._box_values[encodings.dtype] = _by_byte(encodings.dtype, self._dequantize_boxes)
                encodings = values[encodings.view(np.uint8)]
            else:
                encodings = self._dequantize_boxes(encodings)
        return decode_boxes(encodings, self._anchors_float64[anchor_indices], self.box_coder_scales)

    def _probabilities(self, raw: np.ndarray) -> np.ndarray:
        """The scores of raw class-output values (those of the kept detections)."""
        if self._score_values is not None and raw.dtype == self._threshold_decoder.dtype:
            return self._score_values[raw.view(np.uint8)]
        return self._threshold_decoder.to_probabilities(raw)

    def _band_raw_threshold(self, band: Optional[LowBand]):
        """The raw value from which the band starts, None when it is empty (no box, or its
        threshold not below the post-processor's)."""
        if band is None or len(band.class_ids) == 0:
            return None
        if band.score_threshold not in self._band_raw_thresholds:
            self._band_raw_thresholds[band.score_threshold] = self._threshold_decoder.raw_threshold(band.score_threshold)
        low = self._band_raw_thresholds[band.score_threshold]
        return None if low is None or low >= self.raw_threshold else low

    def _in_band(self, box_encodings: np.ndarray, anchors: np.ndarray, class_ids: np.ndarray, raw_scores: np.ndarray,
                 order: np.ndarray, band: LowBand, per_class: bool) -> np.ndarray:
        """[len(anchors)] bool: which of the band's candidates (anchor, class id, raw score, and
        their position in NMS's order of equal scores) take part in NMS.

        Those whose box, clipped, has IoU >= band.min_iou with a band box of their class; then
        every candidate that NMS could let suppress one of those (earlier in its order, IoU above
        its threshold, and of the same class unless agnostic), and so on until none is added: so
        whether NMS keeps a near candidate is what it would be with every candidate (the
        candidates above the threshold are all there anyway)."""
        if anchors.size == 0:
            return np.zeros(0, dtype=bool)
        boxes = np.asarray(self._decode(box_encodings, anchors), dtype=np.float32)  # NMS's boxes
        near = iou_matrix(clip_boxes(boxes), np.asarray(band.boxes, np.float32).reshape(-1, 4)) >= np.float32(band.min_iou)
        near &= class_ids[:, None] == np.asarray(band.class_ids)[None, :]
        chosen = near.any(axis=1)
        threshold = np.float32(self.config.iou_threshold)
        added = np.flatnonzero(chosen)
        while added.size:
            rest = np.flatnonzero(~chosen)
            if rest.size == 0:
                break
            suppressing = iou_matrix(boxes[rest], boxes[added]) > threshold
            if per_class:
                suppressing &= class_ids[rest][:, None] == class_ids[added][None, :]
            rest_scores, added_scores = raw_scores[rest][:, None], raw_scores[added][None, :]
            suppressing &= (rest_scores > added_scores) | ((rest_scores == added_scores) & (order[rest][:, None] < order[added][None, :]))
            added = rest[suppressing.any(axis=1)]
            chosen[added] = True
        return chosen

    def _band_candidates(self, box_encodings: np.ndarray, scores: np.ndarray, column_classes: np.ndarray,
                   band: Optional[LowBand]) -> np.ndarray:
        """Flat (row-major) indices into the 2-D `scores` (anchors x columns, column k standing
        for class column_classes[k]) of the band's candidates that take part in NMS (_in_band):
        raw score from the band's raw threshold up to (not including) this one."""
        low = self._band_raw_threshold(band)
        if low is None:
            return np.zeros(0, np.int64)
        wanted = set(np.asarray(band.class_ids).tolist())  # a few classes: cheaper than np.isin's machinery
        columns = np.array([k for k, class_id in enumerate(column_classes.tolist()) if class_id in wanted], dtype=np.int64)
        if columns.size == 0:
            return np.zeros(0, np.int64)
        in_band = scores[:, columns]
        in_band = (in_band >= low) & (in_band < self.raw_threshold)
        anchors, positions = np.divmod(np.flatnonzero(in_band), columns.size)
        flat = anchors * scores.shape[1] + columns[positions]
        chosen = self._in_band(box_encodings, anchors, column_classes[columns[positions]], scores.reshape(-1)[flat], flat,
                               band, per_class=True)
        return flat[chosen]

    def __call__(self, box_encodings: np.ndarray, class_scores: np.ndarray,
                 low_band: Optional[LowBand] = None) -> RawDetections:
        box_encodings = np.asarray(box_encodings).reshape(-1, 4)
        num_anchors = self.anchors.shape[0]
        class_scores = np.asarray(class_scores).reshape(num_anchors, -1)
        if box_encodings.shape[0] != num_anchors:
            raise ValueError(f"{box_encodings.shape[0]} box encodings for {num_anchors} anchors")
        if self.raw_threshold is None or self.config.max_detections == 0:
            return _empty()
        if self.score_decoder.kind == SOFTMAX:
            class_scores = self.score_decoder.to_probabilities(class_scores)
        config = self.config
        columns = self._columns.get(class_scores.shape[1])
        if columns is None:
            columns = self._columns[class_scores.shape[1]] = np.arange(1, class_scores.shape[1])
        if config.class_ids is not None:
            columns = np.array(sorted(c for c in set(config.class_ids) if 0 < c < class_scores.shape[1]), dtype=np.int64)
            if columns.size == 0:
                return _empty()
        # A contiguous slice is a view; an allow list costs one gather.
        every_class = columns.size == class_scores.shape[1] - 1
        foreground = class_scores[:, 1:] if every_class else class_scores[:, columns]

        if config.nms == "agnostic":
            best_raw = foreground.max(axis=1)
            anchors = np.flatnonzero(best_raw >= self.raw_threshold)
            low = self._band_raw_threshold(low_band)
            if low is not None:
                # An anchor votes with its best class, so the band's candidates are anchors.
                in_band = np.flatnonzero((best_raw >= low) & (best_raw < self.raw_threshold))
                in_band_classes = columns[foreground[in_band].argmax(axis=1)]
                chosen = self._in_band(box_encodings, in_band, in_band_classes, best_raw[in_band], in_band, low_band,
                                       per_class=False)
                anchors = _merge(anchors, in_band[chosen])
            if anchors.size == 0:
                return _empty()
            kept, kept_boxes = non_max_suppression_with_boxes(
                lambda candidates: self._decode(box_encodings, anchors[candidates]),
                best_raw[anchors],
                config.iou_threshold,
                config.max_detections,
            )
            kept_anchors = anchors[kept]
            # The best class of each kept anchor only (ties: lowest class id, like TFLite's op).
            kept_columns = columns[foreground[kept_anchors].argmax(axis=1)]
        elif every_class:
            # The whole (contiguous) array with the background column left out: the flat indices
            # give the candidates' raw scores in one gather, and their columns are the class ids,
            # the NMS's groups as they are.
            flat = _flat_above(class_scores, self.raw_threshold, first_column=1)
            if low_band is not None:
                flat = _merge(flat, self._band_candidates(box_encodings, class_scores, self._all_columns(class_scores.shape[1]),
                                                          low_band))
            if flat.size == 0:
                return _empty()
            anchors, candidate_columns = np.divmod(flat, class_scores.shape[1])
            candidate_scores = class_scores.reshape(-1)[flat]
            kept, kept_boxes = non_max_suppression_with_boxes(
                lambda candidates: self._decode(box_encodings, anchors[candidates]),
                candidate_scores,
                config.iou_threshold,
                config.max_detections,
                groups=candidate_columns,
                max_per_group=config.max_per_class,
            )
            return RawDetections(kept_boxes, candidate_columns[kept].astype(np.int64, copy=False),
                                 self._probabilities(candidate_scores[kept]))
        else:
            anchors, column_positions = _above(foreground, self.raw_threshold)
            if low_band is not None:
                in_band = self._band_candidates(box_encodings, foreground, columns, low_band)
                if in_band.size:
                    flat = _merge(anchors * foreground.shape[1] + column_positions, in_band)
                    anchors, column_positions = np.divmod(flat, foreground.shape[1])
            if anchors.size == 0:
                return _empty()
            kept, kept_boxes = non_max_suppression_with_boxes(
                lambda candidates: self._decode(box_encodings, anchors[candidates]),
                foreground[anchors, column_positions],
                config.iou_threshold,
                config.max_detections,
                groups=column_positions,
                max_per_group=config.max_per_class,
            )
            kept_anchors = anchors[kept]
            kept_columns = columns[column_positions[kept]]
        scores = self._probabilities(class_scores[kept_anchors, kept_columns])
        return RawDetections(kept_boxes, kept_columns.astype(np.int64), scores)


def postprocess(
    boxes: np.ndarray, class_probabilities: np.ndarray, config: PostprocessConfig = PostprocessConfig(),
    low_band: Optional[LowBand] = None,
) -> RawDetections:
    """Threshold + NMS on already decoded boxes [N, 4] and float probabilities [N, C] (column 0 =
    background): for callers that decode themselves. Same semantics as SSDPostprocessor."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    processor = _DecodedBoxesPostprocessor(boxes.shape[0], config)
    return processor(boxes, class_probabilities, low_band)


class _DecodedBoxesPostprocessor(SSDPostprocessor):
    """SSDPostprocessor whose "encodings" are already decoded boxes."""

    def __init__(self, num_boxes: int, config: PostprocessConfig):
        super().__init__(np.zeros((num_boxes, 4), np.float32), config, ScoreDecoder(kind=PROBABILITIES))

    def _decode(self, boxes: np.ndarray, anchor_indices: np.ndarray) -> np.ndarray:
        return boxes[anchor_indices]
