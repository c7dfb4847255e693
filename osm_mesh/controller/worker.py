"""A daemon thread that does one pass of work after each change of the controller's catalog
(and, for work that falls due with time, when ``_next_pass_in()`` says)."""

from __future__ import annotations

import logging
import threading
from typing import Any, Self


class CatalogWorker:
    """``Worker(..., source).start()``; ``source`` is a ``KubeSource``.

    Subclasses name the thread and the work (for the log) and implement ``_run_pass``. A failed
    pass is logged and retried on the next catalog; once ``_halted()`` (e.g. RBAC forbids the
    work) the thread ends for good.
    """

    thread_name = "catalog-worker"
    work = "catalog work"
    logger = logging.getLogger("osm_mesh.controller")

    def __init__(self, source: Any) -> None:
        self.source = source
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unwatch: Any = None

    def start(self) -> Self:
        self._unwatch = self.source.watch(lambda _catalog: self._wake.set())
        self._wake.set()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._unwatch is not None:
            self._unwatch()
        if self._thread is not None:
            self._thread.join(5)

    def _halted(self) -> bool:
        return False

    def _next_pass_in(self) -> float | None:
        """Seconds until a pass is due without a catalog change (None: only on changes)."""
        return None

    def _run_pass(self) -> object:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._next_pass_in())
            self._wake.clear()
            if self._stop.is_set() or self._halted():
                return
            try:
                self._run_pass()
            except Exception as exc:  # the next catalog retries
                self.logger.warning("%s failed: %s", self.work, exc)
