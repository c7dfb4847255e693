"""`osm namespace ignore NS...`."""

from __future__ import annotations

from typing import Annotated

import typer

from osm_cli.context import app_context


def namespace_ignore(
    ctx: typer.Context,
    namespaces: Annotated[list[str], typer.Argument(metavar="NAMESPACE", show_default=False)],
) -> None:
    """Label namespaces to be ignored by every mesh (no injection, no management)."""
    from osm_mesh.kube.namespaces import ignore_message, ignore_namespaces
    from osm_mesh.validation import require_namespace_name

    for name in namespaces:
        require_namespace_name(name)
    app_ctx = app_context(ctx)
    for name in ignore_namespaces(app_ctx.kube, namespaces):
        app_ctx.out(ignore_message(name))
