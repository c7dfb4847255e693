"""`osm proxy get QUERY POD`: GET /QUERY from the pod's Envoy admin (port 15000)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from osm_cli.context import AppContext, app_context
from osm_cli.output import OutputFormat, OutputOption, Table, dumps, emit

# "\b" keeps click's plain help from rewrapping the example lines.
EXAMPLES = """
Examples:

\b
  osm proxy get config_dump bookbuyer-5ccf77f46d-rc5mg -n bookbuyer
  osm proxy get clusters bookbuyer-5ccf77f46d-rc5mg -n bookbuyer \\
    -f clusters.txt
  osm proxy get config_dump bookbuyer-5ccf77f46d-rc5mg -n bookbuyer \\
    --type listeners -o json
"""


class ConfigType(StrEnum):
    listeners = "listeners"
    clusters = "clusters"
    routes = "routes"
    secrets = "secrets"
    endpoints = "endpoints"


def proxy_get(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Argument(help="Envoy admin path, e.g. config_dump, clusters, stats, ready")
    ],
    pod: Annotated[str, typer.Argument(help="Name of a meshed pod")],
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="Namespace of the pod [default: the kubeconfig context's, else default]",
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Write the answer to this file")
    ] = None,
    local_port: Annotated[
        int | None,
        typer.Option(
            "--local-port",
            "-p",
            help="Local port for the port-forward [default: 15000, or a free one if taken]",
            show_default=False,
        ),
    ] = None,
    config_type: Annotated[
        ConfigType | None,
        typer.Option(
            "--type",
            "-t",
            help="Only this part of config_dump, as a table (or -o json|yaml)",
            case_sensitive=False,
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Get the answer to an Envoy admin QUERY from a meshed POD (raw unless -o/--type)."""
    from osm_mesh.errors import InvalidInput
    from osm_mesh.kube import proxy as envoy

    app_ctx = app_context(ctx)
    if config_type is not None and query.split("?", 1)[0].strip("/") != "config_dump":
        raise InvalidInput(
            f"--type selects part of config_dump, not of {query!r}",
            hint=f"Run: osm proxy get config_dump {pod} --type {config_type.value}",
        )
    kube = app_ctx.kube
    ns = namespace or kube.default_namespace
    if config_type is not None:
        query = envoy.config_dump_query(config_type.value)
    answer = envoy.envoy_admin_get(
        kube, ns, pod, query, local_port=local_port, on_debug=app_ctx.debug
    )
    if answer.status >= 400:
        first = answer.body.decode(errors="replace").strip().splitlines()[:1]
        raise InvalidInput(
            f"Envoy admin answered HTTP {answer.status} to /{query.lstrip('/')}"
            + (f": {first[0]}" if first else ""),
            hint=f"List the admin endpoints with: osm proxy get help {pod} -n {ns}",
        )

    if config_type is not None:
        subset = envoy.config_subset(envoy.parse_json(answer.body, query), config_type.value)
        if output is OutputFormat.table:
            headers, rows = envoy.summarize(config_type.value, subset)
            text = Table(headers, rows).render() if rows else f"No {config_type.value} in {pod}"
        else:
            text = dumps(subset, output)
        _write(app_ctx, file, (text + "\n").encode())
        return
    if output is OutputFormat.table:
        _write(app_ctx, file, answer.body)  # raw, as upstream
        return
    data = envoy.parse_json(answer.body, query)
    if file is None:
        emit(app_ctx, output, data)
    else:
        _write(app_ctx, file, (dumps(data, output) + "\n").encode())


def _write(app_ctx: AppContext, file: Path | None, body: bytes) -> None:
    if file is not None:
        file.write_bytes(body)
        app_ctx.debug(f"wrote {len(body)} bytes to {file}")
        return
    stdout = app_ctx.env.stdout
    buffer = getattr(stdout, "buffer", None)
    if buffer is not None:
        stdout.flush()
        buffer.write(body)
        buffer.flush()
    else:
        stdout.write(body.decode(errors="replace"))
        stdout.flush()
