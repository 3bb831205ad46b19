"""Every BitBake file of meta-ssdlite parses with BitBake's parser, and every
variable and function of every recipe expands under both machines' overrides."""

from __future__ import annotations

import pytest

import bb.data_smart
from conftest import LAYER, MACHINES, layer_files, make_bundle, make_config, parse_recipe, recipes


def test_layer_has_the_expected_files():
    names = {p.relative_to(LAYER).as_posix() for p in LAYER.rglob("*") if p.is_file()}
    assert {"conf/layer.conf", "README.md", "COPYING.MIT"} <= names
    assert sorted(p.relative_to(LAYER).as_posix() for p in recipes()) == [
        "recipes-core/images/ssdlite-image.bb",
        "recipes-core/packagegroups/packagegroup-ssdlite.bb",
        "recipes-ml/python3-ssdlite-detect/python3-ssdlite-detect_0.1.0.bb",
        "recipes-ml/ssdlite-mobilenetv2/ssdlite-mobilenetv2_0.1.0.bb",
    ]


def test_only_known_kinds_of_bitbake_files():
    # layer.conf and the four recipes; a new kind of file needs a test here.
    kinds = {p.suffix for p in layer_files()}
    assert kinds <= {".bb", ".conf"}


@pytest.mark.parametrize("machine", MACHINES)
def test_layer_conf_parses(machine, common_licenses):
    d = make_config(machine, common_licenses)
    assert d.getVar("BBFILE_COLLECTIONS").split() == ["ssdlite"]


@pytest.mark.parametrize("machine", MACHINES)
@pytest.mark.parametrize("recipe", recipes(), ids=lambda p: p.name)
def test_recipe_parses_and_expands(recipe, machine, common_licenses):
    bundle = make_bundle(common_licenses / "bundle")
    rd = parse_recipe(recipe, machine, common_licenses, {"SSDLITE_MODEL_DIR": str(bundle)})
    assert rd.getVar("PN") == recipe.name.split("_")[0].removesuffix(".bb")
    failures = []
    for key in rd.keys():
        if key.startswith("__"):
            continue
        try:
            rd.getVar(key)
            for flag in (rd.getVarFlags(key) or {}):
                if not flag.startswith("_") and flag not in ("func", "python", "filename", "lineno"):
                    rd.getVarFlag(key, flag)
        except bb.data_smart.ExpansionError as error:
            failures.append("%s: %s" % (key, error))
    assert failures == []
    for var in ("SUMMARY", "DESCRIPTION", "LICENSE"):
        assert rd.getVar(var), var
