"""The root command: persistent global options, unknown commands, help."""

from __future__ import annotations

import pytest

from osm_cli.app import COMMANDS, hoist_global_options


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ns", "list", "--osm-namespace", "x"], ["--osm-namespace", "x", "ns", "list"]),
        (["ns", "list", "--osm-namespace=x"], ["--osm-namespace=x", "ns", "list"]),
        (["version", "--debug", "--context", "c"], ["--debug", "--context", "c", "version"]),
        (["--verbose", "env"], ["--verbose", "env"]),
        # Nothing after `--` is an option of ours.
        (["local", "run", "--", "--debug"], ["local", "run", "--", "--debug"]),
    ],
)
def test_global_options_are_hoisted_from_anywhere(argv, expected):
    assert hoist_global_options(argv) == expected


def test_osm_namespace_after_the_subcommand_is_honoured(osm):
    result = osm(["env", "-o", "json", "--osm-namespace", "mesh-ns"])
    assert result.exit_code == 0
    assert '"namespace": "mesh-ns"' in result.stdout


def test_unknown_command_is_one_line_and_exit_2(osm):
    result = osm(["frobnicate"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: No such command 'frobnicate'")
    assert "Traceback" not in result.stderr


def test_every_registered_command_module_loads():
    import importlib

    import typer

    for name, spec in COMMANDS.items():
        module = importlib.import_module(spec.module)
        assert isinstance(module.app, typer.Typer), name
