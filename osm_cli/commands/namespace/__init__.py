"""`osm namespace add|remove|list|ignore` (alias `osm ns`)."""

import typer

from osm_cli.commands.namespace.add import namespace_add
from osm_cli.commands.namespace.ignore import namespace_ignore
from osm_cli.commands.namespace.list import namespace_list
from osm_cli.commands.namespace.remove import namespace_remove

app = typer.Typer(
    help="Manage namespaces enlisted in the mesh", no_args_is_help=True, add_completion=False
)
app.command("add")(namespace_add)
app.command("remove")(namespace_remove)
app.command("list")(namespace_list)
app.command("ignore")(namespace_ignore)
