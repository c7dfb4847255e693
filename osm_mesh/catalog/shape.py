"""Tolerant access to raw Kubernetes objects: a field of the wrong type reads as empty.

Schema problems are reported by the SMI parser and lint; everything else that reads raw
objects (catalog building, lint's cross-checks) must never crash on them.
"""

from __future__ import annotations

from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...`` or None when a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj
