"""A structural check of a .tflite file's FlatBuffer before TFLite sees it; pure Python.

TFLite's Python interpreter builds the model without FlatBuffers' verifier: a truncated or
corrupted file makes it follow offsets out of the file and die of a segmentation fault (exit 139,
no message). `verify_tflite` does what the FlatBuffers verifier does for TFLite's schema
(tensorflow/lite/schema/schema.fbs): every table's vtable, every field, vector, string, nested
table and union inside the file and aligned, strings terminated, no more tables or nesting than
FLATBUFFERS' own limits, and the `offset`/`size` of buffers stored outside the FlatBuffer within
the file. It reads the fields TFLite reads; it does not judge what the values mean (tensor
indices, shapes, operator versions), which TFLite's model builder checks itself.

Schema facts below are from schema.fbs as of TFLite 2.10 to 2.14 (fields are only ever appended,
so a newer file's extra fields are checked as fields of unknown type: within their table).
"""
from __future__ import annotations

import struct
from typing import Dict, Tuple, Union

# FlatBuffers' verifier defaults (flatbuffers/verifier.h): max_depth 64, max_tables 1,000,000.
MAX_DEPTH = 64
MAX_TABLES = 1_000_000

# Field kinds: a scalar is its size in bytes; the others are tuples.
Kind = Union[int, Tuple]
STRING = ("string",)


def vector(element_size: int) -> Tuple:
    return ("vector", element_size)


def table(name: str) -> Tuple:
    return ("table", name)


def tables(name: str) -> Tuple:
    return ("tables", name)


def union(type_field: int, members: Dict[int, str]) -> Tuple:
    """A union's value field; `type_field` is the index of its ubyte type field, `members` the
    table of each type value (types not listed are checked as tables of unknown fields)."""
    return ("union", type_field, members)


# BuiltinOptions: the options tables that hold more than scalars (all others are scalars only,
# which a table of unknown fields checks exactly: each field within the table).
_BUILTIN_OPTIONS = {3: "ConcatEmbeddingsOptions", 17: "ReshapeOptions", 30: "SqueezeOptions",
                    111: "VarHandleOptions", 115: "BucketizeOptions"}
_SPARSE_INDEX_VECTOR = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}

TFLITE_TABLES: Dict[str, Dict[int, Tuple[str, Kind]]] = {
    "Model": {0: ("version", 4), 1: ("operator_codes", tables("OperatorCode")), 2: ("subgraphs", tables("SubGraph")),
              3: ("description", STRING), 4: ("buffers", tables("Buffer")), 5: ("metadata_buffer", vector(4)),
              6: ("metadata", tables("Metadata")), 7: ("signature_defs", tables("SignatureDef"))},
    "OperatorCode": {0: ("deprecated_builtin_code", 1), 1: ("custom_code", STRING), 2: ("version", 4),
                     3: ("builtin_code", 4)},
    "SubGraph": {0: ("tensors", tables("Tensor")), 1: ("inputs", vector(4)), 2: ("outputs", vector(4)),
                 3: ("operators", tables("Operator")), 4: ("name", STRING)},
    "Tensor": {0: ("shape", vector(4)), 1: ("type", 1), 2: ("buffer", 4), 3: ("name", STRING),
               4: ("quantization", table("QuantizationParameters")), 5: ("is_variable", 1),
               6: ("sparsity", table("SparsityParameters")), 7: ("shape_signature", vector(4)), 8: ("has_rank", 1),
               9: ("variant_tensors", tables("VariantSubType"))},
    "QuantizationParameters": {0: ("min", vector(4)), 1: ("max", vector(4)), 2: ("scale", vector(4)),
                               3: ("zero_point", vector(8)), 4: ("details_type", 1),
                               5: ("details", union(4, {1: "CustomQuantization"})), 6: ("quantized_dimension", 4)},
    "CustomQuantization": {0: ("custom", vector(1))},
    "SparsityParameters": {0: ("traversal_order", vector(4)), 1: ("block_map", vector(4)),
                           2: ("dim_metadata", tables("DimensionMetadata"))},
    "DimensionMetadata": {0: ("format", 1), 1: ("dense_size", 4), 2: ("array_segments_type", 1),
                          3: ("array_segments", union(2, _SPARSE_INDEX_VECTOR)), 4: ("array_indices_type", 1),
                          5: ("array_indices", union(4, _SPARSE_INDEX_VECTOR))},
    "Int32Vector": {0: ("values", vector(4))},
    "Uint16Vector": {0: ("values", vector(2))},
    "Uint8Vector": {0: ("values", vector(1))},
    "VariantSubType": {0: ("shape", vector(4)), 1: ("type", 1), 2: ("has_rank", 1)},
    "Operator": {0: ("opcode_index", 4), 1: ("inputs", vector(4)), 2: ("outputs", vector(4)),
                 3: ("builtin_options_type", 1), 4: ("builtin_options", union(3, _BUILTIN_OPTIONS)),
                 5: ("custom_options", vector(1)), 6: ("custom_options_format", 1),
                 7: ("mutating_variable_inputs", vector(1)), 8: ("intermediates", vector(4))},
    "ConcatEmbeddingsOptions": {0: ("num_channels", 4), 1: ("num_columns_per_channel", vector(4)),
                                2: ("embedding_dim_per_channel", vector(4))},
    "ReshapeOptions": {0: ("new_shape", vector(4))},
    "SqueezeOptions": {0: ("squeeze_dims", vector(4))},
    "VarHandleOptions": {0: ("container", STRING), 1: ("shared_name", STRING)},
    "BucketizeOptions": {0: ("boundaries", vector(4))},
    # data; and (TFLite 2.13+) offset and size of data stored after the FlatBuffer
    "Buffer": {0: ("data", vector(1)), 1: ("offset", 8), 2: ("size", 8)},
    "Metadata": {0: ("name", STRING), 1: ("buffer", 4)},
    "SignatureDef": {0: ("inputs", tables("TensorMap")), 1: ("outputs", tables("TensorMap")),
                     2: ("signature_key", STRING), 4: ("subgraph_index", 4)},
    "TensorMap": {0: ("name", STRING), 1: ("tensor_index", 4)},
}

_U16, _I32, _U32, _U64 = struct.Struct("<H"), struct.Struct("<i"), struct.Struct("<I"), struct.Struct("<Q")


class FlatBufferError(ValueError):
    """The file is not a well-formed FlatBuffer of the schema (truncated, or corrupt)."""


class _Verifier:
    def __init__(self, data: bytes, schema: Dict[str, Dict[int, Tuple[str, Kind]]]):
        self.data = data
        self.size = len(data)
        self.schema = schema
        self.tables = 0

    def _inside(self, position: int, length: int, alignment: int, what: str) -> None:
        if position < 0 or length < 0 or position + length > self.size:
            raise FlatBufferError(f"{what} at byte {position} ends beyond the file's {self.size} bytes")
        if position % alignment:
            raise FlatBufferError(f"{what} at byte {position} is not aligned to {alignment} bytes")

    def _offset_target(self, position: int, what: str) -> int:
        """Where the uoffset at `position` points (offsets point forward, never to themselves)."""
        self._inside(position, 4, 4, what)
        offset = _U32.unpack_from(self.data, position)[0]
        if offset == 0:
            raise FlatBufferError(f"{what} at byte {position} is a null offset")
        return position + offset

    def _vector_length(self, position: int, element_size: int, what: str) -> int:
        self._inside(position, 4, 4, what)
        length = _U32.unpack_from(self.data, position)[0]
        self._inside(position + 4, length * element_size, 1, f"{what} of {length} element(s)")
        return length

    def verify_table(self, position: int, name: str, depth: int) -> None:
        what = f"{name} table"
        self.tables += 1
        if self.tables > MAX_TABLES:
            raise FlatBufferError(f"more than {MAX_TABLES} tables")
        if depth > MAX_DEPTH:
            raise FlatBufferError(f"tables nested deeper than {MAX_DEPTH}")
        self._inside(position, 4, 4, what)
        vtable = position - _I32.unpack_from(self.data, position)[0]
        self._inside(vtable, 4, 2, f"{name} vtable")
        vtable_size, table_size = _U16.unpack_from(self.data, vtable)[0], _U16.unpack_from(self.data, vtable + 2)[0]
        if vtable_size < 4 or vtable_size % 2 or table_size < 4:
            raise FlatBufferError(f"{name} vtable at byte {vtable} has impossible sizes ({vtable_size}, {table_size})")
        self._inside(vtable, vtable_size, 2, f"{name} vtable")
        self._inside(position, table_size, 4, what)
        offsets = [_U16.unpack_from(self.data, vtable + 4 + 2 * i)[0] for i in range((vtable_size - 4) // 2)]
        fields = self.schema.get(name, {})
        for index, field_offset in enumerate(offsets):
            if field_offset == 0:
                continue  # absent: the default
            # A field the schema here does not know: at least one byte of the table.
            field_name, kind = fields.get(index, (f"field {index}", 1))
            what = f"{name}.{field_name}"
            size = kind if isinstance(kind, int) else 4
            if field_offset < 4 or field_offset + size > table_size:
                raise FlatBufferError(f"{what} lies outside its table at byte {position}")
            field = position + field_offset
            if isinstance(kind, int):
                self._inside(field, kind, kind, what)
            else:
                self._verify_reference(field, kind, what, depth, position, offsets)
        if name == "Buffer" and len(offsets) > 2 and offsets[1] and offsets[2]:
            start = _U64.unpack_from(self.data, position + offsets[1])[0]
            length = _U64.unpack_from(self.data, position + offsets[2])[0]
            if start > 1:  # 0 and 1 mean "no data here" (TFLite's convention)
                self._inside(start, length, 1, "a buffer's data")

    def _verify_reference(self, field: int, kind: Tuple, what: str, depth: int, table_position: int, offsets) -> None:
        target = self._offset_target(field, what)
        if kind[0] == "string":
            length = self._vector_length(target, 1, f"{what} (a string)")
            if self.data[target + 4 + length:target + 5 + length] != b"\0":
                raise FlatBufferError(f"{what} (a string) at byte {target} is not terminated within the file")
        elif kind[0] == "vector":
            self._vector_length(target, kind[1], f"{what} (a vector)")
        elif kind[0] == "table":
            self.verify_table(target, kind[1], depth + 1)
        elif kind[0] == "tables":
            length = self._vector_length(target, 4, f"{what} (a vector of tables)")
            for element in range(length):
                position = target + 4 + 4 * element
                self.verify_table(self._offset_target(position, f"{what}[{element}]"), kind[1], depth + 1)
        elif kind[0] == "union":
            type_field, members = kind[1], kind[2]
            type_offset = offsets[type_field] if type_field < len(offsets) else 0
            member = self.data[table_position + type_offset] if type_offset else 0
            if member == 0:
                raise FlatBufferError(f"{what} (a union) has a value but no type")
            self.verify_table(target, members.get(member, f"union member {member}"), depth + 1)


def verify_flatbuffer(data: bytes, root_table: str, schema: Dict[str, Dict[int, Tuple[str, Kind]]]) -> None:
    """FlatBufferError saying what is out of place, or None for a well-formed buffer."""
    if len(data) < 8:
        raise FlatBufferError(f"{len(data)} bytes: too short for a FlatBuffer")
    _Verifier(data, schema).verify_table(_U32.unpack_from(data, 0)[0], root_table, 0)


def verify_tflite(data: bytes) -> None:
    """The structural check of a .tflite file's bytes (see the module doc)."""
    verify_flatbuffer(data, "Model", TFLITE_TABLES)
