"""A broken TrafficSplit is refused with every problem named at its field; a valid one
becomes the split the mesh enforces (backend names, match kinds, its apiVersion)."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.smi.model import Backend, ObjectRef, RuleRef, TrafficSplit
from osm_mesh.smi.parse import parse_smi

LABEL_CHARS = (
    "must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
ONE_BACKEND = [{"service": "api-v1", "weight": 1}]
NO_BACKEND = (
    "spec.backends",
    "at least one backend is required",
    "add backends: [{service: NAME, weight: N}]",
)
LONG_FQDN = "ns.svc.a-cluster-domain-long-enough-to-push-the-name-over-63.local"


def split(spec: Any, version: str = "v1alpha4") -> dict[str, Any]:
    obj = {
        "apiVersion": f"split.smi-spec.io/{version}",
        "kind": "TrafficSplit",
        "metadata": {"name": "s", "namespace": "ns"},
    }
    if spec is not None:
        obj["spec"] = spec
    return obj


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            None,
            [
                ("spec", "is required", "add spec"),
                ("spec.service", "is required", "set spec.service"),
            ],
            id="no-spec",
        ),
        pytest.param(
            "api",
            [
                ("spec", "must be a mapping, got str", "write spec as key: value pairs"),
                ("spec.service", "is required", "set spec.service"),
                NO_BACKEND,
            ],
            id="spec-not-a-mapping",
        ),
        pytest.param(
            {"service": 5, "backends": ONE_BACKEND},
            [("spec.service", "must be a string, got int", "quote the value")],
            id="service-not-a-string",
        ),
        pytest.param(
            {"service": "api", "backends": "api-v1"},
            [
                ("spec.backends", "must be a list, got str", "write spec.backends as a list"),
                NO_BACKEND,
            ],
            id="backends-not-a-list",
        ),
        pytest.param(
            {"service": "api", "backends": ["api-v1"]},
            [
                (
                    "spec.backends[0]",
                    "must be a mapping, got str",
                    "write spec.backends[0] as key: value pairs",
                ),
                ("spec.backends[0].service", "is required", "set spec.backends[0].service"),
                (
                    "spec.backends[0].weight",
                    "is required",
                    "set an integer weight (0 sends no traffic)",
                ),
            ],
            id="backend-not-a-mapping",
        ),
        pytest.param(
            # No "every backend has weight 0" warning: a backend without a service is no backend.
            {"service": "api", "backends": [{"weight": 0}]},
            [("spec.backends[0].service", "is required", "set spec.backends[0].service")],
            id="backend-without-service",
        ),
        pytest.param(
            # The name is judged by its first label; the whole string is over 63 characters.
            {"service": "api", "backends": [{"service": f"API_v1.{LONG_FQDN}", "weight": 1}]},
            [
                (
                    "spec.backends[0].service",
                    f"invalid backend service 'API_v1.{LONG_FQDN}': {LABEL_CHARS}",
                    "name a Service in the TrafficSplit's namespace",
                )
            ],
            id="backend-name-not-dns",
        ),
        pytest.param(
            {"service": "api", "backends": [{"service": "api-v2.other", "weight": 1}]},
            [
                (
                    "spec.backends[0].service",
                    "backend service 'api-v2.other' is in namespace 'other', "
                    "not the TrafficSplit's namespace 'ns'",
                    "name a Service in the TrafficSplit's namespace",
                )
            ],
            id="backend-in-another-namespace",
        ),
        pytest.param(
            {
                "service": "api",
                "backends": [
                    {"service": "api-v1", "weight": 1},
                    {"service": "api-v1.ns.svc.cluster.local", "weight": 2},
                ],
            },
            [
                (
                    "spec.backends[1].service",
                    "backend 'api-v1.ns.svc.cluster.local' listed twice",
                    "merge the two entries",
                )
            ],
            id="backend-by-name-and-fqdn",
        ),
        pytest.param(
            {"service": "api", "backends": ONE_BACKEND, "matches": "beta"},
            [("spec.matches", "must be a list, got str", "write spec.matches as a list")],
            id="matches-not-a-list",
        ),
        pytest.param(
            {"service": "api", "backends": ONE_BACKEND, "matches": ["beta"]},
            [
                (
                    "spec.matches[0]",
                    "must be a mapping, got str",
                    "write spec.matches[0] as key: value pairs",
                ),
                ("spec.matches[0].name", "is required", "set spec.matches[0].name"),
            ],
            id="match-not-a-mapping",
        ),
        pytest.param(
            {
                "service": "api",
                "backends": ONE_BACKEND,
                "matches": [
                    {"kind": "TCPRoute", "name": "tcp"},
                    {"name": "beta"},
                    {"kind": "HTTPRouteGroup"},
                ],
            },
            [
                (
                    "spec.matches[0].kind",
                    "unsupported match kind 'TCPRoute'",
                    "use kind: HTTPRouteGroup",
                ),
                ("spec.matches[2].name", "is required", "set spec.matches[2].name"),
            ],
            id="match-kind-and-name",
        ),
    ],
)
def test_a_broken_split_is_refused_with_each_problem_at_its_field(spec, expected):
    parsed, problems = parse_smi(split(spec))
    assert parsed is None
    assert [(p.field, p.message, p.hint) for p in problems] == expected
    assert {(p.severity, p.code, str(p.ref)) for p in problems} == {
        ("error", "OSM0204", "TrafficSplit/ns/s")
    }


def test_backends_named_by_their_fqdn_are_the_services_of_that_name():
    parsed, problems = parse_smi(
        split(
            {
                "service": "api.ns.svc.cluster.local",
                "backends": [
                    {"service": "api-v1.ns.svc.cluster.local", "weight": 90},
                    {"service": "api-v2.ns", "weight": 10},
                ],
            }
        )
    )
    assert problems == []
    assert parsed == TrafficSplit("ns", "s", "api", (Backend("api-v1", 90), Backend("api-v2", 10)))


def test_a_match_without_kind_is_an_http_route_group():
    spec = {"service": "api", "backends": ONE_BACKEND, "matches": [{"name": "beta"}]}
    parsed, problems = parse_smi(split(spec, "v1alpha3"))
    assert problems == []
    assert isinstance(parsed, TrafficSplit)
    assert parsed.matches == (RuleRef("HTTPRouteGroup", "beta"),)


@pytest.mark.parametrize("version", ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"])
def test_a_split_names_itself_with_the_api_version_it_was_written_in(version):
    # The controller's Events on the split carry this apiVersion as their involvedObject's.
    parsed, _ = parse_smi(split({"service": "api", "backends": ONE_BACKEND}, version))
    assert isinstance(parsed, TrafficSplit)
    assert parsed.ref == ObjectRef("TrafficSplit", "ns", "s")
    assert parsed.ref.api_version == parsed.api_version == f"split.smi-spec.io/{version}"
