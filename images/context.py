"""What every recipe shares: folders, progress lines, content hashes and the file cache."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Skipped when hashing source trees: build by-products that do not change an image.
_IGNORED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_IGNORED_SUFFIXES = {".pyc", ".pyo"}


def default_cache_dir() -> Path:
    """Outside the checkout, so a fresh clone (CI) on the same machine starts warm."""
    if os.environ.get("OSM_IMAGES_CACHE"):
        return Path(os.environ["OSM_IMAGES_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "osm-images"


def digest(*parts: str | bytes) -> str:
    """sha256 over the parts, each length-prefixed so ("ab", "c") != ("a", "bc")."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digest(root: Path, paths: Iterable[str]) -> str:
    """Hash of the named files and folders under `root`: relative names, modes and contents."""
    h = hashlib.sha256()
    for name in paths:
        top = root / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            rel = path.relative_to(root)
            if _IGNORED_PARTS.intersection(rel.parts) or path.suffix in _IGNORED_SUFFIXES:
                continue
            h.update(f"{rel}\0{path.stat().st_mode & 0o111:o}\0".encode())
            h.update(file_digest(path).encode())
    return h.hexdigest()


@dataclass
class Context:
    """Folders of one build run and its progress output."""

    cache: Path
    work: Path
    out: Path
    started: float = field(default_factory=time.monotonic)
    # name -> OCI archive of every image built or found in the cache so far in this run.
    archives: dict[str, Path] = field(default_factory=dict)
    # Cache entries (artifacts) used by this run: pruning keeps them.
    used: set[Path] = field(default_factory=set)

    def archive(self, name: str) -> Path:
        return self.archives[name]

    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"images [{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def cached(self, kind: str, key: str, produce: Callable[[Path], None]) -> Path:
        """The cache entry `kind-key`, produced into a temporary path first if missing.

        `produce(path)` writes a file or a folder at `path`; it becomes the entry only when
        it returns, so an interrupted build never leaves a half-written entry behind.
        """
        entry = self.cache / f"{kind}-{key[:16]}"
        self.used.add(entry)
        if entry.exists():
            os.utime(entry)  # last use, for pruning
            return entry
        partial = self.work / f"partial-{kind}-{key[:16]}"
        if partial.exists():
            shutil.rmtree(partial) if partial.is_dir() else partial.unlink()
        produce(partial)
        entry.parent.mkdir(parents=True, exist_ok=True)
        partial.rename(entry) if _same_fs(partial, entry.parent) else shutil.move(partial, entry)
        return entry


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev
