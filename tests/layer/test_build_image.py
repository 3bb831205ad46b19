"""scripts/build-image.sh (`make image`) refuses early, in one line, what cannot build: no model
bundle, NXP's EULA not accepted, root, no kas. (A real build needs the network and hours.)"""
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "build-image.sh"


def build_image(kas_files, **environment):
    env = dict(os.environ, **environment)
    result = subprocess.run([str(SCRIPT), kas_files], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("build-image: "), result.stderr
    return lines[0]


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "model.json").write_text("{}")
    return str(tmp_path)


def test_no_bundle(tmp_path):
    message = build_image("kas.yml:kas/accept-fsl-eula.yml", SSDLITE_MODEL_DIR=str(tmp_path))
    assert "no model bundle" in message and "make bundle" in message


def test_bundle_without_model_description(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    message = build_image("kas.yml:kas/accept-fsl-eula.yml", SSDLITE_MODEL_DIR=str(tmp_path))
    assert "no model.json" in message and "make bundle" in message


def test_eula_must_be_accepted_explicitly(bundle):
    message = build_image("kas.yml:kas/imx8mp.yml", SSDLITE_MODEL_DIR=bundle)
    assert "EULA is not accepted" in message and "ACCEPT_FSL_EULA=1" in message


def test_kas_missing(bundle):
    message = build_image("kas.yml:kas/accept-fsl-eula.yml", SSDLITE_MODEL_DIR=bundle, SSDLITE_KAS="kas-container-not-installed")
    assert "not found" in message and "kas-container" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="checks the refusal to build as root")
def test_bitbake_as_root_is_refused(bundle):
    message = build_image("kas.yml:kas/accept-fsl-eula.yml", SSDLITE_MODEL_DIR=bundle, PATH=f"{REPO_ROOT}/.venv/layer/bin:{os.environ['PATH']}")
    assert "refuses to run as root" in message
