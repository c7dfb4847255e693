"""`osm mesh list`: the control planes of the cluster, their namespaces and SMI versions."""

from __future__ import annotations

from typing import Annotated

import typer

from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, Table, emit

EMPTY = "No osm mesh control planes found"
PODS_HINT = (
    "To list the OSM controller pods for a mesh, please run the following command passing "
    "in the mesh's namespace\n\tkubectl get pods -n <osm-mesh-namespace> -l app=osm-controller"
)


def mesh_list(
    ctx: typer.Context,
    local_port: Annotated[
        int,
        typer.Option(
            "--local-port",
            "-p",
            help="Accepted for compatibility with the Go osm; controllers are reached "
            "through the API server's pod proxy, so no local port is opened",
        ),
    ] = 9091,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List the osm control planes (meshes) in the cluster."""
    from osm_mesh.kube.meshes import list_meshes, smi_supports

    app_ctx = app_context(ctx)
    kube = app_ctx.kube
    meshes = list_meshes(kube)
    smi = smi_supports(kube, meshes)
    for item in smi:
        if item.error:
            app_ctx.debug(f"SMI versions of mesh [{item.mesh}]: {item.error}")
    data = [
        {**mesh.as_dict(), "smiSupported": dict(sorted(info.supported.items()))}
        for mesh, info in zip(meshes, smi, strict=True)
    ]
    versions = Table(
        ("MESH NAME", "MESH NAMESPACE", "VERSION", "ADDED NAMESPACES"),
        [(m.name, m.namespace, m.version, ",".join(m.added_namespaces)) for m in meshes],
    )
    supported = Table(
        ("MESH NAME", "MESH NAMESPACE", "SMI SUPPORTED"),
        [(i.mesh, i.namespace, i.formatted()) for i in smi],
    )
    emit(app_ctx, output, data, [versions, supported], empty_message=EMPTY)
    if meshes and output is OutputFormat.table:
        app_ctx.info(PODS_HINT)
