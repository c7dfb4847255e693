"""`osm support bug-report`: a tar.gz of logs, mesh config, objects and Envoy dumps."""

from __future__ import annotations

from typing import Annotated

import typer

from osm_cli.context import app_context

# "\b" keeps click's plain help from rewrapping the example lines.
EPILOG = """
Secret values are never collected (only names and sizes). Review the archive before sharing it.

Example:

\b
  osm support bug-report --app-namespaces bookbuyer,bookstore \\
    --app-deployments bookbuyer/bookbuyer,bookstore/bookstore-v1 \\
    --app-pods bookthief/bookthief-7bb7f9b98c-qplq4
"""


def bug_report(
    ctx: typer.Context,
    all_pods: Annotated[
        bool, typer.Option("--all", help="Every meshed namespace and all of its pods")
    ] = False,
    app_namespaces: Annotated[
        list[str] | None,
        typer.Option("--app-namespaces", help="Application namespaces (repeat or comma list)"),
    ] = None,
    app_deployments: Annotated[
        list[str] | None,
        typer.Option("--app-deployments", help="Application deployments: <namespace>/<name>"),
    ] = None,
    app_pods: Annotated[
        list[str] | None,
        typer.Option("--app-pods", help="Application pods: <namespace>/<name>"),
    ] = None,
    out_file: Annotated[
        str | None,
        typer.Option(
            "--out-file",
            "-o",
            help="Archive to write (.tar.gz or .tgz) [default: a new file in the temp directory]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Generate a bug report archive (tar.gz)."""
    from osm_mesh.support.bugreport import (
        BugReportRequest,
        check_out_file,
        collect_bug_report,
        parse_namespaced,
    )

    app_ctx = app_context(ctx)
    # Validate every argument before contacting the cluster: nothing half-done.
    request = BugReportRequest(
        control_plane_namespace=app_ctx.settings.osm_namespace,
        all_pods=all_pods,
        app_namespaces=list(app_namespaces or []),
        app_deployments=parse_namespaced(app_deployments or [], "Deployment"),
        app_pods=parse_namespaced(app_pods or [], "Pod"),
        out_file=str(check_out_file(out_file)),
    )
    result = collect_bug_report(app_ctx.kube, request, report=app_ctx.info)
    if result.failures:
        app_ctx.warn(
            f"{len(result.failures)} item(s) could not be collected; they are listed in README.txt"
        )
    app_ctx.info(f"Bug report successfully archived to {result.path}")
