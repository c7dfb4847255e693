"""What `make mutation` mutates, and the fast tests that must kill each package's mutants.

Each target is one package of the pure core with the focused test subset that covers it: a
mutant is run only against the tests that reach the mutated function (mutmut records that in
its first, unmutated run), so a subset that stays in-process keeps a run to minutes. Left
out of every subset for time: tests/mesh/policy/test_lint_robustness.py (a 6 s fuzz of
every parser, a crash guard rather than a check of meaning).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    mutate: tuple[str, ...]  # globs of files to mutate, relative to the repo
    tests: tuple[str, ...]  # pytest arguments selecting the fast tests
    skip: tuple[str, ...] = ()  # globs left alone, with the reason in a comment


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "envoy",
            ("osm_mesh/envoy/*.py",),
            (
                "tests/mesh/envoy",
                "--ignore=tests/mesh/envoy/test_scope.py",
                "tests/mesh/resilience/test_translate.py",
            ),
            # process.py starts and stops Envoy processes: the data-plane suites (marker
            # `envoy`, seconds per test) guard it, too slow for a mutant each. scope.py and
            # index.py have a target of their own (their random-sequence test takes ~15 s).
            skip=(
                "osm_mesh/envoy/process.py",
                "osm_mesh/envoy/scope.py",
                "osm_mesh/envoy/index.py",
            ),
        ),
        Target(
            "envoy-scope",
            ("osm_mesh/envoy/scope.py", "osm_mesh/envoy/index.py"),
            (
                "tests/mesh/envoy/test_scope.py",
                "tests/mesh/envoy/test_translate.py",
                # The random-sequence test on 6 of its 24 (seed, mode) cases, the permissive
                # seed 3 among them: all 24 take ~30 s per mutant, 450 mutants took hours.
                "-k",
                "not byte_identical_to_full or 0-local or 0-cluster or 3-local or 3-cluster",
            ),
        ),
        Target(
            "policy",
            ("osm_mesh/policy/*.py",),
            (
                "tests/mesh/policy",
                "--ignore=tests/mesh/policy/test_lint_robustness.py",
                "tests/mesh/resilience/test_lint.py",
                # check.py and analyze.py are exercised through their commands (the live
                # analysis against the API emulator, 11 s, is left out).
                "tests/cli/policy",
                "--deselect=tests/cli/policy/test_analyze.py::test_live_cluster_findings",
                "--deselect=tests/cli/policy/test_analyze.py::test_unreachable_cluster",
            ),
        ),
        Target(
            "smi",
            ("osm_mesh/smi/*.py",),
            (
                "tests/mesh/smi",
                "tests/mesh/policy",
                "--ignore=tests/mesh/policy/test_lint_robustness.py",
                "tests/mesh/resilience/test_parse.py",
                "tests/mesh/resilience/test_lint.py",
            ),
        ),
        Target("certs", ("osm_mesh/certs/*.py",), ("tests/mesh/certs",)),
        Target(
            "xds-cache",
            ("osm_mesh/xds/cache.py",),
            ("tests/mesh/xds/test_cache.py", "tests/mesh/xds/test_protocol.py"),
        ),
        Target(
            "injector-patch",
            ("osm_mesh/injector/patch.py",),
            ("tests/mesh/injector/test_patch.py", "tests/mesh/injector/test_patch_containers.py"),
        ),
    )
}
