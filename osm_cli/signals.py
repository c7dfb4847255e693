"""Stop signals: Ctrl-C, SIGTERM, SIGHUP and SIGQUIT all end a command the same way.

``install()`` (the console script calls it first thing) makes each of them raise
``osm_mesh.errors.Interrupted`` in the main thread, so whatever runs — a local mesh starting
up included — unwinds through its clean-up, and ``run_guarded`` prints one line and exits
``128 + signum``. Only the first signal counts: later ones are ignored so they cannot cut
the clean-up short. ``deferred()`` records signals instead of raising them, for loops that
poll (raising inside a threading wait can leave its lock broken, seen here).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class _State:
    received: int | None = None
    deferred = False


def _handler(signum: int, _frame: Any) -> None:
    if _State.received is not None:
        return  # already stopping
    _State.received = signum
    if not _State.deferred:
        from osm_mesh.errors import Interrupted

        raise Interrupted(signum)


def install() -> None:
    """Route the stop signals to ``Interrupted`` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    _State.received = None
    for sig in STOP_SIGNALS:
        signal.signal(sig, _handler)


@contextlib.contextmanager
def deferred() -> Iterator[Callable[[], int | None]]:
    """Inside, a stop signal is only recorded; the yielded function returns it (or None)."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, _handler)
    _State.received = None
    _State.deferred = True
    try:
        yield lambda: _State.received
    finally:
        _State.deferred = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
