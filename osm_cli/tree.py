"""The shape of the root command, as plain data: no Typer, no click.

``osm_cli.app`` builds the Typer root from it, and ``osm_cli.roothelp`` draws ``osm --help``
from it without loading Typer at all (start-up, issue 13). Change a root option or a
command's one-line help here, and both follow; ``tests/cli/test_root_help.py`` checks that
the two pages stay byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT_HELP = "osm: install and manage an SMI service mesh (Open Service Mesh compatible)."
HELP_OPTION_NAMES = ("-h", "--help")


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
    "proxy": LazyCommand(
        "osm_cli.commands.proxy", "Query Envoy sidecars: admin interface, sync status"
    ),
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


@dataclass(frozen=True)
class RootOption:
    """A persistent option of the root command; ``metavar`` None means a flag."""

    name: str
    help: str
    metavar: str | None = None


ROOT_OPTIONS: dict[str, RootOption] = {
    o.name: o
    for o in (
        RootOption(
            "--osm-namespace",
            "Namespace of the osm control plane "
            "[default: OSM_CONFIG install.namespace, else osm-system]",
            "NAMESPACE",
        ),
        RootOption("--kubeconfig", "Path to the kubeconfig file [default: $KUBECONFIG]", "PATH"),
        RootOption("--context", "Kubeconfig context to use", "CONTEXT"),
        RootOption("--verbose", "Print debug lines"),
        RootOption("--debug", "Show tracebacks on errors (implies --verbose)"),
    )
}
VALUE_OPTIONS = tuple(o.name for o in ROOT_OPTIONS.values() if o.metavar is not None)
FLAG_OPTIONS = tuple(o.name for o in ROOT_OPTIONS.values() if o.metavar is None)
