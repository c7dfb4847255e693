"""One object per invocation: where output goes, the resolved settings, and
clients built lazily on first use.

Tests build an :class:`Environment` with string buffers and a fake ``environ``
and pass it to ``osm_cli.app.main``; nothing else needs replacing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osm_mesh.kube.client import Kube

DEFAULT_OSM_NAMESPACE = "osm-system"


@dataclass
class Environment:
    """The process's streams and environment, replaceable in tests (as httpie's)."""

    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # None: ask the streams; tests force True/False.
    tty: bool | None = None

    @property
    def stdout_is_tty(self) -> bool:
        if self.tty is not None:
            return self.tty
        return _isatty(self.stdout)

    @property
    def stderr_is_tty(self) -> bool:
        if self.tty is not None:
            return self.tty
        return _isatty(self.stderr)

    @property
    def stdin_is_tty(self) -> bool:
        if self.tty is not None:
            return self.tty
        return _isatty(self.stdin)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass(frozen=True)
class Settings:
    osm_namespace: str
    # Where the namespace came from ("flag", "OSM_CONFIG", "OSM_NAMESPACE", "default"),
    # shown by `osm env` and in hints when a lookup in that namespace fails.
    osm_namespace_source: str
    kubeconfig: str | None
    context: str | None
    verbose: bool
    debug: bool

    @classmethod
    def resolve(
        cls,
        *,
        osm_namespace: str | None,
        kubeconfig: str | None,
        context: str | None,
        verbose: bool,
        debug: bool,
        environ: Mapping[str, str],
    ) -> Settings:
        namespace, source = resolve_osm_namespace(osm_namespace, environ)
        return cls(
            osm_namespace=namespace,
            osm_namespace_source=source,
            kubeconfig=kubeconfig or environ.get("KUBECONFIG") or None,
            context=context,
            verbose=verbose,
            debug=debug,
        )


def osm_config_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("OSM_CONFIG")
    if explicit:
        return Path(explicit)
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".osm" / "config.yaml"


def resolve_osm_namespace(flag: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """Upstream precedence: flag > OSM_CONFIG (or ~/.osm/config.yaml) > osm-system.

    The article-era ``OSM_NAMESPACE`` variable (v0.4) sits just below the config file.
    """
    if flag:
        return flag, "flag"
    from_file = _namespace_from_config(osm_config_path(environ))
    if from_file:
        return from_file, "OSM_CONFIG"
    legacy = environ.get("OSM_NAMESPACE")
    if legacy:
        return legacy, "OSM_NAMESPACE"
    return DEFAULT_OSM_NAMESPACE, "default"


def _namespace_from_config(path: Path) -> str | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    # The file is tiny and read on every run: a two-key lookup does not justify
    # importing PyYAML at start-up, but anything unusual falls back to it.
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    install = data.get("install") if isinstance(data, dict) else None
    namespace = install.get("namespace") if isinstance(install, dict) else None
    return str(namespace) if namespace else None


class AppContext:
    """What every command receives: environment, settings, printing, clients."""

    def __init__(self, env: Environment, settings: Settings) -> None:
        self.env = env
        self.settings = settings

    # -- printing: data to stdout, everything else to stderr ---------------------------------
    def out(self, text: str = "") -> None:
        self.env.stdout.write(text + "\n")
        self.env.stdout.flush()

    def info(self, text: str) -> None:
        self.env.stderr.write(text + "\n")
        self.env.stderr.flush()

    def warn(self, text: str) -> None:
        self.info(f"Warning: {text}")

    def debug(self, text: str) -> None:
        if self.settings.verbose:
            self.info(f"[debug] {text}")

    @cached_property
    def console(self) -> Any:
        """A rich Console on stderr, for progress and live views (imported on use)."""
        from rich.console import Console

        return Console(file=self.env.stderr, force_terminal=self.env.stderr_is_tty or None)

    # -- clients ------------------------------------------------------------------------------
    @cached_property
    def kube(self) -> Kube:
        from osm_mesh.kube.client import connect

        return connect(kubeconfig=self.settings.kubeconfig, context=self.settings.context)


def app_context(ctx: Any) -> AppContext:
    """The AppContext stored by the root callback, from a typer/click Context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # pragma: no cover - wiring error
        raise RuntimeError("osm root callback did not run")
    return obj
