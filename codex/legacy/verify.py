"""``codex legacy verify``: is this database a legacy chain, and does it carry the reactivity tables?

Reads without migrating (:func:`codex.legacy.export.open_legacy_engine`), like upstream's ``vox codex
verify`` reports: ``schema_version``, ``codex_reactivity_tables_ok`` and ``legacy_multi_version_chain``.

In Codex a database at head also has several ``schema_version`` rows (the baseline plus one per forward
revision), so "legacy chain" means what :func:`codex.migrate.check_not_ahead` refuses: ``MAX(version)``
above the baseline with no ``alembic_version`` table (an upstream chain), or above this code's head.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from codex.migrate import LEGACY_REMEDY, head_schema_version, read_schema_version
from codex.schema import BASELINE_VERSION

__all__ = ["CODEX_REACTIVITY_TABLES", "LegacyStatus", "inspect_database"]

CODEX_REACTIVITY_TABLES: tuple[str, ...] = (
    "codex_change_log",
    "codex_subscriptions",
    "codex_schema_lineage",
    "codex_query_snapshots",
    "codex_projection_versions",
)
"""The v8 reactivity tables (upstream's ``CODEX_REACTIVITY_TABLES``)."""


@dataclass(frozen=True, slots=True)
class LegacyStatus:
    """What ``codex legacy verify`` reports.

    Attributes:
        schema_version: ``MAX(schema_version.version)`` (0 when the table is missing or empty).
        version_rows: How many ``schema_version`` rows there are.
        multi_version_chain: More than one row.
        has_alembic: An ``alembic_version`` table exists (Codex's forward chain).
        legacy_chain: An upstream legacy chain: above the baseline without Alembic history.
        ahead_of_code: Above this code's head.
        head_schema_version: This code's head.
        reactivity_tables_ok: Every table of :data:`CODEX_REACTIVITY_TABLES` exists.
        missing_reactivity_tables: Those that do not.
    """

    schema_version: int
    version_rows: int
    multi_version_chain: bool
    has_alembic: bool
    legacy_chain: bool
    ahead_of_code: bool
    head_schema_version: int
    reactivity_tables_ok: bool
    missing_reactivity_tables: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """The database can be opened by this code (no legacy chain, not ahead)."""
        return not (self.legacy_chain or self.ahead_of_code)

    @property
    def remedy(self) -> str | None:
        """What to do when not :attr:`ok` (the export / fresh database / import steps)."""
        return None if self.ok else LEGACY_REMEDY

    def lines(self) -> list[str]:
        """The report as ``key: value`` lines (upstream's three lines, then Codex's details)."""
        flag = {True: "true", False: "false"}
        out = [
            f"schema_version: {self.schema_version}",
            f"codex_reactivity_tables_ok (manifest): {flag[self.reactivity_tables_ok]}",
            f"legacy_multi_version_chain: {flag[self.legacy_chain]}",
            f"schema_version_rows: {self.version_rows}",
            f"alembic_version: {'present' if self.has_alembic else 'absent'}",
            f"head_schema_version: {self.head_schema_version}",
            f"ahead_of_code: {flag[self.ahead_of_code]}",
        ]
        if self.missing_reactivity_tables:
            out.append(f"missing_reactivity_tables: {', '.join(self.missing_reactivity_tables)}")
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **asdict(self),
            "ok": self.ok,
            "missing_reactivity_tables": list(self.missing_reactivity_tables),
        }


def inspect_database(conn: sa.Connection) -> LegacyStatus:
    """Inspect the connected database (read only).

    Args:
        conn: Any connection (the legacy engine's, or a store's read connection).
    """
    tables = {str(r[0]) for r in conn.exec_driver_sql("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    version = read_schema_version(conn)
    rows = 0
    if "schema_version" in tables:
        rows = int(conn.exec_driver_sql("SELECT count(*) FROM schema_version").scalar() or 0)
    has_alembic = "alembic_version" in tables
    head = head_schema_version()
    missing = tuple(t for t in CODEX_REACTIVITY_TABLES if t not in tables)
    return LegacyStatus(
        schema_version=version,
        version_rows=rows,
        multi_version_chain=rows > 1,
        has_alembic=has_alembic,
        legacy_chain=version > BASELINE_VERSION and not has_alembic,
        ahead_of_code=version > head,
        head_schema_version=head,
        reactivity_tables_ok=not missing,
        missing_reactivity_tables=missing,
    )
