"""`osm demo`: the article's walkthrough (access control, then the canary) on a local mesh."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from osm_cli.commands.local.view import make_observer, wait_until_interrupted
from osm_cli.context import AppContext, app_context
from osm_cli.output import OutputFormat, OutputOption, Table, emit

app = typer.Typer(add_completion=False)


class Scenario(StrEnum):
    access = "access"
    canary = "canary"
    all = "all"


@app.command(
    help="Run the article's walkthrough on a local mesh (real Envoy sidecars, no cluster).\n\n"
    "access: frontend -> api denied in SMI mode, allowed once the TrafficTarget is applied. "
    "canary: requests through the 90/10 TrafficSplit, counted per backend.\n\n"
    "-o json prints one object: {scenario, steps} (access), {scenario, requests, backends, "
    "errors} (canary) or {scenario: all, results: (access, canary)}, plus ok, seconds and "
    "details documented in docs/local-mesh.md. Exits 1 when the mesh did not behave as the "
    "article describes."
)
def demo(
    ctx: typer.Context,
    scenario: Annotated[
        Scenario, typer.Option("--scenario", "-s", help="Which part of the walkthrough")
    ] = Scenario.all,
    requests: Annotated[
        int, typer.Option("--requests", "-n", min=1, max=100000, help="Canary requests to send")
    ] = 100,
    keep_running: Annotated[
        bool,
        typer.Option("--keep-running", help="Leave the mesh up afterwards until Ctrl-C"),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            metavar="DIR",
            help="Write the demo's manifests into DIR (to edit and run with osm local run)",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    from osm_mesh.errors import MeshError
    from osm_mesh.local.demo import SCENARIOS, run_demo

    app_ctx = app_context(ctx)
    if export is not None:
        _export(app_ctx, export)
        return
    scenarios = list(SCENARIOS) if scenario is Scenario.all else [scenario.value]
    with make_observer(app_ctx) as observer:
        run = run_demo(scenarios, requests=requests, observer=observer, keep_running=keep_running)
    try:
        data = run.as_dict()
        emit(app_ctx, output, data, _tables(data))
        if keep_running:
            for mesh in run.meshes:
                _print_pods(app_ctx, mesh.state())
            for url in run.frontend_urls():
                app_ctx.info(f"Browse the frontend: {url}")
            wait_until_interrupted(app_ctx, run.meshes)
    finally:
        for mesh in run.meshes:
            mesh.stop(failed=not run.ok)
    if not run.ok:
        raise MeshError(
            "the mesh did not behave as the article describes (see the results above)",
            hint=f"Logs of the apps and sidecars: {', '.join(run.kept)}",
        )


def _tables(data: dict[str, Any]) -> list[Table]:
    results = data["results"] if data["scenario"] == "all" else [data]
    tables = []
    for result in results:
        if result["scenario"] == "access":
            rows = [
                [
                    s["name"],
                    s["expected"],
                    "allowed" if s["allowed"] else "denied",
                    s["status"],
                    s["description"],
                ]
                for s in result["steps"]
            ]
            tables.append(Table(["STEP", "EXPECTED", "RESULT", "HTTP", "WHAT"], rows))
        else:
            total = result["requests"] or 1
            rows = []
            for backend, count in result["backends"].items():
                envoy = result["envoy"].get(backend, {})
                rate = envoy.get("success_rate")
                rows.append(
                    [
                        backend,
                        result["weights"].get(backend, ""),
                        count,
                        f"{100 * count / total:.0f}%",
                        envoy.get("requests", ""),
                        "" if rate is None else f"{100 * rate:.0f}%",
                        _ms(envoy.get("p50_ms")),
                        _ms(envoy.get("p90_ms")),
                    ]
                )
            rows.append(["errors", "", result["errors"], "", "", "", "", ""])
            tables.append(
                Table(
                    [
                        "BACKEND",
                        "WEIGHT",
                        "RESPONSES",
                        "SHARE",
                        "ENVOY RQ",
                        "SUCCESS",
                        "P50",
                        "P90",
                    ],
                    rows,
                )
            )
    return tables


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    # Envoy measures whole milliseconds: 0 means under one.
    return "<1ms" if value == 0 else f"{value:.1f}ms"


def _print_pods(app_ctx: AppContext, state: dict[str, Any]) -> None:
    from osm_cli.commands.local.view import pods_table

    app_ctx.info(pods_table(state).render())


def _export(app_ctx: AppContext, dest: Path) -> None:
    from osm_mesh.local.demo import export_manifests

    for path in export_manifests(dest):
        app_ctx.out(str(path))
    app_ctx.info(
        "Run the access walkthrough (SMI mode; frontend -> api is denied until you add "
        "the TrafficTarget):\n"
        f"  osm local run -f {dest / 'mesh-config.yml'} -f {dest / 'simple' / 'app'}\n"
        "Everything of the canary (both TrafficTargets and the 90/10 TrafficSplit):\n"
        f"  osm local run -f {dest / 'mesh-config.yml'} -f {dest / 'canary'}"
    )
