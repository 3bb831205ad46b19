"""Fixtures of the app tests: the reference SSD cut before its post-processing, and TFLite's own
TFLite_Detection_PostProcess op as a standalone model (the ground truth for decoding + NMS)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssdlite_detect.runtime import TensorSpec


class ReferenceSSD:
    """coco_ssd_mobilenet_v1_raw.tflite: image in, raw uint8 box encodings and scores out."""

    def __init__(self, folder: Path):
        from tflite_runtime.interpreter import Interpreter

        self.path = folder / "coco_ssd_mobilenet_v1_raw.tflite"
        self.interpreter = Interpreter(model_path=str(self.path))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        outputs = {d["name"]: d for d in self.interpreter.get_output_details()}
        self.boxes = TensorSpec.from_details(outputs["Squeeze"])
        self.scores = TensorSpec.from_details(outputs["convert_scores"])
        anchors = next(d for d in self.interpreter.get_tensor_details() if d["name"] == "anchors")
        self.anchors_quantized = self.interpreter.get_tensor(anchors["index"])
        self.anchors_quantization = anchors["quantization"]
        scale, zero_point = anchors["quantization"]
        # The op decodes with these dequantised anchors, so matching it needs exactly them.
        self.anchors = (self.anchors_quantized.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)

    def raw_outputs(self, image: Image.Image):
        """uint8 [1917, 4] box encodings and [1917, 91] scores for an RGB image (stretched to 300x300)."""
        pixels = np.asarray(image.convert("RGB").resize((300, 300), Image.BILINEAR), np.uint8)
        return self.raw_outputs_for_tensor(pixels[None])

    def raw_outputs_for_tensor(self, input_tensor: np.ndarray):
        self.interpreter.set_tensor(self.input["index"], input_tensor)
        self.interpreter.invoke()
        return (
            self.interpreter.get_tensor(self.boxes.index)[0],
            self.interpreter.get_tensor(self.scores.index)[0],
        )


class TFLitePostprocessOp:
    """coco_ssd_postprocess_only.tflite: TFLite's C++ op on raw outputs we feed it."""

    def __init__(self, folder: Path):
        from tflite_runtime.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(folder / "coco_ssd_postprocess_only.tflite"))
        self.interpreter.allocate_tensors()
        self.inputs = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self.outputs = [d["index"] for d in self.interpreter.get_output_details()]

    def __call__(self, box_encodings: np.ndarray, scores: np.ndarray):
        """(boxes [n, 4] ymin,xmin,ymax,xmax, class ids [n] with background = 0, scores [n])."""
        self.interpreter.set_tensor(self.inputs["Squeeze"], box_encodings.reshape(1, -1, 4))
        self.interpreter.set_tensor(self.inputs["convert_scores"], scores.reshape(1, box_encodings.shape[0], -1))
        self.interpreter.invoke()
        boxes, classes, op_scores, count = (self.interpreter.get_tensor(i) for i in self.outputs)
        n = int(count[0])
        # The op numbers classes from 0 without background; our class ids are output columns.
        return boxes[0, :n], classes[0, :n].astype(np.int64) + 1, op_scores[0, :n]


@pytest.fixture(scope="session")
def reference_ssd(reference: Path) -> ReferenceSSD:
    return ReferenceSSD(reference)


@pytest.fixture(scope="session")
def tflite_op(reference: Path) -> TFLitePostprocessOp:
    return TFLitePostprocessOp(reference)


@pytest.fixture(scope="session")
def bus_image(reference: Path) -> Image.Image:
    with Image.open(reference / "bus.jpg") as image:
        return image.convert("RGB")


@pytest.fixture
def small_tmpfs(tmp_path):
    """mount(size_kib) -> a real tmpfs of that size (a full disk on demand), unmounted afterwards.
    Skips where mounting is not allowed (not root)."""
    mounted_points = []

    def mount(size_kib: int) -> Path:
        mount_point = tmp_path / f"tmpfs-{len(mounted_points)}"
        mount_point.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mount_point)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
        mounted_points.append(mount_point)
        return mount_point

    yield mount
    for mount_point in mounted_points:
        subprocess.run(["umount", str(mount_point)], check=True)
