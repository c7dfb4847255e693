"""Issue-once, rotate-before-expiry certificate store for mesh identities.

A certificate is renewed once ``rotate_at`` (a fraction, default 0.7) of its validity has
passed, so a proxy always holds a cert with ≥ 30 % of its life left. Renewal only changes the
SDS secret's content (same secret name), which Envoy applies to new TLS handshakes while
existing connections keep their session: no traffic is dropped. The CA itself is not rotated
here (it lives 10 years, as upstream's).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from osm_mesh.certs.ca import (
    BACKDATE,
    DEFAULT_CERT_VALIDITY,
    DEFAULT_TRUST_DOMAIN,
    CertificateAuthority,
    IdentityLike,
    IssuedCert,
)
from osm_mesh.errors import InvalidInput

DEFAULT_ROTATE_AT = 0.7


class CertManager:
    """Caches one certificate per identity and renews it at ``rotate_at`` of its validity.

    Thread-safe. ``clock`` is injectable so tests can move time instead of sleeping.
    """

    def __init__(
        self,
        ca: CertificateAuthority,
        *,
        trust_domain: str = DEFAULT_TRUST_DOMAIN,
        validity: dt.timedelta = DEFAULT_CERT_VALIDITY,
        rotate_at: float = DEFAULT_ROTATE_AT,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if not 0.1 <= rotate_at < 1.0:
            raise InvalidInput(
                f"rotate_at must be between 0.1 and 1.0, not {rotate_at}",
                hint="0.5-0.8 leaves time to deliver the new certificate",
            )
        if validity < dt.timedelta(seconds=2):
            raise InvalidInput(f"certificate validity {validity} is too short (minimum 2s)")
        self.ca = ca
        self.trust_domain = trust_domain
        self.validity = validity
        self.rotate_at = rotate_at
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._certs: dict[tuple[str, str], IssuedCert] = {}
        # The earliest renewal time of the held certificates (None: recompute): every
        # recompute asks ``due()``, which must not scan thousands of certificates each time.
        self._earliest: dt.datetime | None = None
        self._lock = threading.Lock()
        self.issued_count = 0

    @staticmethod
    def _key(identity: IdentityLike) -> tuple[str, str]:
        return (identity.namespace, identity.name)

    def renew_time(self, cert: IssuedCert) -> dt.datetime:
        # Measured from the moment of issue, not from the back-dated notBefore: with short
        # validities (tests) the back-dating would otherwise make a new cert due at once.
        issued = cert.not_before + BACKDATE
        return issued + (cert.not_after - issued) * self.rotate_at

    def get(self, identity: IdentityLike) -> IssuedCert:
        """The identity's current certificate, issuing or renewing it when due."""
        key = self._key(identity)
        now = self._clock()
        with self._lock:
            held = self._certs.get(key)
            if held is not None and now < self.renew_time(held):
                return held
            cert = self.ca.issue(
                identity, trust_domain=self.trust_domain, validity=self.validity, now=now
            )
            self._certs[key] = cert
            self.issued_count += 1
            if self._earliest is not None:
                if held is not None and self.renew_time(held) <= self._earliest:
                    self._earliest = None  # the renewed one was the earliest: recompute
                else:
                    self._earliest = min(self._earliest, self.renew_time(cert))
            return cert

    def _earliest_locked(self) -> dt.datetime | None:
        if self._earliest is None and self._certs:
            self._earliest = min(self.renew_time(c) for c in self._certs.values())
        return self._earliest

    def peek(self, identity: IdentityLike) -> IssuedCert | None:
        """The identity's current certificate, if one is held (never issues; for reports)."""
        with self._lock:
            return self._certs.get(self._key(identity))

    def next_renewal(self) -> dt.datetime | None:
        """When the earliest held certificate becomes due (None when none is held)."""
        with self._lock:
            return self._earliest_locked()

    def due(self) -> list[tuple[str, str]]:
        """(namespace, name) of identities whose certificate must be renewed now."""
        now = self._clock()
        with self._lock:
            earliest = self._earliest_locked()
            if earliest is None or now < earliest:
                return []
            return sorted(k for k, c in self._certs.items() if now >= self.renew_time(c))

    def held(self) -> set[bytes]:
        """The certificates held now (PEM): whatever was built for others can go."""
        with self._lock:
            return {c.cert_pem for c in self._certs.values()}

    def __len__(self) -> int:
        with self._lock:
            return len(self._certs)

    def forget(self, identity: IdentityLike) -> None:
        with self._lock:
            if self._certs.pop(self._key(identity), None) is not None:
                self._earliest = None
