"""SMI objects of every version normalize to the same model; bad input says what and how."""

from __future__ import annotations

import json

import pytest
import yaml

from osm_mesh.smi.model import (
    Backend,
    HTTPMatch,
    HTTPRouteGroup,
    IdentityRef,
    Rule,
    RuleRef,
    TCPRoute,
    TrafficSplit,
    TrafficTarget,
    UDPRoute,
)
from osm_mesh.smi.parse import parse_smi, supported_api_versions
from osm_mesh.smi.split import parse_quantity_milli


def parse_ok(text: str):
    obj, problems = parse_smi(yaml.safe_load(text))
    assert obj is not None, problems
    assert [p for p in problems if p.severity == "error"] == []
    return obj, problems


def parse_bad(text: str):
    obj, problems = parse_smi(yaml.safe_load(text))
    assert obj is None
    errors = [p for p in problems if p.severity == "error"]
    assert errors
    return errors


DEST = IdentityRef("api", "ns")
SOURCES = (IdentityRef("web", "ns"),)
RULES = (Rule("HTTPRouteGroup", "routes", ("read",)),)

TT_V1ALPHA1 = """
apiVersion: access.smi-spec.io/v1alpha1
kind: TrafficTarget
metadata: {name: t, namespace: ns}
destination: {kind: ServiceAccount, name: api, namespace: ns, port: 8080}
sources: [{kind: ServiceAccount, name: web, namespace: ns}]
specs: [{kind: HTTPRouteGroup, name: routes, matches: [read]}]
"""
TT_V1ALPHA2 = """
apiVersion: access.smi-spec.io/v1alpha2
kind: TrafficTarget
metadata: {name: t, namespace: ns}
spec:
  destination: {kind: ServiceAccount, name: api, namespace: ns, port: 8080}
  sources: [{kind: ServiceAccount, name: web, namespace: ns}]
  rules: [{kind: HTTPRouteGroup, name: routes, matches: [read]}]
"""
TT_V1ALPHA3 = """
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: t, namespace: ns}
spec:
  destination: {kind: ServiceAccount, name: api, namespace: ns}
  sources: [{kind: ServiceAccount, name: web, namespace: ns}]
  rules: [{kind: HTTPRouteGroup, name: routes, matches: [read]}]
"""


@pytest.mark.parametrize(
    ("text", "port"), [(TT_V1ALPHA1, 8080), (TT_V1ALPHA2, 8080), (TT_V1ALPHA3, None)]
)
def test_traffic_target_versions_normalize(text, port):
    tt, _ = parse_ok(text)
    assert tt == TrafficTarget("ns", "t", DEST, SOURCES, RULES, port)


def test_rule_without_matches_means_all():
    tt, _ = parse_ok(TT_V1ALPHA3.replace(", matches: [read]", ""))
    assert tt.rules == (Rule("HTTPRouteGroup", "routes", None),)
    tt, _ = parse_ok(TT_V1ALPHA3.replace("matches: [read]", "matches: []"))
    assert tt.rules[0].matches is None


def test_traffic_target_in_other_namespace_is_invalid():
    [err] = parse_bad(
        TT_V1ALPHA3.replace(
            "metadata: {name: t, namespace: ns}", "metadata: {name: t, namespace: other}"
        )
    )
    assert err.field == "spec.destination.namespace"
    assert "create the TrafficTarget in namespace 'ns'" in err.hint


def test_source_without_namespace_is_kept_with_a_warning():
    tt, problems = parse_ok(TT_V1ALPHA3.replace("name: web, namespace: ns", "name: web"))
    assert tt.sources == (IdentityRef("web", None),)
    assert [p.field for p in problems] == ["spec.sources[0].namespace"]


def test_v1alpha3_port_is_flagged_and_honoured():
    """A v1alpha2 TrafficTarget read as v1alpha3 (CRD conversion strategy None) keeps its
    port: narrowing access to that port is the fail-closed reading; lint still flags it."""
    tt, problems = parse_ok(
        TT_V1ALPHA3.replace("namespace: ns}\n  sources", "namespace: ns, port: 80}\n  sources")
    )
    assert [(p.field, p.severity) for p in problems] == [("spec.destination.port", "warning")]
    assert tt.port == 80


HRG = {
    "v1alpha1": """
apiVersion: specs.smi-spec.io/v1alpha1
kind: HTTPRouteGroup
metadata: {name: g, namespace: ns}
matches:
- {name: read, pathRegex: /items, methods: [GET, HEAD]}
""",
    "v1alpha2": """
apiVersion: specs.smi-spec.io/v1alpha2
kind: HTTPRouteGroup
metadata: {name: g, namespace: ns}
matches:
- {name: read, pathRegex: /items, methods: [GET, HEAD]}
""",
    "v1alpha3": """
apiVersion: specs.smi-spec.io/v1alpha3
kind: HTTPRouteGroup
metadata: {name: g, namespace: ns}
spec:
  matches:
  - {name: read, pathRegex: /items, methods: [GET, HEAD]}
""",
    "v1alpha4": """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: g, namespace: ns}
spec:
  matches:
  - {name: read, pathRegex: /items, methods: [GET, HEAD]}
""",
}


@pytest.mark.parametrize("version", sorted(HRG))
def test_http_route_group_versions_normalize(version):
    group, _ = parse_ok(HRG[version])
    assert group == HTTPRouteGroup("ns", "g", (HTTPMatch("read", "/items", ("GET", "HEAD")),))
    assert group.api_version == f"specs.smi-spec.io/{version}"


def test_headers_map_and_list_forms_are_equal():
    as_map, _ = parse_ok(
        HRG["v1alpha4"].replace("methods: [GET, HEAD]}", "headers: {x-a: '1', x-b: two}}")
    )
    as_list, _ = parse_ok(
        HRG["v1alpha4"].replace("methods: [GET, HEAD]}", "headers: [{x-a: '1'}, {x-b: two}]}")
    )
    assert as_map.matches[0].headers == (("x-a", "1"), ("x-b", "two"))
    assert as_list == as_map


@pytest.mark.parametrize(
    ("methods", "hint"),
    [
        ("[FETCH]", "use one of *, GET"),
        ("[get]", "did you mean 'GET'?"),
        ("[GET, 5]", "use one of"),
    ],
)
def test_invalid_methods(methods, hint):
    [err] = parse_bad(HRG["v1alpha4"].replace("[GET, HEAD]", methods))
    assert err.message.startswith("invalid method")
    assert hint in err.hint
    assert err.ref is not None and str(err.ref) == "HTTPRouteGroup/ns/g"


def test_tcp_route_ports_by_version():
    old, _ = parse_ok(
        "apiVersion: specs.smi-spec.io/v1alpha3\nkind: TCPRoute\n"
        "metadata: {name: r, namespace: ns}\nspec: {}\n"
    )
    assert old == TCPRoute("ns", "r", ())
    new, _ = parse_ok(
        "apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\n"
        "metadata: {name: r, namespace: ns}\nspec: {matches: {ports: [3306, 33060, 3306]}}\n"
    )
    assert new.ports == (3306, 33060)
    udp, _ = parse_ok(
        "apiVersion: specs.smi-spec.io/v1alpha4\nkind: UDPRoute\n"
        "metadata: {name: d, namespace: ns}\nspec: {matches: {ports: [53]}}\n"
    )
    assert udp == UDPRoute("ns", "d", (53,))


SPLIT = """
apiVersion: split.smi-spec.io/{version}
kind: TrafficSplit
metadata: {{name: s, namespace: ns}}
spec:
  service: api.ns.svc.cluster.local
  backends:
  - {{service: api-v1, weight: {w1}}}
  - {{service: api-v2, weight: {w2}}}
"""


@pytest.mark.parametrize(
    ("version", "w1", "w2", "expected"),
    [
        ("v1alpha1", "'1'", "100m", (1000, 100)),
        ("v1alpha1", "900m", "100m", (900, 100)),
        ("v1alpha1", 9, 1, (9000, 1000)),
        ("v1alpha2", 90, 10, (90, 10)),
        ("v1alpha3", 90, 10, (90, 10)),
        ("v1alpha4", 0, 10, (0, 10)),
    ],
)
def test_split_weights_by_version(version, w1, w2, expected):
    split, _ = parse_ok(SPLIT.format(version=version, w1=w1, w2=w2))
    assert split == TrafficSplit(
        "ns", "s", "api", (Backend("api-v1", expected[0]), Backend("api-v2", expected[1]))
    )


def test_split_matches_v1alpha3():
    text = (
        SPLIT.format(version="v1alpha3", w1=1, w2=1)
        + "  matches: [{kind: HTTPRouteGroup, name: beta}]\n"
    )
    split, _ = parse_ok(text)
    assert split.matches == (RuleRef("HTTPRouteGroup", "beta"),)


@pytest.mark.parametrize(
    ("version", "weight", "needle"),
    [
        ("v1alpha2", -1, "negative weight"),
        ("v1alpha2", "'50%'", "must be an integer"),
        ("v1alpha2", 1.5, "must be an integer"),
        ("v1alpha2", "true", "must be an integer"),
        ("v1alpha1", "-1", "negative weight"),
        ("v1alpha1", "abc", "invalid weight"),
        ("v1alpha1", "0.0001", "invalid weight"),
    ],
)
def test_bad_weights(version, weight, needle):
    errors = parse_bad(SPLIT.format(version=version, w1=weight, w2=1))
    assert needle in errors[0].message
    assert errors[0].field == "spec.backends[0].weight"


def test_quantities():
    assert parse_quantity_milli("1") == 1000
    assert parse_quantity_milli("1.5") == 1500
    assert parse_quantity_milli("250m") == 250
    assert parse_quantity_milli("1k") == 1_000_000
    assert parse_quantity_milli("1Ki") == 1_024_000
    with pytest.raises(ValueError):
        parse_quantity_milli("1.5m")


def test_unknown_api_version_lists_supported():
    [err] = parse_bad(TT_V1ALPHA3.replace("v1alpha3", "v2"))
    assert err.field == "apiVersion"
    assert err.hint == "use one of: " + ", ".join(supported_api_versions("TrafficTarget"))


def test_missing_namespace_defaults_to_default():
    tt, _ = parse_ok(
        TT_V1ALPHA3.replace("namespace: ns}\nspec", "}\nspec").replace(
            "namespace: ns", "namespace: default"
        )
    )
    assert tt.namespace == "default"


def test_path_matching_follows_the_spec():
    match = HTTPMatch("m", "/api/values", ("GET",), (("User-Agent", ".*curl.*"),))
    assert match.matches_request("GET", "/api/values?x=1", {"user-agent": "curl/8"})
    assert match.matches_request(
        "get", "/api/values/extra", {"user-agent": "curl/8"}
    )  # prefix anchor
    assert not match.matches_request("GET", "/v2/api/values", {"user-agent": "curl/8"})
    assert not match.matches_request("POST", "/api/values", {"user-agent": "curl/8"})
    assert not match.matches_request("GET", "/api/values", {})
    assert HTTPMatch("m", None, ("*",)).matches_request("DELETE", "/anything")
    assert match.envoy_path_regex() == "(?:/api/values).*"
    assert HTTPMatch("m", ".*").envoy_path_regex() is None


@pytest.mark.parametrize(
    ("regex", "ok"),
    [
        ("/items/(?!secret)", False),
        ("(?<=a)b", False),
        ("(a)\\1", False),
        ("(?>a)", False),
        ("/a\\\\1", True),  # an escaped backslash, then a literal 1
        ("/x(?:y|z)", True),
        ("/x(?P<id>[0-9]+)", True),
    ],
)
def test_regexes_envoy_cannot_run_are_errors(regex, ok):
    text = HRG["v1alpha4"].replace("pathRegex: /items", f"pathRegex: {json.dumps(regex)}")
    obj, problems = parse_smi(yaml.safe_load(text))
    assert (obj is not None) is ok, problems
    if not ok:
        assert "RE2" in problems[0].message
