"""The hand-made mutations of issue 15 that once survived, each with the test that kills it.

`python -m tests.mutation.issue15 [NAME ...]` applies each mutation to a scratch copy of the
repo and runs, there, (1) the suite subset that missed it with its killing tests deselected:
green shows the mutation survives without them; (2) the killing tests: they must fail.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COPIED = ("osm_mesh", "tests", "templates", "docs", "benchmarks", "pyproject.toml")
LINKED = (".venv", ".kube", ".images", ".upstream")  # built tools the tests find in the repo


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    subset: tuple[str, ...]  # the tests that ran and stayed green before the killers existed
    killers: tuple[str, ...]  # pytest node ids (or `-m module args`) that must fail on it


ENVOY_UNIT = ("tests/mesh/envoy", "tests/mesh/policy", "tests/mesh/resilience")
IDENTITY = "tests/e2e_envoy/test_access_identity.py"
SPLIT_KILLERS = (
    "tests/mesh/envoy/test_translate.py::test_split_matches_split_only_matching_requests",
    "tests/e2e_envoy/test_split.py::test_split_matches_send_only_matching_requests_to_backends",
)

MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "split-match-headers-dropped",
        "osm_mesh/envoy/outbound.py",
        "pb.route_match(m.envoy_path_regex(), methods, m.headers)",
        "pb.route_match(m.envoy_path_regex(), methods)",
        (*ENVOY_UNIT, "tests/e2e_envoy/test_split.py"),
        SPLIT_KILLERS,
    ),
    Mutation(
        "split-matches-ignored",
        "osm_mesh/envoy/outbound.py",
        "matches = split_matches(catalog, split) if split is not None else None",
        "matches = None",
        (*ENVOY_UNIT, "tests/e2e_envoy/test_split.py"),
        SPLIT_KILLERS,
    ),
    Mutation(
        "legacy-destination-port-ignored-in-http-rbac",
        "osm_mesh/envoy/rbac.py",
        "if not allowance.allows_port(port) or not allowance.http:",
        "if not allowance.http:",
        (*ENVOY_UNIT, "tests/e2e_envoy/test_access.py"),
        (
            "tests/mesh/envoy/test_translate_access.py::test_legacy_destination_port_opens_that_port_only",
            f"{IDENTITY}::test_destination_port_opens_that_port_and_not_the_services_other_port",
        ),
    ),
    Mutation(
        # Who may call whom by ServiceAccount name alone. The Envoy RBAC keeps exact SPIFFE
        # principals, so only the policy (check-pods, outbound tables, lint) is fooled;
        # test_access_identity.py shows the data plane denying the impostor either way.
        # test_evaluate.py::test_article_simple_app (the article's canary namespace) also
        # catches it now; the direct test is the one that names the rule.
        "source-namespace-ignored",
        "osm_mesh/policy/evaluate.py",
        "return self.sources is ALL or identity in self.sources",
        "return self.sources is ALL or identity.name in {s.name for s in self.sources}",
        (*ENVOY_UNIT, "tests/e2e_envoy/test_access.py"),
        ("tests/mesh/policy/test_evaluate.py::test_a_source_is_its_namespace_and_name",),
    ),
    Mutation(
        "leaf-outlives-its-ca",
        "osm_mesh/certs/ca.py",
        "        end = min(end, ca_end)",
        "        end = end",
        ("tests/mesh/certs", "tests/mesh/controller/test_ca.py"),
        ("tests/mesh/certs/test_ca.py::test_a_leaf_never_outlives_its_ca",),
    ),
    Mutation(
        "stale-nonce-counted",
        "osm_mesh/xds/protocol.py",
        "            return []  # stale: answers a response that has been superseded",
        "            pass",
        ("tests/mesh/xds",),
        (
            "tests/mesh/xds/test_protocol.py::test_a_request_with_a_stale_nonce_is_neither_an_ack_nor_a_nack",
        ),
    ),
    Mutation(
        "port-forward-half-close-drops-the-answer",
        "osm_mesh/kube/portforward.py",
        """                        client_open = False
                        quiet_since = time.monotonic()
                        continue""",
        "                        return",
        ("tests/mesh/kube/test_portforward.py", "tests/cli/dashboard"),
        (
            "tests/mesh/kube/test_portforward.py"
            "::test_a_client_that_half_closes_still_gets_the_whole_answer",
        ),
    ),
    Mutation(
        # The chart's controller ClusterRole without `watch` on pods (and the other core
        # kinds): the controller still starts and lists, so only the golden file noticed.
        "chart-rbac-drops-a-needed-verb",
        "templates/osm/templates/osm-controller.yaml",
        """    resources: ["namespaces", "pods", "services", "endpoints", "serviceaccounts"]
    verbs: ["get", "list", "watch"]""",
        """    resources: ["namespaces", "pods", "services", "endpoints", "serviceaccounts"]
    verbs: ["get", "list"]""",
        (
            "tests/chart",
            "--ignore=tests/chart/test_golden.py",
            "--ignore=tests/chart/test_wheel.py",  # builds the wheel: needs the whole repo
            "tests/kube/test_least_privilege_rbac.py",
        ),
        (
            "tests/kube/test_rbac_sufficiency.py::test_every_grant_is_needed_or_named_unused",
            "tests/kube/test_rbac_sufficiency.py::test_the_controller_works_with_only_the_needed_grants",
        ),
    ),
    Mutation(
        "injection-answers-without-a-patch",
        "osm_mesh/injector/webhook.py",
        """            "patchType": "JSONPatch",
            "patch": base64.b64encode(json.dumps(patch).encode()).decode(),
""",
        "",
        (),  # the tests of the injector catch it; the benchmark timed it regardless
        ("-m benchmarks controller",),
    ),
)


def _copy(scratch: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, scratch / name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(src, scratch / name)
    for name in LINKED:
        if (REPO / name).exists():
            (scratch / name).symlink_to(REPO / name)


def _pytest(scratch: Path, args: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(scratch)}
    if args and args[0] == "-m":  # a module of its own, e.g. a benchmark
        cmd = [sys.executable, *args]
    else:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *args]
    return subprocess.run(cmd, cwd=scratch, env=env, check=False).returncode


def check(m: Mutation, killers_only: bool = False) -> bool:
    with tempfile.TemporaryDirectory(prefix=f"mut-{m.name}-") as tmp:
        scratch = Path(tmp)
        _copy(scratch)
        target = scratch / m.path
        text = target.read_text()
        if text.count(m.old) != 1:
            print(f"{m.name}: the code to mutate is not found once in {m.path}", flush=True)
            return False
        target.write_text(text.replace(m.old, m.new))
        deselect = [a for k in m.killers if "::" in k for a in ("--deselect", k)]
        run_subset = m.subset and not killers_only
        before = _pytest(scratch, [*m.subset, *deselect]) if run_subset else 0
        # Each killing test on its own: every one of them must fail on the mutation.
        after = {k: _pytest(scratch, k.split()) for k in m.killers}
    survived_before = before == 0
    killed = all(code != 0 for code in after.values())
    if run_subset:
        verdict = "survives" if survived_before else "KILLED"
        print(f"{m.name}: without the killing tests {verdict} (exit {before})", flush=True)
    else:
        print(f"{m.name}: (suite subset not run)", flush=True)
    for k, code in after.items():
        print(f"    {k}: {'fails' if code else 'PASSES'} (exit {code})", flush=True)
    return killed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.issue15")
    parser.add_argument("names", nargs="*")
    parser.add_argument("--killers-only", action="store_true", help="skip the suite subset")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    results = [check(m, args.killers_only) for m in chosen]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
