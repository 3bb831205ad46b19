"""The layer's own recipes parsing and installing a model bundle (tests/layer/install_bundle.py,
run in the layer's environment, where BitBake's parser lives)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = "/usr/share/ssdlite-mobilenetv2"


def layer_install(bundle: Path, topdir: Path) -> dict:
    """tests/layer/install_bundle.py in the layer's environment (BitBake's parser lives there)."""
    python = Path(os.environ.get("SSDLITE_VENV_DIR") or REPO_ROOT / ".venv") / "layer" / "bin" / "python"
    if not python.exists():
        if os.environ.get("SSDLITE_REQUIRE_LAYER_ENV") == "1":
            pytest.fail(f"{python} missing and SSDLITE_REQUIRE_LAYER_ENV=1")
        pytest.skip(f"layer environment not found at {python} (make env-layer)")
    result = subprocess.run(
        [str(python), str(REPO_ROOT / "tests" / "layer" / "install_bundle.py"), str(bundle), str(topdir)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
