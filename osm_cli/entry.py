"""The `osm` console script.

``osm version --client-only`` is what scripts and health checks run most, and ``osm --help``
what people type first; neither needs a cluster or an argument parser, so both are answered
here before Typer (~40 ms before its first line) is loaded: the root help page is drawn by
``osm_cli.roothelp``. Anything else — including any flag this module does not know —
goes to the full CLI in ``osm_cli.app``. ``tests/cli/version/test_fast_path.py`` and
``tests/cli/test_root_help.py`` check both paths print the same bytes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

_FLAGS = {"--client-only", "--version-only"}
_HELP = ("-h", "--help")  # osm_cli.tree.HELP_OPTION_NAMES (checked by tests/cli/test_root_help.py)


def is_root_help(argv: Sequence[str]) -> bool:
    """Exactly `osm --help` / `osm -h`: the root page, drawn by osm_cli.roothelp."""
    return len(argv) == 1 and argv[0] in _HELP


def client_version_output(argv: Sequence[str]) -> str | None:
    """What `osm version --client-only ...` prints, or None when the full CLI must answer."""
    if not argv or argv[0] != "version":
        return None
    flags: set[str] = set()
    output = "table"
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg in _FLAGS:
            flags.add(arg)
        elif arg in ("-o", "--output") and args and args[0] in ("table", "json"):
            output = args.pop(0)
        elif arg.startswith("--output=") and arg.partition("=")[2] in ("table", "json"):
            output = arg.partition("=")[2]
        else:
            return None
    if "--client-only" not in flags:
        return None
    import osm_mesh

    version_only = "--version-only" in flags
    if output == "json":
        import json  # here: `osm --help` and the table output need no json (nor its re)

        cli = {"version": osm_mesh.__version__}
        if not version_only:
            cli.update(gitCommit=osm_mesh.GIT_COMMIT, buildDate=osm_mesh.BUILD_DATE)
        return json.dumps({"cli": cli}, indent=2, sort_keys=True)
    if version_only:
        return f"CLI Version: {osm_mesh.__version__}"
    return (
        f"CLI Version: {osm_mesh.__version__}; Commit: {osm_mesh.GIT_COMMIT}; "
        f"Date: {osm_mesh.BUILD_DATE}"
    )


def main() -> None:
    text = client_version_output(sys.argv[1:])
    if text is None and is_root_help(sys.argv[1:]):
        from osm_cli.roothelp import render

        text = render().removesuffix("\n")
    if text is not None:
        sys.stdout.write(text + "\n")
        sys.exit(0)
    # Before the (slow) imports: a Ctrl-C in the first milliseconds is one line, not a
    # KeyboardInterrupt traceback.
    from osm_cli.signals import install

    install()
    try:
        from osm_cli.app import main as full_main

        full_main()
    except BaseException as exc:
        from osm_mesh.errors import Interrupted

        if isinstance(exc, Interrupted):
            sys.stderr.write(f"Interrupted ({exc.signal_name}).\n")
            sys.exit(exc.exit_code)
        if isinstance(exc, KeyboardInterrupt):
            sys.stderr.write("Interrupted.\n")
            sys.exit(130)
        raise
