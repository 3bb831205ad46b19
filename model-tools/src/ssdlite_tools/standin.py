"""Stand-ins for OD API SSD exports: the real SSDLite MobileNetV2 graph with seeded random weights.

TEST DATA ONLY. The real checkpoint cannot be downloaded where the tests run, and neither can a
retrained one, so this module writes export folders that `convert` loads exactly like the zoo's
(`saved_model/`, `pipeline.config`, and for a retrained model its `label_map.pbtxt`). A
`StandInSpec` says which model: COCO_STAND_IN is the zoo's ssdlite_mobilenet_v2_coco; others
change the number of classes, the input size, the anchor generator (hence the anchors per cell of
each head) and the score converter, as retraining with the OD API would. For each:

* the architecture of `ssdlite_mobilenet_v2_coco` (TF Object Detection API, 2018): MobileNetV2 at
  depth multiplier 1.0 (min_depth 16) to layer_19; feature maps layer_15/expansion_output (19x19
  at 300x300) and layer_19 (10x10) plus four extra layers (1x1 conv to half depth, 3x3 stride-2
  depthwise, 1x1 conv to 512, 256, 256, 128); SSDLite heads on each map (3x3 depthwise + BN +
  ReLU6, then a 1x1 conv with bias) predicting 3 then 6 anchors per cell (anchors_per_location of
  the spec's AnchorConfig), 4 box-code values and num_classes + 1 class logits; ReLU6; batch norm with epsilon 0.001 left
  unfolded as FusedBatchNorm on constants, as in the zoo's frozen export;
* the zoo graph's tensor names along the path `convert` keeps (slim's scopes: `Conv`,
  `expanded_conv_N/{expand,depthwise,project}`, `Conv_1`, `layer_19_{1,2}_Conv2d_...`,
  `BoxPredictor_N/{BoxEncodingPredictor,ClassPredictor}[_depthwise]`), the uint8 `image_tensor`
  input with resize + `(2/255)x - 1` in front of `FeatureExtractor/MobilenetV2/MobilenetV2/input`,
  and the root-scope `concat` [batch, 1917, 1, 4] / `concat_1` [batch, 1917, 91] that
  ssd_meta_arch.predict() creates;
* a post-processing tail (squeeze, the spec's sigmoid or softmax) behind the cut so pruning is
  exercised. The zoo graph's NMS is not reproduced: nothing after `concat`/`concat_1` survives the cut;
* the pipeline.config the OD API would have exported with it (model { ssd { ... } } with the
  spec's num_classes, fixed_shape_resizer, ssd_anchor_generator, faster_rcnn_box_coder and
  score_converter, plus the training blocks convert must skip), and the spec's label map.

Weights are drawn from a fixed seed. Batch-norm statistics are then measured on a seeded batch of
synthetic images and stored as the moving mean/variance, so every normalised layer starts at about
unit variance and activations stay in a sane range through all 60+ layers; the two 1x1 head
convolutions (no batch norm in the real heads) are rescaled the same way so box codes and class
logits have realistic spreads (a few confident detections per image, most anchors near zero).

The SavedModel folder gets a `STAND_IN.json` marker; everything derived from it is stand_in.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from dataclasses import asdict, dataclass, field
from typing import Dict, Optional, Tuple

from ssdlite_detect.anchors import SSDLITE_MOBILENET_V2_COCO, AnchorConfig, anchors_per_location

from .checkpoint import LABEL_MAP, PIPELINE_CONFIG, SERVING_TAGS, STAND_IN_MARKER

WEIGHT_SEED = 20180509
BOX_CODE_SIZE = 4
BN_EPSILON = 0.001
# Synthetic images used to measure batch-norm statistics: >1 so the 1x1 last map has a variance.
STATISTICS_BATCH = 6
# Target spreads of the head outputs (the real model's are of this order).
BOX_CODE_STD = 0.8
CLASS_LOGIT_STD = 1.6
CLASS_LOGIT_BIAS = -4.0  # sigmoid(-4) ~ 0.02: most scores low; on photos 500-750 of 172k exceed 0.5
# With a softmax, background competes with the classes: a high background logit keeps most
# anchors background, as a trained SOFTMAX model does.
SOFTMAX_BACKGROUND_BIAS = -1.0


@dataclass(frozen=True)
class StandInSpec:
    """Which OD API SSD export to imitate. The defaults are the zoo's ssdlite_mobilenet_v2_coco."""

    num_classes: int = 90
    input_size: Tuple[int, int] = (300, 300)  # fixed_shape_resizer (height, width)
    # ssd_mobilenet_v2 with SSDLite heads (depthwise 3x3 then 1x1), or ssd_mobilenet_v1 with the
    # 1x1 convolutional heads of ssd_mobilenet_v1_coco.
    feature_extractor: str = "ssd_mobilenet_v2"
    # ssd_anchor_generator; its feature_map_shapes and image_size are not used (the graph decides).
    anchors: AnchorConfig = SSDLITE_MOBILENET_V2_COCO
    score_converter: str = "SIGMOID"
    # faster_rcnn_box_coder y_scale, x_scale, height_scale, width_scale.
    box_coder: Tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    # Label map items {id: name}; None = trained on the OD API's mscoco_label_map.pbtxt (no file written).
    label_map: Optional[Dict[int, str]] = field(default=None)

    def pipeline_config(self) -> str:
        ssdlite = self.feature_extractor == "ssd_mobilenet_v2"
        return _PIPELINE_TEMPLATE.format(
            feature_extractor=self.feature_extractor,
            use_depthwise=str(ssdlite).lower(),
            kernel_size=3 if ssdlite else 1,
            num_classes=self.num_classes,
            height=self.input_size[0],
            width=self.input_size[1],
            anchor_generator=_anchor_generator_text(self.anchors),
            score_converter=self.score_converter,
            box_coder=self.box_coder,
            label_map_path="PATH_TO_BE_CONFIGURED/" + ("mscoco_label_map.pbtxt" if self.label_map is None else LABEL_MAP),
        )

    def label_map_text(self) -> str:
        return "".join(
            f'item {{\n  name: "{name.lower()}"\n  id: {class_id}\n  display_name: "{name}"\n}}\n'
            for class_id, name in (self.label_map or {}).items()
        )


COCO_STAND_IN = StandInSpec()


def _anchor_generator_text(anchors: AnchorConfig) -> str:
    lines = [
        f"num_layers: {anchors.num_layers}",
        f"min_scale: {anchors.min_scale}",
        f"max_scale: {anchors.max_scale}",
        *(f"scales: {scale}" for scale in anchors.scales),
        *(f"aspect_ratios: {ratio}" for ratio in anchors.aspect_ratios),
        f"interpolated_scale_aspect_ratio: {anchors.interpolated_scale_aspect_ratio}",
        f"reduce_boxes_in_lowest_layer: {str(anchors.reduce_boxes_in_lowest_layer).lower()}",
        f"base_anchor_height: {anchors.base_anchor_size[0]}",
        f"base_anchor_width: {anchors.base_anchor_size[1]}",
    ]
    for (stride_y, stride_x) in anchors.anchor_strides:
        lines += [f"height_stride: {int(stride_y)}", f"width_stride: {int(stride_x)}"]
    for (offset_y, offset_x) in anchors.anchor_offsets:
        lines += [f"height_offset: {int(offset_y)}", f"width_offset: {int(offset_x)}"]
    return "\n".join("        " + line for line in lines)


# Shaped like the zoo's ssdlite_mobilenet_v2_coco pipeline.config (training blocks shortened).
_PIPELINE_TEMPLATE = """model {{
  ssd {{
    num_classes: {num_classes}
    box_coder {{
      faster_rcnn_box_coder {{
        y_scale: {box_coder[0]}
        x_scale: {box_coder[1]}
        height_scale: {box_coder[2]}
        width_scale: {box_coder[3]}
      }}
    }}
    matcher {{
      argmax_matcher {{
        matched_threshold: 0.5
        unmatched_threshold: 0.5
        ignore_thresholds: false
        negatives_lower_than_unmatched: true
        force_match_for_each_row: true
      }}
    }}
    similarity_calculator {{
      iou_similarity {{
      }}
    }}
    anchor_generator {{
      ssd_anchor_generator {{
{anchor_generator}
      }}
    }}
    image_resizer {{
      fixed_shape_resizer {{
        height: {height}
        width: {width}
      }}
    }}
    box_predictor {{
      convolutional_box_predictor {{
        min_depth: 0
        max_depth: 0
        num_layers_before_predictor: 0
        use_dropout: false
        kernel_size: {kernel_size}
        use_depthwise: {use_depthwise}
        box_code_size: 4
        apply_sigmoid_to_scores: false
      }}
    }}
    feature_extractor {{
      type: "{feature_extractor}"
      depth_multiplier: 1.0
      min_depth: 16
      conv_hyperparams {{
        activation: RELU_6
        regularizer {{
          l2_regularizer {{
            weight: 3.99999989895e-05
          }}
        }}
        batch_norm {{
          decay: 0.999700009823
          center: true
          scale: true
          epsilon: 0.0010000000475
          train: true
        }}
      }}
      use_depthwise: {use_depthwise}
    }}
    loss {{
      classification_loss {{
        weighted_sigmoid {{
        }}
      }}
      classification_weight: 1.0
      localization_weight: 1.0
    }}
    normalize_loss_by_num_matches: true
    post_processing {{
      batch_non_max_suppression {{
        score_threshold: 9.99999993923e-09
        iou_threshold: 0.600000023842
        max_detections_per_class: 100
        max_total_detections: 100
      }}
      score_converter: {score_converter}
    }}
  }}
}}
train_config {{
  batch_size: 24
  fine_tune_checkpoint: "PATH_TO_BE_CONFIGURED/model.ckpt"
  num_steps: 200000
}}
train_input_reader {{
  label_map_path: "{label_map_path}"
  tf_record_input_reader {{
    input_path: "PATH_TO_BE_CONFIGURED/train.record"
  }}
}}
eval_config {{
  num_examples: 8000
  use_moving_averages: false
}}
"""

# MobileNetV2 (slim mobilenet_v2.V2_DEF): (expansion factor, output channels, stride) per
# inverted-residual block, after the first 3x3 stride-2 conv to 32 channels.
_BLOCKS = (
    (1, 16, 1),
    (6, 24, 2), (6, 24, 1),
    (6, 32, 2), (6, 32, 1), (6, 32, 1),
    (6, 64, 2), (6, 64, 1), (6, 64, 1), (6, 64, 1),
    (6, 96, 1), (6, 96, 1), (6, 96, 1),
    (6, 160, 2), (6, 160, 1), (6, 160, 1),
    (6, 320, 1),
)
# slim mobilenet_v1 _CONV_DEFS after Conv2d_0: (stride, depth) of each depthwise-separable block.
_V1_BLOCKS = (
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024),
)
# ssd_mobilenet_v1/v2 feature extractors: extra feature maps built on the last map (index, depth).
_EXTRA_LAYERS = ((2, 512), (3, 256), (4, 256), (5, 128))
_BASE = "FeatureExtractor/MobilenetV2"


def generator_fingerprint() -> str:
    """Changes whenever the stand-in would come out different: this source or the TF/numpy versions."""
    import tensorflow as tf

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"tf={tf.__version__};numpy={np.__version__}".encode())
    return digest.hexdigest()


def _make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """slim mobilenet's channel rounding (expansion sizes are multiples of 8)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class _GraphWriter:
    """Builds the network twice with identical weights: first to measure, then for real.

    In the measuring pass (`statistics is None`) batch norm uses the batch's own moments and the
    head convolutions are left unscaled; `probes` collects the tensors to measure. In the final
    pass the measured values become FusedBatchNorm's moving mean/variance and the head scales.
    The random generator is consumed in the same order in both passes, so weights are identical.
    """

    def __init__(self, tf, spec: StandInSpec, statistics: dict | None):
        self.tf = tf
        self.spec = spec
        self.rng = np.random.default_rng(WEIGHT_SEED)
        self.statistics = statistics
        self.probes: dict = {}

    def _const(self, value: np.ndarray, name: str):
        return self.tf.constant(value.astype(np.float32), name=name)

    def _scope(self, name: str):
        # A trailing slash re-enters the exact scope, so op names match slim's graph verbatim.
        return self.tf.compat.v1.name_scope(name + "/")

    def batch_norm(self, net, scope: str, linear: bool):
        tf = self.tf
        channels = int(net.shape[-1])
        if linear:  # projection (linear bottleneck): smaller scale, centred
            gamma = self.rng.uniform(0.3, 0.8, channels)
            beta = self.rng.uniform(-0.2, 0.2, channels)
        else:  # followed by ReLU6: shifted so roughly 60 % of units are active
            gamma = self.rng.uniform(0.6, 1.4, channels)
            beta = self.rng.uniform(-0.3, 0.8, channels)
        with self._scope(scope + "/BatchNorm"):
            gamma_t = self._const(gamma, "gamma")
            beta_t = self._const(beta, "beta")
            if self.statistics is None:
                mean, variance = tf.nn.moments(net, axes=[0, 1, 2])
                self.probes[scope] = (mean, variance)
                return tf.nn.batch_normalization(net, mean, variance, beta_t, gamma_t, BN_EPSILON)
            mean, variance = self.statistics[scope]
            # FusedBatchNorm (v1) on constants is what the 2018 frozen export contains.
            outputs = tf.raw_ops.FusedBatchNorm(
                x=net,
                scale=gamma_t,
                offset=beta_t,
                mean=self._const(mean, "moving_mean"),
                variance=self._const(variance, "moving_variance"),
                epsilon=BN_EPSILON,
                data_format="NHWC",
                is_training=False,
                name="FusedBatchNorm",
            )
            return outputs[0]

    def conv(self, net, scope: str, channels: int, kernel: int = 1, stride: int = 1, activation: bool = True):
        tf = self.tf
        fan_in = kernel * kernel * int(net.shape[-1])
        weights = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (kernel, kernel, int(net.shape[-1]), channels))
        with self._scope(scope):
            net = tf.nn.conv2d(net, self._const(weights, "weights"), [1, stride, stride, 1], "SAME", name="Conv2D")
        net = self.batch_norm(net, scope, linear=not activation)
        if activation:
            with self._scope(scope):
                net = tf.nn.relu6(net, name="Relu6")
        return net

    def depthwise(self, net, scope: str, stride: int = 1):
        tf = self.tf
        channels = int(net.shape[-1])
        weights = self.rng.normal(0.0, np.sqrt(2.0 / 9.0), (3, 3, channels, 1))
        with self._scope(scope):
            net = tf.nn.depthwise_conv2d(
                net, self._const(weights, "depthwise_weights"), [1, stride, stride, 1], "SAME", name="depthwise"
            )
        net = self.batch_norm(net, scope, linear=False)
        with self._scope(scope):
            return tf.nn.relu6(net, name="Relu6")

    def head_conv(self, net, scope: str, channels: int, target_std: float, bias: np.ndarray):
        """The predictor's 1x1 conv: no batch norm, a bias, no activation; scaled to `target_std`."""
        tf = self.tf
        fan_in = int(net.shape[-1])
        weights = self.rng.normal(0.0, np.sqrt(1.0 / fan_in), (1, 1, fan_in, channels))
        if self.statistics is not None:
            weights = weights * (target_std / self.statistics[scope])
        with self._scope(scope):
            net = tf.nn.conv2d(net, self._const(weights, "weights"), [1, 1, 1, 1], "SAME", name="Conv2D")
            net = tf.nn.bias_add(net, self._const(bias, "biases"), name="BiasAdd")
        if self.statistics is None:
            self.probes[scope] = tf.math.reduce_std(net)
        return net

    def inverted_residual(self, net, scope: str, expansion: int, channels: int, stride: int):
        tf = self.tf
        input_tensor = tf.identity(net, name=scope + "/input")
        inner = _make_divisible(int(net.shape[-1]) * expansion) if expansion > 1 else int(net.shape[-1])
        net = input_tensor
        if inner > int(net.shape[-1]):
            net = self.conv(net, scope + "/expand", inner)
            net = tf.identity(net, name=scope + "/expansion_output")
        expansion_output = net
        net = self.depthwise(net, scope + "/depthwise", stride)
        net = tf.identity(net, name=scope + "/depthwise_output")
        net = self.conv(net, scope + "/project", channels, activation=False)
        if stride == 1 and int(net.shape[-1]) == int(input_tensor.shape[-1]):
            with self._scope(scope):
                net = tf.add(net, input_tensor, name="add")
        return tf.identity(net, name=scope + "/output"), expansion_output

    def feature_maps(self, image):
        """The six maps the heads run on, from the spec's feature extractor."""
        if self.spec.feature_extractor == "ssd_mobilenet_v1":
            return self._mobilenet_v1_feature_maps(image)
        return self._mobilenet_v2_feature_maps(image)

    def _mobilenet_v1_feature_maps(self, image):
        """slim MobileNetV1 to Conv2d_13_pointwise; maps Conv2d_11_pointwise (stride 16) and
        Conv2d_13_pointwise (stride 32) plus the four extra layers (1x1 conv to half depth, 3x3
        stride-2 conv) of ssd_mobilenet_v1_feature_extractor."""
        base = "FeatureExtractor/MobilenetV1"
        net = self.conv(image, base + "/Conv2d_0", 32, kernel=3, stride=2)
        maps = []
        for index, (stride, depth) in enumerate(_V1_BLOCKS, start=1):
            net = self.depthwise(net, f"{base}/Conv2d_{index}_depthwise", stride)
            net = self.conv(net, f"{base}/Conv2d_{index}_pointwise", depth)
            if index in (11, 13):
                maps.append(net)
        for index, depth in _EXTRA_LAYERS:
            net = self.conv(net, f"{base}/Conv2d_13_pointwise_1_Conv2d_{index}_1x1_{depth // 2}", depth // 2)
            scope = f"{base}/Conv2d_13_pointwise_2_Conv2d_{index}_3x3_s2_{depth}"
            net = self.conv(net, scope, depth, kernel=3, stride=2)
            maps.append(net)
        return maps

    def _mobilenet_v2_feature_maps(self, image):
        """MobileNetV2 to layer_19 plus the SSD extra layers: the six maps the heads run on."""
        tf = self.tf
        with self._scope(_BASE + "/MobilenetV2"):
            net = tf.identity(image, name="input")
        net = self.conv(net, _BASE + "/Conv", 32, kernel=3, stride=2)
        layer_15_expansion = None
        for index, (expansion, channels, stride) in enumerate(_BLOCKS):
            scope = _BASE + ("/expanded_conv" if index == 0 else f"/expanded_conv_{index}")
            net, expansion_output = self.inverted_residual(net, scope, expansion, channels, stride)
            if index == 13:  # layer_15 = the 14th inverted residual, the 19x19 -> 10x10 one
                layer_15_expansion = expansion_output
        net = self.conv(net, _BASE + "/Conv_1", 1280)  # layer_19
        maps = [layer_15_expansion, net]
        for index, depth in _EXTRA_LAYERS:
            net = self.conv(net, f"{_BASE}/layer_19_1_Conv2d_{index}_1x1_{depth // 2}", depth // 2)
            scope = f"{_BASE}/layer_19_2_Conv2d_{index}_3x3_s2_{depth}"
            net = self.depthwise(net, scope + "_depthwise", stride=2)
            net = self.conv(net, scope, depth)
            maps.append(net)
        return maps

    def predictions(self, maps):
        """SSDLite box predictor: per map, depthwise 3x3 then 1x1 heads, reshaped and concatenated."""
        tf = self.tf
        box_encodings, class_logits = [], []
        for index, (feature_map, anchors) in enumerate(
            zip(maps, anchors_per_location(self.spec.anchors))
        ):
            scope = f"BoxPredictor_{index}"
            height, width = int(feature_map.shape[1]), int(feature_map.shape[2])
            ssdlite = self.spec.feature_extractor == "ssd_mobilenet_v2"
            boxes = self.depthwise(feature_map, scope + "/BoxEncodingPredictor_depthwise") if ssdlite else feature_map
            boxes = self.head_conv(
                boxes,
                scope + "/BoxEncodingPredictor",
                anchors * BOX_CODE_SIZE,
                BOX_CODE_STD,
                np.zeros(anchors * BOX_CODE_SIZE),
            )
            classes = self.depthwise(feature_map, scope + "/ClassPredictor_depthwise") if ssdlite else feature_map
            columns = self.spec.num_classes + 1
            class_bias = np.full(anchors * columns, CLASS_LOGIT_BIAS)
            class_bias += self.rng.normal(0.0, 0.5, class_bias.shape)
            if self.spec.score_converter == "SOFTMAX":
                class_bias[::columns] += SOFTMAX_BACKGROUND_BIAS - CLASS_LOGIT_BIAS
            classes = self.head_conv(
                classes, scope + "/ClassPredictor", anchors * columns, CLASS_LOGIT_STD, class_bias
            )
            with self._scope(scope):
                # combined_static_and_dynamic_shape: the batch size stays dynamic, as in the zoo graph.
                batch = tf.shape(feature_map, name="Shape")[0]
                box_encodings.append(
                    tf.reshape(boxes, tf.stack([batch, height * width * anchors, 1, BOX_CODE_SIZE]), name="Reshape")
                )
                class_logits.append(
                    tf.reshape(
                        classes,
                        tf.stack([batch, height * width * anchors, columns]),
                        name="Reshape_1",
                    )
                )
        # Root scope, created in this order by ssd_meta_arch.predict(): names `concat`, `concat_1`.
        return tf.concat(box_encodings, axis=1, name="concat"), tf.concat(class_logits, axis=1, name="concat_1")


def _statistics_images(height: int, width: int) -> np.ndarray:
    """Seeded synthetic 'photos' in [-1, 1]: smooth colour fields with edges plus fine noise."""
    rng = np.random.default_rng(WEIGHT_SEED + 1)
    coarse = rng.uniform(-1.0, 1.0, (STATISTICS_BATCH, 10, 10, 3))
    images = np.repeat(np.repeat(coarse, -(-height // 10), axis=1), -(-width // 10), axis=2)[:, :height, :width]
    images += rng.normal(0.0, 0.15, images.shape)
    return np.clip(images, -1.0, 1.0).astype(np.float32)


def _measure_statistics(tf, spec: StandInSpec) -> dict:
    graph = tf.Graph()
    with graph.as_default():
        writer = _GraphWriter(tf, spec, statistics=None)
        maps = writer.feature_maps(tf.constant(_statistics_images(*spec.input_size)))
        writer.predictions(maps)
        with tf.compat.v1.Session(graph=graph) as session:
            measured = session.run(writer.probes)
    statistics = {}
    for scope, value in measured.items():
        if isinstance(value, tuple):
            mean, variance = value
            statistics[scope] = (mean, np.maximum(variance, 1e-4))
        else:
            statistics[scope] = float(max(value, 1e-6))
    return statistics


def write_standin_export(export_dir: Path, spec: StandInSpec = COCO_STAND_IN) -> Path:
    """Write a stand-in export folder: saved_model/ (tag 'serve', signature 'serving_default'),
    pipeline.config and, for a spec with a label map, label_map.pbtxt.

    Written to a temporary sibling first and renamed, so a cache never holds half an export.
    """
    import tensorflow as tf

    export_dir = Path(export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    statistics = _measure_statistics(tf, spec)
    height, width = spec.input_size
    graph = tf.Graph()
    with graph.as_default():
        image_tensor = tf.compat.v1.placeholder(tf.uint8, [None, None, None, 3], name="image_tensor")
        with tf.compat.v1.name_scope("Preprocessor/"):
            resized = tf.compat.v1.image.resize_bilinear(
                tf.cast(image_tensor, tf.float32, name="ToFloat"), [height, width], name="ResizeBilinear"
            )
            # SSDMobileNetV2FeatureExtractor.preprocess: map [0, 255] to [-1, 1].
            normalised = tf.subtract(tf.multiply(resized, 2.0 / 255.0, name="mul"), 1.0, name="sub")
        writer = _GraphWriter(tf, spec, statistics=statistics)
        box_encodings, class_logits = writer.predictions(writer.feature_maps(normalised))
        # Behind the cut: what the zoo graph's Postprocessor starts with.
        squeezed = tf.squeeze(box_encodings, axis=2, name="Squeeze")
        with tf.compat.v1.name_scope("Postprocessor/"):
            if spec.score_converter == "SOFTMAX":
                scores = tf.nn.softmax(class_logits, name="convert_scores")
            else:
                scores = tf.sigmoid(class_logits, name="convert_scores")
        staging = Path(tempfile.mkdtemp(prefix=export_dir.name + ".", dir=export_dir.parent))
        saved_model = staging / "saved_model"
        with tf.compat.v1.Session(graph=graph) as session:
            builder = tf.compat.v1.saved_model.Builder(str(saved_model))
            signature = tf.compat.v1.saved_model.predict_signature_def(
                inputs={"inputs": image_tensor},
                outputs={"raw_box_encodings": squeezed, "raw_detection_scores": scores},
            )
            builder.add_meta_graph_and_variables(
                session, list(SERVING_TAGS), signature_def_map={"serving_default": signature}
            )
            builder.save()
    marker = {
        "stand_in": True,
        "purpose": "test data only: real SSDLite MobileNetV2 architecture, seeded random weights",
        "generator": "ssdlite_tools.standin",
        "fingerprint": generator_fingerprint(),
        "weight_seed": WEIGHT_SEED,
        "spec": json.loads(json.dumps(asdict(spec))),
    }
    (saved_model / STAND_IN_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    (staging / PIPELINE_CONFIG).write_text(spec.pipeline_config())
    if spec.label_map is not None:
        (staging / LABEL_MAP).write_text(spec.label_map_text())
    staging.chmod(0o755)
    if export_dir.exists():
        shutil.rmtree(export_dir)
    staging.rename(export_dir)
    return export_dir
