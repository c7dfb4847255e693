"""The pod proxy subresource: `.../pods/{name}[:{port}]/proxy/{path}`.

The real API server dials the pod and relays the HTTP exchange; here the
"pod" is a Python callable registered with ``emu.serve_pod_proxy``. A pod with
nothing registered answers like an unreachable port does on a cluster (503
with the dial error), so the CLI's error path is testable too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.emulator import status

if TYPE_CHECKING:
    from tests.emulator.emulator import KubeEmulator
    from tests.emulator.server import Handler, Target

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "authorization"}


def serve_proxy(
    emu: KubeEmulator, handler: Handler, t: Target, body: bytes, raw_query: str
) -> None:
    if t.rt.plural != "pods" or not t.name:
        raise status.ApiError(404, "NotFound", "the server could not find the requested resource")
    pod, _, port_text = t.name.partition(":")
    # `name:port` and the scheme-qualified `https:name:port` form.
    if pod in ("http", "https") and port_text:
        pod, _, port_text = port_text.partition(":")
    if port_text and not port_text.isdigit():
        raise status.bad_request(f"invalid port {port_text!r}")
    port = int(port_text) if port_text else None
    ip = emu._pod_ip(t, pod)  # 404 when the pod does not exist
    target = emu.find_proxy(t.namespace or "", pod, port)
    if target is None:
        raise status.service_unavailable(
            f"error trying to reach service: dial tcp {ip}:{port or 80}: "
            "connect: connection refused"
        )
    path = "/" + t.rest + (f"?{raw_query}" if raw_query else "")
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
    try:
        code, out_headers, out_body = target(handler.command, path, headers, body)
    except Exception as exc:  # a crashing fake pod looks like a broken connection
        raise status.service_unavailable(f"error trying to reach service: {exc}") from None
    handler.send_raw(code, dict(out_headers or {}), bytes(out_body or b""))
