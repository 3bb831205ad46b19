"""The TensorFlow Lite interpreter: which runtime module, loading a model, delegates, and finding
the model's input and SSD outputs by shape and dtype (never by index).

Runtime modules, in order: `tflite_runtime` (what the BSP's tensorflow-lite package installs),
then `ai_edge_litert` and TensorFlow's `tf.lite` for hosts. Imported lazily, so `--help` stays fast.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import stat
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .errors import DelegateError, ModelError, RuntimeMissingError
from .flatbuffer import FlatBufferError, verify_tflite

_RUNTIME_MODULES = ("tflite_runtime.interpreter", "ai_edge_litert.interpreter", "tensorflow")
_TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite
_ETHOS_U_CUSTOM_OP = b"ethos-u"  # the custom op Vela puts in place of the graph it compiled
_INPUT_DTYPES = (np.float32, np.int8, np.uint8)


@dataclass(frozen=True)
class Runtime:
    name: str
    interpreter_class: Any
    load_delegate: Any
    op_resolver_without_default_delegates: Any  # None where the runtime has no such option


def import_runtime() -> Runtime:
    """The first TFLite interpreter module that imports, or RuntimeMissingError."""
    for module_name in _RUNTIME_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if module_name == "tensorflow":
            # The public tf.lite API (importing "tensorflow.lite" itself gives an internal package).
            module = module.lite
            load_delegate = module.experimental.load_delegate
            resolver_type = getattr(module.experimental, "OpResolverType", None)
        else:
            load_delegate = module.load_delegate
            resolver_type = getattr(module, "OpResolverType", None)
        without_defaults = getattr(resolver_type, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", None)
        return Runtime(module_name.split(".")[0], module.Interpreter, load_delegate, without_defaults)
    raise RuntimeMissingError(
        "no TensorFlow Lite runtime found: install the tensorflow-lite package on the board, "
        "or `pip install tflite-runtime` on a host"
    )


def read_model(path: str) -> bytes:
    """The model file's bytes, checked to be a well-formed TFLite flatbuffer (flatbuffer.py):
    TFLite itself would crash on a truncated or corrupt one instead of reporting it."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise ModelError(f"model path is a directory: {path}")
        if not stat.S_ISREG(mode):  # a FIFO would block the read for ever
            raise ModelError(f"cannot read model {path}: not a regular file")
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except OSError as error:
        raise ModelError(f"cannot read model {path}: {error.strerror or error}") from None
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise ModelError(f"{path} is not a TensorFlow Lite model (no TFL3 flatbuffer identifier)")
    try:
        verify_tflite(data)
    except FlatBufferError as error:
        raise ModelError(f"{path} is truncated or corrupt: {error}") from None
    return data


def is_vela_model(model: bytes) -> bool:
    """Vela replaces what it compiles with one custom operator whose code is "ethos-u"."""
    return _ETHOS_U_CUSTOM_OP in model


@dataclass(frozen=True)
class TensorSpec:
    index: int
    name: str
    shape: Tuple[int, ...]
    dtype: np.dtype
    quantization: Optional[Tuple[float, int]]  # (scale, zero_point) for quantised tensors

    @classmethod
    def from_details(cls, details: Dict[str, Any]) -> "TensorSpec":
        scale, zero_point = details.get("quantization", (0.0, 0))
        quantization = (float(scale), int(zero_point)) if scale else None
        return cls(
            int(details["index"]), str(details["name"]), tuple(int(d) for d in details["shape"]),
            np.dtype(details["dtype"]), quantization,
        )


@dataclass(frozen=True)
class SSDSignature:
    """Where the image goes in and the raw SSD outputs come out."""

    input: TensorSpec
    boxes: TensorSpec    # [1, N, 4] or [1, N, 1, 4] box encodings
    classes: TensorSpec  # [1, N, C] class logits or probabilities, column 0 = background

    @property
    def input_size(self) -> Tuple[int, int]:
        """(height, width) of the input image."""
        return self.input.shape[1], self.input.shape[2]

    @property
    def num_anchors(self) -> int:
        return self.boxes.shape[1]

    @property
    def num_classes(self) -> int:
        return self.classes.shape[-1]


def _is_box_output(spec: TensorSpec) -> bool:
    return len(spec.shape) in (3, 4) and spec.shape[0] == 1 and spec.shape[-1] == 4 and (
        len(spec.shape) == 3 or spec.shape[2] == 1
    )


def _is_class_output(spec: TensorSpec) -> bool:
    return len(spec.shape) == 3 and spec.shape[0] == 1 and spec.shape[2] >= 2


def identify_ssd_tensors(
    input_details: Sequence[Dict[str, Any]], output_details: Sequence[Dict[str, Any]], source: str
) -> SSDSignature:
    """Find the image input and the box/class outputs, or raise ModelError saying what is wrong."""
    if len(input_details) != 1:
        raise ModelError(f"{source}: expected 1 input (the image), found {len(input_details)}")
    image = TensorSpec.from_details(input_details[0])
    if len(image.shape) != 4 or image.shape[0] != 1 or image.shape[3] != 3 or image.dtype not in _INPUT_DTYPES:
        raise ModelError(
            f"{source}: expected an image input [1, H, W, 3] of float32, int8 or uint8, "
            f"found {list(image.shape)} {image.dtype}"
        )
    if image.dtype != np.float32 and image.quantization is None:
        raise ModelError(f"{source}: the {image.dtype} input has no quantisation parameters")
    outputs = [TensorSpec.from_details(d) for d in output_details]
    if len(outputs) == 4 and all(o.dtype == np.float32 for o in outputs) and any(len(o.shape) == 1 for o in outputs):
        raise ModelError(
            f"{source}: ends in TFLite_Detection_PostProcess; give the model cut before it "
            "(raw box encodings and class scores)"
        )
    boxes = [o for o in outputs if _is_box_output(o)]
    classes = [o for o in outputs if _is_class_output(o) and o not in boxes]
    if len(boxes) == 2 and not classes:
        # A 3-class model: both outputs end in 4; the class tensor is the 3-D one named like scores.
        by_name = [o for o in boxes if any(k in o.name.lower() for k in ("class", "score", "concat_1"))]
        if len(by_name) == 1:
            classes, boxes = by_name, [o for o in boxes if o is not by_name[0]]
    if len(boxes) != 1 or len(classes) != 1 or boxes[0].shape[1] != classes[0].shape[1]:
        found = ", ".join(f"{o.name} {list(o.shape)} {o.dtype}" for o in outputs) or "none"
        raise ModelError(
            f"{source}: expected SSD outputs box encodings [1, N, 4] and class scores [1, N, C], found {found}"
        )
    for spec in (boxes[0], classes[0]):
        if spec.dtype != np.float32 and spec.quantization is None:
            raise ModelError(f"{source}: output {spec.name} is {spec.dtype} without quantisation parameters")
    return SSDSignature(image, boxes[0], classes[0])


def read_model_anchors(interpreter, num_anchors: int) -> Optional[np.ndarray]:
    """The anchors a TFLite-exported SSD carries as a constant tensor named "anchors", dequantised
    to float32 [N, 4] (ycenter, xcenter, h, w); None when the model has none.

    TFLite's own post-processing op decodes with exactly these (quantised) values, so using them
    reproduces its boxes; models cut before post-processing (ours) have none and get generated ones.
    """
    for details in interpreter.get_tensor_details():
        if details["name"] != "anchors" or tuple(details["shape"]) != (num_anchors, 4):
            continue
        try:
            values = interpreter.get_tensor(details["index"])
        except ValueError:
            return None  # not a readable constant
        scale, zero_point = details.get("quantization", (0.0, 0))
        if scale:
            return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
        return values.astype(np.float32)
    return None


def count_delegated_partitions(interpreter) -> Optional[int]:
    """How many graph partitions a delegate replaced (nodes named DELEGATE), or None if the
    runtime cannot tell. Only meaningful after allocate_tensors()."""
    ops_details = getattr(interpreter, "_get_ops_details", None)
    if ops_details is None:
        return None
    return sum(1 for op in ops_details() if op.get("op_name") == "DELEGATE")


_DELEGATE_ENTRY_POINTS = ("tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate")


def _check_delegate_library(path: str) -> None:
    """Open the library ourselves first: when TFLite's load_delegate fails on a file that is not a
    delegate, its Delegate object prints an "Exception ignored" traceback as it is collected."""
    if not os.path.exists(path):
        raise DelegateError(f"delegate not found: {path}")
    try:
        library = ctypes.CDLL(path)
    except OSError as error:
        raise DelegateError(f"cannot load delegate {path}: {error}") from None
    missing = [symbol for symbol in _DELEGATE_ENTRY_POINTS if not hasattr(library, symbol)]
    if missing:
        raise DelegateError(f"cannot load delegate {path}: not a TFLite external delegate (no {missing[0]})")


def create_interpreter(
    runtime: Runtime,
    model_path: str,
    threads: Optional[int] = None,
    delegate_path: Optional[str] = None,
    delegate_options: Optional[Dict[str, str]] = None,
):
    """An interpreter with tensors allocated; with a delegate, check that it took part of the graph.

    With an external delegate, TFLite's default delegate (XNNPACK) is turned off so that every
    DELEGATE node counted belongs to the external one.
    """
    read_model(model_path)  # TFLite reads the file itself, unchecked: check it first
    kwargs: Dict[str, Any] = {"model_path": model_path}
    if threads is not None:
        kwargs["num_threads"] = threads
    if delegate_path is not None:
        _check_delegate_library(delegate_path)
        try:
            delegate = runtime.load_delegate(delegate_path, delegate_options or {})
        except (ValueError, OSError, RuntimeError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DelegateError(f"cannot load delegate {delegate_path}: {reason}") from None
        kwargs["experimental_delegates"] = [delegate]
        if runtime.op_resolver_without_default_delegates is not None:
            kwargs["experimental_op_resolver_type"] = runtime.op_resolver_without_default_delegates
    try:
        interpreter = runtime.interpreter_class(**kwargs)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        message = " ".join(str(error).split())
        if delegate_path is not None:
            raise DelegateError(f"delegate {delegate_path} failed on {model_path}: {message}") from None
        raise ModelError(f"cannot load {model_path}: {message}") from None
    if delegate_path is not None and count_delegated_partitions(interpreter) == 0:
        raise DelegateError(f"delegate {delegate_path} loaded but took no part of {model_path}'s graph")
    return interpreter
