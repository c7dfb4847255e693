"""`osm policy check-pods|lint|analyze`."""

import typer

from osm_cli.commands.policy.analyze import analyze
from osm_cli.commands.policy.check_pods import check_pods
from osm_cli.commands.policy.lint import lint

app = typer.Typer(
    help="Check and lint SMI traffic policies", no_args_is_help=True, add_completion=False
)
# The commands' docstrings are their help pages (first line = the short help).
app.command("check-pods")(check_pods)
app.command("lint")(lint)
app.command("analyze")(analyze)
