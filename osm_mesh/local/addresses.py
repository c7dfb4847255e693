"""Loopback address blocks for local meshes.

Each local mesh instance owns one ``127.X.Y.0/24`` block for its whole life:
pods get ``127.X.Y.1`` upwards, the control plane ``127.X.Y.254``. Linux routes
all of ``127.0.0.0/8`` to the loopback interface, so every pod can listen on the
same ports (80, 15000, 15001, 15003) on its own address, as in a cluster.

Two instances started at the same time must not pick the same block. A block
is claimed by *listening* on ``127.X.Y.254:CLAIM_PORT``: the kernel lets only one
socket do that, and it releases the claim by itself when the owner dies (even
on SIGKILL), so there are no stale lock files. After claiming, every address and
port the instance will bind is test-bound once, which also catches an unrelated
process listening on a wildcard address (``0.0.0.0:15000``).
"""

from __future__ import annotations

import errno
import ipaddress
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


def claim_block(
    pods: int,
    pod_ports: Iterable[int] = (),
    *,
    prefix: str | None = None,
    attempts: int = 64,
    rng: random.Random | None = None,
) -> AddressBlock:
    """Claim a free ``127.X.Y.0/24`` for ``pods`` pods listening on ``pod_ports``.

    ``prefix`` ("127.X.Y") asks for one block (tests, reproducible runs); otherwise
    blocks are drawn at random, avoiding 127.0.*.* where ordinary localhost
    services live.
    """
    if pods > MAX_PODS:
        raise Conflict(
            f"a local mesh holds at most {MAX_PODS} pods, the manifests ask for {pods}",
            hint="Lower the Deployments' replicas.",
        )
    ports = sorted({ENVOY_ADMIN_PORT, ENVOY_OUTBOUND_PORT, ENVOY_INBOUND_PORT, *pod_ports})
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
                    f"(sysctl) to {port} or less, or use containerPorts of 1024 and up.",
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
