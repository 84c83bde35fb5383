"""The fragment manifest: the ordered, append-only list of frozen baseline fragments.

The baseline is a **committed artifact**, not a rendering of today's models: each fragment is a SQL
file under ``codex/schema/baseline/`` (shipped in the wheel), pinned by its Keccak-256 digest in
``codex/schema/baseline/manifest.yaml``. ``domains/`` is the schema at head; every change made there
after the baseline is an Alembic revision. Fragments v1…v17 were rendered once from the models by
SQLAlchemy's SQLite compiler (:mod:`codex.schema._render`) and frozen; ``codex db rebaseline``
appends a fragment that folds the revision chain (v18, …) and moves ``baseline_version`` forward.

Two decisions recorded here (and in the README):

* **v4** upstream is ``ALTER TABLE packages ADD COLUMN yanked …``. Codex folds the column into the
  ``packages`` table of v2 (as upstream's later domain era did), because an ``ALTER`` is not
  idempotent and cannot be expressed as ``CREATE … IF NOT EXISTS``. The fragment stays in the list,
  naming the column it historically added, and is empty.
* **v5** upstream creates the four ``gamify_*`` tables. The design document drops gamification from
  the default baseline, so Codex does not create them; the fragment stays (empty) so that the
  numbering keeps its meaning. **v7** is empty upstream and here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from codex.errors import SchemaError

__all__ = [
    "BASELINE_VERSION",
    "MANIFEST_NAME",
    "SCHEMA_FRAGMENTS",
    "Fragment",
    "baseline_dir",
    "load_manifest",
]

MANIFEST_NAME = "manifest.yaml"


@dataclass(frozen=True, slots=True)
class Fragment:
    """One slice of the baseline.

    Attributes:
        version: The fragment number (1-based, contiguous).
        title: What the fragment is about.
        tables: Tables it creates, in creation order; each is followed by its own indexes.
        indexes: Indexes it adds on tables of earlier fragments (v9).
        columns: ``table.column`` additions folded into their table's ``CREATE`` (v4).
        dropped: Upstream objects of this fragment that Codex deliberately does not create (v5).
        file: The frozen SQL file (under ``codex/schema/baseline/``); empty for a satellite's
            fragments, which are rendered from their models.
        digest: The pinned Keccak-256 of the fragment's trimmed SQL (``0x…``).
        folds: For a fragment written by ``codex db rebaseline``: the head revision it folds.
    """

    version: int
    title: str
    tables: tuple[str, ...] = ()
    indexes: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    file: str = ""
    digest: str = ""
    folds: str | None = None

    @property
    def label(self) -> str:
        """``"v<N>"``."""
        return f"v{self.version}"


def baseline_dir() -> Traversable:
    """The packaged directory holding the frozen fragments and their manifest."""
    return resources.files("codex.schema") / "baseline"


def _fragment(entry: dict[str, Any]) -> Fragment:
    return Fragment(
        version=int(entry["version"]),
        title=str(entry["title"]),
        tables=tuple(entry.get("tables", ())),
        indexes=tuple(entry.get("indexes", ())),
        columns=tuple(entry.get("columns", ())),
        dropped=tuple(entry.get("dropped", ())),
        file=str(entry["file"]),
        digest=str(entry["digest"]),
        folds=entry.get("folds"),
    )


@functools.cache
def load_manifest() -> tuple[int, tuple[Fragment, ...]]:
    """``(baseline_version, fragments)`` from the packaged manifest.

    Raises:
        SchemaError: The manifest is missing, malformed, or its versions are not 1…N.
    """
    try:
        doc = yaml.safe_load((baseline_dir() / MANIFEST_NAME).read_text(encoding="utf-8"))
        fragments = tuple(_fragment(entry) for entry in doc["fragments"])
        version = int(doc["baseline_version"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise SchemaError(f"the baseline manifest cannot be read: {exc}") from exc
    if [f.version for f in fragments] != list(range(1, len(fragments) + 1)):
        raise SchemaError("the baseline manifest's fragment versions must be 1…N without gaps")
    return version, fragments


BASELINE_VERSION, SCHEMA_FRAGMENTS = load_manifest()
"""``BASELINE_VERSION``: the ``schema_version`` a fresh baseline database records (1 for v1…v17;
``codex db rebaseline`` moves it to the folded head's). ``SCHEMA_FRAGMENTS``: the manifest, in order."""
