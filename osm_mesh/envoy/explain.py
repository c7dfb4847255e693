"""Local mode: outbound requests the mesh will not carry are answered with the reason.

Before, every miss looked alike: in SMI mode a catch-all answered 403 "no TrafficTarget
allows this destination" also for a host that is no service at all, a port the Service does
not have, or a short name of a service that lives in another namespace; in permissive mode
Envoy answered a bare 404. Now, on a local mesh's outbound routes (after the virtual hosts of
what the source may call, whose domains win):

- a mesh Service the source may not call (SMI mode): 403, "no TrafficTarget allows
  <source> to call <service>" — the only answer that names a TrafficTarget;
- a callable Service on a port it does not have (``api.ns:8080``), or on a TCP port (reached
  at the caller's own address, not through the HTTP proxy): 404 saying where to go;
- a short name (``web``) of a Service that exists only in other namespaces: 404 naming the
  full names to use;
- any other host: 404, "no Service in the mesh answers to this host".

Local mode only: a local mesh is small, while a cluster's route tables would grow by a
virtual host per Service for every source (cluster mode keeps one catch-all).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from osm_mesh.catalog.model import Identity, Service
from osm_mesh.envoy import pb
from osm_mesh.envoy.model import HTTP_PROTOCOLS

UNKNOWN_HOST = (
    "osm: no Service in the mesh answers to this host; call <service>.<namespace> "
    "(add :<port> unless it is 80)\n"
)


def explain_vhosts(
    services: Iterable[Service],
    source: Identity,
    callable_keys: set[tuple[str, str]],
    taken: set[str],
    *,
    smi_mode: bool,
) -> list[pb.VirtualHost]:
    """The reason-giving virtual hosts; ``taken``: domains already routed (updated)."""
    services = sorted(services)
    vhosts: list[pb.VirtualHost] = []

    def add(name: str, domains: list[str], status: int, body: str) -> None:
        fresh = [d for d in dict.fromkeys(domains) if d not in taken]
        if fresh:
            taken.update(fresh)
            vhosts.append(_answer(name, fresh, status, body))

    for svc in services:
        same_ns = svc.namespace == source.namespace
        forms = _forms(svc, short=same_ns)
        if svc.key not in callable_keys and smi_mode:
            add(
                f"explain-denied|{svc.namespace}/{svc.name}",
                forms + [f"{f}:*" for f in forms],
                403,
                f"RBAC: access denied: no TrafficTarget allows ServiceAccount "
                f"{source.namespace}/{source.name} to call Service {svc.namespace}/{svc.name}\n",
            )
            continue
        http = [p.port for p in svc.ports if p.protocol in HTTP_PROTOCOLS]
        tcp = [p.port for p in svc.ports if p.protocol not in HTTP_PROTOCOLS]
        body = f"osm: Service {svc.namespace}/{svc.name} has no such HTTP port"
        body += f"; its HTTP ports: {', '.join(map(str, http))}" if http else ""
        if tcp:
            var = svc.name.upper().replace("-", "_")
            body += (
                f"; its TCP ports ({', '.join(map(str, tcp))}) are not HTTP: connect to your "
                f"own address at the port ($POD_IP:{tcp[0]}, announced as "
                f"${var}_SERVICE_HOST:${var}_SERVICE_PORT), the sidecar carries it"
            )
        add(
            f"explain-port|{svc.namespace}/{svc.name}",
            forms + [f"{f}:*" for f in forms],
            404,
            body + "\n",
        )

    # Short names are only meant within a namespace: name the full forms to use instead.
    elsewhere: dict[str, list[str]] = defaultdict(list)
    for svc in services:
        if svc.namespace != source.namespace:
            elsewhere[svc.name].append(svc.namespace)
    for name, namespaces in sorted(elsewhere.items()):
        full = ", ".join(f"{name}.{ns}" for ns in namespaces)
        add(
            f"explain-short|{name}",
            [name, f"{name}:*"],
            404,
            f"osm: no Service {name!r} in namespace {source.namespace}; a short name only "
            f"reaches the caller's namespace: call {full}\n",
        )
    add("explain-unknown", ["*"], 404, UNKNOWN_HOST)
    return vhosts


def _forms(svc: Service, *, short: bool) -> list[str]:
    base = [
        f"{svc.name}.{svc.namespace}",
        f"{svc.name}.{svc.namespace}.svc",
        f"{svc.name}.{svc.namespace}.svc.cluster.local",
    ]
    return ([svc.name] if short else []) + base


def _answer(name: str, domains: list[str], status: int, body: str) -> pb.VirtualHost:
    return pb.VirtualHost(
        name=name,
        domains=domains,
        routes=[
            pb.Route(
                match=pb.route_components_pb2.RouteMatch(prefix="/"),
                direct_response=pb.route_components_pb2.DirectResponseAction(
                    status=status, body=pb.base_pb2.DataSource(inline_string=body)
                ),
            )
        ],
    )
