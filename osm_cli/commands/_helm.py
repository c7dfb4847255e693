"""Shared by `osm install`, `osm mesh upgrade` and `osm uninstall mesh`: the chart options,
Go-style boolean flags, progress display, and building the Helm and Kubernetes clients.

Only printing and argument handling live here; the flows are in osm_mesh.helm.lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer import _click as click
from typer._click.exceptions import BadParameter
from typer.core import TyperCommand, TyperOption

if TYPE_CHECKING:
    from osm_cli.context import AppContext
    from osm_mesh.helm.client import HelmClient
    from osm_mesh.kube.readiness import WorkloadStatus

T = TypeVar("T")

ChartPathOption = Annotated[
    str | None,
    typer.Option("--osm-chart-path", help="Chart directory or .tgz instead of the bundled one"),
]
SetValuesOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Chart values: key=value[,key=value] (repeatable)"),
]
ValuesFilesOption = Annotated[
    list[str] | None,
    typer.Option("--values", "-f", help="YAML file of chart values (repeatable)"),
]
TimeoutOption = Annotated[
    str, typer.Option("--timeout", help="How long to wait for the control plane")
]

_TRUE = {"true", "t", "1", "yes"}
_FALSE = {"false", "f", "0", "no"}


class GoBoolCommand(TyperCommand):
    """Accept cobra's ``--flag=true|false`` spelling for boolean flags.

    Upstream documentation and scripts write ``--enforce-single-mesh=false``; click only knows
    ``--flag``/``--no-flag``. Rewriting before parsing keeps both working.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        flags: dict[str, tuple[str, str | None]] = {}
        for param in self.params:
            if isinstance(param, TyperOption) and param.is_bool_flag:
                for name in param.opts:
                    flags[name] = (name, param.secondary_opts[0] if param.secondary_opts else None)
        rewritten: list[str] = []
        for index, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[index:])
                break
            name, sep, value = arg.partition("=")
            if sep and name in flags:
                positive, negative = flags[name]
                lowered = value.lower()
                if lowered in _TRUE:
                    rewritten.append(positive)
                    continue
                if lowered in _FALSE:
                    if negative:
                        rewritten.append(negative)
                    continue
                raise BadParameter(f"invalid boolean {value!r} for {name} (use true or false)")
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


class PlainProgress:
    """Lines for logs and pipes: each step, and each component when its state changes."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self._seen: dict[str, str] = {}

    def step(self, text: str) -> None:
        self.app.info(text)

    def workloads(self, statuses: list[WorkloadStatus]) -> None:
        for status in statuses:
            text = "ready" if status.is_ready else status.describe()
            if self._seen.get(status.name) != text:
                self._seen[status.name] = text
                self.app.info(f"  {status.name}: {text}")

    def close(self) -> None:
        pass


class LiveProgress(PlainProgress):
    """On a terminal: one line per component, redrawn until all are Ready."""

    def __init__(self, app: AppContext) -> None:
        super().__init__(app)
        self._live: Any = None

    def workloads(self, statuses: list[WorkloadStatus]) -> None:
        from rich.live import Live
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        for status in statuses:
            mark = "[green]✔[/green]" if status.is_ready else "[yellow]…[/yellow]"
            table.add_row(mark, status.name, status.describe())
        if self._live is None:
            self._live = Live(table, console=self.app.console, transient=False, auto_refresh=False)
            self._live.start()
        self._live.update(table, refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def progress_for(app: AppContext) -> PlainProgress:
    return LiveProgress(app) if app.env.stderr_is_tty else PlainProgress(app)


def run_with_progress(
    app: AppContext, flow: Callable[[PlainProgress], Coroutine[Any, Any, T]]
) -> T:
    """Run one lifecycle flow (given the progress display) to completion, then close the display."""
    import asyncio

    progress = progress_for(app)
    try:
        return asyncio.run(flow(progress))
    finally:
        progress.close()


def helm_client(app: AppContext, *, offline: bool = False) -> HelmClient:
    """Helm with the CLI's kubeconfig/context (none for offline rendering)."""
    from osm_mesh.helm.client import HelmClient

    settings = app.settings
    _log_helm_commands(app)
    return HelmClient(
        kubeconfig=None if offline else settings.kubeconfig,
        context=None if offline else settings.context,
        environ=app.env.environ,
    )


def _log_helm_commands(app: AppContext) -> None:
    """--verbose: pyhelm3's "running command: helm ..." lines as [debug] lines (and, without
    it, no handler left over from an earlier invocation in the same process)."""
    import logging

    class ToDebug(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            app.debug(record.getMessage())

    logger = logging.getLogger("pyhelm3")
    logger.setLevel(logging.INFO)
    # One invocation's handler at a time (tests run many invocations in one process).
    for old in [h for h in logger.handlers if getattr(h, "osm_verbose", False)]:
        logger.removeHandler(old)
    if not app.settings.verbose:
        return
    handler = ToDebug()
    handler.osm_verbose = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
