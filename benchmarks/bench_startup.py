"""Start-up time of `osm --help` and `osm version --client-only`.

Baselines, measured in the same run and interleaved with the osm runs so that load from
other processes hits all of them alike:
- a bare Typer app with the same command tree (same names, trivial bodies), generated
  into a temporary file: what any Typer CLI of this shape pays (Python + typer + rich
  for help). Target (issue 2): osm within 1.2x of it.
- `kubectl version --client` (a Go binary; the 1.37 one in .kube/bin when built, else the
  one on PATH): target (issue 13) osm within 2x of it. `osm --help` and
  `osm version --client-only` are answered before Typer loads (osm_cli/entry.py).

Each figure is the median wall time of N runs after warm-up runs; the best run is
reported as well.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import Result

RUNS = int(os.environ.get("OSM_BENCH_RUNS", "15"))
WARMUP = 2
TARGET_VS_TYPER = 1.2
GOAL_VS_KUBECTL = 2.0

# The same tree as osm_cli.app.COMMANDS plus each group's sub-commands.
GROUPS: dict[str, Sequence[str]] = {
    "namespace": ("add", "remove", "list", "ignore"),
    "mesh": ("list", "upgrade"),
    "metrics": ("enable", "disable"),
    "uninstall": ("mesh",),
    "proxy": ("get", "status"),
    "policy": ("check-pods", "lint", "analyze"),
    "support": ("bug-report",),
    "local": ("run",),
}
LEAVES = ("install", "dashboard", "version", "env", "completion", "demo", "stat", "check")


def bare_typer_source() -> str:
    """A Typer app shaped like osm, with the same global options and nothing behind them."""
    lines = [
        "from typing import Annotated, Optional",
        "import typer",
        "app = typer.Typer(name='osm', no_args_is_help=True, add_completion=False,",
        "                  context_settings={'help_option_names': ['-h', '--help']})",
        "@app.callback()",
        "def root(",
        "    osm_namespace: Annotated[Optional[str], typer.Option('--osm-namespace')] = None,",
        "    kubeconfig: Annotated[Optional[str], typer.Option('--kubeconfig')] = None,",
        "    context: Annotated[Optional[str], typer.Option('--context')] = None,",
        "    verbose: Annotated[bool, typer.Option('--verbose')] = False,",
        "    debug: Annotated[bool, typer.Option('--debug')] = False,",
        ") -> None:",
        "    '''osm: install and manage an SMI service mesh.'''",
    ]
    for leaf in LEAVES:
        func = leaf.replace("-", "_")
        lines += [
            f"@app.command('{leaf}')",
            f"def {func}(client_only: bool = False) -> None:",
            f"    '''{leaf} command.'''",
            f"    print('{leaf}')",
        ]
    for group, commands in GROUPS.items():
        var = f"{group}_app"
        lines.append(f"{var} = typer.Typer(help='{group} commands', add_completion=False)")
        lines.append(f"app.add_typer({var}, name='{group}')")
        for command in commands:
            func = f"{group}_{command}".replace("-", "_")
            lines += [
                f"@{var}.command('{command}')",
                f"def {func}() -> None:",
                f"    print('{group} {command}')",
            ]
    lines += ["if __name__ == '__main__':", "    app()"]
    return "\n".join(lines) + "\n"


def _osm_command() -> list[str]:
    script = Path(sys.executable).parent / "osm"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "osm_cli"]


def find_kubectl() -> str | None:
    """The Kubernetes 1.37 kubectl built into .kube/bin (make kube), else one on PATH."""
    chosen = os.environ.get("OSM_BENCH_KUBECTL")  # e.g. another checkout's .kube/bin/kubectl
    for candidate in (
        Path(chosen) if chosen else None,
        Path(__file__).resolve().parent.parent / ".kube" / "bin" / "kubectl",
    ):
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("kubectl") or (
        "/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else None
    )


def _kubectl_version(kubectl: str) -> str:
    done = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True)
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else "?"


def _time_once(argv: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def measure(commands: dict[str, Sequence[str]], runs: int = RUNS) -> dict[str, list[float]]:
    """Wall times per command, runs interleaved round-robin."""
    env = {**os.environ, "COLUMNS": "100", "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(WARMUP):
        for argv in commands.values():
            _time_once(argv, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(_time_once(argv, env))
    return times


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_osm.py"
        bare.write_text(bare_typer_source())
        osm = _osm_command()
        commands: dict[str, Sequence[str]] = {
            "osm --help": [*osm, "--help"],
            "bare --help": [sys.executable, str(bare), "--help"],
            "osm version": [*osm, "version", "--client-only"],
            "bare version": [sys.executable, str(bare), "version", "--client-only"],
        }
        kubectl = find_kubectl()
        if kubectl:
            commands["kubectl"] = [kubectl, "version", "--client"]
        times = measure(commands)

    def ms(name: str) -> float:
        return statistics.median(times[name]) * 1000

    def best(name: str) -> float:
        return min(times[name]) * 1000

    results = []
    for label, ours, base in (
        ("osm --help", "osm --help", "bare --help"),
        ("osm version --client-only", "osm version", "bare version"),
    ):
        ratio = ms(ours) / ms(base)
        results.append(
            Result(
                name=f"startup: {label} (median of {RUNS}; best {best(ours):.0f} ms)",
                value=ms(ours),
                unit="ms",
                baseline=f"bare Typer app, same tree (best {best(base):.0f} ms)",
                baseline_value=ms(base),
                target=f"<= {TARGET_VS_TYPER}x",
                met=ratio <= TARGET_VS_TYPER,
            )
        )
    if "kubectl" in times:
        assert kubectl is not None
        version = _kubectl_version(kubectl)
        for label, ours in (
            ("osm --help", "osm --help"),
            ("osm version --client-only", "osm version"),
        ):
            ratio = ms(ours) / ms("kubectl")
            results.append(
                Result(
                    name=f"startup: {label} vs kubectl (best {best(ours):.0f} ms)",
                    value=ms(ours),
                    unit="ms",
                    baseline=f"kubectl version --client, {version} (best {best('kubectl'):.0f} ms)",
                    baseline_value=ms("kubectl"),
                    target=f"<= {GOAL_VS_KUBECTL}x (issue 13)",
                    met=ratio <= GOAL_VS_KUBECTL,
                )
            )
    return results
