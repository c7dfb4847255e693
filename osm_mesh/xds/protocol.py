"""The state-of-the-world xDS protocol of one ADS stream, without I/O.

Per type a stream remembers what the proxy subscribed to, the version and nonce last sent, and
the version last ACKed. Rules followed (xDS "SotW" with ADS):

- a request whose ``response_nonce`` is not the last nonce sent for its type is stale: ignored;
- a request with ``error_detail`` is a NACK: logged, recorded in :class:`ProxyStatus`, and the
  proxy keeps its last good config (the rejected version is not resent);
- otherwise it ACKs ``version_info``; a response is sent when the snapshot has a newer version
  of that type or the subscribed names changed (EDS/RDS/SDS are requested by name);
- a response pushed for a new snapshot carries, for the types requested by name (EDS, RDS,
  SDS), only the resources whose bytes changed since the last response of that type: in
  SotW those responses are incremental (a resource left out is kept by the proxy, not
  removed; only CDS and LDS responses must hold every resource). A policy change that
  rewrites one route table then costs the proxy that table, not all of them. Everything
  requested is sent instead when the subscribed names changed, when the request asks again
  (cluster warming), when CDS or LDS went out before it in the same push (re-created clusters
  and listeners find everything), and after a NACK (what the proxy holds is then unknown).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from osm_mesh.xds.cache import (
    CLUSTER,
    ENDPOINT,
    PUSH_ORDER,
    SHORT_NAMES,
    WILDCARD_TYPES,
    Snapshot,
)
from osm_mesh.xds.identity import printable

log = logging.getLogger("osm_mesh.xds")


@dataclass(frozen=True)
class Nack:
    type_url: str
    version: str
    nonce: str
    message: str
    at: float


@dataclass
class ProxyStatus:
    """What one connected proxy has: snapshot version offered, per-type ACKed versions, NACKs."""

    node_id: str
    connected: bool = True
    connected_at: float = field(default_factory=time.time)
    snapshot_version: int = 0
    sent: dict[str, str] = field(default_factory=dict)
    acked: dict[str, str] = field(default_factory=dict)
    nacks: list[Nack] = field(default_factory=list)
    last_ack_at: float = 0.0

    def converged_to(self, snapshot: Snapshot | None) -> bool:
        """Every type with resources in ``snapshot`` is ACKed at that snapshot's version."""
        if snapshot is None or not self.connected:
            return False
        for type_url in PUSH_ORDER:
            if not snapshot.resources.get(type_url):
                continue
            if self.acked.get(type_url) != snapshot.type_versions[type_url]:
                return False
        return True


@dataclass
class _TypeState:
    names: frozenset[str] | None = None  # None = wildcard
    sent_version: str | None = None
    nonce: str = ""
    # The wire bytes by name of the snapshot type last sent (the snapshot's own dict, not a
    # copy): what the proxy holds for the names it subscribed to. None: unknown (nothing
    # sent yet, or a NACK since), so the next response carries everything requested.
    sent_wire: Mapping[str, bytes] | None = None


class StreamProtocol:
    """Protocol state of one ADS stream; produces responses, no I/O."""

    def __init__(self, status: ProxyStatus, *, nack_message_chars: int = 1024) -> None:
        self.status = status
        self._nack_message_chars = nack_message_chars
        # Everything logged about a proxy is said once per occurrence, not once per request:
        # a client repeating a request must not turn into a flood of log lines.
        self._logged_unsupported = False
        self._logged_nacks: dict[str, str] = {}  # type URL → version whose NACK was logged
        self.types: dict[str, _TypeState] = {}
        self.snapshot: Snapshot | None = None
        self._nonce = 0
        # Types whose next request must be answered even at an unchanged version: an updated
        # Cluster is re-created warming and waits for its endpoints (EDS), which Envoy asks
        # for again with the version it already has (xDS protocol, "cluster warming").
        self._owed: set[str] = set()

    def _respond(
        self, type_url: str, changed_only: bool = False
    ) -> discovery_pb2.DiscoveryResponse:
        """The response for ``type_url`` at the current snapshot; with ``changed_only`` (a
        type requested by name) only the resources whose bytes differ from the last sent."""
        assert self.snapshot is not None
        state = self.types[type_url]
        wire = self.snapshot.serialized.get(type_url, {})
        if state.names is None:
            names = sorted(wire)
        else:
            names = sorted(n for n in state.names if n in wire)
            held = state.sent_wire
            if changed_only and held is not None:
                names = [n for n in names if held.get(n) != wire[n]]
        resources = [any_pb2.Any(type_url=type_url, value=wire[n]) for n in names]
        state.sent_wire = wire
        self._owed.discard(type_url)
        if type_url == CLUSTER:
            self._owed.add(ENDPOINT)
        self._nonce += 1
        state.nonce = str(self._nonce)
        state.sent_version = self.snapshot.type_versions[type_url]
        self.status.sent[type_url] = state.sent_version
        return discovery_pb2.DiscoveryResponse(
            version_info=state.sent_version,
            resources=resources,
            type_url=type_url,
            nonce=state.nonce,
        )

    def on_request(
        self, req: discovery_pb2.DiscoveryRequest
    ) -> list[discovery_pb2.DiscoveryResponse]:
        type_url = req.type_url
        if type_url not in SHORT_NAMES:
            if not self._logged_unsupported:
                self._logged_unsupported = True
                log.warning("%s: unsupported type %s", self.status.node_id, printable(type_url))
            return []
        state = self.types.setdefault(type_url, _TypeState())
        if req.HasField("error_detail"):
            # Rejected: what the proxy holds is unknown, the next response carries everything.
            # A rejected response already superseded may have been followed by one carrying
            # only what changed after it: the next plain request is answered with everything.
            state.sent_wire = None
            stale = req.response_nonce and req.response_nonce != state.nonce
            if stale and type_url not in WILDCARD_TYPES:
                self._owed.add(type_url)
        if req.response_nonce and req.response_nonce != state.nonce:
            return []  # stale: answers a response that has been superseded
        if type_url in WILDCARD_TYPES and not req.resource_names:
            names = None
        else:
            names = frozenset(req.resource_names)
        names_changed = state.sent_version is None or names != state.names
        state.names = names
        if req.HasField("error_detail"):
            message = printable(req.error_detail.message, self._nack_message_chars)
            nack = Nack(type_url, state.sent_version or "", state.nonce, message, time.time())
            self.status.nacks.append(nack)
            del self.status.nacks[:-20]
            if self._logged_nacks.get(type_url) != nack.version:
                self._logged_nacks[type_url] = nack.version
                log.warning(
                    "%s rejected %s version %s: %s",
                    self.status.node_id,
                    SHORT_NAMES[type_url],
                    nack.version,
                    nack.message,
                )
            if not names_changed:
                return []
        elif req.response_nonce:
            # Bounded: versions sent are short; a longer claim is not ours anyway.
            self.status.acked[type_url] = req.version_info[:64]
            self.status.last_ack_at = time.time()
        if self.snapshot is None:
            return []
        owed = type_url in self._owed and not req.HasField("error_detail")
        if names_changed or owed or state.sent_version != self.snapshot.type_versions[type_url]:
            return [self._respond(type_url)]
        return []

    def on_snapshot(self, snapshot: Snapshot) -> list[discovery_pb2.DiscoveryResponse]:
        self.snapshot = snapshot
        self.status.snapshot_version = snapshot.version
        out = []
        # After CDS or LDS in this push, re-created clusters and listeners may subscribe
        # afresh: the types after them go out whole.
        whole = False
        for type_url in PUSH_ORDER:
            state = self.types.get(type_url)
            if state is None:
                continue  # not subscribed yet; its first request gets the answer
            if state.sent_version != snapshot.type_versions[type_url]:
                by_name = type_url not in WILDCARD_TYPES
                changed_only = by_name and not whole and type_url not in self._owed
                out.append(self._respond(type_url, changed_only))
                whole = whole or not by_name
        return out


def copy_status(status: ProxyStatus) -> ProxyStatus:
    return ProxyStatus(
        node_id=status.node_id,
        connected=status.connected,
        connected_at=status.connected_at,
        snapshot_version=status.snapshot_version,
        sent=dict(status.sent),
        acked=dict(status.acked),
        nacks=list(status.nacks),
        last_ack_at=status.last_ack_at,
    )
