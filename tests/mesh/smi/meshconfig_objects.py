"""A MeshConfig object as `kubectl get meshconfig -o yaml` shows it, for the MeshConfig tests."""

from __future__ import annotations

from typing import Any

API_VERSION = "config.openservicemesh.io/v1alpha2"
METADATA = {"name": "osm-mesh-config", "namespace": "osm-system"}


def meshconfig(spec: Any = None, **top: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "MeshConfig", "metadata": METADATA}
    if spec is not None:
        obj["spec"] = spec
    return {**obj, **top}
