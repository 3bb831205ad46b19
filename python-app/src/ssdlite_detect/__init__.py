"""ssdlite_detect: SSDLite MobileNetV2 object detection for NXP i.MX boards.

`Detector` is the entry point (`Detector.open()`; `open_model` resolves a model on its own); the numeric parts (anchors, decode, nms, postprocess, preprocess)
are importable on their own. Attributes load lazily so that `ssdlite-detect --help` does not pay
for numpy, Pillow or the TFLite runtime.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Detector": "detector",
    "ModelOptions": "model",
    "ModelSpec": "model",
    "open_model": "model",
    "Detection": "results",
    "DetectionResult": "results",
    "BBox": "results",
    "PostprocessConfig": "postprocess",
    "DetectError": "errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
