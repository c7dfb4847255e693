"""Helm calls, through pyhelm3's async ``Command`` (one ``helm`` process per call).

pyhelm3's ``Client`` is not used: its constructor runs ``helm version`` synchronously and its
``template`` re-parses the output with a pure-Python YAML loader; ``Command`` gives the same
calls without either cost. Errors from ``helm`` are condensed to one line (plus a hint) here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pyhelm3 import errors as helm_errors
from pyhelm3.command import Command

from osm_mesh.errors import (
    ClusterUnreachable,
    Conflict,
    InvalidInput,
    MeshError,
    NotFound,
)
from osm_mesh.helm.binary import HelmBinary, check_version, find_helm_path

# pyhelm3 logs each failed command at WARNING; with no handler configured Python would print
# it to stderr next to our own one-line error. --verbose shows helm's stderr instead.
logging.getLogger("pyhelm3").addHandler(logging.NullHandler())

try:  # libyaml when present: rendered manifests are large (dashboards)
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: str
    chart: str = ""
    app_version: str = ""
    manifest: str = ""
    values: dict[str, Any] = field(default_factory=dict)


class HelmClient:
    """One cluster's Helm, with the kubeconfig/context the CLI was given."""

    def __init__(
        self,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        environ: Mapping[str, str] | None = None,
        executable: str | None = None,
    ) -> None:
        # Nothing is looked up here: a bad --set or mesh name must be reported before a
        # missing helm, so the binary is found on first use.
        self._explicit = executable
        self._environ = environ
        self._kubeconfig = kubeconfig
        self._context = context
        self._cmd: Command | None = None
        self.binary: HelmBinary | None = None

    @property
    def executable(self) -> str:
        return self._explicit or find_helm_path(self._environ)

    @property
    def _command(self) -> Command:
        if self._cmd is None:
            self._cmd = Command(
                executable=self.executable,
                kubeconfig=Path(self._kubeconfig) if self._kubeconfig else None,
                kubecontext=self._context,
                history_max_revisions=10,
            )
        return self._cmd

    async def check(self) -> HelmBinary:
        """Version check (helm ≥ 3.8); cached for the invocation."""
        if self.binary is None:
            reported = await self._run(self._command.version())
            self.binary = check_version(self.executable, str(reported))
        return self.binary

    # -- offline -------------------------------------------------------------------------------
    async def template(
        self, release: str, chart: Path, values: Mapping[str, Any], namespace: str
    ) -> str:
        """``helm template`` with the CRDs included: the manifests ``install`` would apply."""
        args = [
            "template", release, str(chart), "--include-crds", "--namespace", namespace,
            "--values", "-",
        ]  # fmt: skip
        out = await self._run(self._command.run(args, json.dumps(dict(values)).encode()))
        return out.decode() if isinstance(out, bytes) else str(out)

    # -- cluster -------------------------------------------------------------------------------
    async def install_or_upgrade(
        self,
        release: str,
        chart: Path,
        values: Mapping[str, Any],
        namespace: str,
        *,
        timeout_s: float,
        reset_values: bool = True,
    ) -> Release:
        # No --wait and no --atomic/--rollback-on-failure: the CLI waits itself (to report
        # progress per component and say why something is not ready) and rolls back itself.
        # --skip-crds: the CLI creates and updates the CRDs itself before (kube/crds.py);
        # helm v4 would server-side apply crds/ again and conflict with that field manager
        # on a real API server.
        status = await self._run(
            self._command.install_or_upgrade(
                release,
                chart,
                dict(values),
                namespace=namespace,
                create_namespace=True,
                reset_values=reset_values,
                skip_crds=True,
                timeout=f"{max(1, int(timeout_s))}s",
            )
        )
        return _release(status)

    async def status(self, release: str, namespace: str) -> Release | None:
        try:
            return _release(await self._run(self._command.status(release, namespace=namespace)))
        except NotFound:
            return None

    async def values(self, release: str, namespace: str) -> dict[str, Any]:
        """The user-supplied values of the release's current revision."""
        data = await self._run(self._command.get_values(release, namespace=namespace))
        return dict(data or {})

    async def list(self, namespace: str | None = None) -> list[Release]:
        data = await self._run(
            self._command.list(
                all_namespaces=namespace is None,
                namespace=namespace,
                include_deployed=True,
                include_failed=True,
                include_pending=True,
            )
        )
        return [
            Release(
                name=r["name"],
                namespace=r["namespace"],
                revision=int(r.get("revision", 0) or 0),
                status=str(r.get("status", "")),
                chart=str(r.get("chart", "")),
                app_version=str(r.get("app_version", "")),
            )
            for r in data or []
        ]

    async def uninstall(self, release: str, namespace: str, *, timeout_s: float = 300) -> bool:
        """True when a release was removed, False when there was none."""
        try:
            await self._run(
                self._command.uninstall(
                    release, namespace=namespace, timeout=f"{max(1, int(timeout_s))}s"
                )
            )
        except NotFound:
            return False
        return True

    async def rollback(self, release: str, namespace: str, revision: int) -> None:
        await self._run(
            self._command.rollback(release, revision, namespace=namespace, cleanup_on_fail=True)
        )

    async def _run(self, call: Any) -> Any:
        try:
            return await call
        except helm_errors.Error as exc:
            raise translate(exc) from None
        except FileNotFoundError as exc:  # the binary vanished between lookup and use
            raise MeshError(f"cannot run helm: {exc}") from None


def parse_manifests(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(text, Loader=_Loader) if isinstance(d, dict)]


def _release(status: Mapping[str, Any]) -> Release:
    info = status.get("info") or {}
    chart_meta = (status.get("chart") or {}).get("metadata") or {}
    return Release(
        name=str(status.get("name", "")),
        namespace=str(status.get("namespace", "")),
        revision=int(status.get("version", 0) or 0),
        status=str(info.get("status", "")),
        chart=f"{chart_meta.get('name', '')}-{chart_meta.get('version', '')}".strip("-"),
        app_version=str(chart_meta.get("appVersion", "")),
        manifest=str(status.get("manifest", "")),
        values=dict(status.get("config") or {}),
    )


_SCHEMA_PREFIX = re.compile(r"values don't meet the specifications of the schema\(s\).*", re.I)


def translate(exc: helm_errors.Error) -> MeshError:
    """A failed ``helm`` run → one line the user can act on."""
    text = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # Helm prints warnings ("WARNING: Kubernetes configuration file is group-readable") first.
    lines = [ln for ln in lines if not ln.startswith(("WARNING:", "walk.go", "coalesce.go"))]
    lines = [ln.removeprefix("Error: ").removeprefix("error: ") for ln in lines]
    if lines and _SCHEMA_PREFIX.match(lines[0]):
        problems = [ln.removeprefix("- ") for ln in lines[1:] if ln.startswith("- ")]
        return InvalidInput(
            "invalid chart values: " + "; ".join(problems or lines[1:]),
            hint="See docs/chart.md for the values the chart accepts",
        )
    message = "; ".join(lines) if lines else f"helm exited with code {exc.returncode}"
    if isinstance(exc, helm_errors.ReleaseNotFoundError):
        return NotFound(message)
    if isinstance(exc, helm_errors.ResourceAlreadyExistsError):
        return Conflict(f"helm: {message}")
    if isinstance(exc, helm_errors.FailedToRenderChartError):
        return InvalidInput(f"the chart failed to render: {message}")
    if isinstance(exc, helm_errors.ConnectionError) or _unreachable(message):
        return ClusterUnreachable(
            f"Could not access Kubernetes cluster, check kubeconfig: {message}",
            hint="Check that the cluster is running and that --kubeconfig/--context point at it",
        )
    return MeshError(f"helm: {message}")


def _unreachable(message: str) -> bool:
    lowered = message.lower()
    return any(
        s in lowered
        for s in (
            "connection refused",
            "kubernetes cluster unreachable",
            "no such host",
            "i/o timeout",
        )
    )


async def gather(*calls: Any) -> list[Any]:
    """Run helm calls concurrently (e.g. the version check next to ``template``)."""
    return list(await asyncio.gather(*calls))
