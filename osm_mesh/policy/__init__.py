"""Pure SMI policy evaluation over a Catalog (access, splits), shared by the control plane,
``osm policy check-pods`` and ``osm policy lint``."""

from osm_mesh.policy.evaluate import (
    ALL,
    ANY,
    PERMISSIVE,
    Allowance,
    RouteAccess,
    allowance_of,
    allowed_routes,
    inbound_rules,
    request_allowed,
)
from osm_mesh.policy.split import split_backends, split_for, split_matches

__all__ = [
    "ALL",
    "ANY",
    "PERMISSIVE",
    "Allowance",
    "RouteAccess",
    "allowance_of",
    "allowed_routes",
    "inbound_rules",
    "request_allowed",
    "split_backends",
    "split_for",
    "split_matches",
]
