"""`osm --help` is drawn without Typer (osm_cli.roothelp): byte for byte the page Typer draws."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from osm_cli import entry, tree
from osm_cli.roothelp import render


@pytest.mark.parametrize("columns", [20, 40, 50, 52, 60, 79, 80, 81, 100, 200])
def test_fast_page_is_the_page_typer_draws(osm, monkeypatch, capsys, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert osm(["--help"]).exit_code == 0
    # click writes help pages to the process's stdout, not the Environment's stream.
    drawn = capsys.readouterr().out
    assert drawn.startswith("Usage: osm ")
    assert drawn == render(columns)
    assert drawn == render()  # the width comes from $COLUMNS, as click's does


def test_page_fits_80_columns_and_names_every_command_and_option():
    page = render(200)
    assert max(len(line) for line in page.splitlines()) <= 80
    for name in tree.COMMANDS:
        assert f"\n  {name} " in page
    for option in tree.ROOT_OPTIONS.values():
        assert f"\n  {option.name}" in page


def test_help_flags_match_the_root_commands():
    assert entry._HELP == tree.HELP_OPTION_NAMES
    for argv in (["--help"], ["-h"]):
        assert entry.is_root_help(argv)
    for argv in ([], ["--help", "x"], ["--debug", "--help"], ["install", "--help"], ["help"]):
        assert not entry.is_root_help(argv)


def test_console_script_prints_the_page_without_loading_typer(tmp_path: Path):
    probe = (
        "import sys; sys.argv = ['osm', '--help']\n"
        "import osm_cli.entry as e\n"
        "try:\n    e.main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "    top = {m.split('.')[0] for m in sys.modules}\n"
        "    heavy = sorted(top & {'typer', 'rich', 'click'})\n"
        "    sys.stderr.write(repr(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "72"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "[]"
    assert done.stdout == render(72)
