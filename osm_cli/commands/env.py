"""`osm env`: the CLI's install settings, as YAML (upstream format)."""

from __future__ import annotations

import typer

from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, dumps

app = typer.Typer(add_completion=False)


@app.command(help="Print the osm CLI's environment (kind, distribution, control-plane namespace).")
def env(ctx: typer.Context, output: OutputOption = OutputFormat.yaml) -> None:
    app_ctx = app_context(ctx)
    data = {
        "install": {
            "kind": "self-hosted",
            "distribution": "osm-cli (python)",
            "namespace": app_ctx.settings.osm_namespace,
        }
    }
    fmt = OutputFormat.yaml if output is OutputFormat.table else output
    app_ctx.out(dumps(data, fmt))
