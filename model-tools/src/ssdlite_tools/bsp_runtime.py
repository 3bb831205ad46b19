"""Run a model on the BSP's exact TensorFlow Lite (2.10.0) from the host.

PyPI has tflite-runtime 2.10.0 only for CPython <= 3.9, so it lives in its own environment,
.venv/tflite210 (see scripts/setup-tflite210.sh), and is driven by subprocess with the small
stand-alone script `tflite210_probe.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .errors import ToolsError

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TFLITE210_PYTHON = REPO_ROOT / ".venv" / "tflite210" / "bin" / "python"
TFLITE210_ENV_HINT = "run `make env-tflite210` (scripts/setup-tflite210.sh)"
PROBE_SCRIPT = Path(__file__).with_name("tflite210_probe.py")
# Loading + one invoke of SSDLite takes well under a second; a hang means a broken environment.
PROBE_TIMEOUT_S = 300


@dataclass(frozen=True)
class RuntimeReport:
    """What happened when TFLite 2.10.0 loaded and invoked a model."""

    ok: bool
    tflite_runtime: str
    stage: str = ""  # where it failed: import, load, allocate_tensors, set_input, invoke
    error: str = ""
    invoke_ms: float = 0.0
    inputs: List[Dict[str, object]] = field(default_factory=list)
    outputs: List[Dict[str, object]] = field(default_factory=list)
    outputs_finite: bool = False

    def as_dict(self) -> Dict[str, object]:
        return dict(self.__dict__)


def find_tflite210_python(explicit: Optional[Path] = None) -> Path:
    """The 2.10 env's interpreter: `explicit`, else $SSDLITE_TFLITE210_PYTHON, else .venv/tflite210."""
    from_env = os.environ.get("SSDLITE_TFLITE210_PYTHON")
    candidate = explicit or (Path(from_env) if from_env else DEFAULT_TFLITE210_PYTHON)
    if not candidate.is_file():
        raise ToolsError(f"TFLite 2.10.0 environment not found ({candidate} is missing): {TFLITE210_ENV_HINT}")
    return candidate


def run_on_tflite210(
    model: Path,
    input_tensor: Optional[np.ndarray] = None,
    outputs_path: Optional[Path] = None,
    python: Optional[Path] = None,
    workdir: Optional[Path] = None,
) -> RuntimeReport:
    """Load `model` in the TFLite 2.10.0 env and invoke it once on `input_tensor` (or a fixed ramp).

    With `outputs_path`, the output tensors are saved there as an .npz keyed "0", "1", ...
    Raises ToolsError only when the environment itself is missing or broken; a model that fails to
    load or run comes back as a report with ok=False.
    """
    python = find_tflite210_python(python)
    command = [str(python), str(PROBE_SCRIPT), str(model)]
    if input_tensor is not None:
        if workdir is None:
            raise ValueError("workdir is needed to hand an input tensor to the probe")
        input_path = workdir / f"{model.stem}.input.npy"
        np.save(input_path, input_tensor)
        command += ["--input", str(input_path)]
    if outputs_path is not None:
        command += ["--save-outputs", str(outputs_path)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        raise ToolsError(f"TFLite 2.10 probe timed out after {PROBE_TIMEOUT_S} s on {model}") from error
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        # No JSON: the interpreter crashed (e.g. a segfault in a kernel) or the env is broken.
        detail = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        return RuntimeReport(ok=False, tflite_runtime="unknown", stage="crash", error=detail)
    if report.get("stage") == "import":
        raise ToolsError(f"{python} cannot import tflite_runtime ({report['error']}): {TFLITE210_ENV_HINT}")
    return RuntimeReport(
        ok=result.returncode == 0,
        tflite_runtime=report.get("tflite_runtime", "unknown"),
        stage=report.get("stage", ""),
        error=report.get("error", ""),
        invoke_ms=float(report.get("invoke_ms", 0.0)),
        inputs=report.get("inputs", []),
        outputs=report.get("outputs", []),
        outputs_finite=bool(report.get("outputs_finite", False)),
    )
