"""The sample frontend: on each request it GETs ``$API_URL`` through its sidecar.

Run: ``python -m osm_mesh.local.apps.frontend`` (listens on $POD_IP:$PORT).
The URL is the ConfigMap's ``backend_service_uri`` (the Deployment maps it to
``API_URL``); ``HTTP_PROXY`` points at the sidecar's outbound listener, so the
request leaves with the cluster name (``api.<ns>.svc.cluster.local``) as Host.

- ``GET /``: the page the article shows: the values, or "Error while reading
  data from the API" on any non-200 answer (as the original).
- ``GET /data``: the same call as JSON, for scripts and ``osm demo``:
  ``{"status": int, "values": [...] | null, "version": str | null,
  "error": str | null, "latency_ms": float}`` (``status`` 0: no HTTP answer).
  ``?path=/x`` calls another path on the API host (to show route policy).
"""

from __future__ import annotations

import html
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from osm_mesh.local.apps._server import Handler, serve

ERROR_TEXT = "Error while reading data from the API"

# Reads HTTP_PROXY/NO_PROXY once; every request then goes through the sidecar.
_opener = urllib.request.build_opener()


def call_api(path: str | None = None) -> dict[str, Any]:
    url = os.environ.get("API_URL", "")
    if path:
        url = urllib.parse.urljoin(url, path)
    started = time.perf_counter()
    result: dict[str, Any] = {"status": 0, "values": None, "version": None, "error": None}
    try:
        with _opener.open(urllib.request.Request(url), timeout=5) as response:
            body = response.read()
            result["status"] = response.status
            result["version"] = response.headers.get("X-Api-Version")
            result["values"] = json.loads(body)
    except urllib.error.HTTPError as exc:
        result["status"] = exc.code
        result["error"] = exc.read().decode(errors="replace")[:200] or exc.reason
    except (OSError, ValueError) as exc:
        result["error"] = str(exc)
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return result


class FrontendHandler(Handler):
    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path == "/data":
            query = urllib.parse.parse_qs(parsed.query)
            self.send_json(200, call_api(query.get("path", [None])[0]))
        elif parsed.path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif parsed.path == "/":
            result = call_api()
            text = json.dumps(result["values"]) if result["status"] == 200 else ERROR_TEXT
            page = (
                "<!doctype html><title>OSM sample frontend</title>"
                f"<h1>Response from the API</h1><p>{html.escape(text)}</p>"
            )
            self.send_body(200, page.encode(), "text/html; charset=utf-8")
        else:
            self.send_json(404, {"error": f"no route {parsed.path}"})


def main() -> None:
    serve(FrontendHandler)


if __name__ == "__main__":
    main()
