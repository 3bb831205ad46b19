"""The module -> board package mapping and the RDEPENDS closure behind the dynamic import check,
on module files as the bookworm root shows them (no root needed)."""
from __future__ import annotations

import pytest

from board_packages import package_of, plugin_package, runtime_closure, unpackaged_imports, unpackaged_plugins

STDLIB = "/usr/lib/python3.11"
EXTENSION = ".cpython-311-aarch64-linux-gnu.so"


@pytest.mark.parametrize("module, path, package", [
    ("json.decoder", f"{STDLIB}/json/decoder.py", "python3-json"),           # tests/layer's map
    ("_json", f"{STDLIB}/lib-dynload/_json{EXTENSION}", "python3-json"),      # manifest file list
    ("fcntl", f"{STDLIB}/lib-dynload/fcntl{EXTENSION}", "python3-fcntl"),
    ("subprocess", f"{STDLIB}/subprocess.py", "python3-core"),
    ("posix", "", "python3-core"),                                            # built into libpython
    ("numpy.core", "/usr/lib/python3/dist-packages/numpy/core/__init__.py", "python3-numpy"),
    ("PIL._imagingft", "/usr/lib/python3/dist-packages/PIL/_imagingft.so", "python3-pillow"),
    ("tflite_runtime", f"{STDLIB}/site-packages/tflite_runtime/__init__.py", "tensorflow-lite"),
    ("ssdlite_detect.cli", f"{STDLIB}/site-packages/ssdlite_detect/cli.py", "python3-ssdlite-detect"),
    ("gi._gi", "/usr/lib/python3/dist-packages/gi/_gi.cpython-311-aarch64-linux-gnu.so", "python3-pygobject"),
    ("gi.repository.Gst", "", "gstreamer1.0"),                                # typelib packages
    ("gi.repository.GstApp", "", "gstreamer1.0-plugins-base"),
    ("gi.repository.GObject", "", "gobject-introspection"),
])
def test_each_module_maps_to_the_package_that_holds_it_on_the_board(module, path, package):
    assert package_of(module, path, "3.11") == package


def test_a_module_no_board_package_holds_is_reported():
    assert package_of("yaml", "/usr/lib/python3/dist-packages/yaml/__init__.py", "3.11") is None
    problems = unpackaged_imports({"yaml": "/usr/lib/python3/dist-packages/yaml/__init__.py"}, ["python3-core"], "3.11")
    assert list(problems) == ["yaml"]


def test_rdepends_of_rdepends_count_but_the_python3_catch_all_does_not():
    closure, via_catch_all = runtime_closure(["python3-pillow", "tensorflow-lite"])
    # Pillow's recipe brings python3-logging, whose manifest entry brings python3-pickle.
    assert {"python3-logging", "python3-pickle", "python3-numpy"} <= closure
    assert via_catch_all == {"tensorflow-lite"}
    assert "python3-fcntl" not in closure  # only the catch-all (python3-modules) would bring it
    fcntl = {"fcntl": f"{STDLIB}/lib-dynload/fcntl{EXTENSION}"}
    assert list(unpackaged_imports(fcntl, ["python3-pillow", "tensorflow-lite"], "3.11")) == ["fcntl"]
    assert unpackaged_imports(fcntl, ["python3-fcntl"], "3.11") == {}


GST = "/usr/lib/aarch64-linux-gnu/gstreamer-1.0"
OWNERS = {"libgstcoreelements.so": "libgstreamer1.0-0", "libgstapp.so": "gstreamer1.0-plugins-base",
          "libgstjpeg.so": "gstreamer1.0-plugins-good", "libgstopengl.so": "gstreamer1.0-gl"}


@pytest.mark.parametrize("plugin_file, package", [
    (f"{GST}/libgstcoreelements.so", "gstreamer1.0"),
    (f"{GST}/libgstapp.so", "gstreamer1.0-plugins-base-app"),
    (f"{GST}/libgstjpeg.so", "gstreamer1.0-plugins-good-jpeg"),
    (f"{GST}/libgstopengl.so", "gstreamer1.0-plugins-base-opengl"),
    (f"{GST}/libgstlibav.so", None),  # no Debian package of the root ships it: not mapped
])
def test_each_plugin_maps_to_the_package_poky_splits_it_into(plugin_file, package):
    assert plugin_package(plugin_file, OWNERS) == package


def test_a_plugin_whose_package_is_not_named_is_reported():
    plugins = {"jpeg": f"{GST}/libgstjpeg.so", "app": f"{GST}/libgstapp.so"}
    assert list(unpackaged_plugins(plugins, ["gstreamer1.0-plugins-base-app"], OWNERS)) == ["jpeg"]
