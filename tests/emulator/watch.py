"""Watch streams: `?watch=true` answered with chunked JSON events.

Events come from the store's log (every write records ADDED/MODIFIED/DELETED
under its resourceVersion). Without a resourceVersion, or with
`sendInitialEvents=true` (client-go's WatchList, used by helm --wait), the
current objects are sent first as ADDED; the latter also gets the bookmark
that marks the end of the initial state. Streams end at `timeoutSeconds`
(capped at 60 s, clients re-watch) or when the emulator stops.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from tests.emulator import status
from tests.emulator.selectors import field_selector, label_selector

if TYPE_CHECKING:
    from tests.emulator.server import Handler, Target


def serve_watch(handler: Handler, t: Target, query: dict[str, str]) -> None:
    """Stream watch events (chunked JSON lines) until timeoutSeconds or shutdown."""
    api, rt = handler.emulator.api, t.rt
    by_label = label_selector(query.get("labelSelector"))
    by_field = field_selector(query.get("fieldSelector"), rt.key)
    timeout = min(float(query.get("timeoutSeconds") or 30), 60.0)
    deadline = time.monotonic() + timeout
    initial_events = query.get("sendInitialEvents") == "true"
    if initial_events and query.get("resourceVersionMatch") != "NotOlderThan":
        raise status.initial_events_need_not_older_than()
    since_text = query.get("resourceVersion") or ""
    if since_text and not since_text.isdigit():
        # Sic: a watch answers 500 without a reason where a list answers 400.
        raise status.ApiError(500, "", status.unparsable_resource_version(since_text))
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()

    def matches(obj: dict) -> bool:
        ns = obj["metadata"].get("namespace")
        return (t.namespace is None or ns == t.namespace) and by_label(obj) and by_field(obj)

    def send(kind: str, obj: dict) -> None:
        obj = dict(obj, apiVersion=rt.api_version(t.version), kind=rt.kind)
        # One chunk per event, flushed: clients act on each event as it arrives.
        line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
        handler.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        handler.wfile.flush()

    store = api.store
    with store.lock:
        if since_text in ("", "0") or initial_events:
            initial = api.list(rt, t.namespace, None, None, t.version)
            since = store.resource_version
        else:
            initial, since = [], int(since_text)
            if since < store.history_start:
                # Like etcd compaction: the client must list again (HTTP 410 in an ERROR event).
                gone = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": f"too old resource version: {since_text} ({store.history_start})",
                    "reason": "Expired",
                    "code": 410,
                }
                line = json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n"
                handler.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n0\r\n\r\n")
                handler.close_connection = True
                return
    for obj in initial:
        if matches(obj):
            send("ADDED", obj)
    if initial_events and query.get("allowWatchBookmarks") == "true":
        # WatchList (client-go informers, helm --wait): a bookmark ends the initial state.
        marker = {
            "apiVersion": rt.api_version(t.version),
            "kind": rt.kind,
            "metadata": {
                "resourceVersion": str(since),
                "annotations": {"k8s.io/initial-events-end": "true"},
            },
        }
        send("BOOKMARK", marker)
    while not handler.emulator.stopping.is_set():
        with store.lock:
            pending = [e for e in store.events if e.resource_version > since and e.key == rt.key]
            if not pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                store.changed.wait(min(remaining, 0.5))
                continue
        for event in pending:
            since = event.resource_version
            if matches(event.object):
                send(event.type, event.object)
    handler.wfile.write(b"0\r\n\r\n")
    handler.close_connection = True
