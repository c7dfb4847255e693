"""What the mesh derives from a MeshConfig: the chart's defaults when a setting is unset,
every setting a user writes honoured, and the bounds of the numbers (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

from osm_mesh.smi import codes
from osm_mesh.smi.meshconfig import parse_mesh_config
from osm_mesh.smi.model import MeshConfig, Tracing
from tests.mesh.smi.meshconfig_objects import API_VERSION, meshconfig

CHART_DEFAULTS = MeshConfig(
    permissive=True,
    enable_egress=True,
    outbound_port_exclusion_list=(),
    inbound_port_exclusion_list=(),
    outbound_ip_range_exclusion_list=(),
    sidecar_log_level="error",
    envoy_image="",
    tracing=Tracing(enable=False, address="", port=9411, endpoint="/api/v2/spans"),
    service_cert_validity_seconds=24 * 3600,
    cert_key_bit_size=2048,
    trust_domain="cluster.local",
    namespace="osm-system",
    name="osm-mesh-config",
    api_version=API_VERSION,
)


def _accepted(obj: dict[str, Any]) -> MeshConfig:
    config, problems = parse_mesh_config(obj)
    assert problems == []
    assert config is not None
    return config


@pytest.mark.parametrize(
    "spec",
    [
        None,
        {},
        {"traffic": None, "sidecar": None, "observability": None, "certificate": None},
        {"observability": {"tracing": None}},
        # `kubectl edit` leaves "" where a value was deleted: unset, not an invalid value.
        {
            "sidecar": {"logLevel": "", "envoyImage": ""},
            "observability": {"tracing": {"address": "", "endpoint": ""}},
            "certificate": {"serviceCertValidityDuration": ""},
        },
    ],
    ids=["no-spec", "empty-spec", "null-sections", "null-tracing", "empty-strings"],
)
def test_unset_settings_take_the_chart_defaults(spec):
    assert _accepted(meshconfig(spec)) == CHART_DEFAULTS


@pytest.mark.parametrize(
    "metadata", [{}, None, "osm-mesh-config"], ids=["no-name", "null", "not-a-mapping"]
)
def test_a_meshconfig_without_usable_metadata_is_still_read_and_names_nothing(metadata):
    config = _accepted(meshconfig({"traffic": {"enableEgress": False}}, metadata=metadata))
    assert (config.namespace, config.name, config.enable_egress) == ("", "", False)


def test_every_setting_a_user_writes_is_honoured():
    spec = {
        "traffic": {
            "enablePermissiveTrafficPolicyMode": False,
            "enableEgress": False,
            "outboundPortExclusionList": [6379, 5432],
            "inboundPortExclusionList": [9090],
            "outboundIPRangeExclusionList": ["10.0.0.0/8", "192.168.0.0/16"],
        },
        "sidecar": {"logLevel": "debug", "envoyImage": "envoyproxy/envoy:v1.30.1"},
        "observability": {
            "tracing": {
                "enable": True,
                "address": "jaeger.tracing.svc.cluster.local",
                "port": 14268,
                "endpoint": "/api/traces",
            }
        },
        "certificate": {"serviceCertValidityDuration": "48h", "certKeyBitSize": 4096},
    }
    assert _accepted(meshconfig(spec)) == MeshConfig(
        permissive=False,
        enable_egress=False,
        outbound_port_exclusion_list=(6379, 5432),
        inbound_port_exclusion_list=(9090,),
        outbound_ip_range_exclusion_list=("10.0.0.0/8", "192.168.0.0/16"),
        sidecar_log_level="debug",
        envoy_image="envoyproxy/envoy:v1.30.1",
        tracing=Tracing(
            enable=True,
            address="jaeger.tracing.svc.cluster.local",
            port=14268,
            endpoint="/api/traces",
        ),
        service_cert_validity_seconds=48 * 3600,
        cert_key_bit_size=4096,
        namespace="osm-system",
        name="osm-mesh-config",
        api_version=API_VERSION,
    )


EXCLUSIONS = {
    "outboundPortExclusionList": [6379],
    "inboundPortExclusionList": [9090],
    "outboundIPRangeExclusionList": ["10.0.0.0/8"],
}


def _exclusions(config: MeshConfig) -> tuple[Any, ...]:
    return (
        config.outbound_port_exclusion_list,
        config.inbound_port_exclusion_list,
        config.outbound_ip_range_exclusion_list,
    )


def test_v1alpha1_exclusion_lists_under_observability_are_honoured():
    # OSM's bookstore sample (v1alpha1) keeps them there; v1alpha2 moved them to traffic.
    obj = meshconfig({"observability": EXCLUSIONS}, apiVersion="config.openservicemesh.io/v1alpha1")
    assert _exclusions(_accepted(obj)) == ((6379,), (9090,), ("10.0.0.0/8",))


def test_exclusion_lists_under_traffic_win_over_the_v1alpha1_place():
    spec = {
        "traffic": EXCLUSIONS,
        "observability": {
            "outboundPortExclusionList": [1],
            "inboundPortExclusionList": [2],
            "outboundIPRangeExclusionList": ["172.16.0.0/12"],
        },
    }
    assert _exclusions(_accepted(meshconfig(spec))) == ((6379,), (9090,), ("10.0.0.0/8",))


# (section path, key, lowest, highest): both ends accepted, one past either end refused.
BOUNDS = [
    ("observability.tracing", "port", 1, 65535),
    ("certificate", "certKeyBitSize", 1024, 16384),
]


def _nested(path: str, key: str, value: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {key: value}
    for part in reversed(path.split(".")):
        spec = {part: spec}
    return spec


def _setting(config: MeshConfig, key: str) -> Any:
    return config.tracing.port if key == "port" else config.cert_key_bit_size


@pytest.mark.parametrize(("path", "key", "low", "high"), BOUNDS)
def test_integer_settings_accept_both_ends_of_their_range(path, key, low, high):
    for value in (low, high):
        assert _setting(_accepted(meshconfig(_nested(path, key, value))), key) == value


@pytest.mark.parametrize(("path", "key", "low", "high"), BOUNDS)
def test_integer_settings_refuse_one_past_either_end_with_the_range(path, key, low, high):
    for value in (low - 1, high + 1):
        config, problems = parse_mesh_config(meshconfig(_nested(path, key, value)))
        assert config is None
        assert [(p.severity, p.field, p.message, p.hint, p.code) for p in problems] == [
            (
                "error",
                f"spec.{path}.{key}",
                f"invalid value {value}",
                f"use an integer from {low} to {high}",
                codes.INVALID_FIELD.id,
            )
        ]


@pytest.mark.parametrize("section", ["traffic", "observability"])
def test_excluded_ports_accept_1_to_65535_and_name_each_bad_one(section):
    key = "inboundPortExclusionList"
    config = _accepted(meshconfig({section: {key: [1, 65535]}}))
    assert config.inbound_port_exclusion_list == (1, 65535)
    config, problems = parse_mesh_config(meshconfig({section: {key: [0, 8080, 65536]}}))
    assert config is None
    assert [(p.severity, p.field, p.message, p.hint) for p in problems] == [
        ("error", f"spec.{section}.{key}[0]", "invalid port 0", "use integers 1-65535"),
        ("error", f"spec.{section}.{key}[2]", "invalid port 65536", "use integers 1-65535"),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60), ("60s", 60), ("1h30m", 5400), ("1.5h", 5400), ("87600h", 87600 * 3600)],
)
def test_certificate_validity_from_1m_to_87600h_is_honoured(text, seconds):
    spec = {"certificate": {"serviceCertValidityDuration": text}}
    assert _accepted(meshconfig(spec)).service_cert_validity_seconds == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("59s", "invalid duration '59s': shorter than the minimum of 1m (59s)"),
        (
            "87601h",
            "invalid duration '87601h': longer than the maximum of 87600h"
            " (10 years, the CA's own validity)",
        ),
        ("1 day", "invalid duration '1 day'"),
        ("1h 30m", "invalid duration '1h 30m'"),
        ("   ", "invalid duration '   '"),
        # A pasted essay is cut to its first 40 characters in the message.
        ("24h" + "x" * 60, "invalid duration '24h" + "x" * 37 + "'"),
    ],
    ids=["too-short", "too-long", "not-go", "space-inside", "blank", "long-text"],
)
def test_a_bad_certificate_validity_is_refused_with_its_reason(text, message):
    config, problems = parse_mesh_config(
        meshconfig({"certificate": {"serviceCertValidityDuration": text}})
    )
    assert config is None
    assert [(p.severity, p.field, p.message, p.hint) for p in problems] == [
        (
            "error",
            "spec.certificate.serviceCertValidityDuration",
            message,
            'use a Go duration from "1m" to "87600h", such as "24h" or "1h30m"',
        )
    ]
