"""Bring the cluster's SMI and MeshConfig CRDs up to the chart's.

Helm installs ``crds/`` only when a CRD is absent and never updates it, so a cluster that
once ran OSM v1.2 keeps CRDs serving only TrafficTarget v1alpha3, HTTPRouteGroup v1alpha4 and
TrafficSplit v1alpha2 — and the article's access/v1alpha2 and specs/v1alpha3 manifests would
still be rejected. Upstream's osm-bootstrap updated the CRDs at start for the same reason;
here `osm install` and `osm mesh upgrade` do it, after every check has passed.

Only additions are made: versions already stored (``status.storedVersions``) stay served,
since the API server refuses to drop them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube


@dataclass(frozen=True)
class CrdChange:
    name: str
    action: str  # "created" | "updated"
    added_versions: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.action == "created":
            return f"Created CRD {self.name}"
        added = ", ".join(self.added_versions)
        return f"Updated CRD {self.name}" + (f" (now also serves {added})" if added else "")


TERMINATING_WAIT_S = 120.0

# The CLI owns the CRDs (helm runs with --skip-crds): one named manager in managedFields.
FIELD_MANAGER = "osm"


def ensure_crds(kube: Kube, documents: list[dict[str, Any]]) -> list[CrdChange]:
    """Create missing CRDs and update those whose definition differs from the chart's."""
    from kubernetes.client.exceptions import ApiException

    api = kube.apiextensions
    changes: list[CrdChange] = []
    for wanted in documents:
        name = wanted["metadata"]["name"]
        try:
            current = _read_unless_terminating(kube, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            api.create_custom_resource_definition(
                body=cast(Any, copy.deepcopy(wanted)), field_manager=FIELD_MANAGER
            )
            changes.append(CrdChange(name, "created"))
            continue
        current_dict = api.api_client.sanitize_for_serialization(current)
        body = _merged(wanted, current_dict)
        if _comparable(body["spec"]) == _comparable(current_dict.get("spec", {})):
            continue
        body["metadata"]["resourceVersion"] = current_dict["metadata"].get("resourceVersion")
        api.replace_custom_resource_definition(
            name, body=cast(Any, body), field_manager=FIELD_MANAGER
        )
        served_before = {v["name"] for v in current_dict["spec"].get("versions", [])}
        added = tuple(v["name"] for v in body["spec"]["versions"] if v["name"] not in served_before)
        changes.append(CrdChange(name, "updated", added))
    return changes


def _read_unless_terminating(kube: Kube, name: str, timeout_s: float = TERMINATING_WAIT_S):
    """The CRD, or 404 once a CRD being deleted is gone.

    A real API server deletes a CRD asynchronously (its finalizer first deletes every stored
    object): right after `osm uninstall mesh -a` the CRD is still there with a
    deletionTimestamp, and treating it as present would leave the new mesh with no CRD once
    the deletion completes."""
    import time

    from osm_mesh.errors import Timeout

    deadline = time.monotonic() + timeout_s
    while True:
        current = kube.apiextensions.read_custom_resource_definition(name)
        if current.metadata is None or current.metadata.deletion_timestamp is None:
            return current
        if time.monotonic() > deadline:
            raise Timeout(
                f"CRD {name} is still being deleted after {timeout_s:.0f} s",
                hint=f"Check what holds it: kubectl get crd {name} -o yaml (finalizers)",
            )
        time.sleep(0.5)


def _merged(wanted: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The chart's CRD, keeping versions the cluster has stored objects in."""
    body = copy.deepcopy(wanted)
    stored = set((current.get("status") or {}).get("storedVersions") or [])
    ours = {v["name"] for v in body["spec"]["versions"]}
    for version in current.get("spec", {}).get("versions", []):
        if version["name"] in stored and version["name"] not in ours:
            keep = copy.deepcopy(version)
            keep["storage"] = False
            body["spec"]["versions"].append(keep)
    labels = dict((current.get("metadata") or {}).get("labels") or {})
    labels.update(body["metadata"].get("labels") or {})
    body["metadata"]["labels"] = labels
    return body


def _comparable(spec: dict[str, Any]) -> Any:
    """What decides whether the CRD must change, without fields the API server defaults
    (``preserveUnknownFields``, ``names.listKind``, empty subresources...)."""
    names = dict(spec.get("names") or {})
    names.pop("listKind", None)
    versions = [
        (
            v.get("name"),
            bool(v.get("served")),
            bool(v.get("storage")),
            (v.get("schema") or {}).get("openAPIV3Schema"),
            v.get("subresources") or None,
        )
        for v in spec.get("versions") or []
    ]
    return spec.get("group"), spec.get("scope"), names, sorted(versions, key=lambda v: str(v[0]))
