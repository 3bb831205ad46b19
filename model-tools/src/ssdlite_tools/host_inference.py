"""Run an SSD .tflite (int8 or float) on the host with the app's own Detector.

Nothing numeric is defined here: `ssdlite_detect.model.open_model` resolves the model (on the
host, TFLite comes from TensorFlow's `tf.lite`) and `ssdlite_detect.Detector` preprocesses and
invokes exactly as the board's app does; post-processors come from the resolved ModelSpec. This module only adds what `check` compares (dequantised raw outputs) and lets callers
post-process one inference with several configurations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image
from ssdlite_detect import errors as app_errors
from ssdlite_detect import postprocess, runtime
from ssdlite_detect.detector import Detector
from ssdlite_detect.model import ModelOptions, ModelSpec, open_model

from .errors import ToolsError


@dataclass(frozen=True)
class RawOutputs:
    """One image's SSD outputs, dequantised to float32: box encodings [N, 4] and class values [N, C]."""

    box_encodings: np.ndarray
    class_values: np.ndarray
    score_kind: str  # scores.LOGITS or scores.PROBABILITIES


def _dequantize(values: np.ndarray, quantization: Optional[Tuple[float, int]]) -> np.ndarray:
    if quantization is None:
        return values.astype(np.float32, copy=False)
    scale, zero_point = quantization
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


class HostDetector:
    """A TFLite SSD model on the host's CPU, through the app's Detector."""

    def __init__(self, model_path: Path, threads: Optional[int] = None):
        self.model_path = Path(model_path)
        try:
            if runtime.is_vela_model(runtime.read_model(str(model_path))):
                # Its graph is one `ethos-u` custom op that only the i.MX 93's delegate executes.
                raise ToolsError(f"{model_path} is compiled by Vela for the Ethos-U; use the int8 model it came from")
            self.detector = Detector(open_model(ModelOptions(str(model_path), device="cpu", threads=threads)))
        except app_errors.DetectError as error:
            raise ToolsError(str(error)) from error
        self._postprocessors: Dict[postprocess.PostprocessConfig, postprocess.SSDPostprocessor] = {}

    @property
    def spec(self) -> ModelSpec:
        return self.detector.spec

    @property
    def input_size(self) -> Tuple[int, int]:
        return self.detector.input_size

    @property
    def signature(self) -> runtime.SSDSignature:
        return self.detector.spec.signature

    @property
    def score_kind(self) -> str:
        return self.spec.score_kind

    def _invoke(self, image: Image.Image) -> Tuple[np.ndarray, np.ndarray]:
        return self.detector.infer(self.detector.preprocess(image))

    def raw_outputs(self, image: Image.Image) -> RawOutputs:
        boxes, classes = self._invoke(image)
        return RawOutputs(
            _dequantize(boxes, self.signature.boxes.quantization),
            _dequantize(classes, self.signature.classes.quantization),
            self.score_kind,
        )

    def postprocessor(self, config: postprocess.PostprocessConfig) -> postprocess.SSDPostprocessor:
        if config not in self._postprocessors:
            self._postprocessors[config] = self.spec.postprocessor(config)
        return self._postprocessors[config]

    def detect(self, image: Image.Image, config: postprocess.PostprocessConfig) -> postprocess.RawDetections:
        """Detections on the raw (possibly quantised) outputs, exactly as the board's app computes them."""
        boxes, classes = self._invoke(image)
        return self.postprocessor(config)(boxes, classes)
