"""The decoupled filter (three numbers per coordinate) is exactly ByteTrack's 8x8 filter."""
from __future__ import annotations

import numpy as np
import pytest

from ssdlite_detect.tracking import kalman


def _full(means, covariances):
    """8x8 covariances from the (N, 3, 4) form."""
    full = np.zeros((means.shape[0], 8, 8))
    k = np.arange(4)
    full[:, k, k] = covariances[:, 0]
    full[:, k, k + 4] = full[:, k + 4, k] = covariances[:, 1]
    full[:, k + 4, k + 4] = covariances[:, 2]
    return full


def _reference_predict(mean, cov, dt):
    h = mean[3]
    transition = np.eye(8)
    transition[np.arange(4), np.arange(4) + 4] = dt
    wp, wv, f = kalman.WEIGHT_POSITION, kalman.WEIGHT_VELOCITY, kalman.NOMINAL_FRAME_S
    std = np.array([wp * h, wp * h, 1e-2, wp * h, wv * h / f, wv * h / f, 1e-5 / f, wv * h / f])
    q = np.diag(std**2) * (dt / f)
    return transition @ mean, transition @ cov @ transition.T + q


def _reference_update(mean, cov, z):
    h = mean[3]
    wp = kalman.WEIGHT_POSITION
    r = np.diag(np.array([wp * h, wp * h, 1e-1, wp * h]) ** 2)
    H = np.eye(4, 8)
    s = H @ cov @ H.T + r
    gain = cov @ H.T @ np.linalg.inv(s)
    return mean + gain @ (z - H @ mean), cov - gain @ s @ gain.T


def test_predict_and_update_equal_the_8x8_filter():
    rng = np.random.default_rng(3)
    boxes = rng.uniform(0, 500, (5, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(20, 200, (5, 2))], axis=1)
    means, covariances = kalman.initiate(kalman.boxes_to_measurements(boxes))
    reference = [(means[i].copy(), _full(means, covariances)[i]) for i in range(5)]
    for _ in range(30):
        dt = float(rng.choice([1 / 90, 1 / 30, 0.1, 0.5]))
        means, covariances = kalman.predict(means, covariances, dt)
        reference = [_reference_predict(m, c, dt) for m, c in reference]
        z = means[:, :4] + rng.normal(0, 3, (5, 4))
        z[:, 2] = np.abs(z[:, 2]) + 0.1
        means, covariances = kalman.update(means, covariances, z)
        reference = [_reference_update(m, c, z[i]) for i, (m, c) in enumerate(reference)]
    full = _full(means, covariances)
    for i, (m, c) in enumerate(reference):
        np.testing.assert_allclose(means[i], m, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(full[i], c, rtol=1e-9, atol=1e-12)


def test_boxes_and_measurements_round_trip():
    boxes = np.array([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 1.0, 2.0]])
    np.testing.assert_allclose(kalman.measurements_to_boxes(kalman.boxes_to_measurements(boxes)), boxes)
    assert kalman.boxes_to_measurements(boxes)[0].tolist() == pytest.approx([30.0, 60.0, 0.5, 80.0])
