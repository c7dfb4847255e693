"""`Status` bodies shaped exactly like the API server's, raised as ApiError.

Clients (kubernetes-python, client-go, helm) branch on `reason` and `code`, and
the osm CLI shows `message`; the wording follows the real apiserver so error
translation is tested against what a cluster would say.
"""

from __future__ import annotations

from typing import Any

from tests.emulator.resources import ResourceType

USER = "emulator"


class ApiError(Exception):
    """An error response: HTTP code plus a Status body."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.headers = headers or {}
        self.body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details or {},
            "code": code,
        }


def success_status(rt: ResourceType | None = None, name: str | None = None) -> dict:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if rt:
        details["kind"] = rt.plural
        if rt.group:
            details["group"] = rt.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _details(rt: ResourceType, name: str) -> dict:
    details = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name)
    )


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(rt, name),
    )


def forbidden(
    verb: str, resource: str, group: str, namespace: str | None, name: str | None = None
) -> ApiError:
    """RBAC's wording, e.g. `pods is forbidden: User "emulator" cannot list resource ...`."""
    base, _, sub = resource.partition("/")
    qualified = f"{base}.{group}" if group else base
    subject = f'{qualified} "{name}"' if name else qualified
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    sub_text = f' with subresource "{sub}"' if sub else ""
    # RBAC spells the subresource out separately ("resource "pods/log"" style differs by version).
    message = (
        f'{subject} is forbidden: User "{USER}" cannot {verb} resource "{base}"{sub_text} '
        f'in API group "{group}" {where}'
    )
    details: dict[str, Any] = {"kind": base}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return ApiError(403, "Forbidden", message, details)


def invalid(kind: str, name: str, field: str, value: Any, detail: str, rt=None) -> ApiError:
    cause_message = f'Invalid value: "{value}": {detail}'
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": cause_message, "field": field}],
    }
    if rt is not None and rt.group:
        details["group"] = rt.group
    return ApiError(
        422, "Invalid", f'{kind} "{name}" is invalid: {field}: {cause_message}', details
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json-patch+json, application/merge-patch+json, "
        f"application/apply-patch+yaml (got {content_type})",
    )


def service_unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def reinitializing() -> ApiError:
    """What a real API server answers while a resource's watch cache is being rebuilt (right
    after its CRD changed): 429 with Retry-After, which clients are expected to honour."""
    return ApiError(
        429,
        "TooManyRequests",
        "storage is (re)initializing",
        {"retryAfterSeconds": 1},
        headers={"Retry-After": "1"},
    )
