"""The OD API's SSD anchor formula, transcribed from its source (not from the app's code), and the
feature-map sizes of the MobileNet SSD layout worked out by hand: an independent second
implementation the anchor tests compare the app's generator and the graph's own anchors with."""
from __future__ import annotations

import math

import numpy as np


def od_api_ssd_anchors(generator: dict, feature_map_shapes, image_size) -> np.ndarray:
    """[N, 4] (ycenter, xcenter, h, w) as an OD API SSD decodes with them.

    `generator` holds the ssd_anchor_generator fields as anchor_generator_builder passes them to
    create_ssd_anchors; TF computes in float32.
    """
    f32 = np.float32
    num_layers = generator["num_layers"]
    scales = list(generator["scales"])
    if not scales:
        scales = [generator["min_scale"] + (generator["max_scale"] - generator["min_scale"]) * i / (num_layers - 1)
                  for i in range(num_layers)] + [1.0]
    else:
        scales += [1.0]
    box_specs_list = []
    for layer, scale, scale_next in zip(range(num_layers), scales[:-1], scales[1:]):
        if layer == 0 and generator["reduce_boxes_in_lowest_layer"]:
            layer_box_specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            layer_box_specs = [(scale, aspect_ratio) for aspect_ratio in generator["aspect_ratios"]]
            if generator["interpolated_scale_aspect_ratio"] > 0.0:
                layer_box_specs.append((np.sqrt(scale * scale_next), generator["interpolated_scale_aspect_ratio"]))
        box_specs_list.append(layer_box_specs)

    im_height, im_width = f32(image_size[0]), f32(image_size[1])
    strides = generator["anchor_strides"]
    offsets = generator["anchor_offsets"]
    if not strides:
        anchor_strides = [(f32(1.0) / f32(h), f32(1.0) / f32(w)) for h, w in feature_map_shapes]
    else:
        anchor_strides = [(f32(s[0]) / im_height, f32(s[1]) / im_width) for s in strides]
    if not offsets:
        anchor_offsets = [(f32(0.5) * s[0], f32(0.5) * s[1]) for s in anchor_strides]
    else:
        anchor_offsets = [(f32(o[0]) / im_height, f32(o[1]) / im_width) for o in offsets]
    min_im_shape = min(im_height, im_width)
    base_anchor_size = [min_im_shape / im_height * f32(generator["base_anchor_size"][0]),
                        min_im_shape / im_width * f32(generator["base_anchor_size"][1])]

    boxes = []
    for (grid_height, grid_width), specs, stride, offset in zip(
        feature_map_shapes, box_specs_list, anchor_strides, anchor_offsets
    ):
        # grid_anchor_generator.tile_anchors
        scales_, aspect_ratios = (np.array(values, f32) for values in zip(*specs))
        ratio_sqrts = np.sqrt(aspect_ratios)
        heights = scales_ / ratio_sqrts * base_anchor_size[0]
        widths = scales_ * ratio_sqrts * base_anchor_size[1]
        y_centers = np.arange(grid_height, dtype=f32) * stride[0] + offset[0]
        x_centers = np.arange(grid_width, dtype=f32) * stride[1] + offset[1]
        x_centers, y_centers = np.meshgrid(x_centers, y_centers)  # ops.meshgrid: [grid_height, grid_width]
        widths_grid, x_centers_grid = np.meshgrid(widths, x_centers)
        heights_grid, y_centers_grid = np.meshgrid(heights, y_centers)
        centers = np.stack([y_centers_grid, x_centers_grid], axis=2).reshape(-1, 2)
        sizes = np.stack([heights_grid, widths_grid], axis=2).reshape(-1, 2)
        # _center_size_bbox_to_corners_bbox, then BoxList.get_center_coordinates_and_sizes
        corners = np.concatenate([centers - f32(0.5) * sizes, centers + f32(0.5) * sizes], axis=1)
        ymin, xmin, ymax, xmax = corners.T
        boxes.append(np.stack([(ymin + ymax) / f32(2), (xmin + xmax) / f32(2), ymax - ymin, xmax - xmin], axis=1))
    return np.concatenate(boxes).astype(f32)


def mobilenet_ssd_feature_maps(height: int, width: int):
    """MobileNetV2's layer_15/expansion_output or V1's Conv2d_11_pointwise (stride 16), layer_19
    or Conv2d_13_pointwise (stride 32), then four stride-2 extra layers; SAME padding rounds up at
    every stride-2 step."""
    shapes = [(math.ceil(height / 16), math.ceil(width / 16)), (math.ceil(height / 32), math.ceil(width / 32))]
    for _ in range(4):
        shapes.append((math.ceil(shapes[-1][0] / 2), math.ceil(shapes[-1][1] / 2)))
    return shapes


def generator_of(spec) -> dict:
    anchors = spec.anchors
    return {
        "num_layers": anchors.num_layers, "min_scale": anchors.min_scale, "max_scale": anchors.max_scale,
        "scales": list(anchors.scales), "aspect_ratios": list(anchors.aspect_ratios),
        "interpolated_scale_aspect_ratio": anchors.interpolated_scale_aspect_ratio,
        "reduce_boxes_in_lowest_layer": anchors.reduce_boxes_in_lowest_layer,
        "base_anchor_size": list(anchors.base_anchor_size),
        "anchor_strides": list(anchors.anchor_strides), "anchor_offsets": list(anchors.anchor_offsets),
    }  # fmt: skip
