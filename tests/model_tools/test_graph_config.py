"""graph_config: the anchor generator's settings fitted to anchors, and a pipeline.config checked
against what its graph says. The anchors fed in come from od_api_anchors.py (the OD API's formula
transcribed), not from the app's generator that the fit is verified with."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from od_api_anchors import generator_of, mobilenet_ssd_feature_maps, od_api_ssd_anchors

from ssdlite_detect.anchors import SSDLITE_MOBILENET_V2_COCO, AnchorConfig, anchors_per_location
from ssdlite_detect.decode import BoxCoderScales
from ssdlite_tools.errors import ToolsError
from ssdlite_tools.graph_config import (
    GraphFacts,
    check_normalisation,
    check_pipeline_against_graph,
    corners_to_centres,
    fit_anchor_config,
    pipeline_from_graph,
)
from ssdlite_tools.pipeline_config import SSDPipeline


def _corners(config: AnchorConfig, feature_maps) -> np.ndarray:
    """The anchors as the graph's MultipleGridAnchorGenerator holds them: (ymin, xmin, ymax, xmax)."""
    spec = type("Spec", (), {"anchors": config})
    centres = od_api_ssd_anchors(generator_of(spec), feature_maps, config.image_size).astype(np.float64)
    half = centres[:, 2:] / 2
    return np.concatenate([centres[:, :2] - half, centres[:, :2] + half], axis=1).astype(np.float32)


ZOO = SSDLITE_MOBILENET_V2_COCO
CONFIGS = {
    "zoo ssdlite_mobilenet_v2_coco": ZOO,
    "explicit scales, no interpolated anchor": dataclasses.replace(
        ZOO, scales=(0.1, 0.25, 0.4, 0.6, 0.75, 0.9), interpolated_scale_aspect_ratio=0.0, aspect_ratios=(1.0, 2.0, 0.5)
    ),
    "no reduced lowest layer, other ratios": dataclasses.replace(
        ZOO, reduce_boxes_in_lowest_layer=False, min_scale=0.15, max_scale=0.9, aspect_ratios=(1.0, 1.5, 0.6667)
    ),
    "non-square 240x320": dataclasses.replace(ZOO, image_size=(240, 320)),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_the_fit_recovers_the_generator_settings(name):
    config = CONFIGS[name]
    maps = tuple(mobilenet_ssd_feature_maps(*config.image_size))
    config = dataclasses.replace(config, feature_map_shapes=maps)
    fitted = fit_anchor_config(_corners(config, maps), maps, anchors_per_location(config), config.image_size, "graph")
    for field in ("num_layers", "aspect_ratios", "interpolated_scale_aspect_ratio", "reduce_boxes_in_lowest_layer",
                  "feature_map_shapes", "image_size"):  # fmt: skip
        assert getattr(fitted, field) == getattr(config, field), field
    if config.scales:
        assert fitted.scales == config.scales
    else:  # linear scales are written as the config would: min_scale and max_scale
        assert (fitted.scales, fitted.min_scale, fitted.max_scale) == ((), config.min_scale, config.max_scale)


def test_anchors_no_generator_setting_gives_are_refused():
    """Explicit strides (a generator the fit does not model) move every centre: refused, naming where."""
    maps = tuple(mobilenet_ssd_feature_maps(300, 300))
    strided = dataclasses.replace(
        ZOO, feature_map_shapes=maps, anchor_strides=((16.0, 16.0), (32.0, 32.0), (64.0, 64.0), (100.0, 100.0),
                                                      (150.0, 150.0), (300.0, 300.0)),
    )  # fmt: skip
    with pytest.raises(ToolsError, match=r"no ssd_anchor_generator setting reproduces the graph's own anchors "
                                         r"\(anchor \d+ \(layer 0\): ycenter"):  # fmt: skip
        fit_anchor_config(_corners(strided, maps), maps, anchors_per_location(strided), (300, 300), "graph")


def test_corners_become_centres_and_sizes():
    centres = corners_to_centres(np.array([[0.1, 0.2, 0.5, 0.4]]))
    np.testing.assert_allclose(centres, [[0.3, 0.3, 0.4, 0.2]])
    with pytest.raises(ToolsError, match=r"shape \[4\], not \[N, 4\]"):
        corners_to_centres(np.zeros(4))


def _facts(**changes) -> GraphFacts:
    facts = GraphFacts(
        source="frozen_inference_graph.pb", input_size=(300, 300), normalisation=(2 / 255, 1.0),
        feature_extractor="ssd_mobilenet_v2", box_coder=BoxCoderScales(), score_converter="SIGMOID", logit_scale=1.0,
        anchors_tensor="Concatenate/concat:0",
    )  # fmt: skip
    return dataclasses.replace(facts, **changes)


def _pipeline(**changes) -> SSDPipeline:
    pipeline = SSDPipeline(
        num_classes=1, input_size=(300, 300), feature_extractor="ssd_mobilenet_v2",
        anchors=dataclasses.replace(ZOO, feature_map_shapes=()), box_coder=BoxCoderScales(),
        score_converter="SIGMOID", logit_scale=1.0, label_map_path="", source="pipeline.config",
    )  # fmt: skip
    return dataclasses.replace(pipeline, **changes)


def test_a_graph_that_normalises_otherwise_is_refused():
    check_normalisation(_facts())
    check_normalisation(_facts(normalisation=None))  # a graph without the preprocessor: nothing to check
    with pytest.raises(ToolsError, match=r"normalises its input as x \* 0.00392157 - 0, but the app feeds"):
        check_normalisation(_facts(normalisation=(1 / 255, 0.0)))


def test_the_pipeline_from_the_graph_alone():
    pipeline = pipeline_from_graph(_facts(), 2, dataclasses.replace(ZOO, feature_map_shapes=((19, 19),)))
    assert pipeline == _pipeline(source="frozen_inference_graph.pb")


def test_what_the_graph_lacks_is_named():
    with pytest.raises(ToolsError, match=r"the graph does not hold the box coder scales \(Postprocessor/Decode\), "
                                         r"the anchors \(MultipleGridAnchorGenerator/\); pass the export folder"):  # fmt: skip
        pipeline_from_graph(_facts(box_coder=None), 2, None)


MAPS = tuple(mobilenet_ssd_feature_maps(300, 300))


def test_a_config_that_matches_its_graph_passes_with_what_was_checked():
    corners = _corners(dataclasses.replace(ZOO, feature_map_shapes=MAPS), MAPS)
    checked = check_pipeline_against_graph(_pipeline(), _facts(), corners, MAPS)
    assert checked == ["fixed_shape_resizer size", "feature extractor", "faster_rcnn_box_coder scales",
                       "score_converter", "logit_scale", "anchors"]  # fmt: skip
    # A graph without the generator or the post-processor: only what it holds is checked.
    assert check_pipeline_against_graph(_pipeline(), _facts(box_coder=None), None, MAPS) == [
        "fixed_shape_resizer size", "feature extractor", "score_converter", "logit_scale"
    ]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"score_converter": "SOFTMAX"}, "says score_converter SOFTMAX but the graph frozen_inference_graph.pb was "
                                         "exported with SIGMOID"),
        ({"box_coder": BoxCoderScales(5.0, 5.0, 5.0, 5.0)}, "says faster_rcnn_box_coder scales y 5 x 5 height 5 width 5 "
                                                            "but the graph"),
        ({"input_size": (320, 320)}, "says fixed_shape_resizer size 320x320 but the graph"),
        ({"anchors": dataclasses.replace(ZOO, min_scale=0.15)}, r"ssd_anchor_generator does not give the anchors the "
                                                                r"graph frozen_inference_graph.pb was trained with \(anchor 1"),
    ],
)
def test_a_config_edited_after_training_is_refused(change, message):
    corners = _corners(dataclasses.replace(ZOO, feature_map_shapes=MAPS), MAPS)
    with pytest.raises(ToolsError, match=message):
        check_pipeline_against_graph(_pipeline(**change), _facts(), corners, MAPS)
