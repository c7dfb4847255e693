"""`osm proxy get|status`: a sidecar's admin interface; every proxy's sync state."""

import typer

from osm_cli.commands.proxy.get import EXAMPLES, proxy_get
from osm_cli.commands.proxy.status import proxy_status

app = typer.Typer(
    help="Query Envoy sidecars: admin interface, sync status",
    no_args_is_help=True,
    add_completion=False,
)
app.command(
    "get", help="Get the answer to an Envoy admin QUERY from a meshed POD", epilog=EXAMPLES
)(proxy_get)
app.command("status")(proxy_status)


@app.callback()
def proxy() -> None:
    """Query Envoy sidecars: one sidecar's admin interface, every proxy's sync status."""
