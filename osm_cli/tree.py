"""The shape of the root command, as plain data: no Typer, no click.

``osm_cli.app`` builds the Typer root from it, and ``osm_cli.roothelp`` draws ``osm --help``
from it without loading Typer at all (start-up, issue 13). Change a root option or a
command's one-line help here, and both follow; ``tests/cli/test_root_help.py`` checks that
the two pages stay byte-identical.
"""

from __future__ import annotations

# Plain classes, not dataclasses: `osm --help` imports this module, and dataclasses (with the
# inspect, re and enum modules it pulls in) would cost more than drawing the page.

ROOT_HELP = "osm: install and manage an SMI service mesh (Open Service Mesh compatible)."
HELP_OPTION_NAMES = ("-h", "--help")


class LazyCommand:
    """Where a command lives (imported on first use) and its one-line help."""

    __slots__ = ("aliases", "module", "short_help")

    def __init__(self, module: str, short_help: str, aliases: tuple[str, ...] = ()) -> None:
        self.module = module
        self.short_help = short_help
        self.aliases = aliases


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
    "stat": LazyCommand(
        "osm_cli.commands.stat", "Success rate, requests/s and latency per workload"
    ),
    "support": LazyCommand("osm_cli.commands.support", "Collect a bug report"),
    "version": LazyCommand("osm_cli.commands.version", "Print client and control-plane versions"),
    "env": LazyCommand("osm_cli.commands.env", "Print the osm CLI's environment"),
    "completion": LazyCommand("osm_cli.commands.completion", "Print a shell completion script"),
    "check": LazyCommand(
        "osm_cli.commands.check", "Check the cluster, the control plane and the sidecars"
    ),
    "demo": LazyCommand("osm_cli.commands.demo", "Run the article's walkthrough on a local mesh"),
    "local": LazyCommand("osm_cli.commands.local", "Run a mesh from manifests on this machine"),
}
ALIASES = {alias: name for name, spec in COMMANDS.items() for alias in spec.aliases}


class RootOption:
    """A persistent option of the root command; ``metavar`` None means a flag."""

    __slots__ = ("help", "metavar", "name")

    def __init__(self, name: str, help: str, metavar: str | None = None) -> None:
        self.name = name
        self.help = help
        self.metavar = metavar


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
