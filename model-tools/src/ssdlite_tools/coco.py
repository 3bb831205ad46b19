"""COCO val2017: annotations for `evaluate`, and calibration images fetched one by one.

Which images: the val2017 image ids come from the annotations (instances_val2017.json lists all
5000), sorted, shuffled with `random.Random(1337)`, first N. That is NXP's recipe.sh procedure
(`sorted(glob('val2017/*'))`, `random.seed(1337)`, `random.shuffle`): the zero-padded file names
sort like the ids and the shuffle depends only on the list length, so the first 100 are the
reference's own 100 calibration images. Only those N images are downloaded (about 16 MB for
100), not the 778 MB val2017.zip.

Their checksums are kept in a lock file after the first download (JSON: ids in order and the
sha256 of each image). Later runs take ids from the lock (no annotations needed) and refuse an
image whose bytes changed. Committing the lock file pins the calibration set for everyone.
"""
from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

from tqdm import tqdm

from .calibration import CALIBRATION_SEED
from .download import download, file_digest
from .errors import ToolsError
from .workspace import downloads_dir, repo_root

COCO_BASE_URL = "http://images.cocodataset.org"
IMAGE_PATH = "/val2017/{image_id:012d}.jpg"
ANNOTATIONS_PATH = "/annotations/annotations_trainval2017.zip"
IMAGE_URL = COCO_BASE_URL + IMAGE_PATH
ANNOTATIONS_URL = COCO_BASE_URL + ANNOTATIONS_PATH
# sha1 as published by the GluonCV / MXNet COCO download scripts (the COCO site publishes none).
ANNOTATIONS_SHA1 = "8551ee4bb5860311e79dace7e79cb91e432e78b3"
ANNOTATIONS_MEMBER = "annotations/instances_val2017.json"
LOCK_VERSION = 1
PROCEDURE = "sorted val2017 image ids from instances_val2017.json, random.Random(1337).shuffle, first N"


def default_lock_path() -> Path:
    """`model-tools/coco-calibration.lock.json` in a checkout (to be committed), else in the cache."""
    root = repo_root()
    if root is not None:
        return root / "model-tools" / "coco-calibration.lock.json"
    return Path.cwd() / "coco-calibration.lock.json"


def images_dir(workdir: Path) -> Path:
    return downloads_dir(workdir) / "coco" / "val2017"


def annotations_path(workdir: Path) -> Path:
    return downloads_dir(workdir) / "coco" / "instances_val2017.json"


def fetch_annotations(
    workdir: Path,
    *,
    local: Path | None,
    timeout: float,
    progress: bool = True,
    base_url: str = COCO_BASE_URL,
) -> Path:
    """instances_val2017.json: from `local` (the .json or the trainval zip) or downloaded and unzipped."""
    target = annotations_path(workdir)
    if local is not None:
        local = Path(local)
        if not local.is_file():
            raise ToolsError(f"annotations file {local} does not exist")
        if local.suffix == ".json":
            return local
        archive = local
    elif target.is_file():
        return target
    else:
        archive = download(
            base_url.rstrip("/") + ANNOTATIONS_PATH,
            downloads_dir(workdir) / "coco" / Path(ANNOTATIONS_PATH).name,
            expected_digest="sha1:" + ANNOTATIONS_SHA1,
            alternative="pass --annotations with a local instances_val2017.json or annotations_trainval2017.zip",
            timeout=timeout,
            progress=progress,
        )
    try:
        with zipfile.ZipFile(archive) as bundle:
            # Read one known member by name: no path from the archive is ever used on disk.
            data = bundle.read(ANNOTATIONS_MEMBER)
    except (zipfile.BadZipFile, KeyError) as error:
        raise ToolsError(f"{archive}: not an annotations_trainval2017.zip ({error})") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def val2017_image_ids(annotations: Path) -> list[int]:
    try:
        with open(annotations, encoding="utf-8") as stream:
            images = json.load(stream)["images"]
        return sorted(int(image["id"]) for image in images)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ToolsError(f"{annotations}: not a COCO instances file ({error})") from None


def select_image_ids(all_ids: list[int], count: int, seed: int = CALIBRATION_SEED) -> list[int]:
    """Prefix-stable: the first k of a selection of n > k are the selection of k."""
    ordered = sorted(all_ids)
    if count > len(ordered):
        raise ToolsError(f"{count} calibration images requested, val2017 has {len(ordered)}")
    random.Random(seed).shuffle(ordered)
    return ordered[:count]


def read_lock(path: Path) -> list[dict]:
    try:
        lock = json.loads(Path(path).read_text())
        if lock.get("version") != LOCK_VERSION:
            raise ValueError(f"unsupported lock version {lock.get('version')}")
        return [{"id": int(entry["id"]), "sha256": str(entry["sha256"])} for entry in lock["images"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ToolsError(f"calibration lock file {path} is unreadable ({error}); delete it to recreate it") from None


def write_lock(path: Path, entries: list[dict]) -> None:
    lock = {
        "version": LOCK_VERSION,
        "procedure": PROCEDURE,
        "seed": CALIBRATION_SEED,
        "url_template": IMAGE_URL,
        "images": entries,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(lock, indent=1) + "\n")


def fetch_calibration_images(
    workdir: Path,
    count: int,
    *,
    lock_path: Path,
    annotations: Path | None,
    timeout: float,
    progress: bool = True,
    base_url: str = COCO_BASE_URL,
) -> list[Path]:
    """Download the first `count` calibration images into images_dir(workdir), checked against the lock.

    Ids come from the lock file when it lists at least `count` images; otherwise from the
    annotations (needed only then), and the lock is (re)written with every image's sha256.
    """
    locked = read_lock(lock_path) if Path(lock_path).is_file() else []
    if len(locked) >= count:
        wanted = locked[:count]
    else:
        if annotations is None:
            raise ToolsError(
                f"the calibration lock {lock_path} lists {len(locked)} of the {count} images needed; "
                "the val2017 ids come from the annotations: run `ssdlite-tools fetch --annotations-only` "
                "or pass --annotations PATH (or use local images with convert --calibration-dir DIR)"
            )
        ids = select_image_ids(val2017_image_ids(annotations), count)
        known = {entry["id"]: entry["sha256"] for entry in locked}
        if [entry["id"] for entry in locked] != ids[: len(locked)]:
            raise ToolsError(f"calibration lock {lock_path} does not follow the seeded selection; delete it")
        wanted = [{"id": image_id, "sha256": known.get(image_id)} for image_id in ids]
    folder = images_dir(workdir)
    paths = []
    for entry in tqdm(wanted, desc="COCO calibration images", unit="image", disable=not progress):
        url = base_url.rstrip("/") + IMAGE_PATH.format(image_id=entry["id"])
        target = folder / f"{entry['id']:012d}.jpg"
        alternative = "pass --calibration-dir DIR with local images instead"
        expected = "sha256:" + entry["sha256"] if entry["sha256"] else None
        # A cached image that no longer matches the lock is downloaded again and must then match.
        download(url, target, expected_digest=expected, alternative=alternative, timeout=timeout, progress=False)
        entry["sha256"] = file_digest(target)
        paths.append(target)
    if len(locked) < len(wanted):
        write_lock(lock_path, wanted)
    return paths

