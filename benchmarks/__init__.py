"""`make bench`: performance targets from the issues, each measured as a ratio
against a baseline run in the same process or command.

Each ``benchmarks/bench_*.py`` module defines ``run() -> list[Result]``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass


@dataclass
class Result:
    name: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    target: str = ""
    # True/False when the target can be judged from the figures, None otherwise.
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline_value:
            return self.value / self.baseline_value
        return None

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process so far (this one by default), from /proc."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
