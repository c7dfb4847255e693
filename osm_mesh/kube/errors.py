"""Kubernetes client and transport errors → one-line MeshErrors.

The API server answers failures with a ``Status`` object; its ``message`` is
what users need, plus a hint for the common cases (RBAC, unreachable cluster).
"""

from __future__ import annotations

import json

from osm_mesh.errors import (
    ClusterUnreachable,
    Conflict,
    InvalidInput,
    MeshError,
    NotFound,
    PermissionDenied,
)

UNREACHABLE_HINT = "Check that the cluster is running and that --kubeconfig/--context point at it"


def status_message(body: str | bytes | None) -> str | None:
    if not body:
        return None
    try:
        status = json.loads(body)
    except (ValueError, TypeError):
        return None
    if isinstance(status, dict) and status.get("kind") == "Status":
        message = status.get("message")
        return str(message) if message else None
    return None


def translate(exc: BaseException) -> MeshError:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config import ConfigException

    if isinstance(exc, MeshError):
        return exc
    if isinstance(exc, ApiException):
        code = exc.status or 0
        message = status_message(exc.body) or exc.reason or f"HTTP {code}"
        if code == 404:
            return NotFound(message)
        if code == 409:
            return Conflict(message)
        if code in (401, 403):
            return PermissionDenied(
                message,
                hint="Ask your cluster administrator for the permission named above"
                if code == 403
                else "Your credentials were rejected: refresh them or check the kubeconfig user",
            )
        if code in (400, 422):
            return InvalidInput(message)
        if code == 0:
            return ClusterUnreachable(
                f"Could not access Kubernetes cluster, check kubeconfig: {message}",
                hint=UNREACHABLE_HINT,
            )
        return MeshError(f"Kubernetes API error ({code}): {message}")
    if isinstance(exc, ConfigException):
        return ClusterUnreachable(f"Invalid kubeconfig: {exc}", hint=UNREACHABLE_HINT)
    # urllib3 MaxRetryError / NewConnectionError / timeouts, and plain OS errors.
    reason = getattr(exc, "reason", None) or exc
    return ClusterUnreachable(
        f"Could not access Kubernetes cluster, check kubeconfig: {_short(reason)}",
        hint=UNREACHABLE_HINT,
    )


def _short(reason: object) -> str:
    text = str(reason)
    # urllib3 wraps the useful part: "<...>: Failed to establish a new connection: [Errno 111] ..."
    if "Failed to establish a new connection" in text:
        return "connection refused" if "111" in text else text.split(": ", 1)[-1].rstrip(")'\"")
    if "timed out" in text.lower():
        return "connection timed out"
    return text
