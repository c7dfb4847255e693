"""Per-proxy state has the lifetime of the proxy, plus a short grace period.

When a proxy's stream ends, the server keeps its status and snapshot for ``grace`` seconds, so
a proxy that reconnects at once (a network blip, a controller-side replacement) finds them.
After that, or at once when the proxy's pod leaves the catalog (``AdsServer.forget``),
everything kept for it goes: status, snapshot, and whatever the control plane keeps
(``on_depart``). Without this a mesh whose pods churn grows the controller with every pod
that ever lived (1,000 departed proxies kept 235 MiB).

Timers run on the ADS server's event loop: one ``call_later`` handle per departing proxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

DEFAULT_GRACE_SECONDS = 30.0


class Departures:
    """Node ids whose stream ended, each forgotten ``grace`` seconds later unless it is back.
    Used on the event-loop thread only."""

    def __init__(self, grace: float, forget: Callable[[str], None]) -> None:
        self.grace = grace
        self._forget = forget
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def start(self, loop: asyncio.AbstractEventLoop, node_id: str) -> None:
        self.cancel(node_id)
        self._timers[node_id] = loop.call_later(self.grace, self._expire, node_id)

    def cancel(self, node_id: str) -> bool:
        """Stop the clock of a proxy that is back; False when none was running."""
        timer = self._timers.pop(node_id, None)
        if timer is None:
            return False
        timer.cancel()
        return True

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _expire(self, node_id: str) -> None:
        self._timers.pop(node_id, None)
        self._forget(node_id)

    def __len__(self) -> int:
        return len(self._timers)
