"""What a local mesh is given: manifests read, checked like lint, and the traffic mode in force.

``load_documents`` reads files with libyaml (the pure-Python loader took 90 % of the start-up
of a 9 MB manifest), keeping each object's file and line. ``check_documents`` runs exactly
``osm policy lint``'s checks: the same files give the same findings, printed the same way,
and any error — a misspelt MeshConfig key, a TrafficTarget naming a missing route — stops
the mesh before anything starts, instead of silently running with the object ignored (for a
MeshConfig that meant permissive mode: every call allowed). ``TrafficPolicy`` says which mode
is in force and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osm_mesh.catalog.loader import Document, LoadResult, parse_documents
from osm_mesh.errors import InvalidInput
from osm_mesh.policy.lint import LintReport, lint_loaded
from osm_mesh.smi.meshconfig import CONFIG_GROUP
from osm_mesh.smi.model import MeshConfig

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
LINT_HINT = "`osm policy lint -f <the same files>` reports the same findings"


class InvalidManifests(InvalidInput):
    """Lint found errors: ``details`` holds every finding, as lint prints them."""

    def __init__(self, report: LintReport) -> None:
        errors = report.count("error")
        super().__init__(
            f"{errors} error(s) in the manifests: nothing was started",
            hint=f"Fix them and run again; {LINT_HINT}.",
            details=tuple(f.text() for f in report.findings),
        )
        self.report = report


def manifest_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every manifest file under ``paths`` (directories recursively, sorted)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput(f"no such file or directory: {path}")
    return files


def load_documents(paths: Iterable[str | Path]) -> list[Document]:
    """Kubernetes objects (with file and line) from YAML/JSON files and directories."""
    documents: list[Document] = []
    for path in manifest_files(paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InvalidInput(
                f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})",
                hint="Kubernetes manifests are UTF-8: convert the file (e.g. iconv -t UTF-8).",
            ) from None
        found, problems = parse_documents(text, str(path))
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise InvalidInput(str(errors[0]), hint=errors[0].hint or None)
        for doc in found:
            meta = doc.obj.get("metadata")
            if not isinstance(meta, dict) or not meta.get("name"):
                raise InvalidInput(
                    f"{path}:{doc.line}: {doc.obj.get('kind')} without metadata.name",
                    hint="Each object needs apiVersion, kind and metadata.name.",
                )
        documents.extend(found)
    return documents


def load_objects(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The objects of ``load_documents`` without their places (for ``LocalMesh.apply``)."""
    return [d.obj for d in load_documents(paths)]


def check_documents(documents: Sequence[Document]) -> LintReport:
    """``osm policy lint`` over these documents; raises InvalidManifests on any error."""
    files = sorted({d.file for d in documents if d.file})
    report = lint_loaded(LoadResult(documents=list(documents), files=files))
    if not report.ok:
        raise InvalidManifests(report)
    return report


@dataclass(frozen=True)
class TrafficPolicy:
    """The traffic mode in force and why: which MeshConfig set it, or the chart default."""

    permissive: bool
    source: str  # "MeshConfig osm-system/osm-mesh-config at mesh-config.yml:11" or "default"

    @property
    def mode(self) -> str:
        return "permissive" if self.permissive else "smi"

    def describe(self) -> str:
        if self.permissive:
            what = (
                "permissive mode: every meshed app may call every service, "
                "TrafficTargets are not enforced"
            )
        else:
            what = "SMI mode: only what a TrafficTarget allows gets through (else HTTP 403)"
        if self.source == "default":
            why = (
                "no MeshConfig in the manifests, so the OSM chart's default "
                "(enablePermissiveTrafficPolicyMode: true) applies. To enforce TrafficTargets, "
                "add a MeshConfig with enablePermissiveTrafficPolicyMode: false "
                "(`osm demo --export DIR` writes one)"
            )
        else:
            why = f"set by {self.source}"
        return f"Traffic policy: {what}; {why}."

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "permissive": self.permissive, "source": self.source}


def traffic_policy(config: MeshConfig, documents: Sequence[Document]) -> TrafficPolicy:
    """The mode of ``config`` (the catalog's MeshConfig) and where it came from."""
    if not config.name:
        return TrafficPolicy(config.permissive, "default")
    name = f"{config.namespace}/{config.name}" if config.namespace else config.name
    source = f"MeshConfig {name}"
    for doc in reversed(documents):  # the last definition wins, as in the catalog
        meta = doc.obj.get("metadata") or {}
        if (
            doc.obj.get("kind") != "MeshConfig"
            or not str(doc.obj.get("apiVersion", "")).startswith(CONFIG_GROUP + "/")
            or meta.get("name") != config.name
        ):
            continue
        key = "spec.traffic.enablePermissiveTrafficPolicyMode"
        line = doc.line_of(key)
        if doc.file:
            source += f" at {doc.file}:{line}" if line else f" in {doc.file}"
        traffic = (doc.obj.get("spec") or {}).get("traffic") or {}
        if traffic.get("enablePermissiveTrafficPolicyMode") is None:
            source += ", which leaves enablePermissiveTrafficPolicyMode unset: default true"
        break
    return TrafficPolicy(config.permissive, source)
