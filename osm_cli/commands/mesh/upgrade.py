"""`osm mesh upgrade`: Helm upgrade of a mesh in place; its MeshConfig follows the values."""

from __future__ import annotations

from typing import Annotated

import typer

from osm_cli.commands._helm import (
    ChartPathOption,
    SetValuesOption,
    TimeoutOption,
    ValuesFilesOption,
    helm_client,
    run_with_progress,
)
from osm_cli.context import app_context

SUCCESS = "OSM successfully upgraded mesh [{mesh}] in namespace [{namespace}]"


def mesh_upgrade(
    ctx: typer.Context,
    mesh_name: Annotated[str, typer.Option("--mesh-name", help="Mesh to upgrade")] = "osm",
    chart_path: ChartPathOption = None,
    set_values: SetValuesOption = None,
    values_files: ValuesFilesOption = None,
    reset_values: Annotated[
        bool,
        typer.Option(
            "--reset-values",
            help="Start from the chart's defaults (upstream's behaviour) instead of the "
            "mesh's current values",
        ),
    ] = False,
    timeout: TimeoutOption = "5m",
    atomic: Annotated[
        bool, typer.Option("--atomic", help="Roll back if the upgrade does not become ready")
    ] = False,
) -> None:
    """Upgrade a mesh's control plane (Helm upgrade keeping its name and, unless
    --reset-values, its current values)."""
    from osm_mesh.helm import lifecycle
    from osm_mesh.validation import parse_duration

    app_ctx = app_context(ctx)
    options = lifecycle.UpgradeOptions(
        mesh_name=mesh_name,
        namespace=app_ctx.settings.osm_namespace,
        chart_path=chart_path,
        sets=tuple(set_values or ()),
        value_files=tuple(values_files or ()),
        timeout_s=parse_duration(timeout),
        atomic=atomic,
        reset_values=reset_values,
    )
    result = run_with_progress(
        app_ctx,
        lambda progress: lifecycle.upgrade(app_ctx.kube, helm_client(app_ctx), options, progress),
    )
    app_ctx.out(SUCCESS.format(mesh=result.mesh_name, namespace=result.namespace))
