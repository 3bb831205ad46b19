"""The source model: the TF1 detection-zoo SSDLite MobileNetV2 COCO checkpoint, and where to cut it.

The zoo archive holds `saved_model/` (a frozen TF1 SavedModel: constants, empty variables/). The
graph runs uint8 image -> resize -> normalise -> MobileNetV2 -> SSDLite heads -> NMS; `convert`
keeps only the part between the tensors below, the same cut as NXP's recipe.sh, because the
board does resizing/normalisation (the app's preprocess) and decoding/NMS (the app's postprocess).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .download import DownloadError, download, file_digest, safe_extract_tar, verify_file
from .errors import ToolsError
from .workspace import downloads_dir

CHECKPOINT_NAME = "ssdlite_mobilenet_v2_coco_2018_05_09"
CHECKPOINT_ARCHIVE = CHECKPOINT_NAME + ".tar.gz"
CHECKPOINT_URL = "http://download.tensorflow.org/models/object_detection/" + CHECKPOINT_ARCHIVE
# As listed by OpenVINO's open_model_zoo for this archive (see shared/BSP-FACTS.md).
CHECKPOINT_SHA256 = "542445cce834dbfbb7df1991425d475e85a2d7ec68c60a4f262bb18aac10c8b2"

# The cut: the normalised 300x300x3 float image in, raw box encodings and class logits out.
INPUT_TENSOR = "FeatureExtractor/MobilenetV2/MobilenetV2/input:0"
BOX_ENCODINGS_TENSOR = "concat:0"  # [batch, 1917, 1, 4]: (ty, tx, th, tw) per anchor
CLASS_LOGITS_TENSOR = "concat_1:0"  # [batch, 1917, 91]: logits, index 0 = background
INPUT_HEIGHT = INPUT_WIDTH = 300
SERVING_TAGS = ("serve",)

# A SavedModel folder that holds this file was made by `ssdlite_tools.standin` (random weights,
# test data only). Everything converted from it is marked stand_in and `bundle` refuses it.
STAND_IN_MARKER = "STAND_IN.json"


@dataclass(frozen=True)
class Checkpoint:
    """A SavedModel ready to convert, with what is known about where it came from."""

    saved_model_dir: Path
    # The archive's URL and sha256 when it was verified against the pinned digest, else None.
    source_url: str | None
    archive_sha256: str | None
    stand_in: bool

    @property
    def verified(self) -> bool:
        return self.archive_sha256 == CHECKPOINT_SHA256

    def provenance(self) -> dict:
        """JSON-ready description for conversion.json and the bundle manifest."""
        record = {
            "url": self.source_url,
            "sha256": self.archive_sha256,
            "verified": self.verified,
            # Identifies the graph even when the archive itself was not available.
            "saved_model_pb_sha256": file_digest(self.saved_model_dir / "saved_model.pb"),
        }
        if self.stand_in:
            record["stand_in_generator"] = json.loads((self.saved_model_dir / STAND_IN_MARKER).read_text())
        return record


def _alternative() -> str:
    return f"download {CHECKPOINT_ARCHIVE} elsewhere and pass it with --checkpoint PATH"


def _from_archive(archive: Path, workdir: Path) -> Checkpoint:
    """Verify a local or downloaded archive against the pinned sha256 and unpack it (once)."""
    if not verify_file(archive, CHECKPOINT_SHA256):
        raise DownloadError(
            f"{archive} has sha256 {file_digest(archive)}, expected {CHECKPOINT_SHA256} "
            f"(not the {CHECKPOINT_NAME} archive from {CHECKPOINT_URL})"
        )
    target = workdir / "checkpoint" / CHECKPOINT_NAME
    stamp = target / ".unpacked-from-sha256"
    if not (stamp.is_file() and stamp.read_text() == CHECKPOINT_SHA256):
        unpacked = safe_extract_tar(archive, workdir / "checkpoint" / (CHECKPOINT_NAME + ".unpack"))
        inner = unpacked / CHECKPOINT_NAME if (unpacked / CHECKPOINT_NAME).is_dir() else unpacked
        if target.exists():
            shutil.rmtree(target)
        inner.rename(target)
        if unpacked.exists():
            shutil.rmtree(unpacked)
        stamp.write_text(CHECKPOINT_SHA256)
    return Checkpoint(_saved_model_in(target), CHECKPOINT_URL, CHECKPOINT_SHA256, stand_in=False)


def _saved_model_in(folder: Path) -> Path:
    for candidate in (folder, folder / "saved_model"):
        if (candidate / "saved_model.pb").is_file():
            return candidate
    raise ToolsError(f"{folder}: no saved_model.pb in it or in its saved_model/ folder")


def fetch_checkpoint(
    workdir: Path, *, timeout: float, progress: bool = True, url: str = CHECKPOINT_URL
) -> Checkpoint:
    """Download (or reuse the cached) zoo archive, verify it and unpack it under `workdir`.

    `url` may point at a mirror; the archive must still have the pinned sha256.
    """
    archive = download(
        url,
        downloads_dir(workdir) / CHECKPOINT_ARCHIVE,
        expected_digest="sha256:" + CHECKPOINT_SHA256,
        alternative=_alternative(),
        timeout=timeout,
        progress=progress,
    )
    return _from_archive(archive, workdir)


def open_checkpoint(path: Path, workdir: Path) -> Checkpoint:
    """A checkpoint given on the command line: the .tar.gz, its unpacked folder, or a saved_model/.

    Only the archive can be verified against the pinned sha256; a folder is converted but
    recorded as unverified (`verified: false`) in conversion.json and the manifest.
    """
    path = Path(path)
    if path.is_file():
        return _from_archive(path, workdir)
    if not path.is_dir():
        raise ToolsError(f"checkpoint {path} does not exist; run `ssdlite-tools fetch` or pass --checkpoint PATH")
    saved_model = _saved_model_in(path)
    stand_in = (saved_model / STAND_IN_MARKER).is_file()
    stamp = path / ".unpacked-from-sha256"
    if not stand_in and stamp.is_file() and stamp.read_text() == CHECKPOINT_SHA256:
        return Checkpoint(saved_model, CHECKPOINT_URL, CHECKPOINT_SHA256, stand_in=False)
    return Checkpoint(saved_model, None, None, stand_in=stand_in)


def default_checkpoint(workdir: Path) -> Checkpoint:
    """The checkpoint `fetch` unpacked into `workdir`."""
    target = workdir / "checkpoint" / CHECKPOINT_NAME
    if not target.is_dir():
        raise ToolsError(
            f"no checkpoint in {target}; run `ssdlite-tools fetch` first or pass --checkpoint PATH"
        )
    return open_checkpoint(target, workdir)
