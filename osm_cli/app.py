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
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer import _click as click
from typer.core import TyperCommand, TyperGroup

from osm_cli.context import AppContext, Environment, Settings


@dataclass(frozen=True)
class LazyCommand:
    module: str
    short_help: str
    aliases: tuple[str, ...] = ()


# name -> where the command lives. Short help is repeated here so the root help
# page can be drawn without importing any command module.
COMMANDS: dict[str, LazyCommand] = {
    "install": LazyCommand("osm_cli.commands.install", "Install the osm control plane"),
    "uninstall": LazyCommand(
        "osm_cli.commands.uninstall", "Uninstall osm", aliases=("delete", "del")
    ),
    "namespace": LazyCommand(
        "osm_cli.commands.namespace", "Manage namespaces enlisted in the mesh", aliases=("ns",)
    ),
    "mesh": LazyCommand("osm_cli.commands.mesh", "Manage osm meshes (list, upgrade)"),
    "metrics": LazyCommand("osm_cli.commands.metrics", "Manage metrics of namespaces"),
    "dashboard": LazyCommand(
        "osm_cli.commands.dashboard", "Port-forward Grafana (or Prometheus, Jaeger) and open it"
    ),
    "proxy": LazyCommand("osm_cli.commands.proxy", "Query an Envoy sidecar's admin interface"),
    "policy": LazyCommand(
        "osm_cli.commands.policy", "Check, lint and analyze SMI traffic policies"
    ),
    "support": LazyCommand("osm_cli.commands.support", "Collect a bug report"),
    "version": LazyCommand("osm_cli.commands.version", "Print client and control-plane versions"),
    "env": LazyCommand("osm_cli.commands.env", "Print the osm CLI's environment"),
    "completion": LazyCommand("osm_cli.commands.completion", "Print a shell completion script"),
    "demo": LazyCommand("osm_cli.commands.demo", "Run the article's walkthrough on a local mesh"),
    "local": LazyCommand("osm_cli.commands.local", "Run a mesh from manifests on this machine"),
}
ALIASES = {alias: name for name, spec in COMMANDS.items() for alias in spec.aliases}

VALUE_OPTIONS = ("--osm-namespace", "--kubeconfig", "--context")
FLAG_OPTIONS = ("--verbose", "--debug")


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
    return command


app = typer.Typer(
    cls=LazyGroup,
    name="osm",
    help="osm: install and manage an SMI service mesh (Open Service Mesh compatible).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    osm_namespace: Annotated[
        str | None,
        typer.Option(
            "--osm-namespace",
            help="Namespace of the osm control plane "
            "[default: OSM_CONFIG install.namespace, else osm-system]",
            show_default=False,
        ),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option("--kubeconfig", help="Path to the kubeconfig file [default: $KUBECONFIG]"),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="Kubeconfig context to use")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Print debug lines")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks on errors (implies --verbose)")
    ] = False,
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
