"""ssdlite-mobilenetv2: the bundle is fetched with BitBake's fetcher, verified
against manifest.json, installed by the recipe's do_install (as expanded by
BitBake's data store) into a temporary ${D}, and split into packages."""

from __future__ import annotations

import re

import pytest

import bb
from conftest import (
    MODEL_RECIPE,
    fetch_and_unpack,
    make_bundle,
    modes,
    parse_recipe,
    run_python_task,
    run_shell_task,
    split_packages,
)

MODEL_DIR = "/usr/share/ssdlite-mobilenetv2"


def build(tmp_path, machine, **bundle_options):
    bundle = make_bundle(tmp_path / "bundle", **bundle_options)
    rd = parse_recipe(MODEL_RECIPE, machine, tmp_path, {"SSDLITE_MODEL_DIR": str(bundle)})
    fetch_and_unpack(rd)
    return rd


def test_install_tree_modes_and_packages(machine, common_licenses):
    rd = build(common_licenses, machine)
    run_python_task(rd, "do_verify_bundle")
    result = run_shell_task(rd, "do_install")
    assert result.returncode == 0, result.stderr

    dest = rd.getVar("D")
    assert modes(dest) == {
        "/usr": 0o755,
        "/usr/share": 0o755,
        MODEL_DIR: 0o755,
        MODEL_DIR + "/ssdlite_mobilenetv2_coco_int8.tflite": 0o644,
        MODEL_DIR + "/ssdlite_mobilenetv2_coco_int8_vela.tflite": 0o644,
        MODEL_DIR + "/coco_labels.txt": 0o644,
        MODEL_DIR + "/model.json": 0o644,
        MODEL_DIR + "/manifest.json": 0o644,
    }
    # Installed byte for byte from the bundle.
    for name in ("ssdlite_mobilenetv2_coco_int8.tflite", "coco_labels.txt", "model.json", "manifest.json"):
        with open(common_licenses / "bundle" / name, "rb") as a, open(dest + MODEL_DIR + "/" + name, "rb") as b:
            assert a.read() == b.read()

    packages = split_packages(rd)
    assert packages["ssdlite-mobilenetv2-int8"] == [MODEL_DIR + "/ssdlite_mobilenetv2_coco_int8.tflite"]
    assert packages["ssdlite-mobilenetv2-vela"] == [MODEL_DIR + "/ssdlite_mobilenetv2_coco_int8_vela.tflite"]
    assert packages["ssdlite-mobilenetv2"] == [
        MODEL_DIR + "/coco_labels.txt", MODEL_DIR + "/manifest.json", MODEL_DIR + "/model.json"
    ]
    assert packages["<unpackaged>"] == []
    assert rd.getVar("RDEPENDS:ssdlite-mobilenetv2-int8").split() == ["ssdlite-mobilenetv2"]
    assert rd.getVar("RDEPENDS:ssdlite-mobilenetv2-vela").split() == ["ssdlite-mobilenetv2"]


def test_data_recipe_is_allarch_without_machine_overrides(machine, common_licenses):
    rd = build(common_licenses, machine)
    assert rd.getVar("PACKAGE_ARCH") == "all"
    # An allarch recipe must not vary with the machine: the choice of model per
    # SoC is made in packagegroup-ssdlite (MACHINE_ARCH).
    text = MODEL_RECIPE.read_text()
    assert not re.search(r":(mx\d|imx)", text)


def test_bundle_is_taken_from_ssdlite_model_dir(common_licenses):
    rd = build(common_licenses, "imx93evk")
    assert rd.getVar("S").endswith("/bundle")
    assert sorted(p for p in __import__("os").listdir(rd.getVar("S"))) == [
        "coco_labels.txt",
        "manifest.json",
        "model.json",
        "ssdlite_mobilenetv2_coco_int8.tflite",
        "ssdlite_mobilenetv2_coco_int8_vela.tflite",
    ]


def test_coco_bundle_licence_is_apache_from_the_bundle(common_licenses):
    rd = build(common_licenses, "imx93evk")
    assert rd.getVar("LICENSE") == "Apache-2.0"
    assert rd.getVar("LIC_FILES_CHKSUM") == (
        "file://%s/common-licenses/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10" % common_licenses
    )


FISH_LICENSE = {"spdx": "CLOSED", "text": b"Fish detector weights (c) Example Fisheries. All rights reserved.\n"}


def test_retrained_bundle_installs_under_its_own_names_with_its_licence(machine, common_licenses):
    """A retrained bundle needs no recipe edit: SSDLITE_MODEL_DIR is the one knob."""
    rd = build(common_licenses, machine, name="fish_detector", license=dict(FISH_LICENSE))
    assert rd.getVar("LICENSE") == "CLOSED"
    licence_md5 = __import__("hashlib").md5(FISH_LICENSE["text"]).hexdigest()
    assert rd.getVar("LIC_FILES_CHKSUM") == "file://fish_detector_LICENSE;md5=" + licence_md5
    run_python_task(rd, "do_verify_bundle")
    result = run_shell_task(rd, "do_install")
    assert result.returncode == 0, result.stderr
    installed = sorted(path for path, mode in modes(rd.getVar("D")).items() if mode == 0o644)
    names = ["fish_detector_LICENSE", "fish_detector_int8.tflite", "fish_detector_int8_vela.tflite",
             "fish_detector_labels.txt", "manifest.json", "model.json"]
    assert installed == [MODEL_DIR + "/" + name for name in names]
    packages = split_packages(rd)
    assert packages["ssdlite-mobilenetv2-int8"] == [MODEL_DIR + "/fish_detector_int8.tflite"]
    assert packages["ssdlite-mobilenetv2-vela"] == [MODEL_DIR + "/fish_detector_int8_vela.tflite"]
    assert packages["<unpackaged>"] == []


def test_bundle_without_a_licence_or_model_json_is_skipped_with_the_reason(common_licenses):
    import json
    import os

    bundle = make_bundle(common_licenses / "bundle")
    description = json.loads((bundle / "model.json").read_text())
    del description["license"]
    (bundle / "model.json").write_text(json.dumps(description))
    with pytest.raises(bb.parse.SkipRecipe, match="states no licence"):
        parse_recipe(MODEL_RECIPE, "imx93evk", common_licenses, {"SSDLITE_MODEL_DIR": str(bundle)})
    os.unlink(bundle / "model.json")
    with pytest.raises(bb.parse.SkipRecipe, match="lacks a readable model.json.*make bundle"):
        parse_recipe(MODEL_RECIPE, "imx93evk", common_licenses, {"SSDLITE_MODEL_DIR": str(bundle)})


def test_default_bundle_is_model_bundle_beside_the_layer(common_licenses):
    from conftest import REPO, make_config

    d = make_config("imx93evk", common_licenses)
    assert d.getVar("SSDLITE_REPO_DIR") == str(REPO)
    if not (REPO / "model-bundle" / "manifest.json").exists():
        with pytest.raises(bb.parse.SkipRecipe, match="make bundle"):
            parse_recipe(MODEL_RECIPE, "imx93evk", common_licenses)


def test_missing_bundle_skips_the_recipe_with_the_command_to_run(common_licenses):
    with pytest.raises(bb.parse.SkipRecipe) as error:
        parse_recipe(MODEL_RECIPE, "imx93evk", common_licenses, {"SSDLITE_MODEL_DIR": str(common_licenses / "none")})
    message = str(error.value)
    assert "make bundle" in message and "ssdlite-tools bundle" in message and "SSDLITE_MODEL_DIR" in message
    assert "model.json" in message


def test_partial_bundle_names_the_missing_file(common_licenses):
    bundle = make_bundle(common_licenses / "bundle")
    (bundle / "ssdlite_mobilenetv2_coco_int8_vela.tflite").unlink()
    with pytest.raises(bb.parse.SkipRecipe, match="ssdlite_mobilenetv2_coco_int8_vela.tflite"):
        parse_recipe(MODEL_RECIPE, "imx93evk", common_licenses, {"SSDLITE_MODEL_DIR": str(bundle)})


def test_stand_in_bundle_is_refused(common_licenses, caplog):
    rd = build(common_licenses, "imx93evk", stand_in=True)
    with pytest.raises(bb.BBHandledException):
        run_python_task(rd, "do_verify_bundle")
    assert "stand-in" in caplog.text and "make bundle" in caplog.text


@pytest.mark.parametrize(
    "tampered",
    ["ssdlite_mobilenetv2_coco_int8.tflite", "ssdlite_mobilenetv2_coco_int8_vela.tflite", "coco_labels.txt"],
)
def test_file_not_matching_manifest_is_refused(tampered, common_licenses, caplog):
    rd = build(common_licenses, "imx8mpevk", tamper=tampered)
    with pytest.raises(bb.BBHandledException):
        run_python_task(rd, "do_verify_bundle")
    assert tampered in caplog.text and "sha256" in caplog.text


def test_manifest_without_an_entry_is_refused(common_licenses, caplog):
    import json

    rd = build(common_licenses, "imx93evk")
    manifest_path = rd.getVar("S") + "/manifest.json"
    with open(manifest_path) as f:
        manifest = json.load(f)
    del manifest["files"]["coco_labels.txt"]
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    with pytest.raises(bb.BBHandledException):
        run_python_task(rd, "do_verify_bundle")
    assert "coco_labels.txt" in caplog.text


def test_verification_runs_before_install(common_licenses):
    rd = build(common_licenses, "imx93evk")
    assert "do_unpack" in rd.getVarFlag("do_verify_bundle", "deps")
    assert "do_verify_bundle" in rd.getVarFlag("do_configure", "deps")
    # The bundle's location is not part of the task hash (relocatable sstate).
    assert "SSDLITE_MODEL_DIR" in rd.getVarFlag("do_verify_bundle", "vardepsexclude")


def test_the_bundle_folder_stays_out_of_task_hashes_and_model_json_is_fetched(common_licenses):
    """LICENSE, SRC_URI and FILES come from model.json through ssdlite_bundle(), which reads
    SSDLITE_MODEL_DIR; the folder must not enter the signatures (relocatable sstate). A change of
    names or licence still rebuilds: model.json itself is in SRC_URI, checksummed."""
    import bb.data

    rd = build(common_licenses, "imx93evk")
    keys = set(rd.keys())
    for variable in ("ssdlite_bundle", "LICENSE", "SRC_URI", "FILES:ssdlite-mobilenetv2-int8", "do_install"):
        seen, pending = set(), [variable]
        while pending:  # the variable and everything it depends on, transitively
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            dependencies, _ = bb.data.build_dependencies(name, keys, set(), set(), set(), set(), rd, rd)
            pending.extend(dependencies)
        assert "SSDLITE_MODEL_DIR" not in seen, variable
    assert "file://model.json;subdir=bundle" in rd.getVar("SRC_URI").split()
