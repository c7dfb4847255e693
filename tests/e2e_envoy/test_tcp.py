"""TCPRoute enforcement on a real Envoy: the inbound TCP filter chain (selected by SNI in the
local mesh) runs the network RBAC filter before tcp_proxy."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass

import pytest

from tests.e2e_envoy.harness import (
    APP_PORT,
    EnvoyMesh,
    deployment,
    service,
    service_account,
    traffic_target,
)

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(60)]
NS = "tcp"


@dataclass(frozen=True)
class Ident:
    namespace: str
    name: str


class Echo:
    """A TCP echo server on the pod's app port."""

    def __init__(self, ip: str) -> None:
        self.sock = socket.create_server((ip, APP_PORT))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


def tcp_roundtrip(ip: str, ca, identity: Ident, tmp_path) -> bytes:
    cert = ca.issue(identity)
    (tmp_path / "c.crt").write_bytes(cert.cert_pem)
    (tmp_path / "c.key").write_bytes(cert.key_pem)
    ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
    ctx.check_hostname = False
    ctx.load_cert_chain(tmp_path / "c.crt", tmp_path / "c.key")
    with (
        socket.create_connection((ip, 15003), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=f"tcp-5432.db.{NS}.svc.cluster.local") as tls,
    ):
        try:
            tls.sendall(b"ping")
            return tls.recv(4)
        except (ConnectionResetError, ssl.SSLError):
            return b""


def test_tcp_route_allows_only_its_sources(tmp_path, mesh_ca):
    db = service(NS, "db")
    db["spec"]["ports"] = [{"name": "tcp-pg", "port": 5432, "targetPort": APP_PORT}]
    target = traffic_target(NS, "db", "db", ["api"], "pg")
    target["spec"]["rules"] = [{"kind": "TCPRoute", "name": "pg"}]
    objects = [
        service_account(NS, "db"),
        deployment(NS, "db", "db"),
        db,
        {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "TCPRoute",
            "metadata": {"name": "pg", "namespace": NS},
            "spec": {"matches": {"ports": [APP_PORT]}},
        },
        target,
    ]
    mesh = EnvoyMesh(tmp_path, mesh_ca, objects)
    echo = Echo(mesh.pod("db").ip)
    try:
        mesh.start_envoy("db")
        mesh.wait_ready()
        ip = mesh.pod("db").ip
        assert tcp_roundtrip(ip, mesh_ca, Ident(NS, "api"), tmp_path) == b"ping"
        assert tcp_roundtrip(ip, mesh_ca, Ident(NS, "web"), tmp_path) == b""
        # The TCPRoute now names another port: api loses access too.
        mesh.change(
            [
                {
                    "apiVersion": "specs.smi-spec.io/v1alpha4",
                    "kind": "TCPRoute",
                    "metadata": {"name": "pg", "namespace": NS},
                    "spec": {"matches": {"ports": [9999]}},
                }
            ]
        )
        # A listener change drains old connections; new ones get the new filter chain.
        assert tcp_roundtrip(ip, mesh_ca, Ident(NS, "api"), tmp_path) == b""
    finally:
        echo.close()
        mesh.close()
