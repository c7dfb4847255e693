"""Who a TrafficTarget lets in, on real Envoys: a source is a namespace *and* a name, and an
access v1alpha1/v1alpha2 `destination.port` opens that port only (issue 15).

Each denial is checked twice: through the caller's own sidecar (what an app sees) and by
presenting the caller's mesh certificate straight to the destination's inbound port, which
bypasses the caller's sidecar and leaves only the destination's RBAC to say no.
"""

from __future__ import annotations

import json
import socket
import ssl
from dataclasses import dataclass

import pytest

from tests.e2e_envoy.harness import (
    App,
    EnvoyMesh,
    deployment,
    route_group,
    service,
    service_account,
)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
NS, OTHER = "shop", "other"
API = "http://api.shop.svc.cluster.local"


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, mesh_ca):
    api = deployment(NS, "api", "api")
    api["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": 8080},
        {"containerPort": 9090},
    ]
    svc = service(NS, "api")
    svc["spec"]["ports"] = [
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "http-admin", "port": 81, "targetPort": 9090},
    ]
    target = {
        "apiVersion": "access.smi-spec.io/v1alpha2",
        "kind": "TrafficTarget",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {
            "destination": {"kind": "ServiceAccount", "name": "api", "namespace": NS, "port": 8080},
            "sources": [{"kind": "ServiceAccount", "name": "web", "namespace": NS}],
            "rules": [{"kind": "HTTPRouteGroup", "name": "all"}],
        },
    }
    objects = [
        service_account(NS, "api"),
        service_account(NS, "web"),
        service_account(OTHER, "web"),  # the same name in another namespace
        api,
        deployment(NS, "web", "web"),
        deployment(OTHER, "impostor", "web"),
        svc,
        route_group(NS, "all", [{"name": "all", "pathRegex": ".*", "methods": ["*"]}]),
        target,
    ]
    m = EnvoyMesh(tmp_path_factory.mktemp("identity"), mesh_ca, objects)
    admin = None
    try:
        m.start_app("api")
        admin = App("api-admin", m.pod("api").ip, 9090)
        for name in ("api", "web", "impostor"):
            m.start_envoy(name)
        m.wait_ready()
        yield m
    finally:
        if admin is not None:
            admin.stop()
        m.close()


def inbound_get(mesh, mesh_ca, tmp_path, caller: Ident, host: str) -> bytes:
    """GET / with ``caller``'s mesh certificate straight to api's inbound port, Host ``host``."""
    cert = mesh_ca.issue(caller)
    (tmp_path / "c.crt").write_bytes(cert.cert_pem)
    (tmp_path / "c.key").write_bytes(cert.key_pem)
    ctx = ssl.create_default_context(cadata=mesh_ca.cert_pem.decode())
    ctx.check_hostname = False
    ctx.load_cert_chain(tmp_path / "c.crt", tmp_path / "c.key")
    with (
        socket.create_connection((mesh.pod("api").ip, 15003), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="api.shop.svc.cluster.local") as tls,
    ):
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := tls.recv(4096):
            out += chunk
    return out


def test_destination_port_opens_that_port_and_not_the_services_other_port(mesh, mesh_ca, tmp_path):
    status, body = mesh.request("web", f"{API}/")
    assert status == 200 and json.loads(body)["name"] == "api", body
    status, body = mesh.request("web", f"{API}:81/")
    assert status == 403, body
    # The destination's own RBAC, without web's sidecar in the way.
    web = Ident(NS, "web")
    assert inbound_get(mesh, mesh_ca, tmp_path, web, "api.shop").startswith(b"HTTP/1.1 200")
    answer = inbound_get(mesh, mesh_ca, tmp_path, web, "api.shop:81")
    assert answer.startswith(b"HTTP/1.1 403") and b"RBAC: access denied" in answer


def test_same_service_account_name_in_another_namespace_is_denied(mesh, mesh_ca, tmp_path):
    status, body = mesh.request("impostor", f"{API}/")
    assert status == 403, body
    answer = inbound_get(mesh, mesh_ca, tmp_path, Ident(OTHER, "web"), "api.shop")
    assert answer.startswith(b"HTTP/1.1 403") and b"RBAC: access denied" in answer
    # The name it copies is let in.
    assert inbound_get(mesh, mesh_ca, tmp_path, Ident(NS, "web"), "api.shop").startswith(
        b"HTTP/1.1 200"
    )
