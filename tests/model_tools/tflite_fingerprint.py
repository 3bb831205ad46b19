"""A .tflite model's fingerprint that is the same on every x86 CPU, for "the same model as before" tests.

The bytes of an int8 model are not: TensorFlow's calibrator runs the float model through TFLite
kernels that pick their SIMD path at run time (XNNPACK, ruy), so hosts with other SIMD extensions
can see activation ranges a few float ulps apart, the scales stored in the model differ in their last
bits and so does the sha256. What a refactoring must not change is everything else: the operators
in order, every tensor's name, shape, type and zero point, its scales to within float rounding, and
the constant data (weights, biases) to within a few one-step roundings. This fingerprint keeps
exactly that, as plain JSON that is small enough to commit.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# TFLite's TensorType enum -> numpy (schema.fbs); the types a converted SSD uses.
UINT8 = 3
_NUMPY_TYPE = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 10: np.float64}

# Relative tolerance of scales: calibration on another CPU moves them by about 1e-7; a changed
# preprocessing, calibration set or cut moves them by whole percents.
# Calibration's float arithmetic depends on the host CPU's SIMD paths: activation scales seen
# 1.6e-4 apart between two x86 hosts (an AMD EPYC with AVX-512 against the recorded one), and a
# changed calibration (other photos) moves them by percents.
SCALE_RTOL = 1e-3
# Constant data and zero points may differ by one step in a few values: a bias is
# round(b / (s_in * s_w)), so scales a few ulps apart flip the odd bias by one, and scales
# SCALE_RTOL apart move the int32 biases by up to that fraction of their size. A changed weight
# folding, layout or calibration changes far more than one value in a thousand.
FLIPPED_FRACTION = 1e-3


def _moments(values: np.ndarray) -> dict:
    flat = values.astype(np.float64).ravel()
    position = np.arange(1, flat.size + 1, dtype=np.float64) / max(flat.size, 1)
    moments = {
        "max_abs": np.abs(flat).max() if flat.size else 0.0,
        "sum": flat.sum(),
        "sum_abs": np.abs(flat).sum(),
        "sum_squares": (flat * flat).sum(),
        "sum_positional": (flat * position).sum(),  # catches a permutation
    }
    # 10 significant digits: far below every tolerance, and a third of the JSON of full reprs.
    return {"count": int(flat.size)} | {name: float(f"{value:.10g}") for name, value in moments.items()}


def _moments_differ(want: dict, got: dict, *, rtol: float, integer: bool) -> list[str]:
    if want["count"] != got["count"]:
        return [f"count {got['count']}, expected {want['count']}"]
    if integer:
        # Each flipped value moves a moment by at most this much (x -> x +- 1).
        flips = max(2.0, FLIPPED_FRACTION * want["count"])
        step = {"max_abs": 1.0, "sum": 1.0, "sum_abs": 1.0, "sum_positional": 1.0}
        step["sum_squares"] = 2.0 * want["max_abs"] + 1.0
        tolerance = {moment: (1.0 if moment == "max_abs" else flips) * size for moment, size in step.items()}
    else:
        tolerance = {moment: 0.0 for moment in want}
    return [
        f"{moment} {got[moment]!r}, expected {want[moment]!r}"
        for moment in want
        if moment != "count" and not np.isclose(got[moment], want[moment], rtol=rtol, atol=tolerance[moment])
    ]


def fingerprint(model: bytes) -> dict:
    from tensorflow.lite.tools import flatbuffer_utils

    graph = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    subgraph = graph.subgraphs[0]
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in graph.operatorCodes]
    custom = [code.customCode.decode() if code.customCode else None for code in graph.operatorCodes]
    operators = []
    for operator in subgraph.operators:
        index = operator.opcodeIndex
        operators.append(
            {
                "op": custom[index] or codes[index],
                "inputs": [int(i) for i in operator.inputs],
                "outputs": [int(i) for i in operator.outputs],
            }
        )
    tensors = []
    for tensor in subgraph.tensors:
        entry = {
            "name": tensor.name.decode(),
            "shape": [int(size) for size in (tensor.shape if tensor.shape is not None else [])],
            "type": int(tensor.type),
        }
        quantization = tensor.quantization
        if quantization is not None and quantization.scale is not None:
            entry["zero_points"] = _moments(np.asarray(quantization.zeroPoint))
            entry["scales"] = _moments(np.asarray(quantization.scale))
            entry["quantized_dimension"] = int(quantization.quantizedDimension)
        data = graph.buffers[tensor.buffer].data if tensor.buffer < len(graph.buffers) else None
        if data is not None and len(data) and tensor.type in _NUMPY_TYPE:
            entry["data"] = _moments(np.frombuffer(bytes(data), dtype=_NUMPY_TYPE[tensor.type]))
        elif data is not None and len(data):
            entry["data_bytes"] = len(data)
        tensors.append(entry)
    return {
        "inputs": [int(i) for i in subgraph.inputs],
        "outputs": [int(i) for i in subgraph.outputs],
        "operators": operators,
        "tensors": tensors,
    }


def fingerprint_file(path: Path) -> dict:
    return fingerprint(path.read_bytes())


def differences(expected: dict, actual: dict, *, opaque_types: tuple[int, ...] = ()) -> list[str]:
    """What differs beyond float rounding, one line each (empty: the same model).

    Constant data of `opaque_types` is compared by size only, within 1 %: Vela's compressed weight
    streams (uint8) change throughout when one weight moves by one step."""
    found = [f"{key} differ" for key in ("inputs", "outputs", "operators") if expected[key] != actual[key]]
    if len(expected["tensors"]) != len(actual["tensors"]):
        return found + [f"{len(actual['tensors'])} tensors, expected {len(expected['tensors'])}"]
    for index, (want, got) in enumerate(zip(expected["tensors"], actual["tensors"])):
        where = f"tensor {index} ({want['name']})"
        for key in ("name", "shape", "type", "quantized_dimension", "data_bytes"):
            if want.get(key) != got.get(key):
                found.append(f"{where}: {key} {got.get(key)!r}, expected {want.get(key)!r}")
        for key in ("scales", "zero_points", "data"):
            if (key in want) != (key in got):
                found.append(f"{where}: {key} in only one of them")
            elif key not in want:
                continue
            elif key == "data" and want["type"] in opaque_types:
                if not np.isclose(got[key]["count"], want[key]["count"], rtol=0.01):
                    found.append(f"{where}: {got[key]['count']} bytes of data, expected about {want[key]['count']}")
            else:
                integer = key == "zero_points" or (key == "data" and want["type"] != 0)
                rtol = 0.0 if key == "zero_points" else SCALE_RTOL
                found += [f"{where}: {key} {line}" for line in _moments_differ(want[key], got[key], rtol=rtol, integer=integer)]
    return found


def write(path: Path, model: Path) -> None:
    """Records a model's fingerprint (see test_exports.py for when that is right)."""
    path.write_text(json.dumps(fingerprint_file(model), indent=None, separators=(",", ":")) + "\n")
