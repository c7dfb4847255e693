"""`osm support bug-report`."""

import typer

from osm_cli.commands.support.bug_report import EPILOG, bug_report

app = typer.Typer(
    help="Support tools: collect a bug report", no_args_is_help=True, add_completion=False
)
app.command("bug-report", help="Generate a bug report archive (tar.gz)", epilog=EPILOG)(bug_report)


@app.callback()
def support() -> None:
    """Support tools: collect a bug report."""
