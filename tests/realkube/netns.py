"""The cluster's own network namespace, and TCP forwarders into it from the host's loopback.

Every process of a local cluster (etcd, the control plane, later the node and its pods) runs in
a network namespace made for that cluster, so the cluster's private addresses (node, pod and
service ranges in 10.0.0.0/8) exist only in there, and two clusters side by side cannot collide
on ports or addresses. The host reaches the cluster only through forwarders that listen on
127.0.0.1 and connect from inside the namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import secrets
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
NAME_PREFIX = "osmk-"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def create_namespace(node_ip: str, service_cidr: str) -> str:
    """A new namespace with loopback up, ``node_ip`` as the node's address, and a route for
    the Service range."""
    name = NAME_PREFIX + secrets.token_hex(4)
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        # The node's address lives on lo: it is a local address of the namespace (routable from
        # pods through the bridge), and not a loopback one, which kubelet and the API server's
        # advertise address refuse.
        _ip("-n", name, "addr", "add", f"{node_ip}/32", "dev", "lo")
        # A real node routes ClusterIPs through its default route before kube-proxy's DNAT
        # rewrites them; with no route at all a connect fails with "network is unreachable"
        # (the API server calling a webhook by its ClusterIP did, found on the real node).
        _ip("-n", name, "route", "add", service_cidr, "dev", "lo")
        subprocess.run(
            ["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
            check=True,
            capture_output=True,
        )
    except BaseException:
        delete_namespace(name)
        raise
    return name


def delete_namespace(name: str) -> None:
    """Remove the namespace; processes still inside keep it alive until they exit."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def stale_namespaces() -> list[str]:
    """Namespaces of earlier clusters (for `cluster-down --all` style clean-up)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(NAME_PREFIX))


class NamespaceSockets:
    """Creates sockets that belong to a namespace.

    A socket belongs to the network namespace of the thread that created it, and setns(2)
    changes only the calling thread: one long-lived thread enters the namespace once and
    makes every socket for the forwarders.
    """

    def __init__(self, name: str) -> None:
        self._requests: queue.Queue[queue.Queue[socket.socket | BaseException]] = queue.Queue()
        ready: queue.Queue[BaseException | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, args=(name, ready), name=f"netns-{name}", daemon=True
        )
        self._thread.start()
        error = ready.get()
        if error is not None:
            raise error

    def _run(self, name: str, ready: queue.Queue[BaseException | None]) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            fd = os.open(NETNS_DIR / name, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns into {name}: {os.strerror(errno)}")
            finally:
                os.close(fd)
        except BaseException as exc:
            ready.put(exc)
            return
        ready.put(None)
        while True:
            reply = self._requests.get()
            try:
                reply.put(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            except OSError as exc:
                reply.put(exc)

    def socket(self) -> socket.socket:
        reply: queue.Queue[socket.socket | BaseException] = queue.Queue()
        self._requests.put(reply)
        result = reply.get()
        if isinstance(result, BaseException):
            raise result
        return result


@dataclass(frozen=True)
class Forward:
    host_port: int
    target: tuple[str, int]


class Forwarder:
    """127.0.0.1:<port> on the host → ``target`` inside the namespace, one thread pair a
    connection (few, mostly long-lived connections: API clients and watches)."""

    def __init__(self, sockets: NamespaceSockets, target: tuple[str, int], port: int = 0):
        self._sockets = sockets
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", port), backlog=128)
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name=f"forward-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        upstream = self._sockets.socket()
        try:
            upstream.settimeout(5)
            upstream.connect(self.target)
            upstream.settimeout(None)
        except OSError:
            upstream.close()
            client.close()
            return
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        upstream.close()
        client.close()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until EOF, then half-close the other side so request/response streams end cleanly."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)
