"""Structural schemas of CRDs: pruning and validation as kube-apiserver does them.

A custom resource written to a real API server loses every field its version's
``openAPIV3Schema`` does not declare (pruning; ``x-kubernetes-preserve-unknown-fields``
keeps them), and is refused with 422 ``Invalid`` when what remains breaks the schema (type,
enum, required, minLength/maxLength, minimum/maximum, pattern, minItems/maxItems). With
``?fieldValidation=Strict`` (what kubectl sends) an unknown field is a 400 instead.
The wording follows kube-openapi's validator; tests/kube/parity checks it against the real
server. Not modelled: CEL rules, formats, defaults, nullable, oneOf/allOf/not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_TYPE_NAMES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


@dataclass(frozen=True)
class Cause:
    field: str
    reason: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    for python_type, name in _TYPE_NAMES:
        if isinstance(value, python_type):
            return name
    return "unknown"


def _shown(value: Any) -> str:
    return json.dumps(value)


def prune(schema: dict, obj: dict) -> tuple[dict, list[str]]:
    """``obj`` without the fields the schema does not declare, and their paths (depth-first,
    keys sorted, as the strict decoder lists them). apiVersion, kind and metadata stay."""
    unknown: list[str] = []
    kept = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    rest = {k: v for k, v in obj.items() if k not in kept}
    pruned = _prune(schema, rest, "", unknown)
    return {**kept, **(pruned if isinstance(pruned, dict) else {})}, unknown


def _prune(schema: dict, value: Any, path: str, unknown: list[str]) -> Any:
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        out = {}
        for key in sorted(value):
            where = f"{path}.{key}" if path else key
            if properties is not None and key in properties:
                out[key] = _prune(properties[key], value[key], where, unknown)
            elif isinstance(additional, dict):
                out[key] = _prune(additional, value[key], where, unknown)
            elif additional is True:
                out[key] = value[key]
            else:
                unknown.append(where)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(schema["items"], v, f"{path}[{i}]", unknown) for i, v in enumerate(value)]
    return value


def validate(schema: dict, obj: dict) -> list[Cause]:
    """What the schema refuses in ``obj`` (metadata is validated elsewhere)."""
    causes: list[Cause] = []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    top = dict(
        schema,
        properties={
            k: v
            for k, v in (schema.get("properties") or {}).items()
            if k not in ("apiVersion", "kind", "metadata")
        },
    )
    _validate(top, body, "", causes)
    return causes


def _validate(schema: dict, value: Any, path: str, causes: list[Cause]) -> None:
    if not isinstance(schema, dict):
        return
    where = path or "<nil>"
    expected = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            causes.append(_type_error(where, value, "integer"))  # simplified: int-or-string
            return
    elif expected and not _is_type(value, expected):
        causes.append(_type_error(where, value, expected))
        return
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_shown(v) for v in schema["enum"])
        causes.append(
            Cause(
                where,
                "FieldValueNotSupported",
                f"Unsupported value: {_shown(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, str):
        _check_string(schema, value, where, causes)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(schema, value, where, causes)
    elif isinstance(value, list):
        _check_array(schema, value, where, causes)
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _validate(items, item, f"{path}[{i}]", causes)
    elif isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key in sorted(value):
            child = f"{path}.{key}" if path else key
            if key in properties:
                _validate(properties[key], value[key], child, causes)
            elif isinstance(schema.get("additionalProperties"), dict):
                _validate(schema["additionalProperties"], value[key], child, causes)
        for key in schema.get("required") or []:
            if key not in value:
                child = f"{path}.{key}" if path else key
                causes.append(Cause(child, "FieldValueRequired", "Required value"))


def _is_type(value: Any, expected: str) -> bool:
    actual = type_name(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _type_error(where: str, value: Any, expected: str) -> Cause:
    actual = type_name(value)
    return Cause(
        where,
        "FieldValueTypeInvalid",
        f'Invalid value: "{actual}": {where} in body must be of type {expected}: "{actual}"',
    )


def _invalid(where: str, shown: Any, detail: str) -> Cause:
    return Cause(where, "FieldValueInvalid", f"Invalid value: {shown}: {where} in body {detail}")


def _check_string(schema: dict, value: str, where: str, causes: list[Cause]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        detail = f"should be at least {schema['minLength']} chars long"
        causes.append(_invalid(where, _shown(value), detail))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        detail = f"should be at most {schema['maxLength']} chars long"
        causes.append(_invalid(where, _shown(value), detail))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        causes.append(_invalid(where, _shown(value), f"should match '{schema['pattern']}'"))


def _check_number(schema: dict, value: float, where: str, causes: list[Cause]) -> None:
    if "minimum" in schema:
        low, exclusive = schema["minimum"], schema.get("exclusiveMinimum", False)
        if value < low or (exclusive and value == low):
            relation = "greater than" if exclusive else "greater than or equal to"
            causes.append(_invalid(where, _shown(value), f"should be {relation} {low}"))
    if "maximum" in schema:
        high, exclusive = schema["maximum"], schema.get("exclusiveMaximum", False)
        if value > high or (exclusive and value == high):
            relation = "less than" if exclusive else "less than or equal to"
            causes.append(_invalid(where, _shown(value), f"should be {relation} {high}"))


def _check_array(schema: dict, value: list, where: str, causes: list[Cause]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        detail = f"should have at least {schema['minItems']} items"
        causes.append(_invalid(where, len(value), detail))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        detail = f"should have at most {schema['maxItems']} items"
        causes.append(_invalid(where, len(value), detail))
