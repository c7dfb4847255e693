"""`osm local run -f DIR`: the manifests' Deployments as processes with Envoy sidecars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from osm_cli.commands.local.view import pods_table, wait_until_interrupted
from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, dumps


def local_run(
    ctx: typer.Context,
    filename: Annotated[
        list[Path],
        typer.Option(
            "--filename", "-f", help="Manifest file or directory (repeatable)", show_default=False
        ),
    ],
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            help="Keep logs, Envoy bootstraps and state.json here (default: a temporary dir)",
        ),
    ] = None,
    address_block: Annotated[
        str | None,
        typer.Option(
            "--address-block", help="Use 127.X.Y.0/24 (give 127.X.Y); default: a random free block"
        ),
    ] = None,
    ready_timeout: Annotated[
        float,
        typer.Option(
            "--ready-timeout",
            metavar="SECONDS",
            min=1,
            help="How long each app may take to listen on $POD_IP:$PORT",
        ),
    ] = 10.0,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Run the Deployments of the manifests with Envoy sidecars until Ctrl-C.

    Each Deployment needs the annotation local.openservicemesh.io/command: what
    runs instead of its image (a leading python means this osm's Python; a
    relative path is relative to the manifest's folder). The app gets POD_IP and
    PORT (listen on $POD_IP:$PORT) and HTTP_PROXY (its sidecar, which reaches
    other apps as http://<service>.<namespace>/). A minimal manifest:

    \b
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: web
        namespace: shop
        annotations:
          local.openservicemesh.io/command: >-
            sh -c 'exec python3 -m http.server --bind "$POD_IP" "$PORT"'
      spec:
        selector:
          matchLabels: {app: web}
        template:
          metadata:
            labels: {app: web}
          spec:
            containers:
              - name: web
                ports:
                  - containerPort: 8080
      ---
      apiVersion: v1
      kind: Service
      metadata: {name: web, namespace: shop}
      spec:
        selector: {app: web}
        ports: [{port: 80, targetPort: 8080}]

    Without a MeshConfig the mesh is permissive (every app may call every
    service); the mode in force is printed at start. `osm demo --export DIR`
    writes the demo's manifests, a SMI-mode MeshConfig included, to start from.
    The manifests are checked as `osm policy lint` checks them: errors stop the
    run before anything starts.
    """
    from osm_mesh.local.runtime import LocalMesh

    app_ctx = app_context(ctx)
    mesh = LocalMesh(
        filename,
        work_dir=work_dir,
        prefix=address_block,
        progress=app_ctx.debug,
        on_wait=app_ctx.info,
        app_timeout=ready_timeout,
    )
    # The same lines `osm policy lint` prints for these files (errors already stopped us).
    for finding in mesh.findings:
        app_ctx.info(finding.text())
    app_ctx.info(mesh.traffic_policy.describe())
    unreachable = mesh.tcp_unreachable()
    if unreachable:
        app_ctx.info(
            "TCP services apps cannot reach (each is served at the service port on the "
            "caller's own address): " + "; ".join(unreachable)
        )
    try:
        app_ctx.info(f"Starting the local mesh (logs in {mesh.log_dir}) ...")
        mesh.start()
        state = mesh.state()
        if output is OutputFormat.table:
            app_ctx.out(pods_table(state).render())
            app_ctx.out(f"\nControl plane: {state['controlPlane']}  Logs: {state['logDir']}")
        else:
            app_ctx.out(dumps(state, output))
        wait_until_interrupted(app_ctx, [mesh])
    finally:
        mesh.stop()
