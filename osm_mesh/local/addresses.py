"""Loopback address blocks for local meshes.

Each local mesh instance owns one ``127.X.Y.0/24`` block for its whole life:
pods get ``127.X.Y.1`` upwards, the control plane ``127.X.Y.254``. Linux routes
all of ``127.0.0.0/8`` to the loopback interface, so every pod can listen on the
same ports (80, 15000, 15001, 15003) on its own address, as in a cluster, and any
user may bind those addresses.

An app's ``containerPort`` is the one port that may be out of reach: below 1024
it needs privileges (``osm`` installed with pipx runs as an ordinary user), and
another program may hold it on a wildcard address (a web server on ``0.0.0.0:80``).
``app_listen_port`` then moves the app to an unprivileged free port (80 -> 8080,
else one the kernel picks); the runtime passes it to the app as ``$PORT`` and the
control plane points the pod's inbound "local app" cluster at it.

Two instances started at the same time must not pick the same block. A block
is claimed by *listening* on ``127.X.Y.254:CLAIM_PORT``: the kernel lets only one
socket do that, and it releases the claim by itself when the owner dies (even
on SIGKILL), so there are no stale lock files. After claiming, every sidecar and
control-plane address and port is test-bound once, which also catches an unrelated
process listening on a wildcard address (``0.0.0.0:15000``).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from osm_mesh.errors import Conflict, InvalidInput, PermissionDenied

# Ports every pod address needs: Envoy admin, outbound (HTTP proxy), inbound (mTLS).
ENVOY_ADMIN_PORT = 15000
ENVOY_OUTBOUND_PORT = 15001
ENVOY_INBOUND_PORT = 15003
# On the control-plane address: the ADS (xDS) server, as osm-controller's port.
ADS_PORT = 15128
CLAIM_PORT = 15999
CONTROL_PLANE_HOST = 254
MAX_PODS = 253
ENVOY_PORTS = frozenset({ENVOY_ADMIN_PORT, ENVOY_OUTBOUND_PORT, ENVOY_INBOUND_PORT})
# A moved app first tries containerPort + this (80 -> 8080, 443 -> 8443: recognisable, and what
# the article's `kubectl port-forward 8080:80` used), then a port the kernel picks.
MOVED_PORT_OFFSET = 8000


@dataclass
class AddressBlock:
    """A claimed ``127.X.Y.0/24``; ``release()`` (or process death) frees it."""

    prefix: str  # "127.X.Y"
    _claim: socket.socket | None = field(default=None, repr=False)

    @property
    def control_plane_ip(self) -> str:
        return f"{self.prefix}.{CONTROL_PLANE_HOST}"

    def pod_ip(self, index: int) -> str:
        """The address of the ``index``-th pod (0-based)."""
        if not 0 <= index < MAX_PODS:
            raise Conflict(
                f"a local mesh holds at most {MAX_PODS} pods (asked for pod #{index + 1})",
                hint="Lower the Deployments' replicas.",
            )
        return f"{self.prefix}.{index + 1}"

    @property
    def cidr(self) -> str:
        return f"{self.prefix}.0/24"

    def release(self) -> None:
        if self._claim is not None:
            self._claim.close()
            self._claim = None

    def __enter__(self) -> AddressBlock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Without SO_REUSEADDR a previous run's TIME_WAIT sockets would make a
        # free address look taken; listeners still exclude each other.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock


def port_free(host: str, port: int) -> bool:
    """True when ``host:port`` can be listened on right now."""
    try:
        _listen(host, port).close()
    except OSError:
        return False
    return True


def app_listen_port(host: str, port: int, avoid: Iterable[int] = ()) -> tuple[int, str | None]:
    """Where an app whose containerPort is ``port`` listens on ``host``, and why it moved.

    ``(port, None)`` when this user can listen on ``host:port`` right now; otherwise a free
    unprivileged port (never one of ``avoid``: the pod's other ports) and the reason, e.g.
    ``(8080, "ports below 1024 need privileges")``. Deciding by trying (rather than by uid)
    also covers root without CAP_NET_BIND_SERVICE and a lowered
    ``net.ipv4.ip_unprivileged_port_start``.
    """
    problem = _bind_problem(host, port)
    if problem is None:
        return port, None
    reasons = {errno.EACCES: "ports below 1024 need privileges", errno.EADDRINUSE: "in use"}
    reason = reasons.get(problem) or os.strerror(problem)
    avoid = {*avoid, *ENVOY_PORTS, port}
    preferred = port + MOVED_PORT_OFFSET
    usable = 1024 <= preferred <= 65535 and preferred not in avoid
    if usable and _bind_problem(host, preferred) is None:
        return preferred, reason
    for _ in range(16):
        try:
            sock = _listen(host, 0)
        except OSError as exc:
            raise Conflict(f"cannot listen on {host} at all: {exc.strerror}") from exc
        candidate = int(sock.getsockname()[1])
        sock.close()
        if candidate not in avoid:
            return candidate, reason
    raise Conflict(f"no free port on {host} for an app")  # pragma: no cover - 16 misses in a row


def _bind_problem(host: str, port: int) -> int | None:
    try:
        _listen(host, port).close()
    except OSError as exc:
        return exc.errno or errno.EADDRINUSE
    return None


def claim_block(
    pods: int,
    *,
    prefix: str | None = None,
    attempts: int = 64,
    rng: random.Random | None = None,
) -> AddressBlock:
    """Claim a free ``127.X.Y.0/24`` for ``pods`` pods (their Envoy ports must be free).

    Apps' own ports are not checked here: ``app_listen_port`` moves an app that cannot have
    its containerPort.

    ``prefix`` ("127.X.Y") asks for one block (tests, reproducible runs); otherwise
    blocks are drawn at random, avoiding 127.0.*.* where ordinary localhost
    services live.
    """
    if pods > MAX_PODS:
        raise Conflict(
            f"a local mesh holds at most {MAX_PODS} pods, the manifests ask for {pods}",
            hint="Lower the Deployments' replicas.",
        )
    ports = sorted(ENVOY_PORTS)
    rng = rng or random.SystemRandom()
    candidates = (
        [check_prefix(prefix)]
        if prefix
        else [f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}" for _ in range(attempts)]
    )
    last_problem = "no candidate block"
    for candidate in candidates:
        try:
            claim = _listen(f"{candidate}.{CONTROL_PLANE_HOST}", CLAIM_PORT)
        except OSError as exc:
            last_problem = f"{candidate}.0/24 is in use ({exc.strerror})"
            continue
        busy = _busy_addresses(candidate, pods, ports)
        if not busy:
            return AddressBlock(candidate, claim)
        claim.close()
        last_problem = f"{busy[0]} is already in use"
    raise Conflict(
        f"no free loopback address block for the local mesh: {last_problem}",
        hint="Stop other local meshes or the process listening there, or pass another block.",
    )


def _busy_addresses(prefix: str, pods: int, ports: list[int]) -> list[str]:
    wanted = [(f"{prefix}.{CONTROL_PLANE_HOST}", ADS_PORT)]
    wanted += [(f"{prefix}.{i + 1}", port) for i in range(pods) for port in ports]
    busy = []
    for host, port in wanted:
        try:
            _listen(host, port).close()
        except OSError as exc:
            if exc.errno == errno.EACCES:
                raise PermissionDenied(
                    f"cannot listen on {host}:{port}: ports below 1024 need privileges",
                    hint="Run as root, or lower net.ipv4.ip_unprivileged_port_start "
                    f"(sysctl) to {port} or less.",
                ) from exc
            if exc.errno == errno.EADDRNOTAVAIL:
                raise Conflict(
                    f"cannot bind {host}: loopback addresses beyond 127.0.0.1 are not routed here",
                    hint="The local mesh needs Linux (all of 127.0.0.0/8 on lo).",
                ) from exc
            busy.append(f"{host}:{port}")
    return busy


def check_prefix(prefix: str) -> str:
    try:
        network = ipaddress.IPv4Network(f"{prefix}.0/24")
    except ValueError as exc:
        raise InvalidInput(f"invalid address block {prefix!r}: expected 127.X.Y") from exc
    if not network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
        raise InvalidInput(f"invalid address block {prefix!r}: must be inside 127.0.0.0/8")
    return prefix
