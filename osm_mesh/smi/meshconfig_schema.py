"""The shape of a MeshConfig ``spec``: every key OSM defined, with its type.

A MeshConfig is the one object that decides whether the mesh enforces SMI at all, so a
mistake in it must never be skipped: a quoted ``"false"`` or a misspelt
``enablePermisiveTrafficPolicyMode`` used to leave the chart's default in force —
permissive mode, every call allowed. ``shape_problems`` reports both as errors (with the
closest known key as the fix), and ``parse_mesh_config`` then refuses the object.

The keys are the union of upstream OSM's MeshConfig v1alpha1..v1alpha3 API types (also
the fields this mesh ignores, such as ``featureFlags``): a MeshConfig written for OSM is
accepted; only keys OSM never had are refused. Objects whose content is Kubernetes' own
(``resources``, ``ingressGateway.secret``) are checked as mappings, not key by key.
"""

from __future__ import annotations

import difflib
from typing import Any

from osm_mesh.smi import codes
from osm_mesh.smi.model import ObjectRef, Problem

# A leaf type name, or a nested mapping of key -> type.
Shape = str | dict[str, Any]

BOOL, INT, STR, MAP = "bool", "int", "str", "map"
STRS, INTS = "list[str]", "list[int]"

_EXTERNAL_AUTHZ: dict[str, Shape] = {
    "enable": BOOL,
    "address": STR,
    "port": INT,
    "statPrefix": STR,
    "timeout": STR,
    "failureModeAllow": BOOL,
}
_TRACING: dict[str, Shape] = {"enable": BOOL, "port": INT, "address": STR, "endpoint": STR}
# v1alpha1 put the port/IP exclusion lists under observability (OSM's bookstore sample).
_EXCLUSIONS: dict[str, Shape] = {
    "outboundPortExclusionList": INTS,
    "inboundPortExclusionList": INTS,
    "outboundIPRangeExclusionList": STRS,
}
SPEC: dict[str, Shape] = {
    "sidecar": {
        "enablePrivilegedInitContainer": BOOL,
        "logLevel": STR,
        "envoyImage": STR,
        "envoyWindowsImage": STR,
        "initContainerImage": STR,
        "maxDataPlaneConnections": INT,
        "configResyncInterval": STR,
        "resources": MAP,
        "tlsMinProtocolVersion": STR,
        "tlsMaxProtocolVersion": STR,
        "cipherSuites": STRS,
        "ecdhCurves": STRS,
        "localProxyMode": STR,
    },
    "traffic": {
        "enableEgress": BOOL,
        **_EXCLUSIONS,
        "outboundIPRangeInclusionList": STRS,
        "useHTTPSIngress": BOOL,
        "enablePermissiveTrafficPolicyMode": BOOL,
        "inboundExternalAuthorization": _EXTERNAL_AUTHZ,
        "networkInterfaceExclusionList": STRS,
    },
    "observability": {
        "osmLogLevel": STR,
        "enableDebugServer": BOOL,
        "prometheusScraping": BOOL,
        "tracing": _TRACING,
        **_EXCLUSIONS,
    },
    "certificate": {
        "serviceCertValidityDuration": STR,
        "certKeyBitSize": INT,
        "ingressGateway": {"subjectAltNames": STRS, "validityDuration": STR, "secret": MAP},
    },
    "featureFlags": {
        "enableWASMStats": BOOL,
        "enableEgressPolicy": BOOL,
        "enableMulticlusterMode": BOOL,
        "enableSnapshotCacheMode": BOOL,
        "enableAsyncProxyServiceMapping": BOOL,
        "enableIngressBackendPolicy": BOOL,
        "enableEnvoyActiveHealthChecks": BOOL,
        "enableRetryPolicy": BOOL,
    },
}

_HINTS = {
    BOOL: "use true or false, unquoted",
    INT: "use a whole number, unquoted",
    STR: "quote the value",
    MAP: "write it as key: value pairs",
    STRS: "write it as a list of strings",
    INTS: "write it as a list of whole numbers",
}
_NAMES = {
    BOOL: "true or false",
    INT: "a whole number",
    STR: "a string",
    MAP: "a mapping",
    STRS: "a list of strings",
    INTS: "a list of whole numbers",
}


def shape_problems(ref: ObjectRef, spec: dict[str, Any]) -> list[Problem]:
    """Errors for every key of ``spec`` OSM does not define and every value of a wrong type
    (``null`` counts as unset, as the API server's defaulting treats it)."""
    problems: list[Problem] = []
    _check_mapping(ref, spec, SPEC, "spec", problems)
    return problems


def _check_mapping(
    ref: ObjectRef, data: dict[str, Any], shape: dict[str, Any], path: str, out: list[Problem]
) -> None:
    for key, value in data.items():
        where = f"{path}.{key}"
        expected = shape.get(key) if isinstance(key, str) else None
        if expected is None:
            close = difflib.get_close_matches(str(key), list(shape), n=1, cutoff=0.75)
            hint = (
                f"did you mean {close[0]}?"
                if close
                else "remove it; known keys here: " + ", ".join(sorted(shape))
            )
            out.append(
                Problem(
                    "error", ref, where, f"unknown field {key!r}", hint, code=codes.UNKNOWN_FIELD.id
                )
            )
            continue
        if value is None:
            continue
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                out.append(
                    Problem(
                        "error",
                        ref,
                        where,
                        "must be a mapping",
                        "write it as key: value pairs",
                        code=codes.INVALID_FIELD.id,
                    )
                )
            else:
                _check_mapping(ref, value, expected, where, out)
            continue
        if not _fits(value, expected):
            out.append(
                Problem(
                    "error",
                    ref,
                    where,
                    f"must be {_NAMES[expected]}, got {value!r}",
                    _HINTS[expected],
                    code=codes.INVALID_FIELD.id,
                )
            )


def _fits(value: Any, expected: str) -> bool:
    if expected == BOOL:
        return isinstance(value, bool)
    if expected == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == STR:
        return isinstance(value, str)
    if expected == MAP:
        return isinstance(value, dict)
    if expected == STRS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if expected == INTS:
        return isinstance(value, list) and all(_fits(v, INT) for v in value)
    raise AssertionError(expected)  # pragma: no cover - a typo in SPEC
