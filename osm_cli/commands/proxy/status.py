"""`osm proxy status`: is every connected proxy's configuration up to date?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, Table, emit

if TYPE_CHECKING:
    from osm_cli.context import AppContext
    from osm_mesh.proxystatus import Report

LocalOption = Annotated[
    bool,
    typer.Option("--local", help="Ask the running local mesh (osm local run / osm demo)"),
]
WorkDirOption = Annotated[
    Path | None,
    typer.Option(
        "--work-dir",
        help="The local mesh started with this --work-dir (implies --local)",
        show_default=False,
    ),
]


def proxy_status(
    ctx: typer.Context,
    mesh_name: Annotated[str, typer.Option("--mesh-name", help="Mesh to ask")] = "osm",
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", "-n", help="Only proxies in this namespace", show_default=False
        ),
    ] = None,
    local: LocalOption = False,
    work_dir: WorkDirOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show, per connected proxy, whether CDS, LDS, EDS, RDS and SDS are in sync.

    SYNCED: the proxy ACKed its newest configuration. STALE: it rejected (NACKed) what was
    sent (see LAST NACK; it keeps its last good configuration) or has not ACKed the newest
    version yet. NOT SENT: it never subscribed to that type.

    Asked of the controller through a port-forward (its debug port 9092 listens on the pod's
    loopback only), or of a running local mesh with --local.
    """
    app_ctx = app_context(ctx)
    report = read_report(app_ctx, mesh_name, local or work_dir is not None, work_dir)
    from osm_mesh.proxystatus import TABLE_HEADERS, table_rows

    data = report.as_dict()
    if namespace is not None:
        data["proxies"] = [p for p in data["proxies"] if p.get("namespace") == namespace]
    where = f" in namespace {namespace}" if namespace else ""
    emit(
        app_ctx,
        output,
        data,
        Table(TABLE_HEADERS, table_rows(report, namespace)),
        empty_message=f"No connected proxies{where} ({report.source})",
    )


def read_report(app_ctx: AppContext, mesh_name: str, local: bool, work_dir: Path | None) -> Report:
    """The proxy status of the mesh, or of the local mesh (``local``)."""
    if not local:
        from osm_mesh.kube.controller_debug import read_proxy_status
        from osm_mesh.validation import require_dns1123_label

        require_dns1123_label("mesh", mesh_name)
        return read_proxy_status(app_ctx.kube, mesh_name, on_debug=app_ctx.debug)
    from osm_mesh.local.debug import read_local_proxy_status
    from osm_mesh.local.registry import pick

    return read_local_proxy_status(pick(work_dir, app_ctx.env.environ))
