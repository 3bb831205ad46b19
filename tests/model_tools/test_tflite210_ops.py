"""Gate (a): the TFLite 2.10.0 operator table, and running models on the BSP's exact runtime."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from bsp_gate_support import one_operator_model, tflite210_subprocess
from ssdlite_tools import bsp_gates, bsp_runtime
from ssdlite_tools.errors import ToolsError
from ssdlite_tools.tflite210_ops import (
    BUILTIN_NAMES,
    TFLITE_2_10_BUILTINS,
    check_operator,
)
from ssdlite_tools.tflite_ops import BUILTIN_CUSTOM, OperatorCode

CONV_2D, BROADCAST_TO, UNSORTED_SEGMENT_MIN = 3, 130, 157


def test_table_is_consistent():
    codes = [code for code, _, _ in TFLITE_2_10_BUILTINS.values()]
    assert len(codes) == len(set(codes))
    assert all(1 <= low <= high for _, low, high in TFLITE_2_10_BUILTINS.values())
    # Spot values of register.cc @ v2.10.0 that the SSDLite graph depends on.
    assert TFLITE_2_10_BUILTINS["CONV_2D"] == (3, 1, 6)
    assert TFLITE_2_10_BUILTINS["DEPTHWISE_CONV_2D"] == (4, 1, 6)
    assert TFLITE_2_10_BUILTINS["CONCATENATION"] == (2, 1, 3)


def test_versions_inside_the_registered_range_pass():
    assert check_operator(OperatorCode(CONV_2D, 6)).supported
    assert check_operator(OperatorCode(BUILTIN_CUSTOM, 1, "TFLite_Detection_PostProcess")).supported


def test_version_above_the_2_10_maximum_fails():
    verdict = check_operator(OperatorCode(CONV_2D, 7), count=3)

    assert not verdict.supported
    assert (verdict.name, verdict.version, verdict.count) == ("CONV_2D", 7, 3)
    assert "1..6" in verdict.reason


def test_version_below_the_registered_minimum_fails():
    # register.cc registers BROADCAST_TO from version 2: version 1 was rolled back.
    assert not check_operator(OperatorCode(BROADCAST_TO, 1)).supported


def test_operators_added_after_2_10_fail():
    verdict = check_operator(OperatorCode(UNSORTED_SEGMENT_MIN, 1))  # TFLite 2.11

    assert not verdict.supported
    assert verdict.name == "BUILTIN_157"
    assert UNSORTED_SEGMENT_MIN not in BUILTIN_NAMES


def test_unknown_custom_operators_fail():
    verdict = check_operator(OperatorCode(BUILTIN_CUSTOM, 1, "ethos-u"))

    assert not verdict.supported
    assert verdict.name == "CUSTOM(ethos-u)"


def test_operator_gate_passes_the_reference_model(reference):
    result = bsp_gates.operator_gate(reference / "coco_ssd_mobilenet_v1_raw.tflite")

    assert result.status == bsp_gates.PASSED
    assert {op["name"] for op in result.details["operators"]} == {
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "RESHAPE",
        "CONCATENATION",
        "LOGISTIC",
    }


def test_operator_gate_fails_a_model_needing_a_newer_runtime(tmp_path):
    model = tmp_path / "conv_v7.tflite"
    model.write_bytes(one_operator_model(CONV_2D, 7))

    result = bsp_gates.operator_gate(model)

    assert result.status == bsp_gates.FAILED
    assert "CONV_2D v7" in result.summary


def test_operator_gate_passes_the_standin(standin_int8_tflite):
    result = bsp_gates.operator_gate(standin_int8_tflite)

    assert result.status == bsp_gates.PASSED, result.summary


def test_missing_tflite210_env_names_the_make_target(tmp_path):
    with pytest.raises(ToolsError, match="make env-tflite210"):
        bsp_runtime.find_tflite210_python(tmp_path / "no-env" / "bin" / "python")


def test_a_python_without_tflite_runtime_is_a_broken_env_not_a_failed_model(reference):
    # The tools env's own Python has TensorFlow but no tflite_runtime module.
    with pytest.raises(ToolsError, match="cannot import tflite_runtime"):
        bsp_runtime.run_on_tflite210(reference / "coco_ssd_mobilenet_v1_raw.tflite", python=Path(sys.executable))


# --- against the real TFLite 2.10.0 (.venv/tflite210) --------------------------------------------

_PROBE_ALL = """
import json, pathlib, sys
from tflite_runtime.interpreter import Interpreter
found = {}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.tflite")):
    try:
        Interpreter(model_path=str(path))
        found[path.stem] = True
    except ValueError as error:
        message = str(error)
        # Only these two mean "not registered"; anything else (e.g. missing options) comes after
        # the op was found in the resolver.
        missing = "Didn't find op for builtin opcode" in message or "builtin_code out of range" in message
        found[path.stem] = not missing
print(json.dumps(found))
"""


def test_table_matches_what_tflite_runtime_2_10_registers(tflite210_python, tmp_path):
    highest_code = max(code for code, _, _ in TFLITE_2_10_BUILTINS.values())
    for code in range(highest_code + 4):
        if code == BUILTIN_CUSTOM:
            continue  # custom ops are looked up by name when tensors are allocated, not at load
        for version in range(1, 11):
            (tmp_path / f"{code}_{version}.tflite").write_bytes(one_operator_model(code, version))

    result = tflite210_subprocess(tflite210_python, _PROBE_ALL, str(tmp_path))
    assert result.returncode == 0, result.stderr
    registered = {}
    for key, found in json.loads(result.stdout).items():
        code, version = map(int, key.split("_"))
        if found:
            registered.setdefault(code, []).append(version)

    derived = {code: (min(versions), max(versions)) for code, versions in registered.items()}
    expected = {code: (low, high) for code, low, high in TFLITE_2_10_BUILTINS.values()}
    assert derived == expected


def test_tflite210_run_gate_reports_shapes_of_a_model_that_runs(tflite210_python, reference):
    result = bsp_gates.tflite210_run_gate(reference / "coco_ssd_mobilenet_v1_raw.tflite", python=tflite210_python)

    assert result.status == bsp_gates.PASSED, result.summary
    assert result.details["tflite_runtime"] == "2.10.0"
    assert [(o["shape"], o["dtype"]) for o in result.details["outputs"]] == [
        ([1, 1917, 4], "uint8"),
        ([1, 1917, 91], "uint8"),
    ]


def test_tflite210_outputs_on_a_photo_track_the_host_tflite(tflite210_python, reference):
    from ssdlite_detect import preprocess

    photo = preprocess.load_image(str(reference / "bus.jpg"))
    model_input = preprocess.prepare_input(photo, 300, 300, np.uint8, (0.0078125, 128))

    result = bsp_gates.tflite210_run_gate(reference / "coco_ssd_mobilenet_v1_raw.tflite", model_input, tflite210_python)

    assert result.status == bsp_gates.PASSED, result.summary
    comparison = {c["name"]: c for c in result.details["host_tflite_comparison"]}
    assert set(comparison) == {"Squeeze", "convert_scores"}
    # A trained network keeps kernel rounding differences (2.10 reference kernels vs the host's
    # XNNPACK) to a few quantisation steps; measured: at most 5.
    assert all(c["max_abs_difference"] <= 10 for c in comparison.values())


def test_tflite210_run_gate_fails_a_model_that_2_10_cannot_load(tflite210_python, tmp_path):
    model = tmp_path / "conv_v7.tflite"
    model.write_bytes(one_operator_model(CONV_2D, 7))

    result = bsp_gates.tflite210_run_gate(model, python=tflite210_python)

    assert result.status == bsp_gates.FAILED
    assert result.details["stage"] == "load"
    assert "Didn't find op for builtin opcode 'CONV_2D' version '7'" in result.summary


def test_standin_loads_and_invokes_on_tflite_2_10(tflite210_python, standin_int8_tflite):
    result = bsp_gates.tflite210_run_gate(standin_int8_tflite, python=tflite210_python)

    assert result.status == bsp_gates.PASSED, result.summary
    shapes = sorted(tuple(o["shape"]) for o in result.details["outputs"])
    assert shapes == [(1, 1917, 1, 4), (1, 1917, 91)]
    assert {o["dtype"] for o in result.details["outputs"]} == {"int8"}
