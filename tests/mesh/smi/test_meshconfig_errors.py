"""What a user reads when a MeshConfig is refused (`osm policy lint`, the controller's
Warning Events on `kubectl describe meshconfig`): one problem per mistake, at its path,
with the words of its type, and the MeshConfig named (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.controller.events import event_for
from osm_mesh.smi import codes
from osm_mesh.smi.meshconfig import parse_mesh_config
from tests.mesh.smi.meshconfig_objects import API_VERSION, meshconfig

BOOL = ("must be true or false, got {!r}", "use true or false, unquoted")
STR = ("must be a string, got {!r}", "quote the value")
MAP = ("must be a mapping", "write it as key: value pairs")
INTS = ("must be a list of whole numbers, got {!r}", "write it as a list of whole numbers")
STRS = ("must be a list of strings, got {!r}", "write it as a list of strings")


def _refused(obj: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    config, problems = parse_mesh_config(obj)
    assert config is None
    assert all(p.severity == "error" for p in problems)
    return [(p.field, p.message, p.hint, p.code) for p in problems]


def test_a_meshconfig_without_apiversion_is_refused_with_the_versions_to_use():
    obj = meshconfig()
    del obj["apiVersion"]
    assert _refused(obj) == [
        (
            "apiVersion",
            "unknown apiVersion '' for MeshConfig",
            "use one of: config.openservicemesh.io/v1alpha1, config.openservicemesh.io/v1alpha2,"
            " config.openservicemesh.io/v1alpha3",
            codes.UNKNOWN_API_VERSION.id,
        )
    ]


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        (
            meshconfig("permissive"),
            ("spec", "must be a mapping", "write spec as key: value pairs", codes.INVALID_FIELD.id),
        ),
        (
            meshconfig({}, Spec={}),
            (
                "Spec",
                "unknown field 'Spec'",
                "MeshConfig settings go under spec",
                codes.UNKNOWN_FIELD.id,
            ),
        ),
    ],
    ids=["spec-not-a-mapping", "unknown-top-level-key"],
)
def test_a_malformed_object_is_refused_with_the_reason(obj, problem):
    assert _refused(obj) == [problem]


# Every setting the mesh reads, given a value of the wrong type: said once, at its path.
WRONG_TYPES = [
    ({"traffic": "on"}, "spec.traffic", MAP, "on"),
    ({"sidecar": ["debug"]}, "spec.sidecar", MAP, None),
    ({"observability": 1}, "spec.observability", MAP, None),
    ({"certificate": True}, "spec.certificate", MAP, None),
    ({"observability": {"tracing": "jaeger"}}, "spec.observability.tracing", MAP, None),
    ({"traffic": {"enableEgress": "no"}}, "spec.traffic.enableEgress", BOOL, "no"),
    (
        {"observability": {"tracing": {"enable": "yes"}}},
        "spec.observability.tracing.enable",
        BOOL,
        "yes",
    ),
    ({"sidecar": {"logLevel": 5}}, "spec.sidecar.logLevel", STR, 5),
    ({"sidecar": {"envoyImage": 1.3}}, "spec.sidecar.envoyImage", STR, 1.3),
    (
        {"observability": {"tracing": {"address": 10}}},
        "spec.observability.tracing.address",
        STR,
        10,
    ),
    (
        {"observability": {"tracing": {"endpoint": 2}}},
        "spec.observability.tracing.endpoint",
        STR,
        2,
    ),
    (
        {"certificate": {"serviceCertValidityDuration": 24}},
        "spec.certificate.serviceCertValidityDuration",
        STR,
        24,
    ),
    (
        {"traffic": {"outboundPortExclusionList": "6379"}},
        "spec.traffic.outboundPortExclusionList",
        INTS,
        "6379",
    ),
    (
        {"observability": {"inboundPortExclusionList": 9090}},
        "spec.observability.inboundPortExclusionList",
        INTS,
        9090,
    ),
    (
        {"traffic": {"outboundIPRangeExclusionList": "10.0.0.0/8"}},
        "spec.traffic.outboundIPRangeExclusionList",
        STRS,
        "10.0.0.0/8",
    ),
    (
        {"observability": {"outboundIPRangeExclusionList": 10}},
        "spec.observability.outboundIPRangeExclusionList",
        STRS,
        10,
    ),
]


@pytest.mark.parametrize(
    ("spec", "field", "words", "value"), WRONG_TYPES, ids=[w[1] for w in WRONG_TYPES]
)
def test_a_wrong_type_is_refused_once_at_its_path(spec, field, words, value):
    message, hint = words
    problems = _refused(meshconfig(spec))
    # Every refusal carries its documented code (lint and analyze show it).
    assert problems == [(field, message.format(value), hint, codes.INVALID_FIELD.id)]


def test_a_trust_domain_in_the_meshconfig_is_an_unknown_field_said_once():
    # The trust domain is the controller's --trust-domain (the chart's osm.trustDomain);
    # upstream OSM's MeshConfig has no such key.
    assert _refused(meshconfig({"certificate": {"trustDomain": 5}})) == [
        (
            "spec.certificate.trustDomain",
            "unknown field 'trustDomain'",
            "remove it; known keys here: certKeyBitSize, ingressGateway,"
            " serviceCertValidityDuration",
            codes.UNKNOWN_FIELD.id,
        )
    ]


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("traffic", "enablePermissiveTrafficPolicyMode"),
        ("traffic", "enableEgress"),
        ("observability.tracing", "enable"),
    ],
)
def test_a_null_switch_is_refused_not_defaulted(section, key):
    # Defaulting would fail open: a null permissive switch would turn permissive mode on.
    spec: dict[str, Any] = {key: None}
    for part in reversed(section.split(".")):
        spec = {part: spec}
    assert _refused(meshconfig(spec)) == [
        (
            f"spec.{section}.{key}",
            "must be true or false, got None",
            "use true or false (unquoted)",
            codes.INVALID_FIELD.id,
        )
    ]


def test_every_mistake_of_a_section_is_reported_in_order():
    spec = {
        "sidecar": {"logLevel": "loud", "envoyImage": 5},
        "traffic": {
            "egress": False,
            "outboundIPRangeInclusionList": None,
            "enableEgress": "no",
        },
        "certificate": {"certKeyBitSize": "2048"},
    }
    assert _refused(meshconfig(spec)) == [
        ("spec.sidecar.envoyImage", "must be a string, got 5", STR[1], codes.INVALID_FIELD.id),
        (
            "spec.traffic.egress",
            "unknown field 'egress'",
            # "egress" is not close enough to enableEgress to guess it: the known keys instead.
            "remove it; known keys here: enableEgress, enablePermissiveTrafficPolicyMode,"
            " inboundExternalAuthorization, inboundPortExclusionList,"
            " networkInterfaceExclusionList, outboundIPRangeExclusionList,"
            " outboundIPRangeInclusionList, outboundPortExclusionList, useHTTPSIngress",
            codes.UNKNOWN_FIELD.id,
        ),
        (
            "spec.traffic.enableEgress",
            "must be true or false, got 'no'",
            BOOL[1],
            codes.INVALID_FIELD.id,
        ),
        (
            "spec.certificate.certKeyBitSize",
            "must be a whole number, got '2048'",
            "use a whole number, unquoted",
            codes.INVALID_FIELD.id,
        ),
        (
            "spec.sidecar.logLevel",
            "invalid log level 'loud'",
            "use one of trace, debug, info, warning, warn, error, critical, off",
            codes.INVALID_FIELD.id,
        ),
    ]


@pytest.mark.parametrize(
    "spec",
    [{"traffic": "on"}, {"traffic": {"egress": False}}, {"traffic": {"enableEgress": None}}],
    ids=["not-a-mapping", "unknown-key", "null-switch"],
)
def test_a_refused_meshconfig_is_a_warning_event_on_the_meshconfig(spec):
    _, problems = parse_mesh_config(meshconfig(spec))
    (event,) = [event_for(p, instance="osm-controller-0") for p in problems]
    assert event["involvedObject"] == {
        "apiVersion": API_VERSION,
        "kind": "MeshConfig",
        "name": "osm-mesh-config",
        "namespace": "osm-system",
    }
    assert (event["type"], event["reason"]) == ("Warning", "InvalidMeshConfig")
    assert event["message"].startswith("spec.traffic")
