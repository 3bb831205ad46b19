"""Where to cut an exported TF OD API SSD graph, found from its structure rather than from names.

Every SSD export of the OD API (SavedModel or frozen graph) builds, in order:
    Preprocessor/...          resize and normalise the uint8 image
    FeatureExtractor/...      the backbone and extra layers (the feature maps)
    BoxPredictor_N/...        per feature map: BoxEncodingPredictor and ClassPredictor heads,
                              each reshaped to [batch, anchors, ...]
    concat, concat_1          ssd_meta_arch.predict(): the heads concatenated over the maps
    Postprocessor/...         decoding, score conversion, NMS
The cut keeps FeatureExtractor through the two concatenations:
* input: the one tensor from outside `FeatureExtractor/` that the feature extractor reads (the
  normalised image); when the backbone starts with its own `.../input` identity (slim's
  MobileNetV2 does), that identity, so the cut is exactly the reference recipe's;
* outputs: the ConcatV2 whose inputs all come (through Reshape/Squeeze/Identity) from
  `BoxPredictor_N/BoxEncodingPredictor`, and the one whose inputs come from
  `BoxPredictor_N/ClassPredictor`, N = 0, 1, ... in order (the order of the anchors).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .errors import ToolsError

FEATURE_EXTRACTOR_SCOPE = "FeatureExtractor/"
_HEAD = re.compile(r"^BoxPredictor_(\d+)/(BoxEncodingPredictor|ClassPredictor)/")
_PASS_THROUGH = ("Reshape", "Squeeze", "Identity")
_NOT_DATA = ("Const", "NoOp", "Assert")


@dataclass(frozen=True)
class GraphCut:
    input_tensor: str  # e.g. FeatureExtractor/MobilenetV2/MobilenetV2/input:0
    box_encodings_tensor: str  # e.g. concat:0, [batch, anchors, 1, 4]
    class_predictions_tensor: str  # e.g. concat_1:0, [batch, anchors, num_classes + 1]
    box_heads: Tuple[str, ...]  # per feature map, the BoxEncodingPredictor op that feeds the concat
    class_heads: Tuple[str, ...]


def node_name(input_name: str) -> str:
    """The node an input names: "^ctrl" and "op:1" -> "ctrl", "op"."""
    return input_name.lstrip("^").split(":")[0]


def _tensor(input_name: str) -> str:
    return input_name if ":" in input_name else input_name + ":0"


def find_cut(graph_def, source: str) -> GraphCut:
    """The cut of an SSD graph; ToolsError naming what is missing when it is not one."""
    nodes: Dict[str, object] = {node.name: node for node in graph_def.node}
    input_tensor = _find_input(nodes, source)
    heads = {"BoxEncodingPredictor": [], "ClassPredictor": []}
    for node in graph_def.node:
        if node.op != "ConcatV2":
            continue
        found = [_head_behind(nodes, name) for name in node.input[:-1]]  # the last input is the axis
        if not found or any(head is None for head in found):
            continue
        kinds = {kind for _, kind, _ in found}
        if len(kinds) == 1:
            heads[kinds.pop()].append((node.name, found))
    missing = [kind for kind, concats in heads.items() if len(concats) != 1]
    if missing:
        raise ToolsError(
            f"{source}: the graph lacks the SSD heads convert cuts at (one concatenation of "
            f"BoxPredictor_N/{' and BoxPredictor_N/'.join(missing)} outputs); is this an OD API SSD export "
            "with a convolutional box predictor?"
        )
    (box_concat, box_found), (class_concat, class_found) = heads["BoxEncodingPredictor"][0], heads["ClassPredictor"][0]
    for concat, found in ((box_concat, box_found), (class_concat, class_found)):
        if [index for index, _, _ in found] != list(range(len(found))):
            raise ToolsError(f"{source}: {concat} does not concatenate BoxPredictor_0, 1, ... in order")
    if len(box_found) != len(class_found):
        raise ToolsError(f"{source}: {len(box_found)} box heads but {len(class_found)} class heads")
    return GraphCut(
        input_tensor,
        box_concat + ":0",
        class_concat + ":0",
        tuple(op for _, _, op in box_found),
        tuple(op for _, _, op in class_found),
    )


def _head_behind(nodes: dict, input_name: str) -> Optional[Tuple[int, str, str]]:
    """(map index, head kind, head op) when `input_name` is a head's output, possibly reshaped."""
    name = node_name(input_name)
    for _ in range(4):
        match = _HEAD.match(name)
        if match:
            return int(match.group(1)), match.group(2), name
        node = nodes.get(name)
        if node is None or node.op not in _PASS_THROUGH or not node.input:
            return None
        name = node_name(node.input[0])
    return None


def _find_input(nodes: dict, source: str) -> str:
    external: Dict[str, List[str]] = {}  # tensor from outside the scope -> consumers inside it
    for node in nodes.values():
        if not node.name.startswith(FEATURE_EXTRACTOR_SCOPE):
            continue
        for input_name in node.input:
            if input_name.startswith("^"):
                continue
            producer = nodes.get(node_name(input_name))
            if producer is None or producer.name.startswith(FEATURE_EXTRACTOR_SCOPE) or producer.op in _NOT_DATA:
                continue
            external.setdefault(_tensor(input_name), []).append(node.name)
    if not external:
        raise ToolsError(f"{source}: no {FEATURE_EXTRACTOR_SCOPE} scope reading an image: not an OD API SSD graph")
    if len(external) != 1:
        raise ToolsError(
            f"{source}: the feature extractor reads {len(external)} tensors from outside it "
            f"({', '.join(sorted(external))}); expected one image"
        )
    ((tensor, consumers),) = external.items()
    identities = [name for name in consumers if nodes[name].op == "Identity" and name.endswith("/input")]
    return identities[0] + ":0" if len(identities) == 1 else tensor
