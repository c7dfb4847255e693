"""`osm policy check-pods|lint`."""

import typer

from osm_cli.commands.policy.check_pods import check_pods
from osm_cli.commands.policy.lint import lint

app = typer.Typer(
    help="Check and lint SMI traffic policies", no_args_is_help=True, add_completion=False
)
app.command("check-pods", help="Check if two pods may communicate, and on which routes")(check_pods)
app.command("lint", help="Check SMI policy manifests offline (no cluster needed)")(lint)
