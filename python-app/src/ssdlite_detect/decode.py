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

    Normalised image coordinates. Rounded as TFLite's DecodeCenterSizeBoxes rounds: the centre and
    half-size are computed in float64 and stored as float32, the corners in float32 arithmetic;
    so boxes equal the op's bit for bit given the same float32 inputs.
    """
    encodings = np.asarray(encodings, dtype=np.float64).reshape(-1, 4)
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 4)
    if encodings.shape != anchors.shape:
        raise ValueError(f"{encodings.shape[0]} box encodings for {anchors.shape[0]} anchors")
    scaled = encodings / (scales.y, scales.x, scales.h, scales.w)  # the four divisions at once
    anchor_sizes = anchors[:, 2:]
    centres = (scaled[:, :2] * anchor_sizes + anchors[:, :2]).astype(np.float32)
    half_sizes = (0.5 * np.exp(scaled[:, 2:]) * anchor_sizes).astype(np.float32)
    corners = np.empty(encodings.shape, np.float32)
    np.subtract(centres, half_sizes, out=corners[:, :2])
    np.add(centres, half_sizes, out=corners[:, 2:])
    return corners


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of (ymin, xmin, ymax, xmax) boxes; degenerate boxes have area <= 0."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


# The ufunc np.clip calls once its arguments are checked (numpy >= 1.17; numpy 2 moved it to
# np._core): the same values without the Python-level checks, which cost more than the clipping.
_clip = getattr(getattr(np, "_core", None) or np.core, "umath").clip


def clip_boxes(boxes: np.ndarray) -> np.ndarray:
    """Clip normalised (ymin, xmin, ymax, xmax) boxes to the image, [0, 1]."""
    return _clip(np.asarray(boxes), 0.0, 1.0)
