"""`osm policy analyze [-f FILE|DIR...]`: lint plus checks against the live cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from osm_cli.commands.policy._findings import render_findings
from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, emit


def analyze(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--filename",
            "-f",
            help="Manifest file or directory (recursive), or - for stdin, analyzed as if "
            "applied to the cluster; repeat for more",
            show_default=False,
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Analyze the files alone; contact no cluster (as policy lint)"
        ),
    ] = False,
    mesh_name: Annotated[
        str, typer.Option("--mesh-name", help="Mesh whose namespaces are checked")
    ] = "osm",
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="Only report findings about objects in this namespace",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Find problems in SMI policies on the live cluster, in files, or both.

    Without -f: the cluster as it is. With -f: the files as if applied to the cluster (an
    object in a file replaces the cluster's). With --offline: the files alone.

    Beyond `osm policy lint`, the cluster shows: ServiceAccounts a TrafficTarget names but that
    do not exist, Services in meshed namespaces selecting no pod with a sidecar, pods left
    without their sidecar, namespaces with policies outside the mesh, split backends no
    TrafficTarget allows (SMI mode), a missing MeshConfig.

    Each finding has a stable code (docs/policy-codes.md). Errors exit 1.
    """
    from osm_mesh.errors import InvalidInput
    from osm_mesh.policy.analyze import AnalyzeOptions, load_files
    from osm_mesh.policy.analyze import analyze as run_analyze
    from osm_mesh.validation import require_dns1123_label

    app_ctx = app_context(ctx)
    if offline and not files:
        raise InvalidInput(
            "--offline needs files to analyze", hint="Pass -f FILE|DIR, or drop --offline"
        )
    require_dns1123_label("mesh", mesh_name)
    paths = list(files or [])
    stdin = app_ctx.env.stdin.read() if any(str(f) == "-" for f in paths) else None
    loaded = load_files(paths, stdin) if paths else None
    options = AnalyzeOptions(mesh_name, app_ctx.settings.osm_namespace, namespace)
    report = run_analyze(None if offline else app_ctx.kube, loaded, options)
    if output is not OutputFormat.table:
        emit(app_ctx, output, report.to_dict())
    else:
        summary = report.summary()
        if offline:
            scope = f"from {summary['files']} file(s)"
        elif paths:
            scope = f"from {summary['files']} file(s) applied over the cluster"
        else:
            scope = "in the cluster"
        app_ctx.out(render_findings(report.findings, summary, scope))
    if not report.ok:
        raise typer.Exit(1)
