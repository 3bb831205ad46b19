"""`check`: int8-vs-float agreement measures (gate (c)) and the command's verdicts and exit codes."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from bsp_gate_support import (  # noqa: F401 (fixtures are collected from this module's namespace)
    fallback_vela_dir,
    one_operator_model,
    run_cli,
    standin_vela_dir,
    vela_executable,
)
from ssdlite_detect.postprocess import RawDetections
from ssdlite_tools import agreement, bsp_gates


def _detections(boxes, class_ids, scores) -> RawDetections:
    return RawDetections(np.array(boxes, np.float32), np.array(class_ids, np.int64), np.array(scores, np.float32))


def test_identical_outputs_have_infinite_snr_and_unit_correlation():
    values = np.linspace(-3, 3, 1000)

    result = agreement.raw_agreement(values, values.copy())

    assert (result.snr_db, result.pearson, result.max_abs_error) == (math.inf, 1.0, 0.0)


def test_snr_is_signal_over_error_power_in_db():
    rng = np.random.default_rng(7)
    signal = rng.normal(0, 1.0, 100_000)
    noise = rng.normal(0, 0.1, 100_000)  # 1/100 of the signal's power: 20 dB

    result = agreement.raw_agreement(signal, signal + noise)

    assert result.snr_db == pytest.approx(20.0, abs=0.2)
    assert result.pearson == pytest.approx(1 / math.sqrt(1.01), abs=1e-3)


def test_detections_match_one_to_one_within_their_class():
    reference = _detections(
        [[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9], [0.0, 0.0, 0.2, 0.2]], [1, 3, 1], [0.9, 0.8, 0.6]
    )
    test = _detections(
        [[0.1, 0.1, 0.5, 0.55], [0.5, 0.5, 0.9, 0.9], [0.6, 0.6, 0.7, 0.7]],
        [1, 18, 1],  # second box: same place, other class -> no match
        [0.85, 0.8, 0.5],
    )

    result = agreement.match_detections(reference, test, iou_threshold=0.5)

    assert (result.reference_count, result.test_count, result.matched) == (3, 3, 1)
    assert result.mean_iou == pytest.approx(0.4 * 0.4 / (0.4 * 0.45))
    assert result.mean_abs_score_diff == pytest.approx(0.05, abs=1e-6)
    assert result.recall == pytest.approx(1 / 3)


def test_a_test_detection_is_matched_at_most_once():
    box = [0.2, 0.2, 0.6, 0.6]
    reference = _detections([box, box], [1, 1], [0.9, 0.8])
    test = _detections([box], [1], [0.9])

    assert agreement.match_detections(reference, test).matched == 1


def test_no_detections_on_either_side_is_not_a_disagreement():
    empty = _detections(np.zeros((0, 4)), [], [])

    result = agreement.match_detections(empty, empty)

    assert (result.recall, result.precision, result.matched) == (1.0, 1.0, 0)


def test_calibration_images_are_left_out_of_the_comparison(tmp_path):
    used, fresh = tmp_path / "calibration.jpg", tmp_path / "held_out.jpg"
    used.write_bytes(b"calibration photo bytes")
    fresh.write_bytes(b"another photo")
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"images": [{"id": 139, "sha256": hashlib.sha256(used.read_bytes()).hexdigest()}]}))

    digests = bsp_gates.calibration_digests([lock, tmp_path / "absent.json"])

    assert bsp_gates.held_out_images([used, fresh], digests) == [fresh]


def test_agreement_gate_passes_a_model_against_itself(reference):
    model = reference / "coco_ssd_mobilenet_v1_raw.tflite"

    result = bsp_gates.agreement_gate(model, model, [reference / "bus.jpg"])

    assert result.status == bsp_gates.PASSED, result.summary
    assert result.details["detections"]["recall"] == 1.0
    assert result.details["class_scores"]["snr_db"] == math.inf


# --- the command --------------------------------------------------------------------------------


def test_check_fails_on_an_operator_version_tflite_2_10_lacks(tmp_path, capsys):
    model = tmp_path / "conv_v7.tflite"
    model.write_bytes(one_operator_model(3, 7))
    report = tmp_path / "check.json"

    code = run_cli(
        "check", "--model", model, "--skip", "tflite210", "--skip", "vela", "--skip", "agreement", "--json", report
    )

    assert code == 3
    assert "tflite210-ops" in capsys.readouterr().err
    gates = {g["name"]: g["status"] for g in json.loads(report.read_text())["gates"]}
    assert gates == {
        "tflite210-ops": "failed",
        "tflite210-run": "skipped",
        "vela-npu": "skipped",
        "int8-agreement": "skipped",
    }


def test_check_without_vela_output_says_which_command_makes_it(tmp_path, reference, capsys):
    code = run_cli(
        "check", "--model", reference / "coco_ssd_mobilenet_v1_raw.tflite", "--vela-dir", tmp_path,
        "--skip", "tflite210", "--skip", "agreement",
    )  # fmt: skip

    assert code == 2
    assert "run `ssdlite-tools vela` first" in capsys.readouterr().err


def test_check_fails_on_cpu_fallback_unless_allowed(fallback_vela_dir, reference):
    argv = [
        "check", "--model", reference / "coco_ssd_mobilenet_v1_raw.tflite", "--vela-dir", fallback_vela_dir,
        "--skip", "tflite210", "--skip", "agreement",
    ]  # fmt: skip

    assert run_cli(*argv) == 3
    assert run_cli(*argv, "--allow-cpu-ops") == 0


def test_check_passes_the_standin_end_to_end(
    standin_int8_tflite, standin_float_tflite, standin_vela_dir, holdout_images, tflite210_python, tmp_path, capsys
):
    report = tmp_path / "check.json"

    # The stand-in's random weights amplify quantisation noise far more than trained ones do, so
    # its agreement is judged with loose thresholds here; the defaults are meant for the real model.
    code = run_cli(
        "check", "--model", standin_int8_tflite, "--float-model", standin_float_tflite, "--vela-dir", standin_vela_dir,
        "--images", *holdout_images, "--tflite210-python", tflite210_python,
        "--min-snr-db", "3", "--min-detection-recall", "0.2", "--json", report,
    )  # fmt: skip

    table = capsys.readouterr().out
    assert code == 0, table
    result = json.loads(report.read_text())
    assert result["passed"] is True
    assert [g["status"] for g in result["gates"]] == ["passed"] * 4
    gates = {g["name"]: g["details"] for g in result["gates"]}
    assert gates["vela-npu"]["npu_share"] == 1.0
    assert gates["tflite210-run"]["tflite_runtime"] == "2.10.0"
    assert gates["int8-agreement"]["images"] == [p.name for p in holdout_images]
    for name in ("tflite210-ops", "tflite210-run", "vela-npu", "int8-agreement"):
        assert name in table


def test_check_exits_3_when_agreement_is_below_its_threshold(
    standin_int8_tflite, standin_float_tflite, holdout_images, tmp_path, capsys
):
    report = tmp_path / "check.json"

    code = run_cli(
        "check", "--model", standin_int8_tflite, "--float-model", standin_float_tflite, "--images", holdout_images[0],
        "--skip", "tflite210", "--skip", "vela", "--min-snr-db", "60", "--json", report,
    )  # fmt: skip

    assert code == 3
    agreement_gate = json.loads(report.read_text())["gates"][3]
    assert agreement_gate["status"] == "failed"
    assert "SNR" in agreement_gate["summary"] and "< 60" in agreement_gate["summary"]
