"""CertManager at its edges (mutation testing found these unchecked): the trust domain it
issues in, the wall clock by default, renewal at exactly its time, the earliest renewal kept
right as identities come and go, peek and forget."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from osm_mesh.certs import CertificateAuthority, CertManager, parse_spiffe_id
from osm_mesh.errors import InvalidInput


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create()


def spiffe_of(cert) -> tuple[str, str, str] | None:
    from cryptography import x509

    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return parse_spiffe_id(uris.get_values_for_type(x509.UniformResourceIdentifier)[0])


def test_a_manager_issues_in_its_trust_domain(ca):
    mgr = CertManager(ca, trust_domain="example.org")
    cert = mgr.get(Ident("shop", "web")).certificate()
    assert spiffe_of(cert) == ("example.org", "shop", "web")


def test_a_manager_without_a_clock_runs_on_the_wall_clock(ca):
    mgr = CertManager(ca, validity=dt.timedelta(hours=1))
    before = dt.datetime.now(dt.UTC)
    issued = mgr.get(Ident("shop", "web"))
    assert issued.not_before <= before <= issued.not_after
    assert mgr.due() == [] and mgr.get(Ident("shop", "web")) is issued


def test_a_certificate_is_renewed_at_exactly_its_renewal_time(ca):
    clock = Clock()
    mgr = CertManager(ca, validity=dt.timedelta(hours=10), rotate_at=0.5, clock=clock)
    first = mgr.get(Ident("ns", "a"))
    clock.now = mgr.renew_time(first) - dt.timedelta(microseconds=1)
    assert mgr.due() == [] and mgr.get(Ident("ns", "a")) is first
    clock.now = mgr.renew_time(first)
    assert mgr.due() == [("ns", "a")]
    assert mgr.get(Ident("ns", "a")) is not first


def test_the_earliest_renewal_stays_right_as_identities_arrive(ca):
    """An identity issued after due() has looked keeps the earliest renewal where it was."""
    clock = Clock()
    mgr = CertManager(ca, validity=dt.timedelta(hours=10), rotate_at=0.5, clock=clock)
    a = mgr.get(Ident("ns", "a"))
    assert mgr.due() == []  # the earliest renewal is known from here on
    clock.now += dt.timedelta(hours=1)
    b = mgr.get(Ident("ns", "b"))
    assert mgr.next_renewal() == mgr.renew_time(a)
    clock.now = mgr.renew_time(a)
    assert mgr.due() == [("ns", "a")]
    clock.now = mgr.renew_time(b)
    assert mgr.due() == [("ns", "a"), ("ns", "b")]


def test_peek_never_issues_and_forget_of_an_unknown_identity_is_harmless(ca):
    mgr = CertManager(ca)
    assert mgr.peek(Ident("ns", "a")) is None and len(mgr) == 0
    issued = mgr.get(Ident("ns", "a"))
    assert mgr.peek(Ident("ns", "a")) is issued
    assert mgr.peek(Ident("other", "a")) is None
    mgr.forget(Ident("ns", "never-issued"))
    assert mgr.peek(Ident("ns", "a")) is issued and mgr.issued_count == 1


def test_a_bad_rotation_fraction_says_what_works(ca):
    with pytest.raises(InvalidInput) as err:
        CertManager(ca, rotate_at=1.5)
    assert str(err.value) == "rotate_at must be between 0.1 and 1.0, not 1.5"
    assert err.value.hint == "0.5-0.8 leaves time to deliver the new certificate"
