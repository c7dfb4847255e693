"""Help pages that fit 80 columns and name values with words.

Typer's rich help drew options in a table that cut long flag names at 80 columns
(``--enforce-singl…``), showed Python types as metavars (``<list[Path]>``, ``<bool>``),
imported rich's markdown machinery (~50 ms before the first line) and read ``[...]`` in help
texts as markup, dropping "[default: ...]" notes.
``plain_help(command)`` switches a command tree to click's plain formatter (wrapped to the
terminal, at most 80 columns, flag names whole, ``\\b`` paragraphs kept as written, e.g. the
manifest in ``osm local run --help``) and gives every option that takes a value a word as
metavar: an explicit ``metavar=`` wins, else one chosen from the option's name, else from
its type (``TEXT``, ``PATH``, ``N``; choices stay ``table|json|yaml``).
"""

from __future__ import annotations

from typing import get_args

from typer import _click as click
from typer.core import TyperArgument, TyperOption

# Option name -> the word shown for its value (where the type alone says too little).
METAVARS = {
    "--kubeconfig": "FILE",
    "--context": "NAME",
    "--osm-namespace": "NAMESPACE",
    "--namespace": "NAMESPACE",
    "--mesh-name": "NAME",
    "--filename": "FILE|DIR",
    "--values": "FILE",
    "--set": "KEY=VALUE",
    "--timeout": "DURATION",
    "--work-dir": "DIR",
    "--address-block": "127.X.Y",
    "--osm-chart-path": "PATH",
    "--port": "PORT",
    "--address": "ADDRESS",
}
_TYPE_WORDS = {"str": "TEXT", "int": "N", "float": "NUMBER", "Path": "PATH"}


def plain_help(command: click.Command) -> click.Command:
    """Switch ``command`` and its loaded sub-commands to plain help with word metavars."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            word = _word(param)
            if word:
                param.metavar = word
        elif isinstance(param, TyperArgument):
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
            # The argument's word is its name; the Python type after it says nothing more.
            param.display_type_rich = _no_type  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
    return command


def _no_type(ctx: click.Context) -> None:
    return None


def _word(option: TyperOption) -> str | None:
    if option.is_flag or option.count:
        return None
    desc = getattr(option, "type_descriptor", None)
    choices = getattr(desc, "choices", None)
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    for name in option.opts:
        if name in METAVARS:
            return METAVARS[name]
    if getattr(desc, "is_path", False) or getattr(desc, "is_file", False):
        return "PATH"
    annotation = getattr(desc, "annotation", None)
    args = get_args(annotation)
    if getattr(desc, "is_list", False) and len(args) == 1:
        annotation = args[0]
    return _TYPE_WORDS.get(getattr(annotation, "__name__", ""), "VALUE")
