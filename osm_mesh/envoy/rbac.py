"""Inbound Envoy RBAC policies from the SMI allowances of a destination identity."""

from __future__ import annotations

from functools import lru_cache

from osm_mesh.catalog.model import Identity, Service, ServicePort
from osm_mesh.envoy import pb
from osm_mesh.envoy.index import MeshIndex
from osm_mesh.policy import ALL, Allowance


def _policy_name(allowance: Allowance, i: int) -> str:
    ref = allowance.traffic_target
    return f"{i:03d}:{ref}" if ref is not None else f"{i:03d}:permissive"


def _principals(index: MeshIndex, allowance: Allowance) -> pb.Principal:
    if allowance.sources is ALL:
        return pb.principal_ids(None)
    return _principals_of(index.trust_domain, allowance.sources)  # type: ignore[arg-type]


@lru_cache(maxsize=4096)
def _principals_of(trust_domain: str, sources: frozenset[Identity]) -> pb.Principal:
    """One message per source set, built once: every destination a set of callers may reach
    (in local mode, every pod of a mesh where all may call all) embeds a copy of the same
    list, and building it (one message per caller) was most of an inbound recompute. Callers
    only copy it into their policies, never change it."""
    return pb.principal_ids(sorted(s.spiffe_id(trust_domain) for s in sources))


def http_policies(index: MeshIndex, destination: Identity, port: int) -> dict[str, pb.RBACPolicy]:
    """RBAC policies for HTTP requests to ``destination`` on its (target) ``port``."""
    policies = {}
    for i, allowance in enumerate(index.allowances(destination)):
        if not allowance.allows_port(port) or not allowance.http:
            continue
        if allowance.http is ALL:
            permissions = [pb.Permission(any=True)]
        else:
            permissions = [
                pb.http_permission(
                    m.envoy_path_regex(),
                    () if m.any_method else tuple(sorted(m.methods)),
                    m.headers,
                )
                for m in allowance.http  # type: ignore[union-attr]
            ]
        policies[_policy_name(allowance, i)] = pb.RBACPolicy(
            permissions=permissions, principals=[_principals(index, allowance)]
        )
    return policies


def tcp_policies(index: MeshIndex, destination: Identity, port: int) -> dict[str, pb.RBACPolicy]:
    policies = {}
    for i, allowance in enumerate(index.allowances(destination)):
        ports = allowance.tcp_ports
        if not allowance.allows_port(port) or not (ports is ALL or port in ports):  # type: ignore[operator]
            continue
        policies[_policy_name(allowance, i)] = pb.RBACPolicy(
            permissions=[pb.Permission(any=True)], principals=[_principals(index, allowance)]
        )
    return policies


def network_rbac_for(
    index: MeshIndex, identity: Identity, target: int, svc: Service, sp: ServicePort
):
    return pb.network_rbac(
        f"inbound-tcp-{svc.name}-{sp.port}.", tcp_policies(index, identity, target)
    )
