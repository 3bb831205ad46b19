"""`ssdlite-tools convert`: prune an SSD export and write the float32 and full-int8 TFLite models.

Reads the export's pipeline.config (classes, input size, anchors, box coder, score converter),
checked against the graph, or without one the same settings from the graph itself (graph_config.py),
and the label map; finds the cut in the graph, rounds the first convolution's and the first
depthwise layer's int8 weights as the calibration images say is best (weight_rounding.py;
--weight-rounding nearest: the converter's own), and writes
<output-dir>/ssdlite_mobilenetv2_coco_int8.tflite (calibrated on N images through the app's
preprocessing), ssdlite_mobilenetv2_coco_float.tflite (for int8-vs-float comparisons), labels.txt,
model.json (the model description the app reads) and conversion.json (checkpoint, calibration
images and their sha256, settings, I/O quantisation, the rounded layers).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..calibration import (
    CALIBRATION_SEED,
    DEFAULT_CALIBRATION_COUNT,
    calibration_batches,
    default_calibration_dir,
    select_calibration_images,
)
from ssdlite_detect.labels import COCO_LABELS, write_labels
from ssdlite_detect.model_description import DESCRIPTION_FILE, FLOAT, INT8, LABELS, write_description

from ..checkpoint import default_checkpoint, open_checkpoint
from ..convert import (
    IO_TYPES,
    WEIGHT_ROUNDINGS,
    convert_float,
    convert_int8,
    describe_io,
    first_layers,
    read_export,
    rounded_graph,
)
from ..graph_config import describe_anchor_config
from ..describe import check_model_name, default_model_name, describe_model, describe_sources, find_labels
from ..manifest import file_entry, tool_versions, write_json
from ..workspace import (
    CONVERSION_RECORD,
    CONVERTED_LABELS_NAME,
    FLOAT_MODEL_NAME,
    INT8_MODEL_NAME,
    add_workdir_argument,
    convert_dir,
)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="SavedModel -> float32 and full-int8 TFLite (calibrated with the app's preprocessing)",
        description=__doc__.split("\n\n")[1],
    )
    add_workdir_argument(parser)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="the zoo checkpoint .tar.gz, or an OD API SSD export folder (pipeline.config with saved_model/ or "
        "frozen_inference_graph.pb) (default: the one `fetch` unpacked)",
    )
    parser.add_argument(
        "--label-map",
        type=Path,
        help="label_map.pbtxt (item { id name display_name }) of a retrained model (default: the export's "
        "label_map.pbtxt; COCO's labels for a model trained on mscoco_label_map.pbtxt)",
    )
    parser.add_argument(
        "--model-name",
        help="names the bundle's files, e.g. NAME_int8.tflite (default: ssdlite_mobilenetv2_coco for COCO "
        "labels, else the export folder's name)",
    )
    parser.add_argument(
        "--calibration-dir",
        type=Path,
        help="folder of calibration images (default: <workdir>/calibration, filled by `fetch`)",
    )
    parser.add_argument(
        "--calibration-images",
        type=int,
        default=DEFAULT_CALIBRATION_COUNT,
        metavar="N",
        help="calibrate on N images: sorted, shuffled with seed %d, first N (default: %%(default)s)" % CALIBRATION_SEED,
    )
    parser.add_argument(
        "--io-type",
        choices=IO_TYPES,
        default="int8",
        help="int8 model's input/output type; int8 keeps Quantize/Dequantize off the CPU (default: %(default)s)",
    )
    parser.add_argument(
        "--weight-rounding",
        choices=WEIGHT_ROUNDINGS,
        default="adaptive",
        help="int8 weights of the first convolution and the first depthwise convolution: rounded as "
        "calibration data says is best (weight_rounding.py), or to the nearest step as the converter does "
        "elsewhere (default: %(default)s)",
    )
    parser.add_argument("--output-dir", type=Path, help="where to write the models (default: <workdir>/convert)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # TensorFlow's C++ info/warning lines (CPU features, MLIR passes) drown the progress bars;
    # read at TensorFlow's import, which happens below, so set before.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    workdir: Path = args.workdir
    output_dir: Path = args.output_dir or convert_dir(workdir)
    checkpoint = open_checkpoint(args.checkpoint, workdir) if args.checkpoint else default_checkpoint(workdir)
    export = read_export(checkpoint)
    pipeline, model = export.pipeline, export.model
    labels, label_map = find_labels(checkpoint, pipeline, args.label_map)
    name = check_model_name(args.model_name or default_model_name(checkpoint, labels))
    description = describe_model(
        name,
        pipeline,
        export.heads,
        {INT8: INT8_MODEL_NAME, FLOAT: FLOAT_MODEL_NAME, LABELS: CONVERTED_LABELS_NAME},
        describe_sources(pipeline, label_map, labels, from_graph=export.from_graph),
        str(checkpoint.graph_file),
    )
    images = select_calibration_images(
        args.calibration_dir or default_calibration_dir(workdir), args.calibration_images
    )
    progress = not args.no_progress
    started = time.monotonic()

    height, width = pipeline.input_size
    float_model = convert_float(model)
    rounded_def, rounded = None, []
    if args.weight_rounding == "adaptive":
        # Only the first convolution and the first depthwise layer: there nearest rounding costs as
        # much accuracy as the whole int8 conversion; rounding every depthwise layer this way
        # measured no better (model-tools/README.md).
        rounded_def, rounded = rounded_graph(
            model, lambda: calibration_batches(images, height, width, progress=False),
            first_layers(export.graph_def, model.cut), graph_def=export.graph_def,
        )
    int8_model = convert_int8(
        model,
        lambda: calibration_batches(images, height, width, progress=progress),
        io_type=args.io_type,
        graph_def=rounded_def,
    )
    elapsed = time.monotonic() - started

    output_dir.mkdir(parents=True, exist_ok=True)
    int8_path, float_path = output_dir / INT8_MODEL_NAME, output_dir / FLOAT_MODEL_NAME
    int8_path.write_bytes(int8_model)
    float_path.write_bytes(float_model)
    write_labels(str(output_dir / CONVERTED_LABELS_NAME), labels)
    write_description(str(output_dir / DESCRIPTION_FILE), description)
    record = {
        "stand_in": checkpoint.stand_in,
        "model_name": name,
        "source_checkpoint": checkpoint.provenance(),
        "settings": {
            "from": "graph" if export.from_graph else "pipeline.config",
            "checked_against_graph": list(export.checked_against_graph),
        },
        "cut": {
            "input": model.cut.input_tensor,
            "outputs": [model.cut.box_encodings_tensor, model.cut.class_predictions_tensor],
        },
        "calibration": {
            "seed": CALIBRATION_SEED,
            "count": len(images),
            "preprocessing": "ssdlite_detect.preprocess.prepare_input, float32 x / 127.5 - 1",
            "images": [
                {"id": image.image_id, "file": image.path.name, "sha256": image.sha256} for image in images
            ],
        },
        "io_type": args.io_type,
        "weight_rounding": {
            "mode": args.weight_rounding,
            "layers": [
                {"name": layer.name, "channels": layer.channels, "search": layer.search,
                 "nearest_error": layer.nearest_error, "chosen_error": layer.chosen_error}
                for layer in rounded
            ],
        },
        "quantization": describe_io(int8_model),
        "models": {INT8_MODEL_NAME: file_entry(int8_path), FLOAT_MODEL_NAME: file_entry(float_path)},
        "tool_versions": tool_versions(),
    }
    write_json(output_dir / CONVERSION_RECORD, record)
    note = " [STAND-IN: test data, not for the board]" if checkpoint.stand_in else ""
    print(
        f"int8 model: {int8_path} ({len(int8_model) / 1e6:.2f} MB, {args.io_type} I/O, "
        f"{len(images)} calibration images){note}"
    )
    print(f"float model: {float_path} ({len(float_model) / 1e6:.2f} MB)")
    print(
        f"model {name}: {height}x{width} input, {pipeline.num_classes} classes ({label_map or ('COCO labels' if tuple(labels) == COCO_LABELS else 'unnamed')}), "
        f"{description.outputs['box_encodings']['shape'][1]} anchors, {pipeline.score_converter} scores"
    )
    for layer in rounded:
        ratio = layer.chosen_error / layer.nearest_error if layer.nearest_error else 1.0
        print(f"adaptive rounding of {layer.name}: expected output error {ratio:.2f}x of nearest rounding's")
    if export.from_graph:
        print(
            f"settings read from the graph (no pipeline.config): {describe_anchor_config(pipeline.anchors)}; "
            f"box coder {pipeline.box_coder.y:g}/{pipeline.box_coder.x:g}/{pipeline.box_coder.h:g}/{pipeline.box_coder.w:g}"
        )
    elif export.checked_against_graph:
        print(f"pipeline.config checked against the graph: {', '.join(export.checked_against_graph)}")
    if label_map is None and tuple(labels) != COCO_LABELS:
        print(f"note: no label map: classes are named {', '.join(labels[1:4])}{', ...' if len(labels) > 4 else ''}; "
              "pass --label-map label_map.pbtxt to name them")
    print(f"converted in {elapsed:.1f} s")
    return 0
