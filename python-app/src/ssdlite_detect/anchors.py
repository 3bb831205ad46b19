"""SSD anchors, generated from the TF Object Detection API anchor-generator config.

This reproduces `anchor_generators/multiple_grid_anchor_generator.py` (`create_ssd_anchors`) and
`grid_anchor_generator.tile_anchors` of tensorflow/models research/object_detection, so the anchors
come from the model's own pipeline config instead of a downloaded box-priors file. The defaults are
the `ssdlite_mobilenet_v2_coco` sample config at 300x300, which gives 1917 anchors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np


@dataclass(frozen=True)
class AnchorConfig:
    """The `ssd_anchor_generator` block of a TF OD API pipeline config plus the feature-map grid."""

    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    # Order matters: it is the order of the anchors at each location, which the heads were trained on.
    aspect_ratios: Tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = True
    base_anchor_size: Tuple[float, float] = (1.0, 1.0)
    # Explicit per-layer scales (the config's `scales`); empty = interpolate min_scale..max_scale.
    scales: Tuple[float, ...] = ()
    # Per-layer (y, x) anchor strides and offsets in input pixels (height_stride/width_stride,
    # height_offset/width_offset); empty = one cell of the feature map, offset half a stride.
    anchor_strides: Tuple[Tuple[float, float], ...] = ()
    anchor_offsets: Tuple[Tuple[float, float], ...] = ()
    # (height, width) of each feature map the heads run on, highest resolution first. For a
    # 300x300 MobileNetV2 SSDLite: layer_15 expansion (19), layer_19 (10), then four extra layers.
    feature_map_shapes: Tuple[Tuple[int, int], ...] = ((19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1))
    # (height, width) of the model input: the aspect ratio shapes the anchors, and strides and
    # offsets given in pixels are divided by it.
    image_size: Tuple[int, int] = (300, 300)


SSDLITE_MOBILENET_V2_COCO = AnchorConfig()


def layer_box_specs(config: AnchorConfig) -> list[list[tuple[float, float]]]:
    """(scale, aspect_ratio) of every anchor at one location of each layer, as create_ssd_anchors builds them."""
    if config.num_layers != len(config.feature_map_shapes):
        raise ValueError(
            f"num_layers is {config.num_layers} but {len(config.feature_map_shapes)} feature maps are given"
        )
    for name, pairs in (("anchor_strides", config.anchor_strides), ("anchor_offsets", config.anchor_offsets)):
        if pairs and len(pairs) != config.num_layers:
            raise ValueError(f"{name} has {len(pairs)} entries for {config.num_layers} layers")
    if config.scales:
        if len(config.scales) != config.num_layers:
            raise ValueError(f"{len(config.scales)} scales are given for {config.num_layers} layers")
        scales = list(config.scales)
    elif config.num_layers == 1:
        scales = [config.min_scale]
    else:
        # create_ssd_anchors' own expression (not a step times i): the same float rounding.
        scales = [
            config.min_scale + (config.max_scale - config.min_scale) * layer / (config.num_layers - 1)
            for layer in range(config.num_layers)
        ]
    scales.append(1.0)  # the "next" scale of the last layer, for its interpolated anchor
    specs = []
    for layer in range(config.num_layers):
        scale, next_scale = scales[layer], scales[layer + 1]
        if layer == 0 and config.reduce_boxes_in_lowest_layer:
            # Fixed in the TF OD API: a small square anchor plus two at the layer's scale.
            layer_specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            layer_specs = [(scale, ratio) for ratio in config.aspect_ratios]
            if config.interpolated_scale_aspect_ratio > 0.0:
                layer_specs.append((math.sqrt(scale * next_scale), config.interpolated_scale_aspect_ratio))
        specs.append(layer_specs)
    return specs


def anchors_per_location(config: AnchorConfig = SSDLITE_MOBILENET_V2_COCO) -> list[int]:
    """How many anchors each layer places at one feature-map cell (3, 6, 6, 6, 6, 6 by default)."""
    return [len(specs) for specs in layer_box_specs(config)]


def _stride_and_offset(config: AnchorConfig, layer: int, grid_height: int, grid_width: int):
    """Normalised (stride_y, stride_x, offset_y, offset_x) of one layer, as MultipleGridAnchorGenerator."""
    image_height, image_width = (np.float32(size) for size in config.image_size)
    if config.anchor_strides:
        stride_y = np.float32(config.anchor_strides[layer][0]) / image_height
        stride_x = np.float32(config.anchor_strides[layer][1]) / image_width
    else:
        stride_y, stride_x = np.float32(1.0) / np.float32(grid_height), np.float32(1.0) / np.float32(grid_width)
    if config.anchor_offsets:
        offset_y = np.float32(config.anchor_offsets[layer][0]) / image_height
        offset_x = np.float32(config.anchor_offsets[layer][1]) / image_width
    else:
        offset_y, offset_x = np.float32(0.5) * stride_y, np.float32(0.5) * stride_x
    return stride_y, stride_x, offset_y, offset_x


def generate_anchors(config: AnchorConfig = SSDLITE_MOBILENET_V2_COCO) -> np.ndarray:
    """All anchors as float32 [N, 4] rows of (ycenter, xcenter, height, width), normalised to [0, 1].

    Order: layer by layer; within a layer row-major over the grid (y, then x); within a cell, the
    box specs in config order. This is the order of the model's box-encoding output.
    """
    image_height, image_width = config.image_size
    min_side = min(image_height, image_width)
    # Non-square inputs keep anchors square in pixels (MultipleGridAnchorGenerator._generate).
    base_height = min_side / image_height * config.base_anchor_size[0]
    base_width = min_side / image_width * config.base_anchor_size[1]
    per_layer = []
    for layer_index, ((grid_height, grid_width), specs) in enumerate(
        zip(config.feature_map_shapes, layer_box_specs(config))
    ):
        scales = np.array([scale for scale, _ in specs], dtype=np.float32)
        ratio_sqrts = np.sqrt(np.array([ratio for _, ratio in specs], dtype=np.float32))
        heights = scales / ratio_sqrts * np.float32(base_height)
        widths = scales * ratio_sqrts * np.float32(base_width)
        stride_y, stride_x, offset_y, offset_x = _stride_and_offset(config, layer_index, grid_height, grid_width)
        y_centers = np.arange(grid_height, dtype=np.float32) * stride_y + offset_y
        x_centers = np.arange(grid_width, dtype=np.float32) * stride_x + offset_x
        count = grid_height * grid_width * len(specs)
        layer = np.empty((grid_height, grid_width, len(specs), 4), dtype=np.float32)
        layer[..., 0] = y_centers[:, None, None]
        layer[..., 1] = x_centers[None, :, None]
        layer[..., 2] = heights[None, None, :]
        layer[..., 3] = widths[None, None, :]
        per_layer.append(layer.reshape(count, 4))
    return np.concatenate(per_layer, axis=0)

