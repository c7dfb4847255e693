"""`osm install` and `osm mesh upgrade` (`osm uninstall mesh`: ``uninstall``), without printing.

Each flow checks everything it can before the first write — names, ``--set`` syntax, the
chart and its values (rendered offline by ``helm template``, which also applies
values.schema.json), the ``helm`` binary, the cluster, existing meshes — so a refusal leaves
the cluster untouched. Progress goes to a ``Progress`` object the CLI supplies.

These are coroutines: pyhelm3 is async, and the CLI runs each flow with one ``asyncio.run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from osm_mesh import labels
from osm_mesh.errors import Conflict, InvalidInput, MeshError, NotFound, Timeout
from osm_mesh.helm.client import HelmClient, Release, gather, parse_manifests
from osm_mesh.helm.location import ChartInfo, crd_documents, load_chart
from osm_mesh.helm.values import Values, get_path, merge, set_path, user_values
from osm_mesh.kube.readiness import WorkloadStatus, wait_for_deployments
from osm_mesh.validation import dns1123_label_problem

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube

# Helm stores a release in Secrets named sh.helm.release.v1.<name>.v<N>: names over 53
# characters are refused by Helm, so the mesh name (= release name) is held to that.
MAX_MESH_NAME = 53
ADDONS = {
    "prometheus": "osm.deployPrometheus",
    "grafana": "osm.deployGrafana",
    "jaeger": "osm.deployJaeger",
}


class Progress(Protocol):
    def step(self, text: str) -> None: ...

    def workloads(self, statuses: list[WorkloadStatus]) -> None: ...


class NoProgress:
    def step(self, text: str) -> None:
        pass

    def workloads(self, statuses: list[WorkloadStatus]) -> None:
        pass


def validate_mesh_name(name: str) -> str:
    problem = dns1123_label_problem(name, MAX_MESH_NAME)
    if problem:
        raise InvalidInput(
            f"invalid mesh name {name!r}: {problem}",
            hint="A mesh name is also the Helm release name: a DNS-1123 label of at most "
            f"{MAX_MESH_NAME} characters, e.g. osm or my-mesh",
        )
    return name


def validate_namespace(name: str) -> str:
    problem = dns1123_label_problem(name)
    if problem:
        raise InvalidInput(f"invalid namespace name {name!r}: {problem}")
    return name


@dataclass(frozen=True)
class InstallOptions:
    mesh_name: str = labels.DEFAULT_MESH_NAME
    namespace: str = labels.DEFAULT_OSM_NAMESPACE
    chart_path: str | None = None
    sets: Sequence[str] = ()
    value_files: Sequence[str] = ()
    enforce_single_mesh: bool = True
    timeout_s: float = 300.0
    atomic: bool = False
    # Add-on flags: None = not given on the command line.
    addons: dict[str, bool | None] = field(default_factory=dict)


@dataclass
class Prepared:
    """Everything known before touching the cluster."""

    chart: ChartInfo
    values: Values
    manifest: str
    _objects: list[dict[str, Any]] | None = None

    @property
    def objects(self) -> list[dict[str, Any]]:
        # Parsed on demand: a YAML dry run prints helm's text and never needs the objects.
        if self._objects is None:
            self._objects = parse_manifests(self.manifest)
        return self._objects

    def deployments(self, namespace: str) -> list[str]:
        return [
            str(o["metadata"]["name"])
            for o in self.objects
            if o.get("kind") == "Deployment"
            and o.get("metadata", {}).get("namespace", namespace) == namespace
        ]


def install_values(options: InstallOptions) -> Values:
    """-f files, then --set, then the flags the CLI owns (upstream forces the mesh name and
    single-mesh enforcement from its flags, whatever --set said)."""
    values = user_values(options.value_files, options.sets)
    for addon, flag in options.addons.items():
        if flag is not None:
            set_path(values, ADDONS[addon], flag)
    # Grafana without Prometheus shows empty dashboards: ask for one, get both, unless
    # Prometheus was explicitly turned off.
    if (
        get_path(values, ADDONS["grafana"]) is True
        and get_path(values, ADDONS["prometheus"]) is None
    ):
        set_path(values, ADDONS["prometheus"], True)
    set_path(values, "osm.meshName", options.mesh_name)
    set_path(values, "osm.enforceSingleMesh", options.enforce_single_mesh)
    return values


async def prepare(
    helm: HelmClient,
    options: InstallOptions,
    values: Values | None = None,
    *,
    offline: bool = False,
) -> Prepared:
    """Validate names, values and chart, and render offline.

    Before a cluster operation helm's version is checked alongside the render. An
    ``offline`` render (``--dry-run``) only checks it when the render fails: a helm that
    renders the chart has done all a dry run needs, and the check would cost one more process.
    """
    validate_mesh_name(options.mesh_name)
    validate_namespace(options.namespace)
    chart = load_chart(options.chart_path)
    values = install_values(options) if values is None else values
    render = helm.template(options.mesh_name, chart.path, values, options.namespace)
    if offline:
        try:
            manifest = await render
        except MeshError:
            await helm.check()  # a too-old helm explains the failure better
            raise
    else:
        _, manifest = await gather(helm.check(), render)
    return Prepared(chart, values, manifest)


@dataclass(frozen=True)
class InstallResult:
    mesh_name: str
    namespace: str
    release: Release
    workloads: list[WorkloadStatus]


async def install(
    kube: Kube, helm: HelmClient, options: InstallOptions, progress: Progress | None = None
) -> InstallResult:
    from osm_mesh.kube.install_checks import check_can_install

    progress = progress or NoProgress()
    prepared = await prepare(helm, options)
    check_can_install(kube, options.mesh_name, options.namespace, options.enforce_single_mesh)
    existing = await helm.status(options.mesh_name, options.namespace)
    if existing is not None:
        raise Conflict(
            f"Helm release [{options.mesh_name}] already exists in namespace "
            f"[{options.namespace}] (status {existing.status or 'unknown'})",
            hint=f"Remove it with `osm uninstall mesh --mesh-name {options.mesh_name} "
            f"--osm-namespace {options.namespace}` or choose another --mesh-name",
        )
    _ensure_crds(kube, prepared.chart, progress)
    progress.step(f"Installing mesh [{options.mesh_name}] in namespace [{options.namespace}]")
    release = await _apply_and_wait(kube, helm, options, prepared, progress, previous_revision=None)
    return release


async def _apply_and_wait(
    kube: Kube,
    helm: HelmClient,
    options: InstallOptions,
    prepared: Prepared,
    progress: Progress,
    previous_revision: int | None,
) -> InstallResult:
    try:
        release = await helm.install_or_upgrade(
            options.mesh_name,
            prepared.chart.path,
            prepared.values,
            options.namespace,
            timeout_s=options.timeout_s,
        )
        deployments = prepared.deployments(options.namespace)
        statuses = await wait_for_deployments(
            kube, options.namespace, deployments, options.timeout_s, progress.workloads
        )
    except Exception as raised:
        exc = _as_mesh_error(raised)
        if exc is None:
            raise
        if options.atomic:
            await _roll_back(helm, options, previous_revision, exc)
        elif isinstance(exc, Timeout):
            exc.hint = (exc.hint + "\n" if exc.hint else "") + _left_in_place_hint(options)
        if exc is raised:
            raise
        raise exc from None
    return InstallResult(options.mesh_name, options.namespace, release, statuses)


def _as_mesh_error(exc: BaseException) -> MeshError | None:
    """MeshErrors, and Kubernetes client/transport errors as MeshErrors (so --atomic also
    rolls back after, say, a 403 while waiting); None for anything else (a bug)."""
    if isinstance(exc, MeshError):
        return exc
    module = type(exc).__module__ or ""
    if module.startswith(("kubernetes", "urllib3")):
        from osm_mesh.kube.errors import translate

        return translate(exc)
    return None


def _ensure_crds(kube: Kube, chart: ChartInfo, progress: Progress) -> None:
    """Helm never updates ``crds/``: bring existing CRDs up to the chart's (all SMI versions)."""
    from osm_mesh.kube.crds import ensure_crds

    for change in ensure_crds(kube, crd_documents(chart)):
        progress.step(change.describe())


def _left_in_place_hint(options: InstallOptions) -> str:
    return (
        f"The release is left in place: fix the cause and run `osm mesh upgrade --mesh-name "
        f"{options.mesh_name}`, or remove it with `osm uninstall mesh --mesh-name "
        f"{options.mesh_name} -f` (--atomic does that automatically)"
    )


async def _roll_back(
    helm: HelmClient, options: InstallOptions, previous_revision: int | None, exc: MeshError
) -> None:
    try:
        if previous_revision is None:
            await helm.uninstall(options.mesh_name, options.namespace, timeout_s=options.timeout_s)
            done = "the release was uninstalled (--atomic)"
        else:
            await helm.rollback(options.mesh_name, options.namespace, previous_revision)
            done = f"rolled back to revision {previous_revision} (--atomic)"
    except MeshError as rollback_error:
        done = f"rolling back failed too: {rollback_error.message}"
    exc.hint = (exc.hint + "\n" if exc.hint else "") + done.capitalize()


@dataclass(frozen=True)
class UpgradeOptions:
    mesh_name: str = labels.DEFAULT_MESH_NAME
    namespace: str = labels.DEFAULT_OSM_NAMESPACE
    chart_path: str | None = None
    sets: Sequence[str] = ()
    value_files: Sequence[str] = ()
    timeout_s: float = 300.0
    atomic: bool = False
    # False: keep the values the mesh was installed/upgraded with and apply --set on top.
    # True: upstream's behaviour, chart defaults + --set only.
    reset_values: bool = False


async def upgrade(
    kube: Kube, helm: HelmClient, options: UpgradeOptions, progress: Progress | None = None
) -> InstallResult:
    progress = progress or NoProgress()
    validate_mesh_name(options.mesh_name)
    validate_namespace(options.namespace)
    layered = user_values(options.value_files, options.sets)
    load_chart(options.chart_path)
    await helm.check()
    current = await helm.status(options.mesh_name, options.namespace)
    if current is None:
        raise NotFound(
            f"Did not find mesh [{options.mesh_name}] in namespace [{options.namespace}]",
            hint="List meshes with `osm mesh list`; pass --mesh-name and --osm-namespace",
        )
    previous: Values = (
        {} if options.reset_values else await helm.values(options.mesh_name, options.namespace)
    )
    values = merge(previous, layered)
    set_path(values, "osm.meshName", options.mesh_name)
    install_like = InstallOptions(
        mesh_name=options.mesh_name,
        namespace=options.namespace,
        chart_path=options.chart_path,
        timeout_s=options.timeout_s,
        atomic=options.atomic,
        enforce_single_mesh=bool(get_path(values, "osm.enforceSingleMesh", True)),
    )
    prepared = await prepare(helm, install_like, values)
    _ensure_crds(kube, prepared.chart, progress)
    progress.step(f"Upgrading mesh [{options.mesh_name}] in namespace [{options.namespace}]")
    return await _apply_and_wait(
        kube, helm, install_like, prepared, progress, previous_revision=current.revision
    )
