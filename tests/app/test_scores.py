import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssdlite_detect.scores import LOGITS, PROBABILITIES, ScoreDecoder, infer_score_kind, sigmoid


def test_sigmoid_is_accurate_for_tiny_and_large_logits():
    logits = np.array([-40, -18.420681, 0, 18.420681, 40], np.float32)
    expected = 1 / (1 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_allclose(sigmoid(logits), expected, rtol=1e-6)
    assert sigmoid(np.float32(-18.420681)) == pytest.approx(1e-8, rel=1e-5)  # not 0: 1e-8 thresholds work


@pytest.mark.parametrize("name, dtype, quantization, kind", [
    ("convert_scores", np.uint8, (0.00390625, 0), PROBABILITIES),   # TFLite's exported SSDs (LOGISTIC)
    ("StatefulPartitionedCall:1", np.int8, (0.00390625, -128), PROBABILITIES),
    ("concat_1", np.int8, (0.1, 20), LOGITS),                       # our SSDLite int8 model
    ("concat_1", np.uint8, (0.04973677, 223), LOGITS),
    ("concat_1", np.float32, None, LOGITS),                         # float model
    ("convert_scores", np.float32, None, PROBABILITIES),
    ("raw_outputs/class_predictions", np.float32, None, LOGITS),
])
def test_infer_score_kind(name, dtype, quantization, kind):
    assert infer_score_kind(name, np.dtype(dtype), quantization) == kind


@settings(max_examples=200, deadline=None)
@given(
    dtype=st.sampled_from([np.int8, np.uint8]),
    scale=st.floats(1e-3, 0.5),
    zero_point=st.integers(-128, 255),
    kind=st.sampled_from([LOGITS, PROBABILITIES]),
    probability=st.floats(0, 1),
)
def test_raw_threshold_is_the_smallest_raw_value_that_passes(dtype, scale, zero_point, kind, probability):
    info = np.iinfo(dtype)
    zero_point = int(np.clip(zero_point, info.min, info.max))
    decoder = ScoreDecoder(kind, (scale, zero_point), np.dtype(dtype))
    every = np.arange(info.min, info.max + 1).astype(dtype)
    passing = every[decoder.to_probabilities(every) >= np.float32(probability)]
    threshold = decoder.raw_threshold(probability)
    if passing.size == 0:
        assert threshold is None
    else:
        assert threshold == passing.min()
        assert np.array_equal(every >= threshold, decoder.to_probabilities(every) >= np.float32(probability))


@settings(max_examples=100, deadline=None)
@given(probability=st.floats(1e-9, 1 - 1e-7), kind=st.sampled_from([LOGITS, PROBABILITIES]))
def test_float_raw_threshold_separates_like_the_probability(probability, kind):
    decoder = ScoreDecoder(kind)
    threshold = decoder.raw_threshold(probability)
    values = np.float32(threshold) + np.array([-1e-3, 0, 1e-3], np.float32)
    values = np.concatenate([values, np.nextafter(np.float32(threshold), np.float32(-np.inf))[None]])
    assert np.array_equal(values >= threshold, decoder.to_probabilities(values) >= np.float32(probability))


def test_dequantisation_matches_tflite():
    decoder = ScoreDecoder(PROBABILITIES, (0.00390625, 0), np.dtype(np.uint8))
    np.testing.assert_array_equal(decoder.to_probabilities(np.array([0, 128, 255], np.uint8)), [0, 0.5, 255 / 256])
