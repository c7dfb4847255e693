"""What a user reads about one SMI object: the parsed model and every problem, whole."""

from __future__ import annotations

from typing import Any

from osm_mesh.smi import codes
from osm_mesh.smi.parse import parse_smi

# (severity, field, message, hint, code)
Seen = tuple[str, str, str, str, str]


def seen(problems: list[Any]) -> list[Seen]:
    return [(p.severity, p.field, p.message, p.hint, p.code) for p in problems]


def parse(obj: dict[str, Any]) -> tuple[Any, list[Seen]]:
    result, problems = parse_smi(obj)
    return result, seen(problems)


def meta(name: str = "t", namespace: str = "ns") -> dict[str, str]:
    return {"name": name, "namespace": namespace}


def error(field: str, message: str, hint: str, code: Any = codes.INVALID_FIELD) -> Seen:
    return ("error", field, message, hint, code.id)


def warning(field: str, message: str, hint: str, code: Any = codes.INEFFECTIVE_FIELD) -> Seen:
    return ("warning", field, message, hint, code.id)


def unknown(field: str, known: str) -> Seen:
    return warning(
        field,
        "unknown field (ignored by the API server)",
        f"known fields: {known}",
        codes.UNKNOWN_FIELD,
    )
