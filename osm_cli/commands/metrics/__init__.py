"""`osm metrics enable|disable --namespace NS...`."""

from __future__ import annotations

from typing import Annotated

import typer

from osm_cli.context import app_context

app = typer.Typer(help="Manage metrics of namespaces", no_args_is_help=True, add_completion=False)

NamespacesOption = Annotated[
    list[str],
    typer.Option(
        "--namespace",
        help="Namespace (repeatable, or comma-separated) that must be in a mesh",
        show_default=False,
    ),
]


def _run(ctx: typer.Context, namespaces: list[str], enabled: bool) -> None:
    from typer._click.exceptions import UsageError

    from osm_mesh.kube.metrics import set_metrics, split_namespaces
    from osm_mesh.validation import require_namespace_name

    names = split_namespaces(namespaces)
    if not names:
        raise UsageError("Missing option '--namespace'", ctx=ctx)
    for name in names:
        require_namespace_name(name)
    app_ctx = app_context(ctx)
    for outcome in set_metrics(app_ctx.kube, names, enabled):
        app_ctx.out(outcome.message)
        app_ctx.debug(f"annotated pods in [{outcome.namespace}]: {', '.join(outcome.pods) or '-'}")


@app.command("enable")
def metrics_enable(ctx: typer.Context, namespace: NamespacesOption) -> None:
    """Enable Prometheus scraping of the sidecars in the given namespaces.

    New pods there are annotated by the injector; pods that already have a sidecar are
    annotated now. This does not deploy Prometheus itself.
    """
    _run(ctx, namespace, enabled=True)


@app.command("disable")
def metrics_disable(ctx: typer.Context, namespace: NamespacesOption) -> None:
    """Disable Prometheus scraping of the sidecars in the given namespaces."""
    _run(ctx, namespace, enabled=False)
