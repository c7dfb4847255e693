"""``osm policy lint`` on resilience policies: the documented samples pass, mistakes are found."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from osm_mesh.policy.lint import LintReport, lint_paths

DOC = Path(__file__).resolve().parents[3] / "docs" / "resilience.md"

APPS = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: shop}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: tcp-db, port: 5432, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      serviceAccountName: api
      containers: [{name: api, image: x, ports: [{containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: web, image: x}]
"""


def doc_samples() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 4
    return "---\n".join(blocks)


def lint_text(tmp_path: Path, text: str) -> LintReport:
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    return lint_paths([path])


def test_documented_samples_lint_clean(tmp_path):
    report = lint_text(tmp_path, doc_samples())
    assert [f for f in report.findings if f.severity != "info"] == []
    assert report.objects == 9


RETRY = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {{name: {name}, namespace: shop}}
spec:
  source: {{kind: ServiceAccount, name: {source}, namespace: shop}}
  destinations: [{{kind: Service, name: {dest}, namespace: shop}}]
  retryPolicy: {{retryOn: 5xx, perTryTimeout: {per_try}, numRetries: {num}}}
"""
UTS = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {{name: {name}, namespace: shop}}
spec:
  host: {host}
  {extra}
"""
FAULT = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: FaultInjection
metadata: {{name: {name}, namespace: shop}}
spec:
  host: {host}
  {extra}
"""


def retry(name="r", source="web", dest="api", per_try="1s", num=2) -> str:
    return RETRY.format(name=name, source=source, dest=dest, per_try=per_try, num=num)


def uts(name="u", host="api", extra="requestTimeout: 2s") -> str:
    return UTS.format(name=name, host=host, extra=extra)


def fault(name="f", host="api", extra="abort: {httpStatus: 503, percentage: 10}") -> str:
    return FAULT.format(name=name, host=host, extra=extra)


@pytest.mark.parametrize(
    "policies, severity, field, text",
    [
        ([retry(dest="nope")], "error", "spec.destinations[0]", "Service 'nope' does not exist"),
        ([retry(source="ghost")], "warning", "spec.source", "no workload runs as"),
        ([retry(num=0)], "warning", "spec.retryPolicy.numRetries", "nothing is retried"),
        ([retry(per_try="6s", num=2)], "warning", "spec.retryPolicy.perTryTimeout", "18s"),
        (
            [retry(per_try="1s", num=2), uts(extra="requestTimeout: 2s")],
            "warning",
            "spec.retryPolicy.perTryTimeout",
            "time out after 2s",
        ),
        ([retry(), retry(name="r2")], "warning", "spec.destinations[0]", "already covers"),
        ([uts(host="nope")], "error", "spec.host", "Service 'nope' does not exist"),
        ([uts(), uts(name="u2")], "error", "spec.host", "already targets Service 'api'"),
        ([uts(host="db")], "warning", "spec", "only TCP ports"),
        (
            [uts(extra="connectionSettings: {tcp: {maxConnections: 0}}")],
            "warning",
            "spec.connectionSettings",
            "rejects every request",
        ),
        ([uts(extra="rateLimit: {local: {}}")], "warning", "spec.rateLimit", "not enforced"),
        ([uts(host="api.elsewhere")], "error", "spec.host", "not the policy's namespace"),
        ([fault(host="nope")], "error", "spec.host", "Service 'nope' does not exist"),
        (
            [fault(extra="abort: {httpStatus: 503, percentage: 0}")],
            "warning",
            "spec",
            "injects nothing",
        ),
        ([fault(extra="abort: {httpStatus: 503}")], "info", "spec.abort", "every client"),
        ([fault(), fault(name="g")], "warning", "spec.host", "also targets"),
        (
            [
                fault(
                    extra="sources: [{kind: ServiceAccount, name: ghost, namespace: shop}]\n"
                    "  delay: {fixedDelay: 1s}"
                )
            ],
            "warning",
            "spec.sources[0]",
            "no workload runs as",
        ),
        ([fault(extra="delay: {fixedDelay: soon}")], "error", "spec.delay.fixedDelay", "invalid"),
    ],
)
def test_finding(tmp_path, policies, severity, field, text):
    report = lint_text(tmp_path, APPS + "---" + "---".join(policies))
    hits = [
        f
        for f in report.findings
        if f.severity == severity and f.field == field and text in f.message
    ]
    assert hits, report.findings
    assert all(h.line and h.hint for h in hits)
    assert report.ok is (not any(f.severity == "error" for f in report.findings))
    assert report.ok is (severity != "error")


def test_cli_reports_policy_errors_with_file_and_line(osm, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(APPS + "---" + fault(extra="abort: {httpStatus: 99}"))
    result = osm(["policy", "lint", "-f", str(path)], kubeconfig="/nonexistent")
    assert result.exit_code == 1
    assert (
        f"{path}:46: error: FaultInjection/shop/f spec.abort.httpStatus: invalid HTTP status 99"
    ) in result.stdout
