"""Immutable mesh-state snapshots (Catalog) and the Sources that build them."""

from osm_mesh.catalog.build import build_catalog, port_protocol
from osm_mesh.catalog.model import (
    Catalog,
    Endpoint,
    FrozenMap,
    Identity,
    Pod,
    Service,
    ServicePort,
)
from osm_mesh.catalog.source import FileSource, SnapshotSource, Source

__all__ = [
    "Catalog",
    "Endpoint",
    "FileSource",
    "FrozenMap",
    "Identity",
    "Pod",
    "Service",
    "ServicePort",
    "SnapshotSource",
    "Source",
    "build_catalog",
    "port_protocol",
]
