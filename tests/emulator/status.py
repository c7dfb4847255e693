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
            "details": details,
            "code": code,
        }
        # Go's Status.Details is an omitempty pointer: some errors carry `{}`, others none.
        if details is None:
            del self.body["details"]
        if not reason:
            del self.body["reason"]


def success_status(
    rt: ResourceType | None = None, name: str | None = None, uid: str | None = None
) -> dict:
    """What a DELETE of an object that is gone at once answers (most kinds), and what
    deletecollection answers."""
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if rt and rt.group:
        details["group"] = rt.group
    if rt:
        details["kind"] = rt.plural
    if uid:
        details["uid"] = uid
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
    body["status"] = "Success"
    if details:
        body["details"] = details
    return body


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


def being_deleted(rt: ResourceType, name: str) -> ApiError:
    """A create of a name whose object still exists with a deletionTimestamp."""
    return ApiError(
        409,
        "AlreadyExists",
        f'object is being deleted: {rt.qualified} "{name}" already exists',
        _details(rt, name),
    )


def namespace_terminating(rt: ResourceType, name: str, namespace: str) -> ApiError:
    details = _details(rt, name)
    details["causes"] = [
        {
            "reason": "NamespaceTerminating",
            "message": f"namespace {namespace} is being terminated",
            "field": "metadata.namespace",
        }
    ]
    return ApiError(
        403,
        "Forbidden",
        f'{rt.qualified} "{name}" is forbidden: unable to create new content in namespace '
        f"{namespace} because it is being terminated",
        details,
    )


def namespace_still_terminating(name: str) -> ApiError:
    """A second DELETE of a namespace whose content is still being removed."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on namespaces "{name}": The system is ensuring all '
        "content is removed from this namespace.  Upon completion, this namespace will "
        "automatically be purged by the system.",
        {"name": name, "kind": "namespaces"},
    )


def crd_terminating(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        403,
        "Forbidden",
        f'{rt.qualified} "{name}" is forbidden: create not allowed while custom resource '
        "definition is terminating",
        _details(rt, name),
    )


def precondition_failed(kind: str, name: str, what: str, sent: str, actual: str) -> ApiError:
    hint = (
        "The object might have been deleted and then recreated"
        if what == "UID"
        else "The object might have been modified"
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind} "{name}": the {what} in the precondition '
        f"({sent}) does not match the {what} in record ({actual}). {hint}",
        {"name": name, "kind": kind},
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
    base = resource.partition("/")[0]
    qualified = f"{base}.{group}" if group else base
    subject = f'{qualified} "{name}"' if name else qualified
    if base == "namespaces" and not group and name:
        namespace = name  # a namespace's own request attributes name it as the namespace
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{USER}" cannot {verb} resource "{resource}" '
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


def invalid_causes(rt: ResourceType, name: str, causes: list) -> ApiError:
    """422 for a custom resource its CRD's schema refuses (causes: schema.Cause)."""
    listed = [f"{c.field}: {c.message}" for c in causes]
    what = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    details: dict[str, Any] = {"name": name, "group": rt.group, "kind": rt.kind}
    details["causes"] = [c.as_dict() for c in causes]
    return ApiError(422, "Invalid", f'{rt.kind}.{rt.group} "{name}" is invalid: {what}', details)


def unparsable_resource_version(text: str) -> str:
    return (
        f'resourceVersion: Invalid value: "{text}": strconv.ParseUint: parsing "{text}": '
        "invalid syntax"
    )


def initial_events_need_not_older_than() -> ApiError:
    message = "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
    return ApiError(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: {message}',
        {
            "group": "meta.k8s.io",
            "kind": "ListOptions",
            "causes": [
                {
                    "reason": "FieldValueForbidden",
                    "message": message,
                    "field": "resourceVersionMatch",
                }
            ],
        },
    )


def field_manager_required() -> ApiError:
    message = "Required value: is required for apply patch"
    return ApiError(
        422,
        "Invalid",
        f'PatchOptions.meta.k8s.io "" is invalid: fieldManager: {message}',
        {
            "group": "meta.k8s.io",
            "kind": "PatchOptions",
            "causes": [
                {"reason": "FieldValueRequired", "message": message, "field": "fieldManager"}
            ],
        },
    )


def apply_conflicts(conflicts: list) -> ApiError:
    """409 for a server-side apply that would change fields other apply managers own
    (structured-merge-diff's wording); ``conflicts``: (owner key, manager, path)."""
    fields = [(manager, "." + ".".join(path)) for _, manager, path in conflicts]
    if len(fields) == 1:
        text = f'conflict with "{fields[0][0]}": {fields[0][1]}'
    else:
        lines: list[str] = []
        for manager in sorted({m for m, _ in fields}):
            lines.append(f'conflicts with "{manager}":')
            lines.extend(f"- {field}" for m, field in fields if m == manager)
        text = "\n".join(lines)
    count = f"{len(fields)} conflict" + ("" if len(fields) == 1 else "s")
    causes = [
        {"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": f}
        for m, f in fields
    ]
    return ApiError(409, "Conflict", f"Apply failed with {count}: {text}", {"causes": causes})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str, patch: bool = False) -> ApiError:
    """A body type the server does not read. For a PATCH the API server only says "415" when
    the type is no patch type at all; a patch type the resource does not support (strategic
    merge on a custom resource) lists the ones it does."""
    if patch and "patch" not in content_type:
        return ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})
    accepted = (
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        if patch
        else "application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{accepted}",
        {} if patch else None,
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
