"""Which builtin operators, at which versions, TensorFlow Lite 2.10.0 can run (the BSP's runtime).

Source: `tflite::ops::builtin::BuiltinOpResolver::BuiltinOpResolver()` in
tensorflow/lite/kernels/register.cc at tag v2.10.0
(https://github.com/tensorflow/tensorflow/blob/v2.10.0/tensorflow/lite/kernels/register.cc),
the resolver that `tflite_runtime.interpreter.Interpreter` uses.

How the numbers were obtained: each (code, version) pair below was read out of the resolver
compiled into the PyPI wheel tflite-runtime==2.10.0 (cp39 manylinux2014, TensorFlow's build of
v2.10.0): a one-operator model per (builtin code, version 1..12) was constructed with its
Interpreter, and a pair counts as registered unless construction fails with "Didn't find op for
builtin opcode" or "Op builtin_code out of range". `tests/model_tools/test_tflite210_ops.py`
repeats that probe against `.venv/tflite210` and fails if this table and the runtime disagree.
(The v2.10.0 file itself could not be opened where this table was made; the probe reads the same
code compiled.)

Cross-checks against published sources:
- register.cc of github.com/nxp-imx/tensorflow-imx at commit 0cef4cba67d52d068879645c4750f592b6141d15
  (a 2.9-based revision: it has GELU and DYNAMIC_UPDATE_SLICE, none of the 2.10 additions): all
  147 builtins it registers appear here with the same min/max versions;
- the 5 builtins here that it lacks are RELU_0_TO_1 and the four that
  tensorflow/lite/tools/versioning/runtime_version.cc dates "2.10.0" (UNSORTED_SEGMENT_PROD,
  UNSORTED_SEGMENT_MAX, UNSORTED_SEGMENT_SUM, ATAN2); UNSORTED_SEGMENT_MIN and SIGN, dated
  "2.11.0" there, are absent here.
NXP's BSP builds TFLite from its fork nxp-imx/tensorflow-imx (lf-6.1.22_2.0.0), which in the
revision above adds only an optional `ethos-u` custom op to this file; that the lf-6.1.22_2.0.0
branch changes no builtin registration was not verified.

Builtin codes above 156 (ATAN2) did not exist in 2.10's schema: such models fail with
"Op builtin_code out of range".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Tuple

from .tflite_ops import BUILTIN_CUSTOM, OperatorCode

# name: (builtin code, min version, max version)
TFLITE_2_10_BUILTINS: Dict[str, Tuple[int, int, int]] = {
    "ADD": (0, 1, 4),
    "AVERAGE_POOL_2D": (1, 1, 3),
    "CONCATENATION": (2, 1, 3),
    "CONV_2D": (3, 1, 6),
    "DEPTHWISE_CONV_2D": (4, 1, 6),
    "DEPTH_TO_SPACE": (5, 1, 2),
    "DEQUANTIZE": (6, 1, 5),
    "EMBEDDING_LOOKUP": (7, 1, 3),
    "FLOOR": (8, 1, 1),
    "FULLY_CONNECTED": (9, 1, 9),
    "HASHTABLE_LOOKUP": (10, 1, 1),
    "L2_NORMALIZATION": (11, 1, 2),
    "L2_POOL_2D": (12, 1, 1),
    "LOCAL_RESPONSE_NORMALIZATION": (13, 1, 1),
    "LOGISTIC": (14, 1, 3),
    "LSH_PROJECTION": (15, 1, 1),
    "LSTM": (16, 1, 4),
    "MAX_POOL_2D": (17, 1, 3),
    "MUL": (18, 1, 5),
    "RELU": (19, 1, 3),
    "RELU_N1_TO_1": (20, 1, 1),
    "RELU6": (21, 1, 3),
    "RESHAPE": (22, 1, 1),
    "RESIZE_BILINEAR": (23, 1, 4),
    "RNN": (24, 1, 3),
    "SOFTMAX": (25, 1, 3),
    "SPACE_TO_DEPTH": (26, 1, 2),
    "SVDF": (27, 1, 4),
    "TANH": (28, 1, 3),
    "SKIP_GRAM": (30, 1, 1),
    "EMBEDDING_LOOKUP_SPARSE": (33, 1, 1),
    "PAD": (34, 1, 4),
    "UNIDIRECTIONAL_SEQUENCE_RNN": (35, 1, 3),
    "GATHER": (36, 1, 5),
    "BATCH_TO_SPACE_ND": (37, 1, 3),
    "SPACE_TO_BATCH_ND": (38, 1, 3),
    "TRANSPOSE": (39, 1, 5),
    "MEAN": (40, 1, 3),
    "SUB": (41, 1, 5),
    "DIV": (42, 1, 2),
    "SQUEEZE": (43, 1, 2),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (44, 1, 3),
    "STRIDED_SLICE": (45, 1, 6),
    "BIDIRECTIONAL_SEQUENCE_RNN": (46, 1, 3),
    "EXP": (47, 1, 1),
    "TOPK_V2": (48, 1, 2),
    "SPLIT": (49, 1, 4),
    "LOG_SOFTMAX": (50, 1, 2),
    "BIDIRECTIONAL_SEQUENCE_LSTM": (52, 1, 3),
    "CAST": (53, 1, 4),
    "PRELU": (54, 1, 1),
    "MAXIMUM": (55, 1, 4),
    "ARG_MAX": (56, 1, 3),
    "MINIMUM": (57, 1, 4),
    "LESS": (58, 1, 2),
    "NEG": (59, 1, 1),
    "PADV2": (60, 1, 4),
    "GREATER": (61, 1, 2),
    "GREATER_EQUAL": (62, 1, 2),
    "LESS_EQUAL": (63, 1, 2),
    "SELECT": (64, 1, 2),
    "SLICE": (65, 1, 5),
    "SIN": (66, 1, 1),
    "TRANSPOSE_CONV": (67, 1, 3),
    "SPARSE_TO_DENSE": (68, 1, 3),
    "TILE": (69, 1, 3),
    "EXPAND_DIMS": (70, 1, 1),
    "EQUAL": (71, 1, 3),
    "NOT_EQUAL": (72, 1, 3),
    "LOG": (73, 1, 1),
    "SUM": (74, 1, 2),
    "SQRT": (75, 1, 1),
    "RSQRT": (76, 1, 2),
    "SHAPE": (77, 1, 1),
    "POW": (78, 1, 1),
    "ARG_MIN": (79, 1, 3),
    "FAKE_QUANT": (80, 1, 2),
    "REDUCE_PROD": (81, 1, 2),
    "REDUCE_MAX": (82, 1, 3),
    "PACK": (83, 1, 3),
    "LOGICAL_OR": (84, 1, 1),
    "ONE_HOT": (85, 1, 1),
    "LOGICAL_AND": (86, 1, 1),
    "LOGICAL_NOT": (87, 1, 1),
    "UNPACK": (88, 1, 4),
    "REDUCE_MIN": (89, 1, 3),
    "FLOOR_DIV": (90, 1, 2),
    "REDUCE_ANY": (91, 1, 1),
    "SQUARE": (92, 1, 1),
    "ZEROS_LIKE": (93, 1, 1),
    "FILL": (94, 1, 3),
    "FLOOR_MOD": (95, 1, 1),
    "RANGE": (96, 1, 1),
    "RESIZE_NEAREST_NEIGHBOR": (97, 1, 4),
    "LEAKY_RELU": (98, 1, 2),
    "SQUARED_DIFFERENCE": (99, 1, 2),
    "MIRROR_PAD": (100, 1, 2),
    "ABS": (101, 1, 4),
    "SPLIT_V": (102, 1, 2),
    "UNIQUE": (103, 1, 1),
    "CEIL": (104, 1, 1),
    "REVERSE_V2": (105, 1, 3),
    "ADD_N": (106, 1, 1),
    "GATHER_ND": (107, 1, 3),
    "COS": (108, 1, 1),
    "WHERE": (109, 1, 2),
    "RANK": (110, 1, 1),
    "ELU": (111, 1, 1),
    "REVERSE_SEQUENCE": (112, 1, 1),
    "MATRIX_DIAG": (113, 1, 1),
    "QUANTIZE": (114, 1, 3),
    "MATRIX_SET_DIAG": (115, 1, 1),
    "ROUND": (116, 1, 1),
    "HARD_SWISH": (117, 1, 1),
    "IF": (118, 1, 1),
    "WHILE": (119, 1, 1),
    "NON_MAX_SUPPRESSION_V4": (120, 1, 1),
    "NON_MAX_SUPPRESSION_V5": (121, 1, 1),
    "SCATTER_ND": (122, 1, 1),
    "SELECT_V2": (123, 1, 1),
    "DENSIFY": (124, 1, 1),
    "SEGMENT_SUM": (125, 1, 1),
    "BATCH_MATMUL": (126, 1, 4),
    "CUMSUM": (128, 1, 1),
    "CALL_ONCE": (129, 1, 1),
    "BROADCAST_TO": (130, 2, 3),
    "RFFT2D": (131, 1, 1),
    "CONV_3D": (132, 1, 1),
    "IMAG": (133, 1, 1),
    "REAL": (134, 1, 1),
    "COMPLEX_ABS": (135, 1, 1),
    "HASHTABLE": (136, 1, 1),
    "HASHTABLE_FIND": (137, 1, 1),
    "HASHTABLE_IMPORT": (138, 1, 1),
    "HASHTABLE_SIZE": (139, 1, 1),
    "REDUCE_ALL": (140, 1, 1),
    "CONV_3D_TRANSPOSE": (141, 1, 1),
    "VAR_HANDLE": (142, 1, 1),
    "READ_VARIABLE": (143, 1, 1),
    "ASSIGN_VARIABLE": (144, 1, 1),
    "BROADCAST_ARGS": (145, 1, 1),
    "RANDOM_STANDARD_NORMAL": (146, 1, 1),
    "BUCKETIZE": (147, 1, 1),
    "RANDOM_UNIFORM": (148, 1, 1),
    "MULTINOMIAL": (149, 1, 1),
    "GELU": (150, 1, 2),
    "DYNAMIC_UPDATE_SLICE": (151, 1, 1),
    "RELU_0_TO_1": (152, 1, 1),
    "UNSORTED_SEGMENT_PROD": (153, 1, 1),
    "UNSORTED_SEGMENT_MAX": (154, 1, 1),
    "UNSORTED_SEGMENT_SUM": (155, 1, 1),
    "ATAN2": (156, 1, 1),
}

# register.cc AddCustom(...) names, each registered at version 1 only. `ethos-u` is not here on
# purpose: on the board it is executed by the Ethos-U delegate (libethosu_delegate.so), which only
# the Vela model uses; the int8 model must run on any TFLite 2.10 without a delegate.
TFLITE_2_10_CUSTOM_OPS: Dict[str, Tuple[int, int]] = {
    "NumericVerify": (1, 1),
    "Mfcc": (1, 1),
    "AudioSpectrogram": (1, 1),
    "TFLite_Detection_PostProcess": (1, 1),
}

BUILTIN_NAMES: Dict[int, str] = {code: name for name, (code, _, _) in TFLITE_2_10_BUILTINS.items()}
BUILTIN_NAMES[BUILTIN_CUSTOM] = "CUSTOM"
_VERSIONS_BY_CODE: Dict[int, Tuple[int, int]] = {code: (low, high) for code, low, high in TFLITE_2_10_BUILTINS.values()}


def operator_name(code: OperatorCode) -> str:
    """Human name of an operator code: the builtin's name, or `CUSTOM(<custom code>)`."""
    if code.is_custom:
        return f"CUSTOM({code.custom_code})"
    return BUILTIN_NAMES.get(code.builtin_code, f"BUILTIN_{code.builtin_code}")


@dataclass(frozen=True)
class OperatorSupport:
    """Whether TFLite 2.10.0 can run one (operator, version) used by a model, and why not."""

    name: str
    version: int
    count: int
    supported: bool
    reason: str = ""


def check_operator(code: OperatorCode, count: int = 1) -> OperatorSupport:
    name = operator_name(code)
    if code.is_custom:
        versions = TFLITE_2_10_CUSTOM_OPS.get(code.custom_code or "")
        if versions is None:
            return OperatorSupport(name, code.version, count, False, "custom op not built into TFLite 2.10")
    else:
        versions = _VERSIONS_BY_CODE.get(code.builtin_code)
        if versions is None:
            return OperatorSupport(name, code.version, count, False, "builtin not in TFLite 2.10")
    low, high = versions
    if not low <= code.version <= high:
        return OperatorSupport(name, code.version, count, False, f"TFLite 2.10 registers versions {low}..{high}")
    return OperatorSupport(name, code.version, count, True)


def check_operators(counts: Iterable[Tuple[OperatorCode, int]]) -> List[OperatorSupport]:
    """One verdict per distinct (operator, version), in a stable order (by name, then version)."""
    verdicts = [check_operator(code, count) for code, count in counts]
    return sorted(verdicts, key=lambda v: (v.name, v.version))
