"""The pod port-forward subresource over WebSocket (`v4.channel.k8s.io`).

Kubernetes' channel protocol: for the i-th requested port, channel 2*i carries
data and 2*i+1 errors; the first frame on every channel is the port number as
2 little-endian bytes; every binary frame starts with its channel byte. The
"pod port" is bridged to a real TCP server registered with
``emu.serve_port_forward`` (e.g. an http.server or Envoy's admin port), so the
bytes a client sees are produced by a real process.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

from tests.emulator import status
from tests.emulator.websocket import ConnectionClosed, WebSocket, accept_key

if TYPE_CHECKING:
    from tests.emulator.emulator import KubeEmulator
    from tests.emulator.server import Handler, Target

# What the kubelet accepts; the kubernetes client offers v5 then v4. v5 only adds
# a half-close channel (255), which is accepted here too.
PROTOCOLS = ("v4.channel.k8s.io", "v5.channel.k8s.io", "portforward.k8s.io")


def _ports(query: dict[str, str]) -> list[int]:
    ports = []
    for text in (query.get("ports") or "").split(","):
        if not text.strip():
            continue
        if not text.strip().isdigit() or not 0 < int(text) < 65536:
            raise status.bad_request(f"invalid port number: {text}")
        ports.append(int(text))
    if not ports:
        raise status.bad_request("at least one port must be specified")
    return ports


def serve_port_forward(emu: KubeEmulator, handler: Handler, t: Target, query: dict) -> None:
    assert t.name is not None
    pod = emu.api.get(t.rt, t.namespace, t.name)  # 404 when the pod does not exist
    ports = _ports(query)
    if (handler.headers.get("Upgrade") or "").lower() != "websocket":
        raise status.bad_request("Upgrade request required")
    offered = [p.strip() for p in (handler.headers.get("Sec-WebSocket-Protocol") or "").split(",")]
    chosen = next((p for p in PROTOCOLS if p in offered), None)
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(handler.headers["Sec-WebSocket-Key"]))
    if chosen:
        handler.send_header("Sec-WebSocket-Protocol", chosen)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    handler.connection.settimeout(None)  # a forward lives as long as the client wants
    # Go servers (the API server, kubelet) disable Nagle; without this every answer split
    # in two frames waits ~40 ms for a delayed ACK.
    handler.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ws = WebSocket(handler.rfile, handler.wfile)  # type: ignore[arg-type]
    Bridge(emu, ws, t.namespace or "", t.name, pod, ports).run()


class Bridge:
    """Copies bytes between one WebSocket and one TCP connection per port."""

    def __init__(self, emu, ws: WebSocket, namespace: str, pod_name: str, pod: dict, ports):
        self.emu, self.ws, self.ports = emu, ws, ports
        self.namespace, self.pod_name, self.pod = namespace, pod_name, pod
        self.sockets: dict[int, socket.socket] = {}
        self.open_ports: set[int] = set()
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            for i, port in enumerate(self.ports):
                prefix = port.to_bytes(2, "little")
                self.ws.send_binary(bytes([2 * i]) + prefix)
                self.ws.send_binary(bytes([2 * i + 1]) + prefix)
            for i, port in enumerate(self.ports):
                self._connect(i, port)
            if not self.open_ports:
                self.ws.close()
                return
            self._read_client()
        except (ConnectionClosed, OSError):
            pass
        finally:
            for sock in self.sockets.values():
                try:
                    sock.close()
                except OSError:
                    pass
            self.ws.close()

    def _connect(self, index: int, port: int) -> None:
        target = self.emu.forward_target(self.namespace, self.pod_name, port)
        error = None
        if target is None:
            error = "connection refused"
        else:
            try:
                self.sockets[index] = socket.create_connection(target, timeout=5)
                self.sockets[index].settimeout(None)
                self.sockets[index].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                error = str(exc)
        if error is not None:
            uid = self.pod["metadata"].get("uid", "")
            message = (
                f"error forwarding port {port} to pod {uid}, uid : failed to connect to "
                f"localhost:{port} inside pod network namespace: {error}"
            )
            self.ws.send_binary(bytes([2 * index + 1]) + message.encode())
            return
        self.open_ports.add(index)
        threading.Thread(target=self._read_target, args=(index,), daemon=True).start()

    def _read_client(self) -> None:
        """WebSocket → TCP, until the client closes or every target is done."""
        while True:
            _, data = self.ws.receive()
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == 255:  # v5 half-close of a port's write side
                index = payload[0] // 2 if payload else -1
                if index in self.sockets:
                    try:
                        self.sockets[index].shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                continue
            index = channel // 2
            if channel % 2 == 0 and index in self.sockets and payload:
                try:
                    self.sockets[index].sendall(payload)
                except OSError:
                    self._target_done(index)

    def _read_target(self, index: int) -> None:
        """TCP → WebSocket; when the last target hangs up, close the WebSocket."""
        sock = self.sockets[index]
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                self.ws.send_binary(bytes([2 * index]) + data)
        except (OSError, ConnectionClosed):
            pass
        self._target_done(index)

    def _target_done(self, index: int) -> None:
        with self.lock:
            self.open_ports.discard(index)
            finished = not self.open_ports
        if finished:
            # The client treats a closed WebSocket as EOF on every local socket; its close
            # reply then ends _read_client (the RFC 6455 closing handshake).
            self.ws.close()
