"""HTTPRouteGroup, TCPRoute, UDPRoute: every problem of a malformed route in one pass, each
saying where and how to fix it, and the regexes checked as Envoy will run them."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.smi import codes
from osm_mesh.smi.model import HTTPMatch
from tests.mesh.smi.problems import error, meta, parse, unknown, warning

SPECS = "specs.smi-spec.io"
MATCH_FIELDS = "name, pathRegex, methods, headers"


def route_group(*matches: Any, version: str = "v1alpha3") -> dict[str, Any]:
    obj = {"apiVersion": f"{SPECS}/{version}", "kind": "HTTPRouteGroup", "metadata": meta("g")}
    if version in ("v1alpha1", "v1alpha2"):
        return obj | {"matches": list(matches)}
    return obj | {"spec": {"matches": list(matches)}}


def ports_route(kind: str, spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{SPECS}/v1alpha4", "kind": kind, "metadata": meta("r"), "spec": spec}


def regex_error(field: str, message: str) -> tuple[str, str, str, str, str]:
    hint = (
        "use RE2 syntax (https://github.com/google/re2/wiki/Syntax): no \\Z, lookaround, "
        "backreferences or repetitions over 1000"
    )
    return error(field, message, hint, codes.INVALID_REGEX)


H = "spec.matches[0].headers"
HEADER_NAME_HINT = "use an HTTP header name: letters, digits and - (e.g. x-user)"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # Every bad entry is reported, and the ones after it are still checked.
        (
            ["x-user", {}, {"x-b": "("}],
            [
                error(
                    f"{H}[0]",
                    "each header must be a `name: regex` mapping",
                    "write - header-name: regex",
                ),
                error(
                    f"{H}[1]",
                    "each header must be a `name: regex` mapping",
                    "write - header-name: regex",
                ),
                regex_error(
                    f"{H}.x-b",
                    "invalid regular expression '(' (RE2, as Envoy runs it): missing ): (",
                ),
            ],
        ),
        (
            {"bad name": "x", "x-v": 7, "x-c": "("},
            [
                error(H, "invalid header name 'bad name'", HEADER_NAME_HINT),
                error(f"{H}.x-v", "header value must be a string regex, got 7", "quote the value"),
                regex_error(
                    f"{H}.x-c",
                    "invalid regular expression '(' (RE2, as Envoy runs it): missing ): (",
                ),
            ],
        ),
        (
            "x-user",
            [
                error(
                    H,
                    "must be a map of header name to regex (or a list of such maps)",
                    "write headers: {header-name: regex}",
                ),
            ],
        ),
    ],
)
def test_malformed_headers_are_all_reported(headers, expected):
    group, problems = parse(route_group({"name": "m", "headers": headers}))
    assert (group, problems) == (None, expected)


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        (
            ["read"],
            [
                error(
                    "spec.matches[0]",
                    "must be a mapping, got str",
                    "write spec.matches[0] as key: value pairs",
                ),
                error("spec.matches[0].name", "is required", "set spec.matches[0].name"),
            ],
        ),
        (
            [{"name": "m", "pathRegex": 7}],
            [error("spec.matches[0].pathRegex", "must be a string", "quote the regex")],
        ),
        # Two unnamed matches: two missing names, not also a duplicate; the match after an
        # unusable one is still checked.
        (
            [{"pathRegex": "/a"}, {"pathRegex": "/b"}, {"name": "m", "methods": ["get"]}],
            [
                error("spec.matches[0].name", "is required", "set spec.matches[0].name"),
                error("spec.matches[1].name", "is required", "set spec.matches[1].name"),
                error("spec.matches[2].methods[0]", "invalid method 'get'", "did you mean 'GET'?"),
            ],
        ),
    ],
)
def test_malformed_matches_say_where_and_how(matches, expected):
    group, problems = parse(route_group(*matches))
    assert (group, problems) == (None, expected)


def test_a_misspelt_match_field_is_named():
    group, problems = parse(route_group({"name": "m", "method": ["GET"]}))
    assert problems == [unknown("spec.matches[0].method", MATCH_FIELDS)]
    assert group.matches == (HTTPMatch("m"),)


def test_a_path_regex_is_sized_as_envoy_receives_it():
    # "/aaa..." (95 a) is 100 RE2 instructions alone, Envoy's limit; sent as "(?:/aaa...).*"
    # (prefix anchoring) it is 108, and Envoy would NACK the route configuration.
    regex = "/" + "a" * 95
    group, problems = parse(route_group({"name": "m", "pathRegex": regex}))
    assert (group, problems) == (
        None,
        [
            error(
                "spec.matches[0].pathRegex",
                f"regular expression {regex!r} would be refused by Envoy: its RE2 program size "
                "is 108, over Envoy's limit of 100",
                "shorten it, or split it into several matches",
                codes.INVALID_REGEX,
            )
        ],
    )


@pytest.mark.parametrize(
    ("regex", "fix"),
    [
        ("^api/v1", "/api/v1"),
        ("a/b", "/a/b"),
        ("v1", "/v1"),
        ("/v1", None),
        ("^/v1", None),
        (".*", None),
    ],
)
def test_a_path_regex_that_cannot_match_a_path_is_flagged(regex, fix):
    group, problems = parse(route_group({"name": "m", "pathRegex": regex}))
    assert group is not None
    expected = [
        warning(
            "spec.matches[0].pathRegex",
            f"pathRegex {regex!r} never matches: request paths start with '/'",
            f"write '{fix}'",
        )
    ]
    assert problems == (expected if fix else [])


@pytest.mark.parametrize(
    ("version", "path"), [("v1alpha2", "matches"), ("v1alpha4", "spec.matches")]
)
def test_a_group_without_matches_is_flagged(version, path):
    obj = route_group(version=version)
    obj.pop("matches", None)
    obj.get("spec", {}).pop("matches", None)
    group, problems = parse(obj)
    assert group.matches == ()
    assert problems == [
        warning(
            path, "no matches: rules referencing this group allow nothing", f"add {path} entries"
        )
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            ["read"],
            [
                error("spec", "must be a mapping, got list", "write spec as key: value pairs"),
                warning(
                    "spec.matches",
                    "no matches: rules referencing this group allow nothing",
                    "add spec.matches entries",
                ),
            ],
        ),
        (
            {"matches": "read"},
            [error("spec.matches", "must be a list, got str", "write spec.matches as a list")],
        ),
    ],
)
def test_a_malformed_group_spec(spec, expected):
    obj = route_group()
    obj["spec"] = spec
    group, problems = parse(obj)
    assert (group, problems) == (None, expected)


@pytest.mark.parametrize("kind", ["TCPRoute", "UDPRoute"])
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            ["ports"],
            [error("spec", "must be a mapping, got list", "write spec as key: value pairs")],
        ),
        (
            {"matches": "8080"},
            [
                error(
                    "spec.matches",
                    "must be a mapping, got str",
                    "write spec.matches as key: value pairs",
                )
            ],
        ),
        (
            {"matches": {"ports": 8080}},
            [
                error(
                    "spec.matches.ports",
                    "must be a list, got int",
                    "write spec.matches.ports as a list",
                )
            ],
        ),
        (
            {"matches": {"ports": [0, 8080, 65536]}},
            [
                error(
                    "spec.matches.ports[0]", "invalid port 0", "use an integer between 1 and 65535"
                ),
                error(
                    "spec.matches.ports[2]",
                    "invalid port 65536",
                    "use an integer between 1 and 65535",
                ),
            ],
        ),
    ],
)
def test_a_malformed_ports_route(kind, spec, expected):
    route, problems = parse(ports_route(kind, spec))
    assert (route, problems) == (None, expected)


@pytest.mark.parametrize("kind", ["TCPRoute", "UDPRoute"])
def test_ports_route_bounds_and_api_version(kind):
    # Events about the route (a rule naming it on a port it lacks, ...) carry this apiVersion.
    route, problems = parse(ports_route(kind, {"matches": {"ports": [65535, 1]}}))
    assert problems == []
    assert route.ports == (1, 65535)
    assert route.ref.api_version == f"{SPECS}/v1alpha4"
