"""Values for the chart: Helm's ``--set`` syntax, ``-f`` files, and the merge between them.

``--set`` is parsed here rather than handed to ``helm`` so that a typo is reported before
anything touches the cluster, and so ``-f``, ``--set`` and the CLI's own flags end up in one
tree sent on stdin (pyhelm3 passes values that way). The grammar follows Helm's ``strvals``:
``a.b=c,d=e``, ``list[0]=x``, ``list={x,y}``, ``\\`` escapes ``,`` ``.`` ``=`` ``[``;
``true``/``false`` become booleans, integers without a leading zero become ints, ``null``
removes the key from the chart's defaults.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from osm_mesh.errors import InvalidInput

Values = dict[str, Any]

_INDEX = re.compile(r"^(.*)\[(\d+)\]$")
_MAX_INDEX = 65536  # Helm's own bound: a typo like list[99999999]=x must not allocate a list


def parse_set(expression: str) -> Values:
    """One ``--set`` argument (possibly comma-separated) → a values tree."""
    result: Values = {}
    for assignment in _split(expression, ","):
        if assignment == "":
            continue
        key, sep, raw = _partition(assignment, "=")
        if not sep:
            raise InvalidInput(
                f'invalid format for --set: key "{_unescape(key)}" has no value',
                hint="Use --set key=value (comma-separated for several, e.g. "
                "--set osm.deployGrafana=true,osm.enableEgress=false)",
            )
        if key == "":
            raise InvalidInput(f"invalid format for --set: {assignment!r} has no key")
        _assign(result, _key_path(key, assignment), _typed_value(raw))
    return result


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside ``{...}`` lists and not escaped with a backslash."""
    parts, current, depth, i = [], [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _partition(text: str, sep: str) -> tuple[str, str, str]:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep:
            return text[:i], sep, text[i + 1 :]
        i += 1
    return text, "", ""


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _key_path(key: str, assignment: str) -> list[str | int]:
    path: list[str | int] = []
    for segment in _split(key, "."):
        if segment == "":
            raise InvalidInput(f"invalid format for --set: empty key segment in {assignment!r}")
        indexes: list[int] = []
        match = _INDEX.match(segment)
        while match and not segment.endswith("\\]"):
            indexes.insert(0, int(match.group(2)))
            segment = match.group(1)
            match = _INDEX.match(segment)
        if "[" in segment.replace("\\[", "") or "]" in segment.replace("\\]", ""):
            raise InvalidInput(f"invalid format for --set: bad list index in {assignment!r}")
        if segment:
            path.append(_unescape(segment))
        elif not path:
            raise InvalidInput(f"invalid format for --set: {assignment!r} has no key")
        for index in indexes:
            if index > _MAX_INDEX:
                raise InvalidInput(
                    f"invalid format for --set: index {index} in {assignment!r} is too large"
                )
            path.append(index)
    return path


def _typed_value(raw: str) -> Any:
    if raw.startswith("{") and raw.endswith("}"):
        return [_typed_scalar(_unescape(item)) for item in _split(raw[1:-1], ",") if item != ""]
    return _typed_scalar(_unescape(raw))


def _typed_scalar(value: str) -> Any:
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if value == "0":
        return 0
    # Helm keeps "007" and "1.5" as strings; only plain integers become numbers.
    if re.fullmatch(r"-?[1-9][0-9]{0,18}", value):
        return int(value)
    return value


def _assign(tree: Any, path: list[str | int], value: Any) -> None:
    node = tree
    for here, nxt in itertools.pairwise(path):
        node = _child(node, here, [] if isinstance(nxt, int) else {})
    last = path[-1]
    if isinstance(last, int):
        _ensure_len(node, last)
        node[last] = value
    else:
        node[last] = value


def _child(node: Any, key: str | int, empty: Any) -> Any:
    if isinstance(key, int):
        if not isinstance(node, list):
            raise InvalidInput("invalid format for --set: a list index follows a non-list key")
        _ensure_len(node, key)
        if not isinstance(node[key], type(empty)):
            node[key] = empty
        return node[key]
    if not isinstance(node, dict):
        raise InvalidInput(f"invalid format for --set: {key!r} is under a non-map value")
    if not isinstance(node.get(key), type(empty)):
        node[key] = empty
    return node[key]


def _ensure_len(node: list[Any], index: int) -> None:
    while len(node) <= index:
        node.append(None)


def load_values_file(path: str | Path) -> Values:
    """A ``-f`` file: a YAML mapping (an empty file is an empty mapping)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read values file {str(path)!r}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InvalidInput(
            f"values file {str(path)!r} is not valid YAML{where}: {problem}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(
            f"values file {str(path)!r} must hold a mapping of values, not a {type(data).__name__}"
        )
    return data


def merge(base: Mapping[str, Any], *overrides: Mapping[str, Any]) -> Values:
    """Helm's precedence: maps merge key by key, anything else (lists too) is replaced.

    ``None`` is kept (not dropped) so Helm removes that key from the chart's defaults.
    """
    result: Values = copy.deepcopy(dict(base))
    for override in overrides:
        for key, value in override.items():
            if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
                result[key] = merge(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def user_values(files: Iterable[str | Path] = (), sets: Iterable[str] = ()) -> Values:
    """``-f`` files in order, then ``--set`` arguments in order (later wins), as Helm does."""
    layers = [load_values_file(f) for f in files] + [parse_set(s) for s in sets]
    return merge({}, *layers)


def get_path(values: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def set_path(values: Values, dotted: str, value: Any) -> None:
    node = values
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
