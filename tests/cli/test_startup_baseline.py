"""The start-up benchmark's baseline really is "a bare Typer app with the same tree"."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.bench_startup import GROUPS, LEAVES, bare_typer_source
from osm_cli.app import COMMANDS


def test_bare_app_has_the_same_top_level_commands():
    assert set(GROUPS) | set(LEAVES) == set(COMMANDS)


def test_bare_app_runs_like_osm(tmp_path):
    script = tmp_path / "bare.py"
    script.write_text(bare_typer_source())
    done = subprocess.run(
        [sys.executable, str(script), "version", "--client-only"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "version\n"
    helped = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    for name in COMMANDS:
        assert name in helped.stdout
