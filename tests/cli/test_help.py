"""Help for pipx users (issue 12.10): 80 columns, whole flag names, words as metavars, and a
`local run` page whose minimal manifest really runs."""

from __future__ import annotations

import re
import urllib.request

import pytest
import yaml

from osm_cli.app import COMMANDS, load_command

# A Python type shown where a value's meaning should be (what Typer's rich help printed).
PYTHON_TYPES = re.compile(r"<(str|int|bool|path|float)>|list\[|<[a-z_]+\|[a-z_|]+>|…")


def _pages() -> list[tuple[list[str], object]]:
    pages: list[tuple[list[str], object]] = [([], None)]
    for name, spec in sorted(COMMANDS.items()):
        command = load_command(name, spec)
        pages.append(([name], command))
        for sub_name, sub in sorted(getattr(command, "commands", {}).items()):
            pages.append(([name, sub_name], sub))
    return pages


PAGES = _pages()


@pytest.mark.parametrize("columns", ["80", "200"])
@pytest.mark.parametrize(("args", "command"), PAGES, ids=[" ".join(a) or "osm" for a, _ in PAGES])
def test_every_help_page_fits_80_columns_with_whole_flags_and_word_metavars(
    osm, monkeypatch, capsys, args, command, columns
):
    monkeypatch.setenv("COLUMNS", columns)
    text = _help(osm, capsys, args)
    assert "Usage: osm" in text
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide
    assert not PYTHON_TYPES.findall(text), PYTHON_TYPES.findall(text)
    for param in getattr(command, "params", []):
        if getattr(param, "hidden", False):
            continue
        for flag in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
            if flag.startswith("--"):
                assert re.search(rf"(^|[\s,/]){re.escape(flag)}(\s|,|$)", text, re.M), flag


def test_local_run_help_shows_a_minimal_manifest_and_where_the_examples_are(
    osm, monkeypatch, capsys
):
    monkeypatch.setenv("COLUMNS", "80")
    text = _help(osm, capsys, ["local", "run"])
    assert "osm demo --export DIR" in text
    assert "docs/" not in text  # not installed with the package
    manifest = _manifest_of(text)
    kinds = [d["kind"] for d in yaml.safe_load_all(manifest)]
    assert kinds == ["Deployment", "Service"]


@pytest.mark.envoy
def test_the_minimal_manifest_of_the_help_runs_and_answers_through_the_mesh(
    osm, monkeypatch, capsys, tmp_path
):
    from osm_mesh.local.runtime import LocalMesh

    monkeypatch.setenv("COLUMNS", "80")
    (tmp_path / "web.yaml").write_text(_manifest_of(_help(osm, capsys, ["local", "run"])))
    with LocalMesh([tmp_path / "web.yaml"], work_dir=tmp_path / "work") as mesh:
        web = mesh.pod("shop", "web")
        assert mesh.traffic_policy.mode == "permissive"
        proxy = urllib.request.ProxyHandler({"http": f"http://{web.ip}:15001"})
        with urllib.request.build_opener(proxy).open("http://web.shop/", timeout=5) as answer:
            assert answer.status == 200 and b"Directory listing" in answer.read()


def test_demo_export_writes_the_shipped_manifests_and_never_overwrites(osm, tmp_path):
    from osm_mesh.local.demo import MANIFESTS

    result = osm(["demo", "--export", str(tmp_path / "ex")])
    assert result.exit_code == 0, result.stderr
    written = sorted(p.relative_to(tmp_path / "ex") for p in (tmp_path / "ex").rglob("*.yml"))
    shipped = sorted(p.relative_to(MANIFESTS) for p in MANIFESTS.rglob("*.yml"))
    assert written == shipped and "mesh-config.yml" in {p.name for p in written}
    assert f"osm local run -f {tmp_path / 'ex' / 'mesh-config.yml'}" in result.stderr
    (tmp_path / "ex" / "mesh-config.yml").write_text("# mine\n")
    again = osm(["demo", "--export", str(tmp_path / "ex")])
    assert again.exit_code == 1 and "already exists: nothing was written" in again.stderr
    assert (tmp_path / "ex" / "mesh-config.yml").read_text() == "# mine\n"


def _help(osm, capsys, args: list[str]) -> str:
    """The help page (click prints it on the process's stdout, not the Environment's)."""
    capsys.readouterr()
    result = osm([*args, "--help"])
    assert result.exit_code == 0, result.stderr
    return result.stdout + capsys.readouterr().out


def _manifest_of(help_text: str) -> str:
    """The indented block after "A minimal manifest:" in the help page."""
    lines = help_text.split("A minimal manifest:", 1)[1].splitlines()[1:]
    block = []
    for line in lines:
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block).strip() + "\n"
