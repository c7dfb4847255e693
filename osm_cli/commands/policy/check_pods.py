"""`osm policy check-pods SOURCE_POD DESTINATION_POD`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, emit

if TYPE_CHECKING:
    from osm_mesh.policy.check import PodCheck


def check_pods(
    ctx: typer.Context,
    source_pod: Annotated[str, typer.Argument(help="Source pod: <namespace/pod> or <pod>")],
    destination_pod: Annotated[
        str, typer.Argument(help="Destination pod: <namespace/pod> or <pod>")
    ],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Check whether a source pod may send traffic to a destination pod.

    Allowed by an SMI TrafficTarget, or by permissive traffic policy mode.

    Lists the routes (HTTP matches, TCP/UDP ports) the source may use.

    A pod given without a namespace is looked up in the 'default' namespace.
    """
    from osm_mesh.policy.check import check_pods as run_check

    app_ctx = app_context(ctx)
    result = run_check(app_ctx.kube, source_pod, destination_pod, app_ctx.settings.osm_namespace)
    if output is not OutputFormat.table:
        emit(app_ctx, output, result.to_dict())
        return
    app_ctx.out("\n".join(describe(result)))


def describe(result: PodCheck) -> list[str]:
    src, dst = "/".join(result.source), "/".join(result.destination)
    pair = f"Pod '{src}' is allowed to communicate to pod '{dst}'"
    if result.permissive:
        return [
            "[+] Permissive mode enabled for mesh operated by osm-controller running in "
            f"'{result.osm_namespace}' namespace",
            "",
            f"[+] {pair}",
        ]
    lines = [
        "[+] SMI traffic policy mode enabled for mesh operated by osm-controller running in "
        f"{result.osm_namespace} namespace",
        "",
    ]
    if not result.allowed:
        lines.append(
            f"[+] Pod '{src}' is not allowed to communicate to pod '{dst}', "
            "missing SMI TrafficTarget policy"
        )
        return lines
    for ref in result.access.traffic_targets:
        lines.append(
            f'[+] {pair} via the SMI TrafficTarget policy "{ref.name}" in namespace {ref.namespace}'
        )
    lines.append("[+] Allowed routes:")
    lines.extend(f"    {line}" for line in route_lines(result.to_dict()["routes"]))
    return lines


def route_lines(routes: dict[str, Any]) -> list[str]:
    out = []
    if routes["http"] == "all":
        out.append("HTTP: every request")
    for m in routes["http"] if isinstance(routes["http"], list) else []:
        headers = ", ".join(f"{k}={v}" for k, v in m["headers"].items())
        line = f"HTTP {m['name']}: methods {','.join(m['methods'])}, path {m['pathRegex'] or '*'}"
        out.append(line + (f", headers {headers}" if headers else ""))
    for proto, key in (("TCP", "tcpPorts"), ("UDP", "udpPorts")):
        ports = routes[key]
        if ports == "all":
            out.append(f"{proto}: every port")
        elif ports:
            out.append(f"{proto} ports: {', '.join(map(str, ports))}")
    return out
