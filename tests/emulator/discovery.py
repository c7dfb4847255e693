"""Discovery documents (/api, /apis, /api/v1, /apis/<group>/<version>), /version, OpenAPI.

kubernetes-python never needs discovery, but client-go based tools (helm) map
kinds to URLs through it, so every served type is listed with its verbs and
subresources, and the per-group documents are regenerated from the live
registry (a CRD shows up as soon as it is created).
"""

from __future__ import annotations

from tests.emulator.resources import STANDARD_VERBS, ResourceType

VERSION_INFO = {
    "major": "1",
    "minor": "34",
    "emulationMajor": "1",
    "emulationMinor": "34",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "33",
    "gitVersion": "v1.34.1",
    "gitCommit": "93248f9ae092f571eb870b7664c534bfc7d00f03",
    "gitTreeState": "clean",
    "buildDate": "2025-09-09T19:44:50Z",
    "goVersion": "go1.24.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "proxy": ["create", "delete", "get", "patch", "update"],
    "portforward": ["create", "get"],
    "exec": ["create", "get"],
    "finalize": ["update"],
    "token": ["create"],
}


def api_versions(server_address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, types: list[ResourceType]) -> dict:
    versions: list[str] = []
    for rt in types:
        for v in rt.versions:
            if v not in versions:
                versions.append(v)
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(groups: dict[str, list[ResourceType]]) -> dict:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, types) for name, types in sorted(groups.items()) if name],
    }


def api_group(name: str, types: list[ResourceType]) -> dict:
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, types)}


def resource_list(group: str, version: str, types: list[ResourceType]) -> dict:
    resources = []
    for rt in sorted(types, key=lambda t: t.plural):
        if version not in rt.versions:
            continue
        entry = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(STANDARD_VERBS),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            kind = "Scale" if sub == "scale" else rt.kind
            resources.append(
                {
                    "name": f"{rt.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": kind,
                    "verbs": _SUB_VERBS.get(sub, ["get"]),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def openapi_v2() -> dict:
    """A minimal valid Swagger 2.0 document: tools that fetch it for validation get
    no schemas, which means "accept everything" rather than an error."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": {},
        "definitions": {},
    }


def openapi_v3_index(groups: dict[str, list[ResourceType]]) -> dict:
    """Where each group-version's OpenAPI v3 document lives (client-go reads this first)."""
    paths = {}
    for group, types in groups.items():
        for version in {v for rt in types for v in rt.versions}:
            gv = f"apis/{group}/{version}" if group else f"api/{version}"
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash=emulator"}
    return {"paths": paths}


def openapi_v3_group_version(group: str, version: str, types: list[ResourceType]) -> dict:
    """One PATCH operation per kind, declaring the `fieldValidation` query parameter.

    kubectl/helm ask "does the server validate fields itself?" by looking for that
    parameter on the kind's PATCH operation; saying yes makes them send
    `fieldValidation=Strict` instead of validating against schemas the emulator
    does not have.
    """
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths = {}
    for rt in types:
        if version not in rt.versions:
            continue
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        paths[f"{prefix}{scope}/{rt.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{rt.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {
                    "group": group,
                    "version": version,
                    "kind": rt.kind,
                },
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }
