"""Which images calibrate the int8 model, and how they are fed: through the app's preprocessing.

Selection (same procedure as NXP's recipe.sh, so a full local val2017 folder gives their exact
100 images): list the folder's image files, sort by name, shuffle with `random.Random(1337)`,
take the first N. Sorted names make the result independent of the file system's listing order.

Feeding: each image goes through `ssdlite_detect.preprocess.load_image` and `prepare_input` as
float32 in [-1, 1], exactly what the board feeds the float graph (x / 127.5 - 1), instead of the
reference recipe's ImageNet mean/std, which calibrated the activation ranges on a different
distribution from the one seen at inference.
"""
from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from ssdlite_detect.errors import ImageError
from ssdlite_detect.preprocess import load_image, prepare_input

from .download import file_digest
from .errors import ToolsError

CALIBRATION_SEED = 1337
DEFAULT_CALIBRATION_COUNT = 100
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_COCO_FILE_NAME = re.compile(r"^(\d{12})\.jpg$")


@dataclass(frozen=True)
class CalibrationImage:
    path: Path
    sha256: str

    @property
    def image_id(self) -> int | str:
        """The COCO image id for a val2017 file name (000000000139.jpg -> 139), else the file name."""
        match = _COCO_FILE_NAME.match(self.path.name)
        return int(match.group(1)) if match else self.path.name


def default_calibration_dir(workdir: Path) -> Path:
    """Where `fetch` puts the calibration set and where `convert` looks for it by default."""
    return Path(workdir) / "calibration"


def install_calibration_images(paths: list[Path], folder: Path) -> list[Path]:
    """Make `folder` hold exactly these images (copies), so convert's selection sees only them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {path.name for path in paths}
    for existing in list_images(folder):
        if existing.name not in wanted:
            existing.unlink()
    installed = []
    for source in paths:
        target = folder / source.name
        if not (target.is_file() and file_digest(target) == file_digest(source)):
            shutil.copyfile(source, target)
        installed.append(target)
    return installed


def list_images(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ToolsError(
            f"calibration folder {folder} does not exist; run `ssdlite-tools fetch` or pass --calibration-dir DIR"
        )
    return sorted(
        (path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda path: path.name,
    )


def select_calibration_images(
    folder: Path, count: int = DEFAULT_CALIBRATION_COUNT, seed: int = CALIBRATION_SEED
) -> list[CalibrationImage]:
    """The first `count` images of the folder's sorted file list after a seeded shuffle."""
    if count < 1:
        raise ToolsError(f"--calibration-images must be at least 1, got {count}")
    candidates = list_images(folder)
    if len(candidates) < count:
        raise ToolsError(
            f"calibration folder {folder} has {len(candidates)} images, {count} are needed "
            "(lower --calibration-images or add images)"
        )
    random.Random(seed).shuffle(candidates)
    return [CalibrationImage(path, file_digest(path)) for path in candidates[:count]]


def calibration_batches(
    images: list[CalibrationImage], height: int, width: int, *, progress: bool = True
) -> Iterator[list[np.ndarray]]:
    """TFLite representative dataset: one [1, height, width, 3] float32 batch per image."""
    for image in tqdm(images, desc="calibrating", unit="image", disable=not progress):
        try:
            pixels = load_image(str(image.path))
        except ImageError as error:
            raise ToolsError(f"calibration image unusable: {error}") from None
        yield [prepare_input(pixels, height, width, dtype=np.float32)]
