"""Lint, format and type checks run inside the test suite, so `pytest` alone is the whole gate.

Ruff's configuration (pyproject.toml) includes TID253, which bans heavy module-level imports
in osm_cli/; a violation fails here, not only in an editor.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TREES = ["osm_cli", "osm_mesh", "tests", "benchmarks", "images"]
BIN = Path(sys.executable).parent


def run(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, input=stdin, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([str(BIN / "ruff"), "check", *TREES], id="ruff-check"),
        pytest.param([str(BIN / "ruff"), "format", "--check", *TREES], id="ruff-format"),
        pytest.param([sys.executable, "-m", "mypy", "osm_cli", "osm_mesh", "images"], id="mypy"),
    ],
)
def test_static_checks_pass(argv):
    result = run(*argv)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_tid253_bans_heavy_imports_in_osm_cli():
    """The rule is live: a module-level kubernetes import in osm_cli/ is reported."""
    result = run(
        str(BIN / "ruff"),
        "check",
        "--select",
        "TID253",
        "--stdin-filename",
        "osm_cli/commands/probe.py",
        stdin="import kubernetes\n",
    )
    assert result.returncode == 1
    assert "TID253" in result.stdout and "kubernetes" in result.stdout
