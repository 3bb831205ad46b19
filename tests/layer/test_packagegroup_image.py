"""packagegroup-ssdlite picks the models, the delegates and NXP's GStreamer
elements each SoC runs (the layer's one machine-specific package); ssdlite-image
installs it; layer.conf declares what the layer needs."""

from __future__ import annotations

import pytest

from conftest import IMAGE_RECIPE, PACKAGEGROUP_RECIPE, REPO, cpu_only_machine, make_config, parse_recipe

EXPECTED_MODELS = {
    "imx93evk": {"ssdlite-mobilenetv2-int8", "ssdlite-mobilenetv2-vela"},
    "imx8mpevk": {"ssdlite-mobilenetv2-int8"},
}
# The delegate the app loads on each SoC (ssdlite_detect/device.py: /usr/lib/libethosu_delegate.so,
# /usr/lib/libvx_delegate.so), the Ethos-U driver stack and firmware (meta-ml).
EXPECTED_ACCELERATORS = {
    "imx93evk": {"tensorflow-lite-ethosu-delegate", "ethos-u-driver-stack", "ethos-u-firmware"},
    "imx8mpevk": {"tensorflow-lite-vx-delegate"},
}
# NXP's GStreamer elements the live mode picks on these SoCs (ssdlite_detect/live/elements.py):
# imxvideoconvert_pxp; imxvideoconvert_g2d, vpudec, vpuenc_h264.
VIDEO = {"imx-gst1.0-plugin"}
APP = {"python3-ssdlite-detect", "python3-ssdlite-detect-live", "python3-ssdlite-detect-service"}


@pytest.mark.parametrize("machine", sorted(EXPECTED_MODELS))
def test_packagegroup_per_soc(machine, common_licenses):
    rd = parse_recipe(PACKAGEGROUP_RECIPE, machine, common_licenses)
    assert rd.getVar("PACKAGES").split() == ["packagegroup-ssdlite"]
    rdepends = set(rd.getVar("RDEPENDS:packagegroup-ssdlite").split())
    # The live and service modes are in by default (the service's unit installed disabled).
    assert rdepends == APP | EXPECTED_MODELS[machine] | EXPECTED_ACCELERATORS[machine] | VIDEO
    # Machine-specific content: never allarch.
    assert rd.getVar("PACKAGE_ARCH") == machine


@pytest.mark.parametrize("machine", sorted(EXPECTED_MODELS))
def test_a_stills_only_product_leaves_the_live_mode_out(machine, common_licenses):
    """Documented lines in local.conf: SSDLITE_LIVE_PACKAGES = "" and SSDLITE_SERVICE_PACKAGES = ""
    (GStreamer, aiohttp and paho-mqtt stay out)."""
    rd = parse_recipe(PACKAGEGROUP_RECIPE, machine, common_licenses,
                      {"SSDLITE_LIVE_PACKAGES": "", "SSDLITE_SERVICE_PACKAGES": ""})
    rdepends = set(rd.getVar("RDEPENDS:packagegroup-ssdlite").split())
    # The NPU stays; NXP's GStreamer elements go with the live mode.
    assert rdepends == {"python3-ssdlite-detect"} | EXPECTED_MODELS[machine] | EXPECTED_ACCELERATORS[machine]
    no_service = parse_recipe(PACKAGEGROUP_RECIPE, machine, common_licenses, {"SSDLITE_SERVICE_PACKAGES": ""})
    no_service_rdepends = set(no_service.getVar("RDEPENDS:packagegroup-ssdlite").split())
    assert "python3-ssdlite-detect-service" not in no_service_rdepends
    assert {"python3-ssdlite-detect-live"} | VIDEO <= no_service_rdepends
    # The service runs on the live mode (its package RDEPENDS on -live): with the live list
    # emptied but the service kept, the live mode still gets NXP's elements.
    service_only = parse_recipe(PACKAGEGROUP_RECIPE, machine, common_licenses, {"SSDLITE_LIVE_PACKAGES": ""})
    assert {"python3-ssdlite-detect-service"} | VIDEO <= set(service_only.getVar("RDEPENDS:packagegroup-ssdlite").split())


def test_a_machine_without_an_npu_gets_the_cpu_packages_only(common_licenses):
    # A machine with neither SoC override (e.g. an i.MX 8M Mini): no delegate, no Vela model, no
    # NXP GStreamer elements (the live mode scales in software there).
    rd = parse_recipe(PACKAGEGROUP_RECIPE, "cpuonly", common_licenses, cpu_only_machine(common_licenses))
    assert set(rd.getVar("RDEPENDS:packagegroup-ssdlite").split()) == APP | {"ssdlite-mobilenetv2-int8"}
    assert rd.getVar("PACKAGE_ARCH") == "cpuonly"


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
    # A copied layer names its repository before the layer is parsed (the environment) or after
    # (local.conf): either wins over the default.
    named = make_config("imx93evk", common_licenses, {"SSDLITE_REPO_DIR": "/srv/meta-ssdlite"})
    assert named.getVar("SSDLITE_REPO_DIR") == "/srv/meta-ssdlite"
