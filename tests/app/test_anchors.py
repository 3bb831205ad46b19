import numpy as np
import pytest

from ssdlite_detect.anchors import (
    SSDLITE_MOBILENET_V2_COCO,
    AnchorConfig,
    anchors_per_location,
    generate_anchors,
    layer_box_specs,
)


def test_default_config_gives_1917_anchors_3_then_6_per_cell():
    assert anchors_per_location() == [3, 6, 6, 6, 6, 6]
    anchors = generate_anchors()
    assert anchors.shape == (1917, 4) and anchors.dtype == np.float32


def test_quantised_like_the_reference_model_they_equal_its_stored_anchors(reference_ssd):
    # The reference SSD (MobileNet v1) uses the same anchor-generator config as ssdlite_mobilenet_v2_coco.
    scale, zero_point = reference_ssd.anchors_quantization
    ours = generate_anchors()
    quantised = np.clip(np.round(ours / scale) + zero_point, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(quantised, reference_ssd.anchors_quantized)
    assert np.abs(ours - reference_ssd.anchors).max() <= scale / 2


def test_lowest_layer_is_reduced_and_others_add_an_interpolated_scale():
    specs = layer_box_specs(SSDLITE_MOBILENET_V2_COCO)
    assert specs[0] == [(0.1, 1.0), (0.2, 2.0), (0.2, 0.5)]
    scale_1, scale_2 = 0.2 + 0.75 / 5, 0.2 + 2 * 0.75 / 5
    assert specs[1][:5] == [(pytest.approx(scale_1), r) for r in (1.0, 2.0, 0.5, 3.0, 0.3333)]
    assert specs[1][5] == (pytest.approx(np.sqrt(scale_1 * scale_2)), 1.0)
    assert specs[-1][5] == (pytest.approx(np.sqrt(0.95 * 1.0)), 1.0)


def test_anchor_order_is_row_major_then_box_spec():
    anchors = generate_anchors()
    # First layer 19x19x3: cell (0, 0) first, then (0, 1): x changes before y.
    np.testing.assert_allclose(anchors[0, :2], [0.5 / 19, 0.5 / 19], rtol=1e-6)
    np.testing.assert_allclose(anchors[3, :2], [0.5 / 19, 1.5 / 19], rtol=1e-6)
    np.testing.assert_allclose(anchors[19 * 3, :2], [1.5 / 19, 0.5 / 19], rtol=1e-6)
    # Aspect ratio 2 is wider than tall by sqrt(2) on each side.
    height, width = anchors[1, 2:]
    assert width / height == pytest.approx(2.0, rel=1e-5)
    # The last anchor is the 1x1 map's interpolated square, centred.
    np.testing.assert_allclose(anchors[-1], [0.5, 0.5, np.sqrt(0.95), np.sqrt(0.95)], rtol=1e-6)


def test_non_square_input_keeps_anchors_square_in_pixels():
    config = AnchorConfig(image_size=(300, 600), feature_map_shapes=((19, 38), (10, 19), (5, 10), (3, 5), (2, 3), (1, 2)))
    anchors = generate_anchors(config)
    square = anchors[0]  # scale 0.1, ratio 1
    assert square[2] * 300 == pytest.approx(square[3] * 600, rel=1e-6)


def test_layer_count_must_match_feature_maps():
    with pytest.raises(ValueError, match="num_layers"):
        generate_anchors(AnchorConfig(num_layers=5))


def test_explicit_scales_strides_and_offsets_in_pixels():
    config = AnchorConfig(
        num_layers=2, scales=(0.3, 0.6), aspect_ratios=(1.0,), interpolated_scale_aspect_ratio=0.0,
        reduce_boxes_in_lowest_layer=False, anchor_strides=((20, 40), (50, 100)), anchor_offsets=((5, 10), (25, 50)),
        feature_map_shapes=((4, 3), (2, 2)), image_size=(100, 200),
    )  # fmt: skip
    anchors = generate_anchors(config)
    assert anchors.shape == (4 * 3 + 2 * 2, 4)
    # Layer 0, cell (y=1, x=2): offset + index * stride, in pixels divided by the image size.
    np.testing.assert_allclose(anchors[1 * 3 + 2, :2], [(5 + 20) / 100, (10 + 2 * 40) / 200], rtol=1e-6)
    # Scales as given (not interpolated); square in pixels on a 100x200 input.
    np.testing.assert_allclose(anchors[0, 2:], [0.3, 0.3 * 100 / 200], rtol=1e-6)
    np.testing.assert_allclose(anchors[12, 2:], [0.6, 0.6 * 100 / 200], rtol=1e-6)
    np.testing.assert_allclose(anchors[12, :2], [0.25, 0.25], rtol=1e-6)


def test_scales_strides_and_offsets_must_cover_every_layer():
    with pytest.raises(ValueError, match="scales"):
        generate_anchors(AnchorConfig(scales=(0.2, 0.4)))
    with pytest.raises(ValueError, match="anchor_strides"):
        generate_anchors(AnchorConfig(anchor_strides=((16, 16),)))
