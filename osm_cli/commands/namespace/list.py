"""`osm namespace list [MESH]`."""

from __future__ import annotations

from typing import Annotated

import typer
from typer._click.exceptions import UsageError

from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, Table, emit

HEADERS = ("NAMESPACE", "MESH", "SIDECAR-INJECTION")


def namespace_list(
    ctx: typer.Context,
    mesh: Annotated[
        str | None, typer.Argument(metavar="MESH", help="Only this mesh's namespaces")
    ] = None,
    mesh_name: Annotated[
        str | None, typer.Option("--mesh-name", help="Name of the service mesh to list")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the namespaces enlisted in a mesh (or in any mesh)."""
    from osm_mesh.kube.namespaces import empty_list_message, list_namespaces
    from osm_mesh.validation import require_dns1123_label

    if mesh and mesh_name and mesh != mesh_name:
        raise UsageError(f"mesh given twice: [{mesh}] and --mesh-name [{mesh_name}]", ctx=ctx)
    wanted = mesh or mesh_name or None
    if wanted:
        require_dns1123_label("mesh", wanted)
    app_ctx = app_context(ctx)
    rows = list_namespaces(app_ctx.kube, wanted)
    emit(
        app_ctx,
        output,
        [r.as_dict() for r in rows],
        Table(HEADERS, [(r.name, r.mesh, r.sidecar_injection) for r in rows]),
        empty_message=empty_list_message(wanted),
    )
