"""Parse the models recipe with a given bundle and run its do_install, for each machine.

    python install_bundle.py BUNDLE TOPDIR

Run by tests/model_tools (in this folder's environment, .venv/layer) on bundles that
`ssdlite-tools bundle` made from the retrained-model stand-ins: the same parse, fetch, unpack and
do_install as test_models_recipe.py, with a real bundle instead of a fake one. Prints one JSON
object: per machine the recipe's LICENSE, LIC_FILES_CHKSUM, the installed files (path -> mode),
the packages' files, where ${D} is, and what do_verify_bundle said.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bb  # noqa: E402  (conftest makes bb importable first)
from conftest import (  # noqa: E402
    MACHINES,
    MODEL_RECIPE,
    fetch_and_unpack,
    modes,
    parse_recipe,
    run_python_task,
    run_shell_task,
    split_packages,
)


def install(bundle: Path, topdir: Path, machine: str) -> dict:
    (topdir / "common-licenses").mkdir(parents=True, exist_ok=True)
    rd = parse_recipe(MODEL_RECIPE, machine, topdir, {"SSDLITE_MODEL_DIR": str(bundle)})
    fetch_and_unpack(rd)
    try:
        run_python_task(rd, "do_verify_bundle")
        verify = "passed"
    except bb.BBHandledException:
        verify = "refused"
    result = run_shell_task(rd, "do_install")
    if result.returncode != 0:
        raise SystemExit(f"do_install failed for {machine}: {result.stderr.strip()}")
    return {
        "license": rd.getVar("LICENSE"),
        "lic_files_chksum": rd.getVar("LIC_FILES_CHKSUM"),
        "installed": modes(rd.getVar("D")),
        "packages": split_packages(rd),
        "dest": rd.getVar("D"),
        "verify_bundle": verify,
    }


def main() -> None:
    logging.getLogger("BitBake").setLevel(logging.CRITICAL)  # keep stdout for the JSON
    bundle, topdir = Path(sys.argv[1]), Path(sys.argv[2])
    report = {machine: install(bundle, topdir / machine, machine) for machine in MACHINES}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
