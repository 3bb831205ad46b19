# nooelint: oelint.var.mandatoryvar.HOMEPAGE
# (no HOMEPAGE: the app lives in this repository, which has no public home yet)
SUMMARY = "SSDLite MobileNetV2 object detector for i.MX (CPU, VX and Ethos-U delegates)"
DESCRIPTION = "ssdlite_detect, a Python library and the ssdlite-detect command \
that detect COCO objects in images (and, with the -live package, in cameras, \
video files and RTSP streams; with the -service package, as a systemd service \
with a live web view, an HTTP API and MQTT) with TensorFlow Lite: on the CPU, on the \
i.MX 8M Plus NPU through the VX delegate, or on the i.MX 93 Ethos-U65 through \
the Ethos-U delegate. Models come from ssdlite-mobilenetv2."
SECTION = "ml"
LICENSE = "MIT"
# python-app declares "MIT" in pyproject.toml and ships no license file.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Built from the files git tracks in python-app/ of the repository that holds
# this layer (SSDLITE_REPO_DIR), as they are in the working tree: untracked
# files (setuptools' build/ and egg-info from host-side builds, editor
# leftovers) never reach the package. ssdlite_app_sources() lists them when the
# recipe is parsed; the local fetcher checksums each one, so editing any of
# them rebuilds the package, and adding or removing one (git add, git rm)
# parses the recipe again. The folder is outside the layer by design, hence
# FILESEXTRAPATHS in a recipe.
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${SSDLITE_REPO_DIR}:"
SRC_URI = " \
    ${SSDLITE_APP_SRC_URI} \
    file://70-ssdlite-detect.rules \
    file://ssdlite-detect.service \
    file://ssdlite-detect.toml \
"

S = "${WORKDIR}/python-app"

# setuptools.build_meta from python3-setuptools-native 67.6, wheel built and
# installed offline by python_pep517. allarch: a pure-Python wheel
# (py3-none-any) whose .pyc the native python 3.11 (the board's version)
# writes, the same for every machine, so a package feed holds one copy. What
# differs per SoC (delegates, NPU driver and firmware, NXP's GStreamer
# elements) is in packagegroup-ssdlite, which is machine-specific; none of
# these packages may depend on a machine override (tests/layer parses them for
# both EVKs and compares). layer.conf declares the recipe's dependencies on
# per-tune recipes safe for its signatures.
inherit python_setuptools_build_meta systemd useradd allarch

# The app's sources: file:// entries for the files git tracks under
# python-app/ and that exist in the working tree, set by the anonymous python
# below (a copied layer without the repository stops the parse there, naming
# SSDLITE_REPO_DIR).
SSDLITE_APP_SRC_URI = ""
SSDLITE_APP_HELP = "set SSDLITE_REPO_DIR (local.conf) to a git checkout of the meta-ssdlite repository, which holds python-app/ beside meta-ssdlite/"

# (tracked, untracked, folders): the files git tracks under python-app/ that
# exist in the working tree, the untracked ones git does not ignore, and the
# folders holding the tracked ones (paths relative to the repository). Raises
# bb.process.CmdError when git is missing or the folder is no git checkout.
def ssdlite_app_sources(repo):
    def git(*args):
        output, _ = bb.process.run(["git", "-C", repo] + list(args))
        return [name for name in output.split("\0") if name]
    tracked = [name for name in git("ls-files", "-z", "--", "python-app")
               if os.path.isfile(os.path.join(repo, name))]
    untracked = git("ls-files", "-z", "--others", "--exclude-standard", "--", "python-app")
    folders = sorted({os.path.dirname(name) for name in tracked})
    return sorted(tracked), sorted(untracked), folders

# Only anonymous python can stop the parse with a message of its own, and set
# SRC_URI from what git tracks before the fetcher and the signatures read it.
# nooelint: oelint.task.noanonpython
python () {
    import re
    repo = d.getVar("SSDLITE_REPO_DIR")
    help_text = d.getVar("SSDLITE_APP_HELP")
    if not os.path.isfile(os.path.join(repo, "python-app", "pyproject.toml")):
        bb.fatal("%s has no python-app/pyproject.toml (the app's sources): %s" % (repo, help_text))
    try:
        tracked, untracked, folders = ssdlite_app_sources(repo)
        git_index = bb.process.run(["git", "-C", repo, "rev-parse", "--git-path", "index"])[0].strip()
    except bb.process.CmdError as error:
        lines = (getattr(error, "stderr", None) or str(error)).strip().splitlines()
        bb.fatal("%s is not a git checkout (%s): the app is built from the files git tracks in python-app/; %s"
                 % (repo, lines[-1] if lines else "git failed", help_text))
    if not tracked:
        bb.fatal("git tracks no file in %s/python-app: %s" % (repo, help_text))
    unfit = [name for name in tracked if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$", name)]
    if unfit:
        bb.fatal("python-app/ holds files whose names cannot be file:// entries of SRC_URI: %s" % " ".join(unfit))
    # Parse again when the tracked set changes (git add, git rm, checkout
    # rewrite the index) or a file appears in one of the app's folders.
    bb.parse.mark_dependency(d, os.path.join(repo, git_index))
    for folder in folders:
        bb.parse.mark_dependency(d, os.path.join(repo, folder))
    if untracked:
        bb.warn("python3-ssdlite-detect: not built, as git does not track them (git add, or .gitignore): %s"
                % " ".join(untracked))
    d.setVar("SSDLITE_APP_SRC_URI", " ".join("file://" + name for name in tracked))
}

# The live mode (ssdlite-detect --source: cameras, video files, RTSP) is its
# own package, so that a still-images-only product leaves GStreamer out: the
# ssdlite_detect.live modules and everything they need at run time.
# packagegroup-ssdlite installs it unless SSDLITE_LIVE_PACKAGES is emptied.
PACKAGES =+ "${PN}-live ${PN}-service"
FILES:${PN}-live += "${PYTHON_SITEPACKAGES_DIR}/ssdlite_detect/live"

# The service mode (ssdlite-detect.service: the detector at boot on the camera,
# a live web view, an HTTP API, MQTT) is its own package too, so that images
# without it carry no aiohttp or paho-mqtt. packagegroup-ssdlite installs it
# unless SSDLITE_SERVICE_PACKAGES is emptied; the unit is installed disabled.
FILES:${PN}-service += "${PYTHON_SITEPACKAGES_DIR}/ssdlite_detect/service \
    ${nonarch_base_libdir}/udev/rules.d/70-ssdlite-detect.rules \
    ${sysconfdir}/ssdlite-detect \
    ${systemd_system_unitdir}/ssdlite-detect.service \
"
CONFFILES:${PN}-service = "${sysconfdir}/ssdlite-detect/ssdlite-detect.toml"

# An OEM starts the service at boot with one line in local.conf:
#   SSDLITE_SERVICE_AUTO_ENABLE = "enable"
# and points it at its source with another:
#   SSDLITE_SERVICE_SOURCE = "rtsp://192.168.1.20/stream"
# (any SOURCE of `ssdlite-detect --source`; every other setting: a bbappend
# that installs its own ssdlite-detect.toml).
SSDLITE_SERVICE_AUTO_ENABLE ??= "disable"
SSDLITE_SERVICE_SOURCE ??= "camera"
SYSTEMD_PACKAGES = "${PN}-service"
SYSTEMD_SERVICE:${PN}-service = "ssdlite-detect.service"
SYSTEMD_AUTO_ENABLE:${PN}-service = "${SSDLITE_SERVICE_AUTO_ENABLE}"

# A system user of its own, with the video group for the camera, NPU, 2D
# scaler and dma-heap nodes (70-ssdlite-detect.rules gives that group the
# nodes the BSP leaves to root).
USERADD_PACKAGES = "${PN}-service"
USERADD_PARAM:${PN}-service = "--system --no-create-home --home-dir /nonexistent \
    --shell /sbin/nologin --user-group --groups video ssdlite-detect"

# The VX delegate compiles the graph for the i.MX 8M Plus NPU on the first
# inference (seconds); the app keeps the compiled graph here so that later runs
# start at once (ssdlite_detect/device.py VX_CACHE_DIR).
FILES:${PN} += "${localstatedir}/cache/ssdlite-detect"

# python3-* split packages that hold the standard-library modules the app
# imports (poky's python3-manifest.json): python3-core has argparse,
# importlib, math, os, sys, time, typing and warnings; colorsys is in
# python3-image, ctypes in python3-ctypes, dataclasses in python3-profile,
# fractions in python3-numbers, ipaddress (urls.py: redacting URLs in
# messages) in python3-io, json in python3-json, statistics in
# python3-statistics; tomllib (--config FILE, in every mode), which poky's
# manifest does not list, lands in python3-misc. tensorflow-lite carries the
# tflite_runtime module.
# tests/layer checks this list against the app's imports; `make rehearse`
# against what a run imports on aarch64, which found python3-fcntl: Pillow
# loads its GIF plugin, which imports subprocess (python3-core), which imports
# fcntl, and python3-core does not RDEPEND on python3-fcntl (today only
# tensorflow-lite's RDEPENDS on all of python3 brings it in). The image has no
# font otherwise: ttf-dejavu-sans (meta-oe) puts DejaVuSans.ttf where
# ssdlite_detect/draw.py looks for it, so annotated copies get readable labels.
# The TensorFlow Lite delegates, the NPU driver and firmware are per SoC:
# packagegroup-ssdlite brings them.
RDEPENDS:${PN} = " \
    python3-core \
    python3-ctypes \
    python3-fcntl \
    python3-image \
    python3-io \
    python3-json \
    python3-misc \
    python3-numbers \
    python3-numpy \
    python3-pillow \
    python3-profile \
    python3-statistics \
    tensorflow-lite \
    ttf-dejavu-sans \
"

# The live mode: PyGObject with the GLib/GObject typelibs (gobject-introspection)
# and GStreamer's (Gst in gstreamer1.0; GstApp and GstVideo in
# gstreamer1.0-plugins-base), the elements its pipelines use, and the standard
# library modules of ssdlite_detect/live (python3-threading has queue).
# Plugin packages: coreelements (identity, queue, tee, capsfilter) is in
# gstreamer1.0; base: app (appsink, appsrc), playback (decodebin),
# typefindfunctions, videoconvertscale (videoconvert, videoscale in 1.22),
# videotestsrc; good: video4linux2 (cameras), isomp4 / matroska / avi
# (containers), jpeg / png (MJPEG, PNG), videofilter (videoflip: a file's
# orientation tag), rtsp, rtp, rtpmanager, udp (RTSP);
# bad: videoparsersbad (h264parse). Each is built by the BSP's recipes with
# their default PACKAGECONFIG on both SoCs (read at the manifest's commits;
# plugins-good's vpx is not, so VP8 is not used). NXP's own elements
# (imx-gst1.0-plugin: the 2D scalers and the VPU) are per SoC:
# packagegroup-ssdlite brings them with the live mode. tests/layer checks the
# Python imports against this list.
RDEPENDS:${PN}-live = " \
    ${PN} \
    gobject-introspection \
    gstreamer1.0 \
    gstreamer1.0-plugins-bad-videoparsersbad \
    gstreamer1.0-plugins-base \
    gstreamer1.0-plugins-base-app \
    gstreamer1.0-plugins-base-playback \
    gstreamer1.0-plugins-base-typefindfunctions \
    gstreamer1.0-plugins-base-videoconvertscale \
    gstreamer1.0-plugins-base-videotestsrc \
    gstreamer1.0-plugins-good-avi \
    gstreamer1.0-plugins-good-isomp4 \
    gstreamer1.0-plugins-good-jpeg \
    gstreamer1.0-plugins-good-matroska \
    gstreamer1.0-plugins-good-png \
    gstreamer1.0-plugins-good-rtp \
    gstreamer1.0-plugins-good-rtpmanager \
    gstreamer1.0-plugins-good-rtsp \
    gstreamer1.0-plugins-good-udp \
    gstreamer1.0-plugins-good-video4linux2 \
    gstreamer1.0-plugins-good-videofilter \
    python3-core \
    python3-pygobject \
    python3-statistics \
    python3-threading \
"

# The service mode: aiohttp 3.8.4, paho-mqtt 1.6.1 and python-systemd 235
# (sd_notify) from meta-python, on top of the live mode; standard library:
# asyncio, hmac (python3-netclient), ipaddress and socket (python3-io),
# dataclasses (python3-profile), json, logging (python3-logging: aiohttp's and
# asyncio's errors rate-limited), resource (python3-resource: RLIMIT_NOFILE
# bounds the connections) and statistics. tests/layer checks the
# Python imports against this list.
RDEPENDS:${PN}-service = " \
    ${PN}-live \
    python3-aiohttp \
    python3-asyncio \
    python3-core \
    python3-io \
    python3-json \
    python3-logging \
    python3-netclient \
    python3-paho-mqtt \
    python3-profile \
    python3-resource \
    python3-statistics \
    python3-systemd \
"

do_install:append() {
    install -d -m 0755 ${D}${localstatedir}/cache/ssdlite-detect
    install -d -m 0755 ${D}${systemd_system_unitdir} ${D}${sysconfdir}/ssdlite-detect \
        ${D}${nonarch_base_libdir}/udev/rules.d
    install -m 0644 ${WORKDIR}/ssdlite-detect.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${WORKDIR}/70-ssdlite-detect.rules ${D}${nonarch_base_libdir}/udev/rules.d/
    install -m 0644 ${WORKDIR}/ssdlite-detect.toml ${D}${sysconfdir}/ssdlite-detect/
    # The source goes into a TOML string through sed: refuse the few characters
    # that would break either (and a single quote, which breaks this very
    # script), with the way around them.
    case '${SSDLITE_SERVICE_SOURCE}' in
    '' | *'"'* | *'\'* | *'|'* | *'&'*)
        bbfatal 'SSDLITE_SERVICE_SOURCE: give a SOURCE without quotes, backslashes, | or & (or install your own ssdlite-detect.toml from a bbappend)'
        ;;
    esac
    sed -i -e 's|^source = .*|source = "${SSDLITE_SERVICE_SOURCE}"|' \
        ${D}${sysconfdir}/ssdlite-detect/ssdlite-detect.toml
}

