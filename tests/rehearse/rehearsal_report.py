"""Durations of the rehearsal's runs: measured and reported, never asserted (the host is shared
and qemu's speed says little about the board's)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

TIMINGS: List[dict] = []


def record_timing(root: str, case: str, persona: str, seconds: float) -> None:
    TIMINGS.append({"root": root, "case": case, "persona": persona, "seconds": round(seconds, 2)})


def write_report(terminalreporter, folder: Path) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("rehearsal durations (measured, not asserted)")
    for entry in TIMINGS:
        terminalreporter.write_line(f"{entry['root']:9} {entry['persona']:7} {entry['case']:30} {entry['seconds']:7.2f} s")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "timings.json").write_text(json.dumps(TIMINGS, indent=1))
