"""How `osm policy lint` and `osm policy analyze` print findings (one format for both)."""

from __future__ import annotations

from typing import Any


def render_findings(findings: list[Any], summary: dict[str, int], scope: str) -> str:
    """``file:line: severity[CODE]: Kind/ns/name field: message`` + a ``fix:`` line each.

    Objects read from a cluster have no file: the line starts with the severity. ``scope``
    ends the summary line ("from 3 file(s)", "in the cluster").
    """
    lines = []
    for f in findings:
        where = f"{f.file}:{f.line}" if f.file and f.line else f.file
        subject = " ".join(x for x in (f.object, f.field) if x)
        label = f"{f.severity}[{f.code}]" if f.code else f.severity
        head = f"{where}: {label}" if where else label
        lines.append(f"{head}: {subject + ': ' if subject else ''}{f.message}")
        if f.hint:
            lines.append(f"    fix: {f.hint}")
    lines.append(
        f"{summary['errors']} error(s), {summary['warnings']} warning(s), {summary['info']} info "
        f"in {summary['objects']} object(s) {scope}"
    )
    return "\n".join(lines)
