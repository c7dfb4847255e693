"""Kubelet HTTP probes of meshed pods, sent through Envoy instead of the mTLS listener.

Inbound traffic is redirected to Envoy's inbound listener, which requires a mesh client
certificate: the kubelet has none, so an unchanged ``httpGet`` probe would fail and the pod
would never become ready. As upstream OSM did, each HTTP probe is moved to a plain-HTTP
listener of its own on 15901, 15902, ... (excluded from redirection) that forwards exactly
the probe's path to the container port on 127.0.0.1 -- and nothing else, so the probe port
is not a way around the mesh's policy. HTTPS probes become HTTP towards Envoy, which speaks
TLS to the app (unverified, as the kubelet does).

``tcpSocket`` and ``grpc`` probes stay as they are: a TCP probe is answered by Envoy's
inbound listener (it checks the sidecar, not the app); gRPC probes are not rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from osm_mesh.envoy.bootstrap import loopback_cluster, path_listener

PROBE_BASE_PORT = 15901
PROBE_MAX = 99  # 15901..15999
PROBE_KINDS = ("livenessProbe", "readinessProbe", "startupProbe")


@dataclass(frozen=True)
class ProbeRoute:
    """One rewritten probe: Envoy listens on ``listener_port`` and forwards ``path``."""

    container_index: int
    container: str
    kind: str
    listener_port: int
    target_port: int
    path: str
    https: bool

    @property
    def cluster(self) -> str:
        return f"probe-{self.target_port}{'-tls' if self.https else ''}"


def _resolve(port: Any, container: Mapping[str, Any]) -> int | None:
    if isinstance(port, bool):
        return None
    if isinstance(port, int):
        return port if 1 <= port <= 65535 else None
    text = str(port)
    if text.isdigit():
        return _resolve(int(text), container)
    for p in container.get("ports") or []:
        if isinstance(p, Mapping) and p.get("name") == text:
            return _resolve(p.get("containerPort"), container)
    return None


def probe_plan(
    pod: Mapping[str, Any], skip: tuple[str, ...] = ("envoy",)
) -> tuple[ProbeRoute, ...]:
    """The HTTP probes of ``pod`` that get an Envoy listener, in container/kind order."""
    routes: list[ProbeRoute] = []
    containers = (pod.get("spec") or {}).get("containers") or []
    for index, container in enumerate(containers):
        if not isinstance(container, Mapping) or container.get("name") in skip:
            continue
        for kind in PROBE_KINDS:
            probe = container.get(kind)
            http = probe.get("httpGet") if isinstance(probe, Mapping) else None
            # A probe aimed at another host does not enter the pod: leave it alone.
            if not isinstance(http, Mapping) or http.get("host"):
                continue
            target = _resolve(http.get("port"), container)
            if target is None or len(routes) >= PROBE_MAX:
                continue
            path = str(http.get("path") or "/").split("?", 1)[0] or "/"
            if not path.startswith("/"):
                path = "/" + path
            routes.append(
                ProbeRoute(
                    container_index=index,
                    container=str(container.get("name") or ""),
                    kind=kind,
                    listener_port=PROBE_BASE_PORT + len(routes),
                    target_port=target,
                    path=path,
                    https=str(http.get("scheme") or "HTTP").upper() == "HTTPS",
                )
            )
    return tuple(routes)


def probe_patch(routes: tuple[ProbeRoute, ...]) -> list[dict[str, Any]]:
    """JSON Patch operations pointing each probe at its Envoy listener (plain HTTP)."""
    ops: list[dict[str, Any]] = []
    for r in routes:
        base = f"/spec/containers/{r.container_index}/{r.kind}/httpGet"
        ops.append({"op": "add", "path": f"{base}/port", "value": r.listener_port})
        ops.append({"op": "add", "path": f"{base}/scheme", "value": "HTTP"})
    return ops


def _listener(route: ProbeRoute) -> dict[str, Any]:
    return path_listener(
        name=f"probe-{route.listener_port}",
        port=route.listener_port,
        stat_prefix=f"probe_{route.listener_port}",
        route_name=f"probe-{route.listener_port}",
        vhost_name="probe",
        path=route.path,
        cluster=route.cluster,
    )


def _cluster(route: ProbeRoute) -> dict[str, Any]:
    cluster = loopback_cluster(route.cluster, route.target_port)
    if route.https:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
            },
        }
    return cluster


def probe_resources(
    routes: tuple[ProbeRoute, ...],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Static (listeners, clusters) for the bootstrap; clusters shared by target port."""
    clusters: dict[str, dict[str, Any]] = {}
    for r in routes:
        clusters.setdefault(r.cluster, _cluster(r))
    return [_listener(r) for r in routes], list(clusters.values())
