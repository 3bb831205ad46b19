#!/usr/bin/env bash
# Installs the Debian packages listed in requirements/debian.txt that are not installed yet.
#
# Idempotent and quick when nothing is missing (one dpkg-query). Installing needs root (CI and
# this project's development machines run as root); anyone else is told which packages to ask for.
#
# Usage: scripts/setup-debian.sh
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
LIST=$REPO_ROOT/requirements/debian.txt

fail() {
    echo "setup-debian: $*" >&2
    exit 1
}

command -v dpkg-query >/dev/null || fail "needs a Debian host (no dpkg-query); install by hand: $(grep -v '^#' "$LIST" | xargs)"
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$LIST")
missing=()
for package in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$package")
done
((${#missing[@]})) || exit 0

[[ $(id -u) == 0 ]] || fail "missing Debian packages (run as root, or: sudo apt-get install ${missing[*]})"
echo "setup-debian: installing ${missing[*]}" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >"$log" 2>&1 || { tail -n 5 "$log" >&2; fail "apt-get update failed (Debian archive unreachable?)"; }
apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; fail "apt-get install ${missing[*]} failed"; }
