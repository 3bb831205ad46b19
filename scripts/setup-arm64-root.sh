#!/usr/bin/env bash
# Builds an arm64 root filesystem for `make rehearse` from Debian's real arm64 packages, in
# $SSDLITE_VENV_DIR/arm64-NAME (default <repo>/.venv/arm64-NAME):
#
#   bookworm  Python 3.11.2, numpy 1.24.2, Pillow 9.4.0, PyGObject 3.42.2, GStreamer 1.22.0 (base,
#             good, typelibs), and the service mode's aiohttp 3.8.4, paho-mqtt 1.6.1 and
#             python-systemd 235: the board's versions (see shared BSP-FACTS), plus the aarch64
#             tflite-runtime 2.14.0 wheel (PyPI has no 2.10.0 wheel for Python 3.11).
#   bullseye  Python 3.9 with the board's own TFLite runtime, tflite-runtime 2.10.0, and the board's
#             numpy 1.24.2 and Pillow 9.4.0 as cp39 aarch64 wheels. Stills only: bullseye's
#             GStreamer is 1.18 and its PyGObject 3.38, neither the board's, so the live mode is
#             rehearsed in the bookworm root, whose GStreamer stack is the board's.
#
# The .debs are those of requirements/arm64-NAME.lock (package, version, sha256), fetched through
# a private apt state and unpacked with `dpkg -x` (scripts/lib/debian-archive.sh): the host's own
# package state never changes. Wheels are pinned by sha256 in requirements/arm64-NAME.txt. The
# wheels go where the board's recipes put Python modules (/usr/lib/python3.X/site-packages, which
# Debian's python does not search: a .pth file adds it). qemu-aarch64-static (host package
# qemu-user-static) is copied into the root, so the rehearsal runs it inside a chroot and nothing
# falls back to the host's files.
#
# Usage: scripts/setup-arm64-root.sh NAME            build the root if its inputs changed
#        scripts/setup-arm64-root.sh NAME --lock     resolve the packages anew and rewrite the lock
#                                                    (when Debian drops a pinned version)
# Environment: SSDLITE_VENV_DIR, SSDLITE_CACHE_DIR, SSDLITE_DEBIAN_MIRROR as for setup-tflite210.sh.
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
NAME=${1:-}
MODE=${2:-build}
VENV_DIR=${SSDLITE_VENV_DIR:-$REPO_ROOT/.venv}
DEBIAN_MIRROR=${SSDLITE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
QEMU=/usr/bin/qemu-aarch64-static

fail() {
    echo "setup-arm64-root${NAME:+ $NAME}: $*" >&2
    exit 1
}

# shellcheck source=lib/debian-archive.sh
source "$REPO_ROOT/scripts/lib/debian-archive.sh"

case $NAME in
    bookworm)
        PYTHON_VERSION=3.11
        WHEEL_PLATFORM=manylinux_2_34_aarch64 # tflite-runtime 2.14.0's tag (not manylinux2014)
        # What the app needs at run time, as the board has it; apt adds their dependencies.
        # coreutils: /usr/bin/env, the interpreter of the console script's shebang.
        # fonts-dejavu-core: DejaVuSans.ttf 2.37, the same upstream file that meta-oe's
        # ttf-dejavu-sans installs; moved out of the root's font folders (the image has none).
        # python3-aiohttp, python3-paho-mqtt, python3-systemd: the service mode (its package's
        # RDEPENDS), rehearsed here only: bullseye has the stills alone.
        TOP_PACKAGES=(python3 python3-numpy python3-pil python3-gi gir1.2-gstreamer-1.0
            gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
            coreutils libstdc++6 fonts-dejavu-core
            python3-aiohttp python3-paho-mqtt python3-systemd)
        ;;
    bullseye)
        PYTHON_VERSION=3.9
        WHEEL_PLATFORM=manylinux2014_aarch64
        TOP_PACKAGES=(python3 coreutils libstdc++6 fonts-dejavu-core)
        ;;
    *) fail "usage: setup-arm64-root.sh bookworm|bullseye [--lock]" ;;
esac
LOCK=$REPO_ROOT/requirements/arm64-$NAME.lock
REQUIREMENTS=$REPO_ROOT/requirements/arm64-$NAME.txt
CACHE_DIR=${SSDLITE_CACHE_DIR:-$REPO_ROOT/.cache}/arm64-$NAME
ROOT_DIR=$VENV_DIR/arm64-$NAME
STAMP=$ROOT_DIR/.stamp
SITE_PACKAGES=/usr/lib/python$PYTHON_VERSION/site-packages

use_private_apt() {
    debian_apt_config "$CACHE_DIR/apt" arm64 "$DEBIAN_MIRROR $NAME main"
}

# --lock: the dependency closure of TOP_PACKAGES as apt resolves it today, with digests.
write_lock() {
    use_private_apt
    local log=$CACHE_DIR/apt.log pins
    mkdir -p "$CACHE_DIR/debs"
    debian_update "$log" "the $NAME arm64 index"
    # "Inst name (version suite [arch])" for every package of the closure; apt appends " []" to
    # those it must configure before others (libc6).
    pins=$(apt-get -s install "${TOP_PACKAGES[@]}" 2>"$log" |
        sed -nE 's/^Inst ([^ ]+) \(([^ ]+) .*\[([a-z0-9]+)\]\)( \[\])?$/\1:\3=\2/p' | sort)
    [[ -n $pins ]] || fail "apt could not resolve ${TOP_PACKAGES[*]}: $(apt_error "$log")"
    # shellcheck disable=SC2086 # one pin per word
    (cd "$CACHE_DIR/debs" && apt-get -q download $pins) >"$log" 2>&1 ||
        fail "cannot download the $NAME arm64 packages: $(apt_error "$log")"
    {
        echo "# Debian $NAME arm64 packages of the rehearsal root (scripts/setup-arm64-root.sh)."
        echo "# Written by 'scripts/setup-arm64-root.sh $NAME --lock': the closure of"
        echo "#   ${TOP_PACKAGES[*]}"
        echo "# without recommends, as apt resolved it on $(date -u +%Y-%m-%d). package:arch=version sha256"
        local pin
        for pin in $pins; do
            echo "$pin $(sha256sum "$(debian_deb_file "$CACHE_DIR/debs" arm64 "$pin")" | cut -d' ' -f1)"
        done
    } >"$LOCK"
    echo "setup-arm64-root $NAME: wrote $LOCK ($(echo "$pins" | wc -w) packages)"
}

fingerprint() {
    cat "$SCRIPT_PATH" "$REPO_ROOT/scripts/lib/debian-archive.sh" "$LOCK" "$REQUIREMENTS" |
        sha256sum | cut -d' ' -f1
}

root_is_current() {
    [[ -f $STAMP && $(<"$STAMP") == "$(fingerprint)" ]]
}

locked_entries() {
    grep -v '^#' "$LOCK" | grep -v '^$'
}

# The pinned aarch64 wheels, from the cache when it has them all, else from the package index.
fetch_wheels() {
    local dest=$1 log=$CACHE_DIR/pip.log
    local pip_args=(download --quiet --disable-pip-version-check --only-binary=:all:
        --python-version "$PYTHON_VERSION" --implementation cp --abi "cp${PYTHON_VERSION/./}"
        --platform "$WHEEL_PLATFORM" --no-deps --require-hashes --requirement "$REQUIREMENTS")
    mkdir -p "$CACHE_DIR/wheels"
    python3 -m pip "${pip_args[@]}" --dest "$dest" --no-index --find-links "$CACHE_DIR/wheels" \
        >/dev/null 2>&1 && return 0
    echo "setup-arm64-root $NAME: downloading the aarch64 wheels of ${REQUIREMENTS#"$REPO_ROOT"/}"
    python3 -m pip "${pip_args[@]}" --dest "$CACHE_DIR/wheels" >"$log" 2>&1 ||
        fail "cannot download the aarch64 wheels: $(grep -m 1 '^ERROR' "$log" || tail -n 1 "$log")"
    python3 -m pip "${pip_args[@]}" --dest "$dest" --no-index --find-links "$CACHE_DIR/wheels" \
        >"$log" 2>&1 || fail "cached wheels do not satisfy $REQUIREMENTS: $(tail -n 1 "$log")"
}

# What dpkg's maintainer scripts would have done that the app needs, and what the board lacks.
finish_root() {
    local root=$1 multiarch=/usr/lib/aarch64-linux-gnu
    # numpy links libblas.so.3 and liblapack.so.3, which update-alternatives provides.
    local library
    for library in blas/libblas.so.3 lapack/liblapack.so.3; do
        if [[ -e $root$multiarch/$library ]]; then
            ln -sfn "$library" "$root$multiarch/${library#*/}"
        fi
    done
    # The image ships no font: keep DejaVuSans.ttf beside the root, for the rehearsal to install
    # where the layer's font package puts it, and empty the root's font folders.
    mkdir -p "$root/../fonts.$NAME"
    cp "$root/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf" "$root/../fonts.$NAME/"
    rm -rf "$root/usr/share/fonts" "$root/etc/fonts"
    # Debian's python searches dist-packages; the board's recipes install into site-packages.
    mkdir -p "$root$SITE_PACKAGES" "$root/usr/lib/python3/dist-packages"
    echo "$SITE_PACKAGES" >"$root/usr/lib/python3/dist-packages/yocto-site-packages.pth"
    # The chroot's own /tmp; /dev stays empty (no NPU node, no host devices).
    mkdir -p "$root/tmp" "$root/dev" "$root/proc" "$root/sys" "$root/root"
    chmod 1777 "$root/tmp"
    cp "$QEMU" "$root/usr/bin/qemu-aarch64-static"
}

# Runs python3 in the root under qemu: chroot as root, else an unprivileged user namespace.
run_in_root() {
    local root=$1
    shift
    local enter=("$(command -v chroot)" "$root")
    ((EUID == 0)) || enter=("$(command -v unshare)" --map-root-user --root="$root")
    # GST_REGISTRY_FORK=no: gst-plugin-scanner would be a second aarch64 program (see
    # tests/rehearse/device_root.py).
    env -i PATH=/usr/bin:/bin HOME=/root GST_REGISTRY_FORK=no "${enter[@]}" /usr/bin/qemu-aarch64-static "$@"
}

# GStreamer's plugin registry (/root/.cache/gstreamer-1.0), which a board builds at its first
# GStreamer start: built with the root, so that a rehearsal run loads only the plugins it uses.
# The scan loads every plugin (in-process), and the rehearsal's plugin check, which counts the
# plugins a run loaded, would otherwise fail on the first live run after every root build.
build_gstreamer_registry() {
    [[ -e $1/usr/lib/python3/dist-packages/gi ]] || return 0 # bullseye: stills only, no GStreamer
    run_in_root "$1" /usr/bin/python3 -c '
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
assert Gst.Registry.get().find_plugin("app"), "GStreamer found no plugins"
' || fail "GStreamer in the new root failed under qemu (see above)"
}

verify_root() {
    run_in_root "$1" /usr/bin/python3 -c '
import platform, sys
import numpy, PIL, tflite_runtime
from tflite_runtime.interpreter import Interpreter
print(platform.machine(), platform.python_version(), numpy.__version__, PIL.__version__,
      tflite_runtime.__version__)
' || fail "python3 in the new root failed under qemu (see above)"
}

build_root() {
    [[ $(uname -m) == x86_64 ]] || fail "needs an x86-64 host"
    local tool
    for tool in apt-get dpkg python3 sha256sum flock chroot; do
        command -v "$tool" >/dev/null || fail "needs '$tool', which is not on PATH"
    done
    [[ -x $QEMU ]] || fail "needs $QEMU: apt-get install qemu-user-static (.ci/run installs it)"
    [[ -f $LOCK ]] || fail "no lock file $LOCK: run 'scripts/setup-arm64-root.sh $NAME --lock'"

    mkdir -p "$CACHE_DIR" "$VENV_DIR"
    exec 9>"$CACHE_DIR/lock"
    flock 9
    if root_is_current; then
        return 0
    fi
    local started=$SECONDS entries=()
    mapfile -t entries < <(locked_entries)
    use_private_apt
    DEBIAN_FETCH_HINT="if Debian dropped a pinned version: scripts/setup-arm64-root.sh $NAME --lock" \
        debian_fetch_pinned "$CACHE_DIR/debs" arm64 "Debian $NAME arm64 packages" "${entries[@]}"

    BUILD_DIR=$(mktemp -d "$VENV_DIR/.arm64-$NAME.build.XXXXXX")
    chmod 0755 "$BUILD_DIR"
    trap 'rm -rf "$BUILD_DIR"' EXIT
    local root=$BUILD_DIR/root
    debian_unpack "$CACHE_DIR/debs" arm64 "$root" "${entries[@]}"
    finish_root "$root"
    fetch_wheels "$BUILD_DIR/wheels"
    unzip_wheels "$BUILD_DIR/wheels" "$root$SITE_PACKAGES"

    verify_root "$root" >"$BUILD_DIR/versions"
    build_gstreamer_registry "$root"
    echo "setup-arm64-root $NAME: $(<"$BUILD_DIR/versions")"
    fingerprint >"$root/.stamp"
    rm -rf "$ROOT_DIR" "$VENV_DIR/fonts.$NAME"
    mv "$root" "$ROOT_DIR"
    mv "$BUILD_DIR/fonts.$NAME" "$VENV_DIR/fonts.$NAME"
    echo "setup-arm64-root $NAME: ready in $((SECONDS - started)) s: $ROOT_DIR"
}

case $MODE in
    --lock) write_lock ;;
    build) build_root ;;
    *) fail "unknown option $MODE (usage: setup-arm64-root.sh bookworm|bullseye [--lock])" ;;
esac
