"""TCP end to end on the local mesh (issue 12.4), real Envoy: an app reaches a TCP Service at
its own address ($DB_SERVICE_HOST:$DB_SERVICE_PORT), through its sidecar and the server's,
over mTLS, as far as a TrafficTarget with a TCPRoute allows."""

from __future__ import annotations

import socket

import pytest

from osm_mesh.local.runtime import LocalMesh

pytestmark = pytest.mark.envoy
NS = "store"
ECHO = """\
import os, socket
server = socket.create_server((os.environ["POD_IP"], int(os.environ["PORT"])))
while True:
    conn, _ = server.accept()
    conn.sendall(b"echo:" + conn.recv(100))
    conn.recv(100)  # until the client closes, as a database server would
    conn.close()
"""


def _deployment(name: str, command: str, port: int, account: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NS,
            "annotations": {"local.openservicemesh.io/command": command},
        },
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "serviceAccountName": account,
                    "containers": [{"name": name, "ports": [{"containerPort": port}]}],
                },
            },
        },
    }


def _objects(echo: str, smi: bool, allowed: bool) -> list[dict]:
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": a, "namespace": NS}}
        for a in ("db", "app")
    ]
    objects += [
        _deployment("db", f"python {echo}", 6000, "db"),
        _deployment(
            "app", 'sh -c \'exec python3 -m http.server --bind "$POD_IP" "$PORT"\'', 8080, "app"
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db", "namespace": NS},
            "spec": {
                "selector": {"app": "db"},
                "ports": [{"name": "tcp-db", "port": 5432, "targetPort": 6000}],
            },
        },
        {
            "apiVersion": "config.openservicemesh.io/v1alpha2",
            "kind": "MeshConfig",
            "metadata": {"name": "osm-mesh-config", "namespace": "osm-system"},
            "spec": {"traffic": {"enablePermissiveTrafficPolicyMode": not smi}},
        },
    ]
    if allowed:
        objects += [
            {
                "apiVersion": "specs.smi-spec.io/v1alpha4",
                "kind": "TCPRoute",
                "metadata": {"name": "db", "namespace": NS},
                # As in OSM, a TCPRoute names the destination pod's port (the targetPort).
                "spec": {"matches": {"ports": [6000]}},
            },
            {
                "apiVersion": "access.smi-spec.io/v1alpha3",
                "kind": "TrafficTarget",
                "metadata": {"name": "db", "namespace": NS},
                "spec": {
                    "destination": {"kind": "ServiceAccount", "name": "db", "namespace": NS},
                    "rules": [{"kind": "TCPRoute", "name": "db"}],
                    "sources": [{"kind": "ServiceAccount", "name": "app", "namespace": NS}],
                },
            },
        ]
    return objects


def _roundtrip(host: str, port: int) -> bytes:
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"ping")
            return sock.recv(100)
    except OSError as exc:
        return f"error: {exc.__class__.__name__}".encode()


@pytest.mark.parametrize(
    ("smi", "allowed", "expected"),
    [(True, True, b"echo:ping"), (False, False, b"echo:ping"), (True, False, b"error")],
    ids=["smi-with-tcproute", "permissive", "smi-without-trafficTarget"],
)
def test_an_app_reaches_a_tcp_service_at_its_own_address(tmp_path, smi, allowed, expected):
    (tmp_path / "echo.py").write_text(ECHO)
    objects = _objects(str(tmp_path / "echo.py"), smi, allowed)
    with LocalMesh([], objects, work_dir=tmp_path / "w") as mesh:
        app = mesh.pod(NS, "app")
        env = app.pod.env
        assert (env["DB_SERVICE_HOST"], env["DB_SERVICE_PORT"]) == (app.ip, "5432")
        assert env["DB_SERVICE_PORT_TCP_DB"] == "5432"
        answer = _roundtrip(env["DB_SERVICE_HOST"], int(env["DB_SERVICE_PORT"]))
        assert answer.startswith(expected), answer
        if expected == b"echo:ping":
            # Through both sidecars: the server's inbound side counted the connection.
            db = mesh.pod(NS, "db")
            stats = db.envoy.stats(r"^tcp\.inbound-tcp.*downstream_cx_total$")
            assert sum(stats.values()) >= 1, stats
