"""-o table|json|yaml for every read command, from one helper.

Commands build plain data (dicts/lists of JSON types) plus a table description;
``emit`` prints the data as JSON/YAML or draws the table. Tables are plain
text with columns separated by at least two spaces, like the Go CLI's
tabwriter output, so golden files are stable at any terminal width.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from osm_cli.context import AppContext


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="Output format", case_sensitive=False),
]


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]

    def render(self) -> str:
        return render_table(self.headers, self.rows)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def dumps(data: Any, fmt: OutputFormat) -> str:
    if fmt is OutputFormat.yaml:
        import yaml

        return yaml.safe_dump(data, sort_keys=True, default_flow_style=False).rstrip("\n")
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def emit(
    app: AppContext,
    fmt: OutputFormat,
    data: Any,
    tables: Sequence[Table] | Table | None = None,
    empty_message: str | None = None,
) -> None:
    """Print ``data`` as JSON/YAML, or ``tables`` for people.

    ``empty_message`` replaces the tables when there are no rows (table format only; JSON
    and YAML always print the data so scripts get ``[]`` rather than prose).
    """
    if fmt is not OutputFormat.table:
        app.out(dumps(data, fmt))
        return
    if isinstance(tables, Table):
        tables = [tables]
    tables = list(tables or [])
    if empty_message and all(not t.rows for t in tables):
        app.out(empty_message)
        return
    app.out("\n\n".join(t.render() for t in tables))
