"""What every guard shares: the :class:`Finding` it reports and the walk over the repository's sources.

The walk skips what is not the product's own code, at any depth: ``.venv``, ``.git``, ``tests``,
``bench``, ``build``, ``__pycache__``, ``node_modules``, ``*.egg-info`` and ``.venv-*`` directories, plus the
policy's ``ignored_paths`` (caches and scratch directories). Tests and benchmarks may open the driver
and write raw DDL on purpose (``docs/reference/libsql-runtime.md`` §12 "Guards").
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["SKIP_DIRS", "Finding", "SourceFile", "iter_sources", "parse_python"]

SKIP_DIRS = frozenset({".venv", ".git", "tests", "bench", "build", "__pycache__", "node_modules"})
"""Directory names skipped at any depth (plus every ``*.egg-info`` and ``.venv-*``, e.g. ``.venv-lowest``)."""

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a guard found, at a place in the repository.

    Attributes:
        path: The file, relative to the scanned root, with forward slashes.
        line: 1-based line number (1 when the problem is about the whole file).
        message: What is wrong and what to do about it.
        severity: ``error`` fails the check; ``warning`` is printed only.
    """

    path: str
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}: {prefix}{self.message}"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file found by :func:`iter_sources`.

    Attributes:
        path: The absolute path.
        rel: The path relative to the scanned root, with forward slashes.
    """

    path: Path
    rel: str

    @property
    def module(self) -> str:
        """The dotted module name for a ``.py`` file (``codex/engine/__init__.py`` → ``codex.engine``)."""
        parts = self.rel.removesuffix(".py").split("/")
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        return ".".join(parts)

    def text(self) -> str:
        """The file's text (UTF-8; undecodable bytes replaced rather than failing the scan)."""
        return self.path.read_text(encoding="utf-8", errors="replace")


def _skipped(name: str, rel: str, ignored: frozenset[str]) -> bool:
    return name in SKIP_DIRS or name.endswith(".egg-info") or name.startswith(".venv-") or rel in ignored


def iter_sources(
    root: Path, suffixes: tuple[str, ...], *, ignored: Iterable[str] = ()
) -> Iterator[SourceFile]:
    """Yield the files under ``root`` whose names end with one of ``suffixes``, in a stable order.

    Args:
        root: The repository (or fixture tree) to scan.
        suffixes: File name endings to keep, e.g. ``(".py", ".sql")``.
        ignored: Extra directory or file paths, relative to ``root``, to skip (the policy's
            ``ignored_paths``).

    Returns:
        An iterator of :class:`SourceFile`, sorted by relative path.
    """
    skip = frozenset(p.strip("/") for p in ignored)
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d, prefix + d, skip))
        for name in sorted(filenames):
            rel = prefix + name
            if name.endswith(suffixes) and rel not in skip:
                yield SourceFile(Path(dirpath) / name, rel)


def parse_python(source: SourceFile) -> ast.Module | Finding:
    """Parse a ``.py`` file, or return the finding that says it cannot be parsed (never skip it silently)."""
    try:
        return ast.parse(source.text(), filename=source.rel)
    except SyntaxError as exc:
        return Finding(source.rel, exc.lineno or 1, f"cannot be parsed, so it cannot be checked: {exc.msg}")
