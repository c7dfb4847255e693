"""The object header every SMI and policy object is read by: which object a problem is
about, and what a missing apiVersion, kind or bad namespace tells the user."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.smi import codes
from osm_mesh.smi.model import ObjectRef, Problem
from osm_mesh.smi.parse import parse_smi
from osm_mesh.smi.policy_ext import parse_policy
from tests.mesh.smi.problems import error, meta, parse


@pytest.mark.parametrize(
    ("parser", "obj", "message", "hint"),
    [
        (
            parse_smi,
            {"apiVersion": "metrics.smi-spec.io/v1alpha1", "kind": "TrafficMetrics"},
            "TrafficMetrics is served by an aggregated API, not a CRD: not checked",
            "",
        ),
        (
            parse_policy,
            {"apiVersion": "policy.openservicemesh.io/v1alpha1", "kind": "Egress"},
            "Egress is not acted on by this mesh (ignored)",
            "supported policy kinds: Retry, UpstreamTrafficSetting, FaultInjection",
        ),
    ],
)
def test_kinds_not_checked_are_an_info_about_that_object(parser, obj, message, hint):
    result, problems = parser(obj | {"metadata": meta("m")})
    ref = ObjectRef(obj["kind"], "ns", "m", obj["apiVersion"])
    assert result is None
    assert problems == [Problem("info", ref, "kind", message, hint, code=codes.NOT_CHECKED.id)]
    assert problems[0].ref.api_version == obj["apiVersion"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            {"kind": "TCPRoute"},
            error(
                "apiVersion",
                "unknown apiVersion '' for TCPRoute",
                "use one of: " + ", ".join(f"specs.smi-spec.io/v1alpha{n}" for n in range(1, 5)),
                codes.UNKNOWN_API_VERSION,
            ),
        ),
        (
            {"apiVersion": "specs.smi-spec.io/v1alpha4"},
            error(
                "kind",
                "unsupported SMI kind ''",
                "supported: TrafficTarget, HTTPRouteGroup, TCPRoute, UDPRoute, TrafficSplit",
                codes.UNSUPPORTED_KIND,
            ),
        ),
    ],
)
def test_a_missing_api_version_or_kind_is_named_empty(header: dict[str, Any], expected):
    assert parse(header | {"metadata": meta("r")}) == (None, [expected])


def test_an_invalid_namespace_is_reported_on_the_namespace():
    obj = {"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute"}
    assert parse(obj | {"metadata": meta("r", "Bad_NS")}) == (
        None,
        [
            error(
                "metadata.namespace",
                "invalid name 'Bad_NS': must consist of lower case alphanumeric characters or "
                "'-', and must start and end with an alphanumeric character",
                "use e.g. 'my-policy'",
                codes.INVALID_NAME,
            )
        ],
    )
