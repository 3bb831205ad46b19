#!/usr/bin/env bash
# Builds the BSP's exact TFLite runtime (tflite-runtime 2.10.0, numpy 1.24.2, Pillow 9.4.0) on an
# x86-64 Debian host, in $SSDLITE_VENV_DIR/tflite210 (default <repo>/.venv/tflite210).
#
# PyPI has tflite-runtime 2.10.0 only for CPython <= 3.9, and Debian bookworm ships 3.11, so the
# interpreter is Debian bullseye's python3.9: its .debs are fetched with `apt-get download` through
# a private, signature-checked apt configuration (the system's /etc/apt and apt lists are never
# touched) and unpacked with `dpkg -x` into a private prefix. The cp39 wheels are pinned by sha256
# in requirements/tflite210.txt. Callers run <env>/bin/python, a wrapper that points the
# interpreter at the prefix and appends their own PYTHONPATH.
#
# Usage: scripts/setup-tflite210.sh     (from any directory; no arguments)
# Environment:
#   SSDLITE_VENV_DIR          where environments live (default <repo>/.venv)
#   SSDLITE_CACHE_DIR         download cache, reused by rebuilds (default <repo>/.cache)
#   SSDLITE_DEBIAN_MIRROR     Debian archive holding bullseye (default http://deb.debian.org/debian)
#   SSDLITE_REFERENCE_DIR     reference fixtures (default <repo>/../shared/reference); the final
#                             check invokes its SSD model when present
#   SSDLITE_REQUIRE_REFERENCE set to 1 to fail, instead of skipping that check, when it is absent
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
REQUIREMENTS=$REPO_ROOT/requirements/tflite210.txt
VENV_DIR=${SSDLITE_VENV_DIR:-$REPO_ROOT/.venv}
CACHE_DIR=${SSDLITE_CACHE_DIR:-$REPO_ROOT/.cache}/tflite210
DEBIAN_MIRROR=${SSDLITE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
REFERENCE_DIR=${SSDLITE_REFERENCE_DIR:-$REPO_ROOT/../shared/reference}
REFERENCE_MODEL=$REFERENCE_DIR/coco_ssd_mobilenet_v1_postprocess.tflite
ENV_DIR=$VENV_DIR/tflite210
STAMP=$ENV_DIR/.stamp

# Bullseye's python3.9 and the libraries it needs that bookworm no longer has (libssl1.1, libffi7)
# or does not install by default (libmpdec3). Everything else it links (zlib, expat, bz2, lzma,
# sqlite, ncurses, readline, nsl, tirpc, uuid, crypt, db5.3) is ABI-compatible on bookworm and
# comes from the host. Versions are those of bullseye's final point release (11.11), which no
# longer changes, so the hashes stay valid; apt also checks them against the signed index. (Should
# bullseye leave deb.debian.org, SSDLITE_DEBIAN_MIRROR=http://archive.debian.org/debian serves it.)
readonly BULLSEYE_DEBS=(
    "python3.9-minimal=3.9.2-1 5d6003c5c20223a2547ac4976e09a9ec778dbe351507a6292bef3b60df5f4aa7"
    "libpython3.9-minimal=3.9.2-1 594283526d67e03e3c4e96534f6bfe5da1bf41da5d49360553c9b79fbf08c4ab"
    "libpython3.9-stdlib=3.9.2-1 32ac64d959ac2dbc5bb289532fc9834dab8f671b5455695a3a9315aad973c65b"
    "python3.9=3.9.2-1 12f8b47632cc26b986bfc4c882fc98e7036d406143ae8bb1dbfff6b61d7c8993"
    "libssl1.1=1.1.1w-0+deb11u1 aadf8b4b197335645b230c2839b4517aa444fd2e8f434e5438c48a18857988f7"
    "libffi7=3.3-6 30ca89bfddae5fa6e0a2a044f22b6e50cd17c4bc6bc850c579819aeab7101f0f"
    "libmpdec3=2.5.1-1 816404866f754d5662d69db50072018dccb78cf372fc38e0be961fab0f57d741"
    # PyGObject for the live mode's test on this runtime (the board has 3.42.2 for Python 3.11;
    # no 3.9 build of that exists). It uses the host's GLib, girepository and GStreamer 1.22
    # typelibs (scripts/setup-debian.sh installs them).
    "python3-gi=3.38.0-2 48d4d4413013d4bb044feb6c8d9a470108d59546c09f4630187fda8164b8fda1"
)

fail() {
    echo "setup-tflite210: $*" >&2
    exit 1
}

# shellcheck source=lib/debian-archive.sh
source "$REPO_ROOT/scripts/lib/debian-archive.sh"

# The env is current when its stamp holds the fingerprint of everything that defines it.
fingerprint() {
    cat "$SCRIPT_PATH" "$REPO_ROOT/scripts/lib/debian-archive.sh" "$REQUIREMENTS" | sha256sum | cut -d' ' -f1
}

env_is_current() {
    [[ -x $ENV_DIR/bin/python && -f $STAMP && $(<"$STAMP") == "$(fingerprint)" ]]
}

# Fills $CACHE_DIR/debs with the pinned .debs, downloading only those missing or corrupt.
fetch_debs() {
    debian_apt_config "$CACHE_DIR/apt" amd64 "$DEBIAN_MIRROR bullseye main"
    debian_fetch_pinned "$CACHE_DIR/debs" amd64 "bullseye python3.9 packages" "${BULLSEYE_DEBS[@]}"
}

# Prints the most telling line of pip's log $1: a connection failure if any, else its first error.
pip_error() {
    grep -m 1 -o "Failed to establish a new connection: [^')]*" "$1" ||
        grep -m 1 '^ERROR' "$1" || tail -n 1 "$1"
}

# Runs `pip download` of the pinned cp39 wheels into $1, with pip's extra arguments after it.
pip_download_wheels() {
    local dest=$1
    shift
    python3 -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --python-version 3.9 --implementation cp --abi cp39 --platform manylinux2014_x86_64 \
        --require-hashes --requirement "$REQUIREMENTS" --dest "$dest" "$@"
}

# Copies exactly the pinned wheels into $1, from the cache when it has them all, else from PyPI.
fetch_wheels() {
    local dest=$1 wheel_cache=$CACHE_DIR/wheels log=$CACHE_DIR/pip.log
    mkdir -p "$wheel_cache"
    pip_download_wheels "$dest" --no-index --find-links "$wheel_cache" >/dev/null 2>&1 && return 0

    echo "setup-tflite210: downloading the cp39 wheels pinned in requirements/tflite210.txt"
    pip_download_wheels "$wheel_cache" >"$log" 2>&1 ||
        fail "cannot download the cp39 wheels from the package index: $(pip_error "$log")"
    pip_download_wheels "$dest" --no-index --find-links "$wheel_cache" >"$log" 2>&1 ||
        fail "cached wheels do not satisfy $REQUIREMENTS: $(pip_error "$log")"
}

# The wrapper finds the env from its own location, so the env still works after being moved
# from its build directory into place.
write_wrapper() {
    mkdir -p "$1/bin"
    cat >"$1/bin/python" <<'EOF'
#!/bin/sh
# Debian bullseye python3.9 with tflite-runtime 2.10.0, numpy and Pillow: the BSP's TFLite runtime.
# Written by scripts/setup-tflite210.sh. The caller's PYTHONPATH and LD_LIBRARY_PATH are kept,
# after the env's own entries; the user site (~/.local) is ignored so nothing leaks in.
env_dir=$(dirname "$(dirname "$(readlink -f "$0")")")
LD_LIBRARY_PATH="$env_dir/prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PYTHONHOME="$env_dir/prefix/usr"
PYTHONPATH="$env_dir/site-packages${PYTHONPATH:+:$PYTHONPATH}"
PYTHONNOUSERSITE=1
export LD_LIBRARY_PATH PYTHONHOME PYTHONPATH PYTHONNOUSERSITE
exec "$env_dir/prefix/usr/bin/python3.9" "$@"
EOF
    chmod 0755 "$1/bin/python"
}

pinned_version() {
    sed -n "s/^$1==\([^ ]*\).*/\1/p" "$REQUIREMENTS"
}

# Proves the env imports the pinned versions, loads the stdlib extensions whose libraries come
# from the prefix or the host, and runs a real SSD with TFLite_Detection_PostProcess.
verify_env() {
    local python=$1/bin/python model=$REFERENCE_MODEL
    if [[ ! -f $model ]]; then
        [[ ${SSDLITE_REQUIRE_REFERENCE:-} != 1 ]] ||
            fail "reference model $model is absent and SSDLITE_REQUIRE_REFERENCE=1"
        echo "setup-tflite210: $model absent, skipping the model invocation check"
        model=""
    fi
    "$python" - "$(pinned_version tflite-runtime) $(pinned_version numpy) $(pinned_version Pillow)" \
        "$model" <<'EOF' || fail "the built env failed its check (see the Python error above)"
import sys

import ssl, ctypes, decimal, sqlite3, lzma, bz2, zlib, pyexpat  # noqa: F401  (linkage check)
import gi  # noqa: F401  (bullseye's PyGObject, for the live mode)
import numpy
import PIL
import tflite_runtime
from tflite_runtime.interpreter import Interpreter

expected, model = sys.argv[1], sys.argv[2]
found = f"{tflite_runtime.__version__} {numpy.__version__} {PIL.__version__}"
if found != expected:
    sys.exit(f"versions {found} differ from the pinned {expected}")
if model:
    interpreter = Interpreter(model_path=model)
    interpreter.allocate_tensors()
    image = interpreter.get_input_details()[0]
    interpreter.set_tensor(image["index"], numpy.zeros(image["shape"], image["dtype"]))
    interpreter.invoke()
    outputs = [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]
    if len(outputs) != 4:
        sys.exit(f"{model} gave {len(outputs)} outputs, not TFLite_Detection_PostProcess's 4")
print(f"setup-tflite210: verified tflite-runtime, numpy, Pillow {found}", end="")
print(f" by invoking {model}" if model else "")
EOF
}

main() {
    # Fast path: nothing to do, and nothing but two small files hashed.
    if env_is_current; then
        echo "setup-tflite210: $ENV_DIR is up to date"
        return 0
    fi
    [[ $(uname -m) == x86_64 ]] || fail "needs an x86-64 host: the pinned .debs and wheels are amd64"
    local tool
    for tool in apt-get dpkg python3 sha256sum flock; do
        command -v "$tool" >/dev/null || fail "needs '$tool', which is not on PATH"
    done

    # Parallel callers (make -j) wait for one build, then take the fast path.
    mkdir -p "$CACHE_DIR" "$VENV_DIR"
    exec 9>"$CACHE_DIR/lock"
    flock 9
    if env_is_current; then
        echo "setup-tflite210: $ENV_DIR is up to date"
        return 0
    fi

    # Build beside the env and swap it in only once verified, so a failed run leaves the old env.
    BUILD_DIR=$(mktemp -d "$VENV_DIR/.tflite210.build.XXXXXX")
    chmod 0755 "$BUILD_DIR" # mktemp's 0700 would hide the env from other users
    trap 'rm -rf "$BUILD_DIR"' EXIT

    fetch_debs
    debian_unpack "$CACHE_DIR/debs" amd64 "$BUILD_DIR/prefix" "${BULLSEYE_DEBS[@]}"
    # Absolute symlinks (sitecustomize.py -> /etc/python3.9/...) would reach into the host.
    find "$BUILD_DIR/prefix" -type l -lname '/*' -delete

    # Debian keeps its Python modules in /usr/lib/python3/dist-packages; the env's path is site-packages.
    mkdir -p "$BUILD_DIR/site-packages"
    mv "$BUILD_DIR/prefix/usr/lib/python3/dist-packages/gi" "$BUILD_DIR/site-packages/gi"

    fetch_wheels "$BUILD_DIR/wheels"
    unzip_wheels "$BUILD_DIR/wheels" "$BUILD_DIR/site-packages"

    write_wrapper "$BUILD_DIR"
    verify_env "$BUILD_DIR"

    fingerprint >"$BUILD_DIR/.stamp"
    rm -rf "$ENV_DIR"
    mv "$BUILD_DIR" "$ENV_DIR"
    echo "setup-tflite210: ready: $ENV_DIR/bin/python"
}

main "$@"
