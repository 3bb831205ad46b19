"""The README's commands work: every `make` target it names exists, the host demo finds the bus,
and the benchmark scripts run (with few rounds; their numbers are read by people, not asserted)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()


def make(*args, **kwargs):
    return subprocess.run(["make", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, **kwargs)


def test_the_readme_starts_with_the_two_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make ACCEPT_FSL_EULA=1", "make test"]


def test_every_make_target_in_the_readme_exists():
    targets = set(re.findall(r"`make ([a-z-]+)", README)) | set(re.findall(r"^make ([a-z-]+)", README, re.M))
    assert {"test", "demo", "bundle", "evaluate", "benchmark"} <= targets
    for target in targets:
        dry_run = make("-n", target, "ACCEPT_FSL_EULA=1")
        assert dry_run.returncode == 0, f"make {target}: {dry_run.stderr}"


def test_make_demo_finds_the_bus(reference):
    demo = make("demo", env=dict(os.environ, SSDLITE_REFERENCE_DIR=str(reference)), timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert re.search(r"^\s+bus\s+8\d\.\d%", demo.stdout, re.M), demo.stdout


@pytest.mark.parametrize("script, few_runs", [
    ("postprocess_vs_tflite_op.py", ["--rounds", "3"]),
    ("frame_overhead.py", ["--frames", "2"]),
    ("live_fps.py", ["--frames", "10", "--rounds", "1"]),
])
def test_benchmark_scripts_run(reference, script, few_runs):
    run = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / script), *few_runs, "--json"],
                         capture_output=True, text=True, env=dict(os.environ, SSDLITE_REFERENCE_DIR=str(reference)),
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "ratio" in json.dumps(json.loads(run.stdout))
