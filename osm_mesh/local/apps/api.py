"""The sample API: ``GET /api/values`` → v1 ``["Value 1", "Value 2", "Value 3"]``,
v2 ``["Value 4", "Value 5", "Value 6"]``.

Run: ``python -m osm_mesh.local.apps.api --version v1`` (listens on $POD_IP:$PORT).
Each answer carries ``X-Api-Version`` so a client can tell the backends apart.
"""

from __future__ import annotations

import argparse

from osm_mesh.local.apps._server import Handler, serve

VALUES = {
    "v1": ["Value 1", "Value 2", "Value 3"],
    "v2": ["Value 4", "Value 5", "Value 6"],
}


def make_handler(version: str) -> type[Handler]:
    class ApiHandler(Handler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/api/values":
                self.send_json(200, VALUES[version], {"X-Api-Version": version})
            elif path in ("/healthz", "/"):
                self.send_json(200, {"status": "ok", "version": version})
            else:
                self.send_json(404, {"error": f"no route {path}"})

        do_HEAD = do_GET

    return ApiHandler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="api", description=__doc__)
    parser.add_argument("--version", choices=sorted(VALUES), default="v1")
    args = parser.parse_args(argv)
    serve(make_handler(args.version))


if __name__ == "__main__":
    main()
