"""The exact text `osm policy lint` shows for every broken case (tests/data/lint/broken):
severity, code, object, field, message and the way out, as a user reads them. test_lint.py
checks each case's meaning; this pins the words, so a change of wording is a reviewed diff
(`make golden`), not a silent one."""

from __future__ import annotations

from pathlib import Path

from osm_mesh.policy.lint import lint_paths
from tests.golden import assert_golden_text

REPO = Path(__file__).resolve().parents[3]
BROKEN = sorted((REPO / "tests" / "data" / "lint" / "broken").glob("*.yaml"))


def test_lint_text_of_every_broken_case_golden():
    blocks = []
    for path in BROKEN:
        report = lint_paths([path])
        text = "\n".join(f.text() for f in report.findings)
        blocks.append(f"== {path.name}\n{text}\n{report.summary_line()}\n")
    assert_golden_text("policy/lint-broken.txt", "\n".join(blocks).replace(f"{REPO}/", ""))
