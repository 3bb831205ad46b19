# nooelint: oelint.var.mandatoryvar.HOMEPAGE
# (no HOMEPAGE: the app lives in this repository, which has no public home yet)
SUMMARY = "SSDLite MobileNetV2 object detector for i.MX (CPU, VX and Ethos-U delegates)"
DESCRIPTION = "ssdlite_detect, a Python library and the ssdlite-detect command \
that detect COCO objects in images with TensorFlow Lite: on the CPU, on the \
i.MX 8M Plus NPU through the VX delegate, or on the i.MX 93 Ethos-U65 through \
the Ethos-U delegate. Models come from ssdlite-mobilenetv2."
SECTION = "ml"
LICENSE = "MIT"
# python-app declares "MIT" in pyproject.toml and ships no license file.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Built from python-app/ of the repository that holds this layer. The local
# fetcher checksums every file of the folder, so any change to the app's
# sources changes do_fetch's signature and rebuilds the package. The folder is
# outside the layer by design, hence FILESEXTRAPATHS in a recipe.
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${SSDLITE_REPO_DIR}:"
SRC_URI = "file://python-app"

S = "${WORKDIR}/python-app"

# setuptools.build_meta from python3-setuptools-native 67.6, wheel built and
# installed offline by python_pep517.
inherit python_setuptools_build_meta

# The folder is copied from a developer's checkout: drop setuptools' build/ and
# egg-info left by host-side builds, which would otherwise put stale modules
# (egg-info's SOURCES.txt is merged, not rewritten) into the wheel.
do_configure:append() {
    rm -rf ${S}/build ${S}/src/*.egg-info
}

# Pure Python, but the accelerator stack it pulls in depends on the SoC.
PACKAGE_ARCH = "${MACHINE_ARCH}"

# The VX delegate compiles the graph for the i.MX 8M Plus NPU on the first
# inference (seconds); the app keeps the compiled graph here so that later runs
# start at once (ssdlite_detect/device.py VX_CACHE_DIR).
FILES:${PN} += "${localstatedir}/cache/ssdlite-detect"

# python3-* split packages that hold the standard-library modules the app
# imports (poky's python3-manifest.json): python3-core has argparse,
# importlib, math, os, sys, time, typing and warnings; colorsys is in
# python3-image, ctypes in python3-ctypes, dataclasses in python3-profile,
# fractions in python3-numbers, json in python3-json, statistics in
# python3-statistics. tensorflow-lite carries the tflite_runtime module.
# tests/layer checks this list against the app's imports.
RDEPENDS:${PN} = " \
    ${SSDLITE_ACCELERATOR_RDEPENDS} \
    python3-core \
    python3-ctypes \
    python3-image \
    python3-json \
    python3-numbers \
    python3-numpy \
    python3-pillow \
    python3-profile \
    python3-statistics \
    tensorflow-lite \
"

# What each SoC's NPU needs; machines without one run the int8 model on the
# CPU with nothing beyond tensorflow-lite.
SSDLITE_ACCELERATOR_RDEPENDS = ""
SSDLITE_ACCELERATOR_RDEPENDS:mx93-nxp-bsp = " \
    ethos-u-driver-stack \
    ethos-u-firmware \
    tensorflow-lite-ethosu-delegate \
"
SSDLITE_ACCELERATOR_RDEPENDS:mx8mp-nxp-bsp = "tensorflow-lite-vx-delegate"

do_install:append() {
    install -d -m 0755 ${D}${localstatedir}/cache/ssdlite-detect
}
