"""Run every benchmark module (or those named on the command line) and print a table.

python -m benchmarks               # all
python -m benchmarks startup xds   # bench_startup.py, bench_xds.py
python -m benchmarks --json out.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from benchmarks import Result


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help="benchmark modules without the bench_ prefix")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    package_dir = Path(__file__).parent
    available = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(package_dir)])
        if m.name.startswith("bench_")
    )
    selected = args.names or available
    unknown = sorted(set(selected) - set(available))
    if unknown:
        print(f"unknown benchmarks: {', '.join(unknown)}; have: {', '.join(available)}")
        return 2
    results: list[Result] = []
    for name in selected:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name}", file=sys.stderr, flush=True)
        for result in module.run():
            results.append(result)
            print(format_result(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps([r.as_dict() for r in results], indent=2))
    return 0 if all(r.met is not False for r in results) else 1


def format_result(r: Result) -> str:
    line = f"{r.name}: {r.value:.4g} {r.unit}"
    if r.baseline is not None and r.baseline_value is not None:
        line += f"  vs {r.baseline}: {r.baseline_value:.4g} {r.unit}"
        if r.ratio is not None:
            line += f"  ratio {r.ratio:.2f}x"
    if r.target:
        verdict = {True: "met", False: "NOT met", None: "n/a"}[r.met]
        line += f"  target {r.target}: {verdict}"
    return line


if __name__ == "__main__":
    raise SystemExit(main())
