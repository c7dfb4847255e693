"""`osm stat [RESOURCE]`: golden metrics per workload, from the sidecars' own statistics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, Table, dumps

if TYPE_CHECKING:
    from osm_cli.context import AppContext
    from osm_mesh.stat.collect import Collection, Collector
    from osm_mesh.stat.compute import WorkloadStats

app = typer.Typer(add_completion=False)

EXAMPLES = """
Examples:

  osm stat -n bookstore                     # every Deployment in namespace bookstore, 10 s
  osm stat deploy/bookstore -n bookstore --window 30s
  osm stat -A --routes -o json
  osm stat --local --watch                  # the running local mesh, refreshed like top
"""

HEADERS = ["NAME", "MESHED", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P95", "LATENCY_P99"]


@app.command(epilog=EXAMPLES)
def stat(
    ctx: typer.Context,
    resource: Annotated[
        str | None,
        typer.Argument(
            help="deploy (every Deployment), deploy/NAME or NAME [default: deploy]",
            show_default=False,
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="Namespace [default: the kubeconfig context's; every one with --local]",
            show_default=False,
        ),
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Every namespace")
    ] = False,
    window: Annotated[
        str, typer.Option("--window", "-w", help="Time window of the figures (e.g. 10s, 1m)")
    ] = "10s",
    routes: Annotated[
        bool, typer.Option("--routes", help="One row per route (HTTPRouteGroup match)")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh every window until Ctrl-C, like top")
    ] = False,
    local: Annotated[
        bool, typer.Option("--local", help="The running local mesh (osm local run / demo)")
    ] = False,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir", help="The local mesh started with --work-dir DIR (implies --local)"
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Success rate, requests/s, p50/p95/p99 latency and TCP connections per Deployment.

    Read from every meshed pod's sidecar (osm_request_total, osm_request_duration_ms and the
    inbound listener's open connections) at the start and at the end of the window: the
    figures are what the sidecars saw in that window, no Prometheus needed. SUCCESS counts
    answers that are not 5xx, as Flagger does.
    """
    from osm_mesh.validation import parse_duration

    app_ctx = app_context(ctx)
    name = _workload_name(resource)
    seconds = parse_duration(window)
    collect = _collector(app_ctx, name, namespace, all_namespaces, local or work_dir is not None,
                         work_dir)  # fmt: skip
    show_namespace = all_namespaces or (namespace is None and (local or work_dir is not None))
    if watch:
        _watch(app_ctx, collect, seconds, routes, show_namespace, output)
        return
    app_ctx.info(f"Reading the sidecars over {window} ...")
    from osm_mesh.stat.collect import readings_window

    before, after = readings_window(collect, seconds)
    _emit(app_ctx, before, after, routes, show_namespace, output, name)


def _workload_name(resource: str | None) -> str | None:
    from osm_mesh.errors import InvalidInput

    if resource is None or resource in ("deploy", "deployment", "deployments", "deploy/"):
        return None
    kind, slash, name = resource.partition("/")
    if not slash:
        kind, name = "deploy", resource
    if kind not in ("deploy", "deployment", "deployments") or not name:
        raise InvalidInput(
            f"unsupported resource {resource!r}",
            hint="Use deploy, deploy/NAME or NAME (a Deployment)",
        )
    from osm_mesh.validation import require_dns1123_label

    return require_dns1123_label("deployment", name)


def _collector(
    app_ctx: AppContext,
    name: str | None,
    namespace: str | None,
    all_namespaces: bool,
    local: bool,
    work_dir: Path | None,
) -> Collector:
    from osm_mesh.stat.collect import Scope, cluster_collector, local_collector

    if namespace is not None:
        from osm_mesh.validation import require_namespace_name

        require_namespace_name(namespace)
    if local:
        from osm_mesh.local.registry import pick

        state = pick(work_dir, app_ctx.env.environ)
        return local_collector(state, Scope(None if all_namespaces else namespace, name))
    kube = app_ctx.kube
    scope_ns = None if all_namespaces else (namespace or kube.default_namespace)
    return cluster_collector(kube, Scope(scope_ns, name))


def _stats(before: Collection, after: Collection, routes: bool) -> list[WorkloadStats]:
    from osm_mesh.stat.compute import workload_stats

    return workload_stats(
        before.readings,
        after.readings,
        pods_of=after.pods_of,
        workload_of_pod=after.workload_of_pod,
        routes=routes,
    )


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}ms" if value < 10 else f"{value:.0f}ms"


def _row(stats: WorkloadStats, name: str) -> list[str]:
    rate, rps = stats.success_rate, stats.rps
    return [
        name,
        f"{stats.pods_meshed}/{stats.pods_total}" if stats.pods_total else "-",
        "-" if rate is None else f"{100 * rate:.2f}%",
        "-" if rps is None else f"{rps:.1f}rps",
        _ms(stats.quantiles.get(0.5)),
        _ms(stats.quantiles.get(0.95)),
        _ms(stats.quantiles.get(0.99)),
    ]


def table(rows: list[WorkloadStats], routes: bool, show_namespace: bool) -> Table:
    headers = (["NAMESPACE"] if show_namespace else []) + list(HEADERS)
    if routes:
        headers.insert(len(headers) - 6, "ROUTE")
    else:
        headers.append("TCP_CONN")
    out = []
    for stats in rows:
        lead = [stats.workload.namespace] if show_namespace else []
        if not routes:
            out.append(lead + _row(stats, stats.workload.name) + [str(stats.tcp_connections)])
            continue
        for route, per_route in sorted(stats.routes.items()) or [("[none]", stats)]:
            cells = _row(per_route, stats.workload.name)
            cells[1] = f"{stats.pods_meshed}/{stats.pods_total}" if stats.pods_total else "-"
            out.append(lead + cells[:1] + [route] + cells[1:])
    return Table(headers, out)


def _emit(
    app_ctx: AppContext,
    before: Collection,
    after: Collection,
    routes: bool,
    show_namespace: bool,
    output: OutputFormat,
    name: str | None,
) -> None:
    for pod, error in sorted(after.errors.items())[:5]:
        app_ctx.warn(f"no metrics from pod {pod}: {error}")
    if len(after.errors) > 5:
        app_ctx.warn(f"... and {len(after.errors) - 5} more pods without metrics")
    rows = _stats(before, after, routes)
    if output is not OutputFormat.table:
        data: Any = {"workloads": [s.as_dict() for s in rows], "unread": after.errors}
        app_ctx.out(dumps(data, output))
        return
    if not rows:
        what = f"Deployment {name}" if name else "meshed workloads"
        app_ctx.out(f"No {what} found")
        return
    app_ctx.out(table(rows, routes, show_namespace).render())


def _watch(
    app_ctx: AppContext,
    collect: Collector,
    seconds: float,
    routes: bool,
    show_namespace: bool,
    output: OutputFormat,
) -> None:
    import time

    tty = app_ctx.env.stdout_is_tty and output is OutputFormat.table
    previous = collect()
    try:
        while True:
            time.sleep(seconds)
            current = collect()
            if tty:
                app_ctx.env.stdout.write("\x1b[H\x1b[2J")  # clear the screen, like top
            stamp = time.strftime("%H:%M:%S")
            if output is OutputFormat.table:
                app_ctx.out(f"{stamp}  (last {seconds:g}s; Ctrl-C to stop)")
            _emit(app_ctx, previous, current, routes, show_namespace, output, None)
            if not tty and output is OutputFormat.table:
                app_ctx.out()
            previous = current
    except KeyboardInterrupt:
        return
