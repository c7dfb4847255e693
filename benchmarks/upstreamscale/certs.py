"""Each simulated proxy's client certificate, issued by the mesh's own CA (read from its Secret
``osm-ca-bundle``: ``ca.crt`` + ``private.key``, the same keys for both), in the form that
mesh's ADS server checks:

- upstream v1.2.4 (pkg/envoy/ads/stream.go): the certificate's Common Name is the proxy's
  identity, ``<proxy-uuid>.sidecar.<service-account>.<namespace>.<trust-domain>``; the UUID
  names the Pod (label ``osm-proxy-uuid``) whose ServiceAccount must match. Its CNs are longer
  than X.509's 64-character bound, which Go does not enforce and neither do these.
- ours (osm_mesh/xds/identity.py, osm_mesh/certs/bootstrap.py): the node id in that same
  format, and the bootstrap certificate the injector's Secret holds: signed by the bootstrap CA
  derived from the mesh CA, naming this one proxy (``urn:osm:proxy:<node id>``).
"""

from __future__ import annotations

import base64
import datetime as dt
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from benchmarks.upstreamscale.objects import PodProxy
from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
from osm_mesh.certs.ca import CertificateAuthority

TRUST_DOMAIN = "cluster.local"


def node_id(proxy: PodProxy) -> str:
    return f"{proxy.proxy_uuid}.sidecar.{proxy.service_account}.{proxy.namespace}.{TRUST_DOMAIN}"


def _ca_parts(secret_data: dict[str, str]) -> tuple[x509.Certificate, bytes, object]:
    cert_pem = base64.b64decode(secret_data["ca.crt"])
    key = serialization.load_pem_private_key(base64.b64decode(secret_data["private.key"]), None)
    return x509.load_pem_x509_certificate(cert_pem), cert_pem, key


def upstream_proxies(secret_data: dict[str, str], proxies: list[PodProxy]) -> list[dict]:
    """Spec entries (benchmarks/adsload format) for upstream's ADS server."""
    ca_cert, _, ca_key = _ca_parts(secret_data)
    now = dt.datetime.now(dt.UTC)
    out = []
    for proxy in proxies:
        cn = node_id(proxy)
        key = ec.generate_private_key(ec.SECP256R1())
        with warnings.catch_warnings():  # the CN is longer than 64 characters, as upstream's
            warnings.simplefilter("ignore")
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn, _validate=False)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        out.append(
            {
                "node": cn,
                "cluster": f"{proxy.service_account}.{proxy.namespace}",
                "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
                "key": key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode(),
            }
        )
    return out


def our_proxies(secret_data: dict[str, str], proxies: list[PodProxy]) -> list[dict]:
    """Spec entries for our ADS server (what the injector's bootstrap Secret would hold)."""
    bootstrap_ca = bootstrap_authority(CertificateAuthority.from_secret_data(secret_data))
    out = []
    for proxy in proxies:
        issued = issue_bootstrap(bootstrap_ca, node_id(proxy))
        out.append(
            {
                "node": node_id(proxy),
                "cluster": f"{proxy.service_account}.{proxy.namespace}",
                "cert": issued.cert_pem.decode(),
                "key": issued.key_pem.decode(),
            }
        )
    return out


def ca_pem(secret_data: dict[str, str]) -> bytes:
    return base64.b64decode(secret_data["ca.crt"])
