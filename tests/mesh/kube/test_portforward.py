"""Port-forwarding through the emulator's pods/portforward websocket (v4.channel.k8s.io)."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from osm_mesh.errors import Conflict, InvalidInput, Timeout
from osm_mesh.kube.client import connect
from osm_mesh.kube.portforward import (
    PortForwarder,
    forward_to_pod,
    http_get,
    listen,
    wait_for_http,
)
from tests.mesh.kube.portforward_helpers import http_server, seed_pod

NS = "osm-system"


@pytest.fixture
def kube(kubeconfig):
    return connect(str(kubeconfig))


@pytest.fixture
def grafana(kube_emulator):
    """A Running pod whose port 3000 is a local HTTP server."""
    seed_pod(kube_emulator, NS, "osm-grafana-0", labels={"app": "osm-grafana"})
    with http_server() as server:
        kube_emulator.serve_port_forward(
            NS, "osm-grafana-0", 3000, "127.0.0.1", server.server_address[1]
        )
        yield server


def test_get_through_forward_reaches_the_pod_server(kube, grafana):
    with forward_to_pod(kube, NS, "osm-grafana-0", 3000) as forwarder:
        assert forwarder.local_port > 0
        answer = http_get("127.0.0.1", forwarder.local_port, "/api/health")
    assert answer.status == 200
    assert answer.body == b"grafana /api/health"
    assert grafana.hits == ["/api/health"]


def test_many_concurrent_connections_and_large_bodies(kube, grafana):
    payload = os.urandom(1024 * 1024)  # crosses many websocket frames and socket buffers
    with forward_to_pod(kube, NS, "osm-grafana-0", 3000) as forwarder:

        def get(i: int) -> bytes:
            return http_get("127.0.0.1", forwarder.local_port, f"/p{i}").body

        with ThreadPoolExecutor(max_workers=12) as pool:
            bodies = list(pool.map(get, range(24)))
        conn = http.client.HTTPConnection("127.0.0.1", forwarder.local_port, timeout=20)
        conn.request("POST", "/echo", body=payload)
        echoed = conn.getresponse().read()
        conn.close()
        stats = forwarder.stats
    assert bodies == [f"grafana /p{i}".encode() for i in range(24)]
    assert echoed == payload
    assert stats.connections == 25
    assert stats.failures == 0
    assert stats.bytes_in > len(payload)


def test_shared_client_keeps_working_during_forwards(kube, grafana):
    """stream.portforward swaps call_api on the client it is given; ours must stay intact."""
    with forward_to_pod(kube, NS, "osm-grafana-0", 3000) as forwarder:
        errors: list[BaseException] = []

        def api_calls() -> None:
            try:
                for _ in range(15):
                    assert kube.core.read_namespaced_pod("osm-grafana-0", NS).metadata.name
            except BaseException as exc:
                errors.append(exc)

        caller = threading.Thread(target=api_calls)
        caller.start()
        for i in range(10):
            assert http_get("127.0.0.1", forwarder.local_port, f"/{i}").status == 200
        caller.join()
    assert errors == []
    assert kube.core.read_namespaced_pod("osm-grafana-0", NS).status.phase == "Running"


def test_closed_pod_port_is_reported(kube, kube_emulator):
    seed_pod(kube_emulator, NS, "osm-grafana-0")
    errors: list[str] = []
    with forward_to_pod(kube, NS, "osm-grafana-0", 3000, on_error=errors.append) as forwarder:
        with pytest.raises((OSError, http.client.HTTPException)):
            http_get("127.0.0.1", forwarder.local_port, "/", timeout=5)
        deadline = time.monotonic() + 5
        while not errors and time.monotonic() < deadline:
            time.sleep(0.05)
    assert errors and "failed to connect to localhost:3000" in errors[0]
    assert errors[0].startswith("Port forwarding failed:")


def test_missing_pod_handshake_error_is_readable(kube, kube_emulator):
    with forward_to_pod(kube, NS, "gone", 3000) as forwarder:
        with pytest.raises((OSError, http.client.HTTPException)):
            http_get("127.0.0.1", forwarder.local_port, "/", timeout=5)
        deadline = time.monotonic() + 5
        while forwarder.last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (
            forwarder.last_error
            == 'Port forwarding failed: HTTP 404 Not Found: pods "gone" not found'
        )


def test_wait_for_http_times_out_with_the_reason(kube, kube_emulator):
    seed_pod(kube_emulator, NS, "osm-grafana-0")
    with (
        forward_to_pod(kube, NS, "osm-grafana-0", 3000) as forwarder,
        pytest.raises(Timeout) as info,
    ):
        wait_for_http(forwarder, timeout=1.0, interval=0.2)
    assert "did not answer" in info.value.message
    assert "connection refused" in info.value.message


def test_port_in_use_is_one_clear_error_with_a_free_suggestion():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Conflict) as info:
            listen("127.0.0.1", port)
    assert info.value.message == f"Local port {port} on 127.0.0.1 is already in use"
    suggested = int(info.value.hint.split("e.g. ")[1].rstrip(")"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", suggested))  # the suggestion really is free


@pytest.mark.parametrize(
    ("address", "port", "fragment"),
    [("127.0.0.1", 70000, "between 0 and 65535"), ("no-such-host.invalid", 0, "Invalid local")],
)
def test_bad_listen_arguments(address, port, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        listen(address, port)


def test_stop_closes_idle_connections_and_the_listener(kube, grafana):
    forwarder = forward_to_pod(kube, NS, "osm-grafana-0", 3000)
    port = forwarder.local_port
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    deadline = time.monotonic() + 5
    while forwarder.stats.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    forwarder.stop()
    assert client.recv(1) == b""  # the open stream was closed
    assert time.monotonic() - started < 3
    client.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_wait_returns_when_the_event_is_set():
    forwarder = PortForwarder(lambda: (_ for _ in ()).throw(OSError("unused"))).start()
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with forwarder:
        forwarder.wait(stop)
    assert 0.15 < time.monotonic() - started < 2


def test_a_client_that_half_closes_still_gets_the_whole_answer(kube, kube_emulator):
    """The client sends its request and shuts down its sending side (as `nc -N` or an HTTP/1.0
    client may); the pod answers later and at length: every byte still reaches the client."""
    seed_pod(kube_emulator, NS, "osm-grafana-0")
    answer = os.urandom(512 * 1024)
    server = socket.create_server(("127.0.0.1", 0))

    def pod() -> None:
        conn, _ = server.accept()
        with conn:
            buf = b""
            while not buf.endswith(b"\n"):
                buf += conn.recv(64)
            time.sleep(0.5)  # the answer comes well after the client's EOF
            conn.sendall(answer)

    thread = threading.Thread(target=pod, daemon=True)
    thread.start()
    kube_emulator.serve_port_forward(
        NS, "osm-grafana-0", 3000, "127.0.0.1", server.getsockname()[1]
    )
    try:
        with (
            forward_to_pod(kube, NS, "osm-grafana-0", 3000) as forwarder,
            socket.create_connection(("127.0.0.1", forwarder.local_port), timeout=10) as c,
        ):
            c.sendall(b"question\n")
            c.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := c.recv(65536):
                received += chunk
        assert len(received) == len(answer) and received == answer
    finally:
        thread.join(5)
        server.close()
