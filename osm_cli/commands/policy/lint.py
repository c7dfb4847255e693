"""`osm policy lint -f FILE|DIR...`: offline checks of SMI manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from osm_cli.commands.policy._findings import render_findings
from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, emit


def lint(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Option(
            "--filename",
            "-f",
            help="Manifest file or directory (recursive), or - for stdin; repeat for more",
            show_default=False,
        ),
    ],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Lint SMI policies and the Services, ServiceAccounts and Deployments beside them.

    Offline: no cluster is contacted. Every SMI version is accepted.

    Each finding has a stable code (OSM0101...; see docs/policy-codes.md). Errors exit 1;
    warnings and info alone exit 0.
    """
    from osm_mesh.policy.lint import lint_paths

    app_ctx = app_context(ctx)
    stdin = app_ctx.env.stdin.read() if any(str(f) == "-" for f in files) else None
    report = lint_paths(files, stdin_text=stdin)
    if output is not OutputFormat.table:
        emit(app_ctx, output, report.to_dict())
    else:
        summary = report.summary()
        app_ctx.out(render_findings(report.findings, summary, f"from {summary['files']} file(s)"))
    if not report.ok:
        raise typer.Exit(1)
