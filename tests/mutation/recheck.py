"""python -m tests.mutation.recheck TARGET [--match TEXT] [--record] [-- PYTEST ARGS]

Re-runs the survivors of an earlier `make mutation` run of TARGET against the tests as they
are now: the fast loop while writing tests for survivors. Each survivor (its mutant switched
on through mutmut's MUTANT_UNDER_TEST) runs the given pytest arguments (default: the
target's subset) with the current tests copied into .mutation/TARGET/mutants. With
`--record` a mutant the tests now kill is recorded as killed in mutmut's results, so
`python -m tests.mutation --report-only TARGET` counts it; killed mutants stay killed (tests
are only added). The files the run did not mutate are brought up to date first, and the
tests must pass with no mutant switched on; a mutated file changed since the run needs a
full run again. docs/testing.md says which of its scores come from a recheck.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from tests.mutation.__main__ import NO_TESTS, SCRATCH, SURVIVED
from tests.mutation.targets import TARGETS, Target

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 300


def mutated_files(target: Target) -> set[Path]:
    files = {p.relative_to(REPO) for g in target.mutate for p in REPO.glob(g)}
    return files - {p.relative_to(REPO) for g in target.skip for p in REPO.glob(g)}


def sync_source(target: Target, work: Path) -> list[Path]:
    """Bring the files the run did not mutate up to date in mutants/; the mutated ones that
    changed since the run (its mutants are of the old text) are returned."""
    mutated = mutated_files(target)
    stale = [p for p in sorted(mutated) if (REPO / p).read_bytes() != (work / p).read_bytes()]
    for path in (REPO / "osm_mesh").rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel not in mutated:
            (work / "mutants" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, work / "mutants" / rel)
    return stale


def exclusive(work: Path) -> IO[str]:
    """Hold .mutation/NAME for this recheck: each recheck replaces mutants/tests with the
    current tests, so a second one at the same time would pull the tests from under the
    first one's runs (seen as collection errors). Raises BlockingIOError when held."""
    handle = (work / ".recheck.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise
    return handle


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
        return 36  # mutmut's code for a timeout
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
    try:
        lock = exclusive(SCRATCH / args.target)
    except BlockingIOError:
        parser.error(f"another recheck of {args.target} is running in .mutation/{args.target}")
    stale = sync_source(TARGETS[args.target], SCRATCH / args.target)
    if stale:
        parser.error(f"{stale[0]} changed since the run of {args.target}: run it again in full")
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
    # 1: a test failed. A timeout (36; on a loaded machine a slow run is no proof of a
    # hang) or a collection or usage error is no verdict: shown, not recorded.
    killed = [k for k, c in codes.items() if c == 1]
    for name in sorted(codes):
        verdict = "killed  " if name in killed else "survives" if codes[name] in (0, 5) else "ERROR"
        print(f"{verdict} {name} (exit {codes[name]})", flush=True)
        if args.record and name in killed:
            record(chosen[name], name, codes[name])
    print(f"{len(killed)} of {len(codes)} survivors now killed", flush=True)
    lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
