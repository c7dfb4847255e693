"""MeshConfig keys and types (issue 12.1): OSM's own keys pass, anything else is an error."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.smi.meshconfig import parse_mesh_config


def _config(spec: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "apiVersion": "config.openservicemesh.io/v1alpha2",
        "kind": "MeshConfig",
        "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
        "spec": spec,
        **top,
    }


def test_every_upstream_key_of_a_full_meshconfig_is_accepted():
    spec = {
        "sidecar": {
            "enablePrivilegedInitContainer": False,
            "logLevel": "error",
            "maxDataPlaneConnections": 0,
            "configResyncInterval": "0s",
            "resources": {"limits": {"cpu": "1"}},
            "tlsMinProtocolVersion": "TLSv1_2",
            "cipherSuites": [],
            "localProxyMode": "Localhost",
        },
        "traffic": {
            "enablePermissiveTrafficPolicyMode": False,
            "enableEgress": True,
            "outboundIPRangeInclusionList": [],
            "inboundExternalAuthorization": {"enable": False, "port": 0, "timeout": "1s"},
            "networkInterfaceExclusionList": [],
        },
        "observability": {"osmLogLevel": "info", "enableDebugServer": False, "tracing": None},
        "certificate": {
            "certKeyBitSize": 2048,
            "ingressGateway": {
                "subjectAltNames": ["a.b"],
                "validityDuration": "24h",
                "secret": {"name": "s", "namespace": "n"},
            },
        },
        "featureFlags": {"enableEgressPolicy": True, "enableRetryPolicy": False},
    }
    config, problems = parse_mesh_config(_config(spec))
    assert problems == [] and config is not None and config.permissive is False


@pytest.mark.parametrize(
    ("spec", "top", "field", "message", "hint"),
    [
        (
            {"traffic": {"enablePermisiveTrafficPolicyMode": False}},
            {},
            "spec.traffic.enablePermisiveTrafficPolicyMode",
            "unknown field 'enablePermisiveTrafficPolicyMode'",
            "did you mean enablePermissiveTrafficPolicyMode?",
        ),
        (
            {"trafic": {"enablePermissiveTrafficPolicyMode": False}},
            {},
            "spec.trafic",
            "unknown field 'trafic'",
            "did you mean traffic?",
        ),
        (
            {"traffic": {"enablePermissiveTrafficPolicyMode": "false"}},
            {},
            "spec.traffic.enablePermissiveTrafficPolicyMode",
            "must be true or false, got 'false'",
            "use true or false, unquoted",
        ),
        (
            {"featureFlags": {"enableRetryPolicy": "yes"}},
            {},
            "spec.featureFlags.enableRetryPolicy",
            "must be true or false, got 'yes'",
            "use true or false, unquoted",
        ),
        (
            {"traffic": {"outboundPortExclusionList": ["6379"]}},
            {},
            "spec.traffic.outboundPortExclusionList",
            "must be a list of whole numbers, got ['6379']",
            "write it as a list of whole numbers",
        ),
        (
            {"certificate": {"certKeyBitSize": "2048"}},
            {},
            "spec.certificate.certKeyBitSize",
            "must be a whole number, got '2048'",
            "use a whole number, unquoted",
        ),
        (
            {"sidecar": {"resources": "big"}},
            {},
            "spec.sidecar.resources",
            "must be a mapping, got 'big'",
            "write it as key: value pairs",
        ),
        (
            {},
            {"Spec": {"traffic": {"enablePermissiveTrafficPolicyMode": False}}},
            "Spec",
            "unknown field 'Spec'",
            "MeshConfig settings go under spec",
        ),
    ],
    ids=["typo", "section-typo", "quoted-bool", "flag", "port-list", "int", "map", "top-level"],
)
def test_mistakes_are_errors_and_the_config_is_refused(spec, top, field, message, hint):
    config, problems = parse_mesh_config(_config(spec, **top))
    assert config is None
    assert [(p.severity, p.field, p.message, p.hint) for p in problems] == [
        ("error", field, message, hint)
    ]


def test_a_wrong_type_is_reported_once():
    _, problems = parse_mesh_config(
        _config({"traffic": {"enableEgress": "no"}, "observability": {"tracing": {"port": "x"}}})
    )
    assert sorted(p.field for p in problems) == [
        "spec.observability.tracing.port",
        "spec.traffic.enableEgress",
    ]


def test_an_unknown_key_far_from_any_known_one_lists_the_known_keys():
    _, problems = parse_mesh_config(_config({"sidecar": {"zzz": 1}}))
    assert problems[0].hint.startswith("remove it; known keys here: cipherSuites, configResync")
