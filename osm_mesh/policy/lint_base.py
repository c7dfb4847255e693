"""What the semantic lint checks share: where objects were defined, and the findings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from osm_mesh.catalog.loader import Document
from osm_mesh.catalog.model import Catalog, Identity
from osm_mesh.catalog.source import object_key
from osm_mesh.smi.codes import Code
from osm_mesh.smi.model import ObjectRef, Problem


class Docs:
    """Where each object was defined (the last definition wins, as with kubectl apply)."""

    def __init__(self, docs: Iterable[Document]) -> None:
        self.by_key: dict[tuple[str, str, str, str], list[Document]] = defaultdict(list)
        self.by_ref: dict[tuple[str, str | None, str], Document] = {}
        for d in docs:
            key = object_key(d.obj)
            self.by_key[key].append(d)
            self.by_ref[(key[1], key[2] or None, key[3])] = d

    def defined(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the files define the object, even if it failed to parse."""
        return (kind, namespace, name) in self.by_ref

    def where(self, ref: ObjectRef) -> tuple[str, int | None]:
        doc = self.by_ref.get((ref.kind, ref.namespace, ref.name))
        return (doc.file, doc.line) if doc else ("", None)


class Out:
    def __init__(self, docs: Docs) -> None:
        self.docs = docs
        self.problems: list[Problem] = []

    def add(
        self, code: Code, severity: Any, ref: ObjectRef, field: str, message: str, hint: str
    ) -> None:
        file, line = self.docs.where(ref)
        self.problems.append(Problem(severity, ref, field, message, hint, file, line, code.id))


class Context:
    def __init__(
        self, catalog: Catalog, documents: list[Document], docs: Docs | None = None
    ) -> None:
        self.catalog = catalog
        # Indexing 25,000 documents costs: callers that already have the index pass it.
        self.docs = docs or Docs(documents)
        self.ns_with_pods = {p.namespace for p in catalog.pods}
        self.ns_with_services = {s.namespace for s in catalog.services}
        self.smi_mode = (
            any(d.obj.get("kind") == "MeshConfig" for d in documents) and not catalog.permissive
        )

    def has_workload(self, identity: Identity) -> bool | None:
        """True/False, or None when the namespace's workloads are not in the files."""
        if identity.namespace not in self.ns_with_pods:
            return None
        return bool(self.catalog.pods_of_identity(identity))
