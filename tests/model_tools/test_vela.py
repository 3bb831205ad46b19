"""`vela`: NXP's i.MX 93 settings, running Vela 3.7.0, and reading what it reports (gate (b))."""

from __future__ import annotations

import configparser
import stat
import textwrap

import pytest
from bsp_gate_support import (  # noqa: F401 (fixtures are collected from this module's namespace)
    compile_with_vela,
    fallback_vela_dir,
    run_cli,
    standin_vela_dir,
    vela_executable,
)
from ssdlite_tools import bsp_gates, vela
from ssdlite_tools.errors import ToolsError


def test_config_file_holds_nxps_imx93_defaults():
    settings = vela.NXP_IMX93_SETTINGS
    config = configparser.ConfigParser()
    config.read_string(settings.config_text())

    system = config["System_Config.iMX93"]
    assert float(system["core_clock"]) == 1e9
    assert (system["axi0_port"], system["axi1_port"]) == ("Sram", "Dram")
    assert (float(system["Sram_clock_scale"]), float(system["Dram_clock_scale"])) == (1.0, 0.234375)
    assert (int(system["Sram_burst_length"]), int(system["Dram_burst_length"])) == (32, 128)
    assert [int(system[k]) for k in ("Sram_read_latency", "Sram_write_latency")] == [32, 32]
    assert [int(system[k]) for k in ("Dram_read_latency", "Dram_write_latency")] == [500, 250]
    assert int(config["Memory_Mode.iMX93"]["arena_cache_size"]) == 384 * 1024
    assert settings.command_line_options() == [
        "--accelerator-config=ethos-u65-256",
        "--system-config=iMX93",
        "--memory-mode=iMX93",
        "--tensor-allocator=HillClimb",
        "--optimise=Performance",
        "--recursion-limit=2000",
    ]


VELA_LOG = textwrap.dedent(
    """\
    Warning: Unsupported TensorFlow Lite semantics for CUSTOM 'TFLite_Detection_PostProcess'. Placing on CPU instead
     - Input(s) and Output tensors must not be dynamic
       Op has dynamic tensor(s): TFLite_Detection_PostProcess
    Warning: Custom operation is unknown or unsupported, placing on CPU

    Network summary for net
    CPU operators = 1 (1.6%)
       CPU: Custom = TFLite_Detection_PostProcess (inputs [1, 1917, 4], outputs [])
    NPU operators = 60 (98.4%)
       NPU: Conv2DBias = conv0 (inputs [1, 300, 300, 3], outputs [1, 150, 150, 24])
    """
)


def test_reads_operator_placement_and_fallback_reasons_from_the_log():
    placement = vela.parse_operator_placement(VELA_LOG)

    assert (placement.npu_operators, placement.cpu_operators) == (60, 1)
    assert placement.npu_share == pytest.approx(60 / 61)
    assert placement.cpu_operator_names == ("Custom = TFLite_Detection_PostProcess",)
    assert "must not be dynamic" in placement.warnings[0]
    assert len(placement.warnings) == 2


def test_a_log_without_operator_counts_is_an_error():
    with pytest.raises(ToolsError, match="CPU operators"):
        vela.parse_operator_placement("Error: something else entirely\n")


def test_summary_csv_units_become_bytes_and_milliseconds(tmp_path):
    columns = {
        "accelerator_configuration": "Ethos_U65_256", "system_config": "iMX93", "memory_mode": "iMX93",
        "core_clock": "1000000000.0", "arena_cache_size": "384.0", "inference_time": "0.0125",
        "inferences_per_second": "80.0", "sram_memory_used": "375.0", "dram_memory_used": "5000.5",
        "sram_total_bytes": "42000000.0", "dram_total_bytes": "27000000.0", "cycles_npu": "1.0e7",
        "cycles_total": "1.25e7", "nn_macs": "750000000", "total_original_weights": "4000000",
        "total_npu_encoded_weights": "3000000",
    }  # fmt: skip
    path = tmp_path / "summary.csv"
    path.write_text(",".join(columns) + "\n" + ",".join(columns.values()) + "\n")

    summary = vela.read_summary_csv(path)

    assert summary.inference_time_ms == pytest.approx(12.5)
    assert summary.sram_used_bytes == 375 * 1024
    assert summary.arena_cache_size_bytes == 393216
    assert summary.dram_used_bytes == round(5000.5 * 1024)


def test_missing_vela_env_names_the_make_target(tmp_path):
    with pytest.raises(ToolsError, match=r"make env-vela"):
        vela.find_vela_executable(tmp_path / "no-such-venv" / "bin" / "vela")


def test_missing_vela_env_is_one_line_and_exit_2(tmp_path, capsys, reference):
    code = run_cli(
        "vela", "--model", reference / "coco_ssd_mobilenet_v1_raw.tflite", "--output-dir", tmp_path / "out",
        "--vela", tmp_path / "missing" / "vela",
    )  # fmt: skip

    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "make env-vela" in error


def test_a_vela_of_another_version_is_refused(tmp_path, reference):
    fake = tmp_path / "vela"
    fake.write_text("#!/bin/sh\necho 4.0.0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)

    with pytest.raises(ToolsError, match="not 3.7.0"):
        vela.compile_for_ethos_u(reference / "coco_ssd_mobilenet_v1_raw.tflite", tmp_path / "out", executable=fake)


def test_a_model_vela_rejects_is_reported_with_its_log(vela_executable, tmp_path):
    not_a_model = tmp_path / "broken.tflite"
    not_a_model.write_bytes(b"\x00" * 64)

    with pytest.raises(ToolsError, match=r"Vela failed on .*broken.tflite .*full log in"):
        vela.compile_for_ethos_u(not_a_model, tmp_path / "out", executable=vela_executable)
    assert (tmp_path / "out" / vela.LOG_NAME).is_file()


# --- with the real Vela (.venv/vela) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_vela_dir(vela_executable, reference, tmp_path_factory):
    output = tmp_path_factory.mktemp("vela-reference")
    compile_with_vela(reference / "coco_ssd_mobilenet_v1_raw.tflite", output, vela_executable)
    return output


def test_compiles_the_reference_ssd_entirely_for_the_npu(reference_vela_dir):
    assert sorted(p.name for p in reference_vela_dir.iterdir()) == sorted(
        [vela.VELA_MODEL_NAME, vela.SUMMARY_NAME, vela.CONFIG_NAME, vela.LOG_NAME]
    )
    result = bsp_gates.vela_gate(reference_vela_dir)

    assert result.status == bsp_gates.PASSED, result.summary
    assert result.details["cpu_operators"] == 0
    assert result.details["cpu_operators_in_vela_model"] == []
    summary = result.details["summary"]
    assert summary["accelerator"] == "Ethos_U65_256"
    assert summary["arena_cache_size_bytes"] == 393216
    assert 0 < summary["sram_used_bytes"] <= 393216


def test_a_cpu_fallback_fails_the_gate_and_is_listed(fallback_vela_dir):
    result = bsp_gates.vela_gate(fallback_vela_dir)

    assert result.status == bsp_gates.FAILED
    assert "TFLite_Detection_PostProcess" in result.summary
    assert result.details["cpu_operators_in_vela_model"][0]["operator"] == "CUSTOM(TFLite_Detection_PostProcess)"
    assert "--allow-cpu-ops" in result.summary
    assert result.details["cpu_operators"] == 1


def test_allowed_cpu_fallbacks_pass_but_stay_listed(fallback_vela_dir):
    result = bsp_gates.vela_gate(fallback_vela_dir, allow_cpu_ops=True)

    assert result.status == bsp_gates.PASSED
    assert "CPU fallbacks" in result.summary


def test_vela_command_reports_and_reproduces_the_same_bytes(
    vela_executable, reference, reference_vela_dir, tmp_path, capsys
):
    code = run_cli(
        "vela",
        "--model",
        reference / "coco_ssd_mobilenet_v1_raw.tflite",
        "--output-dir",
        tmp_path,
        "--vela",
        vela_executable,
    )

    assert code == 0
    report = capsys.readouterr().out
    assert "operators on the NPU: 60 of 60 (100.0%)" in report
    for figure in ("estimated inference time", "SRAM used", "traffic per inference"):
        assert figure in report
    # Same model and settings, second run: byte-identical Vela model and summary.
    assert (tmp_path / vela.VELA_MODEL_NAME).read_bytes() == (reference_vela_dir / vela.VELA_MODEL_NAME).read_bytes()
    assert (tmp_path / vela.SUMMARY_NAME).read_text() == (reference_vela_dir / vela.SUMMARY_NAME).read_text()


def test_standin_runs_entirely_on_the_npu(standin_vela_dir):
    result = bsp_gates.vela_gate(standin_vela_dir)

    assert result.status == bsp_gates.PASSED, result.summary
    summary = result.details["summary"]
    assert result.details["npu_share"] == 1.0
    assert result.details["cpu_operators_in_vela_model"] == []
    assert summary["inference_time_ms"] > 0
    assert 0 < summary["sram_used_bytes"] <= summary["arena_cache_size_bytes"] == 393216
