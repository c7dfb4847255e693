"""`osm install`: deploy a mesh's control plane with Helm (or print it with --dry-run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from osm_cli.commands._helm import (
    ChartPathOption,
    GoBoolCommand,
    SetValuesOption,
    TimeoutOption,
    ValuesFilesOption,
    helm_client,
    run_with_progress,
)
from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption

if TYPE_CHECKING:
    from osm_cli.context import AppContext
    from osm_mesh.helm.lifecycle import Prepared

app = typer.Typer(add_completion=False)

SUCCESS = "OSM installed successfully in namespace [{namespace}] with mesh name [{mesh}]"


@app.command(
    cls=GoBoolCommand,
    help="Install the osm control plane (Helm chart) and wait until it is ready.",
)
def install(
    ctx: typer.Context,
    mesh_name: Annotated[str, typer.Option("--mesh-name", help="Name of the mesh")] = "osm",
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="Namespace of the control plane (same as --osm-namespace)",
            show_default=False,
        ),
    ] = None,
    chart_path: ChartPathOption = None,
    set_values: SetValuesOption = None,
    values_files: ValuesFilesOption = None,
    enforce_single_mesh: Annotated[
        bool,
        typer.Option(
            "--enforce-single-mesh/--no-enforce-single-mesh",
            help="Refuse any other mesh in the cluster",
        ),
    ] = True,
    timeout: TimeoutOption = "5m",
    atomic: Annotated[
        bool, typer.Option("--atomic", help="Remove the mesh again if it does not become ready")
    ] = False,
    enable_grafana: Annotated[
        bool | None,
        typer.Option(
            "--enable-grafana/--disable-grafana",
            help="Deploy Grafana with the OSM dashboards (and Prometheus)",
            show_default=False,
        ),
    ] = None,
    enable_prometheus: Annotated[
        bool | None,
        typer.Option(
            "--enable-prometheus/--disable-prometheus",
            help="Deploy Prometheus",
            show_default=False,
        ),
    ] = None,
    deploy_jaeger: Annotated[
        bool | None,
        typer.Option(
            "--deploy-jaeger/--no-deploy-jaeger", help="Deploy Jaeger", show_default=False
        ),
    ] = None,
    deploy_grafana: Annotated[
        bool | None, typer.Option("--deploy-grafana/--no-deploy-grafana", hidden=True)
    ] = None,
    deploy_prometheus: Annotated[
        bool | None, typer.Option("--deploy-prometheus/--no-deploy-prometheus", hidden=True)
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the manifests instead of installing (no cluster)"),
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    import asyncio

    from osm_mesh.helm import lifecycle
    from osm_mesh.validation import parse_duration

    app_ctx = app_context(ctx)
    grafana = enable_grafana if enable_grafana is not None else deploy_grafana
    prometheus = enable_prometheus if enable_prometheus is not None else deploy_prometheus
    options = lifecycle.InstallOptions(
        mesh_name=mesh_name,
        namespace=namespace or app_ctx.settings.osm_namespace,
        chart_path=chart_path,
        sets=tuple(set_values or ()),
        value_files=tuple(values_files or ()),
        enforce_single_mesh=enforce_single_mesh,
        timeout_s=parse_duration(timeout),
        atomic=atomic,
        addons={"grafana": grafana, "prometheus": prometheus, "jaeger": deploy_jaeger},
    )
    if dry_run:
        prepared = asyncio.run(
            lifecycle.prepare(helm_client(app_ctx, offline=True), options, offline=True)
        )
        _print_manifests(app_ctx, prepared, output)
        return

    # Bad names are reported before the kubeconfig is even read.
    lifecycle.validate_mesh_name(options.mesh_name)
    lifecycle.validate_namespace(options.namespace)
    result = run_with_progress(
        app_ctx,
        lambda progress: lifecycle.install(app_ctx.kube, helm_client(app_ctx), options, progress),
    )
    if output is not OutputFormat.table:
        from osm_cli.output import dumps

        app_ctx.out(
            dumps(
                {
                    "meshName": result.mesh_name,
                    "namespace": result.namespace,
                    "revision": result.release.revision,
                    "workloads": {w.name: w.describe() for w in result.workloads},
                },
                output,
            )
        )
    message = SUCCESS.format(namespace=result.namespace, mesh=result.mesh_name)
    # Upstream prints it on stdout; with -o json|yaml stdout holds the data instead.
    if output is OutputFormat.table:
        app_ctx.out(message)
    else:
        app_ctx.info(message)


def _print_manifests(app_ctx: AppContext, prepared: Prepared, output: OutputFormat) -> None:
    if output is OutputFormat.json:
        import json

        app_ctx.out(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": prepared.objects}, indent=2)
        )
    else:
        app_ctx.out(prepared.manifest.rstrip("\n"))
