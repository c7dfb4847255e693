"""KubeEmulator: the test-facing object (start/stop, seeding, recording, fault injection).

It owns the HTTP server thread, the API state (``tests.emulator.api.Api``),
the registered pod-proxy handlers and port-forward targets, and the list of
RBAC denials. See tests/emulator/README.md for what is and is not emulated.
"""

from __future__ import annotations

import builtins
import socket
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from tests.emulator import status
from tests.emulator.api import Api
from tests.emulator.server import Handler, RecordedRequest

if TYPE_CHECKING:
    from tests.emulator.server import Target


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) overflows when a controller opens its watch streams and
    # a CLI connects at the same moment; an overflowing SYN is retried only after 1 s.
    request_queue_size = 128
    daemon_threads = True


ProxyHandler = Callable[[str, str, dict, bytes], "tuple[int, dict, bytes]"]


class KubeEmulator:
    """A stateful Kubernetes API server on 127.0.0.1 (random port)."""

    def __init__(self, simulate_workloads: bool = True) -> None:
        self.api = Api()
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks of requests the emulator failed on (HTTP 500)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._forbidden: list[tuple[str, str, str | None]] = []
        self._reinitializing: dict[str, int] = {}
        self._proxies: dict[tuple[str, str, int | None], ProxyHandler] = {}
        self._forwards: dict[tuple[str, str, int], tuple[str, int]] = {}
        self._logs: dict[tuple[str, str, str | None], str] = {}
        self.connections: set[socket.socket] = set()  # open client connections
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.simulation = None
        if simulate_workloads:
            from tests.emulator.simulation import WorkloadSimulation

            self.simulation = WorkloadSimulation(self.api)

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> KubeEmulator:
        handler = type("BoundHandler", (Handler,), {"emulator": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.api.store.lock:
            self.api.store.changed.notify_all()  # wake watch streams
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Like a dying API server: keep-alive, watch and port-forward connections drop too.
        with self._lock:
            open_connections = list(self.connections)
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self.connections.add(conn)
            else:
                self.connections.discard(conn)

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "call start() first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(
        self, path: str | Path, context: str = "emulator", namespace: str = "default"
    ) -> Path:
        """A kubeconfig (plain HTTP, token user) for kubernetes-python and helm."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator-token"}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)  # helm warns about group/world-readable kubeconfigs
        return path

    # --- seeding and inspection -------------------------------------------------

    def create(self, obj: dict) -> dict:
        """Store ``obj`` as if a client had POSTed it (defaults, simulation included)."""
        rt, version = self.api.by_kind(obj["apiVersion"], obj["kind"])
        namespace = (obj.get("metadata") or {}).get("namespace") or (
            "default" if rt.namespaced else None
        )
        return self.api.create(rt, namespace, obj, version)

    def wait_gone(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        timeout: float = 10.0,
    ) -> bool:
        """True once the object is gone: a namespace or CRD stays Terminating for
        ``api.finalize_s`` after its DELETE, as on a real cluster."""
        deadline = time.monotonic() + timeout
        while self.get(api_version, kind, name, namespace) is not None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict | None:
        rt, version = self.api.by_kind(api_version, kind)
        try:
            return self.api.get(rt, namespace, name, version)
        except status.ApiError:
            return None

    def list(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> builtins.list[dict]:
        rt, version = self.api.by_kind(api_version, kind)
        return self.api.list(rt, namespace, version=version)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        rt, version = self.api.by_kind(api_version, kind)
        try:
            self.api.delete(rt, namespace, name, version)
        except status.ApiError:
            pass  # deleting what is gone is a no-op for seeding code

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def writes(self) -> builtins.list[RecordedRequest]:
        """Requests that could change state (everything but GET/HEAD/OPTIONS)."""
        with self._lock:
            return [r for r in self.requests if r.is_write]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- fault injection ------------------------------------------------------------

    def forbid(self, verb: str, resource: str, namespace: str | None = None) -> None:
        """Answer matching requests with 403 like RBAC; verb/resource may be "*"."""
        self._forbidden.append((verb, resource, namespace))

    def allow_all(self) -> None:
        self._forbidden.clear()

    def reinitialize(self, resource: str, requests: int = 1) -> None:
        """The next ``requests`` requests for ``resource`` (a plural) get 429 "storage is
        (re)initializing" with Retry-After: 1, as a real API server answers right after a CRD
        update (seen in tests/kube)."""
        with self._lock:
            self._reinitializing[resource] = requests

    def take_reinitializing(self, resource: str) -> bool:
        with self._lock:
            left = self._reinitializing.get(resource, 0)
            if left <= 0:
                return False
            self._reinitializing[resource] = left - 1
            return True

    def is_forbidden(self, verb: str, resource: str, namespace: str | None) -> bool:
        return any(
            v in ("*", verb) and r in ("*", resource) and (ns is None or ns == namespace)
            for v, r, ns in self._forbidden
        )

    def set_not_ready(
        self, kind_plural: str, namespace: str, name: str, reason: str = "ImagePullBackOff"
    ) -> None:
        """Make a workload's pods wait forever on ``reason`` (see simulation.py)."""
        if self.simulation is None:
            raise RuntimeError("set_not_ready needs KubeEmulator(simulate_workloads=True)")
        self.simulation.set_not_ready(kind_plural, namespace, name, reason)

    def set_ready(self, kind_plural: str, namespace: str, name: str) -> None:
        if self.simulation is None:
            raise RuntimeError("set_ready needs KubeEmulator(simulate_workloads=True)")
        self.simulation.set_ready(kind_plural, namespace, name)

    # --- pod subresources -----------------------------------------------------------

    def serve_pod_proxy(
        self, namespace: str, pod: str, port: int | None, handler: ProxyHandler
    ) -> None:
        """Route `.../pods/{pod}[:{port}]/proxy/...` to ``handler(method, path, headers, body)``."""
        self._proxies[(namespace, pod, port)] = handler

    def serve_port_forward(
        self, namespace: str, pod: str, port: int, target_host: str, target_port: int
    ) -> None:
        """Bridge `pods/{pod}/portforward?ports={port}` to a TCP server at target."""
        self._forwards[(namespace, pod, port)] = (target_host, target_port)

    def set_pod_log(
        self, namespace: str, pod: str, text: str, container: str | None = None
    ) -> None:
        self._logs[(namespace, pod, container)] = text

    def _pod_ip(self, t: Target, name: str) -> str:
        pod = self.api.get(t.rt, t.namespace, name)  # 404 like the real server
        return str((pod.get("status") or {}).get("podIP") or "10.244.0.1")

    def pod_proxy(self, handler: Handler, t: Target, body: bytes, raw_query: str) -> None:
        from tests.emulator.proxy import serve_proxy

        serve_proxy(self, handler, t, body, raw_query)

    def find_proxy(self, namespace: str, pod: str, port: int | None) -> ProxyHandler | None:
        candidates = [port] if port is not None else [None, 80]
        for p in candidates:
            if (namespace, pod, p) in self._proxies:
                return self._proxies[(namespace, pod, p)]
        return None

    def port_forward(self, handler: Handler, t: Target, query: dict[str, str]) -> None:
        from tests.emulator.portforward import serve_port_forward

        serve_port_forward(self, handler, t, query)

    def forward_target(self, namespace: str, pod: str, port: int) -> tuple[str, int] | None:
        return self._forwards.get((namespace, pod, port))

    def pod_log(self, t: Target, query: dict[str, str]) -> str:
        assert t.name is not None
        self.api.get(t.rt, t.namespace, t.name)
        container = query.get("container")
        return self._logs.get((t.namespace or "", t.name, container)) or self._logs.get(
            (t.namespace or "", t.name, None), ""
        )
