"""Image loading and the model's input tensor: the one preprocessing of the project.

model-tools imports this module to calibrate and evaluate the int8 model, so the model is
calibrated on exactly what the board feeds it (the reference recipe calibrated with ImageNet
mean/std and inferred with x/127.5 - 1; we do not repeat that).

Steps: decode (JPEG at reduced scale when the source is much larger than the model input),
apply the EXIF orientation, convert any mode to RGB, stretch-resize to the input size (the model
was trained with a fixed_shape_resizer, so no letterbox), then map each 8-bit pixel through a
256-entry table straight to the input dtype: float32 in [-1, 1], or int8/uint8 quantised with the
input tensor's parameters. One table lookup per pixel, no float round trip for integer inputs.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

_RESAMPLING = getattr(Image, "Resampling", Image)  # Pillow >= 9.1 has the enum; 9.4 keeps both
_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = (5, 6, 7, 8)  # EXIF orientations that rotate by 90 degrees


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for resizing, with the size of the full-resolution, EXIF-oriented original."""

    image: Image.Image  # RGB, oriented; possibly decoded at reduced scale
    width: int
    height: int


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit and 32-bit greyscale (16-bit PNGs open as "I"): Pillow cannot convert these to
        # RGB directly. Scale the 16-bit range to 8 bits.
        values = np.asarray(image, dtype=np.float64)
        if image.mode != "F":
            values = values / 257.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # avoids Pillow's warning about palette transparency
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise ImageError(f"unsupported image mode {image.mode}: {error}") from None


def oriented_size(source: Image.Image) -> Tuple[int, int]:
    """(width, height) of an opened image as it is shown: its EXIF orientation applied (read from
    the header; nothing is decoded)."""
    width, height = source.size
    return (height, width) if source.getexif().get(_EXIF_ORIENTATION, 1) in _SWAPS_AXES else (width, height)


def read_image(path: str, min_size: Optional[Tuple[int, int]] = None) -> LoadedImage:
    """Decode `path` to an RGB, EXIF-oriented image.

    min_size: (width, height) the image will be resized to; a JPEG much larger than that is
    decoded by libjpeg at 1/2, 1/4 or 1/8 scale (never below min_size), which is several times
    faster than a full decode. Raises ImageError with a one-line reason for anything unreadable.
    """
    try:
        with warnings.catch_warnings():
            # Keep Pillow's decompression-bomb limit, as an error rather than a warning.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as source:
                orientation = source.getexif().get(_EXIF_ORIENTATION, 1)
                width, height = oriented_size(source)
                if min_size is not None and source.format in ("JPEG", "MPO"):  # MPO: camera JPEGs
                    request = min_size if orientation not in _SWAPS_AXES else (min_size[1], min_size[0])
                    source.draft("RGB", request)
                source.load()
                image = ImageOps.exif_transpose(source) if orientation != 1 else source.copy()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format Pillow cannot read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{path}: refused, too many pixels ({error})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Truncated and corrupt files surface from load() as OSError ("image file is truncated"),
        # SyntaxError (bad headers in some plugins) or ValueError.
        raise ImageError(f"{path}: truncated or corrupt image ({error})") from None
    return LoadedImage(_to_rgb(image), width, height)


def load_image(path: str, min_size: Optional[Tuple[int, int]] = None) -> Image.Image:
    """RGB, EXIF-oriented image from `path` (see read_image)."""
    return read_image(path, min_size).image


def _round_half_away_from_zero(value: Fraction) -> int:
    # TFLite's quantisation rounds with std::round (half away from zero), not half-to-even.
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def input_lookup_table(dtype, quantization: Optional[Tuple[float, int]] = None) -> np.ndarray:
    """256 entries: the model-input value of each 8-bit pixel value.

    Real value x / 127.5 - 1 (MobileNet's [-1, 1] normalisation); for an integer input, that value
    quantised with (scale, zero_point) as TFLite's Quantize op would.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return (np.arange(256, dtype=np.float64) / 127.5 - 1.0).astype(dtype)
    if quantization is None or not quantization[0]:
        raise ValueError(f"an {dtype} input needs quantisation parameters")
    scale, zero_point = Fraction(quantization[0]), int(quantization[1])
    info = np.iinfo(dtype)
    # Exact rational arithmetic: with the usual scale 2/255 every pixel lands on a .5 tie, where
    # float rounding noise would decide the direction. 256 entries, computed once per model.
    quantised = [_round_half_away_from_zero(Fraction(2 * pixel - 255, 255) / scale) + zero_point for pixel in range(256)]
    return np.clip(np.array(quantised, dtype=np.int64), info.min, info.max).astype(dtype)


class PixelQuantizer:
    """pixels (uint8 [H, W, 3], any strides) -> the model's input values, through the lookup
    table (input_lookup_table): the live mode's per-frame quantisation.

    For a one-byte input (the int8 and uint8 models) the lookup is bytearray.translate over the
    frame's bytes: CPython's byte loop with the 256-byte table in L1, the same values as numpy's
    table[pixels] for a third of its time (0.11 vs 0.33 ms a contiguous 300x300 frame here; 0.20
    with a 128 KB table of byte pairs, whose speed depended on the CPU's caches). A strided view
    (rows padded by the 2D engine, the PXP's BGR read as RGB) is first packed channel by channel
    (0.17 vs 0.61 ms a padded BGR frame). Other inputs (float32) go through table[pixels].
    """

    def __init__(self, table: np.ndarray):
        self.table = table
        self._bytes = table.view(np.uint8).tobytes() if table.dtype.itemsize == 1 else None

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        if self._bytes is None or pixels.dtype != np.uint8:
            return self.table[pixels]
        if not pixels.flags.c_contiguous:
            packed = np.empty(pixels.shape, np.uint8)
            if pixels.ndim == 3:  # one strided copy per channel: numpy's copy of a whole [H, W, 3] view is slower
                for channel in range(pixels.shape[2]):
                    packed[:, :, channel] = pixels[:, :, channel]
            else:
                packed[...] = pixels
            pixels = packed
        values = bytearray(memoryview(pixels)).translate(self._bytes)
        return np.frombuffer(values, self.table.dtype).reshape(pixels.shape)


def resize_for_model(image: Image.Image, height: int, width: int) -> Image.Image:
    """Stretch to (width, height): the TF OD API fixed_shape_resizer the model was trained with."""
    if image.size == (width, height):
        return image
    return image.resize((width, height), _RESAMPLING.BILINEAR)


def prepare_input(
    image: Image.Image,
    height: int,
    width: int,
    dtype=np.float32,
    quantization: Optional[Tuple[float, int]] = None,
    lookup_table: Optional[np.ndarray] = None,
) -> np.ndarray:
    """[1, height, width, 3] input tensor from an RGB image, in `dtype`.

    Pass `lookup_table` (from input_lookup_table) to reuse it across frames.
    """
    if lookup_table is None:
        lookup_table = input_lookup_table(dtype, quantization)
    pixels = np.asarray(resize_for_model(image, height, width), dtype=np.uint8)
    if pixels.shape != (height, width, 3):
        raise ImageError(f"expected an RGB image, got an array of shape {pixels.shape}")
    return lookup_table[pixels][None]
