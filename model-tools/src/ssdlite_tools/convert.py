"""TF1 SavedModel -> pruned graph -> float32 and full-int8 TFLite models.

The cut is the reference's (checkpoint.INPUT_TENSOR -> BOX_ENCODINGS_TENSOR, CLASS_LOGITS_TENSOR)
but done with a batch size of 1: the SavedModel is loaded into a TF1 session with its input tensor
replaced (`input_map`) by a [1, 300, 300, 3] float placeholder, so every shape downstream is
static and the heads' dynamic-batch Reshape shapes fold into constants. (recipe.sh prunes with an
unbatched (300, 300, 3) signature and then feeds batched data.)

The int8 model is fully quantised: per-channel int8 weights (the converter's default for full
integer quantisation), int8 activations calibrated on images fed through the app's preprocessing
(see calibration.py), and int8 input/output by default so that nothing runs on the CPU before or
after the NPU (a float interface adds a Quantize and two Dequantize ops that neither the
Ethos-U65 nor the VX delegate would take, and the app quantises its input with a lookup table
anyway). `io_type="float32"` gives the float interface the reference README promised.

Reproducible: no randomness, images in a fixed order, no time stamps in the flatbuffer; the
same TensorFlow version, checkpoint and images give the same bytes (tests convert twice).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .checkpoint import (
    BOX_ENCODINGS_TENSOR,
    CLASS_LOGITS_TENSOR,
    INPUT_HEIGHT,
    INPUT_TENSOR,
    INPUT_WIDTH,
    SERVING_TAGS,
)
from .errors import ToolsError

# Name of the placeholder that replaces INPUT_TENSOR; the TF OD API's own TFLite SSD export
# (export_tflite_ssd_graph) uses this name for the same normalised 300x300 input.
INPUT_NAME = "normalized_input_image_tensor"
IO_TYPES = ("int8", "float32")


@contextlib.contextmanager
def _pruned_session(saved_model_dir: Path):
    """A TF1 session holding the SavedModel with its input replaced by a batch-1 placeholder."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        placeholder = tf.compat.v1.placeholder(tf.float32, [1, INPUT_HEIGHT, INPUT_WIDTH, 3], name=INPUT_NAME)
        with tf.compat.v1.Session(graph=graph) as session:
            try:
                tf.compat.v1.saved_model.loader.load(
                    session, list(SERVING_TAGS), str(saved_model_dir), input_map={INPUT_TENSOR: placeholder}
                )
            except (OSError, RuntimeError, ValueError, tf.errors.OpError) as error:
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ToolsError(f"cannot load SavedModel {saved_model_dir}: {first_line}") from None
            try:
                outputs = [graph.get_tensor_by_name(BOX_ENCODINGS_TENSOR), graph.get_tensor_by_name(CLASS_LOGITS_TENSOR)]
            except KeyError as error:
                raise ToolsError(f"{saved_model_dir} is not an SSD detection graph: {error}") from None
            yield session, placeholder, outputs


def _converter(session, placeholder, outputs):
    import tensorflow as tf

    # from_session freezes the session's graph and keeps only what the outputs need: the
    # preprocessing in front of the cut and the post-processing (NMS) behind it drop out.
    return tf.compat.v1.lite.TFLiteConverter.from_session(session, [placeholder], outputs)


@contextlib.contextmanager
def _quiet_tensorflow():
    """TF1 loading and the converter log deprecation notices and graph dumps; keep output readable."""
    import tensorflow as tf

    logger = tf.get_logger()
    previous = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(previous)


def convert_float(saved_model_dir: Path) -> bytes:
    """The pruned graph as a float32 TFLite model (batch-norm folded by the converter)."""
    with _quiet_tensorflow(), _pruned_session(saved_model_dir) as (session, placeholder, outputs):
        return bytes(_converter(session, placeholder, outputs).convert())


def convert_int8(
    saved_model_dir: Path,
    representative_dataset: Callable[[], Iterator[list[np.ndarray]]],
    *,
    io_type: str = "int8",
) -> bytes:
    """Full-integer model: int8 weights (per channel) and activations, `io_type` input/output."""
    import tensorflow as tf

    if io_type not in IO_TYPES:
        raise ToolsError(f"--io-type must be one of {', '.join(IO_TYPES)}, got {io_type!r}")
    with _quiet_tensorflow(), _pruned_session(saved_model_dir) as (session, placeholder, outputs):
        converter = _converter(session, placeholder, outputs)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        # Fail instead of silently leaving float ops in the graph: every op must have an int8 kernel.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_type == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        try:
            return bytes(converter.convert())
        except Exception as error:  # the converter raises ConverterError/RuntimeError/ValueError
            if isinstance(error, ToolsError):
                raise
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ToolsError(f"int8 conversion failed: {first_line}") from None


def describe_io(model: bytes) -> dict:
    """Name, dtype, shape and quantisation of the model's inputs and outputs (for the manifest)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=model)

    def entry(detail: dict) -> dict:
        scale, zero_point = detail["quantization"]
        return {
            "name": detail["name"],
            "dtype": np.dtype(detail["dtype"]).name,
            "shape": [int(size) for size in detail["shape"]],
            "scale": float(scale),
            "zero_point": int(zero_point),
        }

    return {
        "inputs": [entry(detail) for detail in interpreter.get_input_details()],
        "outputs": [entry(detail) for detail in interpreter.get_output_details()],
    }
