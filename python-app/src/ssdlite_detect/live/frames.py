"""Video frames as numpy arrays: pure functions, no GStreamer.

A GStreamer buffer holds rows that may be padded (the i.MX 2D engines align rows to 16 pixels,
videoconvert to 4 bytes) and pixels in the order the scaler could produce (BGR on PXP, RGBA on
G2D). `rgb_view` turns such bytes into an RGB [height, width, 3] view with the right strides and
channel order, without copying; the model's lookup table then makes the one copy the input
tensor needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .elements import PIXEL_LAYOUTS


@dataclass(frozen=True)
class FrameLayout:
    """How one frame's pixels sit in its buffer."""

    format: str   # a PIXEL_LAYOUTS key
    width: int
    height: int
    stride: int   # bytes from one row to the next (>= width * bytes per pixel)
    offset: int = 0  # where the first row starts

    def __post_init__(self):
        if self.format not in PIXEL_LAYOUTS:
            raise ValueError(f"unsupported pixel format {self.format}")
        if self.stride < self.width * PIXEL_LAYOUTS[self.format][0]:
            raise ValueError(f"stride {self.stride} is shorter than a row of {self.width} {self.format} pixels")

    @property
    def size(self) -> int:
        """Bytes the frame needs from `offset`: full rows but the last, which may be unpadded."""
        return self.stride * (self.height - 1) + self.width * PIXEL_LAYOUTS[self.format][0]


def rgb_view(data, layout: FrameLayout) -> np.ndarray:
    """A read-only RGB [height, width, 3] uint8 view of `data` (bytes or a buffer) laid out as
    `layout`; raises ValueError if `data` is too short."""
    pixel_bytes, (red, green, blue) = PIXEL_LAYOUTS[layout.format]
    available = memoryview(data).nbytes
    if available < layout.offset + layout.size:
        raise ValueError(f"a {layout.width}x{layout.height} {layout.format} frame with stride "
                         f"{layout.stride} needs {layout.offset + layout.size} bytes, got {available}")
    # The array constructor over the buffer: as_strided's view costs ten times as much per frame.
    pixels = np.ndarray((layout.height, layout.width, pixel_bytes), np.uint8, data, layout.offset,
                        (layout.stride, pixel_bytes, 1))
    pixels.flags.writeable = False
    if (red, green, blue) == (0, 1, 2):
        return pixels[:, :, :3]
    if (red, green, blue) == (2, 1, 0):
        return pixels[:, :, 2::-1]
    return pixels[:, :, [red, green, blue]]  # a copy, for layouts not listed above


def packed_rgb(data, layout: FrameLayout, out: Optional[np.ndarray] = None) -> np.ndarray:
    """The frame as a contiguous RGB array (for drawing and encoding)."""
    view = rgb_view(data, layout)
    if out is None:
        return np.ascontiguousarray(view)
    out[...] = view
    return out
