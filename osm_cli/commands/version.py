"""`osm version`: the client's version and, per mesh, the control plane's.

The control-plane part needs the cluster; without one (or without a mesh) the client
version is still printed, a note goes to stderr and the exit code stays 0 (osm#4427).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, Table, emit

NO_CONTROL_PLANE = "Unable to find OSM control plane in the cluster"

app = typer.Typer(add_completion=False)


def client_info() -> dict[str, str]:
    import osm_mesh

    return {
        "version": osm_mesh.__version__,
        "gitCommit": osm_mesh.GIT_COMMIT,
        "buildDate": osm_mesh.BUILD_DATE,
    }


@app.command()
def version(
    ctx: typer.Context,
    client_only: Annotated[
        bool, typer.Option("--client-only", help="Print the client version only; no cluster call")
    ] = False,
    version_only: Annotated[
        bool, typer.Option("--version-only", help="Print version numbers only (no commit, date)")
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Print the osm CLI's version and the version of every mesh's control plane."""
    app_ctx = app_context(ctx)
    cli = client_info()
    data: dict[str, Any] = {"cli": {"version": cli["version"]} if version_only else cli}
    remote = None if client_only else _remote_versions(ctx)
    if remote is not None:
        short = ("meshName", "meshNamespace", "version")
        data["meshes"] = [
            {k: v for k, v in r.items() if not version_only or k in short} for r in remote
        ]
    if output is not OutputFormat.table:
        emit(app_ctx, output, data)
        return
    if version_only:
        app_ctx.out(f"CLI Version: {cli['version']}")
    else:
        app_ctx.out(
            f"CLI Version: {cli['version']}; Commit: {cli['gitCommit']}; Date: {cli['buildDate']}"
        )
    if remote:
        headers = ["MESH NAME", "MESH NAMESPACE", "VERSION"]
        keys = ["meshName", "meshNamespace", "version"]
        if not version_only:
            headers += ["GIT COMMIT", "BUILD DATE"]
            keys += ["gitCommit", "buildDate"]
        app_ctx.out()
        emit(app_ctx, output, data, Table(headers, [[r[k] for k in keys] for r in remote]))


def _remote_versions(ctx: typer.Context) -> list[dict[str, Any]] | None:
    """Per-mesh versions, or None (with a note on stderr) when they cannot be had."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from osm_mesh.errors import MeshError
    from osm_mesh.kube.errors import translate
    from osm_mesh.kube.meshes import controller_versions, list_meshes

    app_ctx = app_context(ctx)
    try:
        kube = app_ctx.kube
        meshes = list_meshes(kube, with_namespaces=False)
        if not meshes:
            app_ctx.info(NO_CONTROL_PLANE)
            return []
        found = controller_versions(kube, meshes)
    # Only cluster trouble is turned into a note; anything else is a bug and surfaces.
    except (MeshError, ApiException, HTTPError, OSError) as exc:
        error = exc if isinstance(exc, MeshError) else translate(exc)
        app_ctx.info(f"Control-plane versions unavailable: {error.message}")
        if error.hint:
            app_ctx.info(error.hint)
        return None
    for item in found:
        if item.error:
            app_ctx.warn(f"mesh [{item.mesh}] in namespace [{item.namespace}]: {item.error}")
        ca_warning = _ca_expiry_warning(item.ca_not_after)
        if ca_warning:
            app_ctx.warn(f"mesh [{item.mesh}] in namespace [{item.namespace}]: {ca_warning}")
    return [item.as_dict() for item in found]


def _ca_expiry_warning(not_after: str) -> str | None:
    import datetime as dt

    from osm_mesh.certs.ca import expiry_warning

    try:
        when = dt.datetime.fromisoformat(not_after)
    except ValueError:
        return None  # an older controller does not report it
    return expiry_warning(when if when.tzinfo else when.replace(tzinfo=dt.UTC))
