"""TrafficTarget: what a malformed subject, rule or body shape tells the user, and which
body shape (CRD conversion strategy None hands any stored version out as any other) is read."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.smi import codes
from osm_mesh.smi.model import IdentityRef, Rule, TrafficTarget
from tests.mesh.smi.problems import error, meta, parse, unknown, warning

ACCESS = "access.smi-spec.io"
API = {"kind": "ServiceAccount", "name": "api", "namespace": "ns"}
WEB = {"kind": "ServiceAccount", "name": "web", "namespace": "ns"}
ROUTES = {"kind": "HTTPRouteGroup", "name": "routes"}
REQUIRED_SOURCE = error(
    "spec.sources", "at least one source is required", "add a source ServiceAccount"
)


def target(version: str = "v1alpha3", **spec: Any) -> dict[str, Any]:
    body = {"destination": API, "sources": [WEB], "rules": [ROUTES]} | spec
    return {
        "apiVersion": f"{ACCESS}/{version}",
        "kind": "TrafficTarget",
        "metadata": meta(),
        "spec": {k: v for k, v in body.items() if v is not ...},
    }


def test_a_subject_without_kind_is_a_service_account():
    tt, problems = parse(target(sources=[{"name": "web", "namespace": "ns"}]))
    assert problems == []
    assert tt.sources == (IdentityRef("web", "ns", "ServiceAccount"),)


def test_a_source_has_no_port():
    # Only the destination of v1alpha1/v1alpha2 carries a port: on a source it restricts
    # nothing, so the user is told it is ignored.
    _, problems = parse(target("v1alpha2", sources=[WEB | {"port": 8080}]))
    assert problems == [unknown("spec.sources[0].port", "kind, name, namespace")]


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ([None], [error("spec.sources[0]", "is required", "add spec.sources[0]")]),
        (
            ["web"],
            [
                error(
                    "spec.sources[0]",
                    "must be a mapping, got str",
                    "write spec.sources[0] as key: value pairs",
                )
            ],
        ),
        (
            [{"name": 7, "namespace": "ns"}],
            [error("spec.sources[0].name", "must be a string, got int", "quote the value")],
        ),
        (
            [{"name": "web", "namespace": 7}],
            [
                error("spec.sources[0].namespace", "must be a string, got int", "quote the value"),
                warning(
                    "spec.sources[0].namespace",
                    "source has no namespace and will never match (SMI spec)",
                    "set the source ServiceAccount's namespace",
                ),
            ],
        ),
        # Two sources without a name are two errors, not also a duplicate.
        (
            [{"namespace": "ns"}, {"namespace": "ns"}],
            [
                error("spec.sources[0].name", "is required", "set spec.sources[0].name"),
                error("spec.sources[1].name", "is required", "set spec.sources[1].name"),
            ],
        ),
        (
            "web",
            [
                error("spec.sources", "must be a list, got str", "write spec.sources as a list"),
                REQUIRED_SOURCE,
            ],
        ),
    ],
)
def test_malformed_sources_say_where_and_how(sources, expected):
    tt, problems = parse(target(sources=sources))
    assert (tt, problems) == (None, expected)


def test_a_nameless_destination_is_reported_once():
    # No namespace mismatch is reported about a destination that has no name.
    tt, problems = parse(target(destination={"namespace": "other"}))
    assert (tt, problems) == (
        None,
        [error("spec.destination.name", "is required", "set spec.destination.name")],
    )


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            "routes",
            [error("spec.rules", "must be a list, got str", "write spec.rules as a list")],
        ),
        (
            ["routes"],
            [
                error(
                    "spec.rules[0]",
                    "must be a mapping, got str",
                    "write spec.rules[0] as key: value pairs",
                ),
                error("spec.rules[0].kind", "is required", "set spec.rules[0].kind"),
                error("spec.rules[0].name", "is required", "set spec.rules[0].name"),
            ],
        ),
        (
            [{"kind": 7, "name": "routes"}],
            [error("spec.rules[0].kind", "must be a string, got int", "quote the value")],
        ),
        (
            [{"kind": "HTTPRouteGroup", "name": 7}],
            [error("spec.rules[0].name", "must be a string, got int", "quote the value")],
        ),
        (
            [ROUTES | {"matches": "read"}],
            [
                error(
                    "spec.rules[0].matches",
                    "must be a list, got str",
                    "write spec.rules[0].matches as a list",
                )
            ],
        ),
        (
            [ROUTES | {"matches": ["read", ""]}],
            [
                error(
                    "spec.rules[0].matches",
                    "match references must be non-empty strings",
                    "list the names of matches in the route",
                )
            ],
        ),
    ],
)
def test_malformed_rules_say_where_and_how(rules, expected):
    tt, problems = parse(target(rules=rules))
    assert (tt, problems) == (None, expected)


@pytest.mark.parametrize("version", ["v1alpha2", "v1alpha3"])
def test_a_target_without_spec_says_what_it_lacks(version):
    obj = target(version)
    del obj["spec"]
    tt, problems = parse(obj)
    assert (tt, problems) == (
        None,
        [
            error("spec", "is required", "add spec"),
            error("spec.destination", "is required", "add spec.destination"),
            REQUIRED_SOURCE,
        ],
    )


def test_a_spec_that_is_not_a_mapping():
    obj = target()
    obj["spec"] = ["destination"]
    _, problems = parse(obj)
    assert problems[0] == error(
        "spec", "must be a mapping, got list", "write spec as key: value pairs"
    )


def v1alpha1_body(dest_name: str = "api", port: int = 8080) -> dict[str, Any]:
    return {
        "destination": {
            "kind": "ServiceAccount",
            "name": dest_name,
            "namespace": "ns",
            "port": port,
        },
        "sources": [WEB],
        "specs": [ROUTES],
    }


def test_a_v1alpha2_body_read_as_v1alpha1_is_read_from_its_spec():
    obj = target("v1alpha1", destination=API | {"port": 8080})
    tt, problems = parse(obj)
    assert problems == []
    assert tt == TrafficTarget(
        "ns",
        "t",
        IdentityRef("api", "ns"),
        (IdentityRef("web", "ns"),),
        (Rule("HTTPRouteGroup", "routes"),),
        8080,
    )


@pytest.mark.parametrize("version", ["v1alpha2", "v1alpha3"])
def test_a_v1alpha1_body_read_as_a_later_version_keeps_its_port(version):
    obj = target(version) | v1alpha1_body()
    del obj["spec"]
    tt, problems = parse(obj)
    assert problems == []
    assert (tt.destination, tt.port) == (IdentityRef("api", "ns"), 8080)


def test_a_v1alpha1_target_with_a_stray_spec_is_read_from_its_own_fields():
    obj = target("v1alpha1", destination=API | {"name": "other", "port": 9090}) | v1alpha1_body()
    tt, _ = parse(obj)
    assert (tt.destination, tt.port) == (IdentityRef("api", "ns"), 8080)


def test_a_v1alpha2_target_with_stray_top_level_fields_is_read_from_its_spec():
    obj = target("v1alpha2", destination=API | {"port": 9090}) | v1alpha1_body("other", 8080)
    tt, _ = parse(obj)
    assert (tt.destination, tt.port) == (IdentityRef("api", "ns"), 9090)


@pytest.mark.parametrize("version", ["v1alpha1", "v1alpha2", "v1alpha3"])
def test_the_target_names_its_api_version(version):
    # Events about the target (a rule naming a missing route, ...) carry this apiVersion.
    obj = target(version) if version != "v1alpha1" else target(version) | v1alpha1_body()
    if version == "v1alpha1":
        del obj["spec"]
    tt, _ = parse(obj)
    assert tt.ref.api_version == f"{ACCESS}/{version}"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"destination": {}},
            [error("spec.destination.name", "is required", "set spec.destination.name")],
        ),
        (
            {"sources": [WEB, {}]},
            [
                error("spec.sources[1].name", "is required", "set spec.sources[1].name"),
                warning(
                    "spec.sources[1].namespace",
                    "source has no namespace and will never match (SMI spec)",
                    "set the source ServiceAccount's namespace",
                ),
            ],
        ),
    ],
)
def test_an_empty_subject_is_refused_with_the_reason(spec, expected):
    # Once dropped silently: `destination: {}` lost the whole target without a word, and
    # `sources: [{}]` gave a target whose only source had vanished.
    tt, problems = parse(target(**spec))
    assert (tt, problems) == (None, expected)


@pytest.mark.parametrize("version", ["v1alpha2", "v1alpha3"])
def test_a_spec_port_restricts_nothing_and_is_flagged(version):
    # The port restriction of v1alpha2 is destination.port; no version has spec.port (the
    # CRDs prune it), so a target written with it allows every port: the user must be told.
    tt, problems = parse(target(version, port=8080))
    assert problems == [unknown("spec.port", "destination, sources, rules")]
    assert tt.port is None


def v1alpha1_target(**fields: Any) -> dict[str, Any]:
    obj = target("v1alpha1") | v1alpha1_body() | fields
    del obj["spec"]
    return obj


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            target(sources=[WEB | {"kind": "Group"}]),
            [
                error(
                    "spec.sources[0].kind",
                    "unsupported subject kind 'Group'",
                    "use kind: ServiceAccount",
                )
            ],
        ),
        (
            target(rules=[ROUTES | {"kind": "HTTPRoute"}]),
            [
                error(
                    "spec.rules[0].kind",
                    "unknown rule kind 'HTTPRoute'",
                    "use HTTPRouteGroup, TCPRoute, UDPRoute",
                )
            ],
        ),
        (
            target(rules=[]),
            [
                error(
                    "spec.rules",
                    "at least one rule is required",
                    "add a rule referencing an HTTPRouteGroup or TCPRoute",
                )
            ],
        ),
        (
            target("v1alpha2", destination=API | {"port": 0}),
            [
                error(
                    "spec.destination.port", "invalid port 0", "use an integer between 1 and 65535"
                )
            ],
        ),
        # v1alpha1 has no spec: its fields are named from the top.
        (
            v1alpha1_target(destination={"namespace": "ns", "port": 0}, specs=[]),
            [
                error("destination.name", "is required", "set destination.name"),
                error("destination.port", "invalid port 0", "use an integer between 1 and 65535"),
            ],
        ),
        (
            v1alpha1_target(specs=[]),
            [
                error(
                    "specs",
                    "at least one rule is required",
                    "add a rule referencing an HTTPRouteGroup or TCPRoute",
                )
            ],
        ),
        (
            target(destination=API | {"namespace": "other"}),
            [
                error(
                    "spec.destination.namespace",
                    "destination namespace 'other' differs from the TrafficTarget's namespace 'ns'",
                    "create the TrafficTarget in namespace 'other'",
                )
            ],
        ),
    ],
)
def test_target_errors_name_the_field_and_the_fix(obj, expected):
    tt, problems = parse(obj)
    assert (tt, problems) == (None, expected)


def test_a_source_listed_twice_is_kept_once_with_a_warning():
    tt, problems = parse(target(sources=[WEB, WEB]))
    assert tt.sources == (IdentityRef("web", "ns"),)
    assert problems == [warning("spec.sources[1]", "source listed twice", "remove the duplicate")]


def test_a_v1alpha2_port_read_as_v1alpha3_says_why_it_is_honoured():
    tt, problems = parse(target(destination=API | {"port": 80}))
    assert tt.port == 80
    assert problems == [
        warning(
            "spec.destination.port",
            "unknown field in v1alpha3 (a v1alpha2 field); honoured as in v1alpha2, since the "
            "API server shows a stored v1alpha2 object this way",
            "write apiVersion access.smi-spec.io/v1alpha2 for a per-port TrafficTarget",
            codes.UNKNOWN_FIELD,
        )
    ]
