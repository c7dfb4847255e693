"""Rendering the chart with the real `helm`, and validating objects against the chart's CRDs.

Renders are cached per (values, namespace, release): the same matrix is used by several
tests, and each `helm template` is a process start.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "templates" / "osm"
CRD_DIR = CHART / "crds"

# Values matrix: name -> (values, namespace, release). Covers every template branch.
MATRIX: dict[str, tuple[dict[str, Any], str, str]] = {
    "defaults": ({}, "osm-system", "osm"),
    "network-policy": (
        {
            "osm": {
                "deployPrometheus": True,
                "networkPolicy": {
                    "enabled": True,
                    "apiServerCIDRs": ["172.18.0.2/32", "fd00::2/128"],
                    "metricsFrom": [{"namespaceSelector": {"matchLabels": {"team": "obs"}}}],
                },
            }
        },
        "osm-system",
        "osm",
    ),
    # `osm install --enable-grafana` (the article): Grafana and the Prometheus it needs.
    "article": ({"osm": {"deployGrafana": True, "deployPrometheus": True}}, "osm-system", "osm"),
    "all-addons": (
        {
            "osm": {
                "deployGrafana": True,
                "deployPrometheus": True,
                "deployJaeger": True,
                "tracing": {"enable": True},
                "grafana": {"adminPassword": "s3cret-from-values"},
            }
        },
        "osm-system",
        "osm",
    ),
    "custom": (
        {
            "osm": {
                "meshName": "my-osm",
                "enforceSingleMesh": False,
                "enablePermissiveTrafficPolicy": False,
                "enableEgress": False,
                "outboundPortExclusionList": [6379],
                "inboundPortExclusionList": [8080, 8081],
                "outboundIPRangeExclusionList": ["10.0.0.0/8"],
                "image": {"registry": "registry.example.com/mesh", "tag": "v9.9.9"},
                "imagePullSecrets": [{"name": "regcred"}],
                "osmController": {"replicaCount": 2},
                "envoyLogLevel": "debug",
                "tracing": {"enable": True, "address": "zipkin.tracing", "port": 9412},
                "certificateProvider": {
                    "serviceCertValidityDuration": "1h",
                    "certKeyBitSize": 4096,
                },
            }
        },
        "my-osm-namespace",
        "my-osm",
    ),
}


def helm() -> str:
    path = shutil.which("helm") or str(REPO / ".venv" / "bin" / "helm")
    return path


@functools.lru_cache(maxsize=64)
def _render(values_json: str, namespace: str, release: str, include_crds: bool) -> str:
    cmd = [helm(), "template", release, str(CHART), "--namespace", namespace, "--values", "-"]
    if include_crds:
        cmd.append("--include-crds")
    proc = subprocess.run(cmd, input=values_json, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RenderError(proc.stderr.strip())
    return proc.stdout


class RenderError(Exception):
    pass


def render_text(
    values: dict[str, Any] | None = None,
    namespace: str = "osm-system",
    release: str = "osm",
    include_crds: bool = False,
) -> str:
    return _render(json.dumps(values or {}, sort_keys=True), namespace, release, include_crds)


def render(
    values: dict[str, Any] | None = None,
    namespace: str = "osm-system",
    release: str = "osm",
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    text = render_text(values, namespace, release, include_crds)
    return [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if isinstance(d, dict)]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"{kind} {name} not rendered")


# -- CRD schemas ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    """(group, kind) -> CRD, from the chart's crds/ directory."""
    out = {}
    for file in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                out[(doc["spec"]["group"], doc["spec"]["names"]["kind"])] = doc
    return out


def to_json_schema(node: Any) -> Any:
    """openAPIV3Schema → JSON Schema with the API server's strictness for unknown fields.

    Objects that declare ``properties`` and do not preserve unknown fields reject extra keys
    (the server would prune them silently; `kubectl apply --validate=strict` rejects them).
    """
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return out
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


def validate_custom(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless ``obj`` fits its CRD version's schema."""
    group, _, version = obj["apiVersion"].partition("/")
    crd = crds().get((group, obj["kind"]))
    if crd is None:
        raise LookupError(f"no CRD in the chart for {obj['apiVersion']} {obj['kind']}")
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    if version not in versions or not versions[version]["served"]:
        raise LookupError(f"{obj['apiVersion']} {obj['kind']} is not served by the chart's CRD")
    schema = to_json_schema(copy.deepcopy(versions[version]["schema"]["openAPIV3Schema"]))
    jsonschema.Draft7Validator(schema).validate(obj)


def load_objects(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
