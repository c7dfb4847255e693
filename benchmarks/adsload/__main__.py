"""``python -m benchmarks.adsload SPEC.json [--processes N] [--count N]``: run the proxies of a
spec against its ADS server until Ctrl-C (see ``benchmarks/adsload/__init__.py``)."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from benchmarks.adsload import LoadClients


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.adsload")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--count", type=int, default=None, help="only the first N proxies")
    parser.add_argument("--ramp", type=int, default=200, help="streams opened per wave")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    clients = LoadClients(args.spec, processes=args.processes, ramp=args.ramp, count=args.count)
    clients.start()
    try:
        for line in clients.wait_running(args.timeout):
            print(json.dumps(line), flush=True)
        done.wait()
    finally:
        for line in clients.stop():
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
