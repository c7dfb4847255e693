"""`osm --help` without loading Typer: the root page drawn from ``osm_cli.tree``.

Python plus Typer take ~40 ms before anything is printed, more than a Go CLI's whole run
(`kubectl version --client`); the root help page is the one most often asked for and needs
none of it. This module lays the page out exactly as click's plain help formatter does (the
format every ``osm`` help page uses): usage, description, the options and commands as
two-column lists wrapped to the terminal (at most 80 columns). ``tests/cli/test_root_help.py``
compares it byte for byte with the page Typer draws, at several terminal widths.
"""

from __future__ import annotations

import os
import sys
import textwrap

from osm_cli.tree import COMMANDS, HELP_OPTION_NAMES, ROOT_HELP, ROOT_OPTIONS

USAGE = "Usage: osm [OPTIONS] COMMAND [ARGS]..."
HELP_TEXT = "Show this message and exit."
# click's definition lists: first column at most 30 wide, 2 spaces before the second.
_COL_MAX = 30
_COL_SPACING = 2
_INDENT = 2


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` (what click asks), without importing shutil
    (which loads bz2, lzma and fnmatch): $COLUMNS, else stdout's terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return columns


def page_width(columns: int | None = None) -> int:
    """click's help width: the terminal's (or $COLUMNS) capped at 80, minus 2, at least 50."""
    if columns is None:
        columns = terminal_columns()
    return max(min(columns, 80) - 2, 50)


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    wrapper = textwrap.TextWrapper(
        width, initial_indent=indent, subsequent_indent=indent, replace_whitespace=False
    )
    return wrapper.wrap(text)


def _definition_list(rows: list[tuple[str, str]], width: int) -> list[str]:
    first_col = min(max(len(term) for term, _ in rows), _COL_MAX) + _COL_SPACING
    text_width = max(width - first_col - 2, 10)
    lines = []
    for term, text in rows:
        wrapped = _wrap(text, text_width)
        if len(term) <= first_col - _COL_SPACING:
            lines.append(" " * _INDENT + term.ljust(first_col) + wrapped[0])
        else:
            lines.append(" " * _INDENT + term)
            lines.append(" " * (first_col + _INDENT) + wrapped[0])
        lines.extend(" " * (first_col + _INDENT) + more for more in wrapped[1:])
    return lines


def render(columns: int | None = None) -> str:
    """The root help page, ending with a newline, as `osm --help` prints it."""
    width = page_width(columns)
    options = [
        (f"{o.name} {o.metavar}" if o.metavar else o.name, o.help) for o in ROOT_OPTIONS.values()
    ]
    options.append((", ".join(HELP_OPTION_NAMES), HELP_TEXT))
    commands = [(name, COMMANDS[name].short_help) for name in sorted(COMMANDS)]
    lines = [
        *_wrap(USAGE, width),
        "",
        *_wrap(ROOT_HELP, width, " " * _INDENT),
        "",
        "Options:",
        *_definition_list(options, width),
        "",
        "Commands:",
        *_definition_list(commands, width),
    ]
    return "\n".join(lines) + "\n"
