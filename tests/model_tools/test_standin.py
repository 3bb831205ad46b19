"""The stand-in checkpoint has the real SSDLite MobileNetV2 graph: names, shapes, size, sane outputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ssdlite_detect.anchors import generate_anchors
from ssdlite_detect.preprocess import load_image, prepare_input
from ssdlite_tools.checkpoint import BOX_ENCODINGS_TENSOR, CLASS_LOGITS_TENSOR, INPUT_TENSOR, STAND_IN_MARKER

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def loaded(standin_saved_model):
    """(graph, session) with the SavedModel loaded as a TF1 graph, the way `convert` loads it."""
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(standin_saved_model))
    yield graph, session, meta_graph
    session.close()


def _shape(graph, name):
    return graph.get_tensor_by_name(name).shape.as_list()


def test_cut_tensors_have_the_zoo_graph_names_and_shapes(loaded):
    graph, _, _ = loaded
    assert _shape(graph, INPUT_TENSOR) == [None, 300, 300, 3]
    assert graph.get_tensor_by_name(INPUT_TENSOR).op.type == "Identity"
    assert _shape(graph, BOX_ENCODINGS_TENSOR) == [None, 1917, 1, 4]
    assert _shape(graph, CLASS_LOGITS_TENSOR) == [None, 1917, 91]
    # The uint8 image input and the preprocessing sit in front of the cut, as in the zoo graph.
    assert graph.get_tensor_by_name("image_tensor:0").dtype == tf.uint8


def test_backbone_and_feature_maps_match_ssdlite_mobilenet_v2(loaded):
    graph, _, _ = loaded
    base = "FeatureExtractor/MobilenetV2/"
    expected_shapes = {
        base + "Conv/Relu6:0": [None, 150, 150, 32],
        base + "expanded_conv/output:0": [None, 150, 150, 16],
        # layer_15/expansion_output: the first feature map, 19x19 with 6 x 96 channels
        base + "expanded_conv_13/expansion_output:0": [None, 19, 19, 576],
        base + "expanded_conv_16/output:0": [None, 10, 10, 320],
        base + "Conv_1/Relu6:0": [None, 10, 10, 1280],  # layer_19
        base + "layer_19_2_Conv2d_2_3x3_s2_512/Relu6:0": [None, 5, 5, 512],
        base + "layer_19_2_Conv2d_3_3x3_s2_256/Relu6:0": [None, 3, 3, 256],
        base + "layer_19_2_Conv2d_4_3x3_s2_256/Relu6:0": [None, 2, 2, 256],
        base + "layer_19_2_Conv2d_5_3x3_s2_128/Relu6:0": [None, 1, 1, 128],
        base + "layer_19_1_Conv2d_5_1x1_64/Relu6:0": [None, 2, 2, 64],
        # SSDLite heads: depthwise 3x3 then 1x1; 3 anchors per cell on the first map, 6 after
        "BoxPredictor_0/ClassPredictor/BiasAdd:0": [None, 19, 19, 3 * 91],
        "BoxPredictor_0/BoxEncodingPredictor/BiasAdd:0": [None, 19, 19, 3 * 4],
        "BoxPredictor_5/ClassPredictor_depthwise/Relu6:0": [None, 1, 1, 128],
        "BoxPredictor_5/ClassPredictor/BiasAdd:0": [None, 1, 1, 6 * 91],
    }
    for name, shape in expected_shapes.items():
        assert _shape(graph, name) == shape, name
    assert graph.get_operation_by_name("BoxPredictor_3/BoxEncodingPredictor_depthwise/depthwise").type == (
        "DepthwiseConv2dNative"
    )


def test_batch_norm_is_unfolded_with_epsilon_0_001_and_relu6_everywhere(loaded):
    graph, _, _ = loaded
    ops = graph.get_operations()
    batch_norms = [op for op in ops if op.type == "FusedBatchNorm"]
    # 52 convolutions with batch norm in MobileNetV2 to layer_19, 12 in the extra layers,
    # 12 depthwise convolutions in the six heads.
    assert len(batch_norms) == 52 + 12 + 12
    assert all(op.get_attr("epsilon") == pytest.approx(0.001) for op in batch_norms)
    assert not any(op.type in ("Relu", "Elu", "Sigmoid") and "Postprocessor" not in op.name for op in ops)
    assert sum(op.type == "Relu6" for op in ops) == 35 + 12 + 12


def test_parameter_count_matches_the_published_4_3_million(loaded):
    graph, _, _ = loaded
    trained = 0
    for op in graph.get_operations():
        if op.type == "Const" and op.name.split("/")[-1] in (
            "weights", "depthwise_weights", "biases", "gamma", "beta"
        ):  # fmt: skip
            trained += int(np.prod(op.outputs[0].shape.as_list()))
    assert 4.2e6 < trained < 4.6e6, trained


def test_signature_and_marker(loaded, standin_saved_model):
    _, _, meta_graph = loaded
    signature = meta_graph.signature_def["serving_default"]
    assert signature.inputs["inputs"].name == "image_tensor:0"
    marker = json.loads((Path(standin_saved_model) / STAND_IN_MARKER).read_text())
    assert marker["stand_in"] is True


def test_outputs_are_sane_and_depend_on_the_image(loaded, holdout_images):
    graph, session, _ = loaded
    outputs = [graph.get_tensor_by_name(BOX_ENCODINGS_TENSOR), graph.get_tensor_by_name(CLASS_LOGITS_TENSOR)]
    results = []
    for path in holdout_images[:2]:
        feed = prepare_input(load_image(str(path)), 300, 300)
        results.append(session.run(outputs, {INPUT_TENSOR: feed}))
    for boxes, logits in results:
        assert np.isfinite(boxes).all() and np.isfinite(logits).all()
        assert 0.3 < boxes.std() < 2.0
        scores = 1.0 / (1.0 + np.exp(-logits[..., 1:]))
        confident = int((scores > 0.5).sum())
        # not degenerate: some anchors fire, most do not
        assert 10 < confident < 0.02 * scores.size, confident
    (boxes_a, logits_a), (boxes_b, logits_b) = results
    assert np.abs(logits_a - logits_b).mean() > 0.2
    assert np.abs(boxes_a - boxes_b).mean() > 0.1
    assert boxes_a.shape[1] == generate_anchors().shape[0]


def test_weights_are_the_same_every_time(standin_saved_model, tmp_path):
    from ssdlite_tools.standin import write_standin_export

    def constants(folder):
        graph = tf.Graph()
        with tf.compat.v1.Session(graph=graph) as session:
            tf.compat.v1.saved_model.loader.load(session, ["serve"], str(folder))
        return {
            node.name: node.attr["value"].tensor.tensor_content
            for node in graph.as_graph_def().node
            if node.op == "Const"
        }

    fresh = constants(write_standin_export(tmp_path / "again") / "saved_model")
    cached = constants(standin_saved_model)
    assert fresh.keys() == cached.keys()
    assert all(fresh[name] == cached[name] for name in fresh)
