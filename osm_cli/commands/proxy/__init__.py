"""`osm proxy get`: query a meshed pod's Envoy admin interface."""

import typer

from osm_cli.commands.proxy.get import EXAMPLES, proxy_get

app = typer.Typer(
    help="Query an Envoy sidecar's admin interface", no_args_is_help=True, add_completion=False
)
app.command(
    "get", help="Get the answer to an Envoy admin QUERY from a meshed POD", epilog=EXAMPLES
)(proxy_get)


@app.callback()
def proxy() -> None:
    """Query an Envoy sidecar's admin interface."""
