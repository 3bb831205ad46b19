"""`ssdlite-detect PATH...`: still images (files or directories of them).

stdout gets one text block (or one JSON object) per image; a bad image is one error line on
stderr and the others are still processed; `--output DIR` writes annotated copies (never over an
input, one per input even when two share a name, each complete or not there at all); `--benchmark
N` times the whole app on the first image. A reader that goes away (`| head -1`) stops the run
quietly; stdout on a full disk is an error, not an exit 0 over lost results.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
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
    from ..errors import ImageError, OutputError
    from ..formatting import format_benchmark, format_image
    from ..textout import silence, write_line

    image_paths = list(iter_image_paths(options.paths))
    if not image_paths:
        error("no images found in " + ", ".join(options.paths))
        return 1

    failures = 0
    try:
        if options.benchmark_runs:
            from ..benchmark import run_benchmark

            report = run_benchmark(detector, image_paths[0], options.benchmark_runs)
            write_line(sys.stdout, json.dumps(report) if options.json_lines else format_benchmark(report))
            return 0

        targets = {}
        if options.output_dir:
            from ..draw import annotated_paths

            os.makedirs(options.output_dir, exist_ok=True)
            targets = annotated_paths(options.output_dir, image_paths)
        for path in image_paths:
            try:
                result = detector.detect(path)
            except ImageError as failure:
                error(str(failure))
                failures += 1
                continue
            write_line(sys.stdout, json.dumps(result.to_dict()) if options.json_lines else format_image(result))
            if options.output_dir:
                failures += not _write_annotated(targets[path], path, result, error)
    except BrokenPipeError:
        silence(sys.stdout)  # the reader has what it wanted (`| head -1`): stop, quietly
    except OutputError:
        silence(sys.stdout)
        raise
    return 1 if failures else 0


def _write_annotated(target: str, path: str, result, error: Callable[[str], None]) -> bool:
    from ..draw import annotate, save_atomically
    from ..errors import ImageError
    from ..preprocess import load_image

    try:
        # Full resolution: detection may have decoded a large JPEG at reduced scale.
        save_atomically(annotate(load_image(path), result.detections), target)
    except (ImageError, OSError) as failure:
        reason = failure.strerror if isinstance(failure, OSError) and failure.strerror else failure
        error(f"cannot write {target}: {reason}")
        return False
    return True
