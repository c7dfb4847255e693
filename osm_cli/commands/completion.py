"""`osm completion bash|zsh|fish|powershell`: print a shell completion script.

The root app has Typer's ``--install-completion`` switched off (it would add options to
every help page and import shell detection at start-up); this command prints the same
script Typer would install. The script calls ``osm`` back with ``_OSM_COMPLETE`` set,
which the root command answers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from osm_cli.context import app_context

PROG_NAME = "osm"
COMPLETE_VAR = "_OSM_COMPLETE"

app = typer.Typer(add_completion=False)


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


HELP = "\n\n".join(
    [
        "Print a shell completion script for osm.",
        "bash: `source <(osm completion bash)`, or save it under /etc/bash_completion.d/osm.",
        'zsh: `osm completion zsh > "${fpath[1]}/_osm"` and restart the shell.',
        "fish: `osm completion fish > ~/.config/fish/completions/osm.fish`.",
    ]
)


@app.command()
def completion(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(help="The shell to complete for")],
) -> None:
    from typer._completion_shared import get_completion_script

    script = get_completion_script(
        prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell.value
    )
    app_context(ctx).out(script)


completion.__doc__ = HELP
