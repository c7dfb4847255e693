"""``osm policy lint`` on resilience policies: the documented samples pass, mistakes are found."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from osm_mesh.policy.lint import LintReport, lint_paths
from tests.golden import assert_golden_text

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
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: dns, port: 53, protocol: UDP, targetPort: 8080}]
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


RETRY_TWO_DESTINATIONS = (
    retry(name="r2")
    .replace("destinations: [", "destinations: [{kind: Service, name: api, namespace: shop}, ")
    .replace("name: api, namespace: shop}]", "name: nope, namespace: shop}]")
)
ROUTE_LIMIT = "rateLimit: {local: {requests: 1, unit: second}}"

FINDINGS = [
    (
        [retry(dest="nope")],
        "error[OSM0340]",
        "spec.destinations[0]",
        "Service 'nope' does not exist",
    ),
    ([retry(source="ghost")], "warning[OSM0313]", "spec.source", "no workload runs as"),
    ([retry(num=0)], "warning[OSM0342]", "spec.retryPolicy.numRetries", "nothing is retried"),
    ([retry(per_try="6s", num=2)], "warning[OSM0342]", "spec.retryPolicy.perTryTimeout", "18s"),
    (
        [retry(per_try="1s", num=2), uts(extra="requestTimeout: 2s")],
        "warning[OSM0342]",
        "spec.retryPolicy.perTryTimeout",
        "time out after 2s",
    ),
    ([retry(), retry(name="r2")], "warning[OSM0341]", "spec.destinations[0]", "already covers"),
    ([uts(host="nope")], "error[OSM0340]", "spec.host", "Service 'nope' does not exist"),
    ([uts(), uts(name="u2")], "error[OSM0341]", "spec.host", "already targets Service 'api'"),
    ([uts(host="db")], "warning[OSM0342]", "spec", "only TCP ports"),
    (
        [uts(extra="connectionSettings: {tcp: {maxConnections: 0}}")],
        "warning[OSM0342]",
        "spec.connectionSettings",
        "rejects every request",
    ),
    (
        [uts(extra="rateLimit: {local: {}}")],
        "warning[OSM0207]",
        "spec.rateLimit",
        "not enforced",
    ),
    ([uts(host="api.elsewhere")], "error[OSM0204]", "spec.host", "not the policy's namespace"),
    ([fault(host="nope")], "error[OSM0340]", "spec.host", "Service 'nope' does not exist"),
    (
        [fault(extra="abort: {httpStatus: 503, percentage: 0}")],
        "warning[OSM0342]",
        "spec",
        "injects nothing",
    ),
    ([fault(extra="abort: {httpStatus: 503}")], "info[OSM0343]", "spec.abort", "every client"),
    ([fault(), fault(name="g")], "warning[OSM0341]", "spec.host", "also targets"),
    (
        [
            fault(
                extra="sources: [{kind: ServiceAccount, name: ghost, namespace: shop}]\n"
                "  delay: {fixedDelay: 1s}"
            )
        ],
        "warning[OSM0313]",
        "spec.sources[0]",
        "no workload runs as",
    ),
    (
        [fault(extra="delay: {fixedDelay: soon}")],
        "error[OSM0204]",
        "spec.delay.fixedDelay",
        "invalid",
    ),
    # A second destination of a Retry whose first is a duplicate is still checked.
    (
        [retry(), RETRY_TWO_DESTINATIONS],
        "error[OSM0340]",
        "spec.destinations[1]",
        "Service 'nope' does not exist",
    ),
    # A duplicate UpstreamTrafficSetting does not stop the ones after it being checked.
    (
        [uts(), uts(name="u2"), uts(name="u3", host="nope")],
        "error[OSM0340]",
        "spec.host",
        "Service 'nope' does not exist",
    ),
    ([uts(host="dns")], "warning[OSM0342]", "spec", "only TCP ports"),
    (
        [uts(host="db", extra="connectionSettings: {http: {maxRequests: 5}}")],
        "warning[OSM0342]",
        "spec",
        "HTTP connection settings do not apply",
    ),
    (
        [uts(host="db", extra="connectionSettings: {http: {maxPendingRequests: 5}}")],
        "warning[OSM0342]",
        "spec",
        "HTTP connection settings do not apply",
    ),
    (
        [uts(host="db", extra="connectionSettings: {http: {maxRequestsPerConnection: 5}}")],
        "warning[OSM0342]",
        "spec",
        "HTTP connection settings do not apply",
    ),
    (
        [uts(host="db", extra=f"httpRoutes: [{{path: /x, {ROUTE_LIMIT}}}]")],
        "warning[OSM0342]",
        "spec",
        "HTTP connection settings do not apply",
    ),
    (
        [uts(extra="connectionSettings: {http: {maxRequests: 0}}")],
        "warning[OSM0342]",
        "spec.connectionSettings",
        "rejects every request",
    ),
    (
        [fault(), fault(name="g"), fault(name="h")],
        "warning[OSM0341]",
        "spec.host",
        "FaultInjection 'f' also targets",
    ),
]


@pytest.mark.parametrize("policies, label, field, text", FINDINGS)
def test_finding(tmp_path, policies, label, field, text):
    severity, code = label.rstrip("]").split("[")
    report = lint_text(tmp_path, APPS + "---" + "---".join(policies))
    hits = [
        f
        for f in report.findings
        if f.severity == severity and f.code == code and f.field == field and text in f.message
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
        f"{path}:53: error[OSM0204]: FaultInjection/shop/f spec.abort.httpStatus: "
        "invalid HTTP status 99"
    ) in result.stdout


# Policies that look like mistakes but are not: the check they resemble stays quiet.
QUIET = {
    "tries-exactly-fill-the-request-timeout": (
        [retry(per_try="1s", num=1), uts(extra="requestTimeout: 2s")],
        "OSM0342",
    ),
    # requestTimeout 0s switches the route timeout off: there is no budget to exceed.
    "request-timeout-0s-is-no-budget": (
        [retry(per_try="5s", num=3), uts(extra="requestTimeout: 0s")],
        "OSM0342",
    ),
    "same-source-other-destination": ([retry(), retry(name="r2", dest="db")], "OSM0341"),
    "other-source-same-destination": ([retry(), retry(name="r2", source="api")], "OSM0341"),
    "tcp-settings-on-a-tcp-service": (
        [uts(host="db", extra="connectionSettings: {tcp: {maxConnections: 5}}")],
        "OSM0342",
    ),
    "second-fault-with-its-own-sources": (
        [
            fault(),
            fault(
                name="g",
                extra="sources: [{kind: ServiceAccount, name: web, namespace: shop}]\n"
                "  abort: {httpStatus: 503, percentage: 10}",
            ),
        ],
        "OSM0341",
    ),
    "abort-everything-from-named-sources": (
        [
            fault(
                extra="sources: [{kind: ServiceAccount, name: web, namespace: shop}]\n"
                "  abort: {httpStatus: 503, percentage: 100}"
            )
        ],
        "OSM0343",
    ),
    "abort-some-from-every-client": ([fault()], "OSM0343"),
}


@pytest.mark.parametrize("name", sorted(QUIET))
def test_no_finding(tmp_path, name):
    policies, code = QUIET[name]
    report = lint_text(tmp_path, APPS + "---" + "---".join(policies))
    assert [f for f in report.findings if f.code == code] == []


def test_resilience_findings_text_golden(tmp_path):
    """The whole text of every case above (messages, the way out, object, field, line): what
    a user reads, pinned so a change of wording or of what is named is a reviewed diff."""
    cases = [(f"finding {i}", policies) for i, (policies, *_) in enumerate(FINDINGS)]
    cases += [(f"quiet {name}", QUIET[name][0]) for name in sorted(QUIET)]
    blocks = []
    for title, policies in cases:
        report = lint_text(tmp_path, APPS + "---" + "---".join(policies))
        text = "\n".join(f.text() for f in report.findings if f.code != "OSM0302")
        blocks.append(f"== {title}\n{text}\n")
    assert_golden_text("policy/lint-resilience.txt", "\n".join(blocks).replace(f"{tmp_path}/", ""))
