"""Adaptive rounding of convolution weights to the int8 grid, chosen on calibration data.

The converter rounds every weight to the nearest step of its channel's int8 grid (symmetric,
scale = max |w| / 127). For a 3x3 depthwise channel that leaves an output error x . delta per
output pixel (x: the 9 input values under the kernel, delta: the 9 rounding errors), and in
MobileNetV2's first depthwise layer, where some channels amplify their input 20-30 times, those
errors cost more accuracy than all the model's activation quantisation together: on the real
retrained export (model-tools/README.md), rounding only that layer's 288 weights to the nearest step
in an otherwise float model loses 2.7 % of person AP, as much as full int8 conversion does.

Nearest is not the best rounding for the outputs. Per channel, the expected squared output error
of a rounding choice is delta^T C delta, with C = E[x x^T] the second moments of the channel's input
patches over the calibration images; with 9 taps there are only 2^9 = 512 floor/ceil patterns, so
the best one is found exhaustively (the idea of AdaRound, Nagel et al. 2020, without its
optimiser). A standard convolution's output channel has more taps (27 for MobileNetV2's first,
3x3 over 3 colours, which feeds that depthwise layer), too many to enumerate: descend_rounding
starts at nearest and flips single taps between floor and ceil while that lowers the same error,
so it ends at a local optimum that is never worse than nearest. The chosen values are written
back into the float graph exactly on the grid, so the converter's own rounding keeps them; its
scale is unchanged because the largest weight of each (output) channel sits on +-127 steps either
way, also after the converter folds the following batch norm's per-channel factor into the
weights. The float model (the reference the int8 model is compared with) is converted from the
untouched graph.

Pure numpy; convert.py gathers the moments in TensorFlow and rewrites the graph.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# int8 weights are symmetric in [-127, 127] (TFLite's quantisation spec).
WEIGHT_STEPS = 127
# Exhaustive search over 2^taps patterns; larger kernels keep nearest rounding.
MAX_TAPS = 9


def patch_moments(patches: np.ndarray) -> np.ndarray:
    """Sum over N of x x^T per channel: patches [N, taps, C] -> [C, taps, taps] (float64)."""
    patches = np.asarray(patches, dtype=np.float64)
    return np.einsum("nkc,nlc->ckl", patches, patches)


def channel_scales(weights: np.ndarray) -> np.ndarray:
    """Per-channel int8 step of weights [taps, C]: max |w| / 127 (0 for an all-zero channel)."""
    return np.abs(weights).max(axis=0) / WEIGHT_STEPS


@dataclass(frozen=True)
class RoundingResult:
    weights: np.ndarray  # [taps, C], each value an integer number of its channel's steps
    nearest_error: np.ndarray  # [C]: delta^T C delta of nearest rounding
    chosen_error: np.ndarray  # [C]: the same for the chosen rounding (<= nearest_error)


def choose_rounding(weights: np.ndarray, moments: np.ndarray) -> RoundingResult:
    """The floor/ceil pattern per channel that minimises delta^T M delta (M = moments[c]).

    weights: [taps, C] float; moments: [C, taps, taps] (any positive scale: sums or means).
    Each channel's largest weight stays at +-127 steps (it sets the converter's scale: moving it
    would change the grid and the converter would round every other weight afresh); nearest
    rounding is always among the candidates, so no channel gets worse.
    """
    weights = np.asarray(weights, dtype=np.float64)
    taps, channels = weights.shape
    if moments.shape != (channels, taps, taps):
        raise ValueError(f"moments have shape {moments.shape}, expected {(channels, taps, taps)}")
    scales = channel_scales(weights)
    safe = np.where(scales > 0, scales, 1.0)
    steps = weights / safe  # [taps, C]
    largest = np.abs(weights).argmax(axis=0)  # [C]: the tap at +-127 steps
    columns = np.arange(channels)
    steps[largest, columns] = np.sign(steps[largest, columns]) * WEIGHT_STEPS  # exactly, not 126.9999
    nearest = np.round(steps)
    nearest_delta = (nearest - steps) * safe
    nearest_error = np.einsum("kc,ckl,lc->c", nearest_delta, moments, nearest_delta)
    if taps > MAX_TAPS:
        return RoundingResult(nearest * safe * (scales > 0), nearest_error, nearest_error)
    patterns = np.array(list(itertools.product((0.0, 1.0), repeat=taps)))  # [P, taps]
    floor = np.floor(steps)
    chosen = nearest.copy()
    chosen_error = nearest_error.copy()
    for channel in np.flatnonzero(scales > 0):
        candidates = floor[:, channel][None, :] + patterns  # [P, taps] in steps
        allowed = candidates[:, largest[channel]] == nearest[largest[channel], channel]
        delta = (candidates - steps[:, channel][None, :]) * scales[channel]
        errors = np.einsum("pk,kl,pl->p", delta, moments[channel], delta)
        errors[~allowed] = np.inf
        best = int(np.argmin(errors))
        if errors[best] < chosen_error[channel]:
            chosen[:, channel] = candidates[best]
            chosen_error[channel] = errors[best]
    return RoundingResult(chosen * safe * (scales > 0), nearest_error, chosen_error)


def descend_rounding(weights: np.ndarray, moments: np.ndarray, passes: int = 8) -> RoundingResult:
    """Greedy floor/ceil choice per channel for kernels too large to search exhaustively.

    weights: [taps, C]; moments: [C, taps, taps] or one [taps, taps] shared by every channel (a
    standard convolution's output channels all see the same input patches). Starts at nearest and
    flips one tap at a time between its floor and ceil step whenever that lowers delta^T M delta,
    up to `passes` sweeps over the taps, so no channel gets worse than nearest; each channel's
    largest weight stays at +-127 steps, as in choose_rounding.
    """
    weights = np.asarray(weights, dtype=np.float64)
    taps, channels = weights.shape
    moments = np.asarray(moments, dtype=np.float64)
    if moments.shape == (taps, taps):
        moments = np.broadcast_to(moments, (channels, taps, taps))
    if moments.shape != (channels, taps, taps):
        raise ValueError(f"moments have shape {moments.shape}, expected {(channels, taps, taps)} or {(taps, taps)}")
    scales = channel_scales(weights)
    safe = np.where(scales > 0, scales, 1.0)
    steps = weights / safe
    largest = np.abs(weights).argmax(axis=0)
    columns = np.arange(channels)
    steps[largest, columns] = np.sign(steps[largest, columns]) * WEIGHT_STEPS
    nearest = np.round(steps)
    floor = np.floor(steps)
    chosen = nearest.copy()
    nearest_delta = (nearest - steps) * safe
    nearest_error = np.einsum("kc,ckl,lc->c", nearest_delta, moments, nearest_delta)
    chosen_error = nearest_error.copy()
    for channel in np.flatnonzero(scales > 0):
        matrix = moments[channel]
        values = chosen[:, channel]
        gradient = matrix @ ((values - steps[:, channel]) * scales[channel])  # M delta
        for _ in range(passes):
            improved = False
            for tap in range(taps):
                if tap == largest[channel]:
                    continue
                other = floor[tap, channel] + (values[tap] == floor[tap, channel])
                if abs(other) > WEIGHT_STEPS:
                    continue
                change = (other - values[tap]) * scales[channel]
                gain = 2.0 * change * gradient[tap] + change * change * matrix[tap, tap]
                if gain < -1e-12 * max(chosen_error[channel], 1e-300):
                    values[tap] = other
                    gradient += matrix[:, tap] * change
                    chosen_error[channel] += gain
                    improved = True
            if not improved:
                break
        delta = (values - steps[:, channel]) * scales[channel]
        chosen_error[channel] = float(delta @ matrix @ delta)  # exact, not the running sum
    return RoundingResult(chosen * safe * (scales > 0), nearest_error, chosen_error)
