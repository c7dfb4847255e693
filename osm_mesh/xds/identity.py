"""Who an ADS stream speaks for: the node id Envoy sends and the certificate it presents.

The node id is ``<uuid>.sidecar.<service-account>.<namespace>.<trust-domain>``; the bootstrap
certificate a proxy presents names it (``osm_mesh.certs.bootstrap``). ServiceAccount
names are DNS subdomains and may contain dots, trust domains do too; namespaces (DNS labels) and
proxy UUIDs never do. So the id is read knowing the trust domain: strip ``.<trust-domain>``, the
first two labels are the UUID and the kind, the last is the namespace, and whatever lies between
(dots included) is the ServiceAccount.

Node ids come from the network before anything is proven, so they are bounded
(``MAX_NODE_ID_LENGTH``) before they are parsed, and shortened (``printable``) wherever they are
logged or kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from osm_mesh.errors import InvalidInput
from osm_mesh.validation import dns1123_label_problem, dns1123_subdomain_problem

# The longest real node id: UUID (36) + "sidecar" + ServiceAccount (253) + namespace (63) +
# trust domain (253) + 4 dots = 616 characters.
MAX_NODE_ID_LENGTH = 1024
# How much of an untrusted node id goes into logs and the list of refused streams.
PRINTABLE_LENGTH = 160
_UUID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_KIND = re.compile(r"^[a-z]{1,32}$")
NODE_ID_HINT = "expected <proxy-uuid>.sidecar.<service-account>.<namespace>.<trust-domain>"


def printable(text: str, limit: int = PRINTABLE_LENGTH) -> str:
    """``text`` cut to ``limit`` characters (with its full length said), safe to log."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…({len(text)} chars)"


@dataclass(frozen=True)
class NodeId:
    proxy_uuid: str
    kind: str
    service_account: str
    namespace: str
    trust_domain: str

    @classmethod
    def parse(cls, text: str, trust_domain: str) -> NodeId:
        """Read ``text`` as a node id of ``trust_domain``; InvalidInput says what is wrong."""
        if len(text) > MAX_NODE_ID_LENGTH:
            raise InvalidInput(
                f"node id of {len(text)} characters is longer than {MAX_NODE_ID_LENGTH}",
                hint=NODE_ID_HINT,
            )
        suffix = "." + trust_domain
        if not text.endswith(suffix):
            raise InvalidInput(
                f"node id {printable(text)!r} is not in trust domain {trust_domain}",
                hint=NODE_ID_HINT,
            )
        proxy_uuid, _, rest = text[: -len(suffix)].partition(".")
        kind, _, rest = rest.partition(".")
        service_account, _, namespace = rest.rpartition(".")
        problem = None
        if not _UUID.match(proxy_uuid):
            problem = "the proxy UUID is not lower-case letters, digits and '-'"
        elif not _KIND.match(kind):
            problem = "the proxy kind is not a lower-case word"
        elif sa_problem := dns1123_subdomain_problem(service_account):
            problem = f"the ServiceAccount name {sa_problem}"
        elif ns_problem := dns1123_label_problem(namespace):
            problem = f"the namespace name {ns_problem}"
        if problem:
            raise InvalidInput(
                f"malformed node id {printable(text)!r}: {problem}", hint=NODE_ID_HINT
            )
        return cls(proxy_uuid, kind, service_account, namespace, trust_domain)

    @property
    def spiffe_id(self) -> str:
        return f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    def __str__(self) -> str:
        return ".".join(
            (self.proxy_uuid, self.kind, self.service_account, self.namespace, self.trust_domain)
        )
