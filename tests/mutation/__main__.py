"""python -m tests.mutation [TARGET ...] [--resume] [--list]: mutmut over the pure core.

One target (package) at a time, each in its own scratch copy of the repo under .mutation/NAME
(mutmut writes its mutants/ folder next to the configuration it reads), at nice 10 on at most
two workers: the machine is shared. Prints per file and per target the killed share, the wall
time, and the surviving mutants' names (`cd .mutation/NAME && mutmut show NAME` shows a diff).
Not part of `make test` or CI: a full run takes tens of minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.mutation.targets import TARGETS, Target

REPO = Path(__file__).resolve().parents[2]
SCRATCH = REPO / ".mutation"
COPIED = ("osm_mesh", "tests", "templates", "docs")
# mutmut's exit codes (mutmut/stats.py): 1 and 3 are kills, 0 a survivor, 33 no covering test.
KILLED = {1, 3, 37}
SURVIVED = {0}
NO_TESTS = {5, 33}
TIMEOUT = {36, 24, -24, 152, 255}


def toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(target: Target, work: Path, resume: bool) -> None:
    if work.exists() and not resume:
        shutil.rmtree(work)
    if work.exists():
        return
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "golden_out")
    for name in COPIED:
        shutil.copytree(REPO / name, work / name, ignore=ignore, symlinks=True)
    config = f"""
[tool.mutmut]
source_paths = ["osm_mesh"]
only_mutate = {toml_list(target.mutate)}
do_not_mutate = {toml_list(target.skip)}
also_copy = ["templates", "docs"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not envoy and not kube and not slow"]
pytest_add_cli_args_test_selection = {toml_list(target.tests)}
use_git_change_detection = false
"""
    text = (REPO / "pyproject.toml").read_text() + config
    (work / "pyproject.toml").write_text(text)


def results(work: Path) -> dict[str, Counter[str]]:
    """Per mutated file: counts of killed / survived / no_tests / timeout / other."""
    per_file: dict[str, Counter[str]] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        tally: Counter[str] = Counter()
        for name, code in codes.items():
            if code in KILLED:
                tally["killed"] += 1
            elif code in SURVIVED:
                tally["survived"] += 1
                tally["survivor:" + name] += 1
            elif code in NO_TESTS:
                tally["no_tests"] += 1
                tally["survivor:" + name] += 1
            elif code in TIMEOUT:
                tally["timeout"] += 1  # a mutant that hangs the tests is caught
            elif code is None:
                tally["not_checked"] += 1  # an interrupted run: `--resume` goes on
            else:
                tally["other"] += 1
        rel = str(meta.relative_to(work / "mutants"))[: -len(".meta")]
        per_file[rel] = tally
    return per_file


def score(tally: Counter[str]) -> tuple[int, int]:
    caught = tally["killed"] + tally["timeout"]
    total = caught + tally["survived"] + tally["no_tests"] + tally["other"]
    return caught, total


def run(target: Target, resume: bool, workers: int, report_only: bool) -> dict[str, object]:
    work = SCRATCH / target.name
    if report_only:  # what an earlier (perhaps interrupted) run found
        return summarize(target, work, 0, 0.0)
    prepare(target, work, resume)
    mutmut = Path(sys.executable).with_name("mutmut")
    started = time.monotonic()
    with open(work / "mutmut.log", "w") as log:
        proc = subprocess.run(
            [str(mutmut), "run", "--max-children", str(workers)],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return summarize(target, work, proc.returncode, time.monotonic() - started)


def summarize(target: Target, work: Path, exit_code: int, wall: float) -> dict[str, object]:
    per_file = results(work)
    total: Counter[str] = Counter()
    for tally in per_file.values():
        total.update(tally)
    caught, mutants = score(total)
    report = {
        "target": target.name,
        "exit_code": exit_code,
        "wall_seconds": round(wall, 1),
        "caught": caught,
        "mutants": mutants,
        "score": round(100 * caught / mutants, 1) if mutants else None,
        "not_checked": total["not_checked"],
        "no_tests": total["no_tests"],
        "files": {
            path: dict(zip(("caught", "mutants"), score(t), strict=True))
            for path, t in per_file.items()
        },
        "survivors": sorted(k.split(":", 1)[1] for k in total if k.startswith("survivor:")),
    }
    if not exit_code and wall:
        (work / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation")
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--resume", action="store_true", help="keep .mutation/NAME and go on")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--list", action="store_true", help="print the targets and exit")
    parser.add_argument(
        "--report-only", action="store_true", help="summarize .mutation/NAME without running"
    )
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]!r}; known: {', '.join(TARGETS)}")
    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:15} {' '.join(t.mutate)}  <-  {' '.join(t.tests)}")
        return 0
    os.nice(10)  # shared machine: mutants yield to everyone else
    failed = False
    for name in args.targets or list(TARGETS):
        report = run(TARGETS[name], args.resume, args.workers, args.report_only)
        print(
            f"{name:15} {report['caught']}/{report['mutants']} caught ({report['score']} %) "
            f"in {report['wall_seconds']} s; survivors: {len(report['survivors'])}"  # type: ignore[arg-type]
            f" ({report['no_tests']} reached by no test); not checked: {report['not_checked']}",
            flush=True,
        )
        failed = failed or report["exit_code"] != 0 or not report["mutants"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
