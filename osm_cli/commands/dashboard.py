"""`osm dashboard`: port-forward Grafana (or Prometheus, Jaeger) and open it in a browser."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from typer import _click as click
from typer.core import TyperCommand

from osm_cli.context import app_context

TRUE_WORDS = ("true", "t", "1", "yes")
FALSE_WORDS = ("false", "f", "0", "no")


class CobraBoolFlags(TyperCommand):
    """Accept the Go CLI's ``-b=false`` / ``--open-browser=false`` spelling of a bool flag.

    click flags take no value; cobra's do. The value form is rewritten to the
    ``--open-browser`` / ``--no-open-browser`` pair before parsing.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten = []
        for arg in args:
            name, sep, value = arg.partition("=")
            if sep and name in ("-b", "--open-browser"):
                word = value.lower()
                if word not in TRUE_WORDS + FALSE_WORDS:
                    raise click.exceptions.BadParameter(
                        f"{value!r} is not a boolean (use true or false)", param_hint=name
                    )
                arg = "--open-browser" if word in TRUE_WORDS else "--no-open-browser"
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


class Service(StrEnum):
    grafana = "grafana"
    prometheus = "prometheus"
    jaeger = "jaeger"


app = typer.Typer(add_completion=False)

HELP = """Port-forward to a running Grafana (or Prometheus, Jaeger) in the OSM namespace and open
it in a browser. Forwarding lasts until Ctrl-C. Without a display the URL is printed instead."""


@app.command(cls=CobraBoolFlags, help=HELP)
def dashboard(
    ctx: typer.Context,
    local_port: Annotated[
        int | None,
        typer.Option(
            "--local-port",
            "-p",
            help="Local port (0 picks a free one) [default: 3000 Grafana, 7070 Prometheus, "
            "16686 Jaeger]",
            show_default=False,
        ),
    ] = None,
    remote_port: Annotated[
        int | None,
        typer.Option(
            "--remote-port",
            "-r",
            help="Port on the pod [default: the add-on's port]",
            show_default=False,
        ),
    ] = None,
    open_browser: Annotated[
        bool,
        typer.Option(
            "--open-browser/--no-open-browser",
            "-b",
            help="Open a browser once the service answers (-b=false to only print the URL)",
        ),
    ] = True,
    address: Annotated[
        str, typer.Option("--address", help="Local address to listen on (0.0.0.0 for all)")
    ] = "127.0.0.1",
    service: Annotated[
        Service, typer.Option("--service", help="Which add-on to open", case_sensitive=False)
    ] = Service.grafana,
    wait: Annotated[
        float,
        typer.Option("--wait", help="Seconds to wait for the service to answer", min=1),
    ] = 60.0,
) -> None:
    import signal
    import threading

    from osm_mesh.dashboard import default_browser_opener, run_dashboard
    from osm_mesh.errors import Interrupted

    app_ctx = app_context(ctx)
    browser = default_browser_opener(app_ctx.env.environ) if open_browser else None
    if open_browser and browser is None:
        app_ctx.debug("no display found: printing the URL instead of opening a browser")

    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (kill, a closing terminal) ends the forward cleanly, like Ctrl-C.
        def on_term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        run_dashboard(
            app_ctx.kube,
            app_ctx.settings.osm_namespace,
            service=service.value,
            local_port=local_port,
            remote_port=remote_port,
            address=address,
            open_browser=open_browser,
            browser=browser,
            report=app_ctx.info,
            ready_timeout=wait,
        )
    except (KeyboardInterrupt, Interrupted):  # Interrupted: osm's stop signals (osm_cli.signals)
        app_ctx.info("[+] Interrupted, closing")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
