"""`osm namespace remove NS`."""

from __future__ import annotations

from typing import Annotated

import typer

from osm_cli.context import app_context


def namespace_remove(
    ctx: typer.Context,
    namespace: Annotated[str, typer.Argument(metavar="NAMESPACE", show_default=False)],
    mesh_name: Annotated[str, typer.Option("--mesh-name", help="Name of the service mesh")] = "osm",
) -> None:
    """Remove a namespace from the mesh: its services and pods stop being managed.

    Running pods keep their sidecars until they are recreated.
    """
    from osm_mesh.kube.namespaces import remove_namespace
    from osm_mesh.validation import require_dns1123_label, require_namespace_name

    require_namespace_name(namespace)
    require_dns1123_label("mesh", mesh_name)
    app_ctx = app_context(ctx)
    app_ctx.out(remove_namespace(app_ctx.kube, namespace, mesh_name).message)
