"""Buffer bytes to RGB (live.frames): padded rows, channel orders, and GStreamer's own padding."""
from __future__ import annotations

import numpy as np
import pytest

from ssdlite_detect.live.elements import PIXEL_LAYOUTS
from ssdlite_detect.live.frames import FrameLayout, packed_rgb, rgb_view


def pack(rgb: np.ndarray, fmt: str, stride: int, offset: int = 0, fill: int = 0xEE) -> bytes:
    """Lay out an RGB image as `fmt` with `stride`-byte rows, padding filled with `fill`."""
    height, width, _ = rgb.shape
    pixel_bytes, (red, green, blue) = PIXEL_LAYOUTS[fmt]
    data = np.full(offset + stride * height, fill, np.uint8)
    rows = data[offset:].reshape(height, stride)[:, :width * pixel_bytes].reshape(height, width, pixel_bytes)
    rows[..., red], rows[..., green], rows[..., blue] = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return data.tobytes()


@pytest.fixture
def rgb():
    return np.random.default_rng(7).integers(0, 256, (5, 301, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", sorted(PIXEL_LAYOUTS))
@pytest.mark.parametrize("padding", [0, 3, 16 * 4])
def test_every_format_and_padding_gives_the_same_rgb(rgb, fmt, padding):
    width = rgb.shape[1]
    stride = width * PIXEL_LAYOUTS[fmt][0] + padding
    layout = FrameLayout(fmt, width, rgb.shape[0], stride)
    view = rgb_view(pack(rgb, fmt, stride), layout)
    assert view.shape == rgb.shape
    np.testing.assert_array_equal(view, rgb)
    np.testing.assert_array_equal(packed_rgb(pack(rgb, fmt, stride), layout), rgb)


def test_views_do_not_copy_and_are_read_only(rgb):
    data = pack(rgb, "BGR", 304 * 3)
    view = rgb_view(data, FrameLayout("BGR", 301, 5, 304 * 3))
    assert not view.flags.writeable
    assert np.shares_memory(view, np.frombuffer(data, np.uint8))


def test_offset_skips_leading_bytes(rgb):
    layout = FrameLayout("RGBx", 301, 5, 1216, offset=64)
    np.testing.assert_array_equal(rgb_view(pack(rgb, "RGBx", 1216, offset=64), layout), rgb)


def test_a_short_buffer_is_an_error_not_garbage(rgb):
    data = pack(rgb, "RGB", 904)[: 904 * 4 + 903]  # the last row without its padding is enough
    with pytest.raises(ValueError, match="needs 4519 bytes, got 4518"):
        rgb_view(data[:-1], FrameLayout("RGB", 301, 5, 904))


def test_the_last_row_may_be_unpadded(rgb):
    data = pack(rgb, "RGB", 904)[: 904 * 4 + 903]
    np.testing.assert_array_equal(rgb_view(data, FrameLayout("RGB", 301, 5, 904)), rgb)


@pytest.mark.parametrize("fmt, stride", [("RGB", 902), ("RGBA", 1203)])
def test_impossible_layouts_are_refused(fmt, stride):
    with pytest.raises(ValueError):
        FrameLayout(fmt, 301, 5, stride)


def test_the_lookup_table_turns_a_strided_bgr_view_into_the_same_tensor(rgb):
    from ssdlite_detect.preprocess import input_lookup_table

    table = input_lookup_table(np.int8, (2 / 255, 0))
    view = rgb_view(pack(rgb, "BGR", 304 * 3), FrameLayout("BGR", 301, 5, 304 * 3))
    np.testing.assert_array_equal(table[view], table[rgb])


@pytest.mark.parametrize("width", [301, 302, 299])
def test_rows_gstreamer_pads_are_read_with_its_stride(gst, width):
    """videoconvert pads RGB rows to 4 bytes: width 301 gives 904-byte rows, not 903. A frame read
    through VideoSource equals the same test pattern read row by row from the caps' stride."""
    from ssdlite_detect.live.source import VideoSource
    from ssdlite_detect.live.elements import SOFTWARE_CHAIN
    from ssdlite_detect.live.pipeline import SourceSpec

    source = VideoSource(SourceSpec("testsrc", "", (width, 200), 30), (200, width), chain=SOFTWARE_CHAIN)
    with source:
        frame = None
        while frame is None:
            frame = source.read(timeout=1.0)
    assert frame.pixels.shape == (200, width, 3)
    Gst, GstVideo = gst.Gst, gst.GstVideo
    pipeline = Gst.parse_launch(f"videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width={width},height=200 ! appsink name=sink")
    pipeline.set_state(Gst.State.PLAYING)
    sample = pipeline.get_by_name("sink").try_pull_sample(5 * Gst.SECOND)
    pipeline.set_state(Gst.State.NULL)
    stride = GstVideo.VideoInfo.new_from_caps(sample.get_caps()).stride[0]
    assert stride == (width * 3 + 3) // 4 * 4
    data = sample.get_buffer().extract_dup(0, sample.get_buffer().get_size())
    expected = np.stack([np.frombuffer(data, np.uint8, width * 3, row * stride).reshape(width, 3) for row in range(200)])
    np.testing.assert_array_equal(frame.pixels, expected)
