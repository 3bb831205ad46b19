"""Detector: runs a resolved model on images and frames. The entry point an OEM's product code uses.

    from ssdlite_detect import Detector
    detector = Detector.open()               # installed model, NPU where the SoC has one
    result = detector.detect("photo.jpg")    # DetectionResult with Detection values
    for d in result.detections: print(d.label, d.score, d.box)

Which model, backend, labels, anchors and scores: ssdlite_detect.model (open_model), decided
before a Detector exists. A Detector holds no numeric code of its own: preprocess (input
tensor), the interpreter (invoke) and postprocess (decode + NMS) do the work. Its post-processing
configuration is fixed: `with_config` gives another Detector over the same loaded model.
"""
from __future__ import annotations

import time
from typing import Callable, List, Optional, Union

import numpy as np
from PIL import Image

from .decode import clip_boxes
from .errors import ImageError
from .model import LoadedModel, ModelOptions, ModelSpec, open_model
from .postprocess import LowBand, PostprocessConfig, RawDetections
from .preprocess import LoadedImage, PixelQuantizer, input_lookup_table, prepare_input, read_image
from .results import BBox, Detection, DetectionResult


def _milliseconds(start: float, end: float) -> float:
    return (end - start) * 1000.0


class Detector:
    """A loaded model ready to detect objects in images. Not thread-safe: one per thread (the
    live stream splits one Detector's stages over its threads, see live/stream.py)."""

    def __init__(self, model: LoadedModel, config: PostprocessConfig = PostprocessConfig()):
        self.model = model
        self.spec: ModelSpec = model.spec
        self.interpreter = model.interpreter
        self.config = config
        self.postprocessor = self.spec.postprocessor(config)
        image_input = self.spec.signature.input
        self._lookup_table = input_lookup_table(image_input.dtype, image_input.quantization)
        self._quantizer = PixelQuantizer(self._lookup_table)  # video frames (tensor_from_pixels)

    @classmethod
    def open(cls, model_path: Optional[str] = None, config: PostprocessConfig = PostprocessConfig(),
             on_fallback: Optional[Callable[[str], None]] = None, **options) -> "Detector":
        """open_model(ModelOptions(model_path, **options)), then a Detector with `config`.
        options: labels, device, delegate_path, threads, score_kind, anchor_config, description,
        model_dir, platform (see ModelOptions)."""
        return cls(open_model(ModelOptions(model_path, **options), on_fallback), config)

    def with_config(self, config: PostprocessConfig) -> "Detector":
        """Another Detector over the same loaded model (the same interpreter: use one at a time)."""
        return Detector(self.model, config)

    # What the model is (the rest: self.spec), for the stages and outputs that report it.
    @property
    def backend(self) -> str:
        return self.spec.backend

    @property
    def model_path(self) -> str:
        return self.spec.model_path

    @property
    def input_size(self):
        """(height, width) of the model input."""
        return self.spec.input_size

    def load(self, path: str) -> LoadedImage:
        height, width = self.input_size
        return read_image(path, min_size=(width, height))

    def preprocess(self, image: Image.Image) -> np.ndarray:
        height, width = self.input_size
        return prepare_input(image, height, width, lookup_table=self._lookup_table)

    def infer(self, input_tensor: np.ndarray):
        """Run the model; returns the raw (box encodings [N, 4], class scores [N, C])."""
        signature = self.spec.signature
        self.interpreter.set_tensor(signature.input.index, input_tensor)
        self.interpreter.invoke()
        boxes = self.interpreter.get_tensor(signature.boxes.index).reshape(-1, 4)
        classes = self.interpreter.get_tensor(signature.classes.index)[0]
        return boxes, classes

    def tensor_from_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Input tensor from RGB pixels already at the model's input size (video frames, which
        the scaler resized): the same lookup table as stills, one pass, any strides."""
        height, width = self.input_size
        if pixels.shape != (height, width, 3):
            raise ImageError(f"expected RGB pixels of shape {(height, width, 3)}, got {pixels.shape}")
        return self._quantizer(pixels)[None]

    def detections_from_outputs(self, boxes: np.ndarray, classes: np.ndarray, width: int, height: int,
                                low_band: Optional[LowBand] = None) -> List[Detection]:
        """Decode + NMS of raw outputs (from infer), boxes in the pixels of a width x height source;
        with `low_band`, also its candidates below the threshold (postprocess.LowBand)."""
        return self.to_detections(self.postprocessor(boxes, classes, low_band), width, height)

    def to_detections(self, raw: RawDetections, width: int, height: int) -> List[Detection]:
        """Clip the normalised boxes to the image and scale them to its pixels."""
        labels = self.spec.labels
        clipped = clip_boxes(raw.boxes)
        # Every box at once: Python floats of the float32 corners, and the corners times the
        # image's size in float64, what float(v) * width gave box by box (the same numbers).
        sizes = np.array((height, width, height, width), np.float64)
        scaled = (clipped.astype(np.float64) * sizes).tolist()
        detections = []
        for normalized, (ymin, xmin, ymax, xmax), class_id, score in zip(
                clipped.tolist(), scaled, raw.class_ids.tolist(), raw.scores.tolist()):
            label = labels[class_id] if class_id < len(labels) else f"class {class_id}"
            detections.append(Detection(class_id, label, score, BBox(xmin, ymin, xmax, ymax), tuple(normalized)))
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
