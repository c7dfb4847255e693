"""Query a meshed pod's Envoy admin interface (``osm proxy get``).

Upstream checks the pod (exists, carries ``osm-proxy-uuid``, is Running),
port-forwards a local port to the Envoy admin port 15000 and GETs
``/<query>``. On top of that, :func:`config_subset` cuts a ``/config_dump``
down to one resource type (listeners, clusters, routes, secrets, endpoints) and
:func:`summarize` turns it into rows, as ``istioctl proxy-config`` does.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from osm_mesh.errors import Conflict, InvalidInput, MeshError, NotFound
from osm_mesh.kube.portforward import DEFAULT_ADDRESS, connect_host, forward_to_pod, http_get
from osm_mesh.labels import ENVOY_ADMIN_PORT, PROXY_UUID_LABEL

# --type → the config_dump entry's @type, and whether /config_dump must be asked for EDS.
CONFIG_TYPES: dict[str, str] = {
    "listeners": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
    "clusters": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
    "routes": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
    "secrets": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
    "endpoints": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
}

# Keys whose values are key material even if Envoy did not redact them (inline SDS secrets).
SENSITIVE_KEYS = frozenset({"private_key", "password", "session_ticket_keys"})


@dataclass(frozen=True)
class AdminResponse:
    status: int
    content_type: str
    body: bytes


def check_meshed_pod(kube: Any, namespace: str, pod: str) -> Any:
    """The pod, if it exists, is part of a mesh and runs (upstream's messages)."""
    from kubernetes.client.exceptions import ApiException

    try:
        obj = kube.core.read_namespaced_pod(pod, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise NotFound(
                f"Could not find pod {pod} in namespace {namespace}",
                hint="List the pods with: kubectl get pods -n " + namespace,
            ) from None
        raise
    labels = obj.metadata.labels or {}
    if PROXY_UUID_LABEL not in labels:
        raise InvalidInput(
            f"Pod {pod} in namespace {namespace} is not a part of a mesh",
            hint=f"Only pods with an Envoy sidecar (label {PROXY_UUID_LABEL}) have an admin "
            "interface; add the namespace with `osm namespace add` and restart the pod",
        )
    phase = obj.status.phase if obj.status else None
    if phase != "Running":
        raise Conflict(
            f"Pod {pod} in namespace {namespace} is not running",
            hint=f"Its phase is {phase or 'unknown'}; check it with: "
            f"kubectl describe pod {pod} -n {namespace}",
        )
    return obj


def envoy_admin_get(
    kube: Any,
    namespace: str,
    pod: str,
    query: str,
    *,
    local_port: int | None = ENVOY_ADMIN_PORT,
    address: str = DEFAULT_ADDRESS,
    timeout: float = 30.0,
    check_pod: bool = True,
    on_debug: Callable[[str], None] | None = None,
) -> AdminResponse:
    """GET ``/<query>`` from the pod's Envoy admin through a port-forward.

    ``local_port=None`` means "15000 if free, else any free port": a one-shot
    query has no reason to fail because a local Envoy already holds 15000.
    """
    if check_pod:
        check_meshed_pod(kube, namespace, pod)
    port = ENVOY_ADMIN_PORT if local_port is None else local_port
    try:
        forwarder = forward_to_pod(
            kube, namespace, pod, ENVOY_ADMIN_PORT, address=address, local_port=port
        )
    except Conflict:
        if local_port is not None:
            raise
        if on_debug:
            on_debug(f"local port {port} is in use; forwarding from a free port instead")
        forwarder = forward_to_pod(kube, namespace, pod, ENVOY_ADMIN_PORT, address=address)
    path = "/" + query.lstrip("/")
    with forwarder:
        if on_debug:
            on_debug(f"GET http://{address}:{forwarder.local_port}{path} → {forwarder.target}")
        try:
            answer = http_get(connect_host(address), forwarder.local_port, path, timeout=timeout)
        except (OSError, http.client.HTTPException) as exc:
            reason = forwarder.last_error or f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise MeshError(
                f"Error retrieving proxy config for pod {pod} in namespace {namespace}: {reason}",
                hint="Check that the Envoy sidecar is up: "
                f"kubectl logs {pod} -n {namespace} -c envoy",
            ) from None
    return AdminResponse(answer.status, answer.headers.get("content-type", ""), answer.body)


def parse_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidInput(
            f"The answer to {what} is not JSON",
            hint="Drop -o json/yaml to see the raw answer, or ask a JSON endpoint "
            "(config_dump, clusters?format=json, stats?format=json)",
        ) from None


def config_dump_query(config_type: str) -> str:
    if config_type not in CONFIG_TYPES:
        raise InvalidInput(
            f"Unknown config type {config_type!r}",
            hint="Use one of: " + ", ".join(CONFIG_TYPES),
        )
    # EDS is only in the dump when asked for.
    return "config_dump?include_eds" if config_type == "endpoints" else "config_dump"


def config_subset(dump: Any, config_type: str) -> dict[str, Any]:
    """The one ``configs[]`` entry of a config_dump with the @type for ``config_type``."""
    wanted = CONFIG_TYPES[config_type]
    for entry in (dump or {}).get("configs", []) if isinstance(dump, dict) else []:
        if isinstance(entry, dict) and entry.get("@type") == wanted:
            return redact(entry)
    return {"@type": wanted}


def redact(value: Any) -> Any:
    """A copy with key material replaced (Envoy redacts most, not inline secrets)."""
    if isinstance(value, dict):
        return {
            k: "[redacted]"
            if k in SENSITIVE_KEYS and v not in ("[redacted]", {}, None)
            else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


# -- summaries: one row per resource ------------------------------------------------------------


def _items(subset: dict[str, Any], *keys: str) -> list[tuple[str, dict[str, Any]]]:
    """(source, item) for each list under ``keys`` (static_*, dynamic_*)."""
    found = []
    for key in keys:
        for item in subset.get(key) or []:
            found.append((key, item))
    return found


def _socket_address(address: dict[str, Any]) -> tuple[str, str]:
    sock = (address or {}).get("socket_address") or {}
    return str(sock.get("address", "")), str(sock.get("port_value", ""))


def _origin(key: str) -> str:
    return "static" if key.startswith("static") else "dynamic"


def summarize(config_type: str, subset: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Table headers and rows for a config subset."""
    rows: list[list[str]] = []
    if config_type == "listeners":
        for key, item in _items(subset, "static_listeners", "dynamic_listeners"):
            listener = item.get("listener") or (item.get("active_state") or {}).get("listener")
            if not listener:
                continue
            host, port = _socket_address(listener.get("address", {}))
            chains = len(listener.get("filter_chains") or [])
            rows.append([listener.get("name", ""), host, port, str(chains), _origin(key)])
        return ["NAME", "ADDRESS", "PORT", "FILTER-CHAINS", "SOURCE"], rows
    if config_type == "clusters":
        for key, item in _items(subset, "static_clusters", "dynamic_active_clusters"):
            cluster = item.get("cluster") or {}
            kind = cluster.get("type") or ("EDS" if cluster.get("eds_cluster_config") else "")
            if not kind and cluster.get("cluster_type"):
                kind = str(cluster["cluster_type"].get("name", ""))
            rows.append([cluster.get("name", ""), kind or "STATIC", _origin(key)])
        return ["NAME", "TYPE", "SOURCE"], rows
    if config_type == "routes":
        for key, item in _items(subset, "static_route_configs", "dynamic_route_configs"):
            config = item.get("route_config") or {}
            hosts = config.get("virtual_hosts") or []
            domains = sorted({d for vh in hosts for d in vh.get("domains") or []})
            routes = sum(len(vh.get("routes") or []) for vh in hosts)
            rows.append(
                [
                    config.get("name", ""),
                    str(len(hosts)),
                    str(routes),
                    ",".join(domains),
                    _origin(key),
                ]
            )
        return ["NAME", "VIRTUAL-HOSTS", "ROUTES", "DOMAINS", "SOURCE"], rows
    if config_type == "secrets":
        for key, item in _items(
            subset, "static_secrets", "dynamic_active_secrets", "dynamic_warming_secrets"
        ):
            secret = item.get("secret") or {}
            kind = next((k for k in secret if k not in ("name", "@type")), "")
            rows.append([item.get("name") or secret.get("name", ""), kind, _origin(key)])
        return ["NAME", "TYPE", "SOURCE"], rows
    if config_type == "endpoints":
        for key, item in _items(subset, "static_endpoint_configs", "dynamic_endpoint_configs"):
            config = item.get("endpoint_config") or {}
            for locality in config.get("endpoints") or []:
                for lb in locality.get("lb_endpoints") or []:
                    host, port = _socket_address((lb.get("endpoint") or {}).get("address", {}))
                    rows.append(
                        [
                            config.get("cluster_name", ""),
                            f"{host}:{port}",
                            str(lb.get("health_status", "UNKNOWN")),
                            _origin(key),
                        ]
                    )
        return ["CLUSTER", "ENDPOINT", "HEALTH", "SOURCE"], rows
    raise InvalidInput(f"Unknown config type {config_type!r}")
