"""The mesh certificate authority and per-identity certificates.

Certificates carry two names for one ServiceAccount identity: the SPIFFE URI SAN
``spiffe://<trust-domain>/ns/<ns>/sa/<sa>`` (what Envoy RBAC matches as the principal) and
OSM's DNS SAN ``<sa>.<ns>.<trust-domain>`` (what upstream OSM put in certificates, so tools that
look for it still find it).

Keys are EC P-256 by default: signing and key generation are ~50x cheaper than RSA 2048
(upstream OSM's default), which matters when a mesh of thousands of pods rotates daily.
``key_type="rsa-2048"`` (or any ``rsa-<bits>``) is available for parity with upstream.

The CA is persisted the way upstream stores Secret ``osm-ca-bundle``: ``ca.crt`` and
``private.key`` (PEM), either in a directory or as a Secret-shaped ``data`` mapping.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from osm_mesh.errors import InvalidInput

CA_COMMON_NAME = "osm-ca.openservicemesh.io"
CA_ORGANIZATION = "Open Service Mesh"
CA_CERT_KEY = "ca.crt"
CA_KEY_KEY = "private.key"
DEFAULT_TRUST_DOMAIN = "cluster.local"
DEFAULT_KEY_TYPE = "ecdsa-p256"
TEN_YEARS = dt.timedelta(days=3650)
DEFAULT_CERT_VALIDITY = dt.timedelta(hours=24)
# Clock skew between the CA and the proxies: certificates start being valid a little earlier.
BACKDATE = dt.timedelta(minutes=1)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class IdentityLike(Protocol):
    """Anything with a ServiceAccount ``name`` and ``namespace`` (catalog Identity, IdentityRef)."""

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...


def spiffe_id(namespace: str, service_account: str, trust_domain: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def osm_name(namespace: str, service_account: str, trust_domain: str) -> str:
    return f"{service_account}.{namespace}.{trust_domain}"


def parse_spiffe_id(uri: str) -> tuple[str, str, str] | None:
    """``spiffe://td/ns/N/sa/S`` -> (trust_domain, namespace, service_account); None otherwise."""
    if not uri.startswith("spiffe://"):
        return None
    trust_domain, _, path = uri[len("spiffe://") :].partition("/")
    parts = path.split("/")
    if len(parts) != 4 or parts[0] != "ns" or parts[2] != "sa" or not trust_domain:
        return None
    return trust_domain, parts[1], parts[3]


def generate_key(key_type: str = DEFAULT_KEY_TYPE) -> PrivateKey:
    if key_type in ("ecdsa-p256", "ec", "ecdsa"):
        return ec.generate_private_key(ec.SECP256R1())
    if key_type.startswith("rsa"):
        _, _, bits = key_type.partition("-")
        try:
            size = int(bits or "2048")
        except ValueError:
            size = 0
        if size < 2048:
            raise InvalidInput(
                f"unsupported key type {key_type!r}", hint="use ecdsa-p256 or rsa-<bits ≥ 2048>"
            )
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    raise InvalidInput(f"unsupported key type {key_type!r}", hint="use ecdsa-p256 or rsa-2048")


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class IssuedCert:
    """A leaf certificate and its key, PEM encoded, plus the CA bundle that verifies it."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    serial: int

    @property
    def validity(self) -> dt.timedelta:
        return self.not_after - self.not_before

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


# `osm version` and the controller's log warn this long before the CA expires.
CA_EXPIRY_WARNING = dt.timedelta(days=30)
RENEW_CA_HINT = (
    "create a new CA: delete Secret osm-ca-bundle and restart osm-controller and osm-injector, "
    "then restart meshed pods so their sidecars trust it"
)


def check_usable_ca(cert: x509.Certificate, now: dt.datetime | None = None) -> None:
    """Refuse, with the reason, a certificate that cannot be the mesh CA: not a CA (no
    BasicConstraints CA:TRUE, or a KeyUsage without keyCertSign) -- every certificate it
    signed would be refused by Envoy -- or expired."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        is_ca = is_ca and usage.key_cert_sign
    except x509.ExtensionNotFound:
        pass
    if not is_ca:
        raise InvalidInput(
            f"the certificate given as the mesh CA ({cert.subject.rfc4514_string()}) is not a "
            "CA certificate (it lacks BasicConstraints CA:TRUE / keyCertSign)",
            hint=f"{CA_CERT_KEY} must be the CA's own certificate, with its key in {CA_KEY_KEY}",
        )
    now = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= now:
        raise InvalidInput(
            f"the mesh CA expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
            hint=RENEW_CA_HINT,
        )


def expiry_warning(not_after: dt.datetime, now: dt.datetime | None = None) -> str | None:
    """A one-line warning when a CA valid until ``not_after`` expires within 30 days."""
    left = not_after - (now or dt.datetime.now(dt.UTC))
    if left > CA_EXPIRY_WARNING:
        return None
    if left <= dt.timedelta(0):
        return f"the mesh CA expired on {not_after:%Y-%m-%d} ({RENEW_CA_HINT})"
    return f"the mesh CA expires in {left.days} days, on {not_after:%Y-%m-%d} ({RENEW_CA_HINT})"


class CertificateAuthority:
    """A self-signed mesh root that issues identity certificates.

    Build with :meth:`create`, :meth:`load` (directory), or :meth:`from_secret_data`.
    """

    def __init__(self, cert: x509.Certificate, key: PrivateKey, key_type: str = DEFAULT_KEY_TYPE):
        self.cert = cert
        self.key = key
        # Leaf key type; independent of the CA's own key.
        self.key_type = key_type
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)

    # -- construction / persistence -------------------------------------------------
    @classmethod
    def create(
        cls,
        *,
        common_name: str = CA_COMMON_NAME,
        validity: dt.timedelta = TEN_YEARS,
        key_type: str = DEFAULT_KEY_TYPE,
    ) -> CertificateAuthority:
        key = generate_key(key_type)
        now = _now()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key, key_type)

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem_bytes: bytes, key_type: str = DEFAULT_KEY_TYPE):
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            key = serialization.load_pem_private_key(key_pem_bytes, password=None)
        except ValueError as exc:
            raise InvalidInput(
                f"the CA bundle is not valid PEM: {exc}",
                hint=f"it needs {CA_CERT_KEY} and {CA_KEY_KEY} as PEM",
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise InvalidInput("the CA private key must be EC or RSA")
        if cert.public_key() != key.public_key():
            raise InvalidInput(
                "the CA certificate and private key do not belong together",
                hint="restore both files from the same backup",
            )
        check_usable_ca(cert)
        return cls(cert, key, key_type)

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    @classmethod
    def load(cls, directory: str | Path, key_type: str = DEFAULT_KEY_TYPE) -> CertificateAuthority:
        directory = Path(directory)
        try:
            cert_pem = (directory / CA_CERT_KEY).read_bytes()
            key_bytes = (directory / CA_KEY_KEY).read_bytes()
        except FileNotFoundError as exc:
            raise InvalidInput(
                f"no CA in {directory}: {Path(exc.filename).name} is missing",
                hint="create one with CertificateAuthority.create().save(dir)",
            ) from exc
        return cls.from_pem(cert_pem, key_bytes, key_type)

    @classmethod
    def load_or_create(cls, directory: str | Path, **create_kw) -> CertificateAuthority:
        directory = Path(directory)
        if (directory / CA_CERT_KEY).exists() or (directory / CA_KEY_KEY).exists():
            return cls.load(directory, create_kw.get("key_type", DEFAULT_KEY_TYPE))
        ca = cls.create(**create_kw)
        ca.save(directory)
        return ca

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CA_CERT_KEY).write_bytes(self.cert_pem)
        key_path = directory / CA_KEY_KEY
        # Create the key file owner-only from the start: never world-readable, even briefly.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem(self.key))

    def to_secret_data(self) -> dict[str, str]:
        """``data`` of Secret ``osm-ca-bundle`` (base64 values, as the API wants them)."""
        return {
            CA_CERT_KEY: base64.b64encode(self.cert_pem).decode(),
            CA_KEY_KEY: base64.b64encode(key_pem(self.key)).decode(),
        }

    @classmethod
    def from_secret_data(
        cls, data: Mapping[str, str], key_type: str = DEFAULT_KEY_TYPE
    ) -> CertificateAuthority:
        missing = [k for k in (CA_CERT_KEY, CA_KEY_KEY) if k not in data]
        if missing:
            raise InvalidInput(
                f"the CA Secret lacks {', '.join(missing)}",
                hint=f"Secret osm-ca-bundle needs keys {CA_CERT_KEY} and {CA_KEY_KEY}",
            )
        return cls.from_pem(
            base64.b64decode(data[CA_CERT_KEY]), base64.b64decode(data[CA_KEY_KEY]), key_type
        )

    # -- issuing --------------------------------------------------------------------
    def issue(
        self,
        identity: IdentityLike,
        *,
        trust_domain: str = DEFAULT_TRUST_DOMAIN,
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
        now: dt.datetime | None = None,
    ) -> IssuedCert:
        """A certificate for a ServiceAccount identity (SPIFFE URI SAN + OSM DNS SAN)."""
        name = osm_name(identity.namespace, identity.name, trust_domain)
        return self.issue_for_names(
            common_name=name,
            uris=[spiffe_id(identity.namespace, identity.name, trust_domain)],
            dns_names=[name],
            validity=validity,
            now=now,
        )

    def issue_for_names(
        self,
        *,
        common_name: str,
        uris: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
        now: dt.datetime | None = None,
    ) -> IssuedCert:
        """A leaf usable as both TLS server and client (mesh peers are both)."""
        key = generate_key(self.key_type)
        start = (now or _now()) - BACKDATE
        end = start + BACKDATE + validity
        ca_end = self.cert.not_valid_after_utc
        # A leaf must not outlive its issuer; clients would reject the chain after that.
        end = min(end, ca_end)
        sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
        sans += [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANIZATION),
                    ]
                )
            )
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return IssuedCert(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key_pem(key),
            ca_pem=self.cert_pem,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            serial=cert.serial_number,
        )


def uri_sans(cert_pem: bytes) -> list[str]:
    """The URI SANs of a PEM certificate (empty when it has none)."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.UniformResourceIdentifier))
