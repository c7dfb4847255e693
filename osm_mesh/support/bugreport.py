"""`osm support bug-report`: one tar.gz with what a maintainer asks for first.

Upstream shells out to ``kubectl`` and ``osm`` and writes their output into a
staging directory. Here everything goes through the Kubernetes API (pod logs
via the ``pods/log`` subresource, Envoy admin via port-forward), so neither
tool needs to be installed, and the archive is written in one step at the end:
a failed run leaves no half-written file.

Layout inside the archive (top directory ``osm-bug-report/``)::

    README.txt                                   what was collected, what failed
    mesh-namespaces.yaml                         namespaces monitored by a mesh
    control-plane/<ns>/meshconfigs.yaml          MeshConfig objects
    control-plane/<ns>/<kind>.yaml               Deployments, Services, Pods, ... (Secrets redacted)
    control-plane/<ns>/pods/<pod>/<container>.log
    namespaces/<ns>/<kind>.yaml                  app namespaces' objects, SMI policies
    namespaces/<ns>/pods/<pod>/envoy/<query>     Envoy admin answers (config_dump.json, ...)
    namespaces/<ns>/pods/<pod>/<container>.log

Secret values are never written: ``data``/``stringData`` values are replaced by
their size, and the ``last-applied-configuration`` annotation (which repeats
them) is dropped. Envoy dumps pass through the same key-material redaction as
``osm proxy get``.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osm_mesh.errors import InvalidInput, MeshError
from osm_mesh.kube.portforward import connect_host, forward_to_pod, http_get
from osm_mesh.kube.proxy import redact
from osm_mesh.labels import ENVOY_ADMIN_PORT, MONITORED_BY_LABEL, PROXY_UUID_LABEL

ROOT = "osm-bug-report"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# (file name, Envoy admin query) collected for each selected meshed pod.
ENVOY_QUERIES: tuple[tuple[str, str], ...] = (
    ("config_dump.json", "config_dump?include_eds"),
    ("clusters.txt", "clusters"),
    ("listeners.txt", "listeners"),
    ("certs.json", "certs"),
    ("ready.txt", "ready"),
    ("server_info.json", "server_info"),
    ("stats.txt", "stats"),
)

# (group, plural, versions to try) of the mesh's custom resources.
MESHCONFIG_VERSIONS = ("v1alpha2", "v1alpha1")
SMI_VERSIONS = ("v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1")
CUSTOM_KINDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("access.smi-spec.io", "traffictargets", SMI_VERSIONS),
    ("specs.smi-spec.io", "httproutegroups", SMI_VERSIONS),
    ("specs.smi-spec.io", "tcproutes", SMI_VERSIONS),
    ("split.smi-spec.io", "trafficsplits", SMI_VERSIONS),
    ("policy.openservicemesh.io", "egresses", ("v1alpha1",)),
    ("policy.openservicemesh.io", "ingressbackends", ("v1alpha1",)),
)


@dataclass(frozen=True)
class NamespacedName:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_namespaced(values: Iterable[str], what: str) -> list[NamespacedName]:
    """``ns/name`` arguments (comma lists accepted), checked before anything is collected."""
    parsed: list[NamespacedName] = []
    for value in _split(values):
        namespace, _, name = value.partition("/")
        if not namespace or not name or "/" in name:
            raise InvalidInput(
                f"{what} name {value!r} is not namespaced",
                hint=f"Write it as <namespace>/<{what.lower()}>",
            )
        parsed.append(NamespacedName(namespace, name))
    return parsed


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@dataclass
class BugReportRequest:
    control_plane_namespace: str
    all_pods: bool = False
    app_namespaces: Sequence[str] = ()
    app_deployments: Sequence[NamespacedName] = ()
    app_pods: Sequence[NamespacedName] = ()
    out_file: str | None = None


@dataclass
class BugReport:
    path: Path
    files: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def default_out_file() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path(tempfile.gettempdir()) / f"{stamp}_osm-bug-report.tar.gz"


def check_out_file(out_file: str | None) -> Path:
    if not out_file:
        return default_out_file()
    path = Path(out_file)
    if not path.name.endswith(ARCHIVE_SUFFIXES):
        raise InvalidInput(
            f"Unsupported archive format for {out_file}",
            hint="Name the file with a .tar.gz or .tgz extension",
        )
    if not path.parent.is_dir():
        raise InvalidInput(f"Directory {path.parent} does not exist", hint="Create it first")
    return path


class _Collector:
    def __init__(self, kube: Any, report: Callable[[str], None]) -> None:
        self.kube = kube
        self.report = report
        self.files: dict[str, bytes] = {}
        self.failures: list[str] = []

    def add(self, path: str, content: bytes | str) -> None:
        self.files[path] = content.encode() if isinstance(content, str) else content

    def ok(self, message: str) -> None:
        self.report(f"✓ {message}")

    def fail(self, message: str) -> None:
        self.failures.append(message)
        self.report(f"x {message}")

    def attempt(self, what: str, action: Callable[..., Any], *args: Any) -> bool:
        """Run ``action(*args)``; a failure is listed in the report instead of aborting it."""
        from kubernetes.client.exceptions import ApiException

        try:
            action(*args)
        except ApiException as exc:
            from osm_mesh.kube.errors import translate

            self.fail(f"{what}: {translate(exc).message}")
            return False
        except (MeshError, OSError, ValueError) as exc:
            self.fail(f"{what}: {exc}")
            return False
        return True

    # -- serialization --------------------------------------------------------------------------
    def plain(self, obj: Any) -> Any:
        data = self.kube.api_client.sanitize_for_serialization(obj)
        return _tidy(data)

    def yaml_list(self, items: Sequence[Any], kind: str) -> str:
        import yaml

        objects = [self.plain(i) for i in items]
        if kind == "Secret":
            objects = [redact_secret(o) for o in objects]
        return yaml.safe_dump(
            {"apiVersion": "v1", "kind": "List", "items": objects}, sort_keys=True
        )


def _tidy(value: Any) -> Any:
    """Drop managedFields: noise in a report, and large."""
    if isinstance(value, dict):
        meta = value.get("metadata")
        if isinstance(meta, dict):
            meta.pop("managedFields", None)
        items = value.get("items")
        if isinstance(items, list):
            for item in items:
                _tidy(item)
    return value


def redact_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """A Secret with its values replaced by their sizes."""
    redacted = dict(secret)
    for key in ("data", "stringData"):
        values = secret.get(key)
        if isinstance(values, dict):
            redacted[key] = {k: f"REDACTED ({len(v or '')} bytes)" for k, v in values.items()}
    meta = dict(secret.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    if LAST_APPLIED in annotations:
        annotations[LAST_APPLIED] = "REDACTED"
        meta["annotations"] = annotations
    redacted["metadata"] = meta
    return redacted


# Namespaced core/apps kinds dumped per namespace: (file stem, kind, list call).
def _namespace_listers(kube: Any) -> list[tuple[str, str, Callable[[str], Any]]]:
    return [
        ("deployments", "Deployment", kube.apps.list_namespaced_deployment),
        ("replicasets", "ReplicaSet", kube.apps.list_namespaced_replica_set),
        ("pods", "Pod", kube.core.list_namespaced_pod),
        ("services", "Service", kube.core.list_namespaced_service),
        ("endpoints", "Endpoints", kube.core.list_namespaced_endpoints),
        ("serviceaccounts", "ServiceAccount", kube.core.list_namespaced_service_account),
        ("configmaps", "ConfigMap", kube.core.list_namespaced_config_map),
        ("secrets", "Secret", kube.core.list_namespaced_secret),
        ("events", "Event", kube.core.list_namespaced_event),
    ]


def collect_bug_report(
    kube: Any, request: BugReportRequest, report: Callable[[str], None] = lambda _line: None
) -> BugReport:
    """Collect, archive, and return where the archive is. Partial failures are listed, not fatal."""
    out_path = check_out_file(request.out_file)
    collector = _Collector(kube, report)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    # The first call doubles as the reachability check: failing here aborts the report.
    report("[+] Collecting information about meshed namespaces")
    meshed = kube.core.list_namespace(label_selector=MONITORED_BY_LABEL).items
    collector.add(f"{ROOT}/mesh-namespaces.yaml", collector.yaml_list(meshed, "Namespace"))
    meshed_names = sorted(ns.metadata.name for ns in meshed)
    collector.ok(f"Found {len(meshed_names)} meshed namespace(s)")

    app_namespaces = list(dict.fromkeys(_split(request.app_namespaces)))
    pods = list(request.app_pods)
    if request.all_pods:
        app_namespaces = meshed_names

        def add_pods(namespace: str) -> None:
            listed = kube.core.list_namespaced_pod(namespace).items
            pods.extend(NamespacedName(namespace, p.metadata.name) for p in listed)

        for name in meshed_names:
            collector.attempt(f"Pods in {name}", add_pods, name)

    report("[+] Collecting information from control plane namespace")
    ns = request.control_plane_namespace
    _collect_meshconfig(collector, ns)
    _collect_namespace(collector, ns, f"{ROOT}/control-plane/{ns}")
    report("[+] Collecting information from control plane pods")
    _collect_control_plane_logs(collector, ns)

    report("[+] Collecting information from individual app namespaces")
    for name in app_namespaces:
        if collector.attempt(
            f"Namespace {name}", _collect_namespace, collector, name, _ns_dir(name)
        ):
            collector.ok(f"Collected report from Namespace {name!r}")

    report("[+] Collecting information from individual app pods")
    pods.extend(_deployment_pods(collector, request.app_deployments))
    for pod in dict.fromkeys(pods):
        _collect_pod(collector, pod)

    readme = _readme(started, request, app_namespaces, list(dict.fromkeys(pods)), collector)
    collector.add(f"{ROOT}/README.txt", readme)
    report(f"[+] Writing archive {out_path}")
    _write_archive(out_path, collector.files)
    return BugReport(out_path, sorted(collector.files), collector.failures)


def _ns_dir(namespace: str) -> str:
    return f"{ROOT}/namespaces/{namespace}"


def _collect_meshconfig(collector: _Collector, namespace: str) -> None:
    def run() -> None:
        items = _list_custom(
            collector.kube,
            "config.openservicemesh.io",
            "meshconfigs",
            ("v1alpha2", "v1alpha1"),
            namespace,
        )
        import yaml

        collector.add(
            f"{ROOT}/control-plane/{namespace}/meshconfigs.yaml",
            yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=True),
        )
        collector.ok(f"Collected {len(items)} MeshConfig(s) from {namespace}")

    collector.attempt(f"MeshConfig in {namespace}", run)


def _list_custom(
    kube: Any, group: str, plural: str, versions: Sequence[str], namespace: str
) -> list[dict[str, Any]]:
    """Items of a custom resource, trying the versions the cluster may serve (newest first)."""
    from kubernetes.client.exceptions import ApiException

    for version in versions:
        try:
            answer = kube.custom.list_namespaced_custom_object(group, version, namespace, plural)
        except ApiException as exc:
            if exc.status == 404:
                continue  # this version (or the whole kind) is not served here
            raise
        items = answer.get("items", []) if isinstance(answer, dict) else []
        return [_tidy(i) for i in items]
    return []


def _collect_namespace(collector: _Collector, namespace: str, directory: str) -> None:
    import yaml

    def dump_kind(stem: str, kind: str, lister: Callable[[str], Any]) -> None:
        collector.add(
            f"{directory}/{stem}.yaml", collector.yaml_list(lister(namespace).items, kind)
        )

    for stem, kind, lister in _namespace_listers(collector.kube):
        collector.attempt(f"{kind}s in {namespace}", dump_kind, stem, kind, lister)
    for group, plural, versions in CUSTOM_KINDS:

        def dump(g: str = group, p: str = plural, v: Sequence[str] = versions) -> None:
            items = _list_custom(collector.kube, g, p, v, namespace)
            if items:
                collector.add(
                    f"{directory}/{p}.{g}.yaml",
                    yaml.safe_dump(
                        {"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=True
                    ),
                )

        collector.attempt(f"{plural}.{group} in {namespace}", dump)


def _collect_logs(collector: _Collector, pod: Any, directory: str) -> None:
    namespace, name = pod.metadata.namespace, pod.metadata.name
    restarts = (
        {s.name: s.restart_count or 0 for s in (pod.status.container_statuses or [])}
        if pod.status
        else {}
    )
    for container in pod.spec.containers or []:
        cname = container.name

        def logs(c: str = cname, previous: bool = False) -> None:
            text = collector.kube.core.read_namespaced_pod_log(
                name, namespace, container=c, previous=previous or None
            )
            suffix = ".previous.log" if previous else ".log"
            collector.add(f"{directory}/{c}{suffix}", text if isinstance(text, str) else str(text))

        collector.attempt(f"Logs of {namespace}/{name} container {cname}", logs)
        if restarts.get(cname, 0) > 0:
            collector.attempt(
                f"Previous logs of {namespace}/{name} container {cname}", logs, cname, True
            )


def _collect_control_plane_logs(collector: _Collector, namespace: str) -> None:
    def run() -> None:
        for pod in collector.kube.core.list_namespaced_pod(namespace).items:
            _collect_logs(
                collector, pod, f"{ROOT}/control-plane/{namespace}/pods/{pod.metadata.name}"
            )
            collector.ok(f"Collected report for Pod {namespace}/{pod.metadata.name}")

    collector.attempt(f"Pods in {namespace}", run)


def _deployment_pods(
    collector: _Collector, deployments: Sequence[NamespacedName]
) -> list[NamespacedName]:
    found: list[NamespacedName] = []
    for ref in deployments:

        def run(d: NamespacedName = ref) -> None:
            deployment = collector.kube.apps.read_namespaced_deployment(d.name, d.namespace)
            labels = deployment.spec.selector.match_labels or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            pods = collector.kube.core.list_namespaced_pod(d.namespace, label_selector=selector)
            found.extend(NamespacedName(d.namespace, p.metadata.name) for p in pods.items)

        collector.attempt(f"Deployment {ref} not found or unreadable, skipping it", run)
    return found


def _collect_pod(collector: _Collector, ref: NamespacedName) -> None:
    directory = f"{_ns_dir(ref.namespace)}/pods/{ref.name}"
    pod_holder: list[Any] = []

    def read() -> None:
        pod_holder.append(collector.kube.core.read_namespaced_pod(ref.name, ref.namespace))

    if not collector.attempt(f"Pod {ref}", read):
        return
    pod = pod_holder[0]
    collector.add(f"{directory}/pod.yaml", collector.yaml_list([pod], "Pod"))
    _collect_logs(collector, pod, directory)
    meshed = PROXY_UUID_LABEL in (pod.metadata.labels or {})
    running = bool(pod.status and pod.status.phase == "Running")
    if meshed and running:
        collector.attempt(f"Envoy admin of {ref}", _collect_envoy, collector, ref, directory)
    elif not meshed:
        collector.report(f"  (Pod {ref} has no sidecar: no Envoy data)")
    else:
        collector.fail(f"Pod {ref} is not running: no Envoy data")
    collector.ok(f"Collected report for Pod {str(ref)!r}")


def _collect_envoy(collector: _Collector, ref: NamespacedName, directory: str) -> None:
    forwarder = forward_to_pod(collector.kube, ref.namespace, ref.name, ENVOY_ADMIN_PORT)
    with forwarder:
        host = connect_host(forwarder.address)
        for filename, query in ENVOY_QUERIES:
            try:
                answer = http_get(host, forwarder.local_port, "/" + query, timeout=20)
            except OSError as exc:
                reason = forwarder.last_error or str(exc)
                collector.fail(f"Envoy {query} of {ref}: {reason}")
                continue
            body = answer.body
            if filename.endswith(".json"):
                try:
                    body = json.dumps(redact(json.loads(body)), indent=2, sort_keys=True).encode()
                except ValueError:
                    pass
            collector.add(f"{directory}/envoy/{filename}", body)


def _readme(
    started: str,
    request: BugReportRequest,
    namespaces: Sequence[str],
    pods: Sequence[NamespacedName],
    collector: _Collector,
) -> str:
    lines = [
        "osm support bug-report",
        f"Collected: {started}",
        f"Control-plane namespace: {request.control_plane_namespace}",
        f"App namespaces: {', '.join(namespaces) or '-'}",
        f"App pods: {', '.join(str(p) for p in pods) or '-'}",
        "Secret values are redacted (replaced by their size).",
        "",
        f"Failures ({len(collector.failures)}):",
        *(f"- {f}" for f in collector.failures),
        "",
        "Files:",
        *(f"- {p.removeprefix(ROOT + '/')}" for p in sorted(collector.files)),
    ]
    return "\n".join(lines) + "\n"


def _write_archive(path: Path, files: dict[str, bytes]) -> None:
    """Write to a temporary name beside the target, then rename: no half-written archive."""
    fd, partial = tempfile.mkstemp(prefix=".osm-bug-report-", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            now = time.time()
            for name in sorted(files):
                data = files[name]
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = int(now)
                info.mode = 0o600
                tar.addfile(info, io.BytesIO(data))
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
