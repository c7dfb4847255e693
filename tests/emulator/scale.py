"""The `scale` subresource of Deployments, StatefulSets and ReplicaSets (autoscaling/v1 Scale).

`kubectl scale` and the python client's `*_scale` methods read and write
replicas through it; writes go through the normal replace path so the workload
simulation adds or removes pods.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.emulator import patch, status

if TYPE_CHECKING:
    from tests.emulator.api import Api
    from tests.emulator.server import Target


def _scale(obj: dict) -> dict:
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 1))},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas", 0)),
            "selector": labels,
        },
    }


def serve(api: Api, t: Target, method: str, raw: bytes, content_type: str) -> dict:
    assert t.name is not None
    current = api.get(t.rt, t.namespace, t.name, t.version)
    if method in ("GET", "HEAD"):
        return _scale(current)
    if method not in ("PUT", "PATCH"):
        raise status.method_not_allowed()
    try:
        body: Any = json.loads(raw.decode() or "null")
    except ValueError as exc:
        raise status.bad_request(f"the body of the request could not be decoded: {exc}") from None
    scale = _scale(current)
    if method == "PUT":
        scale = body if isinstance(body, dict) else scale
    elif content_type.startswith("application/json-patch+json"):
        scale = patch.json_patch(scale, body)
    else:
        scale = patch.merge_patch(scale, body)
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise status.invalid(
            "Scale", t.name, "spec.replicas", replicas, "must be greater than or equal to 0"
        )
    current["spec"]["replicas"] = replicas
    current["metadata"].pop("resourceVersion", None)
    return _scale(api.replace(t.rt, t.namespace, t.name, current, t.version))
