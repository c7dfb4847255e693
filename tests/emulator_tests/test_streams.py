"""Pod proxy and port-forward subresources, end to end with the real kubernetes client."""

from __future__ import annotations

import http.server
import io
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes.client import ApiException
from kubernetes.stream import portforward

from tests.emulator.websocket import OP_BINARY, OP_CLOSE, encode_frame, read_frame


def seed_pod(emu, name="osm-controller-1", namespace="default"):
    return emu.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": "img:1"}]},
        }
    )


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"path": self.path, "server": self.server.server_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_target():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_pod_proxy_with_port_reaches_handler(kube, kube_emulator):
    seed_pod(kube_emulator)
    seen = []

    def metrics(method, path, headers, body):
        seen.append((method, path, body))
        return 200, {"Content-Type": "text/plain"}, b"envoy_cluster_upstream_rq 7\n"

    kube_emulator.serve_pod_proxy("default", "osm-controller-1", 9091, metrics)
    text = kube.core.connect_get_namespaced_pod_proxy_with_path(
        "osm-controller-1:9091", "default", "metrics"
    )
    assert text == "envoy_cluster_upstream_rq 7\n"
    assert seen == [("GET", "/metrics", b"")]


def test_pod_proxy_post_query_and_status_code(kube, kube_emulator):
    seed_pod(kube_emulator)

    def admin(method, path, headers, body):
        return 418, {"Content-Type": "text/plain"}, f"{method} {path} {body.decode()}".encode()

    kube_emulator.serve_pod_proxy("default", "osm-controller-1", 15000, admin)
    with pytest.raises(ApiException) as err:
        kube.core.connect_post_namespaced_pod_proxy_with_path(
            "osm-controller-1:15000", "default", "logging", path2="level=debug"
        )
    assert err.value.status == 418
    assert err.value.body.startswith("POST /logging?path=level%3Ddebug")


def test_pod_proxy_without_handler_is_503_and_missing_pod_404(kube, kube_emulator):
    pod = seed_pod(kube_emulator)
    with pytest.raises(ApiException) as err:
        kube.core.connect_get_namespaced_pod_proxy_with_path(
            "osm-controller-1:9091", "default", "x"
        )
    assert err.value.status == 503
    assert json.loads(err.value.body)["message"] == (
        f"error trying to reach service: dial tcp {pod['status']['podIP']}:9091: "
        "connect: connection refused"
    )
    with pytest.raises(ApiException) as err:
        kube.core.connect_get_namespaced_pod_proxy_with_path("ghost:9091", "default", "x")
    assert err.value.status == 404


def _http_over(sock, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_port_forward_bridges_http(kube, kube_emulator, http_target):
    seed_pod(kube_emulator)
    port = http_target.server_address[1]
    kube_emulator.serve_port_forward("default", "osm-controller-1", 15000, "127.0.0.1", port)
    pf = portforward(
        kube.core.connect_get_namespaced_pod_portforward,
        "osm-controller-1",
        "default",
        ports="15000",
    )
    sock = pf.socket(15000)
    sock.setblocking(True)
    response = _http_over(sock, "/ready")
    sock.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body) == {"path": "/ready", "server": port}
    assert pf.error(15000) is None
    [request] = [r for r in kube_emulator.requests if r.path.endswith("/portforward")]
    assert request.query == {"ports": "15000"}


def test_port_forward_concurrent_connections(kube, kube_emulator, http_target):
    for i in range(3):
        seed_pod(kube_emulator, name=f"p{i}")
        kube_emulator.serve_port_forward(
            "default", f"p{i}", 15000, "127.0.0.1", http_target.server_address[1]
        )

    def fetch(i: int) -> dict:
        pf = portforward(
            kube.core.connect_get_namespaced_pod_portforward, f"p{i}", "default", ports="15000"
        )
        sock = pf.socket(15000)
        sock.setblocking(True)
        body = _http_over(sock, f"/stats/{i}").partition(b"\r\n\r\n")[2]
        sock.close()
        return json.loads(body)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(fetch, [0, 1, 2, 0, 1, 2]))
    assert [r["path"] for r in results] == [f"/stats/{i}" for i in (0, 1, 2, 0, 1, 2)]


def test_port_forward_to_closed_port_reports_error_channel(kube, kube_emulator):
    pod = seed_pod(kube_emulator)
    pf = portforward(
        kube.core.connect_get_namespaced_pod_portforward,
        "osm-controller-1",
        "default",
        ports="9999",
    )
    sock = pf.socket(9999)
    sock.setblocking(True)
    sock.settimeout(5)
    assert sock.recv(10) == b""  # closed without data
    assert pf.error(9999).startswith(f"error forwarding port 9999 to pod {pod['metadata']['uid']}")


def test_port_forward_forbidden_and_missing_pod(kube, kube_emulator):
    with pytest.raises(ApiException) as err:
        kube.core.connect_get_namespaced_pod_portforward("ghost", "default", ports="1")
    assert err.value.status == 404
    seed_pod(kube_emulator)
    kube_emulator.forbid("create", "pods/portforward", namespace="default")
    with pytest.raises(ApiException) as err:
        kube.core.connect_get_namespaced_pod_portforward("osm-controller-1", "default", ports="1")
    assert err.value.status == 403
    assert (
        'cannot create resource "pods/portforward"'  # RBAC's wording (tests/kube/parity)
        in json.loads(err.value.body)["message"]
    )


def test_websocket_frame_roundtrip_masked_and_long():
    for size in (5, 300, 70000):
        payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        mask = b"\x01\x02\x03\x04"
        frame = bytearray(encode_frame(OP_BINARY, payload))
        header_len = len(frame) - len(payload)
        frame[1] |= 0x80  # client frames are masked
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        stream = io.BytesIO(bytes(frame[:header_len]) + mask + masked)
        assert read_frame(stream) == (True, OP_BINARY, payload)
    assert read_frame(io.BytesIO(encode_frame(OP_CLOSE, b"\x03\xe8"))) == (
        True,
        OP_CLOSE,
        b"\x03\xe8",
    )


def test_raw_websocket_handshake_protocol(kube_emulator):
    """The handshake answers with v4.channel.k8s.io and the RFC 6455 accept key."""
    seed_pod(kube_emulator)
    with socket.create_connection(("127.0.0.1", kube_emulator.port), timeout=5) as sock:
        sock.sendall(
            b"GET /api/v1/namespaces/default/pods/osm-controller-1/portforward?ports=80"
            b" HTTP/1.1\r\n"
            b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: v5.channel.k8s.io,v4.channel.k8s.io\r\n\r\n"
        )
        reader = sock.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += reader.read(1)
        assert head.startswith(b"HTTP/1.1 101")
        assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        assert b"Sec-WebSocket-Protocol: v4.channel.k8s.io" in head
        # Port announcements on the data and error channels: 80 as 2 little-endian bytes.
        assert read_frame(reader)[2] == b"\x00\x50\x00"
        assert read_frame(reader)[2] == b"\x01\x50\x00"


def test_pod_log(kube, kube_emulator):
    seed_pod(kube_emulator)
    kube_emulator.set_pod_log("default", "osm-controller-1", "line 1\nline 2\n")
    assert kube.core.read_namespaced_pod_log("osm-controller-1", "default") == "line 1\nline 2\n"
    with pytest.raises(ApiException) as err:
        kube.core.read_namespaced_pod_log("ghost", "default")
    assert err.value.status == 404


def test_stop_drops_open_port_forwards(kube, kube_emulator, http_target):
    seed_pod(kube_emulator)
    kube_emulator.serve_port_forward(
        "default", "osm-controller-1", 15000, "127.0.0.1", http_target.server_address[1]
    )
    pf = portforward(
        kube.core.connect_get_namespaced_pod_portforward,
        "osm-controller-1",
        "default",
        ports="15000",
    )
    sock = pf.socket(15000)
    sock.settimeout(5)
    kube_emulator.stop()
    assert sock.recv(10) == b""  # EOF, not a hang


def test_port_forward_two_ports_in_one_connection(kube, kube_emulator):
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        seed_pod(kube_emulator)
        for pod_port, server in zip((15000, 9091), servers, strict=True):
            kube_emulator.serve_port_forward(
                "default", "osm-controller-1", pod_port, "127.0.0.1", server.server_address[1]
            )
        pf = portforward(
            kube.core.connect_get_namespaced_pod_portforward,
            "osm-controller-1",
            "default",
            ports="15000,9091",
        )
        answers = {}
        for pod_port in (9091, 15000):
            # With v4.channel.k8s.io one port cannot signal EOF while the other is open (the
            # kubelet behaves the same), so read by Content-Length rather than to EOF.
            sock = pf.socket(pod_port)
            sock.setblocking(True)
            sock.settimeout(5)
            sock.sendall(f"GET /p{pod_port} HTTP/1.1\r\nHost: pod\r\n\r\n".encode())
            reader = sock.makefile("rb")
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            answers[pod_port] = json.loads(reader.read(length))
            reader.close()
            sock.close()
        assert answers == {
            9091: {"path": "/p9091", "server": servers[1].server_address[1]},
            15000: {"path": "/p15000", "server": servers[0].server_address[1]},
        }
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
