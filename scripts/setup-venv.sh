#!/usr/bin/env bash
# Creates or refreshes one pinned Python 3.11 virtual environment: $SSDLITE_VENV_DIR/NAME from
# requirements/NAME.txt (default <repo>/.venv/NAME).
#
# Idempotent: a stamp holds the fingerprint of this script and the requirements file; when it
# matches, the script exits at once. pip's own download cache (~/.cache/pip) makes a rebuild cheap.
#
# Usage: scripts/setup-venv.sh NAME       NAME: app | tools | vela | layer
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
NAME=${1:?usage: setup-venv.sh NAME}
REQUIREMENTS=$REPO_ROOT/requirements/$NAME.txt
VENV_DIR=${SSDLITE_VENV_DIR:-$REPO_ROOT/.venv}
ENV_DIR=$VENV_DIR/$NAME
STAMP=$ENV_DIR/.stamp
PYTHON=${SSDLITE_PYTHON:-python3.11}

fail() {
    echo "setup-venv $NAME: $*" >&2
    exit 1
}

[ -f "$REQUIREMENTS" ] || fail "no requirements file $REQUIREMENTS"
command -v "$PYTHON" >/dev/null || fail "$PYTHON not found: install Python 3.11 (Debian bookworm: apt-get install python3 python3-venv)"

# vela-build.txt is part of every fingerprint: simpler than special-casing, and it rarely changes.
fingerprint=$(cat "$SCRIPT_PATH" "$REQUIREMENTS" "$REPO_ROOT/requirements/vela-build.txt" | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$fingerprint" ]; then
    exit 0
fi

echo "setup-venv $NAME: creating $ENV_DIR" >&2
rm -rf "$ENV_DIR"
"$PYTHON" -m venv "$ENV_DIR" || fail "cannot create a venv with $PYTHON (Debian: apt-get install python3-venv)"
pip() { "$ENV_DIR/bin/python" -m pip --disable-pip-version-check --quiet "$@"; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() {
    if ! pip install "$@" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        fail "pip install $* failed (PyPI unreachable? see above)"
    fi
}

case $NAME in
    vela)
        # ethos-u-vela 3.7.0 is an sdist whose build needs old setuptools/setuptools_scm and numpy
        # installed first; build it against those, without pip's isolated build environment.
        install -r "$REPO_ROOT/requirements/vela-build.txt"
        install --no-build-isolation -r "$REQUIREMENTS"
        ;;
    *)
        install -r "$REQUIREMENTS"
        ;;
esac

# Our own packages, editable, without dependencies (their pins are in the requirements file).
case $NAME in
    app) install --no-deps -e "$REPO_ROOT/python-app" ;;
    tools) install --no-deps -e "$REPO_ROOT/python-app" -e "$REPO_ROOT/model-tools" ;;
esac

# The live mode's PyGObject is Debian's python3-gi (3.42.2, the board's version, built for CPython
# 3.11), and the service mode's aiohttp 3.8.4, paho-mqtt 1.6.1 and python-systemd 235 are
# Debian's too (the board's versions; python-systemd would need libsystemd headers to build from
# PyPI). scripts/setup-debian.sh installs them; each module is linked in by name, so that no other
# Debian module leaks in.
if [ "$NAME" = app ]; then
    site=$("$ENV_DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    # module:Debian package (aiohttp's dependencies included)
    for entry in gi:python3-gi aiohttp:python3-aiohttp multidict:python3-multidict yarl:python3-yarl \
        idna:python3-idna async_timeout:python3-async-timeout frozenlist:python3-frozenlist \
        aiosignal:python3-aiosignal charset_normalizer:python3-charset-normalizer attr:python3-attr \
        attrs:python3-attr paho:python3-paho-mqtt systemd:python3-systemd; do
        module=${entry%%:*}
        debian_module=/usr/lib/python3/dist-packages/$module
        [ -d "$debian_module" ] || fail "no $debian_module: run scripts/setup-debian.sh (Debian package ${entry#*:})"
        ln -sfn "$debian_module" "$site/$module"
    done
fi

echo "$fingerprint" >"$STAMP"
