"""Label and field selectors with the API server's syntax.

Label selectors: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
comma-separated (commas inside parentheses belong to the set). Field selectors:
`metadata.name`, `metadata.namespace`, `status.phase`, `spec.nodeName` and a
few type-specific ones the real server supports, with `=`, `==`, `!=`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.emulator.status import bad_request

Predicate = Callable[[dict], bool]

_REQ = re.compile(
    r"""^\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s=!,()]+)                                   # !key
      | (?P<skey>[^\s=!,()]+)\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\) # key in (a,b)
      | (?P<key>[^\s=!,()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)      # key=value
      | (?P<ekey>[^\s=!,()]+)                                               # key
    )\s*$""",
    re.X,
)


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside a parenthesised set."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def label_selector(selector: str | None) -> Predicate:
    """A predicate over an object's metadata.labels; raises 400 on bad syntax."""
    if not selector or not selector.strip():
        return lambda obj: True
    checks: list[Callable[[dict], bool]] = []
    for part in _split(selector):
        m = _REQ.match(part)
        if not m:
            raise bad_request(f"unable to parse requirement: {part!r} in selector {selector!r}")
        checks.append(_label_check(m))

    def matches(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def _label_check(m: re.Match[str]) -> Callable[[dict], bool]:
    """One requirement as a predicate over a labels dict."""
    if m["nkey"]:
        key = m["nkey"]
        return lambda labels: key not in labels
    if m["skey"]:
        key = m["skey"]
        values = {v.strip() for v in m["values"].split(",") if v.strip()}
        if m["setop"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m["key"]:
        key, value = m["key"], m["value"]
        if m["op"] == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    key = m["ekey"]
    return lambda labels: key in labels


def _field_check(path: str, op: str, value: str) -> Callable[[dict], bool]:
    if op == "!=":
        return lambda obj: _field(obj, path) != value
    return lambda obj: _field(obj, path) == value


def _field(obj: dict, path: str) -> str:
    value: object = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


SUPPORTED_FIELDS = {
    "metadata.name",
    "metadata.namespace",
    "status.phase",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "status.podIP",
    "type",  # secrets, events
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.kind",
    "involvedObject.uid",
    "reason",
}


def field_selector(selector: str | None) -> Predicate:
    if not selector or not selector.strip():
        return lambda obj: True
    checks: list[Callable[[dict], bool]] = []
    for part in _split(selector):
        m = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(\S*)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: {selector!r}; can't understand {part!r}")
        path, op, value = m.groups()
        if path not in SUPPORTED_FIELDS:
            raise bad_request(f'field label not supported: "{path}"')
        checks.append(_field_check(path, op, value))
    return lambda obj: all(check(obj) for check in checks)
