"""`ssdlite-tools check`: the BSP gate (see bsp_gates.py for what each gate proves)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from ssdlite_detect import preprocess

from .. import bsp_gates, coco
from ..calibration import IMAGE_SUFFIXES
from ..download import DEFAULT_TIMEOUT, download
from ..errors import GateFailed, ToolsError
from ..tflite_ops import read_model
from ..workspace import (
    CONVERSION_RECORD,
    FLOAT_MODEL_NAME,
    INT8_MODEL_NAME,
    add_workdir_argument,
    convert_dir,
    vela_dir,
)

GATES = ("tflite210", "vela", "agreement")
# The int8-vs-float comparison runs on this many held-out images unless told otherwise: enough to
# pool a few hundred detections, few enough to stay within seconds.
DEFAULT_AGREEMENT_IMAGES = 20


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="BSP gate: TFLite 2.10 ops + load/invoke, Vela NPU placement, int8 vs float agreement",
        description=(
            "Checks that (a) every operator and version of the int8 model is registered in TFLite 2.10.0 and "
            "that the model loads and invokes in the TFLite 2.10.0 env (.venv/tflite210); (b) Vela placed every "
            "operator on the Ethos-U65 (lists CPU fallbacks) and reports its SRAM use, estimated time and "
            "traffic; (c) int8 and float models agree on images not used for calibration. Exits 3 when a "
            "gate fails."
        ),
    )
    add_workdir_argument(parser)
    parser.add_argument(
        "--model", type=Path, default=None, help=f"int8 model (default: WORKDIR/convert/{INT8_MODEL_NAME})"
    )
    parser.add_argument(
        "--float-model", type=Path, default=None, help=f"float model (default: WORKDIR/convert/{FLOAT_MODEL_NAME})"
    )
    parser.add_argument(
        "--vela-dir", type=Path, default=None, help="output of `ssdlite-tools vela` (default: WORKDIR/vela)"
    )
    parser.add_argument(
        "--images",
        type=Path,
        nargs="+",
        default=None,
        metavar="PATH",
        help="held-out photos (files or folders) for the int8-vs-float comparison; images recorded as "
        "calibration images (lock file, conversion record) are left out. Default: the first COCO val2017 "
        "images (by id) that are not calibration images, downloaded into WORKDIR/downloads/coco/val2017",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="download timeout, seconds")
    parser.add_argument(
        "--max-images",
        type=int,
        default=DEFAULT_AGREEMENT_IMAGES,
        help=f"compare on at most this many held-out images (default {DEFAULT_AGREEMENT_IMAGES})",
    )
    parser.add_argument(
        "--allow-cpu-ops", action="store_true", help="do not fail when Vela leaves operators on the CPU"
    )
    parser.add_argument("--skip", action="append", choices=GATES, default=[], help="leave out a gate (repeatable)")
    defaults = bsp_gates.DEFAULT_AGREEMENT_THRESHOLDS
    parser.add_argument("--min-snr-db", type=float, default=defaults.min_snr_db, help="raw-output SNR floor, dB")
    parser.add_argument(
        "--min-detection-recall",
        type=float,
        default=defaults.min_detection_recall,
        help="share of the float model's detections the int8 model must reproduce",
    )
    parser.add_argument(
        "--agreement-score-threshold",
        type=float,
        default=defaults.score_threshold,
        help="score threshold of the detections compared",
    )
    parser.add_argument("--tflite210-python", type=Path, default=None, help="Python of the TFLite 2.10 env")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    parser.set_defaults(func=run)


def _collect_images(paths: List[Path]) -> List[Path]:
    images: List[Path] = []
    for path in paths:
        if path.is_dir():
            images += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            images.append(path)
        else:
            raise ToolsError(f"--images: {path} does not exist")
    return images


def _default_holdout_images(workdir: Path, count: int, timeout: float) -> List[Path]:
    """The first `count` val2017 images (by id) outside the calibration lock, downloaded if needed."""
    annotations = coco.annotations_path(workdir)
    if not annotations.is_file():
        raise ToolsError(
            f"no --images given and no COCO annotations at {annotations} to pick held-out val2017 images from: "
            "pass --images DIR with photos not used for calibration, run `ssdlite-tools fetch` first, "
            "or --skip agreement"
        )
    lock_path = coco.default_lock_path()
    calibration_ids = {entry["id"] for entry in coco.read_lock(lock_path)} if lock_path.is_file() else set()
    held_out_ids = [i for i in coco.val2017_image_ids(annotations) if i not in calibration_ids][:count]
    paths = []
    for image_id in held_out_ids:
        target = coco.images_dir(workdir) / f"{image_id:012d}.jpg"
        alternative = "pass --images DIR with local photos not used for calibration"
        paths.append(
            download(
                coco.IMAGE_URL.format(image_id=image_id),
                target,
                alternative=alternative,
                timeout=timeout,
                progress=False,
            )
        )
    return paths


def _first_input_tensor(model: Path, images: List[Path]) -> Optional[np.ndarray]:
    """The app-preprocessed first held-out photo as the model's input (None: the probe's ramp)."""
    if not images:
        return None
    (image_input,) = read_model(model).inputs
    dtype = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}[image_input.dtype]
    return preprocess.prepare_input(
        preprocess.load_image(str(images[0])),
        image_input.shape[1],
        image_input.shape[2],
        dtype,
        image_input.quantization,
    )


def _held_out_images(args: argparse.Namespace, workdir: Path, model: Path, skip: set) -> Tuple[List[Path], int]:
    """Photos for the agreement gate (also the TFLite 2.10 run's input), minus calibration images.

    Returns them and how many candidates were dropped for being calibration images.
    """
    if "agreement" in skip and not args.images:
        return [], 0  # the TFLite 2.10 run then feeds its fixed ramp input
    if args.images:
        candidates = _collect_images(args.images)
    else:
        candidates = _default_holdout_images(workdir, args.max_images, args.timeout)
    calibration = bsp_gates.calibration_digests(
        [coco.default_lock_path(), model.parent / CONVERSION_RECORD, convert_dir(workdir) / CONVERSION_RECORD]
    )
    images = bsp_gates.held_out_images(candidates, calibration)
    return images[: args.max_images], len(candidates) - len(images)


def print_table(results: List[bsp_gates.GateResult]) -> None:
    width = max(len(r.name) for r in results)
    print(f"{'gate':<{width}}  {'status':<7}  result")
    for result in results:
        print(f"{result.name:<{width}}  {result.status:<7}  {result.summary}")


def run(args: argparse.Namespace) -> int:
    workdir = args.workdir
    model = args.model or convert_dir(workdir) / INT8_MODEL_NAME
    if not model.is_file():
        raise ToolsError(f"no int8 model at {model}: run `ssdlite-tools convert` or pass --model")
    skip = set(args.skip)

    images, excluded = _held_out_images(args, workdir, model, skip)

    results = [bsp_gates.operator_gate(model)]
    if "tflite210" in skip:
        results.append(bsp_gates.skipped("tflite210-run", "skipped (--skip tflite210)"))
    else:
        results.append(bsp_gates.tflite210_run_gate(model, _first_input_tensor(model, images), args.tflite210_python))
    if "vela" in skip:
        results.append(bsp_gates.skipped("vela-npu", "skipped (--skip vela)"))
    else:
        results.append(bsp_gates.vela_gate(args.vela_dir or vela_dir(workdir), args.allow_cpu_ops))
    if "agreement" in skip:
        results.append(bsp_gates.skipped("int8-agreement", "skipped (--skip agreement)"))
    else:
        float_model = args.float_model or convert_dir(workdir) / FLOAT_MODEL_NAME
        if not float_model.is_file():
            raise ToolsError(f"no float model at {float_model}: run `ssdlite-tools convert` or pass --float-model")
        thresholds = bsp_gates.AgreementThresholds(
            min_snr_db=args.min_snr_db,
            min_detection_recall=args.min_detection_recall,
            score_threshold=args.agreement_score_threshold,
        )
        result = bsp_gates.agreement_gate(model, float_model, images, thresholds)
        result.details["calibration_images_excluded"] = excluded
        results.append(result)

    print_table(results)
    failed = [r.name for r in results if r.status == bsp_gates.FAILED]
    if args.json:
        report = {"model": str(model), "passed": not failed, "gates": [r.as_dict() for r in results]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(bsp_gates.json_safe(report), indent=2) + "\n")
        print(f"report: {args.json}")
    if failed:
        raise GateFailed(f"gate(s) failed: {', '.join(failed)}")
    return 0
