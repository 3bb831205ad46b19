# Fetching pinned Debian packages without touching the host's package state. Sourced by
# scripts/setup-tflite210.sh (bullseye amd64 python3.9) and scripts/setup-arm64-root.sh (bookworm
# and bullseye arm64 root filesystems for `make rehearse`).
#
# apt runs with a private configuration whose every directory is under the caller's cache, so it
# reads neither /etc/apt (sources, apt.conf.d hooks, keyrings) nor the system's lists and dpkg
# status; the indexes are checked against Debian's signing keys (debian-archive-keyring), and
# every .deb against the sha256 its caller pins. Packages are unpacked with `dpkg -x`, which runs
# no maintainer scripts and records nothing in the host's dpkg database.
#
# The caller defines fail() (prints one line, exits non-zero) before sourcing this file.

# The bookworm keyring package also carries the bullseye archive and release keys.
readonly DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# debian_apt_config APT_DIR ARCH SOURCES_LINE...
# Writes APT_DIR/apt.conf for architecture ARCH with the given sources.list lines (each written as
# "deb [signed-by=keyring] LINE") and exports APT_CONFIG pointing at it.
debian_apt_config() {
    local apt_dir=$1 arch=$2 line
    shift 2
    [[ -f $DEBIAN_KEYRING ]] || fail "needs $DEBIAN_KEYRING (package debian-archive-keyring)"
    mkdir -p "$apt_dir"/etc/apt.conf.d "$apt_dir"/etc/preferences.d "$apt_dir"/etc/trusted.gpg.d \
        "$apt_dir"/state/lists/partial "$apt_dir"/cache/archives/partial
    : >"$apt_dir/state/status"
    for line in "$@"; do
        echo "deb [signed-by=$DEBIAN_KEYRING] $line"
    done >"$apt_dir/etc/sources.list"
    cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc "$apt_dir/etc/";
Dir::Etc::sourceparts "-";
Dir::State "$apt_dir/state/";
Dir::State::status "$apt_dir/state/status";
Dir::Cache "$apt_dir/cache/";
// The binary caches would add 60 MB; rebuilding them in memory costs about a second.
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::GzipIndexes "true";
Acquire::Languages "none";
Acquire::http::Timeout "20";
Acquire::Retries "1";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "false";
// Downloads land in the cache, which apt's unprivileged _apt user may not be allowed to write.
APT::Sandbox::User "$(id -un)";
EOF
    export APT_CONFIG=$apt_dir/apt.conf
}

# Prints the first error apt logged in $1 (else its first warning), without the "E: " prefix.
apt_error() {
    { grep -m 1 '^E: ' "$1" || grep -m 1 '^W: ' "$1" || tail -n 1 "$1"; } | sed 's/^[EW]: //'
}

# debian_update LOG WHAT: refreshes the private indexes; fails naming the archive's host.
debian_update() {
    local log=$1 what=$2
    # --error-on=any: without it apt-get update exits 0 when it could not fetch an index.
    apt-get -q --error-on=any update >"$log" 2>&1 ||
        fail "cannot reach the Debian archive to fetch $what: $(apt_error "$log")"
}

# debian_deb_file DEBS_DIR DEFAULT_ARCH PIN
# Prints where apt-get download puts PIN ("package=version" or "package:arch=version"): the file
# name is package_version_arch.deb with the epoch's colon written %3a.
debian_deb_file() {
    local debs_dir=$1 arch=$2 pin=$3 name version
    name=${pin%%=*}
    version=${pin#*=}
    if [[ $name == *:* ]]; then
        arch=${name#*:}
        name=${name%%:*}
    fi
    echo "$debs_dir/${name}_${version//:/%3a}_${arch}.deb"
}

# debian_fetch_pinned DEBS_DIR DEFAULT_ARCH WHAT ENTRY...
# Fills DEBS_DIR with the pinned .debs (ENTRY: "PIN SHA256"), downloading only those missing or
# corrupt through the apt configuration the caller set up with debian_apt_config. WHAT names the
# packages in messages; DEBIAN_FETCH_HINT, when set, is appended to a failed download's message.
debian_fetch_pinned() {
    local debs_dir=$1 arch=$2 what=$3 entry pin sha file missing=()
    shift 3
    mkdir -p "$debs_dir"
    for entry in "$@"; do
        read -r pin sha <<<"$entry"
        file=$(debian_deb_file "$debs_dir" "$arch" "$pin")
        if ! echo "$sha  $file" | sha256sum --check --status 2>/dev/null; then
            rm -f "$file"
            missing+=("$pin")
        fi
    done
    ((${#missing[@]})) || return 0

    echo "fetching $what (${#missing[@]} of $# packages) from the Debian archive" >&2
    local log=$debs_dir/../apt.log
    debian_update "$log" "$what"
    (cd "$debs_dir" && apt-get -q download "${missing[@]}") >"$log" 2>&1 ||
        fail "cannot download $what: $(apt_error "$log")${DEBIAN_FETCH_HINT:+ ($DEBIAN_FETCH_HINT)}"

    for entry in "$@"; do
        read -r pin sha <<<"$entry"
        echo "$sha  $(debian_deb_file "$debs_dir" "$arch" "$pin")"
    done | sha256sum --check --quiet ||
        fail "downloaded $what do not match their pinned sha256"
}

# debian_unpack DEBS_DIR DEFAULT_ARCH DEST ENTRY...: `dpkg -x` of each pinned .deb into DEST.
debian_unpack() {
    local debs_dir=$1 arch=$2 dest=$3 entry
    shift 3
    for entry in "$@"; do
        dpkg -x "$(debian_deb_file "$debs_dir" "$arch" "${entry%% *}")" "$dest"
    done
}

# unzip_wheels WHEELS_DIR DEST: what pip would install, without pip's metadata handling (the
# wheels are pure trees with no scripts); WHEELS_DIR is removed afterwards.
unzip_wheels() {
    local wheel
    for wheel in "$1"/*.whl; do
        python3 -m zipfile -e "$wheel" "$2"
    done
    rm -rf "$1"
}
