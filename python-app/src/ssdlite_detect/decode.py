"""Box decoding with the TF Object Detection API `faster_rcnn_box_coder`.

The model predicts, per anchor, (ty, tx, th, tw) relative to the anchor; the coder's scales undo
the normalisation applied in training. Decoded boxes are NOT clipped: non-max suppression runs on
the unclipped boxes, as TFLite's TFLite_Detection_PostProcess does, and only the boxes finally
reported are clipped to the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoxCoderScales:
    """`faster_rcnn_box_coder` y_scale, x_scale, height_scale, width_scale."""

    y: float = 10.0
    x: float = 10.0
    h: float = 5.0
    w: float = 5.0


SSD_BOX_CODER_SCALES = BoxCoderScales()


def decode_boxes(
    encodings: np.ndarray, anchors: np.ndarray, scales: BoxCoderScales = SSD_BOX_CODER_SCALES
) -> np.ndarray:
    """[N, 4] (ty, tx, th, tw) encodings + [N, 4] (yc, xc, h, w) anchors -> [N, 4] float32 (ymin, xmin, ymax, xmax).

    Normalised image coordinates. Computed in float64 and rounded once to float32, which is what
    TFLite's op does, so boxes agree with it to float32 precision.
    """
    encodings = np.asarray(encodings, dtype=np.float64).reshape(-1, 4)
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 4)
    if encodings.shape != anchors.shape:
        raise ValueError(f"{encodings.shape[0]} box encodings for {anchors.shape[0]} anchors")
    anchor_yc, anchor_xc, anchor_h, anchor_w = anchors.T
    ycenter = encodings[:, 0] / scales.y * anchor_h + anchor_yc
    xcenter = encodings[:, 1] / scales.x * anchor_w + anchor_xc
    half_h = 0.5 * np.exp(encodings[:, 2] / scales.h) * anchor_h
    half_w = 0.5 * np.exp(encodings[:, 3] / scales.w) * anchor_w
    return np.stack(
        [ycenter - half_h, xcenter - half_w, ycenter + half_h, xcenter + half_w], axis=1
    ).astype(np.float32)


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of (ymin, xmin, ymax, xmax) boxes; degenerate boxes have area <= 0."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def clip_boxes(boxes: np.ndarray) -> np.ndarray:
    """Clip normalised (ymin, xmin, ymax, xmax) boxes to the image, [0, 1]."""
    return np.clip(boxes, 0.0, 1.0)
