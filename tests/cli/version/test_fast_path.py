"""`osm version --client-only` is answered before Typer loads: same bytes as the full CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from osm_cli.entry import client_version_output


@pytest.mark.parametrize(
    "args",
    [
        ["version", "--client-only"],
        ["version", "--client-only", "--version-only"],
        ["version", "--version-only", "--client-only", "-o", "json"],
        ["version", "--client-only", "--output=json"],
        ["version", "--client-only", "-o", "table"],
    ],
)
def test_fast_path_prints_what_the_full_cli_prints(osm, args):
    fast = client_version_output(args)
    full = osm(args)
    assert full.exit_code == 0
    assert fast is not None
    assert fast + "\n" == full.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["version"],  # needs the cluster
        ["version", "--client-only", "-o", "yaml"],
        ["version", "--client-only", "--debug"],
        ["version", "--client-only", "--bogus"],
        ["namespace", "list"],
        [],
    ],
)
def test_anything_else_goes_to_the_full_cli(args):
    assert client_version_output(args) is None


def test_fast_path_does_not_import_typer():
    code = (
        "import sys; sys.argv = ['osm', 'version', '--client-only'];"
        "import osm_cli.entry as e\n"
        "try:\n    e.main()\n"
        "except SystemExit:\n    pass\n"
        "assert 'typer' not in sys.modules, 'typer imported'\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CLI Version: ")


def test_bad_flag_still_gets_the_full_cli_error():
    result = subprocess.run(
        [sys.executable, "-m", "osm_cli", "version", "--client-only", "--bogus"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "No such option: --bogus" in result.stderr
