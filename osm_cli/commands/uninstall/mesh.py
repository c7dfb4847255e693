"""`osm uninstall mesh`: Helm uninstall of a mesh, after asking (``-f`` skips the question).

CRDs, webhook configurations and the CA Secret go only with ``-a``: the CRDs hold the users'
policies (osm#3760).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from osm_cli.commands._helm import helm_client, run_with_progress
from osm_cli.context import app_context
from osm_cli.output import OutputFormat, OutputOption, Table, emit

if TYPE_CHECKING:
    from osm_cli.context import AppContext
    from osm_mesh.helm.uninstall import MeshRef
    from osm_mesh.helm.uninstall_plan import UninstallPlan

PROMPT = "Uninstall OSM [mesh name: {mesh}] in namespace [{namespace}] and/or OSM resources?"
TRIES = 3


def uninstall_mesh(
    ctx: typer.Context,
    mesh_name: Annotated[
        str | None,
        typer.Option(
            "--mesh-name", help="Mesh to uninstall [default: every mesh in the namespace]"
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Uninstall without asking")] = False,
    delete_cluster_wide_resources: Annotated[
        bool,
        typer.Option(
            "--delete-cluster-wide-resources",
            "-a",
            help="Also delete the SMI and MeshConfig CRDs (and so every policy), the mesh's "
            "webhook configurations and its CA Secret",
        ),
    ] = False,
    delete_namespace: Annotated[
        bool, typer.Option("--delete-namespace", help="Also delete the control-plane namespace")
    ] = False,
    ca_bundle_secret_name: Annotated[
        str, typer.Option("--ca-bundle-secret-name", help="CA Secret deleted by -a")
    ] = "osm-ca-bundle",
    timeout: Annotated[str, typer.Option("--timeout", help="Helm uninstall timeout")] = "5m",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List every object the uninstall would delete or keep, and the sidecars that "
            "stay in running pods; change nothing",
        ),
    ] = False,
    output: OutputOption = OutputFormat.table,
) -> None:
    from osm_mesh.helm import uninstall
    from osm_mesh.validation import parse_duration

    app_ctx = app_context(ctx)
    namespace = app_ctx.settings.osm_namespace
    options = uninstall.UninstallOptions(
        mesh_name=mesh_name,
        namespace=namespace,
        delete_cluster_wide=delete_cluster_wide_resources,
        delete_namespace=delete_namespace,
        ca_bundle_secret_name=ca_bundle_secret_name,
        timeout_s=parse_duration(timeout),
    )
    if dry_run:
        from osm_mesh.helm.uninstall_plan import plan_uninstall

        plan = run_with_progress(
            app_ctx,
            lambda _progress: plan_uninstall(app_ctx.kube, helm_client(app_ctx), options),
        )
        _show_plan(app_ctx, plan, output)
        return
    if output is not OutputFormat.table:
        raise typer.BadParameter("-o json|yaml needs --dry-run", param_hint="'--output'")
    shown: list[bool] = []

    def confirm(mesh: MeshRef, found: list[MeshRef]) -> bool:
        if not shown:
            shown.append(True)
            _show_meshes(app_ctx, found)
        if force:
            return True
        return _ask(app_ctx, PROMPT.format(mesh=mesh.name, namespace=mesh.namespace))

    result = run_with_progress(
        app_ctx,
        lambda progress: uninstall.uninstall(
            app_ctx.kube, helm_client(app_ctx), options, confirm, progress
        ),
    )
    if result.nothing_to_do:
        app_ctx.out("No OSM control planes found")
        app_ctx.info("Nothing to do: no mesh, and no cluster-wide resources left to delete")
        return
    for mesh in result.uninstalled:
        app_ctx.out(f"OSM [mesh name: {mesh.name}] in namespace [{mesh.namespace}] uninstalled")
    for mesh in result.declined:
        app_ctx.info(f"Kept OSM [mesh name: {mesh.name}] in namespace [{mesh.namespace}]")
    for item in result.deleted:
        app_ctx.info(f"Deleted {item}")
    if result.kept:
        app_ctx.info(
            "Kept the SMI and MeshConfig CRDs: other meshes still use them ("
            + ", ".join(f"[{m.name}]" for m in result.meshes_found if m not in result.uninstalled)
            + ")"
        )
    if not delete_cluster_wide_resources and result.uninstalled:
        app_ctx.info(
            "CRDs (and your SMI policies), webhook configurations and the CA Secret were kept; "
            "`osm uninstall mesh -a` removes them"
        )
        # The injector webhook fails closed: with its server gone, pod creation in the
        # mesh's namespaces is refused until a reinstall or `-a` (upstream removed it in a hook).
        app_ctx.warn(
            "the sidecar-injection webhook configuration (osm-webhook-<mesh>, failurePolicy Fail) "
            "refuses new pods in the mesh's namespaces until you reinstall or run "
            "`osm uninstall mesh -a`, or remove the namespaces with `osm namespace remove`"
        )
    if result.namespace_deleted:
        app_ctx.out(f"OSM namespace [{namespace}] deleted successfully")


def _show_plan(app_ctx: AppContext, plan: UninstallPlan, output: OutputFormat) -> None:
    if output is not OutputFormat.table:
        emit(app_ctx, output, plan.as_dict())
        return
    if plan.nothing_to_do:
        app_ctx.out("No OSM control planes found: nothing would be deleted")
        return
    meshes = ", ".join(f"[{m.name}] in namespace [{m.namespace}]" for m in plan.meshes)
    app_ctx.info(f"Dry run: uninstalling mesh {meshes} would do this; nothing was changed.")
    rows = [(o.action, o.kind, o.namespace or "-", o.name, o.reason) for o in plan.objects]
    app_ctx.out(Table(("ACTION", "KIND", "NAMESPACE", "NAME", "WHY"), rows).render())
    if plan.sidecars:
        app_ctx.out()
        app_ctx.out(
            f"{len(plan.sidecars)} running pod(s) keep their Envoy sidecar (last configuration, "
            "certificates until they expire) until restarted:"
        )
        pods = [(s.namespace, s.pod, s.mesh, s.phase) for s in plan.sidecars]
        app_ctx.out(Table(("NAMESPACE", "POD", "MESH", "PHASE"), pods).render())
        app_ctx.info(
            "To remove them: `osm namespace remove NS` for each namespace, then restart its "
            "workloads (kubectl rollout restart deployment -n NS)"
        )


def _show_meshes(app_ctx: AppContext, meshes: list[MeshRef]) -> None:
    if not meshes:
        return
    rows = [(m.name, m.namespace, m.version or "Unknown") for m in meshes]
    app_ctx.info("\nList of meshes present in the cluster:\n")
    app_ctx.info(Table(("MESH NAME", "MESH NAMESPACE", "VERSION"), rows).render() + "\n")


def _ask(app_ctx: AppContext, question: str) -> bool:
    """Upstream's prompt: y or n, three tries, then no."""
    from osm_mesh.errors import InvalidInput

    stream = app_ctx.env.stdin
    for _ in range(TRIES):
        app_ctx.env.stderr.write(f"{question} [y/n]: ")
        app_ctx.env.stderr.flush()
        line = stream.readline()
        if line == "":
            raise InvalidInput(
                "no answer to the confirmation prompt (standard input is closed)",
                hint="Pass -f to uninstall without asking",
            )
        answer = line.strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        if answer:
            app_ctx.info("Invalid input.")
    return False
