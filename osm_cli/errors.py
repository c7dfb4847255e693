"""The one place exceptions become messages and exit codes.

Upstream prints ``Error: <message>`` on stderr and exits 1, with no usage text.
Tracebacks appear only with ``--debug``, and never with local variables
(kubeconfig tokens live in locals).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from typer import _click as click
from typer.exceptions import Abort

if TYPE_CHECKING:
    from osm_cli.context import Environment


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


def describe(exc: BaseException) -> tuple[str, str | None, int]:
    """(message, hint, exit code) for any exception the CLI may meet."""
    from osm_mesh.errors import MeshError

    if isinstance(exc, MeshError):
        return exc.message, exc.hint, exc.exit_code
    described = _describe_kubernetes(exc)
    if described is not None:
        return described
    if isinstance(exc, FileNotFoundError):
        return f"{exc.strerror}: {exc.filename}", None, ExitStatus.ERROR
    if isinstance(exc, PermissionError):
        return f"{exc.strerror}: {exc.filename}", None, ExitStatus.ERROR
    return f"{type(exc).__name__}: {exc}", "Run again with --debug for the traceback", 1


def _describe_kubernetes(exc: BaseException) -> tuple[str, str | None, int] | None:
    """Kubernetes client and transport errors, without importing kubernetes up front."""
    module = type(exc).__module__ or ""
    if module.startswith("kubernetes"):
        from osm_mesh.kube.errors import translate

        translated = translate(exc)
        return translated.message, translated.hint, translated.exit_code
    if module.startswith("urllib3") or isinstance(exc, ConnectionError):
        from osm_mesh.kube.errors import translate

        translated = translate(exc)
        return translated.message, translated.hint, translated.exit_code
    return None


def print_error(env: Environment, message: str, hint: str | None = None) -> None:
    env.stderr.write(f"Error: {message}\n")
    if hint:
        env.stderr.write(f"{hint}\n")
    env.stderr.flush()


def _interrupted(env: Environment, exc: BaseException) -> int:
    """One line for a stop: a stop signal (osm_cli.signals) names itself and exits 128 + its
    number; whatever ran has stopped on the way out (a local mesh: processes, work dir)."""
    name, code = getattr(exc, "signal_name", None), getattr(exc, "exit_code", None)
    env.stderr.write(f"Interrupted ({name}).\n" if name else "Interrupted.\n")
    return code if isinstance(code, int) else ExitStatus.INTERRUPTED


def run_guarded(invoke: Callable[[], Any], *, env: Environment, debug: bool) -> int:
    try:
        result = invoke()
    except click.exceptions.NoArgsIsHelpError as exc:
        # `osm namespace` alone: show the group's help, as cobra does.
        env.stderr.write(exc.format_message() + "\n")
        return ExitStatus.USAGE
    except click.exceptions.UsageError as exc:
        hint = None
        if exc.ctx is not None:
            hint = f"Run '{exc.ctx.command_path} --help' for usage."
        print_error(env, exc.format_message(), hint)
        return ExitStatus.USAGE
    except Abort:
        env.stderr.write("Aborted.\n")
        return ExitStatus.INTERRUPTED
    except click.exceptions.ClickException as exc:
        print_error(env, exc.format_message())
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return _interrupted(env, exc)
    except BrokenPipeError:
        return ExitStatus.ERROR
    except Exception as exc:
        if debug:
            traceback.print_exception(exc, file=env.stderr)
        message, hint, code = describe(exc)
        for line in getattr(exc, "details", None) or ():
            env.stderr.write(f"{line}\n")
        print_error(env, message, hint)
        return code
    except BaseException as exc:
        from osm_mesh.errors import Interrupted  # a stop signal (osm_cli.signals)

        if not isinstance(exc, Interrupted):
            raise
        return _interrupted(env, exc)
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return ExitStatus.SUCCESS
