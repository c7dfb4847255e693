"""A real Prometheus server for tests: Debian's ``prometheus`` binary, scraping given targets.

    with PrometheusServer(tmp_path, targets, scrape_interval="1s") as prom:
        prom.wait_scraped()
        prom.query('sum(rate(osm_request_total[10s]))')  # -> float | None

Loopback only, its own data directory, started under the local mesh's supervisor (own
process group, killed if the test process dies). ``.ci/run`` installs the package.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osm_mesh.local.supervisor import Supervisor

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Target:
    """One scrape target: ``host:port`` with its path and extra labels (pod, namespace)."""

    address: str
    path: str = "/stats/prometheus"
    labels: tuple[tuple[str, str], ...] = ()


def binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise RuntimeError(
            "the prometheus binary is missing: apt-get install prometheus (.ci/run does)"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusServer:
    def __init__(self, work_dir: Path, targets: Sequence[Target], scrape_interval: str = "1s"):
        self.work_dir = Path(work_dir)
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self.port = _free_port()
        self.supervisor = Supervisor(self.work_dir / "logs")

    def config(self) -> str:
        jobs = []
        for i, target in enumerate(self.targets):
            jobs.append(
                {
                    "job_name": f"sidecar-{i}",
                    "metrics_path": target.path,
                    "static_configs": [
                        {"targets": [target.address], "labels": dict(target.labels)}
                    ],
                }
            )
        return json.dumps(
            {
                "global": {
                    "scrape_interval": self.scrape_interval,
                    "evaluation_interval": self.scrape_interval,
                },
                "scrape_configs": jobs,
            }
        )

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "prometheus.yml"
        config.write_text(self.config())  # JSON is YAML
        argv = [
            binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.work_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.supervisor.start("prometheus", argv, env={})
        deadline = time.monotonic() + timeout
        while True:
            self.supervisor.check()
            try:
                if self._get("/-/ready").startswith("Prometheus"):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus not ready within {timeout}s")
            time.sleep(0.1)

    def stop(self) -> None:
        self.supervisor.stop()

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _get(self, path: str) -> str:
        with _DIRECT.open(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.read().decode()

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        data = json.loads(self._get(f"/api/v1/{path}?{query}"))
        if data.get("status") != "success":
            raise RuntimeError(f"prometheus: {data}")
        return data["data"]

    def query(self, promql: str) -> float | None:
        """A scalar answer (an instant vector of one element), None when it is empty."""
        data = self.api("query", query=promql)
        result = data.get("result") or []
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if value != value else value  # NaN: no data in the window

    def wait_scraped(self, timeout: float = 30.0) -> None:
        """Until every target was scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = self.api("targets").get("activeTargets") or []
            if len(active) == len(self.targets) and all(t["health"] == "up" for t in active):
                return
            time.sleep(0.2)
        raise TimeoutError(f"prometheus did not scrape every target: {self.api('targets')}")
