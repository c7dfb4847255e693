"""`osm dashboard`: forward Grafana (or Prometheus, Jaeger) and open it in a browser.

Upstream: Service ``osm-grafana`` in the OSM namespace → its selector → first
Running pod → port-forward ``local:remote`` → open ``http://localhost:<port>``
→ block until Ctrl-C. Additions: ``--address`` (WSL2, linkerd2#3100), other
add-ons, waiting until the service answers before opening the browser, and
headless use (linkerd2#2047): when no browser can be opened the URL is printed
and forwarding goes on.

Nothing here prints: progress goes to a ``report`` callback, so the CLI decides
where it appears and tests can collect it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from osm_mesh import labels
from osm_mesh.errors import InvalidInput, NotFound
from osm_mesh.kube.portforward import (
    DEFAULT_ADDRESS,
    PodStream,
    PortForwarder,
    connect_host,
    kube_dialer,
    wait_for_http,
)


@dataclass(frozen=True)
class AddOn:
    key: str
    title: str
    service: str
    # The Service port upstream forwards to (and the default local port).
    port: int
    # The pod port serving the UI when it is not what the Service exposes (Jaeger's
    # Service is the Zipkin collector on 9411; its UI listens on 16686).
    ui_port: int | None
    chart_value: str
    ready_path: str


ADDONS: dict[str, AddOn] = {
    "grafana": AddOn(
        "grafana",
        "Grafana",
        labels.GRAFANA_SERVICE,
        labels.GRAFANA_PORT,
        None,
        "deployGrafana",
        "/api/health",
    ),
    "prometheus": AddOn(
        "prometheus",
        "Prometheus",
        labels.PROMETHEUS_SERVICE,
        labels.PROMETHEUS_PORT,
        None,
        "deployPrometheus",
        "/-/ready",
    ),
    "jaeger": AddOn("jaeger", "Jaeger", labels.JAEGER_SERVICE, 16686, 16686, "deployJaeger", "/"),
}

# Where the chart keeps Grafana's admin password when the pod spec does not say.
GRAFANA_SECRET = labels.GRAFANA_SERVICE
GRAFANA_SECRET_KEY = "admin-password"
GRAFANA_PASSWORD_ENV = "GF_SECURITY_ADMIN_PASSWORD"

BrowserOpener = Callable[[str], bool]


@dataclass(frozen=True)
class DashboardTarget:
    addon: AddOn
    namespace: str
    pod: str
    remote_port: int
    # (secret name, key) holding Grafana's admin password, when known.
    password_secret: tuple[str, str] | None


@dataclass
class DashboardRun:
    target: DashboardTarget
    url: str
    local_port: int
    browser_opened: bool
    connections: int = 0


def default_browser_opener(
    environ: Mapping[str, str], platform: str = sys.platform
) -> BrowserOpener | None:
    """``webbrowser.open`` where a browser can be shown, else None (headless).

    On Linux without a display, Python's webbrowser falls back to text browsers
    (lynx, w3m) that would take over the terminal the forward runs in; a URL to
    copy is what a user on SSH wants. ``$BROWSER`` always wins.
    """
    if not environ.get("BROWSER") and platform.startswith("linux"):
        wsl = "microsoft" in _kernel_release().lower()
        if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY") or wsl):
            return None
    import webbrowser

    def open_url(url: str) -> bool:
        try:
            return bool(webbrowser.open(url, new=2))
        except webbrowser.Error:
            return False

    return open_url


def _kernel_release() -> str:
    try:
        with open("/proc/sys/kernel/osrelease") as handle:
            return handle.read()
    except OSError:
        return ""


def addon(name: str) -> AddOn:
    try:
        return ADDONS[name]
    except KeyError:
        raise InvalidInput(
            f"Unknown dashboard service {name!r}", hint="Use one of: " + ", ".join(ADDONS)
        ) from None


def deploy_hint(spec: AddOn, namespace: str) -> str:
    flag = {"grafana": "--enable-grafana", "prometheus": "--enable-prometheus"}.get(spec.key)
    also = f" (or install with `osm install {flag}`)" if flag else ""
    return (
        f"{spec.title} is not deployed: run `osm mesh upgrade --set osm.{spec.chart_value}=true`"
        f"{also}. If OSM runs in another namespace than {namespace}, pass --osm-namespace"
    )


def find_target(
    kube: Any, namespace: str, service: str = "grafana", remote_port: int | None = None
) -> DashboardTarget:
    """The Service's first Running pod and the pod port to forward to."""
    from kubernetes.client.exceptions import ApiException

    spec = addon(service)
    try:
        svc = kube.core.read_namespaced_service(spec.service, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise NotFound(
                f"Failed to get OSM {spec.title} service data: service {spec.service} "
                f"not found in namespace {namespace}",
                hint=deploy_hint(spec, namespace),
            ) from None
        raise
    selector = (svc.spec.selector if svc.spec else None) or {}
    if not selector:
        raise NotFound(
            f"Service {namespace}/{spec.service} has no pod selector",
            hint=deploy_hint(spec, namespace),
        )
    label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    pods = kube.core.list_namespaced_pod(namespace, label_selector=label_selector).items
    running = [p for p in pods if p.status and p.status.phase == "Running"]
    if not running:
        seen = ", ".join(f"{p.metadata.name} ({p.status.phase})" for p in pods if p.status)
        raise NotFound(
            f"No running {spec.title} pod available in namespace {namespace}"
            + (f" (found: {seen})" if seen else ""),
            hint=f"Check the pods with: kubectl get pods -n {namespace} -l {label_selector}; "
            "if OSM runs in another namespace, pass --osm-namespace",
        )
    pod = running[0]
    port = remote_port or _pod_port(svc, pod, spec)
    return DashboardTarget(
        addon=spec,
        namespace=namespace,
        pod=pod.metadata.name,
        remote_port=port,
        password_secret=_password_secret(pod) if spec.key == "grafana" else None,
    )


def _pod_port(svc: Any, pod: Any, spec: AddOn) -> int:
    """The container port behind the add-on's Service port (targetPort, named or not)."""
    if spec.ui_port:
        return spec.ui_port
    ports = (svc.spec.ports if svc.spec else None) or []
    match = next((p for p in ports if p.port == spec.port), ports[0] if ports else None)
    if match is None or match.target_port in (None, ""):
        return match.port if match is not None else spec.port
    target = match.target_port
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in pod.spec.containers or []:
        for cport in container.ports or []:
            if cport.name == target:
                return int(cport.container_port)
    return int(match.port)


def _password_secret(pod: Any) -> tuple[str, str]:
    for container in pod.spec.containers or []:
        for env in container.env or []:
            ref = env.value_from.secret_key_ref if env.value_from else None
            if env.name == GRAFANA_PASSWORD_ENV and ref is not None:
                return str(ref.name), str(ref.key)
    return GRAFANA_SECRET, GRAFANA_SECRET_KEY


def password_hint(target: DashboardTarget) -> str | None:
    """Where the admin password is, as a command to run (the password itself is never read)."""
    if target.password_secret is None:
        return None
    name, key = target.password_secret
    jsonpath = "{.data." + key.replace(".", "\\.") + "}"
    return (
        f"Grafana user 'admin'; password: kubectl get secret {name} -n {target.namespace} "
        f"-o jsonpath='{jsonpath}' | base64 -d"
    )


def dashboard_url(address: str, port: int) -> str:
    host = connect_host(address)
    if host in ("127.0.0.1", "::1"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class _PodFollower:
    """Dials the add-on's pod, moving to the Service's new pod when the old one is gone.

    A dashboard stays open for hours; Grafana's pod gets rescheduled (upgrade, node
    drain). kubectl's forward dies with the pod; here the next connection looks the
    Service up again and forwards to the pod that replaced it.
    """

    def __init__(
        self,
        kube: Any,
        target: DashboardTarget,
        service: str,
        remote_port: int | None,
        report: Callable[[str], None],
    ) -> None:
        self.kube = kube
        self.target = target
        self.service = service
        self.remote_port = remote_port
        self.report = report
        self._lock = threading.Lock()

    def dial(self) -> PodStream:
        target = self.target
        try:
            return kube_dialer(self.kube, target.namespace, target.pod, target.remote_port)()
        except Exception as exc:
            if "Handshake status 404" not in str(getattr(exc, "reason", exc)):
                raise
        with self._lock:
            if self.target is target:
                self.target = find_target(
                    self.kube, target.namespace, self.service, self.remote_port
                )
                self.report(
                    f"[+] Pod {target.namespace}/{target.pod} is gone; "
                    f"forwarding to {self.target.pod}"
                )
            target = self.target
        return kube_dialer(self.kube, target.namespace, target.pod, target.remote_port)()


def run_dashboard(
    kube: Any,
    namespace: str,
    *,
    service: str = "grafana",
    local_port: int | None = None,
    remote_port: int | None = None,
    address: str = DEFAULT_ADDRESS,
    open_browser: bool = True,
    browser: BrowserOpener | None = None,
    report: Callable[[str], None] = lambda _line: None,
    stop: threading.Event | None = None,
    ready_timeout: float = 60.0,
    on_ready: Callable[[DashboardRun], None] | None = None,
) -> DashboardRun:
    """Forward to the add-on until ``stop`` is set (or KeyboardInterrupt), then clean up.

    ``browser`` opens a URL and says whether it could; None means headless.
    ``on_ready`` is called once the service answers (tests use it to probe).
    """
    report("[+] Starting Dashboard forwarding")
    target = find_target(kube, namespace, service, remote_port)
    port = target.addon.port if local_port is None else local_port
    follower = _PodFollower(kube, target, service, remote_port, report)
    forwarder = PortForwarder(
        follower.dial,
        address=address,
        local_port=port,
        target=f"{namespace}/{target.pod}:{target.remote_port}",
        on_error=lambda message: report(f"[!] {message}"),
    ).start()
    with forwarder:
        report(
            f"[+] Using forwarding: {forwarder.local_port}:{target.remote_port} "
            f"to pod {namespace}/{target.pod}"
        )
        url = dashboard_url(address, forwarder.local_port)
        wait_for_http(forwarder, target.addon.ready_path, timeout=ready_timeout)
        report(f"[+] Port forwarding successful ({address}:{forwarder.local_port})")
        hint = password_hint(target)
        if hint:
            report(f"[+] {hint}")
        opened = False
        if open_browser and browser is not None:
            report(f"[+] Issuing open browser {url}")
            opened = browser(url)
            if not opened:
                report(f"[!] Could not open a browser; open {url} yourself")
        else:
            report(f"[+] {target.addon.title} is available at {url}")
        report("[+] Forwarding until interrupted (Ctrl-C)")
        run = DashboardRun(target, url, forwarder.local_port, opened)
        if on_ready is not None:
            on_ready(run)
        try:
            forwarder.wait(stop)
        finally:
            run.connections = forwarder.stats.connections
    return run
