"""The whole host pipeline on the stand-in, through the real `ssdlite-tools` entry point."""
from __future__ import annotations

import json

import pytest

from ssdlite_tools import cli
from ssdlite_tools.workspace import INT8_MODEL_NAME, MANIFEST_NAME, VELA_MODEL_NAME


def test_fetch_convert_vela_bundle(standin_saved_model, calibration_images, capsys, tmp_path):
    from ssdlite_tools import vela
    from ssdlite_tools.errors import ToolsError

    try:
        vela.find_vela_executable()
    except ToolsError as error:
        pytest.skip(str(error))
    workdir, bundle = tmp_path / "work", tmp_path / "model-bundle"
    common = ["--workdir", str(workdir)]
    steps = [
        ["fetch", *common, "--checkpoint", str(standin_saved_model), "--skip-annotations",
         "--calibration-dir", str(calibration_images[0].parent), "--calibration-images", "3", "--no-progress"],
        # No --calibration-dir: convert reads the set `fetch` installed in the work folder.
        ["convert", *common, "--checkpoint", str(standin_saved_model), "--calibration-images", "3", "--no-progress"],
        ["vela", *common],
        ["bundle", *common, "--output", str(bundle), "--allow-stand-in"],
    ]  # fmt: skip
    for argv in steps:
        assert cli.main(argv) == 0, argv
    printed = capsys.readouterr().out
    assert "STAND-IN" in printed
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {INT8_MODEL_NAME, VELA_MODEL_NAME, "coco_labels.txt", "model.json"}
    assert len(manifest["calibration_image_ids"]) == 3
    assert set(manifest["calibration_image_ids"]) <= {path.name for path in calibration_images}
    # Without --allow-stand-in the same bundle step fails with one line and exit code 2.
    assert cli.main(["bundle", *common, "--output", str(tmp_path / "refused")]) == 2
    assert "stand-in" in capsys.readouterr().err
