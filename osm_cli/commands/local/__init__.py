"""`osm local run`: run a mesh from Kubernetes manifests on this machine."""

import typer

from osm_cli.commands.local.run import local_run

app = typer.Typer(
    help="Run a mesh from manifests on this machine", no_args_is_help=True, add_completion=False
)


@app.callback()
def local() -> None:
    """Run a mesh from Kubernetes manifests on this machine (no cluster needed)."""


app.command("run")(local_run)
