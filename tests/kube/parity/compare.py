"""What legitimately differs between two API servers, removed; the rest compared.

Identity and timing differ by construction (uids, timestamps, resourceVersion values, pod and
cluster IPs, the random suffixes of generated names) and ``managedFields`` records the client's
user agent and the exact write time, so those are replaced by placeholders that keep only
whether the field was there. Everything else must be equal.
"""

from __future__ import annotations

import json
import re
from typing import Any

SET = "<set>"
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_IP = re.compile(r"^10\.(96|244|250)\.\d+\.\d+$")
# Values a server picks: replaced wherever they appear as a whole value.
_PLACEHOLDER_KEYS = {"uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"}


def normalise(value: Any, *, drop: tuple[str, ...] = ()) -> Any:
    """A copy of ``value`` with server-chosen values replaced by ``<set>``; ``drop`` lists
    dotted paths (from the top) to remove entirely."""
    result = _walk(value)
    for path in drop:
        _drop(result, path.split("."))
    return result


def _walk(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "managedFields":
                out[k] = SET if v else v
            elif k in _PLACEHOLDER_KEYS and v not in (None, ""):
                out[k] = SET
            else:
                out[k] = _walk(v, k)
        return out
    if isinstance(value, list):
        return [_walk(v, key) for v in value]
    if isinstance(value, str) and (
        _TIMESTAMP.match(value) or _UID.match(value) or _IP.match(value)
    ):
        return SET
    return value


def _drop(value: Any, parts: list[str]) -> None:
    if not isinstance(value, dict) or not parts:
        return
    if len(parts) == 1:
        value.pop(parts[0], None)
        return
    if parts[0] == "*":
        for child in value.values():
            _drop(child, parts[1:])
        return
    child = value.get(parts[0])
    if isinstance(child, list):
        for item in child:
            _drop(item, parts[1:])
    else:
        _drop(child, parts[1:])


def differences(emulator: Any, real: Any, path: str = "") -> list[str]:
    """Human-readable paths where the two values differ (empty: equal)."""
    if isinstance(emulator, dict) and isinstance(real, dict):
        out: list[str] = []
        for key in sorted(set(emulator) | set(real)):
            where = f"{path}.{key}" if path else key
            if key not in real:
                out.append(f"{where}: only the emulator has {_short(emulator[key])}")
            elif key not in emulator:
                out.append(f"{where}: only the real server has {_short(real[key])}")
            else:
                out.extend(differences(emulator[key], real[key], where))
        return out
    if isinstance(emulator, list) and isinstance(real, list) and len(emulator) == len(real):
        out = []
        for i, (a, b) in enumerate(zip(emulator, real, strict=True)):
            out.extend(differences(a, b, f"{path}[{i}]"))
        return out
    if emulator != real:
        return [f"{path or '(top)'}: emulator {_short(emulator)} != real {_short(real)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


def assert_same(emulator: Any, real: Any, what: str = "") -> None:
    found = differences(emulator, real)
    assert not found, f"emulator and real server differ{' in ' + what if what else ''}:\n  " + (
        "\n  ".join(found)
    )
