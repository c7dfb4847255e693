"""The sample API: ``GET /api/values`` → v1 ``["Value 1", "Value 2", "Value 3"]``,
v2 ``["Value 4", "Value 5", "Value 6"]``.

Run: ``python -m osm_mesh.local.apps.api --version v1`` (listens on $POD_IP:$PORT).
Each answer carries ``X-Api-Version`` so a client can tell the backends apart.

For canary experiments (as podinfo, Flagger's sample app): ``GET /status/<code>`` answers
that code, and ``--fail-percent N`` makes N % of ``/api/values`` answers a 500.
"""

from __future__ import annotations

import argparse
import itertools

from osm_mesh.local.apps._server import Handler, serve

VALUES = {
    "v1": ["Value 1", "Value 2", "Value 3"],
    "v2": ["Value 4", "Value 5", "Value 6"],
}


def make_handler(version: str, fail_percent: int = 0) -> type[Handler]:
    # Deterministic, evenly spread failures: request i fails when its share crosses a step.
    counter = itertools.count()

    def fails() -> bool:
        i = next(counter)
        return (i + 1) * fail_percent // 100 > i * fail_percent // 100

    class ApiHandler(Handler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            code = path.removeprefix("/status/")
            if path == "/api/values" and fail_percent and fails():
                self.send_json(500, {"error": "failing on purpose"}, {"X-Api-Version": version})
            elif path == "/api/values":
                self.send_json(200, VALUES[version], {"X-Api-Version": version})
            elif path.startswith("/status/") and code.isdigit() and 200 <= int(code) <= 599:
                self.send_json(int(code), {"status": int(code)}, {"X-Api-Version": version})
            elif path in ("/healthz", "/"):
                self.send_json(200, {"status": "ok", "version": version})
            else:
                self.send_json(404, {"error": f"no route {path}"})

        do_HEAD = do_GET

    return ApiHandler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="api", description=__doc__)
    parser.add_argument("--version", choices=sorted(VALUES), default="v1")
    parser.add_argument("--fail-percent", type=int, choices=range(101), default=0, metavar="N")
    args = parser.parse_args(argv)
    serve(make_handler(args.version, args.fail_percent))


if __name__ == "__main__":
    main()
