"""`ssdlite-detect PATH...`: still images (files or directories of them).

stdout gets one text block (or one JSON object) per image; a bad image is one error line on
stderr and the others are still processed; `--output DIR` writes annotated copies; `--benchmark
N` times the whole app on the first image.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence, Tuple

from .options import OptionRegistry, given

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def add_arguments(registry: OptionRegistry) -> None:
    registry.parser.add_argument("paths", nargs="*", metavar="PATH", help="image files or directories of images")


@dataclass(frozen=True)
class StillsOptions:
    paths: Tuple[str, ...]
    json_lines: bool = False
    output_dir: Optional[str] = None
    benchmark_runs: Optional[int] = None


def check(parser: argparse.ArgumentParser, args: argparse.Namespace, foreign_options: Sequence[str]) -> StillsOptions:
    """foreign_options: the long names of the options of the other modes (they need --source)."""
    if not args.paths:
        parser.error("give image paths, or --source for live video")
    misplaced = given(args, foreign_options)
    if misplaced:
        parser.error(f"{misplaced[0]} needs --source")
    return StillsOptions(tuple(args.paths), args.json, args.output, args.benchmark)


def iter_image_paths(paths: Sequence[str]) -> Iterator[str]:
    """Files as given; directories expanded to their images (sorted, not recursive)."""
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                candidate = os.path.join(path, name)
                if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(candidate):
                    yield candidate
        else:
            yield path  # missing files are reported by the loader, with the others still processed


def run(options: StillsOptions, detector, note: Callable[[str], None], error: Callable[[str], None]) -> int:
    from ..errors import ImageError
    from ..formatting import format_benchmark, format_image

    image_paths = list(iter_image_paths(options.paths))
    if not image_paths:
        error("no images found in " + ", ".join(options.paths))
        return 1

    if options.benchmark_runs:
        from ..benchmark import run_benchmark

        report = run_benchmark(detector, image_paths[0], options.benchmark_runs)
        print(json.dumps(report) if options.json_lines else format_benchmark(report), flush=True)
        return 0

    if options.output_dir:
        os.makedirs(options.output_dir, exist_ok=True)
    failures = 0
    for path in image_paths:
        try:
            result = detector.detect(path)
        except ImageError as failure:
            error(str(failure))
            failures += 1
            continue
        print(json.dumps(result.to_dict()) if options.json_lines else format_image(result), flush=True)
        if options.output_dir:
            failures += not _write_annotated(options.output_dir, path, result, error)
    return 1 if failures else 0


def _write_annotated(output_dir: str, path: str, result, error: Callable[[str], None]) -> bool:
    from ..draw import annotate, annotated_path
    from ..errors import ImageError
    from ..preprocess import load_image

    target = annotated_path(output_dir, path)
    try:
        # Full resolution: detection may have decoded a large JPEG at reduced scale.
        annotate(load_image(path), result.detections).save(target)
    except (ImageError, OSError) as failure:
        error(f"cannot write {target}: {failure}")
        return False
    return True
