"""``osm policy lint``: offline checks of SMI policies and the workloads beside them.

``lint_paths(paths)`` reads manifests (no cluster), parses every object of every SMI
version, builds a Catalog of everything in the files (all namespaces count as meshed) and
runs the semantic checks in ``lint_checks``. Each Finding names the file and line, the
object, the field, what is wrong and how to fix it. Errors make the lint fail; warnings
and info do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from osm_mesh.catalog.build import build_catalog
from osm_mesh.catalog.loader import Document, LoadResult, load_paths, parse_documents
from osm_mesh.smi.model import Problem

Severity = Literal["error", "warning", "info"]
_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    severity: Severity
    file: str
    line: int | None
    object: str  # "Kind/namespace/name" or "" for file-level problems
    field: str
    message: str
    hint: str = ""
    code: str = ""

    def text(self) -> str:
        """``file:line: severity[CODE]: Kind/ns/name field: message`` and a ``fix:`` line, as
        `osm policy lint` prints it (a finding without a file starts with the severity)."""
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        subject = " ".join(x for x in (self.object, self.field) if x)
        label = f"{self.severity}[{self.code}]" if self.code else self.severity
        head = f"{where}: {label}" if where else label
        text = f"{head}: {subject + ': ' if subject else ''}{self.message}"
        return text + (f"\n    fix: {self.hint}" if self.hint else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "object": self.object,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass
class LintReport:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    objects: int = 0

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0

    def summary(self) -> dict[str, int]:
        return {
            "files": self.files,
            "objects": self.objects,
            "errors": self.count("error"),
            "warnings": self.count("warning"),
            "info": self.count("info"),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings], "summary": self.summary()}

    def summary_line(self) -> str:
        s = self.summary()
        return (
            f"{s['errors']} error(s), {s['warnings']} warning(s), {s['info']} info "
            f"in {s['objects']} object(s) from {s['files']} file(s)"
        )


def finding_from(problem: Problem) -> Finding:
    return Finding(
        problem.severity,
        problem.file,
        problem.line,
        str(problem.ref) if problem.ref else "",
        problem.field,
        problem.message,
        problem.hint,
        problem.code,
    )


def lint_paths(paths: Iterable[str | Path], stdin_text: str | None = None) -> LintReport:
    """Lint manifest files and directories (recursively); ``-`` means ``stdin_text``."""
    paths = list(paths)
    loaded = load_paths([p for p in paths if str(p) != "-"])
    if any(str(p) == "-" for p in paths):
        docs, problems = parse_documents(stdin_text or "", "<stdin>")
        loaded.documents.extend(docs)
        loaded.problems.extend(problems)
        loaded.files.append("<stdin>")
    return lint_loaded(loaded)


def lint_loaded(loaded: LoadResult) -> LintReport:
    return lint_documents(loaded.documents, loaded.problems, files=len(loaded.files))


def lint_documents(
    docs: list[Document], load_problems: Iterable[Problem] = (), files: int = 0
) -> LintReport:
    """The lint checks over parsed documents (from files, a cluster, or both)."""
    return report_of(check_documents(docs, load_problems), files=files, objects=len(docs))


def check_documents(docs: list[Document], load_problems: Iterable[Problem] = ()) -> list[Problem]:
    from osm_mesh.policy.lint_checks import run_checks

    catalog = build_catalog(docs, monitored="all", pod_ip=_fake_ip)
    problems = list(load_problems) + [
        p for p in catalog.problems if "defined more than once" not in p.message
    ]
    problems.extend(run_checks(docs, catalog))
    return problems


def report_of(problems: Iterable[Problem], *, files: int, objects: int) -> LintReport:
    findings = sorted(
        {finding_from(p) for p in problems},
        key=lambda f: (f.file, f.line or 0, _ORDER[f.severity], f.object, f.field, f.message),
    )
    return LintReport(findings, files=files, objects=objects)


def _fake_ip(namespace: str, deployment: str, replica: int, pod: str) -> str:
    # Lint needs every workload replica to count as an endpoint; the address is never used.
    return "192.0.2.1"
