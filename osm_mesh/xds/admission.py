"""Which ADS streams are let in, and the books that make the limits hold.

:class:`StreamLedger` counts streams per client certificate (as they open, before anything is
read), per ServiceAccount identity and per node id (a new stream of a node replaces the old
one), and remembers the newest refused streams, shortened. The limits are
:class:`~osm_mesh.xds.stream.AdsLimits`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque

from osm_mesh.xds.identity import NodeId, printable
from osm_mesh.xds.stream import AdsLimits, Inbox

log = logging.getLogger("osm_mesh.xds")

REPLACED = "replaced by a newer stream of the same node"


class StreamLedger:
    """Thread-safe counts of the live streams, and the log of refused ones."""

    def __init__(self, limits: AdsLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        # (node id, reason) of the newest refused streams, both shortened: never unbounded.
        self.rejected: deque[tuple[str, str]] = deque(maxlen=limits.rejected_log)
        self._streams: dict[str, Inbox] = {}  # node id → its live stream
        self._per_identity: dict[tuple[str, str], int] = {}  # (namespace, sa) → live streams
        self._per_certificate: dict[str, int] = {}  # client certificate digest → streams

    def refuse(self, node_id: str, reason: str) -> str:
        """Remember (bounded, shortened) and log a refused stream; returns the reason."""
        shown, why = printable(node_id), printable(reason, 400)
        log.warning("refused ADS stream from %s: %s", shown, why)
        with self._lock:
            self.rejected.append((shown, why))
        return reason

    def hold_certificate(self, pems: list[bytes] | None) -> str | None:
        """Count a stream against its client certificate: its key ("" without one), or None
        when the certificate is at its limit (the stream is then refused unread)."""
        if not pems:
            return ""
        key = hashlib.sha256(pems[0]).hexdigest()
        with self._lock:
            count = self._per_certificate.get(key, 0)
            if count >= self.limits.max_streams_per_certificate:
                return None
            self._per_certificate[key] = count + 1
        return key

    def drop_certificate(self, key: str) -> None:
        with self._lock:
            count = self._per_certificate.pop(key, 0) - 1
            if count > 0:
                self._per_certificate[key] = count

    def admit(self, node: NodeId, node_id: str, inbox: Inbox) -> str | None:
        """Register a stream for ``node``: None, or why it is refused (identity at its limit).
        An older stream of the same node id is closed: the newest one wins."""
        identity = (node.namespace, node.service_account)
        with self._lock:
            older = self._streams.get(node_id)
            count = self._per_identity.get(identity, 0) - (1 if older is not None else 0)
            if count >= self.limits.max_streams_per_identity:
                return (
                    f"{self.limits.max_streams_per_identity} streams are open for "
                    f"{node.namespace}/{node.service_account} already"
                )
            if older is not None:
                older.close(REPLACED)
                self._per_identity[identity] -= 1
            self._streams[node_id] = inbox
            self._per_identity[identity] = self._per_identity.get(identity, 0) + 1
        return None

    def release(self, node: NodeId, node_id: str, inbox: Inbox) -> None:
        identity = (node.namespace, node.service_account)
        with self._lock:
            if self._streams.get(node_id) is inbox:
                del self._streams[node_id]
                self._per_identity[identity] -= 1
                if not self._per_identity[identity]:
                    del self._per_identity[identity]

    def stream(self, node_id: str) -> Inbox | None:
        with self._lock:
            return self._streams.get(node_id)

    def backlog(self) -> dict[str, tuple[int, int]]:
        with self._lock:
            return {k: (v.read, v.high_water) for k, v in self._streams.items()}

    def sizes(self) -> dict[str, int]:
        with self._lock:
            return {
                "streams": len(self._streams),
                "identities": len(self._per_identity),
                "certificates_streams": len(self._per_certificate),
            }
