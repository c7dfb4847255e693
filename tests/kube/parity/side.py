"""One side of a differential test: raw HTTP to an API server (the emulator or the real one).

The parity tests send byte-identical requests to both servers and compare what comes back, so
this client adds nothing of its own: no retries, no defaulting, no typed models. Bodies are
JSON (or YAML for server-side apply); answers are parsed JSON when they are JSON.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import urllib3


@dataclass
class Reply:
    code: int
    body: Any  # parsed JSON, else text
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        """The Status reason of an error answer (None for objects)."""
        if isinstance(self.body, dict) and self.body.get("kind") == "Status":
            return self.body.get("reason")
        return None

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else str(self.body)


class Side:
    """An API server reached over HTTP(S) with the admin's credentials."""

    def __init__(self, name: str, base: str, tls: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.base = base.rstrip("/")
        kwargs: dict[str, Any] = {"num_pools": 2, "maxsize": 8}
        if tls is not None:
            kwargs["ssl_context"] = tls
        self.http = urllib3.PoolManager(**kwargs)
        self.auth: dict[str, str] = {}  # e.g. a bearer token, sent with every request

    def __repr__(self) -> str:
        return f"Side({self.name})"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ctype: str = "application/json",
        query: dict[str, Any] | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        url = self.base + path + (("?" + urlencode(query)) if query else "")
        data = raw
        if data is None and body is not None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
        sent = {"Accept": "application/json", **self.auth, **(headers or {})}
        if data is not None:
            sent["Content-Type"] = ctype
        response = self.http.request(
            method, url, body=data, headers=sent, timeout=timeout, retries=False
        )
        text = response.data.decode(errors="replace")
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return Reply(response.status, parsed, {k.lower(): v for k, v in response.headers.items()})

    # shorthand verbs
    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> Reply:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any, ctype: str, **kw: Any) -> Reply:
        return self.request("PATCH", path, body, ctype=ctype, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("DELETE", path, body, **kw)

    def watch(
        self, path: str, query: dict[str, Any], *, until: Callable[[list[dict]], bool], limit=10.0
    ) -> tuple[int, list[dict]]:
        """Open a watch, collect events until ``until(events)`` or ``limit`` seconds."""
        params = {"watch": "true", "timeoutSeconds": str(int(limit) + 1), **query}
        url = self.base + path + "?" + urlencode(params)
        response = self.http.request(
            "GET",
            url,
            headers={"Accept": "application/json", **self.auth},
            preload_content=False,
            timeout=urllib3.Timeout(connect=5, read=limit),
            retries=False,
        )
        events: list[dict] = []
        try:
            if response.status != 200:
                return response.status, [json.loads(response.read() or b"{}")]
            deadline = time.monotonic() + limit
            try:
                for line in _lines(response):
                    events.append(json.loads(line))
                    if until(events) or time.monotonic() > deadline:
                        break
            except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
                pass  # the stream ended or went quiet: what arrived is the answer
        finally:
            response.release_conn()
            response.close()
        return 200, events

    def wait(self, check: Callable[[], bool], timeout: float = 60.0, step: float = 0.2) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(step)
        return check()

    def gone(self, path: str, timeout: float = 60.0) -> bool:
        return self.wait(lambda: self.get(path).code == 404, timeout)


def _lines(response: Any) -> Iterator[bytes]:
    pending = b""
    for chunk in response.stream(4096, decode_content=True):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line


def real_side(kubeconfig_path: str) -> Side:
    """The real API server of a kubeconfig written by tests/realkube (client certificate)."""
    with open(kubeconfig_path) as handle:
        config = json.load(handle)
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
    tls.load_cert_chain(user["client-certificate"], user["client-key"])
    return Side("real", cluster["server"], tls)


def emulator_side(url: str) -> Side:
    return Side("emulator", url)


def token_side(name: str, server: str, ca: str, token: str) -> Side:
    """A side that authenticates with a bearer token (a ServiceAccount's TokenRequest)."""
    tls = ssl.create_default_context(cafile=ca)
    side = Side(name, server, tls)
    side.auth["Authorization"] = f"Bearer {token}"
    return side
