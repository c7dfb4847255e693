"""Generates the chart's CRDs (templates/osm/crds/*.yaml) from one description.

Run ``python -m tests.chart.crdgen`` after editing; ``test_crds.py`` fails when the files and
this generator disagree.

Why generated: every SMI kind is served in several versions, and without a conversion webhook
the API server stores all of them in one shape (conversion strategy ``None`` only rewrites
``apiVersion``). So each version's schema declares the *union* of every version's fields — an
object written as ``access.smi-spec.io/v1alpha2`` and read back as ``v1alpha3`` must not lose
fields to pruning — while ``required`` and value types stay per version. Writing that union by
hand for 14 versions is how fields get forgotten.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CRD_DIR = Path(__file__).resolve().parents[2] / "templates" / "osm" / "crds"

S = dict[str, Any]


def string(desc: str = "", **kw: Any) -> S:
    return {"type": "string", **({"description": desc} if desc else {}), **kw}


def array(items: S, desc: str = "", **kw: Any) -> S:
    return {"type": "array", "items": items, **({"description": desc} if desc else {}), **kw}


def obj(props: S, required: list[str] | None = None, desc: str = "", **kw: Any) -> S:
    out: S = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if desc:
        out["description"] = desc
    out.update(kw)
    return out


PORT = {"type": "integer", "minimum": 1, "maximum": 65535}

# -- access.smi-spec.io: TrafficTarget -----------------------------------------------------------
SUBJECT = obj(
    {
        "kind": string("Kind of the identity: ServiceAccount", enum=["ServiceAccount"]),
        "name": string("Name of the ServiceAccount", minLength=1),
        "namespace": string("Namespace of the ServiceAccount (a source without one never matches)"),
        "port": {**PORT, "description": "Destination port (v1alpha1 and v1alpha2 only)"},
    },
    required=["kind", "name"],
)
RULE = obj(
    {
        "kind": string("Kind of the route group", enum=["HTTPRouteGroup", "TCPRoute", "UDPRoute"]),
        "name": string("Name of the route group, in the TrafficTarget's namespace", minLength=1),
        "matches": array(string(), "Names of matches in the group; omitted = every match"),
    },
    required=["kind", "name"],
)


def traffic_target(version: str) -> S:
    spec_required = {
        "v1alpha1": [],
        "v1alpha2": ["destination"],
        "v1alpha3": ["destination", "sources", "rules"],
    }[version]
    min_items = {"minItems": 1} if version == "v1alpha3" else {}
    spec = obj(
        {
            "destination": SUBJECT,
            "sources": array(SUBJECT, "Identities allowed to reach the destination", **min_items),
            "rules": array(RULE, "Routes the sources may use", **min_items),
        },
        required=spec_required or None,
        desc="Destination identity, allowed sources and their routes (v1alpha2+)",
    )
    props: S = {
        "spec": spec,
        # v1alpha1 kept these at the top level; declared in every version so nothing is pruned.
        "destination": {**SUBJECT, "description": "v1alpha1: destination identity"},
        "sources": array(SUBJECT, "v1alpha1: allowed source identities"),
        "specs": array(RULE, "v1alpha1: routes the sources may use"),
    }
    required = ["destination"] if version == "v1alpha1" else ["spec"]
    return root(props, required)


# -- specs.smi-spec.io: HTTPRouteGroup, TCPRoute, UDPRoute ---------------------------------------
HTTP_METHODS = ["*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
HTTP_MATCH = obj(
    {
        "name": string("Name a TrafficTarget rule refers to", minLength=1),
        "pathRegex": string("Regular expression the request path must match"),
        "methods": array(string(enum=HTTP_METHODS), "HTTP methods; * means any"),
        # The SMI SDK writes a list of single-key maps, the spec prose a plain map: accept both.
        "headers": {
            "x-kubernetes-preserve-unknown-fields": True,
            "description": "Header name → regex, as a map or a list of single-key maps",
        },
    },
    required=["name"],
)


def http_route_group(version: str) -> S:
    old = version in ("v1alpha1", "v1alpha2")
    props: S = {
        "spec": obj(
            {"matches": array(HTTP_MATCH)},
            required=None if old else ["matches"],
            desc="v1alpha3+: the route's matches",
        ),
        "matches": array(HTTP_MATCH, "v1alpha1/v1alpha2: the route's matches"),
    }
    return root(props, ["matches"] if old else ["spec"])


def port_route(version: str, kind: str) -> S:
    props: S = {
        "spec": obj(
            {"matches": obj({"ports": array(PORT, "Ports; empty or omitted = every port")})},
            desc=f"{kind} matches (v1alpha4: spec.matches.ports)",
        )
    }
    return root(props, None)


# -- split.smi-spec.io: TrafficSplit ------------------------------------------------------------
def traffic_split(version: str) -> S:
    if version == "v1alpha1":
        weight: S = {
            "x-kubernetes-int-or-string": True,
            "description": "Relative weight as a Kubernetes quantity (1 = 1000m)",
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            # Applies to the string form only (JSON Schema ignores pattern for integers).
            "pattern": r"^[0-9]+(\.[0-9]+)?m?$",
        }
    else:
        weight = {
            "type": "integer",
            "minimum": 0,
            "description": "Relative weight (0 = no traffic)",
        }
    backend = obj(
        {"service": string("Backend Service name", minLength=1), "weight": weight},
        required=["service", "weight"],
    )
    match_ref = obj(
        {
            "kind": string("Kind of the referenced route group", enum=["HTTPRouteGroup"]),
            "name": string("Name of the HTTPRouteGroup", minLength=1),
            "apiGroup": string("API group of the route group"),
        },
        required=["kind", "name"],
    )
    spec = obj(
        {
            "service": string(
                "Root Service clients call (first DNS label, split's namespace)", minLength=1
            ),
            "backends": array(backend, "Services that receive the traffic", minItems=1),
            "matches": array(match_ref, "v1alpha3+: only requests matching these are split"),
        },
        required=["service", "backends"],
    )
    return root({"spec": spec}, ["spec"])


# -- config.openservicemesh.io: MeshConfig -------------------------------------------------------
def open_obj(props: S, desc: str = "") -> S:
    # Upstream MeshConfig has many more fields than this project reads; keep them.
    return obj(props, desc=desc, **{"x-kubernetes-preserve-unknown-fields": True})


LOG_LEVELS = ["trace", "debug", "info", "warning", "warn", "error", "critical", "off"]


def mesh_config(version: str) -> S:
    port_list = array({"type": "integer", "minimum": 1, "maximum": 65535})
    spec = open_obj(
        {
            "sidecar": open_obj(
                {"logLevel": string("Envoy log level", enum=LOG_LEVELS), "envoyImage": string()}
            ),
            "traffic": open_obj(
                {
                    "enablePermissiveTrafficPolicyMode": {"type": "boolean"},
                    "enableEgress": {"type": "boolean"},
                    "outboundPortExclusionList": port_list,
                    "inboundPortExclusionList": port_list,
                    "outboundIPRangeExclusionList": array(string()),
                }
            ),
            "observability": open_obj(
                {
                    "osmLogLevel": string(),
                    "tracing": open_obj(
                        {
                            "enable": {"type": "boolean"},
                            "address": string(),
                            "port": PORT,
                            "endpoint": string(),
                        }
                    ),
                }
            ),
            "certificate": open_obj(
                {
                    "serviceCertValidityDuration": string(
                        "Go duration, e.g. 24h",
                        pattern=r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
                    ),
                    "certKeyBitSize": {"type": "integer", "enum": [2048, 4096, 8192]},
                }
            ),
        },
        desc="Mesh-wide settings the control plane and sidecars follow",
    )
    return root({"spec": spec, "status": open_obj({})}, None)


def root(props: S, required: list[str] | None) -> S:
    props = {
        "apiVersion": string(),
        "kind": string(),
        "metadata": {"type": "object"},
        **copy.deepcopy(props),
    }
    out = obj(props, required=required)
    return {"openAPIV3Schema": out}


def crd(
    group: str,
    kind: str,
    plural: str,
    versions: list[str],
    storage: str,
    schema: Any,
    short: list[str],
    categories: list[str],
    extra: dict[str, Any] | None = None,
) -> S:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "labels": {"app.kubernetes.io/name": "openservicemesh.io"},
            "annotations": {
                "openservicemesh.io/note": "served in every version; stored as "
                + storage
                + " (no conversion: all versions share one field layout)"
            },
        },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": categories,
            },
            "conversion": {"strategy": "None"},
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": v == storage,
                    "schema": schema(v),
                    **({"subresources": {"status": {}}} if extra and extra.get("status") else {}),
                }
                for v in versions
            ],
        },
    }


# -- policy.openservicemesh.io: resilience (docs/resilience.md) ----------------------------------
# Retry and UpstreamTrafficSetting keep OSM v1.2's fields; requestTimeout, httpRoutes[].
# requestTimeout, outlierDetection and the FaultInjection kind are this project's extensions.
DURATION = string(
    "Go duration, e.g. 250ms, 2s, 1m", pattern=r"^(0|([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$"
)
UINT32 = {"type": "integer", "minimum": 0, "maximum": 4294967295}
PERCENT = {"type": "number", "minimum": 0, "maximum": 100, "description": "0 to 100"}
IGNORED = {
    "type": "object",
    "description": "OSM v1.2 rate limiting: accepted, not enforced by this mesh",
    "x-kubernetes-preserve-unknown-fields": True,
}


def policy_subject(kind: str) -> S:
    return obj(
        {
            "kind": string(f"Must be {kind}", enum=[kind]),
            "name": string(f"Name of the {kind}", minLength=1),
            "namespace": string(f"Namespace of the {kind}", minLength=1),
        },
        required=["kind", "name", "namespace"],
    )


POLICY = "policy.openservicemesh.io"
HOST = string(
    "<service>[.<namespace>[.svc[.cluster.local]]], in the policy's namespace", minLength=1
)


def retry(version: str) -> S:
    policy = obj(
        {
            "retryOn": string("Comma-separated Envoy retry conditions and/or status codes"),
            "perTryTimeout": DURATION,
            "numRetries": {"type": "integer", "minimum": 0, "maximum": 1000},
            "retryBackoffBaseInterval": DURATION,
        },
        required=["retryOn"],
    )
    spec = obj(
        {
            "source": policy_subject("ServiceAccount"),
            "destinations": array(policy_subject("Service"), minItems=1),
            "retryPolicy": policy,
        },
        required=["source", "destinations", "retryPolicy"],
        desc="Retries of requests from a ServiceAccount to Services (OSM v1.2 shape)",
    )
    return root({"spec": spec}, ["spec"])


def upstream_traffic_setting(version: str) -> S:
    seconds = {
        "requestTimeout": {**DURATION, "description": "Request timeout (extension; 0 = none)"}
    }
    spec = obj(
        {
            "host": HOST,
            "connectionSettings": obj(
                {
                    "tcp": obj({"maxConnections": UINT32, "connectTimeout": DURATION}),
                    "http": obj(
                        {
                            "maxRequests": UINT32,
                            "maxRequestsPerConnection": UINT32,
                            "maxPendingRequests": UINT32,
                            "maxRetries": UINT32,
                        }
                    ),
                },
                desc="Circuit breaking thresholds",
            ),
            "rateLimit": IGNORED,
            "httpRoutes": array(
                obj(
                    {
                        "path": string("RE2 regex, anchored at the path's start", minLength=1),
                        "rateLimit": IGNORED,
                        **seconds,
                    },
                    required=["path"],
                )
            ),
            **seconds,
            "outlierDetection": obj(
                {
                    "consecutive5xxErrors": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "interval": DURATION,
                    "baseEjectionTime": DURATION,
                    "maxEjectionPercent": {"type": "integer", "minimum": 0, "maximum": 100},
                },
                desc="Eject endpoints after consecutive 5xx (extension)",
            ),
        },
        required=["host"],
        desc="Settings for traffic to one upstream Service (OSM v1.2 shape plus extensions)",
    )
    return root({"spec": spec, "status": open_obj({})}, ["spec"])


def fault_injection(version: str) -> S:
    spec = obj(
        {
            "host": HOST,
            "sources": array(policy_subject("ServiceAccount"), "Clients affected (all if unset)"),
            "abort": obj(
                {
                    "httpStatus": {"type": "integer", "minimum": 200, "maximum": 599},
                    "percentage": PERCENT,
                },
                required=["httpStatus"],
            ),
            "delay": obj({"fixedDelay": DURATION, "percentage": PERCENT}, required=["fixedDelay"]),
        },
        required=["host"],
        desc="Faults injected into requests to a Service (extension)",
    )
    return root({"spec": spec}, ["spec"])


A4 = ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"]

FILES: dict[str, list[S]] = {
    "smi-access.yaml": [
        crd(
            "access.smi-spec.io",
            "TrafficTarget",
            "traffictargets",
            ["v1alpha1", "v1alpha2", "v1alpha3"],
            "v1alpha3",
            traffic_target,
            ["tt"],
            ["smi"],
        ),
    ],
    "smi-specs.yaml": [
        crd(
            "specs.smi-spec.io",
            "HTTPRouteGroup",
            "httproutegroups",
            A4,
            "v1alpha4",
            http_route_group,
            ["htr"],
            ["smi"],
        ),
        crd(
            "specs.smi-spec.io",
            "TCPRoute",
            "tcproutes",
            A4,
            "v1alpha4",
            lambda v: port_route(v, "TCPRoute"),
            ["tcpr"],
            ["smi"],
        ),
        crd(
            "specs.smi-spec.io",
            "UDPRoute",
            "udproutes",
            ["v1alpha4"],
            "v1alpha4",
            lambda v: port_route(v, "UDPRoute"),
            ["udpr"],
            ["smi"],
        ),
    ],
    "smi-split.yaml": [
        crd(
            "split.smi-spec.io",
            "TrafficSplit",
            "trafficsplits",
            A4,
            "v1alpha4",
            traffic_split,
            ["ts"],
            ["smi"],
        ),
    ],
    "meshconfig.yaml": [
        crd(
            "config.openservicemesh.io",
            "MeshConfig",
            "meshconfigs",
            ["v1alpha1", "v1alpha2"],
            "v1alpha2",
            mesh_config,
            ["meshconfig"],
            ["osm"],
            {"status": True},
        ),
    ],
    "policy.yaml": [
        crd(POLICY, "Retry", "retries", ["v1alpha1"], "v1alpha1", retry, ["retry"], ["osm"]),
        crd(
            POLICY,
            "UpstreamTrafficSetting",
            "upstreamtrafficsettings",
            ["v1alpha1"],
            "v1alpha1",
            upstream_traffic_setting,
            ["upstreamtrafficsetting", "uts"],
            ["osm"],
            {"status": True},
        ),
        crd(
            POLICY,
            "FaultInjection",
            "faultinjections",
            ["v1alpha1"],
            "v1alpha1",
            fault_injection,
            ["faultinjection", "fi"],
            ["osm"],
        ),
    ],
}

# No header comment: the files are printed verbatim by `osm install --dry-run`, where a line
# about a test file means nothing to a user (docs/chart.md says where they come from).
HEADER = ""


def render() -> dict[str, str]:
    out = {}
    for name, docs in FILES.items():
        body = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=100) for d in docs)
        out[name] = HEADER + body
    return out


def main() -> None:
    CRD_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (CRD_DIR / name).write_text(text)


if __name__ == "__main__":
    main()
