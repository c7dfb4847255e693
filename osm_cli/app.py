"""The root `osm` command.

Sub-commands are registered by module path and imported only when invoked, so
`osm --help` and `osm version --client-only` never import kubernetes, pyhelm3,
grpc or the other heavy modules (measured by ``make bench``).

Global options (``--osm-namespace``, ``--kubeconfig``, ``--context``,
``--verbose``, ``--debug``) are persistent as in the Go CLI: they are accepted
before or after the sub-command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer import _click as click
from typer.core import TyperCommand, TyperGroup

from osm_cli.context import AppContext, Environment, Settings
from osm_cli.help import plain_help
from osm_cli.tree import (
    ALIASES,
    COMMANDS,
    FLAG_OPTIONS,
    HELP_OPTION_NAMES,
    ROOT_HELP,
    ROOT_OPTIONS,
    VALUE_OPTIONS,
    LazyCommand,
)

__all__ = ["COMMANDS", "LazyCommand", "app", "hoist_global_options", "main"]


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands are imported on first use."""

    _drawing_help = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = ALIASES.get(cmd_name, cmd_name)
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        if self._drawing_help:
            # The root help page only needs the name and one line.
            return TyperCommand(name, short_help=spec.short_help, help=spec.short_help)
        if ctx.resilient_parsing:
            # Shell completion lists every command: one that cannot load must not break
            # completion of the others.
            try:
                return load_command(name, spec)
            except ImportError:
                return TyperCommand(name, short_help=spec.short_help, help=spec.short_help)
        return load_command(name, spec)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        LazyGroup._drawing_help = True
        try:
            super().format_help(ctx, formatter)
        finally:
            LazyGroup._drawing_help = False


def load_command(name: str, spec: LazyCommand) -> click.Command:
    import importlib

    module = importlib.import_module(spec.module)
    command = typer.main.get_command(module.app)
    command.name = name
    if not command.help:
        command.help = spec.short_help
    plain_help(command)
    return command


app = typer.Typer(
    cls=LazyGroup,
    name="osm",
    help=ROOT_HELP,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": list(HELP_OPTION_NAMES)},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _root_option(name: str) -> Any:
    spec = ROOT_OPTIONS[name]
    return typer.Option(name, help=spec.help, metavar=spec.metavar, show_default=False)


@app.callback()
def root(
    ctx: typer.Context,
    osm_namespace: Annotated[str | None, _root_option("--osm-namespace")] = None,
    kubeconfig: Annotated[str | None, _root_option("--kubeconfig")] = None,
    context: Annotated[str | None, _root_option("--context")] = None,
    verbose: Annotated[bool, _root_option("--verbose")] = False,
    debug: Annotated[bool, _root_option("--debug")] = False,
) -> None:
    """osm: install and manage an SMI service mesh (Open Service Mesh compatible)."""
    env: Environment = ctx.obj if isinstance(ctx.obj, Environment) else Environment()
    settings = Settings.resolve(
        osm_namespace=osm_namespace,
        kubeconfig=kubeconfig,
        context=context,
        verbose=verbose or debug,
        debug=debug,
        environ=env.environ,
    )
    ctx.obj = AppContext(env=env, settings=settings)


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move persistent options found after the sub-command to the front.

    The Go CLI's flags are persistent (``osm namespace list --osm-namespace x``);
    click only reads them before the sub-command, so they are moved there.
    Nothing after a literal ``--`` is touched.
    """
    hoisted: list[str] = []
    rest: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in VALUE_OPTIONS:
            if "=" in arg:
                hoisted.append(arg)
            else:
                hoisted.extend(args[i : i + 2])
                i += 1
        elif arg in FLAG_OPTIONS:
            hoisted.append(arg)
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run `osm` and return its exit code (tests call this with a fake Environment)."""
    from osm_cli.errors import run_guarded

    env = env or Environment()
    args = hoist_global_options(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if "_OSM_COMPLETE" in os.environ:
        # A shell asks for completions (scripts from `osm completion`): register Typer's
        # completion classes, which add_completion=False leaves out.
        from typer._completion_classes import completion_init

        completion_init()
    command = typer.main.get_command(app)

    def invoke() -> Any:
        return command.main(args=args, prog_name="osm", standalone_mode=False, obj=env)

    code = run_guarded(invoke, env=env, debug=debug)
    if argv is None:
        sys.exit(code)
    return code
