"""Detector: the library entry point an OEM's product code uses.

    from ssdlite_detect import Detector
    detector = Detector()                    # installed model, NPU where the SoC has one
    result = detector.detect("photo.jpg")    # DetectionResult with Detection values
    for d in result.detections: print(d.label, d.score, d.box)

It ties the parts together: device (which backend), runtime (interpreter, tensors), preprocess,
postprocess (decode + NMS) and results. It holds no numeric code of its own.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from PIL import Image

from . import device as devices
from .anchors import AnchorConfig, generate_anchors
from .decode import clip_boxes
from .errors import DelegateError, ImageError, ModelError
from .labels import COCO_LABELS, check_labels_match, read_labels
from .model_description import COCO_DEFAULTS, LABELS, ModelDescription, find_description
from .postprocess import PostprocessConfig, RawDetections, SSDPostprocessor
from .preprocess import LoadedImage, input_lookup_table, prepare_input, read_image
from .results import BBox, Detection, DetectionResult
from .runtime import (
    SSDSignature,
    create_interpreter,
    identify_ssd_tensors,
    import_runtime,
    is_vela_model,
    read_model,
    read_model_anchors,
)
from .scores import SCORE_KINDS, ScoreDecoder, infer_score_kind


def _milliseconds(start: float, end: float) -> float:
    return (end - start) * 1000.0


class Detector:
    """A loaded model ready to detect objects in images. Not thread-safe: one per thread."""

    def __init__(
        self,
        model_path: Optional[str] = None,
        labels: Union[None, str, Sequence[str]] = None,
        config: PostprocessConfig = PostprocessConfig(),
        device: str = "auto",
        delegate_path: Optional[str] = None,
        threads: Optional[int] = None,
        score_kind: Optional[str] = None,
        anchor_config: Optional[AnchorConfig] = None,
        description: Optional[ModelDescription] = None,
        model_dir: str = devices.DEFAULT_MODEL_DIR,
        platform: Optional[devices.Platform] = None,
        on_fallback: Optional[Callable[[str], None]] = None,
    ):
        if score_kind is not None and score_kind not in SCORE_KINDS:
            raise ValueError(f"score_kind must be one of {SCORE_KINDS}")
        runtime = import_runtime()
        self.platform = platform or devices.detect_platform()
        vela_by_path: Dict[str, bool] = {}  # each model file is read (and checked) once

        def is_vela(path: str) -> bool:
            if path not in vela_by_path:
                vela_by_path[path] = is_vela_model(read_model(path))
            return vela_by_path[path]

        plans = devices.plan_backends(
            device, self.platform, model_path, model_dir, delegate_path, model_path is not None and is_vela(model_path)
        )
        self.plan, self.interpreter = self._open_first_working_backend(
            plans, runtime, threads or os.cpu_count() or 1, is_vela, on_fallback
        )
        self.model_path = self.plan.model_path
        self.backend = self.plan.backend
        self.runtime_name = runtime.name
        self.signature: SSDSignature = identify_ssd_tensors(
            self.interpreter.get_input_details(), self.interpreter.get_output_details(), self.model_path
        )
        # The model's own description (model.json beside it) when it has one, else COCO defaults.
        self.description = description if description is not None else find_description(self.model_path)
        described = self.description or COCO_DEFAULTS
        if self.description is not None:
            self._check_description(self.description)
        self.labels = self._load_labels(labels)

        anchors = read_model_anchors(self.interpreter, self.signature.num_anchors)
        self.anchor_source = "model" if anchors is not None else "generated"
        if anchors is None:
            anchors = generate_anchors(anchor_config or described.anchors)
        if anchors.shape[0] != self.signature.num_anchors:
            raise ModelError(
                f"{self.model_path} predicts {self.signature.num_anchors} boxes but the anchor "
                f"config gives {anchors.shape[0]}: the model is not an SSD of this anchor layout"
                + ("" if self.description else " (no model description beside it: COCO defaults assumed)")
            )
        classes = self.signature.classes
        if score_kind is None and self.description is not None:
            score_kind = self.description.score_kind
        kind = score_kind or infer_score_kind(classes.name, classes.dtype, classes.quantization)
        self.score_kind = kind
        self.postprocessor = SSDPostprocessor(
            anchors,
            config,
            ScoreDecoder(kind, classes.quantization, classes.dtype, described.logit_scale),
            self.signature.boxes.quantization,
            described.box_coder,
        )
        image_input = self.signature.input
        self._lookup_table = input_lookup_table(image_input.dtype, image_input.quantization)

    def _open_first_working_backend(self, plans, runtime, threads, is_vela, on_fallback):
        """(plan, interpreter) of the first plan that works; a delegate failure moves on to the
        next plan (the CPU, with --device auto) and is reported through on_fallback."""
        for position, plan in enumerate(plans):
            try:
                if plan.delegate_path is None:
                    if is_vela(plan.model_path):  # also fails clearly on a missing or non-TFLite file
                        raise ModelError(
                            f"{plan.model_path} is compiled by Vela: it needs the Ethos-U delegate "
                            f"({devices.ETHOSU_DELEGATE}) on an i.MX 93; use the int8 model on the CPU"
                        )
                else:
                    devices.check_npu_prerequisites(plan, self.platform)
                    try:
                        is_vela(plan.model_path)
                    except ModelError as error:  # the NPU's model is missing: the next backend may work
                        raise DelegateError(str(error)) from None
                return plan, create_interpreter(runtime, plan.model_path, threads, plan.delegate_path, plan.delegate_options)
            except DelegateError as error:
                if position + 1 == len(plans):
                    raise
                if on_fallback is not None:
                    on_fallback(f"{plan.backend} unavailable ({error}); falling back to {plans[position + 1].backend}")
        raise AssertionError("plan_backends returned no plan")  # it raises instead

    def _check_description(self, description: ModelDescription) -> None:
        """The description must be of this model: same input size and number of classes."""
        if tuple(description.input_size) != tuple(self.input_size):
            raise ModelError(
                f"{description.path} describes a {description.input_size[0]}x{description.input_size[1]} input but "
                f"{self.model_path} takes {self.input_size[0]}x{self.input_size[1]}"
            )
        if description.num_classes + 1 != self.signature.num_classes:
            raise ModelError(
                f"{description.path} describes {description.num_classes} classes (+ background) but "
                f"{self.model_path} outputs {self.signature.num_classes} class columns"
            )

    def model_info(self) -> Dict[str, object]:
        """What the detector runs with and where each part came from (for --verbose)."""
        described = self.description or COCO_DEFAULTS
        height, width = self.input_size
        if self.anchor_source == "model":
            anchors_from = "from the model"
        else:
            anchors_from = "generated from " + ("the description" if self.description else "the COCO defaults")
        return {
            "model": self.model_path,
            "backend": self.backend,
            "description": self.description.path if self.description else None,
            "name": described.name,
            "input": f"{height}x{width}",
            "classes": self.signature.num_classes - 1,
            "anchors": f"{self.signature.num_anchors} ({anchors_from})",
            "score_kind": self.score_kind,
            "box_coder": list(dataclasses.astuple(self.postprocessor.box_coder_scales)),
        }

    def _load_labels(self, labels: Union[None, str, Sequence[str]]) -> Sequence[str]:
        num_classes = self.signature.num_classes
        if isinstance(labels, str):
            loaded = read_labels(labels)
            check_labels_match(loaded, num_classes, labels)
            return loaded
        if labels is not None:
            check_labels_match(labels, num_classes, "the labels given")
            return tuple(labels)
        described_labels = self.description.file_path(LABELS) if self.description else None
        if described_labels:
            loaded = read_labels(described_labels)
            check_labels_match(loaded, num_classes, described_labels)
            return loaded
        beside_model = os.path.join(os.path.dirname(os.path.abspath(self.model_path)), devices.LABELS_FILE)
        if os.path.exists(beside_model):
            loaded = read_labels(beside_model)
            check_labels_match(loaded, num_classes, beside_model)
            return loaded
        if num_classes == len(COCO_LABELS):
            return COCO_LABELS
        return tuple(f"class {i}" for i in range(num_classes))

    @property
    def config(self) -> PostprocessConfig:
        return self.postprocessor.config

    @config.setter
    def config(self, config: PostprocessConfig) -> None:
        previous = self.postprocessor
        self.postprocessor = SSDPostprocessor(
            previous.anchors, config, previous.score_decoder, previous.box_quantization, previous.box_coder_scales
        )

    @property
    def input_size(self):
        """(height, width) of the model input."""
        return self.signature.input_size

    def load(self, path: str) -> LoadedImage:
        height, width = self.input_size
        return read_image(path, min_size=(width, height))

    def preprocess(self, image: Image.Image) -> np.ndarray:
        height, width = self.input_size
        return prepare_input(image, height, width, lookup_table=self._lookup_table)

    def infer(self, input_tensor: np.ndarray):
        """Run the model; returns the raw (box encodings [N, 4], class scores [N, C])."""
        self.interpreter.set_tensor(self.signature.input.index, input_tensor)
        self.interpreter.invoke()
        boxes = self.interpreter.get_tensor(self.signature.boxes.index).reshape(-1, 4)
        classes = self.interpreter.get_tensor(self.signature.classes.index)[0]
        return boxes, classes

    def tensor_from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Input tensor from RGB pixels already at the model's input size (video frames, which
        the scaler resized): the same lookup table as stills, one pass, any strides."""
        height, width = self.input_size
        if pixels.shape != (height, width, 3):
            raise ImageError(f"expected RGB pixels of shape {(height, width, 3)}, got {pixels.shape}")
        return self._lookup_table[pixels][None]

    def detections_from_outputs(self, boxes: np.ndarray, classes: np.ndarray, width: int, height: int) -> List[Detection]:
        """Decode + NMS of raw outputs (from infer), boxes in the pixels of a width x height source."""
        return self.to_detections(self.postprocessor(boxes, classes), width, height)

    def to_detections(self, raw: RawDetections, width: int, height: int) -> List[Detection]:
        """Clip the normalised boxes to the image and scale them to its pixels."""
        detections = []
        for box, class_id, score in zip(clip_boxes(raw.boxes), raw.class_ids, raw.scores):
            ymin, xmin, ymax, xmax = (float(v) for v in box)
            label = self.labels[class_id] if class_id < len(self.labels) else f"class {class_id}"
            detections.append(Detection(
                int(class_id), label, float(score),
                BBox(xmin * width, ymin * height, xmax * width, ymax * height),
                (ymin, xmin, ymax, xmax),
            ))
        return detections

    def detect(self, source: Union[str, Image.Image], name: Optional[str] = None) -> DetectionResult:
        """Detect objects in an image file or a PIL image; boxes are in its (oriented) pixels.

        Raises ImageError (one-line reason) for a file that cannot be decoded.
        """
        start = time.perf_counter()
        if isinstance(source, Image.Image):
            loaded = LoadedImage(source.convert("RGB"), source.width, source.height)
            name = name or "<image>"
        else:
            loaded = self.load(source)
            name = name or str(source)
        input_tensor = self.preprocess(loaded.image)
        preprocessed = time.perf_counter()
        boxes, classes = self.infer(input_tensor)
        inferred = time.perf_counter()
        detections = self.detections_from_outputs(boxes, classes, loaded.width, loaded.height)
        done = time.perf_counter()
        return DetectionResult(
            name, loaded.width, loaded.height, self.backend, tuple(detections),
            {
                "preprocess": _milliseconds(start, preprocessed),
                "inference": _milliseconds(preprocessed, inferred),
                "postprocess": _milliseconds(inferred, done),
            },
        )
