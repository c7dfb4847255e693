"""How `osm policy lint` and `osm policy analyze` print findings (one format for both)."""

from __future__ import annotations

from typing import Any


def render_findings(findings: list[Any], summary: dict[str, int], scope: str) -> str:
    """``file:line: severity[CODE]: Kind/ns/name field: message`` + a ``fix:`` line each.

    Objects read from a cluster have no file: the line starts with the severity. ``scope``
    ends the summary line ("from 3 file(s)", "in the cluster").
    """
    # One format everywhere: `osm local run` prints the same lines (Finding.text).
    lines = [f.text() for f in findings]
    lines.append(
        f"{summary['errors']} error(s), {summary['warnings']} warning(s), {summary['info']} info "
        f"in {summary['objects']} object(s) {scope}"
    )
    return "\n".join(lines)
