"""Attacks on the control plane's HTTP servers, shared by the tests and the benchmark.

Each function performs one attack from issue 11 item 1 against ``host:port`` and returns what
the attacker saw; ``peak_rss_during`` measures the target process's peak RSS while it runs
(the kernel's high-water mark, reset first through ``/proc/<pid>/clear_refs``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
WEBHOOK_PATH = "/mutate-pod-creation"


def _status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def rss_bytes(pid: int) -> int:
    return _status(pid, "VmRSS")


def peak_rss_during(pid: int, attack: Callable[[], object]) -> tuple[int, object]:
    """(peak RSS in bytes while ``attack()`` ran and 0.3 s after, its result)."""
    with open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM to the current RSS
    result = attack()
    time.sleep(0.3)  # requests still being handled when the attacker gave up
    return _status(pid, "VmHWM"), result


def _connect(host: str, port: int, tls: bool, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    if not tls:
        return sock
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the attacker does not care who answers
    return context.wrap_socket(sock)


def _read_reply(sock: socket.socket) -> bytes:
    out = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            out += chunk
    return out


def stream_with_length(
    host: str,
    port: int,
    *,
    method: str,
    path: str,
    length_header: str,
    total: int,
    tls: bool = False,
) -> tuple[int, bytes]:
    """Declare ``Content-Length: <length_header>`` and stream ``total`` bytes of body.

    Returns (bytes of body the server took before closing, its reply). A server that reads
    ``-1`` as "until EOF" takes everything.
    """
    sock = _connect(host, port, tls)
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    sock.sendall((head + f"Content-Length: {length_header}\r\n\r\n").encode())
    chunk, sent = b"x" * MiB, 0
    try:
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
        if not tls:  # (a TLS socket's shutdown drops TLS: the reply would be unreadable)
            sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the server closed: what we wanted
    reply = _read_reply(sock)
    sock.close()
    return sent, reply


def post_bodies_at_once(
    host: str, port: int, bodies: list[bytes], *, path: str = WEBHOOK_PATH, tls: bool = True
) -> list[int]:
    """POST every body at the same moment, each on its own connection; HTTP statuses
    (0 when the connection was dropped)."""
    statuses = [0] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def one(i: int) -> None:
        try:
            sock = _connect(host, port, tls, timeout=30)
        except OSError:
            return
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(bodies[i])}\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            barrier.wait(10)
            sock.sendall(head + bodies[i])
        except (OSError, threading.BrokenBarrierError):
            pass
        reply = _read_reply(sock)
        sock.close()
        if reply.startswith(b"HTTP/1.1 "):
            statuses[i] = int(reply[9:12])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def review_body(size: int, *, filler: str = "pad") -> bytes:
    """An AdmissionReview of about ``size`` bytes.

    ``filler="pad"``: one long annotation (memory ~ size when parsed); ``"dicts"``: a list
    of empty objects (each 3 bytes becomes a ~64-byte dict when parsed).
    """
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "bookstore", "annotations": {"x": ""}},
        "spec": {"containers": [{"name": "app", "image": "app"}]},
    }
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "attack",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "namespace": "bookstore",
            "object": pod,
            "dryRun": True,
        },
    }
    base = len(json.dumps(review))
    if filler == "pad":
        pod["metadata"]["annotations"]["x"] = "a" * max(0, size - base)  # type: ignore[index]
        return json.dumps(review).encode()
    text = json.dumps(review).replace(
        '"x": ""', '"x": [' + ",".join(["{}"] * ((size - base) // 3)) + "]"
    )
    return text.encode()


def hold_connections(host: str, port: int, count: int, *, tls: bool = False) -> list[socket.socket]:
    """``count`` connections that each send a request line and stop (slowloris)."""
    held = []
    for _ in range(count):
        try:
            sock = socket.create_connection((host, port), timeout=5)
            if not tls:
                sock.sendall(b"GET /health/alive HTTP/1.1\r\nHost: x\r\n")
            held.append(sock)
        except OSError:
            break
    return held


# -- the real processes ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    http_port: int
    webhook_port: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    from tests.mesh.controller.conftest import http_get

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if http_get(port, "/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("process did not become ready:\n" + log.read_text())


@contextlib.contextmanager
def running(
    module: str, args: list[str], log: Path, http_port: int
) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    # OSM_ATTACK_CHECKOUT=/path: run another checkout's code (to measure before a fix).
    checkout = os.environ.get("OSM_ATTACK_CHECKOUT") or None
    if checkout:
        env["PYTHONPATH"] = checkout
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=checkout,
        )
    try:
        _wait_ready(proc, http_port, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def injector_process(kubeconfig: Path, workdir: Path) -> Iterator[Process]:
    """``python -m osm_mesh.injector`` against the emulator behind ``kubeconfig`` (seeded,
    with the CA Secret), listening on loopback."""
    http_port, webhook_port = free_port(), free_port()
    args = [
        "--mesh-name=osm",
        "--osm-namespace=osm-system",
        f"--webhook-port={webhook_port}",
        "--ads-address=osm-controller.osm-system.svc:15128",
        f"--http-port={http_port}",
        f"--kubeconfig={kubeconfig}",
        "--log-level=error",
    ]
    with running("osm_mesh.injector", args, workdir / "injector.log", http_port) as proc:
        yield Process(proc, http_port, webhook_port)


@contextlib.contextmanager
def controller_process(kubeconfig: Path, workdir: Path) -> Iterator[Process]:
    http_port, ads_port = free_port(), free_port()
    args = [
        "--mesh-name=osm",
        "--osm-namespace=osm-system",
        "--ca-bundle-dir=/nonexistent",
        f"--ads-port={ads_port}",
        f"--http-port={http_port}",
        "--debug-port=0",
        f"--kubeconfig={kubeconfig}",
        "--log-level=error",
    ]
    with running("osm_mesh.controller", args, workdir / "controller.log", http_port) as proc:
        yield Process(proc, http_port)
