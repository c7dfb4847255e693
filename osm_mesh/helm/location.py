"""Where the chart is: the copy inside the wheel, else the repository's templates/osm.

The wheel force-includes ``templates/osm`` as ``osm_mesh/helm/chart`` (pyproject.toml), so
an installed ``osm`` finds it next to this module; an editable checkout has no such copy
and falls back to the repository. ``--osm-chart-path`` overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from osm_mesh.errors import InvalidInput

CHART_NAME = "osm"
_REPO_CHART = Path(__file__).resolve().parents[2] / "templates" / CHART_NAME


@dataclass(frozen=True)
class ChartInfo:
    path: Path
    name: str
    version: str
    app_version: str


def default_chart_path() -> Path:
    packaged = resources.files("osm_mesh.helm").joinpath("chart")
    if packaged.is_dir() and packaged.joinpath("Chart.yaml").is_file():
        return Path(str(packaged))
    return _REPO_CHART


def load_chart(path: str | Path | None = None) -> ChartInfo:
    """Check that ``path`` (default: the bundled chart) is a chart and read its metadata."""
    chart_path = Path(path).expanduser() if path else default_chart_path()
    chart_yaml = chart_path / "Chart.yaml"
    if chart_path.is_file() and chart_path.suffix in (".tgz", ".gz"):
        # A packaged chart: helm reads it; its metadata stays inside the archive.
        return ChartInfo(chart_path.resolve(), CHART_NAME, "", "")
    if not chart_yaml.is_file():
        raise InvalidInput(
            f"no Helm chart at {str(chart_path)!r} (Chart.yaml not found)",
            hint="Pass --osm-chart-path a chart directory or .tgz, "
            "or omit it to use the bundled chart",
        )
    try:
        meta = yaml.safe_load(chart_yaml.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {chart_yaml}: {exc}") from None
    if not isinstance(meta, dict) or not meta.get("name"):
        raise InvalidInput(f"{chart_yaml} has no chart name")
    return ChartInfo(
        chart_path.resolve(),
        str(meta["name"]),
        str(meta.get("version", "")),
        str(meta.get("appVersion", "")),
    )


def crd_documents(chart: ChartInfo | None = None) -> list[dict[str, Any]]:
    """The CRDs the chart ships in ``crds/`` (a chart directory or a packaged .tgz)."""
    chart = chart or load_chart()
    texts: list[str] = []
    if chart.path.is_file():
        import tarfile

        with tarfile.open(chart.path) as archive:
            for member in sorted(archive.getmembers(), key=lambda m: m.name):
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 3 and parts[1] == "crds":
                    extracted = archive.extractfile(member)
                    if extracted is not None and member.name.endswith((".yaml", ".yml")):
                        texts.append(extracted.read().decode())
    elif (chart.path / "crds").is_dir():
        texts = [f.read_text() for f in sorted((chart.path / "crds").glob("*.yaml"))]
    return [
        doc
        for text in texts
        for doc in yaml.safe_load_all(text)
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
    ]


def crd_names(chart: ChartInfo | None = None) -> list[str]:
    """Names of the CRDs the chart ships, which ``uninstall -a`` removes."""
    return [str(doc["metadata"]["name"]) for doc in crd_documents(chart)]
