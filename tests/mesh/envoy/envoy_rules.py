"""What Envoy itself would do with a resource, in-process: refuse it, or route a request by it.

``violations`` applies the protoc-gen-validate rules Envoy checks when it loads a resource
(the ``validate.rules`` options in the v3 API's descriptors: required fields and oneofs,
string lengths, number ranges, repeated minimums), into ``Any``-packed configs too.
``answer`` routes one request through a RouteConfiguration as Envoy's router does: the
virtual host by Host (exact, then the longest ``*suffix``, then the longest ``prefix*``,
then ``*``), then the first route whose match holds, else Envoy's bare 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.protobuf import any_pb2, symbol_database
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from validate import validate_pb2

_NUMBER_KINDS = ("uint32", "uint64", "int32", "int64", "double", "float")


def violations(msg: Message, path: str = "") -> list[str]:
    """Every rule Envoy's validation would refuse ``msg`` for (empty: accepted)."""
    if isinstance(msg, any_pb2.Any):
        inner = symbol_database.Default().GetSymbol(msg.TypeName())()
        msg.Unpack(inner)
        return violations(inner, path)
    out: list[str] = []
    desc = msg.DESCRIPTOR
    for oneof in desc.oneofs:
        if oneof.GetOptions().Extensions[validate_pb2.required] and not msg.WhichOneof(oneof.name):
            out.append(f"{path}{desc.name}.{oneof.name}: required")
    for field in desc.fields:
        oneof = field.containing_oneof
        if oneof is not None and msg.WhichOneof(oneof.name) != field.name:
            continue  # a oneof's rules hold for the member that is set
        where = f"{path}{desc.name}.{field.name}"
        rules = field.GetOptions().Extensions[validate_pb2.rules]
        repeated = field.is_repeated
        value = getattr(msg, field.name)
        if repeated:
            if rules.HasField("repeated") and len(value) < rules.repeated.min_items:
                out.append(f"{where}: fewer than {rules.repeated.min_items} items")
            items = list(value.values()) if _is_map(field) else list(value)
            item_rules = rules.repeated.items if rules.HasField("repeated") else None
        else:
            if field.message_type is not None and not msg.HasField(field.name):
                if rules.HasField("message") and rules.message.required:
                    out.append(f"{where}: required")
                continue
            items, item_rules = [value], rules
        for item in items:
            if isinstance(item, Message):
                out += violations(item, where + "/")
            elif item_rules is not None:
                out += _scalar(where, item, item_rules)
    return out


def _is_map(field: FieldDescriptor) -> bool:
    mt = field.message_type
    return mt is not None and mt.GetOptions().map_entry


def _scalar(where: str, value: object, rules: validate_pb2.FieldRules) -> list[str]:
    if rules.HasField("string") and isinstance(value, str):
        if len(value) < rules.string.min_len:
            return [f"{where}: shorter than {rules.string.min_len}"]
        return []
    for kind in _NUMBER_KINDS:
        if rules.HasField(kind):  # type: ignore[arg-type]
            r = getattr(rules, kind)
            bad = (
                (r.HasField("gte") and value < r.gte)  # type: ignore[operator]
                or (r.HasField("gt") and value <= r.gt)  # type: ignore[operator]
                or (r.HasField("lt") and value >= r.lt)  # type: ignore[operator]
                or (r.HasField("lte") and value > r.lte)  # type: ignore[operator]
            )
            return [f"{where}: {value} out of range"] if bad else []
    return []


@dataclass(frozen=True)
class Answer:
    vhost: str | None  # None: no virtual host for the Host
    route: str | None  # the matched route's name (what request metrics count under)
    status: int | None  # a direct response's status; None when routed to a cluster
    body: str
    cluster: str | None


NOT_FOUND = Answer(None, None, 404, "", None)


def answer(
    config: Message, host: str, path: str = "/", headers: dict[str, str] | None = None
) -> Answer:
    """What Envoy does with ``host`` + ``path`` (+ headers, ``:method`` defaults to GET)."""
    domains = [d for vh in config.virtual_hosts for d in vh.domains]
    assert len(domains) == len(set(domains)), f"Envoy refuses duplicate domains: {domains}"
    vhost = _vhost(config, host.lower())
    if vhost is None:
        return NOT_FOUND
    request = {":method": "GET", **(headers or {})}
    for route in vhost.routes:
        if _matches(route.match, path.split("?")[0], request):
            if route.HasField("direct_response"):
                body = route.direct_response.body.inline_string
                return Answer(vhost.name, route.name, route.direct_response.status, body, None)
            return Answer(vhost.name, route.name, None, "", route.route.cluster or None)
    return Answer(vhost.name, None, 404, "", None)


def _vhost(config: Message, host: str):
    by_domain = {d: vh for vh in config.virtual_hosts for d in vh.domains}
    if host in by_domain:
        return by_domain[host]
    wild = sorted((d for d in by_domain if d != "*"), key=len, reverse=True)
    for d in wild:
        if d.startswith("*") and host.endswith(d[1:]) and len(host) > len(d) - 1:
            return by_domain[d]
    for d in wild:
        if d.endswith("*") and host.startswith(d[:-1]) and len(host) > len(d) - 1:
            return by_domain[d]
    return by_domain.get("*")


def _matches(match: Message, path: str, request: dict[str, str]) -> bool:
    kind = match.WhichOneof("path_specifier")
    if kind == "prefix":
        ok = path.startswith(match.prefix)
    elif kind == "path":
        ok = path == match.path
    elif kind == "safe_regex":
        ok = re.fullmatch(match.safe_regex.regex, path) is not None
    else:
        return False  # no path specifier: Envoy refuses it (``violations``)
    return ok and all(_header_holds(h, request.get(h.name)) for h in match.headers)


def _header_holds(matcher: Message, value: str | None) -> bool:
    sm = matcher.string_match
    kind = sm.WhichOneof("match_pattern")
    if value is None or kind not in ("exact", "prefix", "safe_regex"):
        return False  # an absent header; matchers the mesh never writes are not modelled
    if kind == "exact":
        return value == sm.exact
    if kind == "prefix":
        return value.startswith(sm.prefix)
    return re.fullmatch(sm.safe_regex.regex, value) is not None
