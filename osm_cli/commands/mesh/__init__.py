"""`osm mesh list|upgrade`."""

import typer

from osm_cli.commands._helm import GoBoolCommand
from osm_cli.commands.mesh.list import mesh_list
from osm_cli.commands.mesh.upgrade import mesh_upgrade

app = typer.Typer(help="Manage osm meshes (list, upgrade)", no_args_is_help=True)
app.command("list", help="List the control planes (meshes) in the cluster")(mesh_list)
app.command(
    "upgrade",
    cls=GoBoolCommand,  # accepts Go-style --atomic=false like the other Helm commands
    help="Upgrade a mesh's control plane in place (Helm upgrade)",
)(mesh_upgrade)
