"""Forward a local TCP port to a pod port through the Kubernetes port-forward API.

``kubectl port-forward`` in Python: a listener on a local address accepts any
number of connections; each one gets its own websocket stream
(``v4.channel.k8s.io``) to the API server's ``pods/portforward`` subresource,
opened with the ``kubernetes`` client's ``stream.portforward``. Bytes are
pumped both ways by one thread per connection.

Two properties of the client library shape this module:

* ``kubernetes.stream.portforward`` swaps ``call_api`` on the ApiClient it is
  given for the duration of the call. Doing that on the shared client would
  route any concurrent API call (a readiness probe, another connection's
  handshake) through the websocket transport, so every connection gets a
  private ApiClient built from the same Configuration.
* The v4 protocol has no half-close: when the local side of the stream is
  closed the library tears the whole websocket down. So a client that stops
  sending (EOF) keeps receiving until the pod side closes or goes quiet for
  ``linger`` seconds, and only then is the stream closed.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from osm_mesh.errors import Conflict, InvalidInput, MeshError, Timeout

BUFFER_SIZE = 64 * 1024
DEFAULT_ADDRESS = "127.0.0.1"


class PodStream(Protocol):
    """One bidirectional byte stream to a pod port."""

    @property
    def socket(self) -> socket.socket: ...

    def error(self) -> str | None: ...

    def close(self) -> None: ...


Dialer = Callable[[], PodStream]


class _KubePodStream:
    """A ``kubernetes.stream.ws_client.PortForward`` for a single port."""

    def __init__(self, forward: Any, port: int) -> None:
        self._forward = forward
        self._port = port
        self.socket: socket.socket = forward.socket(port)

    def error(self) -> str | None:
        message = self._forward.error(self._port)
        return str(message) if message else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.close()


def kube_dialer(kube: Any, namespace: str, pod: str, port: int) -> Dialer:
    """A dialer opening one port-forward websocket to ``namespace/pod:port`` per call."""
    from kubernetes import client as k8s
    from kubernetes.stream import portforward

    configuration = kube.api_client.configuration

    def dial() -> PodStream:
        # A private client per stream: see the module docstring.
        api = k8s.CoreV1Api(k8s.ApiClient(configuration))
        forward = portforward(
            api.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port)
        )
        return _KubePodStream(forward, port)

    return dial


def describe_dial_error(exc: BaseException) -> str:
    """A short reason for a failed websocket handshake (the library wraps it in ApiException)."""
    reason = getattr(exc, "reason", None) or str(exc)
    text = str(reason)
    # websocket-client: "Handshake status 404 Not Found -+-+- {headers} -+-+- b'{...Status...}'"
    if "Handshake status" in text:
        head = text.split(" -+-+- ", 1)[0]
        body = text.rsplit(" -+-+- ", 1)[-1]
        message = _status_message_in(body)
        return f"{head.replace('Handshake status ', 'HTTP ')}: {message}" if message else head
    return text


def _status_message_in(text: str) -> str | None:
    import json

    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        return None
    raw = text[start : end + 1]
    try:
        status = json.loads(raw)
    except ValueError:
        # Older websocket-client versions print the body as a bytes repr (b'{...}').
        try:
            status = json.loads(raw.encode().decode("unicode_escape", errors="ignore"))
        except ValueError:
            return None
    message = status.get("message") if isinstance(status, dict) else None
    return str(message) if message else None


def free_port(address: str = DEFAULT_ADDRESS) -> int:
    """A port that is free on ``address`` right now (for suggestions)."""
    family = _family(address)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _family(address: str) -> socket.AddressFamily:
    try:
        infos = socket.getaddrinfo(address, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(
            f"Invalid local address {address!r}: {exc.strerror}",
            hint="Use an IP address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
        ) from None
    return infos[0][0]


def listen(address: str, port: int) -> socket.socket:
    """Bind a listening socket, turning OS errors into one-line, actionable errors."""
    if not 0 <= port <= 65535:
        raise InvalidInput(f"Invalid local port {port}: must be between 0 and 65535")
    family = _family(address)
    try:
        return socket.create_server((address, port), family=family, backlog=128)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            try:
                suggestion = f"e.g. {free_port(address)}"
            except OSError:
                suggestion = "or 0 to pick a free one"
            raise Conflict(
                f"Local port {port} on {address} is already in use",
                hint=f"Choose another local port with -p/--local-port ({suggestion})",
            ) from None
        if exc.errno == errno.EACCES:
            raise InvalidInput(
                f"Not allowed to listen on {address}:{port} (ports below 1024 need privileges)",
                hint="Choose a local port above 1023 with -p/--local-port",
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InvalidInput(
                f"Cannot listen on {address}: the address is not on this machine",
                hint="Use 127.0.0.1, 0.0.0.0 or one of this machine's addresses with --address",
            ) from None
        raise MeshError(f"Cannot listen on {address}:{port}: {exc.strerror or exc}") from None


@dataclass
class ForwardStats:
    connections: int = 0
    failures: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    errors: list[str] = field(default_factory=list)


class PortForwarder:
    """A local listener whose connections are bridged to a pod port.

    ``start()`` binds (errors surface there, before anything runs), then
    connections are served in the background until ``stop()``. Use as a
    context manager to be sure the listener and every stream are closed.
    """

    def __init__(
        self,
        dial: Dialer,
        *,
        address: str = DEFAULT_ADDRESS,
        local_port: int = 0,
        target: str = "pod",
        on_error: Callable[[str], None] | None = None,
        linger: float = 1.0,
    ) -> None:
        self._dial = dial
        self.address = address
        self.requested_port = local_port
        self.target = target
        self._on_error = on_error
        self._linger = linger
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self.stats = ForwardStats()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> PortForwarder:
        self._listener = listen(self.address, self.requested_port)
        thread = threading.Thread(
            target=self._accept_loop, name=f"port-forward {self.target}", daemon=True
        )
        thread.start()
        return self

    @property
    def local_port(self) -> int:
        if self._listener is None:
            raise RuntimeError("PortForwarder.start() was not called")
        return int(self._listener.getsockname()[1])

    @property
    def running(self) -> bool:
        return self._listener is not None and not self._stopped.is_set()

    def stop(self) -> None:
        """Stop accepting, close every open stream, and wait briefly for the pumps."""
        self._stopped.set()
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone leaves the
            # socket listening on Linux until that accept returns.
            _close(self._listener)
        with self._lock:
            sockets = list(self._open)
            threads = list(self._threads)
        for sock in sockets:
            _close(sock)
        deadline = time.monotonic() + 2.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> PortForwarder:
        if self._listener is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, stop: threading.Event | None = None, timeout: float | None = None) -> None:
        """Block until ``stop`` is set, ``timeout`` passes or the forwarder is stopped.

        Waits in short steps so Ctrl-C (KeyboardInterrupt) is delivered promptly.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stopped.is_set():
            if stop is not None and stop.is_set():
                return
            remaining = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if remaining <= 0:
                return
            if stop is not None:
                stop.wait(remaining)
            else:
                self._stopped.wait(remaining)

    # -- serving --------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed by stop()
            # Bytes are relayed as they arrive; Nagle would hold back the second small
            # write of an answer (headers, then body) for a delayed ACK (~40 ms).
            with contextlib.suppress(OSError):
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(
                target=self._serve, args=(client,), name="port-forward conn", daemon=True
            )
            with self._lock:
                if self._stopped.is_set():
                    _close(client)
                    return
                self.stats.connections += 1
                self._threads.add(thread)
                self._open.add(client)
                # Started under the lock so stop() never joins an unstarted thread.
                thread.start()

    def _serve(self, client: socket.socket) -> None:
        stream: PodStream | None = None
        try:
            try:
                stream = self._dial()
            except Exception as exc:
                self._record_error(f"Port forwarding failed: {describe_dial_error(exc)}")
                return
            remote = stream.socket
            with self._lock:
                self._open.add(remote)
            self._pump(client, remote)
            error = stream.error()
            if error:
                self._record_error(f"Port forwarding failed: {error.strip()}")
        finally:
            _close(client)
            if stream is not None:
                with self._lock:
                    self._open.discard(stream.socket)
                stream.close()
            with self._lock:
                self._open.discard(client)
                self._threads.discard(threading.current_thread())

    def _pump(self, client: socket.socket, remote: socket.socket) -> None:
        client_open = True
        quiet_since: float | None = None
        while not self._stopped.is_set():
            readable = [remote, client] if client_open else [remote]
            try:
                ready, _, _ = select.select(readable, [], [], 0.25)
            except (OSError, ValueError):
                return  # a socket was closed by stop()
            if not ready:
                if quiet_since is not None and time.monotonic() - quiet_since > self._linger:
                    return
                continue
            for sock in ready:
                try:
                    data = sock.recv(BUFFER_SIZE)
                except OSError:
                    return
                if sock is remote:
                    if not data:
                        return  # the pod side closed (or the stream failed)
                    try:
                        client.sendall(data)
                    except OSError:
                        return
                    with self._lock:
                        self.stats.bytes_out += len(data)
                    if quiet_since is not None:
                        quiet_since = time.monotonic()
                else:
                    if not data:
                        # No half-close in v4: keep reading the answer for a while.
                        client_open = False
                        quiet_since = time.monotonic()
                        continue
                    try:
                        remote.sendall(data)
                    except OSError:
                        return
                    with self._lock:
                        self.stats.bytes_in += len(data)

    def _record_error(self, message: str) -> None:
        with self._lock:
            self.stats.failures += 1
            self.stats.errors.append(message)
        if self._on_error is not None:
            self._on_error(message)

    @property
    def last_error(self) -> str | None:
        with self._lock:
            return self.stats.errors[-1] if self.stats.errors else None


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def forward_to_pod(
    kube: Any,
    namespace: str,
    pod: str,
    remote_port: int,
    *,
    address: str = DEFAULT_ADDRESS,
    local_port: int = 0,
    on_error: Callable[[str], None] | None = None,
) -> PortForwarder:
    """Start forwarding ``address:local_port`` to ``namespace/pod:remote_port``."""
    forwarder = PortForwarder(
        kube_dialer(kube, namespace, pod, remote_port),
        address=address,
        local_port=local_port,
        target=f"{namespace}/{pod}:{remote_port}",
        on_error=on_error,
    )
    return forwarder.start()


def connect_host(address: str) -> str:
    """Where a local client should connect to reach a listener bound on ``address``."""
    if address in ("0.0.0.0", ""):
        return "127.0.0.1"
    if address == "::":
        return "::1"
    return address


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(
    host: str, port: int, path: str, timeout: float = 10.0, max_bytes: int | None = None
) -> HttpAnswer:
    """One plain HTTP GET (no redirects followed), used through a forward. With ``max_bytes``
    a longer body is refused (MeshError) after reading one byte more than allowed."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path if path.startswith("/") else "/" + path)
        response = connection.getresponse()
        body = response.read() if max_bytes is None else response.read(max_bytes + 1)
        if max_bytes is not None and len(body) > max_bytes:
            raise MeshError(f"the answer to GET {path} is larger than {max_bytes} bytes")
        return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def wait_for_http(
    forwarder: PortForwarder,
    path: str = "/",
    *,
    timeout: float = 60.0,
    interval: float = 0.5,
) -> HttpAnswer:
    """GET ``path`` through ``forwarder`` until the service answers below HTTP 500."""
    host = connect_host(forwarder.address)
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        try:
            answer = http_get(host, forwarder.local_port, path, timeout=min(5.0, timeout))
            if answer.status < 500:
                return answer
            last = f"HTTP {answer.status}"
        except (OSError, http.client.HTTPException) as exc:
            last = forwarder.last_error or f"{type(exc).__name__}: {exc}".rstrip(": ")
        if time.monotonic() + interval > deadline:
            raise Timeout(
                f"{forwarder.target} did not answer on port-forward within {timeout:g}s ({last})",
                hint="Check the pod's logs and readiness (kubectl logs / kubectl describe pod)",
            )
        time.sleep(interval)
