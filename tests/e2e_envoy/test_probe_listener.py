"""Issue 11 item 8, by attacking a real Envoy: a pod's probe listener (plain HTTP, no mTLS, no
RBAC) passes only GET and HEAD of the probe's exact path, without a body.

Before: the listener matched the path alone, so ``POST /`` and ``DELETE /`` (a probe on
``/``) reached the app around the mesh's policy.
"""

from __future__ import annotations

import json
import socket

import pytest

from osm_mesh.envoy.process import EnvoyProcess
from osm_mesh.injector.probes import probe_plan, probe_resources
from tests.e2e_envoy.harness import App, free_loopback_base

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(60)]


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=["/", "/ready"])
def probe(request, tmp_path_factory):
    """(ip, listener port, probe path): an app behind the listener a pod with an httpGet
    readiness probe on ``path`` gets."""
    path = request.param
    ip = f"{free_loopback_base()}.1"
    app_port = _free_port(ip)
    app = App("app", ip, app_port)
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "readinessProbe": {"httpGet": {"path": path, "port": app_port}},
                }
            ]
        }
    }
    listeners, clusters = probe_resources(probe_plan(pod))
    (listener,) = listeners
    port = _free_port(ip)
    listener["address"]["socket_address"] = {"address": ip, "port_value": port}
    for cluster in clusters:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        endpoint["address"]["socket_address"]["address"] = ip
    config = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }
    envoy = EnvoyProcess(config, tmp_path_factory.mktemp("probe"), name="probe").start()
    try:
        envoy.wait_ready()
        yield ip, port, path
    finally:
        envoy.stop()
        app.stop()


def send(ip: str, port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection((ip, port), timeout=5) as sock:
        sock.sendall(request)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return int(out[9:12]), out


def reached_app(reply: bytes) -> bool:
    body = reply.split(b"\r\n\r\n", 1)[-1]
    try:
        return json.loads(body).get("name") == "app"
    except ValueError:
        return False


def test_get_and_head_of_the_probe_path_reach_the_app(probe):
    ip, port, path = probe
    status, reply = send(
        ip, port, f"GET {path} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 200 and reached_app(reply)
    status, _ = send(
        ip, port, f"HEAD {path} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 501  # the test app's own answer (it has no HEAD handler): it got there


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH", "OPTIONS"])
def test_other_methods_do_not_reach_the_app(probe, method):
    ip, port, path = probe
    request = f"{method} {path} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n".encode()
    status, reply = send(ip, port, request)
    assert status == 404 and not reached_app(reply), reply


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\n\r\nxxxxx",
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nxxxxx\r\n0\r\n\r\n",
    ],
)
def test_a_get_with_a_body_does_not_reach_the_app(probe, framing):
    ip, port, path = probe
    request = f"GET {path} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n".encode() + framing
    status, reply = send(ip, port, request)
    assert status in (400, 404) and not reached_app(reply), reply


@pytest.mark.parametrize("suffix", ["x", "/../admin", "%2e%2e/admin"])
def test_other_paths_do_not_reach_the_app(probe, suffix):
    ip, port, path = probe
    other = path.rstrip("/") + "/" + suffix if path != "/" else "/" + suffix
    request = f"GET {other} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n".encode()
    status, reply = send(ip, port, request)
    assert status == 404 and not reached_app(reply), reply
