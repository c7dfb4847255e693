"""`osm check [--pre | --proxy]`: a categorised health check, exit 1 on any failure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, dumps

if TYPE_CHECKING:
    from osm_cli.context import AppContext
    from osm_mesh.check import CheckResult

app = typer.Typer(add_completion=False)

MARKS = {"ok": "✓", "warn": "⚠", "fail": "✗"}


@app.command()
def check(
    ctx: typer.Context,
    pre: Annotated[
        bool, typer.Option("--pre", help="Before `osm install`: can it be installed here?")
    ] = False,
    proxy: Annotated[
        bool,
        typer.Option("--proxy", help="Also every sidecar: ready, connected, in sync, certificates"),
    ] = False,
    mesh_name: Annotated[str, typer.Option("--mesh-name", help="Mesh to check")] = "osm",
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait",
            help="Run the checks again until none fails, for at most this long (e.g. 5m)",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Check the cluster before install (--pre), the control plane, and the sidecars (--proxy).

    Each check prints ✓ (ok), ⚠ (works, but look) or ✗ (broken) with what it saw, and a hint
    for anything but ✓. Exit 1 when any check fails.
    """
    import time

    from osm_mesh import check as checks
    from osm_mesh.validation import parse_duration, require_dns1123_label

    app_ctx = app_context(ctx)
    require_dns1123_label("mesh", mesh_name)
    deadline = time.monotonic() + (parse_duration(wait) if wait else 0.0)
    options = checks.CheckOptions(
        mesh_name=mesh_name,
        osm_namespace=app_ctx.settings.osm_namespace,
        cli_version=_cli_version(),
    )
    kube = app_ctx.kube
    while True:
        if pre:
            results = checks.pre_install(kube, options)
        else:
            results = checks.control_plane(kube, options)
            if proxy:
                results += checks.proxies(kube, options)
        if checks.ok(results) or time.monotonic() >= deadline:
            break
        failing = ", ".join(r.name for r in results if r.status == "fail")
        app_ctx.info(f"waiting: {failing}")
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    _show(app_ctx, results, output)
    if not checks.ok(results):
        raise typer.Exit(1)


def _cli_version() -> str:
    import osm_mesh

    return osm_mesh.__version__


def _show(app_ctx: AppContext, results: list[CheckResult], output: OutputFormat) -> None:
    from osm_mesh.check import ok

    if output is not OutputFormat.table:
        data = {"ok": ok(results), "checks": [r.as_dict() for r in results]}
        app_ctx.out(dumps(data, output))
        return
    lines: list[str] = []
    category = None
    for result in results:
        if result.category != category:
            if category is not None:
                lines.append("")
            category = result.category
            lines += [category, "-" * len(category)]
        detail = f": {result.detail}" if result.detail else ""
        lines.append(f"{MARKS[result.status]} {result.name}{detail}")
        if result.hint and result.status != "ok":
            lines.append(f"    hint: {result.hint}")
    counts = {s: sum(1 for r in results if r.status == s) for s in MARKS}
    lines += [
        "",
        f"Status: {'✓ ok' if ok(results) else '✗ failed'} "
        f"({counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed)",
    ]
    app_ctx.out("\n".join(lines))
