"""Namespace onboarding: `osm namespace add|remove|ignore|list` without the printing.

Every check is made for every namespace before the first write, so a refused namespace
never leaves the others half-onboarded. Writes are strategic-merge patches of labels and
annotations (``null`` deletes a key), as upstream does, so other labels stay untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from osm_mesh import labels
from osm_mesh.errors import Conflict, NotFound
from osm_mesh.kube import bootstrap_rbac
from osm_mesh.kube.client import Kube
from osm_mesh.kube.meshes import (
    annotations_of,
    controller_deployments,
    find_mesh,
    labels_of,
    name_of,
)
from osm_mesh.kube.rollout import STRATEGIC_MERGE, RestartedWorkload, restart_workloads
from osm_mesh.validation import require_dns1123_label, require_namespace_name

NOT_SET = "-"
IGNORED = "disabled (ignored)"


@dataclass(frozen=True)
class NamespaceRow:
    """One line of `osm namespace list`."""

    name: str
    mesh: str
    sidecar_injection: str

    def as_dict(self) -> dict[str, str]:
        return {
            "namespace": self.name,
            "mesh": self.mesh,
            "sidecarInjection": self.sidecar_injection,
        }


@dataclass(frozen=True)
class AddOutcome:
    namespace: str
    mesh: str
    # "added" | "already-added"
    action: str
    # The sidecar-injection annotation now on the namespace (None: not set).
    sidecar_injection: str | None
    # Set when an already-added namespace had its injection annotation changed.
    injection_changed: bool = False
    restarted: tuple[RestartedWorkload, ...] | None = None

    @property
    def message(self) -> str:
        if self.action == "added":
            return f"Namespace [{self.namespace}] successfully added to mesh [{self.mesh}]"
        text = f"Namespace [{self.namespace}] has already been added to mesh [{self.mesh}]"
        if self.injection_changed:
            text += f"; sidecar injection is now {self.sidecar_injection}"
        return text

    @property
    def restart_message(self) -> str | None:
        if self.restarted is None:
            return None
        done = [str(w) for w in self.restarted if not w.skipped]
        skipped = [f"{w} ({w.skipped})" for w in self.restarted if w.skipped]
        if not done and not skipped:
            return f"No workloads to restart in namespace [{self.namespace}]"
        parts = []
        if done:
            parts.append(f"Restarted {', '.join(done)} in namespace [{self.namespace}]")
        if skipped:
            parts.append(f"Not restarted: {', '.join(skipped)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class RemoveOutcome:
    namespace: str
    mesh: str
    removed: bool

    @property
    def message(self) -> str:
        if self.removed:
            return f"Namespace [{self.namespace}] successfully removed from mesh [{self.mesh}]"
        return f"Namespace [{self.namespace}] already does not belong to any mesh"


@dataclass
class _Checked:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def read_namespace(kube: Kube, name: str) -> _Checked:
    from kubernetes.client.exceptions import ApiException

    try:
        ns = kube.core.read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            raise NotFound(
                f"Namespace [{name}] does not exist",
                hint=f"Create it first: kubectl create namespace {name}",
            ) from None
        raise
    return _Checked(name, labels_of(ns), annotations_of(ns))


def patch_namespace_metadata(kube: Kube, name: str, metadata: dict[str, Any]) -> None:
    kube.core.patch_namespace(name, {"metadata": metadata}, _content_type=STRATEGIC_MERGE)


def _is_ignored(ns: _Checked) -> bool:
    return ns.labels.get(labels.IGNORE_LABEL) == labels.IGNORE_LABEL_VALUE


def add_namespaces(
    kube: Kube,
    names: Sequence[str],
    mesh_name: str,
    sidecar_injection: bool | None = None,
    restart: bool = False,
    now: datetime | None = None,
) -> list[AddOutcome]:
    """Add ``names`` to ``mesh_name``.

    ``sidecar_injection``: True/False set the annotation to enabled/disabled; None (neither
    flag given) enables it on namespaces being added and leaves already-added ones alone.
    """
    names = unique(require_namespace_name(n) for n in names)
    require_dns1123_label("mesh", mesh_name)
    mesh = find_mesh(kube, mesh_name)
    if mesh is None:
        raise NotFound(
            f"mesh [{mesh_name}] does not exist, please specify another mesh using "
            "--mesh-name or create a new mesh",
            hint="List the meshes with: osm mesh list",
        )
    checked = []
    for name in names:
        ns = read_namespace(kube, name)
        if _is_ignored(ns):
            raise Conflict(
                f"Cannot add ignored namespace [{name}] to mesh [{mesh_name}]",
                hint=f"Remove the label first: kubectl label namespace {name} "
                f"{labels.IGNORE_LABEL}-",
            )
        if controller_deployments(kube, name):
            raise Conflict(
                f"Namespace [{name}] already has [{labels.CONTROLLER_NAME}] installed "
                f"and cannot be added to mesh [{mesh_name}]"
            )
        owner = ns.labels.get(labels.MONITORED_BY_LABEL)
        if owner and owner != mesh_name:
            raise Conflict(
                f"Namespace [{name}] belongs to mesh [{owner}], not mesh [{mesh_name}]",
                hint=f"Remove it from that mesh first: osm namespace remove {name} "
                f"--mesh-name {owner}",
            )
        checked.append(ns)

    wanted = None
    if sidecar_injection is not None:
        wanted = labels.INJECTION_ENABLED if sidecar_injection else labels.INJECTION_DISABLED
    outcomes = []
    for ns in checked:
        # First the controller's right to keep the namespace's bootstrap Secrets (owner and
        # renewal), then the label that makes pods there get sidecars: never sidecars whose
        # Secrets nobody may keep.
        bootstrap_rbac.grant(kube, mesh_name, ns.name, mesh.namespace)
        current = ns.annotations.get(labels.SIDECAR_INJECTION_ANNOTATION)
        if ns.labels.get(labels.MONITORED_BY_LABEL) == mesh_name:
            changed = wanted is not None and wanted != current
            if changed:
                patch_namespace_metadata(
                    kube, ns.name, {"annotations": {labels.SIDECAR_INJECTION_ANNOTATION: wanted}}
                )
            outcome = AddOutcome(
                ns.name, mesh_name, "already-added", wanted if changed else current, changed
            )
        else:
            injection = wanted or labels.INJECTION_ENABLED
            patch_namespace_metadata(
                kube,
                ns.name,
                {
                    "labels": {labels.MONITORED_BY_LABEL: mesh_name},
                    "annotations": {labels.SIDECAR_INJECTION_ANNOTATION: injection},
                },
            )
            outcome = AddOutcome(ns.name, mesh_name, "added", injection)
        if restart:
            restarted = tuple(restart_workloads(kube, ns.name, now))
            outcome = AddOutcome(
                outcome.namespace,
                outcome.mesh,
                outcome.action,
                outcome.sidecar_injection,
                outcome.injection_changed,
                restarted,
            )
        outcomes.append(outcome)
    return outcomes


def remove_namespace(kube: Kube, name: str, mesh_name: str) -> RemoveOutcome:
    require_namespace_name(name)
    require_dns1123_label("mesh", mesh_name)
    ns = read_namespace(kube, name)
    owner = ns.labels.get(labels.MONITORED_BY_LABEL)
    if not owner:
        return RemoveOutcome(name, mesh_name, removed=False)
    if owner != mesh_name:
        raise Conflict(
            f"Namespace belongs to mesh [{owner}], not mesh [{mesh_name}]. "
            "Please specify the correct mesh",
            hint=f"Run: osm namespace remove {name} --mesh-name {owner}",
        )
    patch_namespace_metadata(
        kube,
        name,
        {
            "labels": {labels.MONITORED_BY_LABEL: None, labels.IGNORE_LABEL: None},
            "annotations": {
                labels.SIDECAR_INJECTION_ANNOTATION: None,
                labels.METRICS_ANNOTATION: None,
            },
        },
    )
    bootstrap_rbac.revoke(kube, mesh_name, name)
    return RemoveOutcome(name, mesh_name, removed=True)


def ignore_namespaces(kube: Kube, names: Sequence[str]) -> list[str]:
    """Label ``names`` to be ignored by every mesh; all must exist before any is changed."""
    names = unique(require_namespace_name(n) for n in names)
    for name in names:
        read_namespace(kube, name)
    for name in names:
        patch_namespace_metadata(
            kube, name, {"labels": {labels.IGNORE_LABEL: labels.IGNORE_LABEL_VALUE}}
        )
    return names


def ignore_message(name: str) -> str:
    return f"Successfully configured namespace [{name}] to be ignored"


def list_namespaces(kube: Kube, mesh_name: str | None = None) -> list[NamespaceRow]:
    """Namespaces monitored by ``mesh_name`` (or by any mesh), sorted by name."""
    selector = labels.MONITORED_BY_LABEL
    if mesh_name:
        require_dns1123_label("mesh", mesh_name)
        selector = f"{labels.MONITORED_BY_LABEL}={mesh_name}"
    result = kube.core.list_namespace(label_selector=selector)
    rows = []
    ns: Any
    for ns in result.items or []:
        ns_labels = labels_of(ns)
        annotations = annotations_of(ns)
        injection = annotations.get(labels.SIDECAR_INJECTION_ANNOTATION, NOT_SET)
        if labels.IGNORE_LABEL in ns_labels:
            injection = IGNORED
        rows.append(
            NamespaceRow(name_of(ns), ns_labels.get(labels.MONITORED_BY_LABEL, ""), injection)
        )
    return sorted(rows, key=lambda r: r.name)


def empty_list_message(mesh_name: str | None) -> str:
    if mesh_name:
        return f"No namespaces in mesh [{mesh_name}]"
    return "No namespaces in any mesh"
