"""Domain errors raised by osm_mesh and turned into one-line messages by osm_cli.

Each error carries the message the user sees and, where one helps, a hint that
says what to do next. ``osm_cli.errors`` maps these (and library exceptions) to
exit codes in one place.
"""

from __future__ import annotations


class MeshError(Exception):
    """A failure the user can act on; ``str()`` is the one-line message."""

    exit_code = 1

    def __init__(
        self, message: str, hint: str | None = None, details: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # Lines printed before the message (e.g. every finding behind "3 errors in ...").
        self.details = details

    def __str__(self) -> str:
        return self.message


class InvalidInput(MeshError):
    """Bad user input, detected before anything was sent or written."""


class NotFound(MeshError):
    """A named object (mesh, namespace, pod...) does not exist."""


class Conflict(MeshError):
    """The request collides with existing state (mesh already installed...)."""


class ClusterUnreachable(MeshError):
    """The Kubernetes API server could not be reached or the kubeconfig is unusable."""


class PermissionDenied(MeshError):
    """The API server refused the request (HTTP 401/403)."""


class ToolMissing(MeshError):
    """An external program (helm, envoy) is missing or too old."""


class Timeout(MeshError):
    """Waiting for something (readiness, a port) took longer than allowed."""


class Interrupted(BaseException):
    """A stop signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT) ended the command.

    A BaseException, so ``except Exception`` clean-up paths do not swallow it; not a
    KeyboardInterrupt, which Typer turns into a silent exit 130 (losing which signal it
    was). Whoever holds resources (a local mesh) stops them on the way out and the CLI
    prints one line and exits ``128 + signum`` (130 for Ctrl-C, 143 for SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.exit_code = 128 + signum
        try:
            self.signal_name = signal.Signals(signum).name
        except ValueError:
            self.signal_name = f"signal {signum}"
        super().__init__(f"interrupted by {self.signal_name}")


def is_interruption(exc: BaseException | None) -> bool:
    """A stop asked for by the user (not a failure to keep logs for)."""
    return isinstance(exc, Interrupted | KeyboardInterrupt)
