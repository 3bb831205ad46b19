"""`ssdlite-tools evaluate`: bbox mAP (pycocotools, standard protocol) of the int8 and float models.

Ground truth: COCO val2017 (downloaded), or --annotations FILE --images-dir DIR (COCO json), or
--dataset PATH in COCO json, YOLO txt or PASCAL VOC XML format (datasets.py reads them). Dataset
classes are tied to the model's labels (model.json's, else COCO's) by name (--class-map for
renames); the model's class ids become the COCO category ids. Reports the 12 COCOeval statistics,
AP and AP50 overall and per class, and int8/float ratios when both kinds of model are evaluated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ssdlite_detect import preprocess
from ssdlite_detect.errors import DetectError, ImageError
from ssdlite_detect.postprocess import PostprocessConfig
from tqdm import tqdm

from .. import coco, coco_eval, datasets
from ..bsp_gates import json_safe
from ..download import DEFAULT_TIMEOUT, download
from ..errors import ToolsError
from ..workspace import FLOAT_MODEL_NAME, INT8_MODEL_NAME, add_workdir_argument, convert_dir

LOCAL_IMAGES_HINT = "pass --images-dir with a local copy of COCO val2017 (and --annotations FILE)"


def add_parser(subparsers) -> None:
    protocol = coco_eval.EVALUATION_CONFIG
    parser = subparsers.add_parser(
        "evaluate",
        help="bbox mAP (pycocotools) of the int8 and float models on COCO val2017 or a COCO/YOLO/VOC dataset",
        description=(
            "Runs each model on COCO val2017 (all 5000 images, or the first --limit by image id), decodes "
            "with the app's library (per-class NMS IoU "
            f"{protocol.iou_threshold}, score threshold {protocol.score_threshold:g}, {protocol.max_detections} "
            "detections per image) and scores with pycocotools. COCO val2017 annotations and images are "
            "downloaded into WORKDIR/downloads/coco when missing, or read from --annotations/--images-dir; "
            "--dataset takes a COCO json, YOLO or VOC dataset instead. Prints AP, AP50 and per-class AP/AP50, "
            "with int8/float ratios when an int8 and a float model are evaluated together."
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
        "--dataset",
        type=Path,
        default=None,
        help="ground truth: a COCO .json file (images in --images-dir, default its folder), a YOLO folder "
        "(images/ and labels/, class names in names.yaml or --names) or a PASCAL VOC folder (Annotations/ and "
        "JPEGImages/, or .xml beside the images); default: COCO val2017",
    )
    parser.add_argument(
        "--dataset-format",
        choices=datasets.FORMATS,
        default=None,
        help="format of --dataset (default: detected, when unambiguous)",
    )
    parser.add_argument(
        "--names",
        type=Path,
        default=None,
        help="YOLO class names: a YAML file with `names:` (list or id: name) or a text file, one name per line",
    )
    parser.add_argument(
        "--class-map",
        action="append",
        metavar="DATASET=MODEL",
        default=None,
        help="evaluate dataset class DATASET as model class MODEL (repeatable); other classes match by name, "
        "case-insensitive, and dataset classes the model lacks are left out (listed)",
    )
    parser.add_argument(
        "--images-with",
        action="append",
        metavar="NAME",
        default=None,
        help="evaluate only the images with at least one object of class NAME (repeatable: any of them), "
        "e.g. person AP on the images with people; all classes are still scored on those images",
    )
    parser.add_argument(
        "--annotations",
        type=Path,
        default=None,
        help="instances_val2017.json or annotations_trainval2017.zip (default: downloaded); for a retrained "
        "model, a COCO-format file whose categories are its label map's ids and names (--dataset FILE.json "
        "matches categories to the model's classes by name instead)",
    )
    parser.add_argument(
        "--images-dir", type=Path, default=None, help="folder of the COCO json's images (default: downloaded val2017)"
    )
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
    images: Sequence[datasets.ImageRecord], base_url: Optional[str], timeout: float, progress: bool, hint: str
) -> Dict[int, Path]:
    """Each image's file, downloaded from COCO's `base_url` when missing (None: no downloads)."""
    paths = {}
    for image in tqdm(images, desc="images", unit="image", disable=not progress, leave=False):
        if not image.path.is_file():
            if base_url is None:
                raise ToolsError(f"{image.path} is missing{hint}")
            # val2017 images carry no published checksums; COCO serves them immutable.
            url = base_url.rstrip("/") + coco.IMAGE_PATH.format(image_id=image.id)
            download(url, image.path, alternative=LOCAL_IMAGES_HINT, timeout=timeout, progress=False)
        paths[image.id] = image.path
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


@dataclass(frozen=True)
class ModelRun:
    metrics: coco_eval.CocoMetrics
    input_dtype: str  # "float32" for a float model, "int8"/"uint8" for a quantised one
    size_mismatches: Tuple[Path, ...]  # images whose file's size is not the ground truth's

    @property
    def quantized(self) -> bool:
        return self.input_dtype != "float32"


def open_detector(model: Path, threads: Optional[int]):
    from ..host_inference import HostDetector  # deferred: imports TensorFlow

    return HostDetector(model, threads=threads)


def evaluate_model(detector, coco_gt, paths: Dict[int, Path], config: PostprocessConfig, progress: bool) -> ModelRun:
    results, mismatches = [], []
    name = detector.model_path.name
    for image_id, path in tqdm(paths.items(), desc=name, unit="image", disable=not progress):
        (info,) = coco_gt.loadImgs([image_id])
        width, height = int(info["width"]), int(info["height"])
        try:
            # As the board's app loads it: JPEGs much larger than the input decode at reduced scale.
            loaded = preprocess.read_image(str(path), min_size=detector.input_size[::-1])
        except ImageError as error:
            raise ToolsError(str(error)) from error
        if (loaded.width, loaded.height) != (width, height):
            mismatches.append(path)
        detections = detector.detect(loaded.image, config)
        # Boxes are normalised; scale them to the size the annotations use.
        results += coco_eval.to_coco_results(image_id, detections, width, height)
    metrics = coco_eval.evaluate_results(coco_gt, results, list(paths))
    return ModelRun(metrics, str(detector.signature.input.dtype), tuple(mismatches))


def _ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    if numerator is None or denominator is None or denominator <= 0 or numerator < 0:
        return None
    return numerator / denominator


def ratios(quantized: coco_eval.CocoMetrics, float_metrics: coco_eval.CocoMetrics) -> Dict[str, object]:
    """int8/float of AP, AP50 and each class's AP and AP50 (None where the float value is 0 or
    there is no ground truth)."""
    return {
        "AP": _ratio(quantized.stats["AP"], float_metrics.stats["AP"]),
        "AP50": _ratio(quantized.stats["AP50"], float_metrics.stats["AP50"]),
        "per_class": {
            ap.name: {
                "AP": _ratio(ap.ap, float_metrics.per_class[i].ap),
                "AP50": _ratio(ap.ap50, float_metrics.per_class[i].ap50),
            }
            for i, ap in quantized.per_class.items()
        },
    }


def _read_dataset(args: argparse.Namespace, labels: Sequence[str], progress: bool):
    """(dataset, COCO base URL for missing images or None, hint for a missing image)."""
    if args.dataset is not None and args.annotations is not None:
        raise ToolsError("--dataset and --annotations both name the ground truth: give one")
    if args.dataset is None:
        if args.dataset_format not in (None, "coco") or args.names is not None:
            raise ToolsError("--dataset-format and --names need --dataset PATH")
        # COCO val2017 (downloaded unless --no-download) or --annotations FILE --images-dir DIR.
        annotations = coco.fetch_annotations(
            args.workdir, local=args.annotations, timeout=args.timeout, progress=progress, base_url=args.coco_url
        )
        folder = args.images_dir or coco.images_dir(args.workdir)
        base_url = None if args.no_download else args.coco_url
        dataset = datasets.read_coco_json(annotations, folder)
        # As before --dataset existed: this file's categories must be the model's own ids and
        # names (a renumbered file is refused, not remapped). --dataset FILE.json maps by name.
        coco_eval.check_category_ids([{"id": i, "name": n} for i, n in dataset.categories], labels)
        return dataset, base_url, f"; drop --no-download to fetch it, or {LOCAL_IMAGES_HINT}"
    path = args.dataset
    dataset_format = args.dataset_format or datasets.detect_format(path)
    if dataset_format != "yolo" and args.names is not None:
        raise ToolsError("--names is for a YOLO dataset (VOC and COCO name their classes)")
    if dataset_format == "coco":
        if path.is_dir():
            raise ToolsError(f"{path}: --dataset-format coco takes the annotations .json file")
        annotations = coco.fetch_annotations(args.workdir, local=path, timeout=args.timeout, progress=progress)
        folder = args.images_dir or annotations.parent
        return datasets.read_coco_json(annotations, folder), None, " (images: --images-dir, default the .json's folder)"
    if args.images_dir is not None:
        raise ToolsError(f"--images-dir is for COCO json; a {dataset_format.upper()} dataset's folder holds its images")
    if not path.is_dir():
        raise ToolsError(f"no {dataset_format.upper()} dataset folder at {path}")
    if dataset_format == "yolo":
        return datasets.read_yolo(path, args.names), None, ""
    return datasets.read_voc(path), None, ""


def _value(value: Optional[float], width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def print_report(runs: Dict[Path, ModelRun], pairs: List[Tuple[Path, Path]], title: str) -> None:
    """The 12 COCO statistics per model, then AP and AP50 overall and per class, with int8/float."""
    models = list(runs)
    print(title)
    width = max(len(m.name) for m in models)
    print(f" {'metric':<48}" + "".join(f"  {m.name:>{width}}" for m in models))
    for name in coco_eval.STAT_NAMES:
        values = "".join(f"  {runs[m].metrics.stats[name]:>{width}.3f}" for m in models)
        print(f" {coco_eval.STAT_DESCRIPTIONS[name]:<48}{values}")

    blocks = [(m.name, runs[m].metrics, None) for m in models]
    for quantized, float_model in pairs:
        name = "int8/float" if len(pairs) == 1 else f"{quantized.stem}/float"
        blocks.append((name, None, ratios(runs[quantized].metrics, runs[float_model].metrics)))
    widths = [max(len(name), 13) for name, _, _ in blocks]
    first = runs[models[0]].metrics
    print()
    print(
        " AP = AP@[.5:.95], AP50 = AP@.5 (area all, 100 detections); "
        "objects: ground-truth boxes (crowd/difficult not counted)"
    )
    print(f" {'':<20} {'':>7}" + "".join(f"  {name:>{w}}" for (name, _, _), w in zip(blocks, widths)))
    print(f" {'class':<20} {'objects':>7}" + "".join(f"  {'AP':>{w - 7}} {'AP50':>6}" for w in widths))

    def row(label: str, objects: str, values: List[Tuple[Optional[float], Optional[float]]]) -> None:
        cells = "".join(f"  {_value(ap, w - 7)} {_value(ap50, 6)}" for (ap, ap50), w in zip(values, widths))
        print(f" {label[:20]:<20} {objects:>7}{cells}")

    def overall(block) -> Tuple[Optional[float], Optional[float]]:
        _, metrics, ratio = block
        return (metrics.stats["AP"], metrics.stats["AP50"]) if metrics else (ratio["AP"], ratio["AP50"])

    total = sum(ap.objects for ap in first.per_class.values())
    row("all (mAP)", str(total), [overall(block) for block in blocks])
    for category_id, class_ap in sorted(first.per_class.items()):
        if not class_ap.objects:
            continue  # no ground truth in these images: AP undefined for every model
        values = []
        for _, metrics, ratio in blocks:
            if metrics:
                values.append((metrics.per_class[category_id].ap, metrics.per_class[category_id].ap50))
            else:
                values.append((ratio["per_class"][class_ap.name]["AP"], ratio["per_class"][class_ap.name]["AP50"]))
        row(class_ap.name, str(class_ap.objects), values)


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
    labels = model_labels(models)
    # Opened first: a model the host cannot run (e.g. a Vela model) fails before the dataset is read.
    detectors = {model: open_detector(model, args.threads) for model in models}
    dataset, base_url, missing_hint = _read_dataset(args, labels, progress)
    mapping = datasets.map_classes(dataset.class_names, labels, datasets.parse_class_map(args.class_map or ()))
    if not mapping.model_ids:
        raise ToolsError(
            f"none of the dataset's classes ({', '.join(dataset.class_names[:8])}"
            f"{', ...' if len(dataset.class_names) > 8 else ''}) is a class of the model: map them with "
            "--class-map DATASET_CLASS=MODEL_CLASS"
        )
    if args.images_with:
        dataset = datasets.select_images(dataset, mapping, labels, args.images_with)
    images = sorted(dataset.images, key=lambda image: image.id)[: args.limit]
    if not images:
        reason = " (none has an object of --images-with)" if args.images_with else ""
        raise ToolsError(f"no images to evaluate{reason}")
    dataset = dataclasses.replace(dataset, images=tuple(images))
    ground_truth = datasets.coco_dict(dataset, mapping, labels)
    coco_eval.check_category_ids(ground_truth["categories"], labels)  # holds by construction
    coco_gt = datasets.coco_ground_truth(ground_truth)
    paths = _image_paths(images, base_url, args.timeout, progress, missing_hint)
    config = dataclasses.replace(coco_eval.EVALUATION_CONFIG, score_threshold=args.score_threshold)

    for note in dataset.notes:
        print(f"note: {note}")
    if mapping.left_out:
        print(f"left out (no model class; --class-map DATASET=MODEL maps one): {', '.join(mapping.left_out)}")

    runs = {model: evaluate_model(detectors[model], coco_gt, paths, config, progress) for model in models}

    mismatches = runs[models[0]].size_mismatches
    if mismatches:
        print(f"note: {len(mismatches)} image(s) are not the size the ground truth gives (e.g. {mismatches[0]}): "
              "detections are scaled to the ground truth's size")  # fmt: skip
    floats = [m for m in models if not runs[m].quantized]
    pairs = [(m, floats[0]) for m in models if runs[m].quantized] if len(floats) == 1 else []
    used = [name for name in dataset.class_names if name in mapping.model_ids]
    title = (
        f"COCO bbox on {len(images)} image(s) of {dataset.source} ({dataset.format}"
        + (f", images with {' or '.join(args.images_with)}" if args.images_with else "")
        + f"), {len(used)} class(es)"
    )
    print_report(runs, pairs, title)
    if args.json:
        report = {
            "annotations": str(dataset.source),
            "dataset": {
                "path": str(dataset.source),
                "format": dataset.format,
                "images_with": args.images_with or [],
                "class_map": {name: labels[i] for name, i in mapping.model_ids.items()},
                "left_out": list(mapping.left_out),
                "notes": list(dataset.notes),
            },
            "image_count": len(images),
            "limit": args.limit,
            "protocol": {
                "score_threshold": config.score_threshold,
                "nms": config.nms,
                "iou_threshold": config.iou_threshold,
                "max_detections": config.max_detections,
                "max_per_class": config.max_per_class,
                "category_ids": "model class id == category id (the model's label map; COCO: COCO 2017 ids; "
                "0 = background); dataset classes are mapped to model classes by name (--class-map)",
                "per_class": "COCOeval precision[T, R, k, area all, maxDets 100], mean over entries > -1",
            },
            "models": {str(m): {**runs[m].metrics.as_dict(), "input_dtype": runs[m].input_dtype} for m in models},
            "ratios": [
                {"quantized": str(q), "float": str(f), **ratios(runs[q].metrics, runs[f].metrics)} for q, f in pairs
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(json_safe(report), indent=2) + "\n")
        print(f"report: {args.json}")
    return 0
