"""What held in the security review, kept by attacking tests (issue 11, "also keep"): the
ADS server refuses an expired client certificate and a forged one -- signed by a key that
is not the mesh CA's, under the mesh CA's own name."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from envoy.config.core.v3 import base_pb2

from osm_mesh.certs import CertificateAuthority
from osm_mesh.certs.ca import CA_COMMON_NAME
from osm_mesh.xds.cache import CLUSTER
from tests.mesh.xds.test_server import NODE, Client, Ident, ca, clusters, server  # noqa: F401


def refused(server, ca_pem: bytes, cert) -> grpc.StatusCode:  # noqa: F811
    server.cache.set_snapshot(NODE, clusters("a"))
    client = Client(server.port, ca_pem, cert)
    try:
        client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        with pytest.raises(grpc.RpcError) as err:
            client.recv()
        return err.value.code()
    finally:
        client.close()


def test_an_expired_client_certificate_is_refused(server, ca):  # noqa: F811
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    expired = ca.issue(Ident("shop", "web"), validity=dt.timedelta(minutes=5), now=yesterday)
    assert expired.not_after < dt.datetime.now(dt.UTC)
    assert refused(server, ca.cert_pem, expired) == grpc.StatusCode.UNAVAILABLE
    assert NODE not in server.statuses()


def test_a_certificate_forged_under_the_mesh_cas_name_is_refused(server, ca):  # noqa: F811
    forger = CertificateAuthority.create(common_name=CA_COMMON_NAME)
    assert forger.cert.subject == ca.cert.subject  # same name, another key
    forged = forger.issue(Ident("shop", "web"))
    assert refused(server, ca.cert_pem, forged) == grpc.StatusCode.UNAVAILABLE
    assert NODE not in server.statuses()


def test_the_same_identity_properly_issued_is_served(server, ca):  # noqa: F811
    server.cache.set_snapshot(NODE, clusters("a"))
    client = Client(server.port, ca.cert_pem, ca.issue(Ident("shop", "web")))
    try:
        client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        assert client.recv().type_url == CLUSTER
    finally:
        client.close()
