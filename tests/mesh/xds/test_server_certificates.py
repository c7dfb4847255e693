"""What held in the security review, kept by attacking tests (issue 11, "also keep"): the
ADS server refuses an expired client certificate and a forged one -- signed by a key that
is not the bootstrap CA's, under the bootstrap CA's own name."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from envoy.config.core.v3 import base_pb2

from osm_mesh.certs import CertificateAuthority
from osm_mesh.certs.bootstrap import BOOTSTRAP_CA_COMMON_NAME, issue_bootstrap
from osm_mesh.xds.cache import CLUSTER
from tests.mesh.xds.test_server import NODE, Client, boot_ca, ca, clusters, server  # noqa: F401


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


def test_an_expired_client_certificate_is_refused(server, ca, boot_ca):  # noqa: F811
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    expired = issue_bootstrap(boot_ca, NODE, validity=dt.timedelta(minutes=5), now=yesterday)
    assert expired.not_after < dt.datetime.now(dt.UTC)
    assert refused(server, ca.cert_pem, expired) == grpc.StatusCode.UNAVAILABLE
    assert NODE not in server.statuses()


def test_a_certificate_forged_under_the_bootstrap_cas_name_is_refused(server, ca, boot_ca):  # noqa: F811
    forger = CertificateAuthority.create(common_name=BOOTSTRAP_CA_COMMON_NAME)
    assert forger.cert.subject == boot_ca.cert.subject  # same name, another key
    forged = issue_bootstrap(forger, NODE)
    assert refused(server, ca.cert_pem, forged) == grpc.StatusCode.UNAVAILABLE
    assert NODE not in server.statuses()


def test_the_same_identity_properly_issued_is_served(server, ca, boot_ca):  # noqa: F811
    server.cache.set_snapshot(NODE, clusters("a"))
    client = Client(server.port, ca.cert_pem, issue_bootstrap(boot_ca, NODE))
    try:
        client.send(node=base_pb2.Node(id=NODE), type_url=CLUSTER)
        assert client.recv().type_url == CLUSTER
    finally:
        client.close()
