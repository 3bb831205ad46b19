"""Runs the CLI on the BSP's TFLite 2.10 (Python 3.9, .venv/tflite210) and on this env's runtime.

A plain module (not conftest) so that test modules in any folder import it by one unambiguous name.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

APP_SOURCES = Path(__file__).resolve().parents[2] / "python-app" / "src"


def cli_on_both_runtimes(tflite210_python: Path, args: list) -> tuple:
    """`python -m ssdlite_detect ARGS --json` on the BSP's TFLite 2.10 (Python 3.9) and on this
    env's runtime: each run's JSON lines without their timings."""
    command = ["-m", "ssdlite_detect", *map(str, args)]
    environment = dict(os.environ, PYTHONPATH=str(APP_SOURCES))
    on_210 = subprocess.run([str(tflite210_python), *command], capture_output=True, text=True, env=environment)
    assert on_210.returncode == 0, on_210.stderr
    on_214 = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=environment, check=True)

    def strip(out: str) -> list:
        return [{k: v for k, v in json.loads(line).items() if k != "timing_ms"} for line in out.splitlines()]

    return strip(on_210.stdout), strip(on_214.stdout)
