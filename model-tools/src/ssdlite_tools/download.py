"""HTTP downloads into a cache, checksum verification and safe archive extraction.

Only the standard library (urllib) so that `fetch` has no network stack of its own to configure.
Every failure a user can hit (no network, HTTP error, checksum mismatch, hostile archive) becomes a
`DownloadError`: one line that names the URL and the local alternative to downloading.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from .errors import ToolsError

# Seconds without progress before a download is abandoned; large enough for a slow mirror,
# small enough that a black-holed network fails within a minute instead of hanging.
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20


class DownloadError(ToolsError):
    """A file could not be downloaded, failed its checksum, or is an unsafe archive."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks (checkpoints and annotation archives are large)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_digest(expected: str) -> tuple[str, str]:
    """'sha256:<hex>' -> ('sha256', '<hex>'). A bare hex string is taken as sha256."""
    algorithm, _, value = expected.rpartition(":")
    return (algorithm or "sha256"), value.lower()


def verify_file(path: Path, expected: str) -> bool:
    algorithm, value = parse_digest(expected)
    return file_digest(path, algorithm) == value


def download(
    url: str,
    destination: Path,
    *,
    alternative: str,
    expected_digest: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> Path:
    """Download `url` to `destination` unless a file with the expected digest is already there.

    `alternative` completes the error sentence "without network, ..." (e.g. "pass --checkpoint
    with a local copy"). The file is written to `<destination>.part` and renamed only once its
    digest matched, so an interrupted or corrupt download never looks like a cached one.
    """
    destination = Path(destination)
    if destination.is_file():
        if expected_digest is None or verify_file(destination, expected_digest):
            return destination
        destination.unlink()  # stale or corrupt cache entry: fetch it again
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    algorithm, expected_value = parse_digest(expected_digest) if expected_digest else ("sha256", None)
    digest = hashlib.new(algorithm)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "ssdlite-tools"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(partial, "wb") as output:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=destination.name, disable=not progress, leave=False
            ) as bar:
                received = 0
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    output.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received < total:
                # read(n) returns what arrived when the peer closes early; it does not raise.
                raise http.client.IncompleteRead(b"", total - received)
    except urllib.error.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}; {alternative}") from None
    except (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException) as error:
        # No route, refused, reset, timed out, or the connection dropped mid-file.
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or str(error) or type(error).__name__
        raise DownloadError(f"cannot download {url} ({reason}); without network, {alternative}") from None
    except OSError as error:  # the local side: disk full, permissions
        partial.unlink(missing_ok=True)
        raise DownloadError(f"cannot write {partial} while downloading {url}: {error}") from None
    if expected_value is not None and digest.hexdigest() != expected_value:
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"{url} has {algorithm} {digest.hexdigest()}, expected {expected_value} "
            f"(corrupt download or the file changed upstream); {alternative}"
        )
    os.replace(partial, destination)
    return destination


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Reject archive members that could write outside the destination or create special files."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise DownloadError(f"{archive}: refusing to unpack {member.name!r} (path leaves the destination)")
    if not (member.isfile() or member.isdir()):
        # The TF zoo archives hold only files and folders; a link or device here means tampering.
        raise DownloadError(f"{archive}: refusing to unpack {member.name!r} (not a regular file or folder)")


def safe_extract_tar(archive: Path, destination: Path) -> Path:
    """Unpack a (gzipped) tarball into `destination`, atomically, refusing path traversal and links.

    The archive is unpacked into a temporary sibling folder that is renamed into place at the
    end, so a half-unpacked checkpoint is never mistaken for a complete one.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=destination.name + ".", dir=destination.parent))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, archive)
            # Python >= 3.11.4 also enforces the same rules itself with the 'data' filter.
            tar.extractall(staging, members=members, filter="data")
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(staging, destination)
    except tarfile.TarError as error:
        raise DownloadError(f"{archive}: not a readable tar archive ({error})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return destination
