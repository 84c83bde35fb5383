"""``codex db rebaseline``: fold the revision chain into a newly appended baseline fragment.

The new fragment holds exactly the statements that take a database from the current frozen baseline
to the schema at head, read from ``sqlite_schema`` of two scratch databases (the baseline alone, and
the chain run to head): new objects are created with the DDL SQLite recorded, a table whose
definition changed is dropped and created again (the fragment only ever runs on an empty database),
and objects the chain removed are dropped. Shadow tables of virtual tables and vector indexes are
left to the statements that create them. Before anything is written, the baseline plus the new
fragment is built on a third scratch database and must give the head's live digest.

Older fragments are not touched (byte-identical); the manifest gains one entry and
``baseline_version`` becomes the head's ``schema_version``, so the folded revisions are skipped on a
database built from the new baseline and still run on one built before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from codex.config import MemoryDb
from codex.engine import make_engine
from codex.errors import SchemaError
from codex.migrate._alembic import head_revision, script_directory, upgrade
from codex.migrate._chain import schema_version_of
from codex.schema import (
    BASELINE_VERSION,
    MANIFEST_NAME,
    SCHEMA_FRAGMENTS,
    baseline_dir,
    baseline_statements,
    keccak256_hex,
    normalise_ddl,
    read_live_schema,
)

__all__ = ["RebaselineResult", "fold_statements", "rebaseline"]

_MANIFEST_HEADER = """\
# The frozen baseline: fragments v1…vN, each a committed SQL file pinned by its Keccak-256 digest.
# Append-only. Only `codex db rebaseline` appends a fragment (and moves baseline_version forward);
# an existing fragment's file and digest never change. `folds` names the head revision a fragment
# folds (fragments from a rebaseline); baseline_version is the schema_version a fresh baseline records.
"""


@dataclass(frozen=True, slots=True)
class RebaselineResult:
    """What ``rebaseline`` wrote."""

    version: int
    path: Path
    folds: str
    baseline_version: int
    statements: int
    digest: str

    def summary(self) -> str:
        """Human-readable lines for the CLI."""
        return (
            f"wrote baseline fragment v{self.version} ({self.path}): {self.statements} statement(s) folding the "
            f"chain up to {self.folds}\nbaseline_version is now {self.baseline_version}; fresh databases "
            f"reach the head's schema (digest {self.digest[:18]}…). Commit codex/schema/baseline/ "
            "(and the regenerated contracts)."
        )


_Row = tuple[str, str, str, str]  # type, name, tbl_name, sql


def _schema_rows(conn: sa.Connection) -> list[_Row]:
    rows = conn.exec_driver_sql(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid"
    ).all()
    virtual = {str(r[1]) for r in rows if str(r[3]).upper().startswith("CREATE VIRTUAL TABLE")}
    indexes = {str(r[1]) for r in rows if r[0] == "index"}
    out: list[_Row] = []
    skipped: set[str] = set()
    for kind, name, tbl, sql in rows:
        name, tbl = str(name), str(tbl)
        shadow = (
            kind == "table"
            and (
                any(
                    name.startswith(f"{v}_") for v in virtual
                )  # FTS5 shadow tables: the virtual table makes them
                or (name.endswith("_shadow") and name[: -len("_shadow")] in indexes)  # a vector index's
            )
        )
        if shadow or name.startswith(("sqlite_", "libsql_")) or name == "alembic_version":
            skipped.add(name)
            continue
        if tbl in skipped or tbl.startswith(("sqlite_", "libsql_")):
            continue  # an index of a shadow table comes with it
        out.append((str(kind), name, tbl, str(sql)))
    return out


def _scratch(build: Any) -> list[_Row]:
    engine = make_engine(MemoryDb())
    try:
        with engine.connect() as conn:
            build(conn)
            if conn.in_transaction():
                conn.commit()
            return _schema_rows(conn)
    finally:
        engine.dispose()


def _apply_statements(statements: tuple[str, ...] | list[str]) -> Any:
    def build(conn: sa.Connection) -> None:
        with conn.begin():
            for statement in statements:
                conn.exec_driver_sql(statement)

    return build


def _stmt(sql: str) -> str:
    sql = sql.strip()
    return sql if sql.endswith(";") else sql + ";"


def fold_statements(baseline: list[_Row], head: list[_Row]) -> list[str]:
    """The statements that turn the ``baseline`` schema rows into the ``head`` ones (empty database)."""
    before = {(k, n): (t, s) for k, n, t, s in baseline}
    after = {(k, n): (t, s) for k, n, t, s in head}
    rebuilt = {
        n
        for (k, n), (_, s) in after.items()
        if k == "table" and (k, n) in before and normalise_ddl(before[(k, n)][1]) != normalise_ddl(s)
    }
    out: list[str] = []
    for (kind, name), (tbl, _sql) in reversed(list(before.items())):
        gone = (kind, name) not in after
        if kind == "table" and (gone or name in rebuilt):
            out.append(f'DROP TABLE "{name}";')
        elif kind != "table" and gone and tbl not in rebuilt:
            out.append(f'DROP {kind.upper()} "{name}";')
    for kind, name, tbl, sql in head:
        old = before.get((kind, name))
        recreate = (tbl in rebuilt and kind != "table") or name in rebuilt
        if old is None or recreate:
            out.append(_stmt(sql))
        elif normalise_ddl(old[1]) != normalise_ddl(sql):
            out += [f'DROP {kind.upper()} "{name}";', _stmt(sql)]
    return out


def _manifest_doc(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise SchemaError(f"{path} is not a baseline manifest")
    return doc


def rebaseline(target_dir: Path | None = None) -> RebaselineResult:
    """Append a fragment that folds the chain up to head, and move ``baseline_version`` to the head's.

    Args:
        target_dir: The baseline directory to write (default: the package's ``codex/schema/baseline``,
            which in a checkout is the source tree).

    Raises:
        SchemaError: Nothing to fold (the baseline already holds the head), several heads, or the
            folded baseline would not reproduce the head's schema (nothing is written then).
    """
    head = head_revision()
    head_version = schema_version_of(script_directory(), head)
    if head_version <= BASELINE_VERSION:
        raise SchemaError(f"nothing to fold: the baseline already holds the chain up to {head}")
    base_rows = _scratch(_apply_statements(baseline_statements()))
    head_rows = _scratch(lambda conn: upgrade(conn, "head"))
    statements = fold_statements(base_rows, head_rows)
    expected = _live_digest(lambda conn: upgrade(conn, "head"))
    got = _live_digest(_apply_statements([*baseline_statements(), *statements]))
    if got != expected:
        raise SchemaError(
            f"the folded baseline does not reproduce the head's schema (digest {got} vs {expected}); "
            "nothing was written"
        )
    directory = target_dir or Path(str(baseline_dir()))
    version = len(SCHEMA_FRAGMENTS) + 1
    text = "\n".join(statements).strip()
    name = f"v{version:02d}.sql"
    (directory / name).write_text(text + "\n", encoding="utf-8")
    manifest = directory / MANIFEST_NAME
    doc = _manifest_doc(manifest)
    created = [
        n for k, n, _, s in head_rows if k == "table" and (k, n) not in {(r[0], r[1]) for r in base_rows}
    ]
    rebuilt_tables = [s.split('"')[1] for s in statements if s.startswith("DROP TABLE")]
    doc["baseline_version"] = head_version
    doc["fragments"].append(
        {
            "version": version,
            "title": f"fold of the revision chain up to {head} (schema_version {head_version})",
            "file": name,
            "digest": keccak256_hex(text),
            "tables": [*created, *(t for t in rebuilt_tables if t not in created)],
            "folds": head,
        }
    )
    manifest.write_text(_MANIFEST_HEADER + yaml.safe_dump(doc, sort_keys=False, width=110), encoding="utf-8")
    return RebaselineResult(version, directory / name, head, head_version, len(statements), expected)


def _live_digest(build: Any) -> str:
    engine = make_engine(MemoryDb())
    try:
        with engine.connect() as conn:
            build(conn)
            if conn.in_transaction():
                conn.commit()
            return read_live_schema(conn).digest()
    finally:
        engine.dispose()
