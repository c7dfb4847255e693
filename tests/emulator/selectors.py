"""Label and field selectors with the API server's syntax.

Label selectors: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`,
comma-separated (commas inside parentheses belong to the set). Field selectors:
`metadata.name`, `metadata.namespace` for every kind, plus the fields the real server's
conversion functions accept for pods, nodes, events, namespaces, secrets and services, with
`=`, `==`, `!=` (k8s.io/kubernetes pkg/apis/core/v1/conversion.go).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.emulator.status import bad_request

Predicate = Callable[[dict], bool]

_REQ = re.compile(
    r"""^\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s=!,()<>]+)                                   # !key
      | (?P<skey>[^\s=!,()<>]+)\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\) # key in (a,b)
      | (?P<key>[^\s=!,()<>]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)      # key=value
      | (?P<ckey>[^\s=!,()<>]+)\s*(?P<cmp>[<>])\s*(?P<number>[0-9]+)          # key>1, key<1
      | (?P<ekey>[^\s=!,()<>]+)                                               # key
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
    if m["ckey"]:
        key, bound, greater = m["ckey"], int(m["number"]), m["cmp"] == ">"
        # gt/lt: the label must exist and be an integer (apimachinery labels.Requirement).
        return lambda labels: (
            _integer(labels.get(key)) is not None
            and (
                _integer(labels[key]) > bound if greater else _integer(labels[key]) < bound  # type: ignore[operator]
            )
        )
    key = m["ekey"]
    return lambda labels: key in labels


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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


_GENERIC_FIELDS = ("metadata.name", "metadata.namespace")
# Kinds with a field label conversion function: their own list, and a terser error.
KIND_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("", "pods"): frozenset(
        {
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        }
    ),
    ("", "nodes"): frozenset({"metadata.name", "spec.unschedulable"}),
    ("", "events"): frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        }
    ),
    ("", "namespaces"): frozenset({"status.phase", "metadata.name"}),
    ("", "secrets"): frozenset({"type", "metadata.namespace", "metadata.name"}),
    ("", "services"): frozenset(
        {"metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"}
    ),
}


def _unsupported_field(path: str, kind_key: tuple[str, str] | None) -> Exception:
    if kind_key in KIND_FIELDS:
        return bad_request(f"field label not supported: {path}")
    only = ", ".join(f'"{f}"' for f in _GENERIC_FIELDS)
    return bad_request(f'"{path}" is not a known field selector: only {only}')


def field_selector(selector: str | None, kind_key: tuple[str, str] | None = None) -> Predicate:
    if not selector or not selector.strip():
        return lambda obj: True
    checks: list[Callable[[dict], bool]] = []
    for part in _split(selector):
        m = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(\S*)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: {selector!r}; can't understand {part!r}")
        path, op, value = m.groups()
        supported = KIND_FIELDS.get(kind_key, frozenset(_GENERIC_FIELDS)) if kind_key else None
        if supported is not None and path not in supported:
            raise _unsupported_field(path, kind_key)
        checks.append(_field_check(path, op, value))
    return lambda obj: all(check(obj) for check in checks)
