"""TrafficSplit evaluation: which backends a root service's traffic goes to, and with what weight.

A backend whose Service is missing, has no endpoints, or has no port matching the root's
port is dropped and the others share its traffic; weight-0 backends get nothing (and are
left out). Splits are not hierarchical. A split grants no access (see ``evaluate``).

Project decision (docs/smi-compatibility.md): a root service needs no endpoints of its
own -- the article's canary root Service ``api`` selects ``app: api``, which no pod
carries, and clients calling it are still spread over the backends.
"""

from __future__ import annotations

from osm_mesh.catalog.model import Catalog, Service
from osm_mesh.smi.model import HTTPMatch, TrafficSplit


def split_for(catalog: Catalog, service: Service) -> TrafficSplit | None:
    """The TrafficSplit whose root is ``service`` (the first by name if several)."""
    splits = catalog.traffic_splits_of(service)
    return splits[0] if splits else None


def split_backends(
    catalog: Catalog, service: Service, port: int | None = None
) -> tuple[tuple[Service, int], ...]:
    """(backend Service, weight) pairs that receive traffic for ``service`` on ``port``.

    Empty when ``service`` is not a split root or when every backend was dropped (then
    traffic goes to the root service's own endpoints, if any).
    """
    split = split_for(catalog, service)
    if split is None:
        return ()
    out = []
    for backend in split.backends:
        if backend.weight <= 0:
            continue
        svc = catalog.service(service.namespace, backend.service)
        if svc is None or svc.key == service.key:
            continue
        if port is not None:
            if svc.port(port) is None or not catalog.endpoints(svc, port):
                continue
        elif not any(catalog.endpoints(svc, p) for p in svc.ports):
            continue
        out.append((svc, backend.weight))
    return tuple(out)


def split_matches(catalog: Catalog, split: TrafficSplit) -> tuple[HTTPMatch, ...] | None:
    """Requests the split applies to: None = all; else the matches of the referenced groups.

    Others go to the root service itself (split v1alpha3+). A reference to a missing group
    contributes nothing (lint reports it).
    """
    if not split.matches:
        return None
    out: list[HTTPMatch] = []
    for ref in split.matches:
        group = catalog.http_route_group(split.namespace, ref.name)
        if group is not None:
            out.extend(group.matches)
    return tuple(out)
