"""`convert`: the cut, full-int8 quantisation with the app's preprocessing, reproducible bytes."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ssdlite_detect.preprocess import input_lookup_table, load_image, prepare_input
from ssdlite_tools.calibration import (
    CALIBRATION_SEED,
    CalibrationImage,
    calibration_batches,
    select_calibration_images,
)
from ssdlite_tools.errors import ToolsError
from ssdlite_tools.workspace import CONVERSION_RECORD, INT8_MODEL_NAME, convert_dir

tf = pytest.importorskip("tensorflow")

# What the int8 SSDLite graph may contain once the cut removed pre- and post-processing.
ALLOWED_INT8_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RESHAPE", "CONCATENATION"}


def _interpreter(path: Path):
    # Without XNNPACK, which would replace the ops it takes by one DELEGATE node in the listing.
    interpreter = tf.lite.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    return interpreter


def _op_names(interpreter) -> set[str]:
    return {op["op_name"] for op in interpreter._get_ops_details()}


def _run(interpreter, feed: np.ndarray) -> list[np.ndarray]:
    """Outputs as float (dequantised when int8), boxes first."""
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], feed)
    interpreter.invoke()
    results = []
    for detail in sorted(interpreter.get_output_details(), key=lambda detail: detail["shape"][-1]):
        value = interpreter.get_tensor(detail["index"]).astype(np.float32)
        scale, zero_point = detail["quantization"]
        results.append((value - zero_point) * scale if scale else value)
    return results


def test_int8_model_has_int8_io_and_the_cut_shapes(standin_int8_tflite):
    interpreter = _interpreter(standin_int8_tflite)
    (model_input,) = interpreter.get_input_details()
    assert model_input["dtype"] == np.int8
    assert list(model_input["shape"]) == [1, 300, 300, 3]
    outputs = {detail["name"]: detail for detail in interpreter.get_output_details()}
    assert set(outputs) == {"concat", "concat_1"}
    assert list(outputs["concat"]["shape"]) == [1, 1917, 1, 4]
    assert list(outputs["concat_1"]["shape"]) == [1, 1917, 91]
    assert all(detail["dtype"] == np.int8 for detail in outputs.values())


def test_int8_input_range_is_the_apps_minus_one_to_one(standin_int8_tflite):
    """The input scale comes from the calibration data's range: [-1, 1] gives 2/255 and -1.

    With the reference's ImageNet mean/std calibration the range would be about [-2.1, 2.6].
    The app's int8 lookup table then spans the int8 range.
    """
    (model_input,) = _interpreter(standin_int8_tflite).get_input_details()
    scale, zero_point = model_input["quantization"]
    assert scale == pytest.approx(2.0 / 255.0, rel=1e-6)
    assert zero_point == -1
    table = input_lookup_table(np.int8, (scale, zero_point))
    # pixel 0 -> -1.0 -> -128, pixel 255 -> +1.0 -> 126: the whole int8 range minus one step
    assert table[0] == -128 and table[255] == 126


def test_int8_model_is_fully_integer_with_per_channel_weights(standin_int8_tflite):
    interpreter = _interpreter(standin_int8_tflite)
    assert _op_names(interpreter) <= ALLOWED_INT8_OPS
    float_tensors = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
    assert float_tensors == []
    conv_weights = 0
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weights = interpreter.get_tensor_details()[op["inputs"][1]]
            channels = weights["shape"][0] if op["op_name"] == "CONV_2D" else weights["shape"][3]
            assert len(weights["quantization_parameters"]["scales"]) == channels > 1, weights["name"]
            conv_weights += 1
    # 52 + 12 + 12 batch-normalised convolutions plus 12 head convolutions
    assert conv_weights == 88


def test_float_model_keeps_float_io_and_no_postprocessing(standin_float_tflite):
    interpreter = _interpreter(standin_float_tflite)
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert interpreter.get_input_details()[0]["name"] == "normalized_input_image_tensor"
    assert _op_names(interpreter) <= ALLOWED_INT8_OPS  # no resize, no sigmoid, no NMS: the cut held


def _mean_logit_error(int8_model: bytes | Path, float_model: Path, images: list[Path]) -> float:
    """Mean |int8 - float| of the class logits over `images` (int8 outputs dequantised)."""
    if isinstance(int8_model, Path):
        int8_model = int8_model.read_bytes()
    quantised = tf.lite.Interpreter(model_content=int8_model)
    quantised.allocate_tensors()
    reference = _interpreter(float_model)
    quantisation = tuple(quantised.get_input_details()[0]["quantization"])
    errors = []
    for path in images:
        image = load_image(str(path))
        float_boxes, float_logits = _run(reference, prepare_input(image, 300, 300))
        int8_boxes, int8_logits = _run(quantised, prepare_input(image, 300, 300, np.int8, quantisation))
        # A floor that any working int8 conversion of this graph clears (about 0.88 measured;
        # random weights quantise worse than trained ones).
        assert np.corrcoef(float_logits.ravel(), int8_logits.ravel())[0, 1] > 0.8, path.name
        assert np.corrcoef(float_boxes.ravel(), int8_boxes.ravel())[0, 1] > 0.8, path.name
        errors.append(np.abs(float_logits - int8_logits).mean())
    return float(np.mean(errors))


def test_calibrating_with_the_apps_preprocessing_beats_the_references_normalisation(
    standin_int8_tflite, standin_float_tflite, standin_saved_model, calibration_images, holdout_images, tmp_path
):
    """Flaw 1 of recipe.sh, as a negative control: ImageNet mean/std calibration data.

    On photos it was not calibrated on, our int8 model must track the float model clearly better
    than the same conversion calibrated the reference's way.
    """
    from ssdlite_tools.checkpoint import open_checkpoint
    from ssdlite_tools.convert import convert_int8, find_graph_cut

    mean = np.array([103.53, 116.28, 123.675], np.float32) / 255.0
    std = np.array([57.375, 57.12, 58.395], np.float32) / 255.0

    def reference_calibration():
        for path in calibration_images:
            pixels = np.asarray(load_image(str(path)).resize((300, 300)), np.float32) / 255.0
            yield [((pixels - mean) / std)[None]]

    model = find_graph_cut(open_checkpoint(standin_saved_model, tmp_path), (300, 300))
    miscalibrated = convert_int8(model, reference_calibration)
    ours = _mean_logit_error(standin_int8_tflite, standin_float_tflite, holdout_images)
    reference = _mean_logit_error(miscalibrated, standin_float_tflite, holdout_images)
    assert ours < 0.9 * reference, (ours, reference)


def test_conversion_record(standin_workdir, calibration_images):
    record = json.loads((convert_dir(standin_workdir) / CONVERSION_RECORD).read_text())
    assert record["stand_in"] is True
    assert record["source_checkpoint"]["verified"] is False
    assert record["cut"] == {
        "input": "FeatureExtractor/MobilenetV2/MobilenetV2/input:0",
        "outputs": ["concat:0", "concat_1:0"],
    }
    assert sorted(image["file"] for image in record["calibration"]["images"]) == sorted(
        path.name for path in calibration_images
    )
    assert record["io_type"] == "int8"
    assert record["quantization"]["inputs"][0]["zero_point"] == -1
    assert record["tool_versions"]["tensorflow"] == tf.__version__


def test_converting_again_in_a_new_process_gives_identical_bytes(
    standin_workdir, standin_saved_model, calibration_images, subprocess_command, tmp_path
):
    """Byte-reproducible: a second conversion, in a fresh interpreter with another hash seed."""
    env = dict(os.environ, PYTHONHASHSEED="12345", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [
            sys.executable, "-c", subprocess_command, "convert",
            "--workdir", str(tmp_path),
            "--checkpoint", str(standin_saved_model),
            "--calibration-dir", str(calibration_images[0].parent),
            "--calibration-images", str(len(calibration_images)),
            "--no-progress",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for name in os.listdir(convert_dir(standin_workdir)):
        cached = (convert_dir(standin_workdir) / name).read_bytes()
        assert (convert_dir(tmp_path) / name).read_bytes() == cached, f"{name} differs between conversions"


def test_float32_io_option(standin_saved_model, calibration_images, run_tool, tmp_path):
    run_tool(
        "convert",
        [
            "--workdir", str(tmp_path),
            "--checkpoint", str(standin_saved_model),
            "--calibration-dir", str(calibration_images[0].parent),
            "--calibration-images", "2",
            "--io-type", "float32",
            "--no-progress",
        ],
    )  # fmt: skip
    interpreter = _interpreter(convert_dir(tmp_path) / INT8_MODEL_NAME)
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert all(detail["dtype"] == np.float32 for detail in interpreter.get_output_details())
    # int8 inside: the float interface costs one Quantize in front and a Dequantize per output.
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    assert ops.count("QUANTIZE") == 1 and ops.count("DEQUANTIZE") == 2
    conv_inputs = [op["inputs"][0] for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
    assert interpreter.get_tensor_details()[conv_inputs[0]]["dtype"] == np.int8


def test_selection_is_recipe_sh_procedure_and_prefix_stable(tmp_path):
    names = [f"{image_id:012d}.jpg" for image_id in (139, 285, 632, 724, 776, 785, 802, 872, 885, 1000, 1268)]
    for name in reversed(names):  # creation order must not matter
        (tmp_path / name).write_bytes(name.encode())
    (tmp_path / "notes.txt").write_text("not an image")
    # recipe.sh: random.seed(1337); img_list = sorted(glob('val2017/*')); random.shuffle(img_list)
    reference = sorted(str(tmp_path / name) for name in names)
    random.seed(CALIBRATION_SEED)
    random.shuffle(reference)
    selected = select_calibration_images(tmp_path, 5)
    assert [str(image.path) for image in selected] == reference[:5]
    assert selected[0].image_id == int(Path(reference[0]).stem)
    assert [image.path for image in select_calibration_images(tmp_path, 3)] == [image.path for image in selected[:3]]


def test_calibration_feeds_exactly_the_apps_preprocessing(calibration_images):
    images = [CalibrationImage(path, "") for path in calibration_images[:2]]
    batches = list(calibration_batches(images, 300, 300, progress=False))
    for (batch,), path in zip(batches, calibration_images):
        expected = prepare_input(load_image(str(path)), 300, 300)
        assert batch.dtype == np.float32 and batch.shape == (1, 300, 300, 3)
        np.testing.assert_array_equal(batch, expected)
        assert batch.min() >= -1.0 and batch.max() <= 1.0


def test_too_few_or_unreadable_calibration_images(tmp_path, standin_saved_model):
    (tmp_path / "one.jpg").write_bytes(b"this is not a JPEG")
    with pytest.raises(ToolsError, match="has 1 images, 2 are needed"):
        select_calibration_images(tmp_path, 2)
    (image,) = select_calibration_images(tmp_path, 1)
    with pytest.raises(ToolsError, match="calibration image unusable: .*one.jpg"):
        list(calibration_batches([image], 300, 300, progress=False))
    with pytest.raises(ToolsError, match="does not exist"):
        select_calibration_images(tmp_path / "missing", 1)


def test_missing_checkpoint_names_fetch_and_the_option(run_tool, tmp_path):
    with pytest.raises(ToolsError, match=r"ssdlite-tools fetch.*--checkpoint"):
        run_tool("convert", ["--workdir", str(tmp_path), "--no-progress"])
    with pytest.raises(ToolsError, match="no saved_model.pb"):
        run_tool("convert", ["--workdir", str(tmp_path), "--checkpoint", str(tmp_path), "--no-progress"])
