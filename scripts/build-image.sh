#!/usr/bin/env bash
# Builds the board image with kas, after checking what a build needs, so that a host that cannot
# build fails in seconds with the reason instead of an hour into BitBake.
#
# Usage: scripts/build-image.sh KAS_FILES        e.g. kas.yml:kas/accept-fsl-eula.yml
# Environment:
#   SSDLITE_KAS        kas (default; the layer env's kas if none is on PATH) or kas-container
#   SSDLITE_MODEL_DIR  the model bundle to install (default <repo>/model-bundle, from `make bundle`)
#   DL_DIR, SSTATE_DIR, KAS_WORK_DIR, KAS_REPO_REF_DIR   passed through to kas as usual
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
KAS_FILES=${1:?usage: build-image.sh KAS_FILES}
KAS=${SSDLITE_KAS:-kas}
BUNDLE_DIR=${SSDLITE_MODEL_DIR:-$REPO_ROOT/model-bundle}
# The layer repositories kas clones first (kas.yml); reaching one tells whether the host is online.
PROBE_REPOSITORY=https://github.com/nxp-imx/meta-imx.git
# Host tools of the Yocto 4.2 quick start (Debian/Ubuntu package list) that a plain kas build needs.
HOST_TOOLS=(gawk wget git diffstat unzip makeinfo gcc g++ make chrpath socat cpio python3 xz zstd lz4 file)

fail() {
    echo "build-image: $*" >&2
    exit 1
}

[ -f "$BUNDLE_DIR/manifest.json" ] ||
    fail "no model bundle in $BUNDLE_DIR: run \`make bundle\` first (or set SSDLITE_MODEL_DIR to your own bundle)"
# model.json (the model description) names the bundle's files for the recipe and the app; bundles
# written before it existed lack it.
[ -f "$BUNDLE_DIR/model.json" ] ||
    fail "the model bundle in $BUNDLE_DIR has no model.json (an older ssdlite-tools wrote it): run \`make bundle\` again"

case ":$KAS_FILES:" in
    *:kas/accept-fsl-eula.yml:*) ;;
    *) fail "NXP's EULA is not accepted: read meta-imx's LICENSE.txt, then run \`make image ACCEPT_FSL_EULA=1\` (adds kas/accept-fsl-eula.yml)" ;;
esac

if [ "$KAS" = kas ] && ! command -v kas >/dev/null && [ -x "$REPO_ROOT/.venv/layer/bin/kas" ]; then
    KAS=$REPO_ROOT/.venv/layer/bin/kas
fi
command -v "$KAS" >/dev/null || fail "$KAS not found: pip install kas (or \`make env-layer\`), or SSDLITE_KAS=kas-container with docker or podman"

if [ "$(basename "$KAS")" = kas ]; then
    [ "$(id -u)" != 0 ] || fail "BitBake refuses to run as root: build as a normal user, or use SSDLITE_KAS=kas-container"
    missing=()
    for tool in "${HOST_TOOLS[@]}"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] ||
        fail "Yocto host tools missing: ${missing[*]} (see the Yocto 4.2 quick start), or build in a container: SSDLITE_KAS=kas-container make image"
fi

if [ -z "${KAS_REPO_REF_DIR:-}" ] && ! timeout 30 git ls-remote --exit-code "$PROBE_REPOSITORY" HEAD >/dev/null 2>&1; then
    fail "cannot reach $PROBE_REPOSITORY: kas clones the BSP layers from GitHub and git.yoctoproject.org; connect this host, or point KAS_REPO_REF_DIR at local mirrors"
fi

cd "$REPO_ROOT"
export SSDLITE_MODEL_DIR=$BUNDLE_DIR
exec "$KAS" build "$KAS_FILES"
