"""`osm uninstall mesh` (group aliases `delete`, `del`, as upstream)."""

import typer

from osm_cli.commands._helm import GoBoolCommand
from osm_cli.commands.uninstall.mesh import uninstall_mesh

app = typer.Typer(help="Uninstall osm", no_args_is_help=True, add_completion=False)


@app.callback()
def uninstall() -> None:
    """Uninstall osm."""
    # A callback keeps `uninstall` a group (`osm uninstall mesh`), as upstream, even though
    # it has one sub-command.


app.command(
    "mesh",
    cls=GoBoolCommand,
    help="Uninstall a mesh's control plane (and with -a its cluster-wide resources)",
)(uninstall_mesh)
