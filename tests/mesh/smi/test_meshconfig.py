from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from osm_mesh.smi.meshconfig import parse_duration, parse_mesh_config
from osm_mesh.smi.model import MeshConfig

DATA = Path(__file__).resolve().parents[2] / "data"


def test_bookstore_v1alpha1_meshconfig():
    obj = yaml.safe_load((DATA / "external/osm-bookstore/meshconfig-mesh-config.yaml").read_text())
    config, problems = parse_mesh_config(obj)
    assert problems == []
    assert config is not None
    assert config.permissive is True
    assert config.enable_egress is False
    assert config.sidecar_log_level == "error"
    assert config.envoy_image.startswith("envoyproxy/envoy-alpine@sha256:")
    assert config.service_cert_validity_seconds == 24 * 3600


def test_v1alpha2_fields():
    config, problems = parse_mesh_config(
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {
                "traffic": {
                    "enablePermissiveTrafficPolicyMode": False,
                    "outboundPortExclusionList": [6379],
                    "inboundPortExclusionList": [9999],
                    "outboundIPRangeExclusionList": ["10.0.0.0/8"],
                },
                "sidecar": {"logLevel": "debug"},
                "observability": {
                    "tracing": {"enable": True, "address": "jaeger.osm-system", "port": 9411}
                },
                "certificate": {"serviceCertValidityDuration": "1h30m", "certKeyBitSize": 4096},
            },
        }
    )
    assert problems == []
    assert config == MeshConfig(
        permissive=False,
        outbound_port_exclusion_list=(6379,),
        inbound_port_exclusion_list=(9999,),
        outbound_ip_range_exclusion_list=("10.0.0.0/8",),
        sidecar_log_level="debug",
        tracing=config.tracing,
        service_cert_validity_seconds=5400,
        cert_key_bit_size=4096,
        namespace="osm-system",
        name="osm-mesh-config",
        api_version="config.openservicemesh.io/v1alpha2",
    )
    assert config.tracing.enable and config.tracing.address == "jaeger.osm-system"


def test_defaults_are_the_chart_defaults():
    config, _ = parse_mesh_config(
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config"},
        }
    )
    assert config is not None and config.permissive and config.enable_egress


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("90s", 90), ("1h30m", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1 day", "h", "10x"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)
