"""Mesh CA, per-identity certificates (SPIFFE URI SAN + OSM DNS SAN) and rotation."""

from osm_mesh.certs.ca import (
    CA_COMMON_NAME,
    CertificateAuthority,
    IssuedCert,
    osm_name,
    parse_spiffe_id,
    spiffe_id,
    uri_sans,
)
from osm_mesh.certs.rotation import CertManager

__all__ = [
    "CA_COMMON_NAME",
    "CertManager",
    "CertificateAuthority",
    "IssuedCert",
    "osm_name",
    "parse_spiffe_id",
    "spiffe_id",
    "uri_sans",
]
