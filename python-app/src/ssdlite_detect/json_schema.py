"""A JSON Schema (draft-07) validator for the keywords the app's own schemas use; pure Python.

Why not the jsonschema package: the board has it (poky mickledore, python3-jsonschema 4.17.3), but
importing it takes urllib, http.client, email, attrs and pyrsistent with it, a few hundred
milliseconds on a Cortex-A55 for every `ssdlite-detect photo.jpg`, to check a file of 2 KB. The
schema itself stays standard draft-07, so an OEM's CI can check a model.json with any validator,
and tests/app runs jsonschema 4.17.3 beside this one on every document the fuzzer makes: they
must agree on what is valid.

`load_schema` refuses a schema with a keyword this module does not implement, so a schema can
never silently mean less here than it says.
"""
from __future__ import annotations

import json
import re
from typing import Any, Optional, Tuple

# Keywords that only annotate.
_ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples", "definitions"}
_ASSERTIONS = {
    "type", "enum", "const", "properties", "required", "additionalProperties", "minProperties",
    "items", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "pattern", "anyOf", "$ref",
}
_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")


class SchemaDefinitionError(ValueError):
    """The schema uses something this validator does not implement (a bug of the app, not of the
    input)."""


def _check_supported(schema: Any, where: str) -> None:
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaDefinitionError(f"{where}: a schema must be an object or a boolean")
    unknown = set(schema) - _ANNOTATIONS - _ASSERTIONS
    if unknown:
        raise SchemaDefinitionError(f"{where}: keyword(s) {sorted(unknown)} not implemented")
    for name in ("properties", "definitions"):
        for key, sub in schema.get(name, {}).items():
            _check_supported(sub, f"{where}/{name}/{key}")
    for name in ("items", "additionalProperties"):
        if name in schema:
            _check_supported(schema[name], f"{where}/{name}")
    for index, sub in enumerate(schema.get("anyOf", ())):
        _check_supported(sub, f"{where}/anyOf/{index}")
    if "$ref" in schema and not schema["$ref"].startswith("#/definitions/"):
        raise SchemaDefinitionError(f"{where}: only local references (#/definitions/NAME) are implemented")
    if "pattern" in schema:
        re.compile(schema["pattern"])


def load_schema(text: str) -> dict:
    schema = json.loads(text)
    _check_supported(schema, "#")
    return schema


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # draft-07: an integer is any number without a fractional part (1.0 is one)
    return name == "number" or isinstance(value, int) or value.is_integer()


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "object", "array", "string", "integer", "number"):
        if _is_type(value, name):
            return name
    return type(value).__name__


def _unbool(value: Any) -> Any:
    # JSON equality: true is not 1, but 1 is 1.0 (as jsonschema compares enum and const)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, list):
        return [_unbool(item) for item in value]
    if isinstance(value, dict):
        return {key: _unbool(item) for key, item in value.items()}
    return value


def _equal(a: Any, b: Any) -> bool:
    return _unbool(a) == _unbool(b)


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, (dict, list)) else _type_name(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class _Validator:
    def __init__(self, root: dict):
        self.root = root

    def first_error(self, value: Any, schema: Any, path: str) -> Optional[Tuple[str, str]]:
        """(path, problem) of the first violation, depth first in the schema's order, or None."""
        if schema is True:
            return None
        if schema is False:
            return path, "not allowed here"
        if "$ref" in schema:
            target = self.root["definitions"][schema["$ref"][len("#/definitions/"):]]
            # draft-07: the other keywords beside $ref are ignored
            return self.first_error(value, target, path)
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, name) for name in names):
                return path, f"expected {' or '.join(names)}, found {_type_name(value)}"
        if "const" in schema and not _equal(value, schema["const"]):
            return path, f"expected {_show(schema['const'])}, found {_show(value)}"
        if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
            return path, f"{_show(value)} is not one of {', '.join(_show(option) for option in schema['enum'])}"
        if _is_type(value, "number"):
            problem = self._number(value, schema)
            if problem:
                return path, problem
        if isinstance(value, str):
            problem = self._string(value, schema)
            if problem:
                return path, problem
        if isinstance(value, list):
            found = self._array(value, schema, path)
            if found:
                return found
        if isinstance(value, dict):
            found = self._object(value, schema, path)
            if found:
                return found
        if "anyOf" in schema:
            failures = [self.first_error(value, option, path) for option in schema["anyOf"]]
            if all(failures):
                return failures[0]
        return None

    @staticmethod
    def _number(value, schema) -> Optional[str]:
        if "minimum" in schema and value < schema["minimum"]:
            return f"{_show(value)} is less than {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{_show(value)} is more than {schema['maximum']}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{_show(value)} must be more than {schema['exclusiveMinimum']}"
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            return f"{_show(value)} must be less than {schema['exclusiveMaximum']}"
        return None

    @staticmethod
    def _string(value: str, schema) -> Optional[str]:
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{_show(value)} is shorter than {schema['minLength']} character(s)"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{_show(value)} is longer than {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{_show(value)} is not {schema.get('description') or 'of the form ' + schema['pattern']}"
        return None

    def _array(self, value: list, schema, path: str) -> Optional[Tuple[str, str]]:
        if "minItems" in schema and len(value) < schema["minItems"]:
            return path, f"expected at least {schema['minItems']} item(s), found {len(value)}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return path, f"expected at most {schema['maxItems']} items, found {len(value)}"
        if "items" in schema:
            for index, item in enumerate(value):
                found = self.first_error(item, schema["items"], _join(path, index))
                if found:
                    return found
        return None

    def _object(self, value: dict, schema, path: str) -> Optional[Tuple[str, str]]:
        for key in schema.get("required", ()):
            if key not in value:
                return _join(path, key), "missing"
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            return path, f"expected at least {schema['minProperties']} key(s), found {len(value)}"
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key in value:
                found = self.first_error(value[key], sub, _join(path, key))
                if found:
                    return found
        extra = schema.get("additionalProperties", True)
        for key in value:
            if key not in properties:
                if extra is False:
                    return _join(path, key), "unknown key"
                found = self.first_error(value[key], extra, _join(path, key))
                if found:
                    return found
        return None


def first_error(value: Any, schema: dict) -> Optional[str]:
    """"path: problem" for the first place where `value` (parsed JSON) breaks `schema`, or None
    when it is valid; path is dotted with [index] for arrays ("" for the document itself)."""
    found = _Validator(schema).first_error(value, schema, "")
    if found is None:
        return None
    where, problem = found
    return f"{where or 'the document'}: {problem}"
