"""`osm namespace add NS...`."""

from __future__ import annotations

from typing import Annotated

import typer
from typer._click.exceptions import UsageError

from osm_cli.context import app_context

# One paragraph per string: the help renderer keeps single line breaks as they are.
HELP = "\n\n".join(
    [
        "Add namespaces to the mesh and enable automatic sidecar injection there.",
        "The osm control plane named by --mesh-name starts watching the namespaces; pods "
        "created in them get an Envoy sidecar unless --disable-sidecar-injection is given.",
        "Pods already running keep no sidecar until they are recreated: --restart rolls out "
        "the namespaces' Deployments, StatefulSets and DaemonSets (as `kubectl rollout "
        "restart` does).",
    ]
)


def namespace_add(
    ctx: typer.Context,
    namespaces: Annotated[list[str], typer.Argument(metavar="NAMESPACE", show_default=False)],
    mesh_name: Annotated[str, typer.Option("--mesh-name", help="Name of the service mesh")] = "osm",
    enable_injection: Annotated[
        bool,
        typer.Option(
            "--enable-sidecar-injection",
            help="Enable automatic sidecar injection (the default for new namespaces)",
        ),
    ] = False,
    disable_injection: Annotated[
        bool,
        typer.Option("--disable-sidecar-injection", help="Disable automatic sidecar injection"),
    ] = False,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="Restart the namespace's workloads so running pods get sidecars"
        ),
    ] = False,
) -> None:
    from osm_mesh.kube.namespaces import add_namespaces
    from osm_mesh.validation import require_dns1123_label, require_namespace_name

    if enable_injection and disable_injection:
        raise UsageError(
            "--enable-sidecar-injection and --disable-sidecar-injection cannot be used together",
            ctx=ctx,
        )
    # Names are refused before the kubeconfig is even read.
    for name in namespaces:
        require_namespace_name(name)
    require_dns1123_label("mesh", mesh_name)
    injection = True if enable_injection else False if disable_injection else None
    app_ctx = app_context(ctx)
    outcomes = add_namespaces(app_ctx.kube, namespaces, mesh_name, injection, restart=restart)
    for outcome in outcomes:
        app_ctx.out(outcome.message)
        if outcome.restart_message:
            app_ctx.out(outcome.restart_message)


namespace_add.__doc__ = HELP
