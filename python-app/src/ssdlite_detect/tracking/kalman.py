"""Constant-velocity Kalman filter of boxes, batched over tracks (pure numpy).

ByteTrack's filter (after SORT/DeepSORT): the state is (cx, cy, a, h) - box centre, aspect ratio
w/h, height - and their velocities; noise proportional to the box height, so a large near object
may move more pixels than a small far one. ByteTrack counts time in frames; here time is in
seconds (velocities in units per second, the process noise growing with the elapsed time), so the
same parameters hold from 10 to 90 FPS and across dropped frames: ByteTrack's per-frame noise
weights are those of a NOMINAL_FRAME_S step.

With this model the 8x8 covariance never couples two coordinates: the transition only adds
velocity k to position k, and the noises and the measurement are per coordinate. So the filter is
four independent two-state filters, and a covariance is kept as its three distinct entries per
coordinate - (position variance, position-velocity covariance, velocity variance), an array
(N, 3, 4) - exactly the 8x8 filter's numbers (the tests compare them), in a dozen elementwise
numpy operations per frame whatever the number of tracks.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

NOMINAL_FRAME_S = 1.0 / 30.0  # ByteTrack's noise weights are per frame of a 30 FPS video
WEIGHT_POSITION = 1.0 / 20.0
WEIGHT_VELOCITY = 1.0 / 160.0
_PP, _PV, _VV = 0, 1, 2  # the covariance's entries per coordinate


def boxes_to_measurements(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xmin, ymin, xmax, ymax -> (N, 4) cx, cy, w/h, h."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    measurements = np.empty_like(boxes)
    size = boxes[:, 2:] - boxes[:, :2]
    measurements[:, :2] = boxes[:, :2] + size / 2
    measurements[:, 3] = np.maximum(size[:, 1], 1e-6)
    measurements[:, 2] = size[:, 0] / measurements[:, 3]
    return measurements


def measurements_to_boxes(states: np.ndarray) -> np.ndarray:
    """(N, >=4) cx, cy, a, h, ... -> (N, 4) xmin, ymin, xmax, ymax."""
    half = np.empty((states.shape[0], 2))
    half[:, 1] = states[:, 3] / 2
    half[:, 0] = states[:, 2] * half[:, 1]
    boxes = np.empty((states.shape[0], 4))
    boxes[:, :2] = states[:, :2] - half
    boxes[:, 2:] = states[:, :2] + half
    return boxes


def _stds(height: np.ndarray, position: float, velocity: float, aspect: float, aspect_velocity: float) -> np.ndarray:
    """(2, N, 4): standard deviations of positions and of velocities, ByteTrack's weights."""
    std = np.empty((2, height.shape[0], 4))
    std[0] = (position * height)[:, None]
    std[1] = (velocity / NOMINAL_FRAME_S * height)[:, None]
    std[0, :, 2] = aspect
    std[1, :, 2] = aspect_velocity / NOMINAL_FRAME_S
    return std


def initiate(measurements: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """New tracks at `measurements` (N, 4), velocities unknown (zero, with a wide spread):
    means (N, 8), covariances (N, 3, 4)."""
    count = measurements.shape[0]
    means = np.zeros((count, 8))
    means[:, :4] = measurements
    std = _stds(measurements[:, 3], 2 * WEIGHT_POSITION, 10 * WEIGHT_VELOCITY, 1e-2, 1e-5)
    covariances = np.zeros((count, 3, 4))
    covariances[:, _PP] = std[0] ** 2
    covariances[:, _VV] = std[1] ** 2
    return means, covariances


def predicted_measurements(means: np.ndarray, elapsed_s: float) -> np.ndarray:
    """(N, 4): the predicted cx, cy, a, h `elapsed_s` seconds later (predict's means, without the
    covariances)."""
    return means[:, :4] + max(float(elapsed_s), 0.0) * means[:, 4:]


def predict(means: np.ndarray, covariances: np.ndarray, elapsed_s: float) -> Tuple[np.ndarray, np.ndarray]:
    """The tracks `elapsed_s` seconds later (new arrays)."""
    if means.shape[0] == 0:
        return means, covariances
    dt = max(float(elapsed_s), 0.0)
    std = _stds(means[:, 3], WEIGHT_POSITION, WEIGHT_VELOCITY, 1e-2, 1e-5)
    steps = dt / NOMINAL_FRAME_S  # a random walk: the noise's variance grows with the time passed
    means = means.copy()
    means[:, :4] = predicted_measurements(means, dt)
    pp, pv, vv = covariances[:, _PP], covariances[:, _PV], covariances[:, _VV]
    predicted = np.empty_like(covariances)
    predicted[:, _PP] = pp + (2 * dt) * pv + (dt * dt) * vv + steps * std[0] ** 2
    predicted[:, _PV] = pv + dt * vv
    predicted[:, _VV] = vv + steps * std[1] ** 2
    return means, predicted


def update(means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The tracks corrected by one measurement (N, 4) each (new arrays)."""
    if means.shape[0] == 0:
        return means, covariances
    noise = (WEIGHT_POSITION * means[:, 3])[:, None] * np.ones(4)
    noise[:, 2] = 1e-1
    pp, pv, vv = covariances[:, _PP], covariances[:, _PV], covariances[:, _VV]
    innovation_variance = pp + noise * noise
    gain_position = pp / innovation_variance
    gain_velocity = pv / innovation_variance
    innovation = measurements - means[:, :4]
    means = means.copy()
    means[:, :4] += gain_position * innovation
    means[:, 4:] += gain_velocity * innovation
    corrected = np.empty_like(covariances)
    corrected[:, _PP] = (1 - gain_position) * pp
    corrected[:, _PV] = (1 - gain_position) * pv
    corrected[:, _VV] = vv - gain_velocity * pv
    return means, corrected
