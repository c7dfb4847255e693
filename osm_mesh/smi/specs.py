"""traffic-specs: HTTPRouteGroup v1alpha1..4, TCPRoute v1alpha1..4, UDPRoute v1alpha4."""

from __future__ import annotations

import re
from typing import Any

from osm_mesh.smi.fields import Ctx, check_regex, mapping, port_number, seq, text, unknown_keys
from osm_mesh.smi.model import (
    HTTP_METHODS,
    HTTPMatch,
    HTTPRouteGroup,
    TCPRoute,
    UDPRoute,
)

# RFC 9110 token characters; a leading ':' allows HTTP/2 pseudo-headers such as :authority.
_HEADER_NAME = re.compile(r"^:?[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def _headers(ctx: Ctx, raw: Any, path: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    # The spec prose shows a map; the SDK a list of single-key maps. Accept both.
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict) or not entry:
                ctx.error(
                    f"{path}[{i}]",
                    "each header must be a `name: regex` mapping",
                    "write - header-name: regex",
                )
                continue
            items.extend(entry.items())
    else:
        ctx.error(
            path,
            "must be a map of header name to regex (or a list of such maps)",
            "write headers: {header-name: regex}",
        )
        return ()
    for key, value in items:
        if not isinstance(key, str) or not _HEADER_NAME.match(key):
            ctx.error(
                path,
                f"invalid header name {key!r}",
                "use an HTTP header name: letters, digits and - (e.g. x-user)",
            )
            continue
        if not isinstance(value, str):
            ctx.error(
                f"{path}.{key}",
                f"header value must be a string regex, got {value!r}",
                "quote the value",
            )
            continue
        check_regex(ctx, value, f"{path}.{key}")
        pairs.append((key, value))
    return tuple(pairs)


def _http_match(ctx: Ctx, raw: Any, path: str, version: str) -> HTTPMatch | None:
    data = mapping(ctx, raw, path)
    unknown_keys(ctx, data, path, ("name", "pathRegex", "methods", "headers"))
    name = text(ctx, data.get("name"), f"{path}.name")
    path_regex = data.get("pathRegex")
    if path_regex is not None:
        if not isinstance(path_regex, str):
            ctx.error(f"{path}.pathRegex", "must be a string", "quote the regex")
            path_regex = None
        else:
            sent_as = HTTPMatch("", path_regex).envoy_path_regex()
            check_regex(ctx, path_regex, f"{path}.pathRegex", sent_as=sent_as)
            _path_regex_starts_right(ctx, path_regex, f"{path}.pathRegex")
    methods = []
    for i, m in enumerate(seq(ctx, data.get("methods"), f"{path}.methods")):
        if m not in HTTP_METHODS:
            upper = str(m).upper()
            hint = f"did you mean {upper!r}?" if upper in HTTP_METHODS else ""
            ctx.error(
                f"{path}.methods[{i}]",
                f"invalid method {m!r}",
                hint or "use one of " + ", ".join(HTTP_METHODS),
            )
        else:
            methods.append(m)
    headers: tuple[tuple[str, str], ...] = ()
    if data.get("headers") is not None:
        if version == "v1alpha1":
            ctx.warn(
                f"{path}.headers",
                "headers are not part of specs v1alpha1",
                "use specs.smi-spec.io/v1alpha2 or later",
            )
        headers = _headers(ctx, data["headers"], f"{path}.headers")
    return HTTPMatch(name, path_regex or None, tuple(methods), headers) if name else None


def _path_regex_starts_right(ctx: Ctx, regex: str, path: str) -> None:
    # The regex is anchored at the start of the path, and every path starts with "/": a
    # regex beginning with a literal letter or digit can never match.
    body = regex.removeprefix("^")
    if body[:1].isalnum():
        ctx.warn(
            path,
            f"pathRegex {regex!r} never matches: request paths start with '/'",
            f"write '/{body}'",
        )


def _matches_raw(ctx: Ctx, obj: dict[str, Any], version: str) -> tuple[Any, str]:
    if version in ("v1alpha1", "v1alpha2"):
        return obj.get("matches"), "matches"
    spec = mapping(ctx, obj.get("spec"), "spec")
    return spec.get("matches"), "spec.matches"


def http_route_group(ctx: Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    raw, path = _matches_raw(ctx, obj, version)
    matches = []
    seen: set[str] = set()
    for i, m in enumerate(seq(ctx, raw, path)):
        match = _http_match(ctx, m, f"{path}[{i}]", version)
        if match is None:
            continue
        if match.name in seen:
            ctx.error(
                f"{path}[{i}].name",
                f"duplicate match name {match.name!r}",
                "give every match a unique name",
            )
        seen.add(match.name)
        matches.append(match)
    if raw is None:
        ctx.warn(
            path, "no matches: rules referencing this group allow nothing", f"add {path} entries"
        )
    return HTTPRouteGroup(ns, name, tuple(matches), ctx.ref.api_version)


def _ports_route(ctx: Ctx, obj: dict[str, Any], version: str) -> tuple[int, ...]:
    if version != "v1alpha4":
        return ()  # Before v1alpha4 a TCPRoute had no fields: it means every port.
    spec = mapping(ctx, obj.get("spec"), "spec")
    matches = spec.get("matches")
    if isinstance(matches, list):
        ctx.error(
            "spec.matches",
            "must be a mapping with `ports`, not a list",
            "write spec.matches: {ports: [8080]}",
        )
        return ()
    data = mapping(ctx, matches, "spec.matches")
    ports = []
    for i, p in enumerate(seq(ctx, data.get("ports"), "spec.matches.ports")):
        number = port_number(ctx, p, f"spec.matches.ports[{i}]")
        if number is not None:
            ports.append(number)
    return tuple(sorted(set(ports)))


def tcp_route(ctx: Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    return TCPRoute(ns, name, _ports_route(ctx, obj, version), ctx.ref.api_version)


def udp_route(ctx: Ctx, obj: dict[str, Any], version: str, ns: str, name: str) -> Any:
    return UDPRoute(ns, name, _ports_route(ctx, obj, version), ctx.ref.api_version)
