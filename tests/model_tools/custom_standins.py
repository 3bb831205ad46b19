"""Retrained-model stand-ins: what an OEM retraining SSDLite MobileNetV2 with the OD API exports.

Test data only (random weights, the real graph structure; see ssdlite_tools.standin). Each spec
differs from the COCO model where a retrained model can:
  parts_sigmoid_320         3 classes, 320x320, SIGMOID, non-default anchor generator (scales
                            0.15..0.9, three aspect ratios, interpolated ratio 1.5, no reduced
                            lowest layer, base anchor 1.0 x 1.2) and box coder scales (8, 8, 4, 4)
  warehouse_softmax_gapped  5 classes of which the label map names 1, 2 and 5, non-square 256x320,
                            SOFTMAX, explicit scales, anchor strides and offsets in pixels
  v1_sigmoid_240x320        the other supported feature extractor, ssd_mobilenet_v1 (1x1 heads,
                            no input identity: the cut is the preprocessor's output), 2 classes,
                            240x320, the COCO anchor generator
"""
from __future__ import annotations

from ssdlite_detect.anchors import AnchorConfig
from ssdlite_tools.standin import StandInSpec

CUSTOM_STAND_INS = {
    "parts_sigmoid_320": StandInSpec(
        num_classes=3,
        input_size=(320, 320),
        anchors=AnchorConfig(
            min_scale=0.15,
            max_scale=0.9,
            aspect_ratios=(1.0, 2.0, 0.5),
            interpolated_scale_aspect_ratio=1.5,
            reduce_boxes_in_lowest_layer=False,
            base_anchor_size=(1.0, 1.2),
        ),
        score_converter="SIGMOID",
        box_coder=(8.0, 8.0, 4.0, 4.0),
        label_map={1: "Bolt", 2: "Nut", 3: "Washer"},
    ),
    "warehouse_softmax_gapped": StandInSpec(
        num_classes=5,
        input_size=(256, 320),
        anchors=AnchorConfig(
            scales=(0.1, 0.25, 0.4, 0.55, 0.7, 0.85),
            aspect_ratios=(1.0, 2.0, 0.5),
            anchor_strides=((16, 16), (32, 32), (64, 64), (128, 128), (256, 256), (256, 320)),
            anchor_offsets=((8, 8), (16, 16), (32, 32), (64, 64), (128, 128), (128, 160)),
        ),
        score_converter="SOFTMAX",
        label_map={1: "Forklift", 2: "Pallet", 5: "Person"},
    ),
    "v1_sigmoid_240x320": StandInSpec(
        num_classes=2,
        input_size=(240, 320),
        feature_extractor="ssd_mobilenet_v1",
        label_map={1: "cat", 2: "rocket"},
    ),
}
# What each model's owner declares to `bundle` (--license, and --license-file with this text).
LICENSES = {
    "parts_sigmoid_320": ("Apache-2.0", None),
    "v1_sigmoid_240x320": ("Apache-2.0", None),
    "warehouse_softmax_gapped": ("CLOSED", "Warehouse detector weights (c) Example Logistics. All rights reserved.\n"),
}
