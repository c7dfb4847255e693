"""python -m tests.mutation.recheck TARGET [--match TEXT] [--record] [-- PYTEST ARGS]

Re-runs the survivors of an earlier `make mutation` run of TARGET against the tests as they
are now: the fast loop while writing tests for survivors. Each survivor (its mutant switched
on through mutmut's MUTANT_UNDER_TEST) runs the given pytest arguments (default: the
target's subset) with the current tests copied into .mutation/TARGET/mutants. With
`--record` a mutant the tests now kill is recorded as killed in mutmut's results, so
`python -m tests.mutation --report-only TARGET` counts it; killed mutants stay killed (tests
are only added), but a changed source file needs a full run again. The scores in
docs/testing.md come from full runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.mutation.__main__ import NO_TESTS, SCRATCH, SURVIVED
from tests.mutation.targets import TARGETS

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 120


def same_source(work: Path) -> bool:
    """The run's unmutated copy of osm_mesh is the source as it is now."""
    ours = {p.relative_to(REPO): p.read_bytes() for p in (REPO / "osm_mesh").rglob("*.py")}
    theirs = {p.relative_to(work): p.read_bytes() for p in (work / "osm_mesh").rglob("*.py")}
    return ours == theirs


def survivors(mutants: Path) -> dict[str, Path]:
    found = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        found.update({k: meta for k, c in codes.items() if c in SURVIVED | NO_TESTS})
    return found


def check(mutants: Path, name: str, pytest_args: list[str]) -> int:
    env = {**os.environ, "MUTANT_UNDER_TEST": name, "PYTHONPATH": str(mutants)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *pytest_args]
    cmd += ["-m", "not envoy and not kube and not slow"]
    try:
        proc = subprocess.run(
            cmd, cwd=mutants, env=env, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return 36  # mutmut's code for a timeout: caught
    return proc.returncode


def record(meta: Path, name: str, code: int) -> None:
    data = json.loads(meta.read_text())
    data["exit_code_by_key"][name] = code
    meta.write_text(json.dumps(data, indent=4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.recheck")
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--match", default="", help="only survivors whose name contains it")
    parser.add_argument("--record", action="store_true", help="record kills in mutmut's data")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_intermixed_args(argv)
    mutants = SCRATCH / args.target / "mutants"
    if not mutants.is_dir():
        parser.error(f"no earlier run of {args.target}: run `make mutation TARGETS={args.target}`")
    if not same_source(SCRATCH / args.target):
        parser.error(f"osm_mesh changed since the run of {args.target}: run it again in full")
    shutil.rmtree(mutants / "tests")
    shutil.copytree(REPO / "tests", mutants / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    pytest_args = args.pytest_args or list(TARGETS[args.target].tests)
    if check(mutants, "", pytest_args) != 0:  # no mutant switched on: must pass
        parser.error(f"the tests fail in .mutation/{args.target} without a mutant")
    chosen = {k: m for k, m in survivors(mutants).items() if args.match in k}
    os.nice(10)
    with ThreadPoolExecutor(args.workers) as pool:
        names = list(chosen)
        codes = dict(
            zip(names, pool.map(lambda k: check(mutants, k, pytest_args), names), strict=True)
        )
    # 1: a test failed; 36: timed out. Anything else (a collection or usage error) is no
    # verdict on the mutant and is shown, not recorded.
    killed = [k for k, c in codes.items() if c in (1, 36)]
    for name in sorted(codes):
        verdict = "killed  " if name in killed else "survives" if codes[name] in (0, 5) else "ERROR"
        print(f"{verdict} {name} (exit {codes[name]})", flush=True)
        if args.record and name in killed:
            record(chosen[name], name, codes[name])
    print(f"{len(killed)} of {len(codes)} survivors now killed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
