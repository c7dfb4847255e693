"""Who an ADS stream speaks for: the node id Envoy sends and the certificate it presents.

The node id is ``<uuid>.sidecar.<sa>.<ns>.<trust-domain>``; the peer's certificate must prove it.
"""

from __future__ import annotations

from dataclasses import dataclass

from osm_mesh.certs.ca import uri_sans
from osm_mesh.errors import InvalidInput


@dataclass(frozen=True)
class NodeId:
    proxy_uuid: str
    kind: str
    service_account: str
    namespace: str
    trust_domain: str

    @classmethod
    def parse(cls, text: str) -> NodeId:
        parts = text.split(".", 4)
        if len(parts) != 5 or not all(parts):
            raise InvalidInput(
                f"malformed node id {text!r}",
                hint="expected <proxy-uuid>.sidecar.<service-account>.<namespace>.<trust-domain>",
            )
        return cls(*parts)

    @property
    def spiffe_id(self) -> str:
        return f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"


def peer_mismatch(node: NodeId, peer_pems: list[bytes] | None) -> str | None:
    """None when the peer's client certificate (PEM, as gRPC's auth context gives it) proves
    the node id's identity, else the reason it does not."""
    if not peer_pems:
        return "no client certificate"
    uris = uri_sans(peer_pems[0])
    if node.spiffe_id not in uris:
        return f"node id {node.spiffe_id} does not match certificate {', '.join(uris) or '-'}"
    return None
