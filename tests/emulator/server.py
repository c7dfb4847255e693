"""HTTP front end: URL routing, request recording, RBAC-like denials, JSON responses.

One BaseHTTPRequestHandler per connection (HTTP/1.1 keep-alive, which is what
urllib3 pools and client-go expect). The handler turns a request into a call on
``tests.emulator.api.Api``, or hands the socket over for pod proxy, port-forward
(WebSocket) and watch streams.
"""

from __future__ import annotations

import json
import socket
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.emulator import discovery, protobuf, scale, status
from tests.emulator.resources import ResourceType
from tests.emulator.watch import serve_watch

if TYPE_CHECKING:
    from tests.emulator.emulator import KubeEmulator


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON/YAML when the body was JSON, else bytes (None when empty)
    content_type: str = ""

    @property
    def is_write(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


@dataclass
class Target:
    """A parsed resource URL."""

    rt: ResourceType
    version: str
    namespace: str | None
    name: str | None
    subresource: str | None
    rest: str  # what follows the subresource (pod proxy path)


VERB_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-emulator"
    timeout = 120  # idle keep-alive connections end eventually
    emulator: KubeEmulator  # set on the subclass the emulator creates

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.emulator.track(self.connection, open_=True)

    def finish(self) -> None:
        self.emulator.track(self.connection, open_=False)
        try:
            super().finish()
        except OSError:
            pass  # the peer (or emu.stop) already closed the socket

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read emu.requests, not stderr noise

    # --- plumbing -------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, code: int, body: Any, extra_headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_raw(self, code: int, headers: dict, body: bytes) -> None:
        self.send_response(code)
        sent = {k.lower() for k in headers}
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self, path: str, query: dict[str, str], raw: bytes) -> None:
        ctype = self.headers.get("Content-Type") or ""
        body: Any = raw or None
        if raw and ("json" in ctype or "yaml" in ctype or not ctype):
            try:
                body = json.loads(raw)
            except ValueError:
                try:
                    import yaml

                    body = yaml.safe_load(raw)
                except Exception:
                    body = raw
        self.emulator.record(RecordedRequest(self.command, path, query, body, ctype))

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        raw = self._read_body()
        self._record(path, query, raw)
        try:
            self._route(path, query, raw, split.query)
        except status.ApiError as exc:
            self.send_json(exc.code, exc.body, exc.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            # An emulator bug: answer 500 like the API server would and keep the traceback
            # in emu.errors, so the test that hit it can show what went wrong.
            self.emulator.errors.append(traceback.format_exc())
            self.send_json(500, status.ApiError(500, "InternalError", repr(exc)).body)

    # --- routing ----------------------------------------------------------------

    def _route(self, path: str, query: dict[str, str], raw: bytes, raw_query: str) -> None:
        api = self.emulator.api
        parts = [p for p in path.split("/") if p]
        if path in ("/version", "/version/"):
            return self.send_json(200, discovery.VERSION_INFO)
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_raw(200, {}, b"ok")
        if path == "/openapi/v2":
            return self.send_json(200, discovery.openapi_v2())
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi_v3(parts[2:])
        if parts == ["api"]:
            return self.send_json(200, discovery.api_versions(self.headers.get("Host", "")))
        if parts == ["apis"]:
            return self.send_json(200, discovery.api_group_list(api.groups()))
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 2 and parts[0] == "apis":
            group = parts[1]
            types = api.groups().get(group)
            if not types:
                # No handler for the group at all: Go's mux answers, not the API machinery.
                return self.send_raw(
                    404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n"
                )
            if len(parts) == 2:
                return self.send_json(200, discovery.api_group(group, types))
            version, rest = parts[2], parts[3:]
        else:
            raise _no_such_path()
        if not rest:
            types = [t for t in api.groups().get(group, []) if version in t.versions]
            if not types:
                raise _no_such_path()
            return self.send_json(200, discovery.resource_list(group, version, types))
        target = self._target(group, version, rest)
        self._check_allowed(target, query)
        self._serve(target, query, raw, raw_query)

    def _openapi_v3(self, gv: list[str]) -> None:
        groups = self.emulator.api.groups()
        if not gv:
            return self.send_json(200, discovery.openapi_v3_index(groups))
        group, version = ("", gv[1]) if gv[0] == "api" and len(gv) == 2 else (gv[1], gv[-1])
        types = groups.get(group) or []
        if len(gv) not in (2, 3) or not any(version in t.versions for t in types):
            raise _no_such_path()
        self.send_json(200, discovery.openapi_v3_group_version(group, version, types))

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace = None
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (group == "" and rest[2] in ("status", "finalize"))
        ):
            namespace, rest = rest[1], rest[2:]
        rt = self.emulator.api.resource(group, version, rest[0])
        if rt is None:
            raise _no_such_path()
        if namespace is not None and not rt.namespaced:
            raise _no_such_path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise _no_such_path()
        return Target(rt, version, namespace, name, sub, "/".join(rest[3:]))

    def _verb(self, target: Target, query: dict[str, str]) -> str:
        if self.command in ("GET", "HEAD"):
            if target.name is None:
                return "watch" if query.get("watch") in ("true", "1") else "list"
            return "get"
        if self.command == "DELETE":
            return "delete" if target.name else "deletecollection"
        return VERB_BY_METHOD.get(self.command, self.command.lower())

    def _check_allowed(self, target: Target, query: dict[str, str]) -> None:
        verb = self._verb(target, query)
        if target.subresource == "portforward":
            # The WebSocket upgrade is a GET, but RBAC asks for `create` on pods/portforward.
            verb = "create"
        resource = target.rt.plural + (f"/{target.subresource}" if target.subresource else "")
        name = target.name.split(":")[0] if target.name else None
        if self.emulator.is_forbidden(verb, resource, target.namespace):
            raise status.forbidden(verb, resource, target.rt.group, target.namespace, name)
        if self.emulator.take_reinitializing(target.rt.plural):
            raise status.reinitializing()

    # --- verbs ------------------------------------------------------------------------

    def _serve(self, t: Target, query: dict[str, str], raw: bytes, raw_query: str) -> None:
        api, rt = self.emulator.api, t.rt
        dry_run = query.get("dryRun") == "All"
        strict = query.get("fieldValidation") == "Strict"
        if t.subresource == "proxy":
            return self.emulator.pod_proxy(self, t, raw, raw_query)
        if t.subresource == "portforward":
            return self.emulator.port_forward(self, t, query)
        if t.subresource == "log":
            return self.send_raw(200, {}, self.emulator.pod_log(t, query).encode())
        if t.subresource == "scale":
            ctype = self.headers.get("Content-Type") or ""
            return self.send_json(200, scale.serve(api, t, self.command, raw, ctype))
        verb = self._verb(t, query)
        if verb == "list":
            rv = query.get("resourceVersion") or ""
            if rv and not rv.isdigit():
                message = status.unparsable_resource_version(rv)
                raise status.bad_request(f"invalid resource version: {message}")
            items = api.list(
                rt, t.namespace, query.get("labelSelector"), query.get("fieldSelector"), t.version
            )
            list_meta: dict[str, str] = {"resourceVersion": str(api.store.resource_version)}
            if not rt.builtin:
                list_meta["continue"] = ""  # custom resources' lists carry an empty one
            return self.send_json(
                200,
                {
                    "apiVersion": rt.api_version(t.version),
                    "kind": rt.list_kind,
                    "metadata": list_meta,
                    "items": items,
                },
            )
        if verb == "watch":
            return serve_watch(self, t, query)
        if verb == "get":
            assert t.name
            return self.send_json(200, api.get(rt, t.namespace, t.name, t.version))
        body: Any = None
        if self.command in ("POST", "PUT"):
            ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0]
            if "protobuf" in ctype:
                # helm's release storage writes Secrets/ConfigMaps as protobuf.
                body = protobuf.decode(raw)
                if body is None:
                    raise status.unsupported_media_type(ctype)
            elif "json" in ctype or "yaml" in ctype:
                body = _json_body(raw) if "json" in ctype else _yaml_body(raw)
            else:
                raise status.unsupported_media_type(ctype)
        if verb == "create":
            if t.name is not None:
                raise status.method_not_allowed()
            created = api.create(rt, t.namespace, body, t.version, dry_run=dry_run, strict=strict)
            return self.send_json(201, created)
        assert t.name is not None or verb == "deletecollection"
        if verb == "update":
            assert t.name
            updated = api.replace(
                rt, t.namespace, t.name, body, t.version, t.subresource, dry_run, strict=strict
            )
            return self.send_json(200, updated)
        if verb == "patch":
            assert t.name
            ctype = self.headers.get("Content-Type") or ""
            manager = query.get("fieldManager")
            # A server-side apply that creates answers 201, as a create does.
            existed = api.store.get(rt.key, (t.namespace or "") if rt.namespaced else "", t.name)
            patched = api.patch(
                rt,
                t.namespace,
                t.name,
                ctype,
                raw,
                t.version,
                t.subresource,
                dry_run,
                manager,
                strict=strict,
                force=query.get("force") == "true",
            )
            return self.send_json(200 if existed is not None or dry_run else 201, patched)
        if verb == "delete":
            assert t.name
            propagation = query.get("propagationPolicy") or _delete_options(raw).get(
                "propagationPolicy"
            )
            deleted = api.delete(rt, t.namespace, t.name, t.version, propagation, dry_run)
            if rt.key in RETURNS_DELETED_OBJECT:
                return self.send_json(200, deleted)
            return self.send_json(
                200, status.success_status(rt, t.name, deleted["metadata"].get("uid"))
            )
        if verb == "deletecollection":
            gone = api.delete_collection(
                rt, t.namespace, query.get("labelSelector"), query.get("fieldSelector")
            )
            # The API server answers with the list of what it deleted.
            return self.send_json(
                200,
                {
                    "apiVersion": rt.api_version(t.version),
                    "kind": rt.list_kind,
                    "metadata": {"resourceVersion": str(api.store.resource_version)},
                    "items": gone,
                },
            )
        raise status.method_not_allowed()


# Kinds whose registry sets ReturnDeletedObject (k8s.io/kubernetes pkg/registry/*/storage):
# a DELETE answers with the object; every other kind answers with a Success Status.
RETURNS_DELETED_OBJECT = {
    ("", "pods"),
    ("", "services"),
    ("", "serviceaccounts"),
    ("", "namespaces"),
    ("", "persistentvolumeclaims"),
    ("", "persistentvolumes"),
    ("", "resourcequotas"),
    ("", "podtemplates"),
    # not deleted at once (a finalizer runs first): the API server answers the object
    ("apiextensions.k8s.io", "customresourcedefinitions"),
}


def _no_such_path() -> status.ApiError:
    return status.ApiError(404, "NotFound", "the server could not find the requested resource", {})


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode() or "null")
    except ValueError as exc:
        raise status.bad_request(f"the body of the request could not be decoded: {exc}") from None


def _yaml_body(raw: bytes) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw.decode() or "null")
    except (ValueError, yaml.YAMLError) as exc:
        raise status.bad_request(f"the body of the request could not be decoded: {exc}") from None


def _delete_options(raw: bytes) -> dict:
    """DeleteOptions sent as JSON; other encodings (protobuf from client-go) are ignored."""
    try:
        options = json.loads(raw.decode()) if raw else {}
    except ValueError:
        return {}
    return options if isinstance(options, dict) else {}
