"""Image loading and the model-input tensor (ssdlite_detect.preprocess).

Every image is written by the test itself into tmp_path, in a format that keeps the mode under
test, and checked pixel by pixel after read_image; pixel values that the format stores lossily
(JPEG) are checked with a tolerance, lossless ones exactly.
"""
from __future__ import annotations

import os
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ssdlite_detect.errors import ImageError
from ssdlite_detect.preprocess import (
    LoadedImage,
    input_lookup_table,
    load_image,
    prepare_input,
    read_image,
)

EXIF_ORIENTATION = 0x0112


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int64)


def opened_mode(path) -> str:
    with Image.open(path) as image:
        return image.mode


def save_jpeg(path, array_or_image, orientation=None, quality=95):
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    kwargs = {"quality": quality}
    if orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        kwargs["exif"] = exif.tobytes()
    image.save(path, "JPEG", **kwargs)
    return str(path)


def noisy_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: JPEG-compresses like a photo (many non-zero coefficients)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=2)
    noise = rng.integers(-20, 21, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


# --- every mode becomes RGB with the right pixel values ---------------------------------------


def _write_mode_1(path):
    image = Image.new("1", (3, 1), 0)
    image.putpixel((1, 0), 1)
    image.save(path / "one.png")
    return path / "one.png", "1", [[(0, 0, 0), (255, 255, 255), (0, 0, 0)]]


def _write_mode_l(path):
    values = np.array([[0, 1, 127, 128, 254, 255]], np.uint8)
    Image.fromarray(values, "L").save(path / "l.png")
    return path / "l.png", "L", [[(v, v, v) for v in values[0]]]


def _write_mode_la(path):
    # Alpha is dropped, colour kept (also under alpha 0), as TF's decode_png(channels=3) does.
    values = np.array([[[10, 0], [100, 128], [250, 255]]], np.uint8)
    Image.fromarray(values, "LA").save(path / "la.png")
    return path / "la.png", "LA", [[(10, 10, 10), (100, 100, 100), (250, 250, 250)]]


def _write_mode_p(path):
    image = Image.new("P", (3, 1))
    image.putpalette([10, 20, 30, 200, 100, 50, 0, 255, 0] + [0] * (256 * 3 - 9))
    for x, index in enumerate((2, 0, 1)):
        image.putpixel((x, 0), index)
    image.save(path / "p.png")
    return path / "p.png", "P", [[(0, 255, 0), (10, 20, 30), (200, 100, 50)]]


def _write_mode_p_transparent(path):
    image = Image.new("P", (2, 1))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 6))
    image.putpixel((1, 0), 1)
    image.save(path / "pt.png", transparency=1)
    # The transparent entry keeps its palette colour.
    return path / "pt.png", "P", [[(10, 20, 30), (200, 100, 50)]]


def _write_mode_rgba(path):
    values = np.array([[[255, 0, 0, 0], [0, 255, 0, 128], [1, 2, 3, 255]]], np.uint8)
    Image.fromarray(values, "RGBA").save(path / "rgba.png")
    return path / "rgba.png", "RGBA", [[(255, 0, 0), (0, 255, 0), (1, 2, 3)]]


def _write_mode_cmyk(path):
    # Pure inks only, so the expected RGB is unambiguous: R = (255 - C) * (255 - K) / 255, etc.
    inks = [(0, 0, 0, 0), (255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255)]
    image = Image.new("CMYK", (len(inks), 1))
    for x, ink in enumerate(inks):
        image.putpixel((x, 0), ink)
    image.save(path / "cmyk.tif")
    expected = [(255, 255, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 0)]
    return path / "cmyk.tif", "CMYK", [expected]


def _sixteen_bit_values():
    values = np.array([[0, 257 * 100, 65535, 257 * 200, 1000]], np.uint16)
    expected = [[(v, v, v) for v in (0, 100, 255, 200, 4)]]  # 1000 / 257 = 3.89 -> 4
    return values, expected


def _write_mode_i16_tiff(path):
    values, expected = _sixteen_bit_values()
    Image.fromarray(values).save(path / "i16.tif")
    return path / "i16.tif", "I;16", expected


def _write_16bit_png(path):
    values, expected = _sixteen_bit_values()
    Image.fromarray(values).save(path / "i16.png")
    return path / "i16.png", "I", expected  # Pillow opens 16-bit PNGs as "I"


def _write_mode_f(path):
    values = np.array([[0.0, 100.4, 254.6, 300.0, -5.0]], np.float32)
    Image.fromarray(values, "F").save(path / "f.tif")
    return path / "f.tif", "F", [[(v, v, v) for v in (0, 100, 255, 255, 0)]]


MODE_WRITERS = {
    "1": _write_mode_1,
    "L": _write_mode_l,
    "LA": _write_mode_la,
    "P": _write_mode_p,
    "P-transparency": _write_mode_p_transparent,
    "RGBA": _write_mode_rgba,
    "CMYK": _write_mode_cmyk,
    "I;16": _write_mode_i16_tiff,
    "I-from-16bit-png": _write_16bit_png,
    "F": _write_mode_f,
}


@pytest.mark.parametrize("case", sorted(MODE_WRITERS))
def test_read_image_converts_every_mode_to_rgb_with_the_right_pixels(tmp_path, case):
    path, mode, expected = MODE_WRITERS[case](tmp_path)
    assert opened_mode(path) == mode, "the file does not open in the mode under test"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. Pillow's palette-transparency warning must not appear
        loaded = read_image(str(path))
    assert loaded.image.mode == "RGB"
    assert pixels(loaded.image).tolist() == [[list(p) for p in row] for row in expected]
    assert (loaded.width, loaded.height) == loaded.image.size == (len(expected[0]), len(expected))


def test_read_image_converts_cmyk_jpeg_to_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 0, 0)).save(path, quality=95)
    assert opened_mode(path) == "CMYK"
    image = load_image(str(path))
    assert image.mode == "RGB"
    np.testing.assert_allclose(pixels(image)[8, 8], (255, 0, 255), atol=8)


def test_read_image_returns_rgb_image_unchanged(tmp_path):
    values = noisy_photo(7, 5)
    Image.fromarray(values).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(np.asarray(load_image(str(tmp_path / "rgb.png"))), values)


# --- EXIF orientation ------------------------------------------------------------------------

STORED_WIDTH, STORED_HEIGHT = 64, 32


def displayed_position(orientation, x, y):
    """Where stored pixel (x, y) is shown under an EXIF orientation (EXIF 2.3 / TIFF 6 tag 274)."""
    w, h = STORED_WIDTH, STORED_HEIGHT
    return {
        1: (x, y),
        2: (w - 1 - x, y),            # mirrored horizontally
        3: (w - 1 - x, h - 1 - y),    # rotated 180
        4: (x, h - 1 - y),            # mirrored vertically
        5: (y, x),                    # transposed
        6: (h - 1 - y, x),            # needs 90 degrees clockwise
        7: (h - 1 - y, w - 1 - x),    # transversed
        8: (y, w - 1 - x),            # needs 90 degrees counter-clockwise
    }[orientation]


def marked_image() -> np.ndarray:
    """Grey, a red 16x16 block at the top left and a blue one at the top right (JPEG-block aligned)."""
    image = np.full((STORED_HEIGHT, STORED_WIDTH, 3), 128, np.uint8)
    image[0:16, 0:16] = (255, 0, 0)
    image[0:16, STORED_WIDTH - 16:] = (0, 0, 255)
    return image


def assert_colour(image: Image.Image, xy, colour):
    x, y = xy
    np.testing.assert_allclose(pixels(image)[y, x], colour, atol=40, err_msg=f"pixel {xy}")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_image_applies_exif_orientation(tmp_path, orientation):
    path = save_jpeg(tmp_path / f"o{orientation}.jpg", marked_image(), orientation)
    loaded = read_image(path)
    swapped = orientation >= 5
    expected_size = (STORED_HEIGHT, STORED_WIDTH) if swapped else (STORED_WIDTH, STORED_HEIGHT)
    assert loaded.image.size == expected_size
    assert (loaded.width, loaded.height) == expected_size
    assert_colour(loaded.image, displayed_position(orientation, 8, 8), (255, 0, 0))
    assert_colour(loaded.image, displayed_position(orientation, STORED_WIDTH - 8, 8), (0, 0, 255))
    # The opposite corner of the red block's is grey: guards against a symmetric mix-up.
    assert_colour(loaded.image, displayed_position(orientation, 8, STORED_HEIGHT - 8), (128, 128, 128))


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_read_image_treats_invalid_exif_orientation_as_upright(tmp_path, orientation):
    path = save_jpeg(tmp_path / "bad.jpg", marked_image(), orientation)
    loaded = read_image(path)
    assert loaded.image.size == (STORED_WIDTH, STORED_HEIGHT)
    assert_colour(loaded.image, (8, 8), (255, 0, 0))


# --- JPEG draft decoding -----------------------------------------------------------------------

BIG_WIDTH, BIG_HEIGHT = 2400, 1600


@pytest.fixture(scope="module")
def big_jpegs(tmp_path_factory):
    """A 2400x1600 JPEG stored upright and the same pixels stored with orientation 6."""
    directory = tmp_path_factory.mktemp("big")
    photo = noisy_photo(BIG_WIDTH, BIG_HEIGHT)
    return {
        1: save_jpeg(directory / "upright.jpg", photo, quality=80),
        6: save_jpeg(directory / "rotated.jpg", photo, orientation=6, quality=80),
    }


@pytest.mark.parametrize(
    "orientation, min_size, decoded_size",
    [
        (1, (300, 300), (600, 400)),    # 1/4 scale: 1/8 would give 300x200, below min_size
        (1, (400, 300), (600, 400)),
        (1, (1200, 150), (1200, 800)),  # 1/2: the width bounds the scale
        (6, (300, 300), (400, 600)),
        (6, (300, 400), (400, 600)),
        # Oriented 1600x2400 wanted at >= 1200 wide: only 1/1 keeps the (stored) height >= 1200.
        # Requesting the un-swapped size would decode at 1/2, 800 wide: too small.
        (6, (1200, 150), (1600, 2400)),
        (6, (150, 1200), (800, 1200)),
    ],
)
def test_read_image_decodes_large_jpeg_at_reduced_scale_never_below_min_size(
    big_jpegs, orientation, min_size, decoded_size
):
    loaded = read_image(big_jpegs[orientation], min_size=min_size)
    assert loaded.image.size == decoded_size
    assert loaded.image.width >= min_size[0] and loaded.image.height >= min_size[1]
    # The reported size is always the full-resolution, oriented one.
    full = (BIG_HEIGHT, BIG_WIDTH) if orientation == 6 else (BIG_WIDTH, BIG_HEIGHT)
    assert (loaded.width, loaded.height) == full


def test_read_image_decodes_camera_mpo_jpegs_at_reduced_scale_too(tmp_path):
    # Phones and cameras write JPEGs with a multi-picture extension, which Pillow opens as MPO.
    frames = [Image.fromarray(noisy_photo(2400, 1600)), Image.fromarray(noisy_photo(2400, 1600))]
    path = tmp_path / "camera.jpg"
    frames[0].save(path, format="MPO", save_all=True, append_images=frames[1:])
    with Image.open(path) as opened:
        assert opened.format == "MPO"
    assert read_image(str(path), min_size=(300, 300)).image.size == (600, 400)


def test_read_image_without_min_size_decodes_full_resolution(big_jpegs):
    assert read_image(big_jpegs[1]).image.size == (BIG_WIDTH, BIG_HEIGHT)


def test_read_image_ignores_min_size_for_non_jpeg(tmp_path):
    Image.fromarray(noisy_photo(1200, 800)).save(tmp_path / "big.png")
    loaded = read_image(str(tmp_path / "big.png"), min_size=(300, 300))
    assert loaded.image.size == (1200, 800) == (loaded.width, loaded.height)


def test_reduced_scale_decode_keeps_marker_positions(tmp_path):
    photo = np.full((1600, 2400, 3), 128, np.uint8)
    photo[:400, :400] = (255, 0, 0)  # stored top left -> displayed top right under orientation 6
    path = save_jpeg(tmp_path / "marked.jpg", photo, orientation=6)
    loaded = read_image(path, min_size=(300, 300))
    assert loaded.image.size == (400, 600)
    assert_colour(loaded.image, (400 - 20, 20), (255, 0, 0))
    assert_colour(loaded.image, (20, 20), (128, 128, 128))


# --- the input lookup table --------------------------------------------------------------------


def tflite_quantised_table(scale: float, zero_point: int, dtype) -> np.ndarray:
    """TFLite's Quantize rule in exact arithmetic: clip(round_half_away(x_real / scale) + zero_point),
    with x_real = pixel / 127.5 - 1 exactly."""
    info = np.iinfo(dtype)
    table = []
    for pixel in range(256):
        value = (Fraction(pixel) / Fraction(255, 2) - 1) / Fraction(scale)
        magnitude = int(abs(value) + Fraction(1, 2))  # floor(|v| + 1/2): half away from zero
        rounded = magnitude if value >= 0 else -magnitude
        table.append(min(max(rounded + zero_point, info.min), info.max))
    return np.array(table, dtype=dtype)


def float32(value: float) -> float:
    """Scales as a .tflite stores them (float32), as get_input_details reports them."""
    return float(np.float32(value))


def test_float_table_is_pixel_over_127_5_minus_1():
    table = input_lookup_table(np.float32)
    assert table.dtype == np.float32 and table.shape == (256,)
    expected = (np.arange(256, dtype=np.float64) / 127.5 - 1.0).astype(np.float32)
    np.testing.assert_array_equal(table, expected)
    assert table[0] == -1.0 and table[255] == 1.0
    assert np.all(np.diff(table) > 0)


@pytest.mark.parametrize(
    "dtype, scale, zero_point",
    [
        (np.int8, float32(2 / 255), -1),       # the usual int8 [-1, 1] input
        (np.uint8, 0.0078125, 128),            # the reference SSD MobileNet v1 input
        (np.uint8, float32(2 / 255), 127),
        (np.int8, 0.0078125, 0),
        (np.int8, float32(1 / 100), 5),        # narrower range than [-1, 1]: both ends clip
        (np.uint8, float32(0.02), 3),
    ],
)
def test_integer_table_matches_tflite_quantisation(dtype, scale, zero_point):
    table = input_lookup_table(dtype, (scale, zero_point))
    assert table.dtype == np.dtype(dtype) and table.shape == (256,)
    np.testing.assert_array_equal(table, tflite_quantised_table(scale, zero_point, dtype))


def test_reference_model_uint8_table_is_close_to_identity():
    table = input_lookup_table(np.uint8, (0.0078125, 128)).astype(int)
    assert table[0] == 0 and table[255] == 255
    assert np.all(np.abs(table - np.arange(256)) <= 1)


def test_integer_table_rounds_exact_halves_away_from_zero():
    # Scale 2: pixel 0 is -1.0 -> -0.5 -> -1 and pixel 255 is 1.0 -> 0.5 -> 1 (numpy's rint gives 0).
    table = input_lookup_table(np.int8, (2.0, 0))
    assert table[0] == -1 and table[255] == 1
    assert np.all(table[1:255] == 0)


def test_integer_table_clips_to_the_dtype_range():
    int8 = input_lookup_table(np.int8, (0.001, 0))
    uint8 = input_lookup_table(np.uint8, (0.001, 0))
    assert int8[0] == -128 and int8[255] == 127
    assert uint8[0] == 0 and uint8[255] == 255


# Exact .5 ties for every pixel: float noise must not decide the rounding.
def test_integer_table_float64_two_over_255_rounds_exact_ties_away_from_zero():
    np.testing.assert_array_equal(
        input_lookup_table(np.int8, (2 / 255, -1)), tflite_quantised_table(2 / 255, -1, np.int8)
    )


@pytest.mark.parametrize("quantization", [None, (0.0, 0)])
def test_integer_table_requires_quantisation(quantization):
    with pytest.raises(ValueError, match="quantisation"):
        input_lookup_table(np.int8, quantization)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.int8, np.uint8]),
    scale=st.floats(min_value=1e-4, max_value=0.5, allow_nan=False, allow_infinity=False).map(float32),
    data=st.data(),
)
def test_integer_table_matches_tflite_quantisation_property(dtype, scale, data):
    info = np.iinfo(dtype)
    zero_point = data.draw(st.integers(int(info.min), int(info.max)), label="zero_point")
    np.testing.assert_array_equal(
        input_lookup_table(dtype, (scale, zero_point)), tflite_quantised_table(scale, zero_point, dtype)
    )


# --- prepare_input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, quantization", [(np.float32, None), (np.int8, (float32(2 / 255), -1)), (np.uint8, (0.0078125, 128))]
)
def test_prepare_input_shape_dtype_and_values(dtype, quantization):
    values = noisy_photo(30, 20)
    tensor = prepare_input(Image.fromarray(values), 20, 30, dtype, quantization)
    assert tensor.shape == (1, 20, 30, 3) and tensor.dtype == np.dtype(dtype)
    # No resize needed: every value is the table entry of its pixel.
    np.testing.assert_array_equal(tensor[0], input_lookup_table(dtype, quantization)[values])


def test_prepare_input_stretches_to_the_model_size_without_letterbox():
    # Left half red, right half blue, 600x200: stretched (not letterboxed) to 300x300.
    values = np.zeros((200, 600, 3), np.uint8)
    values[:, :300] = (255, 0, 0)
    values[:, 300:] = (0, 0, 255)
    tensor = prepare_input(Image.fromarray(values), 300, 300)
    assert tensor.shape == (1, 300, 300, 3)
    np.testing.assert_array_equal(tensor[0, :, :140], np.broadcast_to([1.0, -1.0, -1.0], (300, 140, 3)))
    np.testing.assert_array_equal(tensor[0, :, 160:], np.broadcast_to([-1.0, -1.0, 1.0], (300, 140, 3)))
    # Top and bottom rows are image, not padding.
    assert tensor[0, 0, 0, 0] == 1.0 and tensor[0, 299, 299, 2] == 1.0


def test_prepare_input_resizes_non_square_model_input():
    tensor = prepare_input(Image.fromarray(noisy_photo(640, 480)), 240, 320, np.uint8, (0.0078125, 128))
    assert tensor.shape == (1, 240, 320, 3) and tensor.dtype == np.uint8


def test_prepare_input_reuses_a_given_lookup_table():
    values = noisy_photo(8, 8)
    table = np.arange(256, dtype=np.float32)[::-1].copy()  # any table: it is used as given
    tensor = prepare_input(Image.fromarray(values), 8, 8, lookup_table=table)
    np.testing.assert_array_equal(tensor[0], 255 - values.astype(np.float32))


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_prepare_input_rejects_non_rgb_image(mode):
    with pytest.raises(ImageError, match="RGB"):
        prepare_input(Image.new(mode, (4, 4)), 4, 4)


# --- errors: ImageError, one line, naming the path -----------------------------------------------


def assert_image_error(path, reason_pattern):
    with pytest.raises(ImageError) as raised:
        read_image(str(path))
    message = str(raised.value)
    assert str(path) in message
    assert "\n" not in message
    assert reason_pattern in message, message


def test_missing_file_raises_image_error(tmp_path):
    assert_image_error(tmp_path / "absent.jpg", "no such file")


def test_directory_raises_image_error(tmp_path):
    (tmp_path / "photos.jpg").mkdir()
    assert_image_error(tmp_path / "photos.jpg", "directory")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_raises_image_error(tmp_path):
    path = tmp_path / "secret.jpg"
    save_jpeg(path, noisy_photo(16, 16))
    path.chmod(0)
    try:
        assert_image_error(path, "permission denied")
    finally:
        path.chmod(0o644)


def test_text_file_raises_image_error(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not an image\n")
    assert_image_error(path, "not an image")


def test_empty_file_raises_image_error(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert_image_error(path, "not an image")


def test_truncated_jpeg_raises_image_error(tmp_path):
    whole = save_jpeg(tmp_path / "whole.jpg", noisy_photo(256, 256))
    data = open(whole, "rb").read()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert_image_error(path, "truncated")


def test_jpeg_with_corrupt_bytes_in_the_middle_raises_image_error(tmp_path):
    whole = save_jpeg(tmp_path / "whole.jpg", noisy_photo(256, 256))
    data = open(whole, "rb").read()
    middle = len(data) // 2
    garbage = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(data[:middle] + garbage + data[middle + len(garbage):])
    assert_image_error(path, "corrupt")


def test_png_with_corrupt_bytes_in_the_middle_raises_image_error(tmp_path):
    Image.fromarray(noisy_photo(128, 128)).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    middle = len(data) // 2
    path = tmp_path / "corrupt.png"
    path.write_bytes(data[:middle] + bytes(255 - b for b in data[middle:middle + 64]) + data[middle + 64:])
    assert_image_error(path, "corrupt")


@pytest.mark.parametrize("limit", [100 * 100 - 1, 100 * 100 // 2 - 1], ids=["over-limit-warning", "over-twice-limit-error"])
def test_decompression_bomb_raises_image_error(tmp_path, monkeypatch, limit):
    # Over MAX_IMAGE_PIXELS Pillow warns, over twice it refuses: both must be refused.
    path = tmp_path / "bomb.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    assert_image_error(path, "too many pixels")


def test_load_image_raises_the_same_error(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(str(tmp_path / "absent.png"))


def test_loaded_image_is_immutable_value():
    loaded = LoadedImage(Image.new("RGB", (2, 2)), 2, 2)
    with pytest.raises(AttributeError):
        loaded.width = 3


@pytest.mark.parametrize("dtype, quantization", [(np.int8, (2 / 255, -1)), (np.uint8, (0.0078125, 128)),
                                                 (np.int8, (0.0078125, 0)), (np.float32, None)])
def test_the_frame_quantizer_gives_the_tables_values(dtype, quantization):
    """PixelQuantizer (bytes.translate for one-byte inputs) gives table[pixels], for contiguous
    frames and the views the scalers' frames are read through: rows padded (RGBA and BGR with a
    16-pixel row alignment, the BGR channels reversed), and an odd-sized frame; the values are
    writeable, as table[pixels]'s."""
    from ssdlite_detect.live.frames import FrameLayout, rgb_view
    from ssdlite_detect.preprocess import PixelQuantizer

    table = input_lookup_table(dtype, quantization)
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    padded = rng.integers(0, 256, 912 * 300, dtype=np.uint8).tobytes()  # 304-pixel rows
    bgr = rgb_view(padded, FrameLayout("BGR", 300, 300, 912))
    rgba = rgb_view(rng.integers(0, 256, 1216 * 300, dtype=np.uint8).tobytes(), FrameLayout("RGBA", 300, 300, 1216))
    odd = rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)
    original = frame.copy()
    quantizer = PixelQuantizer(table)
    for pixels in (frame, bgr, rgba, odd, frame[:, ::-1]):
        values = quantizer(pixels)
        assert values.dtype == table.dtype and values.shape == pixels.shape
        np.testing.assert_array_equal(values, table[pixels])
        values[0, 0, 0] = values[0, 0, 1]  # writeable, and not the frame's own memory
    np.testing.assert_array_equal(frame, original)
