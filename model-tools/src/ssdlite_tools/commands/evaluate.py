"""`ssdlite-tools evaluate`: COCO val2017 bbox mAP of the int8 (and float) model, standard protocol.

A retrained model is evaluated the same way on its own COCO-format annotation file and images
(--annotations FILE --images-dir DIR --no-download): the categories must be its label map's ids
and names, which the labels beside the model (model.json) give.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Dict, List, Optional

from ssdlite_detect import preprocess
from ssdlite_detect.errors import DetectError, ImageError
from ssdlite_detect.postprocess import PostprocessConfig
from tqdm import tqdm

from .. import coco, coco_eval
from ..bsp_gates import json_safe
from ..download import DEFAULT_TIMEOUT, download
from ..errors import ToolsError
from ..workspace import FLOAT_MODEL_NAME, INT8_MODEL_NAME, add_workdir_argument, convert_dir

LOCAL_IMAGES_HINT = "pass --images-dir with a local copy of COCO val2017 (and --annotations FILE)"


def add_parser(subparsers) -> None:
    protocol = coco_eval.EVALUATION_CONFIG
    parser = subparsers.add_parser(
        "evaluate",
        help="COCO val2017 bbox mAP (pycocotools) of the int8 and float models",
        description=(
            "Runs each model on COCO val2017 (all 5000 images, or the first --limit by image id), decodes "
            "with the app's library (per-class NMS IoU "
            f"{protocol.iou_threshold}, score threshold {protocol.score_threshold:g}, {protocol.max_detections} "
            "detections per image) and scores with pycocotools. Annotations and images are downloaded into "
            "WORKDIR/downloads/coco when missing, or read from --annotations/--images-dir."
        ),
    )
    add_workdir_argument(parser)
    parser.add_argument(
        "--model",
        type=Path,
        action="append",
        default=None,
        help=f"model to evaluate (repeatable; default: WORKDIR/convert/{INT8_MODEL_NAME} and, if present, "
        f"{FLOAT_MODEL_NAME})",
    )
    parser.add_argument(
        "--annotations",
        type=Path,
        default=None,
        help="instances_val2017.json or annotations_trainval2017.zip (default: downloaded); for a retrained "
        "model, a COCO-format file whose categories are its label map's items",
    )
    parser.add_argument("--images-dir", type=Path, default=None, help="folder of val2017 images (default: downloaded)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate on the first N images (sorted by id)")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading missing images")
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=protocol.score_threshold,
        help=f"detections below this score are dropped (default {protocol.score_threshold:g}; the standard "
        "protocol needs <= 0.01)",
    )
    parser.add_argument(
        "--coco-url", default=coco.COCO_BASE_URL, help=f"base URL of COCO or a mirror (default {coco.COCO_BASE_URL})"
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="download timeout, seconds")
    parser.add_argument("--threads", type=int, default=None, help="TFLite interpreter threads")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _default_models(workdir: Path) -> List[Path]:
    int8 = convert_dir(workdir) / INT8_MODEL_NAME
    if not int8.is_file():
        raise ToolsError(f"no int8 model at {int8}: run `ssdlite-tools convert` or pass --model")
    float_model = convert_dir(workdir) / FLOAT_MODEL_NAME
    return [int8, float_model] if float_model.is_file() else [int8]


def _image_paths(
    coco_gt, image_ids: List[int], folder: Path, base_url: Optional[str], timeout: float, progress: bool
) -> Dict[int, Path]:
    """Each image's file, downloaded from `base_url` when missing (None: no downloads)."""
    paths = {}
    for image_id in tqdm(image_ids, desc="COCO images", unit="image", disable=not progress, leave=False):
        (info,) = coco_gt.loadImgs([image_id])
        path = folder / info["file_name"]
        if not path.is_file():
            if base_url is None:
                raise ToolsError(f"{path} is missing; drop --no-download to fetch it, or {LOCAL_IMAGES_HINT}")
            # val2017 images carry no published checksums; COCO serves them immutable.
            url = base_url.rstrip("/") + coco.IMAGE_PATH.format(image_id=image_id)
            download(url, path, alternative=LOCAL_IMAGES_HINT, timeout=timeout, progress=False)
        paths[image_id] = path
    return paths


def model_labels(models: List[Path]) -> tuple:
    """The labels the models share: from the model.json beside them, else COCO's."""
    from ssdlite_detect.labels import COCO_LABELS, read_labels
    from ssdlite_detect.model_description import LABELS, find_description

    found = {}
    for model in models:
        try:
            description = find_description(str(model))
            labels_file = description.file_path(LABELS) if description else None
            found[model] = read_labels(labels_file) if labels_file else COCO_LABELS
        except DetectError as error:
            raise ToolsError(str(error)) from None
    if len(set(found.values())) > 1:
        raise ToolsError(f"{', '.join(map(str, models))} have different labels: evaluate them in separate runs")
    return next(iter(found.values()))


def evaluate_model(
    model: Path, coco_gt, paths: Dict[int, Path], config: PostprocessConfig, threads, progress: bool
) -> coco_eval.CocoMetrics:
    from ..host_inference import HostDetector  # deferred: imports TensorFlow

    detector = HostDetector(model, threads=threads)
    results = []
    for image_id, path in tqdm(paths.items(), desc=model.name, unit="image", disable=not progress):
        (info,) = coco_gt.loadImgs([image_id])
        try:
            # As the board's app loads it: JPEGs much larger than the input decode at reduced scale.
            image = preprocess.load_image(str(path), min_size=detector.input_size[::-1])
        except ImageError as error:
            raise ToolsError(str(error)) from error
        detections = detector.detect(image, config)
        # Boxes are normalised; scale them to the size the annotations use.
        results += coco_eval.to_coco_results(image_id, detections, int(info["width"]), int(info["height"]))
    return coco_eval.evaluate_results(coco_gt, results, list(paths))


def run(args: argparse.Namespace) -> int:
    workdir = args.workdir
    models = args.model or _default_models(workdir)
    for model in models:
        if not model.is_file():
            raise ToolsError(f"no model at {model}")
    if args.limit is not None and args.limit < 1:
        raise ToolsError(f"--limit must be at least 1, got {args.limit}")
    if not 0 <= args.score_threshold <= 0.01:
        raise ToolsError(f"--score-threshold {args.score_threshold} is outside the standard protocol's [0, 0.01]")
    progress = not args.no_progress
    annotations = coco.fetch_annotations(
        workdir, local=args.annotations, timeout=args.timeout, progress=progress, base_url=args.coco_url
    )
    coco_gt = coco_eval.load_ground_truth(annotations, model_labels(models))
    image_ids = sorted(coco_gt.getImgIds())[: args.limit]
    folder = args.images_dir or coco.images_dir(workdir)
    base_url = None if args.no_download else args.coco_url
    paths = _image_paths(coco_gt, image_ids, folder, base_url, args.timeout, progress)
    config = dataclasses.replace(coco_eval.EVALUATION_CONFIG, score_threshold=args.score_threshold)

    metrics = {model: evaluate_model(model, coco_gt, paths, config, args.threads, progress) for model in models}

    print(f"COCO bbox on {len(image_ids)} image(s) of {annotations.name}")
    width = max(len(m.name) for m in models)
    print(f" {'metric':<48}" + "".join(f"  {m.name:>{width}}" for m in models))
    for name in coco_eval.STAT_NAMES:
        values = "".join(f"  {metrics[m].stats[name]:>{width}.3f}" for m in models)
        print(f" {coco_eval.STAT_DESCRIPTIONS[name]:<48}{values}")
    if args.json:
        report = {
            "annotations": str(annotations),
            "image_count": len(image_ids),
            "limit": args.limit,
            "protocol": {
                "score_threshold": config.score_threshold,
                "nms": config.nms,
                "iou_threshold": config.iou_threshold,
                "max_detections": config.max_detections,
                "max_per_class": config.max_per_class,
                "category_ids": "model class id == category id (the model's label map; COCO: COCO 2017 ids; "
                "0 = background)",
            },
            "models": {str(m): metrics[m].as_dict() for m in models},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(json_safe(report), indent=2) + "\n")
        print(f"report: {args.json}")
    return 0
