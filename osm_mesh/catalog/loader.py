"""Read Kubernetes YAML/JSON (dirs, files, multi-document, ``kind: List``) with line numbers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from osm_mesh.catalog.yamlload import FastLoader
from osm_mesh.smi import codes
from osm_mesh.smi.model import Problem

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Objects whose mistakes are reported at the line of the field itself.
FIELD_LINES_KINDS = ("MeshConfig",)


@dataclass(frozen=True)
class Document:
    """One Kubernetes object and where it came from (``line`` is 1-based)."""

    obj: dict[str, Any]
    file: str = ""
    line: int | None = None
    # Field path ("spec.traffic.enableEgress") -> its line, for the kinds in FIELD_LINES_KINDS
    # (kept small: recording it for every object would slow big manifests down).
    field_lines: Mapping[str, int] | None = field(default=None, compare=False)

    def line_of(self, path: str) -> int | None:
        return self.field_lines.get(path, self.line) if self.field_lines else self.line


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def manifest_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Expand directories (recursively, sorted) into manifest files."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file()
            )
            if not found:
                problems.append(
                    Problem(
                        "warning",
                        None,
                        "",
                        "no .yaml/.yml/.json files in directory",
                        "point -f at manifest files",
                        file=str(path),
                        code=codes.NO_OBJECTS.id,
                    )
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(
                Problem(
                    "error",
                    None,
                    "",
                    "no such file or directory",
                    "check the path",
                    file=str(path),
                    code=codes.FILE_NOT_FOUND.id,
                )
            )
    return files, problems


def parse_documents(text: str, file: str = "") -> tuple[list[Document], list[Problem]]:
    """Every object in a YAML (or JSON) stream; a syntax error stops the file with its line."""
    docs: list[Document] = []
    problems: list[Problem] = []
    # libyaml's parser and a lean builder (yamlload.py): the same objects as yaml.safe_load.
    loader = FastLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            data = loader.build_document(node)
            lines = _field_lines(node) if _wants_lines(data) else {}
            _collect(data, file, line, docs, problems, lines)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(
            Problem(
                "error",
                None,
                "",
                f"invalid YAML: {reason}",
                "fix the syntax (indentation, quoting, ':' after keys)",
                file=file,
                line=line,
                code=codes.INVALID_YAML.id,
            )
        )
    finally:
        loader.dispose()
    return docs, problems


def _wants_lines(data: Any) -> bool:
    return isinstance(data, dict) and data.get("kind") in FIELD_LINES_KINDS


def _field_lines(node: Any, path: str = "") -> dict[str, int]:
    """Every mapping key under ``node`` -> its 1-based line (lists are not descended)."""
    lines: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        where = f"{path}.{key.value}" if path else str(key.value)
        lines[where] = key.start_mark.line + 1
        lines.update(_field_lines(value, where))
    return lines


def _collect(
    data: Any,
    file: str,
    line: int,
    docs: list[Document],
    problems: list[Problem],
    lines: dict[str, int] | None = None,
) -> None:
    if data is None:
        return  # an empty document (e.g. a trailing '---')
    if not isinstance(data, dict):
        problems.append(
            Problem(
                "error",
                None,
                "",
                f"document is a {type(data).__name__}, not a Kubernetes object",
                "each document needs apiVersion, kind and metadata",
                file=file,
                line=line,
                code=codes.NOT_AN_OBJECT.id,
            )
        )
        return
    kind = str(data.get("kind", ""))
    if kind == "List" or (kind.endswith("List") and isinstance(data.get("items"), list)):
        items = data.get("items")
        for item in items if isinstance(items, list) else []:
            _collect(item, file, line, docs, problems)
        return
    missing = [k for k in ("apiVersion", "kind") if not data.get(k)]
    if missing:
        problems.append(
            Problem(
                "error",
                None,
                "",
                f"object without {' and '.join(missing)}",
                "every Kubernetes object needs apiVersion and kind",
                file=file,
                line=line,
                code=codes.NOT_AN_OBJECT.id,
            )
        )
        return
    docs.append(Document(data, file, line, lines or None))


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    files, problems = manifest_files(paths)
    result = LoadResult(problems=problems)
    for path in files:
        result.files.append(str(path))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            result.problems.append(
                Problem(
                    "error",
                    None,
                    "",
                    f"cannot read: {exc}",
                    file=str(path),
                    code=codes.FILE_UNREADABLE.id,
                )
            )
            continue
        docs, problems = parse_documents(text, str(path))
        if not docs and not problems:
            problems.append(
                Problem(
                    "warning",
                    None,
                    "",
                    "no Kubernetes objects in this file",
                    "remove the file or add the objects it should hold",
                    file=str(path),
                    code=codes.NO_OBJECTS.id,
                )
            )
        result.documents.extend(docs)
        result.problems.extend(problems)
    return result
