"""packagegroup-ssdlite picks the models each SoC runs; ssdlite-image installs it;
layer.conf declares what the layer needs."""

from __future__ import annotations

import pytest

from conftest import IMAGE_RECIPE, PACKAGEGROUP_RECIPE, REPO, make_config, parse_recipe

EXPECTED_MODELS = {
    "imx93evk": {"ssdlite-mobilenetv2-int8", "ssdlite-mobilenetv2-vela"},
    "imx8mpevk": {"ssdlite-mobilenetv2-int8"},
}


@pytest.mark.parametrize("machine", sorted(EXPECTED_MODELS))
def test_packagegroup_per_soc(machine, common_licenses):
    rd = parse_recipe(PACKAGEGROUP_RECIPE, machine, common_licenses)
    assert rd.getVar("PACKAGES").split() == ["packagegroup-ssdlite"]
    rdepends = set(rd.getVar("RDEPENDS:packagegroup-ssdlite").split())
    # The live and service modes are in by default (the service's unit installed disabled).
    assert rdepends == {"python3-ssdlite-detect", "python3-ssdlite-detect-live",
                        "python3-ssdlite-detect-service"} | EXPECTED_MODELS[machine]
    # Machine-specific content: never allarch.
    assert rd.getVar("PACKAGE_ARCH") == machine


@pytest.mark.parametrize("machine", sorted(EXPECTED_MODELS))
def test_a_stills_only_product_leaves_the_live_mode_out(machine, common_licenses):
    """Documented lines in local.conf: SSDLITE_LIVE_PACKAGES = "" and SSDLITE_SERVICE_PACKAGES = ""
    (GStreamer, aiohttp and paho-mqtt stay out)."""
    rd = parse_recipe(PACKAGEGROUP_RECIPE, machine, common_licenses,
                      {"SSDLITE_LIVE_PACKAGES": "", "SSDLITE_SERVICE_PACKAGES": ""})
    rdepends = set(rd.getVar("RDEPENDS:packagegroup-ssdlite").split())
    assert rdepends == {"python3-ssdlite-detect"} | EXPECTED_MODELS[machine]
    no_service = parse_recipe(PACKAGEGROUP_RECIPE, machine, common_licenses, {"SSDLITE_SERVICE_PACKAGES": ""})
    assert "python3-ssdlite-detect-service" not in no_service.getVar("RDEPENDS:packagegroup-ssdlite").split()


@pytest.mark.parametrize("machine", sorted(EXPECTED_MODELS))
def test_example_image_installs_the_packagegroup(machine, common_licenses):
    rd = parse_recipe(IMAGE_RECIPE, machine, common_licenses)
    install = rd.getVar("IMAGE_INSTALL").split()
    assert "packagegroup-ssdlite" in install
    assert "packagegroup-core-boot" in install
    assert "core-image" in rd.getVar("__inherit_cache", False)[-1] or any(
        c.endswith("core-image.bbclass") for c in rd.getVar("__inherit_cache", False)
    )


def test_layer_conf(common_licenses):
    d = make_config("imx93evk", common_licenses)
    assert d.getVar("BBFILE_COLLECTIONS").split() == ["ssdlite"]
    assert d.getVar("LAYERSERIES_COMPAT_ssdlite").split() == ["mickledore"]
    # meta-ml provides tensorflow-lite and the delegates, meta-python Pillow.
    assert set(d.getVar("LAYERDEPENDS_ssdlite").split()) == {"core", "openembedded-layer", "meta-python", "meta-ml"}
    assert int(d.getVar("BBFILE_PRIORITY_ssdlite")) > 0
    assert d.getVar("BBFILE_PATTERN_ssdlite") == "^%s/" % (REPO / "meta-ssdlite")
    assert d.getVar("SSDLITE_REPO_DIR") == str(REPO)
