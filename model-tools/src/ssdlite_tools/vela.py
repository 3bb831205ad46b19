"""Compile the int8 model for the i.MX 93's Ethos-U65 with Vela, and read what Vela reports.

Vela runs from its own environment (.venv/vela: ethos-u-vela 3.7.0 pins flatbuffers 2.0.7, which
TensorFlow's env cannot share), so it is driven as a subprocess and its results are read from the
files and the text it writes.

NXP's i.MX 93 BSP (LF6.1.22_2.0.0) ships the NXP fork of Vela 3.7.0, whose built-in defaults differ
from upstream's. We pass every one of those defaults explicitly (config file + command line), so
upstream 3.7.0 from PyPI compiles with NXP's settings. What upstream 3.7.0 lacks are the fork's
own fixes (concat accuracy, Exp via LUT, dilation > 2, SpaceToBatchND/BatchToSpaceND replaced by
dilated convolutions); see model-tools/README.md for why SSDLite MobileNetV2 does not meet them.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import workspace
from .errors import ToolsError
from .tflite210_ops import operator_name
from .tflite_ops import read_model

# The board's Vela (meta-ml ethos-u-vela_3.7.0.bb) and the firmware its command stream must suit
# (ethos-u-firmware_22.08). A newer Vela could emit a command stream the 22.08 firmware rejects.
VELA_VERSION = "3.7.0"
VELA_MODEL_NAME = workspace.VELA_MODEL_NAME  # the name the layer installs
SUMMARY_NAME = "vela_summary.csv"
CONFIG_NAME = "vela_config.ini"
LOG_NAME = "vela_log.txt"

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_VELA_EXECUTABLE = REPO_ROOT / ".venv" / "vela" / "bin" / "vela"
# How to create the Vela env (the Makefile target runs scripts/setup-venv.sh vela).
VELA_ENV_HINT = (
    "run `make env-vela` (installs requirements/vela-build.txt, then requirements/vela.txt, into .venv/vela)"
)
ETHOS_U_CUSTOM_CODE = "ethos-u"


@dataclass(frozen=True)
class VelaSettings:
    """NXP's i.MX 93 defaults of its Vela fork (nxp-imx/ethos-u-vela lf-6.1.22_2.0.0).

    Names follow Vela's config-file keys; see BSP-FACTS "NXP's Vela defaults for i.MX 93".
    """

    accelerator: str = "ethos-u65-256"
    system_config: str = "iMX93"
    memory_mode: str = "iMX93"
    core_clock_hz: float = 1e9
    # AXI0 is the NPU's 384 KiB on-chip SRAM (used as a cache), AXI1 the DDR.
    sram_clock_scale: float = 1.0
    dram_clock_scale: float = 0.234375  # 3.75 GB/s of DRAM bandwidth at 1 GHz vs 16 GB/s SRAM
    sram_burst_length: int = 32
    dram_burst_length: int = 128
    sram_read_latency: int = 32
    sram_write_latency: int = 32
    dram_read_latency: int = 500
    dram_write_latency: int = 250
    arena_cache_size: int = 393216  # 384 KiB
    tensor_allocator: str = "HillClimb"
    optimise: str = "Performance"
    # Python recursion limit while Vela walks the graph; NXP raised it from 1000 for deep graphs.
    recursion_limit: int = 2000

    def config_text(self) -> str:
        """The Vela .ini holding the system configuration and memory mode."""
        return f"""\
; Vela {VELA_VERSION} configuration reproducing NXP's i.MX 93 defaults
; (nxp-imx/ethos-u-vela branch lf-6.1.22_2.0.0, as shipped by meta-ml ethos-u-vela_3.7.0.bb).
; Written by `ssdlite-tools vela`; the command-line options used with it:
;   {" ".join(self.command_line_options())}

[System_Config.{self.system_config}]
core_clock={self.core_clock_hz:.0f}
axi0_port=Sram
axi1_port=Dram
Sram_clock_scale={self.sram_clock_scale}
Sram_burst_length={self.sram_burst_length}
Sram_read_latency={self.sram_read_latency}
Sram_write_latency={self.sram_write_latency}
Dram_clock_scale={self.dram_clock_scale}
Dram_burst_length={self.dram_burst_length}
Dram_read_latency={self.dram_read_latency}
Dram_write_latency={self.dram_write_latency}

; Dedicated SRAM: weights and the tensor arena live in DRAM (AXI1); the SRAM (AXI0) is a cache
; of arena_cache_size bytes that only the NPU uses.
[Memory_Mode.{self.memory_mode}]
const_mem_area=Axi1
arena_mem_area=Axi1
cache_mem_area=Axi0
arena_cache_size={self.arena_cache_size}
"""

    def command_line_options(self) -> List[str]:
        return [
            f"--accelerator-config={self.accelerator}",
            f"--system-config={self.system_config}",
            f"--memory-mode={self.memory_mode}",
            f"--tensor-allocator={self.tensor_allocator}",
            f"--optimise={self.optimise}",
            f"--recursion-limit={self.recursion_limit}",
        ]


NXP_IMX93_SETTINGS = VelaSettings()


@dataclass(frozen=True)
class VelaOutputs:
    model: Path
    summary_csv: Path
    config: Path
    log: Path


def find_vela_executable(explicit: Optional[Path] = None) -> Path:
    """The Vela 3.7.0 executable: `explicit`, else $SSDLITE_VELA, else .venv/vela/bin/vela."""
    candidate = explicit or (Path(os.environ["SSDLITE_VELA"]) if os.environ.get("SSDLITE_VELA") else None)
    candidate = candidate or DEFAULT_VELA_EXECUTABLE
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise ToolsError(f"Vela {VELA_VERSION} not found at {candidate}: {VELA_ENV_HINT}")
    return candidate


def vela_version(executable: Path) -> str:
    result = subprocess.run([str(executable), "--version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolsError(f"{executable} --version failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def compile_for_ethos_u(
    model: Path,
    output_dir: Path,
    settings: VelaSettings = NXP_IMX93_SETTINGS,
    executable: Optional[Path] = None,
) -> VelaOutputs:
    """Run Vela on `model`; write the Vela model, its summary CSV, the config and Vela's log."""
    executable = find_vela_executable(executable)
    version = vela_version(executable)
    if version != VELA_VERSION:
        raise ToolsError(
            f"{executable} is Vela {version}, not {VELA_VERSION} (the BSP's; its command stream suits "
            f"the board's 22.08 Ethos-U firmware): {VELA_ENV_HINT}"
        )
    if not model.is_file():
        raise ToolsError(f"no model at {model}: run `ssdlite-tools convert` first")
    output_dir.mkdir(parents=True, exist_ok=True)
    # A failed run must not leave an earlier run's model behind for `check` or `bundle` to pick up.
    for stale in (VELA_MODEL_NAME, SUMMARY_NAME, LOG_NAME):
        (output_dir / stale).unlink(missing_ok=True)
    config_path = output_dir / CONFIG_NAME
    config_path.write_text(settings.config_text())

    # Vela names its outputs after the input file and the system config; run it in a scratch
    # folder and give the results fixed names, so reruns replace them instead of piling up.
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".vela-") as scratch:
        command = [
            str(executable),
            f"--config={config_path}",
            *settings.command_line_options(),
            "--show-cpu-operations",
            f"--output-dir={scratch}",
            str(model),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        log_text = result.stdout + (("\n--- stderr ---\n" + result.stderr) if result.stderr else "")
        log_path = output_dir / LOG_NAME
        log_path.write_text(log_text)
        if result.returncode != 0:
            last_line = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
            raise ToolsError(f"Vela failed on {model} (exit {result.returncode}): {last_line}; full log in {log_path}")
        produced_model = Path(scratch) / f"{model.stem}_vela.tflite"
        produced_summary = Path(scratch) / f"{model.stem}_summary_{settings.system_config}.csv"
        for produced in (produced_model, produced_summary):
            if not produced.is_file():
                raise ToolsError(f"Vela did not write {produced.name}; log in {log_path}")
        outputs = VelaOutputs(output_dir / VELA_MODEL_NAME, output_dir / SUMMARY_NAME, config_path, log_path)
        shutil.move(produced_model, outputs.model)
        shutil.move(produced_summary, outputs.summary_csv)
    return outputs


@dataclass(frozen=True)
class VelaSummary:
    """The numbers of Vela's summary CSV that the BSP gate reports (units as named)."""

    accelerator: str
    system_config: str
    memory_mode: str
    core_clock_hz: float
    arena_cache_size_bytes: int
    inference_time_ms: float
    inferences_per_second: float
    sram_used_bytes: int
    dram_used_bytes: int
    sram_traffic_bytes: float
    dram_traffic_bytes: float
    npu_cycles: float
    total_cycles: float
    macs: int
    original_weights_bytes: int
    npu_encoded_weights_bytes: int

    def as_dict(self) -> Dict[str, object]:
        return dict(self.__dict__)


def read_summary_csv(path: Path) -> VelaSummary:
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ToolsError(f"cannot read Vela summary {path}: {error.strerror}; run `ssdlite-tools vela`") from error
    if len(rows) != 1:
        raise ToolsError(f"{path}: expected one row of Vela summary, found {len(rows)}")
    row = rows[0]
    try:
        # Vela writes memory use and the arena cache size in KiB, time in seconds.
        return VelaSummary(
            accelerator=row["accelerator_configuration"],
            system_config=row["system_config"],
            memory_mode=row["memory_mode"],
            core_clock_hz=float(row["core_clock"]),
            arena_cache_size_bytes=round(float(row["arena_cache_size"]) * 1024),
            inference_time_ms=float(row["inference_time"]) * 1e3,
            inferences_per_second=float(row["inferences_per_second"]),
            sram_used_bytes=round(float(row["sram_memory_used"]) * 1024),
            dram_used_bytes=round(float(row["dram_memory_used"]) * 1024),
            sram_traffic_bytes=float(row["sram_total_bytes"]),
            dram_traffic_bytes=float(row["dram_total_bytes"]),
            npu_cycles=float(row["cycles_npu"]),
            total_cycles=float(row["cycles_total"]),
            macs=int(float(row["nn_macs"])),
            original_weights_bytes=int(float(row["total_original_weights"])),
            npu_encoded_weights_bytes=int(float(row["total_npu_encoded_weights"])),
        )
    except (KeyError, ValueError) as error:
        raise ToolsError(f"{path}: not a Vela {VELA_VERSION} summary ({error})") from error


@dataclass(frozen=True)
class OperatorPlacement:
    """Vela's count of operators (after its graph rewrites) placed on the NPU and on the CPU."""

    npu_operators: int
    cpu_operators: int
    # "Type = name" of each operator Vela left on the CPU, and the warnings that say why.
    cpu_operator_names: Tuple[str, ...] = ()
    warnings: Tuple[str, ...] = ()

    @property
    def npu_share(self) -> float:
        total = self.npu_operators + self.cpu_operators
        return self.npu_operators / total if total else 0.0


_COUNT_LINE = re.compile(r"^(CPU|NPU) operators = (\d+) \(")
_CPU_OP_LINE = re.compile(r"^\s+CPU: (.+?) \(inputs ")


def parse_operator_placement(log_text: str) -> OperatorPlacement:
    """Read 'CPU operators = N' / 'NPU operators = M' and the --show-cpu-operations listing."""
    counts: Dict[str, int] = {}
    cpu_ops: List[str] = []
    warnings: List[str] = []
    lines = log_text.splitlines()
    for index, line in enumerate(lines):
        count = _COUNT_LINE.match(line)
        if count:
            counts[count.group(1)] = int(count.group(2))
            continue
        cpu_op = _CPU_OP_LINE.match(line)
        if cpu_op:
            cpu_ops.append(cpu_op.group(1))
            continue
        if line.startswith("Warning:") and "placing on cpu" in line.lower():
            # Vela prints the failed constraints as " - ..." lines, and their details indented,
            # right under the warning.
            reasons = []
            for following in lines[index + 1 :]:
                if not following.strip() or not following.startswith((" ", "-")):
                    break
                reasons.append(following.strip())
            warnings.append(" ".join([line.strip(), *reasons]))
    if "CPU" not in counts or "NPU" not in counts:
        raise ToolsError("Vela's log has no 'CPU operators = ' / 'NPU operators = ' lines (not a Vela 3.7.0 log?)")
    return OperatorPlacement(counts["NPU"], counts["CPU"], tuple(cpu_ops), tuple(warnings))


@dataclass(frozen=True)
class CpuFallback:
    """An operator of the Vela model that TFLite runs on the Cortex-A55 instead of the NPU."""

    operator: str
    outputs: Tuple[str, ...]


def cpu_fallback_operators(vela_model: Path) -> List[CpuFallback]:
    """Every operator of the compiled model other than the `ethos-u` custom op that wraps NPU work."""
    summary = read_model(vela_model)
    return [
        CpuFallback(operator_name(op.code), op.output_names)
        for op in summary.operators
        if not (op.code.is_custom and op.code.custom_code == ETHOS_U_CUSTOM_CODE)
    ]
