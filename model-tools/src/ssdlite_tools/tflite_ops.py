"""Read the operators (code, version) and the input/output tensors of a .tflite file.

A small, read-only FlatBuffers walker over TFLite's schema (tensorflow/lite/schema/schema.fbs) that
needs only the standard library, so that the same code runs in the tools env, the Vela env and the
Python 3.9 TFLite 2.10 env, and does not pull in TensorFlow (whose import takes seconds) just to
list a model's operators. Only the fields the checks need are decoded.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from .errors import ToolsError

# schema.fbs `enum TensorType : byte`
TENSOR_TYPE_NAMES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    5: "string",
    6: "bool",
    7: "int16",
    8: "complex64",
    9: "int8",
    10: "float64",
    11: "complex128",
    12: "uint64",
    13: "resource",
    14: "variant",
    15: "uint32",
    16: "uint16",
    17: "int4",
}

# schema.fbs: BuiltinOperator_CUSTOM; and 127 = PLACEHOLDER_FOR_GREATER_OP_CODES, the value the
# int8 field `deprecated_builtin_code` holds when the real code (> 127) is in `builtin_code`.
BUILTIN_CUSTOM = 32
_PLACEHOLDER_FOR_GREATER_OP_CODES = 127


class ModelFormatError(ToolsError):
    """The file is not a TFLite flatbuffer (or is truncated)."""


@dataclass(frozen=True)
class OperatorCode:
    """One entry of the model's operator_codes table: what an operator is, and which version."""

    builtin_code: int
    version: int
    custom_code: Optional[str] = None

    @property
    def is_custom(self) -> bool:
        return self.builtin_code == BUILTIN_CUSTOM


@dataclass(frozen=True)
class Operator:
    """One operator instance in a subgraph."""

    code: OperatorCode
    subgraph: int
    index: int
    output_names: Tuple[str, ...]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: Tuple[int, ...]
    dtype: str
    # Per-tensor quantisation (scale, zero point), or None for float / unquantised tensors.
    quantization: Optional[Tuple[float, int]]


@dataclass(frozen=True)
class ModelSummary:
    operator_codes: Tuple[OperatorCode, ...]
    operators: Tuple[Operator, ...]
    inputs: Tuple[TensorInfo, ...]
    outputs: Tuple[TensorInfo, ...]

    def operator_counts(self) -> "Counter[OperatorCode]":
        """How many operators of each (code, version) the model has, over all subgraphs."""
        return Counter(op.code for op in self.operators)


class _Table:
    """A FlatBuffers table at `pos` in `buf` (see flatbuffers' internals doc)."""

    __slots__ = ("buf", "pos", "_vtable", "_vtable_len")

    def __init__(self, buf: bytes, pos: int):
        self.buf = buf
        self.pos = pos
        self._vtable = pos - _i32(buf, pos)
        self._vtable_len = _u16(buf, self._vtable)

    def _field_offset(self, field: int) -> int:
        entry = 4 + 2 * field
        if entry >= self._vtable_len:
            return 0  # field added to the schema after this file was written: default value
        return _u16(self.buf, self._vtable + entry)

    def scalar(self, field: int, fmt: str, default):
        offset = self._field_offset(field)
        if not offset:
            return default
        return struct.unpack_from("<" + fmt, self.buf, self.pos + offset)[0]

    def _indirect(self, field: int) -> Optional[int]:
        offset = self._field_offset(field)
        if not offset:
            return None
        at = self.pos + offset
        return at + _u32(self.buf, at)

    def table(self, field: int) -> Optional["_Table"]:
        at = self._indirect(field)
        return None if at is None else _Table(self.buf, at)

    def string(self, field: int) -> Optional[str]:
        at = self._indirect(field)
        if at is None:
            return None
        length = _u32(self.buf, at)
        return self.buf[at + 4 : at + 4 + length].decode("utf-8", errors="replace")

    def tables(self, field: int) -> list:
        at = self._indirect(field)
        if at is None:
            return []
        count = _u32(self.buf, at)
        tables = []
        for i in range(count):
            element = at + 4 + 4 * i
            tables.append(_Table(self.buf, element + _u32(self.buf, element)))
        return tables

    def scalars(self, field: int, fmt: str) -> tuple:
        at = self._indirect(field)
        if at is None:
            return ()
        count = _u32(self.buf, at)
        return struct.unpack_from(f"<{count}{fmt}", self.buf, at + 4)


def _u16(buf: bytes, pos: int) -> int:
    return struct.unpack_from("<H", buf, pos)[0]


def _u32(buf: bytes, pos: int) -> int:
    return struct.unpack_from("<I", buf, pos)[0]


def _i32(buf: bytes, pos: int) -> int:
    return struct.unpack_from("<i", buf, pos)[0]


def _operator_code(table: _Table) -> OperatorCode:
    # schema_utils.cc GetBuiltinCode(): the effective code is the larger of the two fields, because
    # old files only have the int8 `deprecated_builtin_code` and new ones put codes > 127 in the
    # int32 `builtin_code` (field 3) with 127 in the old field.
    deprecated = table.scalar(0, "b", 0)
    extended = table.scalar(3, "i", 0)
    return OperatorCode(
        builtin_code=max(deprecated, extended),
        version=table.scalar(2, "i", 1),
        custom_code=table.string(1),
    )


def _tensor_info(table: _Table) -> TensorInfo:
    quantization = None
    params = table.table(4)
    if params is not None:
        scales = params.scalars(2, "f")
        zero_points = params.scalars(3, "q")
        if len(scales) >= 1:
            # Per-channel tensors (weights) carry many; graph inputs/outputs carry one.
            quantization = (float(scales[0]), int(zero_points[0]) if zero_points else 0)
    return TensorInfo(
        name=table.string(3) or "",
        shape=tuple(table.scalars(0, "i")),
        dtype=TENSOR_TYPE_NAMES.get(table.scalar(1, "b", 0), "unknown"),
        quantization=quantization,
    )


def read_model_bytes(data: bytes) -> ModelSummary:
    """Decode the operator codes, operators and graph inputs/outputs of a TFLite flatbuffer."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFormatError("not a TFLite model (no 'TFL3' flatbuffer identifier)")
    try:
        model = _Table(data, _u32(data, 0))
        codes = tuple(_operator_code(t) for t in model.tables(1))
        operators = []
        inputs: Tuple[TensorInfo, ...] = ()
        outputs: Tuple[TensorInfo, ...] = ()
        for sg_index, subgraph in enumerate(model.tables(2)):
            tensors = subgraph.tables(0)
            for op_index, op in enumerate(subgraph.tables(3)):
                out_names = tuple(tensors[i].string(3) or "" for i in op.scalars(2, "i") if i >= 0)
                operators.append(Operator(codes[op.scalar(0, "I", 0)], sg_index, op_index, out_names))
            if sg_index == 0:  # the main graph's signature; others are control-flow bodies
                inputs = tuple(_tensor_info(tensors[i]) for i in subgraph.scalars(1, "i"))
                outputs = tuple(_tensor_info(tensors[i]) for i in subgraph.scalars(2, "i"))
    except (struct.error, IndexError) as error:
        raise ModelFormatError(f"truncated or corrupt TFLite flatbuffer ({error})") from error
    return ModelSummary(codes, tuple(operators), inputs, outputs)


def read_model(path: Path | str) -> ModelSummary:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ToolsError(f"cannot read model {path}: {error.strerror}") from error
    try:
        return read_model_bytes(data)
    except ModelFormatError as error:
        raise ModelFormatError(f"{path}: {error}") from error
