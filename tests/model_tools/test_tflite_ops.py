"""The stdlib flatbuffer reader: operator codes/versions and graph inputs/outputs of .tflite files."""

from __future__ import annotations

from collections import Counter

import pytest
from bsp_gate_support import one_operator_model
from ssdlite_tools.tflite_ops import ModelFormatError, OperatorCode, read_model, read_model_bytes


def test_reads_operators_of_the_reference_ssd(reference):
    summary = read_model(reference / "coco_ssd_mobilenet_v1_raw.tflite")

    # TOCO's SSD MobileNet v1: CONV_2D=3, DEPTHWISE_CONV_2D=4, RESHAPE=22, CONCATENATION=2, LOGISTIC=14.
    assert summary.operator_counts() == Counter(
        {
            OperatorCode(3, 1): 34,
            OperatorCode(4, 1): 13,
            OperatorCode(22, 1): 13,
            OperatorCode(2, 1): 2,
            OperatorCode(14, 1): 1,
        }
    )


def test_reads_graph_inputs_and_outputs_with_quantisation(reference):
    summary = read_model(reference / "coco_ssd_mobilenet_v1_raw.tflite")

    (image,) = summary.inputs
    assert (image.name, image.shape, image.dtype, image.quantization) == (
        "normalized_input_image_tensor",
        (1, 300, 300, 3),
        "uint8",
        (0.0078125, 128),
    )
    boxes, scores = summary.outputs
    assert (boxes.name, boxes.shape, boxes.quantization) == (
        "Squeeze",
        (1, 1917, 4),
        (pytest.approx(0.07902787625789642), 191),
    )
    assert (scores.name, scores.shape, scores.quantization) == ("convert_scores", (1, 1917, 91), (0.00390625, 0))


def test_reads_custom_operator_names(reference):
    summary = read_model(reference / "coco_ssd_mobilenet_v1_postprocess.tflite")

    custom = [op for op in summary.operators if op.code.is_custom]
    assert [op.code.custom_code for op in custom] == ["TFLite_Detection_PostProcess"]
    assert custom[0].output_names[0] == "TFLite_Detection_PostProcess"


def test_codes_above_127_come_from_the_extended_field():
    # GELU = 150 does not fit the int8 field, which then holds 127 (PLACEHOLDER_FOR_GREATER_OP_CODES).
    summary = read_model_bytes(one_operator_model(150, 2))

    assert [op.code for op in summary.operators] == [OperatorCode(150, 2)]


def test_rejects_files_that_are_not_tflite(tmp_path):
    not_a_model = tmp_path / "photo.tflite"
    not_a_model.write_bytes(b"\xff\xd8\xff\xe0 JFIF not a model at all")

    with pytest.raises(ModelFormatError, match="not a TFLite model"):
        read_model(not_a_model)


def test_rejects_truncated_models(reference):
    data = (reference / "coco_ssd_mobilenet_v1_raw.tflite").read_bytes()

    with pytest.raises(ModelFormatError, match="truncated or corrupt"):
        read_model_bytes(data[:4096])
