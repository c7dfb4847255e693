"""What the local-mesh commands show: the pods table, progress, the demo's live view."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from osm_cli.output import Table

if TYPE_CHECKING:
    from osm_cli.context import AppContext


def pods_table(state: dict[str, Any]) -> Table:
    rows = [
        [f"{p['namespace']}/{p['name']}", p["serviceAccount"], p["url"], p["envoyAdmin"]]
        for p in state["pods"]
    ]
    return Table(["POD", "SERVICE ACCOUNT", "APP", "ENVOY ADMIN"], rows)


def wait_until_interrupted(app_ctx: AppContext, meshes: Sequence[Any]) -> None:
    """Block until a stop signal (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT), then raise
    ``Interrupted`` (the callers stop the meshes on the way out); raise if a process dies.

    Signals are only recorded while polling (``osm_cli.signals.deferred``).
    """
    from osm_cli.signals import deferred
    from osm_mesh.errors import Interrupted

    with deferred() as received:
        app_ctx.info("Running; press Ctrl-C to stop.")
        while received() is None:
            for mesh in meshes:
                mesh.check()
            time.sleep(0.1)
        signum = received()
    assert signum is not None
    raise Interrupted(signum)


class LineObserver:
    """Progress as plain lines on stderr (not a terminal, or -o json/yaml in a pipe)."""

    def __init__(self, app_ctx: AppContext) -> None:
        self.app_ctx = app_ctx

    def phase(self, text: str) -> None:
        self.app_ctx.info(text)

    def step(self, step: Any) -> None:
        verdict = "allowed" if step.allowed else "denied"
        self.app_ctx.info(f"  {step.name}: {verdict} (HTTP {step.status}) - {step.description}")

    def canary(self, live: Any) -> None:
        pass


class LiveObserver(LineObserver):
    """A rich Live table of the canary, from the frontend sidecar's Envoy stats."""

    def __init__(self, app_ctx: AppContext) -> None:
        super().__init__(app_ctx)
        self.live: Any = None

    def phase(self, text: str) -> None:
        self.close()  # a finished canary table stays on screen above what follows
        self.app_ctx.console.print(f"[bold]{text}[/bold]")

    def step(self, step: Any) -> None:
        mark = "[green]allowed[/green]" if step.allowed else "[red]denied[/red]"
        self.app_ctx.console.print(f"  {step.name}: {mark} (HTTP {step.status}) {step.description}")

    def canary(self, live: Any) -> None:
        from rich.live import Live

        if self.live is None:
            self.live = Live(console=self.app_ctx.console, refresh_per_second=8, transient=False)
            self.live.start()
        self.live.update(self._render(live))

    def _render(self, live: Any) -> Any:
        from rich.table import Table as RichTable

        table = RichTable(title=f"canary: {live.sent}/{live.total} requests, errors {live.errors}")
        for header in ("backend", "answers", "share", "envoy rq", "success", "p50", "p90"):
            table.add_column(header, justify="left" if header == "backend" else "right")
        sent = max(1, live.sent - live.errors)
        for backend, count in live.backends.items():
            s = live.upstreams.get(backend)
            rate = s.success_rate if s else None
            table.add_row(
                backend,
                str(count),
                f"{100 * count / sent:.0f}%",
                str(s.requests) if s else "-",
                "-" if rate is None else f"{100 * rate:.0f}%",
                _ms(s.p50_ms if s else None),
                _ms(s.p90_ms if s else None),
            )
        return table

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    # Envoy measures whole milliseconds: 0 means under one.
    return "<1ms" if value == 0 else f"{value:.1f}ms"


@contextlib.contextmanager
def make_observer(app_ctx: AppContext) -> Iterator[LineObserver]:
    observer = LiveObserver(app_ctx) if app_ctx.env.stderr_is_tty else LineObserver(app_ctx)
    started = time.monotonic()
    try:
        yield observer
    finally:
        if isinstance(observer, LiveObserver):
            observer.close()
        app_ctx.debug(f"demo took {time.monotonic() - started:.1f}s")
