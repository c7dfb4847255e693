"""The local mesh's debug endpoint: the controller's ``/debug/proxies`` (``osm proxy status``),
served on the control plane's own loopback address for this user's tools."""

from __future__ import annotations

import logging
from typing import Any

from osm_mesh import labels
from osm_mesh.controller.http import HttpServer, Reply, Route

log = logging.getLogger("osm_mesh.local")


def start_debug_server(control_plane: Any, source: Any, host: str) -> HttpServer | None:
    """Serve proxy status on ``host`` (port 9092, else any free one); None if impossible."""

    def proxy_status(_body: bytes) -> Reply:
        from osm_mesh.proxystatus import proxy_report

        report = proxy_report(
            control_plane.proxy_sync(),
            source.snapshot(),
            mesh="local",
            generation=control_plane.version,
            trust_domain=control_plane.trust_domain,
        )
        return Reply.json(report)

    routes: dict[tuple[str, str], Route] = {
        ("GET", labels.CONTROLLER_PROXY_STATUS_PATH): proxy_status
    }
    for port in (labels.CONTROLLER_DEBUG_PORT, 0):
        server = HttpServer(routes, host=host, port=port, name="local-debug")
        try:
            return server.start()
        except OSError as exc:
            log.debug("debug endpoint on %s:%s: %s", host, port, exc)
    return None


def debug_url(server: HttpServer | None) -> str | None:
    if server is None:
        return None
    return f"http://{server.host}:{server.port}"


def read_local_proxy_status(state: dict[str, Any]) -> Any:
    """The proxy status served by the local mesh whose ``state`` is given."""
    import http.client
    import urllib.parse

    from osm_mesh.errors import MeshError
    from osm_mesh.kube.portforward import http_get
    from osm_mesh.proxystatus import MAX_REPORT_BYTES, parse_report

    source = f"the local mesh on {state.get('addresses')} (pid {state.get('pid')})"
    url = urllib.parse.urlsplit(str(state.get("debug") or ""))
    if url.scheme != "http" or not url.hostname or not url.port:
        raise MeshError(
            f"{source} has no debug endpoint",
            hint="It was started by an older osm; restart it",
        )
    try:
        answer = http_get(
            url.hostname, url.port, labels.CONTROLLER_PROXY_STATUS_PATH,
            timeout=10.0, max_bytes=MAX_REPORT_BYTES,
        )  # fmt: skip
    except (OSError, http.client.HTTPException) as exc:
        raise MeshError(f"could not read the proxy status from {source}: {exc}") from None
    if answer.status != 200:
        raise MeshError(f"{source} answered HTTP {answer.status} to the proxy status")
    return parse_report(answer.body, source)
