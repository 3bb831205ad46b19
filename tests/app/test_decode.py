import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ssdlite_detect.anchors import generate_anchors
from ssdlite_detect.decode import BoxCoderScales, box_areas, clip_boxes, decode_boxes

finite = st.floats(-3, 3, allow_nan=False, width=32)


def encode(boxes, anchors, scales=BoxCoderScales()):
    """faster_rcnn_box_coder encode (the training-side inverse), written independently here."""
    ymin, xmin, ymax, xmax = boxes.T.astype(np.float64)
    yc_a, xc_a, h_a, w_a = anchors.T.astype(np.float64)
    h, w = ymax - ymin, xmax - xmin
    yc, xc = ymin + h / 2, xmin + w / 2
    return np.stack([
        (yc - yc_a) / h_a * scales.y, (xc - xc_a) / w_a * scales.x,
        np.log(h / h_a) * scales.h, np.log(w / w_a) * scales.w,
    ], axis=1)


def test_zero_encodings_decode_to_the_anchors_themselves():
    anchors = generate_anchors()
    boxes = decode_boxes(np.zeros_like(anchors), anchors)
    yc, xc, h, w = anchors.T
    np.testing.assert_allclose(boxes, np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], 1), atol=1e-7)


def test_known_values_with_the_ssd_scales():
    anchors = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    # ty = 1 moves the centre by h_a / 10; th = 5 * ln 2 doubles the height.
    boxes = decode_boxes(np.array([[1.0, -2.0, 5 * np.log(2.0), 0.0]]), anchors)
    np.testing.assert_allclose(boxes[0], [0.52 - 0.2, 0.42 - 0.2, 0.52 + 0.2, 0.42 + 0.2], atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (32, 4), elements=finite))
def test_decode_inverts_encode_and_boxes_are_well_formed(encodings):
    anchors = generate_anchors()[::60][:32]
    boxes = decode_boxes(encodings, anchors)
    assert boxes.dtype == np.float32
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    np.testing.assert_allclose(encode(boxes, anchors), encodings, atol=2e-3)


def test_decoded_boxes_are_not_clipped_but_clip_boxes_clips():
    anchors = np.array([[0.02, 0.98, 0.1, 0.1]], np.float32)
    boxes = decode_boxes(np.zeros((1, 4)), anchors)
    assert boxes[0, 0] < 0 and boxes[0, 3] > 1
    np.testing.assert_allclose(clip_boxes(boxes), [[0.0, 0.93, 0.07, 1.0]], atol=1e-6)


def test_box_areas():
    boxes = np.array([[0, 0, 1, 2], [0, 0, 0, 1], [1, 1, 0, 0]], np.float32)
    np.testing.assert_allclose(box_areas(boxes), [2, 0, 1])
