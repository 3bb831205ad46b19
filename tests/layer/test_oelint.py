"""oelint-adv finds no error and no warning in the layer. Suppressions are made
inline (`# nooelint: <rule>`) next to a comment that says why; the only global
one is oelint.vars.homepageping, which needs the network that CI lacks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import LAYER, REPO, layer_files

CONSTANTS = Path(__file__).parent / "oelint-constants.json"


def run_oelint():
    files = [str(p) for p in layer_files()]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "oelint_adv",
            "--quiet",
            "--release",
            "mickledore",
            # Machines and overrides of the NXP BSP (meta-imx is not in
            # oelint-data) and the layer's own variables.
            "--constantmods",
            "+" + str(CONSTANTS.relative_to(REPO)),
            # Pings HOMEPAGE over the network.
            "--suppress",
            "oelint.vars.homepageping",
            "--jobs",
            "1",
            *files,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_no_errors_or_warnings():
    result = run_oelint()
    findings = (result.stdout + result.stderr).splitlines()
    serious = [line for line in findings if ":error:" in line or ":warning:" in line]
    assert serious == []
    assert "Traceback" not in result.stderr


def test_every_inline_suppression_is_explained():
    for path in layer_files():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if re.match(r"^#\s+nooelint:", line):
                neighbours = lines[max(0, number - 1)] + "\n" + (lines[number + 1] if number + 1 < len(lines) else "")
                explained = [n for n in (lines[max(0, number - 1)], lines[min(len(lines) - 1, number + 1)])
                             if n.startswith("#") and "nooelint" not in n]
                assert explained, "%s:%d: say why next to the suppression\n%s" % (path, number + 1, neighbours)


def test_layer_is_checked_at_all():
    assert len(layer_files()) >= 5 and (LAYER / "conf" / "layer.conf") in layer_files()
