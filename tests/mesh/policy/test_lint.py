"""Lint: every broken manifest in tests/data/lint/broken yields the finding its header expects.

Each file starts with ``# expect: <severity>[<code>] <field> <message substring>`` lines (field
may be empty); add a file to add a case. The codes are the stable ones of docs/policy-codes.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from osm_mesh.policy.lint import Finding, LintReport, lint_paths

DATA = Path(__file__).resolve().parents[2] / "data"
BROKEN = sorted((DATA / "lint" / "broken").glob("*.yaml"))


def expectations(path: Path) -> list[tuple[str, str, str, str]]:
    """(severity, code, field, text) per ``# expect:`` line."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            label, field, text = line.removeprefix("# expect: ").split(" ", 2)
            severity, _, code = label.partition("[")
            out.append((severity, code.rstrip("]"), field, text))
    return out


def found(
    report: LintReport, severity: str, field: str, text: str, code: str = ""
) -> list[Finding]:
    return [
        f
        for f in report.findings
        if f.severity == severity
        and f.field == field
        and text in f.message + " " + f.hint
        and (not code or f.code == code)
    ]


def test_there_are_many_broken_cases():
    assert len(BROKEN) >= 50


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_manifest(path: Path):
    report = lint_paths([path])
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    for severity, code, field, text in expected:
        assert code, f"{path.name}: '# expect:' without a [code]"
        hits = found(report, severity, field, text, code)
        assert hits, f"no {severity}[{code}] on {field!r} containing {text!r}: {report.findings}"
        for hit in hits:
            assert hit.file == str(path)
            assert hit.message and (hit.hint or severity == "info")
    # A case expecting only warnings must not produce errors (no false errors), and the
    # lint fails exactly when an error is expected.
    expects_error = any(s == "error" for s, _, _, _ in expected)
    assert report.ok is not expects_error, report.findings


def test_findings_point_at_the_object_line():
    path = DATA / "lint" / "broken" / "tt-missing-route-group.yaml"
    report = lint_paths([path])
    [hit] = found(report, "error", "spec.rules[0]", "does not exist")
    lines = path.read_text().splitlines()
    # The reported line is where the TrafficTarget document starts.
    assert lines[hit.line - 1].startswith("apiVersion: access.smi-spec.io/")
    assert hit.object == "TrafficTarget/shop/web-to-api"


def test_invalid_yaml_reports_line():
    report = lint_paths([DATA / "lint" / "broken" / "invalid-yaml.yaml"])
    [hit] = [f for f in report.findings if "invalid YAML" in f.message]
    assert hit.line == 6  # the over-indented `namespace:` (file line, after the header)


def test_article_manifests_lint_clean_except_canary_root_warning():
    report = lint_paths([DATA / "article"])
    assert report.ok
    assert [(f.severity, f.object, f.field) for f in report.findings] == [
        (
            "warning",
            "TrafficSplit/osm-canary-deployment-sample-app/canary-deployment",
            "spec.service",
        )
    ]
    assert "selects no pod" in report.findings[0].message


def test_local_mesh_copy_of_the_article_lints_the_same():
    packaged = DATA.parent.parent / "osm_mesh" / "local" / "manifests"
    if not packaged.is_dir():
        pytest.skip("local mesh manifests not present")
    # Only the article's two apps: the local mesh may ship other scenarios beside them.
    report = lint_paths([packaged / "simple", packaged / "canary", packaged / "mesh-config.yml"])
    assert report.ok
    assert [f.field for f in report.findings if f.severity != "info"] == ["spec.service"]


@pytest.mark.parametrize("sample", ["osm-bookstore", "osm-httpbin-canary"])
def test_external_samples_have_no_errors(sample: str):
    report = lint_paths([DATA / "external" / sample])
    assert report.ok, [f for f in report.findings if f.severity == "error"]
    assert report.objects > 5


def test_bookstore_alternatives_are_flagged_as_duplicates_not_errors():
    report = lint_paths([DATA / "external" / "osm-bookstore"])
    dupes = [f for f in report.findings if "also defined in" in f.message]
    assert {f.object for f in dupes} >= {"TrafficSplit/bookstore/bookstore-split"}
    assert all(f.severity == "warning" for f in dupes)
    # Namespaces created with kubectl are only info.
    assert {f.severity for f in report.findings if "not defined in these files" in f.message} == {
        "info"
    }


def test_good_manifests_are_clean():
    report = lint_paths([DATA / "lint" / "good"])
    assert report.ok
    assert [f for f in report.findings if f.severity != "info"] == []
    assert report.objects >= 15


def test_missing_path_is_an_error():
    report = lint_paths(["/nonexistent/osm-lint"])
    assert not report.ok
    assert report.findings[0].message == "no such file or directory"


def test_summary_counts():
    report = lint_paths([DATA / "lint" / "broken" / "split-all-zero.yaml"])
    summary = report.summary()
    assert summary["errors"] == 0 and summary["warnings"] >= 1 and summary["files"] == 1
    assert report.to_dict()["summary"] == summary


SERVICE = """apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80}]
"""


def test_an_object_in_three_files_is_a_warning_naming_the_other_files(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text(SERVICE)
    report = lint_paths([tmp_path])
    dupes = [
        (f.severity, f.field, f.message, f.hint) for f in report.findings if f.code == "OSM0301"
    ]
    assert dupes == [
        (
            "warning",
            "metadata.name",
            f"also defined in {tmp_path}/a.yaml, {tmp_path}/b.yaml; applied together, the last "
            "one replaces the others",
            "apply only one of them, or give them different names",
        )
    ]


def test_a_namespace_not_in_the_files_is_mentioned_once(tmp_path):
    other = SERVICE.replace("name: api", "name: web")
    (tmp_path / "s.yaml").write_text(SERVICE + "---\n" + other)
    report = lint_paths([tmp_path])
    infos = [f for f in report.findings if f.code == "OSM0302"]
    assert [(f.object, f.message) for f in infos] == [
        (
            "Service/shop/api",
            "namespace 'shop' is not defined in these files (fine if it already exists in the "
            "cluster)",
        )
    ]
