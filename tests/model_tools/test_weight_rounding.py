"""weight_rounding: the floor/ceil choice per channel, exhaustive (depthwise) and greedy (Conv2D),
against brute force and nearest."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from ssdlite_tools.weight_rounding import (
    WEIGHT_STEPS,
    channel_scales,
    choose_rounding,
    descend_rounding,
    patch_moments,
)


def _random_case(seed: int, taps: int = 9, channels: int = 6, samples: int = 400):
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, (taps, channels)) * rng.uniform(0.1, 3, channels)
    # Correlated, mostly positive inputs (a ReLU6 output under a 3x3 window is like this).
    base = rng.uniform(0, 6, (samples, 1, channels))
    patches = np.clip(base + rng.normal(0, 0.5, (samples, taps, channels)), 0, 6)
    return weights, patch_moments(patches)


def _error(delta: np.ndarray, moments: np.ndarray) -> float:
    return float(delta @ moments @ delta)


@pytest.mark.parametrize("seed", range(4))
def test_the_choice_is_the_best_floor_ceil_pattern_and_never_worse_than_nearest(seed):
    weights, moments = _random_case(seed, taps=4)
    result = choose_rounding(weights, moments)
    scales = channel_scales(weights)
    for channel in range(weights.shape[1]):
        steps = weights[:, channel] / scales[channel]
        errors = []
        for pattern in itertools.product((0, 1), repeat=4):
            candidate = np.floor(steps) + np.array(pattern)
            if np.all(np.abs(candidate) <= WEIGHT_STEPS):
                errors.append(_error((candidate - steps) * scales[channel], moments[channel]))
        nearest = _error((np.round(steps) - steps) * scales[channel], moments[channel])
        assert result.chosen_error[channel] == pytest.approx(min(errors), rel=1e-9)
        assert result.nearest_error[channel] == pytest.approx(nearest, rel=1e-9)
        assert result.chosen_error[channel] <= result.nearest_error[channel]
        chosen_delta = result.weights[:, channel] - weights[:, channel]
        assert _error(chosen_delta, moments[channel]) == pytest.approx(result.chosen_error[channel], rel=1e-6)


def test_rounded_weights_lie_on_the_unchanged_int8_grid():
    weights, moments = _random_case(7)
    result = choose_rounding(weights, moments)
    scales = channel_scales(weights)
    steps = result.weights / scales
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    assert np.abs(steps).max() <= WEIGHT_STEPS + 1e-9
    # The largest weight of each channel stays at +-127 steps, so the converter computes the same scale.
    np.testing.assert_allclose(channel_scales(result.weights), scales, rtol=1e-12)


def test_correlated_inputs_make_errors_that_cancel_better_than_nearest():
    """Two taps that always see the same input, both half a step above the grid: nearest rounds both
    up (errors add), the best rounds one up and one down (errors cancel)."""
    scale = 1.0 / WEIGHT_STEPS
    weights = np.array([[1.0], [10.4 * scale], [10.4 * scale]])  # the first tap sets the scale
    patches = np.ones((50, 3, 1)) * np.array([0.0, 1.0, 1.0])[None, :, None]
    result = choose_rounding(weights, patch_moments(patches))
    assert result.nearest_error[0] == pytest.approx((0.8 * scale) ** 2 * 50)
    assert result.chosen_error[0] == pytest.approx((0.2 * scale) ** 2 * 50)
    assert sorted(np.round(result.weights[1:, 0] / scale)) == [10, 11]


def test_a_zero_channel_and_large_kernels_keep_nearest():
    weights, moments = _random_case(3, taps=9, channels=2)
    weights[:, 1] = 0.0
    result = choose_rounding(weights, moments)
    assert np.all(result.weights[:, 1] == 0) and result.chosen_error[1] == 0
    big, big_moments = _random_case(4, taps=25, channels=2, samples=60)
    result = choose_rounding(big, big_moments)
    scales = channel_scales(big)
    np.testing.assert_allclose(result.weights, np.round(big / scales) * scales)
    with pytest.raises(ValueError, match="moments have shape"):
        choose_rounding(weights, moments[:1])


def _single_flip_errors(values, steps, scale, moments, pinned):
    """delta^T M delta after flipping each unpinned tap to its other floor/ceil step."""
    errors = []
    for tap in range(len(values)):
        if tap == pinned:
            continue
        other = values.copy()
        other[tap] = np.floor(steps[tap]) + (values[tap] == np.floor(steps[tap]))
        if abs(other[tap]) <= WEIGHT_STEPS:
            errors.append(_error((other - steps) * scale, moments))
    return errors


@pytest.mark.parametrize("seed", range(3))
def test_greedy_rounding_is_a_local_optimum_between_nearest_and_the_exhaustive_best(seed):
    weights, moments = _random_case(seed, taps=8)
    greedy = descend_rounding(weights, moments)
    best = choose_rounding(weights, moments)
    scales = channel_scales(weights)
    for channel in range(weights.shape[1]):
        steps = weights[:, channel] / scales[channel]
        values = greedy.weights[:, channel] / scales[channel]
        np.testing.assert_allclose(values, np.round(values), atol=1e-9)
        assert np.all((np.round(values) == np.floor(steps)) | (np.round(values) == np.floor(steps) + 1))
        error = _error(greedy.weights[:, channel] - weights[:, channel], moments[channel])
        assert error == pytest.approx(greedy.chosen_error[channel], rel=1e-9)
        assert greedy.nearest_error[channel] == pytest.approx(best.nearest_error[channel], rel=1e-12)
        assert best.chosen_error[channel] * (1 - 1e-9) <= error <= greedy.nearest_error[channel] * (1 + 1e-9)
        # No single flip of an unpinned tap lowers the error any more.
        pinned = int(np.abs(weights[:, channel]).argmax())
        flips = _single_flip_errors(np.round(values), steps, scales[channel], moments[channel], pinned)
        assert min(flips) >= error * (1 - 1e-9)


def test_greedy_rounding_of_a_27_tap_convolution_beats_nearest_on_the_same_grid():
    """A standard 3x3x3 convolution: one moment matrix for all output channels (they see the same
    patches); no channel ends above nearest and in all they halve its error, the largest weight stays at +-127 steps."""
    rng = np.random.default_rng(11)
    weights = rng.normal(0, 1, (27, 16)) * rng.uniform(0.1, 3, 16)
    image = rng.uniform(-1, 1, (500, 1, 3))  # neighbouring pixels alike, colours correlated
    patches = np.clip(image + rng.normal(0, 0.2, (500, 9, 3)), -1, 1).reshape(500, 27)
    shared = patches.T @ patches
    result = descend_rounding(weights, shared)
    assert np.all(result.chosen_error <= result.nearest_error)
    assert result.chosen_error.sum() < 0.5 * result.nearest_error.sum()
    np.testing.assert_allclose(channel_scales(result.weights), channel_scales(weights), rtol=1e-12)
    steps = result.weights / channel_scales(weights)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    assert np.all(np.abs(steps) <= WEIGHT_STEPS + 1e-9)
    per_channel = descend_rounding(weights, np.broadcast_to(shared, (16, 27, 27)))
    np.testing.assert_array_equal(per_channel.weights, result.weights)


def test_greedy_rounding_cancels_correlated_errors_and_checks_shapes():
    scale = 1.0 / WEIGHT_STEPS
    weights = np.array([[1.0], [10.4 * scale], [10.4 * scale]])
    patches = np.ones((50, 3, 1)) * np.array([0.0, 1.0, 1.0])[None, :, None]
    result = descend_rounding(weights, patch_moments(patches))
    assert result.chosen_error[0] == pytest.approx((0.2 * scale) ** 2 * 50)
    assert sorted(np.round(result.weights[1:, 0] / scale)) == [10, 11]
    with pytest.raises(ValueError, match="moments have shape"):
        descend_rounding(weights, np.eye(2))
