"""Smoke test of the TFLite 2.10.0 parity env built by scripts/setup-tflite210.sh.

The env's Python 3.9 is driven by subprocess: this test runs under the 3.11 app env.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

# Runs the reference SSD on an image inside the env and prints its detections as JSON.
DETECT_SCRIPT = """
import json, sys
import numpy as np
from PIL import Image
from tflite_runtime.interpreter import Interpreter

interpreter = Interpreter(model_path=sys.argv[1])
interpreter.allocate_tensors()
image = np.asarray(Image.open(sys.argv[2]).convert("RGB").resize((300, 300)), np.uint8)
interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
interpreter.invoke()
outputs = [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]
_, classes, scores, count = (output[0] for output in outputs)
n = int(count)
print(json.dumps({"classes": classes[:n].astype(int).tolist(), "scores": scores[:n].tolist()}))
"""


def run_in_env(python: Path, *args: str) -> str:
    result = subprocess.run([str(python), *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_env_has_the_bsp_versions(tflite210_python: Path) -> None:
    versions = run_in_env(
        tflite210_python,
        "-c",
        "import platform, tflite_runtime, numpy, PIL;"
        "print(platform.python_version(), tflite_runtime.__version__, numpy.__version__,"
        " PIL.__version__)",
    )
    python, *packages = versions.split()
    assert python.startswith("3.9.")
    assert packages == ["2.10.0", "1.24.2", "9.4.0"]


def test_reference_ssd_finds_the_bus(tflite210_python: Path, reference: Path) -> None:
    model = reference / "coco_ssd_mobilenet_v1_postprocess.tflite"
    labels = (reference / "coco_labels.txt").read_text().splitlines()

    output = run_in_env(tflite210_python, "-c", DETECT_SCRIPT, str(model), str(reference / "bus.jpg"))
    detections = json.loads(output)

    # The op counts classes from 0 without background: op class c is label line c + 1.
    labelled = zip(detections["classes"], detections["scores"])
    bus_scores = [score for op_class, score in labelled if labels[op_class + 1] == "bus"]
    assert bus_scores and max(bus_scores) > 0.5, detections
