"""JSON records: what `convert` made from what (conversion.json) and the bundle's manifest.json.

Both are written with sorted keys and no time stamps, so they are as reproducible as the models.
"""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from .download import file_digest

# Distributions whose versions decide the bytes of the converted models or the bundle.
_VERSIONED = ("tensorflow", "numpy", "Pillow", "ssdlite-detect", "ssdlite-tools")


def tool_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_entry(path: Path) -> dict:
    return {"sha256": file_digest(path), "size": Path(path).stat().st_size}


def write_json(path: Path, record: dict) -> None:
    path = Path(path)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
