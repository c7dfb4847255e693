"""SDS serves an identity's certificates only to the proxy of a live pod of that identity
(issue 11 item 3). The attack that worked: any UUID with a valid certificate received the
service's keys. Real gRPC over real mutual TLS against a ControlPlane."""

from __future__ import annotations

import uuid

import grpc
import pytest
from envoy.config.core.v3 import base_pb2

from osm_mesh.catalog import FileSource
from osm_mesh.certs import CertificateAuthority
from osm_mesh.certs.bootstrap import issue_bootstrap
from osm_mesh.controlplane import ControlPlane
from osm_mesh.xds.cache import SECRET
from tests.e2e_envoy.harness import deployment, service, service_account
from tests.mesh.xds.ads_client import AdsClient
from tests.mesh.xds.target import tls_from_bootstrap
from tests.mesh.xds.test_server import Ident


@pytest.fixture
def plane():
    source = FileSource(
        objects=[
            *(service_account("ns", n) for n in ("web", "api")),
            deployment("ns", "web", "web"),
            deployment("ns", "api", "api"),
            service("ns", "web"),
            service("ns", "api"),
        ],
        monitored="all",
        pod_ip=lambda ns, dep, i, name: "127.0.0.8" if dep == "web" else "127.0.0.9",
    )
    with ControlPlane(source, CertificateAuthority.create()) as cp:
        yield cp


def pod(plane: ControlPlane, name: str):
    return next(p for p in plane.source.snapshot().pods if p.deployment == name)


def refused(plane: ControlPlane, cert_pem: bytes, key_pem: bytes, node_id: str) -> grpc.RpcError:
    client = AdsClient(plane.port, ca_pem=plane.ca.cert_pem, cert_pem=cert_pem, key_pem=key_pem)
    try:
        client.send(
            node=base_pb2.Node(id=node_id), type_url=SECRET, resource_names=["service-cert"]
        )
        with pytest.raises(grpc.RpcError) as err:
            client.recv(10)
        return err.value
    finally:
        client.close()


def test_a_live_pods_proxy_gets_its_identitys_keys(plane):
    boot = plane.bootstrap_for(pod(plane, "web"))
    with AdsClient.for_bootstrap(boot, plane.port) as client:
        got = client.sync(boot["node"]["id"])
    assert {r.type_url for r in got[SECRET].resources} == {SECRET}


def test_a_made_up_uuid_gets_nothing_whatever_the_certificate(plane):
    """Before: any UUID with a valid mesh certificate of web received web's keys."""
    made_up = f"{uuid.uuid4()}.sidecar.web.ns.cluster.local"
    # web's data-plane certificate (what every web sidecar holds): not a bootstrap credential.
    data_plane = plane.ca.issue(Ident("ns", "web"))
    err = refused(plane, data_plane.cert_pem, data_plane.key_pem, made_up)
    assert err.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails
    # A bootstrap certificate for that made-up node (were one ever issued): no such pod.
    forged = issue_bootstrap(plane.bootstrap_ca, made_up)
    err = refused(plane, forged.cert_pem, forged.key_pem, made_up)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "no pod in the mesh has proxy UUID" in (err.details() or "")
    assert plane.statuses() == {}


def test_one_pods_bootstrap_certificate_does_not_open_another_proxy(plane):
    cert, key, _ = tls_from_bootstrap(plane.bootstrap_for(pod(plane, "web")))
    other = plane.node_id_for(pod(plane, "api"))
    err = refused(plane, cert, key, other)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "does not match the certificate's" in (err.details() or "")


def test_the_bootstrap_certificate_of_a_pod_that_is_gone_is_refused(plane):
    """A leaked bootstrap Secret outliving its pod opens nothing."""
    web = pod(plane, "web")
    boot = plane.bootstrap_for(web)
    cert, key, _ = tls_from_bootstrap(boot)
    plane.source.delete("Deployment", "web", "ns")
    err = refused(plane, cert, key, boot["node"]["id"])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f"no pod in the mesh has proxy UUID {web.proxy_uuid}" in (err.details() or "")


def test_a_pod_running_as_another_identity_is_refused(plane):
    """A certificate naming api's pod UUID but web's ServiceAccount: the pod runs as api."""
    api = pod(plane, "api")
    lie = f"{api.proxy_uuid}.sidecar.web.ns.cluster.local"
    cert = issue_bootstrap(plane.bootstrap_ca, lie)
    err = refused(plane, cert.cert_pem, cert.key_pem, lie)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "runs as ns/api, not ns/web" in (err.details() or "")


def test_a_finished_pods_proxy_is_cut_off_and_its_certificate_refused():
    """A pod that finished (Succeeded or Failed: a Job's pod, which Kubernetes keeps until
    someone deletes it, with its bootstrap Secret) runs no proxy: its stream is ended and
    its bootstrap certificate opens nothing, though the pod object is still there."""
    proxy_uuid = str(uuid.uuid4())
    running = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "job-1",
            "namespace": "ns",
            "labels": {"app": "job", "osm-proxy-uuid": proxy_uuid},
        },
        "spec": {"serviceAccountName": "web", "containers": [{"name": "job", "image": "job"}]},
        "status": {"phase": "Running", "podIP": "127.0.0.10"},
    }
    source = FileSource(objects=[service_account("ns", "web"), running], monitored="all")
    with ControlPlane(source, CertificateAuthority.create()) as plane:
        boot = plane.bootstrap_for(source.snapshot().pod_by_uuid(proxy_uuid))
        node = boot["node"]["id"]
        client = AdsClient.for_bootstrap(boot, plane.port)
        try:
            client.sync(node)
            source.apply([{**running, "status": {**running["status"], "phase": "Succeeded"}}])
            assert source.snapshot().pod_by_uuid(proxy_uuid) is None
            with pytest.raises(grpc.RpcError) as ended:
                while True:
                    client.recv(10)
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "its pod left the mesh" in (ended.value.details() or "")
        finally:
            client.close()
        cert, key, _ = tls_from_bootstrap(boot)
        err = refused(plane, cert, key, node)
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
        assert f"no pod in the mesh has proxy UUID {proxy_uuid}" in (err.details() or "")
