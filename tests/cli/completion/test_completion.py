"""`osm completion`: the scripts, and the shell actually getting completions back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_bash_script_calls_osm_back(osm):
    result = osm(["completion", "bash"])
    assert result.exit_code == 0
    assert "_OSM_COMPLETE=complete_bash" in result.stdout
    assert "complete -o default -F _osm_completion osm" in result.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("zsh", "compdef _osm_completion osm"), ("fish", "complete --command osm")],
)
def test_other_shells(osm, shell, marker):
    result = osm(["completion", shell])
    assert result.exit_code == 0
    assert marker in result.stdout
    assert "_OSM_COMPLETE" in result.stdout


def test_unknown_shell_is_a_usage_error(osm):
    result = osm(["completion", "tcsh"])
    assert result.exit_code == 2
    assert "tcsh" in result.stderr


def _complete(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from osm_cli.app import main; main()"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bash_completion_round_trip():
    # What the bash script does on <TAB> after "osm na".
    done = _complete({"_OSM_COMPLETE": "complete_bash", "COMP_WORDS": "osm na", "COMP_CWORD": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["namespace"]
    flags = _complete(
        {"_OSM_COMPLETE": "complete_bash", "COMP_WORDS": "osm ns add x --d", "COMP_CWORD": "4"}
    )
    assert flags.stdout.split() == ["--disable-sidecar-injection"]


def test_zsh_completion_round_trip():
    done = _complete({"_OSM_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "osm metrics "})
    assert done.returncode == 0, done.stderr
    assert '"enable"' in done.stdout and '"disable"' in done.stdout
