"""MeshConfig (``config.openservicemesh.io`` v1alpha1/v1alpha2/v1alpha3) -> ``MeshConfig``."""

from __future__ import annotations

import math
import re
from typing import Any

from osm_mesh.smi import codes
from osm_mesh.smi.codes import Code
from osm_mesh.smi.meshconfig_schema import shape_problems
from osm_mesh.smi.model import MeshConfig, ObjectRef, Problem, Tracing

CONFIG_GROUP = "config.openservicemesh.io"
MESHCONFIG_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3")
OBJECT_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
LOG_LEVELS = ("trace", "debug", "info", "warning", "warn", "error", "critical", "off")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


# serviceCertValidityDuration, checked here once for the controller's start and its runtime
# alike: shorter certificates would be renewed every few seconds (and the certificate store
# refuses under 2 s), longer ones would outlive the CA (10 years) and overflow date maths.
CERT_VALIDITY_MIN_S = 60
CERT_VALIDITY_MAX_S = 87600 * 3600


def cert_validity_seconds(text: str) -> int:
    """``serviceCertValidityDuration`` in seconds; ValueError naming the reason when it is
    not a Go duration or not between 1m and 87600h."""
    seconds = parse_duration(text)
    if seconds < CERT_VALIDITY_MIN_S:
        raise ValueError(f"shorter than the minimum of 1m ({seconds}s)")
    if seconds > CERT_VALIDITY_MAX_S:
        raise ValueError("longer than the maximum of 87600h (10 years, the CA's own validity)")
    return seconds


def parse_duration(text: str) -> int:
    """A Go duration ("24h", "1h30m", "90s") in whole seconds; ValueError when invalid."""
    text = str(text).strip()
    if not text:
        raise ValueError(text)
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            raise ValueError(text)
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not math.isfinite(total):
        raise ValueError(text)
    return int(total)


def parse_mesh_config(obj: dict[str, Any]) -> tuple[MeshConfig | None, list[Problem]]:
    api_version = str(obj.get("apiVersion", ""))
    raw_meta = obj.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    ref = ObjectRef("MeshConfig", meta.get("namespace"), str(meta.get("name") or ""), api_version)
    problems: list[Problem] = []

    def error(path: str, message: str, hint: str = "", code: Code = codes.INVALID_FIELD) -> None:
        # The shape check below already reported a value of the wrong type: say it once.
        if not any(path == p.field or path.startswith(p.field + "[") for p in problems):
            problems.append(Problem("error", ref, path, message, hint, code=code.id))

    supported = [f"{CONFIG_GROUP}/{v}" for v in MESHCONFIG_VERSIONS]
    if api_version not in supported:
        error(
            "apiVersion",
            f"unknown apiVersion {api_version!r} for MeshConfig",
            "use one of: " + ", ".join(supported),
            codes.UNKNOWN_API_VERSION,
        )
        return None, problems
    for key in obj:
        if key not in OBJECT_KEYS:
            error(
                str(key),
                f"unknown field {key!r}",
                "MeshConfig settings go under spec",
                codes.UNKNOWN_FIELD,
            )
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        error("spec", "must be a mapping", "write spec as key: value pairs")
        return None, problems
    # Unknown keys and wrong types anywhere in spec: a typo must not leave a default on.
    problems.extend(shape_problems(ref, spec))

    def section(name: str) -> dict[str, Any]:
        value = spec.get(name) or {}
        if not isinstance(value, dict):
            error(f"spec.{name}", "must be a mapping", "write it as key: value pairs")
            return {}
        return value

    traffic, sidecar = section("traffic"), section("sidecar")
    observability, certificate = section("observability"), section("certificate")

    def flag(data: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            error(path, f"must be true or false, got {value!r}", "use true or false (unquoted)")
            return default
        return value

    def integer(
        data: dict[str, Any], key: str, path: str, default: int, low: int, high: int
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            error(path, f"invalid value {value!r}", f"use an integer from {low} to {high}")
            return default
        return value

    def text(data: dict[str, Any], key: str, path: str, default: str) -> str:
        value = data.get(key)
        if value is None or value == "":
            return default
        if not isinstance(value, str):
            error(path, f"must be a string, got {value!r}", "quote the value")
            return default
        return value

    def items(data: dict[str, Any], key: str, path: str) -> list[Any]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            error(path, f"must be a list, got {value!r}", f"write {path} as a list")
            return []
        return value

    def ports(data: dict[str, Any], key: str, path: str) -> tuple[int, ...]:
        out = []
        for i, p in enumerate(items(data, key, path)):
            if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 65535:
                error(f"{path}[{i}]", f"invalid port {p!r}", "use integers 1-65535")
            else:
                out.append(p)
        return tuple(out)

    permissive = flag(
        traffic,
        "enablePermissiveTrafficPolicyMode",
        "spec.traffic.enablePermissiveTrafficPolicyMode",
        True,
    )
    egress = flag(traffic, "enableEgress", "spec.traffic.enableEgress", True)
    log_level = text(sidecar, "logLevel", "spec.sidecar.logLevel", "error")
    if log_level not in LOG_LEVELS:
        error(
            "spec.sidecar.logLevel",
            f"invalid log level {log_level!r}",
            "use one of " + ", ".join(LOG_LEVELS),
        )
    tracing_raw = observability.get("tracing") or {}
    if not isinstance(tracing_raw, dict):
        error("spec.observability.tracing", "must be a mapping", "write it as key: value pairs")
        tracing_raw = {}
    tracing = Tracing(
        enable=flag(tracing_raw, "enable", "spec.observability.tracing.enable", False),
        address=text(tracing_raw, "address", "spec.observability.tracing.address", ""),
        port=integer(tracing_raw, "port", "spec.observability.tracing.port", 9411, 1, 65535),
        endpoint=text(
            tracing_raw, "endpoint", "spec.observability.tracing.endpoint", "/api/v2/spans"
        ),
    )
    validity = 24 * 3600
    if certificate.get("serviceCertValidityDuration") not in (None, ""):
        raw_validity = certificate["serviceCertValidityDuration"]
        try:
            validity = cert_validity_seconds(raw_validity)
        except ValueError as exc:
            reason = "" if str(exc) == str(raw_validity).strip() else f": {exc}"
            error(
                "spec.certificate.serviceCertValidityDuration",
                f"invalid duration {str(raw_validity)[:40]!r}{reason}",
                'use a Go duration from "1m" to "87600h", such as "24h" or "1h30m"',
            )

    # v1alpha1 kept the exclusion lists under observability by mistake (see the bookstore
    # sample); v1alpha2 moved them to traffic. Read either.
    def either(key: str) -> tuple[int, ...]:
        return ports(traffic, key, f"spec.traffic.{key}") or ports(
            observability, key, f"spec.observability.{key}"
        )

    key = "outboundIPRangeExclusionList"
    ip_ranges = items(traffic, key, f"spec.traffic.{key}") or items(
        observability, key, f"spec.observability.{key}"
    )
    config = MeshConfig(
        permissive=permissive,
        enable_egress=egress,
        outbound_port_exclusion_list=either("outboundPortExclusionList"),
        inbound_port_exclusion_list=either("inboundPortExclusionList"),
        outbound_ip_range_exclusion_list=tuple(str(r) for r in ip_ranges),
        sidecar_log_level=log_level,
        envoy_image=text(sidecar, "envoyImage", "spec.sidecar.envoyImage", ""),
        tracing=tracing,
        service_cert_validity_seconds=validity,
        cert_key_bit_size=integer(
            certificate, "certKeyBitSize", "spec.certificate.certKeyBitSize", 2048, 1024, 16384
        ),
        trust_domain=text(
            certificate, "trustDomain", "spec.certificate.trustDomain", "cluster.local"
        ),
        namespace=str(meta.get("namespace") or ""),
        name=ref.name,
        api_version=api_version,
    )
    if any(p.severity == "error" for p in problems):
        return None, problems
    return config, problems
