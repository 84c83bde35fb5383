"""``codex legacy import``: load legacy JSONL into a (fresh, baseline) Codex database.

Semantics (reference ``semantics.md`` §11, with the decisions Codex adds):

* Each line ``{"table": T, "row": {...}}`` whose ``T`` is in :data:`LEGACY_EXPORT_TABLES` becomes
  ``INSERT OR REPLACE INTO T (row keys…) VALUES (…)``; ``columns`` is ignored. Blank lines are
  skipped; lines for unknown tables are skipped and counted; rows with no keys are skipped. Keys that
  are not columns of the target table are dropped and reported (upstream would fail the statement).
* Values: null → NULL, bool → 0/1, integers → INTEGER (beyond 64 bits → REAL), other numbers → REAL,
  ``"base64:…"`` → BLOB (unless the row's ``text_columns`` names the column), other strings → TEXT,
  arrays and objects → their JSON text.
* **Batches.** Lines are applied in transactions of ``batch_size`` lines (default 1000). A batch is
  parsed completely before anything is written, so a malformed line stops the import with its **file
  line number** and nothing of its batch written; the batches before it stay committed. A database
  error (a constraint) rolls the batch back and names the line whose row failed.
* **Foreign keys are off** for the import (``conn.info[FOREIGN_KEYS_OFF]``, which also works on sqld):
  old files hold dangling references, and ``INSERT OR REPLACE`` with foreign keys on would cascade
  deletes into child rows (``docs/reference/libsql-runtime.md`` §12).
* **Resume.** After each committed batch, a JSON sidecar ``<FILE>.progress`` records the last committed
  line (and the target database and counts so far). ``resume=True`` (``--resume``) continues after that
  line; ``start_line=N`` (``--start-line N``) starts at line N whatever the marker says. The sidecar is
  removed when an import completes. Re-applying a batch (a crash between the commit and the marker
  write) is harmless: every row is an ``INSERT OR REPLACE`` with its own key.
* After the last batch, derived search structures are refreshed if they exist: the FTS index over
  ``search_document_chunks`` is rebuilt and imported indexing jobs get their lease rows (as migration
  0003 does for existing rows). Rows left with dangling foreign keys are counted per table
  (``PRAGMA foreign_key_check``) in the report; they are kept, as upstream keeps them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from codex.engine import FOREIGN_KEYS_OFF, translate_db_error
from codex.errors import CodexError
from codex.legacy._format import LEGACY_EXPORT_TABLES, LegacyImportError, decode_value, parse_line
from codex.legacy.export import table_columns
from codex.store import Store

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "PROGRESS_SUFFIX",
    "ImportReport",
    "ProgressMarker",
    "database_identity",
    "import_legacy",
    "import_lines",
    "progress_path_for",
]

DEFAULT_BATCH_SIZE = 1000
PROGRESS_SUFFIX = ".progress"
_MARKER_FORMAT = "codex-legacy-import-progress/1"


@dataclass
class ImportReport:
    """What an import did (cumulative over a resumed import).

    Attributes:
        source: The JSONL file (or a description of a direct copy).
        start_line: The first line this run read.
        last_line: The last committed line (0: none yet).
        rows: Rows written per table.
        unknown_tables: Lines skipped per unknown table.
        dropped_columns: Keys that are not columns of their target table, per table.
        empty_rows: Rows skipped because they had no (known) keys.
        blank_lines: Blank lines skipped.
        batches: Transactions committed by this run.
        resumed: The run continued an earlier one.
        refreshed: Derived structures refreshed at the end (``search_chunks_fts``, ``search_job_leases``).
        dangling: Rows per table whose foreign keys point at missing parents after the import
            (``PRAGMA foreign_key_check``; legacy files may hold them, the import keeps them).
    """

    source: str = ""
    start_line: int = 1
    last_line: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    unknown_tables: dict[str, int] = field(default_factory=dict)
    dropped_columns: dict[str, list[str]] = field(default_factory=dict)
    empty_rows: int = 0
    blank_lines: int = 0
    batches: int = 0
    resumed: bool = False
    refreshed: list[str] = field(default_factory=list)
    dangling: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows written."""
        return sum(self.rows.values())


@dataclass(frozen=True)
class ProgressMarker:
    """The resume sidecar of an interrupted import (``<FILE>.progress``, JSON)."""

    file: str
    database: str
    last_committed_line: int
    rows: dict[str, int]
    unknown_tables: dict[str, int]
    updated_at: str

    @classmethod
    def load(cls, path: Path) -> ProgressMarker | None:
        """The marker at ``path``, or None when there is none.

        Raises:
            LegacyImportError: The file exists but is not a marker.
        """
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise LegacyImportError(f"cannot read the progress marker {path}: {exc}", path=str(path)) from exc
        if not isinstance(doc, dict) or doc.get("format") != _MARKER_FORMAT:
            raise LegacyImportError(f"{path} is not a legacy-import progress marker", path=str(path))
        return cls(
            file=str(doc["file"]),
            database=str(doc["database"]),
            last_committed_line=int(doc["last_committed_line"]),
            rows={str(k): int(v) for k, v in dict(doc.get("rows", {})).items()},
            unknown_tables={str(k): int(v) for k, v in dict(doc.get("unknown_tables", {})).items()},
            updated_at=str(doc.get("updated_at", "")),
        )

    def save(self, path: Path) -> None:
        """Write the marker atomically (a temporary file, then a rename)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps({"format": _MARKER_FORMAT, **asdict(self)}, indent=2) + "\n", encoding="utf-8"
        )
        os.replace(tmp, path)


def progress_path_for(path: str | Path) -> Path:
    """The default progress marker of a JSONL file: ``<FILE>.progress``."""
    p = Path(path)
    return p.with_name(p.name + PROGRESS_SUFFIX)


def database_identity(store: Store) -> str:
    """What a progress marker records as the target database (a path or URL, never a token)."""
    config = store.config
    if config.mode in ("local", "replica"):
        return str(Path(config.path).expanduser().resolve())
    if config.mode == "remote":
        return config.url
    return config.mode


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    table: str
    columns: tuple[str, ...]
    casts: tuple[bool, ...]
    values: tuple[Any, ...]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Importer:
    def __init__(self, store: Store, batch_size: int, report: ImportReport) -> None:
        if batch_size < 1:
            raise LegacyImportError("batch_size must be at least 1")
        self.store = store
        self.batch_size = batch_size
        self.report = report
        self.targets: dict[str, frozenset[str]] = {}
        self._sql: dict[tuple[str, tuple[str, ...], tuple[bool, ...]], str] = {}

    # -- parsing ------------------------------------------------------------------------------
    def _prepare(self, line: int, raw: bytes, pending: ImportReport) -> _Row | None:
        parsed = parse_line(raw, line)
        if parsed is None:
            pending.blank_lines += 1
            return None
        table, row, text_columns = parsed
        known = self.targets.get(table)
        if known is None:
            pending.unknown_tables[table] = pending.unknown_tables.get(table, 0) + 1
            return None
        columns: list[str] = []
        casts: list[bool] = []
        values: list[Any] = []
        for name, value in row.items():
            if name not in known:
                dropped = pending.dropped_columns.setdefault(table, [])
                if name not in dropped:
                    dropped.append(name)
                continue
            bound, cast = decode_value(value, text=name in text_columns, line=line, column=name)
            columns.append(name)
            casts.append(cast)
            values.append(bound)
        if not columns:
            pending.empty_rows += 1
            return None
        return _Row(line, table, tuple(columns), tuple(casts), tuple(values))

    def _statement(self, row: _Row) -> str:
        key = (row.table, row.columns, row.casts)
        sql = self._sql.get(key)
        if sql is None:
            marks = ", ".join("CAST(? AS INTEGER)" if cast else "?" for cast in row.casts)
            sql = self._sql[key] = (
                f"INSERT OR REPLACE INTO {_quote(row.table)} ({', '.join(_quote(c) for c in row.columns)}) "
                f"VALUES ({marks})"
            )
        return sql

    # -- writing ------------------------------------------------------------------------------
    def _write(self, conn: sa.Connection, rows: list[_Row]) -> None:
        try:
            with conn.begin():
                dbapi = conn.connection.dbapi_connection
                assert dbapi is not None
                for _key, group in groupby(rows, key=lambda r: (r.table, r.columns, r.casts)):
                    items = list(group)
                    dbapi.executemany(self._statement(items[0]), [r.values for r in items])
        except (ValueError, sa.exc.DBAPIError) as exc:
            self._locate_failure(conn, rows, exc)

    def _locate_failure(self, conn: sa.Connection, rows: list[_Row], exc: Exception) -> None:
        """The batch failed and was rolled back: find the row at fault (re-run one by one, roll back)."""
        first, last = rows[0].line, rows[-1].line
        culprit: _Row | None = None
        reason: CodexError = translate_db_error(exc)
        trans = conn.begin()
        try:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            for row in rows:
                try:
                    dbapi.execute(self._statement(row), row.values)
                except ValueError as row_exc:
                    culprit, reason = row, translate_db_error(row_exc)
                    break
        finally:
            trans.rollback()
        where = f"line {culprit.line} (table {culprit.table})" if culprit else f"lines {first}-{last}"
        raise LegacyImportError(
            f"{where}: the database refused the row: {reason.message}. Nothing of lines {first}-{last} was "
            f"written; lines up to {self.report.last_line} are committed",
            line=culprit.line if culprit else None,
            table=culprit.table if culprit else None,
            last_committed_line=self.report.last_line,
        ) from exc

    def _merge(self, pending: ImportReport) -> None:
        report = self.report
        for table, n in pending.rows.items():
            report.rows[table] = report.rows.get(table, 0) + n
        for table, n in pending.unknown_tables.items():
            report.unknown_tables[table] = report.unknown_tables.get(table, 0) + n
        for table, names in pending.dropped_columns.items():
            have = report.dropped_columns.setdefault(table, [])
            have.extend(n for n in names if n not in have)
        report.empty_rows += pending.empty_rows
        report.blank_lines += pending.blank_lines
        report.last_line = pending.last_line
        report.batches += 1

    def _refresh(self, conn: sa.Connection) -> None:
        """Rebuild what the imported rows feed but triggers do not (see the module doc)."""
        with conn.begin():
            tables = {
                str(r[0]) for r in conn.exec_driver_sql("SELECT name FROM sqlite_schema WHERE type='table'")
            }
            if "search_chunks_fts" in tables and self.report.rows.get("search_document_chunks"):
                conn.exec_driver_sql("INSERT INTO search_chunks_fts(search_chunks_fts) VALUES ('rebuild')")
                self.report.refreshed.append("search_chunks_fts")
            if "search_job_leases" in tables and self.report.rows.get("search_indexing_jobs"):
                conn.exec_driver_sql(
                    "INSERT OR IGNORE INTO search_job_leases (job_id) SELECT id FROM search_indexing_jobs"
                )
                self.report.refreshed.append("search_job_leases")
            dangling: dict[str, int] = {}
            for row in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                dangling[str(row[0])] = dangling.get(str(row[0]), 0) + 1
            self.report.dangling = dangling

    def run(
        self,
        lines: Iterable[tuple[int, bytes]],
        on_commit: Callable[[ImportReport, int], None] | None = None,
    ) -> ImportReport:
        try:
            with self.store.engine.connect() as conn:
                conn.info[FOREIGN_KEYS_OFF] = True
                try:
                    with conn.begin():
                        for table in LEGACY_EXPORT_TABLES:
                            columns = table_columns(conn, table)
                            if columns:
                                self.targets[table] = frozenset(columns)
                    for batch, size in self._batches(lines):
                        pending = ImportReport()
                        rows = [
                            r for line, raw in batch if (r := self._prepare(line, raw, pending)) is not None
                        ]
                        if rows:
                            self._write(conn, rows)
                        for row in rows:
                            pending.rows[row.table] = pending.rows.get(row.table, 0) + 1
                        pending.last_line = batch[-1][0]
                        self._merge(pending)
                        if on_commit is not None:
                            on_commit(self.report, size)
                    self._refresh(conn)
                finally:
                    conn.info.pop(FOREIGN_KEYS_OFF, None)
                    dbapi = conn.connection.dbapi_connection
                    if dbapi is not None and not conn.in_transaction():
                        dbapi.execute("PRAGMA foreign_keys=ON")  # the pooled connection goes back as it came
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc
        return self.report

    def _batches(self, lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[list[tuple[int, bytes]], int]]:
        batch: list[tuple[int, bytes]] = []
        size = 0
        for line, raw in lines:
            batch.append((line, raw))
            size += len(raw)
            if len(batch) >= self.batch_size:
                yield batch, size
                batch, size = [], 0
        if batch:
            yield batch, size


def import_lines(
    store: Store,
    lines: Iterable[tuple[int, bytes]],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    source: str = "",
    on_commit: Callable[[ImportReport, int], None] | None = None,
) -> ImportReport:
    """Import numbered JSONL lines (``(line_number, raw_bytes)``) into ``store``.

    The building block of :func:`import_legacy` and of the direct copies in :mod:`codex.legacy.sources`.

    Args:
        store: The target (already migrated; see :func:`codex.store.open_store`).
        lines: ``(1-based line number, the line's bytes)`` pairs.
        batch_size: Lines per transaction.
        source: A description for the report.
        on_commit: Called after each committed batch with the cumulative report and the batch's bytes.

    Raises:
        LegacyFormatError: A malformed line (its batch is not written).
        LegacyImportError: The database refused a row (its batch is rolled back).
    """
    report = ImportReport(source=source)
    return _Importer(store, batch_size, report).run(lines, on_commit)


def _numbered(
    path: Path, start_line: int, skipped: Callable[[int], None] | None
) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number < start_line:
                if skipped is not None:
                    skipped(len(raw))
                continue
            yield number, raw


def import_legacy(
    store: Store,
    path: str | Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    resume: bool = False,
    start_line: int | None = None,
    progress_path: str | Path | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a legacy JSONL file into ``store`` in batches, resumably (see the module doc).

    Args:
        store: The target database, opened with :func:`codex.store.open_store` (migrated to head; a
            legacy chain is refused there).
        path: The JSONL file (``codex legacy export`` writes it).
        batch_size: Lines per transaction (default 1000).
        resume: Continue after the last committed line recorded in the progress marker.
        start_line: Start at this line instead (lines before it are not read as records).
        progress_path: The progress marker (default ``<path>.progress``).
        on_bytes: Progress callback with the number of bytes just consumed.

    Returns:
        The cumulative report (a resumed import adds the earlier run's counts).

    Raises:
        LegacyFormatError: A malformed line: ``details["line"]`` is its file line number; the lines of its
            batch are not written; ``details["last_committed_line"]`` tells where ``--resume`` restarts.
        LegacyImportError: The file or marker cannot be used, or the database refused a row.

    Example:
        Export a legacy database (``legacy_db``, a :class:`~codex.config.DbConfig`) and import the file
        into a migrated ``store``:

        >>> from codex.legacy import export_database
        >>> export_database(legacy_db, "rows.jsonl").total
        82
        >>> report = import_legacy(store, "rows.jsonl")
        >>> report.total, report.rows["objects"]
        (82, 2)
    """
    source = Path(path)
    if not source.is_file():
        raise LegacyImportError(f"no such file: {source}", path=str(source))
    if resume and start_line is not None:
        raise LegacyImportError("pass either resume or start_line, not both")
    marker_path = Path(progress_path) if progress_path is not None else progress_path_for(source)
    identity = database_identity(store)
    report = ImportReport(source=str(source))
    first = 1 if start_line is None else max(1, int(start_line))
    if resume:
        marker = ProgressMarker.load(marker_path)
        if marker is None:
            raise LegacyImportError(
                f"nothing to resume: no progress marker at {marker_path} (run the import without --resume)",
                path=str(marker_path),
            )
        if marker.database != identity:
            raise LegacyImportError(
                f"the progress marker {marker_path} belongs to an import into {marker.database}, not {identity}",
                path=str(marker_path),
            )
        if Path(marker.file).resolve() != source.resolve():
            raise LegacyImportError(
                f"the progress marker {marker_path} belongs to {marker.file}, not {source}",
                path=str(marker_path),
            )
        first = marker.last_committed_line + 1
        report.rows, report.unknown_tables = dict(marker.rows), dict(marker.unknown_tables)
        report.last_line, report.resumed = marker.last_committed_line, True
    report.start_line = first

    def committed(current: ImportReport, size: int) -> None:
        ProgressMarker(
            file=str(source.resolve()),
            database=identity,
            last_committed_line=current.last_line,
            rows=dict(current.rows),
            unknown_tables=dict(current.unknown_tables),
            updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ).save(marker_path)
        if on_bytes is not None and size:
            on_bytes(size)

    importer = _Importer(store, batch_size, report)
    committed(report, 0)  # a marker from the start: even a failure in the first batch can be resumed
    try:
        importer.run(_numbered(source, first, on_bytes), committed)
    except LegacyImportError as exc:
        message = exc.message
        if "last_committed_line" not in exc.details:
            message += f". Lines up to {report.last_line} are committed"
        raise type(exc)(
            f"{message}; fix the file and run again with --resume (progress marker {marker_path})",
            **{**exc.details, "last_committed_line": report.last_line, "progress_file": str(marker_path)},
        ) from exc
    marker_path.unlink(missing_ok=True)
    return report
