"""SMI access control enforced by real Envoys: mTLS, RBAC from TrafficTargets, permissive mode."""

from __future__ import annotations

import json
import socket
import ssl

import pytest

from osm_mesh.certs import CertificateAuthority
from tests.e2e_envoy.harness import (
    EnvoyMesh,
    deployment,
    mesh_config,
    route_group,
    service,
    service_account,
    traffic_target,
)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]
NS = "shop"
API = "http://api.shop.svc.cluster.local"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, mesh_ca):
    objects = [
        *(service_account(NS, sa) for sa in ("api", "frontend", "thief")),
        deployment(NS, "api", "api"),
        deployment(NS, "frontend", "frontend"),
        deployment(NS, "thief", "thief"),
        service(NS, "api"),
        route_group(
            NS,
            "api-routes",
            [
                {"name": "read", "pathRegex": "/api/values", "methods": ["GET"]},
                {
                    "name": "admin",
                    "pathRegex": "/admin",
                    "methods": ["POST"],
                    "headers": [{"x-role": "admin"}],
                },
            ],
        ),
        traffic_target(NS, "api-access", "api", ["frontend"], "api-routes"),
    ]
    m = EnvoyMesh(tmp_path_factory.mktemp("access"), mesh_ca, objects)
    try:
        m.start_app("api")
        for name in ("api", "frontend", "thief"):
            m.start_envoy(name)
        m.wait_ready()
        yield m
    finally:
        m.close()


def test_allowed_path_and_method_pass_with_caller_identity(mesh):
    status, body = mesh.request("frontend", f"{API}/api/values")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["name"] == "api" and answer["path"] == "/api/values"
    assert "spiffe://cluster.local/ns/shop/sa/frontend" in answer["xfcc"]


@pytest.mark.parametrize(
    "url",
    ["http://api/api/values", "http://api.shop/api/values", "http://api.shop.svc:80/api/values"],
)
def test_every_host_form_routes(mesh, url):
    assert mesh.request("frontend", url)[0] == 200


def test_path_regex_is_anchored_at_start_only(mesh):
    assert mesh.request("frontend", f"{API}/api/values/7?x=1")[0] == 200
    assert mesh.request("frontend", f"{API}/v2/api/values")[0] == 403


def test_other_path_or_method_gets_403(mesh):
    status, body = mesh.request("frontend", f"{API}/secret")
    assert status == 403 and "RBAC" in body
    assert mesh.request("frontend", f"{API}/api/values", method="DELETE")[0] == 403


def test_header_match_is_required(mesh):
    assert mesh.request("frontend", f"{API}/admin", "POST", {"x-role": "admin"})[0] == 200
    assert mesh.request("frontend", f"{API}/admin", "POST", {"x-role": "user"})[0] == 403
    assert mesh.request("frontend", f"{API}/admin", "POST")[0] == 403
    # Headers of one match are ANDed with its method: GET with the header is still denied.
    assert mesh.request("frontend", f"{API}/admin", "GET", {"x-role": "admin"})[0] == 403


def test_client_without_traffic_target_is_denied(mesh):
    """Its own sidecar has no route to api: 403 there, and api's RBAC would say the same."""
    status, body = mesh.request("thief", f"{API}/api/values")
    assert status == 403 and "no TrafficTarget" in body, body


def test_unknown_host_is_refused_with_its_reason_in_smi_mode(mesh):
    # Issue 12.5: not a policy denial, so no TrafficTarget is named (local mode).
    status, body = mesh.request("frontend", "http://nowhere.shop/")
    assert status == 404 and "no Service in the mesh answers to this host" in body
    assert "TrafficTarget" not in body


def test_plaintext_to_inbound_port_fails(mesh):
    ip = mesh.pod("api").ip
    with socket.create_connection((ip, 15003), timeout=5) as sock:
        sock.sendall(b"GET /api/values HTTP/1.1\r\nHost: api\r\n\r\n")
        try:
            data = sock.recv(1024)
        except ConnectionResetError:
            data = b""
    assert not data.startswith(b"HTTP/"), data


def _tls_get(ip: str, cert_dir, ca_pem: bytes, path: str) -> bytes:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.check_hostname = False
    ctx.load_cert_chain(cert_dir / "c.crt", cert_dir / "c.key")
    with (
        socket.create_connection((ip, 15003), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="api.shop.svc.cluster.local") as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: api.shop\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := tls.recv(4096):
            out += chunk
    return out


def test_inbound_requires_mesh_client_cert(mesh, mesh_ca, tmp_path):
    """Direct TLS to the inbound port: a mesh certificate is accepted and RBAC decides by its
    identity; a certificate from another CA is refused."""
    from dataclasses import dataclass

    @dataclass
    class Ident:
        namespace: str
        name: str

    ip = mesh.pod("api").ip
    good = mesh_ca.issue(Ident(NS, "frontend"))
    (tmp_path / "c.crt").write_bytes(good.cert_pem)
    (tmp_path / "c.key").write_bytes(good.key_pem)
    assert _tls_get(ip, tmp_path, mesh_ca.cert_pem, "/api/values").startswith(b"HTTP/1.1 200")
    assert _tls_get(ip, tmp_path, mesh_ca.cert_pem, "/secret").startswith(b"HTTP/1.1 403")

    # A mesh identity without a TrafficTarget that bypasses its own sidecar: the server's
    # RBAC still says no.
    thief = mesh_ca.issue(Ident(NS, "thief"))
    (tmp_path / "c.crt").write_bytes(thief.cert_pem)
    (tmp_path / "c.key").write_bytes(thief.key_pem)
    answer = _tls_get(ip, tmp_path, mesh_ca.cert_pem, "/api/values")
    assert answer.startswith(b"HTTP/1.1 403") and b"RBAC: access denied" in answer

    other_ca = CertificateAuthority.create()
    bad = other_ca.issue(Ident(NS, "frontend"))
    (tmp_path / "c.crt").write_bytes(bad.cert_pem)
    (tmp_path / "c.key").write_bytes(bad.key_pem)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        _tls_get(ip, tmp_path, mesh_ca.cert_pem, "/api/values")

    # TLS without any client certificate: refused in the handshake (without
    # require_client_certificate it would reach RBAC and get a 403 answer).
    ctx = ssl.create_default_context(cadata=mesh_ca.cert_pem.decode())
    ctx.check_hostname = False
    with (
        pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)),
        socket.create_connection((ip, 15003), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="api.shop.svc.cluster.local") as tls,
    ):
        tls.sendall(b"GET /api/values HTTP/1.1\r\nHost: api.shop\r\nConnection: close\r\n\r\n")
        answer = tls.recv(4096)
        # TLS 1.3: the refusal may arrive as an empty read instead of an alert.
        assert not answer.startswith(b"HTTP/"), answer
        raise ConnectionResetError("closed without a response")


def test_permissive_mode_allows_everyone_live(mesh):
    try:
        mesh.change([mesh_config(permissive=True)])
        assert mesh.request("thief", f"{API}/anything", "DELETE")[0] == 200
        assert mesh.request("frontend", f"{API}/secret")[0] == 200
    finally:
        mesh.change([mesh_config(permissive=False)])
    assert mesh.request("thief", f"{API}/api/values")[0] == 403


# -- issue 11 item 4: a path rule cannot be bypassed by spelling the path differently --------
BYPASSES = [
    "/api/values/../../secret",
    "/api/values/%2e%2e/%2e%2e/secret",
    "/api/values/%2E%2E/%2E%2E/secret",
    "/api/values%2F..%2F..%2Fsecret",
    "/api/values%2f%2e%2e%2f%2e%2e%2fsecret",
    "/api/values/..%2F..%2Fsecret",
    "/api/values%5C..%5C..%5Csecret",
]


@pytest.mark.parametrize("path", BYPASSES)
def test_dot_segments_cannot_escape_an_allowed_prefix_at_the_inbound(mesh, mesh_ca, tmp_path, path):
    """Straight at api's inbound listener with frontend's identity (its own sidecar skipped):
    before, the RBAC rule ``/api/values`` matched the raw path and a backend that normalizes
    paths served ``/secret``."""
    from dataclasses import dataclass

    @dataclass
    class Ident:
        namespace: str
        name: str

    frontend = mesh_ca.issue(Ident(NS, "frontend"))
    (tmp_path / "c.crt").write_bytes(frontend.cert_pem)
    (tmp_path / "c.key").write_bytes(frontend.key_pem)
    answer = _tls_get(mesh.pod("api").ip, tmp_path, mesh_ca.cert_pem, path)
    assert answer.startswith(b"HTTP/1.1 403") and b"RBAC: access denied" in answer, answer[:300]


@pytest.mark.parametrize("path", BYPASSES)
def test_dot_segments_cannot_escape_an_allowed_prefix_through_the_sidecar(mesh, path):
    status, body = mesh.request("frontend", f"{API}{path}")
    assert status in (403, 404), body
    assert '"name": "api"' not in body


@pytest.mark.parametrize(
    "path,seen",
    [
        ("//api//values", "/api/values"),
        ("/api/values/./7/../8", "/api/values/8"),
        ("/api/%76alues", "/api/values"),
    ],
)
def test_the_app_receives_the_path_the_policy_judged(mesh, path, seen):
    status, body = mesh.request("frontend", f"{API}{path}")
    assert status == 200, body
    assert json.loads(body)["path"] == seen


# -- kept from the security review: expired and forged certificates --------------------------
@pytest.mark.parametrize("kind", ["expired", "forged"])
def test_expired_and_forged_client_certificates_are_refused(mesh, mesh_ca, tmp_path, kind):
    """Straight at api's inbound listener: a certificate of the allowed identity that expired,
    or one signed by another key under the mesh CA's own name, never gets a response."""
    import datetime as dt
    from dataclasses import dataclass

    from osm_mesh.certs.ca import CA_COMMON_NAME

    @dataclass
    class Ident:
        namespace: str
        name: str

    if kind == "expired":
        yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        cert = mesh_ca.issue(Ident(NS, "frontend"), validity=dt.timedelta(minutes=5), now=yesterday)
    else:
        forger = CertificateAuthority.create(common_name=CA_COMMON_NAME)
        assert forger.cert.subject == mesh_ca.cert.subject
        cert = forger.issue(Ident(NS, "frontend"))
    (tmp_path / "c.crt").write_bytes(cert.cert_pem)
    (tmp_path / "c.key").write_bytes(cert.key_pem)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        answer = _tls_get(mesh.pod("api").ip, tmp_path, mesh_ca.cert_pem, "/api/values")
        # TLS 1.3: the server's refusal may arrive as an empty read instead of an alert.
        assert not answer.startswith(b"HTTP/"), answer
        raise ConnectionResetError("closed without a response")
